//! Who is signed in: the tokens kept in the browser and the [`Session`] context of the app.
//!
//! The refresh token is never in the page's reach: the user service keeps it in the
//! `refresh_token` cookie (HttpOnly, Secure, SameSite=Strict, sent only to `/api/v1/auth`), and
//! a refresh made with it answers the next one in the cookie alone. What `localStorage` keeps
//! is the user and the short-lived access token, so a reload or a second tab stays signed in;
//! an XSS hole could read that access token until it expires (minutes), never the session
//! itself. The web service's CSP (scripts only from this origin, none inline) is what keeps
//! foreign scripts off the page.
//!
//! A visitor's guest cart token is kept in `localStorage` too ([`guest_cart_token`]): the API
//! hands it out in a header and takes it back in one (no cookie, so no cross-site request can
//! use it), and it must outlive a reload for the cart to. It names a cart and nothing else; it
//! is spent, and forgotten, once the cart is merged into an account's cart on sign-in.

use std::rc::Rc;

use contracts::auth::Role;
use contracts::users::User;
use gloo_storage::{LocalStorage, Storage};
use serde::{Deserialize, Serialize};
use yew::prelude::*;

const STORAGE_KEY: &str = "ecommerce.session";
const GUEST_CART_KEY: &str = "ecommerce.guest_cart";

/// What is kept in `localStorage` between page loads.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    /// The signed-in user.
    pub user: User,
    /// The current access token.
    pub access_token: String,
}

impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("user", &self.user)
            .field("access_token", &"[redacted]")
            .finish()
    }
}

/// The stored session, if any (and readable: a damaged entry counts as signed out).
pub fn stored() -> Option<StoredSession> {
    LocalStorage::get(STORAGE_KEY).ok()
}

/// Keeps a session.
pub fn store(session: &StoredSession) {
    // Storage can be full or disabled (private mode): the session then lasts for this page only.
    let _ = LocalStorage::set(STORAGE_KEY, session);
}

/// Replaces the stored user (after a profile change), keeping the tokens.
pub fn update_user(user: &User) {
    if let Some(mut session) = stored() {
        session.user = user.clone();
        store(&session);
    }
}

/// Forgets the session.
pub fn forget() {
    LocalStorage::delete(STORAGE_KEY);
}

/// The token of the visitor's guest cart, if the visitor has one.
pub fn guest_cart_token() -> Option<String> {
    LocalStorage::get(GUEST_CART_KEY).ok()
}

/// Keeps the token of the guest cart the API just created.
pub fn keep_guest_cart_token(token: &str) {
    // Without storage the cart lasts for this page only, like the session.
    let _ = LocalStorage::set(GUEST_CART_KEY, token);
}

/// Forgets the guest cart token (merged, expired, or refused).
pub fn forget_guest_cart_token() {
    LocalStorage::delete(GUEST_CART_KEY);
}

/// The app's view of who is signed in, shared as a context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// The signed-in user; `None` for a visitor.
    pub user: Option<User>,
}

impl Session {
    /// A session for `user`.
    pub fn signed_in(user: User) -> Self {
        Self { user: Some(user) }
    }

    /// Whether the user may use the admin portal.
    pub fn is_admin(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|user| user.roles.contains(&Role::Admin))
    }
}

/// What changes a [`Session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionAction {
    /// Signed in, or the profile changed.
    SignedIn(User),
    /// Signed out, or the session expired.
    SignedOut,
}

impl Reducible for Session {
    type Action = SessionAction;

    fn reduce(self: Rc<Self>, action: SessionAction) -> Rc<Self> {
        Rc::new(match action {
            SessionAction::SignedIn(user) => Self::signed_in(user),
            SessionAction::SignedOut => Self::default(),
        })
    }
}

/// The session context: read it with [`use_session`], change it by dispatching a [`SessionAction`].
pub type SessionHandle = UseReducerHandle<Session>;

/// The session of the app. Panics outside the app's `ContextProvider`, which is a bug.
#[hook]
pub fn use_session() -> SessionHandle {
    use_context::<SessionHandle>().expect("components are rendered inside the session provider")
}
