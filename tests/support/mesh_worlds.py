"""Contract worlds for the weighted-route routers (``gateway-api``: an HTTPRoute; ``istio``: a
VirtualService) on the fake API server (tests/support/k8s_fake.py), and the shop layout they share
with the integration tests.

The layout: Services shop-blue and shop-green (each selecting its colour's pods), Deployments
shop-blue (1.4.1) and shop-green (1.4.2) with 3 ready pods each, and the route ``shop`` sending
100 % to shop-blue and 0 % to shop-green. The gateway's controller (the fake's) accepts the route
and writes its status per parent; istiod's status reporting is on in the Istio world (so its
``Reconciled`` condition is written and respected).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backends.base import Colour
from console.config import ServiceConfig, load
from console.runtime import ServiceRuntime
from tests.support.router_worlds import BLUE, GREEN, Cannot, RouterWorld

ROOT = Path(__file__).resolve().parents[2]
RBAC = {
    "gateway-api": ROOT / "docs" / "gateway-api-rbac.yaml",
    "istio": ROOT / "docs" / "istio-rbac.yaml",
}
RESOURCE = {"gateway-api": "httproutes", "istio": "virtualservices"}
BLUE_PODS = [f"shop-blue-7d9f8-{i:02d}" for i in range(3)]
GREEN_PODS = [f"shop-green-7d9f8-{i:02d}" for i in range(3)]


def drained_key(colour: Colour) -> str:
    return f"bluegreen-console/drained-{colour.value}"


def httproute_spec(blue: int = 100, green: int = 0, **extra_refs: int) -> dict[str, Any]:
    refs = [
        {"name": "shop-blue", "port": 80, "weight": blue},
        {"name": "shop-green", "port": 80, "weight": green},
        *({"name": n, "port": 80, "weight": w} for n, w in extra_refs.items()),
    ]
    return {
        "parentRefs": [
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop-gw"}
        ],
        "hostnames": ["shop.example.com"],
        "rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": refs}
        ],
    }


def virtualservice_spec(blue: int = 100, green: int = 0) -> dict[str, Any]:
    return {
        "hosts": ["shop.example.com"],
        "gateways": ["shop-gw"],
        "http": [
            {
                "name": "primary",
                "route": [
                    {"destination": {"host": "shop-blue", "port": {"number": 80}}, "weight": blue},
                    {
                        "destination": {
                            "host": "shop-green.default.svc.cluster.local",
                            "port": {"number": 80},
                        },
                        "weight": green,
                    },
                ],
            }
        ],
    }


def route_refs(kind: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The weighted references of the route's first rule (backendRefs / http route destinations)."""
    if kind == "gateway-api":
        return obj["spec"]["rules"][0]["backendRefs"]
    return obj["spec"]["http"][0]["route"]


def ref_colour(ref: dict[str, Any]) -> Colour | None:
    name = ref.get("name") or (ref.get("destination") or {}).get("host", "")
    return (
        BLUE if name.startswith("shop-blue") else GREEN if name.startswith("shop-green") else None
    )


@contextlib.contextmanager
def mesh_cluster(kind: str) -> Iterator[Any]:
    """The fake API server in the shop layout for ``kind``, enforcing that kind's documented Role."""
    from tests.support.k8s_fake import FakeKube

    with FakeKube(role=RBAC[kind]) as fake:
        fake.istio_status = kind == "istio"
        fake.add_service("shop-blue", {"app": "shop", "version": "blue"})
        fake.add_service("shop-green", {"app": "shop", "version": "green"})
        fake.add_deployment(
            "shop-blue", {"app": "shop", "version": "blue"}, image="registry:5000/shop:1.4.1"
        )
        fake.add_deployment(
            "shop-green", {"app": "shop", "version": "green"}, image="registry:5000/shop:1.4.2"
        )
        spec = httproute_spec() if kind == "gateway-api" else virtualservice_spec()
        fake.add_custom(RESOURCE[kind], "shop", spec)
        yield fake


def mesh_config(tmp_path: Path, kind: str, host: str, *, name: str = "console.toml") -> Path:
    """A console config for the fake's objects."""
    config = tmp_path / name
    config.write_text(
        f'audit_log = "{tmp_path / "audit.jsonl"}"\n'
        "\n"
        "[[service]]\n"
        'name = "shop"\n'
        "poll_interval = 1.0\n"
        "timeout = 5.0\n"
        "bake_seconds = 60\n"
        "\n"
        "[service.router]\n"
        f'kind = "{kind}"\n'
        f'host = "{host}"\n'
        'namespace = "default"\n'
        'route = "shop"\n'
        'services = { blue = "shop-blue", green = "shop-green" }\n'
        'deployments = { blue = "shop-blue", green = "shop-green" }\n'
        "status_wait = 3.0\n"
    )
    return config


class MeshWorld(RouterWorld):
    """The fake API server with the route of ``kind`` and a console config pointing at it."""

    def __init__(self, tmp_path: Path, kube: Any, kind: str) -> None:
        super().__init__(tmp_path)
        self.kind = kind
        self.kube = kube
        self.resource = RESOURCE[kind]
        self.config_file = mesh_config(tmp_path, kind, kube.url)

    def service_config(self) -> ServiceConfig:
        return load(self.config_file).pick(None)

    def cli_config(self) -> Path:
        return self.config_file

    # -- views: the API objects, read from the fake's store

    def route(self) -> dict[str, Any]:
        return self.kube.get(self.resource, "shop")

    def weights(self) -> dict[Colour, int]:
        out = {}
        for ref in route_refs(self.kind, self.route()):
            c = ref_colour(ref)
            if c is not None:
                out[c] = ref.get("weight", 1)
        return out

    def live(self) -> Colour | None:
        w = self.weights()
        total = sum(w.values())
        return next((c for c in (BLUE, GREEN) if total and w[c] * 100 > 50 * total), None)

    def draining(self, colour: Colour) -> bool:
        return drained_key(colour) in (self.route()["metadata"].get("annotations") or {})

    def assert_kept(self) -> None:
        # The route's controller reports on the route's current generation, and accepts it.
        self.kube.settle()
        route = self.route()
        gen = route["metadata"]["generation"]
        if self.kind == "gateway-api":
            conds = [c for p in route["status"]["parents"] for c in p["conditions"]]
            assert conds and all(
                c["status"] == "True" and c["observedGeneration"] == gen for c in conds
            ), route["status"]
        else:
            status = route["status"]
            assert int(status["observedGeneration"]) == gen, status
            assert status["conditions"][0]["status"] == "True", status
        for c in (BLUE, GREEN):  # a drained colour gets no new request
            assert not self.draining(c) or self.weights()[c] == 0, (c, self.weights())

    def served(self) -> set[str] | None:
        return None  # no data plane: the route's weights are what decides (see live())

    def writes(self) -> int | None:
        # Writes that route: the route object (and Services / Deployments, which it never writes).
        return sum(
            self.kube.count(method, resource)
            for method in ("PATCH", "PUT", "POST")
            for resource in (self.resource, "services", "deployments")
        )

    # -- faults

    def _edit(self, fn: Any) -> None:
        self.kube.mutate(self.resource, "shop", fn)

    def switch_outside(self, to: Colour) -> None:
        # kubectl edit: the weights 100 / 0 towards ``to``
        def edit(obj: dict[str, Any]) -> None:
            for ref in route_refs(self.kind, obj):
                ref["weight"] = 100 if ref_colour(ref) is to else 0

        self._edit(edit)

    def drain_outside(self, colour: Colour) -> None:
        # What the router's drain leaves behind (the annotation; the colour's weight 0 while the
        # other colour can take its share), written by another client.
        def edit(obj: dict[str, Any]) -> None:
            obj["metadata"].setdefault("annotations", {})[drained_key(colour)] = (
                "2026-01-01T00:00:00Z"
            )
            refs = route_refs(self.kind, obj)
            other = next(r for r in refs if ref_colour(r) is colour.other)
            if other.get("weight", 1) > 0:
                for ref in refs:
                    ref["weight"] = 0 if ref_colour(ref) is colour else 100

        self._edit(edit)

    def unhealthy(self, colour: Colour) -> Iterator[str]:
        pods = GREEN_PODS if colour is GREEN else BLUE_PODS
        for pod in pods:
            self.kube.set_pod_ready(pod, False)
        try:
            yield f"{len(pods)} DOWN"
        finally:
            for pod in pods:
                self.kube.set_pod_ready(pod, True)

    @contextlib.contextmanager
    def unreachable(self) -> Iterator[str]:
        url = self.kube.url
        self.kube.stop()
        yield f"cannot reach the Kubernetes API server at {url}"

    @contextlib.contextmanager
    def denied(self) -> Iterator[tuple[ServiceRuntime, str]]:
        self.kube.deny.update({("update", self.resource), ("patch", self.resource)})
        try:
            yield self.build(), "forbidden"
        finally:
            self.kube.deny.clear()

    def race_on_write(self, to: Colour) -> str:
        def another_operator(fake: Any) -> None:  # between the router's read and its write
            def edit(obj: dict[str, Any]) -> None:
                for ref in route_refs(self.kind, obj):
                    ref["weight"] = 90 if ref_colour(ref) is BLUE else 10

            fake.mutate(self.resource, "shop", edit)

        self.kube.on("PUT", self.resource, another_operator)
        kind = "HTTPRoute" if self.kind == "gateway-api" else "VirtualService"
        return f"the {kind} shop changed since it was read"

    def drift_persisted(self, to: Colour) -> None:
        raise Cannot(f"the {self.kind} router persists nothing apart from the route object")

    def persisted(self) -> Colour | None:
        raise Cannot(f"the {self.kind} router persists nothing apart from the route object")

    def without_split(self) -> ServiceRuntime:
        raise Cannot(f"a {self.kind} route always carries weights: there is always a split")


@contextlib.contextmanager
def mesh_world(kind: str, tmp_path: Path) -> Iterator[RouterWorld]:
    with mesh_cluster(kind) as kube:
        world = MeshWorld(tmp_path, kube, kind)
        try:
            yield world
        finally:
            world.close()


__all__ = [
    "BLUE_PODS",
    "GREEN_PODS",
    "MeshWorld",
    "httproute_spec",
    "mesh_cluster",
    "mesh_config",
    "mesh_world",
    "virtualservice_spec",
]
