//! The cart: one per user, a line per product, priced at the catalog's current prices.
//!
//! The cart stores products and quantities only. Every read prices it with the product
//! service, so it always shows today's price, and checkout prices it once more. A product the
//! catalog does not sell now (deleted, deactivated, or priced in another currency) is listed
//! apart, under `unavailable`, out of the subtotal, and checkout refuses the cart until the
//! customer removes it. Reading the cart never changes it: a product an admin deactivates for
//! a moment is back in `items` once it is for sale again.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use contracts::cart::{Cart, CartLine, SetQuantity, UnavailableLine};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::error::field_error;
use kit::identity::Identity;
use kit::{ApiError, ApiResult, Json, Path};
use sqlx::PgPool;
use uuid::Uuid;

use crate::AppState;
use crate::pricing::PricedItems;

/// The most units of one product a cart line holds.
pub const MAX_QUANTITY: u32 = 99;

/// The most distinct products a cart holds.
pub const MAX_LINES: i64 = 100;

/// The cart endpoints.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/cart", get(show)).route(
        "/api/v1/cart/items/{product_id}",
        put(set_quantity).delete(remove),
    )
}

/// The caller's cart at today's prices; products not for sale now are listed under
/// `unavailable`.
#[utoipa::path(
    get,
    path = "/api/v1/cart",
    tag = "cart",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cart at today's prices, with the products not for sale now under `unavailable`", body = Cart),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "The product service is unavailable", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    identity: Identity,
) -> ApiResult<Json<Cart>> {
    priced_cart(&state, identity.user_id).await.map(Json)
}

/// Set the quantity of a product in the cart (1 to 99), adding the line when it is new.
///
/// It sets rather than adds, so a retry is harmless. Answers the whole cart.
#[utoipa::path(
    put,
    path = "/api/v1/cart/items/{product_id}",
    tag = "cart",
    security(("bearer" = [])),
    params(("product_id" = Uuid, Path, description = "The product's id")),
    request_body = SetQuantity,
    responses(
        (status = 200, description = "The whole cart", body = Cart),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The cart is full", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "The quantity is out of range, or the product is not for sale", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "The product service is unavailable", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn set_quantity(
    State(state): State<AppState>,
    identity: Identity,
    Path(product_id): Path<Uuid>,
    Json(body): Json<SetQuantity>,
) -> ApiResult<Json<Cart>> {
    if !(1..=MAX_QUANTITY).contains(&body.quantity) {
        return Err(ApiError::invalid(
            "quantity",
            "range",
            format!("must be 1 to {MAX_QUANTITY}; remove a line with DELETE"),
        ));
    }
    let prices = state.catalog.prices(&[product_id]).await?;
    let priced = state
        .pricing
        .price_items(&[(product_id, body.quantity)], &prices)
        .map_err(|e| ApiError::invalid("quantity", "too_large", e.to_string()))?;
    if let Some(unsellable) = priced.unsellable.first() {
        return Err(ApiError::invalid(
            "product_id",
            unsellable.code(),
            unsellable.message(),
        ));
    }
    upsert(&state.pool, identity.user_id, product_id, body.quantity).await?;
    priced_cart(&state, identity.user_id).await.map(Json)
}

/// Remove a product from the cart, whether it is for sale or not.
///
/// Removing one that is not there is not an error, so a retry is harmless.
#[utoipa::path(
    delete,
    path = "/api/v1/cart/items/{product_id}",
    tag = "cart",
    security(("bearer" = [])),
    params(("product_id" = Uuid, Path, description = "The product's id")),
    responses(
        (status = 204, description = "The line is gone (or was never there)"),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    identity: Identity,
    Path(product_id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    sqlx::query("DELETE FROM cart_items WHERE user_id = $1 AND product_id = $2")
        .bind(identity.user_id)
        .bind(product_id)
        .execute(&state.pool)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds or updates a line, refusing a new line beyond [`MAX_LINES`].
async fn upsert(pool: &PgPool, user_id: Uuid, product_id: Uuid, quantity: u32) -> ApiResult<()> {
    let quantity = i32::try_from(quantity).unwrap_or(i32::MAX);
    let mut tx = pool.begin().await?;
    // Serialises one user's cart writes, so two concurrent additions cannot both pass the
    // line limit.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let updated = sqlx::query(
        "UPDATE cart_items SET quantity = $3, updated_at = now()
         WHERE user_id = $1 AND product_id = $2",
    )
    .bind(user_id)
    .bind(product_id)
    .bind(quantity)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        let lines: i64 = sqlx::query_scalar("SELECT count(*) FROM cart_items WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        if lines >= MAX_LINES {
            return Err(ApiError::Conflict {
                detail: format!("A cart holds at most {MAX_LINES} different products."),
                errors: vec![field_error("product_id", "cart_full", "the cart is full")],
            });
        }
        sqlx::query("INSERT INTO cart_items (user_id, product_id, quantity) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(product_id)
            .bind(quantity)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The user's cart lines (product and quantity), in the order they were added.
pub(crate) async fn items(pool: &PgPool, user_id: Uuid) -> ApiResult<Vec<(Uuid, u32)>> {
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT product_id, quantity FROM cart_items WHERE user_id = $1
         ORDER BY added_at, product_id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(product_id, quantity)| (product_id, u32::try_from(quantity).unwrap_or_default()))
        .collect())
}

/// The cart at today's prices, the products the catalog does not sell now apart.
async fn priced_cart(state: &AppState, user_id: Uuid) -> ApiResult<Cart> {
    let items = items(&state.pool, user_id).await?;
    let ids: Vec<Uuid> = items.iter().map(|(id, _)| *id).collect();
    let prices = state.catalog.prices(&ids).await?;
    let PricedItems { lines, unsellable } = state
        .pricing
        .price_items(&items, &prices)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let subtotal = state
        .pricing
        .subtotal(&lines)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let unavailable = items
        .iter()
        .filter_map(|&(product_id, quantity)| {
            let reason = unsellable
                .iter()
                .find(|u| u.product_id() == product_id)?
                .reason();
            Some(UnavailableLine {
                product_id,
                name: prices
                    .iter()
                    .find(|p| p.product_id == product_id)
                    .map(|p| p.name.clone()),
                quantity,
                reason,
            })
        })
        .collect();
    Ok(Cart {
        items: lines
            .into_iter()
            .map(|line| CartLine {
                product_id: line.product.product_id,
                name: line.product.name,
                unit_price: line.product.price,
                quantity: line.quantity,
                line_total: line.line_total,
            })
            .collect(),
        subtotal,
        unavailable,
    })
}
