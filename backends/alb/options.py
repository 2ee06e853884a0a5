"""The ALB router's options: a typed model, validated once at build (``backends.options``)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from backends.aws.options import AwsOptions
from backends.base import BackendContext, Colour
from backends.options import ColourMap, colour_table, option, parse_options, text

_LISTENER = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener/app/\S+$")
_RULE = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener-rule/app/\S+$")
_TG = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/\S+$")

LISTENER_FORM = "a listener ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/...)"
RULE_FORM = (
    "a listener rule ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener-rule/app/...)"
)
TG_FORM = "a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)"
_TGS = 'a table of both colours, e.g. { blue = "arn:...:targetgroup/shop-blue/...", green = "..." }'


class AlbOptions(AwsOptions):
    """The validated ``[service.router]`` table of ``kind = "alb"``."""

    listener_arn: Annotated[str, text(LISTENER_FORM, _LISTENER)] = option(expected=LISTENER_FORM)
    rule_arn: Annotated[str | None, text(RULE_FORM, _RULE, optional=True)] = option(
        None, expected=RULE_FORM
    )
    target_groups: Annotated[
        ColourMap, colour_table(_TG, TG_FORM, expected=_TGS, different="target groups", strip=True)
    ] = option(expected=_TGS)

    def colour_of(self, arn: str) -> Colour | None:
        return next((c for c, a in self.target_groups.items() if a == arn), None)


def load_options(options: Any, context: BackendContext) -> AlbOptions:
    """``[service.router]`` (``kind`` included or not) -> AlbOptions, or ConfigError."""
    return parse_options(
        AlbOptions,
        options,
        context,
        role="router",
        kind="alb",
        defaults={"timeout": context.timeout},
    )


def tg_name(arn: str) -> str:
    """``arn:...:targetgroup/shop-blue/0123`` -> ``shop-blue``."""
    parts = arn.split(":targetgroup/", 1)
    return parts[1].split("/")[0] if len(parts) == 2 else arn
