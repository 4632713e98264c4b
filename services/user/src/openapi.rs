//! `/openapi.json`: the service's public API, generated from the handlers' annotations.
//!
//! The gateway fetches it (the path is not routed publicly) and merges it with the other
//! services' documents into `/api/v1/openapi.json`. Internal routes are left out.

use std::sync::LazyLock;

use axum::Router;
use axum::routing::get;
use kit::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{AppState, access, addresses, admin, auth, profile};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ecommerce user service",
        description = "Accounts, sign-in, access and refresh tokens, profiles, addresses and roles."
    ),
    paths(
        auth::register,
        auth::login,
        auth::refresh,
        auth::logout,
        access::jwks,
        profile::show,
        profile::update,
        addresses::list,
        addresses::create,
        addresses::update,
        addresses::delete,
        admin::list,
        admin::update,
    ),
    modifiers(&BearerToken),
    tags(
        (name = "auth", description = "Registering, signing in and out, tokens"),
        (name = "users", description = "One's own profile and addresses"),
        (name = "admin", description = "Managing users (admins only)"),
    )
)]
struct ApiDoc;

/// Declares the `bearer` scheme the protected paths name: the access token from sign-in.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
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

/// Built once: the document only changes with the code.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}
