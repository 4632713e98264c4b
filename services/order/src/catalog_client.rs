//! The client of the product service's internal API: current prices, and stock reservations.
//!
//! Every call has a deadline (`PRODUCT_TIMEOUT_MS`) and is retried on a connection error, a
//! timeout or a 5xx, a bounded number of times (`PRODUCT_RETRIES`) with exponential backoff and
//! jitter. Retrying is safe because every one of these calls is idempotent: prices are a read,
//! and reservations are keyed by the order id. When the product service still cannot be
//! reached, the caller gets [`ApiError::Unavailable`] naming it (503). The current trace
//! context travels in the request headers, and so does the internal token the product service
//! requires ([`kit::internal`]).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use contracts::inventory::{
    InsufficientStock, ProductPrice, ProductsByIds, Reservation, ReserveRequest,
};
use contracts::problem::{Problem, problem_types};
use kit::ApiError;
use kit::internal::INTERNAL_TOKEN_HEADER;
use kit::metrics::HttpClientMetrics;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use uuid::Uuid;

use crate::config::ProductConfig;

/// The name the product service goes by in 503 problems and logs.
const DEPENDENCY: &str = "product service";

/// A pooled HTTP client for the product service.
#[derive(Debug, Clone)]
pub struct CatalogClient {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
    retries: usize,
    internal_token: HeaderValue,
    metrics: HttpClientMetrics,
}

/// The outcome of a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// The stock is held for the order.
    Reserved(Reservation),
    /// Some lines lack stock; nothing was reserved.
    InsufficientStock(Vec<InsufficientStock>),
}

/// The outcome of committing an order's stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    /// The units are sold to the order (now, or by an earlier commit).
    Committed(Reservation),
    /// The product service no longer holds stock for the order: its reservation expired or
    /// was released (409), or it never had one (404). Nothing was sold.
    Gone,
}

/// The outcome of releasing an order's stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// The units are for sale again (or already were: released or expired before).
    Released(Reservation),
    /// The product service holds nothing for the order: it never got the reservation.
    NothingHeld,
}

/// Why one call failed.
#[derive(Debug, thiserror::Error)]
enum CallError {
    /// Unreachable, too slow, or failing on its side: worth retrying.
    #[error("{0}")]
    Transient(String),
    /// It answered, and the answer is final.
    #[error("answered {status}")]
    Answered {
        status: StatusCode,
        problem: Option<Problem>,
    },
    /// It answered 2xx with a body that does not match the contract.
    #[error("unreadable answer: {0}")]
    Unreadable(String),
}

impl CallError {
    fn into_api_error(self, what: &str) -> ApiError {
        match self {
            Self::Transient(reason) => {
                tracing::warn!(%reason, call = what, "product service unavailable");
                ApiError::unavailable(DEPENDENCY)
            }
            Self::Answered { status, problem } => ApiError::Internal(anyhow::anyhow!(
                "product service answered {status} to {what}: {problem:?}"
            )),
            Self::Unreadable(reason) => ApiError::Internal(anyhow::anyhow!(
                "product service answer to {what} is unreadable: {reason}"
            )),
        }
    }
}

impl CatalogClient {
    /// A client for the product service at `config.url`.
    pub fn new(config: &ProductConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self {
            http,
            base: config.url.clone(),
            timeout: config.timeout,
            retries: config.retries,
            internal_token: config.internal.token.header_value(),
            metrics: HttpClientMetrics::default(),
        })
    }

    /// The client's metrics (calls in flight, their latency), to register with the service's.
    pub fn metrics(&self) -> &HttpClientMetrics {
        &self.metrics
    }

    /// The current price and state of each product; unknown ids are left out.
    pub async fn prices(&self, ids: &[Uuid]) -> Result<Vec<ProductPrice>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let body = ProductsByIds { ids: ids.to_vec() };
        self.call("/internal/products/prices", &body)
            .await
            .map_err(|e| e.into_api_error("prices"))
    }

    /// Holds stock for an order, all lines or none.
    pub async fn reserve(&self, request: &ReserveRequest) -> Result<ReserveOutcome, ApiError> {
        match self.call("/internal/reservations", request).await {
            Ok(reservation) => Ok(ReserveOutcome::Reserved(reservation)),
            Err(CallError::Answered {
                status: StatusCode::CONFLICT,
                problem: Some(problem),
            }) if problem.type_ == problem_types::INSUFFICIENT_STOCK => Ok(
                ReserveOutcome::InsufficientStock(problem.insufficient_stock),
            ),
            Err(error) => Err(error.into_api_error("reserve")),
        }
    }

    /// Turns an order's held stock into sold stock (idempotent).
    pub async fn commit(&self, order_id: Uuid) -> Result<Commit, ApiError> {
        let path = format!("/internal/reservations/{order_id}/commit");
        match self.call(&path, &serde_json::json!({})).await {
            Ok(reservation) => Ok(Commit::Committed(reservation)),
            Err(CallError::Answered {
                status: StatusCode::CONFLICT | StatusCode::NOT_FOUND,
                ..
            }) => Ok(Commit::Gone),
            Err(error) => Err(error.into_api_error("commit")),
        }
    }

    /// Gives an order's stock back (idempotent): held units become available again, and so do
    /// committed ones (a paid order cancelled before it ships).
    pub async fn release(&self, order_id: Uuid) -> Result<Release, ApiError> {
        let path = format!("/internal/reservations/{order_id}/release");
        match self.call(&path, &serde_json::json!({})).await {
            Ok(reservation) => Ok(Release::Released(reservation)),
            Err(CallError::Answered {
                status: StatusCode::NOT_FOUND,
                ..
            }) => Ok(Release::NothingHeld),
            Err(error) => Err(error.into_api_error("release")),
        }
    }

    /// `POST`s `body` to `path`, retrying transient failures.
    async fn call<B, T>(&self, path: &str, body: &B) -> Result<T, CallError>
    where
        B: Serialize + Sync,
        T: DeserializeOwned,
    {
        let url = format!("{}{path}", self.base);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(1))
            .with_max_times(self.retries)
            .with_jitter();
        (|| self.attempt(&url, body))
            .retry(backoff)
            .when(|error| matches!(error, CallError::Transient(_)))
            .notify(|error, delay| {
                tracing::debug!(%error, ?delay, path, "retrying a product service call");
            })
            .await
    }

    async fn attempt<B, T>(&self, url: &str, body: &B) -> Result<T, CallError>
    where
        B: Serialize,
        T: DeserializeOwned,
    {
        // One client span per attempt, as the HTTP conventions count them: the product
        // service's span for this attempt is its child.
        let span = kit::telemetry::client_span(&reqwest::Method::POST, url);
        let call = self.metrics.start("product", &reqwest::Method::POST);
        let sent = async {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(INTERNAL_TOKEN_HEADER, self.internal_token.clone());
            kit::telemetry::inject_http(&mut headers);
            self.http
                .post(url)
                .headers(headers)
                .timeout(self.timeout)
                .json(body)
                .send()
                .await
        }
        .instrument(span.clone())
        .await;
        let status = sent.as_ref().ok().map(|r| r.status().as_u16());
        kit::telemetry::record_response(&span, status);
        call.finish(status);
        let response = sent.map_err(|e| CallError::Transient(describe(&e)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(CallError::Transient(format!("answered {status}")));
        }
        if !status.is_success() {
            // A problem body when there is one; its absence is no reason to fail differently.
            let problem = response.json::<Problem>().await.ok();
            return Err(CallError::Answered { status, problem });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Transient(describe(&e)))?;
        serde_json::from_slice(&bytes).map_err(|e| CallError::Unreadable(e.to_string()))
    }
}

/// A reqwest error with its cause chain, which is where the useful part (refused, timed out)
/// usually is.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
