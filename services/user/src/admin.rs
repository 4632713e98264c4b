//! `/api/v1/admin/users`: the admin's list of accounts and role changes.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, patch};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use contracts::auth::Role;
use contracts::pagination::{MAX_LIMIT, Page, PageLimit};
use contracts::problem::Problem;
use contracts::users::{AdminUpdateUser, User, UserQuery};
use kit::error::field_error;
use kit::identity::Admin;
use kit::{ApiError, ApiResult, Json, Path, Query};
use uuid::Uuid;

use crate::AppState;
use crate::accounts::{self, After};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/users", get(list))
        .route("/api/v1/admin/users/{id}", patch(update))
}

/// Accounts ordered by email, a page at a time; `email` keeps those whose email contains it.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    tag = "admin",
    security(("bearer" = [])),
    params(UserQuery),
    responses(
        (status = 200, description = "A page of users", body = Page<User>),
        (status = 400, description = "The cursor or a parameter is malformed", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "The limit is out of range", body = Problem),
    )
)]
pub(crate) async fn list(
    _admin: Admin,
    State(state): State<AppState>,
    Query(query): Query<UserQuery>,
) -> ApiResult<Json<Page<User>>> {
    let limit = PageLimit::from_query(query.limit).map_err(|_| {
        ApiError::invalid(
            "limit",
            "out_of_range",
            format!("Use a limit from 1 to {MAX_LIMIT}."),
        )
    })?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = query
        .email
        .as_deref()
        .map(|text| text.trim().to_lowercase())
        .filter(|text| !text.is_empty());
    let mut rows =
        accounts::list(&state.db, filter.as_deref(), after.as_ref(), limit.fetch()).await?;
    let page = usize::try_from(limit.get()).map_err(|e| ApiError::Internal(e.into()))?;
    let more = rows.len() > page;
    rows.truncate(page);
    let next_cursor = more
        .then(|| rows.last())
        .flatten()
        .map(|last| encode_cursor(&last.email, last.id));
    Ok(Json(Page {
        items: rows.iter().map(accounts::Account::to_user).collect(),
        next_cursor,
    }))
}

/// Replace a user's roles.
///
/// They show in the user's next access token (at the next refresh or login); tokens already
/// issued keep theirs until they expire. Admins cannot remove their own admin role.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = AdminUpdateUser,
    responses(
        (status = 200, description = "The user with the new roles", body = User),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "An admin tried to remove their own admin role", body = Problem),
        (status = 422, description = "No role given", body = Problem),
    )
)]
pub(crate) async fn update(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(request): Json<AdminUpdateUser>,
) -> ApiResult<Json<User>> {
    let roles = accounts::canonical_roles(&request.roles);
    if roles.is_empty() {
        return Err(ApiError::invalid(
            "roles",
            "required",
            "Give the user at least one role.",
        ));
    }
    // Admins cannot demote themselves, so the last admin cannot lock everyone out by accident.
    if id == caller.user_id && !roles.contains(&Role::Admin) {
        return Err(ApiError::Conflict {
            detail: "You cannot remove your own admin role.".to_owned(),
            errors: vec![field_error(
                "roles",
                "self_demotion",
                "Ask another admin to remove your admin role.",
            )],
        });
    }
    let account = accounts::set_roles(&state.db, id, &roles)
        .await?
        .ok_or_else(|| ApiError::NotFound("No user has this id.".to_owned()))?;
    tracing::info!(admin = %caller.user_id, user_id = %id, ?roles, "roles changed");
    Ok(Json(account.to_user()))
}

/// The cursor after `(email, id)`: opaque to clients, a keyset position here.
fn encode_cursor(email: &str, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{id}{email}"))
}

fn decode_cursor(cursor: &str) -> ApiResult<After> {
    let invalid = || ApiError::BadRequest {
        detail: "The query parameter `cursor` is invalid.".to_owned(),
        errors: vec![field_error(
            "cursor",
            "invalid",
            "Pass the next_cursor of the previous page unchanged.",
        )],
    };
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let (id, email) = text.split_at_checked(36).ok_or_else(invalid)?;
    let id = id.parse().map_err(|_| invalid())?;
    Ok(After {
        email: email.to_owned(),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let id = Uuid::now_v7();
        let cursor = encode_cursor("o'brien+x@example.com", id);
        assert_eq!(
            decode_cursor(&cursor).expect("valid"),
            After {
                email: "o'brien+x@example.com".to_owned(),
                id
            }
        );
    }

    #[test]
    fn tampered_cursors_are_a_bad_request_naming_cursor() {
        for bad in [
            "",
            "not base64!",
            &URL_SAFE_NO_PAD.encode("short"),
            &URL_SAFE_NO_PAD.encode("x".repeat(40)),
        ] {
            match decode_cursor(bad) {
                Err(ApiError::BadRequest { errors, .. }) => assert_eq!(errors[0].field, "cursor"),
                other => panic!("expected a bad request for {bad:?}, got {other:?}"),
            }
        }
    }
}
