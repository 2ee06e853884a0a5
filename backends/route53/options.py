"""The Route 53 router's options: a typed model, validated once at build (``backends.options``)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import field_validator

from backends.aws.options import AwsOptions
from backends.base import BackendContext, Colour
from backends.options import ColourMap, colour_table, option, parse_options, problem, text

_ZONE = re.compile(r"^(/hostedzone/)?[A-Z0-9]{1,32}$")
_NAME = re.compile(
    r"^(\*\.)?([A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_][-A-Za-z0-9_]{0,62}\.?$"
)
_SET_ID = re.compile(r"^\S{1,128}$")

ZONE_FORM = "a hosted zone id such as 'Z0123456789ABCDEFGHIJ'"
NAME_FORM = "a DNS name such as 'shop.example.com'"
_IDS = 'a table of both colours, e.g. { blue = "blue", green = "green" }'


class Route53Options(AwsOptions):
    """The validated ``[service.router]`` table of ``kind = "route53"``."""

    hosted_zone_id: Annotated[str, text(ZONE_FORM, _ZONE)] = option(expected=ZONE_FORM)
    record_name: Annotated[str, text(NAME_FORM, _NAME)] = option(expected=NAME_FORM)
    record_type: Literal["A", "AAAA", "CNAME"] = option("A", expected="'A', 'AAAA' or 'CNAME'")
    set_identifiers: Annotated[
        ColourMap,
        colour_table(
            _SET_ID,
            "a SetIdentifier (1 to 128 characters, no spaces)",
            expected=_IDS,
            different="set identifiers",
        ),
    ] = option(default_factory=lambda: {Colour.BLUE: "blue", Colour.GREEN: "green"}, expected=_IDS)

    @field_validator("hosted_zone_id")
    @classmethod
    def _bare_id(cls, value: str) -> str:
        return value.rsplit("/", 1)[-1]

    @field_validator("record_name")
    @classmethod
    def _fqdn(cls, value: str) -> str:
        if len(value.rstrip(".")) > 253:
            raise problem(NAME_FORM + " (at most 253 characters)", found=repr(value))
        return value.rstrip(".").lower() + "."

    def colour_of(self, set_id: str | None) -> Colour | None:
        return next((c for c, v in self.set_identifiers.items() if v == set_id), None)


def load_options(options: Any, context: BackendContext) -> Route53Options:
    """``[service.router]`` (``kind`` included or not) -> Route53Options, or ConfigError."""
    return parse_options(
        Route53Options,
        options,
        context,
        role="router",
        kind="route53",
        defaults={"timeout": context.timeout},
    )
