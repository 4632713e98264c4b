//! The route table: which upstream serves a path, and who may call it.
//!
//! Only the public API is routed. `/internal/*` and the upstreams' own `/healthz`, `/readyz` and
//! `/metrics` match no entry, so they are unreachable from outside; with a web upstream the
//! catch-all forwards only what the storefront serves, and those paths are refused first.

use std::time::Duration;

use http::Method;

use crate::config::{GatewayConfig, Resilience};

/// The services behind the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Upstream {
    /// Accounts and tokens.
    User,
    /// Catalog and inventory.
    Product,
    /// Carts, checkout and orders.
    Order,
    /// The storefront's static files.
    Web,
}

/// One slot per upstream, at [`Upstream::index`]: looked up on every request, where a hash map
/// would hash its key each time.
pub type PerUpstream<T> = [Option<T>; Upstream::ALL.len()];

impl Upstream {
    /// Every upstream, each at its [`Upstream::index`].
    pub const ALL: [Self; 4] = [Self::User, Self::Product, Self::Order, Self::Web];

    /// Its place in [`Upstream::ALL`] and in a [`PerUpstream`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The name used in problems, logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Self::User => "user service",
            Self::Product => "product service",
            Self::Order => "order service",
            Self::Web => "web service",
        }
    }

    /// Its base URL.
    pub fn base_url(self, config: &GatewayConfig) -> Option<&str> {
        let upstreams = &config.upstreams;
        match self {
            Self::User => Some(&upstreams.user),
            Self::Product => Some(&upstreams.product),
            Self::Order => Some(&upstreams.order),
            Self::Web => upstreams.web.as_deref(),
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; a valid token, when sent, still identifies the caller.
    Public,
    /// A signed-in user.
    User,
    /// A signed-in admin.
    Admin,
}

/// One entry of the table.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The upstream that serves it.
    pub upstream: Upstream,
    /// Who may call it.
    pub access: Access,
    /// Whether it is a login/register style endpoint with the stricter rate limit.
    pub credential: bool,
    /// Whether it gets the long checkout timeout.
    pub slow: bool,
    /// Whether a visitor sending it without a guest cart token creates a guest cart (a cart
    /// write), which counts against the address's guest cart bucket.
    pub creates_guest_cart: bool,
}

impl Route {
    const fn new(upstream: Upstream, access: Access) -> Self {
        Self {
            upstream,
            access,
            credential: false,
            slow: false,
            creates_guest_cart: false,
        }
    }

    /// The time the upstream gets to answer.
    pub fn timeout(&self, resilience: &Resilience) -> Duration {
        if self.slow {
            resilience.checkout_timeout
        } else {
            resilience.timeout
        }
    }
}

/// Paths under a prefix: the prefix itself or anything below it.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Finds the route for a request, or `None` when nothing public serves it.
pub fn resolve(method: &Method, path: &str, has_web: bool) -> Option<Route> {
    use Access::{Admin, Public, User as Signed};
    use Upstream::{Order, Product, User, Web};
    let route = if under(path, "/api/v1/admin/users") {
        Route::new(User, Admin)
    } else if under(path, "/api/v1/admin/products") || under(path, "/api/v1/admin/categories") {
        Route::new(Product, Admin)
    } else if under(path, "/api/v1/admin/orders") {
        Route::new(Order, Admin)
    } else if under(path, "/api/v1/auth") {
        Route {
            credential: path == "/api/v1/auth/login" || path == "/api/v1/auth/register",
            ..Route::new(User, Public)
        }
    } else if under(path, "/api/v1/users") {
        Route::new(User, Signed)
    } else if path == "/.well-known/jwks.json" {
        Route::new(User, Public)
    } else if under(path, "/api/v1/categories") || under(path, "/api/v1/products") {
        Route::new(Product, Public)
    } else if under(path, "/api/v1/checkout") {
        Route {
            slow: true,
            ..Route::new(Order, Signed)
        }
    } else if path == "/api/v1/cart/merge" || under(path, "/api/v1/orders") {
        Route::new(Order, Signed)
    } else if under(path, "/api/v1/cart") {
        // Visitors have guest carts: the order service tells them from signed-in customers.
        Route {
            creates_guest_cart: *method == Method::PUT && under(path, "/api/v1/cart/items"),
            ..Route::new(Order, Public)
        }
    } else if has_web
        && matches!(*method, Method::GET | Method::HEAD)
        && !under(path, "/api")
        && !under(path, "/internal")
        && !matches!(path, "/healthz" | "/readyz" | "/metrics")
    {
        Route::new(Web, Public)
    } else {
        return None;
    };
    Some(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(path: &str) -> Option<Upstream> {
        resolve(&Method::GET, path, true).map(|r| r.upstream)
    }

    #[test]
    fn api_paths_go_to_their_service() {
        assert_eq!(upstream("/api/v1/auth/login"), Some(Upstream::User));
        assert_eq!(upstream("/api/v1/users/me/addresses"), Some(Upstream::User));
        assert_eq!(upstream("/.well-known/jwks.json"), Some(Upstream::User));
        assert_eq!(upstream("/api/v1/products"), Some(Upstream::Product));
        assert_eq!(
            upstream("/api/v1/products/123/image.svg"),
            Some(Upstream::Product)
        );
        assert_eq!(upstream("/api/v1/categories"), Some(Upstream::Product));
        assert_eq!(upstream("/api/v1/cart/items/1"), Some(Upstream::Order));
        assert_eq!(upstream("/api/v1/checkout"), Some(Upstream::Order));
        assert_eq!(upstream("/api/v1/orders/1/cancel"), Some(Upstream::Order));
        assert_eq!(upstream("/api/v1/admin/orders"), Some(Upstream::Order));
        assert_eq!(upstream("/api/v1/admin/users/1"), Some(Upstream::User));
        assert_eq!(
            upstream("/api/v1/admin/products/1/stock"),
            Some(Upstream::Product)
        );
    }

    #[test]
    fn internal_and_ops_paths_are_never_routed() {
        for path in [
            "/internal/reservations",
            "/internal",
            "/metrics",
            "/healthz",
            "/readyz",
            "/api/v1/internal/x",
            "/api/v2/products",
        ] {
            assert_eq!(upstream(path), None, "{path}");
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert_eq!(upstream("/api/v1/productsecret"), None);
        assert_eq!(upstream("/api/v1/cartel"), None);
    }

    #[test]
    fn storefront_paths_go_to_web_only_for_reads_and_only_with_a_web_upstream() {
        assert_eq!(upstream("/"), Some(Upstream::Web));
        assert_eq!(upstream("/products/abc"), Some(Upstream::Web));
        assert_eq!(resolve(&Method::POST, "/", true).map(|r| r.upstream), None);
        assert_eq!(resolve(&Method::GET, "/", false).map(|r| r.upstream), None);
    }

    #[test]
    fn every_upstream_sits_at_its_index() {
        for (at, upstream) in Upstream::ALL.into_iter().enumerate() {
            assert_eq!(upstream.index(), at, "{upstream:?}");
        }
    }

    #[test]
    fn access_levels() {
        let access = |path: &str| resolve(&Method::GET, path, false).map(|r| r.access);
        assert_eq!(access("/api/v1/products"), Some(Access::Public));
        assert_eq!(access("/api/v1/cart"), Some(Access::Public));
        assert_eq!(access("/api/v1/cart/items/1"), Some(Access::Public));
        assert_eq!(access("/api/v1/cart/merge"), Some(Access::User));
        assert_eq!(access("/api/v1/orders"), Some(Access::User));
        assert_eq!(access("/api/v1/admin/orders"), Some(Access::Admin));
        assert!(resolve(&Method::POST, "/api/v1/auth/login", false).is_some_and(|r| r.credential));
        assert!(
            resolve(&Method::POST, "/api/v1/auth/refresh", false).is_some_and(|r| !r.credential)
        );
        assert!(resolve(&Method::POST, "/api/v1/checkout", false).is_some_and(|r| r.slow));
    }

    #[test]
    fn only_cart_writes_create_guest_carts() {
        let creates = |method: Method, path: &str| {
            resolve(&method, path, true).is_some_and(|r| r.creates_guest_cart)
        };
        assert!(creates(Method::PUT, "/api/v1/cart/items/1"));
        assert!(!creates(Method::GET, "/api/v1/cart"));
        assert!(!creates(Method::DELETE, "/api/v1/cart/items/1"));
        assert!(!creates(Method::POST, "/api/v1/cart/merge"));
        assert!(!creates(Method::PUT, "/api/v1/admin/products/1/stock"));
    }
}
