"""Reading an HAProxy stats socket, alone or once per poll for every service on it.

``read_socket`` sends ``show map <map>`` for each map asked, ``show stat`` (the whole table) and
``show servers state``: what one router's read needs, or what every router on one socket needs.

The board puts the routers (and fleet instances) that poll one stats socket into a
:class:`SocketGroup`: a poll of any of them asks the group, which reads the socket once for all of
them (``backends.shared.SharedRead``: reused within half the shortest poll interval, a read under
way waited for, a failure shared) with one ``show map`` per distinct map, one ``show stat`` and one
``show servers state``. Each router then builds its own state from it, with its own map key and its
own counter history. Its actions (and their read-backs) still talk to the socket directly, and
every command an action sends invalidates the group's read: the next poll reads afresh.

Sockets are compared by address as written (a unix path made absolute and normalised, or
host:port): one HAProxy reached through two addresses (a unix and a TCP socket) is read twice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from backends.base import Unreachable
from backends.haproxy.io import StatsSocket, parse_tcp_address
from backends.haproxy.options import HAProxyOptions
from backends.haproxy.stats import StatParseError, parse_servers_state, parse_stat
from backends.shared import SharedGroup, SharedRead

Row = dict[str, str]


@dataclass(frozen=True)
class SocketRead:
    """What one read of a stats socket returned: each map's ``show map`` lines (raw: an unknown map
    answers "Unknown map identifier"), the ``show stat`` rows and the servers' admin flags."""

    maps: Mapping[str, list[str]]
    rows: dict[tuple[str, str], Row]
    admin: dict[tuple[str, str], int]


def read_socket(sock: StatsSocket, maps: Sequence[str], admin: bool = True) -> SocketRead:
    """``show map`` per map, ``show stat`` and (``admin``) ``show servers state`` on ``sock``."""
    map_lines = {m: sock.command(f"show map {m}") for m in maps}
    stat_lines = sock.command("show stat")
    try:
        rows = parse_stat(stat_lines)
    except StatParseError as exc:
        raise Unreachable(
            f"{sock.address} did not answer `show stat` with HAProxy's stats ({exc}): router "
            "option `socket` must be HAProxy's `stats socket`, not the master CLI."
        ) from None
    flags = parse_servers_state(sock.command("show servers state")) if admin else {}
    return SocketRead(map_lines, rows, flags)


def socket_key(address: str) -> str:
    """What tells two stats sockets apart: host:port, or the unix path made absolute."""
    tcp = parse_tcp_address(address)
    if tcp is not None:
        return f"{tcp[0]}:{tcp[1]}"
    return os.path.normpath(os.path.abspath(address))


class SocketGroup(SharedGroup):
    """The routers polling one stats socket: one read of it per poll for all of them."""

    def __init__(self, address: str, timeout: float, maps: Sequence[str], max_age: float) -> None:
        """``timeout``: per command (the smallest of the members'); ``maps``: every member's map."""
        super().__init__()
        self.address = address
        self.maps = sorted(set(maps))
        self.sock = StatsSocket(address, timeout)
        self.shared: SharedRead[SocketRead] = SharedRead(
            lambda: read_socket(self.sock, self.maps), max_age, f"HAProxy {address}"
        )

    @property
    def commands_per_read(self) -> int:
        """``show map`` per distinct map, ``show stat``, ``show servers state``."""
        return len(self.maps) + 2

    def read(self, timeout: float) -> SocketRead:
        return self.shared.get(timeout)

    def _close_group(self) -> None:
        self.sock.close()


class Member(Protocol):
    """A single-instance HAProxy router (or a fleet's instance), as the grouping sees it."""

    opts: HAProxyOptions

    def join_group(self, group: SocketGroup) -> None: ...


def group_by_socket(members: Sequence[tuple[Member, float]]) -> list[SocketGroup]:
    """Put the members on one socket (two or more) into a group each; returns the groups.
    ``members``: each single-instance router with the age a shared read may have for it."""
    by_socket: dict[str, list[tuple[Member, float]]] = {}
    for m, age in members:
        by_socket.setdefault(socket_key(m.opts.socket or ""), []).append((m, age))
    groups = []
    for together in by_socket.values():
        if len(together) < 2:
            continue  # alone on its socket: it reads directly, as before
        first = together[0][0].opts
        group = SocketGroup(
            first.socket or "",
            min(m.opts.timeout for m, _ in together),
            [m.opts.map or "" for m, _ in together],
            min(age for _, age in together),
        )
        for m, _ in together:
            m.join_group(group)
        groups.append(group)
    return groups
