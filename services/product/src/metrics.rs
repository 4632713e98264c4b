//! The product service's own metrics, next to the kit's RED metrics and pool gauges:
//!
//! - `product_cache_requests_total` by `entry` (`product`, `product-slug`, `categories`) and
//!   `result` (`hit`, `miss`, `error`) and `tier` (`process` for a hit in the replica's own
//!   memory, `redis` otherwise): the cache's hit ratio, and Redis failing under it;
//! - `product_search_reads_total` by `read` (`reread`: a kept page's rows read again, `compute`:
//!   a page computed): the searches' work in Postgres. The requests that wait for the same
//!   read share it, so against the requests of `GET /api/v1/products` it shows how much they do;
//! - `product_order_events_total` by `routing_key` and `outcome` (`processed`, `retried`,
//!   `dead_lettered`), and `product_order_event_lag_seconds`: how long after it happened each
//!   event was applied (the consumer's lag, in time);
//! - sampled every [`SAMPLE_EVERY`] by every replica (shared state: aggregate with `max`):
//!   `product_reservations_held` (stock held for orders not paid yet),
//!   `product_order_events_queue_messages` (messages waiting in the queue: the consumer's lag,
//!   in messages) and `product_order_events_dead_letter_messages` (messages in its dead-letter
//!   queue, each one an event an operator must look at).

use std::time::Duration;

use kit::amqp::Broker;
use kit::metrics::Metrics;
use kit::shutdown::Shutdown;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::events::dead_letter_queue;
use crate::inventory;

/// How often the sampled gauges are refreshed.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CacheLabels {
    entry: &'static str,
    result: &'static str,
    tier: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SearchLabels {
    read: &'static str,
}

/// What a search read in Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SearchRead {
    /// A kept page's rows, again.
    Reread,
    /// A page, computed.
    Compute,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    routing_key: String,
    outcome: &'static str,
}

/// What became of a cache read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheResult {
    /// Found in the replica's own memory.
    LocalHit,
    Hit,
    Miss,
    /// Redis failed, or the entry no longer parses: the read fell back to Postgres.
    Error,
}

/// The cache's read counters; the cache records into them, [`ProductMetrics`] registers them.
#[derive(Clone, Debug, Default)]
pub(crate) struct CacheReads(Family<CacheLabels, Counter>);

impl CacheReads {
    /// Counts one read of `key` (relative to the prefix: `product:{id}`, `categories`).
    pub(crate) fn record(&self, key: &str, result: CacheResult) {
        let entry = match key.split_once(':').map_or(key, |(entry, _)| entry) {
            "product" => "product",
            "product-slug" => "product-slug",
            "categories" => "categories",
            _ => "other",
        };
        let (result, tier) = match result {
            CacheResult::LocalHit => ("hit", "process"),
            CacheResult::Hit => ("hit", "redis"),
            CacheResult::Miss => ("miss", "redis"),
            CacheResult::Error => ("error", "redis"),
        };
        self.0
            .get_or_create(&CacheLabels {
                entry,
                result,
                tier,
            })
            .inc();
    }
}

/// What became of an order event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventOutcome {
    Processed,
    Retried,
    DeadLettered,
}

/// The product service's metrics; [`ProductMetrics::register`] puts them in the registry.
#[derive(Clone, Debug)]
pub struct ProductMetrics {
    cache: CacheReads,
    search: Family<SearchLabels, Counter>,
    events: Family<EventLabels, Counter>,
    event_lag: Histogram,
    reservations_held: Gauge,
    queue_messages: Gauge,
    dead_letter_messages: Gauge,
}

impl ProductMetrics {
    pub(crate) fn new(cache: CacheReads) -> Self {
        Self {
            cache,
            search: Family::default(),
            events: Family::default(),
            // 5 ms to about 45 minutes: a broker outage shows as lag in the thousands of seconds.
            event_lag: Histogram::new(exponential_buckets(0.005, 2.0, 20)),
            reservations_held: Gauge::default(),
            queue_messages: Gauge::default(),
            dead_letter_messages: Gauge::default(),
        }
    }

    /// Puts the metrics in `metrics`' registry.
    pub fn register(&self, metrics: &Metrics) {
        metrics.register(
            "product_cache_requests",
            "Cache reads by entry and result (hit, miss, error: fell back to Postgres)",
            self.cache.0.clone(),
        );
        metrics.register(
            "product_search_reads",
            "Search reads in Postgres: a kept page read again, or a page computed",
            self.search.clone(),
        );
        metrics.register(
            "product_order_events",
            "Order events consumed, by routing key and outcome",
            self.events.clone(),
        );
        metrics.register(
            "product_order_event_lag_seconds",
            "Time from an order event's occurrence to its processing",
            self.event_lag.clone(),
        );
        metrics.register(
            "product_reservations_held",
            "Reservations holding stock for orders not paid yet",
            self.reservations_held.clone(),
        );
        metrics.register(
            "product_order_events_queue_messages",
            "Order events waiting in the consumer's queue",
            self.queue_messages.clone(),
        );
        metrics.register(
            "product_order_events_dead_letter_messages",
            "Order events in the dead-letter queue, waiting for an operator",
            self.dead_letter_messages.clone(),
        );
    }

    /// Counts a search's read in Postgres.
    pub(crate) fn search_read(&self, read: SearchRead) {
        let read = match read {
            SearchRead::Reread => "reread",
            SearchRead::Compute => "compute",
        };
        self.search.get_or_create(&SearchLabels { read }).inc();
    }

    /// Counts an event by its outcome; a processed one also records its lag.
    pub(crate) fn event(
        &self,
        routing_key: &str,
        outcome: EventOutcome,
        occurred_at: Option<OffsetDateTime>,
    ) {
        let label = match outcome {
            EventOutcome::Processed => "processed",
            EventOutcome::Retried => "retried",
            EventOutcome::DeadLettered => "dead_lettered",
        };
        self.events
            .get_or_create(&EventLabels {
                routing_key: routing_key.to_owned(),
                outcome: label,
            })
            .inc();
        if let (EventOutcome::Processed, Some(occurred_at)) = (outcome, occurred_at) {
            let lag = OffsetDateTime::now_utc() - occurred_at;
            self.event_lag.observe(lag.as_seconds_f64().max(0.0));
        }
    }

    /// Refreshes the sampled gauges every [`SAMPLE_EVERY`] until shutdown.
    pub fn spawn_sampler(&self, db: PgPool, broker: Broker, queue: String, shutdown: &Shutdown) {
        let metrics = self.clone();
        let stop = shutdown.clone();
        shutdown.spawn(async move {
            loop {
                // Each keeps its last value when its store cannot be reached; readiness and the
                // relay's logs report that.
                match inventory::store::open_count(&db).await {
                    Ok(count) => {
                        metrics.reservations_held.set(count);
                    }
                    Err(error) => tracing::debug!(%error, "sampling reservations failed"),
                }
                match depths(&broker, &queue).await {
                    Ok((ready, dead)) => {
                        metrics.queue_messages.set(ready);
                        metrics.dead_letter_messages.set(dead);
                    }
                    Err(error) => tracing::debug!(%error, "sampling the queues failed"),
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(SAMPLE_EVERY) => {},
                }
            }
        });
    }
}

/// Messages ready in `queue` and in its dead-letter queue, by passive declarations (which
/// change nothing, and fail while the consumer has not declared them yet).
async fn depths(broker: &Broker, queue: &str) -> Result<(i64, i64), lapin::Error> {
    let channel = broker.channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let mut counts = [0_i64; 2];
    for (count, name) in counts
        .iter_mut()
        .zip([queue.to_owned(), dead_letter_queue(queue)])
    {
        let declared = channel
            .queue_declare(name.as_str().into(), passive, FieldTable::default())
            .await?;
        *count = i64::from(declared.message_count());
    }
    channel.close(200, "sampled".into()).await?;
    Ok((counts[0], counts[1]))
}
