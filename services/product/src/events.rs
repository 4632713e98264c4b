//! The order events the product service consumes: `order.paid` commits the order's
//! reservation, `order.cancelled` releases it. Owns the `processed_events` table.
//!
//! Delivery is at least once, so each event is applied in one transaction that also records
//! its `event_id`; a redelivered event finds its id and changes nothing. The message is acked
//! only after that transaction commits. A message that can never be applied (not an event, or
//! an event the reservations contradict) is rejected without requeue, which RabbitMQ routes to
//! the dead-letter queue `<queue>.dlq` for an operator, instead of redelivering it forever.
//! When Postgres is down the session ends without acking: the message is redelivered after
//! the broker supervisor's backoff.

use futures::StreamExt;
use kit::amqp::Broker;
use kit::shutdown::Shutdown;
use kit::{ApiError, ApiResult};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, message::Delivery};
use tracing::Instrument;

use contracts::events::{OrderEvent, OrderEventKind};

use crate::AppState;
use crate::inventory::{Settle, SettleError, Status, settle};
use crate::metrics::EventOutcome;

/// Messages fetched ahead of the one being processed.
const PREFETCH: u16 = 32;

/// The dead-letter queue of `queue`.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dlq")
}

/// Consumes order events from `queue` until shutdown, reconnecting whenever the broker goes
/// away. Declares the queue, its bindings and its dead-letter queue first.
pub async fn consume(state: AppState, broker: Broker, queue: String, shutdown: Shutdown) {
    let exchange = broker.exchange().to_owned();
    broker
        .supervise(&shutdown, "order-events", |channel| {
            session(
                channel,
                state.clone(),
                exchange.clone(),
                queue.clone(),
                shutdown.clone(),
            )
        })
        .await;
}

/// Declares the topology: the durable queue bound to the paid and cancelled events, whose
/// rejected messages go through the default exchange to `<queue>.dlq`.
async fn declare(channel: &Channel, exchange: &str, queue: &str) -> lapin::Result<()> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let dlq = dead_letter_queue(queue);
    channel
        .queue_declare(dlq.as_str().into(), durable, FieldTable::default())
        .await?;
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    arguments.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(dlq.as_str().into()),
    );
    channel
        .queue_declare(queue.into(), durable, arguments)
        .await?;
    for kind in [OrderEventKind::Paid, OrderEventKind::Cancelled] {
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                kind.routing_key().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

async fn session(
    channel: Channel,
    state: AppState,
    exchange: String,
    queue: String,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    declare(&channel, &exchange, &queue).await?;
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await?;
    let mut deliveries = channel
        .basic_consume(
            queue.as_str().into(),
            "product".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(%queue, "consuming order events");
    loop {
        let delivery = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            next = deliveries.next() => match next {
                Some(delivery) => delivery?,
                None => anyhow::bail!("the broker closed the consumer"),
            },
        };
        // By the messaging conventions: a consumer span, child of the span that created the
        // message (its trace context travels in the message's headers).
        let span = tracing::info_span!(
            "order event",
            otel.name = format!("{} process", delivery.routing_key),
            otel.kind = "consumer",
            messaging.system = "rabbitmq",
            messaging.operation.type = "process",
            messaging.operation.name = "process",
            messaging.destination.name = %delivery.exchange,
            messaging.rabbitmq.destination.routing_key = %delivery.routing_key,
            messaging.consumer.group.name = %queue,
            messaging.message.id = delivery.properties.message_id().as_ref().map(|id| id.to_string()),
            routing_key = %delivery.routing_key,
            event_id = tracing::field::Empty,
        );
        if let Some(headers) = delivery.properties.headers() {
            kit::telemetry::set_parent(&span, kit::telemetry::extract_amqp(headers));
        }
        handle(&state, delivery).instrument(span).await?;
    }
}

/// What became of one message.
enum Outcome {
    /// Applied now, or earlier (a redelivery), or not meant for this service.
    Done,
    /// Failed unexpectedly for the first time: deliver it again.
    Retry(String),
    /// It can never be applied: dead-letter it.
    Reject(String),
}

async fn handle(state: &AppState, delivery: Delivery) -> anyhow::Result<()> {
    let mut occurred_at = None;
    let outcome = match serde_json::from_slice::<OrderEvent>(&delivery.data) {
        Err(error) => Outcome::Reject(format!("not an order event: {error}")),
        Ok(event) => {
            occurred_at = Some(event.occurred_at);
            tracing::Span::current().record("event_id", tracing::field::display(event.event_id));
            match apply(state, &event).await {
                Ok(outcome) => outcome,
                // Postgres is away: end the session without acking; the message comes back
                // after the supervisor's backoff, however long the outage.
                Err(ApiError::Unavailable { dependency }) => {
                    anyhow::bail!("{dependency} is unavailable")
                }
                // Anything else gets one more try, then goes to the dead-letter queue rather
                // than looping.
                Err(error) if !delivery.redelivered => Outcome::Retry(error.to_string()),
                Err(error) => Outcome::Reject(error.to_string()),
            }
        }
    };
    let counted = match &outcome {
        Outcome::Done => EventOutcome::Processed,
        Outcome::Retry(_) => EventOutcome::Retried,
        Outcome::Reject(_) => EventOutcome::DeadLettered,
    };
    state
        .metrics()
        .event(delivery.routing_key.as_str(), counted, occurred_at);
    match outcome {
        Outcome::Done => {
            delivery.ack(BasicAckOptions::default()).await?;
        }
        Outcome::Retry(reason) => {
            tracing::warn!(%reason, "order event failed; it will be delivered again");
            delivery
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: true,
                })
                .await?;
        }
        Outcome::Reject(reason) => {
            tracing::error!(%reason, "order event dead-lettered");
            delivery
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: false,
                })
                .await?;
        }
    }
    Ok(())
}

/// Applies one event exactly once.
async fn apply(state: &AppState, event: &OrderEvent) -> ApiResult<Outcome> {
    let action = match event.kind {
        OrderEventKind::Paid => Settle::Commit,
        OrderEventKind::Cancelled => Settle::Release,
        OrderEventKind::Placed | OrderEventKind::Shipped => return Ok(Outcome::Done),
    };
    let mut tx = state.db.begin().await?;
    let first_time = sqlx::query!(
        "INSERT INTO processed_events (event_id, kind, order_id) VALUES ($1, $2, $3) \
         ON CONFLICT (event_id) DO NOTHING",
        event.event_id,
        event.kind.routing_key(),
        event.order_id,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !first_time {
        tracing::info!("order event already applied; skipping the redelivery");
        return Ok(Outcome::Done);
    }
    let changed = match settle(&mut tx, event.order_id, action).await {
        Ok(settled) => settled.stock_changed.then(|| {
            settled
                .reservation
                .lines
                .iter()
                .map(|l| l.product_id)
                .collect::<Vec<_>>()
        }),
        // The order was cancelled before any stock was reserved for it: nothing to release.
        Err(SettleError::NotFound) if action == Settle::Release => None,
        Err(SettleError::NotFound) => {
            return Ok(Outcome::Reject(format!(
                "order {} was paid but has no reservation",
                event.order_id
            )));
        }
        // The order service commits the stock before it writes `order.paid`, so a released
        // reservation here was committed, then released by the order's cancellation over HTTP
        // before this event arrived (the broker was down meanwhile, say): the event is stale
        // and its `order.cancelled` follows. Found by ci/faults, where these were dead-lettered.
        Err(SettleError::Conflict(Status::Released)) => {
            tracing::info!(
                "order paid, then cancelled before this event arrived; nothing to commit"
            );
            None
        }
        Err(SettleError::Conflict(status)) => {
            return Ok(Outcome::Reject(format!(
                "order {} was paid but its reservation is {status:?}",
                event.order_id
            )));
        }
        Err(SettleError::Api(error)) => return Err(error),
    };
    tx.commit().await?;
    if let Some(products) = changed {
        state.cache.invalidate_products(products).await;
    }
    Ok(Outcome::Done)
}
