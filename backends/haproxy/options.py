"""The HAProxy router's options: a typed model, validated once at build (``backends.options``)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, StrictBool, ValidationInfo, field_validator, model_validator

from backends.base import BackendContext
from backends.haproxy.io import parse_tcp_address
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

NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")  # an HAProxy proxy (backend) name
TOKEN = re.compile(r"^[^\s;#]+$")  # a map path or key: one CLI word, no ';' (command separator)
ONE_WORD = " (one word: no spaces, ';' or '#')"

_SOCKET = 'admin stats socket: a unix socket path, or "host:port" for a TCP one'
_MAP = "the map file exactly as named in HAProxy's config (map_beg(...) / map(...))"
_BACKENDS = 'a table of both colours, e.g. { blue = "blue-backend", green = "green-backend" }'


def _socket(value: Any) -> str:
    expected = _SOCKET + ', e.g. "/run/haproxy/admin.sock"'
    if not isinstance(value, str) or not value.strip():
        raise problem(expected)
    sock = value.strip()
    if ":" in sock and not sock.startswith(("/", ".")) and parse_tcp_address(sock) is None:
        raise problem('a unix socket path, or "host:port" with a numeric port', found=repr(sock))
    return sock


class HAProxyOptions(BackendOptions):
    """``[service.router]`` of ``kind = "haproxy"``; the fields are in the order the docs list them."""

    socket: Annotated[str, BeforeValidator(_socket)] = option(
        expected=_SOCKET + ', e.g. "/run/haproxy/admin.sock"'
    )
    map: Annotated[
        str, text(_MAP + ', e.g. "/etc/haproxy/backend.map"', TOKEN, pattern_hint=ONE_WORD)
    ] = option(expected=_MAP + ', e.g. "/etc/haproxy/backend.map"')
    backends: Annotated[
        ColourMap,
        colour_table(
            NAME,
            "an HAProxy backend name (letters, digits, - _ . :)",
            expected=_BACKENDS,
            different="backends",
            strip=True,
        ),
    ] = option(expected=_BACKENDS)
    map_key: Annotated[str, text('one word, e.g. "/"', TOKEN, pattern_hint=ONE_WORD)] = option(
        "/", expected='the map key whose value names the live backend (default "/")'
    )
    split_backend: Annotated[
        str | None, text("an HAProxy backend name", NAME, pattern_hint=ONE_WORD, optional=True)
    ] = option(None, expected="backend whose servers `track` the colour servers (weighted split)")
    map_file: Annotated[str, text("the map file's path on this machine (default: `map`)")] = option(
        expected="the map file's path on this machine (default: `map`)"
    )
    map_file_write: StrictBool = option(True, expected="true or false")
    timeout: Annotated[float, number("seconds, a number above 0 and at most 60", at_most=60)] = (
        option(expected="seconds, a number above 0 and at most 60")
    )

    @model_validator(mode="before")
    @classmethod
    def _map_file_defaults_to_map(cls, data: Any) -> Any:
        if isinstance(data, dict) and "map_file" not in data:
            return {**data, "map_file": data.get("map")}
        return data

    @field_validator("split_backend")
    @classmethod
    def _split_is_a_third_backend(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value in info.data.get("backends", {}).values():
            raise problem("a backend other than the two colour backends", found=repr(value))
        return value


def load_options(options: Any, context: BackendContext) -> HAProxyOptions:
    """``[service.router]`` (``kind`` included or not) -> HAProxyOptions, or ConfigError."""
    return parse_options(
        HAProxyOptions,
        options,
        context,
        role="router",
        kind="haproxy",
        defaults={"timeout": context.timeout},
    )
