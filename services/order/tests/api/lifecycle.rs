//! The order lifecycle: legal moves only, cancellation with refund, who sees what.

use contracts::events::OrderEventKind;
use contracts::orders::{Order, OrderStatus, PaymentStatus};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::support::{
    Answer, CARD_DECLINED, CARD_OK, Caller, CountingProvider, EventQueue, Fault, Options, Shop,
    admin, checkout_body, customer, eventually, key,
};

async fn paid_order(shop: &Shop, caller: Caller, product: Uuid) -> Order {
    shop.add_to_cart(caller, product, 1).await;
    let answer = shop.checkout(caller, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    answer.order()
}

async fn set_status(shop: &Shop, id: Uuid, status: &str) -> Answer {
    shop.call(
        Method::POST,
        &format!("/api/v1/admin/orders/{id}/status"),
        admin(),
        Some(json!({"status": status})),
    )
    .await
}

#[tokio::test]
async fn an_admin_ships_and_delivers_a_paid_order_and_nothing_goes_backwards() {
    let shop = Shop::start().await;
    let mut events = EventQueue::bind(&shop.amqp).await;
    let mug = shop.add_product("Mug", 1000, 5).await;
    let alice = customer();
    let order = paid_order(&shop, alice, mug).await;

    let shipped = set_status(&shop, order.id, "shipped").await;
    assert_eq!(shipped.status, StatusCode::OK, "{:?}", shipped.body);
    assert_eq!(shipped.order().status, OrderStatus::Shipped);
    for (status, from) in [
        ("cancelled", "shipped"),
        ("paid", "shipped"),
        ("shipped", "shipped"),
    ] {
        let illegal = set_status(&shop, order.id, status).await;
        assert_eq!(illegal.status, StatusCode::CONFLICT, "{from} -> {status}");
        assert_eq!(illegal.fields(), ["status"]);
    }
    let cancel = shop
        .call(
            Method::POST,
            &format!("/api/v1/orders/{}/cancel", order.id),
            alice,
            None,
        )
        .await;
    assert_eq!(
        cancel.status,
        StatusCode::CONFLICT,
        "a shipped order cannot be cancelled"
    );

    let delivered = set_status(&shop, order.id, "delivered").await;
    assert_eq!(delivered.order().status, OrderStatus::Delivered);
    for status in [
        "shipped",
        "cancelled",
        "pending",
        "payment_failed",
        "delivered",
    ] {
        assert_eq!(
            set_status(&shop, order.id, status).await.status,
            StatusCode::CONFLICT,
            "delivered -> {status}"
        );
    }
    let unknown = set_status(&shop, order.id, "lost").await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.fields(), ["status"]);

    let kinds = [
        OrderEventKind::Placed,
        OrderEventKind::Paid,
        OrderEventKind::Shipped,
    ];
    for kind in kinds {
        assert_eq!(events.next_for(order.id).await.0.kind, kind);
    }
}

#[tokio::test]
async fn a_failed_payment_is_final() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 1000, 5).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 1).await;
    let declined = shop
        .checkout(alice, &key(), checkout_body(CARD_DECLINED))
        .await;
    assert_eq!(declined.status, StatusCode::PAYMENT_REQUIRED);
    let id = shop.orders(alice).await[0].id;
    for status in ["paid", "shipped", "delivered", "cancelled", "pending"] {
        let answer = set_status(&shop, id, status).await;
        assert_eq!(
            answer.status,
            StatusCode::CONFLICT,
            "payment_failed -> {status}"
        );
    }
    let cancel = shop
        .call(
            Method::POST,
            &format!("/api/v1/orders/{id}/cancel"),
            alice,
            None,
        )
        .await;
    assert_eq!(cancel.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_customer_cancels_a_paid_order_and_is_refunded_once() {
    let provider = CountingProvider::new();
    let shop = Shop::with(Options {
        payments: Some(provider.clone()),
        ..Options::default()
    })
    .await;
    let mut events = EventQueue::bind(&shop.amqp).await;
    let mug = shop.add_product("Mug", 1000, 5).await;
    let alice = customer();
    let order = paid_order(&shop, alice, mug).await;
    assert_eq!(shop.stock(mug).await, 4);
    let path = format!("/api/v1/orders/{}/cancel", order.id);

    let cancelled = shop.call(Method::POST, &path, alice, None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    let cancelled = cancelled.order();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.payment.status, PaymentStatus::Refunded);
    assert_eq!(provider.refunded(), 1);
    assert_eq!(
        shop.stock(mug).await,
        5,
        "the unshipped unit is back on sale"
    );

    let again = shop.call(Method::POST, &path, alice, None).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(provider.refunded(), 1, "refunded once");

    for kind in [
        OrderEventKind::Placed,
        OrderEventKind::Paid,
        OrderEventKind::Cancelled,
    ] {
        assert_eq!(events.next_for(order.id).await.0.kind, kind);
    }
}

#[tokio::test]
async fn an_admin_cancels_a_pending_order_and_its_stock_comes_back() {
    let provider = CountingProvider::gated();
    let shop = std::sync::Arc::new(
        Shop::with(Options {
            payments: Some(provider.clone()),
            ..Options::default()
        })
        .await,
    );
    let mug = shop.add_product("Mug", 1000, 5).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 2).await;
    // The provider holds the payment, so the order stays pending with its stock reserved.
    let checkout = {
        let shop = shop.clone();
        tokio::spawn(async move { shop.checkout(alice, &key(), checkout_body(CARD_OK)).await })
    };
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    let pending = loop {
        if let Some(order) = shop.orders(alice).await.into_iter().next()
            && shop.stock(mug).await == 3
        {
            break order;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the order is never placed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(pending.status, OrderStatus::Pending);

    let cancelled = set_status(&shop, pending.id, "cancelled").await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.order().payment.status, PaymentStatus::Voided);
    assert_eq!(shop.stock(mug).await, 5, "the reservation is released");

    // The payment goes through after all: the checkout finds its order cancelled and gives
    // the money back.
    provider.gate.as_ref().expect("gated").add_permits(1);
    let answer = checkout.await.expect("join");
    assert_eq!(answer.status, StatusCode::CONFLICT, "{:?}", answer.body);
    assert_eq!((provider.charged(), provider.refunded()), (1, 1));
    let order = shop.orders(alice).await.remove(0);
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(shop.stock(mug).await, 5);
}

#[tokio::test]
async fn customers_see_only_their_own_orders_and_admins_see_all() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 1000, 50).await;
    let (alice, bob) = (customer(), customer());
    let first = paid_order(&shop, alice, mug).await;
    let second = paid_order(&shop, alice, mug).await;
    let bobs = paid_order(&shop, bob, mug).await;

    let path = format!("/api/v1/orders/{}", bobs.id);
    assert_eq!(
        shop.call(Method::GET, &path, alice, None).await.status,
        StatusCode::NOT_FOUND
    );
    let cancel = shop
        .call(Method::POST, &format!("{path}/cancel"), alice, None)
        .await;
    assert_eq!(cancel.status, StatusCode::NOT_FOUND);
    let ids: Vec<Uuid> = shop.orders(alice).await.iter().map(|o| o.id).collect();
    assert_eq!(ids, [second.id, first.id], "newest first");

    // Pages of one, followed by their cursors.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.map_or_else(String::new, |c| format!("&cursor={c}"));
        let page = shop
            .call(
                Method::GET,
                &format!("/api/v1/orders?limit=1{query}"),
                alice,
                None,
            )
            .await;
        assert_eq!(page.status, StatusCode::OK);
        seen.extend(
            page.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|o| o["id"].clone()),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [json!(second.id), json!(first.id)]);

    set_status(&shop, first.id, "shipped").await;
    let shipped = shop
        .call(
            Method::GET,
            "/api/v1/admin/orders?status=shipped",
            admin(),
            None,
        )
        .await;
    assert_eq!(shipped.status, StatusCode::OK);
    assert_eq!(shipped.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(shipped.body["items"][0]["id"], json!(first.id));
    let paid = shop
        .call(
            Method::GET,
            "/api/v1/admin/orders?status=paid&limit=10",
            admin(),
            None,
        )
        .await;
    let paid: Vec<_> = paid.body["items"].as_array().expect("items").clone();
    assert_eq!(paid.len(), 2);
    assert_eq!(paid[0]["id"], json!(bobs.id));

    for bad in ["limit=0", "limit=101", "cursor=nope"] {
        let answer = shop
            .call(Method::GET, &format!("/api/v1/orders?{bad}"), alice, None)
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let forbidden = shop
        .call(Method::GET, "/api/v1/admin/orders", alice, None)
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let forbidden = shop
        .call(
            Method::POST,
            &format!("/api/v1/admin/orders/{}/status", first.id),
            alice,
            Some(json!({"status": "delivered"})),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_product_service_releases_a_cancelled_order_from_its_event_when_the_call_fails() {
    // The product service consumes the order events from the test exchange, and refuses every
    // direct release: only order.cancelled can bring the stock back.
    let shop = Shop::with(Options {
        product_faults: true,
        product_consumer: true,
        env: vec![("PRODUCT_RETRIES", "1".to_owned())],
        ..Options::default()
    })
    .await;
    let mug = shop.add_product("Mug", 1000, 10).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 2).await;
    let answer = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let order = answer.order();
    assert_eq!(shop.stock(mug).await, 8);
    // order.paid reached the product service and was applied (its commit changes nothing
    // after checkout's own): an applied event is recorded, a rejected one is not.
    eventually("the product service to apply order.paid", || async {
        shop.applied_by_product(order.id).await == ["order.paid"]
    })
    .await;

    let proxy = shop.faults.as_ref().expect("a faulty proxy");
    proxy.fail("/release", Fault::Unavailable, usize::MAX);
    let cancelled = shop
        .call(
            Method::POST,
            &format!("/api/v1/orders/{}/cancel", order.id),
            alice,
            None,
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.order().payment.status, PaymentStatus::Refunded);
    assert_eq!(
        proxy.seen("/release"),
        2,
        "the direct release was tried and failed"
    );

    eventually("order.cancelled to put the units back", || async {
        shop.stock(mug).await == 10
    })
    .await;
    assert_eq!(
        shop.applied_by_product(order.id).await,
        ["order.paid", "order.cancelled"]
    );
}
