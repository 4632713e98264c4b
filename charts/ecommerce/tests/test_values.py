"""Values in, behaviour out: the schema, the payment provider, checksums, hooks, Istio and the
edge, and monitoring."""

from __future__ import annotations

import json
import re
from pathlib import Path

import helm_python as helm
import pytest
import yaml

import chartlib
from chartlib import CHART, find, one

TEST = {"payment": {"provider": "test"}}
SERVICES = ["gateway", "user", "product", "order", "web"]


# --- values.schema.json ---------------------------------------------------------------------

@pytest.mark.parametrize("values, named", [
    ({"gatway": {"replicaCount": 2}}, "additional properties 'gatway' not allowed"),
    ({"order": {"replicas": 2}}, "at '/order': additional properties 'replicas' not allowed"),
    ({"serviceDefaults": {"autoscaling": {"enable": True}}}, "at '/serviceDefaults/autoscaling': additional properties 'enable' not allowed"),
    ({"ingress": {"tls": {"clusterIsuer": "x"}}}, "at '/ingress/tls': additional properties 'clusterIsuer' not allowed"),
    ({"gateway": {"replicaCount": -1}}, "at '/gateway/replicaCount': minimum: got -1, want 0"),
    ({"serviceDefaults": {"replicaCount": -3}}, "at '/serviceDefaults/replicaCount': minimum: got -3, want 0"),
    ({"product": {"canary": {"weight": 101}}}, "at '/product/canary/weight': maximum: got 101, want 100"),
    ({"web": {"image": {"digest": "sha256:abc"}}}, "at '/web/image/digest'"),
    ({"user": {"config": {"argon2_memory_kib": "1"}}}, "invalid propertyName 'argon2_memory_kib'"),
    ({"environment": "prod"}, "at '/environment'"),
])
def test_the_schema_rejects_a_mistake_naming_it(values, named):
    with pytest.raises(helm.HelmValuesError) as error:
        chartlib.render(chartlib.merge(TEST, values))
    assert named in str(error.value)


def test_every_shipped_values_file_passes_the_schema():
    for case in chartlib.MATRIX:
        chartlib.chart().validate_schema(chartlib.case_values(case))


# --- the payment provider -------------------------------------------------------------------

def test_production_with_the_test_provider_fails_clearly():
    values = chartlib.case_values("production", {"payment": {"provider": "test"}})
    with pytest.raises(helm.HelmRenderError, match=r'payment.provider is "test" but environment is "production": the test provider takes no money'):
        chartlib.render(values)


def test_the_payment_provider_is_required():
    with pytest.raises(helm.HelmRenderError, match=r"payment.provider is required"):
        chartlib.render({})


def test_the_provider_reaches_the_order_service_and_only_dev_and_staging_use_test():
    for case, provider in (("dev", "test"), ("staging", "test"), ("production", "stripe")):
        objects = chartlib.render(chartlib.case_values(case))
        data = one(objects, "ConfigMap", "ecommerce-order")["data"]
        assert data["PAYMENT_PROVIDER"] == provider
        assert ("PAYMENT_TEST_FAILURE_RATE" in data) == (provider == "test")


# --- checksums roll the pods ----------------------------------------------------------------

def pod_annotations(objects, name):
    return one(objects, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]


def test_a_config_change_rolls_only_that_service():
    before = chartlib.render(TEST)
    after = chartlib.render(chartlib.merge(TEST, {"order": {"config": {"TAX_RATE_BPS": "800"}}}))
    assert pod_annotations(before, "ecommerce-order")["checksum/config"] != pod_annotations(after, "ecommerce-order")["checksum/config"]
    assert pod_annotations(before, "ecommerce-product")["checksum/config"] == pod_annotations(after, "ecommerce-product")["checksum/config"]
    # A shared setting rolls every service that reads it.
    issuer = chartlib.render(chartlib.merge(TEST, {"auth": {"issuer": "shop"}}))
    for svc, changes in (("gateway", True), ("user", True), ("order", False)):
        a = pod_annotations(before, f"ecommerce-{svc}")["checksum/config"]
        b = pod_annotations(issuer, f"ecommerce-{svc}")["checksum/config"]
        assert (a != b) == changes, svc


def test_a_secret_change_rolls_the_pods():
    values = chartlib.case_values("sealed-secrets")
    before = chartlib.render(values)
    changed = json.loads(json.dumps(values))
    changed["sealedSecrets"]["encryptedData"]["internal-token"] = "AgZZnew"
    after = chartlib.render(changed)
    for svc in SERVICES:
        assert pod_annotations(before, f"ecommerce-{svc}")["checksum/secret"] != pod_annotations(after, f"ecommerce-{svc}")["checksum/secret"]
    # The generated Secret and the checksum come from the same values within one render.
    objects = chartlib.render(TEST)
    secret = one(objects, "Secret", "ecommerce-secrets")
    first = pod_annotations(objects, "ecommerce-user")["checksum/secret"]
    assert all(pod_annotations(objects, f"ecommerce-{s}")["checksum/secret"] == first for s in SERVICES)
    assert len(secret["data"]) > 10


# --- Istio ------------------------------------------------------------------------------------

def test_canary_weights_sum_to_100_on_every_route():
    objects = chartlib.render(chartlib.case_values("istio"))
    services = find(objects, "VirtualService")
    assert len(services) == len(SERVICES)
    weights = {}
    for vs in services:
        for route in vs["spec"]["http"]:
            total = sum(d["weight"] for d in route["route"])
            assert total == 100, f"{vs['metadata']['name']}: weights sum to {total}"
            weights[vs["metadata"]["name"]] = {d["destination"]["subset"]: d["weight"] for d in route["route"]}
    assert weights["ecommerce-gateway"] == {"stable": 90, "canary": 10}
    assert weights["ecommerce-product"] == {"stable": 75, "canary": 25}
    assert weights["ecommerce-order"] == {"stable": 100}
    canary = one(objects, "Deployment", "ecommerce-gateway-canary")
    assert canary["spec"]["template"]["metadata"]["labels"]["track"] == "canary"
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "ecommerce/gateway:0.2.0"
    assert one(objects, "Deployment", "ecommerce-gateway")["spec"]["selector"]["matchLabels"]["track"] == "stable"
    # The Service selects both tracks; the DestinationRule tells them apart.
    assert "track" not in one(objects, "Service", "ecommerce-gateway")["spec"]["selector"]
    dr = one(objects, "DestinationRule", "ecommerce-gateway")
    assert {s["name"]: s["labels"] for s in dr["spec"]["subsets"]} == {"stable": {"track": "stable"}, "canary": {"track": "canary"}}
    assert dr["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] == 5
    assert dr["spec"]["trafficPolicy"]["connectionPool"]["http"]["http2MaxRequests"] == 1024


def test_istio_requires_mtls_and_keeps_jobs_and_stores_out_of_the_mesh():
    objects = chartlib.render(chartlib.case_values("istio"))
    pa = find(objects, "PeerAuthentication")
    assert len(pa) == 1 and pa[0]["spec"]["mtls"] == {"mode": "STRICT"}
    for o in find(objects, "Deployment"):
        assert o["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/inject"] == "true"
    for o in find(objects, "Job") + find(objects, "StatefulSet"):
        assert o["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    gw = one(objects, "Gateway", "ecommerce-edge")
    assert [s["port"]["number"] for s in gw["spec"]["servers"]] == [443, 80]
    assert gw["spec"]["servers"][0]["tls"] == {"mode": "SIMPLE", "credentialName": "shop-example-com-tls"}
    edge = one(objects, "VirtualService", "ecommerce-gateway")
    assert edge["spec"]["gateways"] == ["ecommerce-edge"] and edge["spec"]["hosts"] == ["shop.example.com"]
    assert not find(objects, "Ingress")
    # Prometheus scrapes through mTLS with Istio's certificates.
    sm = one(objects, "ServiceMonitor", "ecommerce-order")
    assert sm["spec"]["endpoints"][0]["scheme"] == "https"


@pytest.mark.parametrize("values, message", [
    ({"istio": {"enabled": True}}, "istio.enabled and ingress.enabled are both set"),
    ({"order": {"canary": {"enabled": True, "weight": 5}}}, "order.canary.enabled needs istio.enabled"),
    ({"postgresql": {"enabled": False}}, "externalDatabase.user.existingSecret is empty"),
    ({"redis": {"enabled": False}}, "set exactly one of redis.enabled and externalRedis.existingSecret"),
    ({"externalRabbitmq": {"existingSecret": "mq"}}, "set exactly one of rabbitmq.enabled and externalRabbitmq.existingSecret"),
])
def test_contradictory_values_fail_with_a_message(values, message):
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        chartlib.render(chartlib.merge(TEST, values))


# --- the edge without Istio -----------------------------------------------------------------

def test_ingress_with_cert_manager_annotation_or_certificate():
    objects = chartlib.render(TEST)
    ing = one(objects, "Ingress", "ecommerce-gateway")
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert ing["spec"]["tls"] == [{"hosts": ["shop.example.com"], "secretName": "ecommerce-tls"}]
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {"name": "ecommerce-gateway", "port": {"name": "http"}}
    assert not find(objects, "Certificate")
    objects = chartlib.render(chartlib.case_values("ingress-certificate"))
    cert = one(objects, "Certificate", "ecommerce-tls")
    assert cert["spec"]["dnsNames"] == ["shop.example.org"]
    assert cert["spec"]["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt"}
    assert "cert-manager.io/cluster-issuer" not in (one(objects, "Ingress", "ecommerce-gateway")["metadata"].get("annotations") or {})


# --- hooks ------------------------------------------------------------------------------------

def hooks(objects):
    return {o["metadata"]["name"]: (o["metadata"]["annotations"]["helm.sh/hook"], int(o["metadata"]["annotations"]["helm.sh/hook-weight"]))
            for o in objects if "helm.sh/hook" in (o["metadata"].get("annotations") or {})}


def test_migrations_run_before_upgrades_and_where_their_database_exists_on_install():
    bundled = hooks(chartlib.render(chartlib.merge(TEST, {"seed": {"enabled": True}})))
    assert bundled == {
        "ecommerce-jobs": ("pre-install,pre-upgrade,post-install,post-upgrade", -10),
        "ecommerce-migrate-user": ("post-install,pre-upgrade", 0),
        "ecommerce-migrate-product": ("post-install,pre-upgrade", 0),
        "ecommerce-migrate-order": ("post-install,pre-upgrade", 0),
        "ecommerce-seed": ("post-install,post-upgrade", 10),
        "ecommerce-create-admin": ("post-install,post-upgrade", 10),
    }
    external = hooks(chartlib.render(chartlib.case_values("external-database")))
    assert external["ecommerce-migrate-order"] == ("pre-install,pre-upgrade", 0)
    objects = chartlib.render(TEST)
    job = one(objects, "Job", "ecommerce-migrate-product")["spec"]["template"]["spec"]
    assert job["containers"][0]["args"] == ["migrate"]
    assert job["restartPolicy"] == "Never" and job["serviceAccountName"] == "ecommerce-jobs"
    assert not find(objects, "Job", "ecommerce-seed"), "the demo seed is opt-in"
    admin = one(objects, "Job", "ecommerce-create-admin")["spec"]["template"]["spec"]["containers"][0]
    assert admin["args"] == ["create-admin"]
    assert {e["name"]: e.get("value") for e in admin["env"]}["ADMIN_EMAIL"] == "admin@example.com"


# --- monitoring ---------------------------------------------------------------------------------
# What the rules and dashboards say is checked where it can be: promtool tests the rules, and
# ci/obs-check proves every metric they name against a real scrape of the services. Here: that
# the chart installs exactly those files, and labels the targets as they select them.

def test_monitoring_installs_the_checked_rules_and_dashboards_and_labels_the_targets_as_they_select():
    objects = chartlib.render(chartlib.case_values("monitoring"))
    monitors = find(objects, "ServiceMonitor")
    assert {m["metadata"]["name"]: m["spec"]["endpoints"][0]["port"] for m in monitors} == {
        "ecommerce-gateway": "http-ops", **{f"ecommerce-{s}": "http" for s in SERVICES[1:]}}
    assert all(m["metadata"]["labels"]["release"] == "kube-prometheus-stack" for m in monitors)
    for monitor in monitors:
        relabel = {r["targetLabel"]: r["replacement"] for r in monitor["spec"]["endpoints"][0]["relabelings"]}
        assert relabel == {"job": "ecommerce", "service": monitor["metadata"]["labels"]["app.kubernetes.io/component"]}
    rule = one(objects, "PrometheusRule", "ecommerce-rules")
    files = sorted((CHART / "files/rules").glob("*.yaml"))
    assert files
    assert rule["spec"]["groups"] == [g for f in files for g in yaml.safe_load(f.read_text())["groups"]]
    dashboards = {k: v for o in find(objects, "ConfigMap") if o["metadata"]["labels"].get("grafana_dashboard") == "1"
                  for k, v in o["data"].items()}
    assert dashboards == {f.name: f.read_text().rstrip("\n") for f in (CHART / "files/dashboards").glob("*.json")}
    assert len(dashboards) >= 8
    assert not find(chartlib.render(TEST), "ServiceMonitor")
    without_rules = chartlib.render(chartlib.case_values("monitoring", {"monitoring": {"rules": {"enabled": False}}}))
    assert find(without_rules, "ServiceMonitor") and not find(without_rules, "PrometheusRule")


def test_every_alert_has_a_summary_a_description_and_a_runbook_section_that_exists():
    runbooks = (CHART.parents[1] / "docs/runbooks.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", runbooks, re.M)}
    alerts = [r for f in (CHART / "files/rules").glob("*.yaml")
              for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) >= 14
    for alert in alerts:
        notes = alert["annotations"]
        assert notes["summary"] and notes["description"], alert["alert"]
        page, _, anchor = notes["runbook_url"].partition("#")
        assert page.endswith("/docs/runbooks.md") and anchor == alert["alert"].lower(), notes["runbook_url"]
        assert anchor in anchors, f"docs/runbooks.md has no section {alert['alert']}"
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]


def test_notes_say_how_to_reach_the_shop_and_where_the_admin_password_is():
    notes = chartlib.notes(TEST)
    assert "kubectl -n ecommerce port-forward service/ecommerce-gateway 8080:8080" in notes
    assert "https://shop.example.com/" in notes
    assert "get secret ecommerce-secrets -o jsonpath='{.data.admin-password}'" in notes
    assert 'WARNING: payment.provider is "test"' in notes
    production = chartlib.notes(chartlib.case_values("production"))
    assert "admin-password" not in production and "WARNING" not in production


def test_production_values_keep_their_promises():
    values = chartlib.case_values("production")
    objects = chartlib.render(values)
    assert not find(objects, "Secret") and not find(objects, "SealedSecret"), "existing secrets only"
    for svc in SERVICES:
        hpa = one(objects, "HorizontalPodAutoscaler", f"ecommerce-{svc}")
        assert hpa["spec"]["minReplicas"] >= 2
        assert one(objects, "PodDisruptionBudget", f"ecommerce-{svc}")
        assert one(objects, "AuthorizationPolicy", f"ecommerce-{svc}")
        spec = one(objects, "Deployment", f"ecommerce-{svc}")["spec"]["template"]["spec"]
        assert "requiredDuringSchedulingIgnoredDuringExecution" in spec["affinity"]["podAntiAffinity"]
    assert one(objects, "PeerAuthentication", "ecommerce-mtls")["spec"]["mtls"]["mode"] == "STRICT"
    assert not find(objects, "StatefulSet", "ecommerce-postgresql-user"), "managed databases"
