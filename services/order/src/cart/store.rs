//! The SQL of `cart_items`, which this module owns: a guest cart's lines are rows of it too,
//! under the guest cart's id.

use contracts::cart::Quantity;
use kit::error::field_error;
use kit::{ApiError, ApiResult};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::domain::{MAX_LINES, MovingLine};

/// Serialises the writes to one cart, so two concurrent additions (or an addition and a merge)
/// cannot both pass the line limit.
pub(crate) async fn lock(tx: &mut PgConnection, owner: Uuid) -> Result<(), sqlx::Error> {
    // In FROM, as the checked macros cannot describe a `void` column.
    sqlx::query!(
        "SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended($1::uuid::text, 0))",
        owner
    )
    .fetch_one(tx)
    .await?;
    Ok(())
}

/// Adds or updates a line of `owner`'s cart, refusing a new line beyond [`MAX_LINES`].
pub(crate) async fn upsert(
    tx: &mut PgConnection,
    user_id: Uuid,
    product_id: Uuid,
    quantity: Quantity,
) -> ApiResult<()> {
    let quantity = column(quantity.get())?;
    lock(tx, user_id).await?;
    // One statement: the line is written unless it is new and the cart's other lines already
    // fill it (the lock above keeps that count true until the commit).
    let written = sqlx::query!(
        "INSERT INTO cart_items (user_id, product_id, quantity)
         SELECT $1, $2, $3
         WHERE (SELECT count(*) FROM cart_items WHERE user_id = $1 AND product_id <> $2) < $4
         ON CONFLICT (user_id, product_id) DO UPDATE
             SET quantity = EXCLUDED.quantity, updated_at = now()",
        user_id,
        product_id,
        quantity,
        i64::from(MAX_LINES),
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if written == 0 {
        return Err(ApiError::Conflict {
            detail: format!("A cart holds at most {MAX_LINES} different products."),
            errors: vec![field_error("product_id", "cart_full", "the cart is full")],
        });
    }
    Ok(())
}

/// Removes a product from `owner`'s cart, if it is there.
pub(crate) async fn remove(
    tx: &mut PgConnection,
    owner: Uuid,
    product_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM cart_items WHERE user_id = $1 AND product_id = $2",
        owner,
        product_id,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Removes the products a customer just bought from their cart, in the transaction that
/// marks the order paid.
pub(crate) async fn remove_products(
    tx: &mut PgConnection,
    owner: Uuid,
    products: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM cart_items WHERE user_id = $1 AND product_id = ANY($2)",
        owner,
        products,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Deletes the lines of the carts `owners`, for guest carts that are deleted.
pub(crate) async fn remove_carts(
    tx: &mut PgConnection,
    owners: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM cart_items WHERE user_id = ANY($1)", owners)
        .execute(tx)
        .await?;
    Ok(())
}

/// Deletes every line of `owner`'s cart and answers them, in the order they were added.
pub(crate) async fn take_all(
    tx: &mut PgConnection,
    owner: Uuid,
) -> Result<Vec<MovingLine>, sqlx::Error> {
    let mut lines = sqlx::query_as!(
        MovingLine,
        "DELETE FROM cart_items WHERE user_id = $1 RETURNING product_id, quantity, added_at",
        owner
    )
    .fetch_all(tx)
    .await?;
    lines.sort_by_key(|line| (line.added_at, line.product_id));
    Ok(lines)
}

/// The products in `owner`'s cart.
pub(crate) async fn products(tx: &mut PgConnection, owner: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT product_id FROM cart_items WHERE user_id = $1",
        owner
    )
    .fetch_all(tx)
    .await
}

/// Adds `lines` to `owner`'s cart; a product it holds already keeps the sum of both
/// quantities, up to [`Quantity::MAX`].
pub(crate) async fn add_merged(
    tx: &mut PgConnection,
    owner: Uuid,
    lines: &[MovingLine],
) -> ApiResult<()> {
    let ids: Vec<Uuid> = lines.iter().map(|line| line.product_id).collect();
    let quantities: Vec<i32> = lines.iter().map(|line| line.quantity).collect();
    let added: Vec<_> = lines.iter().map(|line| line.added_at).collect();
    sqlx::query!(
        "INSERT INTO cart_items (user_id, product_id, quantity, added_at)
         SELECT $1, product_id, quantity, added_at
         FROM unnest($2::uuid[], $3::integer[], $4::timestamptz[]) AS t(product_id, quantity, added_at)
         ON CONFLICT (user_id, product_id) DO UPDATE
         SET quantity = least(cart_items.quantity + excluded.quantity, $5), updated_at = now()",
        owner,
        &ids,
        &quantities,
        &added,
        column(Quantity::MAX)?,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// A number of units as the `integer` column holds it (always, for a [`Quantity`]).
fn column(units: u32) -> ApiResult<i32> {
    Ok(i32::try_from(units).map_err(anyhow::Error::from)?)
}

/// A line of a cart, as read.
#[derive(Debug)]
struct ItemRow {
    product_id: Uuid,
    quantity: i32,
}

/// The cart lines of `owner` (product and quantity), in the order they were added.
pub(crate) async fn items(pool: &PgPool, owner: Uuid) -> ApiResult<Vec<(Uuid, u32)>> {
    let rows = sqlx::query_as!(
        ItemRow,
        "SELECT product_id, quantity FROM cart_items WHERE user_id = $1
         ORDER BY added_at, product_id",
        owner
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            let quantity = u32::try_from(row.quantity).map_err(|_| {
                anyhow::anyhow!("stored cart quantity {} is negative", row.quantity)
            })?;
            Ok((row.product_id, quantity))
        })
        .collect()
}
