//! The web service over HTTP, serving a folder of fake build output like Trunk's.

use std::io::Read;
use std::path::PathBuf;

use kit::bootstrap::Platform;
use reqwest::header::{ACCEPT_ENCODING, HeaderMap};
use testkit::TestServer;
use web::config::WebConfig;
use web::security::CONTENT_SECURITY_POLICY;
use web::startup::Application;

const INDEX: &str = "<!doctype html><html><head><title>Shop</title>\
    <script type=\"module\" src=\"/boot-00112233aabbccdd.js\"></script></head>\
    <body><p>index page</p></body></html>";
const ADMIN_INDEX: &str = "<!doctype html><html><head><title>Admin</title>\
    <script type=\"module\" src=\"/admin/boot-00112233aabbccdd.js\"></script></head>\
    <body><p>admin page</p></body></html>";
const ADMIN_SCRIPT_NAME: &str = "admin-fedcba9876543210.js";
const ACCOUNT_INDEX: &str = "<!doctype html><html><head><title>Shop</title>\
    <script type=\"module\" src=\"/account/boot-00112233aabbccdd.js\"></script></head>\
    <body><p>account page</p></body></html>";
const ACCOUNT_SCRIPT_NAME: &str = "account-fedcba9876543210.js";
const SCRIPT_NAME: &str = "frontend-0123456789abcdef.js";
const WASM_NAME: &str = "frontend-0123456789abcdef_bg.wasm";

/// A throwaway build folder, removed when dropped.
struct Dist(PathBuf);

impl Dist {
    fn new() -> Self {
        let root = std::env::temp_dir().join(format!("web-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join("img")).expect("create the dist folder");
        std::fs::create_dir_all(root.join("admin")).expect("create the portal's folder");
        std::fs::create_dir_all(root.join("account")).expect("create the account app's folder");
        let dist = Self(root);
        dist.write("index.html", INDEX.as_bytes());
        // Large and repetitive enough to be worth compressing.
        dist.write(SCRIPT_NAME, script().as_bytes());
        dist.write(WASM_NAME, &[0, 97, 115, 109, 1, 0, 0, 0].repeat(512));
        dist.write("favicon.ico", b"icon");
        dist.write("admin/index.html", ADMIN_INDEX.as_bytes());
        dist.write(&format!("admin/{ADMIN_SCRIPT_NAME}"), script().as_bytes());
        dist.write("account/index.html", ACCOUNT_INDEX.as_bytes());
        dist.write(
            &format!("account/{ACCOUNT_SCRIPT_NAME}"),
            script().as_bytes(),
        );
        dist.write(
            "img/logo.svg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        );
        dist
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.0.join(name), bytes).expect("write a fake asset");
    }
}

impl Drop for Dist {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn script() -> String {
    "export function greet(name) { return `hello ${name}`; }\n".repeat(200)
}

async fn start(dist: &Dist) -> TestServer {
    let config = WebConfig::from_env(&kit::config::Env::from_pairs([(
        "WEB_ROOT",
        dist.0.display().to_string(),
    )]))
    .expect("the fake dist is a valid WEB_ROOT");
    let platform = Platform::default();
    let app = Application::build(&config, &platform);
    TestServer::serve(app.routes, app.health, &platform).await
}

async fn get(server: &TestServer, path: &str, accept_encoding: Option<&str>) -> reqwest::Response {
    let mut request = server.client.get(server.url(path));
    if let Some(encoding) = accept_encoding {
        request = request.header(ACCEPT_ENCODING, encoding);
    }
    request.send().await.expect("request")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map(|v| v.to_str().expect("ascii header"))
        .unwrap_or_default()
}

#[tokio::test]
async fn client_routes_get_index_html_revalidated_on_every_use() {
    let dist = Dist::new();
    let server = start(&dist).await;
    for path in [
        "/",
        "/products",
        "/products/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "/administrator",
        "/cart",
        "/accounts",
        "/index.html",
    ] {
        let response = get(&server, path, None).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert!(
            header(&headers, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&headers, "cache-control"), "no-cache", "{path}");
        assert_eq!(response.text().await.expect("body"), INDEX, "{path}");
    }
}

/// The apps with a build of their own: their folder, some of their routes, their page and a
/// hashed script of theirs.
const APPS: [(&str, &[&str], &str, &str); 2] = [
    (
        "admin",
        &["/admin", "/admin/", "/admin/products/new", "/admin/orders"],
        ADMIN_INDEX,
        ADMIN_SCRIPT_NAME,
    ),
    (
        "account",
        &[
            "/login",
            "/register",
            "/checkout",
            "/checkout/complete/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "/orders",
            "/orders/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "/account",
        ],
        ACCOUNT_INDEX,
        ACCOUNT_SCRIPT_NAME,
    ),
];

#[tokio::test]
async fn app_routes_get_their_apps_own_index_html_and_assets() {
    let dist = Dist::new();
    let server = start(&dist).await;
    for (dir, paths, index, script_name) in APPS {
        for path in paths {
            let response = get(&server, path, None).await;
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(
                header(response.headers(), "cache-control"),
                "no-cache",
                "{path}"
            );
            assert_eq!(response.text().await.expect("body"), index, "{path}");
        }
        let script = get(&server, &format!("/{dir}/{script_name}"), None).await;
        assert_eq!(script.status(), 200, "{dir}");
        assert_eq!(
            header(script.headers(), "cache-control"),
            "public, max-age=31536000, immutable"
        );
        let missing = get(&server, &format!("/{dir}/{dir}-ffffffffffffffff.js"), None).await;
        assert_eq!(missing.status(), 404, "{dir}");
    }
}

#[tokio::test]
async fn a_build_without_an_app_answers_its_routes_404() {
    for (dir, paths, _, _) in APPS {
        let dist = Dist::new();
        std::fs::remove_dir_all(dist.0.join(dir)).expect("remove the app");
        let server = start(&dist).await;
        let response = get(&server, paths[paths.len() - 1], None).await;
        assert_eq!(response.status(), 404, "{dir}");
        assert_eq!(
            header(response.headers(), "content-type"),
            "application/problem+json"
        );
        assert_eq!(get(&server, "/products", None).await.status(), 200);
    }
}

#[tokio::test]
async fn hashed_assets_are_cached_for_good_and_others_revalidate() {
    let dist = Dist::new();
    let server = start(&dist).await;
    for name in [SCRIPT_NAME, WASM_NAME] {
        let response = get(&server, &format!("/{name}"), None).await;
        assert_eq!(response.status(), 200, "{name}");
        assert_eq!(
            header(response.headers(), "cache-control"),
            "public, max-age=31536000, immutable",
            "{name}"
        );
    }
    let script = get(&server, &format!("/{SCRIPT_NAME}"), None).await;
    assert!(header(script.headers(), "content-type").contains("javascript"));
    let wasm = get(&server, &format!("/{WASM_NAME}"), None).await;
    assert_eq!(header(wasm.headers(), "content-type"), "application/wasm");

    for path in ["/favicon.ico", "/img/logo.svg"] {
        let response = get(&server, path, None).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(response.headers(), "cache-control"),
            "no-cache",
            "{path}"
        );
    }
}

#[tokio::test]
async fn precompressed_twins_are_sent_to_browsers_that_accept_them() {
    let dist = Dist::new();
    let summary = web::precompress::precompress_dir(&dist.0).expect("precompress");
    assert!(summary.files >= 2, "{summary:?}");
    assert!(summary.brotli_bytes < summary.raw_bytes, "{summary:?}");
    assert!(
        !dist.0.join("favicon.ico.gz").exists(),
        "a twin no smaller than its file is not written"
    );
    let server = start(&dist).await;
    let path = format!("/{SCRIPT_NAME}");

    let brotli = get(&server, &path, Some("gzip, deflate, br")).await;
    assert_eq!(brotli.status(), 200);
    assert_eq!(header(brotli.headers(), "content-encoding"), "br");
    assert!(header(brotli.headers(), "vary").contains("accept-encoding"));
    assert_eq!(
        header(brotli.headers(), "cache-control"),
        "public, max-age=31536000, immutable"
    );
    let body = brotli.bytes().await.expect("body");
    let mut decoded = String::new();
    brotli::Decompressor::new(&body[..], 4096)
        .read_to_string(&mut decoded)
        .expect("valid brotli");
    assert_eq!(decoded, script());

    let gzip = get(&server, &path, Some("gzip")).await;
    assert_eq!(header(gzip.headers(), "content-encoding"), "gzip");
    let body = gzip.bytes().await.expect("body");
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut decoded)
        .expect("valid gzip");
    assert_eq!(decoded, script());

    let plain = get(&server, &path, None).await;
    assert_eq!(header(plain.headers(), "content-encoding"), "");
    assert_eq!(plain.text().await.expect("body"), script());

    // index.html is precompressed too, and still not cached for good.
    let index = get(&server, "/checkout", Some("br")).await;
    assert_eq!(header(index.headers(), "content-encoding"), "br");
    assert_eq!(header(index.headers(), "cache-control"), "no-cache");
}

#[tokio::test]
async fn a_missing_asset_is_a_404_not_the_app() {
    let dist = Dist::new();
    let server = start(&dist).await;
    for path in [
        "/frontend-ffffffffffffffff.js",
        "/frontend-ffffffffffffffff_bg.wasm",
        "/styles.css",
        "/img/missing.png",
    ] {
        let response = get(&server, path, None).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            header(response.headers(), "content-type"),
            "application/problem+json",
            "{path}"
        );
        assert_eq!(header(response.headers(), "cache-control"), "", "{path}");
    }
}

#[tokio::test]
async fn api_paths_are_not_answered_with_the_app() {
    let dist = Dist::new();
    let server = start(&dist).await;
    let response = get(&server, "/api/v1/products", None).await;
    assert_eq!(response.status(), 404);
    let problem: serde_json::Value = response.json().await.expect("problem");
    assert_eq!(problem["type"], "/problems/not-found");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let dist = Dist::new();
    let server = start(&dist).await;
    for path in ["/", "/orders", &format!("/{SCRIPT_NAME}"), "/missing.js"] {
        let response = get(&server, path, None).await;
        let headers = response.headers();
        let csp = header(headers, "content-security-policy");
        assert_eq!(csp, CONTENT_SECURITY_POLICY, "{path}");
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval';"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(
            header(headers, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(
            header(headers, "referrer-policy"),
            "strict-origin-when-cross-origin",
            "{path}"
        );
        assert!(
            header(headers, "permissions-policy").contains("camera=()"),
            "{path}"
        );
        assert_eq!(header(headers, "x-frame-options"), "DENY", "{path}");
    }
}

#[tokio::test]
async fn only_reads_are_allowed_and_ops_endpoints_stay() {
    let dist = Dist::new();
    let server = start(&dist).await;
    let post = server
        .client
        .post(server.url("/products"))
        .send()
        .await
        .expect("request");
    assert_eq!(post.status(), 405);
    let head = server
        .client
        .head(server.url(&format!("/{SCRIPT_NAME}")))
        .send()
        .await
        .expect("request");
    assert_eq!(head.status(), 200);
    assert_eq!(
        header(head.headers(), "content-length"),
        script().len().to_string()
    );
    assert_eq!(get(&server, "/healthz", None).await.status(), 200);
    assert_eq!(get(&server, "/readyz", None).await.status(), 200);
}
