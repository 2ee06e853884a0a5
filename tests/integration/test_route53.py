"""The Route 53 router (``kind = "route53"``) with the real boto3 client against moto's server on
127.0.0.1 (tests/support/aws.py): one change batch followed until INSYNC, the TTL's countdown and
``keep_warm_hint``, a third record, the health gate, and the faults of issue 15."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import pytest

from backends.base import (
    ActionRefused,
    BackendContext,
    Colour,
    ConfigError,
    Conflict,
    PermissionDenied,
    Unreachable,
)
from tests.support.aws import (
    Rule,
    failing_check,
    moto_endpoint,
    rest_error,
    rest_is,
    route53_lab,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
T0 = 1_780_000_000.0  # a fixed wall clock (2026-05-28 20:26:40 UTC)


@pytest.fixture
def lab(tmp_path):
    with moto_endpoint(tmp_path) as endpoint:
        yield route53_lab(endpoint)


def router(lab, clock=None, timeout=10.0, **extra):
    from backends.route53 import Route53Router

    options = {k: v for k, v in lab.router_options().items() if k != "kind"}
    return Route53Router({**options, **extra}, BackendContext("shop", clock=clock, timeout=timeout))


def hhmmss(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M:%S")


def test_without_boto3_the_config_is_refused_naming_the_extra(monkeypatch):
    from backends.route53 import Route53Router

    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigError, match=r"pip install 'bluegreen-console\[aws\]'"):
        Route53Router(
            {"hosted_zone_id": "Z1", "record_name": "shop.example.com"}, BackendContext("shop")
        )


def test_switch_is_one_change_batch_read_back_with_the_ttl_countdown(lab):
    r = router(lab, clock=lambda: T0)
    assert r.keep_warm_hint() is None  # nothing read yet
    state = r.state()
    assert state.live is BLUE and state.detail["ttl"] == "60 s"
    assert "warning" not in state.detail  # no change seen yet
    assert {s.name for s in state.colour(GREEN).servers} == {"127.0.20.1", "127.0.20.2"}
    assert r.keep_warm_hint() == 120.0

    writes = lab.endpoint.proxy.writes
    state = r.switch(GREEN)
    assert lab.endpoint.proxy.writes == writes + 1  # both weights in one change batch
    assert lab.weights() == {"blue": 0, "green": 100}
    assert state.live is GREEN
    assert state.detail["warning"] == (
        f"clients may still use the old answer until {hhmmss(T0 + 120)} UTC (2 x TTL 60 s)"
    )
    assert "change" not in state.detail  # moto reports INSYNC at once: followed to the end
    later = router(lab, clock=lambda: T0 + 121)
    later.state()
    assert "warning" not in later.state().detail  # no change seen by this one


def test_a_change_made_outside_starts_the_countdown_at_the_poll_that_sees_it(lab):
    now = [T0]
    r = router(lab, clock=lambda: now[0])
    assert "warning" not in r.state().detail
    lab.set_weights(0, 100)
    now[0] = T0 + 10
    state = r.state()
    assert state.live is GREEN
    assert state.detail["warning"].startswith(
        f"clients may still use the old answer until {hhmmss(T0 + 130)}"
    )
    now[0] = T0 + 131
    assert "warning" not in r.state().detail


def test_a_pending_change_is_followed_until_insync(lab):
    proxy = lab.endpoint.proxy

    def pending(body: bytes) -> bytes:
        return body.replace(b"INSYNC", b"PENDING")

    proxy.add(Rule(rest_is("POST", "/rrset"), rewrite=pending))
    proxy.add(Rule(rest_is("GET", "/change/"), rewrite=pending))
    r = router(lab, timeout=3.0)
    state = r.switch(GREEN)  # follows GetChange until the call's deadline, then hands over
    assert state.live is GREEN and lab.weights() == {"blue": 0, "green": 100}
    assert "PENDING since" in state.detail["change"]
    assert "PENDING" in r.state().detail["change"]
    proxy.clear()  # Route 53 is done propagating
    assert "change" not in r.state().detail
    assert "change" not in r.state().detail


def test_a_third_weighted_record_is_named_and_every_verb_refuses(lab):
    lab.upsert(lab.record("canary", 10))
    r = router(lab)
    state = r.state()
    words = "has another record besides blue and green: 'canary' (weight 10)"
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
    assert lab.weights() == {"blue": 100, "green": 0, "canary": 10}


def test_a_failing_health_check_refuses_the_switch_with_the_checkers_report(lab):
    check = lab.checks["green"]
    lab.endpoint.proxy.add(
        Rule(
            rest_is("GET", f"/healthcheck/{check}/status"),
            failing_check("Failure: Connection refused. Resolved IP: 127.0.20.1"),
        )
    )
    r = router(lab)
    green = r.state().colour(GREEN)
    assert {str(s.status) for s in green.servers} == {"DOWN"}
    with pytest.raises(ActionRefused) as err:
        r.switch(GREEN)
    text = str(err.value)
    assert text.startswith("switch to green refused: the green record has no healthy answer (")
    assert (
        f"health check {check}: 0/3 checkers report success (Failure: Connection refused." in text
    )
    assert lab.weights() == {"blue": 100, "green": 0}


def test_drain_and_ready(lab):
    r = router(lab, clock=lambda: T0)
    r.switch(GREEN)
    blue = r.drain(BLUE).colour(BLUE)
    assert blue.draining and blue.weight == 0
    assert blue.detail["drain"] == (
        f"weight 0 since {hhmmss(T0)} UTC; cached answers may still send clients here until "
        f"{hhmmss(T0 + 120)} UTC (2 x TTL 60 s)"
    )
    assert lab.tags() == {"bluegreen-console:drained:blue": "2026-05-28T20:26:40Z"}
    with pytest.raises(ActionRefused, match="blue is drained; ready it first"):
        r.set_weights({BLUE: 10, GREEN: 90})
    assert not r.ready(BLUE).colour(BLUE).draining
    assert lab.tags() == {}


def test_a_prior_change_still_in_progress_is_retried_then_a_conflict(lab):
    proxy = lab.endpoint.proxy
    busy = rest_error(
        "PriorRequestNotComplete",
        "The request was rejected because Route 53 was still processing a prior request.",
    )
    proxy.add(Rule(rest_is("POST", "/rrset"), busy, times=2))
    r = router(lab)
    assert r.switch(GREEN).live is GREEN  # backed off twice, then written
    assert r.call.retries == 2

    proxy.add(Rule(rest_is("POST", "/rrset"), busy))
    with pytest.raises(Conflict) as err:
        r.switch(BLUE)
    assert "still being applied" in str(err.value) and "nothing more was sent" in str(err.value)
    assert lab.weights() == {"blue": 0, "green": 100}


def test_a_record_changed_by_another_writer_since_the_read_fails_the_batch_and_writes_nothing(lab):
    """Each record is DELETEd as read and CREATEd with its new weight in one batch; Route 53 refuses
    a DELETE whose values no longer match (another writer got there first), all or nothing. The
    proxy answers what Route 53 answers then; the switch is a Conflict and nothing moved."""
    sent: list[bytes] = []
    is_write = rest_is("POST", "/rrset")

    def write(method: str, path: str, body: bytes) -> bool:
        if is_write(method, path, body):
            sent.append(body)
            return True
        return False

    lab.endpoint.proxy.add(
        Rule(
            write,
            rest_error(
                "InvalidChangeBatch",
                "[Tried to delete resource record set [name='shop.example.com.', type='A', "
                "set-identifier='blue'] but the values provided do not match the current values]",
                400,
            ),
            times=1,
        )
    )
    r = router(lab)
    with pytest.raises(Conflict) as err:
        r.switch(GREEN)
    assert "changed since they were read" in str(err.value)
    assert "nothing was written" in str(err.value)
    assert lab.weights() == {"blue": 100, "green": 0}
    body = sent[0].decode()
    assert body.count("<Action>DELETE</Action>") == 2 and body.count("<Action>CREATE</Action>") == 2
    assert r.switch(GREEN).live is GREEN  # read again, written: the batch itself was fine


def test_access_denied_names_the_action_the_resource_and_the_policy(lab):
    lab.endpoint.proxy.add(
        Rule(
            rest_is("POST", "/rrset"),
            rest_error(
                "AccessDenied", "User: arn:aws:iam::123456789012:user/ci is not authorized", 403
            ),
        )
    )
    with pytest.raises(PermissionDenied) as err:
        router(lab).switch(GREEN)
    text = str(err.value)
    assert text.startswith(
        f"access denied: route53:ChangeResourceRecordSets on hostedzone/{lab.zone} shop.example.com."
    )
    assert "docs/route53.md#minimal-iam-policy" in text


def test_throttling_then_unreachable(lab):
    r = router(lab, timeout=3.0)
    lab.endpoint.proxy.add(
        Rule(rest_is("GET", "/rrset"), rest_error("Throttling", "Rate exceeded"))
    )
    with pytest.raises(Unreachable) as err:
        r.state()
    assert "throttl" in str(err.value).lower() and "ListResourceRecordSets" in str(err.value)
    lab.endpoint.proxy.clear()
    assert r.state().live is BLUE
    url = lab.endpoint.url
    lab.endpoint.stop()
    with pytest.raises(Unreachable, match=f"cannot reach AWS at {url}"):
        r.state()
