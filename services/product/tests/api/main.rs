//! The product service over HTTP, against the real Postgres, Redis and RabbitMQ.

mod cache;
mod catalog;
mod categories;
mod events;
mod helpers;
mod inventory;
mod openapi;
mod search;
mod seed;
