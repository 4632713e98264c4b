//! Access tokens as the user service signs them, for tests of the services that verify them.

use contracts::auth::{Claims, Role};
use tokens::Signer;
use uuid::Uuid;

/// The issuer and audience the services expect by default.
pub const ISSUER: &str = "ecommerce";
/// See [`ISSUER`].
pub const AUDIENCE: &str = "ecommerce-api";

/// An access token for `sub` with `roles`, signed by `signer`, that expires `lifetime_secs` from
/// now (a negative lifetime gives one that expired that long ago).
pub fn access_token(signer: &Signer, sub: Uuid, roles: &[Role], lifetime_secs: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    signer
        .sign(&Claims {
            sub,
            roles: roles.to_vec(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now.min(now + lifetime_secs),
            exp: now + lifetime_secs,
            jti: Uuid::new_v4().to_string(),
        })
        .expect("sign an access token")
}
