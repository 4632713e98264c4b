//! The HTTP server every service runs: ops endpoints, standard layers, graceful shutdown.
//!
//! [`router`] wraps a service's routes with `/healthz`, `/readyz`, `/metrics`, request ids,
//! request spans joined to the caller's trace, RED metrics, a timeout, a body limit, response
//! compression, panic capture, problem+json answers for unknown routes, and `Connection: close`
//! on an answer given before its request's body was read (see `unread_body`). [`serve`] runs it
//! until shutdown, then gives in-flight requests a bounded time to finish.
//!
//! A service whose port is public (the gateway) serves the two halves on separate listeners
//! instead: [`layered`], the same stack without the ops endpoints, and [`ops_router`], the ops
//! endpoints alone, so `/metrics` and the probes are never reachable from outside.

use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{BoxError, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::HttpConfig;
use crate::error::ApiError;
use crate::health::{self, Health};
use crate::metrics::{self, Metrics};
use crate::shutdown::Shutdown;
use crate::telemetry;

mod unread_body;

use unread_body::CloseOnUnreadBodyLayer;

/// What the ops endpoints report on.
#[derive(Debug, Clone)]
pub struct Ops {
    /// The service's metrics registry.
    pub metrics: Metrics,
    /// The service's readiness checks.
    pub health: Health,
}

/// The service's routes wrapped with ops endpoints and the standard layers.
pub fn router(routes: Router, ops: &Ops, http: &HttpConfig) -> Router {
    layered(routes.merge(ops_routes(ops)), &ops.metrics, http)
}

/// The service's routes with the standard layers and no ops endpoints, for a listener that is
/// public; serve [`ops_router`] on another one.
pub fn layered(routes: Router, metrics: &Metrics, http: &HttpConfig) -> Router {
    let timeout = http.request_timeout;
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                // Outermost, so the answers the layers below give (timeouts, panics) count.
                .layer(CloseOnUnreadBodyLayer)
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_request(())
                        .on_response(OnResponse)
                        .on_failure(()),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                // Outside the panic and timeout layers, so the 500s and 503s they answer
                // are counted too: those are the errors RED metrics exist to show.
                .layer(metrics::TrackLayer::new(metrics.clone()))
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(HandleErrorLayer::new(move |error: BoxError| async move {
                    timeout_response(&error, timeout)
                }))
                .timeout(timeout)
                .layer(DefaultBodyLimit::max(http.body_limit))
                .layer(CompressionLayer::new()),
        )
}

/// `/healthz`, `/readyz` and `/metrics` alone (anything else is a 404 problem), for an ops
/// listener next to a [`layered`] public one.
pub fn ops_router(ops: &Ops) -> Router {
    ops_routes(ops)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

fn ops_routes(ops: &Ops) -> Router {
    Router::new()
        .route("/healthz", get(health::liveness))
        .route(
            "/readyz",
            get(health::readiness).with_state(ops.health.clone()),
        )
        .route(
            "/metrics",
            get(metrics::endpoint).with_state(ops.metrics.clone()),
        )
}

/// The span of one request, by the OpenTelemetry conventions for HTTP servers: joined to the
/// caller's trace, carrying ids that every log line written inside it repeats. Routing has
/// happened when it is made (the layers sit on the router), so it names the route template.
fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let method = request.method().as_str();
    // Text fields as `&str`, not `%` (Display): each layer formats a Display value into a
    // string of its own, while a `&str` is copied as it is.
    let name = route.map_or_else(|| method.to_owned(), |route| format!("{method} {route}"));
    let span = tracing::info_span!(
        "request",
        otel.name = name.as_str(),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        url.path = request.uri().path(),
        request_id,
    );
    // A span the filter turned off has no trace to join: the headers are not even read.
    if !span.is_disabled() {
        telemetry::set_parent(&span, telemetry::extract_http(request.headers()));
    }
    span
}

/// Sets the request's status on its trace span and writes its log line (status and latency) at
/// `debug`: the gateway's access log is the one line per request at `info`. A JSON line per
/// request in every service cost a quarter of a cached product read's throughput, and the
/// request's span (its trace, metrics and any warning written inside it) is there regardless.
#[derive(Debug, Clone, Copy)]
struct OnResponse;

impl<B> tower_http::trace::OnResponse<B> for OnResponse {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &tracing::Span) {
        telemetry::record_response(span, Some(response.status().as_u16()));
        DefaultOnResponse::new()
            .level(Level::DEBUG)
            .on_response(response, latency, span);
    }
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("No route for {method} {}.", uri.path()))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    let problem = contracts::problem::Problem::new(
        contracts::problem::problem_types::METHOD_NOT_ALLOWED,
        "Method not allowed",
        405,
    )
    .with_detail(format!("{method} is not allowed on {}.", uri.path()));
    crate::error::problem_response(&problem)
}

fn timeout_response(error: &BoxError, timeout: Duration) -> Response {
    if error.is::<tower::timeout::error::Elapsed>() {
        ApiError::TimedOut(timeout).into_response()
    } else {
        ApiError::Internal(anyhow::anyhow!("middleware error: {error}")).into_response()
    }
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

/// Binds the listener.
pub async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// How long a pooled connection to another service may idle before a client drops it: less
/// than the services' header read timeout (10 s by default), which also closes connections idle
/// between requests. A client that kept one longer could send a request on a connection the
/// server is closing, and a request that cannot be retried (a POST) would fail for nothing.
pub const CLIENT_POOL_IDLE: Duration = Duration::from_secs(5);

/// Serves `app` until `shutdown` fires, then lets in-flight requests finish within the drain
/// deadline, then waits for the background tasks, within the same deadline.
///
/// Every connection is held to `http`'s limits, so that slow or idle clients cannot take the
/// server's capacity (slowloris): at most `max_connections` are served at once (the rest wait
/// in the listen backlog, not in memory), and a connection that does not send a request's
/// headers within `header_read_timeout` of waiting for them, its first byte included, is closed
/// (which makes it the idle timeout of kept-alive connections too: see [`CLIENT_POOL_IDLE`]).
/// HTTP/2 connections (prior knowledge, as the gateway may speak to upstreams) are pinged at the
/// same interval and closed when a ping goes unanswered.
///
/// With `http.event_loops` above zero, connections are served by that many event loops of their
/// own, each a single-threaded runtime on a thread of its own accepting from the same listener,
/// as nginx's worker processes do: a connection and everything its requests wait on stay on one
/// thread, where the shared work-stealing runtime wakes another thread for a share of them (see
/// [`HttpConfig::event_loops`]). The rest of the service (background tasks, pools made at start)
/// stays on the runtime that called this. The loops keep turning until this returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: Shutdown,
    http: &HttpConfig,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, max_connections = http.max_connections, event_loops = http.event_loops, "listening");
    let slots = Arc::new(Semaphore::new(http.max_connections));
    // The event loops keep turning until the whole server has stopped, background tasks
    // included: a connection a shared pool opened from one loop is driven by that loop, and
    // another loop's request or a background task may still use it. Dropped, this stops them.
    let loops_stop = tokio_util::sync::CancellationToken::new();
    let _loops_stop = loops_stop.clone().drop_guard();
    let drained_by =
        if http.event_loops == 0 {
            accept(listener, app, shutdown.clone(), http.clone(), slots).await
        } else {
            let listener = listener.into_std()?;
            let mut loops = Vec::with_capacity(http.event_loops);
            for index in 0..http.event_loops {
                let listener = listener.try_clone()?;
                let (app, shutdown, http, slots) =
                    (app.clone(), shutdown.clone(), http.clone(), slots.clone());
                loops.push(event_loop(
                    index,
                    listener,
                    loops_stop.clone(),
                    move |listener| accept(listener, app, shutdown, http, slots),
                )?);
            }
            drop(listener);
            let mut deadlines = Vec::with_capacity(loops.len());
            for drained in loops {
                deadlines.push(drained.await.map_err(|_| {
                    anyhow::anyhow!("an event loop thread ended without an answer")
                })??);
            }
            deadlines
                .into_iter()
                .min()
                .unwrap_or_else(|| tokio::time::Instant::now() + http.drain_deadline)
        };
    if !shutdown
        .wait_for_tasks(drained_by.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        tracing::warn!("background tasks did not stop within the drain deadline");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Starts event loop `index`: a thread running a single-threaded runtime that serves `listener`
/// with `serve`, reports the drain deadline `serve` returns, and keeps its runtime turning until
/// `stop` fires. What is still running then (a stuck request, a blocking call) ends with the
/// process, as on the shared runtime.
fn event_loop<F, Fut>(
    index: usize,
    listener: std::net::TcpListener,
    stop: tokio_util::sync::CancellationToken,
    serve: F,
) -> std::io::Result<tokio::sync::oneshot::Receiver<anyhow::Result<tokio::time::Instant>>>
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = tokio::time::Instant>,
{
    let (done, drained) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("http-{index}"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = done.send(Err(error.into()));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(error) => {
                        let _ = done.send(Err(error.into()));
                        return;
                    }
                };
                tokio::select! {
                    deadline = serve(listener) => {
                        let _ = done.send(Ok(deadline));
                        stop.cancelled().await;
                    }
                    () = stop.cancelled() => {}
                }
            });
            runtime.shutdown_background();
        })?;
    Ok(drained)
}

/// Accepts and serves connections on the runtime it runs on until `shutdown` fires, then drains
/// them within the drain deadline; returns that deadline, which bounds the whole stop.
async fn accept(
    listener: TcpListener,
    app: Router,
    shutdown: Shutdown,
    http: HttpConfig,
    slots: Arc<Semaphore>,
) -> tokio::time::Instant {
    let header_timeout = http.header_read_timeout;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(header_timeout)
        .keep_alive_timeout(header_timeout);
    let connections = GracefulShutdown::new();
    loop {
        // A slot first: at the cap, connections are left in the backlog rather than accepted.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: retrying at once would spin. (Another event
                    // loop taking the connection first is not an error: accept waits for the next.)
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut request: Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let builder = builder.clone();
        let watcher = connections.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            // hyper's header timer starts once it waits for a request, but telling HTTP/1 from
            // HTTP/2 reads the first bytes before that: a client that sends none is cut here.
            if tokio::time::timeout(header_timeout, stream.readable())
                .await
                .is_err()
            {
                tracing::debug!(%peer, "connection closed: nothing sent in time");
                return;
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let drain = http.drain_deadline;
    tracing::info!(?drain, "draining in-flight requests");
    // One deadline for requests and background tasks together, so `drain` bounds the whole stop.
    let deadline = tokio::time::Instant::now() + drain;
    if tokio::time::timeout_at(deadline, connections.shutdown())
        .await
        .is_err()
    {
        // Each connection runs as its own task: what is still running ends with the process.
        tracing::warn!("drain deadline passed; the remaining requests end with the process");
    }
    deadline
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use tower::ServiceExt;

    use super::*;

    fn ops() -> Ops {
        Ops {
            metrics: Metrics::new(),
            health: Health::new(Shutdown::new()),
        }
    }

    fn http() -> HttpConfig {
        HttpConfig::from_env(&crate::config::Env::default()).expect("defaults")
    }

    fn routes() -> Router {
        Router::new().route("/things", get(|| async { "things" }))
    }

    async fn get_status(app: &Router, path: &str) -> (StatusCode, Option<String>) {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let content_type = response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (response.status(), content_type)
    }

    #[tokio::test]
    async fn layered_serves_the_routes_without_ops_endpoints() {
        let ops = ops();
        let app = layered(routes(), &ops.metrics, &http());
        assert_eq!(get_status(&app, "/things").await.0, StatusCode::OK);
        for path in ["/metrics", "/healthz", "/readyz"] {
            let (status, content_type) = get_status(&app, path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(
                content_type.as_deref(),
                Some("application/problem+json"),
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn the_ops_router_serves_the_probes_and_metrics_only() {
        let app = ops_router(&ops());
        for path in ["/metrics", "/healthz", "/readyz"] {
            assert_eq!(get_status(&app, path).await.0, StatusCode::OK, "{path}");
        }
        let (status, content_type) = get_status(&app, "/things").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    }

    #[tokio::test]
    async fn router_still_serves_both() {
        let app = router(routes(), &ops(), &http());
        for path in ["/things", "/metrics", "/healthz", "/readyz"] {
            assert_eq!(get_status(&app, path).await.0, StatusCode::OK, "{path}");
        }
    }
}
