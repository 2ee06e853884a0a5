"""The simulator's options (the same on its router and metrics tables): a typed model, validated
once at build (``backends.options``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator

from backends.base import BackendContext
from backends.options import BackendOptions, Role, option, parse_options, problem
from backends.simulator.scenarios import SCENARIOS

_SCENARIO = "one of: " + ", ".join(SCENARIOS)


def _scenario(value: Any) -> str:
    if not isinstance(value, str) or value not in SCENARIOS:
        raise problem(_SCENARIO)
    return str(value)


def _whole(expected: str, low: int | None = None, high: int | None = None) -> BeforeValidator:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise problem(expected)
        if (low is not None and value < low) or (high is not None and value > high):
            raise problem(expected)
        return value

    return BeforeValidator(check)


def _version(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise problem("a non-empty string")
    return value


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e7:
        raise problem("requests per second, a number > 0")
    return float(value)


class SimulatorOptions(BackendOptions):
    """``[service.router]`` / ``[service.metrics]`` of ``kind = "simulator"``."""

    scenario: Annotated[str, BeforeValidator(_scenario)] = option("healthy", expected=_SCENARIO)
    seed: Annotated[int, _whole("a whole number")] = option(7, expected="a whole number")
    rate: Annotated[float, BeforeValidator(_rate)] = option(
        120.0, expected="requests per second, a number > 0"
    )
    servers: Annotated[int, _whole("a whole number from 1 to 50", 1, 50)] = option(
        3, expected="a whole number from 1 to 50"
    )
    blue_version: Annotated[str, BeforeValidator(_version)] = option(
        "v1.4.2", expected="a non-empty string"
    )
    green_version: Annotated[str, BeforeValidator(_version)] = option(
        "v1.5.0", expected="a non-empty string"
    )


def load_options(
    options: Mapping[str, Any], context: BackendContext, role: Role = "router"
) -> SimulatorOptions:
    """A simulator table (``kind`` included or not) -> SimulatorOptions, or ConfigError."""
    return parse_options(SimulatorOptions, options, context, role=role, kind="simulator")
