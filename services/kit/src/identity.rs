//! The caller's identity, as the gateway vouches for it.
//!
//! The gateway verifies the access token, drops every request header whose name starts with
//! `x-user-` (whatever follows, in any case), and sets `x-user-id` and `x-user-roles` for the
//! upstream. Services therefore read identity from those headers and never parse tokens
//! themselves; the mesh (mTLS + AuthorizationPolicy) ensures only the gateway can reach them.
//! The whole `x-user-` prefix is the gateway's: a header added under it later cannot carry a
//! caller's claim through, since the gateway never forwards one it did not set.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use contracts::auth::Role;
use uuid::Uuid;

use crate::error::ApiError;

/// The header carrying the authenticated user's id.
pub const USER_ID_HEADER: &str = "x-user-id";
/// The header carrying the user's roles, comma-separated.
pub const USER_ROLES_HEADER: &str = "x-user-roles";

/// An authenticated caller. Extracting it from a request without identity headers is a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's id (the token's `sub`).
    pub user_id: Uuid,
    /// The user's roles.
    pub roles: Vec<Role>,
}

impl Identity {
    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The header value listing `roles`.
    pub fn roles_header(roles: &[Role]) -> String {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn from_parts(parts: &Parts) -> Result<Self, ApiError> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let unauthorized = || ApiError::Unauthorized("Sign in to continue.".to_owned());
        let user_id = header(USER_ID_HEADER)
            .and_then(|v| v.parse().ok())
            .ok_or_else(unauthorized)?;
        let roles = header(USER_ROLES_HEADER)
            .unwrap_or_default()
            .split(',')
            .filter_map(|r| Role::from_name(r.trim()))
            .collect();
        Ok(Self { user_id, roles })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Self::from_parts(parts)
    }
}

/// An authenticated caller holding the admin role; 401 without identity, 403 without the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let identity = Identity::from_parts(parts)?;
        if identity.has_role(Role::Admin) {
            Ok(Self(identity))
        } else {
            Err(ApiError::Forbidden("This needs the admin role.".to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::builder();
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.body(()).expect("request").into_parts().0
    }

    #[tokio::test]
    async fn reads_the_gateway_headers() {
        let id = Uuid::new_v4();
        let mut parts = parts(&[
            (USER_ID_HEADER, &id.to_string()),
            (USER_ROLES_HEADER, "customer, admin"),
        ]);
        let identity = Identity::from_request_parts(&mut parts, &())
            .await
            .expect("identity");
        assert_eq!(identity.user_id, id);
        assert_eq!(identity.roles, vec![Role::Customer, Role::Admin]);
        assert!(Admin::from_request_parts(&mut parts, &()).await.is_ok());
    }

    #[tokio::test]
    async fn missing_or_malformed_id_is_401() {
        for headers in [vec![], vec![(USER_ID_HEADER, "42")]] {
            let mut parts = parts(&headers);
            let error = Identity::from_request_parts(&mut parts, &())
                .await
                .expect_err("401");
            assert_eq!(error.status(), 401);
        }
    }

    #[tokio::test]
    async fn customer_is_kept_out_of_admin() {
        let id = Uuid::new_v4().to_string();
        let mut parts = parts(&[(USER_ID_HEADER, &id), (USER_ROLES_HEADER, "customer")]);
        let error = Admin::from_request_parts(&mut parts, &())
            .await
            .expect_err("403");
        assert_eq!(error.status(), 403);
    }

    #[test]
    fn roles_header_round_trips() {
        assert_eq!(
            Identity::roles_header(&[Role::Customer, Role::Admin]),
            "customer,admin"
        );
    }
}
