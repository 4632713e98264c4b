"""Every pod the chart renders is hardened the same way (Pod Security Standards `restricted`,
no API token, resources, probes), and carries the standard labels."""

from __future__ import annotations

from chartlib import find, one, pod_specs

STANDARD_LABELS = {
    "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
    "app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by",
    "helm.sh/chart",
}
SERVICES = ["gateway", "user", "product", "order", "web"]
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}


def test_every_object_has_the_standard_labels_and_a_namespace(case):
    name, _, objects = case
    for o in objects:
        labels = o["metadata"].get("labels", {})
        assert STANDARD_LABELS <= set(labels), f"{name}: {o['kind']}/{o['metadata']['name']} lacks {STANDARD_LABELS - set(labels)}"
        assert o["metadata"]["namespace"] == "ecommerce"


def test_every_container_is_non_root_read_only_and_drops_all(case):
    name, _, objects = case
    containers = 0
    for o, spec in pod_specs(objects):
        where = f"{name}: {o['kind']}/{o['metadata']['name']}"
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), where
        for v in spec.get("volumes", []):
            assert set(v) - {"name"} <= RESTRICTED_VOLUMES, f"{where}: volume {v}"
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["runAsUser"] != 0 and pod["runAsUser"] != 0, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            assert sc.get("privileged") is False, where
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], where
            containers += 1
    assert containers >= 5


def test_the_services_run_as_the_images_user_65532(render):
    objects = render({"payment": {"provider": "test"}})
    for svc in SERVICES:
        spec = one(objects, "Deployment", f"ecommerce-{svc}")["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsUser"] == 65532
        assert spec["containers"][0]["securityContext"]["runAsUser"] == 65532
        assert spec["containers"][0]["image"] == f"ecommerce/{svc}:0.1.0"


def test_every_deployment_probes_healthz_and_readyz_on_its_ops_port(case):
    name, _, objects = case
    deployments = find(objects, "Deployment")
    assert len(deployments) >= 5
    for d in deployments:
        c = d["spec"]["template"]["spec"]["containers"][0]
        port = "http-ops" if c["name"] == "gateway" else "http"
        assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": port}, d["metadata"]["name"]
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["http"] == 8080
        if c["name"] == "gateway":
            # The gateway's public port has no ops endpoints; they are on OPS_BIND_ADDR.
            assert ports["http-ops"] == 9090
        assert d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    for s in find(objects, "StatefulSet"):
        c = s["spec"]["template"]["spec"]["containers"][0]
        assert c["readinessProbe"] and c["livenessProbe"], s["metadata"]["name"]


def test_gateway_reads_its_ops_listener_from_the_config(render):
    objects = render({"payment": {"provider": "test"}})
    data = one(objects, "ConfigMap", "ecommerce-gateway")["data"]
    assert data["OPS_BIND_ADDR"] == "0.0.0.0:9090"
    assert data["USER_URL"] == "http://ecommerce-user:8080"
    assert data["WEB_URL"] == "http://ecommerce-web:8080"
    order = one(objects, "ConfigMap", "ecommerce-order")["data"]
    assert order["PRODUCT_URL"] == "http://ecommerce-product:8080"


def test_pre_stop_pause_needs_kubernetes_1_30(render):
    new = render({"payment": {"provider": "test"}})
    old = render({"payment": {"provider": "test"}, "kubeVersion": "1.29.5"})
    for svc in SERVICES:
        c_new = one(new, "Deployment", f"ecommerce-{svc}")["spec"]["template"]["spec"]["containers"][0]
        c_old = one(old, "Deployment", f"ecommerce-{svc}")["spec"]["template"]["spec"]["containers"][0]
        assert c_new["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
        assert "lifecycle" not in c_old


def test_replicas_spread_over_zones_and_nodes(render):
    objects = render({"payment": {"provider": "test"}, "serviceDefaults": {"podAntiAffinityPreset": "hard"}})
    spec = one(objects, "Deployment", "ecommerce-order")["spec"]["template"]["spec"]
    keys = [t["topologyKey"] for t in spec["topologySpreadConstraints"]]
    assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    assert spec["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "order"
    term = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["topologyKey"] == "kubernetes.io/hostname"


def test_hpa_and_pdb_follow_the_values(render):
    objects = render({"payment": {"provider": "test"},
                      "serviceDefaults": {"autoscaling": {"enabled": True, "requestsPerSecond": 40}},
                      "web": {"pdb": {"enabled": False}, "autoscaling": {"enabled": False}}})
    hpa = one(objects, "HorizontalPodAutoscaler", "ecommerce-product")
    assert hpa["apiVersion"] == "autoscaling/v2"
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    resources = {m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"}
    assert resources == {"cpu", "memory"}
    assert metrics["Pods"]["pods"]["metric"]["name"] == "http_requests_per_second"
    assert "replicas" not in one(objects, "Deployment", "ecommerce-product")["spec"]
    assert one(objects, "Deployment", "ecommerce-web")["spec"]["replicas"] == 1
    assert not find(objects, "HorizontalPodAutoscaler", "ecommerce-web")
    assert not find(objects, "PodDisruptionBudget", "ecommerce-web")
    assert one(objects, "PodDisruptionBudget", "ecommerce-user")["spec"]["maxUnavailable"] == 1


def test_images_by_tag_or_by_digest(render):
    digest = "sha256:" + "ab" * 32
    objects = render({"payment": {"provider": "test"}, "image": {"registry": "registry.example.org/shop", "tag": "1.2.3"},
                      "order": {"image": {"digest": digest}}, "web": {"image": {"tag": "1.2.4"}}})
    image = lambda d: one(objects, "Deployment", d)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image("ecommerce-gateway") == "registry.example.org/shop/ecommerce/gateway:1.2.3"
    assert image("ecommerce-order") == f"registry.example.org/shop/ecommerce/order:1.2.3@{digest}"
    assert image("ecommerce-web") == "registry.example.org/shop/ecommerce/web:1.2.4"
    job = one(objects, "Job", "ecommerce-migrate-order")["spec"]["template"]["spec"]["containers"][0]
    assert job["image"] == image("ecommerce-order")
    # A pinned image needs no checkov skip for CKV_K8S_43; a tagged one records why.
    skips = lambda d: " ".join((one(objects, "Deployment", d)["metadata"].get("annotations") or {}).values())
    assert "CKV_K8S_43" not in skips("ecommerce-order")
    assert "CKV_K8S_43" in skips("ecommerce-web")


def test_service_accounts_have_no_token_and_no_rbac(case):
    name, _, objects = case
    for sa in find(objects, "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False
    for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
        assert not find(objects, kind), f"{name}: the services need no Kubernetes API access"
