"""Coverage: which structures a kexec identity-map model covers, one verdict per structure.

The analysis lives in ``efitables.coverage`` (``Dump.coverage(model)``); this
screen only asks for it, in a worker thread, and shows any list of verdicts it
returns as a table. If the Dump has no coverage analysis yet the screen says so.
Enter on a verdict with an address returns that address.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Select, Static
from textual.worker import Worker, WorkerState

from efitables_tui.text import plain

MAX_ROWS = 10_000
ADDRESS_KEYS = ("address", "start", "pa", "phys", "physical_address")


def coverage_models(dump: Any) -> list[str]:
    """Model names from the Dump or the coverage package (empty if there is no coverage analysis)."""
    fn = getattr(dump, "coverage_models", None)
    try:
        if callable(fn):
            return [_name(m) for m in fn()]
        import efitables.coverage as cov  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001
        return []
    for attr in ("MODELS", "models", "MODEL_NAMES"):
        m = getattr(cov, attr, None)
        if callable(m):
            m = m()
        if isinstance(m, dict):
            return [str(k) for k in m]
        if isinstance(m, list | tuple):
            return [_name(x) for x in m]
    return []


def _name(m: Any) -> str:
    return str(getattr(m, "name", m))


def has_coverage(dump: Any) -> bool:
    return callable(getattr(dump, "coverage", None))


def run_coverage(dump: Any, model: str | None) -> Any:
    fn = dump.coverage
    if model is None:
        return fn()
    try:
        return fn(model)
    except TypeError:
        return fn(model=model)


def _as_dict(x: Any) -> dict[str, Any]:
    if isinstance(x, dict):
        return x
    if hasattr(x, "to_dict"):
        d = x.to_dict()
        if isinstance(d, dict):
            return d
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: getattr(x, f.name) for f in dataclasses.fields(x) if f.repr}
    return {"value": x}


def verdict_table(result: Any) -> tuple[list[str], list[dict[str, Any]], dict[str, Any]]:
    """(columns, rows, summary scalars) from whatever the coverage analysis returned."""
    items: Any = None
    for attr in ("verdicts", "rows", "entries", "results"):
        items = getattr(result, attr, None)
        if isinstance(items, list | tuple):
            break
        items = None
    summary: dict[str, Any] = {}
    if items is None and isinstance(result, list | tuple):
        items = result
    if items is None:
        d = _as_dict(result)
        for k, v in d.items():
            if items is None and isinstance(v, list) and v and all(isinstance(e, dict) for e in v):
                items = v
            elif not isinstance(v, list | dict):
                summary[k] = v
    else:
        d = _as_dict(result) if not isinstance(result, list | tuple) else {}
        summary = {k: v for k, v in d.items() if not isinstance(v, list | dict)}
    rows = [_as_dict(x) for x in list(items or [])[:MAX_ROWS]]
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols and not isinstance(r[k], list | dict):
                cols.append(k)
    return cols, rows, summary


def _cell(v: Any) -> Text:
    if isinstance(v, bool):
        return Text(str(v), style="green" if v else "red")
    if isinstance(v, int):
        return Text(f"{v:#x}", justify="right")
    s = str(v)
    low = s.lower()
    style = (
        "green"
        if low in ("covered", "ok", "mapped", "yes")
        else "yellow"
        if low in ("rounding-only", "partial", "assumed")
        else "red"
        if low in ("not-covered", "not covered", "uncovered", "missing", "no", "unmapped", "fault")
        else ""
    )
    return plain(s, style)


class CoverageScreen(Screen[int | None]):
    BINDINGS = [Binding("escape,c", "close", "Back")]

    def __init__(self, dump: Any) -> None:
        super().__init__()
        self.dump = dump
        self.models = coverage_models(dump)
        self.rows: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="coverage-status", classes="pane-title")
        yield Select([(m, m) for m in self.models], prompt="model", id="coverage-model", allow_blank=True)
        yield DataTable(id="coverage-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        status = self.query_one("#coverage-status", Static)
        if not has_coverage(self.dump):
            status.update(Text("Coverage analysis is not available in this build (the Dump has no coverage())."))
            self.query_one("#coverage-model", Select).display = False
            return
        if self.models:
            status.update(Text(f"Coverage: {len(self.models)} model(s); choose one"))
            self.query_one("#coverage-model", Select).value = self.models[0]
        else:
            self.query_one("#coverage-model", Select).display = False
            self.compute(None)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.BLANK and isinstance(event.value, str):
            self.compute(event.value)

    @work(thread=True, exclusive=True, group="coverage")
    def compute(self, model: str | None) -> tuple[str | None, Any]:
        return model, run_coverage(self.dump, model)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "coverage":
            return
        status = self.query_one("#coverage-status", Static)
        if event.state == WorkerState.RUNNING:
            status.update(Text("Coverage: computing…"))
        elif event.state == WorkerState.ERROR:
            status.update(plain(f"Coverage failed: {event.worker.error}", "red"))
        elif event.state == WorkerState.SUCCESS and event.worker.result is not None:
            model, result = event.worker.result
            self.show_result(model, result)

    def show_result(self, model: str | None, result: Any) -> None:
        cols, rows, summary = verdict_table(result)
        self.rows = rows
        t = self.query_one("#coverage-table", DataTable)
        t.clear(columns=True)
        for c in cols:
            t.add_column(plain(c), key=c)
        for i, r in enumerate(rows):
            t.add_row(*[_cell(r.get(c, "")) for c in cols], key=str(i))
        head = f"Coverage ({model})" if model else "Coverage"
        extra = ", ".join(
            f"{k}={v:#x}" if isinstance(v, int) and not isinstance(v, bool) else f"{k}={v}" for k, v in summary.items()
        )
        self.query_one("#coverage-status", Static).update(
            plain(f"{head}: {len(rows)} verdict(s)" + (f" — {extra}" if extra else ""), limit=400)
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        i = event.cursor_row
        if 0 <= i < len(self.rows):
            for k in ADDRESS_KEYS:
                v = self.rows[i].get(k)
                if isinstance(v, int) and not isinstance(v, bool):
                    self.dismiss(v)
                    return

    def action_close(self) -> None:
        self.dismiss(None)
