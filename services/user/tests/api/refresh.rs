//! Refresh tokens rotate, a re-used one revokes its family, and logout and password changes
//! end sessions.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, fields, problem};

#[tokio::test]
async fn every_refresh_rotates_both_tokens() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let first = app.refreshed(&auth.refresh_token).await;
    assert_ne!(first.refresh_token, auth.refresh_token);
    assert_ne!(first.access_token, auth.access_token);
    assert_eq!(first.expires_in, 900);
    assert_eq!(app.claims(&first.access_token).await.sub, auth.user.id);
    let second = app.refreshed(&first.refresh_token).await;
    assert_ne!(second.refresh_token, first.refresh_token);
    let response = app.refresh(&second.refresh_token).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn reusing_a_spent_token_revokes_the_newer_one_too() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let stolen = auth.refresh_token.clone();
    let rotated = app.refreshed(&auth.refresh_token).await;

    let (status, body) = problem(app.refresh(&stolen).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "/problems/unauthorized");
    assert_eq!(
        app.refresh(&rotated.refresh_token).await.status(),
        StatusCode::UNAUTHORIZED,
        "the whole family is revoked"
    );

    // Other sessions of the same user are separate families and live on.
    let other: contracts::auth::AuthResponse = app
        .login("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("auth response");
    assert_eq!(
        app.refresh(&other.refresh_token).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_cannot_both_win() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let statuses = join_all((0..5).map(|_| app.refresh(&auth.refresh_token)))
        .await
        .into_iter()
        .map(|r| r.status())
        .collect::<Vec<_>>();
    let winners = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(winners, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn logout_revokes_and_is_safe_to_repeat() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let rotated = app.refreshed(&auth.refresh_token).await;
    let app = &app;
    let logout = |token: &str| {
        let body = json!({"refresh_token": token});
        async move { app.post_json("/api/v1/auth/logout", &body).await }
    };
    assert_eq!(
        logout(&rotated.refresh_token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.refresh(&rotated.refresh_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        logout(&rotated.refresh_token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(logout("garbage").await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_password_change_ends_every_session() {
    let app = TestApp::spawn().await;
    let first = app.signed_up("ada@example.com").await;
    let second: contracts::auth::AuthResponse = app
        .login("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("auth response");
    let response = app
        .as_bearer(app.patch("/api/v1/users/me"), &first.access_token)
        .await
        .json(&json!({"current_password": PASSWORD, "new_password": "a brand new password"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    for session in [&first.refresh_token, &second.refresh_token] {
        assert_eq!(
            app.refresh(session).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("ada@example.com", "a brand new password")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn expired_unknown_and_malformed_tokens_are_refused_alike() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    sqlx::query("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.db.pool)
        .await
        .expect("expire");
    let (_, expired) = problem(app.refresh(&auth.refresh_token).await).await;
    let unknown_token = "A".repeat(43);
    let (_, unknown) = problem(app.refresh(&unknown_token).await).await;
    let (status, malformed) = problem(app.refresh("not-a-token").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired, unknown);
    assert_eq!(unknown, malformed);

    let (status, body) = problem(app.post_json("/api/v1/auth/refresh", &json!({})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), ["refresh_token"]);
}

#[tokio::test]
async fn only_digests_of_refresh_tokens_are_stored() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM refresh_tokens")
        .fetch_all(&app.db.pool)
        .await
        .expect("rows");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].len(), 32);
    assert!(
        !String::from_utf8_lossy(&stored[0]).contains(&auth.refresh_token),
        "not the token itself"
    );
}

#[tokio::test]
async fn housekeeping_deletes_expired_tokens_and_forgotten_failures() {
    let app = TestApp::spawn().await;
    let live = app.signed_up("ada@example.com").await;
    let old = app.signed_up("bob@example.com").await;
    app.login("carol@example.com", "wrong password").await;
    sqlx::query(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1",
    )
    .bind(old.user.id)
    .execute(&app.db.pool)
    .await
    .expect("expire");
    sqlx::query("UPDATE login_attempts SET last_failure_at = now() - interval '2 days'")
        .execute(&app.db.pool)
        .await
        .expect("age");
    let swept = user::housekeeping::sweep(&app.db.pool)
        .await
        .expect("sweep");
    assert_eq!(swept.refresh_tokens, 1);
    assert_eq!(swept.login_attempts, 1);
    assert_eq!(
        app.refresh(&live.refresh_token).await.status(),
        StatusCode::OK
    );
    let again = user::housekeeping::sweep(&app.db.pool)
        .await
        .expect("sweep");
    assert_eq!(again, user::housekeeping::Swept::default());
}

/// The `refresh_token` cookie a response sets, and the whole `Set-Cookie` line.
fn set_cookie(response: &reqwest::Response) -> (String, String) {
    let line = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let token = line
        .strip_prefix("refresh_token=")
        .and_then(|rest| rest.split(';').next())
        .expect("the refresh_token cookie")
        .to_owned();
    (token, line)
}

/// A request from the shop's own page: the cookie, and the page's origin.
fn from_the_shop(app: &TestApp, path: &str, token: &str) -> reqwest::RequestBuilder {
    app.post(path)
        .header("cookie", format!("theme=dark; refresh_token={token}"))
        .header("origin", format!("http://{}", app.server.addr))
        .json(&json!({}))
}

#[tokio::test]
async fn a_browser_keeps_its_refresh_token_where_no_script_can_read_it() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    let login = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let (first, line) = set_cookie(&login);
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/api/v1/auth",
        "Max-Age=",
    ] {
        assert!(line.contains(attribute), "{attribute} in {line}");
    }

    // Refreshed with the cookie: the next token comes in the cookie, never in the body.
    let response = from_the_shop(&app, "/api/v1/auth/refresh", &first)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let (second, _) = set_cookie(&response);
    assert_ne!(second, first);
    let body: serde_json::Value = response.json().await.expect("tokens");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));

    // The cookie's token rotates like a body token: the spent one is refused.
    let spent = from_the_shop(&app, "/api/v1/auth/refresh", &first)
        .send()
        .await
        .expect("request");
    assert_eq!(spent.status(), StatusCode::UNAUTHORIZED);

    // Signing out revokes the cookie's token and clears the cookie.
    let fresh = app.login("ada@example.com", PASSWORD).await;
    let (third, _) = set_cookie(&fresh);
    let logout = from_the_shop(&app, "/api/v1/auth/logout", &third)
        .send()
        .await
        .expect("request");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert!(set_cookie(&logout).1.contains("Max-Age=0"));
    assert_eq!(app.refresh(&third).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_cross_site_request_cannot_spend_the_refresh_token_cookie() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let token = auth.refresh_token;
    for origin in [
        Some("https://evil.example"),
        Some("null"),
        Some("http://127.0.0.1.evil.example"),
        None,
    ] {
        for path in ["/api/v1/auth/refresh", "/api/v1/auth/logout"] {
            let mut request = app
                .post(path)
                .header("cookie", format!("refresh_token={token}"))
                .json(&json!({}));
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            let (status, body) = problem(request.send().await.expect("request")).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} from {origin:?}");
            assert_eq!(body["type"], "/problems/forbidden");
        }
    }
    // Nothing was spent or revoked: the shop's own page still refreshes with it.
    let response = from_the_shop(&app, "/api/v1/auth/refresh", &token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    // And without a token anywhere, refresh is a 422 naming the field.
    let (status, body) = problem(
        app.post("/api/v1/auth/refresh")
            .json(&json!({}))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), ["refresh_token"]);
}
