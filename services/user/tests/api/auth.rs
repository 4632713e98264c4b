//! Registering and signing in.

use contracts::auth::{AuthResponse, Role, TokenType};
use contracts::users::User;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, code_of, fields, problem};

#[tokio::test]
async fn register_then_login_then_me() {
    let app = TestApp::spawn().await;
    let response = app.register("  Ada@Example.com ", PASSWORD, " Ada ").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let registered: AuthResponse = response.json().await.expect("auth response");
    assert_eq!(registered.user.email, "ada@example.com", "normalised");
    assert_eq!(registered.user.display_name, "Ada");
    assert_eq!(registered.user.roles, vec![Role::Customer]);
    assert_eq!(registered.token_type, TokenType::Bearer);
    assert_eq!(registered.expires_in, 900);
    assert!(!registered.refresh_token.is_empty());

    let response = app.login("ADA@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let signed_in: AuthResponse = response.json().await.expect("auth response");
    assert_eq!(signed_in.user, registered.user);
    assert_ne!(signed_in.refresh_token, registered.refresh_token);

    let me = app
        .as_bearer(app.get("/api/v1/users/me"), &signed_in.access_token)
        .await
        .send()
        .await
        .expect("request");
    assert_eq!(me.status(), StatusCode::OK);
    let me: User = me.json().await.expect("user");
    assert_eq!(me, registered.user);
}

#[tokio::test]
async fn a_registered_email_is_taken_whatever_its_case() {
    let app = TestApp::spawn().await;
    app.signed_up("grace@example.com").await;
    for again in [
        "grace@example.com",
        "Grace@Example.COM",
        " GRACE@EXAMPLE.COM ",
    ] {
        let (status, body) = problem(app.register(again, PASSWORD, "Grace").await).await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}");
        assert_eq!(fields(&body), ["email"]);
        assert_eq!(code_of(&body, "email").as_deref(), Some("taken"));
    }
}

#[tokio::test]
async fn invalid_fields_are_named_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let cases = [
        ("not-an-email", PASSWORD, "Ada", "email", "invalid"),
        ("ada@localhost", PASSWORD, "Ada", "email", "invalid"),
        ("", PASSWORD, "Ada", "email", "required"),
        ("ada@example.com", "short", "Ada", "password", "too_short"),
        (
            "ada@example.com",
            "123456789",
            "Ada",
            "password",
            "too_short",
        ),
        (
            "ada@example.com",
            "Ada@Example.com",
            "Ada",
            "password",
            "equals_email",
        ),
        (
            "ada@example.com",
            PASSWORD,
            "   ",
            "display_name",
            "required",
        ),
    ];
    for (email, password, name, field, code) in cases {
        let (status, body) = problem(app.register(email, password, name).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert_eq!(fields(&body), [field], "{body}");
        assert_eq!(code_of(&body, field).as_deref(), Some(code), "{body}");
    }
    let (status, body) = problem(app.register("nope", "short", "").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), ["email", "password", "display_name"]);

    let (status, body) = problem(
        app.post_json(
            "/api/v1/auth/register",
            &json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), ["display_name"]);

    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    assert_eq!(users, 0);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_exactly_alike() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    let wrong_password = app.login("ada@example.com", "not the password").await;
    let unknown_email = app.login("nobody@example.com", "not the password").await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_email.status(), StatusCode::UNAUTHORIZED);
    let header = |r: &reqwest::Response, name: &str| r.headers().get(name).cloned();
    for name in [
        "content-type",
        "content-length",
        "www-authenticate",
        "retry-after",
    ] {
        assert_eq!(
            header(&wrong_password, name),
            header(&unknown_email, name),
            "{name}"
        );
    }
    let wrong_password = wrong_password.bytes().await.expect("body");
    let unknown_email = unknown_email.bytes().await.expect("body");
    assert_eq!(wrong_password, unknown_email);
    let body: serde_json::Value = serde_json::from_slice(&wrong_password).expect("json");
    assert_eq!(body["type"], "/problems/unauthorized");
}

#[tokio::test]
async fn login_refuses_a_malformed_email_naming_it() {
    let app = TestApp::spawn().await;
    let (status, body) = problem(app.login("not an email", PASSWORD).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), ["email"]);
}

#[tokio::test]
async fn twenty_concurrent_registrations_of_one_email_make_one_account() {
    let app = TestApp::spawn().await;
    let attempts = (0..20).map(|i| {
        // Differing case and spacing still mean the same address.
        let email = if i % 2 == 0 {
            "race@example.com".to_owned()
        } else {
            format!(" Race@Example.com{}", " ".repeat(i % 3))
        };
        let app = &app;
        async move { app.register(&email, PASSWORD, "Racer").await.status() }
    });
    let statuses = join_all(attempts).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19), "{statuses:?}");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    assert_eq!(users, 1);
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes_with_the_configured_parameters() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&app.db.pool)
        .await
        .expect("hash");
    assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
}

#[tokio::test]
async fn hashes_made_with_older_parameters_are_upgraded_at_login() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    let stronger = TestApp::with_env(&[("ARGON2_MEMORY_KIB", "2048")]).await;
    // The same account, moved to a service configured with stronger parameters.
    let (email, name, hash): (String, String, String) =
        sqlx::query_as("SELECT email, display_name, password_hash FROM users")
            .fetch_one(&app.db.pool)
            .await
            .expect("account");
    sqlx::query(
        "INSERT INTO users (id, email, display_name, password_hash) VALUES ($1, $2, $3, $4)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(&email)
    .bind(&name)
    .bind(&hash)
    .execute(&stronger.db.pool)
    .await
    .expect("copy account");
    assert_eq!(
        stronger.login(&email, PASSWORD).await.status(),
        StatusCode::OK
    );
    let upgraded: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&stronger.db.pool)
        .await
        .expect("hash");
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=2048,t=1,p=1$"),
        "{upgraded}"
    );
    assert_eq!(
        stronger.login(&email, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn hashing_leaves_the_async_executor_free() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    // Costly parameters make one hash last long enough that a blocked executor would show.
    let app = TestApp::with_env(&[("ARGON2_MEMORY_KIB", "8192"), ("ARGON2_ITERATIONS", "3")]).await;
    // This test's runtime has one thread, shared by the service and the ticker: if a hash ran
    // on it, the ticker would stall for the whole hash.
    let longest_gap_us = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn({
        let longest_gap_us = longest_gap_us.clone();
        async move {
            let mut interval = tokio::time::interval(Duration::from_millis(5));
            interval.tick().await;
            let mut last = tokio::time::Instant::now();
            loop {
                interval.tick().await;
                let now = tokio::time::Instant::now();
                let gap = u64::try_from((now - last).as_micros()).unwrap_or(u64::MAX);
                longest_gap_us.fetch_max(gap, Ordering::Relaxed);
                last = now;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    let response = app.register("slow@example.com", PASSWORD, "Slow").await;
    let took = started.elapsed();
    ticker.abort();
    assert_eq!(response.status(), StatusCode::CREATED);
    let longest_gap = Duration::from_micros(longest_gap_us.load(Ordering::Relaxed));
    // A hash on the executor would stall it for about the whole request.
    assert!(
        longest_gap * 2 < took,
        "the executor stalled for {longest_gap:?} of a {took:?} registration"
    );
}
