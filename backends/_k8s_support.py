"""Helpers of the Kubernetes router: its options, and turning client errors into typed ones.

Kept apart from ``backends/kubernetes.py`` so that file stays about the verbs. Nothing here imports
``kubernetes`` or ``urllib3`` at module level: ``bluegreen demo`` must not pay for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backends.base import (
    COLOURS,
    ActionRefused,
    BackendError,
    BackendTimeout,
    Colour,
    ConfigError,
    Conflict,
    PermissionDenied,
    ServerState,
    ServerStatus,
    Unreachable,
)

RBAC_HINT = "grant the Role in docs/kubernetes-rbac.yaml"
#: selector value the preview Service gets while the idle colour is drained: it matches no pod
NO_COLOUR = "bluegreen-drained"

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)

_KEYS = (
    "context",
    "kubeconfig",
    "in_cluster",
    "host",
    "token",
    "namespace",
    "service",
    "selector_label",
    "colours",
    "deployments",
    "preview_service",
    "scale_down_after_drain",
    "timeout",
)


@dataclass(frozen=True)
class KubeOptions:
    """The validated ``[service.router]`` table of ``kind = "kubernetes"``."""

    service: str
    deployments: Mapping[Colour, str]
    namespace: str = "default"
    selector_label: str = "version"
    colours: Mapping[Colour, str] | None = None  # colour -> label value
    preview_service: str | None = None
    scale_down_after_drain: bool = False
    timeout: float = 2.0
    context: str | None = None
    kubeconfig: str | None = None
    in_cluster: bool = False
    host: str | None = None
    token: str | None = None

    def value(self, colour: Colour) -> str:
        assert self.colours is not None
        return self.colours[colour]

    def colour_of(self, value: str | None) -> Colour | None:
        assert self.colours is not None
        return next((c for c, v in self.colours.items() if v == value), None)


def _where(key: str) -> str:
    return f"[service.router] {key}"


def _string(
    opts: Mapping[str, Any], key: str, pattern: re.Pattern[str] | None, form: str
) -> str | None:
    v = opts.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not v or (pattern is not None and not pattern.match(v)):
        raise ConfigError(f"{_where(key)} = {v!r}: expected {form}")
    return v


def _bool(opts: Mapping[str, Any], key: str, default: bool) -> bool:
    v = opts.get(key, default)
    if not isinstance(v, bool):
        raise ConfigError(f"{_where(key)} = {v!r}: expected true or false")
    return v


def _colour_table(
    opts: Mapping[str, Any], key: str, pattern: re.Pattern[str], form: str
) -> dict[Colour, str]:
    table = opts[key]
    if not isinstance(table, Mapping):
        raise ConfigError(f'{_where(key)}: expected a table {{ blue = "...", green = "..." }}')
    unknown = sorted(set(table) - {c.value for c in COLOURS})
    if unknown:
        raise ConfigError(
            f"{_where(key)}: unknown colour {unknown[0]!r}; expected the keys blue and green"
        )
    out: dict[Colour, str] = {}
    for c in COLOURS:
        v = table.get(c.value)
        if not isinstance(v, str) or not pattern.match(v):
            raise ConfigError(f"{_where(key)}.{c} = {v!r}: expected {form}")
        out[c] = v
    if out[Colour.BLUE] == out[Colour.GREEN]:
        raise ConfigError(
            f"{_where(key)}: blue and green are both {out[Colour.BLUE]!r}; they must differ"
        )
    return out


def parse_options(opts: Mapping[str, Any], default_timeout: float) -> KubeOptions:
    """Validate the options; raises ConfigError naming the key and the expected form."""
    opts = {k: v for k, v in opts.items() if k != "kind"}
    unknown = sorted(set(opts) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"{_where(unknown[0])}: unknown option for the kubernetes router; known: {', '.join(_KEYS)}"
        )
    name_form = "a Kubernetes object name (lower-case letters, digits, '-' and '.')"
    service = _string(opts, "service", _NAME, name_form)
    if service is None:
        raise ConfigError(
            f"{_where('service')} is missing: the name of the Service that carries live traffic"
        )
    if "deployments" not in opts:
        raise ConfigError(
            f'{_where("deployments")} is missing: expected {{ blue = "shop-blue", green = "shop-green" }}'
        )
    deployments = _colour_table(opts, "deployments", _NAME, name_form)
    colours = (
        _colour_table(
            opts, "colours", _LABEL_VALUE, "a label value (letters, digits, '-', '_', '.')"
        )
        if "colours" in opts
        else {Colour.BLUE: "blue", Colour.GREEN: "green"}
    )
    if NO_COLOUR in colours.values():
        raise ConfigError(
            f"{_where('colours')}: {NO_COLOUR!r} is reserved (a drained preview selects it)"
        )
    preview = _string(opts, "preview_service", _NAME, name_form)
    if preview == service:
        raise ConfigError(f"{_where('preview_service')} must differ from service ({service!r})")
    timeout = opts.get("timeout", default_timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 300:
        raise ConfigError(
            f"{_where('timeout')} = {timeout!r}: expected seconds, a number in (0, 300]"
        )
    host = _string(
        opts,
        "host",
        re.compile(r"^https?://[^\s/]+(/\S*)?$"),
        "a URL such as 'https://10.0.0.1:6443'",
    )
    o = KubeOptions(
        service=service,
        deployments=deployments,
        namespace=_string(
            opts,
            "namespace",
            re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"),
            "a namespace name",
        )
        or "default",
        selector_label=_string(
            opts,
            "selector_label",
            _LABEL_KEY,
            "a label key such as 'version' or 'app.kubernetes.io/version'",
        )
        or "version",
        colours=colours,
        preview_service=preview,
        scale_down_after_drain=_bool(opts, "scale_down_after_drain", False),
        timeout=float(timeout),
        context=_string(opts, "context", None, "the name of a kubeconfig context"),
        kubeconfig=_string(opts, "kubeconfig", None, "the path of a kubeconfig file"),
        in_cluster=_bool(opts, "in_cluster", False),
        host=host,
        token=_string(opts, "token", None, "a bearer token"),
    )
    if o.token and not o.host:
        raise ConfigError(
            f"{_where('token')} needs {_where('host')} (a kubeconfig carries its own credentials)"
        )
    sources = [
        k
        for k, on in (
            ("in_cluster", o.in_cluster),
            ("host", o.host),
            ("kubeconfig/context", o.kubeconfig or o.context),
        )
        if on
    ]
    if len(sources) > 1:
        raise ConfigError(
            f"[service.router]: {' and '.join(sources)} exclude each other; choose one way to reach the cluster"
        )
    return o


# --------------------------------------------------------------------------------------------------
# Reading API objects (the client's models)


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


# --------------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class Target:
    """What a request was about, for messages: ``patch services/shop in namespace prod``."""

    verb: str
    resource: str  # "services", "deployments", "pods", "endpointslices"
    name: str | None
    namespace: str

    @property
    def kind(self) -> str:
        return {"services": "Service", "deployments": "Deployment"}.get(
            self.resource, self.resource
        )

    def __str__(self) -> str:
        what = f"{self.resource}/{self.name}" if self.name else self.resource
        return f"{self.verb} {what} in namespace {self.namespace}"


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            msg = json.loads(body).get("message")
            if msg:
                return str(msg)
        except (ValueError, AttributeError):
            pass
    return str(getattr(exc, "reason", "") or "no reason given")


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason if isinstance(reason, BaseException) else exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    return text.split(": ", 1)[-1] if len(text) > 160 else text


def translate(
    exc: BaseException, target: Target, host: str, timeout: float, acting: bool
) -> BackendError:
    """The typed, readable error for a client exception (an ApiException, urllib3 or socket error)."""
    if isinstance(exc, BackendError):
        return exc
    import urllib3.exceptions as ux

    if isinstance(exc, (ux.HTTPError, OSError)):
        reason = getattr(exc, "reason", None)
        refused = isinstance(exc, ux.NewConnectionError) or isinstance(
            reason, ux.NewConnectionError
        )
        # NewConnectionError subclasses ConnectTimeoutError in urllib3: a refusal is not a timeout
        if not refused and (
            isinstance(exc, (ux.TimeoutError, TimeoutError)) or isinstance(reason, ux.TimeoutError)
        ):
            unknown = (
                "; it may or may not have been applied: the next read shows"
                if target.verb in ("patch", "update")
                else ""
            )
            return BackendTimeout(
                f"the Kubernetes API server at {host} did not answer {target} within {timeout:.1f} s{unknown}"
            )
        return Unreachable(
            f"cannot reach the Kubernetes API server at {host} ({target}): {_short(exc)}"
        )
    status = getattr(exc, "status", None)
    if status is None:  # not a client error we know: say what it was, never a traceback
        return Unreachable(f"Kubernetes API call failed ({target}): {type(exc).__name__}: {exc}")
    said = _server_message(exc)
    if status == 0:
        return Unreachable(f"cannot reach the Kubernetes API server at {host} ({target}): {said}")
    if status == 401:
        return PermissionDenied(
            f"unauthorized: the API server at {host} rejected the credentials ({target}); "
            "renew them (for instance run `kubectl get ns` with the same context) and try again"
        )
    if status == 403:
        return PermissionDenied(f"forbidden: {target}; {RBAC_HINT} (the API server said: {said})")
    if status == 404:
        if target.name:
            msg = f"{target.kind} {target.name!r} not found in namespace {target.namespace!r}; check [service.router]"
        else:
            msg = f"the API server at {host} does not serve {target.resource} in namespace {target.namespace!r}: {said}"
        return ActionRefused(msg + "; nothing was written") if acting else Unreachable(msg)
    if status == 409:
        return Conflict(
            f"{target.kind} {target.name} changed meanwhile ({said}); nothing was written; check and try again"
        )
    if status == 429 or status >= 500:
        return Unreachable(
            f"the Kubernetes API server at {host} answered {status} to {target}: {said}; try again"
        )
    err = ActionRefused if acting else Unreachable
    return err(f"the Kubernetes API server refused {target} ({status}): {said}")
