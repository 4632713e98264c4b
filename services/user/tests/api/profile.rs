//! `GET|PATCH /api/v1/users/me`.

use contracts::users::User;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, code_of, fields, problem};

async fn patch_me(app: &TestApp, access_token: &str, body: &Value) -> reqwest::Response {
    app.as_bearer(app.patch("/api/v1/users/me"), access_token)
        .await
        .json(body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn the_profile_needs_the_gateway_identity() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    let (status, _) = problem(app.get("/api/v1/users/me").send().await.expect("request")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = problem(
        app.get("/api/v1/users/me")
            .header("x-user-id", "not-a-uuid")
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_display_name_can_be_changed() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let response = patch_me(
        &app,
        &auth.access_token,
        &json!({"display_name": "  Countess Ada "}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: User = response.json().await.expect("user");
    assert_eq!(updated.display_name, "Countess Ada");
    assert_eq!(updated.email, auth.user.email);
    let me: User = app
        .as_bearer(app.get("/api/v1/users/me"), &auth.access_token)
        .await
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("user");
    assert_eq!(me, updated);

    let unchanged: User = patch_me(&app, &auth.access_token, &json!({}))
        .await
        .json()
        .await
        .expect("user");
    assert_eq!(unchanged, updated);
}

#[tokio::test]
async fn invalid_changes_are_named_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let cases = [
        (json!({"display_name": " "}), "display_name", "required"),
        (
            json!({"new_password": "a brand new password"}),
            "current_password",
            "required",
        ),
        (
            json!({"current_password": PASSWORD}),
            "new_password",
            "required",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "short"}),
            "new_password",
            "too_short",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "ada@example.com"}),
            "new_password",
            "equals_email",
        ),
        (
            json!({"current_password": "not my password", "new_password": "a brand new password"}),
            "current_password",
            "incorrect",
        ),
        (json!({"email": "new@example.com"}), "email", "invalid"),
    ];
    for (body, field, code) in cases {
        let (status, problem) = problem(patch_me(&app, &auth.access_token, &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(fields(&problem), [field], "{body}");
        assert_eq!(code_of(&problem, field).as_deref(), Some(code), "{body}");
    }
    let (status, problem) = problem(
        patch_me(
            &app,
            &auth.access_token,
            &json!({"display_name": "", "current_password": PASSWORD, "new_password": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["display_name", "new_password"]);
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "the password is unchanged"
    );
    assert_eq!(
        app.refresh(&auth.refresh_token).await.status(),
        StatusCode::OK,
        "no session was revoked"
    );
}

#[tokio::test]
async fn a_token_that_outlived_its_account_is_refused() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let request = app
        .as_bearer(app.get("/api/v1/users/me"), &auth.access_token)
        .await;
    sqlx::query("DELETE FROM users")
        .execute(&app.db.pool)
        .await
        .expect("delete");
    let (status, _) = problem(request.send().await.expect("request")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh(&auth.refresh_token).await.status(),
        StatusCode::UNAUTHORIZED,
        "its sessions went with it"
    );
}
