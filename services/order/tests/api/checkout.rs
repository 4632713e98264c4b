//! Checkout: paid orders, declined cards, short stock, and exactly-once per Idempotency-Key.

use std::sync::Arc;
use std::time::Duration;

use contracts::events::OrderEventKind;
use contracts::orders::{OrderStatus, PaymentStatus};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::support::{
    CARD_DECLINED, CARD_NO_FUNDS, CARD_OK, CountingProvider, EventQueue, Options, PATIENCE, Shop,
    checkout_body, customer, eventually, key,
};

#[tokio::test]
async fn a_checkout_pays_the_order_sells_the_stock_and_publishes_its_events() {
    let shop = Shop::start().await;
    let mut events = EventQueue::bind(&shop.amqp).await;
    let mug = shop.add_product("Mug", 1999, 10).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 3).await;

    let answer = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    let order = answer.order();
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(order.lines.len(), 1);
    assert_eq!(order.lines[0].product_id, mug);
    assert_eq!(order.lines[0].unit_price.amount, 1999);
    assert_eq!(order.lines[0].line_total.amount, 5997);
    // 8 % of 59.97 is 4.7976: 4.80. 59.97 is above the free-shipping threshold.
    assert_eq!(order.totals.subtotal.amount, 5997);
    assert_eq!(order.totals.tax.amount, 480);
    assert_eq!(order.totals.shipping.amount, 0);
    assert_eq!(order.totals.total.amount, 6477);
    assert_eq!(order.payment.status, PaymentStatus::Succeeded);
    assert_eq!(order.payment.card_last4, "4242");
    assert_eq!(order.payment.brand.as_deref(), Some("visa"));
    assert_eq!(order.shipping_address.country, "GB");
    assert!(!String::from_utf8_lossy(&answer.bytes).contains("4242 4242 4242"));

    // Stock is sold: fewer units for sale, and the reservation is committed (committing it
    // again is a no-op that reports its state).
    assert_eq!(shop.stock(mug).await, 7);
    let commit = shop
        .product_call(
            Method::POST,
            &format!("/internal/reservations/{}/commit", order.id),
            customer(),
            Some(json!({})),
        )
        .await;
    assert_eq!(commit.status, StatusCode::OK, "{:?}", commit.body);
    assert_eq!(commit.body["status"], "committed");
    assert_eq!(
        shop.stock(mug).await,
        7,
        "a second commit sells nothing more"
    );

    // The cart is empty and the order is the customer's.
    let cart = shop.call(Method::GET, "/api/v1/cart", alice, None).await;
    assert_eq!(cart.body["items"], json!([]));
    let fetched = shop
        .call(
            Method::GET,
            &format!("/api/v1/orders/{}", order.id),
            alice,
            None,
        )
        .await;
    assert_eq!(fetched.order(), order);

    let (placed, delivery) = events.next_for(order.id).await;
    assert_eq!(placed.kind, OrderEventKind::Placed);
    assert_eq!(delivery.routing_key.as_str(), "order.placed");
    assert_eq!(placed.user_id, order.user_id);
    assert_eq!(placed.lines[0].product_id, mug);
    assert_eq!(placed.lines[0].quantity, 3);
    let properties = &delivery.properties;
    assert_eq!(
        properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_owned()),
        Some(placed.event_id.to_string())
    );
    assert_eq!(*properties.delivery_mode(), Some(2), "persistent");
    assert_eq!(
        properties
            .content_type()
            .as_ref()
            .map(|c| c.as_str().to_owned()),
        Some("application/json".to_owned())
    );
    let (paid, delivery) = events.next_for(order.id).await;
    assert_eq!(paid.kind, OrderEventKind::Paid);
    assert_eq!(delivery.routing_key.as_str(), "order.paid");
    assert!(paid.occurred_at >= placed.occurred_at);
    // The relay marks the rows after the broker confirmed them, which may be just after the
    // consumer got them.
    eventually("the outbox to be marked published", || async {
        shop.unpublished(order.id).await == 0
    })
    .await;
}

#[tokio::test]
async fn the_events_carry_the_trace_of_the_checkout() {
    // What a service process installs at start: spans with OpenTelemetry ids. Each test runs
    // in its own process under nextest, so this global subscriber is this test's alone. The
    // request spans are at `info`, so the filter must let them through for them to exist.
    let _telemetry = kit::telemetry::init(
        "order-test",
        &kit::telemetry::TelemetryConfig {
            filter: "info".to_owned(),
            pretty: false,
            otlp_endpoint: None,
        },
    );
    let shop = Shop::start().await;
    let mut events = EventQueue::bind(&shop.amqp).await;
    let mug = shop.add_product("Mug", 1000, 5).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 1).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let answer = shop
        .traced_checkout(
            alice,
            &key(),
            checkout_body(CARD_OK),
            &format!("00-{trace_id}-00f067aa0ba902b7-01"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let order = answer.order();
    for kind in [OrderEventKind::Placed, OrderEventKind::Paid] {
        let (event, delivery) = events.next_for(order.id).await;
        assert_eq!(event.kind, kind);
        let headers = delivery.properties.headers().as_ref().expect("headers");
        let context = kit::telemetry::extract_amqp(headers);
        use opentelemetry::trace::TraceContextExt;
        assert_eq!(
            context.span().span_context().trace_id().to_string(),
            trace_id,
            "{kind:?} continues the checkout's trace"
        );
    }
}

#[tokio::test]
async fn a_declined_card_is_402_and_the_stock_comes_back() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 1000, 5).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 2).await;

    for (card, reason) in [
        (CARD_DECLINED, "card_declined"),
        (CARD_NO_FUNDS, "insufficient_funds"),
    ] {
        let answer = shop.checkout(alice, &key(), checkout_body(card)).await;
        assert_eq!(
            answer.status,
            StatusCode::PAYMENT_REQUIRED,
            "{:?}",
            answer.body
        );
        assert_eq!(answer.content_type, "application/problem+json");
        assert_eq!(answer.body["type"], json!("/problems/payment-declined"));
        assert!(
            answer.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains(reason)),
            "{:?}",
            answer.body
        );
        assert_eq!(shop.stock(mug).await, 5, "the reservation is released");
    }
    let orders = shop.orders(alice).await;
    assert_eq!(orders.len(), 2);
    for order in orders {
        assert_eq!(order.status, OrderStatus::PaymentFailed);
        assert_eq!(order.payment.status, PaymentStatus::Declined);
    }
    // The cart is kept, so the customer can try another card.
    let cart = shop.call(Method::GET, "/api/v1/cart", alice, None).await;
    assert_eq!(cart.body["items"][0]["quantity"], json!(2));
    let retry = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{:?}", retry.body);
    assert_eq!(shop.stock(mug).await, 3);
}

#[tokio::test]
async fn too_little_stock_is_409_naming_the_products() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 1000, 1).await;
    let pen = shop.add_product("Pen", 100, 50).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 2).await;
    shop.add_to_cart(alice, pen, 1).await;

    let answer = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{:?}", answer.body);
    assert_eq!(answer.body["type"], json!("/problems/insufficient-stock"));
    assert_eq!(
        answer.body["insufficient_stock"],
        json!([{"product_id": mug, "requested": 2, "available": 1}])
    );
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Mug")),
        "{:?}",
        answer.body
    );
    assert_eq!(shop.stock(mug).await, 1);
    assert_eq!(
        shop.stock(pen).await,
        50,
        "nothing is reserved when one line is short"
    );
    let orders = shop.orders(alice).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].status, OrderStatus::Cancelled);
    assert_eq!(orders[0].payment.status, PaymentStatus::Voided);
}

#[tokio::test]
async fn ten_concurrent_checkouts_with_one_key_place_one_order_and_charge_once() {
    // The provider holds the payment of whichever checkout claims the key first until the
    // test lets it go, so the other nine arrive while the key is held and unanswered: they
    // must wait for the first's answer, not replay one that is already stored.
    let provider = CountingProvider::gated();
    let shop = Shop::with(Options {
        payments: Some(provider.clone()),
        env: vec![
            ("IDEMPOTENCY_WAIT_MS", "60000".to_owned()),
            ("PAYMENT_TIMEOUT_MS", "60000".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    let mug = shop.add_product("Mug", 1000, 20).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 2).await;

    let shop = Arc::new(shop);
    let key = key();
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let (shop, key) = (shop.clone(), key.clone());
            tokio::spawn(async move { shop.checkout(alice, &key, checkout_body(CARD_OK)).await })
        })
        .collect();
    eventually(
        "one checkout to hold the stock while it is being paid",
        || async { shop.stock(mug).await == 18 },
    )
    .await;

    // Proof that the nine others are waiting inside the claim: the test locks the key's row
    // (still without a response), and every waiting request's next attempt to claim the key
    // blocks on that lock, where Postgres shows it.
    let mut holder = PgConnection::connect(&shop.order_db.url)
        .await
        .expect("connect");
    let mut observer = PgConnection::connect(&shop.order_db.url)
        .await
        .expect("connect");
    let mut lock = holder.begin().await.expect("begin");
    let held: Vec<Option<i16>> =
        sqlx::query_scalar("SELECT status_code FROM idempotency_keys WHERE key = $1 FOR UPDATE")
            .bind(&key)
            .fetch_all(&mut *lock)
            .await
            .expect("lock the key");
    assert_eq!(held, [None], "the first checkout holds the key, unanswered");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = $1 AND wait_event_type = 'Lock'
               AND query LIKE 'INSERT INTO idempotency_keys%'",
        )
        .bind(&shop.order_db.name)
        .fetch_one(&mut observer)
        .await
        .expect("pg_stat_activity");
        if waiting == 9 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for nine checkouts to wait on the key ({waiting} do)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        attempts.iter().all(|attempt| !attempt.is_finished()),
        "no checkout is answered while the first is being paid"
    );
    lock.rollback().await.expect("unlock the key");
    provider.gate.as_ref().expect("gated").add_permits(1);

    let mut answers = Vec::new();
    for attempt in attempts {
        answers.push(attempt.await.expect("join"));
    }
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        assert_eq!(answer.bytes, answers[0].bytes, "byte-identical responses");
        assert_eq!(answer.content_type, answers[0].content_type);
    }
    assert_eq!(shop.orders(alice).await.len(), 1);
    assert_eq!(provider.charged(), 1);
    assert_eq!(shop.stock(mug).await, 18);

    // Later retries replay the same answer too, without paying again.
    let later = shop.checkout(alice, &key, checkout_body(CARD_OK)).await;
    assert_eq!(later.bytes, answers[0].bytes);
    assert_eq!(provider.charged(), 1);
}

#[tokio::test]
async fn a_key_is_for_one_request_and_is_required() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 1000, 20).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 1).await;
    let key = key();
    let first = shop
        .checkout(alice, &key, checkout_body(CARD_DECLINED))
        .await;
    assert_eq!(first.status, StatusCode::PAYMENT_REQUIRED);
    // The declined answer is final for this key, even with the same card...
    let replay = shop
        .checkout(alice, &key, checkout_body(CARD_DECLINED))
        .await;
    assert_eq!(replay.bytes, first.bytes);
    // ...and another body with the same key is refused.
    let other = shop.checkout(alice, &key, checkout_body(CARD_OK)).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.fields(), ["Idempotency-Key"]);
    // Keys are per user: another customer may use the same one.
    let bob = customer();
    shop.add_to_cart(bob, mug, 1).await;
    let bobs = shop.checkout(bob, &key, checkout_body(CARD_OK)).await;
    assert_eq!(bobs.status, StatusCode::CREATED, "{:?}", bobs.body);

    let missing = shop
        .call(
            Method::POST,
            "/api/v1/checkout",
            alice,
            Some(checkout_body(CARD_OK)),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.fields(), ["Idempotency-Key"]);
    assert_eq!(shop.orders(alice).await.len(), 1, "only the declined one");
}

#[tokio::test]
async fn a_retry_with_other_card_digits_or_cvc_is_another_request() {
    let provider = CountingProvider::new();
    let shop = Shop::with(Options {
        payments: Some(provider.clone()),
        ..Options::default()
    })
    .await;
    let mug = shop.add_product("Mug", 1000, 20).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 1).await;
    let key = key();
    let first = shop.checkout(alice, &key, checkout_body(CARD_OK)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);

    // The same request replays, also with the card number written without its spaces.
    for number in [CARD_OK, "4242424242424242"] {
        let replay = shop.checkout(alice, &key, checkout_body(number)).await;
        assert_eq!(replay.bytes, first.bytes, "{number}");
    }
    // Another card with the same last four digits and expiry, or another CVC, is another
    // request: replaying the first one's payment to it would be wrong.
    let other_digits = checkout_body("4000 0000 0002 4242");
    let mut other_cvc = checkout_body(CARD_OK);
    other_cvc["card"]["cvc"] = json!("124");
    for body in [other_digits, other_cvc] {
        let answer = shop.checkout(alice, &key, body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            answer.body
        );
        assert_eq!(answer.fields(), ["Idempotency-Key"]);
    }
    assert_eq!(provider.charged(), 1);
    assert_eq!(shop.orders(alice).await.len(), 1);

    // What is stored is a digest, holding neither the card number nor the CVC.
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT request_hash FROM idempotency_keys WHERE key = $1")
            .bind(&key)
            .fetch_all(&shop.order_db.pool)
            .await
            .expect("the key's fingerprint");
    assert_eq!(stored.len(), 1);
    let hash = &stored[0];
    assert_eq!(hash.len(), 64, "{hash}");
    assert!(
        hash.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "a hex digest, nothing else: {hash}"
    );
    assert!(!hash.contains("4242424242424242"), "{hash}");
}

#[tokio::test]
async fn bad_input_is_422_naming_the_field_and_writes_nothing() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 1000, 20).await;
    let alice = customer();

    let empty = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.fields(), ["cart"]);

    shop.add_to_cart(alice, mug, 1).await;
    let mut body = checkout_body("4242 4242 4242 4241");
    body["shipping_address"]["country"] = json!("Britain");
    body["card"]["exp_year"] = json!(2020);
    let answer = shop.checkout(alice, &key(), body).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        answer.fields(),
        ["shipping_address.country", "card.number", "card.exp_year"]
    );
    let mut body = checkout_body(CARD_OK);
    body["shipping_address"]
        .as_object_mut()
        .expect("object")
        .remove("city");
    let answer = shop.checkout(alice, &key(), body).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.fields(), ["shipping_address.city"]);

    assert!(shop.orders(alice).await.is_empty());
    assert_eq!(shop.stock(mug).await, 20);
}

#[tokio::test]
async fn prices_are_checked_again_at_checkout() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 1000, 20).await;
    let lamp = shop.add_product("Lamp", 3000, 20).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 1).await;
    shop.update_product(mug, json!({"price": {"amount": 1250, "currency": "USD"}}))
        .await;
    let order = shop
        .checkout(alice, &key(), checkout_body(CARD_OK))
        .await
        .order();
    assert_eq!(order.lines[0].unit_price.amount, 1250);
    assert_eq!(order.totals.subtotal.amount, 1250);
    assert_eq!(order.totals.tax.amount, 100);
    assert_eq!(
        order.totals.shipping.amount, 499,
        "below the free-shipping threshold"
    );
    assert_eq!(order.totals.total.amount, 1250 + 100 + 499);

    // A product withdrawn since it was added stops the checkout, named.
    shop.add_to_cart(alice, lamp, 1).await;
    shop.update_product(lamp, json!({"active": false})).await;
    let answer = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{:?}", answer.body);
    assert_eq!(answer.fields(), [format!("cart.{lamp}")]);
    assert_eq!(shop.orders(alice).await.len(), 1);
}
