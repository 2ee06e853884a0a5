"""The HAProxy router's options: a typed model, validated once at build (``backends.options``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
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


def _socket_or_none(value: Any) -> str | None:
    return None if value is None else _socket(value)


def _socket(value: Any) -> str:
    expected = _SOCKET + ', e.g. "/run/haproxy/admin.sock"'
    if not isinstance(value, str) or not value.strip():
        raise problem(expected)
    sock = value.strip()
    if ":" in sock and not sock.startswith(("/", ".")) and parse_tcp_address(sock) is None:
        raise problem('a unix socket path, or "host:port" with a numeric port', found=repr(sock))
    return sock


_INSTANCES = (
    "a list of tables, one per HAProxy instance, each with `socket` and optionally `name`, `map` "
    'and `map_file`, e.g. [{ name = "lb1", socket = "/run/haproxy-1/admin.sock" }, '
    '{ name = "lb2", socket = "10.0.0.2:9999" }]'
)
_INSTANCE_KEYS = ("name", "socket", "map", "map_file")


@dataclass(frozen=True)
class HAProxyInstance:
    """One HAProxy instance of a fleet: its name (for messages and the panel), its admin socket,
    the map as its config names it, and the map file's path on this machine."""

    name: str
    socket: str
    map: str | None
    map_file: str | None


def _instances(value: Any) -> tuple[HAProxyInstance, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not value:
        raise problem(_INSTANCES)
    out: list[HAProxyInstance] = []
    for i, raw in enumerate(value):
        where = f"instances[{i}]"
        if not isinstance(raw, dict):
            raise problem(
                "a table with `socket` (and optionally `name`, `map`, `map_file`)", key=where
            )
        unknown = sorted(set(raw) - set(_INSTANCE_KEYS))
        if unknown:
            raise problem(
                "only the keys " + ", ".join(_INSTANCE_KEYS),
                found=f"the key {unknown[0]!r}",
                key=f"{where}.{unknown[0]}",
            )
        if "socket" not in raw:
            raise problem(
                _SOCKET + ', e.g. "/run/haproxy-1/admin.sock"',
                found="nothing",
                key=f"{where}.socket",
            )
        try:
            sock = _socket(raw["socket"])
        except Exception as exc:  # the same rule as the top-level socket, pointed at this key
            ctx = getattr(exc, "context", None) or {}
            raise problem(
                str(ctx.get("expected", _SOCKET)),
                found=str(ctx.get("found", repr(raw["socket"]))),
                key=f"{where}.socket",
            ) from None
        fields: dict[str, str | None] = {}
        for key, expected, pattern in (
            ("name", 'a short name for messages, e.g. "lb1"', TOKEN),
            ("map", _MAP, TOKEN),
            ("map_file", "the map file's path on this machine", None),
        ):
            v = raw.get(key)
            if v is None:
                fields[key] = None
                continue
            if (
                not isinstance(v, str)
                or not v.strip()
                or (pattern and not pattern.match(v.strip()))
            ):
                raise problem(
                    expected + (ONE_WORD if pattern else ""), found=repr(v), key=f"{where}.{key}"
                )
            fields[key] = v.strip()
        out.append(HAProxyInstance(fields["name"] or sock, sock, fields["map"], fields["map_file"]))
    for attr in ("name", "socket"):
        seen: set[str] = set()
        for i, inst in enumerate(out):
            got = getattr(inst, attr)
            if got in seen:
                raise problem(
                    f"each instance with its own {attr}",
                    found=f"{got!r} twice",
                    key=f"instances[{i}].{attr}",
                )
            seen.add(got)
    return tuple(out)


class HAProxyOptions(BackendOptions):
    """``[service.router]`` of ``kind = "haproxy"``; the fields are in the order the docs list them."""

    socket: Annotated[str | None, BeforeValidator(_socket_or_none)] = option(
        None, expected=_SOCKET + ', e.g. "/run/haproxy/admin.sock"'
    )
    map: Annotated[
        str | None,
        text(
            _MAP + ', e.g. "/etc/haproxy/backend.map"', TOKEN, pattern_hint=ONE_WORD, optional=True
        ),
    ] = option(None, expected=_MAP + ', e.g. "/etc/haproxy/backend.map"')
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
    map_file: Annotated[
        str | None, text("the map file's path on this machine (default: `map`)", optional=True)
    ] = option(None, expected="the map file's path on this machine (default: `map`)")
    map_file_write: StrictBool = option(True, expected="true or false")
    timeout: Annotated[float, number("seconds, a number above 0 and at most 60", at_most=60)] = (
        option(expected="seconds, a number above 0 and at most 60")
    )
    instances: Annotated[tuple[HAProxyInstance, ...] | None, BeforeValidator(_instances)] = option(
        None, expected=_INSTANCES
    )

    @model_validator(mode="before")
    @classmethod
    def _map_file_defaults_to_map(cls, data: Any) -> Any:
        if isinstance(data, dict) and "map_file" not in data and data.get("instances") is None:
            return {**data, "map_file": data.get("map")}
        return data

    @model_validator(mode="after")
    def _one_instance_or_a_fleet(self) -> HAProxyOptions:
        map_expected = _MAP + ', e.g. "/etc/haproxy/backend.map"'
        if self.instances is None:
            if self.socket is None:
                raise problem(
                    _SOCKET + ', e.g. "/run/haproxy/admin.sock" (or `instances`, a list of them)',
                    found="nothing",
                    key="socket",
                )
            if self.map is None:
                raise problem(map_expected, found="nothing", key="map")
            return self
        if self.socket is not None:
            raise problem(
                "either `socket` (one HAProxy) or `instances` (a fleet), not both: move the "
                "socket into `instances`",
                found=repr(self.socket),
                key="socket",
            )
        if self.map_file is not None:
            raise problem(
                "`map_file` inside each entry of `instances` (each instance has its own file)",
                found=repr(self.map_file),
                key="map_file",
            )
        for i, inst in enumerate(self.instances):
            if inst.map is None and self.map is None:
                raise problem(
                    map_expected + " (in this entry, or `map` for every instance)",
                    found="nothing",
                    key=f"instances[{i}].map",
                )
        return self

    @property
    def file(self) -> str:
        """The map file's path on this machine (``map_file``, else ``map``)."""
        return self.map_file or self.map or ""

    @property
    def fleet(self) -> tuple[HAProxyOptions, ...]:
        """One single-instance option set per instance (just this one without ``instances``)."""
        if self.instances is None:
            return (self,)
        out = []
        for inst in self.instances:
            the_map = inst.map or self.map
            out.append(
                self.model_copy(
                    update={
                        "socket": inst.socket,
                        "map": the_map,
                        "map_file": inst.map_file or the_map,
                        "instances": None,
                        "name": inst.name,
                    }
                )
            )
        return tuple(out)

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
