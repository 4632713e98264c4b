//! Repeated failed logins slow an attacker down without telling which emails exist.

use reqwest::StatusCode;

use crate::helpers::{PASSWORD, TestApp, problem};

/// The `Retry-After` seconds of a 429.
fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds")
}

#[tokio::test]
async fn five_failures_lock_the_account_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    for attempt in 1..=5 {
        assert_eq!(
            app.login("ada@example.com", "wrong password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let locked = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&locked);
    assert!((1..=300).contains(&wait), "{wait}");
    let (_, body) = problem(locked).await;
    assert_eq!(body["type"], "/problems/rate-limited");
    // Other accounts are unaffected.
    app.signed_up("bob@example.com").await;
    assert_eq!(
        app.login("bob@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_emails_are_locked_the_same_way() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..6 {
        known.push(
            app.login("ada@example.com", "wrong password")
                .await
                .status(),
        );
        unknown.push(
            app.login("ghost@example.com", "wrong password")
                .await
                .status(),
        );
    }
    assert_eq!(known, unknown);
    assert_eq!(known[5], StatusCode::TOO_MANY_REQUESTS);
    let (known_status, known_body) = problem(app.login("ada@example.com", "x").await).await;
    let (unknown_status, unknown_body) = problem(app.login("ghost@example.com", "x").await).await;
    assert_eq!(known_status, unknown_status);
    assert_eq!(known_body, unknown_body);
}

#[tokio::test]
async fn the_count_is_per_normalised_email_and_a_success_resets_it() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    for email in ["ada@example.com", "ADA@example.com", " Ada@Example.com "] {
        let _ = app.login(email, "wrong password").await;
    }
    let _ = app.login("ada@EXAMPLE.com", "wrong password").await;
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "four failures are still allowed"
    );
    for attempt in 1..=4 {
        assert_eq!(
            app.login("ada@example.com", "wrong password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt} after the reset"
        );
    }
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn each_failure_past_the_threshold_doubles_the_wait() {
    let app = TestApp::with_env(&[
        ("LOGIN_MAX_FAILURES", "2"),
        ("LOGIN_BACKOFF_BASE_SECS", "100"),
        ("LOGIN_BACKOFF_MAX_SECS", "350"),
    ])
    .await;
    let lock_after_failure = |failures: i32| {
        let app = &app;
        async move {
            // Simulate the lock having run out, so the next attempt is checked and fails.
            sqlx::query("UPDATE login_attempts SET locked_until = NULL, failures = $1")
                .bind(failures - 1)
                .execute(&app.db.pool)
                .await
                .expect("unlock");
            assert_eq!(
                app.login("ghost@example.com", "wrong").await.status(),
                StatusCode::UNAUTHORIZED
            );
            retry_after(&app.login("ghost@example.com", "wrong").await)
        }
    };
    let _ = app.login("ghost@example.com", "wrong").await;
    let waits = [
        lock_after_failure(2).await,
        lock_after_failure(3).await,
        lock_after_failure(4).await,
    ];
    assert!((99..=100).contains(&waits[0]), "{waits:?}");
    assert!((199..=200).contains(&waits[1]), "{waits:?}");
    assert!((349..=350).contains(&waits[2]), "capped: {waits:?}");
}

#[tokio::test]
async fn a_wrong_current_password_counts_as_a_failed_login() {
    let app = TestApp::with_env(&[("LOGIN_MAX_FAILURES", "2")]).await;
    let auth = app.signed_up("ada@example.com").await;
    for _ in 0..2 {
        let response = app
            .as_bearer(app.patch("/api/v1/users/me"), &auth.access_token)
            .await
            .json(&serde_json::json!({"current_password": "guess guess", "new_password": "a brand new password"}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn guesses_sent_all_at_once_cannot_race_past_the_backoff() {
    // Real hashing costs, so that every guess is still being checked when the others arrive:
    // a backoff that checks the lock, hashes, then counts lets them all through.
    let app = TestApp::with_env(&[
        ("LOGIN_MAX_FAILURES", "3"),
        ("ARGON2_MEMORY_KIB", "19456"),
        ("ARGON2_ITERATIONS", "2"),
    ])
    .await;
    app.signed_up("ada@example.com").await;
    let guesses = (0..20).map(|n| {
        let app = &app;
        async move {
            app.login("ada@example.com", &format!("guess {n}"))
                .await
                .status()
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        checked, 3,
        "only the allowed failures got a password check: {statuses:?}"
    );
    assert_eq!(refused, 17, "{statuses:?}");
    // And the right password is refused too while the lock lasts.
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}
