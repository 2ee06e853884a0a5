"""``bluegreen report``: the timeline of a recorded deployment, for an incident review.

What was switched when and by whom (the recording's actions, each referencing its audit-log record,
plus the actions of other operators found in the same audit log for the same service and router),
every alarm with its figures (value, threshold, colour, raised, cleared, how long), the bake
verdicts with their reasons, outside changes and backend errors, and a chart per metric (both
colours, threshold lines, action markers). Times are shown in UTC and in the reader's local zone.

Two formats from one model (:class:`ReportData`, built by :func:`build`):

* HTML: one self-contained file (inline SVG and CSS; no script, no network), readable on screen and
  printed;
* Markdown: text tables; the charts are SVG files written beside it (``OUT-stem.METRIC.svg``) and
  linked. Written to stdout (no ``-o``), it has no charts and says so.

Secrets never appear: a recording holds no backend options (see ``console.recorder``), and any
``user:password@`` in a URL of a recorded text is masked here as well.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any

from console import svgchart
from console.recorder import RecordingError
from console.recording import Recording
from console.report.model import (
    Alarm,
    ReportData,
    Row,
    parse_time,
    utc,
)
from console.report.render import render_html, render_markdown
from console.report.timeline import _order, build

__all__ = [
    "Alarm",
    "ReportData",
    "Row",
    "_order",
    "build",
    "chart_name",
    "parse_time",
    "render_html",
    "render_markdown",
    "run",
]

# ------------------------------------------------------------------------------------ the command


def chart_name(out: Path, key: str) -> Path:
    """The SVG a Markdown report at ``out`` writes for ``key``: ``OUT-stem.KEY.svg`` beside it."""
    return out.with_name(f"{out.stem}.{key}.svg")


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    if name.upper() in ("UTC", "Z"):
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"--tz {name!r}: no such time zone; give an IANA name like Europe/Berlin"
        ) from None


def run(args: argparse.Namespace) -> int:
    """``bluegreen report``: exit 0 written, 2 bad usage or a file that is not a readable recording."""
    fmt = args.format
    out = Path(args.output) if args.output else None
    if fmt is None:
        fmt = "html" if out is not None and out.suffix.lower() in (".html", ".htm") else "md"
    try:
        tz = _zone(args.tz)
    except ValueError as exc:
        print(f"bluegreen report: {exc}", file=sys.stderr)
        return 2
    try:
        with Recording(args.file) as rec:
            svc = rec.service(args.service)
            day = svc.last if svc.last is not None else datetime.now(timezone.utc).timestamp()
            try:
                start = parse_time(args.start, tz, day) if args.start else None
                end = parse_time(args.end, tz, day) if args.end else None
            except ValueError as exc:
                print(f"bluegreen report: {exc}", file=sys.stderr)
                return 2
            if start is not None and end is not None and end < start:
                print(
                    f"bluegreen report: --to ({utc(end)} UTC) is before --from ({utc(start)} UTC)",
                    file=sys.stderr,
                )
                return 2
            # one console's session: two consoles recording at once would list each event twice
            rec.only_session(rec.pick_session(svc, args.session, start))
            data = build(rec, svc.name, start, end, tz)
    except RecordingError as exc:
        print(f"bluegreen report: {exc}", file=sys.stderr)
        return 2
    for w in data.warnings:
        print(f"bluegreen report: warning: {w}", file=sys.stderr)
    if fmt == "html":
        text = render_html(data)
    elif out is None:
        text = render_markdown(data, None)
    else:
        files = {}
        for key, chart in data.charts.items():
            svg = chart_name(out, key)
            svg.parent.mkdir(parents=True, exist_ok=True)
            svg.write_text(
                '<?xml version="1.0" encoding="utf-8"?>\n'
                + svgchart.render(chart, standalone=True)
                + "\n",
                encoding="utf-8",
            )
            files[key] = svg.name
        text = render_markdown(data, files)
    if out is None:
        sys.stdout.write(text)
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    extra = f" and {len(data.charts)} chart(s) beside it" if fmt == "md" and data.charts else ""
    print(f"bluegreen report: wrote {out}{extra}", file=sys.stderr)
    return 0


def add_parser(sub: Any) -> None:
    """The ``report`` subcommand (``console.cli`` calls this)."""
    r = sub.add_parser(
        "report",
        help="the timeline of a recorded deployment for an incident review (Markdown or HTML)",
        description="Write the timeline of a recording: actions and who took them, alarms with "
        "their figures, bake verdicts, outside changes, backend errors, and a chart per metric. "
        "Times in UTC and the local zone.",
        epilog="TIME: 2026-01-01T10:15:00Z (ISO 8601; without a zone: local time), 10:15 (local, "
        "on the recording's last day), or epoch seconds. Markdown to stdout has no charts; with "
        "-o OUT.md the charts are written beside it as OUT.METRIC.svg. Exit status: 0 written, "
        "2 bad usage or not a readable recording.",
    )
    r.add_argument("file", metavar="FILE", help="a recording (see `bluegreen replay --help`)")
    r.add_argument("--service", help="which service (default: the one with the most polls)")
    r.add_argument("--from", dest="start", metavar="TIME", help="start (default: the first poll)")
    r.add_argument("--to", dest="end", metavar="TIME", help="end (default: the last poll)")
    r.add_argument(
        "--session",
        metavar="N|all",
        help="which recorded session (default: the one polling at --from, else the newest; "
        "'all' merges every console that recorded into the file)",
    )
    r.add_argument(
        "--format",
        choices=("md", "html"),
        help="md or html (default: html when -o ends in .html, else md)",
    )
    r.add_argument("-o", "--output", metavar="OUT", help="write here (default: stdout)")
    r.add_argument(
        "--tz",
        metavar="ZONE",
        help="the local zone shown beside UTC (default: this machine's; e.g. Europe/Berlin)",
    )
    r.set_defaults(func=run)
