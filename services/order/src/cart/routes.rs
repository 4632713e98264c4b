//! The cart endpoints, and whose cart a request is about.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use contracts::cart::{
    Cart, CartLine, GUEST_CART_TOKEN_HEADER, MergedCart, Quantity, SetQuantity, UnavailableLine,
};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::error::field_error;
use kit::identity::Identity;
use kit::{ApiError, ApiResult, Json, Path};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::domain::fit;
use super::store;
use crate::AppState;
use crate::guest::{self, GuestToken};
use crate::pricing::PricedItems;

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
    let quantity = Quantity::parse(body.quantity).map_err(|error| {
        ApiError::invalid(
            "quantity",
            "range",
            format!("{error}; remove a line with DELETE"),
        )
    })?;
    let prices = state.catalog.prices(&[product_id]).await?;
    let priced = state
        .pricing
        .price_items(&[(product_id, quantity.get())], &prices)
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
    store::upsert(&mut tx, owner, product_id, quantity).await?;
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
    store::remove(&mut tx, owner, product_id).await?;
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
    store::lock(&mut tx, user_id).await?;
    let moving = store::take_all(&mut tx, guest_id).await?;
    let held = store::products(&mut tx, user_id).await?;
    let (merged, left_out) = fit(&held, moving);
    store::add_merged(&mut tx, user_id, &merged).await?;
    tx.commit().await?;
    tracing::info!(%user_id, merged = merged.len(), left_out = left_out.len(), "guest cart merged");
    Ok(Json(MergedCart {
        merged: merged.iter().map(|line| line.product_id).collect(),
        left_out,
    }))
}

/// The cart at today's prices, the products the catalog does not sell now apart.
async fn priced_cart(state: &AppState, user_id: Uuid) -> ApiResult<Cart> {
    let items = store::items(&state.pool, user_id).await?;
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
