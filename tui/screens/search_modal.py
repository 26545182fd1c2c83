"""Search the parsed objects by GUID, name, kind or label; returns the chosen Node."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from efitables_tui.nodes import DumpModel, Node
from efitables_tui.text import plain


class SearchModal(ModalScreen[Node | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("down", "focus_results", "Results", show=False)]

    def __init__(self, model: DumpModel, query: str = "") -> None:
        super().__init__()
        self.model = model
        self.initial = query
        self.results: list[Node] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="search-box", classes="modal-box"):
            yield Label("Search by GUID, name or kind (e.g. acpi, 8868e871, EFI_MEMORY_DESCRIPTOR)")
            yield Input(value=self.initial, placeholder="GUID or name", id="search-input")
            yield OptionList(id="search-results")
            yield Label("", id="search-count")

    def on_mount(self) -> None:
        self._update(self.initial)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._update(event.value)

    def _update(self, query: str) -> None:
        self.results = self.model.search(query)
        ol = self.query_one("#search-results", OptionList)
        ol.clear_options()
        for i, n in enumerate(self.results):
            text = plain(n.path, limit=160)
            if n.address is not None:
                text.append(f"  @{n.address:#x}", style="dim")
            ol.add_option(Option(text, id=str(i)))
        self.query_one("#search-count", Label).update(f"{len(self.results)} match(es)" if query.strip() else "")
        if self.results:
            ol.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.results:
            ol = self.query_one("#search-results", OptionList)
            i = ol.highlighted or 0
            self.dismiss(self.results[i])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.results[event.option_index])

    def action_focus_results(self) -> None:
        self.query_one("#search-results", OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
