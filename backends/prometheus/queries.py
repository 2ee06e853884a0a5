"""PromQL of the Prometheus metrics source: the default templates, the escaping of configured
values, the four queries built from the options, and the reading of one answer into a value per
colour. Pure: nothing here talks to Prometheus (``client`` does)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.base import COLOURS, Colour, QueryError, Unreachable
from backends.prometheus.options import (
    METRICS,
    PLACEHOLDER,
    PrometheusOptions,
    by_value,
)

#: The default PromQL per metric. Placeholders are replaced literally (other braces are PromQL's):
#: ``{selector}`` ``{matchers}`` ``{window}`` ``{colour_label}`` and, for sessions,
#: ``{proxy_selector}``.
DEFAULT_QUERIES: dict[str, str] = {
    "rate": "sum by ({colour_label}) (rate(http_requests_total{selector}[{window}]))",
    # `or ... * 0` gives a colour that has traffic but never answered a 5xx a 0 numerator (its 5xx
    # series does not exist yet); a colour with no traffic still gets 0/0 = NaN ("no traffic").
    "error_pct": (
        '(sum by ({colour_label}) (rate(http_requests_total{{matchers},code=~"5.."}[{window}]))'
        " or sum by ({colour_label}) (rate(http_requests_total{selector}[{window}])) * 0)"
        " / sum by ({colour_label}) (rate(http_requests_total{selector}[{window}])) * 100"
    ),
    "latency_ms": (
        "histogram_quantile(0.99, sum by ({colour_label}, le) "
        "(rate(http_request_duration_seconds_bucket{selector}[{window}]))) * 1000"
    ),
    "sessions": "sum by ({colour_label}) (http_requests_in_flight{selector})",
}

#: With ``sessions_backends``: HAProxy's exporter, label ``proxy`` (not ``backend``).
SESSIONS_HAPROXY_QUERY = "sum by (proxy) (haproxy_backend_current_sessions{proxy_selector})"

_REGEX_META = re.compile(r"([.^$*+?()\[\]{}|\\])")


def promql_string(value: str) -> str:
    """``value`` as a PromQL double-quoted string literal: nothing in it can end the string."""
    out = value.replace("\\", "\\\\").replace('"', '\\"')
    out = out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{out}"'


def regex_escape(value: str) -> str:
    """Escape RE2 metacharacters so ``value`` matches only itself inside ``=~``."""
    return _REGEX_META.sub(r"\\\1", value)


def _any_of(values: list[str]) -> str:
    """A PromQL regex string literal matching exactly one of ``values``."""
    return promql_string("|".join(regex_escape(v) for v in values))


@dataclass(frozen=True)
class Query:
    """One PromQL query and how to read its answer."""

    metric: str
    promql: str
    label: str  # the label whose value names the colour in the answer
    by_value: Mapping[str, Colour]  # label value -> colour


class Queries:
    """The four queries of one metrics source, built once from its options, and the reading of
    their answers into one value per colour."""

    def __init__(
        self, opts: PrometheusOptions, group_by: tuple[str, Sequence[str]] | None = None
    ) -> None:
        """``group_by``: (label, values): the queries of several services at once (``batch``):
        the label matches any of the values instead of the one in ``matchers``, and every
        aggregation keeps it, so one answer holds each service's series."""
        self.url = opts.url
        values = [opts.colours[c] for c in COLOURS]
        matchers = [f"{opts.colour_label}=~{_any_of(values)}"]
        matchers += [
            f"{name}={promql_string(value)}"
            for name, value in opts.matchers.items()
            if group_by is None or name != group_by[0]
        ]
        if group_by is not None:
            matchers.append(f"{group_by[0]}=~{_any_of(list(group_by[1]))}")
        sessions = opts.sessions_backends
        subst = {
            "matchers": ",".join(matchers),
            "selector": "{" + ",".join(matchers) + "}",
            "window": opts.window,
            "colour_label": (
                opts.colour_label if group_by is None else f"{opts.colour_label}, {group_by[0]}"
            ),
            "proxy_selector": (
                "{proxy=~" + _any_of([sessions[c] for c in COLOURS]) + "}" if sessions else "{}"
            ),
        }
        queries = []
        for metric in METRICS:
            label, values_to_colours = opts.colour_label, by_value(opts.colours)
            if metric in opts.queries:
                template = opts.queries[metric]
            elif metric == "sessions" and sessions:
                template = SESSIONS_HAPROXY_QUERY
            else:
                template = DEFAULT_QUERIES[metric]
            if metric == "sessions" and sessions:
                label, values_to_colours = "proxy", by_value(sessions)
            promql = PLACEHOLDER.sub(lambda m: subst[m.group(1)], template)
            queries.append(Query(metric, promql, label, values_to_colours))
        self.all: tuple[Query, ...] = tuple(queries)

    def __iter__(self) -> Iterator[Query]:
        return iter(self.all)

    def __len__(self) -> int:
        return len(self.all)

    def describe(self) -> dict[str, str]:
        return {q.metric: q.promql for q in self.all}

    def split(self, q: Query, result: list[Any]) -> dict[Colour, float]:
        """One value per colour from one answer; series of other label values are ignored."""
        out: dict[Colour, float] = {}
        for series in result:
            colour = q.by_value.get(str(series["metric"].get(q.label)))
            if colour is None:
                continue
            if colour in out:
                raise QueryError(
                    f"the {q.metric} query returned several series for {colour}: it must be "
                    f"aggregated by {q.label} (sum by ({q.label}) ...)\n  query: {q.promql}"
                )
            try:
                out[colour] = float(series["value"][1])
            except (TypeError, ValueError):
                raise Unreachable(
                    f"Prometheus at {self.url} answered the {q.metric} query with a value that "
                    f"is not a number: {str(series['value'][1])[:40]!r}"
                ) from None
        return out

    def split_range(self, q: Query, result: list[Any]) -> dict[Colour, list[float]]:
        """One range answer's samples per colour, oldest first (NaN where Prometheus answered NaN:
        no traffic at that step); series of other label values are ignored."""
        out: dict[Colour, list[float]] = {}
        for series in result:
            colour = q.by_value.get(str(series["metric"].get(q.label)))
            if colour is None:
                continue
            if colour in out:
                raise QueryError(
                    f"the {q.metric} query returned several series for {colour}: it must be "
                    f"aggregated by {q.label} (sum by ({q.label}) ...)\n  query: {q.promql}"
                )
            try:
                out[colour] = [float(v) for _, v in series["values"]]
            except (TypeError, ValueError):
                raise Unreachable(
                    f"Prometheus at {self.url} answered the {q.metric} range query with a value "
                    "that is not a number"
                ) from None
        return out
