//! Liveness and readiness.
//!
//! `/healthz` says the process is alive and answers as long as the runtime does. `/readyz` runs
//! every registered [`Check`] concurrently, each with a timeout, and answers 503 naming the
//! failing ones, or while the service is shutting down. A check marked not required (a cache
//! the service can live without) reports `degraded` without failing readiness.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use futures::future::{BoxFuture, join_all};
use serde::Serialize;

use crate::shutdown::Shutdown;

/// How long one check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A dependency readiness depends on.
pub trait Check: Send + Sync + 'static {
    /// The name shown in the readiness report, such as `postgres`.
    fn name(&self) -> &'static str;
    /// Whether the service cannot serve without it.
    fn required(&self) -> bool {
        true
    }
    /// Succeeds when the dependency is reachable; the error says why not.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// The readiness checks of a service.
#[derive(Clone, Default)]
pub struct Health {
    checks: Vec<Arc<dyn Check>>,
    shutdown: Shutdown,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.checks.iter().map(|c| c.name()).collect();
        f.debug_struct("Health").field("checks", &names).finish()
    }
}

/// The state of one check in the readiness report.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Reachable.
    Up,
    /// Unreachable and required.
    Down,
    /// Unreachable but optional.
    Degraded,
}

/// One line of the readiness report.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// The check's name.
    pub name: &'static str,
    /// Its state.
    pub status: CheckStatus,
    /// Why it is not up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// `ready`, `degraded` (ready without an optional dependency), `not_ready` or `shutting_down`.
    pub status: &'static str,
    /// Every check's result.
    pub checks: Vec<CheckReport>,
}

impl Health {
    /// Readiness that turns false when `shutdown` fires.
    pub fn new(shutdown: Shutdown) -> Self {
        Self {
            checks: Vec::new(),
            shutdown,
        }
    }

    /// Adds a check.
    #[must_use]
    pub fn with(mut self, check: impl Check) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Runs the checks.
    pub async fn readiness(&self) -> (bool, Readiness) {
        let results = join_all(self.checks.iter().map(|check| async move {
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
            };
            let status = match (&outcome, check.required()) {
                (Ok(()), _) => CheckStatus::Up,
                (Err(_), true) => CheckStatus::Down,
                (Err(_), false) => CheckStatus::Degraded,
            };
            CheckReport {
                name: check.name(),
                status,
                error: outcome.err(),
            }
        }))
        .await;
        let down = results.iter().any(|r| r.status == CheckStatus::Down);
        let degraded = results.iter().any(|r| r.status == CheckStatus::Degraded);
        let (ready, status) = if self.shutdown.is_triggered() {
            (false, "shutting_down")
        } else if down {
            (false, "not_ready")
        } else if degraded {
            (true, "degraded")
        } else {
            (true, "ready")
        };
        (
            ready,
            Readiness {
                status,
                checks: results,
            },
        )
    }
}

/// `GET /healthz`.
pub async fn liveness() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "alive" }))
}

/// `GET /readyz`.
pub async fn readiness(State(health): State<Health>) -> impl IntoResponse {
    let (ready, report) = health.readiness().await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}
