"""The Prometheus metrics source (``kind = "prometheus"``): four batched instant queries per poll.

Modules: ``source`` (the MetricsSource), ``options`` (the typed options and credentials),
``queries`` (PromQL templates, escaping, reading an answer), ``client`` (HTTP and its errors).
"""

from backends.prometheus.options import METRICS, PLACEHOLDERS, PrometheusOptions
from backends.prometheus.queries import (
    DEFAULT_QUERIES,
    SESSIONS_HAPROXY_QUERY,
    promql_string,
    regex_escape,
)
from backends.prometheus.source import PrometheusMetrics

__all__ = [
    "DEFAULT_QUERIES",
    "METRICS",
    "PLACEHOLDERS",
    "SESSIONS_HAPROXY_QUERY",
    "PrometheusMetrics",
    "PrometheusOptions",
    "promql_string",
    "regex_escape",
]
