"""Textual's Footer without the leak of one set of key widgets per redraw.

Textual 8.2 (open issue Textualize/textual#6666): watchers registered with ``watch`` / ``data_bind``
are not removed with the widget that registered them. ``Footer.compose`` binds every ``FooterKey`` to
the footer's ``compact`` reactive (``data_bind``), which appends ``(key, setter)`` to the footer's
watcher list; the footer recomposes on every change of the screen's bindings (twice per dialog opened
and closed), and the removed keys stay referenced from that list, with their styles and children, as
long as the footer lives. Textual drops the watchers of closed widgets only when the watched
attribute is set. So before each compose, when the previous keys have just been removed, the
footer sets ``compact`` again (``mutate_reactive``): the list keeps only live keys, and the console
can stay open all night. Remove this class when the upstream fix is released.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer

__all__ = ["KeyFooter"]


class KeyFooter(Footer):
    """``Footer`` that drops the watchers of its removed keys before composing new ones."""

    def compose(self) -> ComposeResult:
        # recompose() has awaited the removal of the old keys: they are closed, and running the
        # watchers of `compact` prunes them (it also re-sets `compact` on no key: there is none yet).
        self.mutate_reactive(Footer.compact)
        yield from super().compose()
