"""The Kubernetes router's core scenarios against a real cluster.

Runs only when ``KUBECONFIG`` points at a reachable cluster and ``BLUEGREEN_K8S_NAMESPACE`` names an
existing namespace the kubeconfig's user may write in (``BLUEGREEN_K8S_CONTEXT`` picks a context
other than the current one). It creates its own Service, preview Service and two Deployments of
``registry.k8s.io/pause`` there, with a random name, and deletes them (and the router's Lease)
afterwards. Otherwise every test
is skipped with the reason.

    KUBECONFIG=~/.kube/config BLUEGREEN_K8S_NAMESPACE=bluegreen-test \\
        .venv/bin/pytest tests/cluster -m cluster -v
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backends.base import ActionRefused, BackendContext, Colour, Conflict, Unreachable
from backends.kubernetes import KubernetesRouter

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

NAMESPACE = os.environ.get("BLUEGREEN_K8S_NAMESPACE", "")
CONTEXT = os.environ.get("BLUEGREEN_K8S_CONTEXT") or None
IMAGE = os.environ.get("BLUEGREEN_K8S_IMAGE", "registry.k8s.io/pause:3.9")
WAIT = 180.0  # seconds any wait for the cluster may take
BLUE, GREEN = Colour.BLUE, Colour.GREEN


def _skip_reason() -> str | None:
    if not os.environ.get("KUBECONFIG"):
        return "set KUBECONFIG to a reachable cluster to run (and BLUEGREEN_K8S_NAMESPACE to a namespace)"
    if not NAMESPACE:
        return "set BLUEGREEN_K8S_NAMESPACE to a namespace the tests may create objects in"
    try:
        from kubernetes import client, config

        config.load_kube_config(context=CONTEXT)
        client.VersionApi().get_code(_request_timeout=5)
        client.CoreV1Api().read_namespace(NAMESPACE, _request_timeout=5)
    except Exception as exc:  # any failure means: not a usable cluster here
        return (
            f"set KUBECONFIG to a reachable cluster to run ({type(exc).__name__}: {str(exc)[:200]})"
        )
    return None


_REASON = _skip_reason()
if _REASON:
    pytestmark.append(pytest.mark.skip(reason=_REASON))


def wait_for(what: str, check: Callable[[], bool], limit: float = WAIT) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if check():
            return
        time.sleep(1.0)
    pytest.fail(f"timed out after {limit:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, Any]]:
    from kubernetes import client, config

    config.load_kube_config(context=CONTEXT)
    core, apps, coord = client.CoreV1Api(), client.AppsV1Api(), client.CoordinationV1Api()
    app = f"bg-{secrets.token_hex(3)}"
    names = {
        "app": app,
        "service": app,
        "preview": f"{app}-preview",
        "blue": f"{app}-blue",
        "green": f"{app}-green",
    }

    def service(name: str, colour: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name},
            "spec": {
                "selector": {"app": app, "version": colour},
                "ports": [{"port": 80, "targetPort": 8080}],
            },
        }

    def deployment(colour: str) -> dict[str, Any]:
        labels = {"app": app, "version": colour}
        return {
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
        }

    try:
        core.create_namespaced_service(NAMESPACE, service(names["service"], "blue"))
        core.create_namespaced_service(NAMESPACE, service(names["preview"], "green"))
        for colour in ("blue", "green"):
            apps.create_namespaced_deployment(NAMESPACE, deployment(colour))
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
        yield {"names": names, "core": core, "apps": apps, "coord": coord}
    finally:
        for name in (names["service"], names["preview"]):
            with contextlib.suppress(client.ApiException):
                core.delete_namespaced_service(name, NAMESPACE)
        for colour in ("blue", "green"):
            with contextlib.suppress(client.ApiException):
                apps.delete_namespaced_deployment(names[colour], NAMESPACE)
        with contextlib.suppress(client.ApiException):
            coord.delete_namespaced_lease(f"bluegreen-{names['service']}", NAMESPACE)


def router(
    world: dict[str, Any], clock: Callable[[], float] | None = None, **options: Any
) -> KubernetesRouter:
    n = world["names"]
    opts = {
        "namespace": NAMESPACE,
        "service": n["service"],
        "preview_service": n["preview"],
        "deployments": {"blue": n["blue"], "green": n["green"]},
        "timeout": 10.0,
        **options,
    }
    if CONTEXT:
        opts["context"] = CONTEXT
    return KubernetesRouter(opts, BackendContext(n["service"], timeout=10.0, clock=clock))


def live_selector(world: dict[str, Any], which: str = "service") -> str:
    return (
        world["core"]
        .read_namespaced_service(world["names"][which], NAMESPACE)
        .spec.selector["version"]
    )


def test_state_switch_and_rollback_after_restart(world: dict[str, Any]) -> None:
    r = router(world)
    st = r.state()
    assert st.live is BLUE and st.colour(GREEN).healthy_servers == 2
    assert r.switch(GREEN).live is GREEN
    assert live_selector(world) == "green" and live_selector(world, "preview") == "blue"
    assert router(world).switch(BLUE).live is BLUE  # a fresh router, as after a restart
    assert live_selector(world, "preview") == "green"


def test_conflict_when_the_service_changes_between_read_and_write(world: dict[str, Any]) -> None:
    r = router(world)
    real_patch = r._patch_selector
    core, name = world["core"], world["names"]["service"]

    def meddle(svc: Any, value: str) -> Any:
        core.patch_namespaced_service(
            name, NAMESPACE, {"spec": {"selector": {"version": "canary"}}}
        )
        return real_patch(svc, value)

    r._patch_selector = meddle  # type: ignore[method-assign]
    try:
        with pytest.raises(Conflict, match="selector version is now 'canary' \\(was 'blue'\\)"):
            r.switch(GREEN)
        assert live_selector(world) == "canary"
    finally:
        core.patch_namespaced_service(name, NAMESPACE, {"spec": {"selector": {"version": "blue"}}})


def test_gate_refuses_a_colour_without_ready_replicas(world: dict[str, Any]) -> None:
    apps, green = world["apps"], world["names"]["green"]
    apps.patch_namespaced_deployment(green, NAMESPACE, {"spec": {"replicas": 0}})
    try:
        with pytest.raises(ActionRefused, match="scaled to 0"):
            router(world).switch(GREEN)
        assert live_selector(world) == "blue"
    finally:
        apps.patch_namespaced_deployment(green, NAMESPACE, {"spec": {"replicas": 2}})
        wait_for(
            "green ready again",
            lambda: (
                (apps.read_namespaced_deployment(green, NAMESPACE).status.ready_replicas or 0) == 2
            ),
        )


def test_drain_scale_down_ready_and_switch(world: dict[str, Any]) -> None:
    r = router(world, scale_down_after_drain=True)
    apps, green = world["apps"], world["names"]["green"]
    st = r.drain(GREEN)
    assert st.colour(GREEN).draining and live_selector(world, "preview") == "bluegreen-drained"
    wait_for(
        "green scaled to 0 (a drain scales down once no Service routes to it)",
        lambda: _scaled_down(r, world),
    )
    with pytest.raises(ActionRefused, match="drained"):
        r.switch(GREEN)
    r.ready(GREEN)
    assert live_selector(world, "preview") == "green"
    wait_for(
        "green ready again",
        lambda: (apps.read_namespaced_deployment(green, NAMESPACE).status.ready_replicas or 0) == 2,
    )
    wait_for("green's endpoints", lambda: r.state().colour(GREEN).detail["endpoints"] == "2 ready")
    assert r.switch(GREEN).live is GREEN
    assert r.switch(BLUE).live is BLUE


def _scaled_down(r: KubernetesRouter, world: dict[str, Any]) -> bool:
    dep = world["apps"].read_namespaced_deployment(world["names"]["green"], NAMESPACE)
    if dep.spec.replicas == 0:
        return True
    r.drain(GREEN)  # the EndpointSlices lagged: a second drain does the pending scale-down
    return False


def test_missing_service_is_reported(world: dict[str, Any]) -> None:
    r = router(world, service="bluegreen-no-such-service")
    with pytest.raises(Unreachable, match="not found in namespace"):
        r.state()
    with pytest.raises(ActionRefused, match="not found in namespace"):
        r.switch(GREEN)


def test_lease_one_holder_at_a_time_released_and_taken_over_when_expired(
    world: dict[str, Any],
) -> None:
    coord, name = world["coord"], f"bluegreen-{world['names']['service']}"

    def holder() -> str | None:
        return coord.read_namespaced_lease(name, NAMESPACE).spec.holder_identity

    alice, bob = router(world), router(world)
    with alice.hold("alice@ci pid 1"):
        assert holder() == "alice@ci pid 1"
        refused = pytest.raises(ActionRefused, match="alice@ci pid 1 is acting on this service")
        with refused, bob.hold("bob@ci pid 2"):
            pytest.fail("bob got the Lease alice holds")
    assert not holder()  # released
    with bob.hold("bob@ci pid 2"):
        assert bob.switch(GREEN).live is GREEN
        assert bob.switch(BLUE).live is BLUE
    # a holder killed 60 s ago never released it: expired after 30 s, it is taken over
    router(world, clock=lambda: time.time() - 60).lease.acquire("crashed@ci pid 3")
    assert holder() == "crashed@ci pid 3"
    with bob.hold("bob@ci pid 2"):
        assert holder() == "bob@ci pid 2"
    assert not holder()
