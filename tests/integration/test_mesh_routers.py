"""The Gateway API and Istio routers through the real ``kubernetes`` client against the fake API server
(tests/support/k8s_fake.py) serving HTTPRoutes and VirtualServices with their status subresource, a
gateway controller and istiod's status, and enforcing each router's documented Role. The faults of
issue 15: backendRefs that do not name the configured Services, a route that is not Accepted, 409 on
a concurrent edit, a missing CRD. No other address is ever contacted.
"""

from __future__ import annotations

import pytest

from backends.base import (
    ActionRefused,
    BackendContext,
    Colour,
    ConfigError,
    Conflict,
    PermissionDenied,
    ServerStatus,
    Unreachable,
    VerifyFailed,
)
from backends.gatewayapi import GatewayApiRouter
from backends.istio import IstioRouter
from tests.support.mesh_worlds import (
    GREEN_PODS,
    RESOURCE,
    httproute_spec,
    mesh_cluster,
    virtualservice_spec,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
KINDS = ("gateway-api", "istio")
ROUTERS = {"gateway-api": GatewayApiRouter, "istio": IstioRouter}
ROUTE_KIND = {"gateway-api": "HTTPRoute", "istio": "VirtualService"}


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)  # 127.0.0.1 only, never through a proxy
    return str(request.param)


@pytest.fixture
def kube(kind: str):
    with mesh_cluster(kind) as fake:
        yield fake


def router(kind: str, fake, timeout: float = 10.0, **options):
    opts = {
        "host": fake.url,
        "route": "shop",
        "services": {"blue": "shop-blue", "green": "shop-green"},
        "deployments": {"blue": "shop-blue", "green": "shop-green"},
        "timeout": timeout,
        "status_wait": 2.0,
        **options,
    }
    return ROUTERS[kind](opts, BackendContext("shop", timeout=timeout))


def weights(kind: str, fake) -> list[int]:
    obj = fake.get(RESOURCE[kind], "shop")
    refs = (
        obj["spec"]["rules"][0]["backendRefs"]
        if kind == "gateway-api"
        else obj["spec"]["http"][0]["route"]
    )
    return [r.get("weight") for r in refs]


def writes(kind: str, fake) -> int:
    return fake.count("PUT", RESOURCE[kind]) + fake.count("PATCH", RESOURCE[kind])


def set_spec(kind: str, fake, spec) -> None:
    fake.mutate(RESOURCE[kind], "shop", lambda o: o.update(spec=spec))


# --------------------------------------------------------------------------------------------------
# reading, switching, weights


def test_state_reads_weights_servers_versions_and_the_route_status(kind, kube):
    r = router(kind, kube)
    st = r.state()
    assert st.live is BLUE
    assert (st.colour(BLUE).weight, st.colour(GREEN).weight) == (100, 0)
    assert st.colour(GREEN).version == "1.4.2"
    assert [s.name for s in st.colour(GREEN).servers] == GREEN_PODS
    assert {s.status for s in st.colour(GREEN).servers} == {ServerStatus.UP}
    assert st.colour(GREEN).detail["endpoints"] == "3 ready"
    assert "problem" not in st.detail
    if kind == "gateway-api":
        assert st.detail["status"] == "gateway default/shop-gw: Accepted, ResolvedRefs"
    else:
        assert st.detail["status"] == "istiod: Reconciled=True"
    assert r.identity == f"{kind} {kube.url} default/{RESOURCE[kind]}/shop"


def test_switch_writes_one_guarded_replace_and_waits_for_the_controller(kind, kube):
    r = router(kind, kube)
    st = r.switch(GREEN)
    assert st.live is GREEN and weights(kind, kube) == [0, 100]
    assert kube.count("PUT", RESOURCE[kind]) == 1 and kube.count("PATCH", RESOURCE[kind]) == 0
    route = kube.get(RESOURCE[kind], "shop")
    assert route["metadata"]["generation"] == 2
    # done only once the controller reported on generation 2: its status is read back with it
    assert "not reported" not in st.detail["status"] and "problem" not in st.detail
    with pytest.raises(ActionRefused, match="green is already live"):
        r.switch(GREEN)


def test_weights_shift_a_canary_share_and_drain_takes_it_back_in_one_write(kind, kube):
    r = router(kind, kube)
    st = r.set_weights({BLUE: 70, GREEN: 30})
    assert (st.colour(BLUE).weight, st.colour(GREEN).weight) == (70, 30) and st.live is BLUE
    assert weights(kind, kube) == [70, 30]
    before = writes(kind, kube)
    st = r.drain(GREEN)  # the canary's share goes back to blue, and green is marked drained
    assert writes(kind, kube) == before + 1
    assert weights(kind, kube) == [100, 0]
    assert st.colour(GREEN).draining and {s.status for s in st.colour(GREEN).servers} == {
        ServerStatus.DRAIN
    }
    with pytest.raises(ActionRefused, match="green is drained; ready it first"):
        r.set_weights({BLUE: 90, GREEN: 10})
    with pytest.raises(ActionRefused, match="green is drained; ready it first"):
        r.switch(GREEN)
    with pytest.raises(ActionRefused, match="blue is live"):
        r.drain(BLUE)
    st = r.ready(GREEN)
    assert not st.colour(GREEN).draining and weights(kind, kube) == [100, 0]
    with pytest.raises(ActionRefused, match="green is not drained"):
        r.ready(GREEN)


def test_drain_with_both_weights_0_marks_it_and_sends_no_traffic_anywhere(kind, kube):
    spec = httproute_spec(0, 0) if kind == "gateway-api" else virtualservice_spec(0, 0)
    set_spec(kind, kube, spec)
    r = router(kind, kube)
    assert r.state().live is None
    st = r.drain(GREEN)
    assert st.colour(GREEN).draining and weights(kind, kube) == [0, 0]


def test_bad_weights_are_refused_before_anything_is_read(kind, kube):
    r = router(kind, kube)
    with pytest.raises(ActionRefused, match="adding up to 100"):
        r.set_weights({BLUE: 70, GREEN: 40})
    assert writes(kind, kube) == 0


# --------------------------------------------------------------------------------------------------
# the readiness gate (the Kubernetes router's own)


def test_the_readiness_gate_refuses_a_colour_that_cannot_serve(kind, kube):
    r = router(kind, kube)
    kube.mutate("deployments", "shop-green", lambda o: o["spec"].update(replicas=0))
    with pytest.raises(ActionRefused, match="its Deployment shop-green is scaled to 0"):
        r.switch(GREEN)
    with pytest.raises(ActionRefused, match="scaled to 0"):
        r.set_weights({BLUE: 90, GREEN: 10})
    kube.mutate("deployments", "shop-green", lambda o: o["spec"].update(replicas=3))
    # its Service selects none of its pods: no ready endpoint of them
    kube.mutate("services", "shop-green", lambda o: o["spec"]["selector"].update(version="x"))
    with pytest.raises(ActionRefused) as refused:
        r.switch(GREEN)
    assert "no ready endpoint (Service shop-green has no ready endpoint" in str(refused.value)
    assert writes(kind, kube) == 0 and weights(kind, kube) == [100, 0]


# --------------------------------------------------------------------------------------------------
# faults: the route's shape


def test_a_route_that_does_not_name_the_configured_services_is_refused_naming_what_it_names(
    kind, kube
):
    if kind == "gateway-api":
        spec = httproute_spec()
        for ref, name in zip(spec["rules"][0]["backendRefs"], ("shop-v1", "shop-v2"), strict=True):
            ref["name"] = name
    else:
        spec = virtualservice_spec()
        for dest, name in zip(spec["http"][0]["route"], ("shop-v1", "shop-v2"), strict=True):
            dest["destination"]["host"] = name
    set_spec(kind, kube, spec)
    r = router(kind, kube)
    st = r.state()  # the poll still answers, with the problem for the header
    assert st.live is None and st.colour(BLUE).weight is None
    assert (
        "do not name the configured Services shop-blue (blue) and shop-green (green)"
        in (st.detail["problem"])
    )
    assert "they name shop-v1, shop-v2" in st.detail["problem"]
    with pytest.raises(ActionRefused) as refused:
        r.switch(GREEN)
    assert "do not name the configured Services" in str(refused.value)
    assert str(refused.value).endswith("nothing was written")
    assert writes(kind, kube) == 0  # the test edits the store directly, not over HTTP


def test_a_third_backend_or_a_missing_colour_is_not_a_two_colour_split(kind, kube):
    if kind == "gateway-api":
        spec = httproute_spec(90, 0, **{"shop-canary": 10})
        third = "rule 0 also sends to shop-canary"
    else:
        spec = virtualservice_spec(90, 0)
        spec["http"][0]["route"].append({"destination": {"host": "shop-canary"}, "weight": 10})
        third = "http route primary also sends to shop-canary"
    set_spec(kind, kube, spec)
    r = router(kind, kube)
    assert third in r.state().detail["problem"]
    with pytest.raises(ActionRefused, match=third):
        r.set_weights({BLUE: 50, GREEN: 50})
    # only blue named: the router does not invent the green reference, it says what to add
    spec = httproute_spec() if kind == "gateway-api" else virtualservice_spec()
    refs = spec["rules"][0]["backendRefs"] if kind == "gateway-api" else spec["http"][0]["route"]
    del refs[1]
    set_spec(kind, kube, spec)
    with pytest.raises(ActionRefused, match=r"no .* shop-green \(green\): add it with weight 0"):
        r.switch(GREEN)


def test_gateway_api_weights_are_relative_and_default_to_1(monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    with mesh_cluster("gateway-api") as kube:
        spec = httproute_spec(3, 1)
        set_spec("gateway-api", kube, spec)
        r = router("gateway-api", kube)
        st = r.state()
        assert (st.colour(BLUE).weight, st.colour(GREEN).weight) == (75, 25) and st.live is BLUE
        for ref in spec["rules"][0]["backendRefs"]:
            del ref["weight"]
        set_spec("gateway-api", kube, spec)
        st = r.state()
        assert st.live is None and "50/50" in st.detail["problem"]


# --------------------------------------------------------------------------------------------------
# faults: the controller's verdict


def test_a_route_the_gateway_did_not_accept_is_refused_and_shown(monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    with mesh_cluster("gateway-api") as kube:
        kube.route_rejects["shop"] = (
            "Accepted",
            "NotAllowedByListeners",
            "no listener of Gateway shop-gw allows routes from namespace default",
        )
        kube.settle()
        r = router("gateway-api", kube)
        st = r.state()
        assert st.detail["problem"] == (
            "HTTPRoute shop: gateway default/shop-gw reports Accepted=False "
            "(NotAllowedByListeners: no listener of Gateway shop-gw allows routes from namespace "
            "default)"
        )
        with pytest.raises(ActionRefused) as refused:
            r.switch(GREEN)
        assert "the gateway ignores the route, so new weights would move no traffic" in str(
            refused.value
        )
        assert writes("gateway-api", kube) == 0


def test_a_write_the_gateway_then_rejects_is_not_done(monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    with mesh_cluster("gateway-api") as kube:
        r = router("gateway-api", kube)

        def gateway_turns_it_down(fake) -> None:  # as our write lands
            fake.route_rejects["shop"] = ("Accepted", "NotAllowedByListeners", "hostname taken")

        kube.on("PUT", "httproutes", gateway_turns_it_down)
        with pytest.raises(VerifyFailed) as failed:
            r.switch(GREEN)
        msg = str(failed.value)
        assert msg.startswith("switch to green: written (generation 2), but HTTPRoute shop:")
        assert "Accepted=False (NotAllowedByListeners: hostname taken)" in msg
        assert "not done" in msg
        assert weights("gateway-api", kube) == [0, 100]  # written, as the message says


def test_an_unresolved_backend_is_shown_and_refused(monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    with mesh_cluster("gateway-api") as kube:
        with kube.lock:
            del kube.objects[("services", "default", "shop-green")]
        kube.settle()
        r = router("gateway-api", kube)
        assert (
            'ResolvedRefs=False (BackendNotFound: Service "shop-green" not found)'
            in (r.state().detail["problem"])
        )
        with pytest.raises(ActionRefused, match="ResolvedRefs=False"):
            r.set_weights({BLUE: 90, GREEN: 10})


def test_a_gateway_that_does_not_report_in_time_leaves_the_switch_not_done(monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    with mesh_cluster("gateway-api") as kube:
        kube.gateway_paused = True  # the controller is down: the status stays at generation 1
        r = router("gateway-api", kube, status_wait=0.5)
        with pytest.raises(VerifyFailed) as failed:
            r.switch(GREEN)
        msg = str(failed.value)
        assert "written (generation 2), but the gateway has not reported on it within 0.5 s" in msg
        assert "its status still describes generation 1" in msg
        kube.gateway_paused = False
        kube.settle()
        assert r.state().live is GREEN and "problem" not in r.state().detail


def test_a_route_no_gateway_reported_on_is_refused(monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    with mesh_cluster("gateway-api") as kube:
        kube.gateway_paused = True
        kube.set_status("httproutes", "shop", {})
        r = router("gateway-api", kube)
        assert "no Gateway has reported on HTTPRoute shop" in r.state().detail["problem"]
        with pytest.raises(ActionRefused, match="no Gateway has reported"):
            r.switch(GREEN)


def test_istio_without_status_reporting_is_done_on_the_read_back(monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    with mesh_cluster("istio") as kube:
        kube.istio_status = False
        kube.set_status("virtualservices", "shop", {})
        r = router("istio", kube)
        st = r.state()
        assert st.detail["status"] == "istiod reports no status (status reporting is off)"
        assert "problem" not in st.detail
        assert r.switch(GREEN).live is GREEN


def test_istio_not_reconciled_or_an_analysis_error_is_refused(monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    with mesh_cluster("istio") as kube:
        kube.istio_rejects["shop"] = ("ReconcileError", "gateway shop-gw not found")
        kube.settle()
        r = router("istio", kube)
        assert (
            "Reconciled=False (ReconcileError: gateway shop-gw not found)"
            in (r.state().detail["problem"])
        )
        with pytest.raises(ActionRefused, match="istiod ignores the route"):
            r.switch(GREEN)
        kube.istio_rejects.clear()
        kube.istio_status = False
        kube.set_status(
            "virtualservices",
            "shop",
            {
                "validationMessages": [
                    {
                        "type": {"code": "IST0101"},
                        "level": "ERROR",
                        "message": "Referenced gateway not found",
                    }
                ]
            },
        )
        with pytest.raises(ActionRefused, match="IST0101: Referenced gateway not found"):
            r.switch(GREEN)
        assert writes("istio", kube) == 0


# --------------------------------------------------------------------------------------------------
# faults: 409 on a concurrent edit


def test_a_concurrent_edit_of_the_weights_is_a_conflict_naming_it(kind, kube):
    r = router(kind, kube)

    def another_operator(fake) -> None:  # between the router's read and its write
        def edit(obj) -> None:
            refs = (
                obj["spec"]["rules"][0]["backendRefs"]
                if kind == "gateway-api"
                else obj["spec"]["http"][0]["route"]
            )
            refs[0]["weight"], refs[1]["weight"] = 80, 20

        fake.mutate(RESOURCE[kind], "shop", edit)

    kube.on("PUT", RESOURCE[kind], another_operator)
    with pytest.raises(Conflict) as err:
        r.switch(GREEN)
    msg = str(err.value)
    label = "rule 0" if kind == "gateway-api" else "http route primary"
    assert msg.startswith(f"the {ROUTE_KIND[kind]} shop changed since it was read: ")
    assert f"{label} blue weight is now 80 (was 100)" in msg
    assert msg.endswith("nothing was written; look at it again and retry")
    assert weights(kind, kube) == [80, 20]  # theirs stands
    assert kube.count("PUT", RESOURCE[kind]) == 1  # ours was refused (409) and not retried


def test_a_status_write_between_read_and_write_is_retried(kind, kube):
    r = router(kind, kube)
    kube.on(
        "PUT",
        RESOURCE[kind],
        lambda fake: fake.set_status(
            RESOURCE[kind], "shop", fake.get(RESOURCE[kind], "shop").get("status") or {"x": 1}
        ),
    )
    assert r.switch(GREEN).live is GREEN
    assert kube.count("PUT", RESOURCE[kind]) == 2  # 409, re-read: only the status moved; again


# --------------------------------------------------------------------------------------------------
# faults: missing CRD, missing route, RBAC, unreachable


def test_a_missing_crd_says_the_crds_are_not_installed(kind, kube):
    kube.crds.discard(RESOURCE[kind])
    r = router(kind, kube)
    crds = "the Gateway API CRDs" if kind == "gateway-api" else "the Istio CRDs"
    with pytest.raises(Unreachable) as err:
        r.state()
    assert f"{crds} are not installed in this cluster" in str(err.value)
    assert "404 on the resource type" in str(err.value)
    with pytest.raises(ActionRefused) as refused:
        r.switch(GREEN)
    assert f"{crds} are not installed" in str(refused.value)
    assert str(refused.value).endswith("nothing was written")


def test_a_missing_route_object_is_named(kind, kube):
    kube.use_role(None)  # the documented Role names the route: any other is forbidden, not missing
    r = router(kind, kube, route="nosuch")
    with pytest.raises(Unreachable) as err:
        r.state()
    assert f"{ROUTE_KIND[kind]} 'nosuch' not found in namespace 'default'" in str(err.value)


def test_the_documented_role_is_enough_and_a_403_names_it(kind, kube):
    r = router(kind, kube)
    assert r.set_weights({BLUE: 50, GREEN: 50}).live is None  # the world enforces the Role
    kube.deny.add(("update", RESOURCE[kind]))
    with pytest.raises(PermissionDenied) as err:
        r.switch(GREEN)
    assert f"grant the Role in docs/{kind}-rbac.yaml" in str(err.value)


def test_an_unreachable_api_server(kind, kube):
    r = router(kind, kube, timeout=3.0, status_wait=1.0)
    url = kube.url
    kube.stop()
    with pytest.raises(Unreachable, match=f"cannot reach the Kubernetes API server at {url}"):
        r.state()


def test_options_are_checked_at_build(kind, kube):
    with pytest.raises(ConfigError, match="option `status_wait`: found 10; expected less than"):
        router(kind, kube, timeout=5.0, status_wait=10.0)
    with pytest.raises(ConfigError, match="option `services.green`"):
        router(kind, kube, services={"blue": "shop-blue"})
    with pytest.raises(ConfigError, match="two different Services"):
        router(kind, kube, services={"blue": "shop", "green": "shop"})
