//! What every `main` does first: read the common settings, install telemetry, listen for
//! SIGTERM, and later serve the service's routes with the standard stack.

use axum::Router;

use crate::config::{Env, HttpConfig};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::server::{self, Ops};
use crate::shutdown::Shutdown;
use crate::telemetry::{self, TelemetryConfig, TelemetryGuard};

/// A started service process: its environment, server settings, metrics and shutdown signal.
#[derive(Debug)]
pub struct Service {
    /// The service's name, used in logs, traces and connection names.
    pub name: &'static str,
    /// The environment the settings were read from.
    pub env: Env,
    /// HTTP server settings.
    pub http: HttpConfig,
    /// The metrics registry; register service metrics here.
    pub metrics: Metrics,
    /// The shutdown signal, already wired to SIGTERM and SIGINT.
    pub shutdown: Shutdown,
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
            metrics: Metrics::new(),
            shutdown: Shutdown::new(),
            _telemetry: telemetry,
        })
    }

    /// Readiness for this service, turning false on shutdown; add its checks with `with`.
    pub fn health(&self) -> Health {
        Health::new(self.shutdown.clone())
    }

    /// Serves `routes` with the standard stack until SIGTERM, then drains.
    pub async fn serve(self, routes: Router, health: Health) -> anyhow::Result<()> {
        self.shutdown.on_signals();
        let ops = Ops {
            metrics: self.metrics.clone(),
            health,
        };
        let app = server::router(routes, &ops, &self.http);
        let listener = server::bind(self.http.bind).await?;
        server::serve(listener, app, self.shutdown, &self.http).await
    }
}
