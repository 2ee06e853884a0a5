"""mkdocs hook: publish the README's screenshots with the docs without copying them into docs/.

A page shows one as ``![healthy](../screenshots/healthy.svg)``: that relative path is right when the
page is read as a file in the repository, and, because the file is registered below under that same
path, mkdocs resolves and validates it too and writes it to ``site/screenshots/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files, InclusionLevel


def on_files(files: Files, config: Any) -> Files:
    screenshots = Path(config["docs_dir"]).parent / "screenshots"
    for image in sorted(screenshots.glob("*.svg")):
        files.append(
            File(
                f"../screenshots/{image.name}",
                config["docs_dir"],
                config["site_dir"],
                config["use_directory_urls"],
                dest_uri=f"screenshots/{image.name}",
                inclusion=InclusionLevel.INCLUDED,
            )
        )
    return files
