//! Access tokens: short-lived JWTs signed with Ed25519 (`alg: EdDSA`), their public keys
//! published as a JWKS document, and the verifier that trusts nothing but that document.
//!
//! The user service holds a [`Signer`] (a private key and its `kid`) and publishes
//! [`Jwks`] at `/.well-known/jwks.json`: the signing key first, then older keys still accepted
//! during a rotation. The gateway builds a [`Verifier`] from that document alone, plus the issuer
//! and audience it expects, and turns every bearer token into [`contracts::auth::Claims`] or a
//! [`VerifyError`].
//!
//! The verifier is deliberately narrow: the algorithm is pinned to EdDSA before any key is
//! touched (so `alg: none` and HS256 tokens "signed" with the public key never reach a key), the
//! key is chosen only by `kid` from the configured set (header parameters such as `jku` or `jwk`
//! are ignored), and `exp`, `iss`, `aud` and `sub` are required.

mod jwks;
mod signer;
mod verifier;

pub use jwks::{Jwk, Jwks};
pub use signer::{KeyError, SignError, Signer, generate_pem};
pub use verifier::{DEFAULT_LEEWAY, KeySetError, MAX_TOKEN_LEN, Verifier, VerifyError};

/// The only signature algorithm this crate issues or accepts.
pub const ALGORITHM: &str = "EdDSA";
