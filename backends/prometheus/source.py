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
from collections.abc import Mapping
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

    ``sample()`` runs at most four HTTP requests, one per metric, sharing one deadline of
    ``timeout`` seconds; it raises on the first failure (the remaining queries are not sent).
    """

    kind: ClassVar[str] = "prometheus"

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        super().__init__(options, context)
        self._service = context.service
        self.opts: PrometheusOptions = load_options(options, context)
        self.queries = Queries(self.opts)
        self._client = PrometheusClient(self.opts)
        self._lock = threading.Lock()  # one poll at a time: the client remembers the last answer

    @property
    def url(self) -> str:
        return self.opts.url

    # ----------------------------------------------------------------------------------------------
    # Contract

    def sample(self) -> Mapping[Colour, ColourMetrics]:
        with self._lock:
            self._client.refresh_token()
            deadline = time.monotonic() + self.opts.timeout
            values: dict[Colour, dict[str, Any]] = {c: {} for c in COLOURS}
            notes: dict[Colour, dict[str, str]] = {c: {} for c in COLOURS}
            seen: set[Colour] = set()  # colours with at least one series from the app's metrics
            for q in self.queries:
                remaining = deadline - time.monotonic()
                if remaining <= 0.01:
                    raise BackendTimeout(
                        f"Prometheus at {self.opts.url} did not answer the {len(self.queries)} queries "
                        f"within {self.opts.timeout:g} s (out of time before the {q.metric} query)"
                    )
                result = self._client.query(q, remaining)
                per_colour = self.queries.split(q, result)
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
                    if q.label == self.opts.colour_label:
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
                c: ColourMetrics(**values[c], latency_stat="p99", notes=notes[c]) for c in COLOURS
            }

    def describe(self) -> Mapping[str, str]:
        return self.queries.describe()

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:  # no secret in here, ever
        return f"PrometheusMetrics(service={self._service!r}, url={self.opts.url!r})"
