"""A table of findings (severity, code, structure, address, message); selecting one posts it.

The main screen's copy is on the first screen, drawn before anything of efitables is imported: the text
helpers are imported where findings are shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

if TYPE_CHECKING:
    from efitables.findings import Finding


class FindingsTable(DataTable[Text]):
    class FindingSelected(Message):
        def __init__(self, table: FindingsTable, finding: Finding) -> None:
            super().__init__()
            self.table = table
            self.finding = finding

        @property
        def control(self) -> FindingsTable:
            return self.table

    def __init__(
        self,
        *,
        show_structure: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, name=name, id=id, classes=classes)
        self.show_structure = show_structure
        self.items: list[Finding] = []
        # Fixed widths: rendering never waits for (or races with) column measuring.
        self.add_column("severity", key="severity", width=8)
        self.add_column("code", key="code", width=30)
        if self.show_structure:
            self.add_column("structure", key="structure", width=26)
            self.add_column("address", key="address", width=12)
        self.add_column("message", key="message", width=160)

    def show_findings(self, findings: list[Finding]) -> None:
        from efitables_tui.text import hexa, plain, sev_text

        self.clear()
        self.items = list(findings)
        for i, f in enumerate(self.items):
            cells = [sev_text(f.severity), plain(f.code)]
            if self.show_structure:
                cells += [plain(f.structure, limit=60), Text(hexa(f.address), justify="right")]
            cells.append(plain(f.message, limit=400))
            self.add_row(*cells, key=str(i))

    @property
    def current(self) -> Finding | None:
        if not self.items or not 0 <= self.cursor_row < len(self.items):
            return None
        return self.items[self.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        f = self.current
        if f is not None:
            self.post_message(self.FindingSelected(self, f))
