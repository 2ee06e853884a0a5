"""Options of the Prometheus metrics source: parsed and validated once, at build, every problem naming
the key, what was found and what is expected; and its credentials (bearer token, basic auth), read
from an environment variable or a file, never shown back in a message."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

from backends.base import COLOURS, BackendContext, Colour, ConfigError

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


class PrometheusOptionsMixin:
    """Option parsing and auth of :class:`~backends.prometheus.PrometheusMetrics`, which mixes this in:
    the parsed values become its attributes."""

    _service: str
    colour_label: str
    tls_verify: bool
    _headers: dict[str, str] | None
    _token_file: str | None
    _token_mtime: float | None

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
