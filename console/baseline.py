"""Green against blue during the bake: the baseline of the old colour, and the comparison of the new
colour against it. Pure: no I/O, no Textual; time is the snapshots' monotonic reading.

The Monitor feeds :class:`BaselineTracker` every frame (``observe``): each fresh frame's figures of
both colours go into a bounded ring per colour covering ``baseline_span`` plus the bake window. When a
bake window opens (colour C, switched from O), the **baseline** is O's per-poll figures over the span
before the switch, cut from the ring once and kept for the window. A console that started recently
holds too few of them: the tracker then asks for them (``wants_history``) and the Monitor reads them
from the metrics source's history (else the recording's earlier sessions), off the UI thread, and hands
them back (``fill``).

During the window, each frame compares C's figures since the switch against that baseline, metric by
metric (:func:`console.compare.compare`: Mann-Whitney U over per-poll samples, pass / marginal / fail /
no data). With a weighted split (both colours take traffic: weights not 100/0, neither drained) the
old colour's figures before the switch are not the fair reference; the two colours are compared
**live**, side by side, over the polls since the split began (and since the switch).

Only error % and p99 are *judged*: they measure quality. The request rate and the sessions measure
traffic, which a switch moves on purpose (and which a weighted split divides), so their medians and
deltas are shown without a verdict and never fail a bake. Once the window ends, the comparison is
kept as it stood at the end.

With ``compare = "require"`` (``[service.bake]``), :meth:`BaselineTracker.gate` gives the bake its say:
a judged metric that **fails** fails the bake at once, its reason naming the metric ("error % 24.1%
against blue's 0.2%: worse (p<0.0001)"); a comparison that is **marginal** lets the bake pass (not
enough to roll back on: the test is unsure or the difference is within the tolerance); one with **no
data** (too few figures on either side) holds the bake at its end, as missing figures do, until the
figures arrive.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.base import COLOURS, Colour
from console.compare import MIN_SAMPLES, compare
from console.model import JUDGED, METRIC_KEYS, BakeComparison, BakeState, Snapshot, metric

# A colour's figures at one poll: (monotonic time, one value per METRIC_KEYS, None = no figure)
_Row = tuple[float, tuple[float | None, ...]]


@dataclass(frozen=True)
class HistoryRequest:
    """The old colour's figures the ring did not hold, to read from the metrics source's history.

    Attributes:
        colour: the old colour (the baseline's).
        start, end: the span before the switch (monotonic readings; the Monitor turns them into
            wall time for the source).
        step: seconds between samples (the poll interval).
        window: the bake window it is for ((colour baked, start)); ``fill`` ignores an answer for a
            window that is over.
    """

    colour: Colour
    start: float
    end: float
    step: float
    window: tuple[Colour, float]


class BaselineTracker:
    """Keeps the recent figures of both colours and judges the baked colour against its reference.

    Owned by the Monitor (one per service); called under the Monitor's lock from the poll's worker
    thread (or an action's), never from the UI. ``span`` is ``baseline_span``, ``window`` the bake
    window's length, ``step`` the poll interval (it bounds the ring)."""

    def __init__(self, span: float, window: float, step: float) -> None:
        self.span = span
        self.window = window
        self.step = step
        self._keep = span + window + 2 * step  # seconds of figures kept per colour
        size = int(self._keep / max(step, 0.01)) * 2 + 16
        self._ring: dict[Colour, deque[_Row]] = {
            c: deque(maxlen=min(size, 200_000)) for c in COLOURS
        }
        self._now: float | None = None
        self._split_since: float | None = None  # both colours have taken traffic since (monotonic)
        self._pushes = 0
        # The window being judged: (colour, start), its baseline per metric, where it came from
        self._key: tuple[Colour, float] | None = None
        self._baseline: dict[str, list[float | None]] = {}
        self._source = "none yet"
        self._covered = 0.0
        self._wanted: HistoryRequest | None = None
        self._tries = 0  # history reads asked for this window
        self._cached: tuple[Any, BakeComparison] | None = None
        self._final: BakeComparison | None = None  # the comparison as it stood at the window's end

    # ------------------------------------------------------------------------------------------
    # Feeding

    def observe(self, snap: Snapshot, fresh: bool) -> None:
        """One frame's snapshot. Only ``fresh`` figures go into the ring (stale ones would repeat an
        old figure as a new sample); the router's weights (for a split) are read on every frame
        that has them."""
        now = snap.mono_time
        self._now = now if self._now is None else max(self._now, now)
        if snap.router is not None:
            split = all(
                (cs.weight or 0) > 0 and not cs.draining
                for cs in (snap.router.colour(c) for c in COLOURS)
            )
            if not split:
                self._split_since = None
            elif self._split_since is None:
                self._split_since = now
        if not fresh:
            return
        for c in COLOURS:
            m = snap.colour_metrics(c)
            ring = self._ring[c]
            ring.append((now, tuple(m.value(k) for k in METRIC_KEYS)))
            while ring and ring[0][0] < now - self._keep:
                ring.popleft()
        self._pushes += 1

    def wants_history(self) -> HistoryRequest | None:
        """The old colour's figures to read from the metrics source's history, when the ring held too
        few of them at the switch (asked once per window; again after a failed read, up to 3 times)."""
        return self._wanted

    def fill(
        self,
        request: HistoryRequest,
        figures: Mapping[str, Sequence[float | None]],
        source: str = "history",
    ) -> None:
        """The answer to ``request``: per metric key, the old colour's samples over the span, read
        from ``source`` ("history": the metrics source's; "recording": earlier sessions')."""
        if request != self._wanted:
            return
        self._wanted = None
        if self._key != request.window:
            return
        if _count(figures) > _count(self._baseline):
            self._baseline = {k: list(figures.get(k, ())) for k in METRIC_KEYS}
            self._source = source
            self._covered = request.end - request.start
            self._cached = None

    def history_failed(self, request: HistoryRequest) -> None:
        """The read of ``request`` failed: asked again at the next poll, up to 3 reads a window."""
        if request == self._wanted and self._tries >= 3:
            self._wanted = None

    # ------------------------------------------------------------------------------------------
    # Judging

    def comparison(self, bake: BakeState) -> BakeComparison | None:
        """The baked colour against its reference for ``bake``'s window, or None (no window)."""
        if bake.colour is None or bake.started is None:
            return None
        key = (bake.colour, bake.started)
        if key != self._key:
            self._open(key)
        end = bake.started + bake.duration
        if self._final is not None:
            return self._final
        live = self._split_since is not None
        cache_key = (self._pushes, live, self._source, bake.duration)
        if self._cached is not None and self._cached[0] == cache_key:
            result = self._cached[1]
        else:
            result = self._judge(bake.colour, bake.started, end, live)
            self._cached = (cache_key, result)
        if self._now is not None and self._now >= end:
            self._final = result  # the window is over: kept as it stood at its end
        return result

    def gate(self, bake: BakeState) -> tuple[str, str]:
        """The comparison's say on a running window (``compare = "require"``), given to
        ``BakeTracker.update``: (a reason to fail it now, a reason it cannot pass yet); "" for
        neither. Marginal lets it pass; no data holds it."""
        c = self.comparison(bake)
        if c is None:
            return "", ""
        return c.failure(), c.waiting()

    def _open(self, key: tuple[Colour, float]) -> None:
        colour, started = key
        old = colour.other
        self._key, self._final, self._cached, self._tries = key, None, None, 0
        kept = [(t, vals) for t, vals in self._ring[old] if started - self.span <= t < started]
        rows = [vals for _, vals in kept]
        self._baseline = {k: [v[i] for v in rows] for i, k in enumerate(METRIC_KEYS)}
        self._covered = min(self.span, started - kept[0][0]) if kept else 0.0
        self._source = "polls"
        self._wanted = None
        if _count(self._baseline) < MIN_SAMPLES:
            self._source = "polls" if rows else "none yet"
            self._wanted = HistoryRequest(old, started - self.span, started, self.step, key)

    def asked(self, request: HistoryRequest) -> None:
        """The Monitor is reading ``request`` now (counts the reads of a window)."""
        if request == self._wanted:
            self._tries += 1

    def _judge(self, colour: Colour, started: float, end: float, live: bool) -> BakeComparison:
        idx = {k: i for i, k in enumerate(METRIC_KEYS)}
        cur_rows = [v for t, v in self._ring[colour] if started <= t <= end]
        since = started
        if live:
            assert self._split_since is not None
            since = max(started, self._split_since)
            cur_rows = [v for t, v in self._ring[colour] if since <= t <= end]
            ref_rows = [v for t, v in self._ring[colour.other] if since <= t <= end]
            reference: dict[str, list[float | None]] = {
                k: [v[idx[k]] for v in ref_rows] for k in METRIC_KEYS
            }
        else:
            reference = self._baseline
        out = []
        for k in METRIC_KEYS:
            worse = metric(k).direction
            out.append(compare(k, reference.get(k, []), [v[idx[k]] for v in cur_rows], worse=worse))
        return BakeComparison(
            colour,
            colour.other,
            live,
            self.span,
            tuple(out),
            source="polls" if live else self._source,
            covered=(
                max(0.0, (end if self._now is None else min(self._now, end)) - since) + self.step
            )
            if live
            else self._covered,
        )


def _count(figures: Mapping[str, Sequence[float | None]]) -> int:
    """The fewest figures any judged metric has."""
    return min((sum(1 for v in figures.get(k, ()) if v is not None) for k in JUDGED), default=0)
