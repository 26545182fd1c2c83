"""efitables diff: the first kernel's dump against the second's (kexec), structure by structure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sample_mutations import (
    BOOT_PARAMS,
    CFG_ARRAY,
    EFI_INFO,
    SAMPLES,
    ST32_NR_TABLES,
    ST_FW_REVISION,
    ST_NR_TABLES,
    SYSTAB,
    SampleImage,
)

from efitables.cli import cli
from efitables.diff import MAX_OBJECTS, diff_dumps, diff_snapshots, snapshot
from efitables.dump import Dump

NEW_SYSTAB = 0x7E0800
ESRT_GUID = "b122a263-3661-4f68-9929-78f8b0d62180"


def second_kernel(tmp_path: Path) -> Path:
    """The sample machine as a second kernel might see it: a table added, one replaced, one moved,
    the system table copied elsewhere (efi_info names the copy) with a changed FirmwareRevision."""
    img = SampleImage("ovmf64.raw")
    from efitables.schemas.common import guid_to_bytes

    # entry [6]: a new table (ESRT); entry [4]: its GUID replaced (MemoryTypeInformation removed)
    img.write(CFG_ARRAY + 6 * 24, guid_to_bytes(ESRT_GUID) + (0x760000).to_bytes(8, "little"))
    img.write(CFG_ARRAY + 4 * 24, guid_to_bytes("eb9d2d31-2d88-11d3-9a16-0090273fc14d") + bytes(8))
    img.write(CFG_ARRAY + 4 * 24 + 16, (0x730000).to_bytes(8, "little"))
    # entry [2] (DXE services) moved to 0x711000
    img.u64(CFG_ARRAY + 2 * 24 + 16, 0x711000)
    img.u32(SYSTAB + ST_FW_REVISION, 0x20000)
    img.systab_field(ST_NR_TABLES, ST32_NR_TABLES, 7)
    img.write(NEW_SYSTAB, img.read(SYSTAB, 0x78))
    img.u32(BOOT_PARAMS + EFI_INFO + 4, NEW_SYSTAB)  # efi_info.efi_systab
    return img.save(tmp_path, "second.raw")


def test_identical() -> None:
    with Dump.open(str(SAMPLES / "ovmf64.raw")) as a, Dump.open(str(SAMPLES / "ovmf64.raw")) as b:
        dd = diff_dumps(a, b)
    assert dd.identical and dd.changes == [] and dd.counts()["changed"] == 0


def test_kexec_like_changes(tmp_path: Path) -> None:
    second = second_kernel(tmp_path)
    with Dump.open(str(SAMPLES / "ovmf64.raw")) as a, Dump.open(str(second)) as b:
        dd = diff_dumps(a, b)
    by = {(c.change, c.key): c for c in dd.changes}
    assert by[("added", "configuration table EFI_SYSTEM_RESOURCE_TABLE_GUID")].new_address == 0x760000
    assert by[("added", "configuration table SMBIOS_TABLE_GUID")].new_address == 0x730000
    assert ("removed", "configuration table gEfiMemoryTypeInformationGuid") in by
    moved = by[("moved", "configuration table EFI_DXE_SERVICES_TABLE_GUID")]
    assert (moved.old_address, moved.new_address) == (0x710000, 0x711000)
    st = by[("moved", "EFI_SYSTEM_TABLE")]
    assert (st.old_address, st.new_address) == (SYSTAB, NEW_SYSTAB)
    assert st.fields["firmware_revision"] == (0x10000, 0x20000)
    assert st.fields["nr_tables"] == (6, 7)
    disc = by[("changed", "EFI system table discovery")]
    assert disc.fields["address"] == (SYSTAB, NEW_SYSTAB)
    bp = by[("changed", "boot_params")]
    assert bp.fields["efi_systab"] == (SYSTAB, NEW_SYSTAB)
    assert not dd.identical
    d = dd.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["counts"]["moved"] >= 2 and d["counts"]["added"] >= 1 and d["counts"]["removed"] >= 1


def test_findings_new_and_gone(tmp_path: Path) -> None:
    img = SampleImage("ovmf64.raw")
    img.u32(SYSTAB + ST_FW_REVISION, 0x12345)  # CRC now wrong
    crc = img.save(tmp_path, "crc.raw")
    with Dump.open(str(SAMPLES / "ovmf64.raw")) as a, Dump.open(str(crc)) as b:
        dd = diff_dumps(a, b)
        back = diff_dumps(b, a)
    assert [f.code for f in dd.findings_new] == ["EFI-SYSTAB-CRC"] and dd.findings_gone == []
    assert [f.code for f in back.findings_gone] == ["EFI-SYSTAB-CRC"] and back.findings_new == []
    ch = next(c for c in dd.changes if c.key == "EFI_SYSTEM_TABLE")
    assert ch.change == "changed" and ch.fields["crc_ok"] == (True, False)


def test_non_efi_against_efi() -> None:
    with Dump.open(str(SAMPLES / "seabios.raw")) as a, Dump.open(str(SAMPLES / "ovmf64.raw")) as b:
        dd = diff_dumps(a, b)
    added = {c.key for c in dd.changes if c.change == "added"}
    assert "EFI_SYSTEM_TABLE" in added and "EFI_MEMORY_MAP" in added
    assert {f.code for f in dd.findings_gone} == {"EFI-NOT-EFI-BOOT"}  # a BIOS boot: info, not a missing table


def test_snapshot_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("efitables.diff.MAX_OBJECTS", 5)
    with Dump.open(str(SAMPLES / "ovmf64.raw")) as a:
        s = snapshot(a)
    assert s.truncated and len(s.objects) <= 5
    assert diff_snapshots(s, s).truncated
    assert MAX_OBJECTS >= 10_000


def test_cli(tmp_path: Path) -> None:
    second = second_kernel(tmp_path)
    r = CliRunner().invoke(cli, ["diff", str(SAMPLES / "ovmf64.raw"), str(second)])
    assert r.exit_code == 1, r.output
    assert f"~ moved   EFI_SYSTEM_TABLE {SYSTAB:#x} -> {NEW_SYSTAB:#x}" in r.stdout
    assert "firmware_revision: 0x10000 -> 0x20000" in r.stdout
    assert "- removed configuration table gEfiMemoryTypeInformationGuid" in r.stdout
    r = CliRunner().invoke(cli, ["diff", "--json", str(SAMPLES / "ovmf64.raw"), str(second)])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["identical"] is False and doc["a"]["path"].endswith("ovmf64.raw") and doc["a"]["format"] == "raw"
    assert doc["b"] == {"path": str(second), "format": "raw", "size": second.stat().st_size}
    moved = next(c for c in doc["changes"] if c["key"] == "EFI_SYSTEM_TABLE")
    assert (moved["old_address_hex"], moved["new_address_hex"]) == (hex(SYSTAB), hex(NEW_SYSTAB))
    r = CliRunner().invoke(cli, ["diff", str(SAMPLES / "ovmf64.raw"), str(SAMPLES / "ovmf64.raw")])
    assert r.exit_code == 0 and "No differences." in r.stdout
    r = CliRunner().invoke(cli, ["diff", str(SAMPLES / "ovmf64.raw"), str(tmp_path / "missing.raw")])
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_changes_in_stale_memory_are_marked() -> None:
    """A payload in memory Linux frees after boot (and all below it) is marked: its changes may be mere reuse."""
    import copy

    with Dump.open(str(SAMPLES / "ovmf64-virt.elf")) as d:
        s = snapshot(d)
    stale = sorted(k for k, o in s.objects.items() if o.stale)
    assert stale == [
        "configuration table EFI_DXE_SERVICES_TABLE_GUID / EFI_DXE_SERVICES_TABLE",
        "configuration table gEfiHobListGuid / EDK2_HOB_LIST",
        "configuration table gEfiMemoryTypeInformationGuid / EFI_MEMORY_TYPE_INFORMATION",
    ]
    b = copy.deepcopy(s)
    b.objects[stale[1]].fields["boot_mode"] = 7
    acpi = next(k for k in s.objects if k.endswith("ACPI_20_TABLE_GUID"))
    b.objects[acpi].fields["table_address"] = 0x12345
    dd = diff_snapshots(s, b)
    assert {c.key: c.stale for c in dd.changes} == {stale[1]: True, acpi: False}
    assert {c["key"]: c["stale"] for c in dd.to_dict()["changes"]} == {stale[1]: True, acpi: False}
