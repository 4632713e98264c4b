//! The HTTP handlers of stock and reservations.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use contracts::catalog::StockUpdate;
use contracts::inventory::{Reservation, ReservationStatus, ReserveRequest};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::error::field_error;
use kit::identity::Admin;
use kit::{ApiError, ApiResult, Json, Path};
use uuid::Uuid;

use super::domain::{self, Settle};
use super::store;
use crate::AppState;
use crate::catalog;
use crate::versions;

/// Set the units available to sell
///
/// Units held by open orders stay held: they are not part of `available`. Like any admin
/// write it counts a new product version (the `ETag`), and an `If-Match` naming an older one
/// answers 412 without changing the stock.
#[utoipa::path(
    put,
    path = "/api/v1/admin/products/{id}/stock",
    tag = "catalog admin",
    request_body = StockUpdate,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The product's id"),
        ("If-Match" = Option<String>, Header, description = "The version read, quoted: \"3\""),
    ),
    responses(
        (status = 200, description = "The product with its new stock", body = contracts::catalog::Product,
            headers(("ETag" = String, description = "The new version, quoted"))),
        (status = 404, description = "No such product", body = Problem, content_type = PROBLEM_JSON),
        (status = 412, description = "The product changed since it was read", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "`available` is invalid", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn set_stock(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(update): Json<StockUpdate>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    catalog::lock_for_write(&mut tx, id, None, &headers).await?;
    store::set_available(&mut tx, id, update.available).await?;
    catalog::count_version(&mut tx, id).await?;
    let product = catalog::load_product(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("There is no such product.".to_owned()))?;
    tx.commit().await?;
    state.cache.invalidate_products([id]).await;
    Ok(versions::with_etag(StatusCode::OK, product))
}

/// `POST /internal/reservations`: holds stock for an order, all lines or none. `201` with the
/// reservation; `200` with the existing one when the order already reserved the same lines.
pub(crate) async fn reserve(
    State(state): State<AppState>,
    Json(request): Json<ReserveRequest>,
) -> ApiResult<(StatusCode, Json<Reservation>)> {
    let errors = domain::check_request(&request);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let ttl = request
        .ttl_seconds
        .map_or(state.settings.reservation_ttl, |s| {
            Duration::from_secs(u64::from(s))
        });
    let lines = domain::sorted(&request.lines);
    let mut tx = state.db.begin().await?;
    // The reservation row comes first: a concurrent request for the same order waits on it
    // here, then sees the committed reservation and answers it instead of reserving twice.
    let Some(expires_at) = store::open(&mut tx, request.order_id, ttl).await? else {
        // Each statement sees what committed before it, so the winner's reservation is here.
        let existing = store::find(&mut tx, request.order_id)
            .await?
            .ok_or_else(|| ApiError::conflict("The reservation changed meanwhile; retry."))?;
        if existing.lines != lines {
            return Err(ApiError::Conflict {
                detail: "This order already holds a reservation for other lines.".to_owned(),
                errors: vec![field_error(
                    "lines",
                    "mismatch",
                    "differ from the order's existing reservation",
                )],
            });
        }
        return Ok((StatusCode::OK, Json(existing)));
    };

    let ids: Vec<Uuid> = lines.iter().map(|line| line.product_id).collect();
    let stock: HashMap<Uuid, store::StockRow> = store::lock_stock(&mut tx, &ids)
        .await?
        .into_iter()
        .map(|row| (row.product_id, row))
        .collect();
    let mut errors = Vec::new();
    let mut short = Vec::new();
    for (index, line) in request.lines.iter().enumerate() {
        match stock.get(&line.product_id) {
            None => errors.push(field_error(
                &format!("lines[{index}].product_id"),
                "unknown",
                "there is no such product",
            )),
            Some(row) if !row.active => errors.push(field_error(
                &format!("lines[{index}].product_id"),
                "inactive",
                "the product is not for sale",
            )),
            Some(row) => short.extend(domain::shortfall(line, row.on_hand, row.reserved)),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if !short.is_empty() {
        return Err(domain::insufficient_stock(short));
    }

    store::hold(&mut tx, request.order_id, &lines).await?;
    tx.commit().await?;
    state.cache.invalidate_products(ids).await;
    Ok((
        StatusCode::CREATED,
        Json(Reservation {
            order_id: request.order_id,
            status: ReservationStatus::Reserved,
            lines,
            expires_at,
        }),
    ))
}

/// `POST /internal/reservations/{order_id}/commit`: the order is paid. Idempotent; a released
/// or expired reservation answers 409.
pub(crate) async fn commit(
    State(state): State<AppState>,
    Path(order_id): Path<Uuid>,
) -> ApiResult<Json<Reservation>> {
    settle(&state, order_id, Settle::Commit).await
}

/// `POST /internal/reservations/{order_id}/release`: the order is cancelled. Idempotent; a
/// committed reservation (a paid order cancelled before it shipped) puts its units back on
/// hand and answers 200, like any other release.
pub(crate) async fn release(
    State(state): State<AppState>,
    Path(order_id): Path<Uuid>,
) -> ApiResult<Json<Reservation>> {
    settle(&state, order_id, Settle::Release).await
}

async fn settle(state: &AppState, order_id: Uuid, action: Settle) -> ApiResult<Json<Reservation>> {
    let mut tx = state.db.begin().await?;
    let settled = store::settle(&mut tx, order_id, action).await?;
    tx.commit().await?;
    if settled.stock_changed {
        state
            .cache
            .invalidate_products(settled.reservation.lines.iter().map(|l| l.product_id))
            .await;
    }
    Ok(Json(settled.reservation))
}
