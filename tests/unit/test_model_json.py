"""Strict JSON: what the console writes (``status --json``, the audit log) never holds a bare
Infinity or NaN, which strict parsers reject."""

from __future__ import annotations

import json
import math
from typing import Any

from backends.base import Colour, ColourMetrics
from console.audit import AuditLog
from console.model import AlarmReport, BakeState, Frame, Snapshot, json_safe


def strict_loads(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"not strict JSON: bare {name}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_figures_are_null_with_a_note_naming_why():
    snap = Snapshot(
        "shop",
        0.0,
        metrics={
            Colour.BLUE: ColourMetrics(rate=10.0, latency_ms=math.inf),
            Colour.GREEN: ColourMetrics(rate=math.nan, error_pct=-math.inf),
        },
    )
    data = Frame(snap, AlarmReport(), BakeState()).to_json()
    blue, green = data["metrics"]["blue"], data["metrics"]["green"]
    assert blue["latency_ms"] is None
    assert blue["notes"] == {"latency_ms": "above the histogram's top bucket"}
    assert blue["rate"] == 10.0 and blue["latency_stat"] == "p99"
    assert green["rate"] is None  # NaN was never a figure (ColourMetrics.value)
    assert green["error_pct"] is None
    assert green["notes"] == {"error_pct": "not a finite number (-Inf)"}
    strict_loads(json.dumps(data, allow_nan=False))


def test_json_safe_nulls_every_non_finite_float_anywhere():
    data = {"a": [1.5, math.inf, {"b": math.nan}], "c": (-math.inf, 2), "d": "inf"}
    assert json_safe(data) == {"a": [1.5, None, {"b": None}], "c": [None, 2], "d": "inf"}


def test_the_audit_log_writes_strict_json(tmp_path, clock):
    log = AuditLog(tmp_path / "audit.jsonl", clock)
    log.append(service="shop", action="switch", result="ok", after={"p99": math.inf})
    (line,) = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert strict_loads(line)["after"] == {"p99": None}
