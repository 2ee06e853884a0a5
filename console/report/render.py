"""Rendering a report: one self-contained HTML page, or Markdown with the charts beside it."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from console import svgchart
from console.fmt import duration
from console.model import metric
from console.recording import Bake
from console.report.model import (
    Alarm,
    ReportData,
    Row,
    local,
    redact,
    threshold_text,
    utc,
    value_text,
    zone_name,
)

# ------------------------------------------------------------------------------------ rendering


def _title(d: ReportData) -> str:
    return f"Deployment timeline: {d.service.name}"


def _facts(d: ReportData) -> list[tuple[str, str]]:
    info = d.service.info
    facts = [
        ("service", info.name),
        ("router", redact(f"{info.router_kind}: {info.router_identity}")),
        ("recording", str(d.path)),
        (
            "range (UTC)",
            f"{utc(d.start)} – {utc(d.end)} ({duration(d.end - d.start)})",
        ),
        (
            f"range (local, {zone_name(d.start, d.tz)})",
            f"{local(d.start, d.tz, True)} – {local(d.end, d.tz, True)}",
        ),
        ("polls", f"{d.polls:,}"),
    ]
    for s in d.sessions:
        facts.append(
            (
                f"session {s['id']}",
                redact(
                    f"{s['command']} by {s['operator']}, {utc(s['started'])} UTC"
                    + (f" – {utc(s['ended'])} UTC" if s.get("ended") else " (did not end cleanly)")
                ),
            )
        )
    facts.append(("report written", f"{utc(d.generated)} UTC by bluegreen report"))
    return facts


def _alarm_cells(d: ReportData, a: Alarm) -> list[str]:
    return [
        a.colour,
        metric(a.metric).label,
        a.level,
        value_text(a.metric, a.value),
        value_text(a.metric, a.peak),
        threshold_text(a.metric, a.direction, a.threshold),
        f"{utc(a.raised)} UTC / {local(a.raised, d.tz)}"
        if a.raised is not None
        else "before the range",
        (
            f"{utc(a.cleared)} UTC / {local(a.cleared, d.tz)}"
            if a.cleared is not None
            else "still raised at the end"
        ),
        (duration(a.lasted) if a.lasted is not None else "—")
        + ("" if a.cleared is not None else "+"),
    ]


ALARM_HEADINGS = [
    "colour",
    "metric",
    "level",
    "value",
    "worst",
    "threshold",
    "raised",
    "cleared",
    "lasted",
]


def _bake_cells(d: ReportData, b: Bake) -> list[str]:
    verdict = b.verdict.upper() if b.verdict else "undecided in the recording"
    return [
        b.colour,
        f"{utc(b.started)} UTC / {local(b.started, d.tz)}",
        duration(b.duration),
        verdict,
        redact(b.reason or "—"),
        f"{utc(b.decided)} UTC / {local(b.decided, d.tz)}" if b.decided else "—",
    ]


BAKE_HEADINGS = ["colour", "started", "window", "verdict", "reason", "decided"]


def _row_cells(d: ReportData, r: Row) -> list[str]:
    who = r.who
    if r.source == "audit log":
        who = f"{who} (audit log only)" if who else "audit log only"
    return [utc(r.t), local(r.t, d.tz), r.kind, r.colour or "", r.what, who]


def _row_headings(d: ReportData) -> list[str]:
    return ["UTC", f"local ({zone_name(d.start, d.tz)})", "event", "colour", "what", "who"]


def render_html(d: ReportData) -> str:
    """One self-contained HTML page: inline CSS and SVG, no script, no external reference."""
    e = escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(_title(d))}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{e(_title(d))}</h1>",
    ]
    for w in d.warnings:
        out.append(f'<p class="warning" role="alert"><strong>Warning:</strong> {e(w)}</p>')
    out.append('<table class="facts"><tbody>')
    for k, v in _facts(d):
        out.append(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>")
    out.append("</tbody></table>")

    out.append('<h2 id="verdict">Bake verdict</h2>')
    if d.bakes:
        out.append(_html_table(BAKE_HEADINGS, [_bake_cells(d, b) for b in d.bakes], "bakes"))
    else:
        out.append("<p>No bake window in this range.</p>")

    out.append('<h2 id="timeline">Timeline</h2>')
    if d.rows:
        body = []
        for r in d.rows:
            cls = r.kind.replace(" ", "-") + (" audit-only" if r.source == "audit log" else "")
            body.append((cls, _row_cells(d, r)))
        out.append(
            _html_table(_row_headings(d), [c for _, c in body], "timeline", [k for k, _ in body])
        )
    else:
        out.append("<p>Nothing happened in this range: no action, alarm, verdict or change.</p>")

    out.append('<h2 id="alarms">Alarms</h2>')
    if d.alarms:
        out.append(_html_table(ALARM_HEADINGS, [_alarm_cells(d, a) for a in d.alarms], "alarms"))
    else:
        out.append("<p>No alarm was raised in this range.</p>")

    out.append('<h2 id="charts">Charts</h2>')
    out.append(
        '<p class="legend-note">Both colours per metric: the band spans the lowest and highest '
        "figure of each column (a spike is never averaged away), the line its last figure; dashed "
        "lines are the alarm thresholds; vertical lines mark actions, triangles alarms (red), "
        "clears (green) and verdicts (purple). Ticks in local time.</p>"
    )
    if not d.charts:
        out.append("<p>No figures to chart in this range.</p>")
    for key, chart in d.charts.items():
        out.append(f'<figure class="chart" id="figure-{e(key)}">{svgchart.render(chart)}</figure>')
    if d.notes:
        out.append('<h2 id="notes">Notes</h2><ul class="notes">')
        out.extend(f"<li>{e(n)}</li>" for n in d.notes)
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _html_table(
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    cls: str,
    row_classes: Sequence[str] | None = None,
) -> str:
    e = escape
    out = [f'<table class="{cls}"><thead><tr>']
    out.extend(f"<th>{e(h)}</th>" for h in headings)
    out.append("</tr></thead><tbody>")
    for i, cells in enumerate(rows):
        rc = f' class="{e(row_classes[i])}"' if row_classes else ""
        out.append(f"<tr{rc}>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;max-width:64rem;
padding:0 1rem;color:#1a1a1a;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:1.6rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.25rem .4rem;text-align:left;vertical-align:top}
thead th{background:#f0f0f0}
table.facts{width:auto}table.facts th{background:#f7f7f7;font-weight:600}
td:nth-child(1),td:nth-child(2){white-space:nowrap}
tr.alarm-raised td,tr.bake-failed td{background:#fdecea}
tr.alarm-cleared td,tr.bake-passed td{background:#edf7ee}
tr.audit-only td{font-style:italic;background:#fff8e1}
.warning{border:2px solid #c62828;background:#fdecea;padding:.5rem}
figure.chart{margin:1rem 0;page-break-inside:avoid;break-inside:avoid}
figure.chart svg{max-width:100%;height:auto}
@media print{body{max-width:none;margin:0;font-size:10pt}
tr{page-break-inside:avoid}thead{display:table-header-group}
tr.alarm-raised td,tr.bake-failed td,tr.audit-only td,.warning{-webkit-print-color-adjust:exact;
print-color-adjust:exact}}
""".strip()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(_md_cell(h) for h in headings) + " |"]
    out.append("|" + "---|" * len(headings))
    out.extend("| " + " | ".join(_md_cell(c) for c in cells) + " |" for cells in rows)
    return out


def render_markdown(d: ReportData, chart_files: dict[str, str] | None = None) -> str:
    """Markdown; ``chart_files`` maps a metric to the SVG file (relative) it links, None: none."""
    out = [f"# {_title(d)}", ""]
    for w in d.warnings:
        out += [f"> **Warning:** {w}", ""]
    out += _md_table(["", ""], [[f"**{k}**", v] for k, v in _facts(d)]) + [""]
    out += ["## Bake verdict", ""]
    if d.bakes:
        out += _md_table(BAKE_HEADINGS, [_bake_cells(d, b) for b in d.bakes]) + [""]
    else:
        out += ["No bake window in this range.", ""]
    out += ["## Timeline", ""]
    if d.rows:
        out += _md_table(_row_headings(d), [_row_cells(d, r) for r in d.rows]) + [""]
    else:
        out += ["Nothing happened in this range: no action, alarm, verdict or change.", ""]
    out += ["## Alarms", ""]
    if d.alarms:
        out += _md_table(ALARM_HEADINGS, [_alarm_cells(d, a) for a in d.alarms]) + [""]
    else:
        out += ["No alarm was raised in this range.", ""]
    out += ["## Charts", ""]
    if not d.charts:
        out += ["No figures to chart in this range.", ""]
    elif chart_files is None:
        out += [
            "Charts are written beside the report only: run again with `-o FILE.md` "
            "(or `--format html` for one self-contained page).",
            "",
        ]
    else:
        for key in d.charts:
            if key in chart_files:
                out += [f"![{d.charts[key].title}]({chart_files[key]})", ""]
    if d.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in d.notes] + [""]
    return "\n".join(out).rstrip() + "\n"
