"""The Kubernetes router's options: a typed model, validated once at build (``backends.options``)."""

from __future__ import annotations

import os
import re
from typing import Annotated, Any

from pydantic import AfterValidator, StrictBool, field_validator, model_validator

from backends.base import BackendContext, Colour
from backends.kubernetes.objects import NO_COLOUR
from backends.options import (
    BackendOptions,
    ColourMap,
    colour_table,
    number,
    option,
    parse_options,
    problem,
    text,
)

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")

NAME_FORM = "a Kubernetes object name (lower-case letters, digits, '-' and '.')"
_DEPLOYMENTS = 'a table of both colours, e.g. { blue = "shop-blue", green = "shop-green" }'
_COLOURS = 'a table of both colours, e.g. { blue = "blue", green = "green" }'


def _name(expected: str = NAME_FORM) -> Any:
    return text(expected, _NAME, strip=False, optional=True)


def _not_reserved(colours: ColourMap) -> ColourMap:
    if NO_COLOUR in colours.values():
        raise problem(
            f"label values other than {NO_COLOUR!r} (reserved: a drained preview selects it)",
            found=repr(NO_COLOUR),
        )
    return colours


class KubeOptions(BackendOptions):
    """The validated ``[service.router]`` table of ``kind = "kubernetes"``."""

    service: Annotated[str, _name()] = option(
        expected=NAME_FORM + ": the Service that carries live traffic"
    )
    deployments: Annotated[
        ColourMap,
        colour_table(_NAME, NAME_FORM, expected=_DEPLOYMENTS, different="Deployments"),
    ] = option(expected=_DEPLOYMENTS)
    namespace: Annotated[str, text("a namespace name", _NAMESPACE, strip=False)] = option(
        "default", expected="a namespace name"
    )
    selector_label: Annotated[
        str,
        text(
            "a label key such as 'version' or 'app.kubernetes.io/version'", _LABEL_KEY, strip=False
        ),
    ] = option("version", expected="a label key such as 'version' or 'app.kubernetes.io/version'")
    colours: Annotated[
        ColourMap,
        colour_table(
            _LABEL_VALUE,
            "a label value (letters, digits, '-', '_', '.')",
            expected=_COLOURS,
            different="label values",
        ),
        AfterValidator(_not_reserved),
    ] = option(
        default_factory=lambda: {Colour.BLUE: "blue", Colour.GREEN: "green"}, expected=_COLOURS
    )
    preview_service: Annotated[str | None, _name()] = option(None, expected=NAME_FORM)
    scale_down_after_drain: StrictBool = option(False, expected="true or false")
    timeout: Annotated[float, number("seconds, a number in (0, 300]", at_most=300)] = option(
        expected="seconds, a number in (0, 300]"
    )
    context: Annotated[
        str | None, text("the name of a kubeconfig context", strip=False, optional=True)
    ] = option(None, expected="the name of a kubeconfig context")
    kubeconfig: Annotated[
        str | None, text("the path of a kubeconfig file", strip=False, optional=True)
    ] = option(None, expected="the path of a kubeconfig file")
    in_cluster: StrictBool = option(False, expected="true or false")
    host: Annotated[
        str | None, text("a URL such as 'https://10.0.0.1:6443'", _URL, strip=False, optional=True)
    ] = option(None, expected="a URL such as 'https://10.0.0.1:6443'")
    token: Annotated[str | None, text("a bearer token", strip=False, optional=True)] = option(
        None, expected="a bearer token", secret=True
    )

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig_exists(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isfile(os.path.expanduser(value)):
            raise problem("the path of a kubeconfig file", found=f"{value!r} (no such file)")
        return value

    @model_validator(mode="after")
    def _one_way_to_the_cluster(self) -> KubeOptions:
        if self.preview_service is not None and self.preview_service == self.service:
            raise problem(
                f"a Service other than `service` ({self.service!r})",
                found=repr(self.preview_service),
                key="preview_service",
            )
        if self.token and not self.host:
            raise problem(
                "`host` set as well (a kubeconfig carries its own credentials)",
                found="a token without `host`",
                key="token",
            )
        sources = [
            k
            for k, on in (
                ("in_cluster", self.in_cluster),
                ("host", self.host),
                ("kubeconfig/context", self.kubeconfig or self.context),
            )
            if on
        ]
        if len(sources) > 1:
            raise problem(
                "one way to reach the cluster (they exclude each other)",
                found=" and ".join(sources),
                key=sources[0].split("/")[0],
            )
        return self

    def value(self, colour: Colour) -> str:
        """The selector label's value that names ``colour``."""
        return self.colours[colour]

    def colour_of(self, value: str | None) -> Colour | None:
        return next((c for c, v in self.colours.items() if v == value), None)


def load_options(options: Any, context: BackendContext) -> KubeOptions:
    """``[service.router]`` (``kind`` included or not) -> KubeOptions, or ConfigError."""
    return parse_options(
        KubeOptions,
        options,
        context,
        role="router",
        kind="kubernetes",
        defaults={"timeout": context.timeout},
    )
