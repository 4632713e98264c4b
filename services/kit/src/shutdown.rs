//! Graceful shutdown: one signal that the server, readiness and background tasks all follow.
//!
//! On SIGTERM or SIGINT the token is cancelled: `/readyz` turns 503 so load balancers stop
//! sending traffic, the listener closes, in-flight requests get a bounded time to finish, and
//! background tasks spawned through [`Shutdown::spawn`] see the cancellation and wind down.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;

/// The shutdown signal and the background tasks that must finish before the process exits.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl Shutdown {
    /// A signal that nothing has triggered yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Triggers shutdown when the process receives SIGTERM or SIGINT.
    pub fn on_signals(&self) {
        let token = self.token.clone();
        tokio::spawn(async move {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut term) => {
                        tokio::select! {
                            _ = ctrl_c => {},
                            _ = term.recv() => {},
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the service");
                        let _ = ctrl_c.await;
                    }
                }
            }
            #[cfg(not(unix))]
            let _ = ctrl_c.await;
            tracing::info!("shutdown signal received");
            token.cancel();
        });
    }

    /// Starts shutting down.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when shutdown starts.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// Completes when shutdown starts, without borrowing `self`.
    pub fn cancelled_owned(&self) -> impl Future<Output = ()> + Send + 'static {
        self.token.clone().cancelled_owned()
    }

    /// Runs a background task that is awaited on shutdown. The task should watch
    /// [`Shutdown::cancelled`] and return soon after it fires.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// Waits for background tasks to finish, at most `deadline`. Returns whether all did.
    pub async fn wait_for_tasks(&self, deadline: Duration) -> bool {
        self.tasks.close();
        tokio::time::timeout(deadline, self.tasks.wait())
            .await
            .is_ok()
    }
}
