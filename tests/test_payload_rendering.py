"""What decoded payloads show: ``summary()``, ``facts()`` and ``table_views()`` (the facts the CLI and the TUI
share), the rich layout of ``efitables show``, and dump strings coming out escaped in both."""

from __future__ import annotations

import re
import struct

from click.testing import CliRunner
from rich.console import Console

from dumps.builder import Image, config_tables, system_table, ucs2
from efitables.cli import cli
from efitables.cli.payloads import MAX_ROWS, cell, rich_table, title_markup
from efitables.memory import BytesMemory
from efitables.model import TableView
from efitables.payloads import decode_payload
from efitables.payloads import edk2 as e
from efitables.payloads import linux_tables as lt
from efitables.payloads.acpi import ACPI_20_TABLE_GUID
from efitables.payloads.base import BS_DATA
from efitables.payloads.memattr import EFI_MEMORY_ATTRIBUTES_TABLE_GUID
from efitables.payloads.smbios import SMBIOS_TABLE_GUID
from efitables.schemas.payloads import edk2 as es
from tests.builders_payloads import (
    Entry,
    acpi_table,
    boot_memmap,
    memattr_table,
    memdesc,
    memreserve_node,
    random_seed,
    rsdp,
    rsdt,
    smbios2_ep,
    smbios_structure,
    smbios_table,
    unaccepted,
)

PA = 0x7000000
RSDP_PA, RSDT_PA, XSDT_PA, FACP_PA, APIC_PA = 0x7F000, 0x7F100, 0x7F200, 0x7F400, 0x7F800
EP, TABLE = 0x9F000, 0x9F100
RT, RO, XP, WB = 1 << 63, 0x20000, 0x4000, 0x8
HOSTILE = "\x1b[31m[bold]"
ACPI_COLS = ("#", "signature", "address", "length", "checksum", "OEM", "OEM table")


def _page(pa: int, *parts: tuple[int, bytes]) -> BytesMemory:
    page = bytearray(0x2000)
    for off, raw in parts:
        page[off : off + len(raw)] = raw
    return BytesMemory({pa: bytes(page)})


def _flat(p) -> list[str]:
    """Every string a payload shows: its summary, row labels and values, table titles, columns and cells."""
    out = [p.summary()]
    out += [s for r in p.facts() for s in r]
    for t in p.table_views():
        out += [t.title, *t.columns, *(c for r in t.rows for c in r)]
    return out


def _acpi_mem(oem: bytes = b"BOCHS ", **apic_over: bytes) -> BytesMemory:
    apic = acpi_table(b"APIC", bytes(40), **apic_over)
    return _page(
        RSDP_PA,
        (0, rsdp(2, RSDT_PA, XSDT_PA, oem=oem)),
        (0x100, rsdt([FACP_PA, APIC_PA])),
        (0x200, rsdt([FACP_PA, APIC_PA], xsdt=True)),
        (0x400, acpi_table(b"FACP", bytes(100))),
        (0x800, apic),
    )


# -- field by field -------------------------------------------------------------------------
def test_rsdp():
    r = decode_payload(_acpi_mem(), Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert r.summary() == "ACPI RSDP rev 2 OEM 'BOCHS'"
    assert r.facts() == [
        ("signature", "RSD PTR "),
        ("OEM ID", "BOCHS"),
        ("revision", "2"),
        ("checksum", "ok"),
        ("extended checksum", "ok"),
        ("RsdtAddress", "0x7f100"),
        ("XsdtAddress", "0x7f200"),
    ]
    rows = [
        ("0", "FACP", "0x7f400", "0x88", "ok", "BOCHS", "BXPC"),
        ("1", "APIC", "0x7f800", "0x4c", "ok", "BOCHS", "BXPC"),
    ]
    assert r.table_views() == [
        TableView("XSDT @ 0x7f200: 2 entries, checksum ok", ACPI_COLS, rows),
        TableView("RSDT @ 0x7f100: 2 entries, checksum ok", ACPI_COLS, rows),
    ]
    # The XSDT shows its own listing (a TUI node of its own); the JSON key stays "tables".
    assert r.xsdt.table_views() == r.table_views()[:1] and r.xsdt.to_dict()["tables"][1]["signature"] == "APIC"


def test_rsdp_bad_checksum_and_revision_0():
    mem = _acpi_mem()
    raw = bytearray(mem.read(RSDP_PA, 0x2000))
    raw[0x400 + 9] ^= 1  # FACP checksum
    r = decode_payload(_page(RSDP_PA, (0, bytes(raw))), Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert [row[4] for row in r.table_views()[0].rows] == ["BAD", "ok"]
    raw[0:20] = rsdp(0, RSDT_PA)
    r = decode_payload(_page(RSDP_PA, (0, bytes(raw))), Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert dict(r.facts())["extended checksum"] == "-" and dict(r.facts())["XsdtAddress"] == "-"
    assert [t.title for t in r.table_views()] == ["RSDT @ 0x7f100: 2 entries, checksum ok"]


def test_smbios():
    t = smbios_table()
    s = decode_payload(_page(EP, (0, smbios2_ep(TABLE, t)), (0x100, t)), Entry(SMBIOS_TABLE_GUID, EP))
    assert s.summary() == "SMBIOS 2.8 (_SM_, 4 structures)"
    assert s.facts() == [
        ("anchor", "_SM_"),
        ("version", "2.8"),
        ("checksum", "ok"),
        ("_DMI_ checksum", "ok"),
        ("table", f"0x9f100 length {len(t):#x} (used {len(t):#x})"),
        ("structures", "4 (entry point says 4)"),
        ("types", "0x1 1x1 3x1 127x1"),
    ]
    assert s.table_views() == [
        TableView(
            "SMBIOS strings (types 0-4, 17)",
            ("type", "name", "handle", "strings"),
            [
                ("0", "BIOS Information", "0x0000", "EFI Development Kit II / OVMF | 0.0.0 | 02/06/2015"),
                ("1", "System Information", "0x0100", "QEMU | Standard PC (Q35 + ICH9, 2009)"),
                ("3", "System Enclosure", "0x0300", "QEMU"),
            ],
        )
    ]


def test_memattr():
    raw = memattr_table([memdesc(5, 0x7F00000, 2, RT | RO | WB), memdesc(6, 0x7F02000, 3, RT | XP | WB)], flags=1)
    m = decode_payload(_page(PA, (0, raw)), Entry(EFI_MEMORY_ATTRIBUTES_TABLE_GUID, PA))
    assert m.summary() == "Memory attributes table v2 (2 entries)"
    assert m.facts() == [
        ("version", "2"),
        ("entries", "2"),
        ("descriptor size", "48"),
        ("flags", "0x1"),
        ("forward CFI (IBT/BTI)", "True"),
    ]
    assert m.table_views() == [
        TableView(
            "Memory attributes entries (2)",
            ("#", "type", "physical", "attributes"),
            [
                ("0", "RUNTIME_SERVICES_CODE", "0x7f00000-0x7f02000", "WB RO RUNTIME"),
                ("1", "RUNTIME_SERVICES_DATA", "0x7f02000-0x7f05000", "WB XP RUNTIME"),
            ],
        )
    ]


def test_memreserve():
    raw = memreserve_node([(0x1000000, 0x2000), (0x3000000, 0x1000)], next_pa=PA + 0x1000)
    raw2 = memreserve_node([(0x5000000, 0x10000)])
    m = decode_payload(_page(PA, (0, raw), (0x1000, raw2)), Entry(lt.LINUX_EFI_MEMRESERVE_TABLE_GUID, PA))
    assert m.summary() == "Linux MEMRESERVE (2 nodes, 3 ranges)"
    assert m.facts() == [
        ("nodes", "0x7000000 -> 0x7001000"),
        ("ranges", "3"),
        ("reserved bytes", "0x13000"),
    ]
    assert m.table_views() == [
        TableView(
            "Reserved ranges (3)",
            ("#", "physical", "size"),
            [
                ("0", "0x1000000-0x1002000", "0x2000"),
                ("1", "0x3000000-0x3001000", "0x1000"),
                ("2", "0x5000000-0x5010000", "0x10000"),
            ],
        )
    ]
    empty = decode_payload(_page(PA, (0, memreserve_node([]))), Entry(lt.LINUX_EFI_MEMRESERVE_TABLE_GUID, PA))
    assert empty.facts() == [("nodes", "0x7000000"), ("ranges", "0"), ("reserved bytes", "0x0")]
    assert empty.table_views() == []


def test_random_seed_redacted_and_shown():
    seed = bytes(range(1, 33))
    mem = _page(PA, (0, random_seed(seed)))
    r = decode_payload(mem, Entry(lt.LINUX_EFI_RANDOM_SEED_TABLE_GUID, PA))
    assert r.summary() == "Linux RNG seed (32 bytes)"
    assert r.facts() == [("size", "32"), ("seed", f"<redacted: 32 bytes, sha256 {r.seed.sha256_prefix}>")]
    assert r.table_views() == [] and seed.hex() not in " ".join(_flat(r))
    shown = decode_payload(mem, Entry(lt.LINUX_EFI_RANDOM_SEED_TABLE_GUID, PA), show_secrets=True)
    assert shown.facts() == [("size", "32"), ("seed", seed.hex())]


def test_unaccepted():
    u = decode_payload(
        _page(PA, (0, unaccepted(bytes([0x0F, 0, 0, 0])))), Entry(lt.LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID, PA)
    )
    assert u.summary() == "unaccepted memory: 4/32 units still unaccepted"
    assert u.facts() == [
        ("version", "1"),
        ("unit size", "0x200000"),
        ("phys_base", "0x100000000"),
        ("bitmap", "0x4 bytes = 32 units"),
        ("covers", "0x100000000-0x104000000"),
        ("accepted", "28 units (0x3800000 bytes)"),
        ("unaccepted", "4 units (0x800000 bytes)"),
    ]
    assert u.table_views() == []


def test_boot_memmap():
    descs = [memdesc(7, 0, 0x9F, WB), memdesc(3, 0x100000, 0x100, WB)]
    b = decode_payload(_page(PA, (0, boot_memmap(descs))), Entry(lt.LINUX_EFI_BOOT_MEMMAP_GUID, PA))
    assert b.summary() == "Linux boot memory map (2 descriptors)"
    assert b.facts() == [
        ("map_size", "0x60"),
        ("desc_size", "48"),
        ("desc_ver", "1"),
        ("map_key", "0x1234"),
        ("buff_size", "0x160"),
        ("descriptors", "2"),
    ]
    assert b.table_views() == []


def test_memory_type_information():
    recs = [(10, 0x80), (9, 0x40), (16, 0)]
    raw = b"".join(es.EFI_MEMORY_TYPE_INFORMATION.build(dict(Type=a, NumberOfPages=b)) for a, b in recs)
    m = decode_payload(_page(PA, (0, raw)), Entry(e.EFI_MEMORY_TYPE_INFORMATION_GUID, PA))
    assert m.summary() == "memory type information (2 bins)" and m.facts() == []
    assert m.table_views() == [
        TableView(
            "Memory type bins (2)",
            ("type", "name", "pages"),
            [("10", "EFI_ACPI_MEMORY_NVS", "0x80"), ("9", "EFI_ACPI_RECLAIM_MEMORY", "0x40")],
        )
    ]
    junk = decode_payload(
        _page(PA, (0, bytes([1, 0, 0, 0, 1, 0, 0, 0]) * 64)), Entry(e.EFI_MEMORY_TYPE_INFORMATION_GUID, PA)
    )
    assert junk.facts() == [("records", "64 without a Type-16 terminator (not listed)")] and junk.table_views() == []


def _exec_record(action: int, name: str, sig_list: bytes = b"") -> bytes:
    name16 = name.encode("utf-16-le") + b"\0\0"
    path = struct.pack("<BBH", 4, 4, 4 + len(name16)) + name16 + struct.pack("<BBH", 0x7F, 0xFF, 4)
    body = name16 + path + sig_list
    return es.EFI_IMAGE_EXECUTION_INFO.build(dict(Action=action, InfoSize=8 + len(body))) + body


def test_image_execution_info():
    recs = _exec_record(0x8 | 1, "\\EFI\\evil.efi", bytes(28)) + _exec_record(3, HOSTILE)
    raw = es.EFI_IMAGE_EXECUTION_INFO_TABLE_64.build(dict(NumberOfImages=2)) + recs
    t = decode_payload(_page(PA, (0, raw)), Entry(e.EFI_IMAGE_SECURITY_DATABASE_GUID, PA))
    assert t.summary() == "image execution info (2 images)"
    assert t.facts() == [("NumberOfImages", "2")]
    assert t.table_views() == [
        TableView(
            "Images (2)",
            ("#", "action", "name", "device path", "signature list"),
            [
                ("0", "AUTH_SIG_FAILED", "\\EFI\\evil.efi", str(4 + 2 * 13 + 2 + 4), "28"),
                ("1", "AUTH_SIG_NOT_FOUND (uninit)", "\\x1b[31m[bold]", str(4 + 2 * len(HOSTILE) + 2 + 4), "0"),
            ],
        )
    ]
    empty = decode_payload(_page(PA, (0, raw[:8].replace(b"\2", b"\0"))), Entry(e.EFI_IMAGE_SECURITY_DATABASE_GUID, PA))
    assert empty.facts() == [("NumberOfImages", "0")] and empty.table_views() == []


def test_generic_rows_and_stale_summary():
    """A payload without facts() of its own shows its scalar attributes; boot-time memory marks the summary."""
    from tests.builders_payloads import phit

    gen = es.EFI_HOB_GENERIC_HEADER.build
    raw = phit(PA + 0x38) + gen(dict(HobType=0xFFFF, HobLength=8, Reserved=0))
    h = decode_payload(_page(PA, (0, raw)), Entry(e.EFI_HOB_LIST_GUID, PA), region_type=BS_DATA)
    assert h.summary() == "HOB list (2 HOBs, PHIT version 9) [in possibly stale memory]"
    assert h.facts() == [
        ("phit_valid", "True"),
        ("version", "9"),
        ("boot_mode", "0"),
        ("memory_top", "0x8000000"),
        ("memory_bottom", "0x7000000"),
        ("free_memory_top", "0x7f00000"),
        ("free_memory_bottom", "0x7100000"),
        ("end_of_hob_list", "0x7000038"),
        ("hob_count", "2"),
        ("type_counts", "{'HANDOFF': 1, 'END_OF_HOB_LIST': 1}"),
    ]
    assert h.table_views() == []
    fresh = decode_payload(_page(PA, (0, raw)), Entry(e.EFI_HOB_LIST_GUID, PA))
    assert fresh.summary() == "HOB list (2 HOBs, PHIT version 9)"


# -- hostile strings ------------------------------------------------------------------------
def test_hostile_oem_ids_are_printable_in_rows_and_tables():
    mem = _acpi_mem(oem=b"[bold]", OemId=b"[red]x", OemTableId=b"\x1b[31m[b]")
    r = decode_payload(mem, Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert dict(r.facts())["OEM ID"] == "[bold]"
    assert r.table_views()[0].rows[1][5:] == ("[red]x", "\\x1b[31m[b]")
    assert all(s.isprintable() for s in _flat(r))
    r = decode_payload(_acpi_mem(oem=b"\x1b[31m\xff"), Entry(ACPI_20_TABLE_GUID, RSDP_PA))
    assert dict(r.facts())["OEM ID"] == "\\x1b[31m\\xff"
    assert r.summary() == "ACPI RSDP rev 2 OEM '\\x1b[31m\\\\xff'"
    assert all(s.isprintable() for s in _flat(r))


def test_hostile_smbios_strings_are_printable():
    table = smbios_structure(1, 1, bytes(4), [HOSTILE.encode(), b"ok"]) + smbios_structure(127, 2)
    s = decode_payload(_page(EP, (0, smbios2_ep(TABLE, table, count=2)), (0x100, table)), Entry(SMBIOS_TABLE_GUID, EP))
    assert s.table_views()[0].rows == [("1", "System Information", "0x0001", "\\x1b[31m[bold] | ok")]
    assert all(s.isprintable() for s in _flat(s))


# -- the rich face --------------------------------------------------------------------------
def _render(obj) -> str:
    con = Console(width=200, record=True, highlight=False, force_terminal=False, color_system=None)
    con.print(obj)
    return con.export_text()


def test_cells_are_escaped_and_bad_is_red():
    assert cell("BAD") == "[red]BAD[/]"
    assert cell("[bold]x") == "\\[bold]x" and cell("ok") == "ok"
    view = TableView("[i]title", ("[b]col", "v"), [("[bold]", "BAD")])
    out = _render(rich_table(view))
    assert "[i]title" in out and "[b]col" in out and "[bold]" in out and "BAD" in out
    styled = Console(width=80, record=True, force_terminal=True, color_system="standard")
    styled.print(rich_table(view))
    assert "\x1b[31mBAD" in styled.export_text(styles=True)


def test_bad_in_titles_is_red_and_stays_escaped():
    assert title_markup("XSDT @ 0x1: 2 entries, checksum BAD") == "XSDT @ 0x1: 2 entries, checksum [red]BAD[/]"
    assert title_markup("BADGE [x]") == "BADGE \\[x]"
    # A backslash right before the word must not escape the red tag (rich would then fail on "[/]").
    hostile = "\\BAD[/] \x1b"
    out = _render(rich_table(TableView(hostile, ("a",), [])))  # the title wraps to the table's width
    assert "".join(out.split()).startswith("\\BAD[/]\\x1b")
    styled = Console(width=80, record=True, force_terminal=True, color_system="standard")
    styled.print(rich_table(TableView("RSDT @ 0x1: 1 entries, checksum BAD", ("a",), [])))
    assert "31mBAD" in styled.export_text(styles=True)


def test_rich_table_caps_rows():
    view = TableView("many", ("#", "v"), [(str(i), "x") for i in range(MAX_ROWS + 5)])
    t = rich_table(view)
    assert t.row_count == MAX_ROWS + 1
    out = _render(t)
    assert f"{MAX_ROWS - 1} " in out and "5 more (see --json)" in out and f"│ {MAX_ROWS} " not in out
    assert rich_table(TableView("one", ("v",), [("x",)] * (MAX_ROWS + 2))).row_count == MAX_ROWS + 1


SYSTAB, CFG, VENDOR = 0x7E0018, 0x7E0100, 0x7E0300
H_RSDP, H_SMBIOS, H_SMBIOS_TABLE = 0x700000, 0x701000, 0x701100


def test_show_escapes_hostile_payload_strings(tmp_path):
    img = Image()
    img.add_region(0, 0x800000)
    tables = [(ACPI_20_TABLE_GUID, H_RSDP), (SMBIOS_TABLE_GUID, H_SMBIOS)]
    img.put(SYSTAB, system_table(64, vendor=VENDOR, revision=0x20046, fw_revision=1, runtime=0,
                                 nr_tables=len(tables), tables=CFG))  # fmt: skip
    img.put(CFG, config_tables(64, tables))
    img.put(VENDOR, ucs2("EDK II"))
    img.put(H_RSDP, rsdp(2, 0, 0, oem=b"[bold]"))
    table = smbios_structure(1, 1, bytes(4), [HOSTILE.encode()]) + smbios_structure(127, 2)
    img.put(H_SMBIOS, smbios2_ep(H_SMBIOS_TABLE, table, count=2))
    img.put(H_SMBIOS_TABLE, table)
    path = tmp_path / "hostile.raw"
    img.write_raw(str(path))
    r = CliRunner().invoke(cli, ["show", "--full", "--systab", hex(SYSTAB), str(path)])
    assert "\x1b" not in r.output, r.output
    assert "ACPI RSDP rev 2 OEM '[bold]'" in r.output  # the heading, markup not consumed
    assert re.search(r"^OEM ID +\[bold\]", r.output, re.M)  # the row value
    assert "\\x1b[31m[bold]" in r.output  # the SMBIOS strings cell
