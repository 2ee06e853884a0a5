"""Options every AWS router takes: where the credentials and the endpoint come from. Never a key:
credentials come from the usual AWS chain (environment, shared files, SSO, a profile, instance or
container roles), optionally narrowed by ``profile`` and ``role_arn``."""

from __future__ import annotations

import re
from typing import Annotated

from backends.options import BackendOptions, number, option, text

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")

REGION_FORM = "an AWS region such as 'eu-west-1'"
ROLE_FORM = "an IAM role ARN such as 'arn:aws:iam::123456789012:role/deployer'"
URL_FORM = "a URL such as 'https://elasticloadbalancing.eu-west-1.amazonaws.com'"


class AwsOptions(BackendOptions):
    """The keys shared by ``kind = "alb"`` and ``kind = "route53"``."""

    region: Annotated[str | None, text(REGION_FORM, _REGION, optional=True)] = option(
        None, expected=REGION_FORM
    )
    profile: Annotated[
        str | None, text("the name of a profile in ~/.aws/config", optional=True)
    ] = option(None, expected="the name of a profile in ~/.aws/config")
    role_arn: Annotated[str | None, text(ROLE_FORM, _ROLE, optional=True)] = option(
        None, expected=ROLE_FORM
    )
    endpoint_url: Annotated[str | None, text(URL_FORM, _URL, optional=True)] = option(
        None, expected=URL_FORM
    )
    timeout: Annotated[float, number("seconds, a number in (0, 300]", at_most=300)] = option(
        expected="seconds, a number in (0, 300]"
    )
