"""The Kubernetes router's client plumbing: connecting, deadlines, reads, conditional patches.

The ``kubernetes`` package arrives as an argument (the router imports it when it is built), so this
module imports nothing heavy either.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from backends.base import COLOURS, BackendTimeout, Colour, ConfigError, Conflict
from backends.kubernetes.errors import RBAC_HINT, Target, translate
from backends.kubernetes.objects import selector_of
from backends.kubernetes.options import KubeOptions

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MERGE_PATCH = "application/merge-patch+json"
#: writes tried while only fields the action does not depend on move (a Deployment's status is
#: rewritten by its controller as each replica becomes ready or goes away: several times a second)
PATCH_ATTEMPTS = 5


@dataclass(frozen=True)
class Snapshot:
    """Everything one read sees: the objects behind a RouterState."""

    service: Any
    preview: Any | None
    deployments: Mapping[Colour, Any]
    pods: Mapping[Colour, list[Any]]  # the pods the Service would select for each colour
    slices: list[Any]  # EndpointSlices of the live and preview Services


class ClusterAccess(Protocol):
    """The options that say how to reach the cluster (KubeOptions, and the route routers' own)."""

    @property
    def namespace(self) -> str: ...
    @property
    def timeout(self) -> float: ...
    @property
    def host(self) -> str | None: ...
    @property
    def token(self) -> str | None: ...
    @property
    def in_cluster(self) -> bool: ...
    @property
    def kubeconfig(self) -> str | None: ...
    @property
    def context(self) -> str | None: ...


class ClusterApi:
    """One ApiClient per router, a per-call deadline, and every error translated: what every router
    on the Kubernetes API shares (``kubernetes``, ``gateway-api``, ``istio``)."""

    #: what a 403 tells the operator to grant (the page of the router's minimal Role)
    rbac_hint = RBAC_HINT

    def __init__(self, o: ClusterAccess, client: Any, config: Any) -> None:
        self.o = o
        self._client_mod, self._config_mod = client, config
        self._lock = threading.Lock()
        self._local = threading.local()
        self._apis: tuple[Any, Any, Any] | None = None
        self._coordination: Any = None
        self._custom: Any = None
        self._client: Any = None
        self.host = o.host or "(from kubeconfig)"
        # kubernetes 37 imports its API modules on first attribute access (about 1 s): here, at build
        _ = (client.CoreV1Api, client.AppsV1Api, client.DiscoveryV1Api, client.CoordinationV1Api)
        _ = client.CustomObjectsApi

    def connect(self) -> tuple[Any, Any, Any]:
        """(CoreV1Api, AppsV1Api, DiscoveryV1Api), loading the configuration on first use."""
        with self._lock:
            if self._apis is None:
                client, o = self._client_mod, self.o
                cfg = client.Configuration()
                try:
                    if o.host:
                        cfg.host = o.host
                        if o.token:
                            cfg.api_key = {"BearerToken": o.token}
                            cfg.api_key_prefix = {"BearerToken": "Bearer"}
                    elif o.in_cluster:
                        self._config_mod.load_incluster_config(client_configuration=cfg)
                    else:
                        path = os.path.expanduser(o.kubeconfig) if o.kubeconfig else None
                        self._config_mod.load_kube_config(
                            config_file=path,
                            context=o.context,
                            client_configuration=cfg,
                            persist_config=False,
                        )
                except Exception as exc:  # ConfigException, a bad file, a failing exec plugin
                    where = f"kubeconfig {o.kubeconfig or '$KUBECONFIG or ~/.kube/config'}"
                    where += f", context {o.context!r}" if o.context else ""
                    how = "in-cluster" if o.in_cluster else where
                    raise ConfigError(
                        f"cannot load the Kubernetes client configuration ({how}): {exc}"
                    ) from exc
                cfg.retries = 0  # fail fast; the console polls again anyway
                self.host = cfg.host
                self._client = client.ApiClient(cfg)
                self._apis = (
                    client.CoreV1Api(self._client),
                    client.AppsV1Api(self._client),
                    client.DiscoveryV1Api(self._client),
                )
                self._coordination = client.CoordinationV1Api(self._client)
                self._custom = client.CustomObjectsApi(self._client)
            return self._apis

    def coordination(self) -> Any:
        """CoordinationV1Api (Leases), on the same connection."""
        self.connect()
        return self._coordination

    def custom(self) -> Any:
        """CustomObjectsApi (HTTPRoutes, VirtualServices), on the same connection."""
        self.connect()
        return self._custom

    def begin(self, acting: bool) -> None:
        """Start one router call: its budget, and whether errors are an action's or a read's."""
        self.connect()  # loading the kubeconfig (maybe an exec plugin) is not charged to the budget
        # 90 %: our own error, naming the request, should arrive before the console's guard gives up
        self._local.deadline = time.monotonic() + 0.9 * self.o.timeout
        self._local.acting = acting

    @property
    def acting(self) -> bool:
        """Whether the current call is an action's (errors become ActionRefused) or a read's."""
        return bool(getattr(self._local, "acting", False))

    def remaining(self) -> float:
        deadline = getattr(self._local, "deadline", time.monotonic() + self.o.timeout)
        return deadline - time.monotonic()

    def req(
        self,
        verb: str,
        resource: str,
        name: str | None,
        fn: Callable[..., Any],
        *args: Any,
        missing_ok: bool = False,
        **kw: Any,
    ) -> Any:
        """Send one request within the call's budget; ``missing_ok``: a 404 returns None."""
        target = Target(verb, resource, name, self.o.namespace, self.rbac_hint)
        left = self.remaining()
        if left <= 0.02:
            raise BackendTimeout(
                f"{target} was not sent: this call's {self.o.timeout:.1f} s budget is spent"
            )
        try:
            return fn(*args, _request_timeout=left, **kw)
        except Exception as exc:
            if missing_ok and getattr(exc, "status", None) == 404:
                return None
            acting = getattr(self._local, "acting", False)
            raise translate(exc, target, self.host, self.o.timeout, acting) from exc

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client, self._apis = None, None


class KubeApi(ClusterApi):
    """The Kubernetes router's reads and conditional patches (Services, Deployments, pods, slices)."""

    o: KubeOptions

    def __init__(self, o: KubeOptions, client: Any, config: Any) -> None:
        super().__init__(o, client, config)
        #: called after every write: the board's shared read of the namespace reads afresh
        self.on_write: Callable[[], None] | None = None

    def get(self, resource: str, name: str) -> Any:
        core, apps, _ = self.connect()
        fn = (
            core.read_namespaced_service
            if resource == "services"
            else apps.read_namespaced_deployment
        )
        return self.req("get", resource, name, fn, name, self.o.namespace)

    def slices(self) -> list[Any]:
        _, _, disc = self.connect()
        names = ",".join(n for n in (self.o.service, self.o.preview_service) if n)
        found = self.req(
            "list",
            "endpointslices",
            None,
            disc.list_namespaced_endpoint_slice,
            self.o.namespace,
            label_selector=f"{SERVICE_NAME_LABEL} in ({names})",
        )
        return list(found.items or [])

    def read(self) -> Snapshot:
        """Both Services, both Deployments, the colours' pods and the Services' EndpointSlices."""
        core, _, _ = self.connect()
        o = self.o
        svc = self.get("services", o.service)
        preview = self.get("services", o.preview_service) if o.preview_service else None
        deps = {c: self.get("deployments", o.deployments[c]) for c in COLOURS}
        base = [f"{k}={v}" for k, v in sorted(selector_of(svc).items()) if k != o.selector_label]
        values = f"{o.value(Colour.BLUE)},{o.value(Colour.GREEN)}"
        pod_sel = ",".join([*base, f"{o.selector_label} in ({values})"])
        pods = self.req(
            "list", "pods", None, core.list_namespaced_pod, o.namespace, label_selector=pod_sel
        )
        by_colour: dict[Colour, list[Any]] = {c: [] for c in COLOURS}
        for p in sorted(pods.items or [], key=lambda p: p.metadata.name):
            c = o.colour_of((p.metadata.labels or {}).get(o.selector_label))
            if c is not None:
                by_colour[c].append(p)
        return Snapshot(svc, preview, deps, by_colour, self.slices())

    def _write(self, *args: Any, **kw: Any) -> Any:
        try:
            return self.req(*args, **kw)
        finally:
            if self.on_write is not None:
                self.on_write()

    def patch(
        self,
        resource: str,
        obj: Any,
        body: dict[str, Any],
        relevant: Callable[[Any, Any], list[str]],
    ) -> Any:
        """Merge-patch ``obj`` only if it is unchanged since it was read.

        The patch carries ``metadata.resourceVersion``: the API server applies it only if that is
        still current, else answers 409. Then re-read: if ``relevant(old, new)`` names changes, raise
        Conflict saying them; if it names none (a controller's status write), the check still holds:
        retry with the new resourceVersion, up to PATCH_ATTEMPTS writes within the call's budget.
        """
        core, apps, _ = self.connect()
        fn = (
            core.patch_namespaced_service
            if resource == "services"
            else apps.patch_namespaced_deployment
        )
        kind = "Service" if resource == "services" else "Deployment"
        name = obj.metadata.name
        for attempt in range(PATCH_ATTEMPTS):
            rv = obj.metadata.resource_version
            guarded = {**body, "metadata": {**body.get("metadata", {}), "resourceVersion": rv}}
            try:
                return self._write(
                    "patch",
                    resource,
                    name,
                    fn,
                    name,
                    self.o.namespace,
                    guarded,
                    _content_type=MERGE_PATCH,
                )
            except Conflict:
                now = self.get(resource, name)
                changed = relevant(obj, now)
                if changed or attempt == PATCH_ATTEMPTS - 1:
                    what = "; ".join(changed) or (
                        f"it kept changing ({PATCH_ATTEMPTS} writes refused, resourceVersion "
                        f"{rv} -> {now.metadata.resource_version})"
                    )
                    raise Conflict(
                        f"the {kind} {name} changed since it was read: {what}; "
                        "nothing was written; check and try again"
                    ) from None
                obj = now
        raise AssertionError("unreachable")
