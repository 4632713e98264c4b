//! What the services' OpenAPI documents share. Each service derives its own document from its
//! handlers' annotations and the contracts types (utoipa) and serves it at `/openapi.json`; the
//! gateway fetches it there (the path is not routed publicly) and merges the documents into
//! `/api/v1/openapi.json`.

use std::sync::LazyLock;

use axum::Router;
use axum::routing::get;
use utoipa::Modify;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::Json;

/// Declares the `bearer` security scheme that protected paths name with
/// `security(("bearer" = []))`: the access token from sign-in. Without it a service's own
/// document names a scheme it never defines.
#[derive(Debug)]
pub struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `GET /openapi.json`, answering `document`. A `LazyLock`: the document is built once, on the
/// first request, since it only changes with the code.
pub fn route<S>(document: &'static LazyLock<OpenApi>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route(
        "/openapi.json",
        get(move || async move { Json(&**document) }),
    )
}
