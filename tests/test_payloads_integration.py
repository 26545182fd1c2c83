"""Payloads through the Dump, ``efitables show`` (text and JSON) and ``--guid-db``."""

from __future__ import annotations

import json

from click.testing import CliRunner

import efitables
from dumps.builder import Image, config_tables, system_table, ucs2
from efitables import guids
from efitables.cli import cli
from efitables.payloads.linux_tables import LINUX_EFI_RANDOM_SEED_TABLE_GUID, LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID
from efitables.payloads.smbios import SMBIOS_TABLE_GUID
from tests.builders_payloads import random_seed, smbios2_ep, smbios_structure, unaccepted

SYSTAB, CFG, VENDOR = 0x7E0018, 0x7E0100, 0x7E0300
SEED_PA, SMBIOS_PA, SMBIOS_TABLE, UA_PA = 0x700000, 0x701000, 0x701100, 0x702000
SEED = bytes(range(0x40, 0x60))
USER_GUID = "11111111-2222-4333-8444-555555555555"


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_samples_payloads_decode(samples):
    with efitables.open(str(samples / "ovmf64.raw")) as d:
        acpi = d.config_table("ACPI_20_TABLE_GUID").payload
        assert acpi.kind == "ACPI_RSDP" and acpi.checksum_ok and acpi.extended_checksum_ok
        assert acpi.xsdt.signatures == ["FACP"] and acpi.rsdt.signatures == ["FACP"] and acpi.all_findings() == []
        kinds = {t.name: t.payload.kind for t in d.config_tables if t.payload is not None}
        assert kinds["EFI_DXE_SERVICES_TABLE_GUID"] == "EFI_DXE_SERVICES_TABLE"
        assert d.config_table("gEfiHobListGuid").payload.phit_valid
        assert len(d.config_table("gEfiMemoryTypeInformationGuid").payload.bins) == 7
        assert d.config_tables[-1].payload is None  # the unknown GUID: name and address only
        ours = [f for f in d.findings if f.code.startswith(("ACPI-", "EDK2-", "PAYLOAD-"))]
        # The DXE services, HOB list and memory type tables sit in boot-services data: possibly stale, nothing else.
        assert sorted((f.code, f.address) for f in ours) == [
            ("PAYLOAD-STALE", 0x710000),
            ("PAYLOAD-STALE", 0x720000),
            ("PAYLOAD-STALE", 0x730000),
        ]


def _hostile_dump(tmp_path) -> str:
    """A dump whose SMBIOS strings and an unknown GUID carry terminal escapes, plus a seed and unaccepted table."""
    img = Image()
    img.add_region(0, 0x800000)
    tables = [
        (LINUX_EFI_RANDOM_SEED_TABLE_GUID, SEED_PA),
        (SMBIOS_TABLE_GUID, SMBIOS_PA),
        (LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID, UA_PA),
        (USER_GUID, 0x703000),
    ]
    img.put(SYSTAB, system_table(64, vendor=VENDOR, revision=0x20046, fw_revision=1, runtime=0, nr_tables=len(tables),
                                 tables=CFG))  # fmt: skip
    img.put(CFG, config_tables(64, tables))
    img.put(VENDOR, ucs2("EDK II"))
    img.put(SEED_PA, random_seed(SEED))
    table = smbios_structure(1, 1, bytes(4), [b"\x1b[2J[bold red]EVIL[/]"]) + smbios_structure(127, 2)
    img.put(SMBIOS_PA, smbios2_ep(SMBIOS_TABLE, table, count=2))
    img.put(SMBIOS_TABLE, table)
    img.put(UA_PA, unaccepted(bytes([0x0F, 0, 0, 0, 0, 0, 0, 0])))
    p = tmp_path / "payloads.raw"
    img.write_raw(str(p))
    return str(p)


def test_show_text_carries_payloads_escaped_and_redacted(tmp_path):
    path = _hostile_dump(tmp_path)
    r = run("show", "--full", "--systab", hex(SYSTAB), path)
    assert r.exit_code == 0, r.output
    for text in ("Linux RNG seed (32 bytes)", "<redacted: 32 bytes, sha256", "SMBIOS 2.8", "unaccepted",
                 "accepted", "60 units", "\\x1b[2J[bold red]EVIL[/]"):  # fmt: skip
        assert text in r.output, text
    assert "\x1b[2J" not in r.output and SEED.hex() not in r.output
    r = run("show", "--full", "--systab", hex(SYSTAB), "--show-secrets", path)
    assert SEED.hex() in r.output


def test_show_json_carries_payloads(tmp_path):
    path = _hostile_dump(tmp_path)
    r = run("show", "--json", "--raw", "--systab", hex(SYSTAB), path)
    assert r.exit_code == 0, r.output
    entries = json.loads(r.output)["efi"]["system_table"]["config_table_array"]["entries"]
    by_guid = {e["guid"]: e for e in entries}
    seed = by_guid[LINUX_EFI_RANDOM_SEED_TABLE_GUID]["payload"]
    assert seed["kind"] == "LINUX_EFI_RANDOM_SEED" and seed["seed"]["redacted"] and seed["seed"]["length"] == 32
    assert SEED.hex() not in r.output
    sm = by_guid[SMBIOS_TABLE_GUID]["payload"]
    assert sm["checksum_ok"] and sm["structures"][0]["strings"] == ["\x1b[2J[bold red]EVIL[/]"]
    ua = by_guid[LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID]["payload"]
    assert (ua["unaccepted_units"], ua["accepted_units"]) == (4, 60)
    assert by_guid[USER_GUID]["payload"] is None and by_guid[USER_GUID]["name"] is None


def test_guid_db_option(tmp_path):
    path = _hostile_dump(tmp_path)
    db = tmp_path / "guids.csv"
    db.write_text(f"{USER_GUID.upper()},MyVendorTable\n")
    saved = dict(guids._REGISTRY)
    try:
        r = run("show", "--guid-db", str(db), "--json", "--systab", hex(SYSTAB), path)
        assert r.exit_code == 0, r.output
        entries = json.loads(r.output)["efi"]["system_table"]["config_table_array"]["entries"]
        assert {e["guid"]: e["name"] for e in entries}[USER_GUID] == "MyVendorTable"
    finally:
        guids._REGISTRY.clear()
        guids._REGISTRY.update(saved)
    r = run("show", "--guid-db", str(tmp_path / "missing.csv"), path)
    assert r.exit_code == 2 and "missing.csv" in r.output
