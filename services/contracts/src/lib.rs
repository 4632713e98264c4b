//! API and event payloads shared by every service and the browser.
//!
//! One definition of every payload, from the browser (this crate compiles to
//! `wasm32-unknown-unknown`) through the gateway and services to the events on the broker.
//! The conventions every module follows:
//!
//! - JSON field names are `snake_case`; times are RFC 3339 strings; ids are UUIDs.
//! - Money is integer minor units plus an ISO 4217 currency ([`money::Money`]), never floats.
//! - Request bodies reject unknown fields, so a typo is a 4xx rather than a silently ignored
//!   value; so do the small value types they contain ([`money::Money`],
//!   [`inventory::ReserveLine`]), whose shape is fixed. Responses, query strings and events
//!   accept unknown fields, so a producer can add a field without breaking older readers.
//! - Request types hold shape; the value types shared by several services check themselves
//!   and are built only by their parsers ([`money::Currency`], [`address::Address`],
//!   [`cart::Quantity`], [`pagination::PageLimit`]), so holding one means holding a valid
//!   value and every service applies the same rule. A service answers a refused value with a
//!   [`problem::Problem`] that names the field.
//! - Types that carry secrets (passwords, tokens, card data) redact them in `Debug`, so they
//!   can be logged without leaking.
//! - The `openapi` feature derives `utoipa::ToSchema` for every type (and `IntoParams` for
//!   query strings); the browser build leaves it off.
#![warn(missing_docs)]

pub mod address;
pub mod auth;
pub mod cart;
pub mod catalog;
pub mod events;
pub mod inventory;
pub mod money;
pub mod orders;
pub mod pagination;
mod patch;
pub mod problem;
pub mod users;
