//! The order service: carts, idempotent checkout, payments, the order lifecycle, and the order
//! events, published through a transactional outbox.
//!
//! - [`cart`]: the per-user cart, priced by the product service, and visitors' guest carts
//!   ([`guest`]), merged into the account's cart on sign-in;
//! - [`checkout`]: `POST /api/v1/checkout`, exactly once per `Idempotency-Key` ([`idempotency`]);
//! - [`catalog_client`]: the product service's internal API (prices, reservations);
//! - [`payments`]: the payment provider adapter and the built-in test provider;
//! - [`pricing`]: totals in minor units, and their rounding;
//! - [`orders`]: the lifecycle, the customer's and admin's order endpoints, and expiry;
//! - [`outbox`]: events written with their change and relayed to RabbitMQ;
//! - [`metrics`]: checkouts by outcome, payment latency, the outbox backlog;
//! - [`config`]: the settings;
//! - `openapi`: the public API's OpenAPI document, at `/openapi.json` (for the gateway, which
//!   does not route it publicly).

pub mod cart;
pub mod catalog_client;
pub mod checkout;
pub mod config;
pub mod guest;
pub mod idempotency;
pub mod metrics;
mod openapi;
pub mod orders;
pub mod outbox;
pub mod payments;
pub mod pricing;
pub mod startup;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use kit::amqp::Broker;
use kit::shutdown::Shutdown;
use sqlx::PgPool;

use crate::catalog_client::CatalogClient;
use crate::config::{
    BackgroundSettings, CartSettings, CheckoutSettings, Config, PaymentProviderConfig,
};
use crate::idempotency::FingerprintKey;
use crate::metrics::OrderMetrics;
use crate::outbox::{OutboxSignal, Relay};
use crate::payments::{PaymentProvider, TestPaymentProvider};
use crate::pricing::Pricing;

/// The service's migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// What the handlers and background tasks share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The order database.
    pub pool: PgPool,
    /// The product service.
    pub catalog: CatalogClient,
    /// The payment provider.
    pub payments: Arc<dyn PaymentProvider>,
    /// How totals are computed.
    pub pricing: Pricing,
    /// Checkout settings.
    pub checkout: CheckoutSettings,
    /// Cart settings.
    pub carts: CartSettings,
    /// The key of checkout request fingerprints.
    pub fingerprint_key: FingerprintKey,
    /// Wakes the outbox relay after a commit.
    pub outbox: OutboxSignal,
    /// The service's own metrics (register them with [`OrderMetrics::register`]).
    pub metrics: OrderMetrics,
}

impl AppState {
    /// The state for `config`, on `pool`, with the configured payment provider.
    pub fn new(config: &Config, pool: PgPool) -> anyhow::Result<Self> {
        let metrics = OrderMetrics::default();
        let payments: Arc<dyn PaymentProvider> = match config.payment {
            PaymentProviderConfig::Test(settings) => {
                Arc::new(metrics.metered(TestPaymentProvider::new(settings)))
            }
        };
        Ok(Self {
            pool,
            catalog: CatalogClient::new(&config.product)?,
            payments,
            pricing: config.pricing,
            checkout: config.checkout,
            carts: config.carts,
            fingerprint_key: config.fingerprint_key.clone(),
            outbox: OutboxSignal::default(),
            metrics,
        })
    }
}

/// The service's routes: each resource module's router, and the OpenAPI document.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(cart::router())
        .merge(checkout::router())
        .merge(orders::router())
        .merge(openapi::router())
        .with_state(state)
}

/// Starts the background work, which stops on shutdown: the outbox relay, the sampler of its
/// backlog, and the sweeper (abandoned pending orders, expired idempotency keys, idle guest
/// carts, old published events).
pub fn spawn_background(
    state: &AppState,
    broker: Broker,
    settings: BackgroundSettings,
    shutdown: &Shutdown,
) {
    let relay = Relay::new(
        state.pool.clone(),
        broker,
        state.outbox.clone(),
        settings.outbox_poll,
        settings.outbox_batch,
    );
    shutdown.spawn(relay.run(shutdown.clone()));
    state
        .metrics
        .spawn_outbox_sampler(state.pool.clone(), shutdown);
    let state = state.clone();
    let stop = shutdown.clone();
    shutdown.spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(settings.sweep_interval) => {},
            }
            sweep(&state, settings.outbox_retention).await;
        }
    });
}

/// One round of the sweeper. Failures are logged; the next round tries again.
pub async fn sweep(state: &AppState, outbox_retention: Duration) {
    let pending_ttl = state.checkout.pending_ttl;
    match orders::expire_pending(state, pending_ttl).await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "expired abandoned pending orders"),
        Err(error) => tracing::warn!(%error, "expiring pending orders failed"),
    }
    if let Err(error) = idempotency::purge(&state.pool, pending_ttl).await {
        tracing::warn!(%error, "purging idempotency keys failed");
    }
    match guest::purge_idle(&state.pool, state.carts.guest_idle_ttl).await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "deleted idle guest carts"),
        Err(error) => tracing::warn!(%error, "deleting idle guest carts failed"),
    }
    if let Err(error) = outbox::purge_published(&state.pool, outbox_retention).await {
        tracing::warn!(%error, "purging published events failed");
    }
}
