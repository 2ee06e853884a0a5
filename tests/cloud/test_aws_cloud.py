"""The ALB and Route 53 routers against real AWS.

Runs only when the environment points at a test setup; otherwise every test is skipped with the
reason. ``BLUEGREEN_AWS_ALB_CONFIG`` / ``BLUEGREEN_AWS_ROUTE53_CONFIG`` name a console config (TOML)
whose first service's router is ``kind = "alb"`` / ``kind = "route53"``, on a listener or records
made for testing (blue live, green idle, both healthy): the tests switch to green, split, drain,
ready and switch back to blue. Credentials come from the usual AWS chain (``AWS_PROFILE``, SSO, ...).

    BLUEGREEN_AWS_ALB_CONFIG=alb-test.toml AWS_PROFILE=sandbox \\
        .venv/bin/pytest tests/cloud -m cloud -v
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backends.base import ActionRefused, Colour

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(600)]

BLUE, GREEN = Colour.BLUE, Colour.GREEN
CONFIGS = {"alb": "BLUEGREEN_AWS_ALB_CONFIG", "route53": "BLUEGREEN_AWS_ROUTE53_CONFIG"}


@pytest.fixture(params=sorted(CONFIGS))
def runtime(request):
    var = CONFIGS[request.param]
    path = os.environ.get(var)
    if not path:
        pytest.skip(f"set {var} to a console config of a test {request.param} setup to run")
    pytest.importorskip("boto3", reason="pip install 'bluegreen-console[aws]'")
    from console.config import load
    from console.runtime import build

    config = load(Path(path)).pick(None)
    if config.router.kind != request.param:
        pytest.fail(
            f"{var}: the first service's router is {config.router.kind!r}, not {request.param!r}"
        )
    rt = build(config, source=path)
    try:
        yield rt
    finally:
        rt.close()


def test_switch_split_drain_ready_and_back(runtime):
    router = runtime.router
    state = router.state()
    assert "problem" not in state.detail, state.detail
    assert state.live is BLUE, "the test setup starts with blue live"
    assert router.switch(GREEN).live is GREEN
    with pytest.raises(ActionRefused, match="already live"):
        router.switch(GREEN)
    split = router.set_weights({BLUE: 10, GREEN: 90})
    assert (split.colour(BLUE).weight, split.colour(GREEN).weight) == (10, 90)
    assert router.switch(GREEN).live is GREEN
    assert router.drain(BLUE).colour(BLUE).draining
    assert not router.ready(BLUE).colour(BLUE).draining
    assert router.switch(BLUE).live is BLUE
