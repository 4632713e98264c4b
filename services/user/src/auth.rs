//! `/api/v1/auth/*`: register, login, refresh, logout.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, StatusCode, header};
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
use crate::domain::{DisplayName, Email, Fields, Password};
use crate::passwords::Verified;
use crate::refresh;

/// Token responses must not be stored by caches (RFC 6749 §5.1).
const NO_STORE: [(HeaderName, &str); 1] = [(header::CACHE_CONTROL, "no-store")];

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
        (status = 201, description = "Registered and signed in", body = AuthResponse),
        (status = 409, description = "The email is already registered", body = Problem),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem),
    )
)]
pub(crate) async fn register(
    State(state): State<AppState>,
    Json(request): Json<RegisterRequest>,
) -> ApiResult<(
    StatusCode,
    [(HeaderName, &'static str); 1],
    Json<AuthResponse>,
)> {
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
    let response = signed_in(&state, &account, refresh_token)?;
    Ok((StatusCode::CREATED, NO_STORE, Json(response)))
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
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 401, description = "The email or password is incorrect", body = Problem),
        (status = 422, description = "The email is malformed", body = Problem),
        (status = 429, description = "Too many failed attempts; retry after `Retry-After` seconds", body = Problem),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    Json(request): Json<LoginRequest>,
) -> ApiResult<([(HeaderName, &'static str); 1], Json<AuthResponse>)> {
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
    let response = signed_in(&state, &account, refresh_token)?;
    Ok((NO_STORE, Json(response)))
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
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "The refresh token is invalid, spent, revoked or expired", body = Problem),
    )
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    Json(request): Json<RefreshRequest>,
) -> ApiResult<([(HeaderName, &'static str); 1], Json<TokenResponse>)> {
    let rotated = refresh::rotate(&state.db, &request.refresh_token, state.refresh_ttl).await?;
    // Roles are read now, so a role change shows in the very next access token.
    let account = accounts::find(&state.db, rotated.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("The account no longer exists.".to_owned()))?;
    let access_token = state.access.issue(account.id, &account.roles())?;
    Ok((
        NO_STORE,
        Json(TokenResponse {
            access_token,
            refresh_token: rotated.token,
            token_type: TokenType::Bearer,
            expires_in: state.access.ttl_secs(),
        }),
    ))
}

/// Sign out: revoke the refresh token's session.
///
/// Answers 204 also for tokens that are unknown or already revoked, so it is safe to repeat.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    request_body = LogoutRequest,
    responses((status = 204, description = "Signed out"))
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    Json(request): Json<LogoutRequest>,
) -> ApiResult<StatusCode> {
    refresh::revoke(&state.db, &request.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
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
