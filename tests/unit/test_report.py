"""``bluegreen report``: a recorded bad release (switch, the failing alarm, a rollback) reads back as
a timeline a reviewer can paste: who switched when, the alarm's figures, the verdict, one chart per
metric with thresholds and markers, times in UTC and local. Structure, not pixels."""

from __future__ import annotations

import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from console import cli
from console.actions import ActionController
from console.audit import AuditLog
from console.monitor import Monitor
from console.recorder import SCHEMA_VERSION, Recorder, service_settings
from console.recording import Recording
from console.report import build, parse_time, render_html, render_markdown
from tests.conftest import make_runtime
from tests.support.cli import ROOT

NEW_YORK = ZoneInfo("America/New_York")  # 2026-01-01 00:00 UTC is 2025-12-31 19:00 EST


def record_incident(clock, path: Path, polls: int = 90, other_operator: bool = True) -> Path:
    """The bad release: switch to green at poll 10 (its error % goes critical and fails the bake),
    roll back at poll 60; another operator drains blue from a shell in between (the audit log has
    it, this recording does not). Returns the audit log."""
    audit_path = path.parent / "audit.jsonl"
    rt = make_runtime(clock, "bad-release")
    audit = AuditLog(audit_path, clock)
    mon = Monitor(rt, audit)
    ctl = ActionController(rt, audit, mon.observe_action, command="test")
    rec = Recorder(path, command="demo", audit_log=audit_path, wall=clock).start()
    rec.add_service(rt.name, rt.router.kind, rt.router.identity, service_settings(rt.config))
    try:
        for i in range(polls):
            clock.advance(1.0)
            frame = mon.poll()
            rec.frame(frame, rt.router.identity)
            for at, verb in ((10, "switch"), (60, "rollback")):
                if i == at:
                    out = ctl.execute(ctl.plan(verb))
                    assert out.result == "ok", out.message
                    rec.action(
                        rt.name, rt.router.identity, out.audit, out.result, out.message, verb
                    )
                    assert out.frame is not None
                    rec.frame(out.frame, rt.router.identity)
            if i == 40 and other_operator:
                common = {"service": "shop", "router": "simulator", "action": "drain"}
                audit.append(
                    **common,
                    user="alice",
                    host="laptop",
                    router_id=rt.router.identity,
                    target="blue",
                    result="ok",
                    error="token https://alice:s3cret@vault.example/x refused",
                )
                # the same service on another router, and another service: never in this report
                audit.append(
                    **common,
                    user="bob",
                    host="h",
                    router_id="haproxy /x",
                    target="blue",
                    result="ok",
                )
                audit.append(
                    **{**common, "service": "cart"},
                    user="carol",
                    host="h",
                    router_id=rt.router.identity,
                    target="blue",
                    result="ok",
                )
        assert rec.flush()
    finally:
        rec.close()
        mon.close()
        rt.close()
    assert rec.problem is None
    return audit_path


class Page(HTMLParser):
    """The tables (by class: rows of cell texts), the SVGs (their elements' classes) and every
    attribute value of an HTML report."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.row_classes: dict[str, list[str]] = {}
        self.svgs: list[list[str]] = []  # per svg: the class of every element inside
        self.attrs: list[str] = []
        self.warnings: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._svg: list[str] | None = None
        self._warning: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.attrs.extend(v or "" for _, v in attrs)
        if tag == "table":
            self._table = a.get("class", "")
            self.tables[self._table] = []
            self.row_classes[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
            self.row_classes[self._table].append(a.get("class") or "")
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "svg":
            self._svg = []
            self.svgs.append(self._svg)
        elif tag == "p" and "warning" in (a.get("class") or ""):
            self._warning = []
        if self._svg is not None and a.get("class"):
            self._svg.append(a["class"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "svg":
            self._svg = None
        elif tag == "p" and self._warning is not None:
            self.warnings.append("".join(self._warning))
            self._warning = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._warning is not None:
            self._warning.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture
def incident(clock, tmp_path):
    path = tmp_path / "rec.sqlite"
    record_incident(clock, path)
    return path


def _html(path: Path, **kw) -> str:
    with Recording(path) as rec:
        return render_html(build(rec, tz=NEW_YORK, now=0.0, **kw))


def test_the_html_timeline_says_who_switched_when_and_what_followed(incident):
    page = parse(_html(incident))
    head, *rows = page.tables["timeline"]
    assert head[:3] == ["UTC", "local (EST, UTC-05:00)", "event"]
    kinds = [r[2] for r in rows]
    assert kinds == [
        "switch",
        "bake started",
        "alarm raised",
        "bake failed",
        "drain",
        "rollback",
        "bake started",
        "alarm ended",  # green lost its traffic with the rollback: not "cleared", not a recovery
    ], kinds
    assert "no traffic now (not recovered)" in rows[-1][4]
    switch, _, raised, failed, drain, rollback = rows[:6]
    # the switch: at poll 10 (00:00:11 UTC, 19:00:11 the evening before in New York), by the user
    # the audit log names, with its audit id, blue → green
    assert switch[0] == "2026-01-01 00:00:11"
    assert switch[1] == "2025-12-31 19:00:11 EST"
    assert switch[3] == "green" and "blue → green" in switch[4]
    audit = [
        e for e in AuditLog(incident.parent / "audit.jsonl").entries() if e["action"] == "switch"
    ]
    outcome = next(e for e in audit if e["record"] == "outcome")
    assert f"audit {outcome['id']}" in switch[4]
    assert switch[5] == f"{outcome['user']}@{outcome['host']}"
    assert "CRITICAL green error %" in raised[4] and raised[3] == "green"
    assert "BAKE FAILED green" in failed[4]
    # another operator's drain, from the audit log only, marked as such; its secret masked
    assert drain[5] == "alice@laptop (audit log only)"
    assert "s3cret" not in drain[4] and "***@vault.example" in drain[4]
    assert page.row_classes["timeline"][5] == "drain audit-only"
    assert rollback[3] == "blue" and "green → blue" in rollback[4]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    text = "".join(page.text)
    assert "bob@h" not in text and "carol@h" not in text  # another router, another service


def test_the_alarm_and_the_verdict_carry_their_figures(incident):
    page = parse(_html(incident))
    head, *alarms = page.tables["alarms"]
    assert head == [
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
    assert len(alarms) == 1
    colour, metric, level, value, worst, threshold, raised, cleared, lasted = alarms[0]
    assert (colour, metric, level, threshold) == ("green", "error %", "critical", "> 5%")
    assert float(value.rstrip("%")) > 5 and float(worst.rstrip("%")) >= float(value.rstrip("%"))
    assert raised.startswith("2026-01-01 00:00:") and raised.endswith("EST")
    assert "UTC" in raised and "19:00:" in raised
    assert cleared.startswith("2026-01-01 00:01:")  # green lost its traffic after the rollback
    assert lasted.endswith("s") and not lasted.endswith("+")
    head, *bakes = page.tables["bakes"]
    green = next(b for b in bakes if b[0] == "green")
    assert green[3] == "FAILED" and "error %" in green[4] and "> 5%" in green[4]


def test_one_chart_per_metric_with_threshold_lines_and_action_markers(incident):
    html = _html(incident)
    page = parse(html)
    ids = [a for a in page.attrs if a.startswith("chart-") and not a.endswith("-t")]
    assert ids == ["chart-rate", "chart-error_pct", "chart-latency_ms", "chart-sessions"]
    by_id = dict(zip(ids, page.svgs, strict=True))
    for key in ("error_pct", "latency_ms"):  # the demo's rules: warning and critical lines
        classes = by_id[f"chart-{key}"]
        assert "threshold warning" in classes and "threshold critical" in classes, key
    for classes in by_id.values():
        assert classes.count("marker action") == 3  # switch, alice's drain, rollback
        assert "series blue" in classes and "series green" in classes
    assert "marker alarm" in by_id["chart-error_pct"]
    assert "marker alarm" not in by_id["chart-latency_ms"]
    # self-contained: no network reference anywhere, no script
    assert "http:" not in html and "https:" not in html.replace("https://***@", "")
    assert "<script" not in html and "<link" not in html
    assert not any(a.startswith(("http", "//")) for a in page.attrs)


def test_markdown_links_the_charts_it_writes_beside_it(incident, tmp_path, capsys):
    out = tmp_path / "review" / "incident.md"
    code = cli.main(["report", str(incident), "--format", "md", "-o", str(out), "--tz", "UTC"])
    assert code == 0
    text = out.read_text()
    for key in ("rate", "error_pct", "latency_ms", "sessions"):
        svg = out.with_name(f"incident.{key}.svg")
        assert svg.exists() and f"](incident.{key}.svg)" in text
        assert svg.read_text().count('class="threshold ') == (
            2 if key in ("error_pct", "latency_ms") else 0
        )
    lines = text.splitlines()
    timeline = lines[lines.index("## Timeline") + 2 :]
    assert timeline[0].startswith("| UTC | local (UTC, UTC+00:00) | event |")
    events = [ln.split(" | ")[2] for ln in timeline[2:] if ln.startswith("| 2026")]
    assert events[:4] == ["switch", "bake started", "alarm raised", "bake failed"]
    assert "| green | error % | critical |" in text and "| > 5% |" in text
    assert "wrote" in capsys.readouterr().err


def test_markdown_on_stdout_says_where_the_charts_went(incident, capsys):
    assert cli.main(["report", str(incident), "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Deployment timeline: shop")
    assert "run again with `-o FILE.md`" in out and ".svg" not in out


def test_html_to_a_file_is_one_page(incident, tmp_path):
    out = tmp_path / "review.html"
    assert cli.main(["report", str(incident), "-o", str(out)]) == 0  # the suffix picks html
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".svg") == []


def test_a_range_picks_its_part_and_an_empty_range_says_so(incident, capsys):
    page = parse(_html(incident, start=parse_time("2026-01-01T00:00:50Z", None, 0), end=None))
    kinds = [r[2] for r in page.tables["timeline"][1:]]
    assert kinds[0] == "rollback" and "switch" not in kinds
    # the alarm raised before the range is still shown, as raised before it
    assert page.tables["alarms"][1][6] == "before the range"
    code = cli.main(["report", str(incident), "--from", "2026-01-02T00:00:00Z", "--format", "html"])
    assert code == 0
    captured = capsys.readouterr()
    assert "no polls between 2026-01-02 00:00:00" in captured.err
    page = parse(captured.out)
    assert page.warnings and "no polls" in page.warnings[0]


def test_times_on_the_command_line(clock):
    day = 1767225600.0  # 2026-01-01 00:00 UTC
    assert parse_time("2026-01-01T00:00:11Z", None, day) == day + 11
    assert parse_time("2026-01-01 00:00:11+00:00", None, day) == day + 11
    assert parse_time("2025-12-31T19:00:11", NEW_YORK, day) == day + 11  # no zone: local
    assert parse_time("19:00:11", NEW_YORK, day) == day + 11  # the recording's day, local
    assert parse_time(str(int(day)), None, 0) == day
    with pytest.raises(ValueError, match="not a time"):
        parse_time("yesterday", None, day)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "an empty file, not a recording"),
        (b'{"time": "x", "action": "switch"}\n' * 40, "not a bluegreen recording"),
    ],
)
def test_a_file_that_is_not_a_recording_says_what_it_is(tmp_path, capsys, content, words):
    path = tmp_path / "x.sqlite"
    path.write_bytes(content)
    assert cli.main(["report", str(path), "--format", "html"]) == 2
    captured = capsys.readouterr()
    assert words in captured.err and captured.out == ""
    assert "Traceback" not in captured.err


def test_a_newer_or_foreign_or_missing_file_exits_2_with_its_word(incident, tmp_path, capsys):
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    assert cli.main(["report", str(other)]) == 2
    assert "SQLite file, but not a bluegreen recording" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path / "missing.sqlite")]) == 2
    assert "no such recording" in capsys.readouterr().err
    db = sqlite3.connect(incident)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    assert cli.main(["report", str(incident)]) == 2
    assert "newer bluegreen" in capsys.readouterr().err


def test_bad_options_exit_2(incident, capsys):
    assert cli.main(["report", str(incident), "--service", "nope"]) == 2
    assert "no service named 'nope'" in capsys.readouterr().err
    assert cli.main(["report", str(incident), "--from", "yesterday"]) == 2
    assert "not a time" in capsys.readouterr().err
    args = [
        "report",
        str(incident),
        "--from",
        "2026-01-01T00:01:00Z",
        "--to",
        "2026-01-01T00:00:00Z",
    ]
    assert cli.main(args) == 2
    assert "is before --from" in capsys.readouterr().err
    assert cli.main(["report", str(incident), "--tz", "Mars/Olympus"]) == 2
    assert "no such time zone" in capsys.readouterr().err


def test_a_damaged_recording_reports_what_is_readable_with_a_warning_on_top(clock, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "rec.sqlite"
    record_incident(clock, path, polls=1500)
    with path.open("r+b") as fh:
        fh.truncate(path.stat().st_size * 2 // 3)
    proc = subprocess.run(
        [sys.executable, "-m", "console", "report", str(path), "--format", "html"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        cwd=ROOT,
    )
    assert "Traceback" not in proc.stderr + proc.stdout
    if proc.returncode == 2:  # the damage hit the schema itself: said, not a traceback
        assert "damaged" in proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    page = parse(proc.stdout)
    assert page.warnings and "damaged" in page.warnings[0]
    assert "warning:" in proc.stderr and "damaged" in proc.stderr
    html = proc.stdout
    assert html.index('class="warning"') < html.index('id="timeline"')
    assert page.tables["timeline"][1][2] == "switch"
    assert len(page.svgs) == 4  # the figures up to the damage are charted
    assert not any("no polls" in w for w in page.warnings)


def test_without_its_audit_log_the_report_says_so_and_shows_the_console_s_own(incident, tmp_path):
    (tmp_path / "audit.jsonl").unlink()
    page = parse(_html(incident))
    kinds = [r[2] for r in page.tables["timeline"][1:]]
    assert "drain" not in kinds and kinds[0] == "switch"
    assert any("not readable" in n for n in "".join(page.text).split("\n"))


def test_markdown_and_html_tell_the_same_timeline(incident):
    with Recording(incident) as rec:
        data = build(rec, tz=NEW_YORK, now=0.0)
    md = render_markdown(data, None)
    page = parse(render_html(data))
    for row in page.tables["timeline"][1:]:
        assert f"| {row[0]} | {row[1]} | {row[2]} |" in md


@pytest.mark.parametrize("buckets", [1, 7, 40, 500])
def test_the_charts_columns_hold_the_min_max_and_last_of_the_polls_in_them(incident, buckets):
    from backends.base import Colour

    with Recording(incident) as rec:
        svc = rec.service()
        frames = list(rec.frames(svc))
        start, end = svc.first + 3.5, svc.last - 2.25  # columns that do not fall on polls
        series = rec.series(svc, "error_pct", start, end, buckets)
    width = (end - start) / buckets
    for c in (Colour.BLUE, Colour.GREEN):
        want: dict[int, list[float]] = {}
        for f in frames:
            t, v = f.snapshot.time, f.snapshot.colour_metrics(c).error_pct
            if v is None or not start <= t <= end:
                continue
            want.setdefault(min(buckets - 1, int((t - start) / width)), []).append(v)
        got = series[c]
        assert len(got) == buckets
        for i, b in enumerate(got):
            vals = want.get(i)
            if not vals:
                assert b.low is None and b.high is None and b.last is None
                continue
            assert b.low == pytest.approx(min(vals), abs=1e-3)
            assert b.high == pytest.approx(max(vals), abs=1e-3)
            assert b.last == pytest.approx(vals[-1], abs=1e-3)


def test_a_bake_started_at_the_read_back_sorts_after_the_switch_that_opened_it():
    # The window starts when the switch read the router back; the switch's row is stamped when its
    # outcome was recorded, after the settle: by time alone the bake would come first.
    from console.report import Row, _order

    rows = [
        Row(100.0, "bake started", "bake of green started", "green"),
        Row(101.2, "switch", "blue → green", "green"),
        Row(100.5, "alarm raised", "CRITICAL blue error %", "blue"),
        Row(50.0, "bake started", "an older window, no switch near it", "blue"),
    ]
    kinds = [r.what for r in sorted(rows, key=_order(rows))]
    assert kinds == [
        "an older window, no switch near it",
        "CRITICAL blue error %",
        "blue → green",
        "bake of green started",
    ]
