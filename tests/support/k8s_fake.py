"""A small, real HTTP Kubernetes API server for tests: the official client talks to it unmodified.

It keeps the API semantics the Kubernetes router relies on (checked against the API documentation and
kube-apiserver's handlers), for the few resources it uses:

* core/v1 Services: GET, LIST, PUT (409 on a stale ``metadata.resourceVersion``), PATCH as
  ``merge-patch+json``, ``strategic-merge-patch+json`` (maps merged, ``null`` deletes, ``ports`` and
  ``containers`` merged by key) and ``json-patch+json`` (add / remove / replace / move / copy /
  test). A ``metadata.resourceVersion`` carried by a patch is a precondition: 409 when stale. A
  failed JSON-patch ``test`` is 422 Unprocessable Entity, as kube-apiserver answers (not 409).
* core/v1 Pods: GET, LIST with ``labelSelector``. A pod is Pending (no IP, no conditions) until it
  runs, Running with an IP and a Ready condition, or Terminating (``deletionTimestamp`` set, still
  Ready until it is gone). ``pod_start_seconds`` makes new pods start one after another;
  ``termination_seconds`` keeps pods scaled away Terminating; ``terminate_pod`` deletes one.
* apps/v1 Deployments: GET, LIST, PUT, PATCH (same rules); spec changes bump
  ``metadata.generation`` and create or delete pods at once (the ReplicaSet controller). ``status``
  is the Deployment controller's: a thread writes it after the fact (``observedGeneration``,
  ``replicas``, ``readyReplicas``, ``availableReplicas``, ``updatedReplicas``, counting no
  Terminating pod), each write moving the resourceVersion, so a guarded write meets 409 as on a
  cluster; writes through the object leave it alone. ``controller_paused`` stops it (lag);
  ``settle()`` waits for it; ``status_override`` forces fields.
* discovery.k8s.io/v1 EndpointSlices: LIST with ``labelSelector``, computed from the Services'
  selectors and the pods like the EndpointSlice controller: several slices per Service (at most
  MAX_ENDPOINTS_PER_SLICE endpoints each; ``endpoints: null`` in the one slice of a Service without
  pods), pods without an IP left out, ``ready`` / ``serving`` / ``terminating`` as the controller sets
  them (a terminating endpoint is ``ready=false, serving=true``; ``publishNotReadyAddresses`` makes
  every endpoint ready), or fewer conditions (``slice_conditions``). ``freeze_slices()`` keeps
  serving a snapshot to mimic its lag.
* coordination.k8s.io/v1 Leases: GET, POST (409 AlreadyExists), PUT (409 on a stale
  resourceVersion); ``acquireTime`` / ``renewTime`` are MicroTime: six fractional digits, else 400.
* Custom resources, while their CRD is installed (``crds``; without it every request of the type is
  404 "the server could not find the requested resource", with no object named, as kube-apiserver
  answers an unknown path): gateway.networking.k8s.io/v1 HTTPRoutes and networking.istio.io/v1
  VirtualServices: GET, LIST, POST, PUT (409 on a stale resourceVersion), PATCH (merge and JSON
  patch; a strategic merge patch is 415, as for every custom resource), and the ``/status``
  subresource (GET, PUT, PATCH). A write through the object keeps the status, one through
  ``/status`` changes only the status; ``metadata.generation`` moves when anything but metadata and
  status changes. An HTTPRoute's backendRef weight outside 0..1000000 is 422. Their controllers run
  in the controller loop: the gateway writes an HTTPRoute's ``status.parents`` (per parentRef,
  Accepted, False as ``route_rejects`` says, and ResolvedRefs, False with BackendNotFound when a
  backendRef names no Service, each with the generation it observed); ``gateway_paused`` stops it.
  istiod writes a VirtualService's ``observedGeneration`` (a string, as protobuf JSON has it) and
  ``Reconciled`` (False as ``istio_rejects`` says) when ``istio_status`` is on (off by default, as
  in Istio). ``add_custom`` builds one, ``set_status`` writes a status as a controller would.
* ``resourceVersion`` is one counter that grows on every write (a no-op patch writes nothing).
* RBAC: the Role in docs/kubernetes-rbac.yaml (``role=``; ``use_role(None)`` for a broader one) is
  enforced on every request, ``resourceNames`` included (never matching a list or a create), with
  kube-apiserver's 403 Status; ``deny`` refuses (verb, resource) pairs on top.
* Errors are ``Status`` objects with the API server's wording: 401 (bearer token, when ``token`` is
  set), 403, 404, 409, 400, 415, 422.

Test hooks: ``on(method, resource, fn)`` runs ``fn(fake)`` before a matching request is handled (to
change an object between a client's read and its write); ``hang`` holds matching requests without an
answer until ``stop()`` (bounded); ``requests`` logs (method, path, content type); ``status_writes``
logs the Deployment controller's writes.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

GROUPS = {
    "services": "",
    "pods": "",
    "deployments": "apps",
    "endpointslices": "discovery.k8s.io",
    "leases": "coordination.k8s.io",
    "httproutes": "gateway.networking.k8s.io",
    "virtualservices": "networking.istio.io",
}
KINDS = {
    "services": "Service",
    "pods": "Pod",
    "deployments": "Deployment",
    "endpointslices": "EndpointSlice",
    "leases": "Lease",
    "httproutes": "HTTPRoute",
    "virtualservices": "VirtualService",
}
API_VERSIONS = {
    "services": "v1",
    "pods": "v1",
    "deployments": "apps/v1",
    "endpointslices": "discovery.k8s.io/v1",
    "leases": "coordination.k8s.io/v1",
    "httproutes": "gateway.networking.k8s.io/v1",
    "virtualservices": "networking.istio.io/v1",
}
#: custom resources (CRDs), served with their status subresource while their CRD is installed
CUSTOM = ("httproutes", "virtualservices")
#: the Role the fake enforces unless told otherwise: the documented one, read from the file itself
RBAC_DOC = Path(__file__).resolve().parents[2] / "docs" / "kubernetes-rbac.yaml"
MAX_ENDPOINTS_PER_SLICE = 2  # kube-controller-manager's default is 100; 2 gives several slices
SMP_MERGE_KEYS = {"ports": "port", "containers": "name", "env": "name", "volumes": "name"}
_ROUTES = [
    re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<res>services|pods)(?:/(?P<name>[^/]+))?$"),
    re.compile(
        r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/(?P<res>deployments)(?:/(?P<name>[^/]+))?$"
    ),
    re.compile(r"^/apis/discovery\.k8s\.io/v1/namespaces/(?P<ns>[^/]+)/(?P<res>endpointslices)$"),
    re.compile(
        r"^/apis/coordination\.k8s\.io/v1/namespaces/(?P<ns>[^/]+)/(?P<res>leases)"
        r"(?:/(?P<name>[^/]+))?$"
    ),
    re.compile(
        r"^/apis/gateway\.networking\.k8s\.io/v1/namespaces/(?P<ns>[^/]+)/(?P<res>httproutes)"
        r"(?:/(?P<name>[^/]+)(?:/(?P<sub>status))?)?$"
    ),
    re.compile(
        r"^/apis/networking\.istio\.io/v1/namespaces/(?P<ns>[^/]+)/(?P<res>virtualservices)"
        r"(?:/(?P<name>[^/]+)(?:/(?P<sub>status))?)?$"
    ),
]
GATEWAY_CONTROLLER = "example.net/fake-gateway-controller"
TRANSITION = "2025-01-01T00:00:00Z"
HANG_LIMIT = 10.0  # a hung request answers 504 after this long at most, or at stop()


class ApiError(Exception):
    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def body(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


# --------------------------------------------------------------------------------------------------
# label selectors and patches


def parse_selector(text: str) -> list[Callable[[dict[str, str]], bool]]:
    terms, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    preds: list[Callable[[dict[str, str]], bool]] = []
    for term in (t.strip() for t in terms):
        if not term:
            continue
        if m := re.fullmatch(r"([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)", term):
            key, op, vals = m[1], m[2], {v.strip() for v in m[3].split(",")}
            preds.append(lambda lb, k=key, vs=vals, neg=op == "notin": (lb.get(k) in vs) != neg)
        elif m := re.fullmatch(r"([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)", term):
            key, op, val = m[1], m[2], m[3]
            preds.append(lambda lb, k=key, v=val, neg=op == "!=": (lb.get(k) == v) != neg)
        elif m := re.fullmatch(r"(!?)([^\s!=(),]+)", term):
            preds.append(lambda lb, k=m[2], neg=bool(m[1]): (k in lb) != neg)
        else:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
    return preds


def matches(preds: list[Callable[[dict[str, str]], bool]], labels: dict[str, str] | None) -> bool:
    return all(p(labels or {}) for p in preds)


def merge_patch(target: Any, patch: Any, strategic: bool = False, key: str = "") -> Any:
    if not isinstance(patch, dict):
        if (
            strategic
            and isinstance(patch, list)
            and isinstance(target, list)
            and key in SMP_MERGE_KEYS
        ):
            mk, out = SMP_MERGE_KEYS[key], [copy.deepcopy(x) for x in target]
            for item in patch:
                at = next(
                    (
                        i
                        for i, x in enumerate(out)
                        if isinstance(x, dict) and x.get(mk) == item.get(mk)
                    ),
                    None,
                )
                if at is None:
                    out.append(item)
                else:
                    out[at] = merge_patch(out[at], item, strategic)
            return out
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v, strategic, k)
    return out


def _pointer(doc: Any, path: str) -> tuple[Any, str | int]:
    if not path.startswith("/"):
        raise ApiError(400, "BadRequest", f"invalid JSON pointer {path!r}")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    for p in parts[:-1]:
        try:
            doc = doc[int(p)] if isinstance(doc, list) else doc[p]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, "Invalid", f"doc is missing path: {path!r}") from None
    last = parts[-1]
    return doc, (len(doc) if last == "-" else int(last)) if isinstance(doc, list) else last


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise ApiError(
            400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        if kind not in ("add", "remove", "replace", "move", "copy", "test"):
            raise ApiError(400, "BadRequest", f"Unexpected kind: {kind}")
        parent, key = _pointer(doc, path)
        has = (0 <= key < len(parent)) if isinstance(parent, list) else key in parent
        if kind == "test":
            if not has or parent[key] != op.get("value"):
                raise ApiError(
                    422,
                    "Invalid",
                    f"the server rejected our request due to an error in our request: "
                    f"testing value {path} failed",
                )
        elif kind in ("remove", "replace") and not has:
            raise ApiError(
                422,
                "Invalid",
                f"jsonpatch {kind} operation does not apply: doc is missing key: {path}",
            )
        elif kind == "remove":
            del parent[key]
        elif kind in ("add", "replace"):
            if isinstance(parent, list) and kind == "add":
                parent.insert(key, copy.deepcopy(op["value"]))
            else:
                parent[key] = copy.deepcopy(op["value"])
        else:  # move / copy
            src_parent, src_key = _pointer(doc, op.get("from", ""))
            value = copy.deepcopy(src_parent[src_key])
            if kind == "move":
                del src_parent[src_key]
            parent, key = _pointer(doc, path)
            parent[key] = value
    return doc


_MICRO_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})(Z|[+-]\d\d:\d\d)$")


def micro_times(res: str, obj: dict[str, Any]) -> None:
    """A Lease's MicroTime fields as kube-apiserver reads them: exactly six fractional digits (else
    400, whatever RFC 3339 allows), stored in UTC with ``Z``."""
    if res != "leases":
        return
    spec = obj.get("spec") or {}
    for field in ("acquireTime", "renewTime"):
        value = spec.get(field)
        if value is None:
            continue
        m = _MICRO_TIME.match(str(value))
        if not m:
            raise ApiError(
                400,
                "BadRequest",
                f'Lease in version "v1" cannot be handled as a Lease: parsing time "{value}" as '
                '"2006-01-02T15:04:05.000000Z07:00": cannot parse it',
            )
        when = datetime.fromisoformat(m[1] + ("+00:00" if m[2] == "Z" else m[2]))
        spec[field] = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------------------------------


class FakeKube:
    """The store, the pseudo-controllers and the HTTP server. Use as a context manager.

    ``role``: the RBAC Role enforced on every request (default: the Role in docs/kubernetes-rbac.yaml,
    bound in whichever namespace a request names, as if applied there); ``None`` grants everything
    (a test that needs a broader role says so).
    """

    def __init__(
        self,
        token: str | None = None,
        user: str = "system:serviceaccount:ci:bluegreen",
        role: Path | dict[str, Any] | None = RBAC_DOC,
    ) -> None:
        self.lock = threading.RLock()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.token, self.user = token, user
        self.rules: list[dict[str, Any]] | None = None
        self.use_role(role)
        self.deny: set[tuple[str, str]] = set()  # (verb, resource): answered 403
        self.hang: set[tuple[str, str]] = set()  # (method, resource): held until stop()
        self.status_override: dict[str, dict[str, Any]] = {}  # Deployment name -> status fields
        self.new_pods_ready = True
        self.pod_start_seconds = 0.0  # > 0: new pods are Pending (no IP), then Running, then Ready
        self.termination_seconds = 0.0  # > 0: pods scaled away stay Terminating this long
        self.slice_conditions = "full"  # "full", "ready" (ready only), "none" (conditions omitted)
        self.controller_interval = 0.01  # seconds between two passes of the controllers
        self.controller_paused = False  # True: Deployment status is no longer written (lag)
        self.requests: list[tuple[str, str, str | None]] = []
        self.status_writes: list[tuple[str, str, dict[str, Any]]] = []  # (name, rv, status)
        self._hooks: list[list[Any]] = []
        self._frozen: list[dict[str, Any]] | None = None
        self._rv = 1000
        self._uid = 0
        self._release = threading.Event()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()  # open client connections, closed by stop()
        self._timers: dict[str, list[tuple[float, str]]] = {}  # pod name -> [(when, what)]
        # custom resources: installed CRDs, and the route controllers (the gateway, istiod)
        self.crds: set[str] = set(CUSTOM)
        self.gateway_paused = False  # True: the gateway's controller writes no route status (lag)
        self.route_rejects: dict[str, tuple[str, str, str]] = {}  # route -> (type, reason, message)
        self.istio_status = False  # istiod's status reporting (PILOT_ENABLE_STATUS), off by default
        self.istio_rejects: dict[str, tuple[str, str]] = {}  # VirtualService -> (reason, message)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeKube:
        fake = self

        class Handler(_Handler):
            kube = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        threading.Thread(target=self._controllers, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Stop answering: no new connection is accepted and kept-alive ones are cut, as when the
        API server goes away."""
        self._release.set()
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FakeKube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def on(
        self, method: str, resource: str, fn: Callable[[FakeKube], None], times: int = 1
    ) -> None:
        """Run ``fn(self)`` before the next ``times`` requests of ``method`` on ``resource``."""
        self._hooks.append([method, resource, fn, times])

    def count(self, method: str, resource: str | None = None) -> int:
        return sum(
            1
            for m, p, _ in self.requests
            if m == method and (resource is None or f"/{resource}" in p)
        )

    # -- RBAC ------------------------------------------------------------------------------------

    def use_role(self, role: Path | dict[str, Any] | None) -> None:
        """Enforce ``role`` (a Role object, or a YAML file holding one); ``None`` allows everything."""
        if role is None:
            self.rules = None
            return
        if isinstance(role, Path):
            import yaml

            docs = [d for d in yaml.safe_load_all(role.read_text()) if d]
            role = next(d for d in docs if d.get("kind") == "Role")
        self.rules = list(role.get("rules") or [])

    def allowed(self, verb: str, resource: str, name: str | None) -> bool:
        """What kube-apiserver's RBAC authorizer answers for the Role. A rule with resourceNames
        never matches a request without a name (list, create), as in Kubernetes."""
        if self.rules is None:
            return True
        group = GROUPS[resource.split("/")[0]]
        for rule in self.rules:
            names = rule.get("resourceNames") or []
            if (
                (group in rule.get("apiGroups", []) or "*" in rule.get("apiGroups", []))
                and (resource in rule.get("resources", []) or "*" in rule.get("resources", []))
                and (verb in rule.get("verbs", []) or "*" in rule.get("verbs", []))
                and (not names or (name is not None and name in names))
            ):
                return True
        return False

    # -- building the world --------------------------------------------------------------------

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _meta(self, name: str, ns: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        self._uid += 1
        return {
            "name": name,
            "namespace": ns,
            "uid": f"00000000-0000-0000-0000-{self._uid:012d}",
            "resourceVersion": self._next_rv(),
            "creationTimestamp": "2025-01-01T00:00:00Z",
            **({"labels": dict(labels)} if labels else {}),
        }

    def add_service(
        self,
        name: str,
        selector: dict[str, str],
        ns: str = "default",
        publish_not_ready: bool = False,
    ) -> dict[str, Any]:
        with self.lock:
            obj = {
                "metadata": self._meta(name, ns),
                "spec": {
                    "selector": dict(selector),
                    "type": "ClusterIP",
                    "clusterIP": f"10.96.0.{10 + self._uid}",
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                    **({"publishNotReadyAddresses": True} if publish_not_ready else {}),
                },
                "status": {"loadBalancer": {}},
            }
            self.objects[("services", ns, name)] = obj
            return copy.deepcopy(obj)

    def add_deployment(
        self,
        name: str,
        labels: dict[str, str],
        image: str = "shop:1.0",
        replicas: int = 3,
        ready: int | None = None,
        ns: str = "default",
    ) -> None:
        with self.lock:
            meta = {**self._meta(name, ns, labels), "generation": 1}
            self.objects[("deployments", ns, name)] = {
                "metadata": meta,
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": dict(labels)},
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {"containers": [{"name": "app", "image": image}]},
                    },
                },
                "status": {},
            }
            self._reconcile(ns, name)
            pods = self._owned(ns, name)
            for pod in pods[len(pods) if ready is None else ready :]:
                self._set_ready(pod, False)
        self.settle()

    def add_pod(
        self,
        name: str,
        labels: dict[str, str],
        image: str = "shop:1.0",
        ready: bool = True,
        ns: str = "default",
        pending: bool = False,
    ) -> None:
        """A pod: Running with an IP (Ready or not), or ``pending``: no IP, no conditions yet."""
        with self.lock:
            n = self._uid + 1
            self.objects[("pods", ns, name)] = pod = {
                "metadata": self._meta(name, ns, labels),
                "spec": {"containers": [{"name": "app", "image": image}]},
                "status": {"phase": "Pending", "qosClass": "BestEffort"},
            }
            pod["_ip"] = f"10.244.{n // 250}.{n % 250 + 1}"  # given when it runs (not served)
            if not pending:
                self._run(pod, ready)

    def _run(self, pod: dict[str, Any], ready: bool) -> None:
        pod["status"] = {"phase": "Running", "podIP": pod["_ip"], "podIPs": [{"ip": pod["_ip"]}]}
        self._set_ready(pod, ready)

    def set_pod_ready(self, name: str, ready: bool, ns: str = "default") -> None:
        with self.lock:
            pod = self.objects[("pods", ns, name)]
            if pod["status"].get("phase") == "Pending":
                self._run(pod, ready)
            else:
                self._set_ready(pod, ready)
        self.settle()

    def terminate_pod(self, name: str, ns: str = "default", grace: float = 30.0) -> None:
        """``kubectl delete pod``: the pod stays, Terminating (``deletionTimestamp`` set, still Ready
        until its containers stop), for ``grace`` seconds."""
        with self.lock:
            pod = self.objects[("pods", ns, name)]
            self._mark_terminating(pod, grace)
        self.settle()

    def _mark_terminating(self, pod: dict[str, Any], grace: float) -> None:
        pod["metadata"]["deletionTimestamp"] = "2025-01-01T00:05:00Z"
        pod["metadata"]["deletionGracePeriodSeconds"] = int(grace)
        pod["metadata"]["resourceVersion"] = self._next_rv()
        self._timers.setdefault(pod["metadata"]["name"], []).append(
            (time.monotonic() + grace, "gone")
        )

    def _set_ready(self, pod: dict[str, Any], ready: bool) -> None:
        pod["status"]["conditions"] = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ]
        pod["metadata"]["resourceVersion"] = self._next_rv()

    def get(self, resource: str, name: str, ns: str = "default") -> dict[str, Any]:
        """The object as the API would return it (a copy)."""
        with self.lock:
            return self._view(resource, self.objects[(resource, ns, name)])

    def mutate(
        self, resource: str, name: str, fn: Callable[[dict[str, Any]], None], ns: str = "default"
    ) -> None:
        """Change an object as another client would (a write: resourceVersion moves)."""
        with self.lock:
            obj = self.objects[(resource, ns, name)]
            before = copy.deepcopy(obj.get("spec"))
            fn(obj)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            if resource in ("deployments", *CUSTOM) and obj.get("spec") != before:
                obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
            if resource == "deployments":
                self._reconcile(ns, name)
        self.settle()

    def owned_pods(self, deployment: str, ns: str = "default") -> list[str]:
        with self.lock:
            return [p["metadata"]["name"] for p in self._owned(ns, deployment)]

    def freeze_slices(self, frozen: bool = True) -> None:
        """Keep serving the EndpointSlices as they are now (the controller lags), or stop doing so."""
        with self.lock:
            self._frozen = self._slices("default") if frozen else None

    # -- pseudo-controllers ---------------------------------------------------------------------

    @staticmethod
    def pod_ready(pod: dict[str, Any]) -> bool:
        return any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in pod["status"].get("conditions") or []
        )

    @staticmethod
    def terminating(pod: dict[str, Any]) -> bool:
        return "deletionTimestamp" in pod["metadata"]

    def _owned(self, ns: str, dep_name: str) -> list[dict[str, Any]]:
        dep = self.objects[("deployments", ns, dep_name)]
        preds = parse_selector(
            ",".join(f"{k}={v}" for k, v in dep["spec"]["selector"]["matchLabels"].items())
        )
        return sorted(
            (
                o
                for (r, n, _), o in self.objects.items()
                if r == "pods" and n == ns and matches(preds, o["metadata"].get("labels"))
            ),
            key=lambda o: o["metadata"]["name"],
        )

    def _reconcile(self, ns: str, name: str) -> None:
        """The ReplicaSet controller: create or delete pods at once (Terminating for a while when
        ``termination_seconds`` is set); new pods start as ``pod_start_seconds`` says."""
        dep = self.objects[("deployments", ns, name)]
        pods = [p for p in self._owned(ns, name) if not self.terminating(p)]
        want = int(dep["spec"].get("replicas", 1))
        tmpl = dep["spec"]["template"]
        taken = {p["metadata"]["name"] for p in self._owned(ns, name)}
        i, started = 0, 0
        while len(pods) < want:
            pod_name = f"{name}-7d9f8-{i:02d}"
            i += 1
            if pod_name in taken:
                continue
            slow = self.pod_start_seconds > 0
            self.add_pod(
                pod_name,
                tmpl["metadata"]["labels"],
                tmpl["spec"]["containers"][0]["image"],
                self.new_pods_ready and not slow,
                ns,
                pending=slow,
            )
            pods.append(self.objects[("pods", ns, pod_name)])
            if slow:  # one after another: Running (with an IP) half-way, then Ready
                t0 = time.monotonic() + self.pod_start_seconds * started
                started += 1
                self._timers[pod_name] = [
                    (t0 + self.pod_start_seconds / 2, "run"),
                    (t0 + self.pod_start_seconds, "ready" if self.new_pods_ready else "run"),
                ]
        for pod in pods[want:]:
            if self.termination_seconds > 0:
                self._mark_terminating(pod, self.termination_seconds)
            else:
                self._delete_pod(pod)

    def _delete_pod(self, pod: dict[str, Any]) -> None:
        self.objects.pop(("pods", pod["metadata"]["namespace"], pod["metadata"]["name"]), None)
        self._timers.pop(pod["metadata"]["name"], None)
        self._rv += 1

    def _status(self, dep: dict[str, Any]) -> dict[str, Any]:
        """What the Deployment controller would write now (``omitempty``: zeros are left out)."""
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        active = [p for p in self._owned(ns, name) if not self.terminating(p)]
        image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        ready = sum(1 for p in active if self.pod_ready(p))
        status = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": len(active),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updatedReplicas": sum(
                1 for p in active if p["spec"]["containers"][0]["image"] == image
            ),
        }
        return {k: v for k, v in status.items() if v}

    def _controllers(self) -> None:
        """The kubelet (pods start, become Ready, finish terminating) and the Deployment controller
        (status written after the fact, each write moving the resourceVersion), in one loop."""
        while not self._stopping.wait(self.controller_interval):
            self.tick()

    def tick(self) -> bool:
        """One pass of the controllers; True if it wrote anything."""
        wrote = False
        with self.lock:
            now = time.monotonic()
            for pod_name, timers in list(self._timers.items()):
                while timers and timers[0][0] <= now:
                    _, what = timers.pop(0)
                    pod = next(
                        (
                            o
                            for (r, _, n), o in self.objects.items()
                            if r == "pods" and n == pod_name
                        ),
                        None,
                    )
                    if pod is None:
                        continue
                    wrote = True
                    if what == "gone":
                        self._delete_pod(pod)
                    else:
                        self._run(pod, what == "ready")
                if not timers:
                    self._timers.pop(pod_name, None)
            for (res, _, _), obj in list(self.objects.items()):
                if res in CUSTOM and res in self.crds:
                    want_status = self._wanted_status(res, obj)
                    if want_status is not None and obj.get("status") != want_status:
                        obj["status"] = want_status
                        obj["metadata"]["resourceVersion"] = self._next_rv()
                        wrote = True
            if self.controller_paused:
                return wrote
            for (res, _, _), dep in list(self.objects.items()):
                if res == "deployments" and dep.get("status") != (want := self._status(dep)):
                    dep["status"] = want
                    dep["metadata"]["resourceVersion"] = self._next_rv()
                    self.status_writes.append(
                        (dep["metadata"]["name"], dep["metadata"]["resourceVersion"], want)
                    )
                    wrote = True
        return wrote

    def settle(self, limit: float = 5.0) -> None:
        """Wait until the controllers have caught up with the last change (Deployment status
        written), unless they are paused or a pod is still starting or terminating."""
        if self._server is None or self.controller_paused:
            return
        end = time.monotonic() + limit
        while time.monotonic() < end:
            with self.lock:
                if all(
                    dep.get("status") == self._status(dep)
                    for (res, _, _), dep in self.objects.items()
                    if res == "deployments"
                ) and all(
                    (want := self._wanted_status(res, obj)) is None or obj.get("status") == want
                    for (res, _, _), obj in self.objects.items()
                    if res in CUSTOM and res in self.crds
                ):
                    return
            time.sleep(self.controller_interval / 2)

    def _view(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        out.pop("_ip", None)
        if resource == "deployments":
            status = {
                **out.get("status", {}),
                **self.status_override.get(obj["metadata"]["name"], {}),
            }
            out["status"] = {k: v for k, v in status.items() if v}  # omitempty
        return out

    def _slices(self, ns: str) -> list[dict[str, Any]]:
        """The EndpointSlice controller: per Service, slices of at most MAX_ENDPOINTS_PER_SLICE
        endpoints (a Service that selects no pod gets one with ``endpoints: null``). Pods without
        an IP are left out; a Terminating pod is ``ready=false, serving=<Ready>, terminating=true``
        (``ready`` is true for every pod with an IP when the Service publishes not-ready addresses)."""
        if self._frozen is not None:
            return copy.deepcopy(self._frozen)
        out = []
        for (r, n, name), svc in sorted(self.objects.items()):
            sel = svc.get("spec", {}).get("selector") if r == "services" and n == ns else None
            if not sel:
                continue
            publish = bool(svc["spec"].get("publishNotReadyAddresses"))
            preds = parse_selector(",".join(f"{k}={v}" for k, v in sel.items()))
            pods = [
                o
                for (r2, n2, _), o in sorted(self.objects.items())
                if r2 == "pods"
                and n2 == ns
                and o["status"].get("podIP")
                and matches(preds, o["metadata"].get("labels"))
            ]
            eps = []
            for p in pods:
                serving, term = self.pod_ready(p), self.terminating(p)
                cond = {"ready": publish or (serving and not term), "serving": serving}
                cond["terminating"] = term
                if self.slice_conditions == "ready":
                    cond = {"ready": cond["ready"]}
                ep: dict[str, Any] = {
                    "addresses": [p["status"]["podIP"]],
                    "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": ns},
                }
                if self.slice_conditions != "none":
                    ep["conditions"] = cond
                eps.append(ep)
            chunks = [
                eps[i : i + MAX_ENDPOINTS_PER_SLICE]
                for i in range(0, len(eps), MAX_ENDPOINTS_PER_SLICE)
            ] or [None]
            for i, chunk in enumerate(chunks):
                out.append(
                    {
                        "metadata": {
                            "name": f"{name}-{'x7k2p' if i == 0 else f'q{i}w9z'}",
                            "namespace": ns,
                            "resourceVersion": str(self._rv),
                            "labels": {
                                "kubernetes.io/service-name": name,
                                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                            },
                        },
                        "addressType": "IPv4",
                        "endpoints": chunk,
                        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                    }
                )
        return out

    # -- request handling -----------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        url = urlsplit(path)
        self.requests.append((method, url.path, headers.get("Content-Type")))
        route = next((m for r in _ROUTES if (m := r.match(url.path))), None)
        if route is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns, res, name = route["ns"], route["res"], route.groupdict().get("name")
        sub = route.groupdict().get("sub")
        verb = {
            "GET": "get" if name else "list",
            "PUT": "update",
            "PATCH": "patch",
            "POST": "create",
        }.get(method)
        if (
            verb is None
            or (verb in ("update", "patch") and not name)
            or (verb == "create" and (name or res not in ("leases", *CUSTOM)))
            or (res == "endpointslices" and verb != "list")
            or (sub is not None and verb not in ("get", "update", "patch"))
        ):
            raise ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        if self.token is not None and headers.get("Authorization") != f"Bearer {self.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")
        for hook in list(self._hooks):
            if hook[0] == method and hook[1] == res and hook[3] > 0:
                hook[3] -= 1
                hook[2](self)
        group = GROUPS[res]
        rbac_res = f"{res}/{sub}" if sub else res
        if (verb, rbac_res) in self.deny or not self.allowed(verb, rbac_res, name):
            qualified = f"{rbac_res}.{group}" if group else rbac_res
            who = f'{qualified} "{name}"' if name else qualified
            raise ApiError(
                403,
                "Forbidden",
                f'{who} is forbidden: User "{self.user}" cannot {verb} resource '
                f'"{rbac_res}" in API group "{group}" in the namespace "{ns}"',
                {"name": name, "group": group, "kind": res},
            )
        if res in CUSTOM and res not in self.crds:  # no such CRD: the path itself is unknown
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if (method, res) in self.hang:
            self._release.wait(HANG_LIMIT)
            raise ApiError(504, "Timeout", "the request was held by the test and released")
        with self.lock:
            if verb == "list":
                preds = parse_selector(parse_qs(url.query).get("labelSelector", [""])[0])
                items = (
                    self._slices(ns)
                    if res == "endpointslices"
                    else [
                        self._view(res, o)
                        for (r, n, _), o in sorted(self.objects.items())
                        if r == res and n == ns
                    ]
                )
                return 200, {
                    "kind": f"{KINDS[res]}List",
                    "apiVersion": API_VERSIONS[res],
                    "metadata": {"resourceVersion": str(self._rv)},
                    "items": [i for i in items if matches(preds, i["metadata"].get("labels"))],
                }
            if verb == "create":
                return 201, self._finish(res, self._create(res, ns, body))
            key = (res, ns, name)
            if key not in self.objects:
                raise ApiError(
                    404,
                    "NotFound",
                    f'{res}{"." + group if group else ""} "{name}" not found',
                    {"name": name, "group": group, "kind": res},
                )
            if verb == "get":
                return 200, self._finish(res, self._view(res, self.objects[key]))
            return 200, self._finish(
                res, self._write(res, key, method, headers.get("Content-Type", ""), body, sub)
            )

    def _create(self, res: str, ns: str, raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"error decoding body: {exc}") from None
        name = (body or {}).get("metadata", {}).get("name") if isinstance(body, dict) else None
        if not name:
            raise ApiError(
                422, "Invalid", f"{KINDS[res]} is invalid: metadata.name: Required value"
            )
        if (res, ns, name) in self.objects:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{res}.{GROUPS[res]} "{name}" already exists',
                {"name": name, "group": GROUPS[res], "kind": res},
            )
        if (body.get("metadata") or {}).get("resourceVersion"):
            raise ApiError(
                400, "BadRequest", "resourceVersion should not be set on objects to be created"
            )
        obj = copy.deepcopy(body)
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
        obj["metadata"] = {**obj.get("metadata", {}), **self._meta(name, ns)}
        micro_times(res, obj)
        self.objects[(res, ns, name)] = obj
        return self._view(res, obj)

    def _finish(self, res: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {"kind": KINDS[res], "apiVersion": API_VERSIONS[res], **obj}

    def _write(
        self,
        res: str,
        key: tuple[str, str, str],
        method: str,
        ctype: str,
        raw: bytes,
        sub: str | None = None,
    ) -> dict[str, Any]:
        old = self.objects[key]
        current = self._view(res, old)
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"error decoding patch: {exc}") from None
        ctype = ctype.split(";")[0].strip()
        if method == "PUT":
            if not isinstance(body, dict) or body.get("metadata", {}).get("name") != key[2]:
                raise ApiError(
                    400, "BadRequest", "the name of the object does not match the name on the URL"
                )
            new = copy.deepcopy(body)
            new.setdefault("metadata", {}).setdefault(
                "resourceVersion", current["metadata"]["resourceVersion"]
            )
        elif ctype == "application/json-patch+json":
            new = json_patch(current, body)
        elif ctype == "application/strategic-merge-patch+json" and res in CUSTOM:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: "
                "application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml",
            )
        elif ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "a merge patch must be a JSON object")
            new = merge_patch(current, body, strategic=ctype.startswith("application/strategic"))
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - "
                "accepted media types include: application/json-patch+json, "
                "application/merge-patch+json, application/strategic-merge-patch+json",
            )
        if str(new["metadata"].get("resourceVersion")) != old["metadata"]["resourceVersion"]:
            qualified = f"{res}.{GROUPS[res]}" if GROUPS[res] else res
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {qualified} "{key[2]}": the object has '
                "been modified; please apply your changes to the latest version and try again",
                {"name": key[2], "group": GROUPS[res], "kind": res},
            )
        for field in ("name", "namespace", "uid", "creationTimestamp", "generation"):
            if field in old["metadata"]:
                new["metadata"][field] = old["metadata"][field]
        new.pop("kind", None)
        new.pop("apiVersion", None)
        micro_times(res, new)
        if res in CUSTOM:
            return self._write_custom(res, key, old, current, new, sub)
        if res == "deployments":
            # status is the controller's (the /status subresource): writes through the object
            # leave it as it was
            new["status"] = copy.deepcopy(old.get("status", {}))
            replicas = new.get("spec", {}).get("replicas", 1)
            if not isinstance(replicas, int) or replicas < 0:
                raise ApiError(
                    422,
                    "Invalid",
                    f'Deployment.apps "{key[2]}" is invalid: spec.replicas: Invalid '
                    f"value: {replicas!r}: must be greater than or equal to 0",
                )
        if res == "services":
            bad = [
                k
                for k, v in (new.get("spec", {}).get("selector") or {}).items()
                if not isinstance(v, str)
            ]
            if bad:
                raise ApiError(
                    422,
                    "Invalid",
                    f'Service "{key[2]}" is invalid: spec.selector[{bad[0]}]: Invalid value',
                )
        comparable = {k: v for k, v in current.items() if k != "status" or res != "deployments"}
        if {k: v for k, v in new.items() if k != "status" or res != "deployments"} == comparable:
            return current  # a no-op write changes nothing, not even the resourceVersion
        if res == "deployments":
            new["status"] = copy.deepcopy(old.get("status", {}))
            if new.get("spec") != old.get("spec"):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = self._next_rv()
        self.objects[key] = new
        if res == "deployments":
            self._reconcile(key[1], key[2])
        return self._view(res, new)

    def _write_custom(
        self,
        res: str,
        key: tuple[str, str, str],
        old: dict[str, Any],
        current: dict[str, Any],
        new: dict[str, Any],
        sub: str | None,
    ) -> dict[str, Any]:
        """A CRD with the status subresource: a write through the object keeps the old status, a
        write through ``/status`` changes only the status; ``generation`` moves when anything but
        metadata and status changes; an unchanged object is not written."""
        if sub == "status":
            new = {**copy.deepcopy(current), "status": copy.deepcopy(new.get("status") or {})}
            new["metadata"] = copy.deepcopy(old["metadata"])
        else:
            new["status"] = copy.deepcopy(old.get("status") or {})
            if not new["status"]:
                new.pop("status")
        if res == "httproutes":
            for rule in (new.get("spec") or {}).get("rules") or []:
                for ref in rule.get("backendRefs") or []:
                    w = ref.get("weight", 1)
                    if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 1000000:
                        raise ApiError(
                            422,
                            "Invalid",
                            f'HTTPRoute.gateway.networking.k8s.io "{key[2]}" is invalid: '
                            f"spec.rules[0].backendRefs[0].weight: Invalid value: {w!r}: "
                            "spec.rules[0].backendRefs[0].weight in body should be less than or "
                            "equal to 1000000",
                        )
        if new == current:
            return current
        spec_of = {k: v for k, v in current.items() if k not in ("metadata", "status")}
        if {k: v for k, v in new.items() if k not in ("metadata", "status")} != spec_of:
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = self._next_rv()
        self.objects[key] = new
        return self._view(res, new)

    # -- custom resources: building them, and their controllers ---------------------------------

    def add_custom(
        self, res: str, name: str, spec: dict[str, Any], ns: str = "default"
    ) -> dict[str, Any]:
        """An HTTPRoute or a VirtualService (generation 1, no status until its controller writes)."""
        with self.lock:
            obj = {
                "metadata": {**self._meta(name, ns), "generation": 1},
                "spec": copy.deepcopy(spec),
            }
            self.objects[(res, ns, name)] = obj
        self.settle()
        return self.get(res, name, ns)

    def route_status(self, route: dict[str, Any]) -> dict[str, Any]:
        """What the gateway's controller writes for an HTTPRoute: per parentRef, Accepted (False
        as ``route_rejects`` says) and ResolvedRefs (False when a backendRef names no Service),
        each with the generation it describes."""
        meta, spec = route["metadata"], route.get("spec") or {}
        gen, ns = meta.get("generation", 1), meta["namespace"]
        missing = [
            ref.get("name")
            for rule in spec.get("rules") or []
            for ref in rule.get("backendRefs") or []
            if (ref.get("kind") or "Service") == "Service"
            and ("services", ref.get("namespace") or ns, ref.get("name")) not in self.objects
        ]
        reject = self.route_rejects.get(meta["name"])

        def cond(kind: str, ok: bool, reason: str, message: str) -> dict[str, Any]:
            return {
                "type": kind,
                "status": "True" if ok else "False",
                "reason": reason,
                "message": message,
                "observedGeneration": gen,
                "lastTransitionTime": TRANSITION,
            }

        parents = []
        for ref in spec.get("parentRefs") or []:
            accepted = reject is None or reject[0] != "Accepted"
            conditions = [
                cond(
                    "Accepted",
                    accepted,
                    "Accepted" if accepted else (reject or ("", "", ""))[1],
                    "Route is accepted" if accepted else (reject or ("", "", ""))[2],
                ),
                cond(
                    "ResolvedRefs",
                    not missing,
                    "ResolvedRefs" if not missing else "BackendNotFound",
                    "Resolved all the Object references for the Route"
                    if not missing
                    else f'Service "{missing[0]}" not found',
                ),
            ]
            parents.append(
                {
                    "parentRef": {k: v for k, v in ref.items()},
                    "controllerName": GATEWAY_CONTROLLER,
                    "conditions": conditions,
                }
            )
        return {"parents": parents}

    def vs_status(self, vs: dict[str, Any]) -> dict[str, Any]:
        """What istiod writes with status reporting on: observedGeneration (an int64: a string in
        its JSON) and a Reconciled condition (False as ``istio_rejects`` says)."""
        reject = self.istio_rejects.get(vs["metadata"]["name"])
        cond: dict[str, Any] = {
            "type": "Reconciled",
            "status": "True" if reject is None else "False",
        }
        if reject is not None:
            cond.update(reason=reject[0], message=reject[1])
        return {
            "observedGeneration": str(vs["metadata"].get("generation", 1)),
            "conditions": [cond],
        }

    def _wanted_status(self, res: str, obj: dict[str, Any]) -> dict[str, Any] | None:
        if res == "httproutes" and not self.gateway_paused:
            return self.route_status(obj)
        if res == "virtualservices" and self.istio_status:
            return self.vs_status(obj)
        return None

    def set_status(self, res: str, name: str, status: dict[str, Any], ns: str = "default") -> None:
        """Write a custom object's status as its controller would (the resourceVersion moves)."""
        with self.lock:
            obj = self.objects[(res, ns, name)]
            obj["status"] = copy.deepcopy(status)
            obj["metadata"]["resourceVersion"] = self._next_rv()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    kube: FakeKube

    def setup(self) -> None:
        super().setup()
        with self.kube.lock:
            self.kube._connections.add(self.connection)

    def finish(self) -> None:
        with self.kube.lock:
            self.kube._connections.discard(self.connection)
        super().finish()

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            code, payload = self.kube.handle(self.command, self.path, self.headers, body)
        except ApiError as err:
            code, payload = err.code, err.body()
        except Exception as exc:  # a bug in the fake: answer like the API server would, visibly
            code, payload = (
                500,
                ApiError(
                    500, "InternalError", f"fake API server: {type(exc).__name__}: {exc}"
                ).body(),
            )
        data = json.dumps(payload).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (a timeout test): nothing to answer
            self.close_connection = True

    do_GET = do_PUT = do_PATCH = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
        pass
