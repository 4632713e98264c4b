//! The gateway's own metrics, next to the kit's RED metrics (whose route is the gateway's own
//! template, `/api/{*path}`: the upstream's route is in the upstream's metrics):
//!
//! - `gateway_upstream_requests_total` by `upstream` and `status`, and the kit's HTTP client
//!   metrics with `peer` the upstream (`http_client_requests_in_flight`,
//!   `http_client_request_duration_seconds`);
//! - `gateway_rate_limited_requests_total` by `bucket` (`api`, `web`, `credentials`) and
//!   `client` (`ip`, `user`): the requests answered 429;
//! - `gateway_circuit_breaker_state` by `upstream` and `state` (`closed`, `open`, `half_open`):
//!   1 for the state each breaker is in, 0 for the others, read at every scrape.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::breaker::{Breaker, STATES};
use crate::routes::{PerUpstream, Upstream};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectionLabels {
    bucket: &'static str,
    client: &'static str,
}

/// The requests the rate limits refused.
#[derive(Clone, Debug, Default)]
pub struct Rejections(Family<RejectionLabels, Counter>);

impl Rejections {
    /// Counts one refusal by `bucket`, of a client known by its address or as a user.
    pub(crate) fn record(&self, bucket: &'static str, client: &'static str) {
        self.0
            .get_or_create(&RejectionLabels { bucket, client })
            .inc();
    }

    /// Puts the counter in `metrics`' registry.
    pub fn register(&self, metrics: &kit::metrics::Metrics) {
        metrics.register(
            "gateway_rate_limited_requests",
            "Requests refused by a rate limit (429), by bucket and kind of client",
            self.0.clone(),
        );
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    upstream: &'static str,
    state: &'static str,
}

/// The state of every upstream's circuit breaker, read when scraped.
#[derive(Debug)]
pub struct BreakerStates(pub(crate) Arc<PerUpstream<Breaker>>);

impl Collector for BreakerStates {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "gateway_circuit_breaker_state",
            "Circuit breaker of each upstream: 1 for its current state, 0 for the others",
            None,
            ConstGauge::new(0_i64).metric_type(),
        )?;
        let configured = Upstream::ALL.iter().zip(self.0.iter());
        for (upstream, breaker) in configured.filter_map(|(u, b)| Some((u, b.as_ref()?))) {
            let current = breaker.state_name();
            for state in STATES {
                let labels = BreakerLabels {
                    upstream: upstream.name(),
                    state,
                };
                ConstGauge::new(i64::from(state == current))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
