"""The physical address space as a picture: bars of cells coloured by memory class, with the objects found.

Rows, each one cell per column across the width:

* an axis with addresses (``1M``, ``16M``, ``4G``...) at the cells that hold them;
* ``dump``: the cells with bytes in the dump (its physical ranges);
* ``E820`` and ``EFI``: each cell coloured by the memory class (:class:`efitables.regions.MemoryClass`, through
  :attr:`Region.kept <efitables.regions.Region.kept>` and :attr:`~efitables.regions.Region.reused`) of the E820
  entries / EFI memory descriptors it covers, the class of most of its bytes: kept (firmware and ACPI
  memory, runtime services, reserved), boot-time (boot-services memory the kernel frees), free (RAM the
  kernel allocates from), unusable; a cell no entry reaches is a gap (a hole in the map), one less than half
  covered is shaded (:data:`PARTLY`), so that neither a small region nor a large hole disappears;
* the selected region (a row of the table under the bar), marked under the bars, with its bounds;
* ``found``: a letter at each object efitables found (:data:`MARKERS`: the system table, the configuration
  table array, boot_params, setup_data nodes, the CC blob, the SNP secrets and CPUID pages);
* ``zoom``: the selected region alone, on a linear scale, coloured by the EFI memory map (else E820), with the
  objects in it;
* the legend.

The scale is logarithmic (:class:`LogScale`): every cell covers the same ratio of addresses, from 4 KiB
to the top of the map rounded up to a power of two, so the low 1 MiB (legacy BIOS area, zero page, trampoline)
gets as many cells as the next 255 MiB and the hole below 4 GiB stays in view next to gigabytes of RAM.
The legend says so.

The arithmetic is plain Python (:func:`cell_classes`, :func:`marker_cells`), bounded by the width and by
the number of regions (a difference array: O(regions + width), whatever the regions' sizes or overlaps).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rich.console import Group
from rich.text import Text
from textual.widget import Widget

from efitables.memory.base import PhysRange
from efitables.regions import MemoryClass, Region
from efitables_tui.nodes import DumpModel

#: Lowest address with a cell boundary of its own: [0, LOW) is in the first cell.
LOW = 0x1000
#: Fewest cells a bar is drawn with (a narrower widget shows the first ones).
MIN_CELLS = 16
#: Width of the row names (``dump``, ``E820``...) before the cells.
LABEL = 6
#: Most markers placed (a hostile setup_data chain could have tens of thousands of nodes).
MAX_MARKERS = 4096

KEPT = "kept"
BOOT = "boot-time"
FREE = "free"
UNUSABLE = "unusable"
PRESENT = "present"
#: Memory classes in the order ties are broken (the first wins) and the legend lists them.
CLASSES = (KEPT, BOOT, FREE, UNUSABLE)
CLASS_STYLE = {
    KEPT: "green",
    BOOT: "yellow",
    FREE: "blue",
    UNUSABLE: "bright_black",
    PRESENT: "grey50",
}
#: Object kind -> (letter, what) for the "found" row.
MARKERS: dict[str, tuple[str, str]] = {
    "EFI_SYSTEM_TABLE": ("S", "systab"),
    "EFI_CONFIGURATION_TABLE_ARRAY": ("C", "config tables"),
    "boot_params": ("B", "boot_params"),
    "setup_data": ("D", "setup_data"),
    "cc_blob_sev_info": ("K", "CC blob"),
    "snp_secrets_page": ("X", "secrets page"),
    "snp_cpuid_table": ("P", "CPUID page"),
}
LETTERS = {letter: what for letter, what in MARKERS.values()}
#: A cell holding markers of several kinds.
MANY = "*"
SELECTED = "▀"
BLOCK = "█"
#: A cell less than half covered by the map's regions (the rest is a hole).
PARTLY = "▒"


def region_class(r: Region) -> str:
    """What the kernel does with the region's memory (:mod:`efitables.regions`' one policy)."""
    if r.kept:
        return KEPT
    if r.reused:
        return BOOT if r.memory_class is MemoryClass.BOOT_TIME else FREE
    return UNUSABLE


class LogScale:
    """Addresses to cells, logarithmically: cell ``i`` covers ``[edge(i), edge(i + 1))``, with
    ``edge(i) = LOW * (top / LOW) ** (i / cells)`` (cell 0 from 0)."""

    def __init__(self, top: int, cells: int) -> None:
        self.cells = max(1, cells)
        self.bottom = 0
        self.top = max(top, LOW * 2)
        self._span = math.log2(self.top / LOW)
        self.edges = [0] + [round(LOW * 2 ** (self._span * i / self.cells)) for i in range(1, self.cells)]
        self.edges.append(self.top)

    @classmethod
    def covering(cls, ends: Iterable[int], cells: int) -> LogScale:
        """A scale up to the highest of ``ends`` rounded up to a power of two (at least 1 MiB)."""
        top = max([1 << 20, *ends])
        return cls(1 << (top - 1).bit_length(), cells)

    @property
    def ratio(self) -> float:
        """How many times higher the addresses of a cell are than those of the one before."""
        return float(2 ** (self._span / self.cells))

    def cell(self, pa: int) -> int:
        if pa < self.edges[1]:
            return 0
        if pa >= self.top:
            return self.cells - 1
        i = int(math.log2(pa / LOW) / self._span * self.cells)
        # (float rounding: settle against the integer edges)
        while i > 0 and pa < self.edges[i]:
            i -= 1
        while i < self.cells - 1 and pa >= self.edges[i + 1]:
            i += 1
        return i

    def span(self, cell: int) -> tuple[int, int]:
        return self.edges[cell], self.edges[cell + 1]


class LinearScale:
    """``[bottom, top)`` to cells linearly (the zoom row)."""

    def __init__(self, bottom: int, top: int, cells: int) -> None:
        self.cells = max(1, cells)
        self.bottom, self.top = bottom, max(top, bottom + self.cells)
        size = self.top - self.bottom
        self.edges = [self.bottom + size * i // self.cells for i in range(self.cells + 1)]

    def cell(self, pa: int) -> int:
        return min(self.cells - 1, max(0, (pa - self.bottom) * self.cells // (self.top - self.bottom)))

    def span(self, cell: int) -> tuple[int, int]:
        return self.edges[cell], self.edges[cell + 1]


class Fill(NamedTuple):
    """What a cell of a bar shows: the class with most bytes in it (None: no region reaches it) and the part of
    the cell the regions cover (a cell less than half covered is drawn with :data:`PARTLY`)."""

    cls: str | None
    covered: float


def cell_classes(scale: LogScale | LinearScale, spans: Iterable[tuple[int, int, str]]) -> list[Fill]:
    """Each cell's :class:`Fill` from ``(start, end, class)`` spans (ties: :data:`CLASSES` order)."""
    n = scale.cells
    names = list(CLASSES) + [PRESENT]
    partial = {c: [0] * n for c in names}
    # Cells a span covers whole are counted with a difference array: O(spans + cells) whatever the sizes.
    whole = {c: [0] * (n + 1) for c in names}
    for start, end, cls in spans:
        start, end = max(scale.bottom, start), min(end, scale.top)
        if end <= start:
            continue
        c0, c1 = scale.cell(start), scale.cell(end - 1)
        if c0 == c1:
            partial[cls][c0] += end - start
            continue
        partial[cls][c0] += scale.edges[c0 + 1] - start
        partial[cls][c1] += end - scale.edges[c1]
        whole[cls][c0 + 1] += 1
        whole[cls][c1] -= 1
    out: list[Fill] = []
    running = dict.fromkeys(names, 0)
    for i in range(n):
        lo, hi = scale.span(i)
        best: str | None = None
        best_bytes = covered = 0
        for c in names:
            running[c] += whole[c][i]
            b = partial[c][i] + running[c] * (hi - lo)
            covered += b
            if b > best_bytes:
                best, best_bytes = c, b
        out.append(Fill(best, min(1.0, covered / max(1, hi - lo))))
    return out


@dataclass(frozen=True)
class Marker:
    address: int
    letter: str
    label: str


def markers_of(model: DumpModel) -> list[Marker]:
    """The objects the "found" row places (:data:`MARKERS`), at most :data:`MAX_MARKERS`."""
    out: list[Marker] = []
    for n in model.nodes:
        m = MARKERS.get(n.kind)
        if m is not None and n.obj is not None and n.address is not None:
            out.append(Marker(n.address, m[0], n.label))
            if len(out) >= MAX_MARKERS:
                break
    return out


def marker_cells(scale: LogScale | LinearScale, markers: Iterable[Marker]) -> dict[int, str]:
    """Cell -> the letter of the objects in it (:data:`MANY` for objects of several kinds)."""
    cells: dict[int, str] = {}
    for m in markers:
        c = scale.cell(m.address)
        cells[c] = m.letter if cells.get(c, m.letter) == m.letter else MANY
    return cells


def short_address(pa: int) -> str:
    """``1M``, ``16M``, ``4G``: a power-of-two address as the axis labels it."""
    for shift, unit in ((40, "T"), (30, "G"), (20, "M"), (10, "K")):
        if pa >= 1 << shift and pa % (1 << shift) == 0:
            return f"{pa >> shift}{unit}"
    return f"{pa:#x}"


class MemoryBar(Widget):
    """The address-space picture of one dump (see the module docstring); :meth:`select` marks a span."""

    DEFAULT_CSS = """
    MemoryBar {
        height: auto;
        padding: 0 1;
        background: $boost;
    }
    """

    def __init__(
        self,
        e820: Sequence[Region],
        efi: Sequence[Region],
        ranges: Sequence[PhysRange],
        markers: Sequence[Marker],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.e820 = list(e820)
        self.efi = list(efi)
        self.ranges = list(ranges)
        self.markers = list(markers)
        self.selected: tuple[int, int] | None = None
        ends = [r.end for r in self.e820] + [r.end for r in self.efi] + [r.end for r in self.ranges]
        self._top = max(ends) if ends else 1 << 20
        self._cache: tuple[int, tuple[Text, ...]] | None = None

    def select(self, span: tuple[int, int] | None) -> None:
        if span != self.selected:
            self.selected = span
            self.refresh(layout=False)

    def scale(self, width: int | None = None) -> LogScale:
        w = self.content_region.width if width is None else width
        return LogScale.covering([self._top], max(MIN_CELLS, w - LABEL))

    def selected_cells(self, scale: LogScale) -> range:
        if self.selected is None:
            return range(0)
        start, end = self.selected
        return range(scale.cell(start), scale.cell(max(start, end - 1)) + 1)

    # -- rendering ------------------------------------------------------------------
    def _bar(self, name: str, cells: list[Fill]) -> Text:
        t = Text(f"{name:<{LABEL}}", style="bold")
        for f in cells:
            if f.cls is None:
                t.append(" ")
            else:
                t.append(BLOCK if f.covered >= 0.5 else PARTLY, style=CLASS_STYLE[f.cls])
        return t

    def _axis(self, scale: LogScale) -> Text:
        """``0`` at the left, ``64K``, ``1M``, ``16M``, ``256M``, ``4G``... where they fall, the top at the right."""
        cells = [" "] * scale.cells
        top = short_address(scale.top)
        cells[0] = "0"
        ticks = []
        tick = 1 << 16
        while tick < scale.top:
            ticks.append(tick)
            tick <<= 4
        for tick in ticks:
            label = short_address(tick)
            c = scale.cell(tick)
            free = cells[max(0, c - 1) : c + len(label) + 1]
            if c + len(label) <= scale.cells - len(top) - 1 and all(x == " " for x in free):
                cells[c : c + len(label)] = list(label)
        cells[scale.cells - len(top) :] = list(top)
        return Text(" " * LABEL + "".join(cells), style="dim")

    def _rows(self, width: int) -> tuple[Text, ...]:
        scale = self.scale(width)
        present = cell_classes(scale, ((r.start, r.end, PRESENT) for r in self.ranges))
        e820 = cell_classes(scale, ((r.start, r.end, region_class(r)) for r in self.e820))
        efi = cell_classes(scale, ((r.start, r.end, region_class(r)) for r in self.efi))
        found = Text(f"{'found':<{LABEL}}", style="bold")
        letters = marker_cells(scale, self.markers)
        for i in range(scale.cells):
            found.append(letters.get(i, " "), style="bold magenta")
        rows = [self._axis(scale), self._bar("dump", present)]
        rows += [self._bar("E820", e820)] if self.e820 else [Text(f"{'E820':<{LABEL}}(none)", style="dim")]
        rows += [self._bar("EFI", efi)] if self.efi else [Text(f"{'EFI':<{LABEL}}(none)", style="dim")]
        rows.append(found)
        return tuple(rows)

    def _legend(self, scale: LogScale) -> Text:
        t = Text()
        for c in CLASSES:
            t.append(BLOCK, style=CLASS_STYLE[c])
            t.append(f" {c} ")
        t.append(BLOCK, style=CLASS_STYLE[PRESENT])
        t.append(" in the dump ")
        t.append(PARTLY)
        t.append(" partly │ ")
        seen: dict[str, str] = {}
        for m in self.markers:
            seen.setdefault(m.letter, LETTERS[m.letter])
        for letter, what in seen.items():
            t.append(letter, style="bold magenta")
            t.append(f" {what} ")
        if len(seen) > 1:
            t.append(MANY, style="bold magenta")
            t.append(" several ")
        if seen:
            t.append("│ ")
        t.append(f"log2 scale: x{scale.ratio:.2f} a cell", style="dim")
        return t

    def selection_row(self, scale: LogScale) -> Text:
        """The selected span underlined (and its bounds after it, where they fit)."""
        sel = Text(f"{'':<{LABEL}}")
        cells = self.selected_cells(scale)
        if cells and self.selected is not None:
            sel.append(" " * cells.start)
            sel.append(SELECTED * len(cells), style="bold bright_white")
            start, end = self.selected
            note = f" {start:#x}-{end:#x}"
            if cells.stop + len(note) <= scale.cells:
                sel.append(note, style="bold")
        return sel

    def zoom_row(self, cells: int) -> Text | None:
        """The selected span alone, linearly across the width, coloured by the EFI memory map where there is one
        (finer than E820), with the objects in it: what the log scale puts in one cell, this row tells apart."""
        if self.selected is None:
            return None
        start, end = self.selected
        if end <= start:
            return None
        scale = LinearScale(start, end, cells)
        regions = self.efi or self.e820
        fills = cell_classes(scale, ((r.start, r.end, region_class(r)) for r in regions if r.end > start))
        letters = marker_cells(scale, [m for m in self.markers if start <= m.address < end])
        t = Text(f"{'zoom':<{LABEL}}", style="bold")
        for i, f in enumerate(fills):
            bg = CLASS_STYLE[f.cls] if f.cls is not None else None
            if i in letters:
                t.append(letters[i], style=f"bold bright_white on {bg}" if bg else "bold magenta")
            elif bg is not None:
                t.append(BLOCK if f.covered >= 0.5 else PARTLY, style=bg)
            else:
                t.append("·", style="dim")
        return t

    def render(self) -> Group:
        width = self.content_region.width
        if self._cache is None or self._cache[0] != width:
            self._cache = (width, self._rows(width))
        scale = self.scale(width)
        rows = list(self._cache[1])
        rows.insert(4, self.selection_row(scale))  # under the bars, above the objects
        zoom = self.zoom_row(scale.cells)
        if zoom is not None:
            rows.append(zoom)
        rows.append(self._legend(scale))
        return Group(*rows)
