"""The router's cross-machine lock: one ``coordination.k8s.io/v1`` Lease per service.

Two consoles (on two machines) acting on the same Service take turns: an action first takes the Lease
``bluegreen-<service>`` in the Service's namespace (created if missing, taken over once expired),
writing who holds it, and clears the holder when it is done. Every write carries the resourceVersion
just read, so of two consoles racing for a free Lease exactly one wins; the other gets 409 and is
refused, naming the winner.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from backends.base import ActionRefused, BackendError, Conflict
from backends.kubernetes.api import ClusterApi

LEASE_SECONDS = 30  # a holder that dies (kill -9, lost network) blocks others this long at most
MANAGED_BY = {"app.kubernetes.io/managed-by": "bluegreen-console"}


def lease_name(service: str) -> str:
    return f"bluegreen-{service}"[:253]


def _micro(t: float) -> datetime:
    """A time for a MicroTime field (``acquireTime``, ``renewTime``).

    kube-apiserver parses MicroTime with exactly six fractional digits and answers 400 otherwise; the
    client sends a datetime as ``isoformat()``, which drops the fraction when it is 0: so it never is.
    """
    when = datetime.fromtimestamp(t, timezone.utc)
    return when if when.microsecond else when.replace(microsecond=1)


def _shown(when: datetime | None) -> str:
    return (
        when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ") if when else "an unknown time"
    )


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class LeaseLock:
    """Take and give back the Lease of one service (see the module docstring)."""

    def __init__(self, api: ClusterApi, service: str, now: Callable[[], float]) -> None:
        self.api, self.name, self.now = api, lease_name(service), now

    def _get(self) -> Any:
        coord, ns = self.api.coordination(), self.api.o.namespace
        return self.api.req(
            "get", "leases", self.name, coord.read_namespaced_lease, self.name, ns, missing_ok=True
        )

    def _body(self, spec: dict[str, Any], lease: Any = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "namespace": self.api.o.namespace}
        if lease is not None:
            meta["resourceVersion"] = lease.metadata.resource_version
            meta["labels"] = dict(lease.metadata.labels or {})
            meta["annotations"] = dict(lease.metadata.annotations or {})
        else:
            meta["labels"] = dict(MANAGED_BY)
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": spec,
        }

    def _refusal(self, lease: Any, why: str = "") -> ActionRefused:
        spec = lease.spec if lease is not None else None
        holder = (spec.holder_identity if spec else None) or "another console"
        since = _shown(_as_datetime(spec.acquire_time if spec else None))
        ns = self.api.o.namespace
        return ActionRefused(
            f"refused: {holder} is acting on this service (Lease {ns}/{self.name}, held since "
            f"{since}{why}); nothing was written; wait for their action to finish and try again"
        )

    def _held_by_other(self, lease: Any, holder: str, now: float) -> bool:
        spec = lease.spec
        who = spec.holder_identity if spec else None
        if not who or who == holder:
            return False
        renewed = _as_datetime(spec.renew_time or spec.acquire_time)
        seconds = spec.lease_duration_seconds or LEASE_SECONDS
        if renewed is None:
            return False
        return renewed + timedelta(seconds=seconds) > datetime.fromtimestamp(now, timezone.utc)

    def acquire(self, holder: str) -> Any:
        """Take the Lease for ``holder``; returns it as written. Raises ActionRefused when another
        holder has it (or won a race for it)."""
        self.api.begin(acting=True)
        coord, ns = self.api.coordination(), self.api.o.namespace
        now = self.now()
        stamp = _micro(now)
        lease = self._get()
        spec = {
            "holderIdentity": holder,
            "leaseDurationSeconds": LEASE_SECONDS,
            "acquireTime": stamp,
            "renewTime": stamp,
        }
        try:
            if lease is None:
                return self.api.req(
                    "create", "leases", None, coord.create_namespaced_lease, ns, self._body(spec)
                )
            if self._held_by_other(lease, holder, now):
                until = _as_datetime(lease.spec.renew_time or lease.spec.acquire_time)
                seconds = lease.spec.lease_duration_seconds or LEASE_SECONDS
                expiry = (
                    f"; it expires at {_shown(until + timedelta(seconds=seconds))}" if until else ""
                )
                raise self._refusal(lease, expiry)
            spec["leaseTransitions"] = (lease.spec.lease_transitions or 0) + (
                0 if lease.spec.holder_identity == holder else 1
            )
            return self._replace(spec, lease)
        except Conflict:  # 409: another console wrote the Lease between our read and our write
            raise self._refusal(
                self._get(), "; it took the Lease a moment before this one"
            ) from None

    def _replace(self, spec: dict[str, Any], lease: Any) -> Any:
        """Write ``spec`` over ``lease``, guarded by the resourceVersion it was read at (409 raises
        Conflict)."""
        coord, ns = self.api.coordination(), self.api.o.namespace
        return self.api.req(
            "update",
            "leases",
            self.name,
            coord.replace_namespaced_lease,
            self.name,
            ns,
            self._body(spec, lease),
        )

    def release(self, lease: Any, holder: str) -> None:
        """Clear the holder, if the Lease is still ours as written. Best effort: a Lease that cannot
        be given back expires after its duration."""
        if lease.spec.holder_identity != holder:
            return
        try:
            self.api.begin(acting=True)
            spec = {
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": _micro(self.now()),
                "leaseTransitions": lease.spec.lease_transitions or 0,
            }
            self._replace(spec, lease)
        except BackendError:
            pass  # it expires in LEASE_SECONDS; the action's own result stands
