"""The selected object's sub-tables (``Parsed.table_views()``: entries, ranges, strings) below its fields.

Each :class:`~efitables.model.TableView` becomes a Rich table of non-markup
``Text`` cells (the cells came out of a dump). The pane is hidden for objects
without tables and scrolls when the tables are taller than it. It is on the first screen, drawn before
anything of efitables is imported: the text helpers are imported where tables are made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

if TYPE_CHECKING:
    from efitables.model import TableView

#: Rows shown per table (the JSON export and ``efitables show`` have them all).
MAX_TABLE_ROWS = 500


def render_table(view: TableView) -> Table:
    from efitables_tui.text import plain

    t = Table(
        title=plain(view.title, "bold", limit=160),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        expand=False,
    )
    for c in view.columns:
        t.add_column(plain(c, limit=40), overflow="fold")
    for row in view.rows[:MAX_TABLE_ROWS]:
        t.add_row(*(plain(cell) for cell in row))
    if len(view.rows) > MAX_TABLE_ROWS:
        t.caption = Text(f"first {MAX_TABLE_ROWS} of {len(view.rows)} rows", style="dim")
        t.caption_justify = "left"
    return t


class ObjectTables(VerticalScroll):
    """Tables of one node; :meth:`show_tables` replaces them (an empty list hides the pane)."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.views: list[TableView] = []
        self.body = Static("", id="object-tables-body")
        self.display = False

    def compose(self) -> ComposeResult:
        yield self.body

    def show_tables(self, views: list[TableView]) -> None:
        self.views = list(views)
        self.display = bool(self.views)
        self.body.update(Group(*(render_table(v) for v in self.views)) if self.views else "")
        self.scroll_home(animate=False)
