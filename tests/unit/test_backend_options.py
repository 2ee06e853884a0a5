"""Every built-in backend reads its options one way (backends.options) and words a bad one the same:
service, backend, key, what was found, what was expected."""

from __future__ import annotations

import re
from typing import Annotated

import pytest

from backends import registry
from backends.base import BackendContext, Colour, ConfigError
from backends.options import BackendOptions, colour_table, option, parse_options

FORMAT = re.compile(
    r"^service 'shop', (router|metrics source) kind \"[a-z]+\": option `[a-z_.]+`: "
    r"found .+; expected .+\.$"
)


@pytest.mark.parametrize(
    ("group", "kind"),
    [
        (registry.ROUTERS, "simulator"),
        (registry.ROUTERS, "haproxy"),
        (registry.ROUTERS, "kubernetes"),
        (registry.ROUTERS, "nginx"),
        (registry.METRICS, "simulator"),
        (registry.METRICS, "prometheus"),
    ],
)
def test_every_backend_words_an_unknown_option_the_same_way(group: str, kind: str) -> None:
    factory = registry.resolve(group, kind)
    with pytest.raises(ConfigError) as err:
        factory({"no_such_option": "hunter2"}, BackendContext("shop"))
    text = str(err.value)
    assert FORMAT.match(text), text
    role = "router" if group == registry.ROUTERS else "metrics source"
    assert text.startswith(f"service 'shop', {role} kind \"{kind}\": option `no_such_option`")
    assert "found an unknown option" in text and "hunter2" not in text


class _Table(BackendOptions):
    names: dict[Colour, str] = option(expected="a table of both colours")


class _Coloured(BackendOptions):
    names: Annotated[
        dict[Colour, str],
        colour_table(
            re.compile(r"^[a-z]+$"),
            "lower-case letters",
            expected="both colours",
            different="names",
        ),
    ] = option(expected="both colours")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"BLUE": "a", "Green": "b"}, None),
        ({"blue": "a"}, "option `names.green`: found nothing; expected both colours."),
        (
            {"blue": "a", "red": "b"},
            "option `names.red`: found the key 'red'; expected only the keys",
        ),
        (
            {"blue": "a", "green": "B"},
            "option `names.green`: found 'B'; expected lower-case letters.",
        ),
        (
            {"blue": "a", "green": "a"},
            "found blue and green both 'a'; expected two different names.",
        ),
        ("a", "option `names`: found 'a'; expected both colours."),
    ],
)
def test_the_shared_colour_table(table: object, message: str | None) -> None:
    ctx = BackendContext("shop")
    if message is None:
        got = parse_options(_Coloured, {"names": table}, ctx, role="router", kind="x")
        assert got.names == {Colour.BLUE: "a", Colour.GREEN: "b"}
        return
    with pytest.raises(ConfigError) as err:
        parse_options(_Coloured, {"names": table}, ctx, role="router", kind="x")
    assert message in str(err.value)


def test_a_missing_option_and_a_wrong_type_say_what_is_expected() -> None:
    ctx = BackendContext("shop")
    with pytest.raises(
        ConfigError, match=r"option `names`: found nothing; expected a table of both"
    ):
        parse_options(_Table, {}, ctx, role="metrics source", kind="x")
