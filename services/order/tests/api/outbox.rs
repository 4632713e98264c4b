//! The outbox relay under concurrency: each order's events arrive in the order they happened,
//! once each, even with two relays polling the same outbox.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use contracts::events::OrderEventKind;
use kit::amqp::Broker;
use order::outbox::Relay;
use reqwest::{Method, StatusCode};
use uuid::Uuid;

use crate::support::{
    CARD_OK, EventQueue, Options, PATIENCE, Shop, checkout_body, customer, eventually, key,
};

/// Orders placed, paid and cancelled at the same time.
const ORDERS: usize = 8;

#[tokio::test]
async fn concurrent_changes_arrive_in_order_per_order_with_two_relays() {
    // Batches of two, so that the backlog takes many batches, which the two relays compete
    // for.
    let shop = Arc::new(
        Shop::with(Options {
            env: vec![("OUTBOX_BATCH_SIZE", "2".to_owned())],
            ..Options::default()
        })
        .await,
    );
    let mut events = EventQueue::bind(&shop.amqp).await;
    // A second replica's relay, on the same outbox and woken by the same commits; it stops
    // with the shop.
    let background = shop.config.background;
    let second = Relay::new(
        shop.state.pool.clone(),
        Broker::new(shop.config.amqp.clone(), "order-test-second-relay"),
        shop.state.outbox.clone(),
        background.outbox_poll,
        background.outbox_batch,
    );
    let shutdown = shop.order.shutdown.clone();
    shutdown.spawn(second.run(shutdown.clone()));
    let mug = shop.add_product("Mug", 1000, 100).await;

    let changes: Vec<_> = (0..ORDERS)
        .map(|_| {
            let shop = shop.clone();
            tokio::spawn(async move {
                let alice = customer();
                shop.add_to_cart(alice, mug, 1).await;
                let paid = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
                assert_eq!(paid.status, StatusCode::CREATED, "{:?}", paid.body);
                let id = paid.order().id;
                let cancelled = shop
                    .call(
                        Method::POST,
                        &format!("/api/v1/orders/{id}/cancel"),
                        alice,
                        None,
                    )
                    .await;
                assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
                id
            })
        })
        .collect();
    let mut ids = Vec::new();
    for change in changes {
        ids.push(change.await.expect("join"));
    }

    let expected = [
        OrderEventKind::Placed,
        OrderEventKind::Paid,
        OrderEventKind::Cancelled,
    ];
    let mut received: HashMap<Uuid, Vec<OrderEventKind>> = HashMap::new();
    for _ in 0..ORDERS * expected.len() {
        let event = events
            .next_within(PATIENCE)
            .await
            .expect("every order's events in time");
        received.entry(event.order_id).or_default().push(event.kind);
    }
    // Were both relays to publish the same rows, the copies would arrive with the rest or
    // just after: once every row is marked published, a short drain catches a trailing one.
    for &id in &ids {
        eventually("the outbox to be marked published", || async {
            shop.unpublished(id).await == 0
        })
        .await;
    }
    while let Some(event) = events.next_within(Duration::from_millis(500)).await {
        received.entry(event.order_id).or_default().push(event.kind);
    }

    assert_eq!(received.len(), ORDERS, "{received:?}");
    for id in ids {
        assert_eq!(
            received.get(&id).map(Vec::as_slice),
            Some(expected.as_slice()),
            "the events of order {id}, in the order they arrived"
        );
    }
}
