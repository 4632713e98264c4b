//! Dependencies that fail: RabbitMQ away, the product service away or slow, the payment
//! provider down, and checkouts that never finish.

use std::sync::Arc;
use std::time::Duration;

use contracts::events::OrderEventKind;
use contracts::orders::{OrderStatus, PaymentStatus};
use reqwest::{Method, StatusCode};
use serde_json::json;

use testkit::TcpProxy;

use crate::support::{
    Answer, CARD_OK, Caller, CountingProvider, EventQueue, Options, PATIENCE, Shop, checkout_body,
    customer, eventually, key,
};

#[tokio::test]
async fn with_rabbitmq_unreachable_the_order_still_commits_and_its_events_follow() {
    // The order service reaches RabbitMQ through a proxy the test can take away; the shared
    // server itself keeps running for every other test.
    let proxy = TcpProxy::start(testkit::amqp_addr()).await;
    let shop = Shop::with(Options {
        amqp_url: Some(format!("amqp://guest:guest@{}/%2f", proxy.addr())),
        ..Options::default()
    })
    .await;
    let mut events = EventQueue::bind(&shop.amqp).await;
    let mug = shop.add_product("Mug", 1000, 10).await;
    let alice = customer();

    // The relay is connected and publishing...
    shop.add_to_cart(alice, mug, 1).await;
    let first = shop
        .checkout(alice, &key(), checkout_body(CARD_OK))
        .await
        .order();
    assert_eq!(
        events.next_for(first.id).await.0.kind,
        OrderEventKind::Placed
    );
    assert_eq!(events.next_for(first.id).await.0.kind, OrderEventKind::Paid);

    // ...until the broker goes away.
    proxy.stop();
    shop.add_to_cart(alice, mug, 2).await;
    let answer = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let second = answer.order();
    assert_eq!(second.status, OrderStatus::Paid);
    assert_eq!(shop.stock(mug).await, 7);
    assert_eq!(
        shop.unpublished(second.id).await,
        2,
        "the events wait in the outbox"
    );

    proxy.resume().await;
    let (placed, _) = events.next_for(second.id).await;
    assert_eq!(placed.kind, OrderEventKind::Placed);
    assert_eq!(placed.lines[0].quantity, 2);
    assert_eq!(
        events.next_for(second.id).await.0.kind,
        OrderEventKind::Paid
    );
    eventually("the outbox to be marked published", || async {
        shop.unpublished(second.id).await == 0
    })
    .await;
}

#[tokio::test]
async fn with_the_product_service_down_checkout_is_503_and_places_nothing() {
    let shop = Shop::with(Options {
        env: vec![
            ("PRODUCT_TIMEOUT_MS", "300".to_owned()),
            ("PRODUCT_RETRIES", "1".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    let mug = shop.add_product("Mug", 1000, 10).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 1).await;

    let product = shop.product.addr;
    shop.product.shutdown.trigger();
    eventually("the product service to stop listening", || async {
        tokio::net::TcpStream::connect(product).await.is_err()
    })
    .await;

    let key = key();
    let answer = shop.checkout(alice, &key, checkout_body(CARD_OK)).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        answer.body
    );
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["type"], json!("/problems/unavailable"));
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("product service")),
        "{:?}",
        answer.body
    );
    assert!(shop.orders(alice).await.is_empty());
    // A 503 is not remembered: the same key may be retried.
    let retry = shop.checkout(alice, &key, checkout_body(CARD_OK)).await;
    assert_eq!(retry.status, StatusCode::SERVICE_UNAVAILABLE);
    let cart = shop.call(Method::GET, "/api/v1/cart", alice, None).await;
    assert_eq!(cart.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_reservation_that_times_out_is_503_and_the_order_is_cancelled_not_left_pending() {
    let shop = Shop::with(Options {
        env: vec![
            ("PRODUCT_TIMEOUT_MS", "300".to_owned()),
            ("PRODUCT_RETRIES", "1".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    let mug = shop.add_product("Mug", 1000, 5).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 2).await;

    // Another transaction holds the product's stock row: prices still answer, but the
    // reservation waits past the deadline.
    let mut blocker = shop.product_db.pool.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM inventory WHERE product_id = $1 FOR UPDATE")
        .bind(mug)
        .execute(&mut *blocker)
        .await
        .expect("lock the stock row");
    let answer = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    blocker.rollback().await.expect("rollback");

    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        answer.body
    );
    assert_eq!(answer.body["type"], json!("/problems/unavailable"));
    let orders = shop.orders(alice).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(
        orders[0].status,
        OrderStatus::Cancelled,
        "compensated at once"
    );
    assert_eq!(orders[0].payment.status, PaymentStatus::Voided);
    // order.cancelled is on its way, for the product service to release whatever it may hold.
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT routing_key FROM outbox WHERE aggregate_id = $1 ORDER BY id")
            .bind(orders[0].id)
            .fetch_all(&shop.order_db.pool)
            .await
            .expect("outbox");
    assert_eq!(kinds, ["order.placed", "order.cancelled"]);
    assert_eq!(shop.stock(mug).await, 5);
}

#[tokio::test]
async fn abandoned_pending_orders_expire_and_their_stock_comes_back() {
    // A provider that never answers until let go: the checkout hangs with its order pending
    // and its stock reserved, as when a process dies half-way.
    let (shop, provider, mug, alice) =
        held_payment(vec![("PAYMENT_TIMEOUT_MS", "60000".to_owned())]).await;
    let checkout = checkout_on_hold(&shop, alice, mug).await;
    let pending = shop.orders(alice).await.remove(0);
    assert_eq!(pending.status, OrderStatus::Pending);

    let young = order::orders::expire_pending(&shop.state, Duration::from_secs(3600))
        .await
        .expect("sweep");
    assert_eq!(young, 0, "a recent pending order is left alone");
    let expired = order::orders::expire_pending(&shop.state, Duration::ZERO)
        .await
        .expect("sweep");
    assert_eq!(expired, 1);
    let order = shop.orders(alice).await.remove(0);
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(order.payment.status, PaymentStatus::Voided);
    assert_eq!(shop.stock(mug).await, 5, "the reservation is released");
    let again = order::orders::expire_pending(&shop.state, Duration::ZERO)
        .await
        .expect("sweep");
    assert_eq!(again, 0);

    // The stuck payment completes after all: it is refunded, the order stays cancelled.
    provider.gate.as_ref().expect("gated").add_permits(1);
    let answer = checkout.await.expect("join");
    assert_eq!(answer.status, StatusCode::CONFLICT, "{:?}", answer.body);
    assert_eq!((provider.charged(), provider.refunded()), (1, 1));
    assert_eq!(shop.orders(alice).await[0].status, OrderStatus::Cancelled);
    assert_eq!(shop.stock(mug).await, 5);
}

#[tokio::test]
async fn the_sweeper_cancels_an_abandoned_order_on_its_own_and_stops_on_shutdown() {
    // The sweeper runs every second. A pending order counts as abandoned after a minute, so
    // the sweeper cannot race the checkout below while it is still reserving; the test then
    // ages the order past that, and waits for the sweeper's timer to find it.
    let (shop, provider, mug, alice) = held_payment(vec![
        ("PAYMENT_TIMEOUT_MS", "60000".to_owned()),
        ("ORDER_SWEEP_SECS", "1".to_owned()),
        ("PENDING_ORDER_TTL_SECS", "60".to_owned()),
    ])
    .await;
    let checkout = checkout_on_hold(&shop, alice, mug).await;
    let pending = shop.orders(alice).await.remove(0);
    assert_eq!(pending.status, OrderStatus::Pending);
    sqlx::query("UPDATE orders SET created_at = now() - interval '1 hour' WHERE id = $1")
        .bind(pending.id)
        .execute(&shop.order_db.pool)
        .await
        .expect("age the order");

    eventually("the sweeper to cancel the order", || async {
        shop.orders(alice).await[0].status == OrderStatus::Cancelled
    })
    .await;
    let order = shop.orders(alice).await.remove(0);
    assert_eq!(order.payment.status, PaymentStatus::Voided);
    eventually("the sweeper to release the stock", || async {
        shop.stock(mug).await == 5
    })
    .await;
    assert_eq!(
        event_kinds(&shop, order.id).await,
        ["order.placed", "order.cancelled"]
    );
    provider.gate.as_ref().expect("gated").add_permits(1);
    let answer = checkout.await.expect("join");
    assert_eq!(answer.status, StatusCode::CONFLICT, "{:?}", answer.body);
    assert_eq!((provider.charged(), provider.refunded()), (1, 1));

    // On shutdown the background tasks (the sweeper and the relay) return: waiting for them
    // would time out if the sweeper's loop kept going.
    let shutdown = shop.order.shutdown.clone();
    shutdown.trigger();
    assert!(
        shutdown.wait_for_tasks(PATIENCE).await,
        "the background tasks stop on shutdown"
    );
    // And nothing sweeps any more: an abandoned order stays as it is. (Waiting can only miss
    // a sweeper that still runs, never fail one that stopped.)
    let stale = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO orders (id, user_id, status, currency, subtotal, tax, shipping, total,
                             shipping_address, created_at)
         VALUES ($1, $2, 'pending', 'USD', 0, 0, 0, 0, '{}', now() - interval '1 hour')",
    )
    .bind(stale)
    .bind(uuid::Uuid::new_v4())
    .execute(&shop.order_db.pool)
    .await
    .expect("an abandoned order");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status: String = sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
        .bind(stale)
        .fetch_one(&shop.order_db.pool)
        .await
        .expect("status");
    assert_eq!(status, "pending");
}

/// The outbox's routing keys of `order_id`'s events, in order.
async fn event_kinds(shop: &Shop, order_id: uuid::Uuid) -> Vec<String> {
    sqlx::query_scalar("SELECT routing_key FROM outbox WHERE aggregate_id = $1 ORDER BY id")
        .bind(order_id)
        .fetch_all(&shop.order_db.pool)
        .await
        .expect("outbox")
}

/// A shop whose payments wait for the test, with `env`, and a cart of two of five mugs.
async fn held_payment(
    env: Vec<(&'static str, String)>,
) -> (Arc<Shop>, Arc<CountingProvider>, uuid::Uuid, Caller) {
    let provider = CountingProvider::gated();
    let shop = Shop::with(Options {
        payments: Some(provider.clone()),
        env,
        ..Options::default()
    })
    .await;
    let mug = shop.add_product("Mug", 1000, 5).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 2).await;
    (Arc::new(shop), provider, mug, alice)
}

/// Starts Alice's checkout of her two mugs and waits until it holds their stock: from then on
/// it waits on the gated payment. The task answers once the payment is let go.
async fn checkout_on_hold(
    shop: &Arc<Shop>,
    alice: Caller,
    mug: uuid::Uuid,
) -> tokio::task::JoinHandle<Answer> {
    let checkout = {
        let shop = shop.clone();
        tokio::spawn(async move { shop.checkout(alice, &key(), checkout_body(CARD_OK)).await })
    };
    eventually("the order to hold its stock", || async {
        shop.stock(mug).await == 3
    })
    .await;
    checkout
}

#[tokio::test]
async fn a_reservation_that_expires_while_the_card_is_charged_is_refunded_not_oversold() {
    let (shop, provider, mug, alice) =
        held_payment(vec![("PAYMENT_TIMEOUT_MS", "60000".to_owned())]).await;
    let checkout = checkout_on_hold(&shop, alice, mug).await;
    let order_id = shop.orders(alice).await.remove(0).id;

    // While the card is being charged, the product service lets the reservation go (as its
    // expiry does), and sells four of the five mugs to another order.
    sqlx::query(
        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE order_id = $1",
    )
    .bind(order_id)
    .execute(&shop.product_db.pool)
    .await
    .expect("age the reservation");
    let expired = product::inventory::sweep_expired(&shop.product_state)
        .await
        .expect("expire");
    assert_eq!(expired, 1);
    assert_eq!(shop.stock(mug).await, 5);
    let other = uuid::Uuid::new_v4();
    let reserved = shop
        .product_call(
            Method::POST,
            "/internal/reservations",
            customer(),
            Some(json!({"order_id": other, "lines": [{"product_id": mug, "quantity": 4}]})),
        )
        .await;
    assert_eq!(reserved.status, StatusCode::CREATED, "{:?}", reserved.body);
    let sold = shop
        .product_call(
            Method::POST,
            &format!("/internal/reservations/{other}/commit"),
            customer(),
            Some(json!({})),
        )
        .await;
    assert_eq!(sold.status, StatusCode::OK, "{:?}", sold.body);
    assert_eq!(shop.stock(mug).await, 1);

    // The charge goes through; the stock cannot be committed any more, so it is given back.
    provider.gate.as_ref().expect("gated").add_permits(1);
    let answer = checkout.await.expect("join");
    assert_eq!(answer.status, StatusCode::CONFLICT, "{:?}", answer.body);
    assert_eq!(answer.body["type"], json!("/problems/conflict"));
    assert_eq!(
        answer.body["instance"],
        json!(format!("/api/v1/orders/{order_id}"))
    );
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("refunded")),
        "{:?}",
        answer.body
    );
    assert_eq!((provider.charged(), provider.refunded()), (1, 1));
    let order = shop.orders(alice).await.remove(0);
    assert_eq!(order.status, OrderStatus::Cancelled, "never paid");
    assert_eq!(order.payment.status, PaymentStatus::Refunded);
    let (payment_id, reason): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT provider_payment_id, failure_reason FROM payments WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_one(&shop.order_db.pool)
    .await
    .expect("payment");
    assert!(payment_id.is_some(), "the refunded charge is on record");
    assert_eq!(reason.as_deref(), Some("reservation_gone"));
    assert_eq!(
        event_kinds(&shop, order_id).await,
        ["order.placed", "order.cancelled"],
        "no order.paid for stock that was not sold"
    );
    assert_eq!(
        shop.stock(mug).await,
        1,
        "nothing sold twice, nothing put back twice"
    );
    let cart = shop.call(Method::GET, "/api/v1/cart", alice, None).await;
    assert_eq!(
        cart.body["items"][0]["quantity"],
        json!(2),
        "the cart is kept"
    );
}

#[tokio::test]
async fn with_the_product_service_gone_when_the_stock_is_committed_the_charge_is_refunded() {
    let (shop, provider, mug, alice) = held_payment(vec![
        ("PAYMENT_TIMEOUT_MS", "60000".to_owned()),
        ("PRODUCT_TIMEOUT_MS", "300".to_owned()),
        ("PRODUCT_RETRIES", "1".to_owned()),
    ])
    .await;
    let checkout = checkout_on_hold(&shop, alice, mug).await;
    let order_id = shop.orders(alice).await.remove(0).id;
    let product = shop.product.addr;
    shop.product.shutdown.trigger();
    eventually("the product service to stop listening", || async {
        tokio::net::TcpStream::connect(product).await.is_err()
    })
    .await;

    provider.gate.as_ref().expect("gated").add_permits(1);
    let answer = checkout.await.expect("join");
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        answer.body
    );
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("product service")),
        "{:?}",
        answer.body
    );
    assert_eq!((provider.charged(), provider.refunded()), (1, 1));
    let order = shop.orders(alice).await.remove(0);
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(order.payment.status, PaymentStatus::Refunded);
    // order.cancelled releases the reservation once the product service is back.
    assert_eq!(
        event_kinds(&shop, order_id).await,
        ["order.placed", "order.cancelled"]
    );
}

#[tokio::test]
async fn a_payment_provider_that_hangs_is_cut_off_and_the_stock_comes_back() {
    let (shop, provider, mug, alice) =
        held_payment(vec![("PAYMENT_TIMEOUT_MS", "300".to_owned())]).await;
    let answer = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        answer.body
    );
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("payment provider")),
        "{:?}",
        answer.body
    );
    assert_eq!(provider.charged(), 0);
    let order = shop.orders(alice).await.remove(0);
    assert_eq!(order.status, OrderStatus::PaymentFailed);
    assert_eq!(order.payment.status, PaymentStatus::Voided);
    assert_eq!(shop.stock(mug).await, 5);
}

#[tokio::test]
async fn with_the_payment_provider_down_checkout_is_503_and_the_stock_comes_back() {
    let shop = Shop::with(Options {
        env: vec![("PAYMENT_TEST_FAILURE_RATE", "1".to_owned())],
        ..Options::default()
    })
    .await;
    let mug = shop.add_product("Mug", 1000, 5).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 2).await;
    let key = key();
    for attempt in 1..=2 {
        let answer = shop.checkout(alice, &key, checkout_body(CARD_OK)).await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            answer.body
        );
        assert!(
            answer.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("payment provider"))
        );
        assert_eq!(shop.stock(mug).await, 5);
        // Not remembered under the key: each retry is a new attempt.
        assert_eq!(shop.orders(alice).await.len(), attempt);
    }
    for order in shop.orders(alice).await {
        assert_eq!(order.status, OrderStatus::PaymentFailed);
        assert_eq!(order.payment.status, PaymentStatus::Voided);
    }
}

#[tokio::test]
async fn the_sweeper_forgets_expired_keys_and_old_published_events() {
    let shop = Shop::start().await;
    let alice = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, content_type,
                                       response_body, created_at)
         VALUES ($1, 'old', 'h', 201, 'application/json', '\\x7b7d', now() - interval '25 hours'),
                ($1, 'stuck', 'h', NULL, NULL, NULL, now() - interval '2 hours'),
                ($1, 'fresh', 'h', 201, 'application/json', '\\x7b7d', now())",
    )
    .bind(alice)
    .execute(&shop.order_db.pool)
    .await
    .expect("keys");
    sqlx::query(
        "INSERT INTO outbox (event_id, aggregate_id, routing_key, payload, published_at)
         VALUES (gen_random_uuid(), gen_random_uuid(), 'order.placed', '{}', now() - interval '8 days'),
                (gen_random_uuid(), gen_random_uuid(), 'order.placed', '{}', now())",
    )
    .execute(&shop.order_db.pool)
    .await
    .expect("events");

    order::sweep(&shop.state, shop.config.background.outbox_retention).await;

    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys ORDER BY key")
        .fetch_all(&shop.order_db.pool)
        .await
        .expect("keys");
    assert_eq!(keys, ["fresh"]);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&shop.order_db.pool)
        .await
        .expect("events");
    assert_eq!(events, 1);
}
