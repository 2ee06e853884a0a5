"""The Istio router: a VirtualService (``networking.istio.io/v1``) whose HTTP routes send weighted
shares to the two colours' Services."""

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


class IstioRouter(RouteRouter):
    """Blue-green through an Istio VirtualService: each colour is one Service (a route
    ``destination.host``) and one Deployment; the destinations' weights split new requests.

    **Managed routes**: every entry of ``spec.http`` whose ``route`` has a destination whose
    ``host`` is one of the configured Services (its short name, or ``NAME.NAMESPACE``,
    ``NAME.NAMESPACE.svc``, ``NAME.NAMESPACE.svc.cluster.local``). Each such entry must route to
    exactly those two, once each, and nothing else (a ``subset`` is kept as it is); otherwise every
    verb is refused and the state says why. An entry with a single destination and no weight takes
    100 %; otherwise an unset weight is 0, as Istio reads it.

    **state, switch, weights, drain, ready, rollback**: as the Gateway API router
    (:class:`backends.gatewayapi.GatewayApiRouter`): weights in percent (Istio wants the weights of
    one route to add up to 100, and they do), the drain annotation
    ``bluegreen-console/drained-<colour>`` on the VirtualService, the same readiness gate.

    **Status**: istiod writes a VirtualService's status only when its status reporting is on
    (``PILOT_ENABLE_STATUS``; then ``status.conditions`` holds ``Reconciled`` and
    ``status.observedGeneration`` the generation it describes) and analysis messages in
    ``status.validationMessages``. When there is a status, it is respected like the Gateway API's: a
    ``Reconciled`` condition False or an analysis message of level ERROR refuses the verbs and makes a
    write not done, and after a write the router waits (``status_wait``) until it describes the new
    generation. A VirtualService with no status at all is shown as "istiod reports no status" and
    does not block: the read-back of the weights is then what "done" rests on.

    A 404 on the resource type says the Istio CRDs are not installed.
    """

    kind = "istio"
    GROUP: ClassVar[str] = "networking.istio.io"
    VERSION: ClassVar[str] = "v1"
    PLURAL: ClassVar[str] = "virtualservices"
    ROUTE_KIND: ClassVar[str] = "VirtualService"
    CRDS_MISSING: ClassVar[str] = (
        "the Istio CRDs are not installed in this cluster (kubectl get crd "
        "virtualservices.networking.istio.io; install Istio 1.22 or later, which serves v1)"
    )
    RBAC_DOC: ClassVar[str] = "docs/istio-rbac.yaml"
    STATUS_REQUIRED: ClassVar[bool] = False
    CONTROLLER: ClassVar[str] = "istiod"

    def _ours(self, dest: Mapping[str, Any]) -> Colour | None:
        host = str((dest.get("destination") or {}).get("host") or "")
        ns = self.o.namespace
        for c in COLOURS:
            name = self.o.services[c]
            if host in (name, f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"):
                return c
        return None

    def _managed(self, vs: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
        o = self.o
        managed, problems, named = [], [], []
        for i, http in enumerate((vs.get("spec") or {}).get("http") or []):
            label = f"http route {http.get('name') or i}"
            dests = list(http.get("route") or [])
            named += [str((d.get("destination") or {}).get("host")) for d in dests]
            ours = [self._ours(d) for d in dests if self._ours(d) is not None]
            if not ours:
                continue
            others = [
                str((d.get("destination") or {}).get("host"))
                for d in dests
                if self._ours(d) is None
            ]
            if others:
                problems.append(f"{label} also sends to {', '.join(others)}")
            for c in COLOURS:
                n = ours.count(c)
                if n == 0:
                    problems.append(
                        f"{label} has no destination {o.services[c]} ({c}): add it with weight 0"
                    )
                elif n > 1:
                    problems.append(f"{label} names {o.services[c]} ({c}) {n} times")
            managed.append((label, dests))
        where = f"VirtualService {o.namespace}/{o.route}"
        if not managed:
            shown = ", ".join(sorted(set(named))) or "nothing"
            raise RouteProblem(
                f"the http routes of {where} do not name the configured Services "
                f"{o.services[Colour.BLUE]} (blue) and {o.services[Colour.GREEN]} (green) as "
                f"destinations; they name {shown}: check `services` in [service.router] or the "
                "VirtualService"
            )
        if problems:
            raise RouteProblem(f"{where} is not a two-colour split: " + "; ".join(problems))
        return managed

    def split(self, route: Mapping[str, Any]) -> Split:
        rules = []
        for label, dests in self._managed(route):
            raw: dict[Colour, int] = {}
            for d in dests:
                c = self._ours(d)
                if c is not None:
                    w = as_int(d.get("weight"))
                    raw[c] = max(0, w if w is not None else (100 if len(dests) == 1 else 0))
            rules.append((label, raw))
        return Split(tuple(rules))

    def write_weights(self, route: dict[str, Any], weights: Mapping[Colour, int]) -> None:
        for _, dests in self._managed(route):
            for d in dests:
                c = self._ours(d)
                if c is not None:
                    d["weight"] = int(weights[c])

    def verdict(self, route: Mapping[str, Any]) -> Verdict:
        gen = generation_of(route)
        status = route.get("status") or {}
        errors = [
            f"{(m.get('type') or {}).get('code') or 'analysis'}: {m.get('message') or ''}".strip()
            for m in status.get("validationMessages") or []
            if str(m.get("level") or "").upper() == "ERROR"
        ]
        conds = {c.get("type"): c for c in status.get("conditions") or []}
        observed = as_int(status.get("observedGeneration"))
        name = f"VirtualService {self.o.route}"
        if errors:
            return Verdict("rejected", f"istiod's analysis of {name}: " + "; ".join(errors))
        if not conds:
            return Verdict("none", "istiod reports no status (status reporting is off)")
        if observed is not None and observed < gen:
            return Verdict(
                "pending",
                f"istiod: {name} generation {gen} not reconciled yet (status describes {observed})",
                observed,
            )
        rec = conds.get("Reconciled")
        if rec is not None and rec.get("status") != "True":
            return Verdict(
                "rejected",
                f"istiod reports {name} Reconciled={rec.get('status')} "
                f"({rec.get('reason') or 'no reason'}: {rec.get('message') or ''})",
            )
        return Verdict(
            "ok",
            "istiod: " + ", ".join(f"{t}={c.get('status')}" for t, c in sorted(conds.items())),
        )
