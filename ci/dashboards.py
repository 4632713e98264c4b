#!/usr/bin/env python3
"""The shop's Grafana dashboards as code: the one source of charts/ecommerce/files/dashboards/*.json.

    ci/dashboards.py            write the JSON files (one per dashboard, nothing else in the folder)
    ci/dashboards.py --check [DIR]   fail when the files (in DIR, default the chart's) differ
                                     from what this script writes

Built with the Grafana Foundation SDK (PyPI grafana-foundation-sdk), so every dashboard has the
shape of Grafana's dashboard schema; ci/obs-check validates the files against the SDK's types
and proves that every metric a panel queries is one a real scrape of the services shows.
Run it with the venv ci/obs-check installs ($ECOMMERCE_TOOLS/venv-obs/bin/python).

Every query selects the shop's targets as the rules do (job="ecommerce", `service`, and the
dashboard's `namespace` variable), and uses the recording rules of
charts/ecommerce/files/rules/ecommerce.rules.yaml where one exists, so a panel and the alert on
it show the same number.
"""

import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import common
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model

OUT = Path(__file__).resolve().parent.parent / "charts/ecommerce/files/dashboards"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
SHOP = 'job="ecommerce", namespace="$namespace"'
SERVER_ERRORS = 'status=~"5.."'
OPEN = 'state="open"'
HIT = 'result="hit"'


def sel(service: str | None = None, extra: str = "") -> str:
    """A label selector for the shop's series in the chosen namespace."""
    parts = [SHOP]
    if service:
        parts.append(f'service="{service}"')
    if extra:
        parts.append(extra)
    return "{" + ", ".join(parts) + "}"


def query(expr: str, legend: str, ref: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)


def graph(title: str, unit: str, queries: list[tuple[str, str]], description: str = "", width: int = 12) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(width)
        .legend(common.VizLegendOptions()
                .display_mode(common_model.LegendDisplayMode.TABLE)
                .placement(common_model.LegendPlacement.BOTTOM)
                .show_legend(True))
        .tooltip(common.VizTooltipOptions()
                 .mode(common_model.TooltipDisplayMode.MULTI)
                 .sort(common_model.SortOrder.DESCENDING))
    )
    if description:
        panel = panel.description(description)
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + i)))
    return panel


def single(title: str, unit: str, expr: str, description: str = "", width: int = 6) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(4)
        .span(width)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(query(expr, "", "A"))
    )
    if description:
        panel = panel.description(description)
    return panel


def board(uid: str, title: str, description: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["ecommerce"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .with_variable(dash.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            dash.QueryVariable("namespace")
            .label("Namespace")
            .datasource(DATASOURCE)
            .query('label_values(up{job="ecommerce"}, namespace)')
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        )
    )


def red(d: dash.Dashboard, service: str) -> dash.Dashboard:
    """Rate, errors and duration of one service, by route."""
    s = sel(service)
    return (
        d.with_row(dash.Row("Requests (RED)"))
        .with_panel(graph("Requests per second by route", "reqps",
                          [(f"sum by (route) (rate(http_requests_total{s}[$__rate_interval]))", "{{route}}")]))
        .with_panel(graph("Answers per second by status", "reqps",
                          [(f"sum by (status) (rate(http_requests_total{s}[$__rate_interval]))", "{{status}}")]))
        .with_panel(graph("Server errors (5xx) by route", "reqps",
                          [(f'sum by (route) (rate(http_requests_total{sel(service, SERVER_ERRORS)}[$__rate_interval]))', "{{route}}")]))
        .with_panel(graph("Latency p50 / p99 by route", "s",
                          [(f"histogram_quantile(0.5, sum by (route, le) (rate(http_request_duration_seconds_bucket{s}[$__rate_interval])))", "p50 {{route}}"),
                           (f"histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{s}[$__rate_interval])))", "p99 {{route}}")],
                          "Exemplars on the buckets link to the trace of a request."))
    )


def process(d: dash.Dashboard, service: str) -> dash.Dashboard:
    return d.with_panel(graph("Process starts", "dateTimeAsIso",
                              [(f"process_start_time_seconds{sel(service)} * 1000", "{{instance}}")],
                              "A new value is a restart.", width=24))


def db_pool(d: dash.Dashboard, service: str) -> dash.Dashboard:
    return (
        d.with_row(dash.Row("Postgres pool"))
        .with_panel(graph("Connections by state", "short",
                          [(f"sum by (instance, state) (db_pool_connections{sel(service)})", "{{instance}} {{state}}"),
                           (f"db_pool_max_connections{sel(service)}", "{{instance}} max")]))
        .with_panel(graph("Pool saturation", "percentunit",
                          [(f"namespace_service_instance:db_pool_saturation:ratio{sel(service)}", "{{instance}}")]))
    )


def overview() -> dash.Dashboard:
    d = board("ecommerce-overview", "ecommerce / overview",
              "The shop at a glance: RED per service, checkouts, and the SLOs' error budget burn.")
    shop = "{" + SHOP + "}"
    slo = lambda name: "{" + SHOP + f', slo="{name}"' + "}"  # noqa: E731
    d = (
        d.with_row(dash.Row("SLOs (99.9% availability)"))
        .with_panel(single("Checkout: budget burn (1h)", "x", f"slo:error_budget_burn_rate:1h{slo('checkout-availability')}",
                           "How fast the error budget burns: 1 spends it in exactly 30 days; 14.4 pages."))
        .with_panel(single("Catalog: budget burn (1h)", "x", f"slo:error_budget_burn_rate:1h{slo('catalog-availability')}",
                           "How fast the error budget burns: 1 spends it in exactly 30 days; 14.4 pages."))
        .with_panel(single("Checkout: errors (1d)", "percentunit", f"slo:sli_error:ratio_rate1d{slo('checkout-availability')}"))
        .with_panel(single("Catalog: errors (1d)", "percentunit", f"slo:sli_error:ratio_rate1d{slo('catalog-availability')}"))
        .with_panel(graph("Error ratio by SLO and window", "percentunit",
                          [(f"slo:sli_error:ratio_rate5m{shop}", "{{slo}} 5m"),
                           (f"slo:sli_error:ratio_rate1h{shop}", "{{slo}} 1h"),
                           (f"slo:sli_error:ratio_rate6h{shop}", "{{slo}} 6h")], width=24))
        .with_row(dash.Row("Services"))
        .with_panel(graph("Requests per second", "reqps", [(f"namespace_service:http_requests:rate5m{shop}", "{{service}}")]))
        .with_panel(graph("Error ratio (5xx)", "percentunit", [(f"namespace_service:http_error_ratio:rate5m{shop}", "{{service}}")]))
        .with_panel(graph("Latency p99", "s", [(f"namespace_service:http_request_duration_seconds:p99_5m{shop}", "{{service}}")]))
        .with_panel(graph("Targets up", "short", [(f"sum by (service) (up{shop})", "{{service}}")]))
        .with_row(dash.Row("Checkouts"))
        .with_panel(graph("Checkouts by outcome", "ops",
                          [(f"sum by (outcome) (rate(order_checkouts_total{sel('order')}[$__rate_interval]))", "{{outcome}}")]))
        .with_panel(graph("Payment latency p99", "s",
                          [(f"histogram_quantile(0.99, sum by (operation, le) (rate(order_payment_duration_seconds_bucket{sel('order')}[$__rate_interval])))", "{{operation}}")]))
    )
    return d


def gateway() -> dash.Dashboard:
    d = red(board("ecommerce-gateway", "ecommerce / gateway",
                  "The public edge: its own RED (by its route templates), the upstreams as it sees them, rate limits and circuit breakers."), "gateway")
    g = sel("gateway")
    return process(
        d.with_row(dash.Row("Upstreams"))
        .with_panel(graph("Forwarded by upstream and status", "reqps",
                          [(f"sum by (upstream, status) (rate(gateway_upstream_requests_total{g}[$__rate_interval]))", "{{upstream}} {{status}}")]))
        .with_panel(graph("Upstream latency p99", "s",
                          [(f"histogram_quantile(0.99, sum by (peer, le) (rate(http_client_request_duration_seconds_bucket{g}[$__rate_interval])))", "{{peer}}")]))
        .with_panel(graph("Requests in flight by upstream", "short",
                          [(f"sum by (peer) (http_client_requests_in_flight{g})", "{{peer}}")]))
        .with_panel(graph("Circuit breakers open", "short",
                          [(f'max by (upstream) (gateway_circuit_breaker_state{sel("gateway", OPEN)})', "{{upstream}}")],
                          "1 while the breaker answers 503 without calling the upstream."))
        .with_row(dash.Row("Edge"))
        .with_panel(graph("Rate-limited requests (429)", "reqps",
                          [(f"sum by (bucket, client) (rate(gateway_rate_limited_requests_total{g}[$__rate_interval]))", "{{bucket}} by {{client}}")]))
        .with_panel(graph("Token signatures verified", "ops",
                          [(f"sum(rate(gateway_token_verifications_total{g}[$__rate_interval]))", "verified")],
                          "Tokens answered from the verified-token cache are not counted.")),
        "gateway",
    )


def user() -> dash.Dashboard:
    d = red(board("ecommerce-user", "ecommerce / user", "Accounts, tokens and addresses: RED and the Postgres pool."), "user")
    return process(db_pool(d, "user"), "user")


def product() -> dash.Dashboard:
    d = red(board("ecommerce-product", "ecommerce / product",
                  "Catalog, search, inventory: RED, the cache, reservations and the order events consumed."), "product")
    p = sel("product")
    d = (
        d.with_row(dash.Row("Cache"))
        .with_panel(graph("Cache hit ratio by entry", "percentunit",
                          [(f'sum by (entry) (rate(product_cache_requests_total{sel("product", HIT)}[$__rate_interval])) / sum by (entry) (rate(product_cache_requests_total{p}[$__rate_interval]))', "{{entry}}")]))
        .with_panel(graph("Cache reads by result", "ops",
                          [(f"sum by (result) (rate(product_cache_requests_total{p}[$__rate_interval]))", "{{result}}")],
                          "error: Redis failed or timed out; the read fell back to Postgres."))
        .with_panel(graph("Redis pool", "short",
                          [(f"sum by (instance, state) (redis_pool_connections{p})", "{{instance}} {{state}}"),
                           (f"redis_pool_waiting_requests{p}", "{{instance}} waiting")]))
        .with_panel(graph("Redis pool saturation", "percentunit",
                          [(f"namespace_service_instance:redis_pool_saturation:ratio{p}", "{{instance}}")]))
        .with_row(dash.Row("Inventory and events"))
        .with_panel(graph("Reservations held", "short", [(f"max(product_reservations_held{p})", "held")]))
        .with_panel(graph("Order events by outcome", "ops",
                          [(f"sum by (routing_key, outcome) (rate(product_order_events_total{p}[$__rate_interval]))", "{{routing_key}} {{outcome}}")]))
    )
    return process(db_pool(d, "product"), "product")


def order() -> dash.Dashboard:
    d = red(board("ecommerce-order", "ecommerce / order",
                  "Carts, checkout, payments and the outbox: RED, checkout outcomes, the payment provider, the product service as a client."), "order")
    o = sel("order")
    d = (
        d.with_row(dash.Row("Checkout"))
        .with_panel(graph("Checkouts by outcome", "ops",
                          [(f"sum by (outcome) (rate(order_checkouts_total{o}[$__rate_interval]))", "{{outcome}}")]))
        .with_panel(graph("Payment latency p50 / p99", "s",
                          [(f"histogram_quantile(0.5, sum by (operation, le) (rate(order_payment_duration_seconds_bucket{o}[$__rate_interval])))", "p50 {{operation}}"),
                           (f"histogram_quantile(0.99, sum by (operation, le) (rate(order_payment_duration_seconds_bucket{o}[$__rate_interval])))", "p99 {{operation}}")]))
        .with_panel(graph("Payments by outcome", "ops",
                          [(f"sum by (operation, outcome) (rate(order_payment_duration_seconds_count{o}[$__rate_interval]))", "{{operation}} {{outcome}}")]))
        .with_panel(graph("Product service calls p99 and in flight", "s",
                          [(f"histogram_quantile(0.99, sum by (le) (rate(http_client_request_duration_seconds_bucket{o}[$__rate_interval])))", "p99"),
                           (f"sum(http_client_requests_in_flight{o})", "in flight")]))
        .with_row(dash.Row("Outbox"))
        .with_panel(graph("Events waiting to be published", "short", [(f"max(order_outbox_pending_events{o})", "pending")]))
        .with_panel(graph("Age of the oldest waiting event", "s", [(f"max(order_outbox_oldest_pending_age_seconds{o})", "oldest")]))
    )
    return process(db_pool(d, "order"), "order")


def web() -> dash.Dashboard:
    return process(red(board("ecommerce-web", "ecommerce / web", "The storefront's files: RED."), "web"), "web")


def postgres() -> dash.Dashboard:
    shop = "{" + SHOP + "}"
    return (
        board("ecommerce-postgres", "ecommerce / postgres",
              "Postgres as the services use it: their pools, the state kept in their databases.")
        .with_row(dash.Row("Pools"))
        .with_panel(graph("Connections in use by service", "short",
                          [(f'sum by (service) (db_pool_connections{{{SHOP}, state="in_use"}})', "{{service}}")]))
        .with_panel(graph("Idle connections by service", "short",
                          [(f'sum by (service) (db_pool_connections{{{SHOP}, state="idle"}})', "{{service}}")]))
        .with_panel(graph("Pool saturation by pod", "percentunit",
                          [(f"namespace_service_instance:db_pool_saturation:ratio{shop}", "{{service}} {{instance}}")],
                          "Near 1, requests wait for a connection and fail with 503 after DATABASE_ACQUIRE_TIMEOUT_SECS."))
        .with_panel(graph("Pool size by service", "short", [(f"sum by (service) (db_pool_max_connections{shop})", "{{service}}")]))
        .with_row(dash.Row("State in the databases"))
        .with_panel(graph("Outbox backlog (order)", "short", [(f"max(order_outbox_pending_events{shop})", "pending")]))
        .with_panel(graph("Reservations held (product)", "short", [(f"max(product_reservations_held{shop})", "held")]))
        .with_panel(graph("Unavailable answers (503) by service", "reqps",
                          [(f'sum by (service) (rate(http_requests_total{{{SHOP}, status="503"}}[$__rate_interval]))', "{{service}}")],
                          "What a database outage looks like from outside.", width=24))
    )


def rabbitmq() -> dash.Dashboard:
    shop = "{" + SHOP + "}"
    return (
        board("ecommerce-rabbitmq", "ecommerce / rabbitmq",
              "The order events through RabbitMQ, end to end: written to the outbox, published, consumed, lagging or dead-lettered.")
        .with_row(dash.Row("Producer (order outbox)"))
        .with_panel(graph("Events waiting to be published", "short", [(f"max(order_outbox_pending_events{shop})", "pending")]))
        .with_panel(graph("Age of the oldest waiting event", "s", [(f"max(order_outbox_oldest_pending_age_seconds{shop})", "oldest")],
                          "Grows while the relay cannot reach the broker; pages at 5 minutes."))
        .with_row(dash.Row("Consumer (product)"))
        .with_panel(graph("Events consumed by outcome", "ops",
                          [(f"sum by (routing_key, outcome) (rate(product_order_events_total{shop}[$__rate_interval]))", "{{routing_key}} {{outcome}}")]))
        .with_panel(graph("Lag: occurrence to processing, p50 / p99", "s",
                          [(f"histogram_quantile(0.5, sum by (le) (rate(product_order_event_lag_seconds_bucket{shop}[$__rate_interval])))", "p50"),
                           (f"histogram_quantile(0.99, sum by (le) (rate(product_order_event_lag_seconds_bucket{shop}[$__rate_interval])))", "p99")]))
        .with_panel(graph("Messages waiting in the queue", "short", [(f"max(product_order_events_queue_messages{shop})", "ready")]))
        .with_panel(graph("Messages in the dead-letter queue", "short", [(f"max(product_order_events_dead_letter_messages{shop})", "dead-lettered")],
                          "Each is an order whose reservation waits for an operator."))
    )


DASHBOARDS = {
    "ecommerce-overview": overview,
    "ecommerce-gateway": gateway,
    "ecommerce-user": user,
    "ecommerce-product": product,
    "ecommerce-order": order,
    "ecommerce-web": web,
    "ecommerce-postgres": postgres,
    "ecommerce-rabbitmq": rabbitmq,
}


def render() -> dict[str, str]:
    return {f"{name}.json": json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
            for name, build in DASHBOARDS.items()}


def main() -> int:
    wanted = render()
    if sys.argv[1:2] == ["--check"] and len(sys.argv) <= 3:
        folder = Path(sys.argv[2]) if len(sys.argv) == 3 else OUT
        present = {p.name: p.read_text() for p in folder.glob("*.json")}
        stale = sorted(n for n in wanted.keys() | present.keys() if wanted.get(n) != present.get(n))
        for name in stale:
            print(f"dashboards: {name} differs from what ci/dashboards.py writes (run it)", file=sys.stderr)
        return 1 if stale else 0
    if sys.argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    for stale in OUT.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    for name, text in wanted.items():
        (OUT / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
