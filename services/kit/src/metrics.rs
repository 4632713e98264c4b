//! Prometheus metrics: the RED metrics every service records, and `/metrics`.
//!
//! Requests are labelled by the *route template* (`/products/{id}`), never the raw path, so one
//! route is one series however many ids clients ask for. Services register their own metrics on
//! the same [`Metrics`] registry.
//!
//! Names follow the Prometheus conventions: base units in the name (`_seconds`), counters end
//! in `_total` (the encoder appends it), and a service's own metrics start with its name
//! (`order_checkouts_total`). What identifies the service (`job`, `service`, `namespace`,
//! `pod`) is added by the scraper as target labels, never by the process.
//!
//! Besides the RED metrics, every registry carries `process_start_time_seconds` (restarts show
//! as changes), and a service adds the saturation of what it holds: its Postgres pool
//! ([`Metrics::watch_postgres`]), its Redis pool ([`Metrics::watch_redis`]) and the HTTP
//! clients it calls other services with ([`HttpClientMetrics`]). Latency histograms carry the
//! request's trace id as an OpenMetrics exemplar, so a slow bucket links to a trace.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock, RwLock};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use futures::future::BoxFuture;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Metric, Registry};
use tower::{Layer, Service};

/// The labels of the HTTP metrics. Made for every request, so none of them is allocated: the
/// method is a static name, the route the router's own shared template.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: Cow<'static, str>,
    route: RouteLabel,
    status: u16,
}

/// A request's route template as a label: the router's [`MatchedPath`], whose clone shares the
/// template rather than copying it, or a fixed name (`unmatched` when no route matched).
#[derive(Clone, Debug)]
enum RouteLabel {
    Template(MatchedPath),
    Named(&'static str),
}

impl RouteLabel {
    fn as_str(&self) -> &str {
        match self {
            Self::Template(path) => path.as_str(),
            Self::Named(name) => name,
        }
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteLabel {}

impl std::hash::Hash for RouteLabel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// A request method as a label: the standard ones by their static names, any other copied.
fn method_label(method: &http::Method) -> Cow<'static, str> {
    use http::Method;
    Cow::Borrowed(match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => return Cow::Owned(method.as_str().to_owned()),
    })
}

/// The exemplar of a latency observation: the trace it was measured in.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TraceExemplar {
    trace_id: TraceIdLabel,
}

impl TraceExemplar {
    /// The current span's trace, when it has one.
    pub fn current() -> Option<Self> {
        crate::telemetry::current_trace_id().map(|id| Self {
            trace_id: TraceIdLabel(id),
        })
    }
}

/// A trace id as an exemplar label: kept as the number and written in hex only when `/metrics`
/// is scraped, not formatted at each of the two or three observations a request makes.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct TraceIdLabel(opentelemetry::trace::TraceId);

impl EncodeLabelValue for TraceIdLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_fmt(encoder, format_args!("{}", self.0))
    }
}

/// A latency histogram whose buckets remember the trace of their last observation.
pub type LatencyHistogram = HistogramWithExemplars<TraceExemplar>;

/// Latency buckets from 1 ms to about 10 s: wide enough for a cache hit and a slow checkout.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A [`LatencyHistogram`] with the shop's latency buckets.
pub fn latency_histogram() -> LatencyHistogram {
    HistogramWithExemplars::new(LATENCY_BUCKETS.into_iter())
}

/// A family of [`LatencyHistogram`]s.
pub fn latency_family<L>() -> Family<L, LatencyHistogram>
where
    L: Clone + std::hash::Hash + Eq,
{
    Family::new_with_constructor(latency_histogram as fn() -> LatencyHistogram)
}

/// When the process started (the first registry was made, during start-up), in seconds since
/// the epoch.
static STARTED: LazyLock<f64> = LazyLock::new(|| {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
});

/// A service's metric registry with the HTTP RED metrics already in it.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<RwLock<Registry>>,
    requests: Family<HttpLabels, Counter>,
    duration: Family<HttpLabels, LatencyHistogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry holding `http_requests_total`, `http_request_duration_seconds` and
    /// `process_start_time_seconds`.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<HttpLabels, Counter>::default();
        let duration = latency_family::<HttpLabels>();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            duration.clone(),
        );
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch",
            ConstGauge::new(*STARTED),
        );
        Self {
            registry: Arc::new(RwLock::new(registry)),
            requests,
            duration,
        }
    }

    /// Adds a service's own metric.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .register(name, help, metric);
    }

    /// Adds metrics computed when scraped.
    pub fn register_collector(&self, collector: impl Collector) {
        self.registry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .register_collector(Box::new(collector));
    }

    /// Reports the Postgres pool's connections at every scrape: `db_pool_connections` by
    /// `state` (`idle`, `in_use`) and `db_pool_max_connections`; saturation is their ratio.
    pub fn watch_postgres(&self, pool: sqlx::PgPool) {
        self.register_collector(PostgresPool(pool));
    }

    /// Reports the Redis pool's connections at every scrape: `redis_pool_connections` by
    /// `state`, `redis_pool_max_connections` and `redis_pool_waiting_requests` (callers
    /// queued for a connection).
    pub fn watch_redis(&self, pool: crate::cache::Pool) {
        self.register_collector(RedisPool(pool));
    }

    /// The registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    fn observe(&self, labels: HttpLabels, seconds: f64) {
        self.requests.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .observe(seconds, TraceExemplar::current(), None);
    }
}

/// Connection counts by state, for the pool collectors.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolState {
    state: &'static str,
}

/// Writes one pool's gauges: connections by state, and the maximum.
fn encode_pool(
    encoder: &mut DescriptorEncoder,
    prefix: &str,
    idle: i64,
    in_use: i64,
    max: i64,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(0_i64);
    let name = format!("{prefix}_pool_connections");
    let mut family = encoder.encode_descriptor(
        &name,
        "Open connections of the pool, by state",
        None,
        gauge.metric_type(),
    )?;
    for (state, count) in [("idle", idle), ("in_use", in_use)] {
        ConstGauge::new(count).encode(family.encode_family(&PoolState { state })?)?;
    }
    let name = format!("{prefix}_pool_max_connections");
    ConstGauge::new(max).encode(encoder.encode_descriptor(
        &name,
        "Connections the pool may open",
        None,
        gauge.metric_type(),
    )?)
}

#[derive(Debug)]
struct PostgresPool(sqlx::PgPool);

impl Collector for PostgresPool {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let open = i64::from(self.0.size());
        let idle = i64::try_from(self.0.num_idle()).unwrap_or(i64::MAX);
        let max = i64::from(self.0.options().get_max_connections());
        encode_pool(&mut encoder, "db", idle, open.saturating_sub(idle), max)
    }
}

struct RedisPool(crate::cache::Pool);

impl std::fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RedisPool").finish_non_exhaustive()
    }
}

impl Collector for RedisPool {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let status = self.0.status();
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let idle = count(status.available);
        encode_pool(
            &mut encoder,
            "redis",
            idle,
            count(status.size).saturating_sub(idle),
            count(status.max_size),
        )?;
        let waiting = ConstGauge::new(count(status.waiting));
        let metric = encoder.encode_descriptor(
            "redis_pool_waiting_requests",
            "Callers waiting for a connection of the pool",
            None,
            waiting.metric_type(),
        )?;
        waiting.encode(metric)
    }
}

/// The labels of an HTTP client call: the service called and how it went.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    peer: &'static str,
    method: Cow<'static, str>,
    status: ClientStatus,
}

/// The answer's status code, or `error` when none came (unreachable, timed out); a label
/// written when scraped rather than a string made for every call.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct ClientStatus(Option<u16>);

impl EncodeLabelValue for ClientStatus {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        match self.0 {
            Some(status) => EncodeLabelValue::encode(&status, encoder),
            None => EncodeLabelValue::encode(&"error", encoder),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: &'static str,
}

/// What a service's HTTP clients record about the services they call:
/// `http_client_requests_in_flight` by `peer` (their saturation: reqwest's pools grow without
/// a cap, so requests in flight are what piles up when a peer slows down) and
/// `http_client_request_duration_seconds` by `peer`, `method` and `status`.
#[derive(Clone, Debug)]
pub struct HttpClientMetrics {
    in_flight: Family<PeerLabels, Gauge>,
    duration: Family<ClientLabels, LatencyHistogram>,
}

impl Default for HttpClientMetrics {
    fn default() -> Self {
        Self {
            in_flight: Family::default(),
            duration: latency_family(),
        }
    }
}

impl HttpClientMetrics {
    /// Puts these metrics in `metrics`' registry.
    pub fn register(&self, metrics: &Metrics) {
        metrics.register(
            "http_client_requests_in_flight",
            "HTTP requests sent to another service and not answered yet",
            self.in_flight.clone(),
        );
        metrics.register(
            "http_client_request_duration_seconds",
            "Time other services took to answer HTTP requests",
            self.duration.clone(),
        );
    }

    /// A request to `peer` starts; record its end with [`ClientCall::finish`]. A call dropped
    /// before it finished (its caller gave up) leaves the in-flight count all the same.
    pub fn start(&self, peer: &'static str, method: &http::Method) -> ClientCall {
        let in_flight = self.in_flight.get_or_create(&PeerLabels { peer }).clone();
        in_flight.inc();
        ClientCall {
            metrics: self.clone(),
            in_flight,
            peer,
            method: method_label(method),
            started: Instant::now(),
        }
    }
}

/// One request in flight to another service.
#[derive(Debug)]
pub struct ClientCall {
    metrics: HttpClientMetrics,
    in_flight: Gauge,
    peer: &'static str,
    method: Cow<'static, str>,
    started: Instant,
}

impl ClientCall {
    /// The answer came with `status`, or none came (`None`).
    pub fn finish(self, status: Option<u16>) {
        let labels = ClientLabels {
            peer: self.peer,
            method: self.method.clone(),
            status: ClientStatus(status),
        };
        self.metrics.duration.get_or_create(&labels).observe(
            self.started.elapsed().as_secs_f64(),
            TraceExemplar::current(),
            None,
        );
    }
}

impl Drop for ClientCall {
    fn drop(&mut self) {
        self.in_flight.dec();
    }
}

/// The layer recording every request in the RED metrics (see [`Track`]).
#[derive(Clone, Debug)]
pub struct TrackLayer(Metrics);

impl TrackLayer {
    /// Records into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self(metrics)
    }
}

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Track {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// Middleware recording one request in the RED metrics. A service of its own rather than
/// `axum::middleware::from_fn`, which boxes the rest of the stack and its future anew for
/// every request: this one allocates a single future.
#[derive(Clone, Debug)]
pub struct Track<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, B, E> Service<Request> for Track<S>
where
    S: Service<Request, Response = http::Response<B>, Error = E>,
    S::Future: Send + 'static,
{
    type Response = http::Response<B>;
    type Error = E;
    type Future = BoxFuture<'static, Result<http::Response<B>, E>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or(RouteLabel::Named("unmatched"), |path| {
                RouteLabel::Template(path.clone())
            });
        let method = method_label(request.method());
        let started = Instant::now();
        let answer = self.inner.call(request);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let response = answer.await?;
            metrics.observe(
                HttpLabels {
                    method,
                    route,
                    status: response.status().as_u16(),
                },
                started.elapsed().as_secs_f64(),
            );
            Ok(response)
        })
    }
}

/// `GET /metrics`.
pub async fn endpoint(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions_and_latency_carries_the_trace() {
        let metrics = Metrics::new();
        let labels = HttpLabels {
            method: method_label(&http::Method::GET),
            route: RouteLabel::Named("/things/{id}"),
            status: 200,
        };
        metrics.requests.get_or_create(&labels).inc();
        metrics.duration.get_or_create(&labels).observe(
            0.003,
            Some(TraceExemplar {
                trace_id: TraceIdLabel(
                    opentelemetry::trace::TraceId::from_hex("0af7651916cd43dd8448eb211c80319c")
                        .expect("hex"),
                ),
            }),
            None,
        );
        let client = HttpClientMetrics::default();
        client.register(&metrics);
        client
            .start("product", &http::Method::POST)
            .finish(Some(201));
        drop(client.start("product", &http::Method::POST));
        let text = metrics.render();
        for line in [
            "# TYPE http_requests counter",
            r#"http_requests_total{method="GET",route="/things/{id}",status="200"} 1"#,
            r#"http_request_duration_seconds_bucket{le="0.005",method="GET",route="/things/{id}",status="200"} 1 # {trace_id="0af7651916cd43dd8448eb211c80319c"} 0.003"#,
            "# TYPE process_start_time_seconds gauge",
            r#"http_client_requests_in_flight{peer="product"} 0"#,
            r#"http_client_request_duration_seconds_count{peer="product",method="POST",status="201"} 1"#,
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }

    #[tokio::test]
    async fn pools_report_their_connections() {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(7)
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("lazy pool");
        let redis = crate::cache::RedisConfig {
            url: "redis://127.0.0.1:1".to_owned().into(),
            prefix: "test:".to_owned(),
            timeout: std::time::Duration::from_millis(250),
        }
        .pool()
        .expect("redis pool");
        let metrics = Metrics::new();
        metrics.watch_postgres(pool);
        metrics.watch_redis(redis);
        let text = metrics.render();
        for line in [
            r#"db_pool_connections{state="idle"} 0"#,
            r#"db_pool_connections{state="in_use"} 0"#,
            "db_pool_max_connections 7",
            r#"redis_pool_connections{state="in_use"} 0"#,
            "redis_pool_waiting_requests 0",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
