"""Contract worlds for the AWS routers (``alb``, ``route53``): moto's server on 127.0.0.1 behind the
fault proxy (tests/support/aws.py), read independently with the IAM ``admin`` user's own client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backends.base import Colour
from console.config import ServiceConfig, load
from console.runtime import ServiceRuntime, build
from tests.support.aws import (
    AlbLab,
    Route53Lab,
    Rule,
    alb_lab,
    failing_check,
    iam_enforced,
    moto_endpoint,
    rest_error,
    rest_is,
    route53_lab,
    toml_config,
)
from tests.support.router_worlds import Cannot, RouterWorld

BLUE, GREEN = Colour.BLUE, Colour.GREEN
ALB_DRAINED = "bluegreen-console:drained"
R53_DRAINED = "bluegreen-console:drained:"


def _live(weights: dict[str, int]) -> Colour | None:
    total = sum(weights.values())
    if total <= 0:
        return None
    return next((Colour(c) for c, w in weights.items() if 100 * w / total > 50), None)


class _AwsWorld(RouterWorld):
    lab: Any

    def __init__(self, tmp_path: Path, lab: Any) -> None:
        super().__init__(tmp_path)
        self.lab = lab
        self.config_file = toml_config(tmp_path, lab.router_options())

    def service_config(self) -> ServiceConfig:
        return load(self.config_file).pick(None)

    def cli_config(self) -> Path:
        return self.config_file

    def _build_with(self, name: str, **extra: Any) -> ServiceRuntime:
        config = toml_config(self.tmp, {**self.lab.router_options(), **extra}, name=name)
        return self._keep(build(load(config).pick(None), source=str(config)))

    def served(self) -> set[str] | None:
        return None  # no data plane here: the weights are what decides (see live())

    def writes(self) -> int | None:
        return self.lab.endpoint.proxy.writes

    @contextlib.contextmanager
    def unreachable(self) -> Iterator[str]:
        url = self.lab.endpoint.url
        self.lab.endpoint.stop()  # the endpoint is gone: connections are refused
        yield f"cannot reach AWS at {url}"

    def race_on_write(self, to: Colour) -> str:
        raise Cannot(
            f"the {self.kind} router's write has no precondition AWS would check (no version or "
            "ETag on a listener or rule): a change between its read and its write is "
            "overwritten, and the console's second read after the settle reports one landing later"
        )

    def drift_persisted(self, to: Colour) -> None:
        raise Cannot(f"the {self.kind} router persists nothing apart from what AWS runs")

    def persisted(self) -> Colour | None:
        raise Cannot(f"the {self.kind} router persists nothing apart from what AWS runs")

    def without_split(self) -> ServiceRuntime:
        raise Cannot(f"a {self.kind} weighted routing always has a split")


class AlbWorld(_AwsWorld):
    """An ALB in moto: a listener forwarding blue 100 / green 0 to two target groups of two EC2
    instances each."""

    kind = "alb"
    lab: AlbLab

    def live(self) -> Colour | None:
        return _live(self.lab.weights())

    def draining(self, colour: Colour) -> bool:
        return ALB_DRAINED in self.lab.tags(colour.value)

    def assert_kept(self) -> None:
        weights = self.lab.weights()
        live = self.live()
        assert live is not None and weights[live.value] == 100, weights
        for c in (BLUE, GREEN):
            if self.draining(c):
                assert weights[c.value] == 0, weights

    def switch_outside(self, to: Colour) -> None:
        # aws elbv2 modify-listener --default-actions (a weighted forward, to=100)
        self.lab.set_weights(*((100, 0) if to is BLUE else (0, 100)))

    def drain_outside(self, colour: Colour) -> None:
        # What the router's drain leaves behind (the tag), written by another client.
        arn = self.lab.target_groups[colour.value]
        self.lab.elb().add_tags(
            ResourceArns=[arn], Tags=[{"Key": ALB_DRAINED, "Value": "2026-01-01T00:00:00Z"}]
        )

    def unhealthy(self, colour: Colour) -> Iterator[str]:
        ids = self.lab.instances[colour.value]
        self.lab.ec2().stop_instances(InstanceIds=ids)  # target health: unused, Target.InvalidState
        try:
            yield f"{len(ids)} DOWN"
        finally:
            self.lab.ec2().start_instances(InstanceIds=ids)

    @contextlib.contextmanager
    def denied(self) -> Iterator[tuple[ServiceRuntime, str]]:
        # moto enforces IAM: the profile `reader` may Describe* only.
        runtime = self._build_with("reader.toml", profile="reader")
        with iam_enforced():
            yield runtime, "access denied: elasticloadbalancing:AddTags"


class Route53World(_AwsWorld):
    """Route 53 in moto: two weighted A records of shop.example.com (blue 100, green 0; TTL 60),
    each with a health check."""

    kind = "route53"
    lab: Route53Lab

    def race_on_write(self, to: Colour) -> str:
        """Another writer changes the records between the router's read and its change batch.
        moto does not check a DELETE's values; Route 53 does (the batch fails, all or nothing), so
        the proxy answers as Route 53 would, after making the other writer's change in moto."""
        is_write = rest_is("POST", "/rrset")
        lab = self.lab

        def racing(method: str, path: str, body: bytes) -> bool:
            if not is_write(method, path, body):
                return False
            lab.set_weights(90, 10)  # straight to moto (not through the proxy): blue stays live
            return True

        lab.endpoint.proxy.add(
            Rule(
                racing,
                rest_error(
                    "InvalidChangeBatch",
                    "[Tried to delete resource record set [name='shop.example.com.', type='A', "
                    "set-identifier='blue'] but the values provided do not match the current "
                    "values]",
                    400,
                ),
                times=1,
            )
        )
        return "changed since they were read"

    def live(self) -> Colour | None:
        return _live(self.lab.weights())

    def draining(self, colour: Colour) -> bool:
        return R53_DRAINED + colour.value in self.lab.tags()

    def assert_kept(self) -> None:
        weights = self.lab.weights()
        live = self.live()
        assert live is not None and weights[live.value] == 100, weights
        for c in (BLUE, GREEN):
            if self.draining(c):
                assert weights[c.value] == 0, weights

    def switch_outside(self, to: Colour) -> None:
        self.lab.set_weights(*((100, 0) if to is BLUE else (0, 100)))

    def drain_outside(self, colour: Colour) -> None:
        self.lab.add_tag(R53_DRAINED + colour.value, "2026-01-01T00:00:00Z")

    def unhealthy(self, colour: Colour) -> Iterator[str]:
        # moto reports every health check healthy: the proxy answers GetHealthCheckStatus for this
        # colour's check as Route 53 does when its checkers cannot connect.
        proxy = self.lab.endpoint.proxy
        check = self.lab.checks[colour.value]
        rule = proxy.add(
            Rule(
                rest_is("GET", f"/healthcheck/{check}/status"),
                failing_check("Failure: Connection refused. Resolved IP: 127.0.20.1"),
            )
        )
        try:
            yield "2 DOWN"
        finally:
            with proxy.lock:
                proxy.rules.remove(rule)

    @contextlib.contextmanager
    def denied(self) -> Iterator[tuple[ServiceRuntime, str]]:
        # moto's IAM enforcement does not cover Route 53's REST API: the proxy answers its writes
        # with Route 53's own AccessDenied.
        proxy = self.lab.endpoint.proxy
        message = (
            "User: arn:aws:iam::123456789012:user/reader is not authorized to perform: "
            "route53:ChangeTagsForResource on resource: hostedzone/" + self.lab.zone
        )
        for path in ("/tags/hostedzone/", "/rrset"):
            proxy.add(Rule(rest_is("POST", path), rest_error("AccessDenied", message, 403)))
        try:
            yield self.build(), "access denied: route53:ChangeTagsForResource"
        finally:
            proxy.clear()


@contextlib.contextmanager
def alb_world(tmp_path: Path) -> Iterator[RouterWorld]:
    with moto_endpoint(tmp_path) as endpoint:
        world = AlbWorld(tmp_path, alb_lab(endpoint))
        try:
            yield world
        finally:
            world.close()


@contextlib.contextmanager
def route53_world(tmp_path: Path) -> Iterator[RouterWorld]:
    with moto_endpoint(tmp_path) as endpoint:
        world = Route53World(tmp_path, route53_lab(endpoint))
        try:
            yield world
        finally:
            world.close()
