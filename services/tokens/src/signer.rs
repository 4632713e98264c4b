//! Signing access tokens with an Ed25519 private key.

use contracts::auth::Claims;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::jwks::Jwk;

/// The longest `kid` accepted: it is repeated in every token header.
const MAX_KID_LEN: usize = 64;

/// A private key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The PEM text is not an Ed25519 private key in PKCS#8 form.
    #[error("not an Ed25519 private key in PKCS#8 PEM form (\"-----BEGIN PRIVATE KEY-----\"): {0}")]
    Pem(String),
    /// The key id is empty, too long, or has characters other than `A-Z a-z 0-9 . _ -`.
    #[error("the key id must be 1 to {MAX_KID_LEN} characters of A-Z a-z 0-9 . _ -")]
    KeyId,
    /// The operating system gave no randomness for a new key.
    #[error("no randomness for a new key: {0}")]
    Random(String),
}

/// A token could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("signing the token failed: {0}")]
pub struct SignError(#[from] jsonwebtoken::errors::Error);

/// Signs access tokens with one Ed25519 key, naming it in the `kid` header.
#[derive(Clone)]
pub struct Signer {
    kid: String,
    key: EncodingKey,
    public_key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("key", &format_args!("[redacted]"))
            .finish()
    }
}

impl Signer {
    /// A signer for a PKCS#8 PEM private key (what `openssl genpkey -algorithm ed25519` and
    /// [`generate_pem`] write), published under `kid`.
    pub fn from_pem(kid: impl Into<String>, pem: &str) -> Result<Self, KeyError> {
        let kid = kid.into();
        if !is_valid_kid(&kid) {
            return Err(KeyError::KeyId);
        }
        let key =
            SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| KeyError::Pem(e.to_string()))?;
        // jsonwebtoken takes the key as PKCS#8 DER; re-encoding also normalises a v2 document.
        let der = key
            .to_pkcs8_der()
            .map_err(|e| KeyError::Pem(e.to_string()))?;
        Ok(Self {
            kid,
            key: EncodingKey::from_ed_der(der.as_bytes()),
            public_key: key.verifying_key().to_bytes(),
        })
    }

    /// The key id written into each token header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, as published in the JWKS document.
    pub fn jwk(&self) -> Jwk {
        Jwk::ed25519(self.kid.clone(), &self.public_key)
    }

    /// A compact JWS (`header.payload.signature`) of `claims`, with `alg: EdDSA`, `typ: JWT`
    /// and this signer's `kid`.
    pub fn sign(&self, claims: &Claims) -> Result<String, SignError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.key)?)
    }
}

/// A fresh Ed25519 private key as PKCS#8 PEM, from the operating system's randomness.
pub fn generate_pem() -> Result<String, KeyError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&secret);
    secret.fill(0);
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.as_str().to_owned())
        .map_err(|e| KeyError::Pem(e.to_string()))
}

/// Key ids travel in headers and logs, so they are kept short and plain.
fn is_valid_kid(kid: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_and_differ() {
        let first = generate_pem().expect("generate");
        let second = generate_pem().expect("generate");
        assert!(
            first.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{first}"
        );
        assert_ne!(first, second);
        let a = Signer::from_pem("a", &first).expect("load");
        let b = Signer::from_pem("b", &second).expect("load");
        assert_ne!(a.jwk().x, b.jwk().x);
        assert_eq!(a.jwk().kid.as_deref(), Some("a"));
    }

    #[test]
    fn openssl_key_loads_with_its_public_key() {
        // `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` of the same key.
        let pem = "-----BEGIN PRIVATE KEY-----\n\
                   MC4CAQAwBQYDK2VwBCIEIOcv2IZgchfVc8Ck2G5qrMj8cWxxvU62fUl2TUJ3E5CQ\n\
                   -----END PRIVATE KEY-----\n";
        let signer = Signer::from_pem("openssl", pem).expect("load");
        assert_eq!(
            signer.jwk().x.as_deref(),
            Some("h6rEyBbS5P4T2KxdvGajvbRze814r7bxB5NtIPSPHcA")
        );
    }

    #[test]
    fn bad_pem_and_bad_kid_are_refused() {
        assert!(matches!(
            Signer::from_pem("k", "not a key"),
            Err(KeyError::Pem(_))
        ));
        let pem = generate_pem().expect("generate");
        for kid in ["", "has space", "quote\"", &"k".repeat(65)] {
            assert!(
                matches!(Signer::from_pem(kid, &pem), Err(KeyError::KeyId)),
                "{kid:?}"
            );
        }
        assert!(Signer::from_pem("2024-05_a.1", &pem).is_ok());
    }

    #[test]
    fn debug_hides_the_key() {
        let signer = Signer::from_pem("k1", &generate_pem().expect("generate")).expect("load");
        let debug = format!("{signer:?}");
        assert!(
            debug.contains("k1") && debug.contains("[redacted]"),
            "{debug}"
        );
    }
}
