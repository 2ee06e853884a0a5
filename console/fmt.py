"""How the console words durations, ages and the router's notices, shared by the TUI and the CLI.

Metrics (labels, units, decimals) are worded by the table in ``console.model`` (``METRICS``).
"""

from __future__ import annotations

from typing import Any


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
