//! The binary as deployed: start-up fails fast naming the bad variable, the ops endpoints are
//! served on their own listener, not on the public one, and SIGTERM stops it gracefully.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kit::shutdown::Shutdown;
use testkit::TestServer;

#[test]
fn malformed_variable_stops_start_up_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .env_clear()
        .env("BIND_ADDR", "localhost:http")
        .output()
        .expect("run the gateway");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("BIND_ADDR=\"localhost:http\" is invalid"),
        "{stderr}"
    );
}

fn gateway(extra: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
    command
        .env_clear()
        .env("RUST_LOG", "warn")
        // Nothing listens there: the upstreams are not needed to start.
        .env("USER_URL", "http://127.0.0.1:9")
        .env("PRODUCT_URL", "http://127.0.0.1:9")
        .env("ORDER_URL", "http://127.0.0.1:9");
    for (name, value) in extra {
        command.env(name, value);
    }
    command
}

#[test]
fn malformed_ops_address_stops_start_up_naming_it() {
    let output = gateway(&[("OPS_BIND_ADDR", "ops:9090".to_owned())])
        .output()
        .expect("run the gateway");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("OPS_BIND_ADDR=\"ops:9090\" is invalid"),
        "{stderr}"
    );
}

/// Kills the child process it holds when dropped, so a failed assertion leaves nothing behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test]
async fn ops_endpoints_are_served_on_the_ops_listener_only() {
    let (public, ops) = (free_port(), free_port());
    let _gateway = Running(
        gateway(&[
            ("BIND_ADDR", format!("127.0.0.1:{public}")),
            ("OPS_BIND_ADDR", format!("127.0.0.1:{ops}")),
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the gateway"),
    );
    let http = reqwest::Client::new();
    let get = |port: u16, path: &str| http.get(format!("http://127.0.0.1:{port}{path}")).send();

    let mut ready = false;
    for _ in 0..100 {
        if get(ops, "/readyz").await.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the ops listener never answered /readyz");

    assert_eq!(
        get(ops, "/healthz").await.expect("ops answers").status(),
        200
    );

    for path in ["/metrics", "/healthz", "/readyz"] {
        let response = get(public, path).await.expect("public answers");
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    // The public listener does serve the API (here: its upstream is down).
    let response = get(public, "/api/v1/products")
        .await
        .expect("public answers");
    assert_eq!(response.status(), 503);

    // Whose answers the ops listener counts.
    let metrics = get(ops, "/metrics").await.expect("ops answers");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("text");
    assert!(text.contains("gateway_upstream_requests"), "{text}");
}

/// Waits until the ops listener on `port` reports ready.
async fn wait_ready(port: u16) {
    let http = reqwest::Client::new();
    for _ in 0..100 {
        let ready = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the ops listener never answered /readyz");
}

/// Starts the gateway on free ports with `extra` settings; returns it once it is ready, with
/// its public port.
async fn ready_gateway(extra: &[(&str, String)]) -> (Running, u16) {
    let (public, ops) = (free_port(), free_port());
    let mut settings = vec![
        ("BIND_ADDR", format!("127.0.0.1:{public}")),
        ("OPS_BIND_ADDR", format!("127.0.0.1:{ops}")),
    ];
    settings.extend(extra.iter().cloned());
    let gateway = Running(
        gateway(&settings)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the gateway"),
    );
    wait_ready(ops).await;
    (gateway, public)
}

/// Sends SIGTERM, as Kubernetes does to stop a pod.
fn sigterm(gateway: &Running) {
    let killed = Command::new("kill")
        .args(["-TERM", &gateway.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
}

#[tokio::test]
async fn sigterm_lets_the_in_flight_request_finish_then_exits_0() {
    let slow = axum::Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        "slow"
    });
    let upstream = TestServer::start(slow, Shutdown::new()).await;

    let (mut gateway, public) = ready_gateway(&[("PRODUCT_URL", upstream.url(""))]).await;

    let in_flight = tokio::spawn(
        reqwest::Client::new()
            .get(format!("http://127.0.0.1:{public}/api/v1/products"))
            .send(),
    );
    // Let the request reach the slow upstream before the signal.
    tokio::time::sleep(Duration::from_millis(500)).await;
    sigterm(&gateway);

    let response = in_flight
        .await
        .expect("join")
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "slow");

    let mut status = None;
    for _ in 0..100 {
        status = gateway.0.try_wait().expect("poll the gateway");
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.expect("the gateway exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[tokio::test]
async fn with_an_otlp_endpoint_set_spans_are_exported_to_the_collector() {
    // A collector that keeps the bodies posted to the OTLP/HTTP traces path.
    let (exported, mut received) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let traces = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| async move {
            let _ = exported.send(body.to_vec());
            "{}"
        }),
    );
    let collector = TestServer::start(traces, Shutdown::new()).await;

    let (mut gateway, public) = ready_gateway(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url("")),
        // The level filter applies to exported spans too; request spans are at INFO.
        ("RUST_LOG", "info".to_owned()),
    ])
    .await;

    // The caller's trace, which the gateway's spans must join.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{public}/api/v1/products"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(response.status(), 503, "its upstream is down");

    // Stopping flushes the batch of spans not yet exported.
    sigterm(&gateway);
    let mut bodies = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let wanted: Vec<u8> = (0..trace_id.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&trace_id[i..i + 2], 16).expect("hex"))
        .collect();
    let joined = |bodies: &[Vec<u8>]| {
        bodies
            .iter()
            .any(|body| body.windows(wanted.len()).any(|w| w == wanted.as_slice()))
    };
    while !joined(&bodies) {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some(body)) => bodies.push(body),
            _ => break,
        }
    }
    assert!(
        joined(&bodies),
        "no exported span carries the caller's trace id ({} export(s) received)",
        bodies.len()
    );
    assert!(
        bodies
            .iter()
            .any(|body| body.windows(7).any(|w| w == b"gateway")),
        "the spans name their service"
    );
    let _ = gateway.0.wait();
}
