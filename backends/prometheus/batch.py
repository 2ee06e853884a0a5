"""Several services' Prometheus sources read together: one query per metric per server per poll.

Services on one Prometheus usually differ only in one matcher (``matchers = { service = "shop" }``,
``{ service = "cart" }``, ...). ``share()`` finds such groups and gives each service a
:class:`SharedView`: its ``sample()`` answers from one batched read of the whole group, where each
query matches every service of the group at once (``service=~"shop|cart|..."``) and keeps that label
in its aggregation (``sum by (colour, service) (...)``), then splits the answer per service. So a
group of 50 services costs four instant queries per poll, not 200.

A batched read is reused by every service that asks within ``max_age`` seconds of it (half the
shortest poll interval of the group), and a read already under way is waited for (within the
caller's own deadline guard) rather than sent twice. A failure is shared the same way: every
service of the group reports it for that poll.

Sources that cannot be batched are left alone (polled one by one, as before): a ``queries`` or
``sessions_backends`` override, a different URL, credentials, window, colour label or colours, or
matchers that differ in more than one label (or in none).

Nothing here imports Textual, ``console`` or ``widgets``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from backends.base import Colour, ColourMetrics, MetricsSource
from backends.prometheus.client import PrometheusClient
from backends.prometheus.options import PrometheusOptions
from backends.prometheus.queries import Queries
from backends.prometheus.source import PrometheusMetrics, figures, send_all
from backends.shared import SharedGroup, SharedRead

__all__ = ["PrometheusBatch", "SharedView", "share"]


def _shape(opts: PrometheusOptions) -> tuple[Any, ...] | None:
    """What must be equal for two sources to share one read, or None: this one never shares."""
    if opts.queries or opts.sessions_backends:
        return None
    return (
        opts.url.rstrip("/"),
        opts.colour_label,
        tuple(sorted((c.value, v) for c, v in opts.colours.items())),
        opts.window,
        opts.timeout,
        opts.bearer_token_env,
        opts.bearer_token_file,
        opts.basic_auth_user,
        opts.basic_auth_password_env,
        opts.basic_auth_password_file,
        opts.tls_verify,
        opts.ca_file,
        tuple(sorted(opts.matchers)),
    )


def _service_label(group: Sequence[PrometheusOptions]) -> str | None:
    """The one matcher whose value tells the group's services apart (each value once), or None."""
    differing = [key for key in group[0].matchers if len({o.matchers[key] for o in group}) > 1]
    if len(differing) != 1:
        return None
    key = differing[0]
    values = [o.matchers[key] for o in group]
    return key if len(set(values)) == len(values) else None


class PrometheusBatch(SharedGroup):
    """One batched read of a group of services sharing a Prometheus (see the module docstring)."""

    def __init__(
        self, opts: PrometheusOptions, label: str, values: Mapping[str, str], max_age: float
    ) -> None:
        """``values``: service name -> its value of ``label``; ``opts``: any member's options
        (they agree on everything but that label)."""
        super().__init__()
        self.opts = opts
        self.label = label
        self.values = dict(values)
        self.max_age = max_age
        self.queries = Queries(opts, group_by=(label, sorted(set(values.values()))))
        self._clients = [PrometheusClient(opts) for _ in self.queries]
        self._pool = ThreadPoolExecutor(
            max_workers=len(self._clients) + 1, thread_name_prefix="prom-batch"
        )
        self.shared: SharedRead[list[list[Any]]] = SharedRead(
            self._read, max_age, f"Prometheus {opts.url}", self._pool
        )
        self._open = len(self.values)  # every member joined: each SharedView releases once

    @property
    def queries_per_read(self) -> int:
        return len(self.queries)

    def _read(self) -> list[list[Any]]:
        return send_all(self._clients, self.queries, self._pool, self.opts)

    def answer(self, timeout: float) -> list[list[Any]]:
        """The group's answers, at most ``max_age`` old: the last read, the one under way, or a
        new one (``backends.shared.SharedRead``). Raises the read's BackendError (shared with
        every service asking meanwhile)."""
        return self.shared.get(timeout)

    def sample(self, service: str, timeout: float) -> Mapping[Colour, ColourMetrics]:
        """``service``'s figures from the group's answers."""
        results = self.answer(timeout)
        value = self.values[service]
        mine = [
            [s for s in r if str(s.get("metric", {}).get(self.label)) == value] for r in results
        ]
        return figures(self.queries, self.opts.colour_label, mine)

    def _close_group(self) -> None:
        """The last member closed: the clients and their pool."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        for client in self._clients:
            client.close()


class SharedView(MetricsSource):
    """One service's view of a :class:`PrometheusBatch`: ``sample()`` from the shared read;
    ``history()`` and ``describe()`` from the service's own source."""

    kind: ClassVar[str] = "prometheus"
    SUPPORTS_HISTORY: ClassVar[bool] = True

    def __init__(self, own: PrometheusMetrics, batch: PrometheusBatch, service: str) -> None:
        # no super().__init__: the options were validated by ``own``
        self.own = own
        self.batch = batch
        self.service = service

    def sample(self) -> Mapping[Colour, ColourMetrics]:
        return self.batch.sample(self.service, self.own.opts.timeout + 1.0)

    def history(
        self, colour: Colour, metrics: Sequence[str], start: float, end: float, step: float
    ) -> Mapping[str, Sequence[float | None]]:
        return self.own.history(colour, metrics, start, end, step)

    def describe(self) -> Mapping[str, str]:
        return self.own.describe()

    def close(self) -> None:
        self.own.close()
        self.batch.release()

    def __repr__(self) -> str:
        return f"SharedView(service={self.service!r}, url={self.own.opts.url!r})"


def share(
    sources: Mapping[str, MetricsSource], max_age: Mapping[str, float] | None = None
) -> tuple[dict[str, SharedView], list[PrometheusBatch]]:
    """Group the Prometheus sources of ``sources`` (service name -> source) that can be read
    together (two or more per group). Returns each grouped service's view and the batches.
    ``max_age``: per service, the age a shared read may have when it asks (default 0.5 s; the
    group uses its smallest)."""
    groups: dict[tuple[Any, ...], list[tuple[str, PrometheusMetrics]]] = {}
    for name, src in sources.items():
        if isinstance(src, PrometheusMetrics):
            shape = _shape(src.opts)
            if shape is not None:
                groups.setdefault(shape, []).append((name, src))
    views: dict[str, SharedView] = {}
    batches: list[PrometheusBatch] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        label = _service_label([src.opts for _, src in members])
        if label is None:
            continue
        age = min((max_age or {}).get(name, 0.5) for name, _ in members)
        batch = PrometheusBatch(
            members[0][1].opts, label, {n: s.opts.matchers[label] for n, s in members}, age
        )
        batches.append(batch)
        for name, src in members:
            views[name] = SharedView(src, batch, name)
    return views, batches
