//! The `addresses` table: a user's saved postal addresses, chosen at checkout.
//!
//! `/api/v1/users/me/addresses` lets the owner manage them; `/internal/users/{user_id}/addresses/{id}`
//! lets the order service read the one chosen at checkout (never routed by the gateway).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, StatusCode, header};
use axum::routing::{get, patch};
use contracts::address::{self, PostalAddress};
use contracts::pagination::Page;
use contracts::problem::Problem;
use contracts::users::{Address, UpdateAddress};
use kit::identity::Identity;
use kit::internal::InternalToken;
use kit::{ApiError, ApiResult, Json, Path};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::AppState;
use crate::accounts;

/// How many addresses one user may keep: plenty for real use, and it bounds the unpaginated list.
const MAX_ADDRESSES: i64 = 20;

/// The signed-in user's address book.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/me/addresses", get(list).post(create))
        .route(
            "/api/v1/users/me/addresses/{id}",
            patch(update).delete(delete),
        )
}

/// One address by its owner and id, for the order service, behind the internal token.
pub(crate) fn internal_router(token: &InternalToken) -> Router<AppState> {
    Router::new()
        .route(
            "/internal/users/{user_id}/addresses/{id}",
            get(internal_show),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            token.clone(),
            kit::internal::require,
        ))
}

/// An address as stored: [`address::Address::parse`] admitted it.
struct Row {
    id: Uuid,
    recipient: String,
    line1: String,
    line2: Option<String>,
    city: String,
    postal_code: String,
    region: Option<String>,
    country: String,
    phone: Option<String>,
}

impl From<Row> for Address {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            address: PostalAddress {
                recipient: row.recipient,
                line1: row.line1,
                line2: row.line2,
                city: row.city,
                postal_code: row.postal_code,
                region: row.region,
                country: row.country,
                phone: row.phone,
            },
        }
    }
}

/// The address as the shop's one rule reads it (the rule checkout applies too); a refusal
/// names every field at fault.
fn parse(input: PostalAddress) -> ApiResult<address::Address> {
    address::Address::parse(input).map_err(|error| ApiError::Validation(error.field_errors("")))
}

/// Every saved address, oldest first, as a single page.
#[utoipa::path(
    get,
    path = "/api/v1/users/me/addresses",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The addresses", body = Page<Address>),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub(crate) async fn list(
    identity: Identity,
    State(state): State<AppState>,
) -> ApiResult<Json<Page<Address>>> {
    let rows = sqlx::query_as!(
        Row,
        "SELECT id, recipient, line1, line2, city, postal_code, region, country, phone
         FROM addresses WHERE user_id = $1 ORDER BY created_at, id",
        identity.user_id
    )
    .fetch_all(&state.db)
    .await?;
    Ok(Json(Page::last(
        rows.into_iter().map(Address::from).collect(),
    )))
}

/// Save an address (at most 20); `Location` names the new address.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/addresses",
    tag = "users",
    security(("bearer" = [])),
    request_body = PostalAddress,
    responses(
        (status = 201, description = "Saved", body = Address),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 409, description = "The address book is full", body = Problem),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem),
    )
)]
pub(crate) async fn create(
    identity: Identity,
    State(state): State<AppState>,
    Json(request): Json<PostalAddress>,
) -> ApiResult<(StatusCode, [(HeaderName, String); 1], Json<Address>)> {
    let address = parse(request)?;
    let mut tx = state.db.begin().await?;
    // Locking the account serialises this user's creations, so the limit holds under races.
    accounts::lock(&mut *tx, identity.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("The account no longer exists.".to_owned()))?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM addresses WHERE user_id = $1"#,
        identity.user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if count >= MAX_ADDRESSES {
        return Err(ApiError::conflict(format!(
            "You can keep at most {MAX_ADDRESSES} addresses; delete one first."
        )));
    }
    let row = sqlx::query_as!(
        Row,
        "INSERT INTO addresses
             (id, user_id, recipient, line1, line2, city, postal_code, region, country, phone)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING id, recipient, line1, line2, city, postal_code, region, country, phone",
        Uuid::now_v7(),
        identity.user_id,
        address.recipient(),
        address.line1(),
        address.line2(),
        address.city(),
        address.postal_code(),
        address.region(),
        address.country(),
        address.phone(),
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let location = format!("/api/v1/users/me/addresses/{}", row.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(row.into()),
    ))
}

/// Change some fields of a saved address (JSON merge patch: `null` clears an optional field).
#[utoipa::path(
    patch,
    path = "/api/v1/users/me/addresses/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The address's id")),
    request_body = UpdateAddress,
    responses(
        (status = 200, description = "The changed address", body = Address),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such address of the caller's", body = Problem),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem),
    )
)]
pub(crate) async fn update(
    identity: Identity,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(patch): Json<UpdateAddress>,
) -> ApiResult<Json<Address>> {
    let mut tx = state.db.begin().await?;
    let current = sqlx::query_as!(
        Row,
        "SELECT id, recipient, line1, line2, city, postal_code, region, country, phone
         FROM addresses WHERE id = $1 AND user_id = $2 FOR UPDATE",
        id,
        identity.user_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(not_found)?;
    let address = parse(patch.apply(Address::from(current).address))?;
    let row = sqlx::query_as!(
        Row,
        "UPDATE addresses
         SET recipient = $3, line1 = $4, line2 = $5, city = $6, postal_code = $7,
             region = $8, country = $9, phone = $10, updated_at = now()
         WHERE id = $1 AND user_id = $2
         RETURNING id, recipient, line1, line2, city, postal_code, region, country, phone",
        id,
        identity.user_id,
        address.recipient(),
        address.line1(),
        address.line2(),
        address.city(),
        address.postal_code(),
        address.region(),
        address.country(),
        address.phone(),
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

/// Delete a saved address.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me/addresses/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The address's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such address of the caller's", body = Problem),
    )
)]
pub(crate) async fn delete(
    identity: Identity,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let deleted = sqlx::query!(
        "DELETE FROM addresses WHERE id = $1 AND user_id = $2",
        id,
        identity.user_id
    )
    .execute(&state.db)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /internal/users/{user_id}/addresses/{id}`: one user's address, for the order service.
async fn internal_show(
    State(state): State<AppState>,
    Path((user_id, id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<Address>> {
    find(&state.db, user_id, id)
        .await?
        .map(|row| Json(row.into()))
        .ok_or_else(not_found)
}

async fn find(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "SELECT id, recipient, line1, line2, city, postal_code, region, country, phone
         FROM addresses WHERE id = $1 AND user_id = $2",
        id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// Another user's address is as absent as a deleted one.
fn not_found() -> ApiError {
    ApiError::NotFound("No saved address has this id.".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> PostalAddress {
        PostalAddress {
            recipient: " Ada Lovelace ".to_owned(),
            line1: "12 St James's Square".to_owned(),
            line2: Some("  ".to_owned()),
            city: "London".to_owned(),
            postal_code: "SW1Y 4JH".to_owned(),
            region: None,
            country: "gb".to_owned(),
            phone: Some("+44 20 7946 0958".to_owned()),
        }
    }

    fn fields_of(result: ApiResult<address::Address>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn normalises_a_valid_address() {
        let address = parse(address()).expect("valid");
        assert_eq!(address.recipient(), "Ada Lovelace");
        assert_eq!(address.line2(), None, "blank means absent");
        assert_eq!(address.country(), "GB");
    }

    #[test]
    fn names_every_invalid_field() {
        let bad = PostalAddress {
            recipient: " ".to_owned(),
            line1: "x".repeat(201),
            line2: None,
            city: "Berlin".to_owned(),
            postal_code: "10115; DROP".to_owned(),
            region: None,
            country: "Germany".to_owned(),
            phone: Some("call me".to_owned()),
        };
        assert_eq!(
            fields_of(parse(bad)),
            ["recipient", "line1", "postal_code", "country", "phone"]
        );
    }
}
