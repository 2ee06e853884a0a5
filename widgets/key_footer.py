"""Textual's Footer without the leak of one set of key widgets per redraw, and without the redraw
when nothing it shows has changed.

Textual 8.2 (open issue Textualize/textual#6666): watchers registered with ``watch`` / ``data_bind``
are not removed with the widget that registered them. ``Footer.compose`` binds every ``FooterKey`` to
the footer's ``compact`` reactive (``data_bind``), which appends ``(key, setter)`` to the footer's
watcher list; the footer recomposes on every change of the screen's bindings (twice per dialog opened
and closed), and the removed keys stay referenced from that list, with their styles and children, as
long as the footer lives. Textual drops the watchers of closed widgets only when the watched
attribute is set. So before each compose, when the previous keys have just been removed, the
footer sets ``compact`` again (``mutate_reactive``): the list keeps only live keys, and the console
can stay open all night. Remove that part when the upstream fix is released.

The recompose itself is skipped when the keys it would build are the ones on screen (same keys,
labels, enabled states and tooltips): a dialog opened and closed leaves the console's keys as they
were, and rebuilding them cost a third of a keystroke's time in the soak benchmark (removing and
mounting the keys, their CSS, a new layout of the screen) and left dead widgets for the garbage
collector.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import Footer

__all__ = ["KeyFooter"]


class KeyFooter(Footer):
    """``Footer`` that recomposes only when its keys change, and drops the watchers of its removed
    keys before composing new ones."""

    _composed: tuple[Any, ...] | None = None  # what the keys on screen were composed from

    def _keys_shown(self) -> tuple[Any, ...] | None:
        """Everything ``Footer.compose`` reads to build the keys (None: it builds none yet)."""
        if not self._bindings_ready or not self.is_attached:
            return None
        app = self.app
        keys = tuple(
            (
                binding.key,
                binding.action,
                binding.description,
                binding.group,
                app.get_key_display(binding),
                enabled,
                tooltip,
            )
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show
        )
        return keys, self.show_command_palette and app.ENABLE_COMMAND_PALETTE

    async def recompose(self) -> None:
        if self._composed is not None and self._keys_shown() == self._composed:
            return  # the same keys would be built again
        await super().recompose()

    def compose(self) -> ComposeResult:
        self._composed = self._keys_shown()
        # recompose() has awaited the removal of the old keys: they are closed, and running the
        # watchers of `compact` prunes them (it also re-sets `compact` on no key: there is none yet).
        self.mutate_reactive(Footer.compact)
        yield from super().compose()
