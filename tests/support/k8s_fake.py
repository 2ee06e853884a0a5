"""A small, real HTTP Kubernetes API server for tests: the official client talks to it unmodified.

It keeps the API semantics the Kubernetes router relies on (checked against the API documentation and
kube-apiserver's handlers), for the few resources it uses:

* core/v1 Services: GET, LIST, PUT (409 on a stale ``metadata.resourceVersion``), PATCH as
  ``merge-patch+json``, ``strategic-merge-patch+json`` (maps merged, ``null`` deletes, ``ports`` and
  ``containers`` merged by key) and ``json-patch+json`` (add / remove / replace / move / copy /
  test). A ``metadata.resourceVersion`` carried by a patch is a precondition: 409 when stale. A
  failed JSON-patch ``test`` is 422 Unprocessable Entity, as kube-apiserver answers (not 409).
* core/v1 Pods: GET, LIST with ``labelSelector``.
* apps/v1 Deployments: GET, LIST, PUT, PATCH (same rules); ``status`` is derived from the pods like
  the Deployment controller would (``status_override`` forces fields), ``spec.replicas`` changes
  create or delete pods at once, and spec changes bump ``metadata.generation``.
* discovery.k8s.io/v1 EndpointSlices: LIST with ``labelSelector``, computed from the Services'
  selectors and the pods (one slice per Service, label ``kubernetes.io/service-name``), like the
  EndpointSlice controller; ``freeze_slices()`` keeps serving a snapshot to mimic its lag.
* ``resourceVersion`` is one counter that grows on every write (a no-op patch writes nothing).
* Errors are ``Status`` objects with the API server's wording: 401 (bearer token, when ``token`` is
  set), 403 for (verb, resource) pairs in ``deny``, 404, 409, 400, 415, 422.

Test hooks: ``on(method, resource, fn)`` runs ``fn(fake)`` before a matching request is handled (to
change an object between a client's read and its write); ``hang`` holds matching requests without an
answer until ``stop()`` (bounded); ``requests`` logs (method, path, content type).
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

GROUPS = {"services": "", "pods": "", "deployments": "apps", "endpointslices": "discovery.k8s.io"}
KINDS = {
    "services": "Service",
    "pods": "Pod",
    "deployments": "Deployment",
    "endpointslices": "EndpointSlice",
}
API_VERSIONS = {
    "services": "v1",
    "pods": "v1",
    "deployments": "apps/v1",
    "endpointslices": "discovery.k8s.io/v1",
}
SMP_MERGE_KEYS = {"ports": "port", "containers": "name", "env": "name", "volumes": "name"}
_ROUTES = [
    re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<res>services|pods)(?:/(?P<name>[^/]+))?$"),
    re.compile(
        r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/(?P<res>deployments)(?:/(?P<name>[^/]+))?$"
    ),
    re.compile(r"^/apis/discovery\.k8s\.io/v1/namespaces/(?P<ns>[^/]+)/(?P<res>endpointslices)$"),
]
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


# --------------------------------------------------------------------------------------------------


class FakeKube:
    """The store, the pseudo-controllers and the HTTP server. Use as a context manager."""

    def __init__(
        self, token: str | None = None, user: str = "system:serviceaccount:ci:bluegreen"
    ) -> None:
        self.lock = threading.RLock()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.token, self.user = token, user
        self.deny: set[tuple[str, str]] = set()  # (verb, resource): answered 403
        self.hang: set[tuple[str, str]] = set()  # (method, resource): held until stop()
        self.status_override: dict[str, dict[str, Any]] = {}  # Deployment name -> status fields
        self.new_pods_ready = True
        self.requests: list[tuple[str, str, str | None]] = []
        self._hooks: list[list[Any]] = []
        self._frozen: list[dict[str, Any]] | None = None
        self._rv = 1000
        self._uid = 0
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()  # open client connections, closed by stop()

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
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Stop answering: no new connection is accepted and kept-alive ones are cut, as when the
        API server goes away."""
        self._release.set()
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
        self, name: str, selector: dict[str, str], ns: str = "default"
    ) -> dict[str, Any]:
        with self.lock:
            obj = {
                "metadata": self._meta(name, ns),
                "spec": {
                    "selector": dict(selector),
                    "type": "ClusterIP",
                    "clusterIP": f"10.96.0.{10 + self._uid}",
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                },
                "status": {},
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
            }
            self._reconcile(ns, name)
            pods = self._owned(ns, name)
            for pod in pods[len(pods) if ready is None else ready :]:
                self._set_ready(pod, False)

    def add_pod(
        self,
        name: str,
        labels: dict[str, str],
        image: str = "shop:1.0",
        ready: bool = True,
        ns: str = "default",
    ) -> None:
        with self.lock:
            n = self._uid + 1
            self.objects[("pods", ns, name)] = {
                "metadata": self._meta(name, ns, labels),
                "spec": {"containers": [{"name": "app", "image": image}]},
                "status": {
                    "phase": "Running",
                    "podIP": f"10.244.{n // 250}.{n % 250 + 1}",
                    "conditions": [],
                },
            }
            self._set_ready(self.objects[("pods", ns, name)], ready)

    def set_pod_ready(self, name: str, ready: bool, ns: str = "default") -> None:
        with self.lock:
            self._set_ready(self.objects[("pods", ns, name)], ready)

    def _set_ready(self, pod: dict[str, Any], ready: bool) -> None:
        pod["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
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
            fn(obj)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            if resource == "deployments":
                self._reconcile(ns, name)

    def owned_pods(self, deployment: str, ns: str = "default") -> list[str]:
        with self.lock:
            return [p["metadata"]["name"] for p in self._owned(ns, deployment)]

    def freeze_slices(self, frozen: bool = True) -> None:
        """Keep serving the EndpointSlices as they are now (the controller lags), or stop doing so."""
        with self.lock:
            self._frozen = self._slices("default") if frozen else None

    # -- pseudo-controllers ---------------------------------------------------------------------

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
        dep = self.objects[("deployments", ns, name)]
        pods, want = self._owned(ns, name), int(dep["spec"].get("replicas", 1))
        tmpl = dep["spec"]["template"]
        for i in range(len(pods), want):
            self.add_pod(
                f"{name}-7d9f8-{i:02d}",
                tmpl["metadata"]["labels"],
                tmpl["spec"]["containers"][0]["image"],
                self.new_pods_ready,
                ns,
            )
        for pod in pods[want:]:
            del self.objects[("pods", ns, pod["metadata"]["name"])]

    def _view(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        if resource == "deployments":
            ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
            pods = self._owned(ns, name)
            image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
            ready = sum(1 for p in pods if p["status"]["conditions"][0]["status"] == "True")
            status = {
                "observedGeneration": obj["metadata"]["generation"],
                "replicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "updatedReplicas": sum(
                    1 for p in pods if p["spec"]["containers"][0]["image"] == image
                ),
            }
            status.update(self.status_override.get(name, {}))
            out["status"] = {
                k: v for k, v in status.items() if v
            }  # omitempty, as the API server does
        return out

    def _slices(self, ns: str) -> list[dict[str, Any]]:
        if self._frozen is not None:
            return copy.deepcopy(self._frozen)
        out = []
        for (r, n, name), svc in sorted(self.objects.items()):
            sel = svc.get("spec", {}).get("selector") if r == "services" and n == ns else None
            if not sel:
                continue
            preds = parse_selector(",".join(f"{k}={v}" for k, v in sel.items()))
            pods = [
                o
                for (r2, n2, _), o in sorted(self.objects.items())
                if r2 == "pods" and n2 == ns and matches(preds, o["metadata"].get("labels"))
            ]
            eps = [
                {
                    "addresses": [p["status"]["podIP"]],
                    "conditions": {
                        "ready": (ok := p["status"]["conditions"][0]["status"] == "True"),
                        "serving": ok,
                        "terminating": False,
                    },
                    "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": ns},
                }
                for p in pods
            ]
            out.append(
                {
                    "metadata": {
                        "name": f"{name}-x7k2p",
                        "namespace": ns,
                        "resourceVersion": str(self._rv),
                        "labels": {
                            "kubernetes.io/service-name": name,
                            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                        },
                    },
                    "addressType": "IPv4",
                    "endpoints": eps,
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
        verb = {"GET": "get" if name else "list", "PUT": "update", "PATCH": "patch"}.get(method)
        if (
            verb is None
            or (verb in ("update", "patch") and not name)
            or (res == "endpointslices" and verb != "list")
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
        if (verb, res) in self.deny:
            who = f'{res} "{name}"' if name else res
            raise ApiError(
                403,
                "Forbidden",
                f'{who} is forbidden: User "{self.user}" cannot {verb} resource '
                f'"{res}" in API group "{group}" in the namespace "{ns}"',
                {"name": name, "group": group, "kind": res},
            )
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
                res, self._write(res, key, method, headers.get("Content-Type", ""), body)
            )

    def _finish(self, res: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {"kind": KINDS[res], "apiVersion": API_VERSIONS[res], **obj}

    def _write(
        self, res: str, key: tuple[str, str, str], method: str, ctype: str, raw: bytes
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
        if res == "deployments":
            new[
                "status"
            ] = {}  # status is the controller's; writes to it through the object are ignored
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
            new["status"] = {}
            if new.get("spec") != old.get("spec"):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = self._next_rv()
        self.objects[key] = new
        if res == "deployments":
            self._reconcile(key[1], key[2])
        return self._view(res, new)


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

    do_GET = do_PUT = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
        pass
