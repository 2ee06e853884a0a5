"""docs/benchmarks.md is shared by every benchmark: each one rewrites only its own section."""

from __future__ import annotations

import re
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(section: str, path: str | Path = DEFAULT) -> Path:
    """Replace the section whose ``## `` heading matches ``section``'s first line, or append it."""
    path = Path(path)
    section = section.strip() + "\n"
    heading = section.splitlines()[0]
    if not heading.startswith("## "):
        raise ValueError("a benchmark section starts with a '## ' heading")
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text, count=1)
    else:
        text = text.rstrip() + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n")
    return path
