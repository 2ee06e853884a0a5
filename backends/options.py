"""One way for every backend to read its options: a typed pydantic model, and one error format.

A backend declares its options as a subclass of :class:`BackendOptions` (unknown keys are refused,
the result is frozen) and builds it with :func:`parse_options`, which turns any problem into a
:class:`~backends.base.ConfigError` worded the same way for every backend::

    service 'shop', router kind "haproxy": option `backends.green`: found 'x'; expected an HAProxy
    backend name (letters, digits, - _ . :).

Each field says what it expects with :func:`option` (``expected=``), so a wrong type or a missing
value is reported in words a person can act on. A rule pydantic cannot express raises
:func:`problem` from a validator, naming what it found and what it expected; ``key=`` points the
message at another key (a sub-key of a table, or the option a cross-field rule is about).
:func:`colour_table` is the shared field of a ``{ blue = "...", green = "..." }`` table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from backends.base import COLOURS, BackendContext, Colour, ConfigError

__all__ = [
    "BackendOptions",
    "ColourMap",
    "Role",
    "colour_table",
    "number",
    "option",
    "parse_options",
    "problem",
    "text",
]

Role = Literal["router", "metrics source"]
ColourMap = Mapping[Colour, str]
M = TypeVar("M", bound="BackendOptions")

_PROBLEM = "backend_option"


class BackendOptions(BaseModel):
    """Base of every backend's options: unknown keys are refused; the parsed options are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def option(default: Any = ..., *, expected: str, secret: bool = False, **kw: Any) -> Any:
    """A field that says what it expects (used in messages) and whether its value is a secret
    (a secret's value is never shown back: a message says only its type). ``default=...`` (the
    default) makes the option required, unless ``default_factory=`` is given."""
    if "default_factory" not in kw:
        kw["default"] = default
    return Field(
        description=expected,
        repr=not secret,
        json_schema_extra={"expected": expected, "secret": secret},
        **kw,
    )


def problem(expected: str, *, found: str | None = None, key: str | None = None) -> Exception:
    """The error a validator raises: ``found`` is shown as given (default: the value's repr),
    ``key`` replaces the option's name (``".green"`` appends to it)."""
    ctx: dict[str, Any] = {"expected": expected}
    if found is not None:
        ctx["found"] = found
    if key is not None:
        ctx["key"] = key
    return PydanticCustomError(_PROBLEM, "{expected}", ctx)


def shown(value: Any) -> str:
    return "nothing" if value is None else repr(value)


# --------------------------------------------------------------------------------------------------
# Reusable checks


def text(
    expected: str,
    pattern: re.Pattern[str] | None = None,
    *,
    strip: bool = True,
    pattern_hint: str = "",
    optional: bool = False,
) -> BeforeValidator:
    """A non-empty string (stripped unless ``strip=False``), matching ``pattern`` if given;
    ``optional``: None stands for "not set"."""

    def check(value: Any) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not (value.strip() if strip else value):
            raise problem(expected)
        out: str = value.strip() if strip else value
        if pattern is not None and not pattern.match(out):
            raise problem(expected + pattern_hint, found=repr(out))
        return out

    return BeforeValidator(check)


def number(expected: str, *, above: float = 0.0, at_most: float | None = None) -> BeforeValidator:
    """A number (not a boolean) above ``above`` and at most ``at_most``, as a float."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise problem(expected)
        if not value > above or (at_most is not None and value > at_most):
            raise problem(expected)
        return float(value)

    return BeforeValidator(check)


def colour_table(
    value_ok: re.Pattern[str] | Callable[[str], bool],
    expected_value: str,
    *,
    expected: str,
    different: str,
    defaults: ColourMap | None = None,
    strip: bool = False,
) -> BeforeValidator:
    """The shared ``{ blue = "...", green = "..." }`` field: keys are colours in any case, both are
    required (or taken from ``defaults``), each value passes ``value_ok``, and the two differ.

    Args:
        expected: what the whole table should be, e.g. ``a table of both colours, e.g. {...}``.
        expected_value: what one value should be.
        different: the plural noun for "two different ..." ("backends", "label values").
    """
    ok = value_ok.match if isinstance(value_ok, re.Pattern) else value_ok

    def check(table: Any) -> dict[Colour, str]:
        if not isinstance(table, Mapping):
            raise problem(expected)
        out: dict[Colour, str] = dict(defaults or {})
        for key, value in table.items():
            try:
                colour = Colour.parse(str(key))
            except ValueError:
                raise problem(
                    "only the keys blue and green", found=f"the key {str(key)!r}", key=f".{key}"
                ) from None
            if not isinstance(value, str) or not ok(value.strip() if strip else value):
                raise problem(expected_value, found=shown(value), key=f".{key}")
            out[colour] = value.strip() if strip else value
        for colour in COLOURS:
            if colour not in out:
                raise problem(expected, found="nothing", key=f".{colour}")
        if out[Colour.BLUE] == out[Colour.GREEN]:
            raise problem(
                f"two different {different}", found=f"blue and green both {out[Colour.BLUE]!r}"
            )
        return out

    return BeforeValidator(check)


# --------------------------------------------------------------------------------------------------
# The one way in


def parse_options(
    model: type[M],
    options: Mapping[str, Any],
    context: BackendContext,
    *,
    role: Role,
    kind: str,
    defaults: Mapping[str, Any] | None = None,
) -> M:
    """Validate a raw ``[service.router]`` / ``[service.metrics]`` table (``kind`` included or not)
    into ``model``; ``defaults`` fill absent keys (the console's timeout, say).

    Raises:
        ConfigError: ``service 'shop', router kind "haproxy": option `key`: found ...; expected ...``
            for the first problem (unknown keys first, then the fields in declaration order).
    """
    raw = {**(defaults or {}), **{k: v for k, v in options.items() if k != "kind"}}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        where = f'service {context.service!r}, {role} kind "{kind}"'
        raise ConfigError(f"{where}: {describe(errors[0], model)}") from None


def describe(err: ErrorDetails, model: type[BackendOptions]) -> str:
    """One pydantic error as ``option `key`: found ...; expected ...``."""
    key = ".".join(str(part) for part in err["loc"])
    field = model.model_fields.get(str(err["loc"][0])) if err["loc"] else None
    extra = field.json_schema_extra if field is not None else None
    meta: Mapping[str, Any] = extra if isinstance(extra, Mapping) else {}
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    value = err.get("input")
    if err["type"] == _PROBLEM:
        override = str(ctx.get("key") or "")
        key = key + override if override.startswith(".") else override or key
        found = ctx.get("found") or (
            f"a {type(value).__name__}" if meta.get("secret") else shown(value)
        )
        expected = str(ctx["expected"])
    elif err["type"] == "missing":
        found, expected = "nothing", str(meta.get("expected") or "a value")
    elif err["type"] == "extra_forbidden":
        # The value is not shown: an unknown key may well be a misplaced password.
        found = "an unknown option"
        expected = "one of: " + ", ".join(model.model_fields)
    else:
        found = f"a {type(value).__name__}" if meta.get("secret") else shown(value)
        expected = str(meta.get("expected") or err["msg"])
    end = "" if expected.endswith(".") else "."
    return f"option `{key}`: found {found}; expected {expected}{end}"
