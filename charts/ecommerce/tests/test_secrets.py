"""Secrets: where they come from, that they are kept across upgrades, that each pod mounts only its
own as files, and that none reaches a ConfigMap or a plain environment value."""

from __future__ import annotations

import base64
import json

import helm_python as helm
import pytest
import yaml

import chartlib
import fakeapi
from chartlib import find, one, pod_specs

TEST = {"payment": {"provider": "test"}}
SECRET = "ecommerce-secrets"


def secret_data(objects: list[dict]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in one(objects, "Secret", SECRET)["data"].items()}


def test_generated_secrets_are_complete_and_well_formed(render):
    data = secret_data(render(TEST))
    assert set(data) == {
        "jwt-signing-key", "jwt-signing-key-id", "cursor-secret", "idempotency-secret", "internal-token",
        "admin-password", "redis-url", "redis-auth.conf", "redis-password", "amqp-url",
        "rabbitmq-auth.conf", "rabbitmq-password",
        *(f"{s}-database-{k}" for s in ("user", "product", "order") for k in ("url", "password")),
    }
    assert data["jwt-signing-key"].startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, as user reads it
    assert data["jwt-signing-key-id"].startswith("k-")
    for key in ("cursor-secret", "idempotency-secret", "internal-token"):
        assert len(data[key]) >= 32, key  # the services refuse shorter HMAC keys
    pw = data["user-database-password"]
    assert data["user-database-url"] == f"postgres://ecommerce:{pw}@ecommerce-postgresql-user:5432/ecommerce"
    assert data["amqp-url"].startswith("amqp://ecommerce:") and data["amqp-url"].endswith("@ecommerce-rabbitmq:5672/%2f")
    assert data["redis-auth.conf"] == f"requirepass {data['redis-password']}\n"
    assert f"default_pass = {data['rabbitmq-password']}" in data["rabbitmq-auth.conf"]
    sec = one(render(TEST), "Secret", SECRET)
    # Kept on uninstall, so a reinstall still opens the databases' volumes.
    assert sec["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_generated_secrets_are_kept_across_upgrade_through_lookup():
    """The chart's `lookup` runs against a fake API server holding the first install's Secret:
    the upgrade renders the same values. Offline (`helm template`, Argo CD) they change."""
    first = chartlib.render(TEST)
    installed = one(first, "Secret", SECRET)
    with fakeapi.FakeApi([installed]) as api:
        config = helm.Config(kubeconfig_content=api.kubeconfig(), namespace="ecommerce")
        try:
            out = config.render(chartlib.chart(), TEST, name="ecommerce", namespace="ecommerce", is_upgrade=True)
        finally:
            config.close()
        assert f"/api/v1/namespaces/ecommerce/secrets/{SECRET}" in api.requests
    upgraded = [d for p, t in out.items() if not p.endswith("NOTES.txt") for d in yaml.safe_load_all(t) if d]
    assert one(upgraded, "Secret", SECRET)["data"] == installed["data"]
    # The pods do not roll either: same checksum.
    annotation = lambda objs: one(objs, "Deployment", "ecommerce-order")["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]
    assert annotation(upgraded) == annotation(first)
    # Without a cluster the values are new each time: why gitOps.enabled refuses this mode.
    assert one(chartlib.render(TEST), "Secret", SECRET)["data"] != installed["data"]


def test_a_gitops_render_refuses_generated_secrets():
    with pytest.raises(helm.HelmRenderError, match=r"gitOps.enabled is set but the chart would generate the secrets.*secrets.existingSecret"):
        chartlib.render({**TEST, "gitOps": {"enabled": True}})


def test_existing_secret_is_read_and_nothing_is_created(render):
    objects = render({**TEST, "secrets": {"existingSecret": "shop-secrets"}})
    assert not find(objects, "Secret") and not find(objects, "SealedSecret")
    sources = one(objects, "Deployment", "ecommerce-user")["spec"]["template"]["spec"]["volumes"]
    projected = next(v for v in sources if v["name"] == "secrets")["projected"]["sources"]
    assert [s["secret"]["name"] for s in projected] == ["shop-secrets"]


def test_sealed_secrets_need_every_key_and_render_a_sealed_secret(render):
    values = chartlib.case_values("sealed-secrets")
    objects = render(values)
    sealed = one(objects, "SealedSecret", SECRET)
    assert sealed["spec"]["template"]["metadata"]["name"] == SECRET
    assert sealed["metadata"]["annotations"]["sealedsecrets.bitnami.com/namespace-wide"] == "true"
    assert not find(objects, "Secret")
    data = dict(values["sealedSecrets"]["encryptedData"])
    del data["cursor-secret"], data["amqp-url"]
    with pytest.raises(helm.HelmRenderError, match=r"sealedSecrets.encryptedData lacks cursor-secret, amqp-url"):
        chartlib.render(chartlib.merge({k: v for k, v in values.items() if k != "sealedSecrets"},
                                       {"sealedSecrets": {"enabled": True, "encryptedData": data}}))


def test_two_secret_sources_are_refused():
    with pytest.raises(helm.HelmRenderError, match="choose one source"):
        chartlib.render({**TEST, "secrets": {"existingSecret": "x"}, "sealedSecrets": {"enabled": True}})


def test_each_pod_mounts_only_its_own_secret_keys_as_files(render):
    objects = render(chartlib.case_values("default", {"seed": {"enabled": True}}))
    wanted = {
        "ecommerce-gateway": set(),
        "ecommerce-web": set(),
        "ecommerce-user": {"user-database-url", "jwt-signing-key", "jwt-signing-key-id", "internal-token"},
        "ecommerce-product": {"product-database-url", "redis-url", "amqp-url", "cursor-secret", "internal-token"},
        "ecommerce-order": {"order-database-url", "amqp-url", "idempotency-secret", "internal-token"},
        "ecommerce-migrate-user": {"user-database-url"},
        "ecommerce-migrate-product": {"product-database-url"},
        "ecommerce-migrate-order": {"order-database-url"},
        "ecommerce-seed": {"product-database-url", "redis-url"},
        "ecommerce-create-admin": {"user-database-url", "admin-password"},
        "ecommerce-postgresql-user": {"user-database-password"},
        "ecommerce-redis": {"redis-auth.conf"},
        "ecommerce-rabbitmq": {"rabbitmq-auth.conf"},
    }
    seen = {}
    for o, spec in pod_specs(objects):
        keys = set()
        for v in spec.get("volumes", []):
            if "secret" in v:
                keys |= {i["key"] for i in v["secret"]["items"]}
            for s in v.get("projected", {}).get("sources", []):
                if "secret" in s:
                    keys |= {i["key"] for i in s["secret"]["items"]}
        seen[o["metadata"]["name"]] = keys
    for name, keys in wanted.items():
        assert seen[name] == keys, name
    # Every *_FILE variable names a mounted file.
    order = one(objects, "Deployment", "ecommerce-order")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in order["env"]}
    assert env == {
        "DATABASE_URL_FILE": "/var/run/secrets/ecommerce/database-url",
        "AMQP_URL_FILE": "/var/run/secrets/ecommerce/amqp-url",
        "INTERNAL_TOKEN_FILE": "/var/run/secrets/ecommerce/internal-token",
        "IDEMPOTENCY_SECRET_FILE": "/var/run/secrets/ecommerce/idempotency-secret",
    }


def test_no_secret_value_in_a_configmap_or_a_plain_env_value(case):
    name, values, objects = case
    generated = secret_data(objects) if find(objects, "Secret", SECRET) else {}
    needles = [v for k, v in generated.items() if k != "jwt-signing-key-id"]
    for cm in find(objects, "ConfigMap"):
        text = json.dumps(cm["data"])
        for needle in needles:
            assert needle.strip() not in text, f"{name}: ConfigMap {cm['metadata']['name']} holds a secret"
        for key in cm["data"]:
            assert key not in ("DATABASE_URL", "REDIS_URL", "AMQP_URL", "CURSOR_SECRET", "IDEMPOTENCY_SECRET",
                               "INTERNAL_TOKEN", "JWT_SIGNING_KEY", "ADMIN_PASSWORD"), key
    for o, spec in pod_specs(objects):
        for c in spec["containers"]:
            for e in c.get("env", []):
                assert "valueFrom" not in e, (o["metadata"]["name"], e["name"])
                assert all(n not in str(e.get("value")) for n in needles), (o["metadata"]["name"], e["name"])


def test_a_secret_in_a_service_config_is_refused():
    with pytest.raises(helm.HelmRenderError, match=r"product.config.CURSOR_SECRET: CURSOR_SECRET is a secret"):
        chartlib.render({**TEST, "product": {"config": {"CURSOR_SECRET": "x" * 40}}})
    with pytest.raises(helm.HelmRenderError, match=r"order.config.DATABASE_URL_FILE"):
        chartlib.render({**TEST, "order": {"config": {"DATABASE_URL_FILE": "/x"}}})


def test_external_stores_are_read_from_their_own_secrets(render):
    objects = render(chartlib.case_values("external-database"))
    assert not find(objects, "StatefulSet")
    product = one(objects, "Deployment", "ecommerce-product")["spec"]["template"]["spec"]
    sources = {s["secret"]["name"]: s["secret"]["items"] for s in
               next(v for v in product["volumes"] if v["name"] == "secrets")["projected"]["sources"]}
    assert sources["ecommerce-product-db"] == [{"key": "database-url", "path": "database-url"}]
    assert sources["ecommerce-redis"] == [{"key": "redis-url", "path": "redis-url"}]
    assert sources["ecommerce-rabbitmq"] == [{"key": "amqp-url", "path": "amqp-url"}]
    order = one(objects, "Job", "ecommerce-migrate-order")["spec"]["template"]["spec"]
    items = next(v for v in order["volumes"] if v["name"] == "secrets")["projected"]["sources"][0]["secret"]
    assert items == {"name": "ecommerce-order-db", "items": [{"key": "url", "path": "database-url"}]}
    # The generated Secret holds only what is not external.
    assert set(secret_data(objects)) == {"jwt-signing-key", "jwt-signing-key-id", "cursor-secret",
                                         "idempotency-secret", "internal-token", "admin-password"}
