"""The Kubernetes router: one Service whose selector names the live colour, one Deployment per colour.

``kubernetes`` (the official client) is imported when a router of this kind is built, never when this
module is imported: ``bluegreen demo`` does not pay for it. Client plumbing (connection, deadlines,
conditional patches) is in ``api``; the typed options in ``options``; the readiness gate in
``readiness``; reading the client's objects in ``objects``; client errors into typed ones in
``errors``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from backends.base import (
    COLOURS,
    ActionRefused,
    BackendContext,
    BackendError,
    Colour,
    ColourState,
    Router,
    RouterState,
    VerifyFailed,
)
from backends.kubernetes.api import KubeApi, Snapshot
from backends.kubernetes.lease import LeaseLock
from backends.kubernetes.objects import (
    NO_COLOUR,
    annotations_of,
    changes,
    desired_replicas,
    image_of,
    pod_server,
    selector_of,
    selector_text,
    version_of,
)
from backends.kubernetes.options import KubeOptions, load_options
from backends.kubernetes.readiness import gate, ready_endpoints, selecting
from backends.kubernetes.shared import NamespaceGroup, group_by_namespace

ANN_DRAINED = "bluegreen-console/drained"  # on a Deployment: when it was drained (UTC)
ANN_REPLICAS = "bluegreen-console/replicas-before-drain"  # on a Deployment scaled to 0 by a drain


class KubernetesRouter(Router):
    """Blue-green on Kubernetes: the live Service's selector label (``version`` by default) names the
    live colour; each colour is one Deployment.

    Client: the official **sync** ``kubernetes`` client. The console already calls routers from worker
    threads with a deadline (``console.guard``), so the asyncio client would add an event loop per thread and nothing else.
    Every call (state, switch, drain, ready) has a budget of 90 % of ``timeout``: each request gets what
    is left of it, urllib3 never retries, and no write is started once the budget is spent.

    **state** reads the Service (and preview Service), both Deployments (desired / ready / available
    replicas, image -> version), the pods the Service would select for each colour (its selector with
    the colour label set to that colour's value) and the EndpointSlices of the managed Services. live =
    the colour whose label value the Service's selector carries (None if neither). Servers = those
    pods: UP when Ready, DOWN when not ready, Pending (no IP yet) or Terminating (``deletionTimestamp``
    set, even while its Ready condition still says True), DRAIN when Ready in a drained colour.
    Ready endpoints of a colour = the endpoints in the EndpointSlices (any number per Service) of the
    managed Services that select it that are serving and not terminating (``ready`` alone is true for
    every endpoint of a Service that publishes not-ready addresses; unset conditions mean ready); for a
    colour no Service selects, the Ready, non-terminating pods the switch would make endpoints.
    fingerprint = the Service's resourceVersion and selector (and the preview Service's).

    **switch(to)** refuses (ActionRefused, nothing written) when ``to`` is already live, is drained, or
    fails the readiness gate: its Deployment is scaled to 0, has a change its controller has not
    observed, is still rolling out (updated < desired), has fewer ready replicas than desired, ``to``
    has no ready endpoint, or fewer of its pods are Ready and not terminating than desired (the
    Deployment's status lags its pods). Otherwise it sends a JSON merge
    patch (``application/merge-patch+json``) that sets the selector label and carries the
    ``metadata.resourceVersion`` read for the preflight; the API server applies it only if the Service
    is unchanged since, else answers 409. On 409 it re-reads: if the selector changed, it raises
    Conflict saying what changed (nothing was written); if only other fields changed (labels, status)
    the check still holds and it retries with the new resourceVersion (up to 5 writes in all, within
    the call's budget). It then reads everything
    back and raises VerifyFailed unless the selector shows ``to``. The preview Service then follows the
    new idle colour; a failure there does not undo the switch and is reported in ``detail["warning"]``.

    **drain(colour)** refuses the live colour (switch first). It marks the Deployment drained
    (annotation ``bluegreen-console/drained``) and takes the colour out of every Service the console
    manages, i.e. points the preview Service at ``bluegreen-drained``, which selects no pod. In-flight
    requests finish: Kubernetes only stops routing new connections to endpoints it removes. With
    ``scale_down_after_drain`` it then scales the Deployment to 0, recording the replica count in
    ``bluegreen-console/replicas-before-drain``, but only once no managed Service's EndpointSlices still
    hold a ready endpoint of the colour (waited for briefly); otherwise the state shows the scale-down as
    pending and a second drain does it. Scaled-down pods get their termination grace period.

    **ready(colour)** undoes a drain: removes the annotations, scales the Deployment back to the
    recorded count if a drain had scaled it to 0, and points the preview Service at the colour again
    when it is idle. It does not wait for pods; switch's readiness gate does.

    **rollback** is the console's: a switch back to the previous colour from its audit log, preceded by
    ready when that colour is drained (so the gate waits until it is scaled back up and ready).

    All writes use the same resourceVersion precondition; for a Deployment the re-check after a 409
    compares its replicas and the console's annotations, so the status writes of its controller (one
    per replica that becomes ready or goes away) do not block a drain or a ready.

    **hold(holder)** takes the Lease ``bluegreen-<service>`` (``coordination.k8s.io/v1``, in the
    Service's namespace) for one action: created if missing, taken over once expired (its
    ``renewTime`` + ``leaseDurationSeconds``, 30 s, is past), written with ``holderIdentity`` =
    ``holder`` and ``acquireTime``/``renewTime``, and released (holder cleared) at the end. Held by
    someone else: ActionRefused naming them and since when. Every write carries the resourceVersion
    just read, so of two consoles racing for it one wins and the other (409) is refused naming the
    winner. A Lease that cannot be released expires after 30 s. Errors: unreachable API server ->
    Unreachable (BackendTimeout for timeouts), 401/403 -> PermissionDenied naming the verb and
    resource, 404 -> Unreachable from state and ActionRefused from a verb, 409 -> Conflict.
    """

    kind = "kubernetes"

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        super().__init__(options, context)
        self.o: KubeOptions = load_options(self.options, context)
        # Imported here, when a service of this kind is built (about 1 s), not when backends/ is, and
        # not in the first guarded call, whose deadline it would eat.
        from kubernetes import client, config

        self.api = KubeApi(self.o, client, config)
        self._group: NamespaceGroup | None = None  # the board's shared read of the namespace
        self.lease = LeaseLock(self.api, self.o.service, self._wall)

    def _wall(self) -> float:
        clock = self.context.clock
        return clock() if callable(clock) else time.time()

    @contextlib.contextmanager
    def _holding(self, holder: str) -> Iterator[None]:
        lease = self.lease.acquire(holder)
        try:
            yield
        finally:
            self.lease.release(lease, holder)

    def hold(self, holder: str) -> contextlib.AbstractContextManager[None]:
        """Hold the Lease ``bluegreen-<service>`` for one action (see the class docstring)."""
        return self._holding(holder)

    @property
    def identity(self) -> str:
        """``kubernetes HOST NAMESPACE/SERVICE`` (HOST: the configured API server, else the kubeconfig
        and context it comes from): fixed at build, whether or not the API was reached yet."""
        o = self.o
        host = o.host or (
            "in-cluster"
            if o.in_cluster
            else f"kubeconfig {o.kubeconfig or '~/.kube/config'}"
            + (f" context {o.context}" if o.context else "")
        )
        return f"kubernetes {host} {o.namespace}/{o.service}"

    # -- reading ---------------------------------------------------------------------------------

    def _live(self, s: Snapshot) -> Colour | None:
        return self.o.colour_of(selector_of(s.service).get(self.o.selector_label))

    def _state(self, s: Snapshot, warning: str | None = None) -> RouterState:
        o = self.o
        colours: dict[Colour, ColourState] = {}
        for c in COLOURS:
            dep, st = s.deployments[c], s.deployments[c].status
            ann = annotations_of(dep)
            draining = ANN_DRAINED in ann
            detail = {
                "deployment": dep.metadata.name,
                "replicas": f"{desired_replicas(dep)} desired / {(st.ready_replicas if st else 0) or 0} ready"
                f" / {(st.available_replicas if st else 0) or 0} available",
                "image": image_of(dep) or "?",
                "endpoints": f"{ready_endpoints(self.o, s, c)} ready",
                "services": ", ".join(selecting(self.o, s, c)) or "none",
            }
            if ANN_REPLICAS in ann:
                detail["scaled_down"] = f"from {ann[ANN_REPLICAS]} replicas by a drain"
            elif draining and o.scale_down_after_drain and desired_replicas(dep) > 0:
                detail["scale_down"] = (
                    "pending: a Service still routed to it; drain again to scale it to 0"
                )
            colours[c] = ColourState(
                c,
                servers=tuple(pod_server(p, draining) for p in s.pods[c]),
                draining=draining,
                version=version_of(image_of(dep)),
                detail=detail,
                scale_down_pending="scale_down" in detail,
            )
        sel = selector_of(s.service)
        fingerprint = f"{s.service.metadata.resource_version}:{selector_text(sel)}"
        detail = {
            "service": f"{o.namespace}/{o.service}",
            "selector": selector_text(sel),
            "api": self.api.host,
        }
        if s.preview is not None:
            psel = selector_of(s.preview)
            fingerprint += f"|{s.preview.metadata.resource_version}:{selector_text(psel)}"
            detail["preview"] = f"{o.preview_service} ({selector_text(psel)})"
        if warning:
            detail["warning"] = warning
        return RouterState(self._live(s), colours, fingerprint, detail)

    def state(self) -> RouterState:
        self.api.begin(acting=False)
        return self._state(self.api.read())

    def poll_state(self) -> RouterState:
        """From the namespace's shared read when the board grouped this router with others
        (``backends.kubernetes.shared``), else ``state()``."""
        group = self._group
        if group is None:
            return self.state()
        s = group.snapshot(self.o, self.o.timeout + 1.0)
        self.api.host = group.api.host  # the same cluster: the address its client connected to
        return self._state(s)

    def join_group(self, group: NamespaceGroup) -> None:
        self._group = group
        group.join()
        self.api.on_write = group.invalidate

    @classmethod
    def share_reads(cls, routers: Sequence[tuple[Router, float]]) -> list[Any]:
        """The routers of one namespace on one cluster read it once per poll for all of them
        (``backends.kubernetes.shared``). Returns the namespace groups."""
        from kubernetes import client, config

        members = [(r, age) for r, age in routers if isinstance(r, KubernetesRouter)]
        return list(group_by_namespace(members, client, config))

    # -- writing ---------------------------------------------------------------------------------

    def _patch_selector(self, svc: Any, value: str) -> Any:
        return self.api.patch(
            "services",
            svc,
            {"spec": {"selector": {self.o.selector_label: value}}},
            lambda a, b: changes(selector_of(a), selector_of(b), "selector"),
        )

    def _patch_deployment(self, dep: Any, body: dict[str, Any]) -> Any:
        def relevant(a: Any, b: Any) -> list[str]:
            def mine(d: Any) -> dict[str, Any]:
                ann = annotations_of(d)
                return {
                    "replicas": desired_replicas(d),
                    **{k: ann.get(k) for k in (ANN_DRAINED, ANN_REPLICAS)},
                }

            return changes(mine(a), mine(b), "")

        return self.api.patch("deployments", dep, body, relevant)

    @staticmethod
    def _step(done: list[str], fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except BackendError as exc:
            if done:
                raise type(exc)(
                    f"{exc} (already done before this step: {'; '.join(done)})"
                ) from exc
            raise

    def _now(self) -> str:
        t = self._wall()
        return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def switch(self, to: Colour) -> RouterState:
        self.api.begin(acting=True)
        o = self.o
        s = self.api.read()
        if self._live(s) is to:
            raise ActionRefused(f"{to} is already live on Service {o.service}; nothing to do")
        if ANN_DRAINED in annotations_of(s.deployments[to]):
            raise ActionRefused(
                f"switch to {to} refused: {to} is drained; ready it first; nothing was written"
            )
        gate(self.o, s, to)
        self._patch_selector(s.service, o.value(to))
        warning = None
        if s.preview is not None:
            idle = to.other
            want = (
                NO_COLOUR if ANN_DRAINED in annotations_of(s.deployments[idle]) else o.value(idle)
            )
            if selector_of(s.preview).get(o.selector_label) != want:
                try:
                    self._patch_selector(s.preview, want)
                except BackendError as exc:
                    warning = f"switched, but the preview Service {o.preview_service} was not updated: {exc}"
        after = self.api.read()
        got = selector_of(after.service).get(o.selector_label)
        if got != o.value(to):
            raise VerifyFailed(
                f"the Service {o.service} was patched, but reading it back shows "
                f"{o.selector_label}={got!r}, not {o.value(to)!r}"
            )
        return self._state(after, warning)

    def drain(self, colour: Colour) -> RouterState:
        self.api.begin(acting=True)
        o = self.o
        s = self.api.read()
        if self._live(s) is colour:
            raise ActionRefused(
                f"drain {colour} refused: {colour} is live (Service {o.service} selects it); "
                f"switch to {colour.other} first, then drain {colour}"
            )
        dep = s.deployments[colour]
        drained = ANN_DRAINED in annotations_of(dep)
        in_preview = s.preview is not None and o.preview_service in selecting(self.o, s, colour)
        scale = o.scale_down_after_drain and desired_replicas(dep) > 0
        if drained and not in_preview and not scale:
            raise ActionRefused(f"{colour} is already drained; nothing to do")
        done: list[str] = []
        if not drained:
            dep = self._step(
                done,
                self._patch_deployment,
                dep,
                {"metadata": {"annotations": {ANN_DRAINED: self._now()}}},
            )
            done.append(f"marked Deployment {dep.metadata.name} drained")
        if in_preview:
            self._step(done, self._patch_selector, s.preview, NO_COLOUR)
            done.append(f"took {colour} out of Service {o.preview_service}")
        pending = scale  # a wanted scale-down not done yet (endpoints still routed to it)
        if scale and self._wait_unrouted(s, colour) == 0:
            body = {
                "spec": {"replicas": 0},
                "metadata": {"annotations": {ANN_REPLICAS: str(desired_replicas(dep))}},
            }
            self._step(done, self._patch_deployment, dep, body)
            pending = False
        after = self.api.read()
        a_dep = after.deployments[colour]
        still = selecting(self.o, after, colour)
        if ANN_DRAINED not in annotations_of(a_dep) or still:
            shows = f"still selected by {', '.join(still)}" if still else "not marked drained"
            raise VerifyFailed(f"drain {colour} was written, but reading it back shows it {shows}")
        if scale and not pending and desired_replicas(a_dep) != 0:
            raise VerifyFailed(
                f"drain {colour}: the scale-down to 0 was sent, but Deployment "
                f"{a_dep.metadata.name} reads back {desired_replicas(a_dep)} replicas"
            )
        return self._state(after)

    def _wait_unrouted(self, s: Snapshot, colour: Colour) -> int:
        """Ready endpoints of ``colour`` still in the managed Services' slices, after a bounded wait."""
        if s.preview is None:
            return 0
        names = [n for n in (self.o.service, self.o.preview_service) if n]
        wait_until = time.monotonic() + min(2.0, self.o.timeout / 3)
        left = 0
        for _ in range(40):  # bounded: at most ~2 s of 0.05 s polls
            left = ready_endpoints(self.o, s, colour, self.api.slices(), names)
            if left == 0 or time.monotonic() >= wait_until:
                break
            time.sleep(0.05)
        return left

    def ready(self, colour: Colour) -> RouterState:
        self.api.begin(acting=True)
        o = self.o
        s = self.api.read()
        dep = s.deployments[colour]
        ann = annotations_of(dep)
        live = self._live(s)
        to_preview = (
            s.preview is not None
            and colour is not live
            and o.preview_service not in selecting(self.o, s, colour)
        )
        if ANN_DRAINED not in ann and ANN_REPLICAS not in ann and not to_preview:
            raise ActionRefused(f"{colour} is not drained; nothing to do")
        done: list[str] = []
        if ANN_DRAINED in ann or ANN_REPLICAS in ann:
            body: dict[str, Any] = {
                "metadata": {"annotations": {ANN_DRAINED: None, ANN_REPLICAS: None}}
            }
            if ANN_REPLICAS in ann and desired_replicas(dep) == 0 and ann[ANN_REPLICAS].isdigit():
                body["spec"] = {"replicas": int(ann[ANN_REPLICAS])}
            self._patch_deployment(dep, body)
            done.append(
                f"un-drained Deployment {dep.metadata.name}"
                + (f" (scaled back to {body['spec']['replicas']})" if "spec" in body else "")
            )
        if to_preview:
            self._step(done, self._patch_selector, s.preview, o.value(colour))
        after = self.api.read()
        a_ann = annotations_of(after.deployments[colour])
        if ANN_DRAINED in a_ann or (
            to_preview and o.preview_service not in selecting(self.o, after, colour)
        ):
            raise VerifyFailed(
                f"ready {colour} was written, but reading it back shows it still drained"
            )
        return self._state(after)

    def close(self) -> None:
        self.api.close()
        if self._group is not None:
            self._group.release()
            self._group = None
