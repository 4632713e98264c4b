//! The SQL of the `categories` table.

use contracts::catalog::{Category, NewCategory, UpdateCategory};
use kit::{ApiResult, ResultExt};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::catalog::taken;

/// Every live category, by name.
pub(crate) async fn all(db: &PgPool) -> Result<Vec<Category>, sqlx::Error> {
    sqlx::query_as!(
        Category,
        "SELECT id, slug, name, parent_id, version FROM categories \
         WHERE deleted_at IS NULL ORDER BY name, id"
    )
    .fetch_all(db)
    .await
}

/// Makes category writes take turns. A move is checked against the whole tree, and two moves
/// that are each fine alone can close a cycle together; a deletion checks for subcategories
/// that a concurrent create could add. `SHARE ROW EXCLUSIVE` excludes itself and every other
/// write to the table, but not reads nor the row locks product writes take. Category edits
/// are rare admin actions, so waiting in line costs nothing.
pub(crate) async fn lock_tree(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("LOCK TABLE categories IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Whether `id` is a live category, holding it so until the transaction ends: `FOR SHARE`
/// makes a concurrent deletion wait for this transaction, and a deletion that came first
/// makes this answer `false`.
pub(crate) async fn lock_live(tx: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let found = sqlx::query_scalar!(
        "SELECT id FROM categories WHERE id = $1 AND deleted_at IS NULL FOR SHARE",
        id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(found.is_some())
}

/// Adds `new` as a category.
pub(crate) async fn insert(tx: &mut PgConnection, new: &NewCategory) -> ApiResult<Category> {
    sqlx::query_as!(
        Category,
        "INSERT INTO categories (id, slug, name, parent_id) VALUES ($1, $2, $3, $4) \
         RETURNING id, slug, name, parent_id, version",
        Uuid::now_v7(),
        new.slug,
        new.name,
        new.parent_id,
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("categories_slug_key", |_| taken("slug", "category"))
}

/// Adds category `id` unless one with its id or slug exists or its parent is not live (the
/// demo catalog's re-runs); returns whether it did.
pub(crate) async fn insert_if_absent(
    tx: &mut PgConnection,
    id: Uuid,
    slug: &str,
    name: &str,
    parent: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    let added = sqlx::query!(
        "INSERT INTO categories (id, slug, name, parent_id) \
         SELECT $1, $2, $3, $4 \
         WHERE $4::uuid IS NULL \
            OR EXISTS (SELECT 1 FROM categories WHERE id = $4 AND deleted_at IS NULL) \
         ON CONFLICT DO NOTHING",
        id,
        slug,
        name,
        parent,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(added == 1)
}

/// The version of the live category `id`.
pub(crate) async fn version(tx: &mut PgConnection, id: Uuid) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT version FROM categories WHERE id = $1 AND deleted_at IS NULL",
        id,
    )
    .fetch_optional(&mut *tx)
    .await
}

/// The version of the live category `id`, its row locked `FOR UPDATE` until the transaction
/// ends.
pub(crate) async fn lock_version(
    tx: &mut PgConnection,
    id: Uuid,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT version FROM categories WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
        id,
    )
    .fetch_optional(&mut *tx)
    .await
}

/// Applies the fields `update` holds to category `id` and counts a new version.
pub(crate) async fn update(
    tx: &mut PgConnection,
    id: Uuid,
    update: &UpdateCategory,
) -> ApiResult<Category> {
    sqlx::query_as!(
        Category,
        "UPDATE categories SET slug = COALESCE($2, slug), name = COALESCE($3, name), \
           parent_id = CASE WHEN $4 THEN $5 ELSE parent_id END, version = version + 1 \
         WHERE id = $1 RETURNING id, slug, name, parent_id, version",
        id,
        update.slug,
        update.name,
        update.parent_id.is_some(),
        update.parent_id.flatten(),
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("categories_slug_key", |_| taken("slug", "category"))
}

/// Where a would-be parent stands: whether it is live (`None` when there is no such
/// category), and whether it lies below the category being moved (or is it).
#[derive(Debug)]
pub(crate) struct ParentRow {
    pub(crate) live: Option<bool>,
    pub(crate) below: bool,
}

/// How `parent` stands towards `id`: the parent's ancestors are walked up to the root.
pub(crate) async fn parent(
    tx: &mut PgConnection,
    id: Uuid,
    parent: Uuid,
) -> Result<ParentRow, sqlx::Error> {
    // UNION (not ALL) stops at a repeated row.
    sqlx::query_as!(
        ParentRow,
        r#"WITH RECURSIVE up AS (
             SELECT id, parent_id FROM categories WHERE id = $1
             UNION
             SELECT c.id, c.parent_id FROM categories c JOIN up ON c.id = up.parent_id
           ) SELECT (SELECT deleted_at IS NULL FROM categories WHERE id = $1) AS live,
                    EXISTS (SELECT 1 FROM up WHERE id = $2) AS "below!""#,
        parent,
        id,
    )
    .fetch_one(&mut *tx)
    .await
}

/// How many live categories sit right below `id`.
pub(crate) async fn count_children(tx: &mut PgConnection, id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM categories WHERE parent_id = $1 AND deleted_at IS NULL"#,
        id,
    )
    .fetch_one(&mut *tx)
    .await
}

/// Marks category `id` deleted, which frees its slug.
pub(crate) async fn delete(tx: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE categories SET deleted_at = now(), version = version + 1 WHERE id = $1",
        id,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The ids of the live category with `slug` and of all live categories below it; empty when
/// there is no such category.
pub(crate) async fn subtree(db: &mut PgConnection, slug: &str) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"WITH RECURSIVE tree AS (
             SELECT id FROM categories WHERE slug = $1 AND deleted_at IS NULL
             UNION ALL
             SELECT c.id FROM categories c JOIN tree t ON c.parent_id = t.id
             WHERE c.deleted_at IS NULL
           ) SELECT id AS "id!" FROM tree"#,
        slug,
    )
    .fetch_all(db)
    .await
}
