"""Turning the Kubernetes client's errors (ApiException, urllib3, sockets) into the typed errors of
:mod:`backends.base`, with messages naming the request. Imports ``urllib3`` only when translating."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from backends.base import (
    ActionRefused,
    BackendError,
    BackendTimeout,
    Conflict,
    PermissionDenied,
    Unreachable,
)

RBAC_HINT = "grant the Role in docs/kubernetes-rbac.yaml"


@dataclass(frozen=True)
class Target:
    """What a request was about, for messages: ``patch services/shop in namespace prod``."""

    verb: str
    resource: (
        str  # "services", "deployments", "pods", "endpointslices", "leases", "httproutes", ...
    )
    name: str | None
    namespace: str
    rbac: str = RBAC_HINT  # what a 403 tells the operator to grant

    @property
    def kind(self) -> str:
        return {
            "services": "Service",
            "deployments": "Deployment",
            "leases": "Lease",
            "httproutes": "HTTPRoute",
            "virtualservices": "VirtualService",
        }.get(self.resource, self.resource)

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
        return PermissionDenied(f"forbidden: {target}; {target.rbac} (the API server said: {said})")
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
