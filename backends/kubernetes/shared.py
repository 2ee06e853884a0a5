"""One read of a Kubernetes namespace per poll for every service the board routes in it.

The board puts the Kubernetes routers that reach one cluster the same way (``host`` and ``token``,
``in_cluster``, or ``kubeconfig`` and ``context``) and route in one namespace into a
:class:`NamespaceGroup`. A poll of any of them asks the group, which reads the namespace once for all
of them (``backends.shared.SharedRead``: reused within half the shortest poll interval, a read under
way waited for, a failure shared):

* Services: one ``list`` of the namespace's Services, and Deployments: one ``list`` of its
  Deployments. Where the Role allows only ``get`` on them by name (the minimal Role of
  docs/kubernetes-rbac.yaml: ``list`` cannot be limited to names), the first list answers 403 and
  the group ``get``s each Service and Deployment its services name instead, once per poll each,
  from then on;
* pods: one ``list`` with ``<selector_label> in (<every colour value of the group>)`` (every pod of
  the namespace when the services use different selector labels);
* EndpointSlices: one ``list`` with ``kubernetes.io/service-name in (<every managed Service>)``.

Each service then picks its own objects out of that read (its Services and Deployments by name,
the pods its Service would select for each colour, its Services' slices) and builds its state as
from its own read. Its actions (and their reads) still go to the API server on their own, and every
write they make invalidates the group's read: the next poll reads afresh.

Nothing here imports Textual, ``console`` or ``widgets``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from backends.base import COLOURS, Colour, PermissionDenied, Unreachable
from backends.kubernetes.api import SERVICE_NAME_LABEL, KubeApi, Snapshot
from backends.kubernetes.objects import selector_of
from backends.kubernetes.options import KubeOptions
from backends.shared import SharedGroup, SharedRead


@dataclass(frozen=True)
class NamespaceRead:
    """One read of a namespace: Services and Deployments by name, the pods and slices listed."""

    services: dict[str, Any]
    deployments: dict[str, Any]
    pods: list[Any]
    slices: list[Any]


def access_key(o: KubeOptions) -> tuple[Any, ...]:
    """What must be equal for two routers to read one namespace together: how they reach the
    cluster and the namespace (not the service-specific options)."""
    kubeconfig = os.path.abspath(os.path.expanduser(o.kubeconfig)) if o.kubeconfig else None
    return (o.host, o.token, o.in_cluster, kubeconfig, o.context, o.namespace)


class Member(Protocol):
    o: KubeOptions

    def join_group(self, group: NamespaceGroup) -> None: ...


class NamespaceGroup(SharedGroup):
    """The Kubernetes routers of one namespace on one cluster: one read of it per poll."""

    def __init__(self, options: Sequence[KubeOptions], client: Any, config: Any, max_age: float):
        super().__init__()
        first = options[0]
        self.options = list(options)
        self.api = KubeApi(
            first.model_copy(update={"timeout": min(o.timeout for o in options)}), client, config
        )
        self.namespace = first.namespace
        self.names = {
            "services": sorted({n for o in options for n in (o.service, o.preview_service) if n}),
            "deployments": sorted({d for o in options for d in o.deployments.values()}),
        }
        labels = {o.selector_label for o in options}
        values = sorted({v for o in options for v in o.colours.values()})
        self.pod_selector = f"{labels.pop()} in ({','.join(values)})" if len(labels) == 1 else None
        self.listed = {"services": True, "deployments": True}  # False: the Role allows get only
        self.shared: SharedRead[NamespaceRead] = SharedRead(
            self._read, max_age, f"Kubernetes namespace {self.namespace}"
        )

    def _objects(self, resource: str, list_fn: Any, get_fn: Any) -> dict[str, Any]:
        """The group's Services (or Deployments) by name: one list, or a get each without it."""
        if self.listed[resource]:
            try:
                found = self.api.req("list", resource, None, list_fn, self.namespace)
                return {o.metadata.name: o for o in found.items or []}
            except PermissionDenied:
                self.listed[resource] = False  # the minimal Role: get by name from now on
        out = {}
        for name in self.names[resource]:
            obj = self.api.req("get", resource, name, get_fn, name, self.namespace, missing_ok=True)
            if obj is not None:
                out[name] = obj
        return out

    def _read(self) -> NamespaceRead:
        self.api.begin(acting=False)
        core, apps, disc = self.api.connect()
        services = self._objects(
            "services", core.list_namespaced_service, core.read_namespaced_service
        )
        deployments = self._objects(
            "deployments", apps.list_namespaced_deployment, apps.read_namespaced_deployment
        )
        pods = self.api.req(  # no selector (None): every pod of the namespace
            "list",
            "pods",
            None,
            core.list_namespaced_pod,
            self.namespace,
            label_selector=self.pod_selector,
        )
        slices = self.api.req(
            "list",
            "endpointslices",
            None,
            disc.list_namespaced_endpoint_slice,
            self.namespace,
            label_selector=f"{SERVICE_NAME_LABEL} in ({','.join(self.names['services'])})",
        )
        return NamespaceRead(
            services, deployments, list(pods.items or []), list(slices.items or [])
        )

    def snapshot(self, o: KubeOptions, timeout: float) -> Snapshot:
        """``o``'s service's objects out of the group's read, as its own read would find them."""
        got = self.shared.get(timeout)

        def one(resource: str, kind: str, name: str) -> Any:
            if name not in getattr(got, resource):
                raise Unreachable(
                    f"{kind} {name!r} not found in namespace {o.namespace!r}; check "
                    "[service.router]"
                )
            return getattr(got, resource)[name]

        svc = one("services", "Service", o.service)
        preview = one("services", "Service", o.preview_service) if o.preview_service else None
        deps = {c: one("deployments", "Deployment", o.deployments[c]) for c in COLOURS}
        base = {k: v for k, v in selector_of(svc).items() if k != o.selector_label}
        by_colour: dict[Colour, list[Any]] = {c: [] for c in COLOURS}
        for p in sorted(got.pods, key=lambda p: p.metadata.name):
            labels = p.metadata.labels or {}
            c = o.colour_of(labels.get(o.selector_label))
            if c is not None and all(labels.get(k) == v for k, v in base.items()):
                by_colour[c].append(p)
        mine = {n for n in (o.service, o.preview_service) if n}
        slices = [
            s for s in got.slices if (s.metadata.labels or {}).get(SERVICE_NAME_LABEL) in mine
        ]
        return Snapshot(svc, preview, deps, by_colour, slices)

    def _close_group(self) -> None:
        self.api.close()


def group_by_namespace(
    members: Sequence[tuple[Member, float]], client: Any, config: Any
) -> list[NamespaceGroup]:
    """Put the routers of one namespace on one cluster (two or more) into a group each."""
    by_key: dict[tuple[Any, ...], list[tuple[Member, float]]] = {}
    for m, age in members:
        by_key.setdefault(access_key(m.o), []).append((m, age))
    groups = []
    for together in by_key.values():
        if len(together) < 2:
            continue  # alone in its namespace: it reads on its own, as before
        group = NamespaceGroup(
            [m.o for m, _ in together], client, config, min(age for _, age in together)
        )
        for m, _ in together:
            m.join_group(group)
        groups.append(group)
    return groups
