//! Calls to the product service that fail once are retried, a bounded number of times, and
//! only when the failure is not a final answer. Every call is idempotent (prices are a read,
//! reservations are keyed by the order id), so a retry after a lost answer changes nothing.

use contracts::inventory::ReservationStatus;
use contracts::orders::OrderStatus;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{CARD_OK, Fault, FaultyProxy, Options, Shop, checkout_body, customer, key};

const PRICES: &str = "/internal/products/prices";
const RESERVE: &str = "/internal/reservations";
const COMMIT: &str = "/commit";

async fn shop_with_faults(env: Vec<(&'static str, String)>) -> Shop {
    Shop::with(Options {
        product_faults: true,
        env,
        ..Options::default()
    })
    .await
}

fn proxy(shop: &Shop) -> &FaultyProxy {
    shop.faults.as_ref().expect("a faulty proxy")
}

#[tokio::test]
async fn each_product_call_that_fails_once_is_retried_and_the_checkout_succeeds() {
    let shop = shop_with_faults(vec![("PRODUCT_RETRIES", "2".to_owned())]).await;
    let mug = shop.add_product("Mug", 1000, 10).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 2).await;
    let proxy = proxy(&shop);
    let (prices, reserves, commits) = (proxy.seen(PRICES), proxy.seen(RESERVE), proxy.seen(COMMIT));

    // Prices: a 503 before the product service saw it. The reservation: made, but its answer
    // lost to a 503. The commit: done, and the connection cut in the middle of its answer.
    proxy.fail(PRICES, Fault::Unavailable, 1);
    proxy.fail(RESERVE, Fault::LoseAnswer, 1);
    proxy.fail(COMMIT, Fault::CutConnection, 1);
    let answer = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let order = answer.order();
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(proxy.seen(PRICES) - prices, 2, "prices asked twice");
    assert_eq!(proxy.seen(RESERVE) - reserves, 2, "reserved twice");
    assert_eq!(proxy.seen(COMMIT) - commits, 2, "committed twice");

    // The repeated reservation and commit held and sold the units once.
    assert_eq!(shop.stock(mug).await, 8);
    let reservation = shop
        .product_call(
            Method::POST,
            &format!("/internal/reservations/{}/commit", order.id),
            customer(),
            Some(json!({})),
        )
        .await;
    assert_eq!(reservation.status, StatusCode::OK, "{:?}", reservation.body);
    assert_eq!(
        reservation.body["status"],
        json!(ReservationStatus::Committed)
    );
    assert_eq!(reservation.body["lines"][0]["quantity"], json!(2));
}

#[tokio::test]
async fn retries_are_bounded_and_a_final_answer_is_not_retried() {
    let shop = shop_with_faults(vec![
        ("PRODUCT_RETRIES", "2".to_owned()),
        ("PRODUCT_TIMEOUT_MS", "500".to_owned()),
    ])
    .await;
    let mug = shop.add_product("Mug", 1000, 1).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 1).await;
    let proxy = proxy(&shop);

    // A product service that keeps failing is asked 1 + PRODUCT_RETRIES times, then the
    // checkout gives up with a 503 and cancels its order.
    proxy.fail(RESERVE, Fault::Unavailable, usize::MAX);
    let before = proxy.seen(RESERVE);
    let answer = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        answer.body
    );
    assert_eq!(proxy.seen(RESERVE) - before, 3);
    assert_eq!(shop.orders(alice).await[0].status, OrderStatus::Cancelled);

    // "Too little stock" is the product service's final word: asked once.
    proxy.heal();
    let bob = customer();
    shop.add_to_cart(bob, mug, 1).await;
    shop.add_to_cart(alice, mug, 1).await;
    let bobs = shop.checkout(bob, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(bobs.status, StatusCode::CREATED, "{:?}", bobs.body);
    let before = proxy.seen(RESERVE);
    let answer = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{:?}", answer.body);
    assert_eq!(answer.body["type"], json!("/problems/insufficient-stock"));
    assert_eq!(proxy.seen(RESERVE) - before, 1);
}
