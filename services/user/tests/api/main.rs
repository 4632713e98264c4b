//! Black-box tests of the user service: the real app over HTTP, against a fresh Postgres
//! database per test.

mod addresses;
mod admin;
mod auth;
mod backoff;
mod cli;
mod helpers;
mod jwks;
mod openapi;
mod profile;
mod refresh;
