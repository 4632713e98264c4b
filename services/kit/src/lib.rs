//! The platform kit: what every ecommerce service needs, written once.
//!
//! - [`config`]: typed settings from environment variables, failing fast with the variable named;
//! - [`telemetry`]: JSON logs with trace ids, OTLP export, W3C trace context over HTTP and AMQP;
//! - [`metrics`]: Prometheus RED metrics by route template;
//! - [`health`]: `/healthz` and `/readyz` with pluggable dependency checks;
//! - [`shutdown`]: SIGTERM handling, draining and background task tracking;
//! - [`error`] and [`extract`]: the one error model, RFC 9457 problems naming the field at fault;
//! - [`db`], [`cache`], [`amqp`]: Postgres, Redis and RabbitMQ clients with their checks;
//! - [`server`]: the HTTP stack and its lifecycle; [`bootstrap`]: what every `main` does first;
//! - [`identity`]: the caller as the gateway vouches for it (`x-user-id`, `x-user-roles`);
//! - [`internal`]: the shared secret that `/internal/*` routes require of their callers;
//! - [`openapi`]: serving a service's OpenAPI document and the security scheme they share;
//! - [`cli`]: the shared subcommands.

pub mod amqp;
pub mod bootstrap;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod health;
pub mod identity;
pub mod internal;
pub mod metrics;
pub mod openapi;
pub mod server;
pub mod shutdown;
pub mod telemetry;
#[cfg(test)]
mod testing;

pub use error::{ApiError, ResultExt};
pub use extract::{Json, Path, Query};

/// The result type of request handlers.
pub type ApiResult<T> = Result<T, ApiError>;
