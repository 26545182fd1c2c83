"""A hex view of physical memory that renders only the lines on screen.

Like toolong's ``LogLines`` this is a line-API :class:`~textual.scroll_view.ScrollView`:
the virtual height is the window's line count (a window may be a whole
multi-GiB physical range), :meth:`render_line` reads the bytes of one
visible line through ``PhysicalMemory.read`` and an LRU cache keeps recently
read lines. The dump is never read as a whole.

A line holds 16 bytes, or 8 when the view is too narrow for 16 with their ASCII column (an 80-column
terminal): :attr:`HexView.row` is chosen from the widget's width whenever it is resized.

Highlights: the selected object's bytes, the selected field's bytes, and the
cursor byte. Bytes the dump does not hold show as ``--``; secret bytes (SNP
VMPCKs, RNG seeds) show as ``**`` unless the app was started with
``--show-secrets``.

The view is on the first screen, drawn before anything of efitables is imported: what reads memory
imports efitables where it runs (a memory exists only once the dump is open).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

if TYPE_CHECKING:
    from efitables.memory.base import PhysicalMemory

#: Bytes per line when the view is wide enough for them and their ASCII column (windows are aligned to it).
LINE = 16
#: Bytes per line in a narrower view.
NARROW_LINE = 8
#: Largest window around an address (either side) when a physical range is huge.
MAX_WINDOW_HALF = 256 * 1024 * 1024


@dataclass(frozen=True)
class Window:
    """The bytes ``[start, end)`` the view scrolls over (16-byte aligned)."""

    start: int
    end: int

    @property
    def lines(self) -> int:
        """Lines of :data:`LINE` bytes."""
        return self.lines_of(LINE)

    def lines_of(self, row: int) -> int:
        """Lines of ``row`` bytes."""
        return max(1, (self.end - self.start + row - 1) // row)


def line_width(row: int, addr_digits: int = 8) -> int:
    """Cells of one line: address, two spaces, ``row`` bytes (an extra space in the middle of 16), a space,
    ``row`` ASCII characters, and a spare cell."""
    return addr_digits + 2 + row * 3 + (1 if row > NARROW_LINE else 0) + 1 + row + 1


def window_for(mem: PhysicalMemory, pa: int, size: int = 0) -> Window:
    """The present range holding ``pa`` (bounded to ±256 MiB), or the 4 KiB page around it."""
    from efitables.memory.base import MAX_PHYS_ADDR

    pa = max(0, min(pa, MAX_PHYS_ADDR - 1))
    r = mem.range_at(pa)
    if r is None:
        start = pa & ~0xFFF
        end = max(start + 0x1000, (pa + size + 0xFFF) & ~0xFFF)
        end = min(end, start + 2 * MAX_WINDOW_HALF)
    else:
        start = max(r.start, pa - MAX_WINDOW_HALF)
        end = min(r.end, pa + max(size, 0) + MAX_WINDOW_HALF)
        if pa + size > end:  # object runs past the range: show its bytes (absent ones as --)
            end = min(pa + size, start + 2 * MAX_WINDOW_HALF)
    start &= ~(LINE - 1)
    end = (end + LINE - 1) & ~(LINE - 1)
    return Window(start, max(end, start + LINE))


class HexView(ScrollView, can_focus=True):
    """Scrollable hex + ASCII view of one window of physical memory, with a byte cursor."""

    BINDINGS = [
        Binding("left", "move(-1)", "←", show=False),
        Binding("right", "move(1)", "→", show=False),
        Binding("up", "move_lines(-1)", "↑", show=False),
        Binding("down", "move_lines(1)", "↓", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "line_edge(0)", "line start", show=False),
        Binding("end", "line_edge(1)", "line end", show=False),
        Binding("ctrl+home", "window_edge(0)", "window start", show=False),
        Binding("ctrl+end", "window_edge(1)", "window end", show=False),
    ]

    COMPONENT_CLASSES = {
        "hexview--address",
        "hexview--object",
        "hexview--field",
        "hexview--cursor",
        "hexview--absent",
        "hexview--secret",
        "hexview--ascii",
    }

    DEFAULT_CSS = """
    HexView {
        background: $surface;
    }
    HexView > .hexview--address { color: $text-muted; }
    HexView > .hexview--object { background: $primary-muted; }
    HexView > .hexview--field { background: $accent-darken-2; color: $text; text-style: bold; }
    HexView > .hexview--cursor { background: $secondary; color: $text; text-style: bold underline; }
    HexView > .hexview--absent { color: $text-disabled; }
    HexView > .hexview--secret { color: $error; }
    HexView > .hexview--ascii { color: $text-muted; }
    """

    cursor: reactive[int] = reactive(0, always_update=True, repaint=True)

    class CursorMoved(Message):
        """The cursor is on a new byte."""

        def __init__(self, hex_view: HexView, address: int) -> None:
            super().__init__()
            self.hex_view = hex_view
            self.address = address

        @property
        def control(self) -> HexView:
            return self.hex_view

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.memory: PhysicalMemory | None = None
        self.window = Window(0, LINE)
        self.object_span: tuple[int, int] | None = None
        self.field_span: tuple[int, int] | None = None
        self.is_secret: Callable[[int], bool] = lambda pa: False
        self._lines: LRUCache[int, tuple[bytes, bytes]] = LRUCache(2048)
        self._addr_digits = 8
        #: Bytes per line: :data:`LINE`, or :data:`NARROW_LINE` when the view is narrower than such a line.
        self.row = LINE

    # -- what to show -------------------------------------------------------------
    def set_memory(self, memory: PhysicalMemory, is_secret: Callable[[int], bool] | None = None) -> None:
        self.memory = memory
        if is_secret is not None:
            self.is_secret = is_secret
        self._lines.clear()
        self.refresh()

    def show(
        self,
        address: int,
        size: int = 0,
        *,
        object_span: tuple[int, int] | None = None,
        cursor: int | None = None,
    ) -> None:
        """Show the window around ``address``; highlight ``object_span``; put the cursor on ``cursor``."""
        if self.memory is None:
            return
        self.window = window_for(self.memory, address, size)
        if cursor is not None and not self.window.start <= cursor < self.window.end:
            self.window = window_for(self.memory, cursor, 0)
        self._addr_digits = max(8, len(f"{self.window.end - 1:x}"))
        self.object_span = object_span
        self.field_span = None
        self._choose_row(self.scrollable_content_region.width)
        self.virtual_size = Size(self.line_width, self.window.lines_of(self.row))
        target = address if cursor is None else cursor
        self.cursor = self._clamp(target)
        self.call_after_refresh(self._center, 10)

    def set_field(self, span: tuple[int, int] | None) -> None:
        self.field_span = span
        self.refresh()

    @property
    def line_width(self) -> int:
        return line_width(self.row, self._addr_digits)

    # -- width ------------------------------------------------------------------
    def _choose_row(self, width: int) -> bool:
        """16 bytes a line if ``width`` cells hold them with their ASCII column, else 8 (a width of 0, before
        the first layout, keeps 16); True if that changed the line."""
        row = NARROW_LINE if 0 < width < line_width(LINE, self._addr_digits) else LINE
        if row == self.row:
            return False
        self.row = row
        self._lines.clear()
        return True

    def on_resize(self, event: events.Resize) -> None:
        if self._choose_row(self.scrollable_content_region.width):
            self.virtual_size = Size(self.line_width, self.window.lines_of(self.row))
            self.call_after_refresh(self._center, 10)
            self.refresh()

    # -- cursor -----------------------------------------------------------------
    def _clamp(self, pa: int) -> int:
        return max(self.window.start, min(pa, self.window.end - 1))

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.post_message(self.CursorMoved(self, new))

    def _center(self, tries: int) -> None:
        """Put the cursor line a third of the way down (retried until the new virtual size is laid out)."""
        line = (self.cursor - self.window.start) // self.row
        h = max(1, self.scrollable_content_region.height)
        want = max(0, line - h // 3)
        if want > self.max_scroll_y and tries > 0:
            self.call_after_refresh(self._center, tries - 1)
            return
        self.scroll_to(y=want, animate=False, immediate=True)

    def _scroll_to_cursor(self, center: bool = False) -> None:
        line = (self.cursor - self.window.start) // self.row
        h = max(1, self.scrollable_content_region.height)
        top = round(self.scroll_y)
        if center:
            self.scroll_to(y=max(0, line - h // 3), animate=False, immediate=True)
        elif line < top:
            self.scroll_to(y=line, animate=False, immediate=True)
        elif line >= top + h:
            self.scroll_to(y=line - h + 1, animate=False, immediate=True)

    def action_move(self, delta: int) -> None:
        self.cursor = self._clamp(self.cursor + delta)

    def action_move_lines(self, lines: int) -> None:
        self.cursor = self._clamp(self.cursor + lines * self.row)

    def action_page(self, direction: int) -> None:
        h = max(1, self.scrollable_content_region.height)
        self.cursor = self._clamp(self.cursor + direction * h * self.row)

    def action_line_edge(self, end: int) -> None:
        base = self.cursor & ~(self.row - 1)
        self.cursor = self._clamp(base + (self.row - 1 if end else 0))

    def action_window_edge(self, end: int) -> None:
        self.cursor = self.window.end - 1 if end else self.window.start

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        line = offset.y + round(self.scroll_y)
        row = self.row
        col = offset.x + round(self.scroll_x) - (self._addr_digits + 2)
        if col < 0 or col >= row * 3 + (1 if row > NARROW_LINE else 0):
            return
        idx = col // 3 if col < NARROW_LINE * 3 else (col - 1) // 3
        self.cursor = self._clamp(self.window.start + line * row + min(idx, row - 1))

    # -- reading ----------------------------------------------------------------
    def line_bytes(self, pa: int) -> tuple[bytes, bytes]:
        """(data, present mask) of the line of :attr:`row` bytes at ``pa``; absent bytes are 0 with mask 0."""
        cached = self._lines.get(pa)
        if cached is not None:
            return cached
        mem = self.memory
        n = self.row
        data, mask = bytearray(n), bytearray(n)
        if mem is not None:
            from efitables.errors import MemoryReadError

            try:
                data[:] = mem.read(pa, n)
                mask[:] = b"\x01" * n
            except MemoryReadError:
                for i in range(n):
                    if mem.is_readable(pa + i, 1):
                        try:
                            data[i] = mem.read(pa + i, 1)[0]
                            mask[i] = 1
                        except MemoryReadError:
                            pass
        out = (bytes(data), bytes(mask))
        self._lines.set(pa, out)
        return out

    # -- rendering --------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        line = y + round(self.scroll_y)
        width = self.scrollable_content_region.width
        base_style = self.rich_style
        if self.memory is None or line >= self.window.lines_of(self.row):
            return Strip.blank(width, base_style)
        pa = self.window.start + line * self.row
        segs = self._line_segments(pa, base_style)
        strip = Strip(segs).crop(round(self.scroll_x), round(self.scroll_x) + width)
        return strip.extend_cell_length(width, base_style)

    def _line_segments(self, pa: int, base: Style) -> list[Segment]:
        data, mask = self.line_bytes(pa)
        get = self.get_component_rich_style
        addr_s = base + get("hexview--address", partial=True)
        obj_s = get("hexview--object", partial=True)
        fld_s = get("hexview--field", partial=True)
        cur_s = get("hexview--cursor", partial=True)
        absent_s = get("hexview--absent", partial=True)
        secret_s = get("hexview--secret", partial=True)
        ascii_s = get("hexview--ascii", partial=True)
        segs = [Segment(f"{pa:0{self._addr_digits}x}", addr_s), Segment("  ", base)]
        asc: list[Segment] = []
        row = len(data)
        for i in range(row):
            a = pa + i
            st = base
            if self.object_span and self.object_span[0] <= a < self.object_span[1]:
                st = st + obj_s
            if self.field_span and self.field_span[0] <= a < self.field_span[1]:
                st = st + fld_s
            if a == self.cursor:
                st = st + cur_s
            if not mask[i]:
                cell, ch, st2 = "--", " ", st + absent_s
            elif self.is_secret(a):
                cell, ch, st2 = "**", "*", st + secret_s
            else:
                b = data[i]
                cell, ch, st2 = f"{b:02x}", chr(b) if 0x20 <= b < 0x7F else ".", st
            segs.append(Segment(cell, st2))
            # the gap after a byte keeps the span's background so a field reads as one block
            nxt = a + 1
            in_field = self.field_span and self.field_span[0] <= a and nxt < self.field_span[1]
            in_obj = self.object_span and self.object_span[0] <= a and nxt < self.object_span[1]
            last = i == row - 1
            gap = "  " if i == NARROW_LINE - 1 and not last else " "
            gap_style = base + (fld_s if in_field and not last else obj_s if in_obj and not last else Style())
            segs.append(Segment(gap, gap_style))
            asc.append(Segment(ch, st2 + ascii_s if st2 is st else st2))
        segs.append(Segment(" ", base))
        segs.extend(asc)
        return segs
