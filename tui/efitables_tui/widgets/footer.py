"""Textual's footer, composing its keys at once the first time, and again only when they change.

At start-up the main screen's bindings are refreshed three times in a row (the screen is shown, the tree
is focused, and focusing refreshes them once more after a refresh); Textual's footer recomposes its ten
keys for each (about 15 ms apiece), each after the next refresh, so the keys appear a few frames after the
rest of the first screen and the later recomposes compete with the parser for the interpreter. This footer
composes its keys on the first change at once (on the next message), then queues at most one recompose
(after a refresh, as Textual's does) and skips it when the keys it would show are the ones on screen.
Written against the pinned Textual (8.2.8): ``Footer.bindings_changed``, ``_bindings_ready`` and what
``Footer.compose`` reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer as TextualFooter

if TYPE_CHECKING:
    from collections.abc import Hashable

    from textual.screen import Screen


class Footer(TextualFooter):
    _recompose_queued = False
    _shown: Hashable = None

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if self._recompose_queued:
            return
        self._recompose_queued = True
        if self._shown is None:
            self.call_next(self._recompose_keys)
        else:
            self.call_after_refresh(self._recompose_keys)

    def _keys(self) -> Hashable:
        """What ``Footer.compose`` makes the keys of."""
        active = self.screen.active_bindings
        shown = tuple(
            (b.key, b.key_display, b.description, b.action, b.group, enabled, tooltip)
            for (_node, b, enabled, tooltip) in active.values()
            if b.show
        )
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        return (shown, palette and (palette.binding.key, palette.enabled, palette.tooltip), self.compact)

    async def _recompose_keys(self) -> None:
        self._recompose_queued = False  # a change from now on queues another
        keys = self._keys()
        if keys != self._shown:
            self._shown = keys
            await self.recompose()
