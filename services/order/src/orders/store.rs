//! The SQL of `orders`, `order_lines` and `payments`, which this module owns.
//!
//! Statuses are stored as the text of their wire names (the tables' `CHECK`s list them); the
//! `Stored*` enums are those columns' types, so a value the code does not know fails to decode
//! instead of being guessed.

use std::collections::HashMap;

use contracts::address::PostalAddress;
use contracts::events::EventLine;
use contracts::money::{Currency, Money};
use contracts::orders::{Order, OrderLine, OrderStatus, PaymentStatus, PaymentSummary, Totals};
use kit::ApiResult;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::domain::{Filter, NewOrder};

/// `orders.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[cfg_attr(test, derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub(crate) enum StoredOrderStatus {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    PaymentFailed,
}

impl From<OrderStatus> for StoredOrderStatus {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Pending => Self::Pending,
            OrderStatus::Paid => Self::Paid,
            OrderStatus::Shipped => Self::Shipped,
            OrderStatus::Delivered => Self::Delivered,
            OrderStatus::Cancelled => Self::Cancelled,
            OrderStatus::PaymentFailed => Self::PaymentFailed,
        }
    }
}

impl From<StoredOrderStatus> for OrderStatus {
    fn from(status: StoredOrderStatus) -> Self {
        match status {
            StoredOrderStatus::Pending => Self::Pending,
            StoredOrderStatus::Paid => Self::Paid,
            StoredOrderStatus::Shipped => Self::Shipped,
            StoredOrderStatus::Delivered => Self::Delivered,
            StoredOrderStatus::Cancelled => Self::Cancelled,
            StoredOrderStatus::PaymentFailed => Self::PaymentFailed,
        }
    }
}

/// `payments.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[cfg_attr(test, derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub(crate) enum StoredPaymentStatus {
    Pending,
    Succeeded,
    Declined,
    Refunded,
    Voided,
}

impl From<PaymentStatus> for StoredPaymentStatus {
    fn from(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Pending => Self::Pending,
            PaymentStatus::Succeeded => Self::Succeeded,
            PaymentStatus::Declined => Self::Declined,
            PaymentStatus::Refunded => Self::Refunded,
            PaymentStatus::Voided => Self::Voided,
        }
    }
}

impl From<StoredPaymentStatus> for PaymentStatus {
    fn from(status: StoredPaymentStatus) -> Self {
        match status {
            StoredPaymentStatus::Pending => Self::Pending,
            StoredPaymentStatus::Succeeded => Self::Succeeded,
            StoredPaymentStatus::Declined => Self::Declined,
            StoredPaymentStatus::Refunded => Self::Refunded,
            StoredPaymentStatus::Voided => Self::Voided,
        }
    }
}

/// A locked order's status and owner.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Locked {
    pub(crate) status: OrderStatus,
    pub(crate) user_id: Uuid,
}

/// Locks an order's row until the transaction ends; `None` when there is no such order.
pub(crate) async fn lock(tx: &mut PgConnection, id: Uuid) -> ApiResult<Option<Locked>> {
    let row = sqlx::query!(
        r#"SELECT status AS "status: StoredOrderStatus", user_id
           FROM orders WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|row| Locked {
        status: row.status.into(),
        user_id: row.user_id,
    }))
}

/// Moves a (locked) order to `to`.
pub(crate) async fn set_status(
    tx: &mut PgConnection,
    id: Uuid,
    to: OrderStatus,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE orders SET status = $2, updated_at = now() WHERE id = $1",
        id,
        StoredOrderStatus::from(to) as StoredOrderStatus,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Moves an order from `from` to `to` if it is still in `from`; answers its owner, or `None`
/// when it was not in `from` (any more).
pub(crate) async fn move_from(
    tx: &mut PgConnection,
    id: Uuid,
    from: OrderStatus,
    to: OrderStatus,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "UPDATE orders SET status = $3, updated_at = now()
         WHERE id = $1 AND status = $2 RETURNING user_id",
        id,
        StoredOrderStatus::from(from) as StoredOrderStatus,
        StoredOrderStatus::from(to) as StoredOrderStatus,
    )
    .fetch_optional(tx)
    .await
}

/// Records where an order's payment is; a `None` id or reason keeps the stored one.
pub(crate) async fn set_payment(
    tx: &mut PgConnection,
    id: Uuid,
    status: PaymentStatus,
    provider_payment_id: Option<&str>,
    failure_reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE payments SET status = $2,
                provider_payment_id = COALESCE($3, provider_payment_id),
                failure_reason = COALESCE($4, failure_reason),
                updated_at = now()
         WHERE order_id = $1",
        id,
        StoredPaymentStatus::from(status) as StoredPaymentStatus,
        provider_payment_id,
        failure_reason,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// What a paid order's refund needs: the provider's id of the charge and its amount.
#[derive(Debug, Clone)]
pub(crate) struct Charge {
    pub(crate) payment_id: String,
    pub(crate) amount: Money,
}

/// The charge of a paid order.
pub(crate) async fn charge(tx: &mut PgConnection, id: Uuid) -> ApiResult<Charge> {
    let row = sqlx::query!(
        "SELECT provider_payment_id, amount, currency FROM payments WHERE order_id = $1",
        id
    )
    .fetch_one(tx)
    .await?;
    let payment_id = row
        .provider_payment_id
        .ok_or_else(|| anyhow::anyhow!("paid order {id} has no provider payment id"))?;
    Ok(Charge {
        payment_id,
        amount: Money::new(row.amount, parse_currency(&row.currency)?),
    })
}

/// The products and quantities of an order, for its events.
pub(crate) async fn event_lines(tx: &mut PgConnection, id: Uuid) -> ApiResult<Vec<EventLine>> {
    let rows = sqlx::query!(
        "SELECT product_id, quantity FROM order_lines WHERE order_id = $1 ORDER BY position",
        id
    )
    .fetch_all(tx)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(EventLine {
                product_id: row.product_id,
                quantity: quantity(row.quantity)?,
            })
        })
        .collect()
}

/// Writes a `pending` order, its lines and its pending payment.
pub(crate) async fn insert_pending(tx: &mut PgConnection, order: &NewOrder) -> ApiResult<()> {
    let totals = &order.totals;
    let mut positions = Vec::with_capacity(order.lines.len());
    let mut quantities = Vec::with_capacity(order.lines.len());
    for (position, line) in order.lines.iter().enumerate() {
        positions.push(
            i32::try_from(position)
                .map_err(|_| anyhow::anyhow!("order line position {position} is out of range"))?,
        );
        quantities.push(i32::try_from(line.quantity).map_err(|_| {
            anyhow::anyhow!("order line quantity {} is out of range", line.quantity)
        })?);
    }
    let products: Vec<Uuid> = order.lines.iter().map(|l| l.product.product_id).collect();
    let skus: Vec<String> = order.lines.iter().map(|l| l.product.sku.clone()).collect();
    let names: Vec<String> = order.lines.iter().map(|l| l.product.name.clone()).collect();
    let prices: Vec<i64> = order.lines.iter().map(|l| l.product.price.amount).collect();
    let line_totals: Vec<i64> = order.lines.iter().map(|l| l.line_total.amount).collect();
    // One statement, one round trip: the foreign keys of the lines and the payment are checked
    // at its end, when the order's row is there.
    sqlx::query!(
        "WITH new_order AS (
             INSERT INTO orders (id, user_id, status, currency, subtotal, tax, shipping, total,
                                 shipping_address)
             VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8)
         ), new_lines AS (
             INSERT INTO order_lines (order_id, position, product_id, sku, name, unit_price,
                                      quantity, line_total)
             SELECT $1, * FROM unnest($9::integer[], $10::uuid[], $11::text[], $12::text[],
                                      $13::bigint[], $14::integer[], $15::bigint[])
         )
         INSERT INTO payments (order_id, provider, status, amount, currency, card_last4, card_brand)
         VALUES ($1, $16, 'pending', $7, $3, $17, $18)",
        order.id,
        order.user_id,
        totals.total.currency.as_str() as &str,
        totals.subtotal.amount,
        totals.tax.amount,
        totals.shipping.amount,
        totals.total.amount,
        // The parsed address's JSON; it reads back as the order's `PostalAddress`.
        Json(&order.shipping_address) as _,
        &positions,
        &products,
        &skus,
        &names,
        &prices,
        &quantities,
        &line_totals,
        order.provider,
        &order.card_last4,
        order.card_brand,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// When a paid order was created and last changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamps {
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
}

/// Marks a pending order paid and its payment succeeded with the provider's `payment_id`, in one
/// statement; `None` when the order was no longer pending.
pub(crate) async fn pay(
    tx: &mut PgConnection,
    id: Uuid,
    payment_id: &str,
) -> Result<Option<Stamps>, sqlx::Error> {
    sqlx::query_as!(
        Stamps,
        "WITH paid AS (
             UPDATE orders SET status = 'paid', updated_at = now()
             WHERE id = $1 AND status = 'pending'
             RETURNING id, created_at, updated_at
         ), succeeded AS (
             UPDATE payments SET status = 'succeeded', provider_payment_id = $2,
                                 updated_at = now()
             WHERE order_id = (SELECT id FROM paid)
         )
         SELECT created_at, updated_at FROM paid",
        id,
        payment_id,
    )
    .fetch_optional(tx)
    .await
}

/// Up to `limit` pending orders created more than `older_than` ago, oldest first.
pub(crate) async fn pending_older_than(
    pool: &PgPool,
    older_than: std::time::Duration,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM orders
         WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)
         ORDER BY created_at LIMIT $2",
        older_than.as_secs_f64(),
        limit,
    )
    .fetch_all(pool)
    .await
}

/// An order with its payment, as read.
#[derive(Debug)]
pub(crate) struct OrderRow {
    pub(crate) id: Uuid,
    user_id: Uuid,
    status: StoredOrderStatus,
    currency: String,
    subtotal: i64,
    tax: i64,
    shipping: i64,
    total: i64,
    shipping_address: Json<PostalAddress>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    card_last4: String,
    card_brand: Option<String>,
    payment_status: StoredPaymentStatus,
}

/// An order's line, as read.
#[derive(Debug)]
struct LineRow {
    order_id: Uuid,
    product_id: Uuid,
    sku: String,
    name: String,
    unit_price: i64,
    quantity: i32,
    line_total: i64,
}

/// Up to `limit` orders that `filter` keeps, newest first, after the order `after`.
///
/// One statement for every read, a list or one order: an absent filter is a NULL parameter,
/// which Postgres folds away when it plans the query with its values.
pub(crate) async fn list(
    pool: &PgPool,
    filter: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<OrderRow>, sqlx::Error> {
    sqlx::query_as!(
        OrderRow,
        r#"SELECT o.id, o.user_id, o.status AS "status: StoredOrderStatus", o.currency,
                  o.subtotal, o.tax, o.shipping, o.total,
                  o.shipping_address AS "shipping_address: Json<PostalAddress>",
                  o.created_at, o.updated_at,
                  p.card_last4, p.card_brand, p.status AS "payment_status: StoredPaymentStatus"
           FROM orders o JOIN payments p ON p.order_id = o.id
           WHERE ($1::uuid IS NULL OR o.id = $1)
             AND ($2::uuid IS NULL OR o.user_id = $2)
             AND ($3::text IS NULL OR o.status = $3)
             AND ($4::uuid IS NULL OR o.id < $4)
           ORDER BY o.id DESC LIMIT $5"#,
        filter.order_id,
        filter.user_id,
        filter.status.map(StoredOrderStatus::from) as Option<StoredOrderStatus>,
        after,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// One order, whoever owns it.
pub(crate) async fn load(pool: &PgPool, id: Uuid) -> ApiResult<Option<Order>> {
    let filter = Filter {
        order_id: Some(id),
        ..Filter::default()
    };
    let rows = list(pool, &filter, None, 1).await?;
    Ok(assemble(pool, rows).await?.pop())
}

/// Joins orders with their lines.
pub(crate) async fn assemble(pool: &PgPool, rows: Vec<OrderRow>) -> ApiResult<Vec<Order>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let line_rows = sqlx::query_as!(
        LineRow,
        "SELECT order_id, product_id, sku, name, unit_price, quantity, line_total
         FROM order_lines WHERE order_id = ANY($1) ORDER BY order_id, position",
        &ids
    )
    .fetch_all(pool)
    .await?;
    let mut lines: HashMap<Uuid, Vec<LineRow>> = HashMap::new();
    for line in line_rows {
        lines.entry(line.order_id).or_default().push(line);
    }
    rows.into_iter()
        .map(|row| {
            let currency = parse_currency(&row.currency)?;
            let money = |amount| Money::new(amount, currency);
            let order_lines = lines
                .remove(&row.id)
                .unwrap_or_default()
                .into_iter()
                .map(|line| {
                    Ok(OrderLine {
                        product_id: line.product_id,
                        sku: line.sku,
                        name: line.name,
                        unit_price: money(line.unit_price),
                        quantity: quantity(line.quantity)?,
                        line_total: money(line.line_total),
                    })
                })
                .collect::<ApiResult<_>>()?;
            Ok(Order {
                id: row.id,
                user_id: row.user_id,
                status: row.status.into(),
                lines: order_lines,
                totals: Totals {
                    subtotal: money(row.subtotal),
                    tax: money(row.tax),
                    shipping: money(row.shipping),
                    total: money(row.total),
                },
                shipping_address: row.shipping_address.0,
                payment: PaymentSummary {
                    card_last4: row.card_last4,
                    brand: row.card_brand,
                    status: row.payment_status.into(),
                },
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
        })
        .collect()
}

/// A stored line quantity; the table's `CHECK` keeps it 1 to 99, so anything else is a fault.
fn quantity(stored: i32) -> ApiResult<u32> {
    Ok(u32::try_from(stored)
        .map_err(|_| anyhow::anyhow!("stored line quantity {stored} is negative"))?)
}

fn parse_currency(value: &str) -> ApiResult<Currency> {
    Ok(Currency::parse(value).map_err(anyhow::Error::from)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_column_values() {
        for status in OrderStatus::ALL {
            let stored = StoredOrderStatus::from(status);
            assert_eq!(OrderStatus::from(stored), status);
            // The column values are the wire names.
            assert_eq!(
                serde_json::to_value(stored).expect("serialize"),
                serde_json::to_value(status).expect("serialize")
            );
        }
        for status in [
            PaymentStatus::Pending,
            PaymentStatus::Succeeded,
            PaymentStatus::Declined,
            PaymentStatus::Refunded,
            PaymentStatus::Voided,
        ] {
            let stored = StoredPaymentStatus::from(status);
            assert_eq!(PaymentStatus::from(stored), status);
            assert_eq!(
                serde_json::to_value(stored).expect("serialize"),
                serde_json::to_value(status).expect("serialize")
            );
        }
    }

    #[test]
    fn a_negative_stored_quantity_is_an_error_not_zero() {
        assert_eq!(quantity(3).expect("in range"), 3);
        assert!(quantity(-1).is_err());
    }
}
