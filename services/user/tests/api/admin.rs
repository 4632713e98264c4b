//! The admin's user list and role changes.

use contracts::auth::Role;
use contracts::pagination::Page;
use contracts::users::User;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, fields, problem};

async fn list(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.as_bearer(app.get(&format!("/api/v1/admin/users{query}")), token)
        .await
        .send()
        .await
        .expect("request")
}

async fn page(app: &TestApp, token: &str, query: &str) -> Page<User> {
    let response = list(app, token, query).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    response.json().await.expect("page")
}

async fn set_roles(
    app: &TestApp,
    token: &str,
    id: uuid::Uuid,
    roles: serde_json::Value,
) -> reqwest::Response {
    app.as_bearer(app.patch(&format!("/api/v1/admin/users/{id}")), token)
        .await
        .json(&json!({ "roles": roles }))
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn customers_cannot_use_the_admin_endpoints() {
    let app = TestApp::spawn().await;
    let customer = app.signed_up("ada@example.com").await;
    let (status, _) = problem(list(&app, &customer.access_token, "").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = problem(
        set_roles(
            &app,
            &customer.access_token,
            customer.user.id,
            json!(["admin"]),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = problem(
        app.get("/api/v1/admin/users")
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn users_are_listed_by_email_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@shop.example").await;
    for name in ["erin", "bob", "dave", "alice", "carol"] {
        app.signed_up(&format!("{name}@example.com")).await;
    }
    let mut emails = Vec::new();
    let mut query = "?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = page(&app, &admin.access_token, &query).await;
        assert!(page.items.len() <= 2);
        emails.extend(page.items.into_iter().map(|u| u.email));
        pages += 1;
        match page.next_cursor {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        emails,
        [
            "alice@example.com",
            "bob@example.com",
            "carol@example.com",
            "dave@example.com",
            "erin@example.com",
            "root@shop.example"
        ]
    );

    let default_page = page(&app, &admin.access_token, "").await;
    assert_eq!(default_page.items.len(), 6);
    assert_eq!(default_page.next_cursor, None);
}

#[tokio::test]
async fn the_list_filters_by_email() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@shop.example").await;
    for email in [
        "ann@example.com",
        "joanne@example.org",
        "bob@example.com",
        "a_b@example.com",
    ] {
        app.signed_up(email).await;
    }
    let emails = |page: Page<User>| page.items.into_iter().map(|u| u.email).collect::<Vec<_>>();
    assert_eq!(
        emails(page(&app, &admin.access_token, "?email=ANN").await),
        ["ann@example.com", "joanne@example.org"]
    );
    assert_eq!(
        emails(page(&app, &admin.access_token, "?email=example.org").await),
        ["joanne@example.org"]
    );
    assert_eq!(
        emails(page(&app, &admin.access_token, "?email=_").await),
        ["a_b@example.com"],
        "wildcards match literally"
    );
    let filtered = page(&app, &admin.access_token, "?email=example.com&limit=1").await;
    let cursor = filtered.next_cursor.expect("more");
    assert_eq!(
        emails(
            page(
                &app,
                &admin.access_token,
                &format!("?email=example.com&limit=5&cursor={cursor}")
            )
            .await
        ),
        ["ann@example.com", "bob@example.com"]
    );
}

#[tokio::test]
async fn bad_list_parameters_are_named() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@shop.example").await;
    for query in ["?limit=0", "?limit=101"] {
        let (status, body) = problem(list(&app, &admin.access_token, query).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(fields(&body), ["limit"]);
    }
    for query in ["?limit=ten", "?cursor=not-a-cursor"] {
        let (status, body) = problem(list(&app, &admin.access_token, query).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(fields(&body).len(), 1, "{body}");
    }
}

#[tokio::test]
async fn a_role_change_shows_in_the_next_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@shop.example").await;
    let bob = app.signed_up("bob@example.com").await;

    let response = set_roles(
        &app,
        &admin.access_token,
        bob.user.id,
        json!(["admin", "customer", "admin"]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: User = response.json().await.expect("user");
    assert_eq!(updated.roles, vec![Role::Customer, Role::Admin]);

    // The token bob holds is unchanged until it is refreshed.
    assert_eq!(
        app.claims(&bob.access_token).await.roles,
        vec![Role::Customer]
    );
    let refreshed = app.refreshed(&bob.refresh_token).await;
    assert_eq!(
        app.claims(&refreshed.access_token).await.roles,
        vec![Role::Customer, Role::Admin]
    );
    assert_eq!(
        list(&app, &refreshed.access_token, "").await.status(),
        StatusCode::OK
    );

    let demoted = set_roles(&app, &admin.access_token, bob.user.id, json!(["customer"])).await;
    assert_eq!(demoted.status(), StatusCode::OK);
    let login: contracts::auth::AuthResponse = app
        .login("bob@example.com", crate::helpers::PASSWORD)
        .await
        .json()
        .await
        .expect("auth response");
    assert_eq!(
        app.claims(&login.access_token).await.roles,
        vec![Role::Customer]
    );
}

#[tokio::test]
async fn role_changes_are_checked() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@shop.example").await;
    let bob = app.signed_up("bob@example.com").await;

    let (status, body) =
        problem(set_roles(&app, &admin.access_token, bob.user.id, json!([])).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), ["roles"]);
    let (status, _) =
        problem(set_roles(&app, &admin.access_token, bob.user.id, json!(["root"])).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = problem(
        set_roles(
            &app,
            &admin.access_token,
            admin.user.id,
            json!(["customer"]),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "no self-demotion");
    assert_eq!(fields(&body), ["roles"]);
    let (status, _) = problem(
        set_roles(
            &app,
            &admin.access_token,
            uuid::Uuid::new_v4(),
            json!(["customer"]),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = problem(
        app.as_bearer(
            app.patch("/api/v1/admin/users/not-a-uuid"),
            &admin.access_token,
        )
        .await
        .json(&json!({"roles": ["customer"]}))
        .send()
        .await
        .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
