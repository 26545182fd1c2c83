"""The selected object's fields: name, offset, size, value in hex and decimal, and its meaning.

Rows come from ``Parsed.layout()`` (fields with their offsets inside the
structure, so the hex view can highlight them), then the object's facts
(``Parsed.facts()``, the label/value rows ``efitables show`` prints; no offset),
or, for nodes without a Parsed object (the container, discovery), their
key/value rows. Every cell is a non-markup ``Text``.

The table is on the first screen, drawn before anything of efitables is imported: the text helpers are
imported where rows are made (a node exists only once the parser has loaded them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

if TYPE_CHECKING:
    from efitables_tui.nodes import Node


@dataclass(frozen=True)
class FieldRow:
    name: str
    offset: int | None  # inside the structure; None for attributes and info rows
    size: int
    value: object
    hex: str
    dec: str
    meaning: str
    address: int | None  # physical address of the field's first byte

    @property
    def span(self) -> tuple[int, int] | None:
        if self.address is None or self.size <= 0:
            return None
        return (self.address, self.address + self.size)

    @property
    def copy_text(self) -> str:
        """What "copy value" puts on the clipboard."""
        return self.hex or self.meaning or str(self.value)


def rows_for(node: Node) -> list[FieldRow]:
    from efitables_tui.text import int_cells, value_int, value_meaning

    rows: list[FieldRow] = []
    obj = node.obj
    raw = bytes(obj.raw) if obj is not None and obj.raw else b""
    for span in node.layout():
        v = value_int(span.value, raw, span.offset, span.size)
        h, d = int_cells(v)
        addr = None if node.address is None else node.address + span.offset
        rows.append(FieldRow(span.name, span.offset, span.size, span.value, h, d, value_meaning(span.value), addr))
    for label, text in node.facts():
        rows.append(FieldRow(label, None, 0, text, "", "", text, None))
    return rows


def value_text(r: FieldRow) -> Text:
    """Hex for integers, then the enum or flag names (or the value itself for strings, GUIDs, bytes)."""
    from efitables_tui.text import MAX_VALUE, plain

    t = Text(r.hex)
    if r.meaning:
        if r.hex:
            t.append(" ")
        t.append_text(plain(r.meaning, "cyan" if r.hex else "", limit=MAX_VALUE))
    return t


class FieldsTable(DataTable[Text]):
    """Fields of one node; highlighting a row posts :class:`FieldHighlighted`."""

    class FieldHighlighted(Message):
        def __init__(self, table: FieldsTable, row: FieldRow | None) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> FieldsTable:
            return self.table

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, name=name, id=id, classes=classes)
        self.rows_data: list[FieldRow] = []
        self._quiet = False
        # columns exist before any row can be added (show_node may run before on_mount)
        # Fixed widths: rendering never waits for (or races with) column measuring.
        self.add_column("field", key="field", width=24)
        self.add_column("offset", key="offset", width=7)
        self.add_column("size", key="size", width=4)
        self.add_column("value", key="value", width=40)
        self.add_column("decimal", key="dec", width=20)

    def show_node(self, node: Node | None) -> None:
        from efitables_tui.text import plain

        self.clear()
        try:
            self.rows_data = rows_for(node) if node is not None else []
        except Exception as e:  # noqa: BLE001  (an odd parsed value must not take the UI down)
            self.rows_data = [FieldRow("error", None, 0, str(e), "", "", f"fields unavailable: {e}", None)]
        for i, r in enumerate(self.rows_data):
            self.add_row(
                plain(r.name, "bold"),
                Text("" if r.offset is None else f"+{r.offset:#x}", style="dim"),
                Text("" if r.offset is None else str(r.size), style="dim"),
                value_text(r),
                plain(r.dec, "dim"),
                key=str(i),
            )

    @property
    def current(self) -> FieldRow | None:
        if not self.rows_data or self.cursor_row < 0 or self.cursor_row >= len(self.rows_data):
            return None
        return self.rows_data[self.cursor_row]

    def select_address(self, pa: int) -> FieldRow | None:
        """Move the cursor to the field holding ``pa`` without echoing a FieldHighlighted."""
        for i, r in enumerate(self.rows_data):
            sp = r.span
            if sp and sp[0] <= pa < sp[1]:
                if i != self.cursor_row:
                    self._quiet = True
                    self.move_cursor(row=i)
                return r
        return None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if self._quiet:
            self._quiet = False
            return
        self.post_message(self.FieldHighlighted(self, self.current))
