"""Green against blue's baseline: the U test agrees with scipy, and the scores say what an operator
would: a clear regression fails, noise passes, too little data says so."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.compare import compare, mann_whitney_greater


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 30).map(float), min_size=1, max_size=40),
    st.lists(st.integers(0, 30).map(float), min_size=1, max_size=40),
)
def test_the_u_test_agrees_with_scipy(x, y):
    stats = pytest.importorskip("scipy.stats", reason="scipy is the reference: a test extra")
    if len(set(x + y)) == 1:
        return  # scipy answers NaN when every value ties; ours answers "no difference"
    ours = mann_whitney_greater(x, y)
    ref = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic").pvalue
    assert ours == pytest.approx(ref, abs=1e-9)


def samples(rng, centre, spread, n=60):
    return [max(0.0, rng.gauss(centre, spread)) for _ in range(n)]


def test_a_release_with_ten_times_the_errors_fails_and_says_by_how_much():
    rng = random.Random(1)
    c = compare("error_pct", samples(rng, 0.2, 0.05), samples(rng, 6.0, 1.0))
    assert c.score == "fail" and c.delta == pytest.approx(5.8, abs=0.5)
    assert c.sentence("error %", "%") == (
        "error % 5.85% against 0.207% before the switch: fail (p<0.0001)"
    )


def test_the_same_release_twice_passes():
    rng = random.Random(2)
    for _ in range(20):
        c = compare("latency_ms", samples(rng, 200, 20), samples(rng, 200, 20))
        assert c.score in ("pass", "marginal")
    assert compare("latency_ms", [200.0] * 30, [200.0] * 30).score == "pass"


def test_a_sure_but_tiny_difference_does_not_fail():
    rng = random.Random(3)
    c = compare("error_pct", samples(rng, 0.10, 0.01, 200), samples(rng, 0.15, 0.01, 200))
    assert c.p_value < 0.01 and c.score == "pass"  # 0.05 points of errors: noise to an operator


def test_a_drop_in_traffic_is_worse_for_the_rate():
    rng = random.Random(4)
    c = compare("rate", samples(rng, 100, 5), samples(rng, 40, 5), worse="below")
    assert c.score == "fail"
    better = compare("rate", samples(rng, 100, 5), samples(rng, 140, 5), worse="below")
    assert better.score == "pass"


def test_too_few_figures_say_so():
    c = compare("error_pct", [0.1] * 3, [5.0] * 30)
    assert c.score == "no data" and "not enough figures" in c.sentence("error %")
    assert compare("error_pct", [None] * 10, [1.0] * 10).score == "no data"
