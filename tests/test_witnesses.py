"""Three witnesses, one answer (efitables.analysis.witnesses), and coverage from the kernel's own kexec image.

Fixtures: the EFI machine of tests/builders_coverage.py (system table, configuration table
array, memory map, zero page, command line) with the fixture kernel of tests/builders_kernel.py
whose copies agree with it, or not; and the same machine captured System-RAM-only (what
kdump, LiME and AVML hold). On the real corpus the witnesses must agree, a System-RAM-only
capture must say so once instead of calling firmware structures missing, and the kdump
capture's coverage must use the crash image's real segments.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from builders_coverage import (
    BOOT_PARAMS,
    CFG_FAR,
    CMDLINE_TEXT,
    E820,
    MEMMAP,
    PT_BASE,
    SYSTAB,
    kexec_machine,
    kexec_table,
)
from builders_kernel import RT, KernelSpec, add_kernel
from rich.console import Console
from test_kernel_copies import CORPUS, ELF_VARIANTS, KDUMP_VARIANTS, ram_only, real_dumps, truth  # noqa: F401

import efitables
from efitables.analysis.witnesses import AGREE, DISAGREE, ONE
from efitables.dump import Dump
from efitables.memory.base import BytesMemory

ACPI20 = "8868e871-e4f1-11d3-bc22-0080c73c8881"
WB = 0x8
RUNTIME_DESCS = [(6, 0x7E0000, 0x20, 0xFFFFFFFEFF0E0000, RT | WB), (6, 0xA00000, 0x10, 0xFFFFFFFEFF300000, RT | WB)]


def machine_spec(**over: object) -> KernelSpec:
    """A kernel whose copies are the machine's: its zero page copied, the array, ACPI 2.0, the runtime map."""
    base = dict(
        systab=SYSTAB,
        boot_memmap=MEMMAP,
        efi_config_table=CFG_FAR,
        efi_tables={"acpi20": 0x700000},
        memmap=RUNTIME_DESCS,
        e820={n: list(E820) for n in ("e820_table", "e820_table_kexec", "e820_table_firmware")},
        cmdline=CMDLINE_TEXT.rstrip(b"\0").decode(),
        kimage=False,
    )
    base.update(over)
    return KernelSpec(**base)  # type: ignore[arg-type]


def machine(spec: KernelSpec | None = None, **machine_kw: object) -> tuple[object, dict[str, str]]:
    img = kexec_machine(**machine_kw)  # type: ignore[arg-type]
    spec = spec or machine_spec()
    if spec.boot_params_bytes is None:
        spec.boot_params_bytes = bytes(img.regions[0][BOOT_PARAMS : BOOT_PARAMS + 4096])
    built = add_kernel(img, spec)
    return img, built.info


def open_img(img: object, info: dict[str, str], keep: list[tuple[int, int]] | None = None) -> Dump:
    """The machine as a dump; ``keep``: only these physical ranges (a System-RAM-only capture)."""
    segments: dict[int, bytes] = {}
    for start, data in img.regions.items():  # type: ignore[attr-defined]
        if keep is None:
            segments[start] = bytes(data)
            continue
        for lo, hi in keep:
            a, b = max(lo, start), min(hi, start + len(data))
            if a < b:
                segments[a] = bytes(data[a - start : b - start])
    mem = BytesMemory(segments)
    mem.info.vmcoreinfo = info
    return Dump(mem, boot_params=BOOT_PARAMS)


def rows(d: Dump) -> dict[str, object]:
    return {r.object: r for r in d.witnesses.rows}


# -- the fixture machine -----------------------------------------------------------------------------
def test_copies_that_agree() -> None:
    img, info = machine()
    d = open_img(img, info)
    r = rows(d)
    assert r["EFI system table"].verdict == AGREE and r["EFI system table"].kernel.value == SYSTAB
    arr = r["EFI configuration table array"]
    assert arr.verdict == AGREE and arr.firmware.value == arr.kernel.value == CFG_FAR
    acpi = r["configuration table ACPI_20_TABLE_GUID"]
    assert acpi.verdict == AGREE and acpi.firmware.value == acpi.kernel.value == 0x700000 and acpi.log is None
    assert r["configuration table gEfiHobListGuid"].verdict == ONE  # the kernel keeps no HOB list
    mm = r["EFI memory map"]
    assert mm.verdict == AGREE and mm.firmware.value == (MEMMAP, 5, 48) and mm.kernel.value[1:] == (2, 48)
    assert mm.detail == "the kernel keeps 2 of the firmware's 5 descriptors: 2 equal to a firmware descriptor"
    fields = [k for k in r if k.startswith("boot_params.")]
    assert len(fields) == 7 and all(r[k].verdict == AGREE for k in fields)
    assert r["boot_params.efi_info.efi_systab"].firmware.address == BOOT_PARAMS
    assert r["E820 table"].verdict == AGREE and r["E820 table"].kernel.value == tuple(
        sorted((a, a + n, t) for a, n, t in E820)
    )
    cl = r["command line"]
    # the loader's buffer is in memory Linux frees after boot: shown, not compared
    assert cl.kernel.value == "console=ttyS0 root=/dev/vda" and not cl.firmware.compared and cl.verdict == ONE
    assert not [f for f in d.findings if f.code == "WITNESS-DISAGREE"]
    assert not [f for f in d.findings if f.code == "DUMP-SYSTEM-RAM-ONLY"]


def test_copies_that_disagree_name_both_addresses() -> None:
    img, info = machine(machine_spec(efi_tables={"acpi20": 0x705000}, efi_config_table=0xA00200))
    d = open_img(img, info)
    r = rows(d)
    assert r["configuration table ACPI_20_TABLE_GUID"].verdict == DISAGREE
    assert r["EFI configuration table array"].verdict == DISAGREE
    found = {f.structure: f for f in d.findings if f.code == "WITNESS-DISAGREE"}
    assert set(found) == {"configuration table ACPI_20_TABLE_GUID", "EFI configuration table array"}
    f = found["configuration table ACPI_20_TABLE_GUID"]
    assert "says 0x700000" in f.message and "says 0x705000" in f.message
    assert f.address == CFG_FAR  # the firmware's copy: the array entry of ACPI 2.0 (the first entry)
    assert "firmware copy @ 0xa00100" in f.message and "kernel copy" in f.message
    a = found["EFI configuration table array"]
    assert "says 0xa00100" in a.message and "says 0xa00200" in a.message


def test_cc_blob_and_secrets_page_witnesses() -> None:
    from test_kernel_copies import CC_BLOB, SECRETS, snp_machine

    mem, _spec = snp_machine()
    d = Dump(mem)
    r = rows(d)
    assert r["CC blob"].verdict == AGREE and r["CC blob"].firmware.value == r["CC blob"].kernel.value == CC_BLOB
    sp = r["SNP secrets page"]
    assert sp.verdict == AGREE and sp.firmware.value == sp.kernel.value == SECRETS
    # a later kernel's sev_secrets_pa naming another page than the blob does
    mem2, _spec2 = snp_machine(secrets_symbol="sev_secrets_pa", secrets_pa=0x90000)
    d2 = Dump(mem2)
    (f,) = [f for f in d2.findings if f.code == "WITNESS-DISAGREE" and f.structure == "SNP secrets page"]
    assert f.address == CC_BLOB and "says 0x81000" in f.message and "says 0x90000" in f.message


#: E820 RAM of the machine (what a System-RAM-only capture holds), plus the kernel's regions.
RAM = [(a, a + n) for a, n, t in E820 if t == 1]


def test_system_ram_only_capture_answers_from_the_kernel() -> None:
    img, info = machine()
    d = open_img(img, info, keep=RAM)
    assert not d.memory.is_readable(SYSTAB) and d.memory.is_readable(BOOT_PARAMS)
    fs = d.findings
    codes = [f.code for f in fs]
    (ram_only_finding,) = [f for f in fs if f.code == "DUMP-SYSTEM-RAM-ONLY"]
    assert "EFI-SYSTAB-UNREADABLE" not in codes and "BOOT-XC-NOT-IN-DUMP" not in codes
    assert "this dump holds System RAM only (no byte of E820 reserved (2) memory" in ram_only_finding.message
    assert f"EFI system table @ {SYSTAB:#x}" in ram_only_finding.message
    assert "answering from the kernel's copies" in ram_only_finding.message
    assert d.witnesses.scope.ram_only and d.witnesses.scope.uncaptured_types == {2}
    r = rows(d)
    st = r["EFI system table"]
    assert st.kernel.value == SYSTAB and not st.firmware.compared and st.detail == "not capturable"
    assert r["EFI configuration table array"].kernel.value == CFG_FAR
    assert r["configuration table ACPI_20_TABLE_GUID"].kernel.value == 0x700000
    # show answers from the kernel's copies
    from efitables.cli.kernel import kernel_section

    con = Console(file=io.StringIO(), width=200, record=True)
    kernel_section(con, d)
    text = con.export_text()
    assert "EFI (from the kernel's copies: the firmware's are not in this dump)" in text
    assert f"{SYSTAB:#x} (kernel boot_params.efi_info)" in text and f"{CFG_FAR:#x} (kernel efi_config_table)" in text
    assert "ACPI_20_TABLE_GUID" in text and "console=ttyS0 root=/dev/vda" in text
    doc = d.to_dict()["kernel"]
    assert doc["witnesses"]["scope"] == {
        "e820_source": "the kernel's e820_table",
        "uncaptured_types": [2],
        "ram_only": True,
    }
    assert doc["view"]["efi_config_table"]["value"] == CFG_FAR


def test_missing_memory_the_container_does_hold_stays_missing() -> None:
    """Reserved memory partly in the dump: the container captures that type, so an absent system table there
    is still EFI-SYSTAB-UNREADABLE, and nothing is said about System RAM only."""
    img, info = machine()
    keep = [(0, 0x7E0000), (0x7E1000, 0x800000), (0xA00000, 0xA10000), (0x1000000, 0x4000000)]
    d = open_img(img, info, keep=keep)
    codes = [f.code for f in d.findings]
    assert "EFI-SYSTAB-UNREADABLE" in codes and "DUMP-SYSTEM-RAM-ONLY" not in codes
    assert not d.witnesses.scope.uncaptured_types


# -- coverage from the kernel's kexec image ----------------------------------------------------------
def test_coverage_uses_the_loaded_image_and_walks_its_map() -> None:
    pt = kexec_table("v6.12")
    spec = machine_spec(
        kimage=True,
        segments=[(0x7F0000000000, 0x1000, 0x3000000, 0x10000), (0x7F0000100000, 0x2000, 0x3100000, 0x20000)],
        control_page_pa=pt.root,
    )
    img, info = machine(spec, page_table=pt)
    d = open_img(img, info)
    kimage = d.kernel.kexec_image
    assert kimage is not None and kimage.pgd == PT_BASE
    rep = d.coverage("v6.12", pgd="auto")
    assert rep.segments_source == "kexec_image"
    names = [r.name for r in rep.rules["kexec"]]
    assert "kexec segment 0 (kexec_image)" in names and "kexec segment 1 (kexec_image)" in names
    assert not any("assumed" in n for n in names)
    seg = next(r for r in rep.rules["kexec"] if r.name == "kexec segment 1 (kexec_image)")
    assert (seg.start, seg.end) == (0x3100000, 0x3120000)
    assert rep.walk is not None and rep.walk.root == PT_BASE
    assert (
        rep.walk.root_source == "first page of kexec_image->control_code_page (the loaded kexec image's identity map)"
    )
    pt_rows = rep.rows_for("page-table")
    assert pt_rows and all(r.verdict in ("covered", "rounding-only") for r in pt_rows)
    assert rep.ok


def test_auto_model_from_the_kernels_version() -> None:
    img, info = machine()
    d = open_img(img, info)
    rep = d.coverage()  # auto
    assert rep.model.name == "v6.1.188"
    assert rep.model_choice.startswith("auto: v6.1.188 (6.1.192 is in the stable range of preset v6.1.188")
    assert "linux_banner (Debian 6.1.192)" in rep.model_choice
    assert d.coverage("v6.1").model.name == "v6.1 (v5.3)"  # the alias: the v6.1.0 release's map
    assert d.coverage("auto,gbpages=on").model.gbpages


# -- the real corpus ---------------------------------------------------------------------------------------
real = pytest.mark.skipif(not ELF_VARIANTS, reason="no real-dump corpus")
#: The names the kernel logs in its 'efi:' line (truth ``dmesg_tables``) and the tables' GUID names.
GUID_NAMES = {
    "ACPI": "ACPI_TABLE_GUID",
    "ACPI 2.0": "ACPI_20_TABLE_GUID",
    "SMBIOS": "SMBIOS_TABLE_GUID",
    "MEMATTR": "EFI_MEMORY_ATTRIBUTES_TABLE_GUID",
    "INITRD": "LINUX_EFI_INITRD_MEDIA_GUID",
}


@real
@pytest.mark.parametrize("variant", ELF_VARIANTS)
def test_real_witnesses_agree(real_dumps: dict[str, Path], variant: str) -> None:  # noqa: F811
    t = truth(variant)
    with efitables.open(str(real_dumps[f"{variant}.elf"])) as d:
        assert not [f for f in d.findings if f.code in ("WITNESS-DISAGREE", "DUMP-SYSTEM-RAM-ONLY")]
        w = d.witnesses
        assert w.log_available and not w.scope.uncaptured_types
        r = rows(d)
        cl = r["command line"]
        assert cl.kernel.value == cl.log.value == t["cmdline"] and cl.verdict == AGREE
        assert r["E820 table"].verdict == AGREE and r["E820 table"].log is not None
        efi = t["efi"] or {}
        if not efi:
            assert "EFI system table" not in r
            return
        assert r["EFI system table"].verdict == AGREE and r["EFI system table"].kernel.value == efi["systab_phys"]
        assert r["EFI configuration table array"].verdict == AGREE
        assert r["EFI configuration table array"].kernel.value == efi["config_table"]
        assert r["EFI memory map"].verdict == AGREE
        for logged, addr in efi["dmesg_tables"].items():
            row = r[f"configuration table {GUID_NAMES[logged]}"]
            assert row.verdict == AGREE and row.log.value == addr and row.firmware.value == addr
            if logged != "INITRD":  # the kernel keeps no address of the initrd table after boot
                assert row.kernel.value == addr


@real
def test_real_system_ram_only_captures(ram_only: dict[str, Path]) -> None:  # noqa: F811
    for v, path in ram_only.items():
        t = truth(v)
        with efitables.open(str(path)) as d:
            assert d.memory.info.format == "lime" and d.kernel.available
            assert d.kernel.vmcoreinfo_source.startswith("found in memory @ ")
            fs = d.findings
            (one,) = [f for f in fs if f.code == "DUMP-SYSTEM-RAM-ONLY"]
            assert f"EFI system table @ {t['efi']['systab_phys']:#x}" in one.message
            bad = [
                f
                for f in fs
                if f.code in ("EFI-SYSTAB-UNREADABLE", "WITNESS-DISAGREE")
                or (f.code == "DUMP-READ" and f.address == t["efi"]["systab_phys"])
            ]
            assert not bad
            r = rows(d)
            assert r["EFI system table"].kernel.value == t["efi"]["systab_phys"]
            assert r["EFI configuration table array"].kernel.value == t["efi"]["config_table"]
            assert r["command line"].log.value == t["cmdline"]  # the log through the VMCOREINFO page found
            for logged, addr in t["efi"]["dmesg_tables"].items():
                row = r[f"configuration table {GUID_NAMES[logged]}"]
                assert row.firmware is None and row.log.value == addr  # the array is not capturable
                if logged != "INITRD":
                    assert row.kernel.value == addr and row.verdict == AGREE


@pytest.mark.skipif(not KDUMP_VARIANTS, reason="no kdump capture in the corpus")
@pytest.mark.parametrize("variant", KDUMP_VARIANTS)
def test_real_kdump_witnesses_and_coverage(real_dumps: dict[str, Path], variant: str) -> None:  # noqa: F811
    t = truth(variant)
    lo, hi = t["kdump"]["crashkernel"]["start"], t["kdump"]["crashkernel"]["end"] + 1
    for name in sorted(n for n in real_dumps if n.startswith(f"{variant}.")):
        with efitables.open(str(real_dumps[name])) as d:
            codes = [f.code for f in d.findings]
            assert codes.count("DUMP-SYSTEM-RAM-ONLY") == 1, name
            assert "EFI-SYSTAB-UNREADABLE" not in codes and "WITNESS-DISAGREE" not in codes, name
            assert rows(d)["EFI system table"].kernel.value == t["efi"]["systab_phys"]
            rep = d.coverage(pgd="auto")
            assert rep.model.name == "v6.1.188" and rep.segments_source == "kexec_crash_image"
            segs = [r for r in rep.rules["kexec"] if r.name.startswith("kexec segment")]
            img = d.kernel.kexec_crash_image
            assert img is not None and [(r.start, r.end) for r in segs] == [(s.mem, s.end) for s in img.segments]
            assert all(lo <= r.start and r.end <= hi for r in segs)
            found = {f.code: f for f in rep.findings}
            assert lo <= found["COVERAGE-PGD-NOT-IN-DUMP"].address < hi
            assert "COVERAGE-PGD-NOT-IDENTITY" in found and not rep.rows_for("page-table")
            assert any(r.object == "EFI system table" for r in rep.rows_for("kexec"))


@real
def test_real_kexec_dump_coverage_says_the_table_is_not_an_identity_map(real_dumps: dict[str, Path]) -> None:  # noqa: F811
    if "kexec" not in ELF_VARIANTS:
        pytest.skip("no kexec variant")
    with efitables.open(str(real_dumps["kexec.elf"])) as d:
        rep = d.coverage(pgd="auto")
        assert rep.model.name == "v6.1.188" and rep.model_choice.startswith("auto: v6.1.188")
        assert rep.segments_source == ""  # the second kernel (kexec2) loaded no image
        assert rep.walk is not None and rep.walk.root_source.startswith("QEMU CPU note")
        assert not rep.rows_for("page-table") and rep.ok
        (f,) = [f for f in rep.findings if f.code == "COVERAGE-PGD-NOT-IDENTITY"]
        assert "no kexec image is loaded" in f.message
    doc = json.loads(json.dumps(rep.to_dict()))
    assert doc["model_choice"] == rep.model_choice and doc["segments_source"] == ""
