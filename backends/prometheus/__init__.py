"""The Prometheus metrics source (``kind = "prometheus"``)."""

from backends.prometheus.source import PrometheusMetrics

__all__ = ["PrometheusMetrics"]
