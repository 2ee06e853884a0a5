"""Fixtures for the integration tests (real processes on 127.0.0.1).

HAProxy's live in ``haproxy_fixture.py`` so the benchmark can import them too; they are re-exported
here for pytest.
"""

from tests.integration.haproxy_fixture import haproxy_fleet, haproxy_lab  # noqa: F401
from tests.integration.nginx_fixture import nginx_lab  # noqa: F401
from tests.integration.prom_fixture import prometheus_binary, prometheus_factory  # noqa: F401
