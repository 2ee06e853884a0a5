"""The services of a board: every ``[[service]]`` of one config file, or of every ``*.toml`` file in a
directory (``--config DIR``).

A directory never fails as a whole: a file that does not load (bad TOML, a bad key, two services of
the same name inside it) becomes one entry with its error, named after the file, and the good files
run. A service whose name another file already used becomes an entry with an error naming both files
(``shop (b.toml)``: "the name 'shop' is already used by a.toml"): it is not watched, and no action
can reach it by that name. Entries keep the files' order (sorted by file name), then the order of
``[[service]]`` tables in each file.

Nothing here builds a backend: ``console.runtime.build`` does, per service, when the board starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from console.config import ConfigFileError, ConsoleConfig, ServiceConfig, load


@dataclass(frozen=True)
class BoardEntry:
    """One row of the board: a service that loaded (``service``, ``console``) or an error."""

    name: str
    source: str  # the file it came from
    service: ServiceConfig | None = None
    console: ConsoleConfig | None = None  # the file's own settings (audit_log, recording, notify)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.service is not None and self.error is None


@dataclass(frozen=True)
class BoardConfig:
    """Every entry of a config file or directory, in order."""

    path: Path
    entries: tuple[BoardEntry, ...]
    is_dir: bool = False

    def __iter__(self) -> Iterator[BoardEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def good(self) -> tuple[BoardEntry, ...]:
        return tuple(e for e in self.entries if e.ok)

    @property
    def first_console(self) -> ConsoleConfig | None:
        """The settings of the first file that loaded (the board's audit log and recording)."""
        return next((e.console for e in self.entries if e.console is not None), None)

    def entry(self, name: str) -> BoardEntry:
        """The entry called ``name``. Raises ConfigFileError listing the names."""
        for e in self.entries:
            if e.name == name:
                return e
        names = ", ".join(repr(e.name) for e in self.entries if e.ok)
        raise ConfigFileError(f"no service named {name!r} in {self.path}; services: {names}")


def config_files(directory: Path) -> list[Path]:
    """The ``*.toml`` files of ``directory`` (not its subdirectories, no hidden files), sorted."""
    return sorted(
        p for p in directory.iterdir() if p.suffix == ".toml" and not p.name.startswith(".")
    )


def load_board(path: str | os.PathLike[str] | None) -> BoardConfig:
    """Every service of ``path``: a config file (which must load: ConfigFileError as ``load``) or
    a directory of them (which loads whatever it can; see the module's docstring).

    Raises:
        ConfigFileError: a file that does not load, a directory that cannot be read or holds no
            ``*.toml`` file.
    """
    if path is None:
        path = os.environ.get("BLUEGREEN_CONFIG") or None
    if path is not None and Path(path).is_dir():
        return _load_dir(Path(path))
    cfg = load(path)
    p = Path(str(path)) if path else Path("config")
    entries = tuple(BoardEntry(s.name, str(p), s, cfg) for s in cfg.service)
    return BoardConfig(p, entries)


def _load_dir(directory: Path) -> BoardConfig:
    try:
        files = config_files(directory)
    except OSError as exc:
        raise ConfigFileError(f"{directory}: cannot list it: {exc.strerror or exc}") from None
    if not files:
        raise ConfigFileError(
            f"{directory}: no *.toml file in this directory; put one config file per team or "
            "service there, or pass --config FILE"
        )
    entries: list[BoardEntry] = []
    seen: dict[str, str] = {}  # service name -> the file that named it first
    for f in files:
        try:
            cfg = load(f)
        except ConfigFileError as exc:
            entries.append(BoardEntry(f.name, str(f), error=str(exc)))
            continue
        for s in cfg.service:
            if s.name in seen:
                first = Path(seen[s.name]).name
                entries.append(
                    BoardEntry(
                        f"{s.name} ({f.name})",
                        str(f),
                        error=f"{f}: the service name {s.name!r} is already used by {first}; "
                        "names must be unique across the directory (this one is not watched)",
                    )
                )
                continue
            seen[s.name] = str(f)
            entries.append(BoardEntry(s.name, str(f), s, cfg))
    return BoardConfig(directory, tuple(entries), is_dir=True)


def pick(board: BoardConfig, name: str | None) -> tuple[ConsoleConfig, ServiceConfig]:
    """The one service a single-service command works on: ``name``, else the only one (or the
    first of a file, as before). A directory with several services needs ``--service``.

    Raises:
        ConfigFileError: no such service, a service whose file did not load, or a directory with
            several services and no name.
    """
    if name is None:
        if board.is_dir and len(board) > 1:
            names = ", ".join(repr(e.name) for e in board.good)
            raise ConfigFileError(
                f"{board.path} holds several services: say which with --service NAME ({names})"
            )
        entry = board.entries[0]
    else:
        entry = board.entry(name)
    if entry.error is not None or entry.service is None or entry.console is None:
        raise ConfigFileError(str(entry.error))
    return entry.console, entry.service
