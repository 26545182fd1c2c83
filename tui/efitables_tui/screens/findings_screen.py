"""Every finding of the dump; enter returns the chosen one (the dump screen jumps to its object)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Header, Static

from efitables.findings import Finding, Severity
from efitables_tui.widgets.findings_table import FindingsTable
from efitables_tui.widgets.footer import Footer


class FindingsScreen(Screen[Finding | None]):
    BINDINGS = [Binding("escape,f", "close", "Back")]

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__()
        self.findings = findings

    def compose(self) -> ComposeResult:
        yield Header()
        counts = {s: sum(1 for f in self.findings if f.severity == s) for s in Severity}
        summary = (
            f"Findings: {len(self.findings)}  "
            f"([bold red]{counts[Severity.ERROR]} error[/], [yellow]{counts[Severity.WARNING]} warning[/], "
            f"[cyan]{counts[Severity.INFO]} info[/])  — enter: go to the object"
        )
        yield Static(summary, id="findings-summary", classes="pane-title")
        yield FindingsTable(id="all-findings")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one(FindingsTable)
        t.show_findings(self.findings)
        t.focus()

    def on_findings_table_finding_selected(self, event: FindingsTable.FindingSelected) -> None:
        self.dismiss(event.finding)

    def action_close(self) -> None:
        self.dismiss(None)
