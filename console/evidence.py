"""Evidence for a ratio alarm (error %): fire when the requests seen make it very unlikely that the
true error rate is at or below the threshold, clear when they make it very unlikely it is above.

The rule, in a paragraph a tired on-call engineer can follow: keep the request and error counts of
the last polls; for the most recent stretch of them (the last poll, the last two, ... up to the
whole window), ask how low the true error rate could be given what was counted, with 99.9 %
confidence. If for some recent stretch even that lowest plausible rate is above the threshold, the
alarm fires. 25 errors in 50 requests fires at once; 6 errors in 100 requests does not (6 % could
be luck when the threshold is 5 %), 60 in 1,000 does. A colour with few requests cannot fire on a
handful of errors, and a colour under heavy load fires on a small excess quickly.

The bound is Wilson's score interval (closed form, good at small counts and rates near 0, which is
where error rates live); trying every recent stretch finds an onset without a fixed window diluting
it, and the confidence is divided among the stretches tried (Bonferroni), so looking many times does
not make a false alarm likely. Written by hand on ``statistics.NormalDist`` because it is a dozen
lines; ``tests/unit/test_evidence.py`` checks it against scipy's binomial test when scipy is there,
and its properties (monotone in the evidence; no alarm at a rate at or below the threshold) with
hypothesis.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

DEFAULT_CONFIDENCE = 0.999
DEFAULT_LOOKS = 60  # polls of counts kept: at 1 s polls, an onset up to a minute old is seen whole


@lru_cache(maxsize=64)
def z_for(confidence: float, looks: int = 1) -> float:
    """The one-sided normal quantile for ``confidence``, shared among ``looks`` tries."""
    alpha = (1.0 - confidence) / max(1, looks)
    return NormalDist().inv_cdf(1.0 - alpha)


def wilson(errors: float, requests: float, z: float) -> tuple[float, float]:
    """The Wilson score bounds (low, high) of the true rate, as fractions 0..1."""
    if requests <= 0:
        return 0.0, 1.0
    p = min(1.0, max(0.0, errors / requests))
    z2 = z * z
    denom = 1.0 + z2 / requests
    centre = (p + z2 / (2 * requests)) / denom
    half = z * math.sqrt(p * (1 - p) / requests + z2 / (4 * requests * requests)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Judgement:
    """What the counts say about one colour's error rate against one threshold.

    Attributes:
        above: the counts make it ``confidence`` sure the rate is above the threshold.
        below: ... sure it is below (the threshold lowered by the clear margin).
        requests, errors: the stretch of polls the verdict rests on (the strongest one when above;
            the whole window otherwise).
        low, high: the bounds of the rate over that stretch, in percent.
        confidence: as configured (e.g. 0.999).
    """

    above: bool
    below: bool
    requests: int
    errors: int
    low: float
    high: float
    threshold: float
    confidence: float

    def sentence(self) -> str:
        """ "412 requests, 211 errors: 99.9 % sure the rate is above 5 %"."""
        sure = f"{self.confidence * 100:.3g} % sure"
        head = f"{self.requests:,} requests, {self.errors:,} errors"
        if self.above:
            return f"{head}: {sure} the rate is above {self.threshold:g} %"
        if self.below:
            return f"{head}: {sure} the rate is below {self.threshold:g} %"
        if self.requests == 0:
            return "no requests counted yet: no evidence either way"
        return (
            f"{head}: not yet {sure} either way (the rate is between {self.low:.2g} % and "
            f"{self.high:.2g} %)"
        )


class RatioEvidence:
    """The request and error counts of one colour's last polls (``looks`` of them)."""

    def __init__(self, looks: int = DEFAULT_LOOKS) -> None:
        self.looks = looks
        self._window: deque[tuple[int, int]] = deque(maxlen=looks)

    def push(self, requests: float, errors: float) -> None:
        """One poll's counts (deltas of the router's counters, or a window's increase)."""
        r = max(0, int(round(requests)))
        e = min(r, max(0, int(round(errors))))
        self._window.append((r, e))

    def clear(self) -> None:
        self._window.clear()

    def __len__(self) -> int:
        return len(self._window)

    def judge(
        self, threshold_pct: float, confidence: float = DEFAULT_CONFIDENCE, margin: float = 0.0
    ) -> Judgement:
        """Fire-worthy (``above``) if some recent stretch of polls is sure the rate is above
        ``threshold_pct``; clear-worthy (``below``) if the whole window is sure it is below the
        threshold lowered by ``margin`` (a fraction, as the rules' margin)."""
        return judge(list(self._window), threshold_pct, confidence, margin, self.looks)


def judge(
    window: list[tuple[int, int]],
    threshold_pct: float,
    confidence: float = DEFAULT_CONFIDENCE,
    margin: float = 0.0,
    looks: int | None = None,
) -> Judgement:
    """See :meth:`RatioEvidence.judge`; ``window`` is oldest first."""
    t = threshold_pct / 100.0
    z = z_for(confidence, looks or max(1, len(window)))
    req = err = 0
    best: tuple[float, int, int, float] | None = None  # (low, requests, errors, high)
    for r, e in reversed(window):  # the last poll, the last two, ...: every recent stretch
        req += r
        err += e
        if req == 0:
            continue
        low, high = wilson(err, req, z)
        if low > t and (best is None or low > best[0]):
            best = (low, req, err, high)
    if best is not None:
        low, r, e, high = best
        return Judgement(True, False, r, e, low * 100, high * 100, threshold_pct, confidence)
    low, high = wilson(err, req, z_for(confidence)) if req else (0.0, 1.0)
    below = req > 0 and high < t * (1.0 - margin)
    return Judgement(False, below, req, err, low * 100, high * 100, threshold_pct, confidence)
