"""The main screen: structure tree | fields, hex view and findings of the selected object.

The screen opens at once with the container alone; a thread worker parses
the dump (a signature scan when there are no hints, with a progress bar and
``x`` to cancel it, after which the dump is parsed from its hints alone) and
then fills the tree.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, ProgressBar, Static, Tree
from textual.worker import Worker, WorkerState

from efitables.efi.scan import ProgressFn, ScanCancelled
from efitables.findings import Finding
from efitables_tui.nodes import DumpModel, Node, build_model, quick_model
from efitables_tui.screens.coverage_screen import CoverageScreen
from efitables_tui.screens.findings_screen import FindingsScreen
from efitables_tui.screens.goto_modal import GotoModal
from efitables_tui.screens.help_screen import HelpScreen
from efitables_tui.screens.memmap_screen import MemoryMapScreen
from efitables_tui.screens.search_modal import AddressListModal, SearchModal
from efitables_tui.text import plain, printable
from efitables_tui.widgets.fields_table import FieldsTable
from efitables_tui.widgets.findings_table import FindingsTable
from efitables_tui.widgets.hex_view import HexView
from efitables_tui.widgets.object_tables import ObjectTables
from efitables_tui.widgets.structure_tree import StructureTree

if TYPE_CHECKING:
    from efitables_tui.app import EfitablesApp

#: A memory search stops after this many hits.
MAX_MEMORY_HITS = 1000
#: A memory search reads the dump in windows of this size (the cancel flag is checked between them).
MEMORY_SEARCH_CHUNK = 16 << 20
#: Least time between two progress updates from a worker (seconds).
PROGRESS_INTERVAL = 0.1


class ScanProgress:
    """The Dump's scan progress callback (:attr:`Dump.progress <efitables.dump.Dump>`, a
    :data:`~efitables.efi.scan.ProgressFn`) while the TUI parses: reports each window to
    the screen (throttled), counts sweeps, and raises :class:`ScanCancelled` once ``cancel`` is set."""

    def __init__(
        self, report: Callable[[int, int, int], None], cancel: threading.Event, then: ProgressFn | None = None
    ) -> None:
        self.report = report
        self.cancel = cancel
        self.then = then
        self.passes = 0
        self._last_done: int | None = None
        self._last_report = 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.cancel.is_set():
            raise ScanCancelled
        if self._last_done is None or done < self._last_done:
            self.passes += 1  # a new sweep starts over
        self._last_done = done
        if self.then is not None:
            self.then(done, total)
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_INTERVAL or done >= total:
            self._last_report = now
            self.report(done, total, self.passes)


@dataclass
class MemorySearch:
    """A search of the dump's memory for some bytes (a GUID's EFI_GUID form)."""

    pattern: bytes
    hits: list[int] = field(default_factory=list)
    searched: int = 0
    cancelled: bool = False
    #: MAX_MEMORY_HITS reached: the search stopped there.
    truncated: bool = False


class DumpScreen(Screen[None]):
    BINDINGS = [
        Binding("g", "goto", "Go to"),
        Binding("slash", "search", "Search"),
        Binding("f", "findings", "Findings"),
        Binding("m", "memmap", "Memory map"),
        Binding("c", "coverage", "Coverage"),
        Binding("y", "copy", "Copy"),
        Binding("e", "export", "Export"),
        Binding("x", "cancel_scan", "Cancel scan"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.model: DumpModel | None = None
        self.current: Node | None = None
        self.loaded = False
        self.last_export: str | None = None
        self.scanning = False
        self.last_memory_hits: list[int] = []
        self.last_memory_search: MemorySearch | None = None
        #: (node, address): where the hex cursor goes when that node is next shown (go-to, findings).
        self._pending: tuple[Node, int | None] | None = None
        self._cancel = threading.Event()

    @property
    def eapp(self) -> EfitablesApp:
        from efitables_tui.app import EfitablesApp  # (app.py imports this module)

        app = self.app
        assert isinstance(app, EfitablesApp), "a DumpScreen runs in the EfitablesApp"
        return app

    # -- layout -------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            yield StructureTree(id="tree")
            with Vertical(id="detail"):
                yield Static("", id="object-title", classes="pane-title")
                yield FieldsTable(id="fields")
                yield ObjectTables(id="object-tables")
                yield Static("", id="hex-title", classes="pane-title")
                yield HexView(id="hex")
                yield Static("", id="findings-title", classes="pane-title")
                yield FindingsTable(id="object-findings", show_structure=False)
        with Horizontal(id="progress-row"):
            yield Label("parsing…", id="progress-label")
            yield ProgressBar(id="progress", show_eta=False)
        yield Footer()

    def on_mount(self) -> None:
        dump = self.eapp.dump
        self.sub_title = printable(f"{dump.path} ({dump.memory.info.format})")
        self.model = quick_model(dump)
        tree = self.query_one(StructureTree)
        tree.populate(self.model)
        tree.focus()
        self.query_one("#hex-title", Static).update(Text("hex: available once the dump is parsed", style="dim"))
        self.load()

    # -- loading ------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="load")
    def load(self) -> DumpModel:
        dump = self.eapp.dump
        cancel = self._cancel
        outer = dump.progress
        # The Dump reports each window of its signature scan; the callback stops the scan on 'x'.
        dump.progress = ScanProgress(
            lambda done, total, passes: self.app.call_from_thread(self._show_scan_progress, done, total, passes),
            cancel,
            outer,
        )
        try:
            try:
                return build_model(dump, on_area=lambda a: self.app.call_from_thread(self._show_area, a))
            except ScanCancelled:
                self.app.call_from_thread(self._show_area, "scan cancelled: parsing from hints")
                dump.scan_mode = "never"
                cancel.clear()
                return build_model(dump)
        finally:
            dump.progress = outer

    def _show_progress(self, what: str, done: int, total: int) -> None:
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=total, progress=done)
        self.query_one("#progress-label", Label).update(
            plain(f"{what} {done >> 20}/{total >> 20} MiB — x cancels", limit=120)
        )

    def _show_scan_progress(self, done: int, total: int, passes: int = 1) -> None:
        self._show_progress("signature scan" if passes <= 1 else f"signature scan (pass {passes})", done, total)

    def _show_area(self, area: str) -> None:
        self.query_one("#progress-label", Label).update(plain(f"parsing: {area}"))

    # -- scanning memory for bytes (a GUID) ----------------------------------------
    def scan_memory(self, pattern: bytes) -> None:
        if not self.loaded:
            self.notify("still parsing the dump", severity="warning")
            return
        self.scanning = True
        self._cancel.clear()
        self.query_one("#progress-row").display = True
        self.query_one("#progress-label", Label).update(Text(f"searching for {pattern.hex()} — x cancels"))
        self.refresh_bindings()
        self._scan_bytes(pattern)

    @work(thread=True, exclusive=True, group="memscan")
    def _scan_bytes(self, pattern: bytes) -> MemorySearch:
        """Read the dump window by window (``PhysicalMemory.chunks``), checking the cancel flag between windows."""
        mem = self.eapp.dump.memory
        cancel = self._cancel
        result = MemorySearch(pattern)
        total = max(mem.total_size(), 1)
        what = f"searching for {pattern.hex()}"
        last = 0.0
        hits = result.hits
        for pa, data in mem.chunks(chunk_size=MEMORY_SEARCH_CHUNK, overlap=len(pattern) - 1):
            if cancel.is_set():
                result.cancelled = True
                break
            buf = bytes(data)
            i = buf.find(pattern)
            while i >= 0 and len(hits) < MAX_MEMORY_HITS:
                if pa + i not in hits[-4:]:  # windows overlap: a hit in the overlap is seen twice
                    hits.append(pa + i)
                i = buf.find(pattern, i + 1)
            result.searched += len(data)
            now = time.monotonic()
            if now - last >= PROGRESS_INTERVAL:
                last = now
                self.app.call_from_thread(self._show_progress, what, min(result.searched, total), total)
            if len(hits) >= MAX_MEMORY_HITS:
                result.truncated = True
                break
        result.hits = sorted(set(hits))
        return result

    def _end_scan(self) -> None:
        self.scanning = False
        self._cancel.clear()
        self.query_one("#progress-row").display = False
        self.refresh_bindings()

    def _scan_done(self, result: MemorySearch) -> None:
        self._end_scan()
        self.last_memory_search = result
        self.last_memory_hits = result.hits
        if result.cancelled:
            self.notify(
                f"memory search cancelled after {result.searched >> 20} MiB ({len(result.hits)} hit(s) so far)",
                severity="warning",
            )
        elif result.truncated:
            self.notify(f"memory search stopped at {MAX_MEMORY_HITS} hits", severity="warning")
        if not result.hits:
            if not result.cancelled:
                self.notify("not found in the dump's memory", severity="warning")
            return
        self.app.push_screen(AddressListModal(result.hits), lambda pa: self.goto(pa) if pa is not None else None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "memscan":
            result = event.worker.result
            if event.state == WorkerState.SUCCESS and isinstance(result, MemorySearch):
                self._scan_done(result)
            elif event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
                self._end_scan()
                if event.state == WorkerState.ERROR:
                    self.notify(f"memory search failed: {event.worker.error}", severity="error", markup=False)
            return
        if event.worker.group != "load":
            return
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, DumpModel):
            self.model_ready(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self.query_one("#progress-label", Label).update(plain(f"parsing failed: {event.worker.error}", "red"))
            self.notify(f"parsing failed: {event.worker.error}", severity="error", markup=False)

    def model_ready(self, model: DumpModel) -> None:
        self.model = model
        self.loaded = True
        self.query_one("#progress-row").display = False
        self.refresh_bindings()
        hexv = self.query_one(HexView)
        hexv.set_memory(self.eapp.dump.memory, model.is_secret)
        tree = self.query_one(StructureTree)
        tree.populate(model)
        start = next((n for n in model.roots if n.kind == "EFI_SYSTEM_TABLE"), model.roots[0])
        tree.select(start)
        n_err = sum(1 for f in model.findings if f.severity >= 2)
        self.sub_title = printable(f"{self.eapp.dump.path}") + (
            f" — {len(model.nodes)} objects, {len(model.findings)} findings"
        )
        if n_err:
            self.sub_title += f" ({n_err} errors)"
        if model.truncated:
            self.notify("the tree was truncated at its node/depth cap", severity="warning")
        self.eapp.post_message(self.eapp.Loaded())

    # -- showing a node -------------------------------------------------------------
    @on(Tree.NodeHighlighted, "#tree")
    def _tree_highlighted(self, event: Tree.NodeHighlighted[Node]) -> None:
        if event.node.data is not None:
            self.show_node(event.node.data)

    def show_node(self, node: Node) -> None:
        self.current = node
        title = plain(node.summary(), "bold", limit=120)
        if node.parent is not None:
            title.append("  in ", style="dim")
            title.append_text(plain(node.parent.label, "dim", limit=60))
        if node.address is not None:
            title.append(f"  {node.kind} @ {node.address:#x}, {node.size:#x} bytes", style="dim")
        else:
            title.append(f"  {node.kind}", style="dim")
        self.query_one("#object-title", Static).update(title)
        self.query_one(FieldsTable).show_node(node)
        self.query_one(ObjectTables).show_tables(node.table_views())
        ft = self.query_one("#object-findings", FindingsTable)
        ft.show_findings(node.findings)
        ft.display = bool(node.findings)
        self.query_one("#findings-title", Static).update(
            Text(f"findings of this object: {len(node.findings)}", style="bold" if node.findings else "dim")
        )
        cursor = None
        if self._pending is not None and self._pending[0] is node:
            cursor, self._pending = self._pending[1], None
        if self.loaded and node.address is not None:
            span = (node.address, node.address + node.size) if node.size > 0 and node.kind != "range" else None
            self.query_one(HexView).show(node.address, node.size if span else 0, object_span=span, cursor=cursor)

    @on(FieldsTable.FieldHighlighted)
    def _field_highlighted(self, event: FieldsTable.FieldHighlighted) -> None:
        fields = self.query_one(FieldsTable)
        if not fields.has_focus:
            return  # the hex cursor drives the highlight unless the user is moving in the fields
        hexv = self.query_one(HexView)
        span = event.row.span if event.row else None
        hexv.set_field(span)
        if span and not span[0] <= hexv.cursor < span[1] and hexv.window.start <= span[0] < hexv.window.end:
            hexv.cursor = span[0]

    @on(HexView.CursorMoved)
    def _hex_cursor(self, event: HexView.CursorMoved) -> None:
        pa = event.address
        row = self.query_one(FieldsTable).select_address(pa)
        hexv = self.query_one(HexView)
        hexv.set_field(row.span if row else None)
        text = Text(f"hex  cursor {pa:#x}", style="bold")
        node = self.current
        if node is not None and node.contains(pa) and node.kind != "range":
            text.append(f"  {node.kind} +{pa - (node.address or 0):#x}", style="dim")
        elif self.model is not None and self.loaded:
            inside = self.model.node_at(pa)
            if inside is not None:
                text.append("  in ", style="dim")
                text.append_text(plain(inside.label, "dim", limit=80))
        if row is not None:
            text.append("  field ")
            text.append_text(plain(row.name, "bold"))
            if row.hex:
                text.append(f" = {row.hex}")
        if not self.eapp.dump.memory.is_readable(pa, 1):
            text.append("  (not in the dump)", style="red")
        self.query_one("#hex-title", Static).update(text)

    @on(FindingsTable.FindingSelected, "#object-findings")
    def _object_finding(self, event: FindingsTable.FindingSelected) -> None:
        if event.finding.address is not None:
            self.goto(event.finding.address)

    # -- navigation -------------------------------------------------------------------
    def select_node(self, node: Node, cursor: int | None = None) -> None:
        tree = self.query_one(StructureTree)
        self._pending = (node, cursor)
        if node is self.current:
            self.show_node(node)
            return
        if not tree.select(node):
            self.show_node(node)

    def goto(self, pa: int) -> None:
        """Hex view at ``pa``, inside the smallest parsed object that holds it (if any)."""
        if not self.loaded or self.model is None:
            self.notify("still parsing the dump; try again when it is done", severity="warning")
            return
        node = self.model.node_at(pa)
        if node is None:
            self.current = None
            self.query_one(HexView).show(pa, 0, object_span=None)
            self.query_one("#object-title", Static).update(Text(f"{pa:#x}: not inside any parsed object", "bold"))
            self.query_one(FieldsTable).show_node(None)
            self.query_one(ObjectTables).show_tables([])
            self.query_one("#object-findings", FindingsTable).show_findings([])
            self.query_one("#object-findings", FindingsTable).display = False
            if not self.eapp.dump.memory.is_readable(pa, 1):
                self.notify(f"{pa:#x} is not in the dump", severity="warning")
        else:
            self.select_node(node, cursor=pa)
        self.query_one(HexView).focus()

    def jump_to_finding(self, f: Finding) -> None:
        if self.model is None:
            return
        node = self.model.node_for_finding(f)
        if node is not None:
            cursor = f.address if f.address is not None and node.contains(f.address) else None
            self.select_node(node, cursor=cursor)
            self.query_one(StructureTree).focus()
        elif f.address is not None:
            self.goto(f.address)
        else:
            self.notify("this finding names no object or address", severity="information")

    # -- actions ------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """'Cancel scan' is in the footer only while the dump is being parsed."""
        if action == "cancel_scan":
            return not self.loaded or self.scanning
        return True

    def action_goto(self) -> None:
        self.app.push_screen(GotoModal(), lambda pa: self.goto(pa) if pa is not None else None)

    def action_search(self) -> None:
        if self.model is None:
            return

        def chosen(found: Node | bytes | None) -> None:
            if isinstance(found, bytes):
                self.scan_memory(found)
            elif found is not None:
                self.select_node(found)
                self.query_one(StructureTree).focus()

        self.app.push_screen(SearchModal(self.model), chosen)

    def action_findings(self) -> None:
        if not self.loaded or self.model is None:
            self.notify("still parsing the dump", severity="warning")
            return
        self.app.push_screen(FindingsScreen(self.model.findings), lambda f: self.jump_to_finding(f) if f else None)

    def action_memmap(self) -> None:
        if not self.loaded or self.model is None:
            self.notify("still parsing the dump", severity="warning")
            return
        self.app.push_screen(
            MemoryMapScreen(self.eapp.dump, self.model), lambda pa: self.goto(pa) if pa is not None else None
        )

    def action_coverage(self) -> None:
        if not self.loaded:
            self.notify("still parsing the dump", severity="warning")
            return
        self.app.push_screen(CoverageScreen(self.eapp.dump), lambda pa: self.goto(pa) if pa is not None else None)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_cancel_scan(self) -> None:
        if self.scanning:
            self._cancel.set()
            return
        if self.loaded:
            self.notify("nothing to cancel", severity="information")
            return
        self._cancel.set()
        self.notify("cancelling the signature scan…")

    def action_copy(self) -> None:
        hexv = self.query_one(HexView)
        if hexv.has_focus and self.loaded:
            text, what = f"{hexv.cursor:#x}", "address"
        else:
            row = self.query_one(FieldsTable).current
            if row is None:
                self.notify("no field selected", severity="warning")
                return
            text, what = row.copy_text, row.name
        self.app.copy_to_clipboard(text)
        self.notify(f"copied {what}: {text}", markup=False)

    def export_data(self, node: Node) -> dict[str, object]:
        if node.obj is not None:
            return node.obj.to_dict()
        return {
            "kind": node.kind,
            "label": node.label,
            "address": node.address,
            "size": node.size,
            "info": dict(node.info),
            "findings": [f.to_dict() for f in node.findings],
        }

    def action_export(self) -> None:
        node = self.current
        if node is None:
            self.notify("nothing selected", severity="warning")
            return
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", node.kind) or "object"
        addr = "noaddr" if node.address is None else f"{node.address:x}"
        path = os.path.join(self.eapp.export_dir, f"{name}-{addr}.json")
        try:
            data = self.export_data(node)
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, default=str)
                fh.write("\n")
        except (OSError, TypeError, ValueError) as e:
            self.notify(f"export failed: {e}", severity="error", markup=False)
            return
        self.last_export = path
        self.notify(f"exported to {path}", markup=False)
