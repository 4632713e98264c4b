//! What every `main` does first: read the common settings, install telemetry, listen for
//! SIGTERM, and later serve the service's routes with the standard stack.
//!
//! Between the two, each service's `startup::Application::build(&config, &platform)` assembles
//! the service on a [`Platform`]: state, routes, background work and readiness, the same way in
//! `main`, the tests and the benches.

use axum::Router;

use crate::config::{Env, HttpConfig};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::server::{self, Ops};
use crate::shutdown::Shutdown;
use crate::telemetry::{self, TelemetryConfig, TelemetryGuard};

/// What an application is built on: the metrics registry its metrics join and the shutdown
/// signal its background work stops on. A process has one ([`Service::platform`]); a test makes
/// its own with [`Platform::default`].
#[derive(Debug, Clone, Default)]
pub struct Platform {
    /// The metrics registry; register service metrics here.
    pub metrics: Metrics,
    /// The shutdown signal; background work is spawned on it.
    pub shutdown: Shutdown,
}

impl Platform {
    /// Readiness, turning false on shutdown; add the service's checks with `with`.
    pub fn health(&self) -> Health {
        Health::new(self.shutdown.clone())
    }

    /// The ops endpoints (metrics and `health`) the standard stack serves beside the routes.
    pub fn ops(&self, health: Health) -> Ops {
        Ops {
            metrics: self.metrics.clone(),
            health,
        }
    }
}

/// A started service process: its environment, server settings and platform.
#[derive(Debug)]
pub struct Service {
    /// The service's name, used in logs, traces and connection names.
    pub name: &'static str,
    /// The environment the settings were read from.
    pub env: Env,
    /// HTTP server settings.
    pub http: HttpConfig,
    /// The metrics registry and the shutdown signal (wired to SIGTERM and SIGINT by `serve`).
    pub platform: Platform,
    _telemetry: TelemetryGuard,
}

impl Service {
    /// Reads the common settings from the process environment and installs telemetry.
    /// A bad variable stops here with an error naming it.
    pub fn init(name: &'static str) -> anyhow::Result<Self> {
        let env = Env::from_process();
        let http = HttpConfig::from_env(&env)?;
        let telemetry = telemetry::init(name, &TelemetryConfig::from_env(&env)?)?;
        Ok(Self {
            name,
            env,
            http,
            platform: Platform::default(),
            _telemetry: telemetry,
        })
    }

    /// Serves `routes` with the standard stack until SIGTERM, then drains.
    pub async fn serve(self, routes: Router, health: Health) -> anyhow::Result<()> {
        let shutdown = self.platform.shutdown.clone();
        shutdown.on_signals();
        let app = server::router(routes, &self.platform.ops(health), &self.http);
        let listener = server::bind(self.http.bind).await?;
        server::serve(listener, app, shutdown, &self.http).await
    }
}
