//! The verifier accepts exactly the tokens the signer issues for the expected issuer and
//! audience, and refuses every forgery and mistake a gateway meets in practice.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use contracts::auth::{Claims, Role};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use serde_json::{Value, json};
use tokens::{Jwk, Jwks, KeySetError, Signer, Verifier, VerifyError, generate_pem};
use uuid::Uuid;

const ISSUER: &str = "ecommerce";
const AUDIENCE: &str = "ecommerce-api";

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("fits")
}

fn signer(kid: &str) -> Signer {
    Signer::from_pem(kid, &generate_pem().expect("generate")).expect("load")
}

fn claims() -> Claims {
    Claims {
        sub: Uuid::new_v4(),
        roles: vec![Role::Customer],
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        iat: now(),
        exp: now() + 900,
        jti: Uuid::new_v4().to_string(),
    }
}

fn verifier_for(signers: &[&Signer]) -> Verifier {
    let jwks = Jwks {
        keys: signers.iter().map(|s| s.jwk()).collect(),
    };
    Verifier::new(&jwks, ISSUER, AUDIENCE).expect("usable key set")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

/// A token with an arbitrary header and payload and the given signature bytes.
fn forge(header: &Value, payload: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header),
        b64(payload),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn public_key_bytes(signer: &Signer) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(signer.jwk().x.expect("x"))
        .expect("base64url")
}

#[test]
fn a_signed_token_verifies_to_its_claims() {
    let signer = signer("k1");
    let claims = claims();
    let token = signer.sign(&claims).expect("sign");
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some("k1"));
    assert_eq!(verifier_for(&[&signer]).verify(&token), Ok(claims));
}

#[test]
fn expired_tokens_are_refused_beyond_the_leeway() {
    let signer = signer("k1");
    let verifier = verifier_for(&[&signer]);
    let mut stale = claims();
    stale.exp = now() - 120;
    assert_eq!(
        verifier.verify(&signer.sign(&stale).expect("sign")),
        Err(VerifyError::Expired)
    );
    let mut just_expired = claims();
    just_expired.exp = now() - 5;
    let token = signer.sign(&just_expired).expect("sign");
    assert!(verifier.verify(&token).is_ok(), "within the leeway");
    assert_eq!(
        verifier.with_leeway(Duration::ZERO).verify(&token),
        Err(VerifyError::Expired)
    );
}

#[test]
fn tampered_claims_or_signature_are_refused() {
    let signer = signer("k1");
    let verifier = verifier_for(&[&signer]);
    let token = signer.sign(&claims()).expect("sign");
    let parts: Vec<&str> = token.split('.').collect();

    let mut elevated = serde_json::to_value(claims()).expect("claims");
    elevated["roles"] = json!(["customer", "admin"]);
    let swapped_payload = format!("{}.{}.{}", parts[0], b64(&elevated), parts[2]);
    assert_eq!(
        verifier.verify(&swapped_payload),
        Err(VerifyError::Signature)
    );

    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
    signature[0] ^= 1;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(&signature)
    );
    assert_eq!(verifier.verify(&flipped), Err(VerifyError::Signature));
}

#[test]
fn wrong_issuer_or_audience_is_refused() {
    let signer = signer("k1");
    let verifier = verifier_for(&[&signer]);
    let mut foreign_issuer = claims();
    foreign_issuer.iss = "someone-else".to_owned();
    assert_eq!(
        verifier.verify(&signer.sign(&foreign_issuer).expect("sign")),
        Err(VerifyError::Issuer)
    );
    let mut foreign_audience = claims();
    foreign_audience.aud = "another-api".to_owned();
    assert_eq!(
        verifier.verify(&signer.sign(&foreign_audience).expect("sign")),
        Err(VerifyError::Audience)
    );
}

#[test]
fn unknown_or_missing_kid_is_refused() {
    let trusted = signer("k1");
    let verifier = verifier_for(&[&trusted]);
    let stranger = signer("k2");
    assert_eq!(
        verifier.verify(&stranger.sign(&claims()).expect("sign")),
        Err(VerifyError::UnknownKey("k2".to_owned()))
    );
    // Another key that claims the trusted kid fails on the signature.
    let impostor = signer("k1");
    assert_eq!(
        verifier.verify(&impostor.sign(&claims()).expect("sign")),
        Err(VerifyError::Signature)
    );
    let token = trusted.sign(&claims()).expect("sign");
    let parts: Vec<&str> = token.split('.').collect();
    let without_kid = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "EdDSA", "typ": "JWT"})),
        parts[1],
        parts[2]
    );
    assert_eq!(
        verifier.verify(&without_kid),
        Err(VerifyError::MissingKeyId)
    );
}

#[test]
fn alg_none_is_refused() {
    let signer = signer("k1");
    let verifier = verifier_for(&[&signer]);
    let payload = serde_json::to_value(claims()).expect("claims");
    for alg in ["none", "None", "NONE"] {
        let token = forge(
            &json!({"alg": alg, "typ": "JWT", "kid": "k1"}),
            &payload,
            b"",
        );
        assert_eq!(
            verifier.verify(&token),
            Err(VerifyError::Algorithm(alg.to_owned()))
        );
    }
}

#[test]
fn hs256_keyed_with_the_public_key_is_refused() {
    let signer = signer("k1");
    let verifier = verifier_for(&[&signer]);
    let jwk = signer.jwk();
    let x = jwk.x.clone().expect("x");
    let jwk_json = serde_json::to_vec(&jwk).expect("jwk json");
    // The classic key-confusion attack: HMAC with whatever form of the public key the
    // verifier might feed its key into.
    let secrets: [&[u8]; 3] = [&public_key_bytes(&signer), x.as_bytes(), &jwk_json];
    for secret in secrets {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.kid = Some("k1".to_owned());
            let token = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(secret))
                .expect("hmac");
            assert_eq!(
                verifier.verify(&token),
                Err(VerifyError::Algorithm(format!("{alg:?}")))
            );
        }
    }
}

#[test]
fn eddsa_header_with_hmac_signature_is_refused() {
    let signer = signer("k1");
    let verifier = verifier_for(&[&signer]);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".to_owned());
    let hmac = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(&public_key_bytes(&signer)),
    )
    .expect("hmac");
    let parts: Vec<&str> = hmac.split('.').collect();
    let relabelled = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "EdDSA", "kid": "k1"})),
        parts[1],
        parts[2]
    );
    assert!(verifier.verify(&relabelled).is_err());
}

#[test]
fn critical_header_extensions_are_refused() {
    let signer = signer("k1");
    let verifier = verifier_for(&[&signer]);
    let payload = serde_json::to_value(claims()).expect("claims");
    let token = forge(
        &json!({"alg": "EdDSA", "kid": "k1", "crit": ["exp"]}),
        &payload,
        &[0; 64],
    );
    assert_eq!(
        verifier.verify(&token),
        Err(VerifyError::Algorithm("crit".to_owned()))
    );
}

/// A correctly signed token over any header and payload, for claims the signer would never write.
fn sign_raw(pem: &str, header: &Value, payload: &Value) -> String {
    use ed25519_dalek::Signer as _;
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).expect("key");
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = key.sign(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

#[test]
fn missing_or_malformed_claims_are_refused() {
    let pem = generate_pem().expect("generate");
    let verifier = verifier_for(&[&Signer::from_pem("k1", &pem).expect("load")]);
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"});
    let valid = serde_json::to_value(claims()).expect("claims");
    assert!(verifier.verify(&sign_raw(&pem, &header, &valid)).is_ok());

    for claim in ["sub", "exp", "iss", "aud", "roles", "jti"] {
        let mut without = valid.clone();
        without.as_object_mut().expect("object").remove(claim);
        assert!(
            matches!(
                verifier.verify(&sign_raw(&pem, &header, &without)),
                Err(VerifyError::Claims(_))
            ),
            "without {claim}"
        );
    }
    for (claim, value) in [
        ("roles", json!(["root"])),
        ("sub", json!("not-a-uuid")),
        ("exp", json!("tomorrow")),
        ("aud", json!(42)),
    ] {
        let mut malformed = valid.clone();
        malformed[claim] = value;
        assert!(
            verifier
                .verify(&sign_raw(&pem, &header, &malformed))
                .is_err(),
            "malformed {claim}"
        );
    }
    let mut future = valid;
    future["nbf"] = json!(now() + 3600);
    assert_eq!(
        verifier.verify(&sign_raw(&pem, &header, &future)),
        Err(VerifyError::NotYetValid)
    );
}

#[test]
fn every_published_key_verifies_during_a_rotation() {
    let previous = signer("2024-01");
    let current = signer("2024-06");
    let verifier = verifier_for(&[&current, &previous]);
    let mut kids: Vec<_> = verifier.kids().collect();
    kids.sort_unstable();
    assert_eq!(kids, ["2024-01", "2024-06"]);
    for signer in [&previous, &current] {
        assert!(
            verifier
                .verify(&signer.sign(&claims()).expect("sign"))
                .is_ok()
        );
    }
}

#[test]
fn unusable_key_sets_are_refused_without_panicking() {
    let good = signer("k1").jwk();
    let with = |change: &dyn Fn(&mut Jwk)| {
        let mut jwk = good.clone();
        change(&mut jwk);
        Verifier::new(&Jwks { keys: vec![jwk] }, ISSUER, AUDIENCE)
    };
    assert_eq!(
        Verifier::new(&Jwks::default(), ISSUER, AUDIENCE).err(),
        Some(KeySetError::NoKeys)
    );
    for short in ["", "AAAA", &URL_SAFE_NO_PAD.encode([1u8; 31])] {
        let short = short.to_owned();
        assert!(
            matches!(
                with(&|k| k.x = Some(short.clone())),
                Err(KeySetError::InvalidKey { .. })
            ),
            "{short:?}"
        );
    }
    assert!(matches!(
        with(&|k| k.x = Some("not base64!".to_owned())),
        Err(KeySetError::InvalidKey { .. })
    ));
    assert!(matches!(
        with(&|k| k.alg = Some("HS256".to_owned())),
        Err(KeySetError::InvalidKey { .. })
    ));
    assert_eq!(
        with(&|k| k.kid = None).err(),
        Some(KeySetError::MissingKeyId)
    );
    assert_eq!(
        Verifier::new(
            &Jwks {
                keys: vec![good.clone(), good.clone()]
            },
            ISSUER,
            AUDIENCE
        )
        .err(),
        Some(KeySetError::DuplicateKeyId("k1".to_owned()))
    );
    // Keys of other types and encryption keys are skipped, as RFC 7517 asks.
    let rsa: Jwk =
        serde_json::from_value(json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"})).expect("rsa jwk");
    let mut encryption = signer("enc").jwk();
    encryption.use_ = Some("enc".to_owned());
    let verifier = Verifier::new(
        &Jwks {
            keys: vec![rsa, encryption, good],
        },
        ISSUER,
        AUDIENCE,
    )
    .expect("the Ed25519 key is usable");
    assert_eq!(verifier.kids().collect::<Vec<_>>(), ["k1"]);
}

#[test]
fn malformed_tokens_are_refused() {
    let signer = signer("k1");
    let verifier = verifier_for(&[&signer]);
    let token = signer.sign(&claims()).expect("sign");
    let too_long = format!("{token}{}", "A".repeat(tokens::MAX_TOKEN_LEN));
    for bad in [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "..",
        &format!("{token}.extra"),
        &too_long,
    ] {
        assert_eq!(verifier.verify(bad), Err(VerifyError::Malformed), "{bad:?}");
    }
}

proptest! {
    #[test]
    fn arbitrary_input_never_verifies_or_panics(input in ".{0,300}") {
        let signer = signer("k1");
        let verifier = verifier_for(&[&signer]);
        prop_assert!(verifier.verify(&input).is_err());
    }

    #[test]
    fn any_single_character_change_breaks_the_token(index in 0usize..1000, replacement in "[A-Za-z0-9_-]") {
        let signer = signer("k1");
        let verifier = verifier_for(&[&signer]);
        let token = signer.sign(&claims()).expect("sign");
        let index = index % token.len();
        let original = &token[index..=index];
        prop_assume!(original != "." && original != replacement);
        let changed = format!("{}{}{}", &token[..index], replacement, &token[index + 1..]);
        // The last character of a base64url part may carry unused bits; changing only those
        // still decodes to the same bytes, which is the one change that may verify.
        let verified = verifier.verify(&changed);
        if verified.is_ok() {
            let decoded = |t: &str| t.split('.').map(|p| URL_SAFE_NO_PAD.decode(p).ok()).collect::<Vec<_>>();
            prop_assert_eq!(decoded(&changed), decoded(&token));
        }
    }
}
