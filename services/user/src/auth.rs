//! `/api/v1/auth/*`: register, login, refresh, logout.
//!
//! Register and login answer the refresh token in the body (for API clients) and in the
//! `refresh_token` cookie (for browsers, see [`crate::cookie`]); refresh and logout take it from
//! the body or, failing that, from the cookie, and a cookie-borne refresh answers the next token
//! in the cookie only, so a script on the page never holds one.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::routing::post;
use contracts::auth::{
    AuthResponse, LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest, Role,
    TokenResponse, TokenType,
};
use contracts::problem::Problem;
use kit::{ApiError, ApiResult, Json};

use crate::AppState;
use crate::accounts::{self, Account};
use crate::backoff;
use crate::cookie;
use crate::domain::{DisplayName, Email, Fields, Password};
use crate::passwords::Verified;
use crate::refresh;

/// Token responses must not be stored by caches (RFC 6749 §5.1).
const NO_STORE: [(HeaderName, &str); 1] = [(header::CACHE_CONTROL, "no-store")];

/// The headers of an answer that carries a refresh token: `no-store`, and the cookie, if any.
fn token_headers(set_cookie: Option<HeaderValue>) -> HeaderMap {
    let mut headers =
        HeaderMap::from_iter(NO_STORE.map(|(name, value)| (name, HeaderValue::from_static(value))));
    if let Some(cookie) = set_cookie {
        headers.insert(header::SET_COOKIE, cookie);
    }
    headers
}

/// The refresh token of a refresh or logout: the body's, or the cookie's (whose request must
/// come from the shop's own pages); `true` when it came in the cookie.
fn refresh_token_of(body: Option<String>, headers: &HeaderMap) -> ApiResult<(String, bool)> {
    if let Some(token) = body {
        return Ok((token, false));
    }
    cookie::token(headers)?
        .map(|token| (token, true))
        .ok_or_else(|| {
            ApiError::invalid(
                "refresh_token",
                "required",
                "Send the refresh token in the body, or from the shop's pages in the \
                 refresh_token cookie.",
            )
        })
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
}

/// The one answer to a failed login, whether the email is unknown or the password wrong: the
/// same status and byte-for-byte the same body, so it tells nothing about which emails exist.
fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized("The email or password is incorrect.".to_owned())
}

/// Create a customer account and sign in.
#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and signed in", body = AuthResponse,
            headers(("Set-Cookie" = String, description = "The refresh token cookie: refresh_token=...; HttpOnly; Secure; SameSite=Strict; Path=/api/v1/auth"))),
        (status = 409, description = "The email is already registered", body = Problem),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem),
    )
)]
pub(crate) async fn register(
    State(state): State<AppState>,
    Json(request): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, HeaderMap, Json<AuthResponse>)> {
    let mut fields = Fields::default();
    let email = fields.check("email", Email::parse(&request.email));
    let password = fields.check(
        "password",
        Password::parse(&request.password, email.as_ref()),
    );
    let display_name = fields.check("display_name", DisplayName::parse(&request.display_name));
    let (Some(email), Some(password), Some(display_name)) = (email, password, display_name) else {
        return Err(fields.into_error());
    };
    let hash = state.passwords.hash(password.expose()).await?;
    // One transaction: an account never exists without the session it was registered with.
    let mut tx = state.db.begin().await?;
    let account =
        accounts::insert(&mut *tx, &email, &display_name, &hash, &[Role::Customer]).await?;
    let (_, refresh_token) = refresh::issue(&mut tx, account.id, None, state.refresh_ttl).await?;
    tx.commit().await?;
    tracing::info!(user_id = %account.id, "account registered");
    let set_cookie = cookie::set(&refresh_token, state.refresh_ttl)?;
    let response = signed_in(&state, &account, refresh_token)?;
    Ok((
        StatusCode::CREATED,
        token_headers(Some(set_cookie)),
        Json(response),
    ))
}

/// Sign in with email and password.
///
/// A wrong password and an unknown email get the same 401. After repeated failures for one
/// email, attempts are refused with 429 and `Retry-After` for a growing time.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse,
            headers(("Set-Cookie" = String, description = "The refresh token cookie: refresh_token=...; HttpOnly; Secure; SameSite=Strict; Path=/api/v1/auth"))),
        (status = 401, description = "The email or password is incorrect", body = Problem),
        (status = 422, description = "The email is malformed", body = Problem),
        (status = 429, description = "Too many failed attempts; retry after `Retry-After` seconds", body = Problem),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    Json(request): Json<LoginRequest>,
) -> ApiResult<(HeaderMap, Json<AuthResponse>)> {
    // A malformed email cannot belong to an account; saying so reveals nothing.
    let email =
        Email::parse(&request.email).map_err(|e| ApiError::Validation(vec![e.on("email")]))?;
    backoff::reserve_attempt(&state.db, &email, &state.backoff).await?;
    let account = accounts::find_by_email(&state.db, &email).await?;
    let stored = account.as_ref().map(|a| a.password_hash.as_str());
    let verified = state.passwords.verify(&request.password, stored).await?;
    // A failure was counted when the attempt was reserved.
    let (Verified::Yes { needs_rehash }, Some(account)) = (verified, account) else {
        return Err(invalid_credentials());
    };
    backoff::clear(&state.db, &email).await?;
    if needs_rehash {
        rehash(&state, &account, &request.password).await;
    }
    let mut tx = state.db.begin().await?;
    let (_, refresh_token) = refresh::issue(&mut tx, account.id, None, state.refresh_ttl).await?;
    tx.commit().await?;
    let set_cookie = cookie::set(&refresh_token, state.refresh_ttl)?;
    let response = signed_in(&state, &account, refresh_token)?;
    Ok((token_headers(Some(set_cookie)), Json(response)))
}

/// Re-hashes a verified password made with older parameters. Best effort: the login succeeds
/// either way, and the next login tries again.
async fn rehash(state: &AppState, account: &Account, password: &str) {
    let outcome = async {
        let hash = state.passwords.hash(password).await?;
        accounts::update_profile(&state.db, account.id, None, Some(&hash)).await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    match outcome {
        Ok(()) => {
            tracing::info!(user_id = %account.id, "password re-hashed with current parameters")
        }
        Err(error) => {
            tracing::warn!(user_id = %account.id, ?error, "re-hashing the password failed")
        }
    }
}

/// Trade a refresh token for a new access and refresh token.
///
/// The refresh token is single-use; presenting a spent one again revokes its whole session.
/// Send it in the body, or send `{}` from the shop's pages to use the `refresh_token` cookie:
/// the next token then comes in the cookie only.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse,
            headers(("Set-Cookie" = String, description = "The refresh token cookie: refresh_token=...; HttpOnly; Secure; SameSite=Strict; Path=/api/v1/auth"))),
        (status = 401, description = "The refresh token is invalid, spent, revoked or expired", body = Problem),
        (status = 403, description = "The cookie came from a page of another origin", body = Problem),
        (status = 422, description = "No refresh token was sent, in the body or the cookie", body = Problem),
    )
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<RefreshRequest>,
) -> ApiResult<(HeaderMap, Json<TokenResponse>)> {
    let (token, from_cookie) = refresh_token_of(request.refresh_token, &headers)?;
    let rotated = refresh::rotate(&state.db, &token, state.refresh_ttl).await?;
    // Roles are read now, so a role change shows in the very next access token.
    let account = accounts::find(&state.db, rotated.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("The account no longer exists.".to_owned()))?;
    let access_token = state.access.issue(account.id, &account.roles())?;
    let (set_cookie, refresh_token) = if from_cookie {
        (Some(cookie::set(&rotated.token, state.refresh_ttl)?), None)
    } else {
        (None, Some(rotated.token))
    };
    Ok((
        token_headers(set_cookie),
        Json(TokenResponse {
            access_token,
            refresh_token,
            token_type: TokenType::Bearer,
            expires_in: state.access.ttl_secs(),
        }),
    ))
}

/// Sign out: revoke the refresh token's session.
///
/// Answers 204 also for tokens that are unknown or already revoked, so it is safe to repeat.
/// Send the token in the body, or `{}` from the shop's pages to revoke the cookie's; the cookie
/// is cleared either way.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    request_body = LogoutRequest,
    responses(
        (status = 204, description = "Signed out",
            headers(("Set-Cookie" = String, description = "The refresh token cookie, cleared"))),
        (status = 422, description = "No refresh token was sent, in the body or the cookie", body = Problem),
        (status = 403, description = "The cookie came from a page of another origin", body = Problem),
    )
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<LogoutRequest>,
) -> ApiResult<(StatusCode, [(HeaderName, HeaderValue); 1])> {
    let (token, _) = refresh_token_of(request.refresh_token, &headers)?;
    refresh::revoke(&state.db, &token).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cookie::clear()?)],
    ))
}

fn signed_in(
    state: &AppState,
    account: &Account,
    refresh_token: String,
) -> anyhow::Result<AuthResponse> {
    Ok(AuthResponse {
        user: account.to_user(),
        access_token: state.access.issue(account.id, &account.roles())?,
        refresh_token,
        token_type: TokenType::Bearer,
        expires_in: state.access.ttl_secs(),
    })
}
