"""Coverage: which structures a kexec identity-map model covers, one verdict per structure and map.

The analysis lives in ``efitables.coverage`` (:meth:`Dump.coverage <efitables.dump.Dump.coverage>`
returns a :class:`~efitables.coverage.CoverageReport`); this screen runs it in a
worker thread for the model chosen among the presets (:data:`efitables.coverage.PRESETS`)
and shows its verdicts, map by map, as ``efitables coverage`` does. Enter on a
verdict returns the object's start address.

It opens on the model ``efitables coverage`` uses without ``--model``: :data:`efitables.coverage.AUTO_MODEL`,
the constant the command's option takes as its default (the preset of the dump's own kernel, or
:data:`~efitables.coverage.DEFAULT_MODEL` when the dump does not say which kernel it holds).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Select, Static
from textual.worker import Worker, WorkerState

from efitables.coverage import AUTO_MODEL, COVERED, DEFAULT_MODEL, NOT_COVERED, PRESETS, ROUNDING, CoverageReport
from efitables.coverage.objects import DECOMPRESSOR, KEXEC
from efitables.coverage.verdict import PAGE_TABLE, Verdict
from efitables.dump import Dump
from efitables_tui.text import hexa, plain
from efitables_tui.widgets.footer import Footer

MAX_ROWS = 10_000
#: Maps in the order ``efitables coverage`` prints them.
MAPS = (KEXEC, DECOMPRESSOR, PAGE_TABLE)
VERDICT_STYLE = {COVERED: "green", ROUNDING: "yellow", NOT_COVERED: "bold red"}
COLUMNS: list[tuple[str, int]] = [
    ("map", 12),
    ("object", 28),
    ("start", 12),
    ("end", 12),
    ("verdict", 14),
    ("rule / detail", 44),
    ("read by", 40),
]


#: The model the screen opens on: the ``--model`` default of ``efitables coverage``.
FIRST_MODEL = AUTO_MODEL


def coverage_models() -> list[str]:
    """The choices: :data:`FIRST_MODEL` (the CLI's default), then the presets, :data:`DEFAULT_MODEL` first."""
    names = [n for n in PRESETS if n != DEFAULT_MODEL]
    return [FIRST_MODEL, DEFAULT_MODEL, *names]


#: The rows of a loaded kexec image's segments (``efitables coverage`` prints them as "kexec segments").
IMAGE_MAP = "kexec image"


def image_rows(report: CoverageReport) -> list[Verdict]:
    """One row per segment of the loaded kexec image, with what the walked map does with it (when walked)."""
    im = report.image
    if im is None:
        return []
    return [
        Verdict(
            f"{im.symbol} segment [{s.index}]",
            "kexec_segment",
            IMAGE_MAP,
            s.mem,
            s.end,
            s.verdict,
            [],
            s.detail,
            True,
            f"bufsz {s.bufsz:#x}; init_pgtable maps it",
        )
        for s in im.segments
    ]


def verdict_rows(report: CoverageReport) -> list[Verdict]:
    """The loaded image's segments, then the report's verdicts map by map (kexec, decompressor, walked page
    table), at most :data:`MAX_ROWS`."""
    return [*image_rows(report), *(v for m in MAPS for v in report.rows_for(m))][:MAX_ROWS]


def verdict_cells(v: Verdict) -> list[Text]:
    verdict = Text(v.verdict, style=VERDICT_STYLE.get(v.verdict, ""))
    if not v.required:
        verdict.append(" (optional)", style="dim")
    detail = "; ".join(v.rules)
    if v.detail:
        detail = f"{detail}; {v.detail}" if detail else v.detail
    return [
        plain(v.map),
        plain(v.object),
        Text(hexa(v.start), justify="right"),
        Text(hexa(v.end), justify="right"),
        verdict,
        plain(detail),
        plain(v.why),
    ]


def report_status(report: CoverageReport, shown: int) -> Text:
    modelled = report.rows_for(KEXEC) + report.rows_for(DECOMPRESSOR)
    counts = {k: sum(1 for v in modelled if v.verdict == k) for k in VERDICT_STYLE}
    t = plain(f"Coverage under {report.model.name}: {shown} verdict(s) — ", limit=200)
    for k, style in VERDICT_STYLE.items():
        t.append(f"{counts[k]} {k}", style=style)
        t.append(", ")
    t.append("OK" if report.ok else "NOT COVERED", style="green" if report.ok else "bold red")
    if report.findings:
        t.append(f" — {len(report.findings)} finding(s)", style="dim")
    if report.image is not None:  # whose zero page, command line and setup_data the rows judge
        t.append_text(plain(f" — inputs: {report.image.inputs}", "dim", limit=200))
    if report.model_choice:  # how "auto" chose
        t.append_text(plain(f" — {report.model_choice}", "dim", limit=200))
    return t


class CoverageScreen(Screen[int | None]):
    BINDINGS = [Binding("escape,c", "close", "Back")]

    def __init__(self, dump: Dump) -> None:
        super().__init__()
        self.dump = dump
        self.models = coverage_models()
        self.model: str | None = None
        self.report: CoverageReport | None = None
        self.rows: list[Verdict] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="coverage-status", classes="pane-title")
        yield Select([(m, m) for m in self.models], prompt="model", id="coverage-model", allow_blank=False)
        yield DataTable(id="coverage-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one("#coverage-table", DataTable)
        for name, width in COLUMNS:
            t.add_column(name, key=name, width=width)
        t.focus()  # enter goes to a verdict's object; tab reaches the model choice
        self.query_one("#coverage-status", Static).update(Text(f"Coverage: {len(self.models)} model(s)"))
        self.choose(self.models[0])

    def on_select_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.choose(event.value)

    def choose(self, model: str) -> None:
        """Compute the coverage under ``model`` (once per choice: the Select echoes its first value)."""
        if model != self.model:
            self.model = model
            self.compute(model)

    @work(thread=True, exclusive=True, group="coverage")
    def compute(self, model: str) -> CoverageReport:
        return self.dump.coverage(model)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "coverage":
            return
        status = self.query_one("#coverage-status", Static)
        if event.state == WorkerState.RUNNING:
            status.update(Text("Coverage: computing…"))
        elif event.state == WorkerState.ERROR:
            status.update(plain(f"Coverage failed: {event.worker.error}", "red"))
        elif event.state == WorkerState.SUCCESS and isinstance(event.worker.result, CoverageReport):
            self.show_report(event.worker.result)

    def show_report(self, report: CoverageReport) -> None:
        self.report = report
        self.rows = verdict_rows(report)
        t = self.query_one("#coverage-table", DataTable)
        t.clear()
        for i, v in enumerate(self.rows):
            t.add_row(*verdict_cells(v), key=str(i))
        self.query_one("#coverage-status", Static).update(report_status(report, len(self.rows)))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        i = event.cursor_row
        if 0 <= i < len(self.rows):
            self.dismiss(self.rows[i].start)

    def action_close(self) -> None:
        self.dismiss(None)
