"""The Gateway API router: an HTTPRoute (``gateway.networking.k8s.io/v1``) whose rules' backendRefs
name the two colours' Services with weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from backends.base import COLOURS, Colour
from backends.kubernetes.routes import (
    RouteProblem,
    RouteRouter,
    Split,
    Verdict,
    as_int,
    generation_of,
)

#: the conditions a route needs, per parent (Gateway), for the gateway to route by it
NEEDED = ("Accepted", "ResolvedRefs")


class GatewayApiRouter(RouteRouter):
    """Blue-green through a Gateway API HTTPRoute: each colour is one Service (a ``backendRef``) and
    one Deployment; the weights of the two backendRefs split new requests.

    **Managed rules**: every rule of ``spec.rules`` whose ``backendRefs`` name one of the configured
    Services (core Services in the route's namespace). Each such rule must name exactly the two of
    them, once each, and nothing else; otherwise every verb is refused and the state says why (for
    instance a third backendRef, or a rule naming only blue: add green with ``weight: 0``). A route
    whose backendRefs do not name the configured Services at all is refused naming what they do name.
    A backendRef without ``weight`` weighs 1, as the Gateway API says. A colour's share in percent is
    its weight over the sum of the two (both 0: no colour gets requests, the gateway answers 500).

    **state**: the route, both Deployments, their pods (by the Deployment's selector) and the
    Services' EndpointSlices. live = the colour with more than 50 %; servers = the colour's pods
    (UP when Ready, DRAIN when Ready in a drained colour, DOWN otherwise); draining = the annotation
    ``bluegreen-console/drained-<colour>`` on the route. The route's status is shown per parent
    (Gateway): ``Accepted`` and ``ResolvedRefs`` with their reasons; a parent that did not accept
    the route, a reference that did not resolve, or no parent status at all (no Gateway reported on
    the route) is shown as the router's problem.

    **switch(to)**: weights ``to`` 100, the other 0, in every managed rule. Refused (nothing written)
    when the route has the wrong shape, when a parent's condition is False for the route's current
    generation or the route has no status (the gateway ignores it: new weights would move nothing),
    when ``to`` is drained, and by the readiness gate of the Kubernetes router (its Deployment scaled
    up, rolled out and ready; a ready endpoint of its pods in its Service's EndpointSlices).

    **weights** (``[`` / ``]``): the managed rules get the two percentages; a colour that gets more
    than 0 % must pass the same gate and not be drained.

    **drain(colour)**: its weight 0 (the other 100) and the drain annotation, in one write; in-flight
    requests finish (the gateway stops picking it for new requests). Refused for the live colour.
    **ready(colour)**: removes the annotation; the weights stay.

    **rollback** is the console's: a switch back to the colour before the last switch (readied first
    when drained).

    **Done** means read back *and* accepted: after a write that moved the route's ``generation``,
    the router waits (``status_wait``, default 5 s, within the call's budget) until every parent's
    ``Accepted`` and ``ResolvedRefs`` conditions carry ``observedGeneration`` >= the new generation.
    A condition False then is VerifyFailed naming the parent, the reason and the message; no report
    in time is VerifyFailed too (the weights are written, but no gateway said it routes by them).

    Writes, 409 and re-checks, the Lease: as in :mod:`backends.kubernetes.routes`. Errors as the
    Kubernetes router's; a 404 on the resource type says the Gateway API CRDs are not installed.
    """

    kind = "gateway-api"
    GROUP: ClassVar[str] = "gateway.networking.k8s.io"
    VERSION: ClassVar[str] = "v1"
    PLURAL: ClassVar[str] = "httproutes"
    ROUTE_KIND: ClassVar[str] = "HTTPRoute"
    CRDS_MISSING: ClassVar[str] = (
        "the Gateway API CRDs are not installed in this cluster (kubectl get crd "
        "httproutes.gateway.networking.k8s.io; install the standard channel of the Gateway API)"
    )
    RBAC_DOC: ClassVar[str] = "docs/gateway-api-rbac.yaml"
    STATUS_REQUIRED: ClassVar[bool] = True
    CONTROLLER: ClassVar[str] = "the gateway"

    def _ours(self, ref: Mapping[str, Any]) -> Colour | None:
        if (ref.get("group") or "") != "" or (ref.get("kind") or "Service") != "Service":
            return None
        if (ref.get("namespace") or self.o.namespace) != self.o.namespace:
            return None
        return next((c for c in COLOURS if self.o.services[c] == ref.get("name")), None)

    def _managed(self, route: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
        o = self.o
        rules = (route.get("spec") or {}).get("rules") or []
        managed, problems, named = [], [], []
        for i, rule in enumerate(rules):
            label = f"rule {rule.get('name') or i}"
            refs = list(rule.get("backendRefs") or [])
            named += [str(r.get("name")) for r in refs]
            ours = [r for r in refs if self._ours(r) is not None]
            if not ours:
                continue
            others = [str(r.get("name")) for r in refs if self._ours(r) is None]
            colours = [self._ours(r) for r in ours]
            if others:
                problems.append(f"{label} also sends to {', '.join(others)}")
            for c in COLOURS:
                n = colours.count(c)
                if n == 0:
                    problems.append(
                        f"{label} has no backendRef to {o.services[c]} ({c}): add it with weight 0"
                    )
                elif n > 1:
                    problems.append(f"{label} names {o.services[c]} ({c}) {n} times")
            managed.append((label, refs))
        where = f"HTTPRoute {o.namespace}/{o.route}"
        if not managed:
            shown = ", ".join(sorted(set(named))) or "nothing"
            raise RouteProblem(
                f"the backendRefs of {where} do not name the configured Services "
                f"{o.services[Colour.BLUE]} (blue) and {o.services[Colour.GREEN]} (green); they "
                f"name {shown}: check `services` in [service.router] or the route"
            )
        if problems:
            raise RouteProblem(f"{where} is not a two-colour split: " + "; ".join(problems))
        return managed

    def split(self, route: Mapping[str, Any]) -> Split:
        rules = []
        for label, refs in self._managed(route):
            raw: dict[Colour, int] = {}
            for ref in refs:
                c = self._ours(ref)
                if c is not None:
                    w = as_int(ref.get("weight", 1))
                    raw[c] = max(0, w if w is not None else 1)
            rules.append((label, raw))
        return Split(tuple(rules))

    def write_weights(self, route: dict[str, Any], weights: Mapping[Colour, int]) -> None:
        for _, refs in self._managed(route):
            for ref in refs:
                c = self._ours(ref)
                if c is not None:
                    ref["weight"] = int(weights[c])

    def verdict(self, route: Mapping[str, Any]) -> Verdict:
        gen = generation_of(route)
        parents = ((route.get("status") or {}).get("parents")) or []
        if not parents:
            return Verdict(
                "none",
                f"no Gateway has reported on HTTPRoute {self.o.route} (status.parents is empty): "
                "check its parentRefs and that a Gateway controller runs",
            )
        said, bad, pending = [], [], []
        oldest: int | None = None
        for p in parents:
            ref = p.get("parentRef") or {}
            name = f"{ref.get('namespace') or self.o.namespace}/{ref.get('name')}"
            if ref.get("sectionName"):
                name += f" ({ref['sectionName']})"
            conds = {c.get("type"): c for c in p.get("conditions") or []}
            words = []
            for t in NEEDED:
                c = conds.get(t)
                observed = as_int(c.get("observedGeneration")) if c else None
                if c is None or (observed is not None and observed < gen):
                    pending.append(f"{name} {t}")
                    if observed is not None:
                        oldest = observed if oldest is None else min(oldest, observed)
                    words.append(f"{t}?")
                    continue
                if c.get("status") == "True":
                    words.append(t)
                else:
                    reason = c.get("reason") or "no reason"
                    msg = c.get("message") or ""
                    words.append(f"not {t} ({reason})")
                    bad.append(
                        f"gateway {name} reports {t}={c.get('status')} ({reason}"
                        + (f": {msg}" if msg else "")
                        + ")"
                    )
            said.append(f"gateway {name}: {', '.join(words)}")
        if bad:
            return Verdict("rejected", f"HTTPRoute {self.o.route}: " + "; ".join(bad))
        if pending:
            return Verdict(
                "pending",
                "; ".join(said) + f" (generation {gen} not reported on yet)",
                oldest,
            )
        return Verdict("ok", "; ".join(said))
