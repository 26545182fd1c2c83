"""The terminal UI (efitables_tui): the dump model, Pilot tests of every view, snapshots, tmux.

Pilot tests open the sample dumps with ``App.run_test()`` and assert what the
widgets hold (tree nodes, field rows, the hex cursor and window, table rows)
and what the screen shows (:func:`tui_helpers.screen_text`). The snapshot
tests (pytest-textual-snapshot, Textual pinned in pyproject.toml) pin the main
screens; ``--snapshot-update`` regenerates them after a deliberate change.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("textual")

from tui_helpers import (  # noqa: E402
    open_coverage,
    screen_text,
    type_at_once,
    visible_tree_lines,
    wait_for_text,
    wait_loaded,
)

from efitables.dump import Dump  # noqa: E402
from efitables.memory.base import BytesMemory, PhysRange  # noqa: E402
from efitables_tui.app import DumpSource, EfitablesApp  # noqa: E402
from efitables_tui.nodes import build_model, secret_spans  # noqa: E402
from efitables_tui.screens.coverage_screen import CoverageScreen, verdict_rows  # noqa: E402
from efitables_tui.screens.export_modal import ExportModal  # noqa: E402
from efitables_tui.screens.findings_screen import FindingsScreen  # noqa: E402
from efitables_tui.screens.help_screen import HelpScreen  # noqa: E402
from efitables_tui.screens.memmap_screen import MemoryMapScreen  # noqa: E402
from efitables_tui.text import parse_address, plain  # noqa: E402
from efitables_tui.widgets.fields_table import FieldsTable  # noqa: E402
from efitables_tui.widgets.hex_view import HexView, window_for  # noqa: E402
from efitables_tui.widgets.object_tables import ObjectTables  # noqa: E402
from efitables_tui.widgets.structure_tree import StructureTree  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "dumps" / "samples"
SAMPLE_NAMES = ["ovmf64.raw", "ovmf64-virt.elf", "ovmf32.elf", "seabios.raw"]
CORPUS = ROOT / "dumps" / "real" / "corpus"
#: One container per real QEMU variant (the kdump if there is one: smaller to unpack than the ELF).
#: Unpacking costs seconds each, so by default only ovmf64 runs; EFITABLES_TUI_REAL=all runs every variant.
REAL_ALL = sorted(
    {
        p.name.split(".")[0]: p
        for p in sorted(CORPUS.glob("*.xz"), key=lambda p: "kdump" in p.name)
        if ".elf" in p.name or ".kdump" in p.name
    }.values()
)
REAL = (
    REAL_ALL if os.environ.get("EFITABLES_TUI_REAL") == "all" else [p for p in REAL_ALL if p.name.startswith("ovmf64.")]
)
SIZE = (140, 45)
#: The smallest terminal the TUI is made for.
SMALL = (80, 24)


def open_sample(name: str, **kw) -> Dump:
    return Dump.open(str(SAMPLES / name), **kw)


def _sample_or_skip(name: str) -> Path:
    p = SAMPLES / name
    if not p.exists():
        pytest.skip(f"{p} not built (python -m dumps.make_samples)")
    return p


# -- the model, without a terminal ------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_model_of_every_sample(name: str, expected: dict) -> None:
    _sample_or_skip(name)
    with open_sample(name) as d:
        m = build_model(d)
        assert m.roots[0].kind == "dump"
        ranges = [n for n in m.nodes if n.kind == "range"]
        assert [(n.address, n.address + n.size) for n in ranges] == [tuple(r) for r in expected[name]["ranges"]]
        systab = [n for n in m.nodes if n.kind == "EFI_SYSTEM_TABLE"]
        if expected[name].get("systab") is None:
            assert not systab
            assert any(f.code == "EFI-NOT-EFI-BOOT" for f in m.findings)  # a BIOS boot
        else:
            assert systab[0].address == expected[name]["systab"]
            tables = [n for n in m.nodes if n.kind == "EFI_CONFIGURATION_TABLE"]
            assert [(n.obj.guid, n.obj.table_address) for n in tables] == [tuple(t) for t in expected[name]["tables"]]
        # every finding leads to a node or at least an address
        for f in m.findings:
            assert m.node_for_finding(f) is not None or f.address is None


def test_model_search_and_node_at() -> None:
    _sample_or_skip("ovmf64.raw")
    with open_sample("ovmf64.raw") as d:
        m = build_model(d)
        hits = m.search("8868e871")
        assert hits and hits[0].obj.name == "ACPI_20_TABLE_GUID"
        assert [n.label for n in m.search("hoblist")] == ["[3] gEfiHobListGuid"]
        assert m.node_at(0x7E0138).label == "[2] EFI_DXE_SERVICES_TABLE_GUID"
        assert m.node_at(0x7E0018).kind == "EFI_SYSTEM_TABLE"
        assert m.node_at(0x7FFFF0).kind in ("range", "EFI_MEMORY_DESCRIPTOR") or m.node_at(0x7FFFF0) is not None


def test_parse_address() -> None:
    assert parse_address("0x7e0018") == 0x7E0018
    assert parse_address("7e0018") == 0x7E0018
    assert parse_address("7E0018h") == 0x7E0018
    assert parse_address("#100") == 100
    assert parse_address("zz") is None
    assert parse_address("") is None


def test_plain_escapes_markup_and_control_characters() -> None:
    t = plain("[bold red]x[/]\x1b[31m\x07")
    assert t.plain == "[bold red]x[/]\\x1b[31m\\x07"
    assert not t.spans  # no markup was interpreted


def test_secret_spans_come_from_secret_ranges() -> None:
    """The hex view hides what each object's secret_ranges() names, and nothing else (no guessing from kinds)."""
    from efitables.model import Parsed
    from efitables_tui.nodes import Node

    class Seed(Parsed):  # a parser that names its own secret bytes
        kind = "SETUP_RNG_SEED"

        def secret_ranges(self) -> list[tuple[int, int]]:
            return [(0x9010, 0x9030)]

    class Page(Parsed):
        kind = "snp_secrets_page"

        def secret_ranges(self) -> list[tuple[int, int]]:
            return [(0x80D020, 0x80D0A0)]

    class Shown(Parsed):  # a redacted-looking object whose parser names no secret bytes hides nothing
        kind = "SETUP_RNG_SEED"

    shown = Shown(address=0x5000, size=32)
    shown.redacted = True  # type: ignore[attr-defined]
    nodes = [
        Node("p", "snp_secrets_page", obj=Page(address=0x80D000, size=4096)),
        Node("s", "SETUP_RNG_SEED", obj=Seed(address=0x9000, size=64)),
        Node("x", "SETUP_RNG_SEED", obj=shown),
        Node("container", "dump"),  # no object: nothing to hide
    ]
    assert secret_spans(nodes) == [(0x9010, 0x9030), (0x80D020, 0x80D0A0)]


def test_secret_spans_of_a_dump_are_its_objects_secret_ranges(tmp_path: Path) -> None:
    p = _snp_raw(tmp_path)
    for show in (False, True):
        with Dump.open(str(p), show_secrets=show) as d:
            m = build_model(d)
            declared = sorted(r for n in m.nodes if n.obj is not None for r in n.obj.secret_ranges())
            assert m.secret_spans == declared
            assert bool(declared) is not show  # --show-secrets: every parser names nothing


def test_secret_spans_include_what_the_dump_withholds(tmp_path: Path) -> None:
    """A range the redacting view withholds (found by the secrets pre-pass) is hidden in the hex view even
    when no object of the tree declares it."""
    from efitables.memory import open_memory
    from efitables.memory.redact import SecretRange

    p = _snp_raw(tmp_path)

    class Extra(Dump):
        def _secret_ranges(self) -> list[SecretRange]:
            return [*super()._secret_ranges(), SecretRange(0x7000, 0x7040, "a test secret")]

    with Extra(open_memory(str(p))) as d:
        m = build_model(d)
        assert m.secret_spans == [(0x7000, 0x7040), (0x80D020, 0x80D0A0)] == d.secret_spans()
        assert m.is_secret(0x703F) and not m.is_secret(0x7040)


def test_window_for_is_bounded_and_handles_holes() -> None:
    mem = BytesMemory({0x1000: bytes(0x1000)})
    w = window_for(mem, 0x1800)
    assert (w.start, w.end) == (0x1000, 0x2000)
    w = window_for(mem, 0x9000)  # not in the dump: the page around it
    assert (w.start, w.end) == (0x9000, 0xA000)


# -- Pilot: the main screen ------------------------------------------------------------


async def test_opens_on_system_table_and_reaches_config_tables(tmp_path: Path) -> None:
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"), export_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        ds = app.dump_screen
        assert ds.current is not None and ds.current.kind == "EFI_SYSTEM_TABLE"
        fields = app.screen.query_one(FieldsTable)
        names = [r.name for r in fields.rows_data]
        assert names[:3] == ["Hdr.Signature", "Hdr.Revision", "Hdr.HeaderSize"]
        sig = fields.rows_data[0]
        assert sig.hex == "0x5453595320494249" and sig.offset == 0 and sig.size == 8
        hexv = app.screen.query_one(HexView)
        assert hexv.cursor == 0x7E0018 and hexv.object_span == (0x7E0018, 0x7E0018 + 0x78)
        text = screen_text(app)
        assert "Configuration tables (6)" in text
        assert "007e0010  00 00 00 00 00 00 00 00  49 42 49 20 53 59 53 54  ........IBI SYST" in text

        # down twice from the system table: runtime services, then the config table array (open already)
        await pilot.press("down", "down")
        await pilot.pause()
        assert ds.current.kind == "EFI_CONFIGURATION_TABLE_ARRAY"
        await pilot.press("right")  # an open node: right goes to its first entry
        await pilot.pause()
        assert ds.current.kind == "EFI_CONFIGURATION_TABLE"
        assert ds.current.obj.name == "ACPI_20_TABLE_GUID"
        rows = {r.name: r for r in fields.rows_data}
        assert rows["VendorGuid"].meaning == "8868e871-e4f1-11d3-bc22-0080c73c8881"
        assert rows["VendorTable"].hex == "0x700000" and rows["VendorTable"].dec == str(0x700000)
        assert hexv.cursor == 0x7E0100  # the entry's bytes; its line in the tree names the table's address
        assert "ACPI_20_TABLE_GUID  0x700000" in screen_text(app)


async def test_goto_address_shows_hex_and_selects_the_object() -> None:
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await pilot.press("g", *"7e0138", "enter")
        await pilot.pause()
        ds = app.dump_screen
        hexv = app.screen.query_one(HexView)
        assert ds.current.label == "[2] EFI_DXE_SERVICES_TABLE_GUID"
        assert hexv.cursor == 0x7E0138
        assert hexv.field_span == (0x7E0130, 0x7E0140)  # VendorGuid holds the cursor
        assert app.screen.query_one(FieldsTable).current.name == "VendorGuid"
        text = screen_text(app)
        assert "007e0130  ba 34 ad 05 02 6f 14 42  95 2e 4d a0 39 8e 2b b9" in text
        assert "cursor 0x7e0138" in text
        # the cursor moves in the hex view and the field follows it
        await pilot.press("down")
        await pilot.pause()
        assert hexv.cursor == 0x7E0148
        assert ds.current.label == "[2] EFI_DXE_SERVICES_TABLE_GUID"
        assert "in [3] gEfiHobListGuid" in screen_text(app)


async def test_goto_hole_shows_absent_bytes() -> None:
    _sample_or_skip("ovmf64-virt.elf")
    app = EfitablesApp(open_sample("ovmf64-virt.elf"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await pilot.press("g", *"0xa0010", "enter")
        await pilot.pause()
        hexv = app.screen.query_one(HexView)
        assert hexv.cursor == 0xA0010
        assert (hexv.window.start, hexv.window.end) == (0xA0000, 0xA1000)
        text = screen_text(app)
        assert "000a0010  -- -- -- --" in text
        assert "not in the dump" in text


async def test_search_by_guid_and_name() -> None:
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await pilot.press("slash", *"7739f24c", "enter")
        await pilot.pause()
        assert app.dump_screen.current.obj.name == "gEfiHobListGuid"
        await pilot.press("slash", *"memorytype", "enter")
        await pilot.pause()
        assert app.dump_screen.current.obj.name == "gEfiMemoryTypeInformationGuid"


async def test_guid_memory_search() -> None:
    """A GUID offers a scan of memory for its EFI_GUID bytes; the hits list leads to the hex view."""
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        guid = "f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b"  # the unknown GUID: in the config table array
        await pilot.press("slash", *guid)
        await pilot.pause()
        ol = app.screen.query_one("#search-results")
        ol.highlighted = ol.option_count - 1  # the "scan memory" entry comes last
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        ds = app.dump_screen
        assert 0x7E0178 in ds.last_memory_hits
        assert "Found at" in screen_text(app)
        await pilot.press("enter")  # the first hit
        await pilot.pause()
        await pilot.pause()
        assert app.screen.query_one(HexView).cursor == ds.last_memory_hits[0]


async def test_guid_memory_search_can_be_cancelled() -> None:
    """x stops a memory search between two windows of PhysicalMemory.chunks (nothing is patched on the memory)."""
    mem = SlowMemory({0: bytes(64 << 20)})
    d = Dump(mem, scan="never")
    app = EfitablesApp(d)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        ds = app.dump_screen
        await pilot.press("slash", *"f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b")
        await pilot.pause()
        ol = app.screen.query_one("#search-results")
        ol.highlighted = ol.option_count - 1  # "scan memory"
        await pilot.press("enter")
        await pilot.pause(0.4)
        assert ds.scanning
        text = screen_text(app)
        assert "searching for c4d3e2f1a6b59847" in text and "x cancels" in text
        assert "x Cancel scan" in text  # the binding is offered while the search runs
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        result = ds.last_memory_search
        assert result is not None and result.cancelled and not result.hits
        assert 0 < result.searched < 64 << 20  # stopped early, between windows
        assert not ds.scanning and not app.screen.query_one("#progress-row").display
        assert app.screen is ds  # no hit list
        assert "chunks" not in vars(mem)  # no patched method on the memory object
        assert "x Cancel scan" not in screen_text(app)
        # a new search after a cancelled one runs to its end
        await pilot.press("slash", *"f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b")
        await pilot.pause()
        ol = app.screen.query_one("#search-results")
        ol.highlighted = ol.option_count - 1
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        result = ds.last_memory_search
        assert not result.cancelled and result.searched >= 64 << 20 and not result.hits


async def test_detail_pane_shows_the_objects_summary_facts_and_tables() -> None:
    """A decoded payload shows the same facts as ``efitables show``: summary(), facts() and table_views()."""
    _sample_or_skip("ovmf64-virt.elf")
    app = EfitablesApp(open_sample("ovmf64-virt.elf"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        ds = app.dump_screen
        rsdp = next(n for n in ds.model.nodes if n.kind == "ACPI_RSDP")
        ds.select_node(rsdp)
        await pilot.pause()
        await pilot.pause()
        assert ds.current is rsdp
        fields = app.screen.query_one(FieldsTable)
        facts = [(r.name, r.value) for r in fields.rows_data if r.offset is None]
        assert facts == rsdp.obj.facts()  # every row, in order, after the layout fields
        assert ("OEM ID", "BOCHS") in facts and ("checksum", "ok") in facts
        assert fields.rows_data[0].offset == 0  # the layout comes first
        tables = app.screen.query_one(ObjectTables)
        assert tables.display and tables.views == rsdp.obj.table_views()
        assert [v.title for v in tables.views] == [
            "XSDT @ 0x700200: 1 entries, checksum ok",
            "RSDT @ 0x700100: 1 entries, checksum ok",
        ]
        fields.move_cursor(row=next(i for i, r in enumerate(fields.rows_data) if r.name == "OEM ID"))
        await pilot.pause()
        text = screen_text(app)
        assert rsdp.obj.summary() in text  # the title line
        assert "OEM ID" in text and "BOCHS" in text and "checksum" in text
        assert "XSDT @ 0x700200: 1 entries, checksum ok" in text
        assert "FACP" in text and "0x700400" in text and "BXPC" in text
        # an object without tables hides the pane
        ds.select_node(rsdp.parent)
        await pilot.pause()
        await pilot.pause()
        assert ds.current is rsdp.parent and not tables.display


async def test_detail_pane_escapes_table_cells() -> None:
    from efitables.model import Parsed, TableView
    from efitables_tui.nodes import Node

    class Hostile(Parsed):
        kind = "hostile"

        def summary(self) -> str:
            return "[bold red]SUMMARY[/]"

        def facts(self) -> list[tuple[str, str]]:
            return [("[b]label[/b]", "[red]value[/red]")]

        def table_views(self) -> list[TableView]:
            return [TableView("[i]title[/i]", ("[u]col[/u]",), [("[blink]cell[/blink]\x1b[2J",)])]

    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        ds = app.dump_screen
        ds.show_node(Node("hostile", "hostile", obj=Hostile(address=None, size=0)))
        await pilot.pause()
        text = screen_text(app)
        for s in ("[bold red]SUMMARY[/]", "[b]label[/b]", "[red]value[/red]", "[i]title[/i]", "[u]col[/u]"):
            assert s in text
        assert "[blink]cell[/blink]\\x1b[2J" in text and "\x1b" not in text


async def test_findings_view_jumps_to_the_object() -> None:
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        model = app.dump_screen.model
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, FindingsScreen)
        table = app.screen.query_one("#all-findings")
        assert table.row_count == len(model.findings) > 0
        text = screen_text(app)
        assert "EFI-CFGTAB-UNKNOWN-GUID" in text
        # go to the unknown-GUID finding
        idx = next(i for i, f in enumerate(model.findings) if f.code == "EFI-CFGTAB-UNKNOWN-GUID")
        table.move_cursor(row=idx)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert not isinstance(app.screen, FindingsScreen)
        cur = app.dump_screen.current
        assert cur.kind == "EFI_CONFIGURATION_TABLE" and cur.obj.guid == "f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b"
        assert "EFI-CFGTAB-UNKNOWN-GUID" in screen_text(app)  # the object's own findings pane


async def test_memory_map_view_places_objects() -> None:
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, MemoryMapScreen)
        rows = app.screen.rows
        efi = [r for r in rows if r.source == "EFI"]
        assert len(efi) == 7
        rt = next(r for r in efi if r.type_name == "EFI_RUNTIME_SERVICES_DATA")
        assert (rt.start, rt.end) == (0x7E0000, 0x7F0000)
        text = screen_text(app)
        assert "EFI_RUNTIME_SERVICES_DATA" in text and "EFI system table" in text
        # enter on the runtime-data region: hex view at its start
        idx = rows.index(rt)
        app.screen.query_one("#memmap-table").move_cursor(row=idx)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one(HexView).cursor == 0x7E0000


async def test_coverage_view() -> None:
    from efitables.coverage import AUTO_MODEL, DEFAULT_MODEL

    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        screen = await open_coverage(app, pilot)
        # the CLI's default: "auto", which for a dump that does not say its kernel's version is DEFAULT_MODEL
        assert screen.query_one("#coverage-model").value == screen.models[0] == AUTO_MODEL
        assert screen.report is not None and screen.report.model.name == DEFAULT_MODEL
        assert screen.report.model_choice.startswith(f"auto: {DEFAULT_MODEL}")
        assert screen.rows == verdict_rows(screen.report) and screen.rows
        table = screen.query_one("#coverage-table")
        assert table.row_count == len(screen.rows)
        text = screen_text(app)
        assert f"Coverage under {DEFAULT_MODEL}" in text and "verdict(s)" in text
        assert screen.rows[0].object in text and screen.rows[0].verdict in text
        # enter on a verdict: hex view at the object's start
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, CoverageScreen)
        assert app.screen.query_one(HexView).cursor == screen.rows[0].start


def test_verdict_rows_follow_the_maps_in_cli_order() -> None:
    from efitables.coverage.objects import DECOMPRESSOR, KEXEC

    _sample_or_skip("ovmf64.raw")
    with open_sample("ovmf64.raw") as d:
        rep = d.coverage("v6.12")
        rows = verdict_rows(rep)
    assert rows == rep.rows_for(KEXEC) + rep.rows_for(DECOMPRESSOR)
    assert [r.map for r in rows] == sorted((r.map for r in rows), key=[KEXEC, DECOMPRESSOR].index)


async def test_export_and_copy(tmp_path: Path) -> None:
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"), export_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        out = tmp_path / "EFI_SYSTEM_TABLE-7e0018.json"
        assert isinstance(app.screen, ExportModal) and not out.exists()  # it asks first
        assert app.screen.query_one("#export-path").value == str(out)
        assert "/EFI_SYSTEM_TABLE-7e0018.json" in screen_text(app)  # the default path is shown (its end)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ExportModal)
        assert app.dump_screen.last_export == str(out)
        data = json.loads(out.read_text())
        assert data["kind"] == "EFI_SYSTEM_TABLE" and data["address"] == 0x7E0018
        assert data["firmware_vendor"] == "EDK II"
        assert data == json.loads(json.dumps(app.dump.systab.to_dict(), default=str))  # the object's to_dict()
        # copy: the highlighted field's value (fields table), then the hex cursor's address
        app.screen.query_one(FieldsTable).focus()
        await pilot.press("down")  # Hdr.Revision
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == "0x20046"
        app.screen.query_one(HexView).focus()
        await pilot.press("right", "y")
        await pilot.pause()
        assert app.clipboard == "0x7e0021"  # the field moved the cursor to Hdr.Revision (+0x8)


async def test_fields_table_drives_hex_highlight() -> None:
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        fields = app.screen.query_one(FieldsTable)
        fields.focus()
        rows = [r.name for r in fields.rows_data]
        for _ in range(rows.index("FirmwareVendor")):
            await pilot.press("down")
        await pilot.pause()
        hexv = app.screen.query_one(HexView)
        assert hexv.field_span == (0x7E0018 + 0x18, 0x7E0018 + 0x20)
        assert hexv.cursor == 0x7E0030
        assert "field FirmwareVendor = 0x7e0300" in screen_text(app)


async def test_help_and_command_palette() -> None:
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "go to a physical address" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        # the palette: jump to an object by name
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"gEfiMemoryType")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert app.dump_screen.current.obj.name == "gEfiMemoryTypeInformationGuid"
        text = screen_text(app)
        assert "g Go to" in text and "f Findings" in text  # bindings in the footer


async def test_seabios_dump_without_efi() -> None:
    _sample_or_skip("seabios.raw")
    app = EfitablesApp(open_sample("seabios.raw"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        text = screen_text(app)
        assert "Dump seabios.raw (raw)" in text
        await pilot.press("f")
        await pilot.pause()
        assert "EFI-NOT-EFI-BOOT" in screen_text(app)
        await pilot.press("escape", "m")
        await pilot.pause()
        assert isinstance(app.screen, MemoryMapScreen)


# -- hostile strings, secrets, big and slow dumps ---------------------------------------


def _hostile_dump(path: Path) -> None:
    from dumps.builder import Image, config_tables, runtime_services, system_table, ucs2

    img = Image()
    img.add_region(0, 0x100000)
    img.put(
        0x10018,
        system_table(64, vendor=0x10300, revision=0x20046, fw_revision=1, runtime=0x10400, nr_tables=1, tables=0x10100),
    )
    img.put(0x10100, config_tables(64, [("8868e871-e4f1-11d3-bc22-0080c73c8881", 0x20000)]))
    img.put(0x10300, ucs2("[bold red]EVIL[/]\x1b[2J\x07"))
    img.put(0x10400, runtime_services(64, 0x20046, 0x30000))
    img.write_raw(str(path))


async def test_dump_strings_are_escaped(tmp_path: Path) -> None:
    p = tmp_path / "hostile.raw"
    _hostile_dump(p)
    app = EfitablesApp(Dump.open(str(p), systab=0x10018))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        assert app.dump_screen.current.kind == "EFI_SYSTEM_TABLE"
        fields = app.screen.query_one(FieldsTable)
        row = next(i for i, r in enumerate(fields.rows_data) if "EVIL" in str(r.value))
        # facts() made the control characters visible; the markup is kept as data
        assert fields.rows_data[row].value == "[bold red]EVIL[/]\\x1b[2J\\x07"
        fields.move_cursor(row=row)
        await pilot.pause()
        text = screen_text(app)
        assert "[bold red]EVIL[/]\\x1b[2J\\x07" in text  # shown escaped, markup not applied
        assert "\x1b[2J" not in text


def _snp_raw(tmp_path: Path) -> Path:
    try:
        from builders_snp import write_snp_guest_raw
    except ImportError:
        pytest.skip("SNP fixtures (tests/builders_snp.py) not available")
    p = tmp_path / "snp.raw"
    write_snp_guest_raw(str(p))
    return p


@pytest.mark.parametrize("show", [False, True])
async def test_cc_blob_and_secrets_redaction(tmp_path: Path, show: bool) -> None:
    p = _snp_raw(tmp_path)
    d = Dump.open(str(p), show_secrets=show)
    if not hasattr(d, "cc_blob"):
        pytest.skip("this Dump has no cc_blob")
    app = EfitablesApp(d)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        model = app.dump_screen.model
        blob = next(n for n in model.nodes if n.kind == "cc_blob_sev_info")
        app.dump_screen.select_node(blob)
        await pilot.pause()
        await pilot.pause()
        assert app.dump_screen.current is blob
        assert "CC blob" in screen_text(app)
        page = next(n for n in model.nodes if n.kind == "snp_secrets_page")
        vmpck0 = page.address + 0x20
        await pilot.press("g", *f"{vmpck0:x}", "enter")
        await pilot.pause()
        assert app.dump_screen.current is page
        text = screen_text(app)
        line = next(ln for ln in text.splitlines() if f"{vmpck0:08x}  " in ln)
        if show:
            assert "**" not in line
        else:
            assert "** ** ** **" in line
            assert model.secret_spans == [(page.address + 0x20, page.address + 0xA0)]


class SlowMemory(BytesMemory):
    """A dump whose scan takes a long time (each 1 MiB chunk sleeps)."""

    def _range_chunks(self, lo, hi, chunk_size, overlap):
        for pa, data in super()._range_chunks(lo, hi, 1 << 20, overlap):
            time.sleep(0.05)
            yield pa, data


async def test_scan_runs_in_a_worker_and_can_be_cancelled() -> None:
    mem = SlowMemory({0: bytes(64 << 20)})
    d = Dump(mem)
    app = EfitablesApp(d)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(app, pilot, "signature scan", "x cancels", "Dump <bytes> (bytes)")
        assert not app.loaded  # the UI is up while the scan runs
        await pilot.press("x")
        await wait_loaded(app, pilot, timeout=10)
        assert d.scan_mode == "never"
        assert not app.screen.query_one("#progress-row").display
        assert d.progress is None and "chunks" not in vars(mem)  # the Dump's own callback, given back


async def test_big_sparse_dump_opens_at_once(tmp_path: Path) -> None:
    p = tmp_path / "big.raw"
    with open(p, "wb") as fh:
        fh.truncate(4 << 30)  # 4 GiB, sparse
        fh.seek(0xF000_0000)
        fh.write(b"needle in a big dump")
    t0 = time.monotonic()
    app = EfitablesApp(Dump.open(str(p), scan="never"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        assert time.monotonic() - t0 < 10
        await pilot.press("g", *"f0000000", "enter")
        await pilot.pause()
        hexv = app.screen.query_one(HexView)
        assert hexv.cursor == 0xF000_0000
        assert hexv.window.lines <= (512 << 20) // 16 + 1  # bounded window, rendered line by line
        assert "f0000000  6e 65 65 64 6c 65 20 69  6e 20 61 20 62 69 67 20  needle in a big " in screen_text(app)


# -- the first frame before the parse: the tree filled area by area ------------------------


class GatedDump(Dump):
    """A Dump whose named areas wait for ``gate`` (set by the test) before they are parsed."""

    def __init__(self, *args, gated: tuple[str, ...], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.gated = gated
        self.waiting = threading.Event()  # the parser is at a gated area

    def _wait(self, name: str) -> None:
        if name in self.gated:
            self.waiting.set()
            assert self.gate.wait(30), "the test never opened the gate"

    @functools.cached_property
    def systab_discovery(self):  # type: ignore[override]
        self._wait("systab_discovery")
        return Dump.systab_discovery.func(self)

    @functools.cached_property
    def cc_blob(self):  # type: ignore[override]
        self._wait("cc_blob")
        return Dump.cc_blob.func(self)


class GatedSource(DumpSource):
    """A dump source whose open() waits for ``gate``."""

    gate = threading.Event()

    def open(self) -> Dump:
        assert self.gate.wait(30), "the test never opened the gate"
        return super().open()


async def wait_until(pilot, cond, timeout: float = 10.0) -> None:
    """Poll ``cond`` (the app runs on this thread: a blocking wait would stop it)."""
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"{cond} never became true"
        await pilot.pause(0.02)


def tree_rows(tree: StructureTree) -> list[tuple[int, str, bool]]:
    """(depth, label, expanded) of every line the tree holds, in order."""
    out: list[tuple[int, str, bool]] = []

    def walk(tn, depth: int) -> None:
        for c in tn.children:
            out.append((depth, str(c.label), c.is_expanded))
            walk(c, depth + 1)

    walk(tree.root, 0)
    return out


async def _finished_tree(path: Path) -> list[tuple[int, str, bool]]:
    """The tree of ``path`` parsed without gates."""
    app = EfitablesApp(Dump.open(str(path)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        return tree_rows(app.screen.query_one(StructureTree))


def test_first_frame_imports_nothing_of_efitables() -> None:
    """The app, its main screen and the widgets on it import Textual only: the parsers load after the first frame."""
    code = (
        "import sys, efitables_tui.app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('efitables', 'construct', 'numpy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_hinted_load_imports_no_numpy() -> None:
    """With a hint no sweep runs: the TUI's worker imports nothing that only the sweep needs."""
    _sample_or_skip("ovmf64.raw")
    code = (
        "import asyncio, sys\n"
        "from efitables_tui.app import DumpSource, EfitablesApp\n"
        "async def main():\n"
        f"    app = EfitablesApp(DumpSource({str(SAMPLES / 'ovmf64.raw')!r}, options={{'boot_params': 0x13000}}))\n"
        "    async with app.run_test() as pilot:\n"
        "        while not app.loaded:\n"
        "            await pilot.pause(0.05)\n"
        "        assert app.dump_screen.current.kind == 'EFI_SYSTEM_TABLE'\n"
        "asyncio.run(main())\n"
        "print('numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False"


async def test_footer_composes_its_keys_once_and_again_when_they_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up refreshes the bindings three times: the keys are composed once; the end of the parse drops
    "x Cancel scan", which composes them again."""
    from efitables_tui.widgets.footer import Footer

    _sample_or_skip("ovmf64.raw")
    composed: list[int] = []
    original = Footer.recompose

    async def recompose(self) -> None:
        composed.append(1)
        await original(self)

    monkeypatch.setattr(Footer, "recompose", recompose)
    GatedSource.gate.clear()
    app = EfitablesApp(GatedSource(str(SAMPLES / "ovmf64.raw")))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(app, pilot, "x Cancel scan", "q Quit", "^p palette")
            await pilot.pause(0.3)
            assert len(composed) == 1
            GatedSource.gate.set()
            await wait_loaded(app, pilot)
            text = screen_text(app)
            assert "x Cancel scan" not in text and "q Quit" in text and len(composed) == 2
    finally:
        GatedSource.gate.set()


async def test_first_screen_appears_before_the_dump_is_opened() -> None:
    """Given a path, the app draws its first screen, then opens the dump in its worker."""
    _sample_or_skip("ovmf64.raw")
    GatedSource.gate.clear()
    app = EfitablesApp(GatedSource(str(SAMPLES / "ovmf64.raw")))
    try:
        async with app.run_test(size=SIZE) as pilot:
            text = await wait_for_text(app, pilot, "efitables", "Quit", "parsing the dump…")
            assert not app.dump_open and not app.loaded and "ovmf64.raw" not in text
            GatedSource.gate.set()
            await wait_loaded(app, pilot)
            text = screen_text(app)
            assert "ovmf64.raw" in text and "parsing the dump…" not in text
            assert app.dump_screen.current.kind == "EFI_SYSTEM_TABLE"
    finally:
        GatedSource.gate.set()


async def test_a_split_set_opens_as_one_dump(tmp_path: Path) -> None:
    """The parts of a makedumpfile --split dump (``efitables tui --split PART ...``): one dump, named as
    validate names it, on the same system table as the sample it was cut from."""
    from test_input_formats import _sample_split_set

    _sample_or_skip("ovmf64.raw")
    _full, parts = _sample_split_set(tmp_path)
    app = EfitablesApp(DumpSource(parts))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        assert app.dump_path == " + ".join(parts)
        assert app.dump.memory.info.format == "kdump-split"
        assert app.dump_screen.current.kind == "EFI_SYSTEM_TABLE"
        assert app.screen.query_one(HexView).cursor == 0x7E0018
        assert "sample.split1" in screen_text(app)


async def test_an_unopenable_dump_exits_with_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path the app cannot open: it exits with status 2 (the CLI's) and the error as its message."""
    p = tmp_path / "tiny.raw"
    p.write_bytes(b"")
    app = EfitablesApp(DumpSource(str(p), fmt="elf"))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(200):
            if app.return_code is not None:
                break
            await pilot.pause(0.05)
    assert app.return_code == 2
    printed = capsys.readouterr()
    assert "efitables: " in printed.err + printed.out and "empty" in printed.err + printed.out


async def test_first_screen_appears_before_parsing_finishes() -> None:
    """The parse waits on a gate: the header, the footer and a tree that says it is parsing are on screen;
    once the gate opens the tree is the one an ungated parse gives."""
    _sample_or_skip("ovmf64-virt.elf")
    path = SAMPLES / "ovmf64-virt.elf"
    expected = await _finished_tree(path)
    d = GatedDump(open_sample("ovmf64-virt.elf").memory, gated=("systab_discovery",))
    app = EfitablesApp(d)
    try:
        async with app.run_test(size=SIZE) as pilot:
            text = await wait_for_text(app, pilot, "efitables", "Quit", "parsing the dump…", "Dump ovmf64-virt.elf")
            await wait_until(pilot, d.waiting.is_set)
            assert not app.loaded and "EFI system table (" not in text
            tree = app.screen.query_one(StructureTree)
            assert tree.parsing and [r[1] for r in tree_rows(tree)][-1] == "parsing the dump…"
            d.gate.set()
            await wait_loaded(app, pilot)
            assert not tree.parsing
            assert tree_rows(tree) == expected
            assert app.dump_screen.current.kind == "EFI_SYSTEM_TABLE"
            assert app.screen.query_one(HexView).cursor == 0x7E0018  # its bytes, now that the dump is parsed
    finally:
        d.gate.set()


async def test_system_table_is_shown_before_the_slower_areas() -> None:
    """The CC blob's parse waits on a gate: the system table and its configuration tables are in the tree
    (and selected) first; the later areas follow once the gate opens."""
    _sample_or_skip("ovmf64-virt.elf")
    expected = await _finished_tree(SAMPLES / "ovmf64-virt.elf")
    d = GatedDump(open_sample("ovmf64-virt.elf").memory, gated=("cc_blob",))
    app = EfitablesApp(d)
    try:
        async with app.run_test(size=SIZE) as pilot:
            text = await wait_for_text(app, pilot, "EFI system table (64-bit", "Configuration tables (6)")
            await wait_until(pilot, d.waiting.is_set)
            assert not app.loaded and "parsing the dump…" in text and "CC blob" not in text.split("parsing:")[0]
            tree = app.screen.query_one(StructureTree)
            kinds = [tn.data.kind for tn in tree.root.children if tn.data is not None]
            assert kinds[:3] == ["dump", "discovery", "EFI_SYSTEM_TABLE"] and "cc_blob" not in kinds
            await wait_for_text(app, pilot, "Hdr.Signature")  # selected as it arrived: its fields are shown
            assert app.dump_screen.current.kind == "EFI_SYSTEM_TABLE"
            d.gate.set()
            await wait_loaded(app, pilot)
            assert tree_rows(tree) == expected
    finally:
        d.gate.set()


@pytest.mark.parametrize("onto_parsing_line", [False, True])
async def test_the_cursor_stays_where_the_user_moved_it_while_parsing(onto_parsing_line: bool) -> None:
    """The system table is selected as it arrives only if the user has not moved meanwhile; a cursor left on
    the "parsing" line goes back to the node the detail pane shows."""
    _sample_or_skip("ovmf64-virt.elf")
    d = GatedDump(open_sample("ovmf64-virt.elf").memory, gated=("systab_discovery",))
    app = EfitablesApp(d)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(app, pilot, "Dump ovmf64-virt.elf")
            await wait_until(pilot, d.waiting.is_set)
            await pilot.press("home", "right", "down")  # into the container: its physical ranges
            await pilot.pause()
            moved = app.dump_screen.current
            assert moved is not None and moved.kind == "ranges"
            tree = app.screen.query_one(StructureTree)
            if onto_parsing_line:
                await pilot.press("down")
                await pilot.pause()
                assert tree.cursor_node is not None and tree.cursor_node.data is None
            d.gate.set()
            await wait_loaded(app, pilot)
            assert app.dump_screen.current is moved
            assert tree.cursor_node is not None and tree.cursor_node.data is moved
    finally:
        d.gate.set()


@pytest.mark.parametrize("packed", REAL, ids=[p.name for p in REAL])
async def test_real_dumps(packed: Path, real_files, tmp_path: Path) -> None:
    """Every view on a real QEMU dump (dumps/real/corpus, unpacked once per session; skipped when absent)."""
    path = real_files.get(packed.name.removesuffix(".xz"))
    app = EfitablesApp(Dump.open(str(path)), export_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot, timeout=120)
        model = app.dump_screen.model
        assert any(n.kind == "range" for n in model.nodes)
        for key, screen in (("f", FindingsScreen), ("m", MemoryMapScreen), ("c", CoverageScreen)):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen)
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
        # every parsed object can be shown and exported
        ds = app.dump_screen
        for node in [n for n in model.nodes if n.obj is not None][:200]:
            ds.select_node(node)
            ds.show_node(node)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert ds.last_export and Path(ds.last_export).exists()
        assert Path(ds.last_export).parent == tmp_path


# -- snapshots --------------------------------------------------------------------------


def _snap_app(monkeypatch: pytest.MonkeyPatch, name: str) -> EfitablesApp:
    monkeypatch.chdir(ROOT)  # a relative path in the header, the same on every machine
    return EfitablesApp(Dump.open(f"dumps/samples/{name}"))


async def _loaded(pilot) -> None:
    await wait_loaded(pilot.app, pilot)


def _need_snap(request: pytest.FixtureRequest):
    try:
        return request.getfixturevalue("snap_compare")
    except pytest.FixtureLookupError:
        pytest.skip("pytest-textual-snapshot is not installed")


def test_snapshot_main_screen(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    _sample_or_skip("ovmf64.raw")
    snap = _need_snap(request)
    assert snap(_snap_app(monkeypatch, "ovmf64.raw"), terminal_size=SIZE, run_before=_loaded)


def test_snapshot_config_table(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    _sample_or_skip("ovmf64-virt.elf")
    snap = _need_snap(request)

    async def run(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("g", *"7e0178", "enter")
        await pilot.pause()

    assert snap(_snap_app(monkeypatch, "ovmf64-virt.elf"), terminal_size=SIZE, run_before=run)


def test_snapshot_findings(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    _sample_or_skip("ovmf64-virt.elf")
    snap = _need_snap(request)

    async def run(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("f")
        await pilot.pause()

    assert snap(_snap_app(monkeypatch, "ovmf64-virt.elf"), terminal_size=SIZE, run_before=run)


def test_snapshot_memory_map(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    _sample_or_skip("ovmf64.raw")
    snap = _need_snap(request)

    async def run(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("m")
        await pilot.pause()

    assert snap(_snap_app(monkeypatch, "ovmf64.raw"), terminal_size=SIZE, run_before=run)


def test_snapshot_small_first_screen(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """80x24: the configuration tables open with their tables' addresses, the footer's help and quit."""
    _sample_or_skip("ovmf64.raw")
    snap = _need_snap(request)
    assert snap(_snap_app(monkeypatch, "ovmf64.raw"), terminal_size=SMALL, run_before=_loaded)


def test_snapshot_small_hex_view(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """80x24: 8 bytes a line with their ASCII column, after g 7e0130 (the hex view has the focus)."""
    _sample_or_skip("ovmf64.raw")
    snap = _need_snap(request)

    async def run(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("g", *"7e0130", "enter")
        await pilot.pause()

    assert snap(_snap_app(monkeypatch, "ovmf64.raw"), terminal_size=SMALL, run_before=run)


def test_snapshot_small_help(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    _sample_or_skip("ovmf64.raw")
    snap = _need_snap(request)

    async def run(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap(_snap_app(monkeypatch, "ovmf64.raw"), terminal_size=SMALL, run_before=run)


def test_snapshot_small_memory_map(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """80x24: the address-space picture with the runtime-data descriptor selected in the table."""
    _sample_or_skip("ovmf64.raw")
    snap = _need_snap(request)

    async def run(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("m")
        await pilot.pause()
        await pilot.press(*["down"] * 8)  # EFI [5] EFI_RUNTIME_SERVICES_DATA 0x7e0000-0x7f0000
        await pilot.pause()

    assert snap(_snap_app(monkeypatch, "ovmf64.raw"), terminal_size=SMALL, run_before=run)


# -- a real terminal ---------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_in_tmux(tmp_path: Path) -> None:
    _sample_or_skip("ovmf64.raw")
    session = f"efitables-tui-{os.getpid()}"
    env = dict(os.environ, TERM="xterm-256color", TEXTUAL_ANIMATIONS="none")
    cmd = f"{sys.executable} -m efitables tui {SAMPLES / 'ovmf64.raw'} --export-dir {tmp_path}"
    tmux = ["tmux", "-L", session]

    def capture() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout

    def wait_for(text: str, timeout: float = 20) -> str:
        end = time.monotonic() + timeout
        out = ""
        while time.monotonic() < end:
            out = capture()
            if text in out:
                return out
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; screen:\n{out}")

    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "140", "-y", "45", cmd], check=True, env=env, cwd=ROOT
    )
    try:
        wait_for("Configuration tables (6)")
        wait_for("IBI SYST")
        subprocess.run([*tmux, "send-keys", "-t", session, "g"], check=True)
        wait_for("Go to physical address")
        subprocess.run([*tmux, "send-keys", "-t", session, "7e0100", "Enter"], check=True)
        out = wait_for("cursor 0x7e0100")
        assert "007e0100  71 e8 68 88" in out
        subprocess.run([*tmux, "send-keys", "-t", session, "e"], check=True)
        wait_for("Export [0] ACPI_20_TABLE_GUID as JSON to")
        assert not list(tmp_path.glob("*.json"))  # nothing is written before enter
        subprocess.run([*tmux, "send-keys", "-t", session, "Enter"], check=True)
        end = time.monotonic() + 10
        while not list(tmp_path.glob("*.json")) and time.monotonic() < end:
            time.sleep(0.2)
        assert [p.name for p in tmp_path.glob("*.json")] == ["EFI_CONFIGURATION_TABLE-7e0100.json"]
        subprocess.run([*tmux, "send-keys", "-t", session, "q"], check=True)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if subprocess.run([*tmux, "has-session", "-t", session], capture_output=True).returncode != 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the app did not quit on q")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def test_cli_registers_tui() -> None:
    from click.testing import CliRunner

    from efitables.cli import cli

    r = CliRunner().invoke(cli, ["tui", "--help"])
    assert r.exit_code == 0 and "--show-secrets" in r.output and "--export-dir" in r.output
    r = CliRunner().invoke(cli, ["tui", "/nonexistent/dump.raw"])
    assert r.exit_code == 2


def test_range_node_window() -> None:
    mem = BytesMemory({0: bytes(0x1000), 0x2000: bytes(0x1000)})
    assert mem.ranges() == [PhysRange(0, 0x1000), PhysRange(0x2000, 0x3000)]
    m = build_model(Dump(mem, scan="never"))
    assert [n.label for n in m.nodes if n.kind == "range"] == ["0x0-0x1000 (4 KiB)", "0x2000-0x3000 (4 KiB)"]


async def test_tree_lists_every_area() -> None:
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        tree = app.screen.query_one(StructureTree)
        top = [str(c.label) for c in tree.root.children]
        assert top[0].startswith("Dump ovmf64.raw")
        assert any("EFI system table (64-bit" in t for t in top)
        assert any("EFI memory map (7 descriptors)" in t for t in top)


async def test_findings_screen_lists_what_show_and_validate_report(tmp_path: Path) -> None:
    """The TUI's findings screen, show --json and validate --json list the same findings, on the corrupted
    sample that once made them disagree (only validate saw XS-OVERLAP)."""
    import json

    from click.testing import CliRunner
    from sample_mutations import ST32_CFG, ST_CFG, SYSTAB, SampleImage

    from efitables import jsonout
    from efitables.cli import cli

    img = SampleImage("ovmf64.raw")
    img.systab_field(ST_CFG, ST32_CFG, SYSTAB)
    bad = str(img.save(tmp_path, "overlap.raw"))
    show = json.loads(CliRunner().invoke(cli, ["show", "--json", bad]).stdout)["findings"]
    (val,) = json.loads(CliRunner().invoke(cli, ["validate", "--json", bad]).stdout)["dumps"]
    app = EfitablesApp(Dump.open(bad))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, FindingsScreen)
        tui = [jsonout.annotate(f.to_dict()) for f in app.screen.findings]  # the CLI's JSON adds address_hex
        assert app.screen.query_one("#all-findings").row_count == len(tui)
    # (the CLI's JSON may add keys of its own, such as the address in hex: compare what the finding holds)
    assert tui == [{k: f[k] for k in tui[0]} for f in show] == [{k: f[k] for k in tui[0]} for f in val["findings"]]
    assert any(f["code"] == "XS-OVERLAP" for f in tui)


# -- the first screen, 80x24, export, shutdown, the memory map picture (issues 15 and 19) ----------------


def _tree_nodes(tree: StructureTree) -> dict[str, list]:
    """The tree's nodes by the kind of what they show, in tree order."""
    out: dict[str, list] = {}

    def walk(tn) -> None:
        for c in tn.children:
            if c.data is not None:
                out.setdefault(c.data.kind, []).append(c)
            walk(c)

    walk(tree.root)
    return out


def _unmarked(label) -> str:
    """A tree label without its worst-finding mark."""
    import re

    return re.sub(r"^[EWi] ", "", str(label))


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["140x45", "80x24"])
async def test_first_screen_opens_the_configuration_tables(expected: dict, size: tuple[int, int]) -> None:
    """The configuration tables are open on the first screen, each named with the address of its table
    (VendorTable, from expected.json), not of its entry; E820 and the EFI memory map are closed, and open on
    demand. At 80 columns a long name is shortened, never the address."""
    from efitables import guids

    _sample_or_skip("ovmf64.raw")
    want = []
    for guid, table in expected["ovmf64.raw"]["tables"]:
        known = guids.lookup(guid)
        want.append((known.name if known else f"unknown GUID {guid}", f"{table:#x}"))
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=size) as pilot:
        await wait_loaded(app, pilot)
        tree = app.screen.query_one(StructureTree)
        nodes = _tree_nodes(tree)
        (array,) = nodes["EFI_CONFIGURATION_TABLE_ARRAY"]
        assert array.is_expanded and array.parent.is_expanded
        entries = nodes["EFI_CONFIGURATION_TABLE"]
        assert [_unmarked(e.label) for e in entries] == [f"{name}  {addr}" for name, addr in want]
        assert all(e.data.address != int(addr, 16) for e, (_n, addr) in zip(entries, want, strict=True))
        assert not any(e.is_expanded for e in entries)  # the payloads: one key away
        (e820,) = nodes["e820_table"]
        (memmap,) = nodes["EFI_MEMORY_MAP"]
        assert not e820.is_expanded and not memmap.is_expanded
        text = screen_text(app)
        assert "E820 table (3 entries" in text and "EFI memory map (7 descr" in text
        assert "E820_TYPE_RAM" not in text and "EFI_CONVENTIONAL_MEMORY" not in text
        for name, addr in want:
            assert f"  {addr}" in text  # every table's address is on screen
            if size == SIZE and len(name) < 30:
                assert f"{name}  {addr}" in text
        if size == SMALL:  # shortened where it did not fit, with the address kept after it
            assert "…  0x" in text
        # on demand: the E820 table opens with right
        tree.focus()
        tree.move_cursor(e820)
        await pilot.press("right")
        await pilot.pause()
        assert e820.is_expanded
        assert "[2] E820_TYPE_RESERVED" in screen_text(app)


def test_tree_labels_escape_dump_strings() -> None:
    """A GUID name (a user GUID list can hold anything) and an object title are data: no markup, control
    characters made visible."""
    from efitables.efi.config_tables import ConfigTable
    from efitables_tui.nodes import Node
    from efitables_tui.widgets.structure_tree import node_label

    t = ConfigTable(
        address=0x1000,
        size=24,
        index=0,
        guid="f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b",
        name="[red]EVIL[/red]\x1b[2J",
        source=None,
        table_address=0x2000,
        readable=True,
    )
    label, keep = node_label(Node(t.title, t.kind, obj=t, address=0x1000, size=24))
    assert label.plain == "[red]EVIL[/red]\\x1b[2J  0x2000" and keep == len("  0x2000")
    assert [str(sp.style) for sp in label.spans] == ["dim"]  # the address only; nothing was parsed as markup
    label, keep = node_label(Node("[b]title[/b]", "hostile", address=0x3000, size=8))
    assert label.plain == "[b]title[/b] @0x3000" and keep == 0


async def test_export_asks_where_and_never_overwrites_unasked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'e' asks: escape writes nothing; an edited path is used; an existing file takes a second enter; a path
    that cannot be written is reported in the modal (escaped), not raised."""
    from textual.widgets import Input

    _sample_or_skip("ovmf64.raw")
    monkeypatch.chdir(tmp_path)
    app = EfitablesApp(open_sample("ovmf64.raw"), export_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ExportModal)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExportModal) and not list(tmp_path.iterdir())
        # an edited path
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = str(tmp_path / "mine.json")
        await pilot.press("enter")
        await pilot.pause()
        assert json.loads((tmp_path / "mine.json").read_text())["kind"] == "EFI_SYSTEM_TABLE"
        assert app.dump_screen.last_export == str(tmp_path / "mine.json")
        # an existing file: the first enter warns and writes nothing, the second overwrites
        target = tmp_path / "EFI_SYSTEM_TABLE-7e0018.json"
        target.write_text("keep me")
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ExportModal) and target.read_text() == "keep me"
        assert "The file exists: press enter again to overwrite it" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ExportModal)
        assert json.loads(target.read_text())["address"] == 0x7E0018
        # a directory that does not exist (with markup in its name): said in the modal, which stays open
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = "[red]missing[/red]/x.json"  # (relative: tmp_path)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ExportModal)
        assert app.screen.status == "Cannot write: No such file or directory.\n[red]missing[/red]/x.json"
        text = screen_text(app)
        assert "Cannot write: No such file or directory." in text and "[red]missing[/red]/x.json" in text
        await pilot.press("escape")
        await pilot.pause()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["EFI_SYSTEM_TABLE-7e0018.json", "mine.json"]


@pytest.mark.parametrize("show", [False, True])
async def test_export_keeps_secrets_redacted(tmp_path: Path, show: bool) -> None:
    """The SNP secrets page exported: its VMPCK bytes only when the dump was opened with show_secrets."""
    p = _snp_raw(tmp_path)
    from builders_snp import VMPCKS

    vmpck0 = VMPCKS[0].hex()  # what the fixture wrote
    d = Dump.open(str(p), show_secrets=show)
    app = EfitablesApp(d, export_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        ds = app.dump_screen
        page = next(n for n in ds.model.nodes if n.kind == "snp_secrets_page")
        ds.select_node(page)
        await pilot.pause()
        await pilot.pause()
        assert ds.current is page
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        text = Path(ds.last_export).read_text()
    assert Path(ds.last_export).name == f"snp_secrets_page-{page.address:x}.json"
    assert (vmpck0 in text) is show
    assert ('"redacted": true' in text) is not show


def test_footer_plan_keeps_help_and_quit() -> None:
    """However narrow, help and quit stay (at the right end); the other keys fill what is left, in order."""
    from efitables_tui.widgets.footer import Key, plan

    keys = [Key(k, k, d, a, True, "") for k, d, a in (("g", "Go to", "goto"), ("m", "Memory map", "memmap"))]
    keys += [Key("?", "?", "Help", "help", True, ""), Key("q", "q", "Quit", "quit", True, "")]
    palette = Key("ctrl+p", "^p", "palette", "command_palette", True, "")
    wide = plan(keys, palette, 140)
    assert not wide.compact and [k.action for k in wide.keys] == ["goto", "memmap"] and wide.dropped == 0
    assert [k.action for k in wide.essential] == ["help", "quit"] and wide.palette.description == "palette"
    small = plan(keys, palette, 80)
    assert small.compact and [k.description for k in small.keys] == ["Goto", "Map"] and not small.palette.description
    tiny = plan(keys, palette, 24)
    assert [k.action for k in tiny.essential] == ["help", "quit"] and tiny.keys == () and tiny.dropped == 2


@pytest.mark.parametrize("size", [SMALL, SIZE], ids=["80x24", "140x45"])
async def test_footer_shows_help_and_quit_on_every_screen(size: tuple[int, int]) -> None:
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=size) as pilot:
        await wait_loaded(app, pilot)
        for key, screen in (("", None), ("m", MemoryMapScreen), ("c", CoverageScreen), ("f", FindingsScreen)):
            if key:
                await pilot.press("escape") if app.screen is not app.dump_screen else None
                await pilot.press(key)
                await pilot.pause()
                assert isinstance(app.screen, screen)
            footer = (await wait_for_text(app, pilot, "? Help", "q Quit")).splitlines()[-1]
            assert "? Help" in footer and "q Quit" in footer and footer.rstrip().endswith(("^p", "^p palette"))
        await pilot.press("question_mark")  # the app's key: help opens from any screen
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "escape")
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        if size == SMALL:  # compact, short names: every key of the main screen still fits
            keys = "g Goto / Search f Findings m Map c Coverage y Copy e Export ? Help q Quit ▏^p"
            assert footer.split() == keys.split()
        else:
            assert "g Go to" in footer and "m Memory map" in footer and "^p palette" in footer


async def test_hex_view_fits_its_ascii_column_at_80_columns() -> None:
    """8 bytes a line (with their ASCII) in a narrow view, 16 in a wide one, switched on resize."""
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_loaded(app, pilot)
        hexv = app.screen.query_one(HexView)
        assert hexv.row == 8 and hexv.scrollable_content_region.width >= hexv.line_width - 1
        text = screen_text(app)
        assert "007e0018  49 42 49 20 53 59 53 54  IBI SYST" in text
        assert "007e0020  46 00 02 00 78 00 00 00  F...x..." in text
        hexv.focus()
        await pilot.press("down")
        await pilot.pause()
        assert hexv.cursor == 0x7E0018 + 8  # a line is 8 bytes
        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        await pilot.pause()
        assert hexv.row == 16 and hexv.cursor == 0x7E0020
        text = screen_text(app)
        assert "007e0010  00 00 00 00 00 00 00 00  49 42 49 20 53 59 53 54  ........IBI SYST" in text
        await pilot.press("down")
        await pilot.pause()
        assert hexv.cursor == 0x7E0030
        await pilot.resize_terminal(*SMALL)
        await pilot.pause()
        await pilot.pause()
        assert hexv.row == 8
        assert "007e0030  00 03 7e 00 00 00 00 00  ..~....." in screen_text(app)


async def test_goto_selects_the_node_and_scrolls_it_into_view_at_80x24() -> None:
    """g ADDR opens the path to the object that holds it, selects it and scrolls the tree to it."""
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_loaded(app, pilot)
        tree = app.screen.query_one(StructureTree)
        ds = app.dump_screen
        # EFI memory descriptor [6], in the closed memory map; then E820 entry [2], below it
        for pa, kind, label in (
            (0x14120, "EFI_MEMORY_DESCRIPTOR", "[6] EFI_RUNTIME_SERVICES_CODE 0x7f0000-0x800000"),
            (0x132F8, "boot_e820_entry", "[2] E820_TYPE_RESERVED 0x7e0000-0x800000"),
        ):
            await pilot.press("g", *f"{pa:x}", "enter")
            await pilot.pause()
            await pilot.pause()
            assert ds.current.kind == kind and ds.current.label == label
            assert tree.cursor_node.data is ds.current
            assert tree.cursor_line in visible_tree_lines(tree)
            assert label in screen_text(app).split("│")[0] or label[:20] in screen_text(app)
        assert tree.scroll_y > 0  # the last one was below the first screenful: the tree scrolled


KEYS_THAT_OPEN = ["m", "c", "f", "e", "g", "slash", "question_mark"]


@pytest.mark.parametrize("key", KEYS_THAT_OPEN)
async def test_a_key_typed_right_after_q_does_not_crash(key: str, tmp_path: Path) -> None:
    """Issue 19: 'q' then a key that opens a screen, typed faster than the app handles keys; the exiting app
    used to push the screen and crash in its on_mount (NoMatches). Nothing runs once the app is exiting."""
    _sample_or_skip("ovmf64.raw")
    app = EfitablesApp(open_sample("ovmf64.raw"), export_dir=str(tmp_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_loaded(app, pilot)
        type_at_once(app, "q", key)
        await pilot.pause(0.3)
    assert app._exception is None and app.return_code == 0
    assert app.exiting and not list(tmp_path.iterdir())  # 'e' exported nothing either


async def test_keys_while_the_dump_is_opening_do_not_crash(tmp_path: Path) -> None:
    """The same keys while the dump is still being opened in the worker: each says it is too early (or opens
    its modal), then 'q' and every key at once; the dump opens while the app exits."""
    _sample_or_skip("ovmf64.raw")
    GatedSource.gate.clear()
    app = EfitablesApp(GatedSource(str(SAMPLES / "ovmf64.raw")), export_dir=str(tmp_path))
    try:
        async with app.run_test(size=SMALL) as pilot:
            await wait_for_text(app, pilot, "parsing the dump…", "q Quit")
            for key in KEYS_THAT_OPEN:
                type_at_once(app, key)
                await pilot.pause(0.05)
                if app.screen is not app.dump_screen:  # the goto modal, the help
                    await pilot.press("escape")
                    await pilot.pause()
                assert app.screen is app.dump_screen and not app.dump_open
            type_at_once(app, "q", *KEYS_THAT_OPEN)
            GatedSource.gate.set()  # the worker opens the dump and posts its news to an exiting app
            await pilot.pause(0.3)
    finally:
        GatedSource.gate.set()
    assert app._exception is None and app.return_code == 0
    assert not list(tmp_path.iterdir())


def test_coverage_default_model_is_the_clis() -> None:
    """One default: the coverage screen opens on the model ``efitables coverage`` uses without --model (the
    same constant of efitables.coverage, not a copy)."""
    from efitables import coverage
    from efitables.cli import coverage as cli_coverage
    from efitables_tui.screens import coverage_screen

    (option,) = [p for p in cli_coverage.coverage_cmd.params if p.name == "model_spec"]
    assert option.default is coverage.AUTO_MODEL is coverage_screen.FIRST_MODEL
    assert coverage_screen.coverage_models()[:2] == [coverage.AUTO_MODEL, coverage.DEFAULT_MODEL]
    assert sorted(coverage_screen.coverage_models()[1:]) == sorted(coverage.PRESETS)


# -- the memory map picture ------------------------------------------------------------------


def test_log_scale_cells() -> None:
    from efitables_tui.widgets.memory_bar import LOW, LogScale

    scale = LogScale(1 << 32, 80)  # 4 KiB .. 4 GiB: 20 doublings, 4 cells each
    assert scale.cell(0) == 0 and scale.cell(LOW * 2 - 1) == 3 and scale.cell(LOW * 2) == 4
    assert scale.cell(1 << 20) == 32  # the low 1 MiB: 32 of the 80 cells
    assert scale.cell((1 << 31) - 1) == 75 and scale.cell(1 << 31) == 76  # 2..4 GiB: four cells
    assert scale.cell(3 << 30) == 78  # 3..4 GiB: more than a cell (log2(4/3) * 4)
    assert scale.cell((1 << 32) - 1) == 79 and scale.cell(1 << 40) == 79
    assert scale.span(32) == (1 << 20, round((1 << 20) * 2**0.25))
    assert abs(scale.ratio - 2**0.25) < 1e-9
    for pa in (0x1000, 0x9F000, 0x100000, 0x7FB7E014, 0xFEC00000):  # every address is in its cell's span
        lo, hi = scale.span(scale.cell(pa))
        assert lo <= pa < hi
    assert LogScale.covering([0x7E0000], 64).top == 8 << 20  # the top rounded up to a power of two
    assert LogScale.covering([0x1000], 64).top == 1 << 20  # at least 1 MiB


def test_cell_classes_follow_the_region_policy() -> None:
    """Each cell shows the class of most of its bytes (efitables.regions' policy); holes are gaps; the count of
    regions, not their size, bounds the work."""
    from efitables.regions import E820, EFI, Region
    from efitables_tui.widgets.memory_bar import BOOT, FREE, KEPT, LogScale, cell_classes, region_class

    boot_code, runtime_data = 3, 6
    assert region_class(Region(EFI, boot_code, 0, 0x1000)) == BOOT
    assert region_class(Region(EFI, boot_code, 0, 0x1000, attribute=1 << 63)) == KEPT  # EFI_MEMORY_RUNTIME
    assert region_class(Region(EFI, runtime_data, 0, 0x1000)) == KEPT
    e820 = [
        Region(E820, 1, 0, 0x9F000),
        Region(E820, 2, 0xF0000, 0x100000),
        Region(E820, 1, 0x100000, 0xC0000000),
        Region(E820, 2, 0xFEC00000, 0x100000000),
    ]
    scale = LogScale(1 << 32, 80)
    fills = cell_classes(scale, ((r.start, r.end, region_class(r)) for r in e820))
    classes = [f.cls for f in fills]

    def inside(lo: int, hi: int) -> list[int]:
        return [i for i in range(80) if lo <= scale.span(i)[0] and scale.span(i)[1] <= hi]

    assert {fills[i] for i in inside(0, 0x9F000)} == {(FREE, 1.0)}
    assert {fills[i] for i in inside(0xA0000, 0xF0000)} == {(None, 0.0)}  # the legacy hole
    # 0xd7450-0x100000: the BIOS ROM's 64 KiB and 100 KiB of the hole: kept, shaded (less than half)
    rom = fills[scale.cell(0xF8000)]
    assert scale.span(31) == (0xD7450, 0x100000) and rom.cls == KEPT and 0.38 < rom.covered < 0.40
    assert {fills[i] for i in inside(0x100000, 0xC0000000)} == {(FREE, 1.0)}
    # 0xb504f334-0xd744fccb: RAM up to 3 GiB (a third of the cell), then the hole below 4 GiB, in view
    assert scale.span(78) == (0xB504F334, 0xD744FCCB) and classes[78] == FREE and fills[78].covered < 0.5
    assert classes[79] == KEPT and fills[79].covered < 0.05  # the 20 MiB below 4 GiB: shaded, not lost
    # a cell half RAM, half reserved, goes to the class with more bytes in it
    lo, hi = scale.span(40)
    mid = lo + (hi - lo) * 3 // 4
    assert cell_classes(scale, [(lo, mid, FREE), (mid, hi, KEPT)])[40] == (FREE, 1.0)
    # many huge, overlapping regions: one pass each (a difference array), the same answer
    assert {f.cls for f in cell_classes(scale, [(0, 1 << 32, FREE)] * 20_000)} == {FREE}


def test_markers_share_a_cell_as_a_star() -> None:
    from efitables_tui.widgets.memory_bar import MANY, LinearScale, LogScale, Marker, marker_cells

    scale = LogScale(8 << 20, 64)
    ms = [Marker(0x13000, "B", "boot_params"), Marker(0x7E0018, "S", "systab"), Marker(0x7E0100, "C", "cfg")]
    cells = marker_cells(scale, ms)
    assert cells == {scale.cell(0x13000): "B", scale.cell(0x7E0018): MANY}
    zoom = marker_cells(LinearScale(0x7E0000, 0x7E0200, 64), ms[1:])  # the zoom row tells them apart
    assert zoom == {3: "S", 32: "C"}


async def test_memory_map_picture_marks_the_selected_region() -> None:
    _sample_or_skip("ovmf64.raw")
    from efitables_tui.widgets.memory_bar import (
        BLOCK,
        BOOT,
        CLASS_STYLE,
        FREE,
        LABEL,
        SELECTED,
        LinearScale,
        MemoryBar,
    )

    app = EfitablesApp(open_sample("ovmf64.raw"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_loaded(app, pilot)
        await pilot.press("m")
        await pilot.pause()
        screen = app.screen
        bar = screen.query_one(MemoryBar)
        scale = bar.scale()
        assert scale.top == 8 << 20 and scale.cells == bar.content_region.width - LABEL
        assert [m.letter for m in bar.markers] == ["S", "C", "B"]
        rt = next(r for r in screen.rows if r.type_name == "EFI_RUNTIME_SERVICES_DATA")
        screen.query_one("#memmap-table").move_cursor(row=screen.rows.index(rt))
        await pilot.pause()
        assert bar.selected == (0x7E0000, 0x7F0000)
        lines = screen_text(app).splitlines()
        left = bar.region.x + 1 + LABEL  # the bar's padding, then the row names
        (sel,) = [ln for ln in lines if SELECTED in ln]
        cells = bar.selected_cells(scale)
        assert sel.index(SELECTED) == left + cells.start and sel.count(SELECTED) == len(cells)
        (found,) = [ln for ln in lines if ln.lstrip().startswith("found")]
        assert found[left + scale.cell(0x13000)] == "B" and found[left + scale.cell(0x7E0018)] == "*"
        (zoom,) = [ln for ln in lines if ln.lstrip().startswith("zoom")]
        # the system table and the configuration tables, 0x100 bytes apart in 0x7e0000-0x7f0000 (all kept)
        assert zoom[left] == "*" and set(zoom[left + 1 : left + scale.cells]) == {BLOCK}
        # the E820 RAM entry 0x100000-0x7e0000, zoomed: the EFI map's classes inside it
        e820_ram = next(r for r in screen.rows if r.source == "E820" and r.start == 0x100000)
        screen.query_one("#memmap-table").move_cursor(row=screen.rows.index(e820_ram))
        await pilot.pause()
        assert bar.selected == (0x100000, 0x7E0000)
        row = bar.zoom_row(scale.cells)
        styles = [str(sp.style) for sp in row.spans]  # one a cell (the row's name is the text's own style)
        zoom_scale = LinearScale(0x100000, 0x7E0000, scale.cells)
        for pa, cls in ((0x180000, FREE), (0x400000, FREE), (0x6F0000, FREE), (0x760000, BOOT)):
            assert styles[zoom_scale.cell(pa)] == CLASS_STYLE[cls], hex(pa)  # loader, conventional, boot data
        assert len(styles) == scale.cells
        (axis,) = [ln for ln in lines if "1M" in ln and "64K" in ln]
        assert axis[left + scale.cell(1 << 20) : left + scale.cell(1 << 20) + 2] == "1M"
        legend = " ".join(lines)
        assert "log2 scale" in legend and "S systab" in legend and "B boot_params" in legend


# -- async tests run without a pytest asyncio plugin -----------------------------------


def _sync(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return run


for _name, _fn in list(globals().items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_fn):
        globals()[_name] = _sync(_fn)
