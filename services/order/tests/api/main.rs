//! The order service over HTTP, with the real product service, Postgres and RabbitMQ.

mod card_data;
mod cart;
mod checkout;
mod faults;
mod guest_cart;
mod lifecycle;
mod openapi;
mod outbox;
mod retries;
mod shipping_address;
mod support;
