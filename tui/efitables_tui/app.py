"""The efitables Textual app: one Dump, one main screen, the rest pushed over it."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding
from textual.message import Message

from efitables.dump import Dump
from efitables_tui.commands import EfitablesCommands
from efitables_tui.screens.dump_screen import DumpScreen
from efitables_tui.text import printable


class EfitablesApp(App[None]):
    """``efitables tui DUMP``: the structures of a memory dump, their bytes and their findings."""

    CSS_PATH = "app.tcss"
    TITLE = "efitables"
    COMMANDS = App.COMMANDS | {EfitablesCommands}
    BINDINGS = [Binding("q", "quit", "Quit")]

    class Loaded(Message):
        """The dump has been parsed (the tree is complete)."""

    def __init__(self, dump: Dump, *, export_dir: str = ".") -> None:
        super().__init__()
        self.dump = dump
        self.sub_title = printable(str(dump.path))  # screens pushed over the dump screen show it too
        self.export_dir = export_dir
        self.loaded = False

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
