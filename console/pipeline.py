"""The commands a CI/CD job calls around a switch: ``bluegreen gate`` before it, ``bluegreen bake``
after it.

* ``bluegreen gate --config F [--service S] [--colour C]``: the pre-switch gate (console.gate) on the
  idle colour (or ``--colour``): smoke checks and warm-up. Exit 0 passed, 1 failed, 2 usage/config.
* ``bluegreen bake --config F [--service S] [--timeout S] [--json]``: waits for the current bake
  window to end, polling as ``status --watch`` does (and recording, so its verdict is the one every
  console here shows). Exit 0 PASSED, 1 FAILED (or the window ended without a verdict: the live
  colour changed under it), 2 usage/config errors or no window to wait for, 3 ``--timeout`` ran out
  first. ``--json``: one line per poll while it waits, then the verdict's line.

What Argo Rollouts' analysis step or Flagger's canary gate is to their pipelines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from backends.base import COLOURS, BackendError, Colour
from console.autorollback import run as run_auto
from console.model import BakeState, BakeVerdict, Frame, json_safe

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_gate(args: argparse.Namespace) -> int:
    from console.cliargs import _service
    from console.gate import gate_from_config
    from console.runtime import build

    cfg, service = _service(args)
    if service.gate is None:
        _say(
            f"bluegreen gate: service {service.name!r} has no [service.gate]; add one with "
            "preview URLs and smoke checks (docs/configuration.md)"
        )
        return EXIT_USAGE
    colour = Colour.parse(args.colour) if args.colour else None
    if colour is None:
        runtime = build(service, source=str(args.config))
        try:
            state = runtime.router_guard.call(runtime.router.state)
        except BackendError as exc:
            _say(f"bluegreen gate: cannot tell the idle colour, the router is unreadable: {exc}")
            return EXIT_FAILED
        finally:
            runtime.close()
        if state.live is None:
            _say("bluegreen gate: the router routes to no single colour; say which: --colour")
            return EXIT_USAGE
        colour = state.live.other
    result = gate_from_config(service.gate, colour)
    if args.json:
        print(json.dumps(json_safe(_gate_json(result)), allow_nan=False), flush=True)
    else:
        print("\n".join(result.lines()), flush=True)
    return EXIT_OK if result.ok else EXIT_FAILED


def _gate_json(result: Any) -> dict[str, Any]:
    w = result.warmup
    return {
        "colour": result.colour.value,
        "url": result.url,
        "ok": result.ok,
        "reason": result.reason,
        "checks": [
            {"check": c.check.label, "ok": c.ok, "reason": c.reason, "ms": c.ms}
            for c in result.checks
        ],
        "warmup": None
        if w is None
        else {
            "sent": w.sent,
            "errors": w.errors,
            "error_pct": w.error_pct,
            "first_ms": w.first_ms,
            "last_ms": w.last_ms,
            "cut": w.cut,
            "ok": w.ok,
        },
    }


def _bake_json(frame: Frame, bake: BakeState, final: str | None) -> dict[str, Any]:
    snap = frame.snapshot
    return {
        "time": snap.time,
        "service": snap.service,
        "live": snap.live.value if snap.live else None,
        "bake": {
            "verdict": bake.verdict.name.lower(),
            "colour": bake.colour.value if bake.colour else None,
            "remaining": round(bake.remaining(snap.mono_time), 1),
            "reason": bake.reason,
            "decided_by": bake.origin or None,
        },
        "alarms": [
            {"colour": a.colour.value, "level": a.level.label, "message": a.message}
            for a in frame.alarms.firing
        ],
        "result": final,
    }


def cmd_bake(args: argparse.Namespace) -> int:
    from console import verdicts
    from console.audit import AuditLog
    from console.cliargs import _audit_path, _recorder, _service
    from console.monitor import Monitor
    from console.recorder import service_settings
    from console.runtime import build

    cfg, service = _service(args)
    runtime = build(service, source=str(args.config))
    audit_path = _audit_path(args, cfg)
    recorder = _recorder(args, cfg, audit_path)
    monitor = Monitor(runtime, AuditLog(audit_path), verdicts.for_recorder(recorder))
    if recorder is not None:
        recorder.add_service(
            runtime.name, runtime.router.kind, runtime.router.identity, service_settings(service)
        )
    from console.cliargs import NOTIFY_FLUSH
    from console.notify import explained_by_audit, for_service, leave_if_hung

    # a change the audit log explains (a CLI's switch, this bake's own rollback) is not "outside"
    explained = explained_by_audit(AuditLog(audit_path), service.name, 5 * service.poll_interval)
    notes = for_service(cfg.notify, service.name, NOTIFY_FLUSH, explained, audit_path)
    leaving = EXIT_FAILED  # the exit code, for leave_if_hung
    router_error: str | None = None  # said when it changes: a bake that cannot read is not silent
    auto, controller = _auto(service, runtime, monitor, audit_path)
    audit = AuditLog(audit_path)
    switched = _last_switch(audit, runtime)  # the window bake judges: the last *switch* opened it
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    window: tuple[Colour, float] | None = None
    last_said = -1.0
    rolled = None
    held: tuple[int | None, str | None] | None = None  # the verdict, while a countdown runs
    try:
        while True:
            started = time.monotonic()
            frame = monitor.poll()
            if frame.snapshot.router_error != router_error:
                router_error = frame.snapshot.router_error
                _say(
                    f"bluegreen bake: the router cannot be read: {router_error}"
                    if router_error
                    else "bluegreen bake: the router can be read again"
                )
            if notes is not None:
                notes.frame(frame)
                for line in notes.problems():
                    _say(f"bluegreen bake: {line}")
            if recorder is not None:
                recorder.frame(frame, runtime.router.identity)
            if auto is not None and controller is not None:
                said = auto.step(frame)
                if said:
                    _say(f"bluegreen bake: {said}")
                cd = auto.due(frame.snapshot.mono_time)
                if cd is not None:
                    done = run_auto(controller, cd)
                    _say(f"bluegreen bake: {done.message}")
                    if notes is not None:
                        notes.action(done.ok, done.result, done.message, by="auto")
                    rolled = done
            bake = frame.bake
            # a rollback this bake ran itself is said with the verdict, not as someone else's
            code, final = (
                (None, None)
                if rolled is not None
                else _rolled_back(frame, audit, runtime, switched)
            )
            if code is None:
                code, final = _bake_step(frame, bake, window)
            if held is None and code is not None and auto is not None and auto.countdown:
                held, code, final = (code, final), None, None  # said once the countdown is over
            elif held is not None:
                code, final = (None, None) if auto is not None and auto.countdown else held
                if final is not None:
                    final += (
                        f"; then {rolled.message}"
                        if rolled is not None
                        else f"; {auto.note if auto is not None else ''}"
                    )
            elif final is not None and rolled is not None:
                final += f"; then {rolled.message}"  # a countdown of 0: rolled back in this poll
            if window is None and bake.colour is not None and bake.started is not None:
                window = (bake.colour, bake.started)
            if args.json:
                line = json_safe(_bake_json(frame, bake, final))
                print(json.dumps(line, allow_nan=False, default=str), flush=True)
            elif final is not None and code == EXIT_USAGE:
                _say(f"bluegreen bake: {final}")
            elif final is not None:
                print(final, flush=True)
            elif bake.verdict == BakeVerdict.BAKING and time.monotonic() - last_said >= 30:
                last_said = time.monotonic()
                left = bake.remaining(frame.snapshot.mono_time)
                firing = ", ".join(a.message for a in frame.alarms.firing) or "no alarm"
                print(f"baking {bake.colour}: {left:.0f} s left; {firing}", flush=True)
            if code is not None:
                leaving = code
                return code
            counting = auto is not None and auto.countdown is not None
            # a running countdown outlives --timeout: it is bounded (auto_rollback_countdown <= 300
            # s), and a job that gave up on it would drop the rollback it promised
            if deadline is not None and time.monotonic() >= deadline and not counting:
                left = bake.remaining(frame.snapshot.mono_time)
                _say(
                    f"bluegreen bake: no verdict within --timeout {args.timeout:g} s; the bake of "
                    f"{bake.colour} has {left:.0f} s left"
                    + (f"; the router cannot be read: {router_error}" if router_error else "")
                )
                leaving = EXIT_TIMEOUT
                return EXIT_TIMEOUT
            pause = service.poll_interval - (time.monotonic() - started)
            if deadline is not None and not counting:
                pause = min(pause, deadline - time.monotonic())
            if pause > 0:
                time.sleep(pause)
    except KeyboardInterrupt:
        if auto is not None and auto.countdown is not None:
            cd = auto.countdown
            _say(
                f"bluegreen bake: AUTO-ROLLBACK ABANDONED: interrupted during the countdown; "
                f"{cd.colour} stays live and nobody rolls it back ({cd.cause})"
            )
        leaving = 130
        return 130
    finally:
        monitor.close()
        runtime.close()
        if recorder is not None:
            recorder.close()
        if notes is not None:
            for line in notes.close(flush=NOTIFY_FLUSH):
                _say(f"bluegreen bake: {line}")
            leave_if_hung(notes, leaving)  # a hung send must not hold the exit past the bound


def _auto(service: Any, runtime: Any, monitor: Any, audit_path: Any) -> tuple[Any, Any]:
    """With ``auto_rollback = "armed"``, the bake gate is the guard: it rolls back on a critical
    alarm in the window, as an armed console would (the service's lock keeps two from both acting)."""
    if service.auto_rollback != "armed":
        return None, None
    from console.actions import ActionController
    from console.audit import AuditLog
    from console.autorollback import AutoRollback

    controller = ActionController(
        runtime,
        AuditLog(audit_path),
        monitor.observe_action,
        command="bluegreen bake (auto-rollback)",
        acting=monitor.acting,
    )
    hint = "Ctrl-C abandons it: then nobody rolls back"
    return AutoRollback(True, service.auto_rollback_countdown, hint), controller


def _last_switch(audit: Any, runtime: Any) -> dict[str, Any] | None:
    """The newest ``switch`` (not a rollback) of the service that moved the live colour."""
    from console.audit import AuditError

    try:
        entries = list(audit.entries(runtime.name))
    except (AuditError, OSError):
        return None
    last = None
    for e in entries:
        if e.get("action") != "switch" or e.get("result") not in ("ok", "failed", "reconciled"):
            continue
        if not audit._same_router(e, runtime.router.identity):
            continue
        before, after = e.get("before") or {}, e.get("after") or {}
        if (
            isinstance(before, dict)
            and isinstance(after, dict)
            and after.get("live") not in (None, before.get("live"))
        ):
            last = e
    return last


def _rolled_back(
    frame: Frame, audit: Any, runtime: Any, switched: dict[str, Any] | None
) -> tuple[int | None, str | None]:
    """(EXIT_FAILED, the line) when the colour the last switch made live is not live any more: a
    rollback (or someone) moved it away; the window open now is not the one bake was asked to judge.
    """
    if switched is None:
        return None, None
    to = str((switched.get("after") or {}).get("live"))
    live = frame.snapshot.live
    from console.audit import AuditError

    try:
        last = audit.last_switch(runtime.name, runtime.router.identity)
    except (AuditError, OSError):
        last = None
    rollback = (
        last is not None
        and last.get("id") != switched.get("id")
        and last.get("action") == "rollback"
        and (last.get("before") or {}).get("live") == to
    )
    if rollback and last is not None:
        who = str(last.get("user") or "someone")
        if last.get("by"):
            who = f"{last['by']} ({who})"
        return EXIT_FAILED, (
            f"bake of {to}: rolled back by {who} at {last.get('time')} "
            f"(now {live or 'unknown'} live); not a verdict on {to}"
        )
    if live is not None and live.value != to:
        return EXIT_FAILED, (
            f"bake of {to}: rolled back or changed outside: the live colour is {live}, not {to} "
            "as the last switch left it"
        )
    return None, None


def _bake_step(
    frame: Frame, bake: BakeState, window: tuple[Colour, float] | None
) -> tuple[int | None, str | None]:
    """(exit code, final line) once the wait is over, else (None, None)."""
    if window is not None and (bake.colour, bake.started) != window:
        colour, _ = window
        return EXIT_FAILED, (
            f"bake of {colour}: ended without a verdict: the live colour changed under it "
            f"(now {frame.snapshot.live or 'unknown'})"
        )
    if bake.decided:
        by = f" (decided by {bake.origin})" if bake.origin else ""
        code = EXIT_OK if bake.verdict == BakeVerdict.PASSED else EXIT_FAILED
        return code, f"BAKE {bake.verdict_text()}{by}"
    if bake.verdict == BakeVerdict.NONE and frame.snapshot.router is not None:
        return EXIT_USAGE, (
            f"no bake window open for {frame.snapshot.service}: no switch recorded within the "
            f"last {frame.bake.duration or 0:.0f} s (run `bluegreen switch` first, or wait for "
            "one with `bluegreen status --watch`)"
        )
    return None, None


def cmd_notify_test(args: argparse.Namespace) -> int:
    """Send one test notification to every ``[notify]`` URL; exit 0 sent, 1 not, 2 no [notify]."""
    from console.cliargs import _service
    from console.notify import from_config, probe_message

    cfg, service = _service(args)
    if cfg.notify is None:
        _say(
            "bluegreen notify-test: the config has no [notify]; add one with urls_env or "
            "urls_file (docs/configuration.md)"
        )
        return EXIT_USAGE
    notifier = from_config(cfg.notify)
    try:
        notifier.send(probe_message(service.name))
        budget = cfg.notify.attempts * (cfg.notify.timeout + 2**cfg.notify.attempts) + 5
        notifier.flush(budget)
        problems = notifier.problems()
    finally:
        notifier.close()
    if problems or not notifier.sent:
        for p in problems or ["no answer in time"]:
            _say(f"bluegreen notify-test: {p}")
        return EXIT_FAILED
    print(f"bluegreen notify-test: sent to {len(cfg.notify.urls())} endpoint(s)", flush=True)
    return EXIT_OK


def _seconds(text: str) -> float:
    """``--timeout``: a number of seconds, not negative."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is negative: give 0 or more seconds")
    return value


def add_parsers(sub: Any, common: Any, recording: Any) -> None:
    g = sub.add_parser(
        "gate", help="run the pre-switch gate (smoke checks, warm-up) on the idle colour"
    )
    common(g)
    g.add_argument(
        "--colour", choices=[c.value for c in COLOURS], help="default: the colour not live"
    )
    g.add_argument("--json", action="store_true", help="the result as one JSON object")
    g.set_defaults(func=cmd_gate)

    b = sub.add_parser(
        "bake",
        help="wait for the current bake window's verdict: exit 0 passed, 1 failed, 3 timed out",
    )
    common(b)
    b.add_argument("--timeout", type=_seconds, help="give up after this many seconds (exit 3)")
    b.add_argument("--json", action="store_true", help="one JSON object per poll, then the verdict")
    recording(b)
    b.set_defaults(func=cmd_bake)

    n = sub.add_parser("notify-test", help="send one test notification to the [notify] URLs")
    common(n)
    n.set_defaults(func=cmd_notify_test)
