"""The ALB router (``kind = "alb"``) with the real boto3 client against moto's server on 127.0.0.1
(tests/support/aws.py): the faults of issue 15 and what the contract suite cannot see (the gate's
reasons, a listener that is not a weighted forward, the drain's countdown, a listener rule, IAM)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from backends.base import (
    ActionRefused,
    BackendContext,
    Colour,
    ConfigError,
    PermissionDenied,
    Unreachable,
)
from tests.support.aws import Rule, action_is, alb_lab, iam_enforced, moto_endpoint, query_error

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
ROOT = Path(__file__).resolve().parents[2]
T0 = 1_780_000_000.0  # a fixed wall clock for the countdowns (2026-05-28 20:26:40 UTC)


@pytest.fixture
def lab(tmp_path):
    with moto_endpoint(tmp_path) as endpoint:
        yield alb_lab(endpoint)


def router(lab, clock=None, timeout=10.0, **extra):
    from backends.alb import AlbRouter

    options = {k: v for k, v in lab.router_options().items() if k != "kind"}
    return AlbRouter({**options, **extra}, BackendContext("shop", clock=clock, timeout=timeout))


def test_without_boto3_the_config_is_refused_naming_the_extra(monkeypatch):
    from backends.alb import AlbRouter

    monkeypatch.setitem(sys.modules, "boto3", None)  # as if not installed
    arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012"
    with pytest.raises(ConfigError) as err:
        AlbRouter(
            {
                "listener_arn": f"{arn}:listener/app/shop/1/2",
                "target_groups": {
                    "blue": f"{arn}:targetgroup/b/1",
                    "green": f"{arn}:targetgroup/g/2",
                },
            },
            BackendContext("shop"),
        )
    assert "the alb router needs boto3" in str(err.value)
    assert "pip install 'bluegreen-console[aws]'" in str(err.value)


def test_a_key_in_the_config_is_refused_and_not_shown(lab):
    with pytest.raises(ConfigError) as err:
        router(lab, aws_secret_access_key="s3cr3t")
    assert "option `aws_secret_access_key`: found an unknown option" in str(err.value)
    assert "s3cr3t" not in str(err.value)


def test_state_reads_weights_targets_and_the_live_colour(lab):
    state = router(lab).state()
    assert state.live is BLUE
    assert (state.colour(BLUE).weight, state.colour(GREEN).weight) == (100, 0)
    green = state.colour(GREEN)
    assert sorted(s.name for s in green.servers) == sorted(
        f"{i}:80" for i in lab.instances["green"]
    )
    assert {(str(s.status), s.check) for s in green.servers} == {("UP", "healthy")}
    assert green.detail["target_group"] == "shop-green"


def test_missing_credentials_say_which_chain_was_tried(lab, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (lab.endpoint.home / "credentials").write_text("")
    with pytest.raises(PermissionDenied) as err:
        router(lab).state()
    text = str(err.value)
    assert text.startswith("no AWS credentials for elasticloadbalancing:DescribeListeners: tried ")
    assert "environment variables (AWS_ACCESS_KEY_ID" in text
    assert "the shared credentials file (~/.aws/credentials)" in text
    assert "never as a key in this config" in text


def test_expired_credentials_are_named_with_where_they_came_from(lab):
    lab.endpoint.proxy.add(
        Rule(
            action_is("DescribeListeners"),
            query_error(
                "ExpiredToken", "The security token included in the request is expired", 403
            ),
        )
    )
    with pytest.raises(PermissionDenied) as err:
        router(lab).state()
    text = str(err.value)
    assert "AWS rejected the credentials for elasticloadbalancing:DescribeListeners" in text
    assert "ExpiredToken: The security token included in the request is expired" in text
    assert "they came from environment variables" in text
    assert "renew them" in text


def test_the_documented_minimal_policy_is_enough_and_a_reader_is_denied_by_action(lab):
    policy = json.loads((ROOT / "docs" / "alb-iam-policy.json").read_text())
    for statement in policy["Statement"]:
        # moto checks the actions of a policy, and every request against the resource "*": the
        # documented resources are widened here; the actions are the documented ones.
        statement["Resource"] = "*"
    lab.endpoint.add_user("deployer", policy)
    deployer, reader = router(lab, profile="deployer"), router(lab, profile="reader")
    with iam_enforced():
        assert deployer.state().live is BLUE
        assert deployer.switch(GREEN).live is GREEN
        assert deployer.drain(BLUE).colour(BLUE).draining
        assert not deployer.ready(BLUE).colour(BLUE).draining
        assert deployer.set_weights({BLUE: 20, GREEN: 80}).colour(BLUE).weight == 20

        assert reader.state().live is GREEN  # Describe* is allowed
        with pytest.raises(PermissionDenied) as err:
            reader.switch(BLUE)
    text = str(err.value)
    assert text.startswith(f"access denied: elasticloadbalancing:ModifyListener on {lab.listener}")
    assert "user/reader is not authorized" in text
    assert "the minimal IAM policy is in docs/alb.md#minimal-iam-policy" in text
    assert lab.weights() == {"blue": 20, "green": 80}


def test_throttling_is_backed_off_within_the_deadline(lab):
    # Three throttled answers, backed off 0.1 + 0.2 + 0.4 s, then read: within a 10 s deadline
    # however slow a loaded machine makes each request
    r = router(lab, timeout=10.0)
    lab.endpoint.proxy.add(
        Rule(action_is("DescribeListeners"), query_error("Throttling", "Rate exceeded"), times=3)
    )
    assert r.state().live is BLUE
    assert r.call.retries == 3

    # Throttled for ever: given up at the deadline, named
    short = router(lab, timeout=3.0)
    lab.endpoint.proxy.add(
        Rule(action_is("DescribeTags"), query_error("Throttling", "Rate exceeded"))
    )
    with pytest.raises(Unreachable) as err:
        short.state()
    assert "throttled" in str(err.value).lower()
    assert "DescribeTags" in str(err.value)


def test_a_listener_that_is_not_a_weighted_forward_is_refused_with_what_to_change(lab):
    r = router(lab)
    blue, green = lab.target_groups["blue"], lab.target_groups["green"]
    cases = [
        (
            [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}],
            "has no forward action (its actions: fixed-response)",
        ),
        (
            [{"Type": "forward", "TargetGroupArn": blue}],
            "forwards to shop-blue only, not a weighted forward to both target groups; add shop-green",
        ),
    ]
    other = lab.elb().create_target_group(
        Name="shop-canary", Protocol="HTTP", Port=80, VpcId=lab.vpc
    )["TargetGroups"][0]["TargetGroupArn"]
    cases.append(
        (
            [
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": blue, "Weight": 90},
                            {"TargetGroupArn": green, "Weight": 0},
                            {"TargetGroupArn": other, "Weight": 10},
                        ]
                    },
                }
            ],
            "forwards to target group(s) shop-canary, which are neither blue nor green",
        )
    )
    for actions, words in cases:
        lab.set_actions(actions)
        state = r.state()
        assert words in state.detail["problem"]
        writes = lab.endpoint.proxy.writes
        for verb, args in (
            ("switch", (GREEN,)),
            ("drain", (GREEN,)),
            ("set_weights", ({BLUE: 50, GREEN: 50},)),
        ):
            with pytest.raises(ActionRefused) as err:
                getattr(r, verb)(*args)
            assert words in str(err.value) and "nothing was written" in str(err.value)
        assert lab.endpoint.proxy.writes == writes


def test_the_gate_names_each_target_with_its_state_and_reason(lab):
    r = router(lab)
    lab.ec2().stop_instances(InstanceIds=lab.instances["green"])
    writes = lab.endpoint.proxy.writes
    with pytest.raises(ActionRefused) as err:
        r.switch(GREEN)
    text = str(err.value)
    assert text.startswith(
        "switch to green refused: target group shop-green (green) has no healthy target ("
    )
    for instance in lab.instances["green"]:
        assert f"{instance}:80 unused: Target.InvalidState, Target is in the stopped state" in text
    with pytest.raises(ActionRefused, match="no healthy target"):
        r.set_weights({BLUE: 90, GREEN: 10})
    assert lab.endpoint.proxy.writes == writes and lab.weights() == {"blue": 100, "green": 0}


def test_drain_keeps_the_targets_and_counts_down_the_deregistration_delay(lab):
    r = router(lab, clock=lambda: T0)
    lab.elb().modify_target_group_attributes(
        TargetGroupArn=lab.target_groups["blue"],
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
    )
    r.switch(GREEN)
    state = r.drain(BLUE)
    blue = state.colour(BLUE)
    assert blue.draining and blue.weight == 0
    assert {str(s.status) for s in blue.servers} == {"DRAIN"}  # registered, healthy, no traffic
    assert blue.detail["drain"] == (
        "weight 0 since 20:26:40 UTC; requests in flight have until 20:27:10 UTC "
        "(deregistration delay 30 s): 30 s left"
    )
    assert state.detail["warning"] == (  # the header shows it while it runs
        "blue drained: requests in flight have until 20:27:10 UTC (30 s left of the "
        "deregistration delay)"
    )
    assert lab.tags("blue") == {"bluegreen-console:drained": "2026-05-28T20:26:40Z"}
    with pytest.raises(ActionRefused, match="blue is drained; ready it first"):
        r.switch(BLUE)
    later = router(lab, clock=lambda: T0 + 31).state()
    assert later.colour(BLUE).detail["drain"].endswith("(deregistration delay 30 s): over")
    assert "warning" not in later.detail
    assert not r.ready(BLUE).colour(BLUE).draining
    assert r.switch(BLUE).live is BLUE  # a rollback: ready, then switch


def test_a_listener_rule_is_switched_and_the_default_action_left_alone(lab):
    rule = lab.elb().create_rule(
        ListenerArn=lab.listener,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/shop/*"]}],
        Actions=lab.forward(100, 0),
    )["Rules"][0]["RuleArn"]
    r = router(lab, rule_arn=rule)
    assert "rule " + rule in r.identity
    assert r.switch(GREEN).live is GREEN
    actions = lab.elb().describe_rules(RuleArns=[rule])["Rules"][0]["Actions"]
    weights = {
        g["TargetGroupArn"]: g["Weight"] for g in actions[0]["ForwardConfig"]["TargetGroups"]
    }
    assert weights == {lab.target_groups["blue"]: 0, lab.target_groups["green"]: 100}
    assert lab.weights() == {"blue": 100, "green": 0}  # the listener's default: untouched


def test_an_unknown_profile_is_a_config_error_and_a_role_is_assumed_from_the_chain(lab):
    with pytest.raises(
        ConfigError, match="option `profile`: found 'nope'; expected the name of a profile"
    ):
        router(lab, profile="nope")
    r = router(lab, role_arn="arn:aws:iam::123456789012:role/deployer")
    assert r.state().live is BLUE  # STS AssumeRole at the first call, with the chain's keys
    creds = r.aws.core.get_credentials().get_frozen_credentials()
    assert creds.access_key != os.environ["AWS_ACCESS_KEY_ID"]  # the role's temporary key
    assert r.aws.method().startswith(
        "the role arn:aws:iam::123456789012:role/deployer (`role_arn`)"
    )
    assert r.aws.chain().endswith("then assume arn:aws:iam::123456789012:role/deployer")
