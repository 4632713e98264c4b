//! The one client of the shop's API (`/api/v1` on the page's own origin).
//!
//! Every request and answer is a `contracts` type, so the browser and the services agree on
//! every payload at compile time. Failures become an [`ApiError`]: a problem+json answer keeps
//! its per-field messages ([`FieldErrors`]) for the form that sent the request.
//!
//! Signed-in requests carry `Authorization: Bearer <access token>`. When the API answers 401
//! (the short-lived access token expired), the client asks for a new access token once and
//! repeats the request, so people never notice; the refresh token travels in the HttpOnly
//! cookie the user service set (see [`crate::session`]), never through this code. If that
//! fails too, the session is over: it is forgotten and the listener set with
//! [`on_session_expired`] is told.
//!
//! A visitor has a cart too: the first cart write without a token creates a guest cart, whose
//! token the API answers in the `Guest-Cart-Token` header; the client keeps it
//! ([`session::guest_cart_token`]) and sends it with the visitor's cart requests. Signing in or
//! registering merges the guest cart into the account's cart ([`login`], [`register`]), after
//! which the token is spent and forgotten. Every answer that shows the cart tells the listener
//! set with [`on_cart_changed`] how many units it holds (the header's cart badge).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use contracts::address::PostalAddress;
use contracts::auth::{
    AuthResponse, LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest, TokenResponse,
};
use contracts::cart::{Cart, GUEST_CART_TOKEN_HEADER, MergedCart, SetQuantity};
use contracts::catalog::{Category, NewProduct, Product, ProductQuery, StockUpdate, UpdateProduct};
use contracts::orders::{AdminOrderQuery, CheckoutRequest, Order, StatusChange};
use contracts::pagination::{Page, PageQuery};
use contracts::problem::{Problem, problem_types};
use contracts::users::{Address, AdminUpdateUser, UpdateProfile, User, UserQuery};
use gloo_net::http::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;
use yew::{AttrValue, Callback};

use crate::session::{self, StoredSession};

/// Why an API call has no result.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The API answered with a problem (RFC 9457).
    Problem(Box<Problem>),
    /// No answer: offline, or the server is unreachable.
    Network(String),
    /// An answer that is neither the expected payload nor a problem.
    Unexpected {
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        detail: String,
    },
}

impl ApiError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Problem(problem) => Some(problem.status),
            Self::Network(_) => None,
            Self::Unexpected { status, .. } => Some(*status),
        }
    }

    /// Whether this is a problem of the given [`problem_types`] type.
    pub fn is(&self, problem_type: &str) -> bool {
        matches!(self, Self::Problem(problem) if problem.type_ == problem_type)
    }

    /// Whether signing in (again) would help.
    pub fn needs_sign_in(&self) -> bool {
        self.status() == Some(401)
    }

    /// A sentence for people: the problem's title and detail, or what went wrong.
    pub fn message(&self) -> String {
        match self {
            Self::Problem(problem) => match &problem.detail {
                Some(detail) if !detail.is_empty() => {
                    format!("{} {}", sentence(&problem.title), detail)
                }
                _ => sentence(&problem.title),
            },
            Self::Network(_) => {
                "The shop cannot be reached. Check your connection and try again.".to_owned()
            }
            Self::Unexpected { status, .. } => {
                format!("Something went wrong (HTTP {status}). Please try again.")
            }
        }
    }

    /// The per-field messages of a validation problem.
    pub fn field_errors(&self) -> FieldErrors {
        match self {
            Self::Problem(problem) => FieldErrors::from_problem(problem),
            _ => FieldErrors::default(),
        }
    }
}

fn sentence(title: &str) -> String {
    if title.ends_with(['.', '!', '?']) {
        title.to_owned()
    } else {
        format!("{title}.")
    }
}

/// Messages by field name, as the API names fields (`email`, `price.amount`, `card.number`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    /// The field errors of a problem; several messages for one field are joined.
    pub fn from_problem(problem: &Problem) -> Self {
        let mut errors = Self::default();
        for error in &problem.errors {
            errors.add(&error.field, &error.message);
        }
        errors
    }

    /// Adds a message for `field` (a form's own checks use the API's field names too).
    pub fn add(&mut self, field: &str, message: &str) {
        self.0
            .entry(field.to_owned())
            .and_modify(|existing| {
                existing.push(' ');
                existing.push_str(message);
            })
            .or_insert_with(|| message.to_owned());
    }

    /// The message for `field` and the fields inside it (`price` covers `price.amount`).
    pub fn get(&self, field: &str) -> Option<AttrValue> {
        let messages: Vec<&str> = self
            .0
            .iter()
            .filter(|(name, _)| {
                name.as_str() == field
                    || name
                        .strip_prefix(field)
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            })
            .map(|(_, message)| message.as_str())
            .collect();
        (!messages.is_empty()).then(|| AttrValue::from(messages.join(" ")))
    }

    /// The message for exactly `field`, not the fields inside it.
    pub fn get_exact(&self, field: &str) -> Option<AttrValue> {
        self.0
            .get(field)
            .map(|message| AttrValue::from(message.clone()))
    }

    /// The messages of the fields inside `prefix`, named relative to it:
    /// `nested("shipping_address")` turns `shipping_address.city` into `city`.
    pub fn nested(&self, prefix: &str) -> Self {
        Self(
            self.0
                .iter()
                .filter_map(|(name, message)| {
                    name.strip_prefix(prefix)
                        .and_then(|rest| rest.strip_prefix('.'))
                        .map(|rest| (rest.to_owned(), message.clone()))
                })
                .collect(),
        )
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every field and its message, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The result of an API call.
pub type ApiResult<T> = Result<T, ApiError>;

thread_local! {
    static SESSION_EXPIRED: RefCell<Option<Callback<()>>> = const { RefCell::new(None) };
    static CART_CHANGED: RefCell<Option<Callback<u32>>> = const { RefCell::new(None) };
    /// One refresh at a time: refresh tokens are single-use, and spending one twice revokes
    /// the whole session, so requests that fail together wait for the first one's refresh.
    static REFRESH: Rc<futures::lock::Mutex<()>> = Rc::new(futures::lock::Mutex::new(()));
}

/// Sets who is told when the session ends without the person signing out (refresh failed).
pub fn on_session_expired(listener: Callback<()>) {
    SESSION_EXPIRED.with(|cell| *cell.borrow_mut() = Some(listener));
}

fn session_expired() {
    session::forget();
    if let Some(listener) = SESSION_EXPIRED.with(|cell| cell.borrow().clone()) {
        listener.emit(());
    }
}

/// Sets who is told how many units the cart holds, whenever an answer shows the cart.
pub fn on_cart_changed(listener: Callback<u32>) {
    CART_CHANGED.with(|cell| *cell.borrow_mut() = Some(listener));
}

/// Tells the [`on_cart_changed`] listener about `cart` (`None`: a visitor without a cart).
fn cart_changed(cart: Option<&Cart>) {
    let units = cart.map_or(0, |cart| {
        let held = cart.items.iter().map(|line| line.quantity);
        held.chain(cart.unavailable.iter().map(|line| line.quantity))
            .fold(0_u32, u32::saturating_add)
    });
    if let Some(listener) = CART_CHANGED.with(|cell| cell.borrow().clone()) {
        listener.emit(units);
    }
}

/// A request about to be sent.
struct Call<'a> {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<serde_json::Value>,
    headers: Vec<(&'a str, String)>,
    /// A cart request: a visitor's carries the guest cart token, and keeps the one it is given.
    guest_cart: bool,
}

impl<'a> Call<'a> {
    fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            headers: Vec::new(),
            guest_cart: false,
        }
    }

    fn guest_cart(mut self) -> Self {
        self.guest_cart = true;
        self
    }

    fn json(mut self, body: &impl Serialize) -> ApiResult<Self> {
        self.body = Some(
            serde_json::to_value(body).map_err(|e| ApiError::Unexpected {
                status: 0,
                detail: format!("cannot encode the request: {e}"),
            })?,
        );
        Ok(self)
    }

    fn query(mut self, query: &impl Serialize) -> Self {
        self.query = query_pairs(query);
        self
    }

    fn header(mut self, name: &'a str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    async fn attempt(&self, access_token: Option<&str>) -> ApiResult<Response> {
        let mut builder = RequestBuilder::new(&self.path)
            .method(self.method.clone())
            .header("Accept", "application/json, application/problem+json")
            .query(self.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(token) = access_token {
            builder = builder.header("Authorization", &format!("Bearer {token}"));
        } else if self.guest_cart
            && let Some(token) = session::guest_cart_token()
        {
            builder = builder.header(GUEST_CART_TOKEN_HEADER, &token);
        }
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let request = match &self.body {
            Some(body) => builder.json(body),
            None => builder.build(),
        }
        .map_err(|e| ApiError::Network(e.to_string()))?;
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Network(e.to_string()))?;
        if self.guest_cart
            && let Some(token) = response.headers().get(GUEST_CART_TOKEN_HEADER)
        {
            session::keep_guest_cart_token(&token);
        }
        Ok(response)
    }

    /// Sends the request with the session's access token, refreshing it once on a 401.
    async fn send(&self) -> ApiResult<Response> {
        let stored = session::stored();
        let token = stored.as_ref().map(|s| s.access_token.clone());
        let response = self.attempt(token.as_deref()).await?;
        match token {
            Some(used) if response.status() == 401 => {
                let fresh = refresh(&used).await?;
                self.attempt(Some(&fresh)).await
            }
            _ => Ok(response),
        }
    }

    /// Sends the request and reads the answer as `T`.
    async fn fetch<T: DeserializeOwned>(&self) -> ApiResult<T> {
        read(self.send().await?).await
    }

    /// Sends the request; any success will do, its body is not needed.
    async fn run(&self) -> ApiResult<()> {
        let response = self.send().await?;
        if response.ok() {
            Ok(())
        } else {
            Err(problem(&response).await)
        }
    }
}

/// Trades the refresh token cookie for a new access token (and a new cookie), unless another
/// request did while this one waited; answers the access token to use now.
async fn refresh(used_access_token: &str) -> ApiResult<String> {
    let lock = REFRESH.with(Rc::clone);
    let _one_at_a_time = lock.lock().await;
    let Some(current) = session::stored() else {
        return Err(signed_out_problem());
    };
    if current.access_token != used_access_token {
        return Ok(current.access_token);
    }
    // No token in the body: the browser sends the cookie.
    let call = Call::new(Method::POST, "/api/v1/auth/refresh").json(&RefreshRequest::default())?;
    let response = call.attempt(None).await?;
    if response.ok() {
        let tokens: TokenResponse = read(response).await?;
        let access_token = tokens.access_token.clone();
        session::store(&StoredSession {
            user: current.user,
            access_token: tokens.access_token,
        });
        Ok(access_token)
    } else if matches!(response.status(), 400 | 401 | 403 | 422) {
        // The refresh token is spent, revoked or expired: this session is over.
        session_expired();
        Err(signed_out_problem())
    } else {
        Err(problem(&response).await)
    }
}

fn signed_out_problem() -> ApiError {
    ApiError::Problem(Box::new(
        Problem::new(problem_types::UNAUTHORIZED, "Your session has ended", 401)
            .with_detail("Please sign in again."),
    ))
}

async fn read<T: DeserializeOwned>(response: Response) -> ApiResult<T> {
    if !response.ok() {
        return Err(problem(&response).await);
    }
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| ApiError::Network(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| ApiError::Unexpected {
        status,
        detail: format!("unexpected answer: {e}"),
    })
}

/// The problem of a failed answer; a body that is not one still gets a problem-like error.
async fn problem(response: &Response) -> ApiError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<Problem>(&text) {
        Ok(problem) => ApiError::Problem(Box::new(problem)),
        Err(_) => ApiError::Unexpected {
            status,
            detail: response.status_text(),
        },
    }
}

/// A query struct as `(name, value)` pairs; absent (`None`) fields are left out.
fn query_pairs(query: &impl Serialize) -> Vec<(String, String)> {
    serde_urlencoded::to_string(query)
        .ok()
        .and_then(|encoded| serde_urlencoded::from_str(&encoded).ok())
        .unwrap_or_default()
}

// --- auth ------------------------------------------------------------------------------------

/// Signs in (or up) with an [`AuthResponse`]: remembers the user and the access token, and
/// drops the body's refresh token, which the cookie set with the same answer holds out of
/// scripts' reach.
fn remember(auth: AuthResponse) -> User {
    session::store(&StoredSession {
        user: auth.user.clone(),
        access_token: auth.access_token,
    });
    auth.user
}

/// `POST /api/v1/auth/register`: creates an account and signs in, bringing the visitor's
/// guest cart into it.
pub async fn register(request: &RegisterRequest) -> ApiResult<User> {
    let auth = Call::new(Method::POST, "/api/v1/auth/register")
        .json(request)?
        .attempt(None)
        .await?;
    let user = read(auth).await.map(remember)?;
    merge_guest_cart().await;
    Ok(user)
}

/// `POST /api/v1/auth/login`: signs in, bringing the visitor's guest cart into the account's
/// cart.
pub async fn login(request: &LoginRequest) -> ApiResult<User> {
    let auth = Call::new(Method::POST, "/api/v1/auth/login")
        .json(request)?
        .attempt(None)
        .await?;
    let user = read(auth).await.map(remember)?;
    merge_guest_cart().await;
    Ok(user)
}

/// `POST /api/v1/auth/logout`: revokes the cookie's refresh token, clears the cookie and
/// forgets the session. The session is forgotten here even when the API cannot be reached,
/// since signing out must always work.
pub async fn logout() {
    if let Some(stored) = session::stored() {
        session::forget();
        if let Ok(call) =
            Call::new(Method::POST, "/api/v1/auth/logout").json(&LogoutRequest::default())
        {
            // Best effort: the refresh token expires on its own if this request is lost.
            let _ = call.attempt(Some(&stored.access_token)).await;
        }
    }
}

// --- users -----------------------------------------------------------------------------------

/// `GET /api/v1/users/me`.
pub async fn me() -> ApiResult<User> {
    Call::new(Method::GET, "/api/v1/users/me").fetch().await
}

/// `PATCH /api/v1/users/me`: answers the updated user and remembers it.
pub async fn update_me(change: &UpdateProfile) -> ApiResult<User> {
    let user: User = Call::new(Method::PATCH, "/api/v1/users/me")
        .json(change)?
        .fetch()
        .await?;
    session::update_user(&user);
    Ok(user)
}

/// `GET /api/v1/users/me/addresses`: every saved address (a user keeps a few, so one page).
pub async fn addresses() -> ApiResult<Vec<Address>> {
    let page: Page<Address> = Call::new(Method::GET, "/api/v1/users/me/addresses")
        .fetch()
        .await?;
    Ok(page.items)
}

/// `POST /api/v1/users/me/addresses`.
pub async fn add_address(address: &PostalAddress) -> ApiResult<Address> {
    Call::new(Method::POST, "/api/v1/users/me/addresses")
        .json(address)?
        .fetch()
        .await
}

// --- catalog ---------------------------------------------------------------------------------

/// `GET /api/v1/categories`.
pub async fn categories() -> ApiResult<Vec<Category>> {
    Call::new(Method::GET, "/api/v1/categories").fetch().await
}

/// `GET /api/v1/products?...`.
pub async fn products(query: &ProductQuery) -> ApiResult<Page<Product>> {
    Call::new(Method::GET, "/api/v1/products")
        .query(query)
        .fetch()
        .await
}

/// `GET /api/v1/products/{id}`.
pub async fn product(id: Uuid) -> ApiResult<Product> {
    Call::new(Method::GET, format!("/api/v1/products/{id}"))
        .fetch()
        .await
}

// --- cart and checkout -----------------------------------------------------------------------

/// `GET /api/v1/cart`: the signed-in customer's cart, or the visitor's guest cart; `None` for
/// a visitor without one, who has not put anything in a cart yet (or whose guest cart expired).
pub async fn cart() -> ApiResult<Option<Cart>> {
    let cart = if session::stored().is_some() {
        // A merge that failed when signing in (the network) is tried again.
        merge_guest_cart().await;
        Some(Call::new(Method::GET, "/api/v1/cart").fetch().await?)
    } else if session::guest_cart_token().is_some() {
        match Call::new(Method::GET, "/api/v1/cart")
            .guest_cart()
            .fetch()
            .await
        {
            Ok(cart) => Some(cart),
            // Left unused too long: the visitor starts afresh with the next product added.
            Err(error) if error.needs_sign_in() => {
                session::forget_guest_cart_token();
                None
            }
            Err(error) => return Err(error),
        }
    } else {
        None
    };
    cart_changed(cart.as_ref());
    Ok(cart)
}

/// `PUT /api/v1/cart/items/{id}`: sets the units of a product (1 to 99); answers the cart. A
/// visitor's first write creates a guest cart, and so does a write to one that expired.
pub async fn set_quantity(product_id: Uuid, quantity: u32) -> ApiResult<Cart> {
    let call = Call::new(Method::PUT, format!("/api/v1/cart/items/{product_id}"))
        .json(&SetQuantity { quantity })?
        .guest_cart();
    let sent_guest_token = session::stored().is_none() && session::guest_cart_token().is_some();
    let cart = match call.fetch().await {
        Err(error) if sent_guest_token && error.needs_sign_in() => {
            session::forget_guest_cart_token();
            call.fetch().await?
        }
        answer => answer?,
    };
    cart_changed(Some(&cart));
    Ok(cart)
}

/// Adds `quantity` units of a product to what the cart holds already; answers the cart.
pub async fn add_to_cart(product_id: Uuid, quantity: u32) -> ApiResult<Cart> {
    let held = cart()
        .await?
        .and_then(|cart| {
            cart.items
                .iter()
                .find(|line| line.product_id == product_id)
                .map(|line| line.quantity)
        })
        .unwrap_or(0);
    set_quantity(product_id, held.saturating_add(quantity)).await
}

/// `DELETE /api/v1/cart/items/{id}` (answered `204`); answers the cart after it.
pub async fn remove_from_cart(product_id: Uuid) -> ApiResult<Option<Cart>> {
    Call::new(Method::DELETE, format!("/api/v1/cart/items/{product_id}"))
        .guest_cart()
        .run()
        .await?;
    cart().await
}

/// `POST /api/v1/cart/merge`: moves the visitor's guest cart, if there is one, into the
/// signed-in customer's cart, and forgets its token once the API has spent it (or refused it:
/// expired). Quantities add up as the API caps them; products that did not fit into a full
/// cart stay out, as the API's answer lists. A failure to reach the API keeps the token, so the
/// next cart read tries again: signing in never fails for the cart's sake.
async fn merge_guest_cart() {
    let Some(token) = session::guest_cart_token() else {
        return;
    };
    let merged = Call::new(Method::POST, "/api/v1/cart/merge")
        .header(GUEST_CART_TOKEN_HEADER, token)
        .fetch::<MergedCart>()
        .await;
    if merged.is_ok() || merged.is_err_and(|error| matches!(error.status(), Some(400 | 404))) {
        session::forget_guest_cart_token();
    }
}

/// `POST /api/v1/checkout` with `Idempotency-Key: key`: the same key for a repeated attempt
/// means the order is placed (and the card charged) at most once.
pub async fn checkout(request: &CheckoutRequest, key: Uuid) -> ApiResult<Order> {
    let order = Call::new(Method::POST, "/api/v1/checkout")
        .json(request)?
        .header("Idempotency-Key", key.to_string())
        .fetch()
        .await?;
    // A paid order takes its products out of the cart; the badge follows. The order stands
    // whether or not the cart can be read now.
    let _ = cart().await;
    Ok(order)
}

// --- orders ----------------------------------------------------------------------------------

/// `GET /api/v1/orders?limit=&cursor=`: the customer's orders, newest first.
pub async fn orders(query: &PageQuery) -> ApiResult<Page<Order>> {
    Call::new(Method::GET, "/api/v1/orders")
        .query(query)
        .fetch()
        .await
}

/// `GET /api/v1/orders/{id}`.
pub async fn order(id: Uuid) -> ApiResult<Order> {
    Call::new(Method::GET, format!("/api/v1/orders/{id}"))
        .fetch()
        .await
}

/// `POST /api/v1/orders/{id}/cancel`.
pub async fn cancel_order(id: Uuid) -> ApiResult<Order> {
    Call::new(Method::POST, format!("/api/v1/orders/{id}/cancel"))
        .fetch()
        .await
}

// --- admin -----------------------------------------------------------------------------------

/// `POST /api/v1/admin/products`.
pub async fn create_product(product: &NewProduct) -> ApiResult<Product> {
    Call::new(Method::POST, "/api/v1/admin/products")
        .json(product)?
        .fetch()
        .await
}

/// `PATCH /api/v1/admin/products/{id}`: 412 when `change.version` is no longer current.
pub async fn update_product(id: Uuid, change: &UpdateProduct) -> ApiResult<Product> {
    Call::new(Method::PATCH, format!("/api/v1/admin/products/{id}"))
        .json(change)?
        .fetch()
        .await
}

/// `DELETE /api/v1/admin/products/{id}`.
pub async fn delete_product(id: Uuid) -> ApiResult<()> {
    Call::new(Method::DELETE, format!("/api/v1/admin/products/{id}"))
        .run()
        .await
}

/// `PUT /api/v1/admin/products/{id}/stock`.
pub async fn set_stock(id: Uuid, stock: StockUpdate) -> ApiResult<()> {
    Call::new(Method::PUT, format!("/api/v1/admin/products/{id}/stock"))
        .json(&stock)?
        .run()
        .await
}

/// `GET /api/v1/admin/orders?status=&limit=&cursor=`.
pub async fn admin_orders(query: &AdminOrderQuery) -> ApiResult<Page<Order>> {
    Call::new(Method::GET, "/api/v1/admin/orders")
        .query(query)
        .fetch()
        .await
}

/// `POST /api/v1/admin/orders/{id}/status`.
pub async fn set_order_status(id: Uuid, change: StatusChange) -> ApiResult<Order> {
    Call::new(Method::POST, format!("/api/v1/admin/orders/{id}/status"))
        .json(&change)?
        .fetch()
        .await
}

/// `GET /api/v1/admin/users?email=&limit=&cursor=`.
pub async fn admin_users(query: &UserQuery) -> ApiResult<Page<User>> {
    Call::new(Method::GET, "/api/v1/admin/users")
        .query(query)
        .fetch()
        .await
}

/// `PATCH /api/v1/admin/users/{id}`.
pub async fn set_roles(id: Uuid, change: &AdminUpdateUser) -> ApiResult<User> {
    Call::new(Method::PATCH, format!("/api/v1/admin/users/{id}"))
        .json(change)?
        .fetch()
        .await
}

#[cfg(test)]
mod tests {
    use contracts::problem::FieldError;

    use super::*;

    #[test]
    fn field_errors_cover_nested_fields_and_join_messages() {
        let problem =
            Problem::new(problem_types::VALIDATION, "Invalid request", 422).with_errors(vec![
                FieldError::new("price.amount", "negative", "must not be negative"),
                FieldError::new("sku", "required", "is required"),
                FieldError::new("sku", "too_long", "is too long"),
                FieldError::new("pricey", "invalid", "is another field"),
            ]);
        let errors = ApiError::Problem(Box::new(problem)).field_errors();
        assert_eq!(errors.get("price").as_deref(), Some("must not be negative"));
        assert_eq!(
            errors.get("sku").as_deref(),
            Some("is required is too long")
        );
        assert_eq!(errors.get("name"), None);
        assert_eq!(errors.iter().count(), 3);
    }

    #[test]
    fn messages_read_as_sentences() {
        let declined = ApiError::Problem(Box::new(
            Problem::new(problem_types::PAYMENT_DECLINED, "Payment declined", 402)
                .with_detail("The card was declined."),
        ));
        assert_eq!(
            declined.message(),
            "Payment declined. The card was declined."
        );
        assert!(declined.is(problem_types::PAYMENT_DECLINED));
        assert_eq!(declined.status(), Some(402));
        assert!(!declined.needs_sign_in());
        assert!(signed_out_problem().needs_sign_in());
        assert!(
            ApiError::Network("offline".to_owned())
                .message()
                .contains("cannot be reached")
        );
    }

    #[test]
    fn queries_leave_out_absent_parameters() {
        let query = ProductQuery {
            q: Some("blue mug".to_owned()),
            sort: Some(contracts::catalog::ProductSort::PriceAsc),
            ..ProductQuery::default()
        };
        assert_eq!(
            query_pairs(&query),
            [
                ("q".to_owned(), "blue mug".to_owned()),
                ("sort".to_owned(), "price_asc".to_owned())
            ]
        );
        assert!(query_pairs(&PageQuery::default()).is_empty());
    }
}
