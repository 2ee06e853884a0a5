"""Pure: one read of HAProxy (map, ``show stat`` table, servers' admin flags) -> RouterState."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from backends.base import COLOURS, Colour, ColourState, RouterState, ServerState, ServerStatus
from backends.haproxy.io import read_map_file_value
from backends.haproxy.options import HAProxyOptions
from backends.haproxy.stats import (
    ADMF_DRAIN,
    TYPE_BACKEND,
    TYPE_SERVER,
    CounterHistory,
    colour_metrics,
    num,
    responses,
    server_status,
    split_share,
)

Row = dict[str, str]


@dataclass
class HAProxyRead:
    """What one read of HAProxy returned."""

    map_entries: dict[str, str]
    rows: dict[tuple[str, str], Row]
    admin: dict[tuple[str, str], int]
    backends: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.backends = {px for (px, _), r in self.rows.items() if r.get("type") == TYPE_BACKEND}

    def servers(self, backend: str) -> list[Row]:
        return [
            r for (px, _), r in self.rows.items() if px == backend and r.get("type") == TYPE_SERVER
        ]

    def has_up_server(self, backend: str) -> bool:
        return any(
            server_status(r.get("status", "")) is ServerStatus.UP for r in self.servers(backend)
        )


def split_groups(read: HAProxyRead, opts: HAProxyOptions) -> dict[Colour | None, list[Row]]:
    """The split backend's servers by the colour of the server each one ``track``s (None: neither)."""
    groups: dict[Colour | None, list[Row]] = {}
    if opts.split_backend:
        by_backend = {name: colour for colour, name in opts.backends.items()}
        for row in read.servers(opts.split_backend):
            tracked_backend = row.get("tracked", "").split("/", 1)[0]
            groups.setdefault(by_backend.get(tracked_backend), []).append(row)
    return groups


def _weight(row: Row) -> int:
    value = num(row, "uweight")
    return int(value if value is not None else (num(row, "weight") or 0))


def _responses(rows: list[Row]) -> tuple[float, float]:
    pairs = [responses(r) for r in rows]
    return sum(e for e, _ in pairs), sum(t for _, t in pairs)


def build_state(read: HAProxyRead, opts: HAProxyOptions, history: CounterHistory) -> RouterState:
    value = read.map_entries.get(opts.map_key)
    groups = split_groups(read, opts)
    split_live = opts.split_backend is not None and value == opts.split_backend

    # Weights: None without a split; with one, the live share of each colour.
    weights: dict[Colour, int | None] = dict.fromkeys(COLOURS)
    if split_live:
        sums = {c: sum(_weight(r) for r in groups.get(c, [])) for c in COLOURS}
        weights = dict(split_share(sums))
    elif opts.split_backend:
        weights = {c: 100 if value == opts.backends[c] else 0 for c in COLOURS}

    detail: dict[str, str] = {
        "map": opts.map or "",
        "map_key": opts.map_key,
        "backend": value if value is not None else "(no entry)",
        "socket": opts.socket or "",
    }
    live = next((c for c in COLOURS if value == opts.backends[c]), None)
    if split_live:
        detail["split_backend"] = f"{opts.split_backend} (live)"
        blue, green = weights[Colour.BLUE] or 0, weights[Colour.GREEN] or 0
        if blue != green:
            live = Colour.BLUE if blue > green else Colour.GREEN
        else:
            detail["problem"] = "traffic is split 50/50: neither colour is live"
    elif opts.split_backend:
        detail["split_backend"] = opts.split_backend
    if live is None and not split_live:
        if value is None:
            detail["problem"] = (
                f"the map has no entry {opts.map_key!r}: HAProxy uses the rule's default backend"
            )
        else:
            unknown = (
                ""
                if value in read.backends
                else " (HAProxy has no such backend: it falls back to its default backend)"
            )
            detail["problem"] = (
                f"the map names {value!r}, which is neither colour's backend{unknown}"
            )
    # Compare with the file a reload would read (when this machine can see it).
    if value is not None and (opts.map_file_write or os.path.isfile(opts.file)):
        try:
            on_disk = read_map_file_value(opts.file, opts.map_key)
        except OSError as exc:
            on_disk = f"nothing readable ({exc.strerror or exc})"
        if on_disk != value:
            detail["map_file"] = (
                f"out of date: {opts.map_file} says {on_disk or '(no entry)'}; a reload would "
                "route there: run `bluegreen sync` to rewrite it (traffic does not move)"
            )

    # Traffic of a colour: its backend's BACKEND row, plus the split servers tracking it.
    carriers: dict[Colour, list[Row]] = {}
    for c in COLOURS:
        backend_row = read.rows.get((opts.backends[c], "BACKEND"))
        carriers[c] = ([backend_row] if backend_row else []) + groups.get(c, [])
    counted = {c: _responses(carriers[c]) for c in COLOURS}  # (5xx, all) responses so far
    errors = history.observe({c.value: counted[c] for c in COLOURS})

    colours: dict[Colour, ColourState] = {}
    fingerprint = [f"map={value}"]
    for c in COLOURS:
        backend = opts.backends[c]
        servers: list[ServerState] = []
        flags: list[int | None] = []
        for row in read.servers(backend):
            flags.append(read.admin.get((backend, row["svname"])))
            scur = num(row, "scur")
            servers.append(
                ServerState(
                    name=row["svname"],
                    status=server_status(row.get("status", "")),
                    weight=_weight(row),
                    sessions=None if scur is None else int(scur),
                    # "* L7OK" while a check is running: the result is what a person needs
                    check=(row.get("check_status") or "").lstrip("* ") or None,
                )
            )
        # A drained server that is also DOWN reads "DOWN" in show stat: use the admin flags. Servers
        # put in maintenance by hand are not a drain: they are unhealthy, and the preflight says so.
        draining = bool(servers) and all(
            bool(f & ADMF_DRAIN) if f is not None else s.status == ServerStatus.DRAIN
            for f, s in zip(flags, servers, strict=True)
        )
        colour_detail = {"backend": backend}
        if backend not in read.backends:
            colour_detail["problem"] = f"HAProxy has no backend {backend!r}"
        colours[c] = ColourState(
            colour=c,
            servers=tuple(servers),
            draining=draining,
            weight=weights[c],
            metrics=replace(
                colour_metrics(
                    carriers[c], errors[c.value], [_responses([r])[1] for r in carriers[c]]
                ),
                errors_total=counted[c][0] if carriers[c] else None,
                requests_total=counted[c][1] if carriers[c] else None,
            ).with_sources("haproxy"),
            detail=colour_detail,
        )
        states = ",".join(
            f"{s.name}={s.status}/{s.weight}/{f}" for s, f in zip(servers, flags, strict=True)
        )
        split = ",".join(f"{r['svname']}={r.get('uweight')}" for r in groups.get(c, []))
        fingerprint.append(f"{c}:{weights[c]}:{states}:{split}")
    return RouterState(live=live, colours=colours, fingerprint="|".join(fingerprint), detail=detail)
