"""The Kubernetes router through the real ``kubernetes`` client against a fake API server on 127.0.0.1.

The fake (tests/support/k8s_fake.py) keeps the API semantics the router relies on: resourceVersion
preconditions (409), 404 / 403 / 401 Status bodies, merge and JSON patches, Deployment status written
by a controller loop, Pending and Terminating pods, several EndpointSlices per Service, Leases, and
the Role in docs/kubernetes-rbac.yaml enforced (tests that need a broader role say so). No other
address is ever contacted.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "docs" / "kubernetes-rbac.yaml"
from backends.base import (  # noqa: E402
    ActionRefused,
    BackendContext,
    BackendTimeout,
    Colour,
    ConfigError,
    Conflict,
    PermissionDenied,
    ServerStatus,
    Unreachable,
    VerifyFailed,
)
from backends.kubernetes import ANN_DRAINED, ANN_REPLICAS, KubernetesRouter  # noqa: E402
from tests.support.k8s_fake import FakeKube  # noqa: E402
from tests.support.router_worlds import GREEN_PODS  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
DEPLOYMENTS = {"blue": "shop-blue", "green": "shop-green"}


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)  # 127.0.0.1 only, never through a proxy
    with FakeKube() as fake:
        fake.add_service("shop", {"app": "shop", "version": "blue"})
        fake.add_service("shop-preview", {"app": "shop", "version": "green"})
        fake.add_deployment(
            "shop-blue", {"app": "shop", "version": "blue"}, image="registry:5000/shop:1.4.1"
        )
        fake.add_deployment(
            "shop-green", {"app": "shop", "version": "green"}, image="registry:5000/shop:1.4.2"
        )
        yield fake


# Functional tests get a roomy budget (a loaded 2-core CI machine); budget tests pass their own.
def router(fake: FakeKube, timeout: float = 10.0, clock=None, **options) -> KubernetesRouter:
    opts = {
        "host": fake.url,
        "service": "shop",
        "preview_service": "shop-preview",
        "deployments": DEPLOYMENTS,
        "timeout": timeout,
        **options,
    }
    return KubernetesRouter(
        {k: v for k, v in opts.items() if v is not None},
        BackendContext("shop", timeout=timeout, clock=clock),
    )


def selector(fake: FakeKube, name: str = "shop") -> dict[str, str]:
    return fake.get("services", name)["spec"]["selector"]


# -- reading -----------------------------------------------------------------------------------


def test_state_reads_service_deployments_pods_and_slices(kube: FakeKube) -> None:
    st = router(kube).state()
    assert st.live is BLUE
    blue, green = st.colour(BLUE), st.colour(GREEN)
    assert (blue.version, green.version) == ("1.4.1", "1.4.2")
    assert [s.status for s in blue.servers] == [ServerStatus.UP] * 3
    assert blue.detail["services"] == "shop" and green.detail["services"] == "shop-preview"
    assert blue.detail["replicas"] == "3 desired / 3 ready / 3 available"
    assert green.detail["endpoints"] == "3 ready"
    svc_rv = kube.get("services", "shop")["metadata"]["resourceVersion"]
    assert st.fingerprint.startswith(f"{svc_rv}:app=shop,version=blue|")


def test_external_selector_change_shows_in_the_next_state(kube: FakeKube) -> None:
    r = router(kube)
    before = r.state()
    kube.mutate("services", "shop", lambda o: o["spec"]["selector"].update(version="green"))
    after = r.state()
    assert after.live is GREEN and after.fingerprint != before.fingerprint


# -- switch ------------------------------------------------------------------------------------


def test_switch_patches_with_precondition_reads_back_and_moves_preview(kube: FakeKube) -> None:
    r = router(kube)
    before = r.state()
    st = r.switch(GREEN)
    assert st.live is GREEN and st.fingerprint != before.fingerprint
    assert selector(kube)["version"] == "green"
    assert (
        selector(kube, "shop-preview")["version"] == "blue"
    )  # the preview follows the idle colour
    patches = [(p, ct) for m, p, ct in kube.requests if m == "PATCH"]
    assert patches[0] == (
        "/api/v1/namespaces/default/services/shop",
        "application/merge-patch+json",
    )
    assert "warning" not in st.detail


def test_close_releases_the_client_and_a_later_call_reconnects(kube: FakeKube) -> None:
    r = router(kube)
    r.state()
    r.close()
    assert r.state().live is BLUE
    r.close()


def test_preview_failure_after_the_switch_is_a_warning_not_an_error(kube: FakeKube) -> None:
    r = router(kube)
    # the live Service's patch goes through; the next one (the preview's) is forbidden
    kube.on(
        "PATCH",
        "services",
        lambda f: f.on("PATCH", "services", lambda g: g.deny.add(("patch", "services"))),
    )
    st = r.switch(GREEN)
    assert st.live is GREEN and selector(kube)["version"] == "green"
    assert (
        "preview Service shop-preview was not updated: forbidden: patch services/shop-preview"
        in st.detail["warning"]
    )


def test_gate_refuses_an_unobserved_deployment_change(kube: FakeKube) -> None:
    kube.status_override["shop-green"] = {"observedGeneration": 0}
    with pytest.raises(ActionRefused, match="a change its controller has not processed yet"):
        router(kube).switch(GREEN)


def test_rollback_after_a_restart_switches_back(kube: FakeKube) -> None:
    router(kube).switch(GREEN)
    fresh = router(kube)  # a new process: nothing but the cluster and the audit log survive
    st = fresh.switch(BLUE)
    assert st.live is BLUE and selector(kube)["version"] == "blue"
    assert selector(kube, "shop-preview")["version"] == "green"


def test_switch_to_the_live_colour_is_refused(kube: FakeKube) -> None:
    with pytest.raises(ActionRefused, match="blue is already live"):
        router(kube).switch(BLUE)


def test_gate_refuses_fewer_ready_than_desired(kube: FakeKube) -> None:
    kube.set_pod_ready(kube.owned_pods("shop-green")[0], False)
    with pytest.raises(
        ActionRefused, match=r"only 2 of 3 replicas of Deployment shop-green are ready"
    ):
        router(kube).switch(GREEN)
    assert kube.count("PATCH") == 0 and selector(kube)["version"] == "blue"


def test_gate_refuses_a_rollout_in_progress(kube: FakeKube) -> None:
    kube.status_override["shop-green"] = {"updatedReplicas": 1}
    with pytest.raises(ActionRefused, match=r"still rolling out \(1 of 3 replicas updated\)"):
        router(kube).switch(GREEN)
    assert kube.count("PATCH") == 0


def test_gate_refuses_no_ready_endpoint_in_the_preview_slices(kube: FakeKube) -> None:
    # The Deployment claims readiness, but the EndpointSlices of the Service selecting green disagree.
    kube.status_override["shop-green"] = {"readyReplicas": 3, "availableReplicas": 3}
    for pod in kube.owned_pods("shop-green"):
        kube.set_pod_ready(pod, False)
    with pytest.raises(ActionRefused, match="no ready endpoint"):
        router(kube).switch(GREEN)
    assert kube.count("PATCH") == 0


def test_gate_without_preview_counts_the_pods_the_switch_would_select(kube: FakeKube) -> None:
    # Pods labelled for another app do not count: the Service selects app=shop.
    kube.use_role(None)  # a broader role than docs/kubernetes-rbac.yaml: other-green is not in it
    kube.mutate("deployments", "shop-green", lambda o: o["spec"].update(replicas=0))
    kube.add_deployment(
        "other-green", {"app": "other", "version": "green"}
    )  # 3 of 3 ready, wrong labels
    r = router(
        kube, preview_service=None, deployments={"blue": "shop-blue", "green": "other-green"}
    )
    with pytest.raises(ActionRefused, match=r"no ready pod matches app=shop,version=green"):
        r.switch(GREEN)


def test_gate_refuses_a_colour_scaled_to_zero(kube: FakeKube) -> None:
    kube.mutate("deployments", "shop-green", lambda o: o["spec"].update(replicas=0))
    with pytest.raises(ActionRefused, match="scaled to 0"):
        router(kube).switch(GREEN)


# -- optimistic concurrency ----------------------------------------------------------------------


def test_concurrent_selector_change_gives_conflict_and_overwrites_nothing(kube: FakeKube) -> None:
    r = router(kube)
    other = {}

    def another_operator(fake: FakeKube) -> None:  # between our read and our write
        fake.mutate("services", "shop", lambda o: o["spec"]["selector"].update(version="canary"))
        other.update(fake.get("services", "shop"))

    kube.on("PATCH", "services", another_operator)
    with pytest.raises(Conflict) as err:
        r.switch(GREEN)
    msg = str(err.value)
    assert "the Service shop changed since it was read" in msg
    assert "selector version is now 'canary' (was 'blue')" in msg
    assert "nothing was written" in msg
    now = kube.get("services", "shop")
    assert now["spec"]["selector"]["version"] == "canary"
    assert (
        now["metadata"]["resourceVersion"] == other["metadata"]["resourceVersion"]
    )  # not overwritten
    assert selector(kube, "shop-preview")["version"] == "green"


def test_unrelated_concurrent_change_is_rechecked_and_retried_once(kube: FakeKube) -> None:
    kube.on(
        "PATCH",
        "services",
        lambda f: f.mutate(
            "services", "shop", lambda o: o["metadata"].update(labels={"team": "x"})
        ),
    )
    st = router(kube).switch(GREEN)
    assert st.live is GREEN
    assert kube.get("services", "shop")["metadata"]["labels"] == {
        "team": "x"
    }  # kept, not overwritten


def test_concurrent_scale_during_drain_gives_conflict(kube: FakeKube) -> None:
    kube.on(
        "PATCH",
        "deployments",
        lambda f: f.mutate("deployments", "shop-green", lambda o: o["spec"].update(replicas=5)),
    )
    with pytest.raises(
        Conflict,
        match=r"the Deployment shop-green changed since it was read: replicas is now 5 \(was 3\)",
    ):
        router(kube).drain(GREEN)
    assert ANN_DRAINED not in (
        kube.get("deployments", "shop-green")["metadata"].get("annotations") or {}
    )


def test_read_back_that_disagrees_raises_verify_failed(kube: FakeKube) -> None:
    # A GitOps controller reverts the selector right after our write.
    def revert_on_next_read(fake: FakeKube) -> None:
        fake.on(
            "GET",
            "services",
            lambda f: f.mutate(
                "services", "shop", lambda o: o["spec"]["selector"].update(version="blue")
            ),
        )

    kube.on("PATCH", "services", revert_on_next_read)
    with pytest.raises(VerifyFailed, match="reading it back shows version='blue'"):
        router(kube).switch(GREEN)


# -- drain / ready ---------------------------------------------------------------------------------


def test_drain_and_ready_with_preview(kube: FakeKube) -> None:
    r = router(kube)
    st = r.drain(GREEN)
    green = st.colour(GREEN)
    assert green.draining and {s.status for s in green.servers} == {ServerStatus.DRAIN}
    assert selector(kube, "shop-preview")["version"] == "bluegreen-drained"  # selects no pod
    assert green.detail["services"] == "none" and st.live is BLUE
    assert ANN_DRAINED in kube.get("deployments", "shop-green")["metadata"]["annotations"]
    with pytest.raises(ActionRefused, match="green is drained; ready it first"):
        r.switch(GREEN)
    with pytest.raises(ActionRefused, match="already drained"):
        r.drain(GREEN)
    st = r.ready(GREEN)
    assert not st.colour(GREEN).draining and selector(kube, "shop-preview")["version"] == "green"
    assert (
        "annotations" not in kube.get("deployments", "shop-green")["metadata"]
        or not kube.get("deployments", "shop-green")["metadata"]["annotations"]
    )
    with pytest.raises(ActionRefused, match="not drained"):
        r.ready(GREEN)
    assert r.switch(GREEN).live is GREEN


def test_drain_refuses_the_live_colour(kube: FakeKube) -> None:
    with pytest.raises(ActionRefused, match="blue is live .*switch to green first"):
        router(kube).drain(BLUE)
    assert kube.count("PATCH") == 0


def test_drain_scales_down_and_ready_scales_back(kube: FakeKube) -> None:
    r = router(kube, scale_down_after_drain=True)
    st = r.drain(GREEN)
    dep = kube.get("deployments", "shop-green")
    assert dep["spec"]["replicas"] == 0 and dep["metadata"]["annotations"][ANN_REPLICAS] == "3"
    assert (
        st.colour(GREEN).servers == ()
        and "from 3 replicas" in st.colour(GREEN).detail["scaled_down"]
    )
    kube.new_pods_ready = False  # pods come back, but not ready yet
    st = r.ready(GREEN)
    assert kube.get("deployments", "shop-green")["spec"]["replicas"] == 3
    assert selector(kube, "shop-preview")["version"] == "green"
    with pytest.raises(ActionRefused, match="only 0 of 3"):  # rollback waits for the gate
        r.switch(GREEN)
    for pod in kube.owned_pods("shop-green"):
        kube.set_pod_ready(pod, True)
    assert r.switch(GREEN).live is GREEN


def test_scale_down_waits_for_endpoints_to_leave(kube: FakeKube) -> None:
    r = router(kube, timeout=1.5, scale_down_after_drain=True)
    kube.freeze_slices()  # the EndpointSlice controller lags: preview still lists green's endpoints
    t0 = time.monotonic()
    st = r.drain(GREEN)
    assert time.monotonic() - t0 < 1.5
    assert (
        kube.get("deployments", "shop-green")["spec"]["replicas"] == 3
    )  # not scaled: still routed
    assert "pending" in st.colour(GREEN).detail["scale_down"]
    kube.freeze_slices(False)
    r.drain(GREEN)  # a second drain does the pending scale-down
    assert kube.get("deployments", "shop-green")["spec"]["replicas"] == 0


def test_rollback_to_a_drained_colour_readies_it_first(kube: FakeKube) -> None:
    r = router(kube)
    r.switch(GREEN)
    r.drain(BLUE)
    restarted = router(kube)
    with pytest.raises(ActionRefused, match="drained"):
        restarted.switch(BLUE)
    restarted.ready(BLUE)
    st = restarted.switch(BLUE)
    assert st.live is BLUE and selector(kube, "shop-preview")["version"] == "green"


# -- a cluster's realities: controllers that lag, pods that come and go, slices -------------------


def test_the_controller_writes_status_after_a_spec_change_moving_the_resource_version(
    kube: FakeKube,
) -> None:
    kube.pod_start_seconds = 60  # new pods stay Pending (no IP) until the test starts them
    r = router(kube)
    kube.mutate("deployments", "shop-green", lambda o: o["spec"].update(replicas=5))
    first = kube.get("deployments", "shop-green")["status"]
    assert (first["observedGeneration"], first["readyReplicas"]) == (2, 3)  # 2 pods Pending
    with pytest.raises(ActionRefused, match="only 3 of 5 replicas"):
        r.switch(GREEN)
    for pod in kube.owned_pods("shop-green")[3:]:
        kube.set_pod_ready(pod, True)  # the kubelet: running, then Ready
    writes = [(rv, st) for name, rv, st in kube.status_writes if name == "shop-green"]
    ready = [st.get("readyReplicas", 0) for _, st in writes]
    assert ready[-3:] == [3, 4, 5]  # one write per replica that became ready
    assert len({rv for rv, _ in writes}) == len(writes)  # each moved the resourceVersion
    assert r.switch(GREEN).live is GREEN


def test_pending_and_terminating_pods_are_down_and_never_endpoints(kube: FakeKube) -> None:
    kube.pod_start_seconds = 30  # the two new pods stay Pending: no IP, no conditions
    kube.mutate("deployments", "shop-green", lambda o: o["spec"].update(replicas=5))
    kube.terminate_pod(GREEN_PODS[0])  # Terminating, still Ready until its containers stop
    st = router(kube).state()
    green = st.colour(GREEN)
    checks = {s.name: (s.status, s.check) for s in green.servers}
    assert checks[GREEN_PODS[0]] == (ServerStatus.DOWN, "Terminating")
    assert checks[GREEN_PODS[1]] == (ServerStatus.UP, "Ready")
    pending = [n for n, (_, check) in checks.items() if check == "Pending"]
    assert len(pending) == 2 and all(checks[n][0] is ServerStatus.DOWN for n in pending)
    assert green.detail["endpoints"] == "2 ready"
    assert green.detail["replicas"] == "5 desired / 2 ready / 2 available"
    slices = [sl for sl in kube._slices("default") if sl["metadata"]["name"].startswith("shop-pr")]
    assert len(slices) == 2  # several slices per Service
    eps = {e["targetRef"]["name"]: e["conditions"] for sl in slices for e in sl["endpoints"]}
    assert set(eps) == set(GREEN_PODS)  # pods without an IP are no endpoints
    assert eps[GREEN_PODS[0]] == {"ready": False, "serving": True, "terminating": True}


def test_gate_refuses_terminating_pods_a_lagging_status_still_counts(kube: FakeKube) -> None:
    kube.controller_paused = True  # the Deployment controller has not caught up yet
    for pod in GREEN_PODS[:2]:
        kube.terminate_pod(pod)  # `kubectl delete pod`: Terminating, still Ready for a while
    assert kube.get("deployments", "shop-green")["status"]["readyReplicas"] == 3  # stale
    with pytest.raises(
        ActionRefused,
        match=r"only 1 of 3 pods of Deployment shop-green are ready \(2 terminating\); "
        r"its status still says 3 ready",
    ):
        router(kube).switch(GREEN)
    assert kube.count("PATCH") == 0 and selector(kube)["version"] == "blue"


def test_endpoints_published_while_not_ready_are_not_counted_ready(kube: FakeKube) -> None:
    # A Service with publishNotReadyAddresses: every endpoint is ready=true, serving says the truth.
    del kube.objects[("services", "default", "shop-preview")]
    kube.add_service("shop-preview", {"app": "shop", "version": "green"}, publish_not_ready=True)
    kube.set_pod_ready(GREEN_PODS[0], False)
    kube.terminate_pod(GREEN_PODS[1])
    st = router(kube).state()
    assert st.colour(GREEN).detail["endpoints"] == "1 ready"


def test_endpoints_null_and_conditions_omitted(kube: FakeKube) -> None:
    kube.mutate("deployments", "shop-green", lambda o: o["spec"].update(replicas=0))
    preview = [sl for sl in kube._slices("default") if sl["metadata"]["name"].startswith("shop-pr")]
    assert [sl["endpoints"] for sl in preview] == [None]  # the controller's placeholder slice
    assert router(kube).state().colour(GREEN).detail["endpoints"] == "0 ready"
    kube.mutate("deployments", "shop-green", lambda o: o["spec"].update(replicas=3))
    kube.slice_conditions = "none"  # an endpoint without conditions is ready, as documented
    assert router(kube).state().colour(GREEN).detail["endpoints"] == "3 ready"


def test_drain_retries_while_the_controller_rewrites_status(kube: FakeKube) -> None:
    # green's pods become ready one after another while it is drained: each makes the Deployment
    # controller write status, so the drain's guarded patch meets 409 several times in a row
    for pod in GREEN_PODS:
        kube.set_pod_ready(pod, False)
    pods = iter(GREEN_PODS)
    kube.on("PATCH", "deployments", lambda f: f.set_pod_ready(next(pods), True), times=3)
    st = router(kube).drain(GREEN)
    assert st.colour(GREEN).draining and kube.count("PATCH", "deployments") == 4
    assert ANN_DRAINED in kube.get("deployments", "shop-green")["metadata"]["annotations"]


def test_the_documented_role_refuses_what_it_does_not_grant(kube: FakeKube) -> None:
    with pytest.raises(PermissionDenied, match='services "nope" is forbidden.*cannot get'):
        router(kube, service="nope").state()
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = client.CoreV1Api(client.ApiClient(client.Configuration(host=kube.url)))
    svc = api.read_namespaced_service("shop", "default")
    with pytest.raises(ApiException) as err:
        api.replace_namespaced_service("shop", "default", svc)  # update is not granted
    body = json.loads(err.value.body)
    assert (err.value.status, body["kind"], body["reason"]) == (403, "Status", "Forbidden")
    assert len(api.list_namespaced_pod("default").items) == 6  # list: granted for every pod


# -- the Lease: one action at a time across machines ------------------------------------------------

T0 = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC
LEASE = "bluegreen-shop"


def lease(fake: FakeKube) -> dict:
    return fake.get("leases", LEASE)


def test_hold_creates_the_lease_with_the_holder_and_clears_it_at_the_end(kube: FakeKube) -> None:
    r = router(kube, clock=lambda: T0)
    with r.hold("alice@desk pid 41"):
        spec = lease(kube)["spec"]
        assert spec["holderIdentity"] == "alice@desk pid 41"
        assert spec["leaseDurationSeconds"] == 30
        assert (
            spec["acquireTime"] == spec["renewTime"] == "2026-11-18T11:06:40.000001Z"
        )  # six digits, or 400
        assert r.switch(GREEN).live is GREEN  # the verbs work while it is held
    assert "holderIdentity" not in lease(kube)["spec"]  # released
    posts = [p for m, p, _ in kube.requests if m == "POST"]
    assert posts == ["/apis/coordination.k8s.io/v1/namespaces/default/leases"]
    with r.hold("alice@desk pid 41"):  # taken again: an update of the same Lease
        assert lease(kube)["spec"]["holderIdentity"] == "alice@desk pid 41"
    assert kube.count("POST") == 1


def test_hold_is_refused_while_another_console_holds_it(kube: FakeKube) -> None:
    alice, bob = router(kube, clock=lambda: T0), router(kube, clock=lambda: T0 + 5)
    with alice.hold("alice@desk pid 41"):
        with pytest.raises(ActionRefused) as err, bob.hold("bob@laptop pid 7"):
            pytest.fail("bob got the Lease alice holds")
        msg = str(err.value)
        assert "alice@desk pid 41 is acting on this service" in msg
        assert "Lease default/bluegreen-shop, held since 2026-11-18 11:06:40Z" in msg
        assert "expires at 2026-11-18 11:07:10Z" in msg and "nothing was written" in msg
        assert lease(kube)["spec"]["holderIdentity"] == "alice@desk pid 41"
    with bob.hold("bob@laptop pid 7"):  # released: bob's turn
        assert lease(kube)["spec"]["holderIdentity"] == "bob@laptop pid 7"


def test_an_expired_lease_is_taken_over(kube: FakeKube) -> None:
    now = [T0]
    crashed = router(kube, clock=lambda: now[0])
    crashed.lease.acquire("alice@desk pid 41")  # then kill -9: never released
    bob = router(kube, clock=lambda: now[0])
    now[0] = T0 + 29
    with pytest.raises(ActionRefused, match="alice@desk pid 41"), bob.hold("bob@laptop pid 7"):
        pass
    now[0] = T0 + 31
    with bob.hold("bob@laptop pid 7"):
        spec = lease(kube)["spec"]
        assert spec["holderIdentity"] == "bob@laptop pid 7" and spec["leaseTransitions"] == 1


def test_a_lease_written_between_read_and_write_refuses_naming_the_winner(kube: FakeKube) -> None:
    r = router(kube, clock=lambda: T0)
    with r.hold("bob@laptop pid 7"):
        pass  # the Lease exists and is free

    def carol_wins(fake: FakeKube) -> None:
        fake.mutate("leases", LEASE, lambda o: o["spec"].update(holderIdentity="carol@ci pid 9"))

    kube.on("PUT", "leases", carol_wins)
    refused = pytest.raises(ActionRefused, match="carol@ci pid 9 is acting.*a moment before this")
    with refused, r.hold("bob@laptop pid 7"):
        pytest.fail("both won")
    assert lease(kube)["spec"]["holderIdentity"] == "carol@ci pid 9"  # not overwritten


def test_a_lease_created_between_read_and_create_refuses(kube: FakeKube) -> None:
    other = router(kube, clock=lambda: T0)
    kube.on("POST", "leases", lambda f: other.lease.acquire("carol@ci pid 9"))
    with pytest.raises(ActionRefused, match="carol@ci pid 9"), router(kube).hold("bob@x pid 7"):
        pytest.fail("both won")


def test_two_consoles_racing_for_the_lease_never_both_win(kube: FakeKube) -> None:
    import threading

    routers = [router(kube, clock=lambda: T0), router(kube, clock=lambda: T0)]
    for r in routers:
        r.state()  # connected
    for _round in range(5):
        kube.objects.pop(("leases", "default", LEASE), None)  # a free, missing Lease each round
        gate = threading.Barrier(2)
        won: list[str] = []

        def race(r: KubernetesRouter, who: str, gate=gate, won=won) -> None:
            gate.wait()
            with contextlib.suppress(ActionRefused):
                won.append(r.lease.acquire(who).spec.holder_identity)

        threads = [
            threading.Thread(target=race, args=(r, f"console{i}@host pid {i}"))
            for i, r in enumerate(routers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert len(won) == 1 and lease(kube)["spec"]["holderIdentity"] == won[0]


def test_hold_without_the_lease_rules_is_forbidden_naming_them(kube: FakeKube) -> None:
    import yaml

    role = next(d for d in yaml.safe_load_all(RBAC.read_text()) if d and d["kind"] == "Role")
    role["rules"] = [r for r in role["rules"] if "leases" not in r["resources"]]
    kube.use_role(role)  # the Role as it was before the Lease
    forbidden = pytest.raises(PermissionDenied, match="forbidden: get leases/bluegreen-shop")
    with forbidden, router(kube).hold("bob@x pid 7"):
        pytest.fail("held without permission")
    assert kube.count("PATCH") == 0


# -- errors -------------------------------------------------------------------------------------


def test_unreachable_api_server_fails_fast_and_names_it() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    r = KubernetesRouter(
        {"host": f"http://127.0.0.1:{port}", "service": "shop", "deployments": DEPLOYMENTS},
        BackendContext("shop", timeout=2.0),
    )
    t0 = time.monotonic()
    with pytest.raises(Unreachable) as err:
        r.state()
    assert time.monotonic() - t0 < 1.0
    assert f"http://127.0.0.1:{port}" in str(err.value) and "connection refused" in str(err.value)


def test_hung_api_server_times_out_within_the_budget(kube: FakeKube) -> None:
    r = router(kube, timeout=0.5)
    r.state()  # client imported and connected
    kube.hang.add(("GET", "services"))
    t0 = time.monotonic()
    with pytest.raises(
        BackendTimeout, match=r"did not answer get services/shop in namespace default within 0.5 s"
    ):
        r.state()
    assert time.monotonic() - t0 < 1.2


def test_timed_out_write_says_its_outcome_is_unknown(kube: FakeKube) -> None:
    r = router(kube, timeout=0.5)
    kube.hang.add(("PATCH", "services"))
    with pytest.raises(BackendTimeout, match="may or may not have been applied"):
        r.switch(GREEN)


def test_forbidden_patch_names_verb_resource_and_role(kube: FakeKube) -> None:
    kube.deny.add(("patch", "services"))
    with pytest.raises(PermissionDenied) as err:
        router(kube).switch(GREEN)
    msg = str(err.value)
    assert msg.startswith(
        "forbidden: patch services/shop in namespace default; grant the Role in docs/kubernetes-rbac.yaml"
    )
    assert 'cannot patch resource "services"' in msg
    assert selector(kube)["version"] == "blue"


def test_forbidden_list_of_endpointslices_on_state(kube: FakeKube) -> None:
    kube.deny.add(("list", "endpointslices"))
    with pytest.raises(
        PermissionDenied, match="forbidden: list endpointslices in namespace default"
    ):
        router(kube).state()


def test_bad_token_is_unauthorized(kube: FakeKube) -> None:
    kube.token = "right"
    with pytest.raises(PermissionDenied, match="unauthorized"):
        router(kube, token="wrong").state()
    assert router(kube, token="right").state().live is BLUE


def test_missing_service(kube: FakeKube) -> None:
    kube.use_role(None)  # a broader role: the documented one names its Services (403 below)
    r = router(kube, service="nope")
    with pytest.raises(Unreachable, match="Service 'nope' not found in namespace 'default'"):
        r.state()
    with pytest.raises(
        ActionRefused, match="Service 'nope' not found in namespace 'default'.*nothing was written"
    ):
        r.switch(GREEN)


def test_missing_deployment(kube: FakeKube) -> None:
    kube.use_role(None)  # a broader role: the documented one names its Deployments
    r = router(kube, deployments={"blue": "shop-blue", "green": "shop-grene"})
    with pytest.raises(
        Unreachable, match="Deployment 'shop-grene' not found in namespace 'default'"
    ):
        r.state()
    with pytest.raises(ActionRefused, match="Deployment 'shop-grene' not found"):
        r.switch(GREEN)


def test_kubeconfig_and_context_are_honoured(kube: FakeKube, tmp_path: Path) -> None:
    kube.token = "from-kubeconfig"
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        json.dumps(
            {  # JSON is YAML
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "elsewhere",
                "clusters": [
                    {"name": "fake", "cluster": {"server": kube.url}},
                    {"name": "closed", "cluster": {"server": "http://127.0.0.1:9"}},
                ],
                "users": [{"name": "ci", "user": {"token": "from-kubeconfig"}}],
                "contexts": [
                    {"name": "fake", "context": {"cluster": "fake", "user": "ci"}},
                    {"name": "elsewhere", "context": {"cluster": "closed", "user": "ci"}},
                ],
            }
        )
    )
    st = router(kube, host=None, kubeconfig=str(kubeconfig), context="fake").state()
    assert st.live is BLUE and st.detail["api"] == kube.url
    with pytest.raises(ConfigError, match="context 'nope'"):
        router(kube, host=None, kubeconfig=str(kubeconfig), context="nope").state()


# -- options and import hygiene -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"deployments": DEPLOYMENTS}, "option `service`: found nothing"),
        ({"service": "shop"}, "option `deployments`: found nothing"),
        (
            {"service": "shop", "deployments": {"blue": "a"}},
            "option `deployments.green`: found nothing",
        ),
        (
            {"service": "shop", "deployments": DEPLOYMENTS, "colour": {}},
            "option `colour`: found an unknown option",
        ),
        (
            {
                "service": "shop",
                "deployments": DEPLOYMENTS,
                "colours": {"blue": "v1", "green": "v1"},
            },
            "two different label values",
        ),
        (
            {"service": "shop", "deployments": DEPLOYMENTS, "timeout": "2s"},
            "option `timeout`: found '2s'; expected seconds",
        ),
        (
            {"service": "shop", "deployments": DEPLOYMENTS, "in_cluster": "yes"},
            "option `in_cluster`: found 'yes'; expected true or false",
        ),
        (
            {"service": "Shop_1", "deployments": DEPLOYMENTS},
            "option `service`: found 'Shop_1'; expected a Kubernetes object name",
        ),
        (
            {"service": "shop", "deployments": DEPLOYMENTS, "token": "t"},
            "option `token`: found a token without `host`",
        ),
        (
            {"service": "shop", "deployments": DEPLOYMENTS, "in_cluster": True, "context": "prod"},
            "exclude each other",
        ),
        (
            {
                "service": "shop",
                "deployments": DEPLOYMENTS,
                "kubeconfig": "/nonexistent/kubeconfig",
            },
            "no such file",
        ),
    ],
)
def test_bad_options_name_the_key(options: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        KubernetesRouter(options, BackendContext("shop"))


def test_custom_selector_label_and_values(kube: FakeKube) -> None:
    kube.use_role(None)  # a broader role: web, web-b and web-g are not in the documented Role
    label = "app.kubernetes.io/colour"
    kube.add_service("web", {"app": "web", label: "b"})
    kube.add_deployment("web-b", {"app": "web", label: "b"}, image="web:7")
    kube.add_deployment("web-g", {"app": "web", label: "g"}, image="web@sha256:" + "ab" * 32)
    r = router(
        kube,
        service="web",
        preview_service=None,
        selector_label=label,
        colours={"blue": "b", "green": "g"},
        deployments={"blue": "web-b", "green": "web-g"},
    )
    st = r.state()
    assert st.live is BLUE and st.colour(GREEN).version == "sha256:abababababab"
    assert r.switch(GREEN).live is GREEN and selector(kube, "web") == {"app": "web", label: "g"}


def test_importing_the_backend_does_not_import_kubernetes() -> None:
    code = "import sys, backends.kubernetes; print(json.dumps('kubernetes' in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
        check=True,
    )
    assert json.loads(out.stdout) is False


# -- the fake keeps the API's semantics (checked with the real client) ------------------------------


def test_fake_semantics_put_conflict_json_patch_test_and_strategic_merge(kube: FakeKube) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    kube.use_role(None)  # a broader role: the documented one never updates (PUT) a Service
    api = client.CoreV1Api(client.ApiClient(client.Configuration(host=kube.url)))
    svc = api.read_namespaced_service("shop", "default")
    stale = svc.metadata.resource_version
    api.patch_namespaced_service(
        "shop", "default", {"metadata": {"labels": {"a": "b"}}}
    )  # strategic merge
    assert api.read_namespaced_service("shop", "default").spec.selector == {
        "app": "shop",
        "version": "blue",
    }
    svc.spec.selector = {"app": "shop", "version": "green"}
    with pytest.raises(ApiException) as err:
        api.replace_namespaced_service("shop", "default", svc)  # PUT with a stale resourceVersion
    assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "Conflict"
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": stale},
        {"op": "replace", "path": "/spec/selector/version", "value": "green"},
    ]
    with pytest.raises(ApiException) as err:
        api.patch_namespaced_service("shop", "default", ops)
    assert err.value.status == 422  # kube-apiserver answers 422 to a failed JSON-patch test
    fresh = api.read_namespaced_service("shop", "default").metadata.resource_version
    ops[0]["value"] = fresh
    assert api.patch_namespaced_service("shop", "default", ops).spec.selector["version"] == "green"
    with pytest.raises(ApiException) as err:
        api.read_namespaced_service("gone", "default")
    assert err.value.status == 404 and json.loads(err.value.body)["kind"] == "Status"


def test_fake_semantics_lease_create_conflict_and_micro_time(kube: FakeKube) -> None:
    import urllib.request

    def post(body: dict) -> tuple[int, dict]:
        req = urllib.request.Request(
            f"{kube.url}/apis/coordination.k8s.io/v1/namespaces/default/leases",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    lease = {"metadata": {"name": LEASE}, "spec": {"renewTime": "2026-11-30T16:00:00+00:00"}}
    code, body = post(lease)  # isoformat() of a whole second: no fraction, as Go refuses it
    assert code == 400 and "2006-01-02T15:04:05.000000Z07:00" in body["message"]
    lease["spec"]["renewTime"] = "2026-11-30T17:00:00.000001+01:00"
    code, body = post(lease)
    assert code == 201 and body["spec"]["renewTime"] == "2026-11-30T16:00:00.000001Z"
    code, body = post(lease)
    assert (code, body["reason"]) == (409, "AlreadyExists")
