//! The gateway's key cache against a JWKS endpoint that rotates: an unknown key id triggers one
//! refetch, and forged key ids cannot trigger more than one per interval.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use contracts::auth::Role;
use gateway::auth::Keys;
use gateway::config::AuthConfig;
use tokens::{Jwks, Signer};
use tokio::sync::RwLock;

#[derive(Clone, Default)]
struct Published {
    jwks: Arc<RwLock<Jwks>>,
    fetches: Arc<AtomicUsize>,
}

async fn jwks(State(published): State<Published>) -> axum::Json<Jwks> {
    published.fetches.fetch_add(1, Ordering::SeqCst);
    axum::Json(published.jwks.read().await.clone())
}

fn signer(kid: &str) -> Signer {
    Signer::from_pem(kid, &tokens::generate_pem().expect("key")).expect("signer")
}

fn token(signer: &Signer) -> String {
    testkit::token::access_token(signer, uuid::Uuid::new_v4(), &[Role::Customer], 300)
}

async fn serve(published: Published) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(published);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/.well-known/jwks.json")
}

fn keys(url: String, refetch_min_interval: Duration) -> Keys {
    Keys::new(
        AuthConfig {
            jwks_url: url,
            issuer: "ecommerce".into(),
            audience: "ecommerce-api".into(),
            refetch_min_interval,
            token_cache_capacity: 10_000,
        },
        reqwest::Client::new(),
    )
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_with_one_refetch() {
    let (old, new) = (signer("k1"), signer("k2"));
    let published = Published::default();
    published.jwks.write().await.keys = vec![old.jwk()];
    let keys = keys(serve(published.clone()).await, Duration::ZERO);

    keys.verify(&token(&old)).await.expect("old key verifies");
    assert_eq!(published.fetches.load(Ordering::SeqCst), 1);

    published.jwks.write().await.keys = vec![new.jwk(), old.jwk()];
    keys.verify(&token(&new))
        .await
        .expect("new key verifies after a refetch");
    assert_eq!(published.fetches.load(Ordering::SeqCst), 2);
    keys.verify(&token(&old))
        .await
        .expect("old key still verifies");
    assert_eq!(
        published.fetches.load(Ordering::SeqCst),
        2,
        "known keys need no fetch"
    );
}

#[tokio::test]
async fn forged_key_ids_refetch_at_most_once_per_interval() {
    let known = signer("k1");
    let published = Published::default();
    published.jwks.write().await.keys = vec![known.jwk()];
    let keys = keys(serve(published.clone()).await, Duration::from_secs(3600));

    keys.verify(&token(&known)).await.expect("verifies");
    for i in 0..5 {
        let forged = signer(&format!("forged-{i}"));
        let error = keys.verify(&token(&forged)).await.expect_err("unknown key");
        assert_eq!(error.status(), 401);
    }
    assert_eq!(
        published.fetches.load(Ordering::SeqCst),
        1,
        "the first fetch was recent, so no forged kid may trigger another"
    );
}
