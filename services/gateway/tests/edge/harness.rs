//! A gateway in front of controlled upstreams, composed as the binary composes it (public and
//! ops listeners), with its own signing key published as a JWKS.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::routing::get;
use contracts::auth::Role;
use gateway::AppState;
use gateway::config::GatewayConfig;
use gateway::startup::Application;
use kit::bootstrap::Platform;
use kit::config::{Env, HttpConfig};
use testkit::{TestServer, http_config};
use tokens::{Jwks, Signer};

use crate::upstream::{Mode, Upstream};

/// The origin the test gateways allow.
pub(crate) const ORIGIN: &str = "https://shop.example";

/// The upstreams behind a test gateway.
pub(crate) struct Upstreams {
    pub(crate) user: Upstream,
    pub(crate) product: Upstream,
    pub(crate) order: Upstream,
    pub(crate) web: Upstream,
}

impl Upstreams {
    /// All four echoing 200.
    pub(crate) async fn echoing() -> Self {
        Self {
            user: Upstream::start(Mode::Echo(200)).await,
            product: Upstream::start(Mode::Echo(200)).await,
            order: Upstream::start(Mode::Echo(200)).await,
            web: Upstream::start(Mode::Echo(200)).await,
        }
    }
}

/// A running gateway.
pub(crate) struct Gateway {
    pub(crate) public: TestServer,
    pub(crate) ops: TestServer,
    pub(crate) http: reqwest::Client,
    signer: Signer,
    _jwks: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// A gateway in front of `upstreams`, with rate limits and the breaker out of the way
    /// unless `settings` say otherwise (`("WEB_URL", "")` leaves the web upstream out).
    pub(crate) async fn start(upstreams: &Upstreams, settings: &[(&str, &str)]) -> Self {
        Self::start_with(upstreams, settings, |_| {}).await
    }

    /// Like [`Gateway::start`], with a last look at the state before it is served.
    pub(crate) async fn start_with(
        upstreams: &Upstreams,
        settings: &[(&str, &str)],
        adjust: impl FnOnce(&mut AppState),
    ) -> Self {
        let signer =
            Signer::from_pem("edge-1", &tokens::generate_pem().expect("key")).expect("signer");
        let (jwks_url, jwks) = publish(Jwks {
            keys: vec![signer.jwk()],
        })
        .await;
        let (user, product, order, web) = (
            upstreams.user.url(),
            upstreams.product.url(),
            upstreams.order.url(),
            upstreams.web.url(),
        );
        let mut pairs: Vec<(&str, &str)> = vec![
            ("USER_URL", &user),
            ("PRODUCT_URL", &product),
            ("ORDER_URL", &order),
            ("WEB_URL", &web),
            ("JWKS_URL", &jwks_url),
            ("RATE_LIMIT_PER_SECOND", "10000"),
            ("RATE_LIMIT_BURST", "10000"),
            ("WEB_RATE_LIMIT_PER_SECOND", "10000"),
            ("WEB_RATE_LIMIT_BURST", "10000"),
            ("AUTH_RATE_LIMIT_PER_MINUTE", "6000"),
            ("AUTH_RATE_LIMIT_BURST", "1000"),
            ("BREAKER_FAILURES", "1000"),
            ("UPSTREAM_TIMEOUT_MS", "5000"),
            ("CORS_ALLOWED_ORIGINS", ORIGIN),
        ];
        // Later pairs win.
        pairs.extend_from_slice(settings);
        let env = Env::from_pairs(pairs);
        let config = GatewayConfig::from_env(&env).expect("gateway config");
        // The test server's settings, with the connection limits a test may set.
        let limits = HttpConfig::from_env(&env).expect("connection limits");
        let http = HttpConfig {
            header_read_timeout: limits.header_read_timeout,
            max_connections: limits.max_connections,
            event_loops: limits.event_loops,
            ..http_config()
        };
        let platform = Platform::default();
        let mut state = AppState::new(&config, &platform.metrics).expect("gateway state");
        adjust(&mut state);
        let app = Application::with_state(state, &config, &http, &platform);
        let shutdown = platform.shutdown;
        Self {
            ops: TestServer::start(app.ops, shutdown.clone()).await,
            public: TestServer::start_configured(&http, app.public, shutdown).await,
            // The client sees the answers as sent: reqwest decompresses gzip itself when its
            // `gzip` feature is on, which a workspace build turns on (goose, in loadgen, needs it).
            http: reqwest::Client::builder()
                .no_gzip()
                .build()
                .expect("client"),
            signer,
            _jwks: jwks,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        self.public.url(path)
    }

    pub(crate) fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path))
    }

    /// An access token for `sub` with `roles`, as the user service would sign it.
    pub(crate) fn token(&self, sub: uuid::Uuid, roles: &[Role]) -> String {
        testkit::token::access_token(&self.signer, sub, roles, 600)
    }
}

async fn publish(jwks: Jwks) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().expect("addr")
    );
    let jwks = Arc::new(jwks);
    let app = Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let jwks = jwks.clone();
            async move { axum::Json((*jwks).clone()) }
        }),
    );
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("JWKS server");
    });
    (url, task)
}

/// Installs the services' telemetry once per test process, so requests get OpenTelemetry
/// spans and trace context is propagated as in production.
pub(crate) fn telemetry() {
    static GUARD: OnceLock<kit::telemetry::TelemetryGuard> = OnceLock::new();
    GUARD.get_or_init(|| {
        kit::telemetry::init(
            "gateway-test",
            &kit::telemetry::TelemetryConfig {
                filter: "warn,kit=info".to_owned(),
                pretty: false,
                otlp_endpoint: None,
            },
        )
        .expect("telemetry")
    });
}
