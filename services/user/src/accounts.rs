//! The `users` table: accounts, their password hashes and roles.

use std::collections::BTreeSet;

use contracts::auth::Role;
use contracts::users::User;
use kit::{ApiError, ApiResult, ResultExt};
use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::PasswordConfig;
use crate::domain::{DisplayName, Email, Fields, Password};
use crate::passwords::Passwords;

/// A role as the `roles` column stores it: its wire name as text. Reading a name this list
/// lacks is a decoding error, not a role silently dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub(crate) enum StoredRole {
    Customer,
    Admin,
}

impl From<StoredRole> for Role {
    fn from(role: StoredRole) -> Self {
        match role {
            StoredRole::Customer => Self::Customer,
            StoredRole::Admin => Self::Admin,
        }
    }
}

impl From<Role> for StoredRole {
    fn from(role: Role) -> Self {
        match role {
            Role::Customer => Self::Customer,
            Role::Admin => Self::Admin,
        }
    }
}

/// An account as stored.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) display_name: String,
    pub(crate) password_hash: String,
    roles: Vec<StoredRole>,
    pub(crate) created_at: OffsetDateTime,
}

impl Account {
    /// The account's roles.
    pub(crate) fn roles(&self) -> Vec<Role> {
        self.roles.iter().copied().map(Role::from).collect()
    }

    /// The account as others see it.
    pub(crate) fn to_user(&self) -> User {
        User {
            id: self.id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            roles: self.roles(),
            created_at: self.created_at,
        }
    }
}

/// Roles deduplicated and in their canonical order (customer before admin).
pub(crate) fn canonical_roles(roles: &[Role]) -> Vec<Role> {
    roles
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The roles as the column stores them: deduplicated, in canonical order.
fn stored_roles(roles: &[Role]) -> Vec<StoredRole> {
    canonical_roles(roles)
        .into_iter()
        .map(StoredRole::from)
        .collect()
}

/// Creates an account; an email already in use is a 409 naming `email`.
pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    email: &Email,
    display_name: &DisplayName,
    password_hash: &str,
    roles: &[Role],
) -> ApiResult<Account> {
    sqlx::query_as!(
        Account,
        r#"INSERT INTO users (id, email, display_name, password_hash, roles)
           VALUES ($1, $2, $3, $4, $5)
           RETURNING id, email, display_name, password_hash,
                     roles AS "roles: Vec<StoredRole>", created_at"#,
        Uuid::now_v7(),
        email.as_str(),
        display_name.as_str(),
        password_hash,
        stored_roles(roles) as _,
    )
    .fetch_one(db)
    .await
    .on_constraint("users_email_key", |_| ApiError::Conflict {
        detail: "An account with this email already exists.".to_owned(),
        errors: vec![kit::error::field_error(
            "email",
            "taken",
            "This email is already registered; sign in instead.",
        )],
    })
}

/// The account with `email`, if any.
pub(crate) async fn find_by_email(
    db: impl PgExecutor<'_>,
    email: &Email,
) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as!(
        Account,
        r#"SELECT id, email, display_name, password_hash,
                  roles AS "roles: Vec<StoredRole>", created_at
           FROM users WHERE email = $1"#,
        email.as_str()
    )
    .fetch_optional(db)
    .await
}

/// The account with `id`, if any.
pub(crate) async fn find(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as!(
        Account,
        r#"SELECT id, email, display_name, password_hash,
                  roles AS "roles: Vec<StoredRole>", created_at
           FROM users WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// The account with `id`, locked until the transaction ends, so changes to it and to what it
/// owns are serialised.
pub(crate) async fn lock(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as!(
        Account,
        r#"SELECT id, email, display_name, password_hash,
                  roles AS "roles: Vec<StoredRole>", created_at
           FROM users WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// Changes the display name and/or password hash; absent values stay.
pub(crate) async fn update_profile(
    db: impl PgExecutor<'_>,
    id: Uuid,
    display_name: Option<&DisplayName>,
    password_hash: Option<&str>,
) -> Result<Account, sqlx::Error> {
    sqlx::query_as!(
        Account,
        r#"UPDATE users
           SET display_name = COALESCE($2, display_name),
               password_hash = COALESCE($3, password_hash),
               updated_at = now()
           WHERE id = $1
           RETURNING id, email, display_name, password_hash,
                     roles AS "roles: Vec<StoredRole>", created_at"#,
        id,
        display_name.map(DisplayName::as_str),
        password_hash
    )
    .fetch_one(db)
    .await
}

/// Replaces the roles; `None` when there is no such account.
pub(crate) async fn set_roles(
    db: impl PgExecutor<'_>,
    id: Uuid,
    roles: &[Role],
) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as!(
        Account,
        r#"UPDATE users SET roles = $2, updated_at = now() WHERE id = $1
           RETURNING id, email, display_name, password_hash,
                     roles AS "roles: Vec<StoredRole>", created_at"#,
        id,
        stored_roles(roles) as _
    )
    .fetch_optional(db)
    .await
}

/// The position after which a page of the admin's list starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct After {
    pub(crate) email: String,
    pub(crate) id: Uuid,
}

/// Up to `limit` accounts ordered by email, after `after`, whose email contains `filter`.
pub(crate) async fn list(
    db: impl PgExecutor<'_>,
    filter: Option<&str>,
    after: Option<&After>,
    limit: i64,
) -> Result<Vec<Account>, sqlx::Error> {
    let pattern = filter.map(|text| format!("%{}%", escape_like(text)));
    sqlx::query_as!(
        Account,
        r#"SELECT id, email, display_name, password_hash,
                  roles AS "roles: Vec<StoredRole>", created_at
           FROM users
           WHERE ($1::text IS NULL OR email LIKE $1 ESCAPE '\')
             AND ($2::text IS NULL OR (email, id) > ($2, $3))
           ORDER BY email, id
           LIMIT $4"#,
        pattern,
        after.map(|a| a.email.as_str()),
        after.map(|a| a.id),
        limit
    )
    .fetch_all(db)
    .await
}

/// `text` with LIKE's wildcards taken literally.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// What `create-admin` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminBootstrap {
    /// A new account was created with the admin role.
    Created(Uuid),
    /// The account existed and was given the admin role; its password is unchanged.
    Promoted(Uuid),
    /// The account was already an admin; nothing changed.
    AlreadyAdmin(Uuid),
}

/// Creates the first admin, or promotes an existing account (its password is left as it is).
/// Running it again changes nothing, so it is safe as a deployment hook.
pub async fn create_admin(
    db: &PgPool,
    passwords: &PasswordConfig,
    email: &str,
    password: &str,
    display_name: &str,
) -> anyhow::Result<AdminBootstrap> {
    let mut fields = Fields::default();
    let email = fields.check("email", Email::parse(email));
    let password = fields.check("password", Password::parse(password, email.as_ref()));
    let display_name = fields.check("display_name", DisplayName::parse(display_name));
    let (Some(email), Some(password), Some(display_name)) = (email, password, display_name) else {
        let problems = fields
            .into_errors()
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        anyhow::bail!("invalid admin: {problems}");
    };
    if let Some(account) = find_by_email(db, &email).await? {
        return promote(db, &account).await;
    }
    let hash = Passwords::new(passwords)
        .await?
        .hash(password.expose())
        .await?;
    match insert(
        db,
        &email,
        &display_name,
        &hash,
        &[Role::Customer, Role::Admin],
    )
    .await
    {
        Ok(account) => Ok(AdminBootstrap::Created(account.id)),
        // Registered between the lookup and the insert: promote that account instead.
        Err(ApiError::Conflict { .. }) => {
            let account = find_by_email(db, &email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the account for {} vanished", email.as_str()))?;
            promote(db, &account).await
        }
        Err(error) => Err(anyhow::anyhow!("creating the admin failed: {error}")),
    }
}

/// Adds the admin role to `account`'s roles.
async fn promote(db: &PgPool, account: &Account) -> anyhow::Result<AdminBootstrap> {
    let mut roles = account.roles();
    if roles.contains(&Role::Admin) {
        return Ok(AdminBootstrap::AlreadyAdmin(account.id));
    }
    roles.push(Role::Admin);
    set_roles(db, account.id, &roles).await?;
    Ok(AdminBootstrap::Promoted(account.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(escape_like("a_b%c\\d"), r"a\_b\%c\\d");
        assert_eq!(escape_like("plain"), "plain");
    }

    #[test]
    fn roles_are_deduplicated_in_canonical_order() {
        assert_eq!(
            canonical_roles(&[Role::Admin, Role::Customer, Role::Admin]),
            vec![Role::Customer, Role::Admin]
        );
        assert_eq!(stored_roles(&[Role::Admin]), vec![StoredRole::Admin]);
    }
}
