//! `TestAmqp` leaves nothing on the shared RabbitMQ once it drops.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ErrorKind, ExchangeKind};
use testkit::TestAmqp;

/// Whether the passive declare of `queue` (or of the exchange, when `queue` is `None`) finds
/// it. A failed passive declare closes its channel, so each check gets a fresh one.
async fn exists(connection: &Connection, exchange: &str, queue: Option<&str>) -> bool {
    let channel = connection.create_channel().await.expect("channel");
    let declared = match queue {
        Some(queue) => channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map(drop),
        None => {
            channel
                .exchange_declare(
                    exchange.into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        passive: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
        }
    };
    match declared {
        Ok(()) => true,
        Err(error) => match error.kind() {
            ErrorKind::ProtocolError(amqp) if amqp.get_id() == 404 => false,
            _ => panic!("the passive declare failed for another reason: {error}"),
        },
    }
}

#[tokio::test]
async fn dropping_it_deletes_the_exchange_the_named_queues_and_their_dead_letter_queues() {
    let amqp = TestAmqp::default();
    // Named but never declared, and first, so the cleanup must get past a missing queue.
    let undeclared = amqp.queue("testkit_undeclared");
    let queue = amqp.queue("testkit_events");
    let dlq = format!("{queue}.dlq");
    let exchange = amqp.exchange.clone();

    let connection = Connection::connect(&amqp.url, ConnectionProperties::default())
        .await
        .expect("connect to RabbitMQ");
    let channel = connection.create_channel().await.expect("channel");
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare the exchange");
    for name in [&queue, &dlq] {
        channel
            .queue_declare(name.as_str().into(), durable, FieldTable::default())
            .await
            .expect("declare a queue");
    }
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    assert!(exists(&connection, &exchange, None).await);
    assert!(exists(&connection, &exchange, Some(&queue)).await);
    assert!(exists(&connection, &exchange, Some(&dlq)).await);
    assert!(!exists(&connection, &exchange, Some(&undeclared)).await);

    drop(amqp);

    assert!(
        !exists(&connection, &exchange, None).await,
        "{exchange} is deleted"
    );
    for name in [&queue, &dlq] {
        assert!(
            !exists(&connection, &exchange, Some(name)).await,
            "{name} is deleted"
        );
    }
    connection.close(200, "OK".into()).await.expect("close");
}
