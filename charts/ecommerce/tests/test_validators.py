"""The checks of ci/chart-check can fail: each validator refuses a broken copy of an object the
chart renders (so a green run means the objects passed, not that nothing was looked at)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import kubernetes_validate.utils as kv
import pytest
import yaml

import chartlib
import crdschema
from chartlib import one


@pytest.fixture(scope="module")
def istio_objects():
    return chartlib.render(chartlib.case_values("istio"))


@pytest.fixture(scope="module")
def crds():
    return crdschema.Validator(strict=True)


def test_the_crd_check_refuses_a_misspelt_or_mistyped_field(istio_objects, crds):
    vs = one(istio_objects, "VirtualService", "ecommerce-gateway")
    assert list(crds.errors(vs)) == []
    broken = copy.deepcopy(vs)
    broken["spec"]["http"][0]["route"][0]["wieght"] = broken["spec"]["http"][0]["route"][0].pop("weight")
    assert any("wieght" in e for e in crds.errors(broken))
    sm = copy.deepcopy(one(istio_objects, "ServiceMonitor", "ecommerce-order"))
    sm["spec"]["endpoints"][0]["interval"] = 30
    assert any("endpoints.0.interval" in e for e in crds.errors(sm))
    ap = copy.deepcopy(one(istio_objects, "AuthorizationPolicy", "ecommerce-product"))
    ap["spec"]["action"] = "PERMIT"
    assert any("action" in e for e in crds.errors(ap))


def test_kubernetes_validate_strict_refuses_a_misspelt_field(istio_objects):
    deployment = one(istio_objects, "Deployment", "ecommerce-order")
    assert kv.validate(deployment, "1.37", strict=True)
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, "1.37", strict=True)
    # The preStop sleep action (rendered for the SDK's Kubernetes 1.36) is no 1.28 field, which is
    # why the 1.28 renderings, made with kubeVersion=1.28.0, leave it out.
    assert "sleep" in deployment["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]
    with pytest.raises(kv.ValidationError, match="sleep"):
        kv.validate(deployment, "1.28", strict=True)
    old = one(chartlib.render(chartlib.case_values("istio", {"kubeVersion": "1.28.0"})), "Deployment", "ecommerce-order")
    assert kv.validate(old, "1.28", strict=True)


def test_checkov_fails_a_privileged_container(tmp_path: Path, istio_objects):
    deployment = copy.deepcopy(one(istio_objects, "Deployment", "ecommerce-web"))
    deployment["metadata"]["annotations"] = {}
    sc = deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    sc.update(privileged=True, allowPrivilegeEscalation=True, readOnlyRootFilesystem=False)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(deployment))
    checkov = Path(sys.executable).with_name("checkov")
    proc = subprocess.run([str(checkov), "-d", str(tmp_path), "--framework", "kubernetes", "--compact",
                           "--skip-download", "--check", "CKV_K8S_16,CKV_K8S_20,CKV_K8S_22"],
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "Failed checks: 3" in proc.stdout
