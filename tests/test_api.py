"""The Python API in a REPL: short reprs, clean fields, docstrings, open()'s keywords, GUID names (issue 15)."""

from __future__ import annotations

import dataclasses
import doctest
import inspect
import os
import re
from pathlib import Path

import pytest

import efitables
from efitables import guids
from efitables.dump import Dump
from efitables.efi.pointers import ResolvedPointer
from efitables.model import Parsed, clean_fields
from efitables.schemas.efi_memmap import EFI_MEMORY_DESCRIPTOR
from tests.builders_payloads import memdesc

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "dumps" / "samples"
ACPI20 = "8868e871-e4f1-11d3-bc22-0080c73c8881"


@pytest.fixture(scope="module")
def virt():
    with efitables.open(str(SAMPLES / "ovmf64-virt.elf")) as d:
        yield d


# -- 1. reprs -----------------------------------------------------------------------------------------
def test_readme_pycon_block_prints_what_it_says(monkeypatch):
    """Every ``pycon`` block of README.md, run as a doctest from the repository root."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```pycon\n(.*?)```", text, re.S)
    assert blocks, "README has no pycon block"
    monkeypatch.chdir(ROOT)
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for i, block in enumerate(blocks):
        test = parser.get_doctest(block, {}, f"README.md pycon block {i}", "README.md", 0)
        result = runner.run(test)
        assert result.failed == 0, f"README pycon block {i}: {result.failed} example(s) failed (see output)"


def test_reprs_are_short_hex_and_not_recursive(virt):
    st = virt.systab
    assert repr(st) == "SystemTable(address=0x7e0018, size=0x78, revision='2.70', vendor='EDK II', tables=6)"
    ptr = "ResolvedPointer(stored=0xfffffffeff7e0100, physical=0x7e0100, route='efi-memmap')"
    assert repr(st.config_table_ptr) == ptr
    for obj in [st, virt.efi_memmap, virt.e820, virt.boot_params, *virt.config_tables]:
        r = repr(obj)
        assert "\n" not in r and len(r) < 200 and r.startswith(type(obj).__name__ + "(")
        assert f"address={obj.address:#x}" in r and f"size={obj.size:#x}" in r
        assert "Container" not in r and "ResolvedPointer" not in r  # nothing nested is expanded


def test_nested_result_shows_as_class_at_address():
    @dataclasses.dataclass(kw_only=True)
    class Outer(Parsed):
        _repr_fields = ("child", "items", "flags")
        child: Parsed
        items: list[int]
        flags: int

    o = Outer(address=0x1000, size=0x10, child=Parsed(address=0x2000, size=8), items=[1, 2, 3], flags=0x80)
    assert repr(o) == "Outer(address=0x1000, size=0x10, child=Parsed@0x2000, items=3, flags=0x80)"


def test_fields_hide_construct_private_keys(virt):
    keys = list(virt.systab.fields.keys())
    assert keys[0] == "Hdr" and "FirmwareVendor" in keys
    assert not [k for k in keys if k.startswith("_")]
    assert "_io" not in virt.systab.fields.Hdr


def test_clean_fields_keeps_flag_names():
    raw = memdesc(7, 0x100000, 16, 0xF | (1 << 63))
    f = clean_fields(EFI_MEMORY_DESCRIPTOR.parse(raw))
    assert not [k for k in f if k.startswith("_")]
    attr = f.Attribute
    assert type(attr).__name__ == "FlagFields" and not [k for k in attr if k.startswith("_")]
    assert int(f.Type) == 7 and f.PhysicalStart == 0x100000 and f.NumberOfPages == 16
    assert attr.EFI_MEMORY_RUNTIME is True and attr.EFI_MEMORY_UC is True


# -- 2. docstrings ------------------------------------------------------------------------------------------
def _undocumented(cls: type) -> list[str]:
    out = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        st = inspect.getattr_static(cls, name)
        if isinstance(st, int | str | bool | float | tuple | frozenset | dict) or st is None:
            continue  # class constants
        fn = st.__func__ if isinstance(st, classmethod | staticmethod) else st
        if not (getattr(fn, "__doc__", None) or "").strip():
            out.append(name)
    return out


def test_dump_public_attributes_have_docstrings():
    assert _undocumented(Dump) == []
    doc = Dump.__doc__ or ""
    d = Dump.open(str(SAMPLES / "ovmf64.raw"))
    try:
        instance_attrs = [k for k in vars(d) if not k.startswith("_") and k not in {"redacts"}]
    finally:
        d.close()
    assert instance_attrs and [k for k in instance_attrs if f"``{k}``" not in doc] == []


@pytest.mark.parametrize("cls", [Parsed, ResolvedPointer])
def test_result_base_classes_have_docstrings(cls):
    assert _undocumented(cls) == []


def test_top_level_api_documented():
    for name in efitables.__all__:
        obj = getattr(efitables, name)
        assert (obj.__doc__ or "").strip(), name


# -- 3. open()'s keywords -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [efitables.open, Dump.open])
def test_open_has_explicit_keywords(fn):
    sig = inspect.signature(fn)
    kinds = {p.kind for p in sig.parameters.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds
    assert list(sig.parameters)[-7:] == ["format", "systab", "boot_params", "scan", "exhaustive", "show_secrets",
                                         "progress"]  # fmt: skip
    for name in ("systab", "boot_params", "scan", "exhaustive", "show_secrets", "progress"):
        assert sig.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert name in (fn.__doc__ or "")
    with pytest.raises(TypeError):
        fn(str(SAMPLES / "ovmf64.raw"), bogus=1)  # type: ignore[call-arg]


def test_open_keywords_reach_the_dump():
    with efitables.open(str(SAMPLES / "ovmf64.raw"), systab=0x7E0018, scan="never", show_secrets=True) as d:
        assert (d.user_systab, d.scan_mode, d.show_secrets) == (0x7E0018, "never", True)
        assert d.systab is not None and d.systab.address == 0x7E0018


# -- 4. GUIDs by any name ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        ACPI20,  # GUID text
        "{8868E871-E4F1-11D3-BC22-0080C73C8881}",  # registry format
        "EFI_ACPI_20_TABLE_GUID",  # UEFI spec
        "efi_acpi_table_guid",  # the spec's other name, any case
        "ACPI_20_TABLE_GUID",  # Linux
        "gEfiAcpi20TableGuid",  # EDK2 (config_table_guids.csv)
        "EfiAcpi20TableGuid",  # EDK2 without the g
        "gefiacpi20tableguid",  # EDK2, any case
    ],
)
def test_config_table_by_any_name(virt, name):
    t = virt.config_table(name)
    assert t is not None and t.guid == ACPI20 and t.index == 0
    assert guids.resolve(name) == ACPI20


def test_acpi_1_0_names_do_not_collide_with_2_0():
    acpi10 = "eb9d2d30-2d88-11d3-9a16-0090273fc14d"
    # the EDK2 list names the 2.0 GUID gEfiAcpiTableGuid; ACPI_TABLE_GUID is still Linux's / the spec's 1.0
    assert guids.resolve("ACPI_TABLE_GUID") == acpi10 and guids.resolve("ACPI_10_TABLE_GUID") == acpi10
    assert guids.resolve("gEfiAcpi10TableGuid") == acpi10
    assert guids.resolve("gEfiAcpiTableGuid") == ACPI20 and guids.resolve("EFI_ACPI_TABLE_GUID") == ACPI20


def test_linux_and_edk2_list_names():
    assert guids.resolve("LINUX_EFI_MEMRESERVE_TABLE_GUID") == "888eb0c6-8ede-4ff5-a8f0-9aee5cb977c2"
    assert guids.resolve("linux_efi_memreserve_table_guid") == "888eb0c6-8ede-4ff5-a8f0-9aee5cb977c2"
    # a GUID only the large EDK2 list names
    assert guids.resolve("EfiDebugImageInfoTableGuid") == "49152e77-1ada-4764-b7a2-7afefed95e8b"
    assert guids.resolve("EFI_DEBUG_IMAGE_INFO_TABLE_GUID") == "49152e77-1ada-4764-b7a2-7afefed95e8b"
    assert guids.resolve("no such table") is None


def test_shown_name_and_user_names(virt, tmp_path):
    hob = next(t for t in virt.config_tables if t.name == "gEfiHobListGuid")
    assert virt.config_table(hob.name) is hob and virt.config_table(hob.name.upper()) is hob
    csv = tmp_path / "names.csv"
    csv.write_text("f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b,MyVendorTable\n")
    try:
        assert guids.load_guid_csv(str(csv)) == 1
        assert guids.resolve("myvendortable") == "f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b"
        assert virt.config_table("MyVendorTable").index == 5
    finally:
        guids._REGISTRY.pop("f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b", None)
        guids._NAME_INDEX = None


def test_guids_reachable_from_the_package():
    assert efitables.guids is guids and os.path.basename(guids.__file__) == "guids.py"


def test_every_entry_list_is_entries() -> None:
    """One naming scheme (issue 15): the EFI map, E820 and an XSDT all list their entries as ``.entries``."""
    import efitables

    with efitables.open(str(SAMPLES / "ovmf64.raw")) as d:
        assert d.efi_memmap is not None and d.e820 is not None
        assert d.efi_memmap.entries is d.efi_memmap.descriptors and len(d.efi_memmap.entries) > 0
        assert len(d.e820.entries) > 0
