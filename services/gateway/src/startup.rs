//! The one assembly of the gateway, used by `main`, the tests and the end-to-end suites alike,
//! so that what they start is what ships.

use std::sync::Arc;

use axum::Router;
use http::{HeaderValue, header};
use kit::bootstrap::{Platform, Service};
use kit::config::HttpConfig;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::AppState;
use crate::config::GatewayConfig;

/// Browsers reach the shop over HTTPS only, for a year, subdomains included.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The gateway assembled: what it serves on its two listeners, with its background work (the
/// JWKS refresh and the rate limiter's cleanup) already running on the platform's shutdown.
#[derive(Debug)]
pub struct Application {
    /// The public listener (`BIND_ADDR`): the API and the storefront, under the kit's standard
    /// layers, without any ops endpoint.
    pub public: Router,
    /// The ops listener (`OPS_BIND_ADDR`): the gateway's own `/healthz`, `/readyz` and
    /// `/metrics`, for probes and the scraper inside the cluster.
    pub ops: Router,
    /// The public listener's connection limits (header read timeout, most connections).
    pub http: HttpConfig,
}

impl Application {
    /// The gateway for `config`, its public listener held to `http`'s limits.
    pub fn build(
        config: &GatewayConfig,
        http: &HttpConfig,
        platform: &Platform,
    ) -> anyhow::Result<Self> {
        let state = AppState::new(config, &platform.metrics)?;
        Ok(Self::with_state(state, config, http, platform))
    }

    /// Assembles the gateway around `state`, made by [`AppState::new`] and possibly changed
    /// (tests shorten the JWKS refresh, say).
    pub fn with_state(
        state: AppState,
        config: &GatewayConfig,
        http: &HttpConfig,
        platform: &Platform,
    ) -> Self {
        let ops = platform.ops(platform.health());
        let mut public = kit::server::layered(
            crate::app(Arc::new(state), config, &platform.shutdown),
            &ops.metrics,
            http,
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
        if config.public_https {
            public = public.layer(SetResponseHeaderLayer::overriding(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            ));
        }
        Self {
            public,
            ops: kit::server::ops_router(&ops),
            http: http.clone(),
        }
    }

    /// Binds both listeners and serves until SIGTERM, then until the public listener has
    /// drained; the ops listener stays up meanwhile, so probes see readiness turn false. The
    /// public listener is held to the connection limits of [`Application::http`].
    pub async fn serve(self, service: Service, config: &GatewayConfig) -> anyhow::Result<()> {
        let public = kit::server::bind(service.http.bind).await?;
        let ops = kit::server::bind(config.ops_bind).await?;
        let shutdown = service.platform.shutdown.clone();
        shutdown.on_signals();
        let ops_addr = ops.local_addr()?;
        tracing::info!(addr = %ops_addr, "ops listening");
        let ops_server = axum::serve(ops, self.ops);
        let http = HttpConfig {
            drain_deadline: service.http.drain_deadline,
            ..self.http
        };
        tokio::select! {
            outcome = kit::server::serve(public, self.public, shutdown, &http) => outcome,
            outcome = ops_server => {
                Err(anyhow::anyhow!("the ops listener on {ops_addr} stopped: {outcome:?}"))
            }
        }
    }
}
