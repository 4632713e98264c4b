//! The order service's own metrics, next to the kit's RED metrics and pool gauges:
//!
//! - `order_checkouts_total` by `outcome`: what became of each checkout that claimed its
//!   `Idempotency-Key` (`paid`, `payment_declined`, `insufficient_stock`, `conflict`,
//!   `invalid`, `unavailable`, `error`); replays of an earlier answer are not counted again;
//! - `order_payment_duration_seconds` by `operation` (`authorise`, `refund`) and `outcome`
//!   (`authorised`, `declined`, `refunded`, `unavailable`, `abandoned` when the deadline cut
//!   the call), with the trace id as exemplar;
//! - `order_outbox_pending_events` and `order_outbox_oldest_pending_age_seconds`: the events
//!   not yet published and how long the oldest has waited, sampled from the table every
//!   [`SAMPLE_EVERY`] by every replica (the table is shared: aggregate with `max`), so they keep
//!   moving while the relay cannot reach the broker, which is when they matter.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use contracts::money::Money;
use contracts::problem::problem_types;
use futures::future::BoxFuture;
use kit::ApiError;
use kit::metrics::{LatencyHistogram, Metrics, TraceExemplar, latency_family};
use kit::shutdown::Shutdown;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use sqlx::PgPool;
use tracing::Instrument;

use crate::outbox;
use crate::payments::{Authorisation, PaymentProvider, PaymentRequest, ProviderUnavailable};

/// How often the outbox gauges are refreshed.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PaymentLabels {
    operation: &'static str,
    outcome: &'static str,
}

/// The order service's metrics; [`OrderMetrics::register`] puts them in the service's registry.
#[derive(Clone, Debug)]
pub struct OrderMetrics {
    checkouts: Family<OutcomeLabels, Counter>,
    payments: Family<PaymentLabels, LatencyHistogram>,
    outbox_pending: Gauge,
    outbox_oldest_age: Gauge<f64, AtomicU64>,
}

impl Default for OrderMetrics {
    fn default() -> Self {
        Self {
            checkouts: Family::default(),
            payments: latency_family(),
            outbox_pending: Gauge::default(),
            outbox_oldest_age: Gauge::default(),
        }
    }
}

impl OrderMetrics {
    /// Puts the metrics in `metrics`' registry.
    pub fn register(&self, metrics: &Metrics) {
        metrics.register(
            "order_checkouts",
            "Checkouts by outcome",
            self.checkouts.clone(),
        );
        metrics.register(
            "order_payment_duration_seconds",
            "Time the payment provider took, by operation and outcome",
            self.payments.clone(),
        );
        metrics.register(
            "order_outbox_pending_events",
            "Order events written and not yet published to RabbitMQ",
            self.outbox_pending.clone(),
        );
        metrics.register(
            "order_outbox_oldest_pending_age_seconds",
            "How long the oldest unpublished order event has waited (0 when none waits)",
            self.outbox_oldest_age.clone(),
        );
    }

    /// Counts a checkout that ran, by its outcome.
    pub fn checkout(&self, outcome: &Result<impl Sized, ApiError>) {
        let outcome = match outcome {
            Ok(_) => "paid",
            Err(error) => match error.status().as_u16() {
                402 => "payment_declined",
                409 if error.to_problem().type_ == problem_types::INSUFFICIENT_STOCK => {
                    "insufficient_stock"
                }
                409 => "conflict",
                422 => "invalid",
                503 => "unavailable",
                _ => "error",
            },
        };
        self.checkouts
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// `provider`, with each call timed.
    pub fn metered<P: PaymentProvider>(&self, provider: P) -> Metered<P> {
        Metered {
            inner: provider,
            duration: self.payments.clone(),
        }
    }

    /// Refreshes the outbox gauges every [`SAMPLE_EVERY`] until shutdown.
    pub fn spawn_outbox_sampler(&self, pool: PgPool, shutdown: &Shutdown) {
        let metrics = self.clone();
        let stop = shutdown.clone();
        shutdown.spawn(async move {
            loop {
                match outbox::backlog(&pool).await {
                    Ok(backlog) => {
                        metrics.outbox_pending.set(backlog.pending);
                        metrics.outbox_oldest_age.set(backlog.oldest_age_secs);
                    }
                    // The gauges keep their last value; readiness reports the database.
                    Err(error) => tracing::debug!(%error, "sampling the outbox failed"),
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(SAMPLE_EVERY) => {},
                }
            }
        });
    }
}

/// A payment provider whose calls are timed into `order_payment_duration_seconds` and traced as
/// client spans.
#[derive(Debug)]
pub struct Metered<P> {
    inner: P,
    duration: Family<PaymentLabels, LatencyHistogram>,
}

/// One provider call being timed; dropped unfinished (the checkout's deadline passed), it
/// counts as `abandoned`.
struct Timer {
    duration: Family<PaymentLabels, LatencyHistogram>,
    operation: &'static str,
    outcome: &'static str,
    started: Instant,
}

impl Timer {
    fn start(duration: &Family<PaymentLabels, LatencyHistogram>, operation: &'static str) -> Self {
        Self {
            duration: duration.clone(),
            operation,
            outcome: "abandoned",
            started: Instant::now(),
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.duration
            .get_or_create(&PaymentLabels {
                operation: self.operation,
                outcome: self.outcome,
            })
            .observe(
                self.started.elapsed().as_secs_f64(),
                TraceExemplar::current(),
                None,
            );
    }
}

fn payment_span(provider: &'static str, operation: &'static str) -> tracing::Span {
    tracing::info_span!(
        "payment",
        otel.name = format!("payment {operation}"),
        otel.kind = "client",
        payment.provider = provider,
        payment.operation = operation,
    )
}

impl<P: PaymentProvider> PaymentProvider for Metered<P> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn authorise<'a>(
        &'a self,
        request: PaymentRequest<'a>,
    ) -> BoxFuture<'a, Result<Authorisation, ProviderUnavailable>> {
        let span = payment_span(self.inner.name(), "authorise");
        Box::pin(
            async move {
                let mut timer = Timer::start(&self.duration, "authorise");
                let result = self.inner.authorise(request).await;
                timer.outcome = match &result {
                    Ok(Authorisation::Authorised { .. }) => "authorised",
                    Ok(Authorisation::Declined { .. }) => "declined",
                    Err(_) => "unavailable",
                };
                result
            }
            .instrument(span),
        )
    }

    fn refund<'a>(
        &'a self,
        payment_id: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<(), ProviderUnavailable>> {
        let span = payment_span(self.inner.name(), "refund");
        Box::pin(
            async move {
                let mut timer = Timer::start(&self.duration, "refund");
                let result = self.inner.refund(payment_id, amount).await;
                timer.outcome = if result.is_ok() {
                    "refunded"
                } else {
                    "unavailable"
                };
                result
            }
            .instrument(span),
        )
    }
}
