"""Which Services select a colour, how many ready endpoints it has, and the readiness gate a switch
must pass. Pure: reads one Snapshot (``api.read()``), talks to nothing."""

from __future__ import annotations

from typing import Any

from backends.base import ActionRefused, Colour, ServerStatus
from backends.kubernetes.api import SERVICE_NAME_LABEL, Snapshot
from backends.kubernetes.objects import desired_replicas, pod_server, selector_of, selector_text
from backends.kubernetes.options import KubeOptions


def selecting(o: KubeOptions, s: Snapshot, colour: Colour) -> list[str]:
    """The managed Services (live, preview) whose selector names ``colour``."""
    value = o.value(colour)
    return [
        svc.metadata.name
        for svc in (s.service, s.preview)
        if svc is not None and selector_of(svc).get(o.selector_label) == value
    ]


def ready_endpoints(
    o: KubeOptions,
    s: Snapshot,
    colour: Colour,
    slices: list[Any] | None = None,
    services: list[str] | None = None,
) -> int:
    """Ready endpoints of ``colour``: in the slices of the Services selecting it or, when
    ``services`` is given, only those of its pods still left in those Services' slices."""
    only_mine = services is not None
    services = selecting(o, s, colour) if services is None else services
    if not services:
        return ready_pods(s, colour)
    mine = {p.metadata.name for p in s.pods[colour]}
    ready: set[str] = set()
    for sl in s.slices if slices is None else slices:
        if (sl.metadata.labels or {}).get(SERVICE_NAME_LABEL) not in services:
            continue
        for ep in sl.endpoints or []:
            ref = ep.target_ref.name if ep.target_ref else None
            if endpoint_ready(ep) and (not only_mine or ref in mine):
                ready.add(ref or ",".join(ep.addresses or []))
    return len(ready)


def endpoint_ready(ep: Any) -> bool:
    """An EndpointSlice endpoint that can take new requests: not terminating, and serving (ready
    when ``serving`` is unset). ``ready`` alone is not enough: a Service that publishes not-ready
    addresses has every endpoint ready, terminating or not. Unset conditions mean ready, as the API
    documents."""
    c = ep.conditions
    if c is None:
        return True
    if c.terminating:
        return False
    ok = c.serving if c.serving is not None else c.ready
    return ok is not False


def ready_pods(s: Snapshot, colour: Colour) -> int:
    """Pods of ``colour`` that are Ready and not terminating (Pending ones have no Ready condition)."""
    return count_ready(s.pods[colour])


def count_ready(pods: list[Any]) -> int:
    """Of ``pods``, those Ready and not terminating."""
    return sum(1 for p in pods if pod_server(p, False).status is ServerStatus.UP)


def deployment_unready(
    dep: Any, name: str, to: Colour, pods: list[Any], endpoints: int, no_endpoint: str
) -> str | None:
    """Why a switch to ``to`` must not happen yet, from its Deployment ``dep`` (named ``name``), the
    pods it would route to and its ready endpoints (``no_endpoint`` says why there are none); None
    when it is scaled up, rolled out and ready. The gate of every router on the Kubernetes API."""
    st, desired = dep.status, desired_replicas(dep)
    ready = (st.ready_replicas if st else 0) or 0
    updated = (st.updated_replicas if st else 0) or 0
    if desired == 0:
        return f"its Deployment {name} is scaled to 0; scale it up (or ready {to}) and wait for its pods"
    if st is None or (st.observed_generation or 0) < (dep.metadata.generation or 0):
        return f"its Deployment {name} has a change its controller has not processed yet"
    if updated < desired:
        return (
            f"its Deployment {name} is still rolling out ({updated} of {desired} replicas updated)"
        )
    if ready < desired:
        return f"only {ready} of {desired} replicas of Deployment {name} are ready"
    if endpoints == 0:
        return f"it has no ready endpoint ({no_endpoint})"
    if (up := count_ready(pods)) < desired:
        # the Deployment's status lags its pods: deleted pods are Terminating (still Ready a while)
        # before its controller writes the new count
        gone = sum(1 for p in pods if p.metadata.deletion_timestamp is not None)
        return (
            f"only {up} of {desired} pods of Deployment {name} are ready"
            + (f" ({gone} terminating)" if gone else "")
            + f"; its status still says {ready} ready"
        )
    return None


def gate(o: KubeOptions, s: Snapshot, to: Colour) -> None:
    """Refuse a switch to ``to`` (ActionRefused) unless its Deployment is scaled up, rolled out and
    ready, and it has a ready endpoint."""
    sel = {**selector_of(s.service), o.selector_label: o.value(to)}
    why = deployment_unready(
        s.deployments[to],
        o.deployments[to],
        to,
        s.pods[to],
        ready_endpoints(o, s, to),
        f"no ready pod matches {selector_text(sel)}",
    )
    if why:
        raise ActionRefused(f"switch to {to} refused: {why}; nothing was written")
