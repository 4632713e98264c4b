//! The JWKS document (RFC 7517) with Ed25519 public keys in the OKP form of RFC 8037.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// A JSON Web Key Set: `{"keys": [...]}`, served at `/.well-known/jwks.json`.
///
/// Readers ignore members they do not know, and [`Verifier`](crate::Verifier) skips keys of
/// other types, as RFC 7517 §5 asks, so the issuer can add keys of another kind later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys; the first one is the key that signs new tokens.
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The key with `kid`, if the set has it.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|key| key.kid.as_deref() == Some(kid))
    }
}

/// One public key of a [`Jwks`].
///
/// The members other than `kty` are optional in RFC 7517, so they are `Option`s here; the keys
/// this crate writes always carry all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// The key type: `"OKP"` (octet key pair) for Ed25519.
    pub kty: String,
    /// The curve: `"Ed25519"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// The 32-byte public key, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// The key id, matched against a token's `kid` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The algorithm the key is used with: `"EdDSA"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// What the key is for: `"sig"` (signatures).
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl Jwk {
    /// The JWK of an Ed25519 public key.
    pub fn ed25519(kid: impl Into<String>, public_key: &[u8; 32]) -> Self {
        Self {
            kty: "OKP".to_owned(),
            crv: Some("Ed25519".to_owned()),
            x: Some(URL_SAFE_NO_PAD.encode(public_key)),
            kid: Some(kid.into()),
            alg: Some(crate::ALGORITHM.to_owned()),
            use_: Some("sig".to_owned()),
        }
    }

    /// Whether this is an Ed25519 key (others are skipped, not rejected).
    pub fn is_ed25519(&self) -> bool {
        self.kty == "OKP" && self.crv.as_deref() == Some("Ed25519")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ed25519_key_has_the_rfc_8037_shape() {
        let jwk = Jwk::ed25519("2024-05", &[0xfb; 32]);
        assert_eq!(
            serde_json::to_value(Jwks { keys: vec![jwk] }).expect("serialize"),
            json!({"keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s",
                "kid": "2024-05",
                "alg": "EdDSA",
                "use": "sig"
            }]})
        );
    }

    #[test]
    fn readers_accept_foreign_keys_and_members() {
        let jwks: Jwks = serde_json::from_value(json!({"keys": [
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa"},
            {"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "ed", "x5t": "ignored"}
        ]}))
        .expect("deserialize");
        assert!(!jwks.keys[0].is_ed25519());
        assert!(jwks.keys[1].is_ed25519());
        assert_eq!(jwks.find("ed").and_then(|k| k.x.as_deref()), Some("AA"));
        assert!(jwks.find("missing").is_none());
    }
}
