//! The kit's server stack, served for real on a random port.

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use kit::extract::{Json, Path};
use kit::health::Health;
use kit::metrics::Metrics;
use kit::server::{Ops, router};
use kit::shutdown::Shutdown;
use testkit::{TestServer, http_config};

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct NewThing {
    name: String,
    size: u32,
}

async fn thing(Path(id): Path<uuid::Uuid>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "id": id }))
}

async fn create(Json(thing): Json<NewThing>) -> Json<NewThing> {
    Json(thing)
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    "done"
}

async fn panics() -> &'static str {
    panic!("a bug in a handler")
}

fn app(shutdown: &Shutdown) -> (Router, Metrics) {
    app_with(shutdown, http_config())
}

fn app_with(shutdown: &Shutdown, http: kit::config::HttpConfig) -> (Router, Metrics) {
    let metrics = Metrics::new();
    let ops = Ops {
        metrics: metrics.clone(),
        health: Health::new(shutdown.clone()),
    };
    let routes = Router::new()
        .route("/things/{id}", get(thing))
        .route("/things", post(create))
        .route("/slow", get(slow))
        .route("/panics", get(panics));
    (router(routes, &ops, &http), metrics)
}

async fn start() -> TestServer {
    let shutdown = Shutdown::new();
    let (app, _) = app(&shutdown);
    TestServer::start(app, shutdown).await
}

async fn problem(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    (status, response.json().await.expect("problem body"))
}

#[tokio::test]
async fn metrics_group_requests_by_route_template() {
    let server = start().await;
    for _ in 0..3 {
        let id = uuid::Uuid::new_v4();
        assert_eq!(server.get(&format!("/things/{id}")).await.status(), 200);
    }
    assert_eq!(server.get("/things/not-a-uuid").await.status(), 400);

    let text = server.get("/metrics").await.text().await.expect("metrics");
    let ok_series: Vec<_> = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{") && l.contains(r#"route="/things/{id}""#))
        .collect();
    assert_eq!(ok_series.len(), 2, "one series per status: {ok_series:?}");
    assert!(
        ok_series
            .iter()
            .any(|l| l.contains(r#"status="200""#) && l.ends_with(" 3")),
        "{ok_series:?}"
    );
    assert!(
        ok_series
            .iter()
            .any(|l| l.contains(r#"status="400""#) && l.ends_with(" 1")),
        "{ok_series:?}"
    );
    assert!(
        !text.contains("/things/not-a-uuid"),
        "raw paths must not become labels"
    );
    assert!(text.contains(r#"http_request_duration_seconds_bucket{le="0.005",method="GET",route="/things/{id}",status="200"}"#), "{text}");
    assert!(text.contains(r#"http_request_duration_seconds_count{method="GET",route="/things/{id}",status="200"} 3"#), "{text}");
}

#[tokio::test]
async fn timeouts_and_panics_are_problems_and_are_counted() {
    let shutdown = Shutdown::new();
    let http = kit::config::HttpConfig {
        request_timeout: Duration::from_millis(300),
        ..http_config()
    };
    let (app, _) = app_with(&shutdown, http);
    let server = TestServer::start(app, shutdown).await;

    let (status, body) = problem(server.get("/slow").await).await;
    assert_eq!(status, 503);
    assert_eq!(body["type"], "/problems/unavailable");
    assert_eq!(body["title"], "Request timed out");
    let (status, body) = problem(server.get("/panics").await).await;
    assert_eq!(status, 500);
    assert_eq!(body["type"], "/problems/internal");
    assert!(
        !body.to_string().contains("a bug in a handler"),
        "the panic message is logged, not sent: {body}"
    );

    let text = server.get("/metrics").await.text().await.expect("metrics");
    for series in [
        r#"http_requests_total{method="GET",route="/slow",status="503"} 1"#,
        r#"http_requests_total{method="GET",route="/panics",status="500"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == series),
            "{series} missing in:\n{text}"
        );
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let server = start().await;
    let response = server
        .client
        .delete(server.url("/things"))
        .send()
        .await
        .expect("send");
    let (status, body) = problem(response).await;
    assert_eq!(status, 405);
    assert_eq!(body["type"], "/problems/method-not-allowed");
}

#[tokio::test]
async fn unknown_route_is_a_problem() {
    let server = start().await;
    let (status, body) = problem(server.get("/nowhere").await).await;
    assert_eq!(status, 404);
    assert_eq!(body["type"], "/problems/not-found");
}

#[tokio::test]
async fn responses_carry_a_request_id_and_keep_the_callers() {
    let server = start().await;
    let generated = server.get("/healthz").await;
    assert!(generated.headers().contains_key("x-request-id"));
    let kept = server
        .client
        .get(server.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("request");
    assert_eq!(kept.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn json_body_errors_name_the_field() {
    let server = start().await;
    let post = |body: &'static str, content_type: &'static str| {
        server
            .client
            .post(server.url("/things"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let (status, body) = problem(
        post(r#"{"name":"a","size":"big"}"#, "application/json")
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "size");

    let (status, body) = problem(
        post(r#"{"name":"a"}"#, "application/json")
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "size");

    let (status, _) = problem(post(r#"{"name":"#, "application/json").await.expect("send")).await;
    assert_eq!(status, 400);

    let (status, body) = problem(
        post(r#"{"name":"a","size":1}"#, "text/plain")
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 415);
    assert_eq!(body["type"], "/problems/unsupported-media-type");

    let ok = post(r#"{"name":"a","size":1}"#, "application/json")
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let server = start().await;
    let big = format!(r#"{{"name":"{}","size":1}}"#, "x".repeat(100 * 1024));
    let response = server
        .client
        .post(server.url("/things"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    let (status, body) = problem(response).await;
    assert_eq!(status, 413);
    assert_eq!(body["type"], "/problems/payload-too-large");
}

/// Writes `request` on `stream` and reads one answer: its head, lower-cased, and its body.
async fn exchange(stream: &mut tokio::net::TcpStream, request: &str) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut read = Vec::new();
    let end = loop {
        if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0; 4096];
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the connection closed before an answer");
        read.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&read[..end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .expect("a content-length")
        .trim()
        .parse()
        .expect("a number");
    let mut body = read.split_off(end);
    while body.len() < length {
        let mut chunk = [0; 4096];
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    (head, body)
}

#[tokio::test]
async fn an_answer_given_before_the_body_was_read_closes_the_connection() {
    let server = start().await;
    let closes = |head: &str| head.contains("\r\nconnection: close\r\n");

    // No route reads this body, and it has not been sent when the 404 is written: hyper
    // closes such a connection after the answer, which must say so, or a pooling client
    // would send its next request on a connection being closed.
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let (head, _) = exchange(
        &mut stream,
        "POST /nowhere HTTP/1.1\r\nhost: test\r\ncontent-length: 2\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("http/1.1 404"), "{head}");
    assert!(closes(&head), "{head}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "the server closed it: {closed:?}"
    );

    // A body that was read keeps the connection open for the next request, bodiless or not.
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let thing = r#"{"name":"cup","size":2}"#;
    let post = format!(
        "POST /things HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{thing}",
        thing.len()
    );
    let (head, body) = exchange(&mut stream, &post).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, thing.as_bytes());
    assert!(!closes(&head), "{head}");
    let (head, _) = exchange(&mut stream, "GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!closes(&head), "{head}");
    let (head, _) = exchange(&mut stream, &post).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
}

#[tokio::test]
async fn in_flight_request_finishes_after_shutdown_and_new_connections_are_refused() {
    let server = start().await;
    let client = server.client.clone();
    let url = server.url("/slow");
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    // Let the slow request reach its handler before the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr = server.addr;
    let shutdown = server.shutdown.clone();
    let stopped = tokio::spawn(server.stop());
    shutdown.cancelled().await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let refused = tokio::net::TcpStream::connect(addr).await;
    assert!(
        refused.is_err(),
        "the listener must be closed after the signal"
    );

    let response = in_flight
        .await
        .expect("join")
        .expect("in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "done");
    stopped.await.expect("join").expect("clean stop");
}

#[tokio::test]
async fn readiness_turns_false_on_shutdown() {
    let shutdown = Shutdown::new();
    let health = Health::new(shutdown.clone());
    assert!(health.readiness().await.0);
    shutdown.trigger();
    let (ready, report) = health.readiness().await;
    assert!(!ready);
    assert_eq!(report.status, "shutting_down");
}

/// Serves `app` on a random port with `http`'s settings, returning its address and the running
/// server.
async fn serve_with(
    app: Router,
    shutdown: &Shutdown,
    http: kit::config::HttpConfig,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let listener = kit::server::bind(http.bind).await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let shutdown = shutdown.clone();
    let server =
        tokio::spawn(async move { kit::server::serve(listener, app, shutdown, &http).await });
    (addr, server)
}

/// Serves `app` on a random port with the given drain deadline.
async fn serve_with_drain(
    app: Router,
    shutdown: &Shutdown,
    drain: Duration,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let http = kit::config::HttpConfig {
        drain_deadline: drain,
        ..http_config()
    };
    serve_with(app, shutdown, http).await
}

/// Serves `app` on a random port from `loops` event loops.
async fn serve_on_loops(
    app: Router,
    shutdown: &Shutdown,
    loops: usize,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let http = kit::config::HttpConfig {
        event_loops: loops,
        ..http_config()
    };
    serve_with(app, shutdown, http).await
}

#[tokio::test]
async fn one_drain_deadline_bounds_stuck_requests_and_stuck_tasks_together() {
    let shutdown = Shutdown::new();
    let stuck = Router::new().route(
        "/stuck",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "never"
        }),
    );
    // A background task that ignores the signal: only the deadline ends the wait for it.
    shutdown.spawn(tokio::time::sleep(Duration::from_secs(60)));
    let drain = Duration::from_secs(2);
    let (addr, server) = serve_with_drain(stuck, &shutdown, drain).await;
    let in_flight = tokio::spawn(reqwest::get(format!("http://{addr}/stuck")));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = std::time::Instant::now();
    shutdown.trigger();
    server
        .await
        .expect("join")
        .expect("the server stops cleanly");
    let took = started.elapsed();
    // Two separate deadlines (requests, then tasks) would take twice `drain`.
    assert!(
        took < drain + Duration::from_millis(1900),
        "stop took {took:?} with a drain deadline of {drain:?}"
    );
    // It is cut off when the process exits, which a test process does not do here.
    in_flight.abort();
}

#[tokio::test]
async fn the_server_waits_for_background_tasks_to_wind_down() {
    let shutdown = Shutdown::new();
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let task = {
        let (shutdown, finished) = (shutdown.clone(), finished.clone());
        async move {
            shutdown.cancelled().await;
            // The work a task does after the signal, such as flushing a batch.
            tokio::time::sleep(Duration::from_millis(500)).await;
            finished.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    };
    shutdown.spawn(task);
    let (_, server) = serve_with_drain(Router::new(), &shutdown, Duration::from_secs(10)).await;
    shutdown.trigger();
    server
        .await
        .expect("join")
        .expect("the server stops cleanly");
    assert!(
        finished.load(std::sync::atomic::Ordering::SeqCst),
        "serve returned before the background task finished"
    );
}

#[tokio::test]
async fn event_loops_serve_and_drain_as_the_shared_runtime_does() {
    let shutdown = Shutdown::new();
    let app = Router::new()
        .route(
            "/thread",
            get(|| async { std::thread::current().name().unwrap_or_default().to_owned() }),
        )
        .route("/slow", get(slow));
    let (addr, server) = serve_on_loops(app, &shutdown, 2).await;
    // Connections of their own (no pool), so each is accepted by whichever loop takes it.
    let mut threads = std::collections::BTreeSet::new();
    for _ in 0..16 {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let name = client
            .get(format!("http://{addr}/thread"))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        threads.insert(name);
    }
    assert!(
        threads.iter().all(|name| name.starts_with("http-")),
        "served on {threads:?}, not on the event loops"
    );

    let in_flight = tokio::spawn(reqwest::get(format!("http://{addr}/slow")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.trigger();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "every loop's listener must be closed after the signal"
    );
    let response = in_flight
        .await
        .expect("join")
        .expect("in-flight request completes");
    assert_eq!(response.text().await.expect("body"), "done");
    server
        .await
        .expect("join")
        .expect("the server stops cleanly");
}

#[tokio::test]
async fn an_event_loop_keeps_turning_until_the_background_tasks_have_stopped() {
    // An echo peer, and a connection to it that a request opens on an event loop and leaves in a
    // shared slot, as a pool would keep it.
    let peer = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let peer_addr = peer.local_addr().expect("peer addr");
    tokio::spawn(async move {
        let (mut stream, _) = peer.accept().await.expect("accept");
        let (mut read, mut write) = stream.split();
        let _ = tokio::io::copy(&mut read, &mut write).await;
    });
    let slot = std::sync::Arc::new(tokio::sync::Mutex::new(None::<tokio::net::TcpStream>));
    let app = {
        let slot = slot.clone();
        Router::new().route(
            "/open",
            get(move || async move {
                let stream = tokio::net::TcpStream::connect(peer_addr)
                    .await
                    .expect("connect");
                *slot.lock().await = Some(stream);
                "opened"
            }),
        )
    };
    // A background task that uses that connection after the signal, once the loops drained.
    let shutdown = Shutdown::new();
    let (report, echoed) = tokio::sync::oneshot::channel();
    {
        let shutdown_seen = shutdown.clone();
        shutdown.spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            shutdown_seen.cancelled().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut guard = slot.lock().await;
            let stream = guard.as_mut().expect("opened");
            let mut answer = [0u8; 4];
            let outcome = async {
                stream.write_all(b"ping").await?;
                stream.read_exact(&mut answer).await?;
                std::io::Result::Ok(answer)
            }
            .await;
            let _ = report.send(outcome.map_err(|e| e.to_string()));
        });
    }
    let (addr, server) = serve_on_loops(app, &shutdown, 1).await;
    let opened = reqwest::get(format!("http://{addr}/open"))
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(opened, "opened");

    shutdown.trigger();
    server
        .await
        .expect("join")
        .expect("the server stops cleanly");
    let answer = echoed.await.expect("the task reported");
    assert_eq!(
        answer.as_ref().map(|a| &a[..]),
        Ok(&b"ping"[..]),
        "{answer:?}"
    );
}
