"""The HTTP side of the Prometheus metrics source: one client per source (session, credentials, no
retries; the source runs one client per query, side by side), and every failure turned into a typed error of
:mod:`backends.base` naming the URL and the reason."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import warnings
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.exceptions import InsecureRequestWarning, ReadTimeoutError
from urllib3.util.retry import Retry

from backends.base import BackendTimeout, PermissionDenied, QueryError, Unreachable
from backends.prometheus.options import PrometheusOptions
from backends.prometheus.queries import Query


class PrometheusClient:
    """Prometheus's HTTP API for one metrics source.

    ``query(q, timeout)`` sends one instant query and returns its result (a list of series), or
    raises Unreachable / BackendTimeout / PermissionDenied / QueryError. ``refresh_token`` re-reads
    a rotated bearer token file. Not thread-safe by itself: the source serialises its polls.
    """

    def __init__(self, opts: PrometheusOptions) -> None:
        self.url = opts.url
        self._headers = opts.headers
        self._token_file = opts.bearer_token_file
        # The options read the token at build: a rotation after that (even before the first poll)
        # is a change of this mtime.
        self._token_mtime: float | None = None
        if self._token_file:
            with contextlib.suppress(OSError):
                self._token_mtime = os.stat(self._token_file).st_mtime
        if not opts.tls_verify:
            # Said once in the docs; not a warning per request on the console's stderr.
            host = urlsplit(self.url).hostname or ""
            warnings.filterwarnings(
                "ignore",
                message=f"Unverified HTTPS request is being made to host '{re.escape(host)}'",
                category=InsecureRequestWarning,
            )
        self._last_response: requests.Response | None = None
        session = requests.Session()
        session.verify = opts.ca_file if opts.ca_file else opts.tls_verify
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
            auth=opts.auth,
            session=session,
            timeout=opts.timeout,
        )

    def query(self, q: Query, timeout: float) -> list[Any]:
        """Send one instant query; its result, checked to be an instant vector of series."""
        return self._run(q, timeout)

    def query_range(
        self, q: Query, start: float, end: float, step: float, timeout: float
    ) -> list[Any]:
        """Send one range query over [start, end] (epoch seconds, whole seconds as the library
        rounds them) with ``step`` seconds; its result, checked to be a matrix of series (each with
        ``values``: [time, "value"] pairs)."""
        when = (
            datetime.fromtimestamp(start, timezone.utc),
            datetime.fromtimestamp(end, timezone.utc),
        )
        return self._run(q, timeout, (*when, f"{max(step, 0.001):g}"))

    def close(self) -> None:
        self._client.close()

    def refresh_token(self) -> None:
        """Re-read a bearer token file when it changes (rotated service-account tokens). The token
        is stripped of surrounding white space (a trailing newline, LF or CRLF), as at build."""
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

    # ----------------------------------------------------------------------------------------------
    # One query

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_response = response

    def _run(
        self, q: Query, timeout: float, span: tuple[datetime, datetime, str] | None = None
    ) -> list[Any]:
        self._last_response = None
        where = f"Prometheus at {self.url}"
        try:
            if span is None:
                result = self._client.custom_query(q.promql, timeout=timeout)
            else:  # a range query (``query_range``): the same errors, read the same way
                result = self._client.custom_query_range(
                    q.promql, span[0], span[1], span[2], timeout=timeout
                )
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
        return self._check_result(q, result, "matrix" if span is not None else "vector")

    def _raise_for_answer(self, q: Query) -> None:
        """Turn a non-200 answer (kept by the response hook) into the right typed error."""
        r = self._last_response
        if r is None:
            return
        where = f"Prometheus at {self.url}"
        status = f"HTTP {r.status_code}{' ' + r.reason if r.reason else ''}"
        body = _json_or_none(r)
        prom_error = body.get("error") if isinstance(body, dict) else None
        if isinstance(prom_error, str):  # a proxy that echoes the request must not echo our secret
            prom_error = _scrub(r, prom_error)
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
        raise Unreachable(
            f"{where} answered {status} to the {q.metric} query{_scrub(r, _snippet(r))}"
        )

    def _garbage(self, q: Query) -> str:
        r = self._last_response
        if r is None:
            return f"gave an answer to the {q.metric} query that could not be read"
        ctype = r.headers.get("Content-Type", "no content type")
        return (
            f"answered the {q.metric} query with something that is not Prometheus's JSON "
            f"(HTTP {r.status_code}, {ctype}){_scrub(r, _snippet(r))}: is url a Prometheus server?"
        )

    def _check_result(self, q: Query, result: Any, expect: str = "vector") -> list[Any]:
        where = f"Prometheus at {self.url}"
        body = _json_or_none(self._last_response) if self._last_response is not None else None
        data = body.get("data") if isinstance(body, dict) else None
        rtype = data.get("resultType") if isinstance(data, dict) else expect
        if rtype != expect:
            what = "an instant vector" if expect == "vector" else "a range of series"
            raise QueryError(
                f"the {q.metric} query returned a {rtype}, not {what} grouped by "
                f"{q.label}\n  query: {q.promql}"
            )
        if not isinstance(result, list) or not all(
            isinstance(s, dict)
            and isinstance(s.get("metric"), dict)
            and (
                isinstance(s.get("value"), list) and len(s["value"]) == 2
                if expect == "vector"
                else isinstance(s.get("values"), list)
            )
            for s in result
        ):
            raise Unreachable(
                f"{where} answered the {q.metric} query with JSON of an unexpected shape "
                f"(not a list of series): is url a Prometheus server?"
            )
        return result


# --------------------------------------------------------------------------------------------------
# Helpers


def _scrub(r: requests.Response, text: str) -> str:
    """``text`` (taken from an answer) less the credentials the request carried: a server or proxy
    that echoes the request (its Authorization header) must not put the bearer token or the basic-auth
    password into an error, which the screen shows and the recording keeps."""
    sent = r.request.headers.get("Authorization") if r.request is not None else None
    if not sent:
        return text
    secrets = {sent}
    scheme, _, cred = sent.partition(" ")
    if cred:
        secrets.add(cred)
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                pair = base64.b64decode(cred, validate=True).decode()
                secrets.add(pair)
                secrets.add(pair.partition(":")[2])
    for secret in sorted((x for x in secrets if len(x) >= 4), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


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


def _json_or_none(r: requests.Response | None) -> Any:
    if r is None:
        return None
    try:
        return json.loads(r.content)
    except (ValueError, UnicodeDecodeError):
        return None
