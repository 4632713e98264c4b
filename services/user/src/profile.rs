//! `/api/v1/users/me`: one's own profile, and changing one's password.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use contracts::problem::Problem;
use contracts::users::{UpdateProfile, User};
use kit::identity::Identity;
use kit::{ApiError, ApiResult, Json};

use crate::AppState;
use crate::accounts::{self, Account};
use crate::backoff;
use crate::domain::{DisplayName, Email, Fields, Invalid, Password};
use crate::passwords::Verified;
use crate::refresh;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/users/me", get(show).patch(update))
}

/// The caller's account. A token can outlive its account (deleted since), which is a 401.
async fn current(state: &AppState, identity: &Identity) -> ApiResult<Account> {
    accounts::find(&state.db, identity.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("The account no longer exists.".to_owned()))
}

/// The signed-in user's profile.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = User),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub(crate) async fn show(
    identity: Identity,
    State(state): State<AppState>,
) -> ApiResult<Json<User>> {
    Ok(Json(current(&state, &identity).await?.to_user()))
}

/// Change the display name and/or the password.
///
/// A password change needs the current password and signs out every session (all refresh
/// tokens are revoked); sign in again with the new password.
#[utoipa::path(
    patch,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    request_body = UpdateProfile,
    responses(
        (status = 200, description = "The updated profile", body = User),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 422, description = "A field is invalid or the current password is incorrect", body = Problem),
        (status = 429, description = "Too many wrong current passwords", body = Problem),
    )
)]
pub(crate) async fn update(
    identity: Identity,
    State(state): State<AppState>,
    Json(request): Json<UpdateProfile>,
) -> ApiResult<Json<User>> {
    let account = current(&state, &identity).await?;
    let email = Email::parse(&account.email).ok();
    let mut fields = Fields::default();
    let display_name = request
        .display_name
        .as_deref()
        .and_then(|raw| fields.check("display_name", DisplayName::parse(raw)));
    let password_change = match (&request.current_password, &request.new_password) {
        (None, None) => None,
        (Some(_), None) => {
            fields.push(
                "new_password",
                Invalid::new("required", "Enter the new password."),
            );
            None
        }
        (None, Some(_)) => {
            fields.push(
                "current_password",
                Invalid::new("required", "Enter your current password to change it."),
            );
            None
        }
        (Some(current), Some(new)) => fields
            .check("new_password", Password::parse(new, email.as_ref()))
            .map(|new| (current.as_str(), new)),
    };
    fields.finish()?;

    let new_hash = match password_change {
        Some((current, new)) => {
            Some(check_and_hash(&state, &account, email.as_ref(), current, &new).await?)
        }
        None => None,
    };
    let mut tx = state.db.begin().await?;
    let updated = accounts::update_profile(
        &mut *tx,
        account.id,
        display_name.as_ref(),
        new_hash.as_deref(),
    )
    .await?;
    if new_hash.is_some() {
        let revoked = refresh::revoke_all(&mut *tx, account.id).await?;
        tracing::info!(user_id = %account.id, revoked, "password changed; sessions revoked");
    }
    tx.commit().await?;
    Ok(Json(updated.to_user()))
}

/// Verifies the current password (counting a failure like a failed login, so the endpoint is
/// no faster a way to guess it) and hashes the new one.
async fn check_and_hash(
    state: &AppState,
    account: &Account,
    email: Option<&Email>,
    current: &str,
    new: &Password,
) -> ApiResult<String> {
    if let Some(email) = email {
        backoff::reserve_attempt(&state.db, email, &state.backoff).await?;
    }
    match state
        .passwords
        .verify(current, Some(&account.password_hash))
        .await?
    {
        Verified::Yes { .. } => {
            if let Some(email) = email {
                backoff::clear(&state.db, email).await?;
            }
        }
        // A failure was counted when the attempt was reserved.
        Verified::No => {
            return Err(ApiError::Validation(vec![
                Invalid::new("incorrect", "The current password is incorrect.")
                    .on("current_password"),
            ]));
        }
    }
    Ok(state.passwords.hash(new.expose()).await?)
}
