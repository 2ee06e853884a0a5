"""The Prometheus metrics source's options: a typed model, validated once at build
(``backends.options``), and its credentials (bearer token, basic auth), read from an environment
variable or a file and kept in private attributes: never shown in a message, a ``repr`` or a log."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    PrivateAttr,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)

from backends.base import COLOURS, BackendContext, Colour, ColourMetrics
from backends.options import (
    BackendOptions,
    ColourMap,
    colour_table,
    number,
    option,
    parse_options,
    problem,
    text,
)

METRICS: tuple[str, ...] = ColourMetrics.METRICS  # rate, error_pct, latency_ms, sessions
PLACEHOLDERS = ("selector", "matchers", "window", "colour_label", "proxy_selector")
PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")

_URL = 'the Prometheus base URL, e.g. "http://127.0.0.1:9090"'
_COLOURS = 'a table such as { blue = "blue", green = "green" }'
_SESSIONS = 'a table such as { blue = "bg_blue", green = "bg_green" } (HAProxy backend names)'
_STRING = "a non-empty string"


def _url(value: Any) -> str:
    if not isinstance(value, str):
        raise problem('a string such as "http://127.0.0.1:9090"')
    parts = urlsplit(value.strip())
    if parts.username or parts.password:
        # Said without echoing the URL: it holds a secret.
        raise problem(
            "no user:password in the URL; use basic_auth_user and basic_auth_password_env",
            found="a URL with credentials in it",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise problem('an http(s) URL such as "http://127.0.0.1:9090"')
    if parts.query or parts.fragment:
        # Not echoed: a query string may carry a token.
        raise problem("a base URL without them", found="a URL with a ?query or #fragment")
    return value.strip().rstrip("/")


def _label(value: Any) -> str:
    if not isinstance(value, str) or not _LABEL_NAME.match(value):
        raise problem("a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")
    return value


def _secret_text(value: Any) -> str | None:
    """An option naming where a secret is: a string, never shown back if it is not one."""
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise problem(_STRING, found=f"a {type(value).__name__}")
    return value


def _plain_text(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise problem(_STRING)
    return value


SecretRef = Annotated[str | None, BeforeValidator(_secret_text)]
PlainText = Annotated[str | None, BeforeValidator(_plain_text)]


class PrometheusOptions(BackendOptions):
    """``[service.metrics]`` of ``kind = "prometheus"``."""

    url: Annotated[str, BeforeValidator(_url)] = option(expected=_URL)
    colour_label: Annotated[str, BeforeValidator(_label)] = option(
        "colour", expected="a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"
    )
    colours: Annotated[
        ColourMap,
        colour_table(
            lambda v: bool(v),
            "the label value (a non-empty string)",
            expected=_COLOURS,
            different="label values",
            defaults={c: c.value for c in COLOURS},
        ),
    ] = option(default_factory=lambda: {c: c.value for c in COLOURS}, expected=_COLOURS)
    matchers: Mapping[str, str] = option(
        default_factory=dict, expected='a table of label -> value, e.g. { job = "checkout" }'
    )
    window: Annotated[
        str, text('a PromQL duration such as "1m", "30s" or "1m30s"', _DURATION, strip=False)
    ] = option("1m", expected='a PromQL duration such as "1m", "30s" or "1m30s"')
    queries: Mapping[str, str] = option(
        default_factory=dict, expected=f"a table of metric -> PromQL ({', '.join(METRICS)})"
    )
    sessions_backends: Annotated[
        ColourMap | None,
        colour_table(
            lambda v: bool(v),
            "an HAProxy backend name",
            expected=_SESSIONS,
            different="backend names",
        ),
    ] = option(None, expected=_SESSIONS)
    timeout: Annotated[float, number("seconds, a number above 0 (e.g. 2)", at_most=300)] = option(
        expected="seconds, a number above 0 (e.g. 2)"
    )
    bearer_token_env: SecretRef = option(None, expected=_STRING, secret=True)
    bearer_token_file: PlainText = option(None, expected=_STRING)
    basic_auth_user: PlainText = option(None, expected=_STRING)
    basic_auth_password_env: SecretRef = option(None, expected=_STRING, secret=True)
    basic_auth_password_file: PlainText = option(None, expected=_STRING)
    tls_verify: StrictBool = option(True, expected="true or false")
    ca_file: PlainText = option(None, expected="a readable PEM file of CA certificates")

    _token: str | None = PrivateAttr(default=None)
    _password: str | None = PrivateAttr(default=None)

    @field_validator("matchers", mode="before")
    @classmethod
    def _matchers(cls, table: Any, info: ValidationInfo) -> dict[str, str]:
        if not isinstance(table, Mapping):
            raise problem('a table of label -> value, e.g. { job = "checkout" }')
        out: dict[str, str] = {}
        for name, value in table.items():
            if not isinstance(name, str) or not _LABEL_NAME.match(name):
                raise problem("a Prometheus label name", found=repr(name), key=f".{name}")
            if name == info.data.get("colour_label"):
                raise problem("a label other than colour_label", found=repr(name), key=f".{name}")
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise problem("a string value", found=repr(value), key=f".{name}")
            out[name] = str(value)
        return out

    @field_validator("queries", mode="before")
    @classmethod
    def _queries(cls, table: Any) -> dict[str, str]:
        if not isinstance(table, Mapping):
            raise problem(f"a table of metric -> PromQL ({', '.join(METRICS)})")
        for key, promql in table.items():
            if key not in METRICS:
                raise problem("one of " + ", ".join(METRICS), found=repr(key), key=f".{key}")
            if not isinstance(promql, str) or not promql.strip():
                raise problem("a non-empty PromQL string", found=repr(promql), key=f".{key}")
            for name in PLACEHOLDER.findall(promql):
                if name not in PLACEHOLDERS:
                    raise problem(
                        "only the placeholders " + ", ".join("{" + p + "}" for p in PLACEHOLDERS),
                        found="{" + name + "}",
                        key=f".{key}",
                    )
        return dict(table)

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, path: str | None, info: ValidationInfo) -> str | None:
        if path is None:
            return None
        if info.data.get("tls_verify") is False:
            raise problem("no ca_file when tls_verify = false", found=repr(path))
        if not os.path.isfile(path):
            raise problem(
                "a readable PEM file of CA certificates", found=f"{path!r} (no such file)"
            )
        return path

    @model_validator(mode="after")
    def _auth(self) -> PrometheusOptions:
        for metric, promql in self.queries.items():
            if "{proxy_selector}" in promql and not self.sessions_backends:
                raise problem(
                    "sessions_backends set to use it",
                    found="{proxy_selector}",
                    key=f"queries.{metric}",
                )
        token_env, token_file = self.bearer_token_env, self.bearer_token_file
        user = self.basic_auth_user
        pw_env, pw_file = self.basic_auth_password_env, self.basic_auth_password_file
        if token_env and token_file:
            raise problem(
                "one of them",
                found="both bearer_token_env and bearer_token_file",
                key="bearer_token_file",
            )
        if (token_env or token_file) and (user or pw_env or pw_file):
            raise problem(
                "one kind of auth",
                found="both bearer token and basic auth options",
                key="basic_auth_user",
            )
        if pw_env and pw_file:
            raise problem(
                "one of them",
                found="both basic_auth_password_env and basic_auth_password_file",
                key="basic_auth_password_file",
            )
        if user and not (pw_env or pw_file):
            raise problem(
                "the password's environment variable (or _file)",
                found="nothing",
                key="basic_auth_password_env",
            )
        if (pw_env or pw_file) and not user:
            raise problem(
                "the user name that goes with the password", found="nothing", key="basic_auth_user"
            )
        if token_env:
            self._token = _secret_env("bearer_token_env", token_env)
        elif token_file:
            self._token = _secret_file("bearer_token_file", token_file)
        if pw_env:
            self._password = _secret_env("basic_auth_password_env", pw_env)
        elif pw_file:
            self._password = _secret_file("basic_auth_password_file", pw_file)
        return self

    @property
    def headers(self) -> dict[str, str] | None:
        """The Authorization header of a bearer token, or None."""
        return {"Authorization": f"Bearer {self._token}"} if self._token else None

    @property
    def auth(self) -> tuple[str, str] | None:
        """(user, password) for basic auth, or None."""
        if self.basic_auth_user and self._password is not None:
            return self.basic_auth_user, self._password
        return None


def _secret_env(key: str, name: str) -> str:
    # The option holds a variable's *name*; someone may have pasted the secret itself instead.
    # Only a conventional name (upper case, digits, _) is shown back.
    shown = name if _ENV_NAME.match(name) else "(not shown: not an UPPER_CASE variable name)"
    value = os.environ.get(name, "").strip()
    if not value:
        raise problem(
            "the name of a variable that holds the secret",
            found=f"the environment variable {shown} unset or empty",
            key=key,
        )
    return value


def _secret_file(key: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            value = fh.read().strip()
    except OSError as exc:
        raise problem(
            "a readable file holding the secret",
            found=f"{path!r} unreadable ({exc.strerror})",
            key=key,
        ) from None
    if not value:
        raise problem("a file holding the secret", found=f"{path!r} empty", key=key)
    return value


def load_options(options: Mapping[str, Any], context: BackendContext) -> PrometheusOptions:
    """``[service.metrics]`` (``kind`` included or not) -> PrometheusOptions, or ConfigError."""
    return parse_options(
        PrometheusOptions,
        options,
        context,
        role="metrics source",
        kind="prometheus",
        defaults={"timeout": context.timeout},
    )


def by_value(table: Mapping[Colour, str]) -> dict[str, Colour]:
    """{colour: label value} -> {label value: colour}."""
    return {value: colour for colour, value in table.items()}
