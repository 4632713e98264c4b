//! Starting the service on a fresh database, and the requests tests make.

use contracts::auth::{AuthResponse, Claims, TokenResponse};
use kit::bootstrap::Platform;
use kit::config::Env;
use kit::identity::{Identity, USER_ID_HEADER, USER_ROLES_HEADER};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use testkit::{TestDb, TestServer};
use tokens::{Jwks, Signer, Verifier};
use user::MIGRATOR;
use user::config::Config;
use user::startup::Application;

/// The password test accounts are registered with.
pub(crate) const PASSWORD: &str = "correct horse battery";
pub(crate) const KID: &str = "test-key";
pub(crate) const ISSUER: &str = "ecommerce";
pub(crate) const AUDIENCE: &str = "ecommerce-api";
/// The secret the internal routes require in the tests.
pub(crate) const INTERNAL_TOKEN: &str = "user-tests-internal-token-0123456789";

/// The new tokens of a refresh made with a body token.
#[derive(Debug)]
pub(crate) struct Refreshed {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) expires_in: u64,
}

/// A running user service on its own database.
#[derive(Debug)]
pub(crate) struct TestApp {
    pub(crate) server: TestServer,
    pub(crate) db: TestDb,
    pub(crate) config: Config,
    /// The PEM of the signing key, so tests can sign tokens the service would (or would not).
    pub(crate) signing_key: String,
}

impl TestApp {
    /// The service with cheap argon2 parameters and a lock long enough to observe.
    pub(crate) async fn spawn() -> Self {
        Self::with_env(&[]).await
    }

    /// The service with extra (or overriding) environment variables.
    pub(crate) async fn with_env(extra: &[(&str, &str)]) -> Self {
        let db = TestDb::migrated(&MIGRATOR).await;
        let signing_key = tokens::generate_pem().expect("generate a key");
        let mut vars: Vec<(String, String)> = [
            ("DATABASE_URL", db.url.as_str()),
            ("JWT_SIGNING_KEY", signing_key.as_str()),
            ("JWT_SIGNING_KEY_ID", KID),
            ("INTERNAL_TOKEN", INTERNAL_TOKEN),
            ("ARGON2_MEMORY_KIB", "1024"),
            ("ARGON2_ITERATIONS", "1"),
            ("LOGIN_BACKOFF_BASE_SECS", "300"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (name, value) in extra {
            vars.retain(|(k, _)| k != name);
            vars.push(((*name).to_owned(), (*value).to_owned()));
        }
        let config = Config::from_env(&Env::from_pairs(vars)).expect("test configuration");
        let platform = Platform::default();
        let app = Application::build(&config, &platform)
            .await
            .expect("the application");
        let server = TestServer::serve(app.routes, app.health, &platform).await;
        Self {
            server,
            db,
            config,
            signing_key,
        }
    }

    pub(crate) fn get(&self, path: &str) -> RequestBuilder {
        self.server.client.get(self.server.url(path))
    }

    pub(crate) fn post(&self, path: &str) -> RequestBuilder {
        self.server.client.post(self.server.url(path))
    }

    pub(crate) fn patch(&self, path: &str) -> RequestBuilder {
        self.server.client.patch(self.server.url(path))
    }

    pub(crate) fn delete(&self, path: &str) -> RequestBuilder {
        self.server.client.delete(self.server.url(path))
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.post(path).json(body).send().await.expect("request")
    }

    pub(crate) async fn register(&self, email: &str, password: &str, name: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            &json!({"email": email, "password": password, "display_name": name}),
        )
        .await
    }

    /// Registers `email` with [`PASSWORD`] and returns the signed-in answer.
    pub(crate) async fn signed_up(&self, email: &str) -> AuthResponse {
        let response = self.register(email, PASSWORD, "Test User").await;
        assert_eq!(response.status(), StatusCode::CREATED, "register {email}");
        response.json().await.expect("auth response")
    }

    pub(crate) async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub(crate) async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh_token}),
        )
        .await
    }

    /// A successful refresh with a body token, whose successor comes back in the body.
    pub(crate) async fn refreshed(&self, refresh_token: &str) -> Refreshed {
        let response = self.refresh(refresh_token).await;
        assert_eq!(response.status(), StatusCode::OK, "refresh");
        let tokens: TokenResponse = response.json().await.expect("token response");
        Refreshed {
            access_token: tokens.access_token,
            refresh_token: tokens
                .refresh_token
                .expect("a body token gets its successor in the body"),
            expires_in: tokens.expires_in,
        }
    }

    /// The JWKS document the service publishes.
    pub(crate) async fn jwks(&self) -> Jwks {
        let response = self
            .get("/.well-known/jwks.json")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("jwks")
    }

    /// A verifier built only from the published JWKS, as the gateway builds it.
    pub(crate) async fn verifier(&self) -> Verifier {
        Verifier::new(&self.jwks().await, ISSUER, AUDIENCE).expect("usable key set")
    }

    /// The claims of `access_token`, verified against the published keys.
    pub(crate) async fn claims(&self, access_token: &str) -> Claims {
        self.verifier()
            .await
            .verify(access_token)
            .expect("a valid access token")
    }

    /// `request` as the gateway forwards it for the bearer of `access_token`: verified, then
    /// carrying the identity headers.
    pub(crate) async fn as_bearer(
        &self,
        request: RequestBuilder,
        access_token: &str,
    ) -> RequestBuilder {
        let claims = self.claims(access_token).await;
        request
            .header(USER_ID_HEADER, claims.sub.to_string())
            .header(USER_ROLES_HEADER, Identity::roles_header(&claims.roles))
    }

    /// A signer holding the service's own key, for tokens the service would never issue.
    pub(crate) fn service_signer(&self) -> Signer {
        Signer::from_pem(KID, &self.signing_key).expect("the test key")
    }

    /// Creates an admin through the same code as `user create-admin` and signs in.
    pub(crate) async fn admin(&self, email: &str) -> AuthResponse {
        user::create_admin(
            &self.db.pool,
            &self.config.passwords,
            email,
            PASSWORD,
            "Admin",
        )
        .await
        .expect("create admin");
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "admin login");
        response.json().await.expect("auth response")
    }
}

/// Status and problem body of an error answer, checking its media type.
pub(crate) async fn problem(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{status}"
    );
    (status, response.json().await.expect("problem body"))
}

/// The fields a validation problem names.
pub(crate) fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The code of the error on `field`.
pub(crate) fn code_of(problem: &Value, field: &str) -> Option<String> {
    problem["errors"].as_array().and_then(|errors| {
        errors
            .iter()
            .find(|e| e["field"] == field)
            .and_then(|e| e["code"].as_str().map(str::to_owned))
    })
}
