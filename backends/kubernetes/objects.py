"""Reading the Kubernetes client's model objects: selectors, annotations, replicas, image -> version,
pod -> server, and what changed between two reads. Pure: nothing here talks to the API server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.base import ServerState, ServerStatus

#: selector value the preview Service gets while the idle colour is drained: it matches no pod
NO_COLOUR = "bluegreen-drained"


def selector_of(svc: Any) -> dict[str, str]:
    return dict((svc.spec.selector if svc is not None and svc.spec else None) or {})


def selector_text(sel: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "(none)"


def annotations_of(obj: Any) -> dict[str, str]:
    return dict(obj.metadata.annotations or {})


def desired_replicas(dep: Any) -> int:
    return 1 if dep.spec.replicas is None else int(dep.spec.replicas)


def image_of(dep: Any) -> str | None:
    containers = dep.spec.template.spec.containers if dep.spec.template.spec else None
    return containers[0].image if containers else None


def version_of(image: str | None) -> str | None:
    """``registry:5000/shop:1.4.2`` -> ``1.4.2``; an image without a tag is its own version."""
    if not image:
        return None
    name, _, digest = image.partition("@")
    repo, sep, tag = name.rpartition(":")
    if sep and "/" not in tag:
        return tag
    return digest[:19] if digest else image


def pod_server(pod: Any, draining: bool) -> ServerState:
    status = pod.status
    ready = any(
        c.type == "Ready" and c.status == "True"
        for c in ((status.conditions if status else None) or [])
    )
    if pod.metadata.deletion_timestamp is not None:
        return ServerState(pod.metadata.name, ServerStatus.DOWN, check="Terminating")
    if ready:
        return ServerState(
            pod.metadata.name, ServerStatus.DRAIN if draining else ServerStatus.UP, check="Ready"
        )
    return ServerState(
        pod.metadata.name, ServerStatus.DOWN, check=(status.phase if status else None) or "NotReady"
    )


def changes(old: Mapping[str, Any], new: Mapping[str, Any], what: str) -> list[str]:
    def show(v: Any) -> str:
        return "unset" if v is None else repr(v)

    prefix = f"{what} " if what else ""
    return [
        f"{prefix}{k} is now {show(new.get(k))} (was {show(old.get(k))})"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
