//! The binary as deployed: start-up fails fast naming the bad variable, and the ops endpoints
//! are served on their own listener, not on the public one.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
