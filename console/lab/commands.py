"""``bluegreen lab up|down|fault|status``: a real stack on 127.0.0.1 to try the console on.

``register(subparsers)`` adds the ``lab`` command to the CLI's argparse subparsers; each action sets
``func`` to a function of the parsed arguments that returns the exit status (0 done, 1 failed,
2 bad usage). The work itself is in :mod:`console.lab.stack`. Also runnable without the CLI:
``python -m console.lab up``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from console.lab import stack
from console.lab.stack import LabError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _say(text: str) -> None:
    print(text, flush=True)


def _fail(action: str, exc: Exception) -> int:
    print(f"bluegreen lab {action}: {exc}", file=sys.stderr, flush=True)
    return EXIT_FAILED


def _shown(path: str) -> str:
    """``path`` relative to the current dir when it is under it (shorter commands to copy)."""
    try:
        return os.path.relpath(path) if Path(path).is_relative_to(Path.cwd()) else path
    except ValueError:
        return path


def cmd_up(args: argparse.Namespace) -> int:
    try:
        state = stack.up(
            args.dir,
            duration=args.duration,
            rate=args.rate,
            install=not args.no_install,
            services=args.services,
            say=_say,
        )
    except LabError as exc:
        return _fail("up", exc)
    config, where = _shown(state.console_config), _shown(state.dir)
    notify = f"what [notify] sends lands in {_shown(state.notifications)} (tail -f it)"
    stop = f"""Stop it all:
  bluegreen lab down --dir {where}"""
    if state.multi:
        _say(_up_services(state, config, where, notify, stop))
        return EXIT_OK
    blue, green = (_instances(state.fleet[c]) for c in ("blue", "green"))
    _say(
        f"""
The lab is up (everything on 127.0.0.1):
  traffic      {state.frontend_url}  (HAProxy; blue is live)
  blue  v1     {blue}
  green v2     {green}
  Prometheus   {state.prometheus_url}  (scrapes the fleets and HAProxy every 1 s)
  HAProxy      stats {state.haproxy_stats_url}, admin socket {state.socket}
  load         {state.rate:g} req/s through HAProxy for {state.duration:g} s, then it stops
  console      {config}
  notify       {notify}

Open the console on it (metrics appear within about 10 s):
  bluegreen watch --config {config}

Break something, then look:
  bluegreen lab fault green --error-rate 0.5 --latency-ms 300 --dir {where}
  bluegreen lab fault --reset --dir {where}

{stop}"""
    )
    return EXIT_OK


def _instances(instances: list[dict[str, Any]]) -> str:
    return ", ".join(f"{i['name']} {i['url']}" for i in instances)


def _up_services(state: stack.LabState, config: str, where: str, notify: str, stop: str) -> str:
    """What ``up --services N`` prints: each service's way in and fleets, then the shared parts."""
    services = state.layout()
    names = [s.name for s in services]
    rows = "".join(
        f"""  {svc.name:<12} {state.url_of(svc)}  (HAProxy, map {_shown(svc.map)} key {svc.map_key}; blue is live)
    blue  v1   {_instances(svc.fleet["blue"])}
    green v2   {_instances(svc.fleet["green"])}
"""
        for svc in services
    )
    return f"""
The lab is up with {len(names)} services behind one HAProxy (everything on 127.0.0.1):
{rows}  Prometheus   {state.prometheus_url}  (scrapes the fleets, labelled {stack.SERVICE_LABEL}="<name>", and HAProxy every 1 s)
  HAProxy      stats {state.haproxy_stats_url}, admin socket {state.socket}
  load         {state.rate:g} req/s to each service through HAProxy for {state.duration:g} s, then it stops
  console      {config} (one [[service]] per service: a board)
  notify       {notify}

Open the board on it (metrics appear within about 10 s):
  bluegreen watch --config {config}
  bluegreen watch --config {config} --service {names[-1]}    # one service's console

Break something in one service, then look:
  bluegreen lab fault green --service {names[-1]} --error-rate 0.5 --latency-ms 300 --dir {where}
  bluegreen lab fault --reset --dir {where}

{stop}"""


def cmd_down(args: argparse.Namespace) -> int:
    try:
        stack.down(args.dir, say=_say)
    except LabError as exc:
        return _fail("down", exc)
    return EXIT_OK


def cmd_fault(args: argparse.Namespace) -> int:
    if not args.reset and args.colour is None:
        print("bluegreen lab fault: give a COLOUR (or --reset)", file=sys.stderr)
        return EXIT_USAGE
    if not args.reset and args.error_rate is None and args.latency_ms is None:
        print(
            "bluegreen lab fault: give --error-rate and/or --latency-ms (or --reset)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        stack.fault(
            args.dir,
            args.colour,
            error_rate=args.error_rate,
            latency_ms=args.latency_ms,
            reset=args.reset,
            service=args.service,
            say=_say,
        )
    except LabError as exc:
        return _fail("fault", exc)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    try:
        info = stack.status(args.dir, args.service)
    except LabError as exc:
        return _fail("status", exc)
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK if info["up"] else EXIT_FAILED
    _print_status(info)
    return EXIT_OK if info["up"] else EXIT_FAILED


def _print_status(info: dict[str, Any]) -> None:
    state = (
        "up"
        if info["up"]
        else "DEGRADED (a process stopped; see its log, or `lab down` + `lab up`)"
    )
    _say(f"lab in {info['dir']}: {state}")
    width = max([15, *(len(n) + 1 for n in [*info["processes"], *info["fleet"]])])
    if "live" in info:  # the one-service lab
        _say(f"  live colour  {_live(info)}")
    else:
        for name, svc in info["services"].items():
            _say(f"  {name:<{width}}live {_live(svc):<7} {svc['url']}  (map key {svc['map_key']})")
    for name, p in info["processes"].items():
        if p["running"]:
            what = "running"
        elif name == "load" and time.time() >= info["load_ends"]:
            what = "finished (its --duration is over)"
        else:
            what = f"STOPPED (log: {p['log']})"
        _say(f"  {name:<{width}}pid {p['pid']:<8} {what}")
    for name, f in info["fleet"].items():
        _say(
            f"  {name:<{width}}{f['url']:<25} {'healthy' if f['healthy'] else 'NOT ANSWERING /healthz'}"
        )
    for name, url in info["urls"].items():
        _say(f"  {name:<16} {url}")
    _say(f"  console config   {info['console_config']}")


def _live(svc: dict[str, Any]) -> str:
    return str(svc["live"] or f"unknown ({svc['live_error'] or 'map entry missing'})")


def _service_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--service",
        default=None,
        metavar="NAME",
        help=f"{what} (shop or cart; needed when the lab runs two services)",
    )


def _dir_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dir",
        default=None,
        metavar="DIR",
        help=f"the lab's state dir (default ./{stack.DEFAULT_DIR} under the current dir)",
    )


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``lab`` and its actions to an argparse subparsers object; returns the ``lab`` parser."""
    lab = subparsers.add_parser(
        "lab",
        help="a real local stack (HAProxy, Prometheus, two fleets, load) to try the console on",
        description=(
            "Start, break and stop a real blue-green stack on 127.0.0.1: HAProxy, Prometheus, "
            "blue v1 and green v2 fleets (2 instances each) and a bounded load generator."
        ),
    )
    actions = lab.add_subparsers(dest="lab_action", required=True, metavar="ACTION")

    u = actions.add_parser("up", help="start the stack in the background and write console.toml")
    _dir_option(u)
    u.add_argument(
        "--duration",
        type=float,
        default=3600.0,
        help="seconds the load generator runs (default 3600)",
    )
    u.add_argument(
        "--rate",
        type=float,
        default=50.0,
        help="requests per second, to each service (default 50)",
    )
    u.add_argument(
        "--services",
        type=int,
        default=1,
        metavar="N",
        help=(
            f"1 (default): one service; {stack.MAX_SERVICES}: "
            f"{' and '.join(stack.SERVICE_NAMES)} behind the one HAProxy, each with its own fleets "
            "and map, and a console.toml that opens the board"
        ),
    )
    u.add_argument(
        "--no-install",
        action="store_true",
        help="fail instead of running `apt-get install -y haproxy prometheus` when they are missing",
    )
    u.set_defaults(func=cmd_up)

    d = actions.add_parser("down", help="stop exactly what `up` started and remove its state")
    _dir_option(d)
    d.set_defaults(func=cmd_down)

    f = actions.add_parser(
        "fault",
        help="inject errors / latency into a colour's instances (or --reset)",
        description="POST /-/fault (or /-/reset) to every instance of a colour.",
    )
    f.add_argument(
        "colour", nargs="?", choices=["blue", "green"], help="which fleet (all with --reset)"
    )
    f.add_argument("--error-rate", type=float, metavar="R", help="fraction of 500s, 0..1")
    f.add_argument("--latency-ms", type=float, metavar="MS", help="base latency in milliseconds")
    f.add_argument("--reset", action="store_true", help="back to no errors and the base latency")
    _service_option(f, "whose fleet (with --reset: every service's when left out)")
    _dir_option(f)
    f.set_defaults(func=cmd_fault)

    s = actions.add_parser("status", help="what runs, where, and which colour is live")
    _service_option(s, "only this service's live colour and fleet (default: every service's)")
    _dir_option(s)
    s.add_argument("--json", action="store_true", help="as one JSON object")
    s.set_defaults(func=cmd_status)
    return lab


def main(argv: list[str] | None = None) -> int:
    """``python -m console.lab ACTION ...`` (the same as ``bluegreen lab ACTION ...``)."""
    parser = argparse.ArgumentParser(prog="python -m console.lab")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["lab", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))
