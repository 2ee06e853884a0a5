"""PromQL of the Prometheus metrics source: the default templates, the escaping of configured values,
the four queries built from the options, and the reading of one answer into a value per colour."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import requests

from backends.base import COLOURS, Colour, ColourMetrics, QueryError, Unreachable

METRICS: tuple[str, ...] = ColourMetrics.METRICS  # rate, error_pct, latency_ms, sessions

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

PLACEHOLDERS = ("selector", "matchers", "window", "colour_label", "proxy_selector")

_PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")
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
class _Query:
    metric: str
    promql: str
    label: str  # the label whose value names the colour in the answer
    by_value: Mapping[str, Colour]  # label value -> colour


class PrometheusQueriesMixin:
    """Builds the queries of :class:`~backends.prometheus.PrometheusMetrics`, which mixes this in, and
    reads their answers."""

    url: str
    colour_label: str
    colours: dict[Colour, str]
    matchers: dict[str, str]
    window: str
    sessions_backends: dict[Colour, str]
    _last_response: requests.Response | None
    _bad: Callable[[str, str, str], NoReturn]

    # ----------------------------------------------------------------------------------------------
    # Queries

    def _build_queries(self, opts: dict[str, Any]) -> tuple[_Query, ...]:
        overrides = opts.get("queries", {})
        if not isinstance(overrides, Mapping):
            self._bad(
                "queries", repr(overrides), f"a table of metric -> PromQL ({', '.join(METRICS)})"
            )
        for key, text in overrides.items():
            if key not in METRICS:
                self._bad(f"queries.{key}", repr(key), "one of " + ", ".join(METRICS))
            if not isinstance(text, str) or not text.strip():
                self._bad(f"queries.{key}", repr(text), "a non-empty PromQL string")
            for name in _PLACEHOLDER.findall(text):
                if name not in PLACEHOLDERS:
                    self._bad(
                        f"queries.{key}",
                        "{" + name + "}",
                        "only the placeholders " + ", ".join("{" + p + "}" for p in PLACEHOLDERS),
                    )

        values = [self.colours[c] for c in COLOURS]
        matchers = [f"{self.colour_label}=~{_any_of(values)}"]
        matchers += [f"{name}={promql_string(value)}" for name, value in self.matchers.items()]
        subst = {
            "matchers": ",".join(matchers),
            "selector": "{" + ",".join(matchers) + "}",
            "window": self.window,
            "colour_label": self.colour_label,
        }
        by_colour_value = {self.colours[c]: c for c in COLOURS}
        if self.sessions_backends:
            proxies = [self.sessions_backends[c] for c in COLOURS]
            subst["proxy_selector"] = "{proxy=~" + _any_of(proxies) + "}"
        else:
            subst["proxy_selector"] = "{}"

        queries = []
        for metric in METRICS:
            label, by_value = self.colour_label, by_colour_value
            if metric in overrides:
                template = overrides[metric]
            elif metric == "sessions" and self.sessions_backends:
                template = SESSIONS_HAPROXY_QUERY
            else:
                template = DEFAULT_QUERIES[metric]
            if metric == "sessions" and self.sessions_backends:
                label = "proxy"
                by_value = {self.sessions_backends[c]: c for c in COLOURS}
            if "{proxy_selector}" in template and not self.sessions_backends:
                self._bad(
                    f"queries.{metric}", "{proxy_selector}", "sessions_backends set to use it"
                )
            promql = _PLACEHOLDER.sub(lambda m: subst[m.group(1)], template)
            queries.append(_Query(metric, promql, label, by_value))
        return tuple(queries)

    # ----------------------------------------------------------------------------------------------
    # One answer

    def _check_result(self, q: _Query, result: Any) -> list[Any]:
        where = f"Prometheus at {self.url}"
        body = _json_or_none(self._last_response) if self._last_response is not None else None
        data = body.get("data") if isinstance(body, dict) else None
        rtype = data.get("resultType") if isinstance(data, dict) else "vector"
        if rtype != "vector":
            raise QueryError(
                f"the {q.metric} query returned a {rtype}, not an instant vector grouped by "
                f"{q.label}\n  query: {q.promql}"
            )
        if not isinstance(result, list) or not all(
            isinstance(s, dict)
            and isinstance(s.get("metric"), dict)
            and isinstance(s.get("value"), list)
            and len(s["value"]) == 2
            for s in result
        ):
            raise Unreachable(
                f"{where} answered the {q.metric} query with JSON of an unexpected shape "
                f"(not a list of series): is url a Prometheus server?"
            )
        return result

    def _split(self, q: _Query, result: list[Any]) -> dict[Colour, float]:
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


# --------------------------------------------------------------------------------------------------
# Helpers


def _json_or_none(r: requests.Response | None) -> Any:
    if r is None:
        return None
    try:
        return json.loads(r.content)
    except (ValueError, UnicodeDecodeError):
        return None
