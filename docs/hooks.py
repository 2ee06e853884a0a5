"""mkdocs hooks (mkdocs.yml ``hooks:``) for the two things outside ``docs/`` that the docs rely on.

* The README's screenshots are published with the docs without a copy in docs/. A page shows one as
  ``![healthy](../screenshots/healthy.svg)``: that relative path is right when the page is read as a
  file in the repository, and, because the image is registered below under that same path, mkdocs
  resolves and validates it too and writes it to ``site/screenshots/``.
* The README is not a page of the site, but its links into docs/ must not break when a page or a
  heading is renamed: after the build, every relative link of README.md is checked (the file exists;
  an anchor into a page is one of that page's ids) and a broken one is a warning, which
  ``mkdocs build --strict`` (``make docs``, ``make test``) turns into a failure.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files, InclusionLevel
from pymdownx.slugs import slugify

# A child of the "mkdocs" logger, so --strict counts its warnings.
log = logging.getLogger("mkdocs.hooks.readme")

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
heading_id = slugify(case="lower")  # GitHub's ids, as mkdocs.yml's toc uses

_files: Files | None = None


def on_files(files: Files, config: Any) -> Files:
    global _files
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
    _files = files
    return files


def _own_ids(markdown: str) -> set[str]:
    """The ids GitHub gives the headings of ``markdown`` (outside fenced code)."""
    ids, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            ids.add(heading_id(m.group(1), "-"))
    return ids


def on_post_build(config: Any) -> None:
    docs = Path(config["docs_dir"])
    root = docs.parent
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    docs_prefix = docs.relative_to(root).as_posix() + "/"
    for target in dict.fromkeys(LINK.findall(text)):  # each link once, in order
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        problem = None
        if not path:
            if anchor not in _own_ids(text):
                problem = f"no heading of README.md has the id '{anchor}'"
        elif path.startswith(docs_prefix) and _files is not None:
            file = _files.get_file_from_path(path[len(docs_prefix) :])
            if file is None:
                problem = f"'{path}' is not among the documentation files"
            elif (
                anchor
                and file.page is not None
                and anchor not in (file.page.present_anchor_ids or ())
            ):
                problem = f"'{path}' has no anchor '#{anchor}'"
        elif not (root / path).exists():
            problem = f"'{path}' does not exist"
        if problem:
            log.warning(f"README.md contains a link '{target}', but {problem}.")
