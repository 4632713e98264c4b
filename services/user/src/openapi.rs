//! `/openapi.json`: the service's public API, generated from the handlers' annotations.
//!
//! The gateway fetches it (the path is not routed publicly) and merges it with the other
//! services' documents into `/api/v1/openapi.json`. Internal routes are left out.

use std::sync::LazyLock;

use axum::Router;
use kit::openapi::BearerToken;
use utoipa::OpenApi;

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

/// Built once: the document only changes with the code.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

pub(crate) fn router() -> Router<AppState> {
    kit::openapi::route(&DOCUMENT)
}
