//! The SQL of `inventory`, `reservations` and `reservation_lines`.
//!
//! Every transaction that touches several inventory rows locks them in product-id order, after
//! the reservation row it works on, so concurrent reservations, settlements and the sweeper
//! never deadlock on each other.

use std::time::Duration;

use contracts::inventory::{Reservation, ReserveLine};
use kit::{ApiError, ApiResult};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::domain::{Settle, SettleError, Status, Transition};

/// The stock of a product being reserved, and whether it is for sale.
#[derive(Debug)]
pub(crate) struct StockRow {
    pub(crate) product_id: Uuid,
    pub(crate) on_hand: i64,
    pub(crate) reserved: i64,
    pub(crate) active: bool,
}

/// A reservation row, without its lines.
#[derive(Debug)]
struct ReservationRow {
    status: Status,
    expires_at: OffsetDateTime,
}

/// A line of a reservation as stored.
#[derive(Debug)]
struct LineRow {
    product_id: Uuid,
    quantity: i64,
}

impl TryFrom<LineRow> for ReserveLine {
    type Error = ApiError;

    fn try_from(row: LineRow) -> ApiResult<Self> {
        let quantity = u32::try_from(row.quantity).map_err(|_| {
            ApiError::Internal(anyhow::anyhow!(
                "reservation line of {} holds {} units, beyond a line's range",
                row.product_id,
                row.quantity
            ))
        })?;
        Ok(Self {
            product_id: row.product_id,
            quantity,
        })
    }
}

/// The units of one product that a set of reservations hold.
#[derive(Debug)]
struct HeldRow {
    product_id: Uuid,
    quantity: i64,
}

/// The first stock of a new product.
pub(crate) async fn create(tx: &mut PgConnection, product_id: Uuid, on_hand: u32) -> ApiResult<()> {
    sqlx::query!(
        "INSERT INTO inventory (product_id, on_hand) VALUES ($1, $2)",
        product_id,
        i64::from(on_hand),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Sets the units of `product_id` anyone can buy; the units held stay held.
pub(crate) async fn set_available(
    tx: &mut PgConnection,
    product_id: Uuid,
    available: u32,
) -> ApiResult<()> {
    sqlx::query!(
        "UPDATE inventory SET on_hand = reserved + $2 WHERE product_id = $1",
        product_id,
        i64::from(available),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Opens the reservation of `order_id` for `ttl`, returning its deadline; `None` when the
/// order already has one. A concurrent request for the same order waits on this row, then
/// finds the committed reservation.
pub(crate) async fn open(
    tx: &mut PgConnection,
    order_id: Uuid,
    ttl: Duration,
) -> ApiResult<Option<OffsetDateTime>> {
    Ok(sqlx::query_scalar!(
        "INSERT INTO reservations (order_id, status, expires_at) \
         VALUES ($1, 'reserved', now() + make_interval(secs => $2)) \
         ON CONFLICT (order_id) DO NOTHING RETURNING expires_at",
        order_id,
        ttl.as_secs_f64(),
    )
    .fetch_optional(&mut *tx)
    .await?)
}

/// Locks the inventory rows of the live products among `ids`, in product-id order, and reads
/// their stock and whether each is for sale.
pub(crate) async fn lock_stock(tx: &mut PgConnection, ids: &[Uuid]) -> ApiResult<Vec<StockRow>> {
    Ok(sqlx::query_as!(
        StockRow,
        "SELECT i.product_id, i.on_hand, i.reserved, p.active \
         FROM inventory i JOIN products p ON p.id = i.product_id \
         WHERE i.product_id = ANY($1) AND p.deleted_at IS NULL \
         ORDER BY i.product_id FOR UPDATE OF i",
        ids,
    )
    .fetch_all(&mut *tx)
    .await?)
}

/// Holds the `lines` (in product-id order, their inventory rows locked) for `order_id`.
pub(crate) async fn hold(
    tx: &mut PgConnection,
    order_id: Uuid,
    lines: &[ReserveLine],
) -> ApiResult<()> {
    let (ids, quantities) = columns(lines);
    // One statement, one round trip.
    sqlx::query!(
        "WITH held AS ( \
             UPDATE inventory SET reserved = reserved + l.quantity \
             FROM unnest($2::uuid[], $3::bigint[]) AS l(product_id, quantity) \
             WHERE inventory.product_id = l.product_id \
         ) \
         INSERT INTO reservation_lines (order_id, product_id, quantity) \
         SELECT $1, l.product_id, l.quantity \
         FROM unnest($2::uuid[], $3::bigint[]) AS l(product_id, quantity)",
        order_id,
        &ids,
        &quantities,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The product ids and quantities of `lines`, as the `unnest` of the statements binds them.
fn columns(lines: &[ReserveLine]) -> (Vec<Uuid>, Vec<i64>) {
    lines
        .iter()
        .map(|line| (line.product_id, i64::from(line.quantity)))
        .unzip()
}

/// A reservation and its lines, if the order has one.
pub(crate) async fn find(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> ApiResult<Option<Reservation>> {
    let rows = sqlx::query_as!(
        JoinedRow,
        r#"SELECT r.status AS "status: Status", r.expires_at,
                  l.product_id AS "product_id?", l.quantity AS "quantity?"
           FROM reservations r LEFT JOIN reservation_lines l USING (order_id)
           WHERE r.order_id = $1 ORDER BY l.product_id"#,
        order_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(joined(rows)?.map(|(row, lines)| Reservation {
        order_id,
        status: row.status.into(),
        lines,
        expires_at: row.expires_at,
    }))
}

/// A reservation's row beside one of its lines (none for a reservation without lines).
#[derive(Debug)]
struct JoinedRow {
    status: Status,
    expires_at: OffsetDateTime,
    product_id: Option<Uuid>,
    quantity: Option<i64>,
}

/// The reservation and its lines, from its rows joined with its lines: one round trip.
fn joined(rows: Vec<JoinedRow>) -> ApiResult<Option<(ReservationRow, Vec<ReserveLine>)>> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let row = ReservationRow {
        status: first.status,
        expires_at: first.expires_at,
    };
    let lines = rows
        .into_iter()
        .filter_map(|row| {
            Some(LineRow {
                product_id: row.product_id?,
                quantity: row.quantity?,
            })
        })
        .map(ReserveLine::try_from)
        .collect::<ApiResult<_>>()?;
    Ok(Some((row, lines)))
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

/// Commits or releases the reservation of `order_id` inside the caller's transaction, as
/// [`Settle::transition`] allows: idempotent, and a refused move changes nothing.
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
    let rows = sqlx::query_as!(
        JoinedRow,
        r#"SELECT r.status AS "status: Status", r.expires_at,
                  l.product_id AS "product_id?", l.quantity AS "quantity?"
           FROM reservations r LEFT JOIN reservation_lines l USING (order_id)
           WHERE r.order_id = $1 ORDER BY l.product_id FOR UPDATE OF r"#,
        order_id,
    )
    .fetch_all(&mut *tx)
    .await?;
    let (row, lines) = joined(rows)?.ok_or(SettleError::NotFound)?;
    let Some(transition) = action
        .transition(row.status)
        .map_err(SettleError::Conflict)?
    else {
        return Ok(Settled {
            reservation: Reservation {
                order_id,
                status: row.status.into(),
                lines,
                expires_at: row.expires_at,
            },
            stock_changed: false,
        });
    };
    let (ids, quantities) = columns(&lines);
    move_units(tx, &[order_id], &ids, &quantities, transition).await?;
    Ok(Settled {
        reservation: Reservation {
            order_id,
            status: transition.to.into(),
            lines,
            expires_at: row.expires_at,
        },
        stock_changed: transition.stock_changed(),
    })
}

/// Locks the inventory rows of `ids` (in product-id order), then moves `quantities` of them
/// and the reservations of `orders` as `transition` says, in one statement.
async fn move_units(
    tx: &mut PgConnection,
    orders: &[Uuid],
    ids: &[Uuid],
    quantities: &[i64],
    transition: Transition,
) -> Result<(), sqlx::Error> {
    // Its own statement, so the rows are locked in this order whatever plan the update gets:
    // two settlements sharing products never wait for each other crosswise.
    sqlx::query!(
        "SELECT product_id FROM inventory WHERE product_id = ANY($1) ORDER BY product_id FOR UPDATE",
        ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query!(
        "WITH settled AS ( \
             UPDATE reservations SET status = $5, updated_at = now() WHERE order_id = ANY($6) \
         ) \
         UPDATE inventory SET reserved = reserved - l.quantity * $4, \
           on_hand = on_hand - l.quantity * $3 \
         FROM unnest($1::uuid[], $2::bigint[]) AS l(product_id, quantity) \
         WHERE inventory.product_id = l.product_id",
        ids,
        quantities,
        transition.on_hand_out,
        transition.reserved_out,
        transition.to as Status,
        orders,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Expires up to `batch` open reservations past their deadline, skipping those another
/// transaction holds, and returns their units to sale; returns the orders expired and the
/// products whose stock changed.
pub(crate) async fn expire_due(
    tx: &mut PgConnection,
    batch: i64,
) -> Result<(Vec<Uuid>, Vec<Uuid>), sqlx::Error> {
    let orders = sqlx::query_scalar!(
        "SELECT order_id FROM reservations \
         WHERE status = 'reserved' AND expires_at <= now() \
         ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        batch,
    )
    .fetch_all(&mut *tx)
    .await?;
    if orders.is_empty() {
        return Ok((orders, Vec::new()));
    }
    let (ids, quantities): (Vec<Uuid>, Vec<i64>) = sqlx::query_as!(
        HeldRow,
        r#"SELECT product_id, sum(quantity)::bigint AS "quantity!" FROM reservation_lines
           WHERE order_id = ANY($1) GROUP BY product_id ORDER BY product_id"#,
        &orders,
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| (row.product_id, row.quantity))
    .unzip();
    move_units(tx, &orders, &ids, &quantities, Transition::EXPIRE).await?;
    Ok((orders, ids))
}

/// How many reservations hold stock now.
pub(crate) async fn open_count(db: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM reservations WHERE status = 'reserved'"#
    )
    .fetch_one(db)
    .await
}
