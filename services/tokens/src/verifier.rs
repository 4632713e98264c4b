//! Verifying access tokens against a JWKS document.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use contracts::auth::Claims;
use ed25519_dalek::VerifyingKey;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::jwks::Jwks;

/// How far `exp` may lie in the past before a token counts as expired, to absorb clock skew
/// between the issuer and the verifiers.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The longest token accepted; ours are a few hundred bytes, so anything longer is refused
/// before any decoding work.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// A JWKS document that cannot be used to verify tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    /// The set has no Ed25519 signing key.
    #[error("the key set has no Ed25519 signature key")]
    NoKeys,
    /// An Ed25519 key has no `kid`, so tokens could not name it.
    #[error("an Ed25519 key has no kid")]
    MissingKeyId,
    /// Two keys share a `kid`.
    #[error("the kid {0:?} appears twice")]
    DuplicateKeyId(String),
    /// An Ed25519 key is malformed: `x` is not 32 bytes of base64url naming a curve point, or
    /// `alg` is not EdDSA.
    #[error("the key {kid:?} is invalid: {reason}")]
    InvalidKey {
        /// The key's id.
        kid: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why a token was refused. Every variant means "not authenticated"; the detail is for logs
/// and metrics, never for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not three base64url parts, undecodable JSON, or longer than [`MAX_TOKEN_LEN`].
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// The header names an algorithm other than EdDSA (including `none` and `HS256`), or
    /// critical extensions.
    #[error("the token's algorithm {0:?} is not accepted")]
    Algorithm(String),
    /// The header names no key.
    #[error("the token names no key id")]
    MissingKeyId,
    /// The header names a key that is not in the key set (rotated out, or forged).
    #[error("the key {0:?} is not in the key set")]
    UnknownKey(String),
    /// The signature does not match the header and claims.
    #[error("the signature is invalid")]
    Signature,
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` lies in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is not the expected issuer.
    #[error("the token comes from another issuer")]
    Issuer,
    /// `aud` is not the expected audience.
    #[error("the token is meant for another audience")]
    Audience,
    /// A required claim is missing or has the wrong type.
    #[error("the token's claims are invalid: {0}")]
    Claims(String),
}

/// The header members the verifier looks at before handing the token to jsonwebtoken.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

/// Verifies access tokens with the keys of one JWKS document, for one issuer and audience.
///
/// Build it from the document the user service publishes; rebuild it when that document changes
/// (a token naming an unknown `kid` is the cue to fetch it again).
#[derive(Clone)]
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<_> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("Verifier")
            .field("kids", &kids)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .field("leeway", &self.validation.leeway)
            .finish()
    }
}

impl Verifier {
    /// A verifier accepting tokens signed by any Ed25519 key of `jwks` (keys of other types are
    /// skipped), issued by `issuer` for `audience`, with [`DEFAULT_LEEWAY`].
    pub fn new(jwks: &Jwks, issuer: &str, audience: &str) -> Result<Self, KeySetError> {
        let mut keys = HashMap::new();
        for jwk in jwks.keys.iter().filter(|k| k.is_ed25519()) {
            if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let kid = jwk.kid.clone().ok_or(KeySetError::MissingKeyId)?;
            let invalid = |reason: &str| KeySetError::InvalidKey {
                kid: kid.clone(),
                reason: reason.to_owned(),
            };
            if jwk
                .alg
                .as_deref()
                .is_some_and(|alg| alg != crate::ALGORITHM)
            {
                return Err(invalid("alg must be EdDSA"));
            }
            let x = jwk.x.as_deref().ok_or_else(|| invalid("x is missing"))?;
            // Checked here because jsonwebtoken assumes 32 bytes and would panic on fewer.
            let bytes: [u8; 32] = URL_SAFE_NO_PAD
                .decode(x)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| invalid("x must be 32 bytes of base64url"))?;
            VerifyingKey::from_bytes(&bytes).map_err(|_| invalid("x is not a curve point"))?;
            let key = DecodingKey::from_ed_components(x)
                .map_err(|e| invalid(&format!("unreadable x: {e}")))?;
            if keys.insert(kid.clone(), key).is_some() {
                return Err(KeySetError::DuplicateKeyId(kid));
            }
        }
        if keys.is_empty() {
            return Err(KeySetError::NoKeys);
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = DEFAULT_LEEWAY.as_secs();
        Ok(Self { keys, validation })
    }

    /// The same verifier with another clock-skew allowance.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.validation.leeway = leeway.as_secs();
        self
    }

    /// The key ids this verifier accepts.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The claims of `token` if it is an EdDSA JWT signed by one of the keys, unexpired, and
    /// issued by the expected issuer for the expected audience.
    pub fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::Malformed);
        }
        let header = raw_header(token)?;
        // Pinned before any key is looked at: `none`, HS256 (keyed with the public key) and every
        // other algorithm stop here.
        if header.alg != crate::ALGORITHM {
            return Err(VerifyError::Algorithm(header.alg));
        }
        // No extension is understood, so RFC 7515 §4.1.11 requires refusing any `crit`.
        if header.crit.is_some() {
            return Err(VerifyError::Algorithm("crit".to_owned()));
        }
        let kid = header.kid.ok_or(VerifyError::MissingKeyId)?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| VerifyError::UnknownKey(kid.clone()))?;
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| match error.into_kind() {
                ErrorKind::InvalidSignature => VerifyError::Signature,
                ErrorKind::ExpiredSignature => VerifyError::Expired,
                ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
                ErrorKind::InvalidIssuer => VerifyError::Issuer,
                ErrorKind::InvalidAudience => VerifyError::Audience,
                ErrorKind::MissingRequiredClaim(claim) => {
                    VerifyError::Claims(format!("{claim} is missing"))
                }
                ErrorKind::InvalidClaimFormat(claim) => {
                    VerifyError::Claims(format!("{claim} is malformed"))
                }
                ErrorKind::Json(error) => VerifyError::Claims(error.to_string()),
                ErrorKind::InvalidAlgorithm => VerifyError::Algorithm(header.alg),
                _ => VerifyError::Malformed,
            })
    }
}

/// The decoded header of a compact JWS, read without trusting it.
fn raw_header(token: &str) -> Result<RawHeader, VerifyError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| VerifyError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| VerifyError::Malformed)
}
