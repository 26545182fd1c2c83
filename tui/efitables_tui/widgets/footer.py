"""The key footer: help and quit always in view at its right end, keys composed once and again only on change.

Layout. Help (``?``) and quit (``q``) sit at the right end, beside the command palette's key, whatever the
terminal's width; the screen's other keys fill the rest from the left, in binding order, as far as they fit.
Below :data:`WIDE` columns the footer is compact (less padding), uses the short descriptions of
:data:`SHORT` and shows the palette's key without its description; a key that still does not fit is left
out (every key is also in the help screen and the command palette). The layout is recomputed when the
footer is resized.

Composing. At start-up the main screen's bindings are refreshed three times in a row (the screen is shown,
the tree is focused, and focusing refreshes them once more after a refresh); Textual's footer recomposes its
keys for each (about 15 ms apiece), each after the next refresh, so the keys appear a few frames after the
rest of the first screen and the later recomposes compete with the parser for the interpreter. This footer
composes its keys on the first change at once (on the next message), then queues at most one recompose
(after a refresh, as Textual's does) and skips it when the keys it would show are the ones on screen.

Written against the pinned Textual (8.2.8): ``Footer.bindings_changed``, ``_bindings_ready``, what
``Footer.compose`` reads and ``FooterKey``'s padding and margins (its compact and regular CSS).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey

if TYPE_CHECKING:
    from textual import events
    from textual.screen import Screen

#: Actions always shown, at the right end (in this order): the help screen and quit.
ESSENTIAL = ("help", "quit")
#: At this many columns and more the footer has Textual's regular padding and the full descriptions.
WIDE = 120
#: Descriptions in a narrow footer.
SHORT = {"Memory map": "Map", "Cancel scan": "Cancel", "Go to": "Goto"}
#: Cells kept free between the keys on the left and the ones at the right end.
SLACK = 1


@dataclass(frozen=True)
class Key:
    """One key as the footer shows it."""

    key: str
    display: str
    description: str
    action: str
    enabled: bool
    tooltip: str

    def cells(self, compact: bool) -> int:
        """Cells it takes: ``k desc`` and one cell of margin (compact), or `` k desc `` (Textual's regular
        padding: one cell either side of the key, one after the description)."""
        text = len(self.display) + (1 + len(self.description) if self.description else 0)
        return text + 1 if compact else text + 2


@dataclass(frozen=True)
class Plan:
    """What the footer shows at one width."""

    compact: bool
    keys: tuple[Key, ...]
    essential: tuple[Key, ...]
    palette: Key | None
    #: Keys of the screen left out for want of room.
    dropped: int


def plan(keys: Iterable[Key], palette: Key | None, width: int) -> Plan:
    """Which keys fit in ``width`` columns, help and quit first (see the module docstring)."""
    compact = 0 < width < WIDE
    keys = list(keys)
    if compact:
        keys = [
            Key(k.key, k.display, SHORT.get(k.description, k.description), k.action, k.enabled, k.tooltip) for k in keys
        ]
        if palette is not None:
            palette = Key(palette.key, palette.display, "", palette.action, palette.enabled, palette.tooltip)
    essential = tuple(k for a in ESSENTIAL for k in keys if k.action == a)
    rest = [k for k in keys if k.action not in ESSENTIAL]
    used = SLACK + sum(k.cells(compact) for k in essential)
    if palette is not None:
        used += palette.cells(compact) + 1 + (0 if compact else 1)  # its left border, and padding
    shown: list[Key] = []
    if width <= 0:
        shown = rest  # not laid out yet: everything, as Textual's footer would
    else:
        for k in rest:
            need = k.cells(compact)
            if used + need > width:
                break
            shown.append(k)
            used += need
    return Plan(compact, tuple(shown), essential, palette, len(rest) - len(shown))


class _Spacer(Widget):
    """The room between the screen's keys and the essential ones."""

    def render(self) -> str:
        return ""


class Footer(TextualFooter):
    # The essential keys follow a spacer that takes the room left (no nested container: a container's children
    # mount a round-trip later, and the recompose's batch would hold the first frame back until they have).
    DEFAULT_CSS = """
    Footer > .footer-spacer {
        width: 1fr;
        height: 1;
    }
    """

    _recompose_queued = False
    _shown: Hashable = None
    #: What is on screen now.
    layout_plan: Plan | None = None

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        self._queue_recompose()

    def _queue_recompose(self) -> None:
        if self._recompose_queued:
            return
        self._recompose_queued = True
        if self._shown is None:
            self.call_next(self._recompose_keys)
        else:
            self.call_after_refresh(self._recompose_keys)

    def on_resize(self, event: events.Resize) -> None:
        if self._shown is not None and self.is_attached and self._plan() != self.layout_plan:
            self._queue_recompose()

    def _width(self) -> int:
        return self.size.width or self.app.size.width

    def _plan(self) -> Plan:
        active = self.screen.active_bindings
        keys: list[Key] = []
        seen: set[str] = set()
        for _node, b, enabled, tooltip in active.values():
            if not b.show or b.action in seen:
                continue  # one key per action, as Textual's footer
            seen.add(b.action)
            keys.append(Key(b.key, self.app.get_key_display(b), b.description, b.action, enabled, tooltip))
        palette: Key | None = None
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            found = active.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None:
                _node, b, enabled, _tooltip = found
                palette = Key(
                    b.key, self.app.get_key_display(b), b.description, b.action, enabled, b.tooltip or b.description
                )
        return plan(keys, palette, self._width())

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        p = self.layout_plan = self._plan()
        self.set_reactive(TextualFooter.compact, p.compact)
        self.set_class(p.compact, "-compact")
        for k in p.keys:
            yield self._key(k, p.compact)
        yield _Spacer(classes="footer-spacer")
        for k in p.essential:
            yield self._key(k, p.compact)
        if p.palette is not None:
            yield self._key(p.palette, p.compact, classes="-command-palette")  # (docked right by Textual's CSS)

    @staticmethod
    def _key(k: Key, compact: bool, classes: str = "") -> FooterKey:
        if compact:
            classes += " -compact"
        fk = FooterKey(
            k.key, k.display, k.description, k.action, disabled=not k.enabled, tooltip=k.tooltip, classes=classes
        )
        fk.set_reactive(FooterKey.compact, compact)
        return fk

    async def _recompose_keys(self) -> None:
        self._recompose_queued = False  # a change from now on queues another
        if not self.is_attached:
            return  # (its screen was dismissed meanwhile)
        keys = self._plan()
        if keys != self._shown:
            self._shown = keys
            await self.recompose()
