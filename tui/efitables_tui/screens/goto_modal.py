"""Go to a physical address: a small modal that returns the address (or None)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from efitables_tui.text import parse_address


class GotoModal(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="goto-box", classes="modal-box"):
            yield Label("Go to physical address (hex: 7e0018, 0x7e0018, 7e0018h; decimal: #8257560)")
            yield Input(placeholder="0x…", id="goto-input")
            yield Label("", id="goto-error", classes="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        pa = parse_address(event.value)
        if pa is None:
            self.query_one("#goto-error", Label).update("not an address")
            return
        self.dismiss(pa)

    def action_cancel(self) -> None:
        self.dismiss(None)
