"""The efitables Textual app: one Dump, one main screen, the rest pushed over it.

First frame first: this module, the main screen and the widgets on it import Textual and nothing of
``efitables`` at module level (the ``efitables`` package imports every parser, which costs more than
Textual's own start-up). The dump is opened (when the app was given a :class:`DumpSource`) and parsed by
the main screen's worker once the first frame is on screen; see :mod:`efitables_tui.screens.dump_screen`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.binding import Binding
from textual.message import Message

from efitables_tui.screens.dump_screen import DumpScreen

if TYPE_CHECKING:
    from rich.console import RenderableType
    from textual.actions import ActionParseResult
    from textual.command import Provider
    from textual.dom import DOMNode
    from textual.screen import Screen, ScreenResultCallbackType

    from efitables.dump import Dump

#: Exit status of an app whose dump could not be opened (``efitables.cli.EXIT_OPEN``).
EXIT_OPEN = 2


@dataclass(frozen=True)
class DumpSource:
    """A dump the app opens itself, in its worker after the first frame: ``Dump.open(path, fmt, **options)``.

    ``options`` are :class:`~efitables.dump.Dump`'s keyword arguments (``boot_params``, ``systab``,
    ``scan``, ``exhaustive``, ``show_secrets``).
    """

    #: A file or URL, or the parts of one makedumpfile ``--split`` dump.
    path: str | list[str]
    fmt: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def open(self) -> Dump:
        from efitables.dump import Dump

        return Dump.open(self.path, self.fmt, **dict(self.options))


def _commands() -> type[Provider]:
    """The command palette's provider, imported when the palette first opens."""
    from efitables_tui.commands import EfitablesCommands

    return EfitablesCommands


class EfitablesApp(App[None]):
    """``efitables tui DUMP``: the structures of a memory dump, their bytes and their findings.

    ``dump`` is an opened :class:`~efitables.dump.Dump`, or a :class:`DumpSource` (or a path) that the app
    opens after its first frame; if that fails the app exits with :data:`EXIT_OPEN` and the error as its
    exit message.
    """

    CSS_PATH = "app.tcss"
    TITLE = "efitables"
    COMMANDS = App.COMMANDS | {_commands}
    #: On every screen; the footer keeps both at its right end whatever its width (widgets/footer.py).
    BINDINGS = [Binding("question_mark", "help", "Help"), Binding("q", "quit", "Quit")]

    class Loaded(Message):
        """The dump has been parsed (the tree is complete)."""

    def __init__(self, dump: Dump | DumpSource | str | os.PathLike[str], *, export_dir: str = ".") -> None:
        super().__init__()
        if isinstance(dump, str | os.PathLike):
            dump = DumpSource(os.fspath(dump))
        self.source: DumpSource | None = dump if isinstance(dump, DumpSource) else None
        self._dump: Dump | None = None if isinstance(dump, DumpSource) else dump
        self.export_dir = export_dir
        self.loaded = False
        #: Set by :meth:`exit`: from then on no action runs and no screen opens (see :meth:`run_action`).
        self.exiting = False

    @property
    def dump(self) -> Dump:
        """The opened Dump (:class:`LookupError` while a :class:`DumpSource` is still being opened)."""
        if self._dump is None:
            raise LookupError("the dump is not open yet")
        return self._dump

    @property
    def dump_open(self) -> bool:
        return self._dump is not None

    @property
    def dump_path(self) -> str:
        """The dump's path, known before it is opened."""
        if self.source is None:
            return str(self.dump.path)
        path = self.source.path
        return path if isinstance(path, str) else " + ".join(path)  # a split set, named as validate names it

    def open_dump(self) -> Dump:
        """The Dump, opened from :attr:`source` on the first call (the load worker calls this)."""
        if self._dump is None:
            assert self.source is not None
            self._dump = self.source.open()
        return self._dump

    def get_default_screen(self) -> DumpScreen:
        return DumpScreen()

    @property
    def dump_screen(self) -> DumpScreen:
        for s in self.screen_stack:
            if isinstance(s, DumpScreen):
                return s
        raise LookupError("no dump screen")

    def on_efitables_app_loaded(self, _: Loaded) -> None:
        self.loaded = True

    # -- shutdown: keys typed after 'q' -------------------------------------------------
    def exit(self, result: None = None, return_code: int = 0, message: RenderableType | None = None) -> None:
        self.exiting = True
        super().exit(result, return_code, message)

    async def run_action(
        self,
        action: str | ActionParseResult,
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        """Every key binding, footer click and ``App.run_action`` call comes through here; once the app is
        exiting the action is swallowed. Keys typed right after 'q' are still queued when it runs: 'm', 'c',
        'f' or '/' would push a screen onto an app that is closing its screens, whose ``on_mount`` then
        finds none of its widgets (Textual's ``NoMatches``, issue 19)."""
        if self.exiting:
            return True
        return await super().run_action(action, default_namespace, namespaces)

    def open_screen(self, screen: Screen[Any], callback: ScreenResultCallbackType[Any] | None = None) -> bool:
        """Push ``screen`` (with ``callback`` for its result) unless the app is exiting: the one way the
        app's own code opens a screen (actions, the command palette and worker results all go through it)."""
        if self.exiting:
            return False
        self.push_screen(screen, callback)
        return True

    def action_help(self) -> None:
        from efitables_tui.screens.help_screen import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.open_screen(HelpScreen())
