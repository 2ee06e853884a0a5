"""Green against blue: is the new colour worse than the old one was, metric by metric?

The samples are per-interval figures (one per poll): the old colour's from a span before the switch
(the baseline), the new colour's since. A Mann-Whitney U test (as Kayenta judges a canary against its
baseline) asks whether the new colour's figures tend to be larger (worse, for error % and latency) or
smaller (worse, for the request rate) than the baseline's, without assuming any distribution; the
difference of the medians says by how much. A metric *fails* when the test is sure (p < 0.01) and the
difference matters (beyond ``tolerance`` of the baseline and an absolute floor, so 0.1 % against 0.2 %
errors is not a failure however sure); *marginal* when either holds only weakly (the test fairly
sure, p < 0.05, of a difference at least half that size; or a difference that matters, p < 0.2);
*pass* otherwise: a sure difference of less than half the floor (0.25 points of errors) is noise.

The U test is written by hand (the normal approximation with the tie correction, which is what
scipy's ``mannwhitneyu`` computes for samples of this size with ``method="asymptotic"``): a dozen lines
against a 40 MB dependency for the console; ``tests/unit/test_compare.py`` checks it against scipy.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

Score = Literal["pass", "marginal", "fail", "no data"]
MIN_SAMPLES = 5  # on each side: fewer figures than this are no evidence either way

# Differences below these never fail, however sure the test: they are noise to an operator.
FLOORS = {"error_pct": 0.5, "latency_ms": 20.0, "rate": 1.0, "sessions": 5.0}


def mann_whitney_greater(x: Sequence[float], y: Sequence[float]) -> float:
    """The one-sided p-value that ``x`` tends to be larger than ``y`` (normal approximation with
    tie and continuity corrections). 1.0 when either side is empty."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        rank = (i + j) / 2 + 1  # the average rank of a group of ties
        for k in range(i, j + 1):
            ranks[k] = rank
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    r1 = sum(r for r, (_, side) in zip(ranks, pooled, strict=True) if side == 0)
    u1 = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    mu = n1 * n2 / 2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0 if u1 <= mu else 0.0
    z = (u1 - mu - 0.5) / math.sqrt(var)
    return 1.0 - NormalDist().cdf(z)


@dataclass(frozen=True)
class Comparison:
    """One metric of the new colour against the baseline.

    Attributes:
        metric: its key.
        score: pass, marginal, fail, or "no data" (too few figures on either side).
        baseline, current: the medians of the two samples (None without data).
        delta: current minus baseline (None without data).
        p_value: how likely a difference this much worse is by chance (1.0 without data).
        samples: (baseline, current) sample sizes.
    """

    metric: str
    score: Score
    baseline: float | None
    current: float | None
    delta: float | None
    p_value: float
    samples: tuple[int, int]

    def sentence(self, label: str, unit: str = "") -> str:
        """ "error % 6.1% against 0.2% before the switch: fail (p=0.0001)"."""
        if self.score == "no data":
            return (
                f"{label}: not enough figures to compare yet ({self.samples[0]} before the switch, "
                f"{self.samples[1]} since; {MIN_SAMPLES} each needed)"
            )
        assert self.current is not None and self.baseline is not None
        return (
            f"{label} {self.current:.3g}{unit} against {self.baseline:.3g}{unit} before the switch: "
            f"{self.score} ({_p(self.p_value)})"
        )


def _p(p: float) -> str:
    return "p<0.0001" if p < 0.0001 else f"p={p:.2g}"


def compare(
    metric: str,
    baseline: Sequence[float | None],
    current: Sequence[float | None],
    worse: Literal["above", "below"] = "above",
    tolerance: float = 0.2,
) -> Comparison:
    """Judge ``current`` against ``baseline`` for ``metric``; ``worse`` says which way is bad."""
    b = [v for v in baseline if v is not None and math.isfinite(v)]
    c = [v for v in current if v is not None and math.isfinite(v)]
    if len(b) < MIN_SAMPLES or len(c) < MIN_SAMPLES:
        mb = statistics.median(b) if b else None
        mc = statistics.median(c) if c else None
        delta = mc - mb if mb is not None and mc is not None else None
        return Comparison(metric, "no data", mb, mc, delta, 1.0, (len(b), len(c)))
    mb, mc = statistics.median(b), statistics.median(c)
    if worse == "above":
        p = mann_whitney_greater(c, b)
        excess = mc - mb
    else:
        p = mann_whitney_greater(b, c)
        excess = mb - mc
    bar = max(FLOORS.get(metric, 0.0), tolerance * abs(mb))
    matters = excess > bar
    if p < 0.01 and matters:
        score: Score = "fail"
    elif (p < 0.05 and excess > bar / 2) or (matters and p < 0.2):
        score = "marginal"
    else:
        score = "pass"
    return Comparison(metric, score, mb, mc, mc - mb, p, (len(b), len(c)))
