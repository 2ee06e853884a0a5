"""The console's configuration: a TOML file of services, validated into typed settings.

Layering, lowest first: built-in defaults, the TOML file, environment variables (``BLUEGREEN_CONFIG``,
``BLUEGREEN_AUDIT_LOG``), then command-line flags (applied by ``console.cli``).

A bad file never produces a traceback: ``load()`` raises ``ConfigFileError`` whose message names the
file, the key (``service[0].alarms.error_pct.critical``), what was found and what was expected. The
CLI prints it and exits with status 2.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from backends.base import COLOURS, Colour
from console.model import METRIC_KEYS, Direction, MetricKey, metric

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_CONFIG = "BLUEGREEN_CONFIG"
ENV_AUDIT_LOG = "BLUEGREEN_AUDIT_LOG"


class ConfigFileError(Exception):
    """A configuration problem a person must fix; the message says where and how."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Decide = Literal["evidence", "sustain"]
"""How a rule decides (``decide`` in config): ``evidence`` judges the requests and errors counted
behind a ratio (``console.evidence``); ``sustain`` waits for the figure to stay past the threshold for
``for`` seconds."""

RATIO_METRICS: tuple[str, ...] = ("error_pct",)
"""Metrics that are a share of counted requests: a rule on them can decide by evidence."""


class AlarmRuleConfig(_Strict):
    """One threshold rule. The table's key names the rule; ``metric`` defaults to that key.

    ``decide`` defaults to ``"evidence"`` for a ratio metric (error %) watched "above", else
    ``"sustain"``. With evidence, ``for`` / ``clear_for`` count only when set (default 0): the
    evidence must then also have held that long."""

    metric: MetricKey | None = None  # one of console.model.METRICS
    direction: Direction = "above"
    warning: float | None = None
    critical: float | None = None
    for_seconds: float = Field(default=5.0, ge=0, alias="for")
    clear_for_seconds: float | None = Field(default=None, ge=0, alias="clear_for")
    margin: float = Field(default=0.2, ge=0, lt=1)
    colours: tuple[Colour, ...] = COLOURS
    enabled: bool = True
    # issue 11 (evidence): how the rule decides, how sure it must be, and requests a sustain covers
    decide: Decide | None = None  # None: "evidence" for error_pct above, else "sustain"
    confidence: float = Field(default=0.999, gt=0.5, lt=1)
    for_requests: int | None = Field(default=None, ge=0)  # None: 20 for latency_ms, else 0

    def decides_by(self, name: str) -> Decide:
        """How the rule called ``name`` decides, the default filled in."""
        if self.decide is not None:
            return self.decide
        watched = self.metric or name
        return "evidence" if watched in RATIO_METRICS and self.direction == "above" else "sustain"

    def sustain_seconds(self, name: str) -> tuple[float, float]:
        """(``for``, ``clear_for``) in seconds as the rule applies them: with evidence, only an
        explicitly set one counts (else 0)."""
        evidence = self.decides_by(name) == "evidence"
        fired = (
            self.for_seconds if (not evidence or "for_seconds" in self.model_fields_set) else 0.0
        )
        if self.clear_for_seconds is not None:
            return fired, self.clear_for_seconds
        return fired, fired

    def requests_needed(self, name: str) -> int:
        """``for_requests`` as the rule applies it: 20 for latency, 0 for others, unless set."""
        if self.for_requests is not None:
            return self.for_requests
        return 20 if (self.metric or name) == "latency_ms" else 0

    @model_validator(mode="after")
    def _one_threshold(self) -> AlarmRuleConfig:
        if self.warning is None and self.critical is None:
            raise ValueError("a rule needs 'warning', 'critical' or both")
        if self.warning is not None and self.critical is not None:
            worse = (
                self.critical >= self.warning
                if self.direction == "above"
                else self.critical <= self.warning
            )
            if not worse:
                raise ValueError(
                    f"'critical' ({self.critical}) must be {'above' if self.direction == 'above' else 'below'} "
                    f"'warning' ({self.warning}) for a rule that fires {self.direction} its thresholds "
                    "(the defaults are warning 2 / critical 5 for error_pct and 500 / 1000 for "
                    "latency_ms: set both when you move one past the other)"
                )
        return self


# Defaults from the field: error % > 5 and p99 > 1000 ms are critical, with a warning level below.
DEFAULT_ALARMS: dict[str, dict[str, Any]] = {
    "error_pct": {"warning": 2.0, "critical": 5.0, "direction": metric("error_pct").direction},
    "latency_ms": {
        "warning": 500.0,
        "critical": 1000.0,
        "direction": metric("latency_ms").direction,
    },
}


class BackendConfig(BaseModel):
    """``[service.router]`` / ``[service.metrics]``: ``kind`` plus the backend's own options.

    The options are validated by the backend itself when it is built (``console.runtime``).
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SmokeCheckConfig(_Strict):
    """One smoke check of ``[service.gate]``: a GET of ``path`` on the idle colour's preview URL."""

    path: str = "/"
    status: int = Field(default=200, ge=100, le=599)
    body: str | None = None  # a substring the answer's body must hold
    timeout: float = Field(default=2.0, gt=0, le=60)
    name: str = ""

    @field_validator("path")
    @classmethod
    def _a_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(
                f"path {value!r} must start with '/': it is appended to the colour's preview URL "
                "(an absolute URL would check something else than the idle colour)"
            )
        return value


class WarmupConfig(_Strict):
    """``[service.gate.warmup]``: requests sent to the idle colour before the switch."""

    requests: int = Field(default=0, ge=0, le=100_000)
    concurrency: int = Field(default=4, ge=1, le=64)
    paths: tuple[str, ...] = Field(default=("/",), min_length=1)
    timeout: float = Field(default=2.0, gt=0, le=60)
    deadline: float = Field(default=30.0, gt=0, le=600)
    max_error_pct: float = Field(default=1.0, ge=0, le=100)


class GateConfig(_Strict):
    """``[service.gate]``: smoke checks and a warm-up run on the idle colour before ``s`` switches
    to it (console.gate). ``preview`` gives each colour's URL, reachable while it is idle."""

    preview: dict[Colour, str]
    smoke: list[SmokeCheckConfig] = Field(default_factory=list)
    warmup: WarmupConfig = Field(default_factory=WarmupConfig)

    @field_validator("preview", mode="before")
    @classmethod
    def _both_colours(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            missing = [c.value for c in COLOURS if c.value not in value]
            if missing:
                raise ValueError(
                    f"no preview URL for {' and '.join(missing)}: the gate reaches the idle colour "
                    'through it; set preview = { blue = "http://...", green = "http://..." }'
                )
            for c, url in value.items():
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    raise ValueError(f"preview.{c}: {url!r} is not an http:// or https:// URL")
            urls = [str(u).rstrip("/") for u in value.values()]
            if len(set(urls)) < len(urls):
                raise ValueError(
                    "preview.blue and preview.green are the same URL: the gate would test whichever "
                    "colour it reaches, not the idle one; give each colour its own URL"
                )
        return value

    @model_validator(mode="after")
    def _tests_something(self) -> GateConfig:
        if not self.smoke and self.warmup.requests == 0:
            raise ValueError(
                "the gate checks nothing: add a [[service.gate.smoke]] check or set "
                "gate.warmup.requests above 0"
            )
        return self


_SPAN = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


class BakeConfig(_Strict):
    """``[service.bake]``: green judged against blue during the bake window (``console.baseline``;
    docs/alarms.md). The window's length stays ``bake_seconds``, beside this table."""

    compare: Literal["off", "show", "require"] = "show"
    baseline_span: float = Field(default=600.0, gt=0, le=86400)

    @field_validator("baseline_span", mode="before")
    @classmethod
    def _span(cls, value: Any) -> Any:
        """Seconds, or a duration such as "10m", "90s", "1h", "2m30s"."""
        if not isinstance(value, str):
            return value
        m = _SPAN.match(value)
        if not value.strip() or m is None or not any(m.groups()):
            raise ValueError('a number of seconds or a duration such as "10m", "90s" or "1h"')
        h, mi, se = (int(g) if g else 0 for g in m.groups())
        return float(h * 3600 + mi * 60 + se)


class ServiceConfig(_Strict):
    name: str = Field(min_length=1)
    router: BackendConfig
    metrics: BackendConfig | None = None
    poll_interval: float = Field(default=1.0, gt=0, le=3600)
    timeout: float | None = Field(default=None, gt=0, le=600)
    bake_seconds: float = Field(default=300.0, ge=0)
    gate: GateConfig | None = None  # the pre-switch gate (console.gate); none by default
    # Armed auto-rollback (console.autorollback): off unless "armed"; the console's key toggles it.
    auto_rollback: Literal["off", "armed"] = "off"
    auto_rollback_countdown: float = Field(default=5.0, ge=0, le=300)
    # The warm-rollback window (seconds after a switch the old colour is kept ready to take the
    # traffic back): None is the bake window. Draining the old colour inside it asks twice.
    keep_warm: float | None = Field(default=None, ge=0, le=7 * 86400)  # at most 7 days
    bake: BakeConfig = Field(default_factory=BakeConfig)  # green against blue (console.baseline)
    stale_after: int = Field(default=3, ge=1, description="missed poll intervals before STALE")
    alarms: dict[str, AlarmRuleConfig] = Field(default_factory=dict, validate_default=True)

    @field_validator("alarms", mode="before")
    @classmethod
    def _merge_default_alarms(cls, value: Any) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            return value  # let pydantic report the type
        merged: dict[str, Any] = {k: dict(v) for k, v in DEFAULT_ALARMS.items()}
        for key, rule in value.items():
            if isinstance(rule, Mapping) and key in merged:
                merged[key] = {**merged[key], **rule}
            else:
                merged[key] = rule
        return merged

    @model_validator(mode="after")
    def _armed_needs_a_window(self) -> ServiceConfig:
        if self.auto_rollback == "armed" and self.bake_seconds == 0:
            raise ValueError(
                'auto_rollback = "armed" with bake_seconds = 0 never acts (it acts only inside the '
                'bake window): set bake_seconds above 0 or auto_rollback = "off"'
            )
        return self

    @model_validator(mode="after")
    def _rules_name_a_metric(self) -> ServiceConfig:
        for name, rule in self.alarms.items():
            if rule.metric is None and name not in METRIC_KEYS:
                raise ValueError(
                    f"alarms.{name}: say which metric the rule watches: metric = one of "
                    f"{', '.join(repr(m) for m in METRIC_KEYS)} (the table name {name!r} is not one)"
                )
            if rule.decide == "evidence" and (
                (rule.metric or name) not in RATIO_METRICS or rule.direction != "above"
            ):
                raise ValueError(
                    f"alarms.{name}: decide = 'evidence' judges a share of counted requests "
                    f"watched 'above' (metric {', '.join(repr(m) for m in RATIO_METRICS)}); "
                    "use decide = 'sustain' for this rule"
                )
        return self

    @property
    def warm_seconds(self) -> float:
        """``keep_warm``, else the bake window."""
        return self.bake_seconds if self.keep_warm is None else self.keep_warm

    @property
    def call_timeout(self) -> float:
        """Seconds one backend call may take: the configured timeout, else the poll interval
        capped to [1, 5] seconds."""
        if self.timeout is not None:
            return self.timeout
        return min(5.0, max(1.0, self.poll_interval))


class RecordingConfig(_Strict):
    """``[recording]``: the flight recorder (docs/recording.md)."""

    enabled: bool = True
    path: Path | None = None  # default: one file per config under the user's state directory
    days: float = Field(default=14.0, gt=0, description="polls older than this are pruned at start")
    max_mb: float = Field(default=500.0, gt=0, description="the oldest polls are pruned above this")


NotifyKind = Literal["alarm", "bake", "action", "outside"]
NOTIFY_KINDS: tuple[NotifyKind, ...] = ("alarm", "bake", "action", "outside")


class NotifyConfig(_Strict):
    """``[notify]``: where notifications go (apprise URLs, console.notify) and which are sent.

    The URLs hold the services' tokens, so the config names where to read them, never the URLs:
    ``urls_env`` (an environment variable: URLs separated by spaces, commas or newlines) and/or
    ``urls_file`` (one URL a line; a line starting with ``#``, or `` #`` after a URL, is a
    comment)."""

    urls_env: str | None = Field(default=None, min_length=1)
    urls_file: Path | None = None
    events: tuple[NotifyKind, ...] = NOTIFY_KINDS
    attempts: int = Field(default=3, ge=1, le=10, description="tries per message")
    timeout: float = Field(default=5.0, gt=0, le=60, description="seconds per try")

    @model_validator(mode="after")
    def _one_source(self) -> NotifyConfig:
        if not self.events:
            raise ValueError(
                "events = [] sends nothing: list the events to send (alarm, bake, action, "
                "outside) or remove [notify]"
            )
        if self.urls_env is None and self.urls_file is None:
            raise ValueError(
                'say where the notification URLs are: urls_env = "NAME" (an environment '
                'variable) or urls_file = "PATH" (one apprise URL a line); never the URLs '
                "themselves, which hold the services' tokens"
            )
        return self

    def urls(self) -> list[str]:
        """The URLs, read now. Raises ConfigFileError naming the key and the fix."""
        found: list[str] = []
        if self.urls_env is not None:
            raw = os.environ.get(self.urls_env, "")
            if not raw.strip():
                raise ConfigFileError(
                    f"notify.urls_env: the environment variable {self.urls_env} is empty or not "
                    "set; export it with the apprise URL(s) to notify, or remove [notify]"
                )
            found += [u for u in re.split(r"[\s,]+", raw) if u]
        if self.urls_file is not None:
            path = self.urls_file.expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigFileError(
                    f"notify.urls_file: cannot read {path}: {exc}; give a readable file with one "
                    "apprise URL a line"
                ) from None
            # a comment is a line starting with "#" or a " #" after the URL: a "#" inside a URL
            # (a fragment, a token) is the URL's
            lines = [
                "" if ln.lstrip().startswith("#") else re.split(r"\s#", ln, maxsplit=1)[0].strip()
                for ln in text.splitlines()
            ]
            urls = [ln for ln in lines if ln]
            if not urls:
                raise ConfigFileError(f"notify.urls_file: {path} holds no URL")
            found += urls
        return found


class ConsoleConfig(_Strict):
    audit_log: Path | None = None
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    notify: NotifyConfig | None = None
    service: list[ServiceConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> ConsoleConfig:
        seen: set[str] = set()
        for s in self.service:
            if s.name in seen:
                raise ValueError(f"two services are named {s.name!r}; names must be unique")
            seen.add(s.name)
        return self

    def pick(self, name: str | None) -> ServiceConfig:
        """The service called ``name``, or the first one."""
        if name is None:
            return self.service[0]
        for s in self.service:
            if s.name == name:
                return s
        names = ", ".join(repr(s.name) for s in self.service)
        raise ConfigFileError(f"no service named {name!r} in the config; services: {names}")


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _describe(err: Mapping[str, Any]) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    where = _where(loc)
    kind = err["type"]
    found = err.get("input")
    if kind == "missing":
        return f"{where}: missing; this key is required"
    if kind == "extra_forbidden":
        return f"{where}: unknown key (found {found!r}); check its spelling against docs/configuration.md"
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
    if where == "service" and kind == "list_type" and isinstance(found, dict):
        return "service: found a single [service] table; write each service as [[service]] (a list of tables)"
    if isinstance(found, (dict, list)):
        return f"{where}: {msg}"
    return f"{where}: found {found!r}; expected {msg[0].lower() + msg[1:]}" if msg else where


def from_mapping(data: Mapping[str, Any], source: str = "<config>") -> ConsoleConfig:
    """Validate an already parsed mapping (the demo builds one in code)."""
    try:
        return ConsoleConfig.model_validate(data)
    except ValidationError as exc:
        problems = "\n  ".join(_describe(e) for e in exc.errors())
        raise ConfigFileError(f"{source}: invalid configuration:\n  {problems}") from None


def load(path: str | os.PathLike[str] | None) -> ConsoleConfig:
    """Read and validate a config file (``path``, else ``$BLUEGREEN_CONFIG``)."""
    if path is None:
        path = os.environ.get(ENV_CONFIG)
    if not path:
        raise ConfigFileError(
            "no config file: pass --config FILE (or set BLUEGREEN_CONFIG); "
            "`bluegreen demo` needs none"
        )
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"{p}: no such file; check the path given to --config") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{p}: cannot read it: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{p}: not valid TOML: {exc}") from None
    cfg = from_mapping(data, str(p))
    if cfg.audit_log is not None and not cfg.audit_log.is_absolute():
        cfg = cfg.model_copy(update={"audit_log": (p.parent / cfg.audit_log).resolve()})
    rec = cfg.recording
    if rec.path is not None and not rec.path.expanduser().is_absolute():
        rec = rec.model_copy(update={"path": (p.parent / rec.path).resolve()})
        cfg = cfg.model_copy(update={"recording": rec})
    note = cfg.notify
    if note is not None and note.urls_file is not None:
        f = note.urls_file.expanduser()
        if not f.is_absolute():
            cfg = cfg.model_copy(
                update={"notify": note.model_copy(update={"urls_file": (p.parent / f).resolve()})}
            )
    return cfg
