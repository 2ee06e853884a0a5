"""``kind = "prometheus"``: rate, error %, p99 and sessions per colour, read from Prometheus.

One PromQL query per metric per poll serves both colours: every default query groups by the colour
label (``sum by (colour) (...)``), and the answer is split per colour here. So a poll costs Prometheus
four instant queries, whatever the number of colours.

What each failure looks like to the caller (``sample()``):

* **no traffic**: the colour has series but its rate is 0, so error % and p99 are 0/0 (NaN): the value
  is ``None`` with the note ``"no traffic"``; the rate itself is a plain 0. A colour that is scraped
  (its histogram is there) but has never served a request has no request counter yet: its rate and
  error % are ``None`` with ``"no traffic"`` too.
* **no data**: no series at all for the colour: ``None`` with the note ``"no data"``.
* **no series for this query**: the colour serves traffic (its rate is above 0) but one query found
  no series for it: the query matches nothing (a misspelt metric in a ``queries`` override, an app
  without the histogram): ``None`` with the note ``"no series for this query: check the query"``,
  never "no traffic".
* **unreachable**: refused, timed out, TLS failure, a 5xx or a body that is not Prometheus's JSON:
  :class:`~backends.base.Unreachable` (:class:`~backends.base.BackendTimeout` for a timeout) naming
  the URL and the reason. The client's retries are off (one attempt per query), so a poll fails within
  its timeout and the next poll simply tries again.
* **query rejected**: :class:`~backends.base.QueryError` with PromQL's own error text and the query.
* **not allowed**: 401 / 403: :class:`~backends.base.PermissionDenied`.

Secrets (bearer token, basic-auth password) are read from an environment variable or a file, kept in
private attributes, and never put in a message, a ``repr`` or a log line.

The source holds its parts rather than mixing them in: ``PrometheusOptions`` (``options``: the
typed options and the credentials), ``Queries`` (``queries``: the PromQL, built once, and the reading
of an answer) and ``PrometheusClient`` (``client``: HTTP and its errors). Nothing here imports
Textual, ``console`` or ``widgets``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, ClassVar

from backends.base import (
    COLOURS,
    BackendContext,
    BackendTimeout,
    Colour,
    ColourMetrics,
    MetricsSource,
)
from backends.prometheus.client import PrometheusClient
from backends.prometheus.options import PrometheusOptions, load_options
from backends.prometheus.queries import Queries

__all__ = ["NO_SERIES", "PrometheusMetrics"]

#: The note of a figure whose query found no series for a colour that serves traffic.
NO_SERIES = "no series for this query: check the query"


class PrometheusMetrics(MetricsSource):
    """Reads the four figures of both colours from Prometheus's HTTP API (instant queries).

    Options (``[service.metrics]``, all validated at build by :class:`PrometheusOptions`; see the
    docs): ``url`` (required), ``colour_label``, ``colours``, ``matchers``, ``window``,
    ``queries``, ``sessions_backends``, ``timeout``, ``bearer_token_env`` / ``bearer_token_file``,
    ``basic_auth_user`` + ``basic_auth_password_env`` / ``basic_auth_password_file``,
    ``tls_verify``, ``ca_file``.

    ``sample()`` sends its queries (one per metric) side by side, each on a client of its own, and
    waits for them under one deadline of ``timeout`` seconds: a poll takes as long as the slowest
    query, not the sum of them. A failure raises the error of the first failing query in the order
    rate, error %, p99, sessions (the same message whichever answers first).
    """

    kind: ClassVar[str] = "prometheus"

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        super().__init__(options, context)
        self._service = context.service
        self.opts: PrometheusOptions = load_options(options, context)
        self.queries = Queries(self.opts)
        # One client per query: a client remembers its last answer, so it serves one query at a time
        self._clients = [PrometheusClient(self.opts) for _ in self.queries]
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(self._clients)), thread_name_prefix=f"prom-{context.service}"
        )
        self._lock = threading.Lock()  # one poll at a time

    @property
    def url(self) -> str:
        return self.opts.url

    # ----------------------------------------------------------------------------------------------
    # Contract

    def sample(self) -> Mapping[Colour, ColourMetrics]:
        with self._lock:
            results = send_all(self._clients, self.queries, self._pool, self.opts)
            return figures(self.queries, self.opts.colour_label, results)

    SUPPORTS_HISTORY: ClassVar[bool] = True
    #: Prometheus refuses a range query of more than 11,000 points per series
    MAX_POINTS: ClassVar[int] = 10_000

    def history(
        self,
        colour: Colour,
        metrics: Sequence[str],
        start: float,
        end: float,
        step: float,
    ) -> Mapping[str, Sequence[float | None]]:
        """``colour``'s figures over [start, end] (wall clock): one range query per metric, with
        the same PromQL as ``sample()`` (so each sample is what a poll at that moment would have
        read), sent side by side under one deadline of ``timeout`` seconds. NaN (no traffic at that
        step) is None; a metric with no series for the colour gives no samples."""
        with self._lock:
            for client in self._clients:
                client.refresh_token()
            step = max(step, (end - start) / self.MAX_POINTS, 0.001)
            deadline = time.monotonic() + self.opts.timeout
            pairs = [(c, q) for c, q in zip(self._clients, self.queries, strict=True)]
            pairs = [(c, q) for c, q in pairs if q.metric in metrics]
            sent = [
                self._pool.submit(c.query_range, q, start, end, step, self.opts.timeout)
                for c, q in pairs
            ]
            out: dict[str, Sequence[float | None]] = {m: () for m in metrics}
            for (_, q), future in zip(pairs, sent, strict=True):
                try:
                    result = future.result(max(0.05, deadline - time.monotonic()) + 0.5)
                except FutureTimeout:
                    for f in sent:
                        f.cancel()
                    raise BackendTimeout(
                        f"Prometheus at {self.opts.url} did not answer the {q.metric} range "
                        f"query within {self.opts.timeout:g} s"
                    ) from None
                values = self.queries.split_range(q, result).get(colour, [])
                out[q.metric] = tuple(None if math.isnan(v) else v for v in values)
            return out

    def describe(self) -> Mapping[str, str]:
        return self.queries.describe()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for client in self._clients:
            client.close()

    def __repr__(self) -> str:  # no secret in here, ever
        return f"PrometheusMetrics(service={self._service!r}, url={self.opts.url!r})"


def send_all(
    clients: Sequence[PrometheusClient],
    queries: Queries,
    pool: ThreadPoolExecutor,
    opts: PrometheusOptions,
) -> list[list[Any]]:
    """Send ``queries`` side by side (one per client) under one deadline of ``opts.timeout``;
    their answers in the queries' order. Raises the first failure in that order (a timeout as
    :class:`~backends.base.BackendTimeout`)."""
    for client in clients:
        client.refresh_token()
    deadline = time.monotonic() + opts.timeout
    qs = list(queries)
    sent = [
        pool.submit(client.query, q, opts.timeout) for client, q in zip(clients, qs, strict=True)
    ]
    results = []
    for q, future in zip(qs, sent, strict=True):
        try:
            # a little beyond the deadline: the client's own timeout speaks first
            results.append(future.result(max(0.05, deadline - time.monotonic()) + 0.5))
        except FutureTimeout:
            for f in sent:
                f.cancel()
            raise BackendTimeout(
                f"Prometheus at {opts.url} did not answer the {q.metric} query "
                f"within {opts.timeout:g} s"
            ) from None
    return results


def figures(
    queries: Queries, colour_label: str, results: Sequence[list[Any]]
) -> dict[Colour, ColourMetrics]:
    """Both colours' figures from the answers to ``queries`` (in their order), with the notes
    the module's docstring lists ("no traffic", "no data", :data:`NO_SERIES`)."""
    values: dict[Colour, dict[str, Any]] = {c: {} for c in COLOURS}
    notes: dict[Colour, dict[str, str]] = {c: {} for c in COLOURS}
    seen: set[Colour] = set()  # colours with at least one series from the app's metrics
    for q, result in zip(queries, results, strict=True):
        per_colour = queries.split(q, result)
        for colour in COLOURS:
            if colour not in per_colour:
                notes[colour][q.metric] = "no data"
                values[colour][q.metric] = None
                continue
            v = per_colour[colour]
            if math.isnan(v):
                notes[colour][q.metric] = "no traffic"
                values[colour][q.metric] = None
            else:
                values[colour][q.metric] = v
                if math.isinf(v) and v > 0 and q.metric == "latency_ms":
                    notes[colour][q.metric] = "above the histogram's top bucket"
            if q.label == colour_label:
                seen.add(colour)
    # A colour whose app is scraped but never served a request has a histogram of zeros but
    # no request counter yet (client libraries create a labelled series on first use): its
    # missing figures mean "no traffic", not "no data". HAProxy's sessions are no evidence:
    # they exist whether or not the app's own metrics reach Prometheus.
    # But a colour that *is* serving (its rate is above 0) has traffic: a query that finds
    # no series for it is a query that matches nothing (a misspelt metric in a `queries`
    # override), not a quiet colour.
    for colour in seen:
        serving = (values[colour].get("rate") or 0.0) > 0.0
        for metric, note in notes[colour].items():
            if note == "no data" and metric != "sessions":
                notes[colour][metric] = NO_SERIES if serving else "no traffic"
    return {
        c: ColourMetrics(**values[c], latency_stat="p99", notes=notes[c]).with_sources("prometheus")
        for c in COLOURS
    }
