"""Negative controls: each check of ci/gitops-check fails on a copy of the tree broken for it, and
names what is broken. (The checks pass on the real tree: that is ci/gitops-check itself.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import Tree


def assert_fails(result, *needles: str) -> None:
    out = result.stdout + result.stderr
    assert result.returncode != 0, f"the check passed on a broken tree:\n{out}"
    for needle in needles:
        assert needle in out, f"{needle!r} not in the check's findings:\n{out}"


def test_the_copy_passes_every_check(tree: Tree) -> None:
    # The fixture is the real tree: every check passes on it, so each failure below is the breakage.
    for cmd in ("render", "schemas", "sources", "waves", "projects", "wiring"):
        result = tree.check(cmd)
        assert result.returncode == 0, f"{cmd}:\n{result.stdout}{result.stderr}"


def test_render_refuses_other_objects_and_a_diverging_bootstrap(tree: Tree) -> None:
    tree.write("argocd/environments/dev/stray.yaml",
               "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n  namespace: argocd\n")
    tree.replace("argocd/environments/dev/kustomization.yaml", "  - secrets.yaml\n", "  - secrets.yaml\n  - stray.yaml\n")
    tree.replace("argocd/bootstrap/staging.yaml", "namespace: argocd\n  clusterResourceWhitelist",
                 "namespace: argocd\n    - server: https://kubernetes.default.svc\n      namespace: default\n  clusterResourceWhitelist")
    assert_fails(tree.check("render"), "the root renders a ConfigMap (stray)",
                 "argocd/bootstrap/staging.yaml: AppProject bootstrap differs")


def test_schemas_catch_misspelt_fields_of_every_kind_and_plain_secrets(tree: Tree) -> None:
    tree.replace("argocd/platform/loki.yaml", "  syncPolicy:\n    automated:", "  syncPolicy:\n    automatic:")
    tree.replace("argocd/projects/ecommerce.yaml", "  sourceRepos:", "  sourceRepo:")
    tree.replace("argocd/manifests/backups/ecommerce-daily.yaml", "    ttl: 720h0m0s", "    retention: 720h0m0s")
    tree.replace("argocd/manifests/chaos/experiments.yaml", "      latency: 100ms", "      latenzy: 100ms")
    tree.replace("argocd/manifests/cluster-issuers/cluster-issuers.yaml", "    privateKeySecretRef:", "    privateKeyRef:")
    tree.replace("argocd/environments/staging/certificates/gateway-certificate.yaml", "  dnsNames:", "  dnsName:")
    tree.replace("argocd/environments/dev/ecommerce-secrets/ecommerce-secrets.yaml", "  encryptedData:", "  encrypted:")
    tree.write("argocd/environments/dev/ecommerce-secrets/plain.yaml",
               "apiVersion: v1\nkind: Secret\nmetadata:\n  name: oops\nstringData:\n  password: hunter2\n")
    assert_fails(tree.check("schemas"), "Application loki", "'automatic' was unexpected",
                 "AppProject ecommerce", "'sourceRepo' was unexpected",
                 "Schedule ecommerce-daily", "'retention' was unexpected",
                 "Schedule postgres-delay", "'latenzy' was unexpected",
                 "ClusterIssuer letsencrypt", "'privateKeyRef' was unexpected",
                 "Certificate staging-shop-example-com-tls", "'dnsName' was unexpected",
                 "SealedSecret ecommerce-secrets", "'encrypted' was unexpected",
                 "a plain Secret oops in git")


def test_sources_catch_missing_paths_value_files_unpinned_charts_stale_inventory_and_bad_values(tree: Tree) -> None:
    tree.replace("argocd/platform/backups.yaml", "path: argocd/manifests/backups", "path: argocd/manifests/backup")
    tree.replace("argocd/environments/dev/ecommerce.yaml", "- ../../argocd/environments/dev/values.yaml",
                 "- ../../argocd/environments/dev/value.yaml")
    tree.replace("argocd/platform/tempo.yaml", "targetRevision: 2.2.4", "targetRevision: 2.2.*")
    tree.replace("argocd/platform/loki.yaml", "retention_period: 744h", "retention_period: 24h")
    tree.replace("argocd/environments/production/values.yaml", "{}", "payment:\n  provider: test")
    tree.replace("argocd/platform/istiod.yaml", "      selfHeal: true\n", "")
    assert_fails(tree.check("sources"),
                 "backups: path 'argocd/manifests/backup' does not exist",
                 "value file ../../argocd/environments/dev/value.yaml of charts/ecommerce does not exist",
                 "tempo targetRevision '2.2.*' is not a pinned chart version",
                 "loki: Application loki: argocd/tests/inventory.yaml has no rendering of loki 18.11.0",
                 "production/ecommerce: the chart does not render", "the test provider takes no money",
                 "istiod: syncPolicy.automated needs prune and selfHeal")


def test_waves_catch_a_crd_user_not_after_its_provider(tree: Tree) -> None:
    # The ClusterIssuers in cert-manager's own wave; the Velero Schedule before Velero; the shop
    # (Istio objects, ServiceMonitors) in the wave of Istio's CRDs.
    tree.replace("argocd/platform/cluster-issuers.yaml", 'sync-wave: "2"', 'sync-wave: "1"')
    tree.replace("argocd/platform/backups.yaml", 'sync-wave: "4"', 'sync-wave: "2"')
    tree.replace("argocd/environments/staging/ecommerce.yaml", 'sync-wave: "4"', 'sync-wave: "0"')
    assert_fails(tree.check("waves"),
                 "cluster-issuers (wave 1) creates cert-manager.io/ClusterIssuer, but its CRD comes with cert-manager (wave 1)",
                 "backups (wave 2) creates velero.io/Schedule, but its CRD comes with velero (wave 3)",
                 "staging: ecommerce (wave 0) creates networking.istio.io/",
                 "staging: ecommerce (wave 0) creates monitoring.coreos.com/ServiceMonitor")


def test_waves_catch_a_crd_no_application_installs(tree: Tree) -> None:
    # Production does not opt in to Chaos Mesh: its experiments there have no CRD.
    tree.replace("argocd/environments/production/kustomization.yaml", "patches:",
                 "components:\n  - ../../optional/chaos\npatches:")
    tree.replace("argocd/optional/chaos/kustomization.yaml", "  - chaos-mesh.yaml\n", "")
    assert_fails(tree.check("waves"), "chaos-experiments creates chaos-mesh.org/Schedule, whose CRD no Application of this cluster installs")


def test_projects_allow_exactly_what_is_used(tree: Tree) -> None:
    text = tree.read("argocd/projects/platform.yaml")
    # A namespace used but not allowed, a repository and a cluster-scoped kind allowed but unused.
    text = text.replace("    - server: https://kubernetes.default.svc\n      namespace: kube-system\n", "")
    text = text.replace("  sourceRepos:\n", "  sourceRepos:\n    - https://charts.example.com\n")
    text = text.replace("  clusterResourceWhitelist:\n", "  clusterResourceWhitelist:\n    - group: storage.k8s.io\n      kind: StorageClass\n")
    tree.write("argocd/projects/platform.yaml", text)
    tree.replace("argocd/projects/ecommerce.yaml", "    - server: https://kubernetes.default.svc\n      namespace: ecommerce\n",
                 "    - server: https://kubernetes.default.svc\n      namespace: '*'\n")
    # A component opted in without widening the project: ingress-nginx's patch removed.
    tree.replace("argocd/optional/ingress-nginx/kustomization.yaml", "        value:\n          group: networking.k8s.io\n          kind: IngressClass\n", "        value:\n          group: networking.k8s.io\n          kind: Ingress\n")
    assert_fails(tree.check("projects"),
                 "AppProject platform lacks namespaces its Applications use: ['kube-system']",
                 "AppProject platform allows repositories no Application of it uses: ['https://charts.example.com']",
                 "AppProject platform allows cluster-scoped kinds no Application of it uses: ['storage.k8s.io/StorageClass']",
                 "AppProject ecommerce uses a wildcard",
                 "dev: AppProject platform lacks cluster-scoped kinds its Applications use: ['networking.k8s.io/IngressClass']")


def test_wiring_catches_missing_secret_keys_and_platform_mismatches(tree: Tree) -> None:
    tree.replace("argocd/environments/staging/ecommerce-secrets/ecommerce-secrets.yaml",
                 "    internal-token: sealed-by-ci-seal-secrets\n", "")
    shutil.move(tree.path("argocd/environments/production/ecommerce-secrets/ecommerce-order-database.yaml"),
                tree.path("argocd/environments/production/order-database.txt"))
    tree.replace("argocd/platform/opentelemetry-collector.yaml", "fullnameOverride: otel-collector", "fullnameOverride: collector")
    tree.replace("argocd/platform/istio-ingressgateway.yaml", "name: istio-ingressgateway-service-account", "name: istio-ingressgateway")
    tree.replace("argocd/platform/kube-prometheus-stack.yaml", "releaseName: kube-prometheus-stack", "releaseName: prometheus")
    assert_fails(tree.check("wiring"),
                 "staging: SealedSecret ecommerce-secrets lacks keys the shop's pods read: ['internal-token']",
                 "production: the shop's pods read Secret ecommerce-order-database, which no SealedSecret",
                 "the collector listens at http://collector.observability:4318",
                 "is not the gateway's service account 'cluster.local/ns/istio-system/sa/istio-ingressgateway'",
                 "is not the kube-prometheus-stack release 'prometheus'")


def test_workflows_must_be_valid_and_call_scripts_in_ci(tree: Tree) -> None:
    jsonschema = str(Path(__import__("sys").executable).parent / "check-jsonschema")
    tree.replace(".github/workflows/ci.yaml", "    runs-on: ubuntu-24.04", "    run-on: ubuntu-24.04")
    tree.replace(".github/workflows/release.yaml", "        run: ci/release-manifest", "        run: ci/release-manifests")
    tree.replace(".github/workflows/promote.yaml", "        run: ci/promote-images --pull-request staging production",
                 "        run: |\n          cp argocd/environments/staging/images.yaml argocd/environments/production/images.yaml\n          gh pr create --fill")
    tree.write(".github/workflows/extra.yaml", "name: extra\non: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: nix build .#images\n")
    assert_fails(tree.check("workflows", jsonschema),
                 "check-jsonschema", "ci.yaml",
                 "ci/release-manifests does not exist",
                 "promote.yaml: job promote, step Open the promotion pull request: a run step must be one call of a ci/ script, not 2 lines",
                 "`nix build .#images` does not call a script under ci/")
