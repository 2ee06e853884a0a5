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
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn
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
    ConfigError,
    MetricsSource,
    PermissionDenied,
    QueryError,
    Unreachable,
)

METRICS: tuple[str, ...] = ColourMetrics.METRICS  # rate, error_pct, latency_ms, sessions

#: The default PromQL per metric. Placeholders are replaced literally (other braces are PromQL's):
#: ``{selector}`` ``{matchers}`` ``{window}`` ``{colour_label}`` and, for sessions,
#: ``{proxy_selector}``.
DEFAULT_QUERIES: dict[str, str] = {
    "rate": "sum by ({colour_label}) (rate(http_requests_total{selector}[{window}]))",
    # `or ... * 0` gives a colour that has traffic but never answered a 5xx a 0 numerator (its 5xx
    # series does not exist yet); a colour with no traffic still gets 0/0 = NaN ("no traffic").
    "error_pct": (
        '(sum by ({colour_label}) (rate(http_requests_total{{matchers},code=~"5.."}[{window}]))'
        " or sum by ({colour_label}) (rate(http_requests_total{selector}[{window}])) * 0)"
        " / sum by ({colour_label}) (rate(http_requests_total{selector}[{window}])) * 100"
    ),
    "latency_ms": (
        "histogram_quantile(0.99, sum by ({colour_label}, le) "
        "(rate(http_request_duration_seconds_bucket{selector}[{window}]))) * 1000"
    ),
    "sessions": "sum by ({colour_label}) (http_requests_in_flight{selector})",
}

#: With ``sessions_backends``: HAProxy's exporter, label ``proxy`` (not ``backend``).
SESSIONS_HAPROXY_QUERY = "sum by (proxy) (haproxy_backend_current_sessions{proxy_selector})"

PLACEHOLDERS = ("selector", "matchers", "window", "colour_label", "proxy_selector")

OPTIONS = (
    "url",
    "colour_label",
    "colours",
    "matchers",
    "window",
    "queries",
    "sessions_backends",
    "timeout",
    "bearer_token_env",
    "bearer_token_file",
    "basic_auth_user",
    "basic_auth_password_env",
    "basic_auth_password_file",
    "tls_verify",
    "ca_file",
)

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
_PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")
_REGEX_META = re.compile(r"([.^$*+?()\[\]{}|\\])")


def promql_string(value: str) -> str:
    """``value`` as a PromQL double-quoted string literal: nothing in it can end the string."""
    out = value.replace("\\", "\\\\").replace('"', '\\"')
    out = out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{out}"'


def regex_escape(value: str) -> str:
    """Escape RE2 metacharacters so ``value`` matches only itself inside ``=~``."""
    return _REGEX_META.sub(r"\\\1", value)


def _any_of(values: list[str]) -> str:
    """A PromQL regex string literal matching exactly one of ``values``."""
    return promql_string("|".join(regex_escape(v) for v in values))


@dataclass(frozen=True)
class _Query:
    metric: str
    promql: str
    label: str  # the label whose value names the colour in the answer
    by_value: Mapping[str, Colour]  # label value -> colour


class PrometheusMetrics(MetricsSource):
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

    def _check_result(self, q: _Query, result: Any) -> list[Any]:
        where = f"Prometheus at {self.url}"
        body = _json_or_none(self._last_response) if self._last_response is not None else None
        data = body.get("data") if isinstance(body, dict) else None
        rtype = data.get("resultType") if isinstance(data, dict) else "vector"
        if rtype != "vector":
            raise QueryError(
                f"the {q.metric} query returned a {rtype}, not an instant vector grouped by "
                f"{q.label}\n  query: {q.promql}"
            )
        if not isinstance(result, list) or not all(
            isinstance(s, dict)
            and isinstance(s.get("metric"), dict)
            and isinstance(s.get("value"), list)
            and len(s["value"]) == 2
            for s in result
        ):
            raise Unreachable(
                f"{where} answered the {q.metric} query with JSON of an unexpected shape "
                f"(not a list of series): is url a Prometheus server?"
            )
        return result

    def _split(self, q: _Query, result: list[Any]) -> dict[Colour, float]:
        """One value per colour from one answer; series of other label values are ignored."""
        out: dict[Colour, float] = {}
        for series in result:
            colour = q.by_value.get(str(series["metric"].get(q.label)))
            if colour is None:
                continue
            if colour in out:
                raise QueryError(
                    f"the {q.metric} query returned several series for {colour}: it must be "
                    f"aggregated by {q.label} (sum by ({q.label}) ...)\n  query: {q.promql}"
                )
            try:
                out[colour] = float(series["value"][1])
            except (TypeError, ValueError):
                raise Unreachable(
                    f"Prometheus at {self.url} answered the {q.metric} query with a value that "
                    f"is not a number: {str(series['value'][1])[:40]!r}"
                ) from None
        return out

    # ----------------------------------------------------------------------------------------------
    # Queries

    def _build_queries(self, opts: dict[str, Any]) -> tuple[_Query, ...]:
        overrides = opts.get("queries", {})
        if not isinstance(overrides, Mapping):
            self._bad(
                "queries", repr(overrides), f"a table of metric -> PromQL ({', '.join(METRICS)})"
            )
        for key, text in overrides.items():
            if key not in METRICS:
                self._bad(f"queries.{key}", repr(key), "one of " + ", ".join(METRICS))
            if not isinstance(text, str) or not text.strip():
                self._bad(f"queries.{key}", repr(text), "a non-empty PromQL string")
            for name in _PLACEHOLDER.findall(text):
                if name not in PLACEHOLDERS:
                    self._bad(
                        f"queries.{key}",
                        "{" + name + "}",
                        "only the placeholders " + ", ".join("{" + p + "}" for p in PLACEHOLDERS),
                    )

        values = [self.colours[c] for c in COLOURS]
        matchers = [f"{self.colour_label}=~{_any_of(values)}"]
        matchers += [f"{name}={promql_string(value)}" for name, value in self.matchers.items()]
        subst = {
            "matchers": ",".join(matchers),
            "selector": "{" + ",".join(matchers) + "}",
            "window": self.window,
            "colour_label": self.colour_label,
        }
        by_colour_value = {self.colours[c]: c for c in COLOURS}
        if self.sessions_backends:
            proxies = [self.sessions_backends[c] for c in COLOURS]
            subst["proxy_selector"] = "{proxy=~" + _any_of(proxies) + "}"
        else:
            subst["proxy_selector"] = "{}"

        queries = []
        for metric in METRICS:
            label, by_value = self.colour_label, by_colour_value
            if metric in overrides:
                template = overrides[metric]
            elif metric == "sessions" and self.sessions_backends:
                template = SESSIONS_HAPROXY_QUERY
            else:
                template = DEFAULT_QUERIES[metric]
            if metric == "sessions" and self.sessions_backends:
                label = "proxy"
                by_value = {self.sessions_backends[c]: c for c in COLOURS}
            if "{proxy_selector}" in template and not self.sessions_backends:
                self._bad(
                    f"queries.{metric}", "{proxy_selector}", "sessions_backends set to use it"
                )
            promql = _PLACEHOLDER.sub(lambda m: subst[m.group(1)], template)
            queries.append(_Query(metric, promql, label, by_value))
        return tuple(queries)

    # ----------------------------------------------------------------------------------------------
    # Option parsing: every problem names the key, what was found and what is expected.

    def _bad(self, key: str, found: str, expected: str) -> NoReturn:
        raise ConfigError(
            f"service {self._service!r}, metrics (prometheus) option {key!r}: "
            f"found {found}, expected {expected}"
        )

    def _str(
        self, opts: dict[str, Any], key: str, default: str | None = None, *, secret: bool = False
    ) -> str | None:
        value = opts.get(key, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            found = f"a {type(value).__name__}" if secret else repr(value)
            self._bad(key, found, "a non-empty string")
        return value

    def _bool(self, opts: dict[str, Any], key: str, default: bool) -> bool:
        value = opts.get(key, default)
        if not isinstance(value, bool):
            self._bad(key, repr(value), "true or false")
        return value

    def _url(self, opts: dict[str, Any]) -> str:
        if "url" not in opts:
            self._bad("url", "nothing", 'the Prometheus base URL, e.g. "http://127.0.0.1:9090"')
        url = opts["url"]
        if not isinstance(url, str):
            self._bad("url", repr(url), 'a string such as "http://127.0.0.1:9090"')
        parts = urlsplit(url.strip())
        if parts.username or parts.password:
            # Say so without echoing the URL: it holds a secret.
            self._bad(
                "url",
                "a URL with credentials in it",
                "no user:password in the URL; use basic_auth_user and basic_auth_password_env",
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self._bad("url", repr(url), 'an http(s) URL such as "http://127.0.0.1:9090"')
        if parts.query or parts.fragment:
            # Not echoed: a query string may carry a token.
            self._bad("url", "a URL with a ?query or #fragment", "a base URL without them")
        return url.strip().rstrip("/")

    def _label_name(self, opts: dict[str, Any], key: str, default: str) -> str:
        value = opts.get(key, default)
        if not isinstance(value, str) or not _LABEL_NAME.match(value):
            self._bad(key, repr(value), "a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")
        return value

    def _colours(self, opts: dict[str, Any]) -> dict[Colour, str]:
        table = opts.get("colours", {})
        if not isinstance(table, Mapping):
            self._bad("colours", repr(table), 'a table such as { blue = "blue", green = "green" }')
        out = {c: c.value for c in COLOURS}
        for key, value in table.items():
            try:
                colour = Colour.parse(str(key))
            except ValueError:
                self._bad(f"colours.{key}", repr(key), "blue or green")
            if not isinstance(value, str) or not value:
                self._bad(f"colours.{key}", repr(value), "the label value (a non-empty string)")
            out[colour] = value
        if out[Colour.BLUE] == out[Colour.GREEN]:
            self._bad("colours", repr(dict(table)), "two different label values")
        return out

    def _matchers(self, opts: dict[str, Any]) -> dict[str, str]:
        table = opts.get("matchers", {})
        if not isinstance(table, Mapping):
            self._bad(
                "matchers", repr(table), 'a table of label -> value, e.g. { job = "checkout" }'
            )
        out: dict[str, str] = {}
        for name, value in table.items():
            if not isinstance(name, str) or not _LABEL_NAME.match(name):
                self._bad(f"matchers.{name}", repr(name), "a Prometheus label name")
            if name == self.colour_label:
                self._bad(f"matchers.{name}", repr(name), "a label other than colour_label")
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                self._bad(f"matchers.{name}", repr(value), "a string value")
            out[name] = str(value)
        return out

    def _window(self, opts: dict[str, Any]) -> str:
        value = opts.get("window", "1m")
        if not isinstance(value, str) or not _DURATION.match(value):
            self._bad("window", repr(value), 'a PromQL duration such as "1m", "30s" or "1m30s"')
        return value

    def _sessions_backends(self, opts: dict[str, Any]) -> dict[Colour, str]:
        table = opts.get("sessions_backends")
        if table is None:
            return {}
        expected = (
            'a table such as { blue = "bg_blue", green = "bg_green" } (HAProxy backend names)'
        )
        if not isinstance(table, Mapping):
            self._bad("sessions_backends", repr(table), expected)
        out: dict[Colour, str] = {}
        for key, value in table.items():
            try:
                colour = Colour.parse(str(key))
            except ValueError:
                self._bad(f"sessions_backends.{key}", repr(key), "blue or green")
            if not isinstance(value, str) or not value:
                self._bad(f"sessions_backends.{key}", repr(value), "an HAProxy backend name")
            out[colour] = value
        missing = [c.value for c in COLOURS if c not in out]
        if missing:
            self._bad("sessions_backends", f"no {missing[0]}", expected)
        if out[Colour.BLUE] == out[Colour.GREEN]:
            self._bad("sessions_backends", repr(dict(table)), "two different backend names")
        return out

    def _timeout(self, opts: dict[str, Any], context: BackendContext) -> float:
        value = opts.get("timeout", context.timeout)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 300:
            self._bad("timeout", repr(value), "seconds, a number above 0 (e.g. 2)")
        return float(value)

    def _ca_file(self, opts: dict[str, Any]) -> str | None:
        path = self._str(opts, "ca_file")
        if path is None:
            return None
        if not self.tls_verify:
            self._bad("ca_file", repr(path), "no ca_file when tls_verify = false")
        if not os.path.isfile(path):
            self._bad(
                "ca_file", f"{path!r} (no such file)", "a readable PEM file of CA certificates"
            )
        return path

    def _auth_options(
        self, opts: dict[str, Any]
    ) -> tuple[dict[str, str] | None, tuple[str, str] | None, str | None]:
        token_env = self._str(opts, "bearer_token_env", secret=True)
        token_file = self._str(opts, "bearer_token_file")
        user = self._str(opts, "basic_auth_user")
        pw_env = self._str(opts, "basic_auth_password_env", secret=True)
        pw_file = self._str(opts, "basic_auth_password_file")
        if token_env and token_file:
            self._bad(
                "bearer_token_file", "both bearer_token_env and bearer_token_file", "one of them"
            )
        if (token_env or token_file) and (user or pw_env or pw_file):
            self._bad(
                "basic_auth_user", "both bearer token and basic auth options", "one kind of auth"
            )
        if pw_env and pw_file:
            self._bad(
                "basic_auth_password_file",
                "both basic_auth_password_env and basic_auth_password_file",
                "one of them",
            )
        if user and not (pw_env or pw_file):
            self._bad(
                "basic_auth_password_env",
                "nothing",
                "the password's environment variable (or _file)",
            )
        if (pw_env or pw_file) and not user:
            self._bad("basic_auth_user", "nothing", "the user name that goes with the password")

        headers = None
        if token_env:
            headers = {"Authorization": f"Bearer {self._secret_env('bearer_token_env', token_env)}"}
        elif token_file:
            headers = {
                "Authorization": f"Bearer {self._secret_file('bearer_token_file', token_file)}"
            }
        auth = None
        if user:
            password = (
                self._secret_env("basic_auth_password_env", pw_env)
                if pw_env
                else self._secret_file("basic_auth_password_file", pw_file or "")
            )
            auth = (user, password)
        return headers, auth, token_file

    def _secret_env(self, key: str, name: str) -> str:
        # The option holds a variable's *name*; someone may have pasted the secret itself instead.
        # Only a conventional name (upper case, digits, _) is shown back.
        shown = name if _ENV_NAME.match(name) else "(not shown: not an UPPER_CASE variable name)"
        value = os.environ.get(name, "").strip()
        if not value:
            self._bad(
                key,
                f"the environment variable {shown} unset or empty",
                "the name of a variable that holds the secret",
            )
        return value

    def _secret_file(self, key: str, path: str) -> str:
        try:
            with open(path, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            self._bad(
                key, f"{path!r} unreadable ({exc.strerror})", "a readable file holding the secret"
            )
        if not value:
            self._bad(key, f"{path!r} empty", "a file holding the secret")
        return value

    def _refresh_token(self) -> None:
        """Re-read a bearer token file when it changes (rotated service-account tokens)."""
        if not self._token_file:
            return
        try:
            mtime = os.stat(self._token_file).st_mtime
        except OSError:
            return  # keep the token we have; a 401 will say so
        if self._token_mtime is None:
            self._token_mtime = mtime
            return
        if mtime != self._token_mtime:
            self._token_mtime = mtime
            try:
                with open(self._token_file, encoding="utf-8") as fh:
                    token = fh.read().strip()
            except OSError:
                return
            if token and self._headers is not None:
                self._headers["Authorization"] = f"Bearer {token}"


# --------------------------------------------------------------------------------------------------
# Helpers


def _json_or_none(r: requests.Response | None) -> Any:
    if r is None:
        return None
    try:
        return json.loads(r.content)
    except (ValueError, UnicodeDecodeError):
        return None


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
