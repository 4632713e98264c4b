#!/usr/bin/env python3
"""The chart's pods, rendered for `podman play kube` on one machine (ci/chart-run).

  podman_kube.py WORK BASE_PORT

renders the chart with the Helm SDK for this machine (values below: the machine's PostgreSQL,
Redis and RabbitMQ as external stores, the secrets as an existing Secret, each service on its own
port of 127.0.0.1), and writes into WORK:
  secrets/<pod>/<file>    each pod's secret files, exactly the keys and paths its projected
                          volume names (values from WORK/secret-values.json)
  migrate.yaml            the migration Jobs' pods (pre-install hooks)
  services.yaml           the five Deployments and their ConfigMaps
  post.yaml               the seed and create-admin Jobs' pods (post-install hooks)
  plan.json               what ci/chart-run waits for: each Deployment's readiness URL

What podman 4.3 cannot run as rendered, and what replaces it (nothing else is changed):
- no Services, DNS or cluster network: every pod gets hostNetwork, so its `ports` go, and the
  services reach each other at 127.0.0.1 on the ports the values give them (BIND_ADDR and the
  *_URL variables are ordinary `config` values of the chart);
- podman supports only HostPath, ConfigMap, EmptyDir and PVC volumes: each pod's projected secret
  volume becomes a hostPath folder holding the same keys at the same paths;
- podman runs no Jobs: a Job's pod template runs as a Pod (restartPolicy Never), which is what the
  Job would start;
- probes become podman healthchecks that run curl inside the container, which the distroless
  images do not have: they go, and ci/chart-run polls the same readiness paths from outside;
  the scheduling fields (affinity, topology spread) and the preStop sleep go too.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chartlib  # noqa: E402

SERVICES = ["gateway", "user", "product", "order", "web"]


def values(base: int) -> dict:
    ports = {svc: base + i for i, svc in enumerate(SERVICES)}
    url = lambda svc: f"http://127.0.0.1:{ports[svc]}"
    stores = {"existingSecret": "ecommerce-secrets"}
    config = {svc: {"BIND_ADDR": f"127.0.0.1:{ports[svc]}"} for svc in SERVICES}
    config["gateway"].update(OPS_BIND_ADDR=f"127.0.0.1:{base + 10}", USER_URL=url("user"),
                             PRODUCT_URL=url("product"), ORDER_URL=url("order"), WEB_URL=url("web"),
                             TRUST_FORWARDED_FOR="false")
    config["order"]["PRODUCT_URL"] = url("product")
    # Names of its own in the shared broker, so a run never meets another's messages.
    for svc in ("product", "order"):
        config[svc]["AMQP_EXCHANGE"] = "chart-run.events"
    config["product"]["ORDER_EVENTS_QUEUE"] = "chart-run.order-events"
    return {
        "payment": {"provider": "test"},
        "seed": {"enabled": True},
        "admin": {"create": True, "email": "admin@chart-run.example"},
        "secrets": {"existingSecret": "ecommerce-secrets"},
        "postgresql": {"enabled": False},
        "externalDatabase": {svc: {**stores, "key": f"{svc}-database-url"} for svc in ("user", "product", "order")},
        "redis": {"enabled": False},
        "externalRedis": {**stores, "key": "redis-url"},
        "rabbitmq": {"enabled": False},
        "externalRabbitmq": {**stores, "key": "amqp-url"},
        "ingress": {"enabled": False},
        **{svc: {"config": config[svc]} for svc in SERVICES},
    }


def for_podman(pod_name: str, spec: dict, work: Path, secrets: dict[str, str]) -> dict:
    spec = copy.deepcopy(spec)
    spec["hostNetwork"] = True
    for key in ("affinity", "topologySpreadConstraints"):
        spec.pop(key, None)
    for c in spec["containers"]:
        for key in ("ports", "startupProbe", "readinessProbe", "livenessProbe", "lifecycle"):
            c.pop(key, None)
    for v in spec.get("volumes", []):
        if "projected" in v:
            folder = work / "secrets" / pod_name
            folder.mkdir(parents=True, exist_ok=True)
            for source in v.pop("projected")["sources"]:
                for item in source["secret"]["items"]:
                    path = folder / item["path"]
                    path.write_text(secrets[item["key"]])
                    path.chmod(0o444)
            v["hostPath"] = {"path": str(folder), "type": "Directory"}
    return spec


def pod(name: str, template: dict, spec: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": template["metadata"]["labels"],
                         "annotations": template["metadata"].get("annotations", {})},
            "spec": spec}


def main() -> None:
    work, base = Path(sys.argv[1]), int(sys.argv[2])
    secrets = json.loads((work / "secret-values.json").read_text())
    objects = chartlib.render(chartlib.merge({}, values(base)))
    hooks = lambda o: (o["metadata"].get("annotations") or {}).get("helm.sh/hook", "")
    migrate, post, services, plan = [], [], [], {}
    for job in chartlib.find(objects, "Job"):
        name = job["metadata"]["name"]
        template = job["spec"]["template"]
        p = pod(name, template, for_podman(name, template["spec"], work, secrets))
        (migrate if "pre-install" in hooks(job) or name.startswith("ecommerce-migrate-") else post).append(p)
    for cm in chartlib.find(objects, "ConfigMap"):
        services.append(cm)
    for d in chartlib.find(objects, "Deployment"):
        name = d["metadata"]["name"]
        d2 = copy.deepcopy(d)
        container = d["spec"]["template"]["spec"]["containers"][0]
        probe = container["readinessProbe"]["httpGet"]
        svc = container["name"]
        port = base + 10 if probe["port"] == "http-ops" else base + SERVICES.index(svc)
        plan[svc] = f"http://127.0.0.1:{port}{probe['path']}"
        d2["spec"]["template"]["spec"] = for_podman(name, d["spec"]["template"]["spec"], work, secrets)
        services.append(d2)
    assert len(plan) == len(SERVICES), plan
    configmaps = chartlib.find(objects, "ConfigMap")
    # The post-install Jobs read their service's ConfigMap (envFrom): podman needs it in the file.
    for file, docs in (("migrate.yaml", migrate), ("services.yaml", services), ("post.yaml", configmaps + post)):
        (work / file).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    (work / "plan.json").write_text(json.dumps({
        "ready": plan, "gateway": f"http://127.0.0.1:{base}",
        "migrate": [p["metadata"]["name"] for p in migrate], "post": [p["metadata"]["name"] for p in post],
    }, indent=2))
    print(f"{len(migrate)} migration pods, {len(plan)} Deployments, {len(post)} post-install pods -> {work}")


if __name__ == "__main__":
    main()
