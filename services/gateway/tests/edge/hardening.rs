//! Attacks on the edge, each refused: paths a later hop would read differently, floods of
//! forged tokens, IPv6 clients rotating addresses.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Gateway, Upstreams};

/// The status and body of a request sent byte for byte as given (`curl --path-as-is` and
/// more: no client library would send most of these targets unchanged).
async fn raw(
    gateway: &Gateway,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut stream = TcpStream::connect(gateway.public.addr)
        .await
        .expect("connect");
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nhost: shop.example\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn path_traversal_to_internal_routes_is_refused_in_every_spelling() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[]).await;
    let token = gateway.token(uuid::Uuid::new_v4(), &[contracts::auth::Role::Admin]);
    let bearer = format!("Bearer {token}");

    for target in [
        "/api/v1/products/../../internal/reservations",
        "/api/v1/products/../../../internal/reservations",
        "/api/v1/products/./../../internal/reservations",
        "/api/v1/products/..;/..;/internal/reservations",
        "/api/v1/products/%2e%2e/%2e%2e/internal/reservations",
        "/api/v1/products/%2E%2E/%2E%2E/internal/reservations",
        "/api/v1/products/.%2e/.%2E/internal/reservations",
        "/api/v1/products%2f..%2f..%2finternal%2freservations",
        "/api/v1/products%2F..%2F..%2Finternal%2Freservations",
        "/api/v1/products/..\\..\\internal\\reservations",
        "/api/v1/products%5c..%5c..%5cinternal%5creservations",
        "/api/v1/products%5C..%5C..%5Cinternal%5Creservations",
        "//internal/reservations",
        "/api/v1//products/..//..//internal/reservations",
        "/api/v1/products//",
        "/../internal/reservations",
        "/assets/../metrics",
    ] {
        for headers in [&[][..], &[("authorization", bearer.as_str())][..]] {
            let (status, body) = raw(&gateway, "GET", target, headers).await;
            assert_eq!(status, 400, "{target}: {body}");
            let problem: Value = serde_json::from_str(&body).expect("a problem");
            assert_eq!(problem["type"], "/problems/bad-request", "{target}");
            assert_eq!(problem["errors"][0]["field"], "path", "{target}");
        }
        let (status, _) = raw(&gateway, "POST", target, &[("content-length", "0")]).await;
        assert_eq!(status, 400, "POST {target}");
    }
    for upstream in [
        &upstreams.user,
        &upstreams.product,
        &upstreams.order,
        &upstreams.web,
    ] {
        assert_eq!(upstream.started(), 0, "nothing was forwarded");
    }

    // Paths in normal form still pass, a trailing slash included.
    for target in ["/api/v1/products", "/api/v1/products/", "/assets/app.js"] {
        let (status, body) = raw(&gateway, "GET", target, &[]).await;
        assert_eq!(status, 200, "{target}: {body}");
    }
}

/// `token` with its signature changed: the same header and claims, which the gateway has to
/// check the signature of to refuse.
fn forged(token: &str, n: usize) -> String {
    let (signed, signature) = token.rsplit_once('.').expect("three parts");
    let mut bytes = signature.as_bytes().to_vec();
    bytes[n % 40] = if bytes[n % 40] == b'A' { b'B' } else { b'A' };
    format!("{signed}.{}", String::from_utf8(bytes).expect("base64url"))
}

/// The value of a counter on the gateway's ops listener.
async fn counter(gateway: &Gateway, name: &str) -> u64 {
    let text = gateway
        .ops
        .get("/metrics")
        .await
        .text()
        .await
        .expect("metrics");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

#[tokio::test]
async fn a_flood_of_forged_tokens_costs_a_bucket_not_a_signature_check_each() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(
        &upstreams,
        &[("RATE_LIMIT_PER_SECOND", "1"), ("RATE_LIMIT_BURST", "5")],
    )
    .await;
    let genuine = gateway.token(uuid::Uuid::new_v4(), &[contracts::auth::Role::Customer]);

    let mut statuses = Vec::new();
    for n in 0..20 {
        let response = gateway
            .get("/api/v1/products")
            .bearer_auth(forged(&genuine, n))
            .send()
            .await
            .expect("answer");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(&statuses[5..], [429; 15], "{statuses:?}");
    assert_eq!(
        counter(&gateway, "gateway_token_verifications_total").await,
        5,
        "only the requests the address's bucket let through had their signature checked"
    );
    assert_eq!(upstreams.product.requests(), 0);

    // An oversized token is refused on its length, whatever the bucket says.
    let response = gateway
        .get("/api/v1/products")
        .bearer_auth("x".repeat(64 * 1024))
        .send()
        .await
        .expect("answer");
    assert!(
        matches!(response.status().as_u16(), 401 | 429),
        "{}",
        response.status()
    );
    assert_eq!(
        counter(&gateway, "gateway_token_verifications_total").await,
        5
    );
}

#[tokio::test]
async fn an_ipv6_client_rotating_addresses_within_its_64_shares_one_bucket() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(
        &upstreams,
        &[
            ("TRUST_FORWARDED_FOR", "true"),
            ("RATE_LIMIT_PER_SECOND", "1"),
            ("RATE_LIMIT_BURST", "3"),
        ],
    )
    .await;
    let from = |address: &str| {
        gateway
            .get("/api/v1/products")
            .header("x-forwarded-for", address)
            .send()
    };

    let mut statuses = Vec::new();
    for host in 1..=6 {
        let address = format!("2001:db8:1:2:{host:x}::{host:x}");
        statuses.push(from(&address).await.expect("answer").status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
    // The neighbouring /64 is another subscriber, and IPv4 clients are keyed as before.
    assert_eq!(from("2001:db8:1:3::1").await.expect("answer").status(), 200);
    assert_eq!(from("198.51.100.7").await.expect("answer").status(), 200);
}

#[tokio::test]
async fn a_client_cannot_send_the_internal_token_upstream() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[]).await;
    for name in ["x-internal-token", "X-Internal-Token"] {
        let response = gateway
            .get("/api/v1/products")
            .header(name, "guessed-or-stolen-internal-token-value")
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 200);
        let seen = upstreams.product.last();
        assert!(
            !seen.headers.contains_key("x-internal-token"),
            "{name}: {:?}",
            seen.headers
        );
    }
}

#[tokio::test]
async fn a_transfer_coding_the_gateway_decoded_is_not_announced_to_the_upstream() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[]).await;
    let mut stream = TcpStream::connect(gateway.public.addr)
        .await
        .expect("connect");
    // hyper decodes the chunked framing; were the header passed on, the upstream would be told
    // the body it gets is gzip-coded and chunked, which it no longer is.
    stream
        .write_all(
            b"POST /api/v1/products/p1/reviews HTTP/1.1\r\nhost: shop.example\r\n\
              connection: close\r\ncontent-type: application/json\r\n\
              transfer-encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        )
        .await
        .expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answer");
    let seen = upstreams.product.last();
    let coding = seen
        .headers
        .get("transfer-encoding")
        .cloned()
        .unwrap_or_default();
    assert!(!coding.contains("gzip"), "{:?}", seen.headers);
}

#[tokio::test]
async fn a_signed_in_answer_is_kept_by_no_cache_and_sniffed_by_no_browser() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(&upstreams, &[]).await;
    let token = gateway.token(uuid::Uuid::new_v4(), &[contracts::auth::Role::Customer]);

    let signed_in = gateway
        .get("/api/v1/orders")
        .bearer_auth(&token)
        .send()
        .await
        .expect("answer");
    assert_eq!(signed_in.status(), 200);
    assert_eq!(signed_in.headers()["cache-control"], "no-store");
    assert_eq!(signed_in.headers()["x-content-type-options"], "nosniff");

    // Anonymous answers, the gateway's own problems and the storefront are not sniffed either;
    // without PUBLIC_HTTPS there is no HSTS (it would lock a plain-HTTP deployment out).
    for path in [
        "/api/v1/products",
        "/api/v1/cart",
        "/no/such/page",
        "/api/v2/x",
    ] {
        let response = gateway.get(path).send().await.expect("answer");
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
        assert!(
            !response.headers().contains_key("strict-transport-security"),
            "{path}"
        );
    }
    assert_eq!(
        upstreams.product.last().headers["x-forwarded-proto"],
        "http"
    );

    let https = Gateway::start(&upstreams, &[("PUBLIC_HTTPS", "true")]).await;
    for path in ["/api/v1/products", "/api/v1/cart", "/"] {
        let response = https.get(path).send().await.expect("answer");
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }
    assert_eq!(
        upstreams.product.last().headers["x-forwarded-proto"],
        "https"
    );
}

#[tokio::test]
async fn slowloris_connections_are_cut_while_other_clients_are_served() {
    let upstreams = Upstreams::echoing().await;
    let gateway = Gateway::start(
        &upstreams,
        &[("HEADER_READ_TIMEOUT_MS", "300"), ("MAX_CONNECTIONS", "6")],
    )
    .await;
    let addr = gateway.public.addr;

    // Every slot taken: half the connections send nothing, half trickle header lines and never
    // end their headers.
    let mut slow = Vec::new();
    for n in 0..6 {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        let trickle = (n % 2 == 1).then(|| {
            tokio::spawn(async move {
                if writer
                    .write_all(b"GET /api/v1/products HTTP/1.1\r\nhost: shop.example\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                for i in 0..200 {
                    let line = format!("x-slow-{i}: {i}\r\n");
                    if writer.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            })
        });
        let cut = tokio::spawn(async move {
            let mut sink = Vec::new();
            reader.read_to_end(&mut sink).await.ok();
            sink
        });
        slow.push((cut, trickle));
    }

    // Another client is served: once the slow connections are cut, their slots are its.
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        gateway.get("/api/v1/products").send(),
    )
    .await
    .expect("served while the attack goes on")
    .expect("answer");
    assert_eq!(response.status(), 200);

    // And every slow connection was closed by the gateway, without a request reaching upstream.
    for (cut, trickle) in slow {
        let answered = tokio::time::timeout(std::time::Duration::from_secs(20), cut)
            .await
            .expect("the gateway closed the slow connection")
            .expect("reader");
        let answered = String::from_utf8_lossy(&answered);
        assert!(!answered.contains("200 OK"), "{answered}");
        if let Some(trickle) = trickle {
            trickle.abort();
        }
    }
    assert_eq!(upstreams.product.requests(), 1);
}
