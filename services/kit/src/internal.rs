//! Authentication of the `/internal/*` routes services offer one another.
//!
//! Reaching a service's port must not be enough to call its internal API: a pod that a
//! NetworkPolicy or the mesh forgot, a port-forward, or a request smuggled past the gateway
//! would otherwise reserve stock or read addresses as freely as the order service does. Each
//! caller therefore sends a shared secret, `INTERNAL_TOKEN` (at least 32 bytes, the same in every
//! service that calls or serves an internal route), in the `x-internal-token` header, and
//! [`require`] refuses every internal request without it, or with another value, with a 401
//! problem. The comparison takes the same time whatever the value sent, so the secret cannot be
//! guessed byte by byte from response times. The gateway drops the header from every client
//! request, so a client can neither send it upstream nor probe for it there.
//!
//! A shared secret rather than mTLS identities: the services already trust the mesh for
//! transport encryption where there is one, and a secret works the same on a laptop, in CI and
//! on a cluster without a mesh. It is rotated by rolling every service onto the new value.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::config::{ConfigError, Env};
use crate::error::ApiError;

/// The header internal callers send [`InternalToken`] in.
pub const INTERNAL_TOKEN_HEADER: &str = "x-internal-token";

/// The shortest `INTERNAL_TOKEN` accepted: shorter secrets are within reach of guessing.
const MIN_LEN: usize = 32;

/// The shared secret of the internal API (`INTERNAL_TOKEN`), as the header value it is sent
/// in, marked sensitive so that no log or trace shows it: its `Debug` shows `Sensitive`.
#[derive(Clone, Debug)]
pub struct InternalToken(HeaderValue);

/// What `INTERNAL_TOKEN` must hold.
const EXPECTED: &str = "at least 32 characters of random text, the same in every service";

/// The internal API's setting, for the settings of a service that serves or calls it to
/// flatten (`#[command(flatten)]`).
#[derive(Clone, Debug, clap::Args)]
pub struct InternalConfig {
    /// What the internal routes require of their callers and what callers send.
    #[arg(
        long = "internal-token",
        env = "INTERNAL_TOKEN",
        value_name = EXPECTED,
        hide_env_values = true,
        value_parser = InternalToken::new
    )]
    pub token: InternalToken,
}

impl InternalToken {
    /// Reads `INTERNAL_TOKEN` (or the file `INTERNAL_TOKEN_FILE` names). Its value is never
    /// repeated in an error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        crate::config::parse::<InternalConfig>(env).map(|internal| internal.token)
    }

    /// The token `secret`, if it is long enough and fits in a header.
    pub fn new(secret: &str) -> Result<Self, String> {
        if secret.len() < MIN_LEN {
            return Err(format!("it is {} bytes long", secret.len()));
        }
        let mut value = HeaderValue::from_str(secret)
            .map_err(|_| "it holds characters a header cannot carry".to_owned())?;
        value.set_sensitive(true);
        Ok(Self(value))
    }

    /// The header value a caller sends.
    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }

    /// Whether `sent` is the token, in time that does not depend on where they differ.
    fn matches(&self, sent: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(sent).into()
    }
}

/// Middleware for the internal routes (`route_layer(from_fn_with_state(token, require))` on
/// the router that holds them): lets a request through only with the token.
pub async fn require(State(token): State<InternalToken>, request: Request, next: Next) -> Response {
    let sent = request.headers().get(INTERNAL_TOKEN_HEADER);
    if sent.is_some_and(|sent| token.matches(sent.as_bytes())) {
        return next.run(request).await;
    }
    tracing::warn!(
        path = %request.uri().path(),
        sent = sent.is_some(),
        "internal request refused: no or wrong internal token"
    );
    ApiError::Unauthorized("This internal route needs the internal token.".to_owned())
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn app() -> Router {
        let token = InternalToken::new(SECRET).expect("long enough");
        Router::new()
            .route("/internal/reservations", post(|| async { "reserved" }))
            .route_layer(axum::middleware::from_fn_with_state(token, require))
    }

    async fn status(header: Option<&str>) -> u16 {
        let mut request = Request::post("/internal/reservations");
        if let Some(value) = header {
            request = request.header(INTERNAL_TOKEN_HEADER, value);
        }
        app()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("infallible")
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn internal_routes_refuse_callers_without_the_token() {
        assert_eq!(status(None).await, 401);
        assert_eq!(status(Some("")).await, 401);
        assert_eq!(status(Some(&SECRET[..31])).await, 401, "a prefix");
        assert_eq!(status(Some(&format!("{SECRET}0"))).await, 401, "longer");
        assert_eq!(
            status(Some("0123456789abcdef0123456789abcdeF")).await,
            401,
            "one byte off"
        );
        assert_eq!(status(Some(SECRET)).await, 200);
    }

    #[test]
    fn a_short_or_missing_token_is_named_and_never_shown() {
        let missing = InternalToken::from_env(&Env::default()).expect_err("missing");
        assert!(
            missing.to_string().starts_with("INTERNAL_TOKEN is not set"),
            "{missing}"
        );
        let short = InternalToken::from_env(&Env::from_pairs([("INTERNAL_TOKEN", "hunter2")]))
            .expect_err("short")
            .to_string();
        assert!(short.starts_with("INTERNAL_TOKEN="), "{short}");
        assert!(!short.contains("hunter2"), "{short}");
        let token = InternalToken::from_env(&Env::from_pairs([("INTERNAL_TOKEN", SECRET)]))
            .expect("long enough");
        assert!(!format!("{token:?}").contains(SECRET));
        assert!(token.header_value().is_sensitive());
    }
}
