"""Search the parsed objects by GUID, name, kind or label; returns the chosen Node.

A full GUID also offers a scan of the dump's memory for its 16 on-disk bytes
(mixed-endian ``EFI_GUID``): the modal then returns those bytes, and the dump
screen runs the scan in a worker.
"""

from __future__ import annotations

import uuid

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from efitables_tui.nodes import DumpModel, Node
from efitables_tui.text import plain


def guid_bytes(text: str) -> bytes | None:
    """The EFI_GUID bytes (Data1-3 little-endian) of a GUID typed in canonical form, else None."""
    try:
        return uuid.UUID(text.strip()).bytes_le
    except ValueError:
        return None


class SearchModal(ModalScreen[Node | bytes | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("down", "focus_results", "Results", show=False)]

    def __init__(self, model: DumpModel, query: str = "") -> None:
        super().__init__()
        self.model = model
        self.initial = query
        self.results: list[Node] = []
        self.scan_bytes: bytes | None = None

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
        self.scan_bytes = guid_bytes(query)
        if self.scan_bytes is not None:
            label = plain(f"Scan the dump's memory for {query.strip().lower()} (EFI_GUID bytes)")
            ol.add_option(Option(label, id="scan"))
        self.query_one("#search-count", Label).update(f"{len(self.results)} match(es)" if query.strip() else "")
        if self.results or self.scan_bytes is not None:
            ol.highlighted = 0

    def _choose(self, i: int) -> None:
        if i < len(self.results):
            self.dismiss(self.results[i])
        elif self.scan_bytes is not None:
            self.dismiss(self.scan_bytes)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        ol = self.query_one("#search-results", OptionList)
        if ol.option_count:
            self._choose(ol.highlighted or 0)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option_index)

    def action_focus_results(self) -> None:
        self.query_one("#search-results", OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)


class AddressListModal(ModalScreen[int | None]):
    """Addresses where a memory search found its bytes; returns the chosen one."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, addresses: list[int]) -> None:
        super().__init__()
        self.addresses = addresses

    def compose(self) -> ComposeResult:
        with Vertical(id="search-box", classes="modal-box"):
            yield Label(f"Found at {len(self.addresses)} address(es); enter: hex view there")
            yield OptionList(*[Option(f"{pa:#x}", id=str(i)) for i, pa in enumerate(self.addresses)], id="hits")

    def on_mount(self) -> None:
        self.query_one("#hits", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.addresses[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
