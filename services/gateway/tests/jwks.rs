//! The gateway's key cache against a JWKS endpoint that rotates: an unknown key id triggers one
//! refetch, and forged key ids cannot trigger more than one per interval nor make the gateway
//! forget the tokens it verified; the set is refreshed in the background at its `max-age`, so a
//! key removed from it stops verifying within that time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use contracts::auth::Role;
use gateway::auth::{Bearer, Keys, Verified};
use gateway::config::AuthConfig;
use kit::ApiError;
use kit::shutdown::Shutdown;
use tokens::{Jwks, Signer};
use tokio::sync::RwLock;

#[derive(Clone, Default)]
struct Published {
    jwks: Arc<RwLock<Jwks>>,
    fetches: Arc<AtomicUsize>,
    /// The `max-age` the set is published with; none when 0.
    max_age: Arc<AtomicU64>,
}

async fn jwks(
    State(published): State<Published>,
) -> ([(http::HeaderName, String); 1], axum::Json<Jwks>) {
    published.fetches.fetch_add(1, Ordering::SeqCst);
    let max_age = match published.max_age.load(Ordering::SeqCst) {
        0 => "no-cache".to_owned(),
        secs => format!("public, max-age={secs}"),
    };
    (
        [(http::header::CACHE_CONTROL, max_age)],
        axum::Json(published.jwks.read().await.clone()),
    )
}

async fn verify(keys: &Keys, token: &str) -> Result<Arc<Verified>, ApiError> {
    keys.verify(Bearer::parse(token)?).await
}

fn remembered(keys: &Keys, token: &str) -> bool {
    keys.remembered(Bearer::parse(token).expect("short"))
        .is_some()
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

    verify(&keys, &token(&old)).await.expect("old key verifies");
    assert_eq!(published.fetches.load(Ordering::SeqCst), 1);

    published.jwks.write().await.keys = vec![new.jwk(), old.jwk()];
    verify(&keys, &token(&new))
        .await
        .expect("new key verifies after a refetch");
    assert_eq!(published.fetches.load(Ordering::SeqCst), 2);
    verify(&keys, &token(&old))
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

    verify(&keys, &token(&known)).await.expect("verifies");
    for i in 0..5 {
        let forged = signer(&format!("forged-{i}"));
        let error = verify(&keys, &token(&forged))
            .await
            .expect_err("unknown key");
        assert_eq!(error.status(), 401);
    }
    assert_eq!(
        published.fetches.load(Ordering::SeqCst),
        1,
        "the first fetch was recent, so no forged kid may trigger another"
    );
}

#[tokio::test]
async fn forged_key_ids_do_not_make_the_gateway_forget_the_tokens_it_verified() {
    let known = signer("k1");
    let published = Published::default();
    published.jwks.write().await.keys = vec![known.jwk()];
    // No interval: every forged key id below gets its refetch.
    let keys = keys(serve(published.clone()).await, Duration::ZERO);
    let good = token(&known);
    verify(&keys, &good).await.expect("verifies");
    assert!(remembered(&keys, &good));

    for i in 0..3 {
        let forged = signer(&format!("forged-{i}"));
        let error = verify(&keys, &token(&forged))
            .await
            .expect_err("unknown key");
        assert_eq!(error.status(), 401);
    }
    assert_eq!(
        published.fetches.load(Ordering::SeqCst),
        4,
        "one refetch each"
    );
    assert!(
        remembered(&keys, &good),
        "the set did not change, so every signed-in client keeps its verified token"
    );
}

#[tokio::test]
async fn a_key_removed_from_the_set_stops_verifying_within_its_max_age() {
    let (leaked, next) = (signer("k1"), signer("k2"));
    let published = Published::default();
    published.jwks.write().await.keys = vec![leaked.jwk(), next.jwk()];
    published.max_age.store(1, Ordering::SeqCst);
    // A long interval: no token below names an unknown key, so only the schedule refetches.
    let keys = Arc::new(keys(
        serve(published.clone()).await,
        Duration::from_secs(3600),
    ));
    let shutdown = Shutdown::new();
    gateway::auth::spawn_refresh(keys.clone(), &shutdown);
    // The task's first fetch, at start: from now on only its schedule fetches.
    while published.fetches.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let stolen = token(&leaked);
    verify(&keys, &stolen)
        .await
        .expect("verifies while its key is listed");
    assert!(remembered(&keys, &stolen));

    // The user service drops the leaked key: within the set's max-age (1 s) the gateway has
    // the new set, has forgotten the tokens it verified, and refuses the stolen one.
    published.jwks.write().await.keys = vec![next.jwk()];
    let mut refused = None;
    for _ in 0..100 {
        if let Err(error) = verify(&keys, &stolen).await {
            refused = Some(error);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let error = refused.expect("the removed key stopped verifying");
    assert_eq!(error.status(), 401);
    assert!(published.fetches.load(Ordering::SeqCst) >= 2);
    verify(&keys, &token(&next))
        .await
        .expect("the key still listed verifies");
    shutdown.trigger();
}
