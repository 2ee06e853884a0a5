"""The evidence rule for error alarms: fast on a catastrophe, patient on a small excess, and never an
alarm at a rate at or below the threshold."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.evidence import RatioEvidence, judge, wilson, z_for


def test_half_the_requests_failing_fires_on_one_second_of_traffic():
    ev = RatioEvidence()
    for _ in range(30):  # half a minute of healthy traffic before: it does not dilute the onset
        ev.push(50, 0)
    ev.push(50, 25)
    j = ev.judge(5.0)
    assert j.above and j.requests == 50 and j.errors == 25
    assert j.sentence() == "50 requests, 25 errors: 99.9 % sure the rate is above 5 %"


def test_a_small_excess_needs_more_requests():
    assert not judge([(100, 6)], 5.0).above  # 6 % of 100 could be luck
    assert judge([(100, 6)] * 60, 2.0).above  # ... but is surely above 2 % (the warning level)
    j = judge([(100, 6)] * 10, 5.0)
    assert not j.above and not j.below and "not yet" in j.sentence()


def test_six_percent_errors_warn_within_a_minute_at_fifty_requests_a_second():
    rng = random.Random(3)
    ev = RatioEvidence()
    fired_at = None
    for second in range(1, 61):
        ev.push(50, sum(rng.random() < 0.06 for _ in range(50)))
        if fired_at is None and ev.judge(2.0).above:
            fired_at = second
    assert fired_at is not None and fired_at < 60


def test_a_healthy_colour_is_sure_to_be_below_and_no_traffic_says_so():
    assert judge([(50, 0)] * 60, 5.0, margin=0.2).below
    assert judge([], 5.0).sentence() == "no requests counted yet: no evidence either way"
    assert not judge([(0, 0)] * 5, 5.0).below


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), min_size=1, max_size=60),
    st.floats(0.5, 50.0),
)
def test_never_fires_when_every_stretch_is_at_or_below_the_threshold(window, threshold):
    window = [(r, min(e, r)) for r, e in window]
    # the observed rate of every recent stretch at or below the threshold: no alarm, ever
    req = err = 0
    ok = True
    for r, e in reversed(window):
        req, err = req + r, err + e
        if req and err / req > threshold / 100:
            ok = False
    if ok:
        assert not judge(window, threshold).above


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2000), st.integers(0, 2000), st.integers(1, 50), st.floats(0.5, 50.0))
def test_more_evidence_of_the_same_rate_never_takes_an_alarm_back(requests, errors, k, threshold):
    errors = min(errors, requests)
    one = judge([(requests, errors)], threshold, looks=1)
    more = judge([(requests * k, errors * k)], threshold, looks=1)
    if one.above:
        assert more.above
    if one.below:
        assert more.below


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2000), st.integers(0, 2000), st.integers(1, 100), st.floats(0.5, 50.0))
def test_more_errors_in_the_same_requests_never_takes_an_alarm_back(requests, errors, extra, thr):
    errors = min(errors, requests)
    worse = min(requests, errors + extra)
    if judge([(requests, errors)], thr).above:
        assert judge([(requests, worse)], thr).above


def test_thirty_minutes_of_healthy_traffic_raise_nothing():
    rng = random.Random(11)
    ev = RatioEvidence()
    fired = 0
    for _ in range(1800):  # 1 s polls at 50 req/s, 0.5 % errors, threshold 2 % (the warning)
        ev.push(50, sum(rng.random() < 0.005 for _ in range(50)))
        fired += ev.judge(2.0).above
    assert fired == 0


def test_the_bound_agrees_with_an_exact_binomial_test():
    stats = pytest.importorskip(
        "scipy.stats", reason="scipy is optional: the exact test to compare"
    )
    z = z_for(0.999)
    for n, k, t in [
        (50, 25, 0.05),
        (100, 6, 0.05),
        (1000, 60, 0.05),
        (400, 20, 0.02),
        (30, 3, 0.05),
    ]:
        low, _ = wilson(k, n, z)
        exact = stats.binomtest(k, n, t, alternative="greater").pvalue < 0.001
        # Wilson and the exact test agree away from the boundary
        if abs(low - t) > 0.01:
            assert (low > t) == exact, (n, k, t, low)


def test_a_handful_of_errors_on_a_quiet_colour_is_not_proof():
    """3 errors in 20 requests happen about once in 700 polls at a true 1 %: a normal approximation
    (Wilson's bound) calls that 99.9 % sure to be above 2 %; the rule does not."""
    assert wilson(3, 20, z_for(0.999, 60))[0] > 0.02  # the approximation's false alarm
    assert not judge([(20, 3)], 2.0).above
    assert judge([(20, 10)], 2.0).above  # half of them failing is proof enough


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3000), st.integers(0, 3000), st.floats(0.5, 50.0))
def test_never_more_eager_than_the_exact_binomial_test(requests, errors, threshold):
    stats = pytest.importorskip(
        "scipy.stats", reason="scipy is optional: the exact test to compare"
    )
    errors = min(errors, requests)
    if judge([(requests, errors)], threshold, looks=1).above:
        p = stats.binomtest(errors, requests, threshold / 100, alternative="greater").pvalue
        assert p <= 0.001
