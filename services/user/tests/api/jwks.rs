//! Access tokens verify with the published key set alone, and the verifier the gateway uses
//! refuses everything else, checked against the document the service actually serves.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use contracts::auth::{AuthResponse, Claims, Role};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use tokens::{Jwks, Signer, Verifier, VerifyError};

use crate::helpers::{AUDIENCE, ISSUER, KID, TestApp};

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("fits")
}

#[tokio::test]
async fn the_key_set_is_published_as_rfc_8037_json() {
    let app = TestApp::spawn().await;
    let response = app
        .get("/.well-known/jwks.json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let document: serde_json::Value = response.json().await.expect("json");
    let keys = document["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"], KID);
    let x = URL_SAFE_NO_PAD
        .decode(key["x"].as_str().expect("x"))
        .expect("base64url");
    assert_eq!(x.len(), 32);
    assert!(key.get("d").is_none(), "never the private key");
}

#[tokio::test]
async fn access_tokens_verify_with_the_published_keys_alone() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let header = jsonwebtoken::decode_header(&auth.access_token).expect("header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some(KID));

    let claims = app.claims(&auth.access_token).await;
    assert_eq!(claims.sub, auth.user.id);
    assert_eq!(claims.roles, vec![Role::Customer]);
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, AUDIENCE);
    assert_eq!(claims.exp - claims.iat, 900);
    assert!((claims.iat - now()).abs() < 60, "issued now");
    let again: AuthResponse = app
        .login("ada@example.com", crate::helpers::PASSWORD)
        .await
        .json()
        .await
        .expect("auth response");
    assert_ne!(app.claims(&again.access_token).await.jti, claims.jti);
}

#[tokio::test]
async fn the_access_token_lifetime_is_configurable() {
    let app = TestApp::with_env(&[("ACCESS_TOKEN_TTL_SECS", "60")]).await;
    let auth = app.signed_up("ada@example.com").await;
    assert_eq!(auth.expires_in, 60);
    let claims = app.claims(&auth.access_token).await;
    assert_eq!(claims.exp - claims.iat, 60);
}

#[tokio::test]
async fn the_served_key_set_refuses_every_kind_of_bad_token() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let verifier = app.verifier().await;
    let good = app.claims(&auth.access_token).await;
    let own_key = app.service_signer();

    // Expired (signed with the service's own key, so only `exp` is wrong).
    let expired = Claims {
        iat: now() - 3600,
        exp: now() - 600,
        ..good.clone()
    };
    assert_eq!(
        verifier.verify(&own_key.sign(&expired).expect("sign")),
        Err(VerifyError::Expired)
    );

    // Tampered: roles raised in the payload, signature kept.
    let parts: Vec<&str> = auth.access_token.split('.').collect();
    let elevated = Claims {
        roles: vec![Role::Customer, Role::Admin],
        ..good.clone()
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&elevated).expect("json"));
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(verifier.verify(&tampered), Err(VerifyError::Signature));

    // Another issuer or audience, correctly signed.
    let foreign_audience = Claims {
        aud: "another-api".to_owned(),
        ..good.clone()
    };
    assert_eq!(
        verifier.verify(&own_key.sign(&foreign_audience).expect("sign")),
        Err(VerifyError::Audience)
    );
    let foreign_issuer = Claims {
        iss: "evil".to_owned(),
        ..good.clone()
    };
    assert_eq!(
        verifier.verify(&own_key.sign(&foreign_issuer).expect("sign")),
        Err(VerifyError::Issuer)
    );
    // The service's own token, for a verifier configured for another audience.
    let elsewhere = Verifier::new(&app.jwks().await, ISSUER, "another-api").expect("verifier");
    assert_eq!(
        elsewhere.verify(&auth.access_token),
        Err(VerifyError::Audience)
    );

    // A key the service never published.
    let stranger =
        Signer::from_pem("stranger", &tokens::generate_pem().expect("key")).expect("signer");
    assert_eq!(
        verifier.verify(&stranger.sign(&good).expect("sign")),
        Err(VerifyError::UnknownKey("stranger".to_owned()))
    );

    // alg: none.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"test-key"}"#);
    let unsigned = format!("{header}.{}.", parts[1]);
    assert_eq!(
        verifier.verify(&unsigned),
        Err(VerifyError::Algorithm("none".to_owned()))
    );

    // HS256 "signed" with the published public key.
    let jwks = app.jwks().await;
    let public_key = URL_SAFE_NO_PAD
        .decode(jwks.keys[0].x.as_deref().expect("x"))
        .expect("base64url");
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(KID.to_owned());
    let confused = jsonwebtoken::encode(&hs_header, &good, &EncodingKey::from_secret(&public_key))
        .expect("hmac");
    assert_eq!(
        verifier.verify(&confused),
        Err(VerifyError::Algorithm("HS256".to_owned()))
    );

    // The genuine token still verifies.
    assert_eq!(verifier.verify(&auth.access_token), Ok(good));
}

#[tokio::test]
async fn during_a_rotation_old_and_new_keys_are_published_and_the_new_one_signs() {
    let previous =
        Signer::from_pem("old-key", &tokens::generate_pem().expect("key")).expect("signer");
    let file = std::env::temp_dir().join(format!("previous-keys-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(
        &file,
        serde_json::to_vec(&Jwks {
            keys: vec![previous.jwk()],
        })
        .expect("json"),
    )
    .expect("write keys file");
    let app = TestApp::with_env(&[(
        "JWT_VERIFICATION_KEYS_FILE",
        file.to_str().expect("utf-8 path"),
    )])
    .await;
    std::fs::remove_file(&file).expect("cleanup");

    let jwks = app.jwks().await;
    let kids: Vec<_> = jwks.keys.iter().filter_map(|k| k.kid.clone()).collect();
    assert_eq!(kids, [KID, "old-key"], "the signing key first");

    let auth = app.signed_up("ada@example.com").await;
    let header = jsonwebtoken::decode_header(&auth.access_token).expect("header");
    assert_eq!(header.kid.as_deref(), Some(KID), "the newest key signs");
    let verifier = app.verifier().await;
    assert!(verifier.verify(&auth.access_token).is_ok());
    // A token the previous key signed before the rotation still verifies.
    let issued_before = previous
        .sign(&app.claims(&auth.access_token).await)
        .expect("sign");
    assert!(verifier.verify(&issued_before).is_ok());
}
