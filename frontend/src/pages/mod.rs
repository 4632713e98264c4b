//! The pages of the storefront, and the admin portal under [`admin`].
//!
//! Pages fetch through [`crate::api`] and draw with [`crate::components`]; each shows a
//! loading, an empty and an error state.

mod account;
pub mod admin;
mod auth;
mod cart;
mod catalog;
mod checkout;
mod home;
mod not_found;
mod orders;
mod product;

pub use account::Account;
pub use auth::{Login, Register};
pub use cart::CartPage;
pub use catalog::Catalog;
pub use checkout::{Checkout, Confirmation};
pub use home::Home;
pub use not_found::NotFound;
pub use orders::{OrderPage, Orders};
pub use product::ProductPage;
