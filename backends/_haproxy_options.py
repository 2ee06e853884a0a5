"""The HAProxy router's options: validated once, at build time, with messages naming the key, what
was found and what is expected."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from backends._haproxy_io import parse_tcp_address
from backends.base import COLOURS, BackendContext, Colour, ConfigError

NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")  # an HAProxy proxy (backend) name
TOKEN = re.compile(r"^[^\s;#]+$")  # a map path or key: one CLI word, no ';' (command separator)

#: option -> (required?, what it is), in the order the docs list them
OPTIONS: dict[str, tuple[bool, str]] = {
    "socket": (True, 'admin stats socket: a unix socket path, or "host:port" for a TCP one'),
    "map": (True, "the map file exactly as named in HAProxy's config (map_beg(...) / map(...))"),
    "backends": (True, "table colour -> HAProxy backend name, both colours"),
    "map_key": (False, 'the map key whose value names the live backend (default "/")'),
    "split_backend": (False, "backend whose servers `track` the colour servers (weighted split)"),
    "map_file": (False, "the map file's path on this machine (default: `map`)"),
    "map_file_write": (False, "rewrite the map file after each switch (default true)"),
    "timeout": (False, "seconds per socket command (default: the console's timeout)"),
}


@dataclass(frozen=True)
class HAProxyOptions:
    socket: str
    map: str
    map_file: str
    map_key: str
    backends: Mapping[Colour, str]
    split_backend: str | None
    timeout: float
    map_file_write: bool


class _Parser:
    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        self.opts = {k: v for k, v in options.items() if k != "kind"}
        self.where = f'service {context.service!r}, router kind "haproxy"'

    def bad(self, key: str, found: Any, expected: str) -> NoReturn:
        shown = "nothing" if found is None else repr(found)
        raise ConfigError(f"{self.where}: option `{key}`: found {shown}; expected {expected}.")

    def text(
        self,
        key: str,
        expected: str,
        *,
        default: str | None = None,
        pattern: re.Pattern[str] | None = None,
    ) -> str:
        value = self.opts.get(key, default)
        if not isinstance(value, str) or not value.strip():
            self.bad(key, value, expected)
        value = value.strip()
        if pattern is not None and not pattern.match(value):
            self.bad(key, value, expected + " (one word: no spaces, ';' or '#')")
        return value

    def backends(self) -> dict[Colour, str]:
        expected = (
            'a table of both colours, e.g. { blue = "blue-backend", green = "green-backend" }'
        )
        table = self.opts.get("backends")
        if not isinstance(table, Mapping):
            self.bad("backends", table, expected)
        out: dict[Colour, str] = {}
        for key, name in table.items():
            try:
                colour = Colour.parse(str(key))
            except ValueError:
                self.bad(f"backends.{key}", name, "only the keys blue and green")
            if not isinstance(name, str) or not NAME.match(name.strip()):
                self.bad(
                    f"backends.{key}", name, "an HAProxy backend name (letters, digits, - _ . :)"
                )
            out[colour] = name.strip()
        for colour in COLOURS:
            if colour not in out:
                self.bad(f"backends.{colour}", None, expected)
        if out[Colour.BLUE] == out[Colour.GREEN]:
            self.bad("backends", dict(table), "two different backends")
        return out


def parse_options(options: Mapping[str, Any], context: BackendContext) -> HAProxyOptions:
    """``[service.router]`` (``kind`` included or not) -> HAProxyOptions, or ConfigError."""
    p = _Parser(options, context)
    unknown = sorted(set(p.opts) - set(OPTIONS))
    if unknown:
        raise ConfigError(
            f"{p.where}: unknown option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)}; expected only {', '.join(OPTIONS)}."
        )
    sock = p.text("socket", OPTIONS["socket"][1] + ', e.g. "/run/haproxy/admin.sock"')
    if ":" in sock and not sock.startswith(("/", ".")) and parse_tcp_address(sock) is None:
        p.bad("socket", sock, 'a unix socket path, or "host:port" with a numeric port')
    map_name = p.text("map", OPTIONS["map"][1] + ', e.g. "/etc/haproxy/backend.map"', pattern=TOKEN)
    map_file = p.text("map_file", OPTIONS["map_file"][1], default=map_name)
    map_key = p.text("map_key", 'one word, e.g. "/"', default="/", pattern=TOKEN)
    backends = p.backends()
    split = None
    if p.opts.get("split_backend") is not None:
        split = p.text("split_backend", "an HAProxy backend name", pattern=NAME)
        if split in backends.values():
            p.bad("split_backend", split, "a backend other than the two colour backends")
    timeout = p.opts.get("timeout", context.timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        p.bad("timeout", timeout, "seconds, a number above 0 and at most 60")
    write = p.opts.get("map_file_write", True)
    if not isinstance(write, bool):
        p.bad("map_file_write", write, "true or false")
    return HAProxyOptions(
        socket=sock,
        map=map_name,
        map_file=map_file,
        map_key=map_key,
        backends=backends,
        split_backend=split,
        timeout=float(timeout),
        map_file_write=write,
    )
