//! The transactional outbox: order events are written with the change they describe, and a
//! relay publishes them to RabbitMQ.
//!
//! [`enqueue`] inserts an event in the caller's transaction, so an event exists if and only if
//! its change was committed. The [`Relay`] publishes unpublished rows in id order to the topic
//! exchange, persistent, with publisher confirms, and marks them published once the broker has
//! confirmed them: delivery is at least once (a crash between the confirm and the mark
//! publishes again; consumers deduplicate by `event_id`, which is also the AMQP `message_id`).
//!
//! Order per order: every state change updates the order's row before it inserts its event,
//! so events of one order are inserted — and get their ids — one transaction after the other.
//! Only one relay publishes at a time, across all replicas: each batch runs in a transaction
//! that first takes a Postgres advisory lock (`pg_try_advisory_xact_lock`), and replicas that
//! do not get it wait for the next poll. A batch is published in id order and marked before the
//! next one starts, so a consumer sees one order's events in the order they happened.
//!
//! When the broker is down the relay's session fails, and [`Broker::supervise`] reconnects with
//! backoff; the events wait in the table meanwhile, so checkouts keep working.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use contracts::events::{EventLine, OrderEvent, OrderEventKind};
use kit::amqp::Broker;
use kit::shutdown::Shutdown;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;

/// The advisory lock key that makes one relay the publisher: `b"outbox"` as a number.
const RELAY_LOCK: i64 = 0x6f75_7462_6f78;

/// Wakes the relay in this process when an event was committed, so it need not wait for its
/// next poll.
#[derive(Debug, Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    /// Tells the relay that there is something to publish. Call it after the commit.
    pub fn notify(&self) {
        self.0.notify_one();
    }
}

/// Writes the event `kind` of an order in the caller's transaction, with the trace context of
/// its creation (a producer span of the current one, by the messaging conventions for a message
/// created apart from its sending), so the consumers' spans join the request that caused it.
pub async fn enqueue(
    connection: &mut PgConnection,
    kind: OrderEventKind,
    order_id: Uuid,
    user_id: Uuid,
    lines: Vec<EventLine>,
) -> Result<OrderEvent, sqlx::Error> {
    let event = OrderEvent {
        event_id: Uuid::now_v7(),
        occurred_at: OffsetDateTime::now_utc(),
        kind,
        order_id,
        user_id,
        lines,
    };
    let create = tracing::info_span!(
        "message create",
        otel.name = format!("{} create", kind.routing_key()),
        otel.kind = "producer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "create",
        messaging.operation.name = "create",
        messaging.message.id = %event.event_id,
        messaging.rabbitmq.destination.routing_key = kind.routing_key(),
    );
    let mut trace = axum::http::HeaderMap::new();
    create.in_scope(|| kit::telemetry::inject_http(&mut trace));
    let headers: BTreeMap<&str, &str> = trace
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    sqlx::query!(
        "INSERT INTO outbox (event_id, aggregate_id, routing_key, payload, headers, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        event.event_id,
        order_id,
        kind.routing_key(),
        Json(&event) as _,
        Json(&headers) as _,
        event.occurred_at,
    )
    .execute(&mut *connection)
    .await?;
    Ok(event)
}

/// An event waiting to be published.
#[derive(Debug)]
struct Pending {
    id: i64,
    event_id: Uuid,
    routing_key: String,
    payload: Json<serde_json::Value>,
    headers: Json<BTreeMap<String, String>>,
    created_at: OffsetDateTime,
}

/// Publishes the outbox to the events exchange.
#[derive(Debug, Clone)]
pub struct Relay {
    pool: PgPool,
    broker: Broker,
    signal: OutboxSignal,
    poll: Duration,
    batch: u16,
}

impl Relay {
    /// A relay reading `pool`'s outbox and publishing through `broker`.
    pub fn new(
        pool: PgPool,
        broker: Broker,
        signal: OutboxSignal,
        poll: Duration,
        batch: u16,
    ) -> Self {
        Self {
            pool,
            broker,
            signal,
            poll,
            batch,
        }
    }

    /// Publishes until shutdown, reconnecting to the broker when it goes away.
    pub async fn run(self, shutdown: Shutdown) {
        self.broker
            .supervise(&shutdown, "outbox-relay", |channel| {
                self.session(channel, &shutdown)
            })
            .await;
    }

    /// One channel's life: publish batches until the channel (or the database) fails.
    async fn session(&self, channel: Channel, shutdown: &Shutdown) -> anyhow::Result<()> {
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        tracing::info!("outbox relay publishing");
        loop {
            if shutdown.is_triggered() {
                return Ok(());
            }
            let published = self.publish_batch(&channel).await?;
            if published < usize::from(self.batch) {
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = self.signal.0.notified() => {},
                    () = tokio::time::sleep(self.poll) => {},
                }
            }
        }
    }

    /// Publishes one batch of unpublished events, oldest first, and marks them published once
    /// the broker confirmed every one. Returns how many were published; 0 as well when another
    /// relay holds the lock.
    pub async fn publish_batch(&self, channel: &Channel) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let leader = sqlx::query_scalar!(
            r#"SELECT pg_try_advisory_xact_lock($1) AS "leader!""#,
            RELAY_LOCK
        )
        .fetch_one(&mut *tx)
        .await?;
        if !leader {
            return Ok(0);
        }
        let rows = sqlx::query_as!(
            Pending,
            r#"SELECT id, event_id, routing_key,
                      payload AS "payload: Json<serde_json::Value>",
                      headers AS "headers: Json<BTreeMap<String, String>>", created_at
               FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1"#,
            i64::from(self.batch)
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut confirms = Vec::with_capacity(rows.len());
        for row in &rows {
            let body = serde_json::to_vec(&row.payload.0)?;
            let confirm = channel
                .basic_publish(
                    self.broker.exchange().into(),
                    row.routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties(row)?,
                )
                .await?;
            confirms.push(confirm);
        }
        for (row, confirm) in rows.iter().zip(confirms) {
            let confirmation = confirm.await?;
            if !confirmation.is_ack() {
                anyhow::bail!(
                    "the broker refused event {} ({})",
                    row.event_id,
                    row.routing_key
                );
            }
        }
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        sqlx::query!(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1)",
            &ids
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::debug!(count = ids.len(), "published order events");
        Ok(ids.len())
    }
}

/// Persistent JSON with the event id as message id and the trace context as headers.
fn properties(row: &Pending) -> anyhow::Result<BasicProperties> {
    let mut headers = FieldTable::default();
    for (name, value) in &row.headers.0 {
        if let Ok(name) = ShortString::try_new(name.as_str()) {
            headers.insert(
                name,
                AMQPValue::LongString(LongString::from(value.as_str())),
            );
        }
    }
    let timestamp = u64::try_from(row.created_at.unix_timestamp())
        .map_err(|_| anyhow::anyhow!("event {} was created before 1970", row.event_id))?;
    Ok(BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_message_id(row.event_id.to_string().as_str().into())
        .with_timestamp(timestamp)
        .with_app_id("order".into())
        .with_headers(headers))
}

/// Deletes published events older than `retention`; returns how many.
pub async fn purge_published(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query!(
        "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
        retention.as_secs_f64()
    )
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected())
}

/// The events not published yet, and how long the oldest has waited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    /// How many events wait.
    pub pending: i64,
    /// The age of the oldest, in seconds; 0 when none waits.
    pub oldest_age_secs: f64,
}

/// The outbox's backlog, for the metrics.
pub async fn backlog(pool: &PgPool) -> Result<Backlog, sqlx::Error> {
    sqlx::query_as!(
        Backlog,
        r#"SELECT count(*) AS "pending!",
                  COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS "oldest_age_secs!"
           FROM outbox WHERE published_at IS NULL"#
    )
    .fetch_one(pool)
    .await
}

/// How many events were published and how many wait: a benchmark waits for the second to
/// reach 0 before it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Events the broker confirmed.
    pub published: i64,
    /// Events not published yet.
    pub waiting: i64,
}

/// Counts the outbox's events by whether they were published.
pub async fn tally(pool: &PgPool) -> Result<Tally, sqlx::Error> {
    sqlx::query_as!(
        Tally,
        r#"SELECT count(*) FILTER (WHERE published_at IS NOT NULL) AS "published!",
                  count(*) FILTER (WHERE published_at IS NULL) AS "waiting!"
           FROM outbox"#
    )
    .fetch_one(pool)
    .await
}
