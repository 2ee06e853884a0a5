"""The console on Kubernetes: what only Kubernetes shows (versions from images, pods and their
readiness), its readiness gate and its options, through the real ``kubernetes`` client against the
fake API server (tests/support/k8s_fake.py) on 127.0.0.1. The headless CLI runs as a real
``python -m console`` process per command and reaches the fake over HTTP like any client.

The scenarios every router shares (switch and read-back, rollback after a restart, drain and ready,
changes made outside the console, refusals, an unreachable API server, the Textual console's keys)
run on Kubernetes in the router contract suite: tests/contract/ (world:
tests/support/router_worlds.py).
"""

from __future__ import annotations

import json

import pytest

from tests.support.cli import PROXY_VARS, audit_entries, cli, no_traceback
from tests.support.k8s_fake import FakeKube
from tests.support.router_worlds import BLUE_PODS, GREEN_PODS, kubernetes_config, shop_cluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch):
    """Services shop (live: blue) and shop-preview (idle: green), Deployments shop-blue (1.4.1) and
    shop-green (1.4.2) with 3 ready pods each."""
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)  # 127.0.0.1 only, never through a proxy
    with shop_cluster() as fake:
        yield fake


def selected(kube: FakeKube, name: str = "shop") -> str:
    """The colour label value a Service selects, read from the API's own object."""
    return kube.get("services", name)["spec"]["selector"]["version"]


def test_status_shows_versions_pods_and_no_weights(kube, tmp_path):
    config, _ = kubernetes_config(tmp_path, kube.url)

    human = cli(config, "status")
    assert human.returncode == 0, human.stderr
    no_traceback(human)
    lines = human.stdout.splitlines()
    blue = next(ln for ln in lines if ln.strip().startswith("blue "))
    green = next(ln for ln in lines if ln.strip().startswith("green "))
    assert "1.4.1" in blue and "3/3 up" in blue
    assert "1.4.2" in green and "3/3 up" in green

    proc = cli(config, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["router"]["colours"]["blue"]["version"] == "1.4.1"
    assert data["router"]["colours"]["green"]["version"] == "1.4.2"
    assert [(s["name"], s["status"], s["check"]) for s in data["servers"]["blue"]] == [
        (name, "UP", "Ready") for name in BLUE_PODS
    ]
    assert [(s["name"], s["status"]) for s in data["servers"]["green"]] == [
        (name, "UP") for name in GREEN_PODS
    ]
    assert data["weights"] == {"blue": None, "green": None}  # a Service has no weighted split
    assert kube.count("PATCH") == 0  # status writes nothing


def test_switch_to_a_deployment_that_is_not_fully_ready_is_refused(kube, tmp_path):
    config, audit = kubernetes_config(tmp_path, kube.url)

    kube.set_pod_ready(GREEN_PODS[0], False)  # the Deployment is 2 of 3 ready: still healthy pods
    proc = cli(config, "switch", "--yes")
    assert proc.returncode == 1
    no_traceback(proc)
    assert "only 2 of 3 replicas of Deployment shop-green are ready" in proc.stderr
    assert "nothing was written" in proc.stderr
    assert kube.count("PATCH") == 0 and selected(kube) == "blue"
    entry = audit_entries(audit)[-1]
    assert (entry["action"], entry["result"]) == ("switch", "refused")
    assert "only 2 of 3" in entry["error"]


def test_a_bad_router_config_exits_2_naming_the_key(kube, tmp_path):
    config, audit = kubernetes_config(tmp_path, kube.url, deployments=False)
    for args in (("status",), ("switch", "--yes")):
        proc = cli(config, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith(f"bluegreen: {config}: service 'shop' [service.router]")
        assert "option `deployments`: found nothing" in proc.stderr
        no_traceback(proc)
    assert not audit.exists() and kube.requests == []
