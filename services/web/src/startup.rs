//! The one assembly of the service, used by `main` and the tests alike, so that what they start
//! is what ships.

use axum::Router;
use kit::bootstrap::{Platform, Service};
use kit::health::Health;

use crate::config::WebConfig;
use crate::{Site, app};

/// The web service assembled: the storefront's routes and readiness (nothing to depend on).
#[derive(Debug)]
pub struct Application {
    /// The service's routes, without the kit's standard stack.
    pub routes: Router,
    /// Readiness, turning false on shutdown.
    pub health: Health,
}

impl Application {
    /// Serves the storefront from the folder the settings name.
    pub fn build(config: &WebConfig, platform: &Platform) -> Self {
        tracing::info!(root = %config.root.display(), "serving the frontend");
        Self {
            routes: app(Site::new(config)),
            health: platform.health(),
        }
    }

    /// Serves the application until SIGTERM, then drains.
    pub async fn serve(self, service: Service) -> anyhow::Result<()> {
        service.serve(self.routes, self.health).await
    }
}
