"""``bluegreen status`` over every service of a config (several ``[[service]]`` tables, or
``--config DIR``) when no ``--service`` is named.

One line per service per poll with ``--json`` (the same object ``status --json`` prints for one
service; a service that could not be loaded or built is ``{"service", "source", "error"}``), or
one block per service in text. Every service is polled side by side with its own deadline
(``console.board_poll``): a hung one is reported ("no poll came back within ...") and never delays
the others' lines. Exit status 1 when any service's router could not be read or any service could
not be loaded, else 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.audit import AuditLog
from console.board_config import BoardConfig, BoardEntry
from console.board_poll import BoardPoller, Slot, build_slots
from console.cliargs import _audit_path, _recorder, _recording_path
from console.model import Frame, json_safe


def slot_json(slot: Slot, frame_json: Callable[[Frame], dict[str, Any]]) -> dict[str, Any]:
    """One service's line of ``status --json`` (``frame_json``: the single service's object)."""
    if slot.frame is None:
        return {
            "service": slot.name,
            "source": slot.entry.source,
            "error": slot.error or slot.late or "not polled yet",
        }
    data = frame_json(slot.frame)
    data["source"] = slot.entry.source
    if slot.late:  # the frame is the last one that came back; this poll's is still out
        data["late"] = slot.late
    return data


def slot_text(slot: Slot, frame_text: Callable[[Frame], str]) -> str:
    if slot.frame is None:
        return f"{slot.name}  ERROR  {slot.error or slot.late or 'not polled yet'}"
    text = frame_text(slot.frame)
    return f"{text}\n  poll: {slot.late}" if slot.late else text


def run(
    args: argparse.Namespace,
    board: BoardConfig,
    frame_json: Callable[[Frame], dict[str, Any]],
    frame_text: Callable[[Frame], str],
) -> int:
    """``frame_json`` / ``frame_text``: how ``status`` prints one service (``console.cli``)."""
    from console import verdicts

    logs: dict[Path, AuditLog] = {}

    def audit_for(entry: BoardEntry) -> AuditLog:
        path = _audit_path(args, entry.console)
        if path not in logs:
            logs[path] = AuditLog(path)
        return logs[path]

    first = board.first_console
    recorder = None
    if args.watch and first is not None:
        recorder = _recorder(args, first, _audit_path(args, first))
    store = verdicts.for_recorder(recorder)
    if store is None and not args.watch and first is not None:
        path = _recording_path(args, first)
        store = verdicts.VerdictStore(path, read_only=True) if path is not None else None
    slots = build_slots(board, audit_for, store)
    if recorder is not None:
        from console.recorder import service_settings

        for s in slots:
            if s.runtime is not None:
                recorder.add_service(
                    s.name,
                    s.runtime.router.kind,
                    s.runtime.router.identity,
                    service_settings(s.runtime.config),
                )
    poller = BoardPoller(slots)
    interval = min((s.runtime.config.poll_interval for s in slots if s.runtime), default=1.0)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    code = 0
    try:
        while True:
            started = time.monotonic()
            poller.poll(interval if args.watch else None)
            code = 0
            for slot in slots:
                frame = slot.frame
                if recorder is not None and frame is not None and slot.runtime and not slot.late:
                    recorder.frame(frame, slot.runtime.router.identity)
                if frame is None or frame.snapshot.router_error or slot.error:
                    code = 1
                if args.json:
                    line = json.dumps(
                        json_safe(slot_json(slot, frame_json)), default=str, allow_nan=False
                    )
                    print(line, flush=True)
                else:
                    print(slot_text(slot, frame_text), flush=True)
            if not args.watch or (deadline is not None and time.monotonic() >= deadline):
                break
            pause = interval - (time.monotonic() - started)
            if deadline is not None:
                pause = min(pause, deadline - time.monotonic())
            if pause > 0:
                time.sleep(pause)
    except KeyboardInterrupt:
        pass
    finally:
        poller.close()
        if recorder is not None:
            recorder.close()
            if recorder.problem:
                print(f"bluegreen status: {recorder.problem}", file=sys.stderr)
    return code
