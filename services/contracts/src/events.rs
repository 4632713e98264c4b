//! Order events on the RabbitMQ topic exchange: `order.placed`, `order.paid`,
//! `order.cancelled`, `order.shipped`.
//!
//! The order service publishes them through its outbox (at least once); consumers are
//! idempotent by `event_id`. Readers ignore unknown fields, so the publisher may add fields
//! without breaking consumers that are not upgraded yet.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The default name of the topic exchange that carries the events.
pub const EXCHANGE: &str = "ecommerce.events";

/// The binding pattern that matches every order event.
pub const ORDER_EVENTS_PATTERN: &str = "order.*";

/// What happened to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OrderEventKind {
    /// Checked out: the order exists, `pending`, at fixed prices; its stock is being reserved
    /// and its payment taken. `order.paid` or `order.cancelled` follows.
    Placed,
    /// Paid: its reservation is committed.
    Paid,
    /// Cancelled, expired, short of stock, or its payment failed: whatever stock is held for it
    /// is released (there may be none).
    Cancelled,
    /// Handed to the carrier.
    Shipped,
}

impl OrderEventKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [Self::Placed, Self::Paid, Self::Cancelled, Self::Shipped];

    /// The routing key the event is published with: `order.placed`, ...
    pub const fn routing_key(self) -> &'static str {
        match self {
            Self::Placed => "order.placed",
            Self::Paid => "order.paid",
            Self::Cancelled => "order.cancelled",
            Self::Shipped => "order.shipped",
        }
    }

    /// The kind a routing key names, if it names one.
    pub fn from_routing_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.routing_key() == key)
    }
}

impl fmt::Display for OrderEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.routing_key())
    }
}

/// One order event, the JSON body of a message on [`EXCHANGE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderEvent {
    /// Unique per event, stable across redeliveries: the consumers' deduplication key.
    pub event_id: Uuid,
    /// When it happened (not when it was published).
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// What happened.
    pub kind: OrderEventKind,
    /// The order.
    pub order_id: Uuid,
    /// The customer who placed the order.
    pub user_id: Uuid,
    /// The order's products and quantities.
    pub lines: Vec<EventLine>,
}

impl OrderEvent {
    /// The routing key to publish this event with.
    pub const fn routing_key(&self) -> &'static str {
        self.kind.routing_key()
    }
}

/// A product and a quantity of an order event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventLine {
    /// The product.
    pub product_id: Uuid,
    /// How many units.
    pub quantity: u32,
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn routing_keys_match_the_design() {
        let keys: Vec<_> = OrderEventKind::ALL
            .iter()
            .map(|kind| kind.routing_key())
            .collect();
        assert_eq!(
            keys,
            [
                "order.placed",
                "order.paid",
                "order.cancelled",
                "order.shipped"
            ]
        );
        for kind in OrderEventKind::ALL {
            assert_eq!(
                OrderEventKind::from_routing_key(kind.routing_key()),
                Some(kind)
            );
            assert_eq!(kind.to_string(), kind.routing_key());
            let suffix = kind.routing_key().strip_prefix("order.").expect("order.*");
            assert_eq!(
                serde_json::to_value(kind).expect("serialize"),
                json!(suffix)
            );
        }
        assert_eq!(OrderEventKind::from_routing_key("order.lost"), None);
        assert_eq!(EXCHANGE, "ecommerce.events");
    }

    #[test]
    fn event_wire_shape() {
        let event = OrderEvent {
            event_id: Uuid::from_u128(100),
            occurred_at: datetime!(2024-05-01 12:00:00 UTC),
            kind: OrderEventKind::Placed,
            order_id: Uuid::from_u128(5),
            user_id: Uuid::from_u128(1),
            lines: vec![EventLine {
                product_id: Uuid::from_u128(2),
                quantity: 2,
            }],
        };
        assert_eq!(event.routing_key(), "order.placed");
        let value = serde_json::to_value(&event).expect("serialize");
        assert_eq!(
            value,
            json!({
                "event_id": "00000000-0000-0000-0000-000000000064",
                "occurred_at": "2024-05-01T12:00:00Z",
                "kind": "placed",
                "order_id": "00000000-0000-0000-0000-000000000005",
                "user_id": "00000000-0000-0000-0000-000000000001",
                "lines": [{"product_id": "00000000-0000-0000-0000-000000000002", "quantity": 2}]
            })
        );
        assert_eq!(
            serde_json::from_value::<OrderEvent>(value).expect("deserialize"),
            event
        );
    }

    #[test]
    fn consumers_tolerate_new_fields() {
        let event: OrderEvent = serde_json::from_value(json!({
            "event_id": "00000000-0000-0000-0000-000000000064",
            "occurred_at": "2024-05-01T12:00:00Z",
            "kind": "cancelled",
            "order_id": "00000000-0000-0000-0000-000000000005",
            "user_id": "00000000-0000-0000-0000-000000000001",
            "lines": [],
            "reason": "customer"
        }))
        .expect("unknown fields are ignored");
        assert_eq!(event.kind, OrderEventKind::Cancelled);
    }
}
