"""backends/ stands alone: importing it (and every built-in backend) pulls in no UI; the demo does not
import kubernetes (its import alone costs about a second)."""

from __future__ import annotations

import json
import subprocess
import sys

UI = ("textual", "console", "widgets")


def modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_backends_import_nothing_from_the_ui():
    mods = modules_after(
        "import backends, backends.registry, backends.options, backends.clock, backends.simulator, "
        "backends.haproxy, backends.kubernetes, backends.nginx, backends.prometheus"
    )
    leaked = sorted(m for m in mods if m.split(".")[0] in UI)
    assert leaked == []


def test_every_registered_backend_imports_without_the_ui():
    from backends import registry

    for group in (registry.ROUTERS, registry.METRICS):
        for kind in registry.available(group):
            mods = modules_after(
                f"from backends import registry; registry.resolve({group!r}, {kind!r})"
            )
            leaked = sorted(m for m in mods if m.split(".")[0] in UI)
            assert leaked == [], f"{group}:{kind} imports {leaked}"


def test_the_demo_path_does_not_import_kubernetes():
    code = (
        "from console.cli import build_parser\n"
        "from console.factory import demo_config\n"
        "from console.runtime import build\n"
        "import console.app\n"
        "build(demo_config('healthy', 7, 60, 1).service[0])"
    )
    mods = modules_after(code)
    assert "kubernetes" not in mods
    assert "console.app" in mods  # the check above really ran the demo's imports
