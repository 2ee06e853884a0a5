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
* **unreachable**: refused, timed out, TLS failure, a 5xx or a body that is not Prometheus's JSON:
  :class:`~backends.base.Unreachable` (:class:`~backends.base.BackendTimeout` for a timeout) naming
  the URL and the reason. The client's retries are off (one attempt per query), so a poll fails within
  its timeout and the next poll simply tries again.
* **query rejected**: :class:`~backends.base.QueryError` with PromQL's own error text and the query.
* **not allowed**: 401 / 403: :class:`~backends.base.PermissionDenied`.

Secrets (bearer token, basic-auth password) are read from an environment variable or a file, kept in
private attributes, and never put in a message, a ``repr`` or a log line.

Helpers: ``_prometheus_options`` (option parsing, credentials) and ``_prometheus_queries`` (PromQL
templates and escaping, reading an answer). Nothing here imports Textual, ``console`` or ``widgets``.
"""

from __future__ import annotations

import math
import re
import threading
import time
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.exceptions import InsecureRequestWarning, ReadTimeoutError
from urllib3.util.retry import Retry

from backends.base import (
    COLOURS,
    BackendContext,
    BackendTimeout,
    Colour,
    ColourMetrics,
    MetricsSource,
    PermissionDenied,
    QueryError,
    Unreachable,
)
from backends.prometheus.options import OPTIONS, PrometheusOptionsMixin
from backends.prometheus.queries import (
    DEFAULT_QUERIES,
    METRICS,
    PLACEHOLDERS,
    SESSIONS_HAPROXY_QUERY,
    PrometheusQueriesMixin,
    _json_or_none,
    _Query,
    promql_string,
    regex_escape,
)

__all__ = [
    "DEFAULT_QUERIES",
    "METRICS",
    "OPTIONS",
    "PLACEHOLDERS",
    "SESSIONS_HAPROXY_QUERY",
    "PrometheusMetrics",
    "promql_string",
    "regex_escape",
]


class PrometheusMetrics(PrometheusOptionsMixin, PrometheusQueriesMixin, MetricsSource):
    """Reads the four figures of both colours from Prometheus's HTTP API (instant queries).

    Options (``[service.metrics]``, all validated at build; see the README):
    ``url`` (required), ``colour_label``, ``colours``, ``matchers``, ``window``, ``queries``,
    ``sessions_backends``, ``timeout``, ``bearer_token_env`` / ``bearer_token_file``,
    ``basic_auth_user`` + ``basic_auth_password_env`` / ``basic_auth_password_file``, ``tls_verify``,
    ``ca_file``.

    ``sample()`` runs at most four HTTP requests, one per metric, sharing one deadline of ``timeout``
    seconds; it raises on the first failure (the remaining queries are not sent).
    """

    kind: ClassVar[str] = "prometheus"

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        super().__init__(options, context)
        opts = dict(options)
        if opts.get("kind", self.kind) == self.kind:
            opts.pop("kind", None)
        self._service = context.service
        unknown = sorted(set(opts) - set(OPTIONS))
        if unknown:
            # The value is not shown: an unknown key may well be a misplaced password.
            self._bad(unknown[0], "an unknown option", "one of " + ", ".join(OPTIONS))

        self.url = self._url(opts)
        self.colour_label = self._label_name(opts, "colour_label", "colour")
        self.colours = self._colours(opts)
        self.matchers = self._matchers(opts)
        self.window = self._window(opts)
        self.sessions_backends = self._sessions_backends(opts)
        self.timeout = self._timeout(opts, context)
        self.tls_verify = self._bool(opts, "tls_verify", True)
        self.ca_file = self._ca_file(opts)
        self._headers, self._auth, self._token_file = self._auth_options(opts)
        self._token_mtime: float | None = None
        self._queries = self._build_queries(opts)

        if not self.tls_verify:
            # Said once in the docs; not a warning per request on the console's stderr.
            host = urlsplit(self.url).hostname or ""
            warnings.filterwarnings(
                "ignore",
                message=f"Unverified HTTPS request is being made to host '{re.escape(host)}'",
                category=InsecureRequestWarning,
            )
        self._lock = threading.Lock()
        self._last_response: requests.Response | None = None
        session = requests.Session()
        session.verify = self.ca_file if self.ca_file else self.tls_verify
        session.hooks["response"].append(self._remember)
        # One attempt per query: no retry, no backoff. The library's default (3 tries, backoff 1)
        # turns a refused connection into a 6 s wait; the next poll is the retry.
        no_retry = Retry(
            total=0, connect=0, read=0, redirect=0, status=0, other=0, raise_on_status=False
        )
        self._client = PrometheusConnect(
            url=self.url,
            headers=self._headers,
            retry=no_retry,
            auth=self._auth,
            session=session,
            timeout=self.timeout,
        )

    # ----------------------------------------------------------------------------------------------
    # Contract

    def sample(self) -> Mapping[Colour, ColourMetrics]:
        with self._lock:
            self._refresh_token()
            deadline = time.monotonic() + self.timeout
            values: dict[Colour, dict[str, Any]] = {c: {} for c in COLOURS}
            notes: dict[Colour, dict[str, str]] = {c: {} for c in COLOURS}
            seen: set[Colour] = set()  # colours with at least one series from the app's metrics
            for q in self._queries:
                remaining = deadline - time.monotonic()
                if remaining <= 0.01:
                    raise BackendTimeout(
                        f"Prometheus at {self.url} did not answer the {len(self._queries)} queries "
                        f"within {self.timeout:g} s (out of time before the {q.metric} query)"
                    )
                result = self._run(q, remaining)
                per_colour = self._split(q, result)
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
                        if math.isinf(v) and q.metric == "latency_ms":
                            notes[colour][q.metric] = "above the highest histogram bucket"
                    if q.label == self.colour_label:
                        seen.add(colour)
            # A colour whose app is scraped but never served a request has a histogram of zeros but
            # no request counter yet (client libraries create a labelled series on first use): its
            # missing figures mean "no traffic", not "no data". HAProxy's sessions are no evidence:
            # they exist whether or not the app's own metrics reach Prometheus.
            for colour in seen:
                for metric, note in notes[colour].items():
                    if note == "no data" and metric != "sessions":
                        notes[colour][metric] = "no traffic"
            return {
                c: ColourMetrics(**values[c], latency_stat="p99", notes=notes[c]) for c in COLOURS
            }

    def describe(self) -> Mapping[str, str]:
        return {q.metric: q.promql for q in self._queries}

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:  # no secret in here, ever
        return f"PrometheusMetrics(service={self._service!r}, url={self.url!r})"

    # ----------------------------------------------------------------------------------------------
    # One query

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_response = response

    def _run(self, q: _Query, timeout: float) -> list[Any]:
        self._last_response = None
        where = f"Prometheus at {self.url}"
        try:
            result = self._client.custom_query(q.promql, timeout=timeout)
        except requests.exceptions.ConnectTimeout:
            raise BackendTimeout(
                f"{where} did not accept a connection within {timeout:.1f} s ({q.metric} query)"
            ) from None
        except requests.exceptions.ReadTimeout:
            raise BackendTimeout(
                f"{where} did not answer the {q.metric} query within {timeout:.1f} s"
            ) from None
        except requests.exceptions.SSLError as exc:
            if "WRONG_VERSION_NUMBER" in _root_reason(exc):
                raise Unreachable(
                    f"{where} does not speak TLS: should the url start with http:// ?"
                ) from None
            raise Unreachable(
                f"{where}: TLS failed ({_root_reason(exc)}); set ca_file to the CA that signed its "
                "certificate (or tls_verify = false, for a lab only)"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            if any(isinstance(e, ReadTimeoutError) for e in _chain(exc)):
                # With retries off, urllib3 wraps a read timeout in MaxRetryError, which requests
                # turns into a ConnectionError rather than a ReadTimeout.
                raise BackendTimeout(
                    f"{where} did not answer the {q.metric} query within {timeout:.1f} s"
                ) from None
            raise Unreachable(f"{where} {_connection_reason(exc)}") from None
        except PrometheusApiClientException:
            self._raise_for_answer(q)
            raise Unreachable(f"{where} answered the {q.metric} query with an error") from None
        except (ValueError, KeyError, TypeError, requests.exceptions.RequestException):
            # A 200 whose body is not Prometheus's JSON (requests' JSONDecodeError is a ValueError)
            # or JSON of another shape (KeyError / TypeError inside the library).
            raise Unreachable(f"{where} {self._garbage(q)}") from None
        return self._check_result(q, result)

    def _raise_for_answer(self, q: _Query) -> None:
        """Turn a non-200 answer (kept by the response hook) into the right typed error."""
        r = self._last_response
        if r is None:
            return
        where = f"Prometheus at {self.url}"
        status = f"HTTP {r.status_code}{' ' + r.reason if r.reason else ''}"
        body = _json_or_none(r)
        prom_error = body.get("error") if isinstance(body, dict) else None
        if r.status_code in (401, 403):
            raise PermissionDenied(
                f"{where} answered {status} to the {q.metric} query: check the credentials "
                "(bearer_token_env / bearer_token_file / basic_auth_*)"
            )
        if isinstance(prom_error, str) and r.status_code in (400, 422):
            # bad_data (parse error) is 400; execution errors (e.g. many-to-many matching) are 422.
            raise QueryError(
                f"Prometheus rejected the {q.metric} query: {prom_error}\n  query: {q.promql}"
            )
        if isinstance(prom_error, str):
            raise Unreachable(f"{where} answered {status} to the {q.metric} query: {prom_error}")
        if r.status_code == 404:
            raise Unreachable(
                f"{where} answered {status} for /api/v1/query: is url the Prometheus base URL?"
            )
        raise Unreachable(f"{where} answered {status} to the {q.metric} query{_snippet(r)}")

    def _garbage(self, q: _Query) -> str:
        r = self._last_response
        if r is None:
            return f"gave an answer to the {q.metric} query that could not be read"
        ctype = r.headers.get("Content-Type", "no content type")
        return (
            f"answered the {q.metric} query with something that is not Prometheus's JSON "
            f"(HTTP {r.status_code}, {ctype}){_snippet(r)}: is url a Prometheus server?"
        )


# --------------------------------------------------------------------------------------------------
# Helpers


def _snippet(r: requests.Response) -> str:
    text = r.content[:120].decode("utf-8", "replace").strip()
    text = " ".join(text.split())
    return f": {text!r}" if text else " (empty body)"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: causes, contexts, urllib3's ``reason`` and requests' ``args[0]``."""
    out: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(out) < 20:
        e = todo.pop(0)
        if any(e is seen for seen in out):
            continue
        out.append(e)
        for nxt in (getattr(e, "reason", None), e.__cause__, e.__context__, *e.args[:1]):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return out


def _root_reason(exc: BaseException) -> str:
    root = _chain(exc)[-1]
    return str(root) or type(root).__name__


def _connection_reason(exc: requests.exceptions.ConnectionError) -> str:
    chain = _chain(exc)
    names = " ".join(type(e).__name__ + " " + str(e) for e in chain)
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "Connection refused" in names:
        return "refused the connection (is it running? is the port right?)"
    if "NameResolution" in names or "Name or service not known" in names or "getaddrinfo" in names:
        return "could not be found: the host name does not resolve"
    if any(isinstance(e, ConnectionResetError) for e in chain) or "reset" in names.lower():
        return "reset the connection"
    if "RemoteDisconnected" in names or "closed connection without response" in names.lower():
        return "closed the connection without answering"
    if "Network is unreachable" in names or "No route to host" in names:
        return "is not reachable from here (no route to host)"
    return f"could not be reached ({_root_reason(exc)})"
