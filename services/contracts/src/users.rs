//! Users: the profile (`/api/v1/users/me`), saved addresses, and the admin's user list.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::address::PostalAddress;
use crate::auth::Role;

/// A user account as others see it: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// The user's id (the `sub` of their tokens).
    pub id: Uuid,
    /// The sign-in email.
    pub email: String,
    /// The name shown in the shop.
    pub display_name: String,
    /// The user's roles.
    pub roles: Vec<Role>,
    /// When the account was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `PATCH /api/v1/users/me`: change one's own profile. Absent fields stay as they are.
///
/// Changing the password needs both `current_password` and `new_password`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateProfile {
    /// A new display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The password in use, proving a password change comes from the account's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_password: Option<String>,
    /// The password to change to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_password: Option<String>,
}

impl fmt::Debug for UpdateProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |secret: &Option<String>| secret.as_ref().map(|_| "[redacted]");
        f.debug_struct("UpdateProfile")
            .field("display_name", &self.display_name)
            .field("current_password", &redact(&self.current_password))
            .field("new_password", &redact(&self.new_password))
            .finish()
    }
}

/// A saved postal address of a user, chosen at checkout: its id and the address's fields
/// beside it in one JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Address {
    /// The address's id, passed as `address_id` at checkout.
    pub id: Uuid,
    /// The address itself; checkout ships to it as it is.
    #[serde(flatten)]
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::address::PostalAddress::embedded_schema)
    )]
    pub address: PostalAddress,
}

/// `PATCH /api/v1/users/me/addresses/{id}`: change some fields of a saved address.
///
/// JSON merge patch semantics (RFC 7396): an absent field stays as it is; `null` clears an
/// optional field (`line2`, `region`, `phone`) and is refused for the others, which every
/// address needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateAddress {
    /// Who receives the parcel.
    #[serde(
        default,
        deserialize_with = "crate::patch::required",
        skip_serializing_if = "Option::is_none"
    )]
    pub recipient: Option<String>,
    /// Street and number.
    #[serde(
        default,
        deserialize_with = "crate::patch::required",
        skip_serializing_if = "Option::is_none"
    )]
    pub line1: Option<String>,
    /// Apartment, floor, company; `Some(None)` (`null`) clears it.
    #[serde(
        default,
        deserialize_with = "crate::patch::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub line2: Option<Option<String>>,
    /// City or town.
    #[serde(
        default,
        deserialize_with = "crate::patch::required",
        skip_serializing_if = "Option::is_none"
    )]
    pub city: Option<String>,
    /// Postal or ZIP code.
    #[serde(
        default,
        deserialize_with = "crate::patch::required",
        skip_serializing_if = "Option::is_none"
    )]
    pub postal_code: Option<String>,
    /// State, province or region; `Some(None)` (`null`) clears it.
    #[serde(
        default,
        deserialize_with = "crate::patch::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub region: Option<Option<String>>,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(
        default,
        deserialize_with = "crate::patch::required",
        skip_serializing_if = "Option::is_none"
    )]
    pub country: Option<String>,
    /// A phone number for the carrier; `Some(None)` (`null`) clears it.
    #[serde(
        default,
        deserialize_with = "crate::patch::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub phone: Option<Option<String>>,
}

impl UpdateAddress {
    /// `address` with this patch applied: present fields replace, absent ones stay, `null`
    /// clears an optional one. The result is unchecked, like any [`PostalAddress`].
    pub fn apply(self, address: PostalAddress) -> PostalAddress {
        PostalAddress {
            recipient: self.recipient.unwrap_or(address.recipient),
            line1: self.line1.unwrap_or(address.line1),
            line2: self.line2.unwrap_or(address.line2),
            city: self.city.unwrap_or(address.city),
            postal_code: self.postal_code.unwrap_or(address.postal_code),
            region: self.region.unwrap_or(address.region),
            country: self.country.unwrap_or(address.country),
            phone: self.phone.unwrap_or(address.phone),
        }
    }
}

/// `PATCH /api/v1/admin/users/{id}`: an admin sets a user's roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUpdateUser {
    /// The complete new set of roles (not a delta).
    pub roles: Vec<Role>,
}

/// `GET /api/v1/admin/users?email=&limit=&cursor=`: the admin's user list, answered by a
/// [`Page`](crate::pagination::Page) of [`User`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema, utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct UserQuery {
    /// Only users whose email contains this text (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn user_times_are_rfc3339() {
        let user = User {
            id: Uuid::from_u128(2),
            email: "grace@example.com".to_owned(),
            display_name: "Grace".to_owned(),
            roles: vec![Role::Customer, Role::Admin],
            created_at: datetime!(2024-05-01 12:30:15.5 +02:00),
        };
        let value = serde_json::to_value(&user).expect("serialize");
        assert_eq!(value["created_at"], json!("2024-05-01T12:30:15.5+02:00"));
        assert_eq!(
            serde_json::from_value::<User>(value).expect("deserialize"),
            user
        );
    }

    #[test]
    fn update_profile_fields_are_optional_but_typos_are_rejected() {
        let update: UpdateProfile =
            serde_json::from_value(json!({"display_name": "Ada L."})).expect("deserialize");
        assert_eq!(update.display_name.as_deref(), Some("Ada L."));
        assert_eq!(update.new_password, None);
        assert_eq!(
            serde_json::to_value(&update).expect("serialize"),
            json!({"display_name": "Ada L."})
        );
        assert!(serde_json::from_value::<UpdateProfile>(json!({"password": "x"})).is_err());
    }

    #[test]
    fn update_profile_debug_hides_passwords() {
        let update = UpdateProfile {
            display_name: None,
            current_password: Some("old-secret".to_owned()),
            new_password: Some("new-secret".to_owned()),
        };
        let debug = format!("{update:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
        let empty = format!("{:?}", UpdateProfile::default());
        assert!(empty.contains("new_password: None"), "{empty}");
    }

    fn saved() -> Address {
        Address {
            id: Uuid::from_u128(3),
            address: PostalAddress {
                recipient: "Ada".to_owned(),
                line1: "1 Main St".to_owned(),
                line2: None,
                city: "Springfield".to_owned(),
                postal_code: "12345".to_owned(),
                region: Some("IL".to_owned()),
                country: "US".to_owned(),
                phone: None,
            },
        }
    }

    #[test]
    fn a_saved_address_is_its_id_beside_the_fields() {
        let address = saved();
        let value = serde_json::to_value(&address).expect("serialize");
        assert_eq!(
            value,
            json!({
                "id": Uuid::from_u128(3), "recipient": "Ada", "line1": "1 Main St",
                "city": "Springfield", "postal_code": "12345", "region": "IL", "country": "US"
            })
        );
        assert_eq!(value["line2"], json!(null));
        assert_eq!(
            serde_json::from_value::<Address>(value).expect("deserialize"),
            address
        );
    }

    #[test]
    fn a_saved_address_is_a_new_address_without_its_id() {
        let expected = json!({
            "recipient": "Ada", "line1": "1 Main St", "line2": "Flat 2", "city": "Springfield",
            "postal_code": "12345", "region": "IL", "country": "US", "phone": "+1 217 555 0100"
        });
        let mut json = expected.clone();
        json["id"] = json!(Uuid::from_u128(3));
        let saved: Address = serde_json::from_value(json).expect("deserialize");
        assert_eq!(
            serde_json::to_value(saved.address).expect("serialize"),
            expected
        );
    }

    #[test]
    fn update_address_is_a_merge_patch() {
        let patch: UpdateAddress =
            serde_json::from_value(json!({"city": "Paris", "line2": null, "phone": "+33 1"}))
                .expect("deserialize");
        assert_eq!(patch.city.as_deref(), Some("Paris"));
        assert_eq!(patch.line2, Some(None), "null clears");
        assert_eq!(patch.phone, Some(Some("+33 1".to_owned())));
        assert_eq!(patch.region, None, "absent stays");
        assert_eq!(patch.recipient, None);
        assert_eq!(
            serde_json::to_value(&patch).expect("serialize"),
            json!({"city": "Paris", "line2": null, "phone": "+33 1"})
        );
        assert_eq!(
            serde_json::from_value::<UpdateAddress>(json!({})).expect("empty patch"),
            UpdateAddress::default()
        );
        assert!(serde_json::from_value::<UpdateAddress>(json!({"city": null})).is_err());
        assert!(serde_json::from_value::<UpdateAddress>(json!({"zip": "1"})).is_err());
    }

    #[test]
    fn a_patch_replaces_present_fields_and_clears_nulls() {
        let current = PostalAddress {
            line2: Some("Flat 2".to_owned()),
            phone: Some("+1 217 555 0100".to_owned()),
            ..saved().address
        };
        let patch: UpdateAddress =
            serde_json::from_value(json!({"city": "Paris", "line2": null, "country": "FR"}))
                .expect("deserialize");
        let patched = patch.apply(current.clone());
        assert_eq!(
            patched,
            PostalAddress {
                city: "Paris".to_owned(),
                line2: None,
                country: "FR".to_owned(),
                ..current.clone()
            }
        );
        assert_eq!(UpdateAddress::default().apply(current.clone()), current);
    }

    #[test]
    fn admin_update_and_query() {
        let update: AdminUpdateUser =
            serde_json::from_value(json!({"roles": ["admin", "customer"]})).expect("deserialize");
        assert_eq!(update.roles, vec![Role::Admin, Role::Customer]);
        assert!(serde_json::from_value::<AdminUpdateUser>(json!({"roles": ["root"]})).is_err());
        let query: UserQuery =
            serde_json::from_value(json!({"email": "ada", "limit": 10})).expect("deserialize");
        assert_eq!(query.email.as_deref(), Some("ada"));
        assert_eq!(query.cursor, None);
    }
}
