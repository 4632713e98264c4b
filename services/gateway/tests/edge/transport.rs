//! How messages cross the gateway: the body limit with and without a declared length, bodies
//! streamed both ways rather than buffered, HTTP/2 to upstreams, and the timeout of each route.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::routing::{any, get, post};
use contracts::auth::Role;
use futures::channel::mpsc;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

use crate::harness::{Gateway, Upstreams};

/// How long a test waits for something that should happen at once.
const PROMPTLY: Duration = Duration::from_secs(5);

/// The protocol an [`Served`] upstream speaks.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    Http1,
    /// HTTP/2 over cleartext with prior knowledge, and nothing else: an HTTP/1.1 request is
    /// refused, so a 200 proves the gateway spoke HTTP/2.
    H2c,
}

/// An upstream made of an axum router, for behaviour the controlled upstream cannot script
/// (streamed bodies, delays, HTTP/2); stops when dropped.
struct Served {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Served {
    async fn start(app: Router, protocol: Protocol) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            match protocol {
                Protocol::Http1 => axum::serve(listener, app).await.expect("upstream"),
                Protocol::H2c => {
                    while let Ok((stream, _)) = listener.accept().await {
                        let service = hyper_util::service::TowerToHyperService::new(app.clone());
                        tokio::spawn(
                            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(stream), service),
                        );
                    }
                }
            }
        });
        Self { url, task }
    }
}

/// A request body the test writes chunk by chunk, ending when the sender is dropped.
type Streamed = StreamBody<mpsc::UnboundedReceiver<Result<Frame<Bytes>, Infallible>>>;

/// A client that sends [`Streamed`] bodies, which `reqwest` (without its `stream` feature)
/// cannot: with no length known, HTTP/1.1 sends them chunked.
fn streaming_client() -> Client<HttpConnector, Streamed> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A POST to `url` whose body is whatever is sent on the returned sender.
fn streamed_post(url: &str) -> (http::Request<Streamed>, Chunks) {
    let (sender, receiver) = mpsc::unbounded();
    let request = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/octet-stream")
        .body(StreamBody::new(receiver))
        .expect("request");
    (request, Chunks(sender))
}

struct Chunks(mpsc::UnboundedSender<Result<Frame<Bytes>, Infallible>>);

impl Chunks {
    fn send(&self, chunk: impl Into<Bytes>) {
        self.0
            .unbounded_send(Ok(Frame::data(chunk.into())))
            .expect("the body is still being read");
    }
}

async fn problem(response: reqwest::Response) -> Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.expect("problem")
}

#[tokio::test]
async fn a_body_declared_too_large_is_413_and_never_reaches_the_upstream() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[("BODY_LIMIT_BYTES", "4096")]).await;
    let post = |size: usize| {
        gateway
            .http
            .post(gateway.url("/api/v1/products/p1/reviews"))
            .header("content-type", "application/json")
            .body(vec![b' '; size])
            .send()
    };

    let response = post(4097).await.expect("answer");
    assert_eq!(response.status(), 413);
    assert_eq!(
        problem(response).await["type"],
        "/problems/payload-too-large"
    );
    assert_eq!(
        upstreams.product.started(),
        0,
        "refused on its Content-Length, before a byte was forwarded"
    );

    // Exactly the limit goes through.
    let response = post(4096).await.expect("answer");
    assert_eq!(response.status(), 200);
    assert_eq!(upstreams.product.requests(), 1);
}

#[tokio::test]
async fn a_streamed_body_is_refused_413_once_it_crosses_the_limit() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[("BODY_LIMIT_BYTES", "4096")]).await;

    // No Content-Length: 5 KiB sent in chunks, and the body never ends. Only counting what
    // arrives can refuse it, and the answer cannot wait for an end that never comes.
    let (request, chunks) = streamed_post(&gateway.url("/api/v1/products/p1/reviews"));
    for _ in 0..5 {
        chunks.send(vec![b'x'; 1024]);
    }
    let response = tokio::time::timeout(PROMPTLY, streaming_client().request(request))
        .await
        .expect("answered while the body is still open")
        .expect("answer");
    assert_eq!(response.status(), 413);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let problem: Value = serde_json::from_slice(&body).expect("problem");
    assert_eq!(problem["type"], "/problems/payload-too-large");
    // The upstream may have seen the request begin (it is streamed), never all of it.
    assert!(upstreams.product.started() <= 1);
    assert_eq!(upstreams.product.requests(), 0);
    drop(chunks);
}

#[tokio::test]
async fn a_response_body_streams_through_as_the_upstream_writes_it() {
    let release = Arc::new(Notify::new());
    let app = Router::new().route(
        "/api/v1/products/export",
        get({
            let release = release.clone();
            move || async move {
                let chunks = futures::stream::unfold(0, move |step| {
                    let release = release.clone();
                    async move {
                        let chunk = match step {
                            0 => "first,",
                            1 => {
                                release.notified().await;
                                "rest"
                            }
                            _ => return None,
                        };
                        Some((Ok::<_, Infallible>(chunk), step + 1))
                    }
                });
                Body::from_stream(chunks)
            }
        }),
    );
    let product = Served::start(app, Protocol::Http1).await;
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[("PRODUCT_URL", &product.url)]).await;

    // As sent, and compressed for a client that accepts gzip, as browsers do: the encoder
    // flushes what it has whenever the upstream pauses.
    for encoding in [None, Some("gzip")] {
        let mut request = gateway.get("/api/v1/products/export");
        if let Some(encoding) = encoding {
            request = request.header("accept-encoding", encoding);
        }
        let mut response = request.send().await.expect("answer");
        assert_eq!(response.status(), 200);
        let encoded = response.headers().get("content-encoding");
        assert_eq!(encoded.and_then(|v| v.to_str().ok()), encoding);
        // The first chunk arrives while the upstream is still holding back the rest: a
        // gateway that buffered the body would wait here until the test timed out.
        let first = tokio::time::timeout(PROMPTLY, response.chunk())
            .await
            .expect("the first chunk arrives before the body is complete")
            .expect("body")
            .expect("a first chunk");
        release.notify_one();
        let rest = response.bytes().await.expect("rest of the body");
        match encoding {
            None => {
                assert_eq!(&first[..], b"first,");
                assert_eq!(&rest[..], b"rest");
            }
            Some(_) => {
                // gzip's magic number: the first chunk is the compressed "first,".
                assert!(first.starts_with(&[0x1f, 0x8b]), "{first:?}");
                assert!(!rest.is_empty());
            }
        }
    }
}

#[tokio::test]
async fn a_request_body_streams_to_the_upstream_as_the_client_writes_it() {
    // The upstream reports the first chunk it reads, then echoes the whole body.
    let (first_tx, first_rx) = oneshot::channel::<Bytes>();
    let first_tx = Arc::new(Mutex::new(Some(first_tx)));
    let app = Router::new().route(
        "/api/v1/products/import",
        post(move |request: Request| async move {
            let mut body = request.into_body();
            let mut whole = Vec::new();
            while let Some(frame) = body.frame().await {
                let Ok(data) = frame.expect("frame").into_data() else {
                    continue;
                };
                let reported = first_tx
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(report) = reported {
                    let _ = report.send(data.clone());
                }
                whole.extend_from_slice(&data);
            }
            whole
        }),
    );
    let product = Served::start(app, Protocol::Http1).await;
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[("PRODUCT_URL", &product.url)]).await;

    let (request, chunks) = streamed_post(&gateway.url("/api/v1/products/import"));
    let answer = tokio::spawn(streaming_client().request(request));
    chunks.send("first,");
    // The upstream has the first chunk while the client has not written the rest.
    let first = tokio::time::timeout(PROMPTLY, first_rx)
        .await
        .expect("the upstream reads the first chunk before the body is complete")
        .expect("reported");
    assert_eq!(&first[..], b"first,");

    chunks.send("rest");
    drop(chunks);
    let response = answer.await.expect("join").expect("answer");
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(&body[..], b"first,rest");
}

#[tokio::test]
async fn upstreams_are_spoken_to_in_http2_when_configured() {
    let app = Router::new().fallback(any(|request: Request| async move {
        format!("{:?}", request.version())
    }));
    let product = Served::start(app, Protocol::H2c).await;
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(
        &upstreams,
        &[("PRODUCT_URL", &product.url), ("UPSTREAM_HTTP2", "true")],
    )
    .await;

    // Twice, the second time over the connection the first one opened.
    for _ in 0..2 {
        let response = gateway
            .get("/api/v1/products?q=mouse")
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 200);
        // The client spoke HTTP/1.1 to the gateway; the gateway, HTTP/2 to the upstream.
        assert_eq!(response.version(), http::Version::HTTP_11);
        assert_eq!(response.text().await.expect("body"), "HTTP/2.0");
    }
}

#[tokio::test]
async fn checkout_gets_its_longer_timeout_and_other_routes_do_not() {
    // An order service taking longer than UPSTREAM_TIMEOUT_MS, well within CHECKOUT_TIMEOUT_MS.
    let app = Router::new().fallback(any(|| async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        (http::StatusCode::CREATED, "slow but fine")
    }));
    let order = Served::start(app, Protocol::Http1).await;
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(
        &upstreams,
        &[
            ("ORDER_URL", &order.url),
            ("UPSTREAM_TIMEOUT_MS", "200"),
            ("CHECKOUT_TIMEOUT_MS", "5000"),
        ],
    )
    .await;
    let token = gateway.token(uuid::Uuid::new_v4(), &[Role::Customer]);

    let response = gateway
        .http
        .post(gateway.url("/api/v1/checkout"))
        .bearer_auth(&token)
        .header("idempotency-key", "checkout-1")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 201);
    assert_eq!(response.text().await.expect("body"), "slow but fine");

    // The same delay on the order history is past its timeout: the gateway's own problem.
    let started = std::time::Instant::now();
    let response = gateway
        .get("/api/v1/orders")
        .bearer_auth(&token)
        .send()
        .await
        .expect("answer");
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 503);
    let problem = problem(response).await;
    assert_eq!(problem["type"], "/problems/unavailable");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("order service")),
        "{problem}"
    );
}
