"""The E820 table and the EFI memory map: a picture of the address space above a table of every region.

The picture (:class:`~efitables_tui.widgets.memory_bar.MemoryBar`) colours the address space by memory class
on a log scale, with the objects efitables found placed on it; the row highlighted in the table (an E820
entry or an EFI descriptor, with the parsed objects that lie in it) is marked on the picture. Enter on a
region returns its start address (the dump screen shows the hex there, inside the object that holds it,
if any).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from efitables.dump import Dump
from efitables.efi.hits import ScanCancelled
from efitables.regions import EFI, Region
from efitables.schemas.efi_memmap import attribute_names
from efitables_tui.nodes import DumpModel, Node
from efitables_tui.text import plain
from efitables_tui.widgets.footer import Footer
from efitables_tui.widgets.memory_bar import MemoryBar, markers_of

#: Kinds that are map entries themselves (not "objects placed on the map").
MAP_KINDS = {"EFI_MEMORY_DESCRIPTOR", "boot_e820_entry", "EFI_MEMORY_MAP", "e820_table", "range", "dump", "ranges"}
MAX_ROWS = 20_000

T = TypeVar("T")


def regions(dump: Dump) -> list[Region]:
    """E820 entries and EFI memory descriptors (efitables.regions), sorted by start.

    Either map may be absent or unparsable (the tree shows that error).
    """
    rmap = _area(lambda: dump.regions)
    if rmap is None:
        return []
    out = rmap.e820_regions[:MAX_ROWS] + rmap.efi_regions[:MAX_ROWS]
    out.sort(key=lambda r: (r.start, r.source))
    return out


def _area(get: Callable[[], T | None]) -> T | None:
    """An area of the Dump, or None when its parser failed (the tree shows that error)."""
    try:
        return get()
    except ScanCancelled:
        raise
    except Exception:  # noqa: BLE001
        return None


def objects_in(model: DumpModel, start: int, end: int) -> list[Node]:
    placed = [n for n in model.nodes if n.obj is not None and n.address is not None and n.kind not in MAP_KINDS]
    placed.sort(key=lambda n: n.address or 0)
    starts = [n.address or 0 for n in placed]
    lo = bisect.bisect_left(starts, start)
    hi = bisect.bisect_left(starts, end)
    return placed[lo:hi]


def present_text(dump: Dump, start: int, end: int) -> str:
    mem = dump.memory
    if end <= start:
        return "-"
    if mem.is_readable(start, end - start):
        return "yes"
    have = 0
    for r in mem.ranges():
        lo, hi = max(r.start, start), min(r.end, end)
        if lo < hi:
            have += hi - lo
    return "no" if have == 0 else f"{100 * have // (end - start)}%"


class MemoryMapScreen(Screen[int | None]):
    BINDINGS = [Binding("escape,m", "close", "Back")]

    def __init__(self, dump: Dump, model: DumpModel) -> None:
        super().__init__()
        self.dump = dump
        self.model = model
        self.rows: list[Region] = []

    def compose(self) -> ComposeResult:
        rmap = _area(lambda: self.dump.regions)
        e820 = rmap.e820_regions[:MAX_ROWS] if rmap is not None else []
        efi = rmap.efi_regions[:MAX_ROWS] if rmap is not None else []
        yield Header()
        yield Static("", id="memmap-summary", classes="pane-title")
        yield MemoryBar(e820, efi, self.dump.memory.ranges(), markers_of(self.model), id="memmap-bar")
        yield DataTable(id="memmap-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.rows = regions(self.dump)
        t = self.query_one("#memmap-table", DataTable)
        widths = {
            "map": 4,
            "#": 4,
            "start": 14,
            "end": 14,
            "size": 12,
            "type": 28,
            "attributes": 24,
            "in dump": 7,
            "objects": 80,
        }
        for c, w in widths.items():
            t.add_column(c, key=c, width=w)  # fixed: no re-measuring, the same picture every time
        placed_total = 0
        for i, r in enumerate(self.rows):
            objs = objects_in(self.model, r.start, r.end)
            placed_total += len(objs)
            names = ", ".join(o.label for o in objs[:4]) + (f" (+{len(objs) - 4})" if len(objs) > 4 else "")
            t.add_row(
                Text(r.source, style="bold cyan" if r.source == "EFI" else "bold magenta"),
                Text("" if r.index is None else str(r.index)),
                Text(f"{r.start:#x}", justify="right"),
                Text(f"{r.end:#x}", justify="right"),
                Text(f"{r.end - r.start:#x}", justify="right"),
                plain(r.type_name),
                plain("|".join(attribute_names(r.attribute)) if r.source == EFI else "", limit=60),
                Text(present_text(self.dump, r.start, r.end)),
                plain(names, limit=160),
                key=str(i),
            )
        n_e820 = sum(1 for r in self.rows if r.source == "E820")
        n_efi = len(self.rows) - n_e820
        summary = f"Memory map: {n_e820} E820 entries, {n_efi} EFI descriptors — enter: hex view at the region"
        if not self.rows:
            summary = "Memory map: this dump has neither an E820 table nor an EFI memory map that could be parsed"
        self.query_one("#memmap-summary", Static).update(Text(summary))
        t.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        i = event.cursor_row
        r = self.rows[i] if 0 <= i < len(self.rows) else None
        self.query_one(MemoryBar).select(None if r is None else (r.start, r.end))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        i = event.cursor_row
        if 0 <= i < len(self.rows):
            self.dismiss(self.rows[i].start)

    def action_close(self) -> None:
        self.dismiss(None)
