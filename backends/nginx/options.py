"""The Nginx router's options: a typed model, validated once at build (``backends.options``)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import field_validator

from backends.base import BackendContext, Colour
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

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # an nginx upstream name
KEY = re.compile(r"^[^\s;#{}]+$")  # one map key: no spaces, ';', '#' or braces

_UPSTREAMS = 'a table of both colours, e.g. { blue = "blue", green = "green" }'
_FILES = (
    "a table of both colours' upstream include files, e.g. "
    '{ blue = "/etc/nginx/upstreams/blue.conf", green = "/etc/nginx/upstreams/green.conf" }'
)
_MATCH = 'a table of both colours, e.g. { blue = "blue", green = "green" }'


def _path(value: str) -> bool:
    return bool(value.strip()) and value.strip().startswith("/")


class NginxOptions(BackendOptions):
    """``[service.router]`` of ``kind = "nginx"``; the fields are in the order the docs list them."""

    conf: Annotated[str, text('nginx\'s main config file, e.g. "/etc/nginx/nginx.conf"')] = option(
        expected='nginx\'s main config file (its -c), e.g. "/etc/nginx/nginx.conf"'
    )
    map: Annotated[str, text('the map file, e.g. "/etc/nginx/backend.map"')] = option(
        expected='the map file included in the config\'s `map` block, e.g. "/etc/nginx/backend.map"'
    )
    upstreams: Annotated[
        ColourMap,
        colour_table(
            NAME,
            "an nginx upstream name (letters, digits, - _ .)",
            expected=_UPSTREAMS,
            different="upstreams",
            strip=True,
        ),
    ] = option(expected=_UPSTREAMS)
    upstream_files: Annotated[
        ColourMap,
        colour_table(
            _path,
            "an absolute path to the file holding the upstream's `server` lines",
            expected=_FILES,
            different="files",
            strip=True,
        ),
    ] = option(expected=_FILES)
    map_key: Annotated[str, text('one word, e.g. "default"', KEY)] = option(
        "default", expected='the map key whose value names the live upstream (default "default")'
    )
    prefix: Annotated[str | None, text("a directory (nginx's -p)", optional=True)] = option(
        None, expected="nginx's prefix directory (its -p), when it is not the built-in one"
    )
    nginx: Annotated[str, text('the nginx binary, e.g. "/usr/sbin/nginx"')] = option(
        "nginx", expected='the nginx binary (default "nginx" on PATH, or /usr/sbin/nginx)'
    )
    pid_file: Annotated[str, text('the master\'s pid file, e.g. "/run/nginx.pid"')] = option(
        "/run/nginx.pid", expected="the pid file named by `pid` in nginx's config"
    )
    reload: Literal["signal", "command"] = option(
        "signal",
        expected='"signal" (SIGHUP to the master from its pid file) or "command" (nginx -s reload)',
    )
    probe_url: Annotated[str | None, text("an http:// URL", optional=True)] = option(
        None, expected='an http:// URL served through nginx, e.g. "http://127.0.0.1/healthz"'
    )
    probe_header: Annotated[str | None, text("a header name", optional=True)] = option(
        None, expected="the response header naming the colour (unset: the body is searched)"
    )
    probe_match: Annotated[
        ColourMap,
        colour_table(
            lambda v: bool(v),
            "a non-empty string",
            expected=_MATCH,
            different="strings",
            defaults={Colour.BLUE: "blue", Colour.GREEN: "green"},
        ),
    ] = option(
        default_factory=lambda: {Colour.BLUE: "blue", Colour.GREEN: "green"},
        expected=_MATCH,
    )
    stub_status_url: Annotated[str | None, text("an http:// URL", optional=True)] = option(
        None, expected="the URL of nginx's stub_status page"
    )
    check_servers: bool = option(
        True, expected="true or false: try a TCP connection to each server on every read"
    )
    old_workers_after: Annotated[float, number("seconds, a number above 0", at_most=86400)] = (
        option(60.0, expected="seconds after a reload before old workers still alive are reported")
    )
    error_log: Annotated[str | None, text("a file", optional=True)] = option(
        None, expected="nginx's error log, quoted when a reload starts no new workers"
    )
    timeout: Annotated[float, number("seconds, a number above 0 and at most 60", at_most=60)] = (
        option(expected="seconds, a number above 0 and at most 60")
    )

    @field_validator("probe_url", "stub_status_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("http://"):
            raise problem("an http:// URL (nginx's own listener)", found=repr(value))
        return value

    @field_validator("map", "conf")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise problem("an absolute path", found=repr(value))
        return value


def load_options(options: Any, context: BackendContext) -> NginxOptions:
    """``[service.router]`` (``kind`` included or not) -> NginxOptions, or ConfigError."""
    return parse_options(
        NginxOptions,
        options,
        context,
        role="router",
        kind="nginx",
        defaults={"timeout": context.timeout},
    )
