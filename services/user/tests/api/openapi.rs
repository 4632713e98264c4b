//! The OpenAPI document the gateway merges describes exactly the public routes.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_document_lists_every_public_route_and_no_internal_one() {
    let app = TestApp::spawn().await;
    let response = app.get("/openapi.json").send().await.expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.expect("json");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "{doc}"
    );
    let paths = doc["paths"].as_object().expect("paths");
    let mut routes: Vec<String> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        [
            "DELETE /api/v1/users/me/addresses/{id}",
            "GET /.well-known/jwks.json",
            "GET /api/v1/admin/users",
            "GET /api/v1/users/me",
            "GET /api/v1/users/me/addresses",
            "PATCH /api/v1/admin/users/{id}",
            "PATCH /api/v1/users/me",
            "PATCH /api/v1/users/me/addresses/{id}",
            "POST /api/v1/auth/login",
            "POST /api/v1/auth/logout",
            "POST /api/v1/auth/refresh",
            "POST /api/v1/auth/register",
            "POST /api/v1/users/me/addresses",
        ]
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "AuthResponse",
        "TokenResponse",
        "Problem",
        "User",
        "Address",
        "UpdateAddress",
    ] {
        assert!(schemas.contains_key(name), "{name} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        paths["/api/v1/users/me"]["get"]["security"][0]["bearer"],
        serde_json::json!([])
    );
    assert!(
        paths["/api/v1/auth/login"]["post"]
            .get("security")
            .is_none()
    );
}
