"""How the console words numbers and durations, shared by the TUI, the CLI and the alarm messages."""

from __future__ import annotations

from typing import Any

LABELS = {"rate": "rate", "error_pct": "error %", "latency_ms": "p99", "sessions": "sessions"}
UNITS = {"rate": " req/s", "error_pct": "%", "latency_ms": " ms", "sessions": ""}
DECIMALS = {"rate": 1, "error_pct": 1, "latency_ms": 0, "sessions": 0}


def format_value(metric: str, value: float | None) -> str:
    """``23.1%``, ``1480 ms``: how the banner, the log and the CLI print a metric."""
    if value is None:
        return "no data"
    return f"{value:.{DECIMALS.get(metric, 2)}f}{UNITS.get(metric, '')}"


def duration(seconds: float) -> str:
    """``42s``, ``2m13s``, ``1h05m``."""
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "no data yet"
    if seconds < 10:
        return f"{seconds:.1f}s ago"
    return f"{duration(seconds)} ago"


ROUTER_NOTICES = ("problem", "map_file", "warning")  # RouterState.detail keys a person must see
COLOUR_NOTICES = ("problem", "scale_down")  # ColourState.detail keys shown in that colour's panel


def router_notice(frame: Any) -> str:
    """The router's own warnings (a map file a reload would revert, a 50/50 split, a preview that
    did not follow) from a Frame, for the header and ``status``."""
    router = frame.snapshot.router if frame else None
    if router is None:
        return ""
    return "; ".join(
        f"map file {router.detail[k]}" if k == "map_file" else str(router.detail[k])
        for k in ROUTER_NOTICES
        if router.detail.get(k)
    )
