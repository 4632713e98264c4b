"""The NetworkPolicies and the Istio AuthorizationPolicies allow exactly the design's edges.

The edges are computed from the rendered objects (not from the chart's own list in _edges.tpl) and
compared with the list the design declares (shared/DESIGN.md, "Deployment"): ingress → gateway;
gateway → user, product, order, web; order → product (`/internal/*`); each service → its own
database; product → Redis and RabbitMQ; order → RabbitMQ; every service → the OTLP collector;
monitoring → every metrics port; every pod → DNS. Plus what running it takes: the Jobs to the
database they work on, and the sidecars to istiod.
"""

from __future__ import annotations

import chartlib
from chartlib import find

SERVICES = ["gateway", "user", "product", "order", "web"]
DATABASES = {"user": "postgresql-user", "product": "postgresql-product", "order": "postgresql-order"}

# The design's edges: (from, to, port, protocol).
DESIGN = {
    ("ingress", "gateway", 8080, "TCP"),
    *(("gateway", s, 8080, "TCP") for s in ("user", "product", "order", "web")),
    ("order", "product", 8080, "TCP"),
    *((s, db, 5432, "TCP") for s, db in DATABASES.items()),
    ("product", "redis", 6379, "TCP"),
    ("product", "rabbitmq", 5672, "TCP"),
    ("order", "rabbitmq", 5672, "TCP"),
}
JOBS = {
    *((f"migrate-{s}", db, 5432, "TCP") for s, db in DATABASES.items()),
    ("create-admin", "postgresql-user", 5432, "TCP"),
}
SEED = {("seed", "postgresql-product", 5432, "TCP"), ("seed", "redis", 6379, "TCP")}
OTEL = {(s, "otel-collector", 4318, "TCP") for s in SERVICES}
MONITORING = {("monitoring", s, 9090 if s == "gateway" else 8080, "TCP") for s in SERVICES}
MESH = {(s, "istiod", 15012, "TCP") for s in SERVICES}


def dns(components):
    return {(c, "dns", 53, p) for c in components for p in ("UDP", "TCP")}


def pods(edges):
    """The components of the release that appear in `edges`."""
    outside = {"ingress", "monitoring", "otel-collector", "istiod", "dns"}
    return {e for a, b, *_ in edges for e in (a, b) if e not in outside and not e.startswith("external:")}


def peer_name(peer: dict, values: dict) -> str:
    """The name of a NetworkPolicy peer, as the design names it."""
    if "ipBlock" in peer:
        assert set(peer) == {"ipBlock"}
        return f"external:{peer['ipBlock']['cidr']}"
    pod = peer.get("podSelector", {}).get("matchLabels", {})
    ns = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
    if ns is None:
        assert pod.get("app.kubernetes.io/instance") == "ecommerce", peer
        return pod["app.kubernetes.io/component"]
    np, istio = values.get("networkPolicy", {}), values.get("istio", {})
    known = {
        "ingress": [chartlib.merge({"namespace": "ingress-nginx", "podLabels": {"app.kubernetes.io/name": "ingress-nginx"}}, np.get("ingressController", {})),
                    chartlib.merge({"namespace": "istio-system", "podLabels": {"istio": "ingressgateway"}}, istio.get("ingressGateway", {}))],
        "monitoring": [chartlib.merge({"namespace": "monitoring", "podLabels": {"app.kubernetes.io/name": "prometheus"}}, np.get("monitoring", {}))],
        "dns": [{"namespace": "kube-system", "podLabels": {"k8s-app": "kube-dns"}}],
        "otel-collector": [{"namespace": "observability", "podLabels": {"app.kubernetes.io/name": "opentelemetry-collector"}}],
        "istiod": [{"namespace": "istio-system", "podLabels": {"app": "istiod"}}],
    }
    for name, candidates in known.items():
        for c in candidates:
            if c["namespace"] == ns and c["podLabels"] == pod:
                return name
    raise AssertionError(f"unknown peer {peer}")


def network_edges(objects: list[dict], values: dict) -> set[tuple]:
    """The edges the NetworkPolicies allow. An in-release edge must be allowed at both ends."""
    policies = find(objects, "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert len(deny) == 1, "one default-deny policy for the namespace"
    assert deny[0]["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert not deny[0]["spec"].get("ingress") and not deny[0]["spec"].get("egress")
    out, into = set(), set()
    for p in policies:
        if p is deny[0]:
            continue
        me = p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        assert p["spec"]["policyTypes"] == ["Ingress", "Egress"]
        for direction, key, bucket in (("ingress", "from", into), ("egress", "to", out)):
            for rule in p["spec"].get(direction) or []:
                # A rule without peers or ports would allow everything: never.
                assert rule.get(key) and rule.get("ports"), f"{me}: open {direction} rule {rule}"
                for peer in rule[key]:
                    for port in rule["ports"]:
                        other = peer_name(peer, values)
                        edge = (other, me) if direction == "ingress" else (me, other)
                        bucket.add((*edge, port["port"], port["protocol"]))
    release = {p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in policies if p is not deny[0]}
    internal = lambda edges: {e for e in edges if e[0] in release and e[1] in release}
    assert internal(out) == internal(into), (
        f"allowed at one end only: {sorted(internal(out) ^ internal(into))}")
    return out | into


def authorization_edges(objects: list[dict], values: dict) -> set[tuple]:
    """The edges the AuthorizationPolicies admit, by caller identity, with their paths."""
    principals = {
        "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account": "ingress",
        "cluster.local/ns/monitoring/sa/kube-prometheus-stack-prometheus": "monitoring",
        **{f"cluster.local/ns/ecommerce/sa/ecommerce-{s}": s for s in SERVICES},
    }
    edges = set()
    for ap in find(objects, "AuthorizationPolicy"):
        assert ap["spec"]["action"] == "ALLOW"
        me = ap["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for rule in ap["spec"]["rules"]:
            assert rule.get("from") and rule.get("to"), f"{me}: open rule {rule}"
            for source in rule["from"]:
                assert set(source["source"]) == {"principals"}
                for principal in source["source"]["principals"]:
                    for op in rule["to"]:
                        op = op["operation"]
                        for port in op["ports"]:
                            edges.add((principals[principal], me, int(port), "TCP",
                                       tuple(op.get("paths", ())), tuple(op.get("notPaths", ()))))
    return edges


def check(case: str, expected: set[tuple], extra: dict | None = None) -> list[dict]:
    values = chartlib.case_values(case, extra)
    objects = chartlib.render(values)
    got = network_edges(objects, values)
    assert got == expected, (
        f"{case}: unexpected {sorted(got - expected)}; missing {sorted(expected - got)}")
    return objects


def test_default_allows_exactly_the_design():
    edges = DESIGN | JOBS
    check("default", edges | dns(pods(edges)))


def test_the_seed_job_reaches_only_the_product_database_and_redis():
    edges = DESIGN | JOBS | SEED
    check("default", edges | dns(pods(edges)), {"seed": {"enabled": True}})


def test_monitoring_adds_only_the_metrics_ports():
    edges = DESIGN | JOBS | MONITORING
    check("monitoring", edges | dns(pods(edges)))


def test_external_stores_are_reached_only_at_their_addresses():
    edges = {e for e in DESIGN | JOBS if not e[1].startswith(("postgresql", "redis", "rabbitmq"))}
    edges |= {
        ("user", "external:10.20.0.0/24", 5432, "TCP"), ("migrate-user", "external:10.20.0.0/24", 5432, "TCP"),
        ("create-admin", "external:10.20.0.0/24", 5432, "TCP"),
        ("product", "external:10.20.0.0/24", 5432, "TCP"), ("migrate-product", "external:10.20.0.0/24", 5432, "TCP"),
        ("order", "external:10.20.1.0/24", 6432, "TCP"), ("migrate-order", "external:10.20.1.0/24", 6432, "TCP"),
        ("product", "external:10.20.2.10/32", 6379, "TCP"),
        # No address range given for RabbitMQ: any address, on its port only.
        ("product", "external:0.0.0.0/0", 5672, "TCP"), ("order", "external:0.0.0.0/0", 5672, "TCP"),
    }
    check("external-database", edges | dns(pods(edges)))


def test_istio_network_and_authorization_policies_allow_exactly_the_design():
    edges = DESIGN | JOBS | MONITORING | OTEL | MESH
    objects = check("istio", edges | dns(pods(edges)))
    # The AuthorizationPolicies: the design's HTTP edges between mesh identities, with the paths
    # that keep /internal/* to the order service and the ops endpoints off the gateway's routes.
    ops = ("/internal/*", "/metrics", "/healthz", "/readyz")
    expected = {
        ("ingress", "gateway", 8080, "TCP", (), ()),
        *(("gateway", s, 8080, "TCP", (), ops) for s in ("user", "product", "order", "web")),
        ("order", "product", 8080, "TCP", ("/internal/*",), ()),
        *((m, s, p, t, ("/metrics",), ()) for m, s, p, t in MONITORING),
    }
    got = authorization_edges(objects, chartlib.case_values("istio"))
    assert got == expected, f"unexpected {sorted(got - expected)}; missing {sorted(expected - got)}"
    # Both lists agree with each other on who calls which service.
    mesh_edges = {e[:4] for e in got}
    assert mesh_edges == {e for e in edges if e[1] in SERVICES}
    assert len(find(objects, "AuthorizationPolicy")) == len(SERVICES)


def test_production_allows_exactly_the_design():
    values = chartlib.case_values("production")
    objects = chartlib.render(values)
    got = network_edges(objects, values)
    want = {e for e in DESIGN | MONITORING | OTEL | MESH if not e[1].startswith("postgresql")}
    want |= {(s, "external:0.0.0.0/0", 5432, "TCP") for s in ("user", "product", "order")}
    want |= {(f"migrate-{s}", "external:0.0.0.0/0", 5432, "TCP") for s in ("user", "product", "order")}
    want = {e for e in want if e[0] != "ingress"} | {("ingress", "gateway", 8080, "TCP")}
    assert got == want | dns(pods(want)), f"unexpected {sorted(got - want - dns(pods(want)))}; missing {sorted(want | dns(pods(want)) - got)}"


def test_network_policies_can_be_switched_off():
    objects = chartlib.render(chartlib.case_values("default", {"networkPolicy": {"enabled": False}}))
    assert not find(objects, "NetworkPolicy")
