//! Stock and reservations. Owns the `inventory`, `reservations` and `reservation_lines` tables.
//!
//! Each product has `on_hand` units of which `reserved` are held by open reservations; the
//! units anyone can still buy are `on_hand - reserved` (shown as `Product.stock`). CHECK
//! constraints keep `0 <= reserved <= on_hand`, so even a bug cannot oversell.
//!
//! An admin setting the stock counts a new product version; reservations, settlements and
//! expiries move `reserved` (and `Product.stock` with it) without one, so orders never make
//! an admin's `If-Match` stale.
//!
//! Every transaction that touches several inventory rows locks them in product-id order, after
//! the reservation row it works on, so concurrent reservations, settlements and the sweeper
//! never deadlock on each other.
//!
//! - reserve: all lines or none, idempotent by order id;
//! - commit (the order is paid): the units leave `on_hand` and `reserved`;
//! - release (cancelled) and expiry (nobody paid in time): the units leave `reserved` only.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use contracts::catalog::StockUpdate;
use contracts::inventory::{
    InsufficientStock, Reservation, ReservationStatus, ReserveLine, ReserveRequest,
};
use contracts::problem::{PROBLEM_JSON, Problem, problem_types};
use kit::error::field_error;
use kit::identity::Admin;
use kit::shutdown::Shutdown;
use kit::{ApiError, ApiResult, Json, Path};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::catalog;
use crate::versions;

/// Most lines a reservation may hold.
const MAX_LINES: usize = 100;
/// The longest a reservation may hold stock: a week.
const MAX_TTL_SECONDS: u32 = 7 * 24 * 3600;
/// Reservations the sweeper expires per transaction, so one pass never holds many locks long.
const SWEEP_BATCH: i64 = 100;

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
    sqlx::query("UPDATE inventory SET on_hand = reserved + $2 WHERE product_id = $1")
        .bind(id)
        .bind(i64::from(update.available))
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE products SET version = version + 1, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let product = catalog::load_product(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("There is no such product.".to_owned()))?;
    tx.commit().await?;
    state.cache.invalidate_products([id]).await;
    Ok(versions::with_etag(StatusCode::OK, product))
}

fn status_name(status: ReservationStatus) -> &'static str {
    match status {
        ReservationStatus::Reserved => "reserved",
        ReservationStatus::Committed => "committed",
        ReservationStatus::Released => "released",
        ReservationStatus::Expired => "expired",
    }
}

fn parse_status(status: &str) -> ApiResult<ReservationStatus> {
    match status {
        "reserved" => Ok(ReservationStatus::Reserved),
        "committed" => Ok(ReservationStatus::Committed),
        "released" => Ok(ReservationStatus::Released),
        "expired" => Ok(ReservationStatus::Expired),
        other => Err(ApiError::Internal(anyhow::anyhow!(
            "unknown reservation status {other:?}"
        ))),
    }
}

/// The broken rules of a reservation request, named by JSON path.
fn check_request(request: &ReserveRequest) -> Vec<contracts::problem::FieldError> {
    let mut errors = Vec::new();
    if request.lines.is_empty() {
        errors.push(field_error(
            "lines",
            "required",
            "must hold at least one line",
        ));
    }
    if request.lines.len() > MAX_LINES {
        errors.push(field_error(
            "lines",
            "too_many",
            format!("at most {MAX_LINES} lines"),
        ));
    }
    let mut seen = BTreeSet::new();
    for (index, line) in request.lines.iter().enumerate() {
        if line.quantity == 0 {
            errors.push(field_error(
                &format!("lines[{index}].quantity"),
                "too_small",
                "must be at least 1",
            ));
        }
        if !seen.insert(line.product_id) {
            errors.push(field_error(
                &format!("lines[{index}].product_id"),
                "duplicate",
                "each product may appear on one line only",
            ));
        }
    }
    if let Some(ttl) = request.ttl_seconds
        && !(1..=MAX_TTL_SECONDS).contains(&ttl)
    {
        errors.push(field_error(
            "ttl_seconds",
            "out_of_range",
            format!("must be 1 to {MAX_TTL_SECONDS} seconds"),
        ));
    }
    errors
}

/// The lines of a reservation in product-id order: the order locks are taken in, and the
/// order answers list them in.
fn sorted(lines: &[ReserveLine]) -> Vec<ReserveLine> {
    let mut lines = lines.to_vec();
    lines.sort_by_key(|line| line.product_id);
    lines
}

/// `POST /internal/reservations`: holds stock for an order, all lines or none. `201` with the
/// reservation; `200` with the existing one when the order already reserved the same lines.
pub(crate) async fn reserve(
    State(state): State<AppState>,
    Json(request): Json<ReserveRequest>,
) -> ApiResult<(StatusCode, Json<Reservation>)> {
    let errors = check_request(&request);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let ttl = request
        .ttl_seconds
        .map_or(state.settings.reservation_ttl, |s| {
            Duration::from_secs(u64::from(s))
        });
    let lines = sorted(&request.lines);
    let mut tx = state.db.begin().await?;
    // The reservation row comes first: a concurrent request for the same order waits on it
    // here, then sees the committed reservation and answers it instead of reserving twice.
    let expires_at: Option<OffsetDateTime> = sqlx::query_scalar(
        "INSERT INTO reservations (order_id, status, expires_at) \
         VALUES ($1, 'reserved', now() + make_interval(secs => $2)) \
         ON CONFLICT (order_id) DO NOTHING RETURNING expires_at",
    )
    .bind(request.order_id)
    .bind(ttl.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(expires_at) = expires_at else {
        // Each statement sees what committed before it, so the winner's reservation is here.
        let existing = load_reservation(&mut tx, request.order_id)
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
    let stock: Vec<(Uuid, i64, i64, bool)> = sqlx::query_as(
        "SELECT i.product_id, i.on_hand, i.reserved, p.active \
         FROM inventory i JOIN products p ON p.id = i.product_id \
         WHERE i.product_id = ANY($1) AND p.deleted_at IS NULL \
         ORDER BY i.product_id FOR UPDATE OF i",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let stock: HashMap<Uuid, (i64, i64, bool)> = stock
        .into_iter()
        .map(|(id, on_hand, reserved, active)| (id, (on_hand, reserved, active)))
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
            Some((_, _, false)) => errors.push(field_error(
                &format!("lines[{index}].product_id"),
                "inactive",
                "the product is not for sale",
            )),
            Some((on_hand, reserved, true)) => {
                let available = (on_hand - reserved).max(0);
                if available < i64::from(line.quantity) {
                    short.push(InsufficientStock {
                        product_id: line.product_id,
                        requested: line.quantity,
                        available: u32::try_from(available).unwrap_or(u32::MAX),
                    });
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if !short.is_empty() {
        return Err(insufficient_stock(short));
    }

    let quantities: Vec<i64> = lines.iter().map(|l| i64::from(l.quantity)).collect();
    sqlx::query(
        "UPDATE inventory SET reserved = reserved + l.quantity \
         FROM unnest($1::uuid[], $2::bigint[]) AS l(product_id, quantity) \
         WHERE inventory.product_id = l.product_id",
    )
    .bind(&ids)
    .bind(&quantities)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO reservation_lines (order_id, product_id, quantity) \
         SELECT $1, l.product_id, l.quantity FROM unnest($2::uuid[], $3::bigint[]) AS l(product_id, quantity)",
    )
    .bind(request.order_id)
    .bind(&ids)
    .bind(&quantities)
    .execute(&mut *tx)
    .await?;
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

/// The 409 listing the lines that lack stock.
fn insufficient_stock(short: Vec<InsufficientStock>) -> ApiError {
    let detail = if short.len() == 1 {
        "One product does not have enough stock.".to_owned()
    } else {
        format!("{} products do not have enough stock.", short.len())
    };
    ApiError::Domain(Box::new(
        Problem::new(problem_types::INSUFFICIENT_STOCK, "Insufficient stock", 409)
            .with_detail(detail)
            .with_insufficient_stock(short),
    ))
}

/// A reservation and its lines, if the order has one.
async fn load_reservation(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> ApiResult<Option<Reservation>> {
    let row: Option<(String, OffsetDateTime)> =
        sqlx::query_as("SELECT status, expires_at FROM reservations WHERE order_id = $1")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((status, expires_at)) = row else {
        return Ok(None);
    };
    let lines = reservation_lines(conn, order_id).await?;
    Ok(Some(Reservation {
        order_id,
        status: parse_status(&status)?,
        lines,
        expires_at,
    }))
}

async fn reservation_lines(conn: &mut PgConnection, order_id: Uuid) -> ApiResult<Vec<ReserveLine>> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT product_id, quantity FROM reservation_lines WHERE order_id = $1 ORDER BY product_id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(product_id, quantity)| {
            Ok(ReserveLine {
                product_id,
                quantity: u32::try_from(quantity).map_err(|e| ApiError::Internal(e.into()))?,
            })
        })
        .collect()
}

/// What to do with a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    /// The order was paid: the units are sold.
    Commit,
    /// The order was cancelled: the units go back on sale.
    Release,
}

/// Why a reservation cannot be settled.
#[derive(Debug)]
pub(crate) enum SettleError {
    /// The order has no reservation.
    NotFound,
    /// The reservation is in a state the settlement cannot leave it from.
    Conflict(ReservationStatus),
    /// The database failed.
    Api(ApiError),
}

impl From<ApiError> for SettleError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<sqlx::Error> for SettleError {
    fn from(error: sqlx::Error) -> Self {
        Self::Api(error.into())
    }
}

impl From<SettleError> for ApiError {
    fn from(error: SettleError) -> Self {
        match error {
            SettleError::NotFound => {
                ApiError::NotFound("This order has no reservation.".to_owned())
            }
            SettleError::Conflict(status) => ApiError::conflict(format!(
                "The reservation is {}; it cannot change any more.",
                status_name(status)
            )),
            SettleError::Api(error) => error,
        }
    }
}

/// A settled reservation, and whether this call changed the stock of its products (so the
/// caller knows to invalidate their cached details once its transaction commits).
#[derive(Debug)]
pub(crate) struct Settled {
    /// The reservation as it is now.
    pub(crate) reservation: Reservation,
    /// Whether the products' available stock changed.
    pub(crate) stock_changed: bool,
}

/// Commits or releases the reservation of `order_id` inside the caller's transaction.
///
/// Idempotent: committing a committed reservation, or releasing a released or expired one,
/// changes nothing and succeeds. Releasing a committed reservation restocks its units: the order
/// service only asks for that when a paid order is cancelled before it ships, so the goods never
/// left the shelf. A reservation past its deadline that the sweeper has not
/// expired yet still holds its units, so it can still be committed: nothing is oversold.
#[tracing::instrument(
    name = "UPDATE reservations",
    skip_all,
    fields(
        otel.kind = "client",
        db.system.name = "postgresql",
        db.operation.name = "UPDATE",
        db.collection.name = "reservations",
    )
)]
pub(crate) async fn settle(
    tx: &mut PgConnection,
    order_id: Uuid,
    action: Settle,
) -> Result<Settled, SettleError> {
    let row: Option<(String, OffsetDateTime)> = sqlx::query_as(
        "SELECT status, expires_at FROM reservations WHERE order_id = $1 FOR UPDATE",
    )
    .bind(order_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (status, expires_at) = row.ok_or(SettleError::NotFound)?;
    let status = parse_status(&status)?;
    let lines = reservation_lines(tx, order_id).await?;
    let unchanged = |status| Settled {
        reservation: Reservation {
            order_id,
            status,
            lines: lines.clone(),
            expires_at,
        },
        stock_changed: false,
    };
    let target = match (action, status) {
        (Settle::Commit, ReservationStatus::Committed)
        | (Settle::Release, ReservationStatus::Released | ReservationStatus::Expired) => {
            return Ok(unchanged(status));
        }
        (Settle::Commit, ReservationStatus::Released | ReservationStatus::Expired) => {
            return Err(SettleError::Conflict(status));
        }
        (Settle::Commit, ReservationStatus::Reserved) => ReservationStatus::Committed,
        (Settle::Release, ReservationStatus::Reserved | ReservationStatus::Committed) => {
            ReservationStatus::Released
        }
    };
    // How each line moves the counters: a commit takes the units out of both; a release of a
    // held reservation frees them; a release of a committed one puts them back on hand.
    let (reserved_factor, on_hand_factor): (i64, i64) = match (status, target) {
        (ReservationStatus::Reserved, ReservationStatus::Committed) => (1, 1),
        (ReservationStatus::Committed, _) => (0, -1),
        _ => (1, 0),
    };
    let ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let quantities: Vec<i64> = lines.iter().map(|l| i64::from(l.quantity)).collect();
    lock_inventory(tx, &ids).await?;
    sqlx::query(
        "UPDATE inventory SET reserved = reserved - l.quantity * $4, \
           on_hand = on_hand - l.quantity * $3 \
         FROM unnest($1::uuid[], $2::bigint[]) AS l(product_id, quantity) \
         WHERE inventory.product_id = l.product_id",
    )
    .bind(&ids)
    .bind(&quantities)
    .bind(on_hand_factor)
    .bind(reserved_factor)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE reservations SET status = $2, updated_at = now() WHERE order_id = $1")
        .bind(order_id)
        .bind(status_name(target))
        .execute(&mut *tx)
        .await?;
    Ok(Settled {
        reservation: Reservation {
            order_id,
            status: target,
            lines,
            expires_at,
        },
        // A commit takes the units out of both `on_hand` and `reserved`: what is available
        // to others does not change.
        stock_changed: target == ReservationStatus::Released,
    })
}

/// Locks the inventory rows of `ids` in product-id order.
async fn lock_inventory(tx: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT product_id FROM inventory WHERE product_id = ANY($1) ORDER BY product_id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(())
}

async fn settle_request(
    state: &AppState,
    order_id: Uuid,
    action: Settle,
) -> ApiResult<Json<Reservation>> {
    let mut tx = state.db.begin().await?;
    let settled = settle(&mut tx, order_id, action).await?;
    tx.commit().await?;
    if settled.stock_changed {
        state
            .cache
            .invalidate_products(settled.reservation.lines.iter().map(|l| l.product_id))
            .await;
    }
    Ok(Json(settled.reservation))
}

/// `POST /internal/reservations/{order_id}/commit`: the order is paid. Idempotent; a released
/// or expired reservation answers 409.
pub(crate) async fn commit(
    State(state): State<AppState>,
    Path(order_id): Path<Uuid>,
) -> ApiResult<Json<Reservation>> {
    settle_request(&state, order_id, Settle::Commit).await
}

/// `POST /internal/reservations/{order_id}/release`: the order is cancelled. Idempotent; a
/// committed reservation (a paid order cancelled before it shipped) puts its units back on
/// hand and answers 200, like any other release.
pub(crate) async fn release(
    State(state): State<AppState>,
    Path(order_id): Path<Uuid>,
) -> ApiResult<Json<Reservation>> {
    settle_request(&state, order_id, Settle::Release).await
}

/// Expires every open reservation past its deadline, returning their units to sale; returns
/// how many it expired. Safe to run from every replica at once: rows another replica is
/// working on are skipped, not waited for.
pub async fn sweep_expired(state: &AppState) -> Result<u64, sqlx::Error> {
    let mut expired = 0;
    loop {
        let mut tx = state.db.begin().await?;
        let orders: Vec<Uuid> = sqlx::query_scalar(
            "SELECT order_id FROM reservations \
             WHERE status = 'reserved' AND expires_at <= now() \
             ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(SWEEP_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if orders.is_empty() {
            return Ok(expired);
        }
        let totals: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT product_id, sum(quantity)::bigint FROM reservation_lines \
             WHERE order_id = ANY($1) GROUP BY product_id ORDER BY product_id",
        )
        .bind(&orders)
        .fetch_all(&mut *tx)
        .await?;
        let (ids, quantities): (Vec<Uuid>, Vec<i64>) = totals.into_iter().unzip();
        lock_inventory(&mut tx, &ids).await?;
        sqlx::query(
            "UPDATE inventory SET reserved = reserved - l.quantity \
             FROM unnest($1::uuid[], $2::bigint[]) AS l(product_id, quantity) \
             WHERE inventory.product_id = l.product_id",
        )
        .bind(&ids)
        .bind(&quantities)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE reservations SET status = 'expired', updated_at = now() WHERE order_id = ANY($1)",
        )
        .bind(&orders)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        state.cache.invalidate_products(ids).await;
        expired += orders.len() as u64;
        if (orders.len() as i64) < SWEEP_BATCH {
            return Ok(expired);
        }
    }
}

/// Runs [`sweep_expired`] every `interval` until shutdown.
pub async fn run_sweeper(state: AppState, interval: Duration, shutdown: Shutdown) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match sweep_expired(&state).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "expired stale reservations"),
            Err(error) => tracing::warn!(%error, "reservation sweep failed; retrying next tick"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: u128, quantity: u32) -> ReserveLine {
        ReserveLine {
            product_id: Uuid::from_u128(id),
            quantity,
        }
    }

    fn fields(request: &ReserveRequest) -> Vec<String> {
        check_request(request)
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn request_rules_name_the_line() {
        let request = ReserveRequest {
            order_id: Uuid::from_u128(1),
            lines: vec![line(2, 1), line(3, 0), line(2, 4)],
            ttl_seconds: Some(0),
        };
        assert_eq!(
            fields(&request),
            ["lines[1].quantity", "lines[2].product_id", "ttl_seconds"]
        );
        let empty = ReserveRequest {
            order_id: Uuid::from_u128(1),
            lines: vec![],
            ttl_seconds: None,
        };
        assert_eq!(fields(&empty), ["lines"]);
    }

    #[test]
    fn lines_are_kept_in_lock_order() {
        let lines = sorted(&[line(9, 1), line(3, 2), line(5, 1)]);
        let ids: Vec<u128> = lines.iter().map(|l| l.product_id.as_u128()).collect();
        assert_eq!(ids, [3, 5, 9]);
    }
}
