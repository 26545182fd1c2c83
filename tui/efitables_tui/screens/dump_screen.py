"""The main screen: structure tree | fields, hex view and findings of the selected object.

First frame first: the screen is drawn (header, an empty tree that says it is parsing, the detail panes,
the footer) before anything of efitables is imported; only then does a thread worker import the parsers,
open the dump (when the app was given a path) and parse it, adding each top-level node to the tree as soon
as it is complete: the container, the system-table discovery, the EFI system table with its configuration
tables (selected as it arrives, unless the user has moved), then the memory map, boot_params, setup_data,
E820 and the SEV-SNP areas. A signature scan (when there are no hints) shows a progress bar and ``x``
cancels it, after which the dump is parsed from its hints alone. Screens that are not on the first screen
(findings, memory map, coverage, help, search, go to) are imported when they are first opened; so are the
helpers that show parsed data (:mod:`efitables_tui.text`, :mod:`efitables_tui.nodes`).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Label, ProgressBar, Static, Tree
from textual.worker import Worker, WorkerState

from efitables_tui.widgets.fields_table import FieldsTable
from efitables_tui.widgets.findings_table import FindingsTable
from efitables_tui.widgets.footer import Footer
from efitables_tui.widgets.hex_view import HexView
from efitables_tui.widgets.object_tables import ObjectTables
from efitables_tui.widgets.structure_tree import StructureTree

if TYPE_CHECKING:
    from efitables.efi.hits import ProgressFn
    from efitables.findings import Finding
    from efitables_tui.app import EfitablesApp
    from efitables_tui.nodes import DumpModel, Node

#: A memory search stops after this many hits.
MAX_MEMORY_HITS = 1000
#: A memory search reads the dump in windows of this size (the cancel flag is checked between them).
MEMORY_SEARCH_CHUNK = 16 << 20
#: Least time between two progress updates from a worker (seconds).
PROGRESS_INTERVAL = 0.1
#: Refreshes to wait at most for the footer's keys before the dump is loaded anyway.
FIRST_FRAME_TRIES = 20
#: Longest the parser waits for the system table's node to be drawn before it goes on (seconds).
SYSTAB_PAINT_WAIT = 0.5


class ScanProgress:
    """The Dump's scan progress callback (:attr:`Dump.progress <efitables.dump.Dump>`, a
    :data:`~efitables.efi.hits.ProgressFn`) while the TUI parses: reports each window to
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
            from efitables.efi.hits import ScanCancelled

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
    #: (focusing the tree in on_mount instead costs the first frame a second restyle and footer compose)
    AUTO_FOCUS = "#tree"
    #: In footer order ('x' first: while the dump is parsed it is the key that matters; help and quit are the
    #: app's, at the footer's right end).
    BINDINGS = [
        Binding("x", "cancel_scan", "Cancel scan"),
        Binding("g", "goto", "Go to"),
        Binding("slash", "search", "Search"),
        Binding("f", "findings", "Findings"),
        Binding("m", "memmap", "Memory map"),
        Binding("c", "coverage", "Coverage"),
        Binding("y", "copy", "Copy"),
        Binding("e", "export", "Export"),
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
        #: The node the screen selected itself while parsing (the system table), not the user.
        self._auto: Node | None = None

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
                yield Static(
                    Text("hex: available once the dump is parsed", style="dim"), id="hex-title", classes="pane-title"
                )
                yield HexView(id="hex")
                yield Static("", id="findings-title", classes="pane-title")
                findings = FindingsTable(id="object-findings", show_structure=False)
                findings.display = False  # shown for an object with findings
                yield findings
        with Horizontal(id="progress-row"):
            yield Label("parsing…", id="progress-label")
            # the bar is mounted by the first scan that reports progress (_progress_bar)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(StructureTree).begin()
        # Nothing of efitables is imported yet: the worker starts once the first frame is on screen.
        self.call_after_refresh(self._after_first_frame, FIRST_FRAME_TRIES)

    def _after_first_frame(self, tries: int) -> None:
        """Start loading once the first complete frame is drawn: the footer shows its keys a frame or two
        after the rest (it composes them once the screen's bindings are known), and a worker started
        before that would slow that frame down (the parser and the UI share one interpreter lock)."""
        if not self.query_one(Footer).children and tries > 0:
            self.call_after_refresh(self._after_first_frame, tries - 1)
            return
        self.call_after_refresh(self.load)

    # -- loading ------------------------------------------------------------------
    class LoadStep(Message):
        """News from the load worker, run on the screen in the order it was posted (posting does not wait)."""

        bubble = False

        def __init__(self, callback: Callable[[], None]) -> None:
            super().__init__()
            self.callback = callback

    def on_dump_screen_load_step(self, message: LoadStep) -> None:
        if not self.eapp.exiting:  # (news that arrives while the app closes its screens is dropped)
            message.callback()

    @work(thread=True, exclusive=True, group="load")
    def load(self) -> DumpModel | None:
        """Open the dump (for an app given a path), then parse it, top-level node by top-level node."""

        def post(callback: Callable[..., None], *args: object) -> None:
            self.post_message(self.LoadStep(partial(callback, *args)))

        try:
            dump = self.eapp.open_dump()
        except Exception as e:
            from efitables.errors import EfitablesError

            if not isinstance(e, EfitablesError | OSError):
                raise
            post(self._open_failed, e)
            return None
        from efitables.efi.hits import ScanCancelled
        from efitables_tui.nodes import build_model

        post(self._opened)
        cancel = self._cancel
        outer = dump.progress
        # The Dump reports each window of its signature scan; the callback stops the scan on 'x'.
        dump.progress = ScanProgress(
            lambda done, total, passes: post(self._show_scan_progress, done, total, passes), cancel, outer
        )

        def on_root(node: Node) -> None:
            painted = threading.Event()
            post(self._add_root, node, painted)
            if node.kind == "EFI_SYSTEM_TABLE":
                # Parsing on would slow the frame that shows it down: wait (briefly) until it is drawn.
                painted.wait(SYSTAB_PAINT_WAIT)

        try:
            try:
                return build_model(dump, on_area=lambda a: post(self._show_area, a), on_root=on_root)
            except ScanCancelled:
                post(self._show_area, "scan cancelled: parsing from hints")
                dump.scan_mode = "never"
                cancel.clear()
                post(self._restart)
                return build_model(dump, on_root=on_root)
        finally:
            dump.progress = outer

    def _open_failed(self, error: Exception) -> None:
        from efitables_tui.app import EXIT_OPEN
        from efitables_tui.text import plain

        self.app.exit(return_code=EXIT_OPEN, message=plain(f"efitables: {error}", limit=1000))

    def _opened(self) -> None:
        from efitables_tui.text import printable

        dump = self.eapp.dump
        self.app.sub_title = printable(str(dump.path))  # screens pushed over the dump screen show it too
        self.sub_title = printable(f"{dump.path} ({dump.memory.info.format})")

    def _restart(self) -> None:
        """The scan was cancelled: the tree is built again, from the hints alone."""
        self._auto = None
        self.query_one(StructureTree).begin()

    def _add_root(self, node: Node, painted: threading.Event) -> None:
        """A top-level node is parsed: show it (``painted`` is set once it is on screen); the system table
        is selected unless the user has moved."""
        self.query_one(StructureTree).add_root(node)
        if node.kind == "EFI_SYSTEM_TABLE" and self._cursor_is_ours():
            self._auto = node
            self.select_node(node)
        self.call_after_refresh(painted.set)

    def _cursor_is_ours(self) -> bool:
        """Nothing, the container (where the tree starts) or what the screen itself selected is shown."""
        cur = self.current
        return cur is None or cur is self._auto or (cur.kind == "dump" and cur.parent is None)

    def _show_progress(self, what: str, done: int, total: int) -> None:
        from efitables_tui.text import plain

        self._progress_bar().update(total=total, progress=done)
        self.query_one("#progress-label", Label).update(
            plain(f"{what} {done >> 20}/{total >> 20} MiB — x cancels", limit=120)
        )

    def _progress_bar(self) -> ProgressBar:
        """The progress row's bar, mounted when a scan first reports progress: a bar without a total
        animates, which costs the first frame and the parser time for nothing while parsing from hints."""
        try:
            return self.query_one("#progress", ProgressBar)
        except NoMatches:
            bar = ProgressBar(id="progress", show_eta=False)
            self.query_one("#progress-row").mount(bar)
            return bar

    def _show_scan_progress(self, done: int, total: int, passes: int = 1) -> None:
        self._show_progress("signature scan" if passes <= 1 else f"signature scan (pass {passes})", done, total)

    def _show_area(self, area: str) -> None:
        from efitables_tui.text import plain

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
        from efitables_tui.screens.search_modal import AddressListModal

        self.eapp.open_screen(AddressListModal(result.hits), lambda pa: self.goto(pa) if pa is not None else None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if self.eapp.exiting:
            return  # (the app is closing its screens: nothing to show)
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
        if event.state == WorkerState.SUCCESS and event.worker.result is not None:
            self.model_ready(event.worker.result)
        elif event.state == WorkerState.ERROR:
            from efitables_tui.text import plain

            self.query_one("#progress-label", Label).update(plain(f"parsing failed: {event.worker.error}", "red"))
            self.notify(f"parsing failed: {event.worker.error}", severity="error", markup=False)

    def model_ready(self, model: DumpModel) -> None:
        from efitables_tui.text import printable

        self.model = model
        self.loaded = True
        self.query_one("#progress-row").display = False
        self.refresh_bindings()
        hexv = self.query_one(HexView)
        hexv.set_memory(self.eapp.dump.memory, model.is_secret)
        start = next((n for n in model.roots if n.kind == "EFI_SYSTEM_TABLE"), model.roots[0])
        ours = self._cursor_is_ours()
        self.query_one(StructureTree).finish(model, cursor_to=start if ours or self.current is None else self.current)
        if ours:
            self.select_node(start)
        elif self.current is not None:
            self.show_node(self.current)  # with its bytes, now that the hex view has the memory
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
        from efitables_tui.text import plain

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
        if not self.loaded:
            return  # (the view has no memory yet: its title says so)
        from efitables_tui.text import plain

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
            tree.select(node)  # (the tree may have been scrolled away from it: back into view)
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
        from efitables_tui.screens.goto_modal import GotoModal

        self.eapp.open_screen(GotoModal(), lambda pa: self.goto(pa) if pa is not None else None)

    def action_search(self) -> None:
        if self.model is None:
            self.notify("still parsing the dump", severity="warning")
            return
        from efitables_tui.screens.search_modal import SearchModal

        def chosen(found: Node | bytes | None) -> None:
            if isinstance(found, bytes):
                self.scan_memory(found)
            elif found is not None:
                self.select_node(found)
                self.query_one(StructureTree).focus()

        self.eapp.open_screen(SearchModal(self.model), chosen)

    def action_findings(self) -> None:
        if not self.loaded or self.model is None:
            self.notify("still parsing the dump", severity="warning")
            return
        from efitables_tui.screens.findings_screen import FindingsScreen

        self.eapp.open_screen(FindingsScreen(self.model.findings), lambda f: self.jump_to_finding(f) if f else None)

    def action_memmap(self) -> None:
        if not self.loaded or self.model is None:
            self.notify("still parsing the dump", severity="warning")
            return
        from efitables_tui.screens.memmap_screen import MemoryMapScreen

        self.eapp.open_screen(
            MemoryMapScreen(self.eapp.dump, self.model), lambda pa: self.goto(pa) if pa is not None else None
        )

    def action_coverage(self) -> None:
        if not self.loaded:
            self.notify("still parsing the dump", severity="warning")
            return
        from efitables_tui.screens.coverage_screen import CoverageScreen

        self.eapp.open_screen(CoverageScreen(self.eapp.dump), lambda pa: self.goto(pa) if pa is not None else None)

    def action_help(self) -> None:
        """The help screen (the key is the app's: '?' opens it from every screen)."""
        self.eapp.action_help()

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
        """What 'e' writes for ``node``: the object's ``to_dict()`` (the JSON ``show --json`` prints for it,
        secrets redacted unless the dump was opened with ``show_secrets``), or the node's own rows."""
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

    def export_name(self, node: Node) -> str:
        """The file name 'e' offers: ``KIND-ADDRESS.json`` (``EFI_SYSTEM_TABLE-7e0018.json``)."""
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", node.kind) or "object"
        addr = "noaddr" if node.address is None else f"{node.address:x}"
        return f"{name}-{addr}.json"

    def action_export(self) -> None:
        """Ask where to write the selected object's JSON (:class:`~efitables_tui.screens.export_modal.ExportModal`:
        the default path is shown and editable, an existing file is overwritten only after a second Enter)."""
        node = self.current
        if node is None:
            self.notify("nothing selected", severity="warning")
            return
        try:
            text = json.dumps(self.export_data(node), indent=2, default=str) + "\n"
        except Exception as e:  # noqa: BLE001  (a decoder's to_dict() bug is shown, never raised)
            self.notify(f"export failed: {type(e).__name__}: {e}", severity="error", markup=False)
            return
        from efitables_tui.screens.export_modal import ExportModal

        default = os.path.join(self.eapp.export_dir, self.export_name(node))
        self.eapp.open_screen(ExportModal(default, text, node.label), self._exported)

    def _exported(self, path: str | None) -> None:
        if path is None:
            return
        self.last_export = path
        self.notify(f"exported to {path}", markup=False)
