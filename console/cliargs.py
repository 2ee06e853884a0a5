"""What the CLI's commands share: the config and service named on the command line, the audit log
and the recorder they use (``console.cli`` and ``console.pipeline`` both build on it)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from console.config import ENV_AUDIT_LOG, ENV_CONFIG, ConsoleConfig, ServiceConfig, load

if TYPE_CHECKING:
    from console.recorder import Recorder

NOTIFY_FLUSH = 15.0  # seconds a CLI waits at exit for its notifications to be sent


def _audit_path(args: argparse.Namespace, cfg: ConsoleConfig | None) -> Path:
    from console.audit import default_path

    if getattr(args, "audit_log", None):
        return Path(args.audit_log)
    if os.environ.get(ENV_AUDIT_LOG):
        return Path(os.environ[ENV_AUDIT_LOG])
    if cfg is not None and cfg.audit_log is not None:
        return cfg.audit_log
    return default_path()


def _service(args: argparse.Namespace) -> tuple[ConsoleConfig, ServiceConfig]:
    config = getattr(args, "config", None) or os.environ.get(ENV_CONFIG)
    if config and Path(config).is_dir():  # --config DIR: one service of the directory's files
        from console.board_config import load_board, pick

        return pick(load_board(config), getattr(args, "service", None))
    cfg = load(args.config)
    return cfg, cfg.pick(getattr(args, "service", None))


def _recorder(args: argparse.Namespace, cfg: ConsoleConfig, audit_path: Path) -> Recorder | None:
    """The session's recorder, started (opening, migrating and pruning the file on its own thread),
    or None under ``--no-record`` / ``[recording] enabled = false``."""
    from console.recorder import Recorder

    path = _recording_path(args, cfg)
    if path is None:
        return None
    settings = cfg.recording
    return Recorder(
        path,
        command=args.command,
        audit_log=audit_path,
        days=settings.days,
        max_mb=settings.max_mb,
    ).start()


def _recording_path(args: argparse.Namespace, cfg: ConsoleConfig) -> Path | None:
    """Where this session records (and finds the stored bake verdicts), or None when it does not."""
    from console.recorder import default_path

    settings = cfg.recording
    if getattr(args, "no_record", False) or (not settings.enabled and not args.record):
        return None
    if args.record:
        return Path(args.record).expanduser()
    if settings.path is not None:
        return settings.path.expanduser()
    return default_path(getattr(args, "config", None))
