"""What the weighted-route routers share (``gateway-api``: an HTTPRoute; ``istio``: a VirtualService):
one custom object whose rules send each colour's share of new requests to that colour's Service, read
and written through the ``kubernetes`` client's CustomObjectsApi.

Shared with the Kubernetes router: the connection, deadlines and error translation
(:class:`~backends.kubernetes.api.ClusterApi`), the readiness gate
(:func:`~backends.kubernetes.readiness.deployment_unready`, EndpointSlices through
:func:`~backends.kubernetes.readiness.endpoint_ready`), pods as servers, and the action Lease.

The verbs, for both kinds (each router's docstring says what is its own):

* **weights**: the managed rules' two backend references get the percentages (0..100, adding up to
  100); a colour's share is its weight over the sum of both.
* **switch** ``to``: weights ``to`` 100, the other 0.
* **drain** ``colour``: its weight 0 (the other 100) and the annotation
  ``bluegreen-console/drained-<colour>`` on the route, in one write; the gateway sends it no new
  request, in-flight ones finish. Refused for the live colour.
* **ready** ``colour``: removes that annotation; weights stay as they are (a switch or a weight shift
  sends it traffic again).

Every write is a ``replace`` (PUT) of the object as read, carrying its ``metadata.resourceVersion``:
the API server refuses it (409) if anything changed since. The router then re-reads; if the weights,
the references or the drain annotations changed, it raises Conflict naming the change (nothing was
written); if only the status moved (the gateway's controller writes it), it tries again with the new
object, up to 5 writes in all. After a write that changed the route's spec (its ``generation``) it
waits, up to ``status_wait`` seconds within the call's budget, for the controller's status to describe
the new generation, and reports done only if it accepted it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar

from pydantic import StrictBool, field_validator, model_validator

from backends.base import (
    COLOURS,
    ActionRefused,
    BackendContext,
    Colour,
    ColourState,
    ConfigError,
    Conflict,
    Router,
    RouterState,
    Unreachable,
    VerifyFailed,
    percent_split,
)
from backends.kubernetes.api import PATCH_ATTEMPTS, SERVICE_NAME_LABEL, ClusterApi
from backends.kubernetes.lease import LeaseLock
from backends.kubernetes.objects import (
    changes,
    desired_replicas,
    image_of,
    pod_server,
    version_of,
)
from backends.kubernetes.options import _NAME, _NAMESPACE, _URL, NAME_FORM
from backends.kubernetes.readiness import deployment_unready, endpoint_ready
from backends.options import (
    BackendOptions,
    ColourMap,
    colour_table,
    number,
    option,
    parse_options,
    problem,
    text,
)

ANN_DRAINED_PREFIX = "bluegreen-console/drained-"  # + colour, on the route: when it was drained
_SERVICES = 'a table of both colours, e.g. { blue = "shop-blue", green = "shop-green" }'
_DEPLOYMENTS = 'a table of both colours, e.g. { blue = "shop-blue", green = "shop-green" }'


def drained_key(colour: Colour) -> str:
    return f"{ANN_DRAINED_PREFIX}{colour.value}"


def _name() -> Any:
    return text(NAME_FORM, _NAME, strip=False, optional=True)


class RouteOptions(BackendOptions):
    """The validated ``[service.router]`` table of ``kind = "gateway-api"`` and ``kind = "istio"``."""

    route: Annotated[str, _name()] = option(expected=NAME_FORM + ": the route object's name")
    services: Annotated[
        ColourMap, colour_table(_NAME, NAME_FORM, expected=_SERVICES, different="Services")
    ] = option(expected=_SERVICES)
    deployments: Annotated[
        ColourMap,
        colour_table(_NAME, NAME_FORM, expected=_DEPLOYMENTS, different="Deployments"),
    ] = option(expected=_DEPLOYMENTS)
    namespace: Annotated[str, text("a namespace name", _NAMESPACE, strip=False)] = option(
        "default", expected="a namespace name"
    )
    status_wait: Annotated[float, number("seconds, a number in (0, 60]", at_most=60)] = option(
        5.0, expected="seconds, a number in (0, 60]"
    )
    timeout: Annotated[float, number("seconds, a number in (0, 300]", at_most=300)] = option(
        expected="seconds, a number in (0, 300]"
    )
    context: Annotated[
        str | None, text("the name of a kubeconfig context", strip=False, optional=True)
    ] = option(None, expected="the name of a kubeconfig context")
    kubeconfig: Annotated[
        str | None, text("the path of a kubeconfig file", strip=False, optional=True)
    ] = option(None, expected="the path of a kubeconfig file")
    in_cluster: StrictBool = option(False, expected="true or false")
    host: Annotated[
        str | None, text("a URL such as 'https://10.0.0.1:6443'", _URL, strip=False, optional=True)
    ] = option(None, expected="a URL such as 'https://10.0.0.1:6443'")
    token: Annotated[str | None, text("a bearer token", strip=False, optional=True)] = option(
        None, expected="a bearer token", secret=True
    )

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig_exists(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isfile(os.path.expanduser(value)):
            raise problem("the path of a kubeconfig file", found=f"{value!r} (no such file)")
        return value

    @model_validator(mode="after")
    def _one_way_to_the_cluster(self) -> RouteOptions:
        if self.token and not self.host:
            raise problem(
                "`host` set as well (a kubeconfig carries its own credentials)",
                found="a token without `host`",
                key="token",
            )
        sources = [
            k
            for k, on in (
                ("in_cluster", self.in_cluster),
                ("host", self.host),
                ("kubeconfig/context", self.kubeconfig or self.context),
            )
            if on
        ]
        if len(sources) > 1:
            raise problem(
                "one way to reach the cluster (they exclude each other)",
                found=" and ".join(sources),
                key=sources[0].split("/")[0],
            )
        return self


class RouteProblem(Exception):
    """The route does not have the shape this router manages (the message says how and what to do)."""


@dataclass(frozen=True)
class Split:
    """The managed rules of a route: per rule (its label), each colour's raw weight."""

    rules: tuple[tuple[str, Mapping[Colour, int]], ...]

    def percents(self) -> dict[Colour, int] | None:
        """Each colour's share of the first rule in percent (None when both weights are 0)."""
        raw = self.rules[0][1]
        total = raw[Colour.BLUE] + raw[Colour.GREEN]
        if total <= 0:
            return None
        blue = round(raw[Colour.BLUE] * 100 / total)
        return {Colour.BLUE: blue, Colour.GREEN: 100 - blue}

    def disagreement(self) -> str | None:
        shares = {label: dict(raw) for label, raw in self.rules}
        norm = {
            label: round(raw[Colour.BLUE] * 100 / max(1, raw[Colour.BLUE] + raw[Colour.GREEN]))
            for label, raw in shares.items()
        }
        if len(set(norm.values())) <= 1:
            return None
        return "the managed rules split differently: " + "; ".join(
            f"{label} blue {raw[Colour.BLUE]} / green {raw[Colour.GREEN]}"
            for label, raw in shares.items()
        )


@dataclass(frozen=True)
class Verdict:
    """What the route's controller says about the route's current generation.

    ``state``: "ok" (accepted), "rejected" (a condition is False), "pending" (its status describes an
    older generation), "none" (no status at all). ``text``: the conditions for a person.
    """

    state: str
    text: str
    observed: int | None = None


@dataclass(frozen=True)
class RouteRead:
    route: dict[str, Any]
    deployments: Mapping[Colour, Any]
    pods: Mapping[Colour, list[Any]]
    slices: list[Any]


def _no_such_type(exc: BaseException) -> bool:
    """A 404 about the resource type (no such CRD), not about one object of it."""
    if getattr(exc, "status", None) != 404:
        return False
    try:
        body = json.loads(getattr(exc, "body", None) or "{}")
    except ValueError:
        return True
    details = body.get("details") if isinstance(body, dict) else None
    return not (isinstance(details, dict) and details.get("name"))


def generation_of(route: Mapping[str, Any]) -> int:
    return int((route.get("metadata") or {}).get("generation") or 0)


def as_int(value: Any) -> int | None:
    """An int64 as the API serialises it: a number, or a string (protobuf JSON, as istiod writes)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


class RouteRouter(Router):
    """Base of the routers whose routing is a weighted route object (see the module docstring)."""

    SUPPORTS_WEIGHTS: ClassVar[bool] = True
    #: the custom resource (CustomObjectsApi's group, version, plural) and its kind
    GROUP: ClassVar[str] = ""
    VERSION: ClassVar[str] = ""
    PLURAL: ClassVar[str] = ""
    ROUTE_KIND: ClassVar[str] = ""
    #: what a 404 on the resource type means, for the operator
    CRDS_MISSING: ClassVar[str] = ""
    #: the page with the router's minimal Role
    RBAC_DOC: ClassVar[str] = ""
    #: a route with no status at all is not done (the Gateway API: no gateway reported on it)
    STATUS_REQUIRED: ClassVar[bool] = True
    #: names the route's own writer in messages ("the gateway", "istiod")
    CONTROLLER: ClassVar[str] = "the controller"

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        super().__init__(options, context)
        self.o: RouteOptions = parse_options(
            RouteOptions,
            self.options,
            context,
            role="router",
            kind=self.kind,
            defaults={"timeout": context.timeout},
        )
        if self.o.status_wait >= self.o.timeout:
            raise ConfigError(
                f'service {context.service!r}, router kind "{self.kind}": option `status_wait`: '
                f"found {self.o.status_wait:g}; expected less than `timeout` ({self.o.timeout:g} s), "
                "which bounds the whole action."
            )
        from kubernetes import client, config

        self.api = ClusterApi(self.o, client, config)
        self.api.rbac_hint = f"grant the Role in {self.RBAC_DOC}"
        self.lease = LeaseLock(self.api, self.o.route, self._wall)

    # -- kind-specific ---------------------------------------------------------------------------

    def split(self, route: Mapping[str, Any]) -> Split:
        """The managed rules' raw weights; RouteProblem when the route is not of the managed shape."""
        raise NotImplementedError

    def write_weights(self, route: dict[str, Any], weights: Mapping[Colour, int]) -> None:
        """Set the managed rules' weights in ``route`` (a copy of the object read), in place."""
        raise NotImplementedError

    def verdict(self, route: Mapping[str, Any]) -> Verdict:
        """The controller's status of the route's current generation."""
        raise NotImplementedError

    # -- plumbing --------------------------------------------------------------------------------

    def _wall(self) -> float:
        clock = self.context.clock
        return clock() if callable(clock) else time.time()

    def _now(self) -> str:
        return datetime.fromtimestamp(self._wall(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    @contextlib.contextmanager
    def _holding(self, holder: str) -> Iterator[None]:
        lease = self.lease.acquire(holder)
        try:
            yield
        finally:
            self.lease.release(lease, holder)

    def hold(self, holder: str) -> contextlib.AbstractContextManager[None]:
        """Hold the Lease ``bluegreen-<route>`` for one action (as the Kubernetes router does)."""
        return self._holding(holder)

    @property
    def identity(self) -> str:
        o = self.o
        host = o.host or (
            "in-cluster"
            if o.in_cluster
            else f"kubeconfig {o.kubeconfig or '~/.kube/config'}"
            + (f" context {o.context}" if o.context else "")
        )
        return f"{self.kind} {host} {o.namespace}/{self.PLURAL}/{o.route}"

    def _custom(self, verb: str, method: str, *args: Any) -> Any:
        custom = self.api.custom()
        fn = getattr(custom, method)
        where = f"{self.PLURAL}.{self.GROUP}/{self.VERSION}"

        def call(*a: Any, **kw: Any) -> Any:
            try:
                return fn(*a, **kw)
            except Exception as exc:
                if _no_such_type(exc):
                    msg = (
                        f"the API server at {self.api.host} does not serve {where} "
                        f"(404 on the resource type): {self.CRDS_MISSING}"
                    )
                    if self.api.acting:
                        raise ActionRefused(msg + "; nothing was written") from exc
                    raise Unreachable(msg) from exc
                raise

        return self.api.req(
            verb,
            self.PLURAL,
            self.o.route,
            call,
            self.GROUP,
            self.VERSION,
            self.o.namespace,
            self.PLURAL,
            self.o.route,
            *args,
        )

    def _get_route(self) -> dict[str, Any]:
        route: dict[str, Any] = self._custom("get", "get_namespaced_custom_object")
        return route

    def _read(self) -> RouteRead:
        """The route, both Deployments, their pods and the colour Services' EndpointSlices."""
        core, apps, disc = self.api.connect()
        o = self.o
        route = self._get_route()
        deps = {
            c: self.api.req(
                "get",
                "deployments",
                o.deployments[c],
                apps.read_namespaced_deployment,
                o.deployments[c],
                o.namespace,
            )
            for c in COLOURS
        }
        pods: dict[Colour, list[Any]] = {}
        for c in COLOURS:
            sel = (deps[c].spec.selector.match_labels if deps[c].spec.selector else None) or {}
            found = self.api.req(
                "list",
                "pods",
                None,
                core.list_namespaced_pod,
                o.namespace,
                label_selector=",".join(f"{k}={v}" for k, v in sorted(sel.items())),
            )
            pods[c] = sorted(found.items or [], key=lambda p: p.metadata.name)
        names = ",".join(o.services[c] for c in COLOURS)
        slices = self.api.req(
            "list",
            "endpointslices",
            None,
            disc.list_namespaced_endpoint_slice,
            o.namespace,
            label_selector=f"{SERVICE_NAME_LABEL} in ({names})",
        )
        return RouteRead(route, deps, pods, list(slices.items or []))

    def ready_endpoints(self, r: RouteRead, colour: Colour) -> int:
        """Endpoints of the colour's Service that can take new requests and are its pods."""
        mine = {p.metadata.name for p in r.pods[colour]}
        ready: set[str] = set()
        for sl in r.slices:
            if (sl.metadata.labels or {}).get(SERVICE_NAME_LABEL) != self.o.services[colour]:
                continue
            for ep in sl.endpoints or []:
                ref = ep.target_ref.name if ep.target_ref else None
                if ref is not None and endpoint_ready(ep) and ref in mine:
                    ready.add(ref)
        return len(ready)

    @staticmethod
    def drained(route: Mapping[str, Any], colour: Colour) -> bool:
        return drained_key(colour) in ((route.get("metadata") or {}).get("annotations") or {})

    def _routing(self, route: Mapping[str, Any]) -> dict[str, Any]:
        """What decides where requests go, for the re-check after a 409."""
        out: dict[str, Any] = {
            f"drained-{c}": (route.get("metadata") or {}).get("annotations", {}).get(drained_key(c))
            for c in COLOURS
        }
        try:
            for label, raw in self.split(route).rules:
                for c in COLOURS:
                    out[f"{label} {c} weight"] = raw[c]
        except RouteProblem as exc:
            out["shape"] = str(exc)
        return out

    # -- reading ---------------------------------------------------------------------------------

    def _state(self, r: RouteRead) -> RouterState:
        o, route = self.o, r.route
        problems: list[str] = []
        percents: dict[Colour, int] | None = None
        try:
            split = self.split(route)
            percents = split.percents()
            if percents is None:
                problems.append(
                    f"both weights are 0 in {self.ROUTE_KIND} {o.route}: no colour gets requests"
                )
            if (differ := split.disagreement()) is not None:
                problems.append(differ)
        except RouteProblem as exc:
            problems.append(str(exc))
        verdict = self.verdict(route)
        if verdict.state == "rejected" or (verdict.state == "none" and self.STATUS_REQUIRED):
            problems.append(verdict.text)
        live = None
        if percents is not None:
            live = next((c for c in COLOURS if percents[c] > 50), None)
            if live is None:
                problems.append("traffic is split 50/50: neither colour is live")
        colours: dict[Colour, ColourState] = {}
        for c in COLOURS:
            dep, st = r.deployments[c], r.deployments[c].status
            draining = self.drained(route, c)
            detail = {
                "service": o.services[c],
                "deployment": dep.metadata.name,
                "replicas": f"{desired_replicas(dep)} desired / {(st.ready_replicas if st else 0) or 0} ready"
                f" / {(st.available_replicas if st else 0) or 0} available",
                "image": image_of(dep) or "?",
                "endpoints": f"{self.ready_endpoints(r, c)} ready",
            }
            colours[c] = ColourState(
                c,
                servers=tuple(pod_server(p, draining) for p in r.pods[c]),
                draining=draining,
                weight=None if percents is None else percents[c],
                version=version_of(image_of(dep)),
                detail=detail,
            )
        meta = route.get("metadata") or {}
        detail = {
            "route": f"{self.ROUTE_KIND} {o.namespace}/{o.route} (generation {generation_of(route)})",
            "status": verdict.text,
            "api": self.api.host,
        }
        if problems:
            detail["problem"] = "; ".join(problems)
        fingerprint = f"{meta.get('generation')}:" + json.dumps(
            self._routing(route), sort_keys=True
        )
        return RouterState(live, colours, fingerprint, detail)

    def state(self) -> RouterState:
        self.api.begin(acting=False)
        return self._state(self._read())

    # -- writing ---------------------------------------------------------------------------------

    def _preflight(self, r: RouteRead, verb: str) -> Split:
        """Refuse a verb on a route of the wrong shape, or one its controller does not accept."""
        try:
            split = self.split(r.route)
        except RouteProblem as exc:
            raise ActionRefused(f"{verb} refused: {exc}; nothing was written") from None
        v = self.verdict(r.route)
        if v.state == "rejected" or (v.state == "none" and self.STATUS_REQUIRED):
            raise ActionRefused(
                f"{verb} refused: {v.text}: {self.CONTROLLER} ignores the route, so new weights "
                f"would move no traffic; fix the {self.ROUTE_KIND} first; nothing was written"
            )
        return split

    def _gate(self, r: RouteRead, to: Colour, verb: str) -> None:
        o = self.o
        why = deployment_unready(
            r.deployments[to],
            o.deployments[to],
            to,
            r.pods[to],
            self.ready_endpoints(r, to),
            f"Service {o.services[to]} has no ready endpoint of Deployment {o.deployments[to]}'s pods",
        )
        if why:
            raise ActionRefused(f"{verb} refused: {why}; nothing was written")

    def _replace(self, route: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> Any:
        """Replace (PUT) ``route`` edited by ``edit``, only if it is unchanged since it was read
        (its resourceVersion); on 409 re-read and re-check (see the module docstring)."""
        name = self.o.route
        for attempt in range(PATCH_ATTEMPTS):
            body = copy.deepcopy(route)
            edit(body)
            try:
                return self._custom("update", "replace_namespaced_custom_object", body)
            except Conflict:
                now = self._get_route()
                changed = changes(self._routing(route), self._routing(now), "")
                if changed or attempt == PATCH_ATTEMPTS - 1:
                    what = "; ".join(changed) or (
                        f"it kept changing ({PATCH_ATTEMPTS} writes refused, resourceVersion "
                        f"{route['metadata'].get('resourceVersion')} -> "
                        f"{now['metadata'].get('resourceVersion')})"
                    )
                    raise Conflict(
                        f"the {self.ROUTE_KIND} {name} changed since it was read: {what}; "
                        "nothing was written; look at it again and retry"
                    ) from None
                route = now
        raise AssertionError("unreachable")

    def _settle(self, before: RouteRead, verb: str) -> RouteRead:
        """Read back after a write; when the route's generation moved, wait (bounded by
        ``status_wait`` and the call's budget) until its controller reports on the new one, and
        raise VerifyFailed unless it accepted it."""
        after = self._read()
        gen = generation_of(after.route)
        if gen == generation_of(before.route):
            return after
        wait_until = time.monotonic() + min(
            self.o.status_wait, max(0.0, self.api.remaining() - 0.3)
        )
        v = self.verdict(after.route)
        for _ in range(1000):  # bounded: 0.05 s polls within status_wait
            if v.state == "ok" or (v.state == "none" and not self.STATUS_REQUIRED):
                return after
            if v.state == "rejected" or time.monotonic() >= wait_until:
                break
            time.sleep(0.05)
            after = RouteRead(self._get_route(), after.deployments, after.pods, after.slices)
            v = self.verdict(after.route)
        if v.state == "rejected":
            raise VerifyFailed(
                f"{verb}: written (generation {gen}), but {v.text}; not done: "
                f"{self.CONTROLLER} does not route by it (kubectl describe {self.PLURAL} {self.o.route})"
            )
        seen = f"its status still describes generation {v.observed}" if v.observed else v.text
        raise VerifyFailed(
            f"{verb}: written (generation {gen}), but {self.CONTROLLER} has not reported on it "
            f"within {self.o.status_wait:g} s ({seen}); not done: check that it runs "
            f"(kubectl describe {self.PLURAL} {self.o.route})"
        )

    def _check(self, after: RouteRead, want: Mapping[Colour, int], verb: str) -> None:
        try:
            got = self.split(after.route).percents()
        except RouteProblem as exc:
            raise VerifyFailed(f"{verb}: written, but reading it back: {exc}") from None
        if got != dict(want):
            shown = (
                "none" if got is None else f"blue {got[Colour.BLUE]} / green {got[Colour.GREEN]}"
            )
            raise VerifyFailed(
                f"{verb}: written, but the {self.ROUTE_KIND} {self.o.route} reads back {shown}, "
                f"not blue {want[Colour.BLUE]} / green {want[Colour.GREEN]}"
            )

    def _weights_edit(self, want: Mapping[Colour, int]) -> Callable[[dict[str, Any]], None]:
        return lambda body: self.write_weights(body, want)

    def switch(self, to: Colour) -> RouterState:
        self.api.begin(acting=True)
        r = self._read()
        split = self._preflight(r, f"switch to {to}")
        want = {to: 100, to.other: 0}
        if split.percents() == want and split.disagreement() is None:
            raise ActionRefused(
                f"{to} is already live on {self.ROUTE_KIND} {self.o.route} (100 %); nothing to do"
            )
        if self.drained(r.route, to):
            raise ActionRefused(
                f"switch to {to} refused: {to} is drained; ready it first; nothing was written"
            )
        self._gate(r, to, f"switch to {to}")
        self._replace(r.route, self._weights_edit(want))
        after = self._settle(r, f"switch to {to}")
        self._check(after, want, f"switch to {to}")
        return self._state(after)

    def set_weights(self, weights: Mapping[Colour, int]) -> RouterState:
        want = percent_split(weights)
        verb = f"split blue {want[Colour.BLUE]} % / green {want[Colour.GREEN]} %"
        self.api.begin(acting=True)
        r = self._read()
        self._preflight(r, verb)
        for c in COLOURS:
            if want[c] > 0:
                if self.drained(r.route, c):
                    raise ActionRefused(
                        f"{verb} refused: {c} is drained; ready it first; nothing was written"
                    )
                self._gate(r, c, verb)
        self._replace(r.route, self._weights_edit(want))
        after = self._settle(r, verb)
        self._check(after, want, verb)
        return self._state(after)

    def drain(self, colour: Colour) -> RouterState:
        self.api.begin(acting=True)
        r = self._read()
        verb = f"drain {colour}"
        split = self._preflight(r, verb)
        now = split.percents()
        if now is not None and now[colour] > 50:
            raise ActionRefused(
                f"{verb} refused: {colour} is live ({now[colour]} % of new requests on "
                f"{self.ROUTE_KIND} {self.o.route}); switch to {colour.other} first, then drain {colour}"
            )
        # at 0 % already (or no colour gets requests: both weights 0), only the annotation is written
        zero = now is None or (now[colour] == 0 and split.disagreement() is None)
        if self.drained(r.route, colour) and zero:
            raise ActionRefused(f"{colour} is already drained; nothing to do")
        want = {colour: 0, colour.other: 100}
        stamp = self._now()

        def edit(body: dict[str, Any]) -> None:
            if not zero:
                self.write_weights(body, want)
            meta = body.setdefault("metadata", {})
            anns = meta.get("annotations") or {}
            meta["annotations"] = {**anns, drained_key(colour): stamp}

        self._replace(r.route, edit)
        after = self._settle(r, verb)
        if not self.drained(after.route, colour):
            raise VerifyFailed(f"{verb}: written, but reading it back shows it not marked drained")
        if not zero:
            self._check(after, want, verb)
        return self._state(after)

    def ready(self, colour: Colour) -> RouterState:
        self.api.begin(acting=True)
        r = self._read()
        if not self.drained(r.route, colour):
            raise ActionRefused(f"{colour} is not drained; nothing to do")

        def edit(body: dict[str, Any]) -> None:
            anns = dict((body.get("metadata") or {}).get("annotations") or {})
            anns.pop(drained_key(colour), None)
            body["metadata"]["annotations"] = anns

        self._replace(r.route, edit)
        after = self._settle(r, f"ready {colour}")
        if self.drained(after.route, colour):
            raise VerifyFailed(
                f"ready {colour}: written, but reading it back shows it still drained"
            )
        return self._state(after)

    def close(self) -> None:
        self.api.close()
