"""``bluegreen``: the console's command line.

    bluegreen demo [--scenario NAME]             the dashboard on the built-in simulator
    bluegreen watch --config FILE                the dashboard on real routers
    bluegreen status --config FILE [--json] [--watch [--duration S]]
    bluegreen switch|drain|ready|rollback --config FILE [--to|--colour C] --yes
    bluegreen sync --config FILE --yes           the router's persisted config agrees with it again
    bluegreen lab up|down|fault|status           a real local stack (HAProxy, Prometheus, fleets)
    bluegreen replay [FILE] [--service NAME] [--from TIME] [--speed N]   a recording, on the dashboard
    bluegreen report FILE [--format md|html] [-o OUT]   a recording's timeline, for an incident review

Exit status: 0 success; 1 an action was refused or failed; 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.base import COLOURS, ActionRefused, BackendError, Colour, ColourMetrics
from console.audit import AuditError
from console.cliargs import NOTIFY_FLUSH, _audit_path, _recorder, _recording_path, _service
from console.config import ConfigFileError, ConsoleConfig, ServiceConfig
from console.model import METRICS, BakeVerdict, Frame, json_safe

if TYPE_CHECKING:
    from console.actions import ActionController
    from console.notify import Notifications

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _run_app(
    cfg: ConsoleConfig, service: ServiceConfig, args: argparse.Namespace, subtitle: str
) -> int:
    from console.app import AppOptions
    from console.factory import make_app
    from console.notify import for_service

    audit_path = _audit_path(args, cfg)
    recorder = _recorder(args, cfg, audit_path)
    notes = None
    warnings: tuple[str, ...] = ()
    try:
        notes = for_service(cfg.notify, service.name, audit_path=audit_path)
    except ConfigFileError as exc:  # the console still runs: notifications are not its job
        warnings = (f"notifications off: {exc}",)
    app = make_app(
        service,
        audit_path,
        options=AppOptions(
            read_only=args.read_only, subtitle=subtitle, notifications=notes, warnings=warnings
        ),
        source=str(args.config) if getattr(args, "config", None) else "demo",
        recorder=recorder,
    )
    try:
        app.run()
    finally:
        app.runtime.close()
        if recorder is not None:
            recorder.close()
            if recorder.problem:
                print(f"bluegreen: {recorder.problem}", file=sys.stderr)
            else:
                print(
                    f"bluegreen: recorded to {recorder.path} (replay it: bluegreen replay "
                    f"{recorder.path})",
                    file=sys.stderr,
                )
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from console.audit import demo_default_path
    from console.factory import demo_config

    if args.services is not None:  # the board of N simulated services
        from console.board import run_board
        from console.board_demo import demo_board_config, stage

        if not args.audit_log:
            args.audit_log = str(demo_default_path())
        board = demo_board_config(args.services, args.seed, args.bake_seconds, args.poll_interval)
        return run_board(args, board, f"demo · {args.services} services", stage)
    cfg = demo_config(args.scenario, args.seed, args.bake_seconds, args.poll_interval)
    # The demo's service name may be a real one: its actions go to a log of their own, never into
    # the real default one (nor the one $BLUEGREEN_AUDIT_LOG names), unless --audit-log says so.
    if not args.audit_log:
        args.audit_log = str(demo_default_path())
    return _run_app(cfg, cfg.service[0], args, f"demo · scenario {args.scenario}")


def cmd_watch(args: argparse.Namespace) -> int:
    if args.service is None:  # several services (or --config DIR): the board
        from console.board_config import load_board

        board = load_board(args.config)
        if board.is_dir or len(board) > 1:
            from console.board import run_board

            return run_board(args, board, str(args.config))
    cfg, service = _service(args)
    return _run_app(cfg, service, args, str(args.config))


def cmd_replay(args: argparse.Namespace) -> int:
    """The dashboard on a recording. A file that is not one (missing, empty, foreign, damaged beyond
    reading), an unknown service or a bad --from is one line on stderr and exit 2."""
    from console.recorder import RecordingError
    from console.recording import Recording
    from console.replay import ReplayApp, latest_recording, parse_from

    try:
        path = Path(args.file).expanduser() if args.file else latest_recording()
        rec = Recording(path)
    except RecordingError as exc:
        print(f"bluegreen replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(
            f"bluegreen replay: {args.file}: cannot be read: {exc.strerror or exc}", file=sys.stderr
        )
        return EXIT_USAGE
    try:
        svc = rec.service(args.service)
        if not svc.polls or svc.first is None or svc.last is None:
            raise RecordingError(
                f"{rec.path}: no poll of {svc.name!r} was recorded: nothing to replay"
            )
        start: float | None = None
        if args.from_time:
            start = parse_from(args.from_time, svc.first, svc.last)
        # One console's session (the newest, or the one polling at --from): two consoles that
        # recorded into the file at once would otherwise be stepped through in turn.
        rec.only_session(rec.pick_session(svc, args.session, start))
        svc = rec.service(svc.name)
    except (RecordingError, ValueError) as exc:
        rec.close()
        print(f"bluegreen replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    app = ReplayApp(rec, svc, start=start, speed=args.speed)
    try:
        app.run()
    finally:
        app.runtime.close()
        rec.close()
    if rec.damage:
        print(f"bluegreen replay: {rec.damage}", file=sys.stderr)
    return EXIT_OK


def _services(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 500:
        raise argparse.ArgumentTypeError(f"{text}: from 1 to 500 services")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 1 <= value <= 60:
        raise argparse.ArgumentTypeError(f"{text}: from 1 to 60 (times the recorded pace)")
    return value


# ---------------------------------------------------------------------------------------- headless


STATUS_WIDTHS = {
    "rate": 17,
    "error_pct": 14,
    "latency_ms": 13,
}  # cells per metric column; the last is free


def _metric_cells(m: ColourMetrics) -> str:
    """``rate 12.3 req/s  errors 0.05%  p99 120 ms  sessions 14``: each metric as the panels word
    it (the table in console.model), a latency that is not a p99 named for what it is."""
    cells = []
    for row in METRICS:
        value = m.value(row.key)
        heading = (
            m.latency_stat if row.key == "latency_ms" and m.latency_stat != "p99" else row.heading
        )
        cell = f"{heading} {row.figure(value)}{row.unit_suffix if value is not None else ''}"
        cells.append(f"{cell:<{STATUS_WIDTHS.get(row.key, 0)}}")
    return " ".join(cells).rstrip()


def _human_status(frame: Frame) -> str:
    from console.fmt import duration, router_notice

    snap = frame.snapshot
    out = []
    live = snap.live.value.upper() if snap.live else "NONE"
    head = f"{snap.service}  live {live}"
    if frame.last_switch is not None:
        head += f"  switched {duration(snap.time - frame.last_switch)} ago"
    out.append(head)
    if snap.external_change:
        out.append(f"  {snap.external_change}")
    if snap.router_error:
        out.append(f"  router: {snap.router_error}")
    if snap.router is not None and snap.router.instances:
        out.append(
            "  instances: "
            + ", ".join(
                f"{i.name} → {i.live or 'neither'}" if i.error is None else f"{i.name} → ?"
                for i in snap.router.instances
            )
        )
    if router_notice(frame):
        out.append(f"  router says: {router_notice(frame)}")
    if snap.metrics_error:
        out.append(f"  metrics: {snap.metrics_error}")
    for c in COLOURS:
        cs = snap.router.colour(c) if snap.router else None
        m = snap.colour_metrics(c)
        badge = (
            "?"
            if cs is None
            else ("draining" if cs.draining else ("LIVE" if snap.live == c else "idle"))
        )
        servers = f"{cs.healthy_servers}/{len(cs.servers)} up" if cs else "servers ?"
        weight = f"weight {cs.weight}%" if cs and cs.weight is not None else ""
        version = cs.version if cs and cs.version else ""
        out.append(
            f"  {c.value:<5} {badge:<8} {version:<8} {servers:<8} {weight:<11} {_metric_cells(m)}"
        )
    for a in frame.alarms.firing:
        out.append(f"  ALARM {a.message}")
    bake = frame.bake
    if bake.verdict == BakeVerdict.BAKING and bake.colour is not None:
        note = f" ({bake.reason})" if bake.reason else ""
        out.append(
            f"  bake {bake.colour}: baking, {duration(bake.remaining(snap.mono_time))} left{note}"
        )
    elif bake.decided:  # the stored verdict: every console and status on this machine says the same
        by = f" (decided by {bake.origin})" if bake.origin else ""
        out.append(f"  BAKE {bake.verdict_text()}{by}")
    if frame.comparison is not None and bake.colour is not None:  # green against blue's baseline
        out.append(f"  {frame.comparison.summary()}")
    return "\n".join(out)


def _status_json(frame: Frame) -> dict[str, Any]:
    data = frame.to_json()
    router = frame.snapshot.router
    data["servers"], data["weights"] = None, None  # same keys whether or not the router answered
    if router is not None:
        data["servers"] = {
            c.value: [
                {
                    "name": s.name,
                    "status": s.status.value,
                    "weight": s.weight,
                    "sessions": s.sessions,
                    "check": s.check,
                }
                for s in router.colour(c).servers
            ]
            for c in COLOURS
        }
        data["weights"] = {c.value: router.colour(c).weight for c in COLOURS}
    return data


def cmd_status(args: argparse.Namespace) -> int:
    from console import verdicts
    from console.audit import AuditLog
    from console.monitor import Monitor
    from console.runtime import build

    if getattr(args, "service", None) is None:  # every service of the config (or directory)
        from console.board_config import load_board

        board = load_board(args.config)
        if board.is_dir or len(board) > 1:
            from console.board_status import run

            return run(args, board, _status_json, _human_status)
    cfg, service = _service(args)
    runtime = build(service, source=str(args.config))
    audit_path = _audit_path(args, cfg)
    audit = AuditLog(audit_path)
    recorder = _recorder(args, cfg, audit_path) if args.watch else None
    # The bake verdict stored in the recording, the one every console here shows (a one-shot status
    # reads it and never writes; --watch records, and may decide a window no console decided).
    store = verdicts.for_recorder(recorder)
    if store is None and not args.watch:
        path = _recording_path(args, cfg)
        store = verdicts.VerdictStore(path, read_only=True) if path is not None else None
    monitor = Monitor(runtime, audit, store)
    if recorder is not None:
        from console.recorder import service_settings

        recorder.add_service(
            runtime.name, runtime.router.kind, runtime.router.identity, service_settings(service)
        )
    deadline = None if args.duration is None else time.monotonic() + args.duration
    code = EXIT_OK
    first = True
    warned = False
    from console.notify import explained_by_audit, for_service

    # a watcher tells [notify] what it sees (a one-shot status tells nobody); a change the audit
    # log explains (another bluegreen's action of the last few polls) is not "outside"
    explained = explained_by_audit(audit, service.name, 5 * service.poll_interval)
    notes = (
        for_service(cfg.notify, service.name, None, explained, audit_path) if args.watch else None
    )
    try:
        while True:
            started = time.monotonic()
            frame = monitor.poll()
            if notes is not None:
                notes.frame(frame)
                for line in notes.problems():
                    print(f"bluegreen status: {line}", file=sys.stderr, flush=True)
            if recorder is not None:
                recorder.frame(frame, runtime.router.identity)
                if recorder.problem and not warned:
                    warned = True
                    print(f"bluegreen status: {recorder.problem}", file=sys.stderr, flush=True)
            if first:  # the first poll read the log: say what it had to skip (a torn line)
                first = False
                for note in audit.notes:
                    print(f"bluegreen status: audit log: {note}", file=sys.stderr, flush=True)
            if args.json:
                # Strict JSON: no bare Infinity or NaN, ever (non-finite figures are null + a note)
                line = json.dumps(json_safe(_status_json(frame)), default=str, allow_nan=False)
                print(line, flush=True)
            else:
                print(_human_status(frame), flush=True)
            code = EXIT_FAILED if frame.snapshot.router_error else EXIT_OK
            if not args.watch or (deadline is not None and time.monotonic() >= deadline):
                break
            pause = service.poll_interval - (time.monotonic() - started)
            if deadline is not None:
                pause = min(pause, deadline - time.monotonic())
            if pause > 0:
                time.sleep(pause)
    except KeyboardInterrupt:
        pass
    finally:
        monitor.close()
        runtime.close()
        if recorder is not None:
            recorder.close()
        if notes is not None:
            for line in notes.close(flush=NOTIFY_FLUSH):
                print(f"bluegreen status: {line}", file=sys.stderr)
    return code


def cmd_action(args: argparse.Namespace) -> int:
    from console.actions import ActionController
    from console.audit import AuditLog
    from console.runtime import build

    cfg, service = _service(args)
    runtime = build(service, source=str(args.config))

    def waiting(holder: str) -> None:
        print(f"bluegreen {args.command}: waiting: {holder}", file=sys.stderr, flush=True)

    controller = ActionController(
        runtime,
        AuditLog(_audit_path(args, cfg)),
        command=f"bluegreen {args.command}",
        on_wait=waiting,
    )
    colour = Colour.parse(args.colour) if getattr(args, "colour", None) else None
    from console.notify import for_service, leave_if_hung

    try:
        notes = for_service(cfg.notify, service.name, budget=NOTIFY_FLUSH)
    except ConfigFileError as exc:
        # a broken [notify] must not stop a switch or a rollback (it may be the fix for an
        # incident): said, and the action runs without notifications. notify-test, status --watch
        # and bake keep it a hard error.
        print(
            f"bluegreen {args.command}: warning: no notifications will be sent: {exc}",
            file=sys.stderr,
        )
        notes = None
    code = EXIT_FAILED
    try:
        # With --yes nothing waits on a person: the service's lock is held from the preflight to
        # the last read-back. A prompt releases it while the operator reads (execute re-takes it).
        with contextlib.ExitStack() as held:
            if args.yes:
                try:
                    held.enter_context(controller.holding())
                except BackendError as exc:
                    controller.record_refusal(args.command, colour, exc)
                    print(f"bluegreen {args.command}: refused: {exc}", file=sys.stderr)
                    return EXIT_FAILED
            code = _act(args, controller, colour, notes)
            return code
    finally:
        runtime.close()
        if notes is not None:  # what the action sent: waited for (bounded), failures said
            for line in notes.close(flush=NOTIFY_FLUSH):
                print(f"bluegreen {args.command}: {line}", file=sys.stderr)
            leave_if_hung(notes, code)  # a send that hangs must not hold the exit past the bound


def _act(
    args: argparse.Namespace,
    controller: ActionController,
    colour: Colour | None,
    notes: Notifications | None = None,
) -> int:
    try:
        plan = controller.plan(args.command, colour)
    except BackendError as exc:
        print(f"bluegreen {args.command}: refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(plan.title)
    for line in plan.lines:
        print(f"  {line}")
    tags = {}
    if plan.caution:
        print(f"  CAUTION: {plan.caution}")
        if args.yes and not getattr(args, "cold", False):
            why = (
                f"{plan.target} is inside its warm-rollback window; pass --cold as well as --yes "
                "to drain it all the same (audited)"
            )
            controller.record_refusal(args.command, plan.target, ActionRefused(why))
            print(f"bluegreen {args.command}: not done: {why}", file=sys.stderr)
            return EXIT_FAILED
        tags = {"inside_warm_window": True}
    if not args.yes:
        if not sys.stdin.isatty():
            controller.cancel(plan)
            print(
                f"bluegreen {args.command}: cancelled: no terminal to confirm on: "
                "pass --yes to act without a prompt",
                file=sys.stderr,
            )
            return EXIT_USAGE
        try:
            answer = input("Go ahead? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            controller.cancel(plan)
            print("cancelled")
            return EXIT_FAILED
        if plan.caution:
            try:
                again = input(f"Drain {plan.target} inside its warm-rollback window? [y/N] ")
            except EOFError:
                again = ""
            if again.strip().lower() not in ("y", "yes"):
                controller.cancel(plan)
                print("cancelled")
                return EXIT_FAILED
    outcome = controller.execute(plan, tags=tags)
    if notes is not None and outcome.result != "refused":
        notes.action(outcome.ok, outcome.result, outcome.message)
    if outcome.ok:
        print(outcome.message)
        return EXIT_OK
    print(f"bluegreen {args.command}: {outcome.result}: {outcome.message}", file=sys.stderr)
    return EXIT_FAILED


# ---------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from backends.simulator import SCENARIOS

    p = argparse.ArgumentParser(
        prog="bluegreen",
        description="A terminal console for blue-green deployments.",
        epilog="Exit status: 0 success, 1 refused or failed, 2 bad usage or configuration.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser, config_required: bool = True) -> None:
        if config_required:
            sp.add_argument(
                "--config",
                "-c",
                help="TOML config file, or a directory of them (default $BLUEGREEN_CONFIG)",
            )
            sp.add_argument(
                "--service",
                help="which [[service]] (default: the first; status and watch: every service)",
            )
        sp.add_argument(
            "--audit-log",
            metavar="PATH",
            help="audit log file (default: $BLUEGREEN_AUDIT_LOG, the config's audit_log, else $XDG_STATE_HOME/bluegreen-console/audit.jsonl, ~/.local/state/... by default; see docs/audit-log.md)",
        )

    scen = "\n".join(f"  {k:<15} {v}" for k, v in SCENARIOS.items())
    d = sub.add_parser(
        "demo",
        help="the dashboard on the built-in simulator (no infrastructure)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"scenarios:\n{scen}",
    )
    d.add_argument(
        "--scenario",
        default="healthy",
        choices=list(SCENARIOS),
        metavar="NAME",
        help="default: healthy",
    )
    d.add_argument("--seed", type=int, default=7)
    d.add_argument(
        "--services",
        type=_services,
        metavar="N",
        help="the board of N simulated services (1 to 500; seeded: a few in trouble, one "
        "mid-bake, one draining) instead of one service's dashboard",
    )
    d.add_argument(
        "--bake-seconds", type=float, default=60.0, help="bake window after a switch (default 60)"
    )
    d.add_argument("--poll-interval", type=float, default=1.0)
    d.add_argument("--read-only", action="store_true", help="hide and refuse every action")
    common(d, config_required=False)
    d.set_defaults(func=cmd_demo)

    def recording(sp: argparse.ArgumentParser) -> None:
        g = sp.add_mutually_exclusive_group()
        g.add_argument(
            "--record",
            metavar="PATH",
            help="record the session into this file (default: the config's [recording] path, else "
            "one file per config under $XDG_STATE_HOME/bluegreen-console/recordings/, ~/.local/state/... by default)",
        )
        g.add_argument("--no-record", action="store_true", help="do not record this session")

    recording(d)

    w = sub.add_parser("watch", help="the dashboard for a service in a config file")
    common(w)
    recording(w)
    w.add_argument("--read-only", action="store_true", help="hide and refuse every action")
    w.set_defaults(func=cmd_watch)

    s = sub.add_parser("status", help="print the state once, or every poll with --watch")
    common(s)
    s.add_argument("--json", action="store_true", help="one JSON object per poll")
    s.add_argument(
        "--watch", action="store_true", help="keep polling until interrupted or --duration"
    )
    s.add_argument("--duration", type=float, help="with --watch: stop after this many seconds")
    recording(s)
    s.set_defaults(func=cmd_status)

    for verb, text in (
        ("switch", "send new traffic to the other colour (or --to)"),
        ("drain", "stop new traffic to a colour (default: the one not live)"),
        ("ready", "undo a drain"),
        ("rollback", "switch back to the colour live before the last switch"),
        (
            "sync",
            "rewrite the router's persisted config (HAProxy's map file) to what it routes now; "
            "traffic does not move",
        ),
    ):
        a = sub.add_parser(verb, help=text)
        common(a)
        if verb in ("switch",):
            a.add_argument("--to", dest="colour", choices=[c.value for c in COLOURS])
        elif verb in ("drain", "ready"):
            a.add_argument("--colour", choices=[c.value for c in COLOURS])
        if verb == "drain":
            a.add_argument(
                "--cold",
                action="store_true",
                help="with --yes: drain the old colour even inside its warm-rollback window "
                "(keep_warm after a switch; audited)",
            )
        a.add_argument("--yes", "-y", action="store_true", help="act without asking")
        a.set_defaults(func=cmd_action)

    rp = sub.add_parser(
        "replay",
        help="replay a recording on the dashboard (space, arrows, n/p, +/-)",
        description="The dashboard of a recorded session, as it was drawn: space pauses, left/right "
        "step one poll, n/p jump to the next/previous event (alarm, action, bake verdict, outside "
        "change), +/- change the speed. Actions are refused.",
    )
    rp.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="the recording (default: the most recently written one under "
        "$XDG_STATE_HOME/bluegreen-console/recordings/ (~/.local/state/... by default), where demo and watch record)",
    )
    rp.add_argument("--service", help="which service, when the file holds several")
    rp.add_argument(
        "--from",
        dest="from_time",
        metavar="TIME",
        help="start here: an ISO time (2026-01-01T12:03:00; local time unless it names a zone), "
        "HH:MM[:SS] in local time on the day the recording starts, or +5m / +90s / +1h30m from "
        "its start (default: the start of the session replayed)",
    )
    rp.add_argument(
        "--session",
        metavar="N|all",
        help="which recorded session (default: the one polling at --from, else the newest; "
        "'all' steps through every console that recorded into the file)",
    )
    rp.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="N",
        help="times the recorded pace, 1 to 60 (default 1; + and - change it)",
    )
    rp.set_defaults(func=cmd_replay)

    from console.pipeline import add_parsers as add_pipeline
    from console.report import add_parser as add_report

    add_pipeline(sub, common, recording)
    add_report(sub)

    try:
        from console.lab.commands import register as register_lab
    except ImportError:
        pass
    else:
        register_lab(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigFileError as exc:
        print(f"bluegreen: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BackendError as exc:
        print(f"bluegreen {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except AuditError as exc:
        print(f"bluegreen {args.command}: the action ran, but {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # `status --watch | head`: the reader left; not an error of ours
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the interpreter's final flush is quiet
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
