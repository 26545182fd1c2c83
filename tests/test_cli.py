"""The command line: output, JSON keys, exit codes, escaping, errors in one line."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

import efitables
from dumps.builder import Image, config_tables, system_table, ucs2
from efitables import jsonout
from efitables.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_show_text(samples):
    """--full: every table (the default is the summary: tests/test_show_summary.py)."""
    r = run("show", "--full", str(samples / "ovmf64-virt.elf"))
    assert r.exit_code == 0, r.output
    for text in (
        "EFI system table @ 0x7e0018",
        "EDK II",
        "2.70 (UEFI 2.7",
        "ACPI_20_TABLE_GUID",
        "0xfffffffeff7e0100 (virtual) -> 0x7e0100 via efi-memmap",
        "unknown",
        "0x100000000",
    ):
        assert text in r.output
    # a payload in boot-services memory Linux frees is marked where it is summarised; ACPI (reclaim) is not
    dxe = "[2] EFI_DXE_SERVICES_TABLE_GUID: DXE services table rev 1.70 (CRC32 ok) [in possibly stale memory]"
    assert dxe in r.output
    assert "[0] ACPI_20_TABLE_GUID: ACPI RSDP rev 2 OEM 'BOCHS' @ 0x700000" in r.output


def test_show_json_keys(samples, expected):
    r = run("show", "--json", str(samples / "ovmf64.raw"))
    assert r.exit_code == 0
    d = json.loads(r.output)
    assert list(d)[:3] == ["schema_version", "tool", "command"] and {"dump", "efi", "boot", "findings"} <= set(d)
    assert d["schema_version"] == 1 and d["command"] == "show"
    assert d["dump"]["format"] == "raw" and d["dump"]["size"] == (samples / "ovmf64.raw").stat().st_size
    with efitables.open(str(samples / "ovmf64.raw")) as api:  # the API's dict is the CLI's document, unwrapped
        doc = json.loads(json.dumps(jsonout.annotate(api.to_dict())))
        assert doc == {k: v for k, v in d.items() if k not in ("schema_version", "tool", "command")}
    st = d["efi"]["system_table"]
    assert st["address"] == expected["ovmf64.raw"]["systab"]
    assert st["firmware_vendor"] == "EDK II" and st["revision_text"] == "2.70"
    assert st["address_hex"] == hex(expected["ovmf64.raw"]["systab"])
    assert st["config_table_ptr"] == {
        "stored": 0x7E0100,
        "stored_hex": "0x7e0100",
        "physical": 0x7E0100,
        "physical_hex": "0x7e0100",
        "route": "physical",
    }
    assert [e["name"] for e in st["config_table_array"]["entries"]][:2] == ["ACPI_20_TABLE_GUID", "ACPI_TABLE_GUID"]
    assert d["efi"]["discovery"]["route"] == "efi_info"
    cands = d["efi"]["discovery"]["candidates"]
    assert sorted((c["address"], c["accepted"]) for c in cands) == [
        (0x300000, False),
        (0x300200, False),
        (0x7E0018, True),
    ]


def test_show_several_dumps_json_array(samples):
    r = run("show", "--json", str(samples / "ovmf64.raw"), str(samples / "seabios.raw"))
    assert r.exit_code == 0
    d = json.loads(r.output)
    assert d["schema_version"] == 1 and len(d["dumps"]) == 2 and d["dumps"][1]["efi"]["system_table"] is None
    assert [x["dump"]["path"] for x in d["dumps"]] == [str(samples / "ovmf64.raw"), str(samples / "seabios.raw")]


def test_errors_are_one_line_with_exit_2(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    for path, msg in (
        (tmp_path / "missing", "no such file"),
        (empty, "empty file"),
        (text, "not a recognised dump"),
        (tmp_path, "is a directory"),
    ):
        p = subprocess.run([sys.executable, "-m", "efitables", "show", str(path)], capture_output=True, text=True)
        assert p.returncode == 2
        assert p.stderr.count("\n") == 1 and msg in p.stderr and "Traceback" not in p.stderr


def test_bad_address_option():
    r = run("show", "--systab", "zz", "x")
    assert r.exit_code == 2 and "is not an address" in r.output


def test_hostile_vendor_string_is_escaped(tmp_path):
    img = Image()
    img.add_region(0, 0x10000)
    img.put(
        0x1018, system_table(64, vendor=0x2000, revision=0x20046, fw_revision=0, runtime=0, nr_tables=1, tables=0x1100)
    )
    img.put(0x1100, config_tables(64, [("8868e871-e4f1-11d3-bc22-0080c73c8881", 0x4000)]))
    img.put(0x2000, ucs2("\x1b]0;pwned\x07[bold red]X[/]"))
    p = tmp_path / "evil.raw"
    img.write_raw(str(p))
    r = run("show", "--systab", "0x1018", str(p))
    assert "\x1b" not in r.output and "\x07" not in r.output
    assert "\\x1b]0;pwned\\x07[bold red]X[/]" in r.output


def test_show_error_findings_exit_1(tmp_path):
    img = Image()
    img.add_region(0, 0x10000)
    img.put(
        0x1018, system_table(64, vendor=0, revision=0x20046, fw_revision=0, runtime=0, nr_tables=5, tables=0x800000)
    )
    p = tmp_path / "bad.raw"
    img.write_raw(str(p))
    r = run("show", "--systab", "0x1018", str(p))
    assert r.exit_code == 1 and "EFI-CFGTAB-ARRAY-UNREADABLE" in r.output


def test_scan_command(samples):
    r = run("scan", "--json", str(samples / "ovmf64.raw"))
    assert r.exit_code == 0
    d = json.loads(r.output)
    assert [c["accepted"] for c in d["system_tables"]] == [False, False, True]
    assert d["zero_pages"][0]["address"] == 0x13000 and d["zero_pages"][0]["efi_info_problems"] == []
    assert d["zero_pages"][0]["address_hex"] == "0x13000" and d["dump"]["format"] == "raw"
