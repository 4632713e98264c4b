//! The gateway's own behaviour at the edge, against upstreams the tests control: what it
//! forwards and adds, when it stops contacting an upstream and when it tries again, its rate
//! limit buckets, CORS, its ops listener, its access log and the merged API document; in
//! [`transport`], body limits, streaming, HTTP/2 to upstreams and per-route timeouts; and, in
//! [`hardening`], the attacks it refuses.

mod hardening;
mod harness;
mod logs;
mod transport;
mod upstream;

use std::time::Duration;

use contracts::auth::Role;
use harness::{Gateway, ORIGIN, Upstreams};
use reqwest::Method;
use serde_json::{Value, json};
use upstream::Mode;

async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON body")
}

/// Asserts that `response` is the gateway's own 503 problem naming `upstream` (not an answer
/// of the upstream's).
async fn gateway_503(response: reqwest::Response, upstream: &str) {
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem = json(response).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(upstream)),
        "{problem}"
    );
}

#[tokio::test]
async fn an_upstream_failing_in_a_row_is_short_circuited_then_probed_half_open() {
    let upstreams = Upstreams::echoing().await;
    upstreams.product.set(Mode::Json(
        503,
        json!({ "from": "product", "detail": "database down" }),
    ));
    let gateway = Gateway::start(
        &upstreams,
        &[("BREAKER_FAILURES", "3"), ("BREAKER_COOLDOWN_MS", "1500")],
    )
    .await;

    // Three failures reach the upstream, whose own answer is passed on.
    for n in 1..=3 {
        let response = gateway
            .get("/api/v1/products")
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 503);
        assert_eq!(json(response).await["from"], "product");
        assert_eq!(upstreams.product.requests(), n);
    }
    // Then the circuit is open: answered at once, naming the upstream, without contacting it,
    // whatever the method.
    gateway_503(
        gateway
            .get("/api/v1/products")
            .send()
            .await
            .expect("answer"),
        "product service",
    )
    .await;
    gateway_503(
        gateway
            .http
            .post(gateway.url("/api/v1/products/x"))
            .send()
            .await
            .expect("answer"),
        "product service",
    )
    .await;
    assert_eq!(upstreams.product.requests(), 3);
    // Other upstreams have their own circuit.
    let response = gateway
        .get("/api/v1/auth/sessions")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);

    // After the cooldown one probe goes through; while it is out, others are still refused.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    upstreams.product.set(Mode::Hang);
    let probe = tokio::spawn({
        let request = gateway.get("/api/v1/products");
        async move { request.send().await.expect("answer").status() }
    });
    upstreams.product.wait_for(4).await;
    gateway_503(
        gateway
            .get("/api/v1/products")
            .send()
            .await
            .expect("answer"),
        "product service",
    )
    .await;
    assert_eq!(upstreams.product.requests(), 4);

    // The probe succeeds and closes the circuit.
    upstreams.product.set(Mode::Echo(200));
    assert_eq!(probe.await.expect("probe"), 200);
    for n in 5..=6 {
        let response = gateway
            .get("/api/v1/products")
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 200);
        assert_eq!(upstreams.product.requests(), n);
    }
}

#[tokio::test]
async fn only_idempotent_bodiless_requests_are_retried_and_a_request_counts_once() {
    let upstreams = Upstreams::echoing().await;
    upstreams.product.set(Mode::Drop);
    upstreams.order.set(Mode::Hang);
    let gateway = Gateway::start(
        &upstreams,
        &[
            ("UPSTREAM_RETRIES", "1"),
            ("BREAKER_FAILURES", "4"),
            ("BREAKER_COOLDOWN_MS", "60000"),
            ("UPSTREAM_TIMEOUT_MS", "300"),
        ],
    )
    .await;
    let send = |method: Method, body: Option<Value>| {
        let mut request = gateway
            .http
            .request(method, gateway.url("/api/v1/products/p1"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { request.send().await.expect("answer") }
    };

    // The connection breaks before an answer: a POST, and a PUT with a body, are sent once...
    gateway_503(send(Method::POST, None).await, "product service").await;
    gateway_503(
        send(Method::PUT, Some(json!({ "name": "x" }))).await,
        "product service",
    )
    .await;
    // ...a GET is tried again.
    gateway_503(send(Method::GET, None).await, "product service").await;
    gateway_503(send(Method::GET, None).await, "product service").await;
    let methods: Vec<String> = upstreams
        .product
        .seen()
        .into_iter()
        .map(|s| s.method)
        .collect();
    assert_eq!(methods, ["POST", "PUT", "GET", "GET", "GET", "GET"]);
    // Four failed requests (six attempts) open the circuit of BREAKER_FAILURES=4.
    gateway_503(send(Method::GET, None).await, "product service").await;
    assert_eq!(upstreams.product.requests(), 6);

    // A timeout is not retried: a slow upstream would only be kept waiting twice as long.
    let token = gateway.token(uuid::Uuid::new_v4(), &[Role::Customer]);
    let response = gateway
        .get("/api/v1/orders")
        .bearer_auth(&token)
        .send()
        .await
        .expect("answer");
    gateway_503(response, "order service").await;
    assert_eq!(upstreams.order.requests(), 1);
}

#[tokio::test]
async fn upstreams_see_the_verified_identity_never_the_callers_headers() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[]).await;
    let (alice, bob) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let token = gateway.token(alice, &[Role::Customer]);
    // Every `x-user-*` name is the gateway's to set, not only the two it sets today: a
    // service reading a new one (an email, a tenant) must not find the caller's claim in it.
    let spoofed = |path: &str| {
        gateway
            .get(path)
            .bearer_auth(&token)
            .header("x-user-id", bob.to_string())
            .header("x-user-roles", "admin")
            .header("x-user-email", "bob@shop.example")
            .header("X-User-Tenant", "bobs-tenant")
    };

    let response = spoofed("/api/v1/users/me").send().await.expect("answer");
    assert_eq!(response.status(), 200);
    let seen = upstreams.user.last();
    assert_eq!(seen.path, "/api/v1/users/me");
    assert_eq!(seen.headers["x-user-id"], alice.to_string());
    assert_eq!(seen.headers["x-user-roles"], "customer");
    for dropped in ["authorization", "x-user-email", "x-user-tenant"] {
        assert!(
            !seen.headers.contains_key(dropped),
            "{dropped}: {:?}",
            seen.headers
        );
    }

    // The claimed admin role opens nothing, and the admin upstream is not even asked.
    let before = upstreams.user.requests();
    let response = spoofed("/api/v1/admin/users").send().await.expect("answer");
    assert_eq!(response.status(), 403);
    assert_eq!(upstreams.user.requests(), before);

    // Anonymous callers' identity headers are dropped, whatever their name after the prefix;
    // a name merely resembling it is not an identity header and passes.
    let response = gateway
        .get("/api/v1/products")
        .header("x-user-id", bob.to_string())
        .header("x-user-roles", "admin")
        .header("x-user-email", "bob@shop.example")
        .header("x-username-hint", "kept")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let seen = upstreams.product.last();
    let identity: Vec<&String> = seen
        .headers
        .keys()
        .filter(|name| name.starts_with("x-user-"))
        .collect();
    assert!(identity.is_empty(), "{:?}", seen.headers);
    assert_eq!(seen.headers["x-username-hint"], "kept");
}

#[tokio::test]
async fn event_loops_forward_with_the_verified_identity_as_the_shared_runtime_does() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[("HTTP_EVENT_LOOPS", "2")]).await;
    let alice = uuid::Uuid::new_v4();
    let token = gateway.token(alice, &[Role::Customer]);
    for page in 0..16 {
        // A connection of its own each time, so that both loops accept some, and each forwards
        // on a pool of its own.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let path = format!("/api/v1/users/me?page={page}");
        let response = client
            .get(gateway.url(&path))
            .bearer_auth(&token)
            .header("x-user-id", "someone-else")
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 200, "{path}");
        let seen = upstreams.user.last();
        assert_eq!(seen.path, path);
        assert_eq!(seen.headers["x-user-id"], alice.to_string(), "{path}");
    }
}

#[tokio::test]
async fn the_access_log_names_the_client_and_the_upstream() {
    let (logs, _capturing) = logs::Captured::install();
    let upstreams = Upstreams::echoing().await;
    // Behind a trusted proxy, the client is the address that proxy reports.
    let gateway = Gateway::start(&upstreams, &[("TRUST_FORWARDED_FOR", "true")]).await;

    let response = gateway
        .get("/api/v1/products")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let token = gateway.token(uuid::Uuid::new_v4(), &[Role::Customer]);
    let response = gateway
        .get("/api/v1/orders")
        .bearer_auth(&token)
        .header("x-forwarded-for", "198.51.100.4, 203.0.113.9")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);

    let lines = logs.with_message("forwarded");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["client_ip"], "127.0.0.1", "{lines:?}");
    assert_eq!(lines[0]["upstream"], "product service", "{lines:?}");
    assert_eq!(lines[0]["status"], "200", "{lines:?}");
    assert!(lines[0].contains_key("elapsed_ms"), "{lines:?}");
    assert_eq!(lines[1]["client_ip"], "203.0.113.9", "{lines:?}");
    assert_eq!(lines[1]["upstream"], "order service", "{lines:?}");
}

/// The trace id and parent span id of a `traceparent` header.
fn trace_parts(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1].len(), 32, "{traceparent}");
    assert_eq!(parts[2].len(), 16, "{traceparent}");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test]
async fn upstreams_get_the_request_id_and_join_the_callers_trace() {
    harness::telemetry();
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[]).await;

    // The gateway's request id, the one it answers with, reaches the upstream.
    let response = gateway
        .get("/api/v1/products")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(!id.is_empty());
    let seen = upstreams.product.last();
    assert_eq!(seen.headers["x-request-id"], id);
    // Without a caller's trace, the gateway starts one.
    trace_parts(&seen.headers["traceparent"]);

    // A caller's request id and trace are kept: the upstream's span is a child of the
    // gateway's, which is a child of the caller's.
    let (trace_id, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let response = gateway
        .get("/api/v1/products")
        .header("x-request-id", "caller-request-7")
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.headers()["x-request-id"], "caller-request-7");
    let seen = upstreams.product.last();
    assert_eq!(seen.headers["x-request-id"], "caller-request-7");
    let (seen_trace, seen_parent) = trace_parts(&seen.headers["traceparent"]);
    assert_eq!(seen_trace, trace_id);
    assert_ne!(
        seen_parent, caller_span,
        "the parent is the gateway's span, not the caller's"
    );
}

#[tokio::test]
async fn cors_lets_browsers_send_trace_headers_and_read_ids_and_limits() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[]).await;

    let preflight = gateway
        .http
        .request(Method::OPTIONS, gateway.url("/api/v1/products"))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "GET")
        .header(
            "access-control-request-headers",
            "traceparent, tracestate, x-request-id, guest-cart-token",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], ORIGIN);
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    for header in [
        "traceparent",
        "tracestate",
        "x-request-id",
        "guest-cart-token",
    ] {
        assert!(allowed.contains(header), "{header} not in {allowed}");
    }
    assert_eq!(
        upstreams.product.requests(),
        0,
        "preflights stay at the edge"
    );

    let response = gateway
        .get("/api/v1/products")
        .header("origin", ORIGIN)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    for header in [
        "x-request-id",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "guest-cart-token",
    ] {
        assert!(exposed.contains(header), "{header} not in {exposed}");
    }
}

#[tokio::test]
async fn storefront_files_have_their_own_bucket() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(
        &upstreams,
        &[
            ("RATE_LIMIT_PER_SECOND", "1"),
            ("RATE_LIMIT_BURST", "5"),
            ("WEB_RATE_LIMIT_PER_SECOND", "1"),
            ("WEB_RATE_LIMIT_BURST", "30"),
        ],
    )
    .await;

    // A cold load of the shop: the page and its assets, more than the API burst.
    for n in 0..25 {
        let path = if n == 0 {
            "/".to_owned()
        } else {
            format!("/assets/chunk-{n}.js")
        };
        let response = gateway.get(&path).send().await.expect("answer");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["ratelimit-limit"], "30");
    }
    assert_eq!(upstreams.web.requests(), 25);

    // The API allowance is untouched.
    let response = gateway
        .get("/api/v1/products")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["ratelimit-limit"], "5");
    assert_eq!(response.headers()["ratelimit-remaining"], "4");

    // The storefront bucket is a limit too, not an exemption.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let status = gateway
            .get("/assets/again.js")
            .send()
            .await
            .expect("answer")
            .status();
        statuses.push(status.as_u16());
        if status == 429 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[tokio::test]
async fn the_gateways_ops_endpoints_are_on_their_own_listener_only() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[]).await;
    let response = gateway
        .get("/api/v1/products")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);

    // Not public, and not passed to the storefront either.
    for path in ["/metrics", "/healthz", "/readyz"] {
        let response = gateway.get(path).send().await.expect("answer");
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(json(response).await["type"], "/problems/not-found");
    }
    assert_eq!(upstreams.web.requests(), 0);

    let metrics = gateway.ops.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("text");
    assert!(text.contains("gateway_upstream_requests"), "{text}");
    for path in ["/healthz", "/readyz"] {
        assert_eq!(gateway.ops.get(path).await.status(), 200, "{path}");
    }
    // And the ops listener serves nothing else.
    assert_eq!(gateway.ops.get("/api/v1/products").await.status(), 404);
}

fn document(path: &str) -> Value {
    json!({ "paths": { path: { "get": { "summary": path } } } })
}

async fn merged_paths(gateway: &Gateway) -> Vec<String> {
    let response = gateway
        .get("/api/v1/openapi.json")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let doc = json(response).await;
    let mut paths: Vec<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    paths.sort();
    paths
}

#[tokio::test]
async fn a_stale_api_document_is_served_while_one_refresh_runs() {
    let upstreams = Upstreams::echoing().await;
    for (upstream, path) in [
        (&upstreams.user, "/api/v1/auth/login"),
        (&upstreams.product, "/api/v1/products"),
        (&upstreams.order, "/api/v1/orders"),
    ] {
        upstream.set(Mode::Json(200, document(path)));
    }
    // Every document is stale at once, so each request after the first wants a refresh.
    let gateway = Gateway::start_with(&upstreams, &[], |state| {
        state.docs = std::sync::Arc::new(gateway::openapi::Docs::new(Duration::ZERO));
    })
    .await;
    assert_eq!(
        merged_paths(&gateway).await,
        ["/api/v1/auth/login", "/api/v1/orders", "/api/v1/products"]
    );

    // The product service stops answering: requests get the last complete document at once,
    // not after the fetch times out, and only one refresh waits on the product service.
    upstreams.product.set(Mode::Hang);
    for _ in 0..2 {
        let requests = (0..5).map(|_| merged_paths(&gateway));
        for paths in futures::future::join_all(requests).await {
            assert!(paths.contains(&"/api/v1/products".to_owned()), "{paths:?}");
        }
        upstreams.product.wait_for(2).await;
    }
    assert_eq!(upstreams.product.requests(), 2);

    // Once it answers again, its new document shows up.
    upstreams
        .product
        .set(Mode::Json(200, document("/api/v1/products/v2")));
    let mut paths = Vec::new();
    for _ in 0..100 {
        paths = merged_paths(&gateway).await;
        if paths.contains(&"/api/v1/products/v2".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        paths.contains(&"/api/v1/products/v2".to_owned()),
        "{paths:?}"
    );
}
