//! `POST /api/v1/checkout`: the handler, and the outcome stored under its `Idempotency-Key`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use contracts::orders::{CheckoutRequest, Order};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::identity::Identity;
use kit::{ApiError, ApiResult, Json};
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use super::domain::Checkout;
use super::saga::place_order;
use crate::AppState;
use crate::idempotency::{self, Claim, StoredResponse};

/// Turn the cart into a paid order, exactly once per `Idempotency-Key`.
///
/// A retry with the same key and request gets the first answer again; 5xx answers are not
/// remembered, so a retry after one does the work again. The steps are in the [module docs](super).
#[utoipa::path(
    post,
    path = "/api/v1/checkout",
    tag = "checkout",
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = String, Header,
            description = "1 to 255 visible ASCII characters, unique per checkout and the same when retrying it"),
    ),
    request_body = CheckoutRequest,
    responses(
        (status = 201, description = "The order, paid", body = Order),
        (status = 400, description = "The Idempotency-Key header is missing or malformed", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM_JSON),
        (status = 402, description = "The card was declined", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "Stock is short (`insufficient_stock` lists the products), a product in the cart is not for sale now (`errors` names each as `cart.{product_id}`), the stock held for the order was released before its payment completed (the payment is refunded), or the same key is still being processed", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "A field is invalid or the cart is empty; `errors` names it", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "The product service or the payment provider is unavailable; retry with the same key", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn checkout(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
    Json(request): Json<CheckoutRequest>,
) -> ApiResult<Response> {
    let key = idempotency::key_from(&headers)?;
    let checkout = Checkout::parse(request, OffsetDateTime::now_utc().date())?;
    let hash = checkout.fingerprint(&state.fingerprint_key)?;
    let user_id = identity.user_id;
    match idempotency::claim(
        &state.pool,
        user_id,
        &key,
        &hash,
        state.checkout.idempotency_wait,
    )
    .await?
    {
        Claim::Replay(response) => Ok(response.into_response()),
        Claim::First => {
            let task = tokio::spawn(
                async move {
                    let outcome = place_order(&state, user_id, &key, &checkout).await;
                    finish(&state, user_id, &key, outcome).await
                }
                .instrument(tracing::Span::current()),
            );
            task.await
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("checkout task failed: {e}")))
        }
    }
}

/// Stores a refusal under the key (or gives the key up for a 5xx) and renders the outcome. A
/// paid order's answer was stored with it, in the transaction that marked it paid.
async fn finish(
    state: &AppState,
    user_id: Uuid,
    key: &str,
    outcome: ApiResult<StoredResponse>,
) -> Response {
    state.metrics.checkout(&outcome);
    let stored = match outcome {
        Ok(paid) => return paid.into_response(),
        Err(error) if error.status().is_server_error() => Err(error),
        Err(error) => StoredResponse::json(error.status(), PROBLEM_JSON, &error.to_problem()),
    };
    match stored {
        Ok(response) => {
            if let Err(error) = idempotency::complete(&state.pool, user_id, key, &response).await {
                // Nothing was sold; a retry will wait for the key, then check out again after
                // the sweeper frees it.
                tracing::error!(%error, "could not store a checkout response");
            }
            response.into_response()
        }
        Err(error) => {
            if let Err(cause) = idempotency::abandon(&state.pool, user_id, key).await {
                tracing::error!(error = %cause, "could not release an idempotency key");
            }
            error.into_response()
        }
    }
}
