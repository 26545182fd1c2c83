"""Key bindings and what each view shows."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: list[tuple[str, str]] = [
    ("↑ ↓ ← → / enter", "move in the tree (the selected object's fields, bytes and findings show at once)"),
    ("tab / shift+tab", "cycle focus: tree → fields → tables → hex view → object findings"),
    ("g", "go to a physical address (hex view there, inside the object that holds it)"),
    ("/", "search objects by GUID, name or kind; a full GUID can also be searched for in memory"),
    ("f", "findings of the whole dump (enter jumps to the object)"),
    (
        "m",
        "memory map: the address space as a picture (log scale, coloured by memory class, the objects found"
        " marked; the selected region zoomed) above E820 and the EFI memory map",
    ),
    ("c", "coverage: kexec identity-map models and their verdicts"),
    ("y", "copy the selected field's value (OSC 52 clipboard)"),
    (
        "e",
        "export the selected object as JSON: asks where (enter writes, escape cancels; an existing file is"
        " overwritten only after a second enter)",
    ),
    ("x", "cancel the signature scan (parse from the hints alone) or a memory search"),
    ("ctrl+p", "command palette: every command, and jump to any object by name"),
    ("?", "this help (from every screen)"),
    ("q", "quit"),
]

HEX_KEYS: list[tuple[str, str]] = [
    ("arrows", "move the byte cursor; the field under it is highlighted in the fields table"),
    ("pageup / pagedown", "a screen up or down"),
    ("home / end", "start or end of the line"),
    ("ctrl+home / ctrl+end", "start or end of the window (the physical range, at most ±256 MiB)"),
]


def _table(title: str, rows: list[tuple[str, str]]) -> Table:
    t = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    t.add_column("key", style="bold", no_wrap=True)
    t.add_column("does")
    for k, v in rows:
        t.add_row(k, v)
    return t


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box", classes="modal-box"):
            yield Static("[b]efitables tui[/b] — EFI, boot_params, setup_data and SEV-SNP structures of a memory dump")
            yield Static(_table("Keys", KEYS))
            yield Static(_table("Hex view", HEX_KEYS))
            yield Static(
                "Bytes: [dim]--[/] not in the dump, [red]**[/] secret (start with --show-secrets to reveal). "
                "Tree marks: [bold red]E[/] error, [yellow]W[/] warning, [cyan]i[/] info (worst finding below)."
            )

    def action_close(self) -> None:
        self.dismiss(None)
