//! Authentication: register, login, refresh, logout, and the claims inside an access token.
//!
//! Passwords and tokens are redacted in `Debug`, so a request can be logged safely.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::users::User;

/// A role grants a set of permissions; a user holds one or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Shops: a cart, orders and a profile of one's own.
    Customer,
    /// Runs the shop: catalog, stock, every order and user.
    Admin,
}

impl Role {
    /// The name used on the wire and in tokens: `"customer"`, `"admin"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Admin => "admin",
        }
    }

    /// The role named `name` on the wire, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Customer, Self::Admin]
            .into_iter()
            .find(|role| role.as_str() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /api/v1/auth/register`: create an account and sign in. Answered by [`AuthResponse`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    /// The sign-in email; unique across users.
    pub email: String,
    /// The password in clear text (only over TLS); the user service stores an argon2id hash.
    pub password: String,
    /// The name shown in the shop.
    pub display_name: String,
}

impl fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("email", &self.email)
            .field("password", &format_args!("[redacted]"))
            .field("display_name", &self.display_name)
            .finish()
    }
}

/// `POST /api/v1/auth/login`: exchange credentials for tokens. Answered by [`AuthResponse`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// The sign-in email.
    pub email: String,
    /// The password in clear text (only over TLS).
    pub password: String,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .field("password", &format_args!("[redacted]"))
            .finish()
    }
}

/// `POST /api/v1/auth/refresh`: trade a refresh token for new tokens. Answered by [`TokenResponse`].
///
/// Refresh tokens rotate: the one sent is spent, and sending it again revokes its whole family.
/// A browser sends `{}`: its refresh token travels in the `refresh_token` cookie (HttpOnly, so
/// no script can read it), and the new one comes back in that cookie, not in the body.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    /// The refresh token from the last [`AuthResponse`] or [`TokenResponse`]; leave it out to
    /// use the `refresh_token` cookie instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &format_args!("[redacted]"))
            .finish()
    }
}

/// `POST /api/v1/auth/logout`: revoke a refresh token. Answered by `204 No Content`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogoutRequest {
    /// The refresh token to revoke; leave it out to revoke the one in the `refresh_token` cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl fmt::Debug for LogoutRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogoutRequest")
            .field("refresh_token", &format_args!("[redacted]"))
            .finish()
    }
}

/// The token scheme, always `"Bearer"`: send `Authorization: Bearer <access_token>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TokenType {
    /// RFC 6750 bearer token.
    #[default]
    Bearer,
}

/// The answer of register and login: the user and a fresh pair of tokens.
///
/// Exactly `{user, access_token, refresh_token, token_type: "Bearer", expires_in}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthResponse {
    /// The signed-in user.
    pub user: User,
    /// A short-lived JWT ([`Claims`]) for the `Authorization` header.
    pub access_token: String,
    /// A long-lived, single-use token for [`RefreshRequest`].
    pub refresh_token: String,
    /// Always [`TokenType::Bearer`].
    pub token_type: TokenType,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl fmt::Debug for AuthResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthResponse")
            .field("user", &self.user)
            .field("access_token", &format_args!("[redacted]"))
            .field("refresh_token", &format_args!("[redacted]"))
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The answer of refresh: a new pair of tokens (the user is unchanged, so it is not repeated).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// A short-lived JWT ([`Claims`]) for the `Authorization` header.
    pub access_token: String,
    /// The next refresh token; the one just sent is spent. Absent when the spent one came in
    /// the `refresh_token` cookie: the next one is in the new cookie, out of scripts' reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Always [`TokenType::Bearer`].
    pub token_type: TokenType,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &format_args!("[redacted]"))
            .field("refresh_token", &format_args!("[redacted]"))
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The claims of an access token (a JWT signed by the user service, verified by the gateway).
///
/// Unknown claims are ignored, so the issuer may add standard ones (`nbf`) without a release here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// The user's roles when the token was issued.
    pub roles: Vec<Role>,
    /// The issuer; verifiers check it against their configuration.
    pub iss: String,
    /// The audience; verifiers check it against their configuration.
    pub aud: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, in seconds since the Unix epoch.
    pub exp: i64,
    /// A unique token id, for logs and revocation lists.
    pub jti: String,
}

impl Claims {
    /// Whether the token grants `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn role_names_round_trip_and_unknown_names_are_none() {
        for role in [Role::Customer, Role::Admin] {
            assert_eq!(Role::from_name(role.as_str()), Some(role));
            assert_eq!(json!(role), json!(role.as_str()));
        }
        assert_eq!(Role::from_name("Admin"), None);
        assert_eq!(Role::from_name(""), None);
    }

    fn user() -> User {
        User {
            id: Uuid::from_u128(1),
            email: "ada@example.com".to_owned(),
            display_name: "Ada".to_owned(),
            roles: vec![Role::Customer],
            created_at: datetime!(2024-05-01 12:00:00 UTC),
        }
    }

    #[test]
    fn roles_are_lowercase_strings() {
        assert_eq!(
            serde_json::to_value([Role::Customer, Role::Admin]).expect("serialize"),
            json!(["customer", "admin"])
        );
        assert_eq!(Role::Admin.to_string(), "admin");
        assert!(serde_json::from_value::<Role>(json!("Admin")).is_err());
        assert!(serde_json::from_value::<Role>(json!("root")).is_err());
    }

    #[test]
    fn auth_response_has_exactly_the_documented_shape() {
        let response = AuthResponse {
            user: user(),
            access_token: "header.payload.signature".to_owned(),
            refresh_token: "r1".to_owned(),
            token_type: TokenType::Bearer,
            expires_in: 900,
        };
        let value = serde_json::to_value(&response).expect("serialize");
        assert_eq!(
            value,
            json!({
                "user": {
                    "id": "00000000-0000-0000-0000-000000000001",
                    "email": "ada@example.com",
                    "display_name": "Ada",
                    "roles": ["customer"],
                    "created_at": "2024-05-01T12:00:00Z"
                },
                "access_token": "header.payload.signature",
                "refresh_token": "r1",
                "token_type": "Bearer",
                "expires_in": 900
            })
        );
        assert_eq!(
            serde_json::from_value::<AuthResponse>(value).expect("deserialize"),
            response
        );
    }

    #[test]
    fn token_type_is_only_bearer() {
        assert_eq!(
            serde_json::to_value(TokenType::default()).expect("serialize"),
            json!("Bearer")
        );
        assert!(serde_json::from_value::<TokenType>(json!("bearer")).is_err());
        assert!(serde_json::from_value::<TokenType>(json!("MAC")).is_err());
    }

    #[test]
    fn requests_reject_unknown_fields() {
        let login: LoginRequest =
            serde_json::from_value(json!({"email": "a@b.c", "password": "pw"}))
                .expect("deserialize");
        assert_eq!(login.email, "a@b.c");
        assert!(
            serde_json::from_value::<LoginRequest>(
                json!({"email": "a@b.c", "password": "pw", "remember": true})
            )
            .is_err()
        );
        assert!(
            serde_json::from_value::<RegisterRequest>(
                json!({"email": "a@b.c", "password": "pw", "displayName": "A"})
            )
            .is_err()
        );
        assert!(serde_json::from_value::<RefreshRequest>(json!({"token": "r"})).is_err());
        assert!(
            serde_json::from_value::<LogoutRequest>(json!({"refresh_token": "r", "all": true}))
                .is_err()
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let register = RegisterRequest {
            email: "a@b.c".to_owned(),
            password: "hunter2-secret".to_owned(),
            display_name: "A".to_owned(),
        };
        let login = LoginRequest {
            email: "a@b.c".to_owned(),
            password: "hunter2-secret".to_owned(),
        };
        let refresh = RefreshRequest {
            refresh_token: Some("hunter2-secret".to_owned()),
        };
        let logout = LogoutRequest {
            refresh_token: Some("hunter2-secret".to_owned()),
        };
        let auth = AuthResponse {
            user: user(),
            access_token: "hunter2-secret".to_owned(),
            refresh_token: "hunter2-secret".to_owned(),
            token_type: TokenType::Bearer,
            expires_in: 900,
        };
        let tokens = TokenResponse {
            access_token: "hunter2-secret".to_owned(),
            refresh_token: Some("hunter2-secret".to_owned()),
            token_type: TokenType::Bearer,
            expires_in: 900,
        };
        for debug in [
            format!("{register:?}"),
            format!("{login:?}"),
            format!("{refresh:?}"),
            format!("{logout:?}"),
            format!("{auth:?}"),
            format!("{tokens:?}"),
        ] {
            assert!(!debug.contains("hunter2"), "{debug}");
            assert!(debug.contains("[redacted]"), "{debug}");
        }
        assert!(format!("{login:?}").contains("a@b.c"));
    }

    #[test]
    fn claims_round_trip_and_ignore_extra_claims() {
        let claims = Claims {
            sub: Uuid::from_u128(1),
            roles: vec![Role::Customer, Role::Admin],
            iss: "ecommerce-user".to_owned(),
            aud: "ecommerce".to_owned(),
            iat: 1_714_564_800,
            exp: 1_714_565_700,
            jti: "j1".to_owned(),
        };
        let mut value = serde_json::to_value(&claims).expect("serialize");
        assert_eq!(value["sub"], json!("00000000-0000-0000-0000-000000000001"));
        assert_eq!(value["roles"], json!(["customer", "admin"]));
        value["nbf"] = json!(1_714_564_800);
        assert_eq!(
            serde_json::from_value::<Claims>(value).expect("deserialize"),
            claims
        );
        assert!(claims.has_role(Role::Admin));
        assert!(
            !Claims {
                roles: vec![Role::Customer],
                ..claims
            }
            .has_role(Role::Admin)
        );
    }
}
