"""The Gateway API and Istio routers against a real cluster.

Runs only when ``KUBECONFIG`` points at a reachable cluster and ``BLUEGREEN_K8S_NAMESPACE`` names a
namespace the kubeconfig's user may write in (``BLUEGREEN_K8S_CONTEXT`` picks another context), and
per kind:

* ``gateway-api``: the Gateway API CRDs are installed and ``BLUEGREEN_GATEWAY`` names a Gateway in
  that namespace whose listeners accept HTTPRoutes from it (its controller must report on them);
* ``istio``: the Istio CRDs (``networking.istio.io/v1``) are installed.

It creates two Services and two Deployments of ``registry.k8s.io/pause`` and the route, with a
random name, and deletes them (and the router's Lease) afterwards. Otherwise each test is skipped
with the reason.

    KUBECONFIG=~/.kube/config BLUEGREEN_K8S_NAMESPACE=bluegreen-test BLUEGREEN_GATEWAY=gw \\
        .venv/bin/pytest tests/cluster/test_mesh_cluster.py -m cluster -v
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backends.base import ActionRefused, BackendContext, Colour

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

NAMESPACE = os.environ.get("BLUEGREEN_K8S_NAMESPACE", "")
CONTEXT = os.environ.get("BLUEGREEN_K8S_CONTEXT") or None
GATEWAY = os.environ.get("BLUEGREEN_GATEWAY", "")
IMAGE = os.environ.get("BLUEGREEN_K8S_IMAGE", "registry.k8s.io/pause:3.9")
WAIT = 180.0
BLUE, GREEN = Colour.BLUE, Colour.GREEN
CRD = {
    "gateway-api": ("gateway.networking.k8s.io", "v1", "httproutes"),
    "istio": ("networking.istio.io", "v1", "virtualservices"),
}


def _skip_reason(kind: str) -> str | None:
    if not os.environ.get("KUBECONFIG"):
        return "set KUBECONFIG to a reachable cluster to run (and BLUEGREEN_K8S_NAMESPACE to a namespace)"
    if not NAMESPACE:
        return "set BLUEGREEN_K8S_NAMESPACE to a namespace the tests may create objects in"
    if kind == "gateway-api" and not GATEWAY:
        return "set BLUEGREEN_GATEWAY to a Gateway in that namespace that accepts HTTPRoutes"
    try:
        from kubernetes import client, config

        config.load_kube_config(context=CONTEXT)
        client.CoreV1Api().read_namespace(NAMESPACE, _request_timeout=5)
        group, version, plural = CRD[kind]
        client.CustomObjectsApi().list_namespaced_custom_object(
            group, version, NAMESPACE, plural, _request_timeout=5
        )
    except Exception as exc:  # any failure means: not usable here (no cluster, no CRD)
        return f"no usable cluster with the {kind} CRDs ({type(exc).__name__}: {str(exc)[:200]})"
    return None


def wait_for(what: str, check: Callable[[], bool], limit: float = WAIT) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if check():
            return
        time.sleep(1.0)
    pytest.fail(f"timed out after {limit:.0f} s waiting for {what}")


@pytest.fixture(params=list(CRD), scope="module")
def world(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    kind = str(request.param)
    reason = _skip_reason(kind)
    if reason:
        pytest.skip(reason)
    from kubernetes import client, config

    config.load_kube_config(context=CONTEXT)
    core, apps = client.CoreV1Api(), client.AppsV1Api()
    custom, coord = client.CustomObjectsApi(), client.CoordinationV1Api()
    app = f"bg-{secrets.token_hex(3)}"
    names = {"route": app, "blue": f"{app}-blue", "green": f"{app}-green"}
    group, version, plural = CRD[kind]
    if kind == "gateway-api":
        route: dict[str, Any] = {
            "apiVersion": f"{group}/{version}",
            "kind": "HTTPRoute",
            "metadata": {"name": app},
            "spec": {
                "parentRefs": [{"name": GATEWAY}],
                "rules": [
                    {
                        "backendRefs": [
                            {"name": names["blue"], "port": 80, "weight": 100},
                            {"name": names["green"], "port": 80, "weight": 0},
                        ]
                    }
                ],
            },
        }
    else:
        route = {
            "apiVersion": f"{group}/{version}",
            "kind": "VirtualService",
            "metadata": {"name": app},
            "spec": {
                "hosts": [names["blue"]],
                "http": [
                    {
                        "name": "primary",
                        "route": [
                            {"destination": {"host": names["blue"]}, "weight": 100},
                            {"destination": {"host": names["green"]}, "weight": 0},
                        ],
                    }
                ],
            },
        }
    try:
        for colour in ("blue", "green"):
            labels = {"app": app, "version": colour}
            core.create_namespaced_service(
                NAMESPACE,
                {
                    "metadata": {"name": names[colour]},
                    "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
                },
            )
            apps.create_namespaced_deployment(
                NAMESPACE,
                {
                    "metadata": {"name": names[colour]},
                    "spec": {
                        "replicas": 2,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {
                                "terminationGracePeriodSeconds": 1,
                                "containers": [{"name": "pause", "image": IMAGE}],
                            },
                        },
                    },
                },
            )
        custom.create_namespaced_custom_object(group, version, NAMESPACE, plural, route)
        for colour in ("blue", "green"):
            wait_for(
                f"Deployment {names[colour]} ready",
                lambda c=colour: (
                    (
                        apps.read_namespaced_deployment(names[c], NAMESPACE).status.ready_replicas
                        or 0
                    )
                    == 2
                ),
            )
        yield {"kind": kind, "names": names}
    finally:
        with contextlib.suppress(client.ApiException):
            custom.delete_namespaced_custom_object(group, version, NAMESPACE, plural, app)
        for colour in ("blue", "green"):
            with contextlib.suppress(client.ApiException):
                core.delete_namespaced_service(names[colour], NAMESPACE)
            with contextlib.suppress(client.ApiException):
                apps.delete_namespaced_deployment(names[colour], NAMESPACE)
        with contextlib.suppress(client.ApiException):
            coord.delete_namespaced_lease(f"bluegreen-{app}", NAMESPACE)


def router(world: dict[str, Any]) -> Any:
    from backends import registry

    names = world["names"]
    cls = registry.resolve(registry.ROUTERS, world["kind"])
    return cls(
        {
            "route": names["route"],
            "namespace": NAMESPACE,
            "services": {"blue": names["blue"], "green": names["green"]},
            "deployments": {"blue": names["blue"], "green": names["green"]},
            "status_wait": 20.0,
            "timeout": 30.0,
            **({"context": CONTEXT} if CONTEXT else {}),
        },
        BackendContext(names["route"], timeout=30.0),
    )


def test_switch_weights_drain_ready_and_back(world):
    r = router(world)
    wait_for("the route's controller to report on it", lambda: "problem" not in r.state().detail)
    assert r.state().live is BLUE
    with r.hold("cluster test"):
        assert r.set_weights({BLUE: 80, GREEN: 20}).colour(GREEN).weight == 20
        st = r.drain(GREEN)
        assert st.colour(GREEN).draining and st.colour(GREEN).weight == 0
        with pytest.raises(ActionRefused, match="green is drained"):
            r.switch(GREEN)
        assert not r.ready(GREEN).colour(GREEN).draining
        assert r.switch(GREEN).live is GREEN
        assert r.switch(BLUE).live is BLUE
