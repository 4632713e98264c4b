//! Order events: applied once by `event_id`; poison messages dead-lettered.

use contracts::events::{EventLine, OrderEvent, OrderEventKind};
use kit::amqp::Broker;
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use reqwest::StatusCode;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::helpers::{TestApp, eventually, product_body};

/// The service, whose event consumer runs on a queue of its own, and a publisher beside it.
struct Consuming {
    app: TestApp,
    broker: Broker,
    queue: String,
}

impl Consuming {
    async fn start() -> Self {
        let app = TestApp::spawn().await;
        let broker = Broker::new(app.amqp.config(), "product-test");
        let queue = app.events_queue.clone();
        let consuming = Self { app, broker, queue };
        // Events published before the queue is bound would be dropped by the exchange.
        eventually("the consumer to attach", || consuming.consumers()).await;
        consuming
    }

    /// `Some` once the queue exists and has a consumer.
    async fn consumers(&self) -> Option<()> {
        let channel = self.broker.channel().await.ok()?;
        let queue = channel
            .queue_declare(
                self.queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .ok()?;
        (queue.consumer_count() > 0).then_some(())
    }

    async fn channel(&self) -> Channel {
        self.broker.channel().await.expect("channel")
    }

    async fn publish(&self, routing_key: &str, body: &[u8]) {
        self.channel()
            .await
            .basic_publish(
                self.broker.exchange().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default(),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
    }

    async fn publish_event(&self, event: &OrderEvent) {
        let body = serde_json::to_vec(event).expect("serialize");
        self.publish(event.routing_key(), &body).await;
    }

    /// The next message of the dead-letter queue, if there is one now.
    async fn dead_letter_now(&self) -> Option<Vec<u8>> {
        let dlq = product::events::dead_letter_queue(&self.queue);
        self.channel()
            .await
            .basic_get(dlq.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")
            .map(|message| message.delivery.data.clone())
    }

    /// The next message of the dead-letter queue, waiting for it.
    async fn dead_letter(&self) -> Vec<u8> {
        let dlq = product::events::dead_letter_queue(&self.queue);
        eventually("a dead-lettered message", || async {
            self.channel()
                .await
                .basic_get(dlq.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .expect("basic.get")
                .map(|message| message.delivery.data.clone())
        })
        .await
    }
}

fn event(kind: OrderEventKind, order_id: Uuid, product_id: Uuid, quantity: u32) -> OrderEvent {
    OrderEvent {
        event_id: Uuid::new_v4(),
        occurred_at: OffsetDateTime::now_utc(),
        kind,
        order_id,
        user_id: Uuid::new_v4(),
        lines: vec![EventLine {
            product_id,
            quantity,
        }],
    }
}

/// Whether the event with `event_id` has been recorded as applied.
async fn processed(app: &TestApp, event_id: Uuid) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM processed_events WHERE event_id = $1)")
        .bind(event_id)
        .fetch_one(app.state.db())
        .await
        .expect("processed_events")
}

async fn reservation_status(app: &TestApp, order_id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM reservations WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(app.state.db())
        .await
        .expect("reservation")
}

#[tokio::test]
async fn a_paid_event_commits_and_a_cancelled_one_releases() {
    let consuming = Consuming::start().await;
    let app = &consuming.app;
    let category = app.create_category("mice", None).await;
    let product = app
        .create_product(&product_body("Mouse", category.id, 1999, 10))
        .await;
    let paid_order = Uuid::new_v4();
    let cancelled_order = Uuid::new_v4();
    for (order, quantity) in [(paid_order, 3), (cancelled_order, 2)] {
        assert_eq!(
            app.reserve(order, &[(product.id, quantity)]).await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(app.inventory(product.id).await, (10, 5));
    // A cached detail, which the cancellation must invalidate for the shop to show its units.
    assert_eq!(app.product(product.id).await.stock, 5);
    assert!(app.is_cached(product.id).await);

    consuming
        .publish_event(&event(OrderEventKind::Paid, paid_order, product.id, 3))
        .await;
    // Events are applied in order, so once the cancellation shows, the payment was handled.
    consuming
        .publish_event(&event(
            OrderEventKind::Cancelled,
            cancelled_order,
            product.id,
            2,
        ))
        .await;
    eventually("the cancellation to release stock", || async {
        (app.inventory(product.id).await.1 == 0).then_some(())
    })
    .await;
    assert_eq!(
        app.inventory(product.id).await,
        (7, 0),
        "3 units sold, 2 released"
    );
    assert_eq!(reservation_status(app, paid_order).await, "committed");
    assert_eq!(reservation_status(app, cancelled_order).await, "released");
    assert_eq!(
        app.product(product.id).await.stock,
        7,
        "the cancellation invalidated the cached detail"
    );
}

/// Settling is idempotent by reservation state too, so a copy that arrives right after the
/// first one proves little. This copy arrives after the state changed under it: applied again,
/// it would release the reservation made in between. Only the `event_id` record stops it.
#[tokio::test]
async fn a_redelivered_event_is_skipped_even_when_applying_it_again_would_change_stock() {
    let consuming = Consuming::start().await;
    let app = &consuming.app;
    let category = app.create_category("mice", None).await;
    let product = app
        .create_product(&product_body("Mouse", category.id, 1999, 10))
        .await;
    let order = Uuid::new_v4();
    // The cancellation arrives before the order reserved anything: nothing to release, and
    // the event is recorded as applied.
    let cancelled = event(OrderEventKind::Cancelled, order, product.id, 2);
    consuming.publish_event(&cancelled).await;
    eventually("the cancellation to be recorded", || async {
        processed(app, cancelled.event_id).await.then_some(())
    })
    .await;
    assert_eq!(
        app.reserve(order, &[(product.id, 2)]).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.inventory(product.id).await, (10, 2));

    consuming.publish_event(&cancelled).await;
    // A later event of another order: once it shows, the redelivery before it was handled.
    let marker = Uuid::new_v4();
    assert_eq!(
        app.reserve(marker, &[(product.id, 1)]).await.status(),
        StatusCode::CREATED
    );
    consuming
        .publish_event(&event(OrderEventKind::Cancelled, marker, product.id, 1))
        .await;
    eventually("the later cancellation to be applied", || async {
        (reservation_status(app, marker).await == "released").then_some(())
    })
    .await;
    assert_eq!(
        app.inventory(product.id).await,
        (10, 2),
        "the redelivered cancellation released nothing"
    );
    assert_eq!(reservation_status(app, order).await, "reserved");
}

#[tokio::test]
async fn a_malformed_message_lands_in_the_dead_letter_queue() {
    let consuming = Consuming::start().await;
    consuming.publish("order.paid", b"{not json").await;
    assert_eq!(consuming.dead_letter().await, b"{not json");

    // An event the reservations contradict cannot be applied either: a paid order that never
    // reserved anything.
    let unknown = event(OrderEventKind::Paid, Uuid::new_v4(), Uuid::new_v4(), 1);
    consuming.publish_event(&unknown).await;
    let dead: OrderEvent =
        serde_json::from_slice(&consuming.dead_letter().await).expect("the event");
    assert_eq!(dead.event_id, unknown.event_id);
}

/// Found by ci/faults: with RabbitMQ down, a shopper cancelled a paid order, whose stock the
/// order service released over HTTP at once, before `order.paid` was even published. When the
/// broker came back, that stale `order.paid` found the reservation released and was
/// dead-lettered, for an operator to look at an order that was fine.
#[tokio::test]
async fn a_paid_event_arriving_after_its_order_was_cancelled_is_not_dead_lettered() {
    let consuming = Consuming::start().await;
    let app = &consuming.app;
    let category = app.create_category("mice", None).await;
    let product = app
        .create_product(&product_body("Mouse", category.id, 1999, 10))
        .await;
    let order = Uuid::new_v4();
    assert_eq!(
        app.reserve(order, &[(product.id, 3)]).await.status(),
        StatusCode::CREATED
    );
    // Checkout commits the stock, then the cancellation releases (restocks) it, both over HTTP.
    for action in ["commit", "release"] {
        let path = format!("/internal/reservations/{order}/{action}");
        let response = app.internal(&path).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{action}");
    }
    assert_eq!(
        app.inventory(product.id).await,
        (10, 0),
        "sold, then restocked"
    );

    let paid = event(OrderEventKind::Paid, order, product.id, 3);
    let cancelled = event(OrderEventKind::Cancelled, order, product.id, 3);
    consuming.publish_event(&paid).await;
    consuming.publish_event(&cancelled).await;
    // Events are applied in order: once the cancellation is recorded, the payment was handled.
    eventually("the cancellation to be recorded", || async {
        processed(app, cancelled.event_id).await.then_some(())
    })
    .await;
    assert!(processed(app, paid.event_id).await, "order.paid applied");
    assert_eq!(
        consuming.dead_letter_now().await,
        None,
        "nothing dead-lettered"
    );
    assert_eq!(
        app.inventory(product.id).await,
        (10, 0),
        "nothing sold again"
    );
    assert_eq!(reservation_status(app, order).await, "released");
}
