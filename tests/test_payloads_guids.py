"""The large GUID name list: its generator's parsers, and the registry priorities."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

from efitables import guids

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
_spec = importlib.util.spec_from_file_location("gen_edk2_guids", ROOT / "tools/gen_edk2_guids.py")
gen = importlib.util.module_from_spec(_spec)
sys.modules["gen_edk2_guids"] = gen
_spec.loader.exec_module(gen)


def test_dec_parser_on_real_lines():
    got = list(gen.parse_dec((DATA / "MdePkg_excerpt.dec").read_text()))
    assert got == [
        ("eb9d2d30-2d88-11d3-9a16-0090273fc14d", "gEfiAcpi10TableGuid", "guids"),
        ("eb9d2d31-2d88-11d3-9a16-0090273fc14d", "gEfiSmbiosTableGuid", "guids"),
        ("49152e77-1ada-4764-b7a2-7afefed95e8b", "gEfiDebugImageInfoTableGuid", "guids"),
        ("b1b621d5-f19c-41a5-830b-d9152c69aae0", "gFdtTableGuid", "guids"),
        ("d719b2cb-3d3a-4596-a3bc-dad00e67656f", "gEfiImageSecurityDatabaseGuid", "guids"),
        ("826ca512-cf10-4ac9-b187-be01496631bd", "gEfiCertSha1Guid", "guids"),
        ("4e1356c2-0eed-463f-8147-9933abdbc7d5", "gEfiKmsFormatRsasha2563072Guid", "guids"),
    ]


def test_efi_h_parser_on_real_lines():
    got = dict((n, g) for g, n in gen.parse_efi_h((DATA / "efi_h_excerpt.h").read_text()))
    assert got == {
        "ACPI_TABLE_GUID": "eb9d2d30-2d88-11d3-9a16-0090273fc14d",
        "ACPI_20_TABLE_GUID": "8868e871-e4f1-11d3-bc22-0080c73c8881",
        "LINUX_EFI_RANDOM_SEED_TABLE_GUID": "1ce1e5bc-7ceb-42f2-81e5-8aadf180f57b",
    }


def test_guid_db_read_without_running_it(tmp_path):
    db = tmp_path / "guiddb.py"
    db.write_text(
        "import os\nos.system('false')\n"
        "GUID_DATABASE = EfiGuidDb({\n"
        ' "7739f24c-93d7-11d4-9a3a-0090273fc14d":\n'
        ' EfiGuid("7739f24c-93d7-11d4-9a3a-0090273fc14d", "EFI_HOB_LIST_GUID",\n'
        "   aliases=['HOB_LIST_GUID', 'EfiHobListGuid'],\n"
        "   urls=['https://github.com/tianocore/edk2/blob/master/MdePkg/MdePkg.dec'], vendors=['EDK2']),\n"
        ' "00026aeb-f334-4c15-a7f0-e1e897e9fe91": EfiGuid("00026aeb-f334-4c15-a7f0-e1e897e9fe91", "NvmeRecovery"),\n'
        "})\n"
    )
    dec = tmp_path / "edk2" / "MdePkg"
    dec.mkdir(parents=True)
    (dec / "MdePkg.dec").write_text((DATA / "MdePkg_excerpt.dec").read_text())
    rows = gen.build([tmp_path / "edk2"], DATA / "efi_h_excerpt.h", "v6.12.117", db, "testdb")
    out = tmp_path / "out.csv"
    n = gen.write(rows, out)
    table = {r["guid"]: r for r in csv.DictReader(out.open())}
    assert n == len(table) == 11  # 7 from the .dec, 2 more from efi.h, 2 from the database
    hob = table["7739f24c-93d7-11d4-9a3a-0090273fc14d"]
    assert hob["edk2_name"] == "EfiHobListGuid" and "testdb (cites tianocore/edk2 MdePkg/MdePkg.dec)" in hob["source"]
    acpi = table["eb9d2d30-2d88-11d3-9a16-0090273fc14d"]
    assert (acpi["linux_name"], acpi["edk2_name"]) == ("ACPI_TABLE_GUID", "gEfiAcpi10TableGuid")
    assert acpi["source"] == "tianocore/edk2 MdePkg/MdePkg.dec; torvalds/linux include/linux/efi.h@v6.12.117"
    assert table["00026aeb-f334-4c15-a7f0-e1e897e9fe91"]["edk2_name"] == "NvmeRecovery"


def test_shipped_list_is_large_sourced_and_agrees_with_real_lines():
    rows = list(csv.DictReader((ROOT / "efitables/data/edk2_guids.csv").open()))
    assert len(rows) > 10000 and all(r["source"] for r in rows)
    assert len({r["guid"] for r in rows}) == len(rows)
    for g, _name in gen.parse_efi_h((DATA / "efi_h_excerpt.h").read_text()):
        assert guids.lookup(g) is not None
    for g, _name, _kind in gen.parse_dec((DATA / "MdePkg_excerpt.dec").read_text()):
        assert guids.lookup(g) is not None, g


def test_priorities_and_unknown():
    # Built-in config-table names win over the large list.
    assert guids.name_of("8868e871-e4f1-11d3-bc22-0080c73c8881") == "ACPI_20_TABLE_GUID"
    # A firmware module GUID only the large list knows.
    k = guids.lookup("00026AEB-F334-4C15-A7F0-E1E897E9FE91")
    assert k is not None and k.name == "NvmeRecovery" and "cert-uefi-parser" in k.source
    assert guids.lookup("01234567-89ab-cdef-0123-456789abcdef") is None
    assert guids.lookup("not a guid") is None


@pytest.fixture
def restore_registry():
    saved = dict(guids._REGISTRY)
    yield
    guids._REGISTRY.clear()
    guids._REGISTRY.update(saved)


def test_user_guid_csv_in_uefitool_form(tmp_path, restore_registry):
    p = tmp_path / "guids.csv"
    p.write_text(
        "01234567-89AB-CDEF-0123-456789ABCDEF,MyVendorDxe\n"
        "8868E871-E4F1-11D3-BC22-0080C73C8881,SomethingElse\n"
        "not-a-guid,Whatever\n"
        "onlyonefield\n"
    )
    assert guids.load_guid_csv(str(p)) == 1
    k = guids.lookup("01234567-89ab-cdef-0123-456789abcdef")
    assert k.name == "MyVendorDxe" and k.source == str(p)
    assert guids.name_of("8868e871-e4f1-11d3-bc22-0080c73c8881") == "ACPI_20_TABLE_GUID"
