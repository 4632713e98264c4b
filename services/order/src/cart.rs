//! The cart: one per user, or per visitor (a guest cart), a line per product, priced at the
//! catalog's current prices.
//!
//! The cart stores products and quantities only. Every read prices it with the product
//! service, so it always shows today's price, and checkout prices it once more. A product the
//! catalog does not sell now (deleted, deactivated, or priced in another currency) is listed
//! apart, under `unavailable`, out of the subtotal, and checkout refuses the cart until the
//! customer removes it. Reading the cart never changes it: a product an admin deactivates for
//! a moment is back in `items` once it is for sale again.
//!
//! A visitor's first cart write creates a guest cart ([`crate::guest`]) and answers `201` with
//! its token in the `Guest-Cart-Token` header; with that header a visitor reads and changes the
//! cart as a customer does, under the same rules and limits. Checkout needs an account: after
//! signing in or registering, the client sends the token to `POST /api/v1/cart/merge`, which
//! moves the guest cart's lines into the account's cart, once, and spends the token. A
//! signed-in request is about the account's cart, whatever guest token it also carries.

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::routing::{get, post, put};
use contracts::cart::{
    Cart, CartLine, GUEST_CART_TOKEN_HEADER, MergedCart, SetQuantity, UnavailableLine,
};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::error::field_error;
use kit::identity::Identity;
use kit::{ApiError, ApiResult, Json, Path};
use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::guest::{self, GuestToken};
use crate::pricing::PricedItems;

/// The most units of one product a cart line holds.
pub const MAX_QUANTITY: u32 = 99;

/// The most distinct products a cart holds.
pub const MAX_LINES: i64 = 100;

/// The cart endpoints.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cart", get(show))
        .route(
            "/api/v1/cart/items/{product_id}",
            put(set_quantity).delete(remove),
        )
        .route("/api/v1/cart/merge", post(merge))
}

/// Whose cart a request is about.
#[derive(Debug)]
pub(crate) enum Shopper {
    /// A signed-in customer: their account's cart.
    Customer(Uuid),
    /// A visitor with a guest cart token.
    Guest(GuestToken),
    /// A visitor without one, who has no cart yet.
    Visitor,
}

impl<S: Send + Sync> FromRequestParts<S> for Shopper {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Ok(identity) = Identity::from_request_parts(parts, state).await {
            return Ok(Self::Customer(identity.user_id));
        }
        Ok(GuestToken::from_headers(&parts.headers).map_or(Self::Visitor, Self::Guest))
    }
}

impl Shopper {
    /// The id the cart's lines are stored under, for a shopper who must have a cart already.
    /// Inside a transaction, a guest cart stays locked until it ends (see [`guest::claim`]).
    async fn owner(&self, db: impl PgExecutor<'_>, state: &AppState) -> ApiResult<Uuid> {
        match self {
            Self::Customer(user_id) => Ok(*user_id),
            Self::Guest(token) => guest::claim(db, token, state.carts.guest_idle_ttl)
                .await?
                .ok_or_else(guest::unusable),
            Self::Visitor => Err(ApiError::Unauthorized(
                "Sign in, or send the Guest-Cart-Token header that the first cart write \
                 answered."
                    .to_owned(),
            )),
        }
    }
}

/// A cart is one person's: no cache on the way may keep it (the gateway says so for signed-in
/// callers; this covers guests too).
const NO_STORE: (HeaderName, HeaderValue) =
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));

/// The caller's cart at today's prices; products not for sale now are listed under
/// `unavailable`.
///
/// A signed-in customer gets their account's cart; a visitor, the guest cart named by the
/// `Guest-Cart-Token` header.
#[utoipa::path(
    get,
    path = "/api/v1/cart",
    tag = "cart",
    security(("bearer" = []), ("guest_cart" = [])),
    responses(
        (status = 200, description = "The cart at today's prices, with the products not for sale now under `unavailable`", body = Cart),
        (status = 401, description = "Neither signed in nor sending a live guest cart token (a guest cart expires when left unused, and is spent by a merge)", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "The product service is unavailable", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    shopper: Shopper,
) -> ApiResult<([(HeaderName, HeaderValue); 1], Json<Cart>)> {
    let owner = shopper.owner(&state.pool, &state).await?;
    let cart = priced_cart(&state, owner).await?;
    Ok(([NO_STORE], Json(cart)))
}

/// Set the quantity of a product in the cart (1 to 99), adding the line when it is new.
///
/// It sets rather than adds, so a retry is harmless. Answers the whole cart. A visitor's first
/// write, sent without a guest cart token, creates a guest cart: `201`, with its token in the
/// `Guest-Cart-Token` header, to send with every later cart request (at most a few guest carts
/// a minute are created per address).
#[utoipa::path(
    put,
    path = "/api/v1/cart/items/{product_id}",
    tag = "cart",
    security((), ("bearer" = []), ("guest_cart" = [])),
    params(("product_id" = Uuid, Path, description = "The product's id")),
    request_body = SetQuantity,
    responses(
        (status = 200, description = "The whole cart", body = Cart),
        (status = 201, description = "A guest cart was created: the whole cart, and its token", body = Cart,
            headers(("Guest-Cart-Token" = String, description = "The new guest cart's token: send it in the Guest-Cart-Token header of later cart requests"))),
        (status = 401, description = "The guest cart token sent is invalid or has expired", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The cart is full", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "The quantity is out of range, or the product is not for sale", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "The product service is unavailable", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn set_quantity(
    State(state): State<AppState>,
    shopper: Shopper,
    Path(product_id): Path<Uuid>,
    Json(body): Json<SetQuantity>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Cart>)> {
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
    // The cart is created in the same transaction as its first line: a refused write leaves
    // no empty guest cart behind.
    let mut tx = state.pool.begin().await?;
    let (owner, issued) = match shopper {
        Shopper::Visitor => {
            let (id, token) = guest::issue(&mut tx).await?;
            (id, Some(token))
        }
        known => (known.owner(&mut *tx, &state).await?, None),
    };
    upsert(&mut tx, owner, product_id, body.quantity).await?;
    tx.commit().await?;
    let cart = priced_cart(&state, owner).await?;
    let mut headers = HeaderMap::from_iter([NO_STORE]);
    let status = match issued {
        Some(token) => {
            let token = HeaderValue::try_from(token)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("unusable guest token: {e}")))?;
            headers.insert(GUEST_CART_TOKEN_HEADER, token);
            StatusCode::CREATED
        }
        None => StatusCode::OK,
    };
    Ok((status, headers, Json(cart)))
}

/// Remove a product from the cart, whether it is for sale or not.
///
/// Removing one that is not there is not an error, so a retry is harmless.
#[utoipa::path(
    delete,
    path = "/api/v1/cart/items/{product_id}",
    tag = "cart",
    security(("bearer" = []), ("guest_cart" = [])),
    params(("product_id" = Uuid, Path, description = "The product's id")),
    responses(
        (status = 204, description = "The line is gone (or was never there)"),
        (status = 401, description = "Neither signed in nor sending a live guest cart token", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    shopper: Shopper,
    Path(product_id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let owner = shopper.owner(&mut *tx, &state).await?;
    sqlx::query("DELETE FROM cart_items WHERE user_id = $1 AND product_id = $2")
        .bind(owner)
        .bind(product_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Move a guest cart into the signed-in customer's cart, and spend its token.
///
/// Send it right after signing in or registering, with the access token and the guest cart's
/// `Guest-Cart-Token`. A product in both carts keeps the sum of both quantities, up to 99; the
/// others are added, in the order they were added to the guest cart, while the account's cart
/// holds fewer than 100 products, and the rest are listed under `left_out`. Products not for
/// sale now move too, and show under the cart's `unavailable` as before. A guest cart is
/// merged once: of two merges of the same token (two sign-ins racing), one moves the lines and
/// the other gets 404, and so does every later use of the token.
#[utoipa::path(
    post,
    path = "/api/v1/cart/merge",
    tag = "cart",
    security(("bearer" = [], "guest_cart" = [])),
    responses(
        (status = 200, description = "Merged: the guest cart and its token are gone", body = MergedCart),
        (status = 400, description = "No Guest-Cart-Token header was sent", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No live guest cart has this token: merged already, expired, or never issued", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn merge(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
) -> ApiResult<Json<MergedCart>> {
    let token = GuestToken::from_headers(&headers).ok_or_else(|| ApiError::BadRequest {
        detail: "Send the guest cart's token in the Guest-Cart-Token header.".to_owned(),
        errors: vec![field_error(
            "Guest-Cart-Token",
            "required",
            "the guest cart's token is required",
        )],
    })?;
    let user_id = identity.user_id;
    let mut tx = state.pool.begin().await?;
    let guest_id = guest::take(&mut tx, &token, state.carts.guest_idle_ttl)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(
                "No guest cart has this token: it was merged already, expired after being left \
                 unused, or never existed."
                    .to_owned(),
            )
        })?;
    lock(&mut tx, user_id).await?;
    let mut moving: Vec<(Uuid, i32, OffsetDateTime)> = sqlx::query_as(
        "DELETE FROM cart_items WHERE user_id = $1 RETURNING product_id, quantity, added_at",
    )
    .bind(guest_id)
    .fetch_all(&mut *tx)
    .await?;
    moving.sort_by_key(|&(product_id, _, added_at)| (added_at, product_id));
    let held: Vec<Uuid> =
        sqlx::query_scalar("SELECT product_id FROM cart_items WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
    let (merged, left_out) = fit(&held, moving);
    let (ids, quantities, added): (Vec<Uuid>, Vec<i32>, Vec<OffsetDateTime>) =
        merged.iter().copied().collect();
    sqlx::query(
        "INSERT INTO cart_items (user_id, product_id, quantity, added_at)
         SELECT $1, product_id, quantity, added_at
         FROM unnest($2::uuid[], $3::integer[], $4::timestamptz[]) AS t(product_id, quantity, added_at)
         ON CONFLICT (user_id, product_id) DO UPDATE
         SET quantity = least(cart_items.quantity + excluded.quantity, $5), updated_at = now()",
    )
    .bind(user_id)
    .bind(&ids)
    .bind(&quantities)
    .bind(&added)
    .bind(i32::try_from(MAX_QUANTITY).unwrap_or(i32::MAX))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(%user_id, merged = ids.len(), left_out = left_out.len(), "guest cart merged");
    Ok(Json(MergedCart {
        merged: ids,
        left_out,
    }))
}

/// Which of a guest cart's `moving` lines (in the order they were added) join a cart that
/// holds the products `held`: those it holds already, and new ones while it holds fewer than
/// [`MAX_LINES`] products; and the products left out.
fn fit(
    held: &[Uuid],
    moving: Vec<(Uuid, i32, OffsetDateTime)>,
) -> (Vec<(Uuid, i32, OffsetDateTime)>, Vec<Uuid>) {
    let mut room = usize::try_from(MAX_LINES)
        .unwrap_or_default()
        .saturating_sub(held.len());
    let mut merged = Vec::new();
    let mut left_out = Vec::new();
    for line in moving {
        if held.contains(&line.0) {
            merged.push(line);
        } else if room > 0 {
            room -= 1;
            merged.push(line);
        } else {
            left_out.push(line.0);
        }
    }
    (merged, left_out)
}

/// Serialises the writes to one cart, so two concurrent additions (or an addition and a merge)
/// cannot both pass the line limit.
async fn lock(tx: &mut PgConnection, owner: Uuid) -> ApiResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(owner)
        .execute(tx)
        .await?;
    Ok(())
}

/// Adds or updates a line of `owner`'s cart, refusing a new line beyond [`MAX_LINES`].
async fn upsert(
    tx: &mut PgConnection,
    user_id: Uuid,
    product_id: Uuid,
    quantity: u32,
) -> ApiResult<()> {
    let quantity = i32::try_from(quantity).unwrap_or(i32::MAX);
    lock(tx, user_id).await?;
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
