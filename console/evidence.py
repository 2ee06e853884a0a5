"""Evidence for a ratio alarm (error %): fire when the requests seen make it very unlikely that the
true error rate is at or below the threshold, clear when they make it very unlikely it is above.

The rule, in a paragraph a tired on-call engineer can follow: keep the request and error counts of
the last polls; for the most recent stretch of them (the last poll, the last two, ... up to the
whole window), ask how low the true error rate could be given what was counted, with 99.9 %
confidence. If for some recent stretch even that lowest plausible rate is above the threshold, the
alarm fires. 25 errors in 50 requests fires at once; 6 errors in 100 requests does not (6 % could
be luck when the threshold is 5 %), 60 in 1,000 does. A colour with few requests cannot fire on a
handful of errors, and a colour under heavy load fires on a small excess quickly.

The test is the Chernoff bound of the binomial tail: the chance that ``n`` requests at a true rate
``t`` show ``k`` or more errors is at most ``exp(-n * KL(k/n || t))`` (KL: the Kullback-Leibler
divergence of two Bernoulli rates), so "above" means that bound is below ``1 - confidence`` and a
healthy colour raises a false alarm less often than that, whatever the counts, small or large (a
normal approximation such as Wilson's interval is not safe this far in the tail: 3 errors in 20
requests looks 99.9 % sure to be above 2 % to it, and happens every 700 polls at 1 %). Trying every
recent stretch finds an onset without a fixed window diluting it, and the confidence is divided among
the stretches tried (Bonferroni), so looking many times does not make a false alarm likely. The
bounds shown (``low``, ``high``) are the rates where the same bound reaches that confidence. Written by
hand on ``math`` because it is a dozen lines; ``tests/unit/test_evidence.py`` checks it against
scipy's exact binomial test when scipy is there (never more eager), and its properties (monotone in
the evidence; no alarm at a rate at or below the threshold) with hypothesis. ``wilson`` stays for
comparison.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from functools import cached_property, lru_cache
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
        margin: the clear margin ``below`` was judged with (a fraction of the threshold).
        polls: how many polls that stretch spans.
    """

    above: bool
    below: bool
    requests: int
    errors: int
    threshold: float
    confidence: float
    margin: float = 0.0
    polls: int = 0
    evidence: float = 0.0  # n x KL the bounds are drawn at (``surprise`` of the confidence)

    # The bounds are worked out when asked (the "why" view, a sentence): every poll judges each
    # colour against each threshold, and their search was a fifth of a poll's work on the board.
    @cached_property
    def low(self) -> float:
        """The lowest plausible rate over the stretch, in percent."""
        return self._bound_pct(-1)

    @cached_property
    def high(self) -> float:
        """The highest plausible rate over the stretch, in percent."""
        return self._bound_pct(+1)

    def _bound_pct(self, side: int) -> float:
        if not self.requests:
            return 0.0 if side < 0 else 100.0
        return _bound(self.errors / self.requests, self.requests, self.evidence, side) * 100

    @property
    def rate(self) -> float | None:
        """The error % of the stretch the verdict rests on (None: no requests in it)."""
        return 100.0 * self.errors / self.requests if self.requests else None

    def sentence(self) -> str:
        """ "412 requests, 211 errors: 99.9 % sure the rate is above 5 %"."""
        sure = f"{self.confidence * 100:.3g} % sure"
        head = f"{self.requests:,} requests, {self.errors:,} errors"
        if self.above:
            return f"{head}: {sure} the rate is above {self.threshold:g} %"
        if self.below:
            return f"{head}: {sure} the rate is below {self.threshold * (1 - self.margin):.3g} %"
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

    def polls(self) -> list[tuple[int, int]]:
        """The counts kept, (requests, errors) per poll, oldest first."""
        return list(self._window)

    def __len__(self) -> int:
        return len(self._window)

    def judge(
        self, threshold_pct: float, confidence: float = DEFAULT_CONFIDENCE, margin: float = 0.0
    ) -> Judgement:
        """Fire-worthy (``above``) if some recent stretch of polls is sure the rate is above
        ``threshold_pct``; clear-worthy (``below``) if the whole window is sure it is below the
        threshold lowered by ``margin`` (a fraction, as the rules' margin)."""
        return judge(list(self._window), threshold_pct, confidence, margin, self.looks)


def kl(p: float, q: float) -> float:
    """The Kullback-Leibler divergence of Bernoulli(p) from Bernoulli(q), in nats (0 <= p <= 1,
    0 < q < 1)."""
    out = 0.0
    if p > 0:
        out += p * math.log(p / q)
    if p < 1:
        out += (1 - p) * math.log((1 - p) / (1 - q))
    return out


def surprise(confidence: float, looks: int = 1) -> float:
    """``log(1 / alpha)``, with ``alpha = (1 - confidence) / looks``: the evidence (n x KL, in nats)
    needed to be that sure."""
    return math.log(max(1, looks) / (1.0 - confidence))


BOUND_TOLERANCE = 1e-9  # the bounds' precision, as a fraction (a millionth of a percentage point)


def _bound(p: float, n: int, c: float, side: int) -> float:
    """The rate ``q`` on ``side`` (-1 below ``p``, +1 above) where ``n * kl(p, q)`` reaches ``c``."""
    lo, hi = (0.0, p) if side < 0 else (p, 1.0)
    if (side < 0 and p <= 0) or (side > 0 and p >= 1):
        return p
    while hi - lo > BOUND_TOLERANCE:  # about 30 halvings: shown to 2-3 digits of a percent
        mid = (lo + hi) / 2
        inside = n * kl(p, min(max(mid, 1e-12), 1 - 1e-12)) < c
        if (side < 0) == inside:
            hi = mid
        else:
            lo = mid
    return lo if side < 0 else hi


def judge(
    window: list[tuple[int, int]],
    threshold_pct: float,
    confidence: float = DEFAULT_CONFIDENCE,
    margin: float = 0.0,
    looks: int | None = None,
) -> Judgement:
    """See :meth:`RatioEvidence.judge`; ``window`` is oldest first."""
    t = min(max(threshold_pct / 100.0, 1e-9), 1 - 1e-9)
    c = surprise(confidence, looks or max(1, len(window)))
    req = err = 0
    best: tuple[float, int, int, int] | None = None  # (n x KL, requests, errors, polls)
    for n, (r, e) in enumerate(reversed(window), 1):  # the last poll, the last two, ...
        req += r
        err += e
        if req == 0 or err / req <= t:
            continue
        strength = req * kl(err / req, t)
        if strength >= c and (best is None or strength > best[0]):
            best = (strength, req, err, n)
    if best is not None:
        _, r, e, n = best
        return Judgement(True, False, r, e, threshold_pct, confidence, margin, n, c)
    c1 = surprise(confidence)
    if not req:
        return Judgement(False, False, 0, 0, threshold_pct, confidence, margin, len(window), c1)
    p, clear = err / req, t * (1.0 - margin)
    below = p < clear and req * kl(p, clear) >= c1
    return Judgement(False, below, req, err, threshold_pct, confidence, margin, len(window), c1)
