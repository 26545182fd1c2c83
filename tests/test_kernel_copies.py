"""The running kernel's own copies (efitables.kernel.copies): fixtures built with the schemas, and real dumps.

The fixture kernel (tests/builders_kernel.py) holds known values in the v6.1 layouts of
efitables.schemas.kernel, with a BTF blob describing them; each test asserts the decoded
values field by field, with BTF, with the version-keyed offsets, and with a layout only
BTF can give. Hostile kernels (a count of 2**32, pointers that dangle, do not translate,
or point back at themselves) must give findings, never a traceback or a loop. On the real
corpus (dumps/real/corpus) every value equals what the guest printed about itself
(``<variant>.truth.json``), including the kdump capture whose first kernel had a crash
kernel loaded.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path

import pytest
from builders_kernel import (
    HEAP_PA,
    KIMAGE_PGD,
    PAGE_OFFSET_BASE,
    KernelSpec,
    add_kernel,
    kernel_only,
    memory,
    virt_direct,
)
from test_real_kexec_loaded import PGD_SOURCE

from dumps.builder import Image
from efitables.findings import Finding
from efitables.kernel import btf as btf_mod
from efitables.kernel import kallsyms
from efitables.kernel.copies import KernelView, read_kernel_view
from efitables.kernel.layouts import TABLES, Field, Layouts
from efitables.kernel.locate import NOTE_TEXT_OFFSET, find_vmcoreinfo
from efitables.kernel.version import kernel_version
from efitables.memory import open_memory
from efitables.memory.base import BytesMemory
from efitables.schemas.common import struct_layout
from efitables.schemas.kernel import EFI_INVALID_TABLE_ADDR, KEXEC_SEGMENT_MAX, STRUCT_EFI_V6_18

SPEC = KernelSpec()


def codes(kv: KernelView) -> list[str]:
    """The view's findings but those of the boot_params copy's own checks (an EFI-stub zero page has no HdrS
    and a cmdline_size of 0)."""
    return [f.code for f in kv.all_findings() if not f.code.startswith("BOOT-")]


def assert_fixture_values(kv: KernelView, spec: KernelSpec, layout: str) -> None:
    """Every copy the fixture kernel holds, decoded field by field."""
    assert kv.available and kv.error is None
    assert kv.release == spec.release
    assert kv.version is not None and (kv.version.major, kv.version.minor, kv.version.sublevel) == (6, 1, 192)
    assert kv.banner is not None and kv.banner.text == spec.banner.rstrip("\0") and kv.banner.terminated
    assert kv.command_line is not None and kv.command_line.text == spec.cmdline
    assert kv.command_line.address == HEAP_PA and kv.command_line.virtual == virt_direct(HEAP_PA)
    assert kv.page_offset_base == PAGE_OFFSET_BASE
    efi = kv.efi
    assert efi is not None and efi.layout_source == layout
    assert efi.present_tables() == spec.efi_tables
    assert efi.tables["smbios3"] is None and efi.tables["esrt"] is None  # EFI_INVALID_TABLE_ADDR
    assert efi.runtime == spec.runtime and efi.flags == spec.efi_flags
    mm = efi.memmap
    assert mm is not None and mm.nr_map == len(spec.memmap) and mm.desc_size == 48 and mm.desc_version == 1
    assert mm.flags == 5 and mm.map == virt_direct(mm.phys_map) and mm.map_end == mm.map + 48 * len(spec.memmap)
    assert mm.descriptors is not None
    got = [
        (x.type, x.physical_start, x.number_of_pages, x.virtual_start, x.attribute) for x in mm.descriptors.descriptors
    ]
    assert got == spec.memmap
    assert kv.efi_config_table is not None and kv.efi_config_table.value == spec.efi_config_table
    assert kv.efi_fw_vendor is not None and kv.efi_fw_vendor.value == spec.efi_fw_vendor
    assert kv.efi_runtime is not None and kv.efi_runtime.value == spec.efi_runtime
    assert kv.efi_mem_attr_table is not None and kv.efi_mem_attr_table.value == EFI_INVALID_TABLE_ADDR
    assert kv.config_tables() == {
        "eb9d2d30-2d88-11d3-9a16-0090273fc14d": spec.efi_tables["acpi"],
        "8868e871-e4f1-11d3-bc22-0080c73c8881": spec.efi_tables["acpi20"],
        "eb9d2d31-2d88-11d3-9a16-0090273fc14d": spec.efi_tables["smbios"],
    }
    assert kv.boot_params is not None and kv.boot_params.efi_systab == spec.systab == kv.systab
    assert kv.boot_params.efi_memmap == spec.boot_memmap and kv.boot_params.efi_loader_signature == "EL64"
    for name, entries in spec.e820.items():
        e = kv.e820[name]
        assert e.layout_source == layout and e.nr_entries == len(entries) and e.table is not None
        assert [(x.addr, x.length, x.type) for x in e.table.entries] == entries
    img = kv.kexec_image
    assert img is not None and kv.kexec_crash_image is None and kv.kexec_loaded is img
    assert img.layout_source == layout and img.image_type == "default" and img.file_mode is False
    assert img.start == spec.kimage_start and img.nr_segments == len(spec.segments)
    assert [(s.buf, s.bufsz, s.mem, s.memsz) for s in img.segments] == spec.segments
    assert img.control_page_pa == spec.control_page_pa
    assert img.pgd == spec.control_page_pa and img.pgd_source == "first page of kexec_image->control_code_page"
    assert kv.sev is not None and kv.sev.sev_status == 0 and kv.sev.sme_me_mask == 0 and kv.sev.cpuid_table is None


# -- the fixture kernel ---------------------------------------------------------------------------
def test_every_copy_decoded_with_btf() -> None:
    mem, built = kernel_only(SPEC)
    kv = read_kernel_view(mem)
    assert kv.layout_source == "BTF" and kv.btf_address == built.btf_pa and kv.btf_types
    assert_fixture_values(kv, SPEC, "BTF")
    assert codes(kv) == []
    rows = {r[0]: r for r in kv.table_views()[0].rows}
    assert rows["efi_config_table"][3] == hex(built.symbols["efi_config_table"])
    assert rows["kexec_image"][5].startswith("default image, entry 0x3000200, 3 segments")


def test_offsets_of_the_release_without_btf() -> None:
    spec = KernelSpec(with_btf=False)
    mem, built = kernel_only(spec)
    kv = read_kernel_view(mem)
    assert built.btf_pa is None and kv.btf_types is None
    assert kv.layout_source == "offsets for v6.1"
    assert_fixture_values(kv, spec, "offsets for v6.1")


def test_btf_layout_of_the_kernel_wins_over_its_release() -> None:
    """A v6.18-shaped struct efi and a kimage_arch with pgd, in a kernel whose OSRELEASE says 6.1: only BTF
    reads them right (the 6.1 offsets would take ovmf_debug_log for mokvar_table and misplace memmap)."""
    pgd_pa = 0x2090000
    spec = KernelSpec(
        efi_schema=STRUCT_EFI_V6_18,
        kimage_schema=KIMAGE_PGD,
        efi_tables={
            "acpi": 0x7F000,
            "acpi20": 0x7F014,
            "smbios": 0x7E000,
            "unaccepted": 0x7D000,
            "ovmf_debug_log": 0x7C000,
        },
        pgd_va=virt_direct(pgd_pa),
    )
    mem, _built = kernel_only(spec)
    kv = read_kernel_view(mem)
    assert kv.efi is not None and kv.efi.layout_source == "BTF"
    assert kv.efi.present_tables() == spec.efi_tables
    assert kv.efi.memmap is not None and kv.efi.memmap.nr_map == len(spec.memmap)
    assert kv.config_tables()["d5d1de3c-105c-44f9-9ea9-bcef98120031"] == 0x7D000  # LINUX_EFI_UNACCEPTED_MEM_TABLE
    img = kv.kexec_image
    assert img is not None and img.pgd == pgd_pa and img.pgd_source == "kexec_image->arch.pgd"
    assert img.control_page_pa == spec.control_page_pa  # still decoded, but not the root any more
    # the same bytes read with the v6.1 offsets are wrong: what the version key alone would give
    no_btf = read_kernel_view(kernel_only(KernelSpec(**{**spec.__dict__, "with_btf": False}))[0])
    assert no_btf.efi is not None and no_btf.efi.present_tables() != spec.efi_tables


def test_no_layout_for_an_unknown_release_without_btf() -> None:
    spec = KernelSpec(release="6.7.0-1-amd64", banner="Linux version 6.7.0-1-amd64 (x) #1 SMP\n", with_btf=False)
    mem, _built = kernel_only(spec)
    kv = read_kernel_view(mem)
    assert kv.version is not None and kv.version.key == (6, 7)
    assert kv.efi is None and kv.kexec_image is not None and kv.kexec_image.segments == []
    assert [f.structure for f in kv.findings if f.code == "KERNEL-NO-LAYOUT"] == [
        "kernel efi",
        "kernel e820_table",
        "kernel e820_table_kexec",
        "kernel e820_table_firmware",
        "kernel kexec_image",
    ]
    # scalars, strings and the boot_params copy need no layout
    assert kv.command_line is not None and kv.command_line.text == spec.cmdline
    assert kv.efi_config_table is not None and kv.efi_config_table.value == spec.efi_config_table
    assert kv.boot_params is not None and kv.systab == spec.systab


def test_no_vmcoreinfo_no_view() -> None:
    mem = BytesMemory({0: bytes(4096)})
    kv = read_kernel_view(mem)
    assert not kv.available and kv.error is not None and "VMCOREINFO" in kv.error and kv.objects() == []


# -- SEV-SNP ---------------------------------------------------------------------------------------------
CC_BLOB, SECRETS, CPUID_PAGE = 0x80000, 0x81000, 0x82000
SNP_CPUID = [(0x0, 0xD, 0x68747541, 0x444D4163, 0x69746E65), (0x8000001F, 0x1B, 0x33, 0x1FD, 0x0)]


def snp_machine(**over: object) -> tuple[BytesMemory, KernelSpec]:
    from efitables.schemas.snp import CC_BLOB_SEV_HDR_MAGIC, CC_BLOB_SEV_INFO

    spec = KernelSpec(cc_blob_address=CC_BLOB, sev_status=0x7, sme_me_mask=1 << 51, cpuid=SNP_CPUID, **over)
    img = Image()
    img.add_region(0, 0x100000)
    blob = dict(
        magic=CC_BLOB_SEV_HDR_MAGIC,
        version=1,
        reserved=0,
        secrets_phys=SECRETS,
        secrets_len=4096,
        rsvd1=0,
        cpuid_phys=CPUID_PAGE,
        cpuid_len=4096,
        rsvd2=0,
    )
    img.put(CC_BLOB, CC_BLOB_SEV_INFO.build(blob))
    built = add_kernel(img, spec)
    return memory(img, built.info), spec


def test_snp_guest_on_v6_1_follows_the_cc_blob() -> None:
    mem, spec = snp_machine()
    kv = read_kernel_view(mem)
    sev = kv.sev
    assert sev is not None and sev.snp and sev.sev_status == 0x7 and sev.sme_me_mask == 1 << 51
    assert sev.cc_blob_address == CC_BLOB and sev.secrets_pa == SECRETS
    assert sev.secrets_source == f"boot_params.cc_blob_address {CC_BLOB:#x} -> secrets_phys"
    t = sev.cpuid_table
    assert t is not None and t.count == 2 and t.c_bit == 51
    assert [(e.eax_in, e.eax, e.ebx, e.ecx, e.edx) for e in t.entries] == SNP_CPUID


def test_snp_guest_with_sev_secrets_pa() -> None:
    mem, _spec = snp_machine(secrets_symbol="sev_secrets_pa", secrets_pa=0x90000)
    sev = read_kernel_view(mem).sev
    assert sev is not None and sev.secrets_pa == 0x90000 and sev.secrets_source == "sev_secrets_pa"


# -- hostile kernels -----------------------------------------------------------------------------------
def test_segment_count_of_2_to_the_32() -> None:
    mem, _built = kernel_only(KernelSpec(nr_segments=1 << 32))
    kv = read_kernel_view(mem)
    img = kv.kexec_image
    assert img is not None and img.nr_segments == 1 << 32 and len(img.segments) == KEXEC_SEGMENT_MAX
    (cap,) = [f for f in img.findings if f.code == "KERNEL-COUNT-CAP"]
    assert cap.structure == "kernel kexec_image" and cap.address == img.address
    assert "nr_segments 4294967296" in cap.message and "decoded the first 16" in cap.message


def test_e820_count_beyond_its_array() -> None:
    mem, built = kernel_only(KernelSpec(e820_nr_override={"e820_table": 0xFFFFFFFF}))
    kv = read_kernel_view(mem)
    e = kv.e820["e820_table"]
    assert e.nr_entries == 0xFFFFFFFF
    assert any(f.code == "KERNEL-COUNT-CAP" and f.address == built.pointers["e820_table"] for f in e.findings)
    # the read stops at the dump's end of the heap: what is there is decoded, the rest is a read finding
    assert e.table is not None or any(f.code == "KERNEL-COPY-UNREADABLE" for f in kv.findings)


def _patch_u64(mem: BytesMemory, pa: int, value: int) -> None:
    for start, data in list(mem._segments.items()):
        if start <= pa < start + len(data):
            b = bytearray(data)
            struct.pack_into("<Q", b, pa - start, value)
            mem._segments[start] = bytes(b)
            return
    raise AssertionError(hex(pa))


def test_dangling_and_untranslatable_pointers() -> None:
    mem, built = kernel_only(SPEC)
    # a direct-map pointer to memory the dump does not hold
    _patch_u64(mem, built.symbols["e820_table_kexec"], virt_direct(0x30000000))
    # a pointer neither in the image, nor the direct map, with no page tables to walk
    _patch_u64(mem, built.symbols["saved_command_line"], 0xFFFFC90000001000)
    kv = read_kernel_view(mem)
    unreadable = [f for f in kv.findings if f.code == "KERNEL-COPY-UNREADABLE"]
    assert [(f.structure, f.address) for f in unreadable] == [("kernel e820_table_kexec", 0x30000000)]
    (ptr,) = [f for f in kv.findings if f.code == "KERNEL-POINTER"]
    assert ptr.structure == "kernel saved_command_line" and "0xffffc90000001000" in ptr.message
    assert kv.command_line is not None and kv.command_line.text is None
    assert kv.e820["e820_table_kexec"].table is None and kv.e820["e820_table"].table is not None


def test_control_page_not_in_the_vmemmap() -> None:
    mem, _built = kernel_only(KernelSpec(control_code_page=0xFFFFEA0000000021))  # not a struct page boundary
    kv = read_kernel_view(mem)
    img = kv.kexec_image
    assert img is not None and img.pgd is None and img.control_page_pa is None
    (f,) = [f for f in kv.findings if f.code == "KERNEL-KEXEC-ROOT"]
    assert "0xffffea0000000021 is not an entry of the vmemmap" in f.message


def test_a_kimage_pointer_that_points_at_itself() -> None:
    """kexec_image holding its own address (a cycle through the image): one bounded read, findings, no loop."""
    mem, built = kernel_only(SPEC)
    from builders_kernel import virt_image

    _patch_u64(mem, built.symbols["kexec_image"], virt_image(built.symbols["kexec_image"]))
    kv = read_kernel_view(mem)
    img = kv.kexec_image
    assert img is not None and img.address == built.symbols["kexec_image"] and img.via == "image"
    assert img.start == 0  # the bytes after the pointer are other variables, decoded as a kimage once
    assert len(img.segments) <= KEXEC_SEGMENT_MAX


def test_efi_memmap_count_beyond_the_heap() -> None:
    mem, built = kernel_only(SPEC)
    from efitables.schemas.common import field_offset
    from efitables.schemas.kernel import STRUCT_EFI_V6_1

    nr_pa = built.symbols["efi"] + field_offset(STRUCT_EFI_V6_1, "memmap.nr_map")
    raw = bytearray(mem.read(nr_pa, 8))
    raw[0:4] = (0x7FFFFFFF).to_bytes(4, "little")
    _patch_u64(mem, nr_pa, int.from_bytes(raw, "little"))
    kv = read_kernel_view(mem)
    mm = kv.efi.memmap if kv.efi is not None else None
    assert mm is not None and mm.nr_map == 0x7FFFFFFF and mm.descriptors is not None
    assert any(f.code == "EFI-MEMMAP-TOO-MANY" for f in mm.descriptors.findings)
    assert any(f.code == "KERNEL-EFI-MEMMAP-POINTERS" for f in kv.findings)


def test_damaged_btf_falls_back_to_the_offsets() -> None:
    mem, built = kernel_only(SPEC)
    assert built.btf_pa is not None
    _patch_u64(mem, built.btf_pa, 0)  # the magic gone: BTF-BAD-HEADER
    kv = read_kernel_view(mem)
    assert kv.layout_source == "offsets for v6.1" and "BTF-BAD-HEADER" in codes(kv)
    assert_fixture_values(kv, SPEC, "offsets for v6.1")


# -- versions ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("release", "banner", "want"),
    [
        ("6.1.0-56-amd64", SPEC.banner, (6, 1, 192)),
        ("6.1.0-56-amd64", None, (6, 1, None)),  # Debian's ABI number is not the stable sub-level
        ("6.12.9-arch1-1", None, (6, 12, 9)),
        ("6.8.0-51-generic", "Linux version 6.8.0-51-generic (buildd@lcy02) #52-Ubuntu SMP\n", (6, 8, None)),
        (None, "Linux version 5.10.0-32-amd64 (x) #1 SMP Debian 5.10.223-1 (2024-08-10)\n", (5, 10, 223)),
    ],
)
def test_kernel_version(release: str | None, banner: str | None, want: tuple) -> None:
    v = kernel_version(release, banner)
    assert v is not None and (v.major, v.minor, v.sublevel) == want


# -- the real corpus -----------------------------------------------------------------------------------
CORPUS = Path(__file__).resolve().parent.parent / "dumps" / "real" / "corpus"
ELF_VARIANTS = sorted(p.name.removesuffix(".elf.xz") for p in CORPUS.glob("*.elf.xz"))
KDUMP_VARIANTS = sorted(p.name.removesuffix(".vmcore.xz") for p in CORPUS.glob("*.vmcore.xz"))
real = pytest.mark.skipif(not ELF_VARIANTS, reason="no real-dump corpus")


@pytest.fixture(scope="session")
def real_dumps(real_files) -> Mapping[str, Path]:
    """{"<variant>.elf" | "<variant>.vmcore" | "<variant>.<kdump output>": path}, each unpacked on first use
    (through the session's shared ``real_files``)."""
    names = [src.name.removesuffix(".xz") for src in sorted(CORPUS.glob("*.xz"))]
    return real_files.mapping(n for n in names if not n.endswith(".serial.log"))

def truth(variant: str) -> dict:
    return json.loads((CORPUS / f"{variant}.truth.json").read_text())


FIRMWARE_MEMMAP_TYPES = {"System RAM": 1, "Reserved": 2, "ACPI Tables": 3, "ACPI Non-volatile Storage": 4}


def assert_matches_truth(kv: KernelView, t: dict) -> None:
    """Every kernel copy against what the guest printed (truth.json)."""
    assert kv.available and kv.layout_source == "BTF"
    assert kv.release == t["uname"]["release"]
    assert kv.banner is not None and t["uname"]["version"] in (kv.banner.text or "")
    assert kv.command_line is not None and kv.command_line.text == t["cmdline"]
    assert kv.page_offset_base == t["page_offset_base"]
    ks = t["kernel"]["kallsyms"]
    assert kv.efi is None or kv.efi.virtual == ks["efi"]
    assert kv.boot_params is not None and kv.boot_params_virtual == ks["boot_params"]
    assert kv.boot_params.address == t["boot_params"]["phys"]
    assert kv.boot_params.raw == bytes.fromhex(t["boot_params"]["data"])  # /sys/kernel/boot_params/data
    # /sys/firmware/memmap is the kernel's e820_table_firmware (arch/x86/kernel/e820.c firmware_map_add_early)
    fw = kv.e820["e820_table_firmware"].table
    assert fw is not None
    assert [(e.addr, e.end - 1, e.type) for e in fw.entries] == [
        (m["start"], m["end"], FIRMWARE_MEMMAP_TYPES[m["type"]]) for m in t["firmware_memmap"]
    ]
    efi = t["efi"] or {}
    if not efi.get("config_table"):
        assert kv.efi_config_table is not None and kv.efi_config_table.value == 0 and kv.systab is None
        return
    assert kv.efi_config_table is not None and kv.efi_config_table.value == efi["config_table"]
    assert kv.efi_fw_vendor is not None and kv.efi_fw_vendor.value == efi["fw_vendor"]
    assert kv.efi_runtime is not None and kv.efi_runtime.value == efi["runtime"]
    assert kv.systab == efi["systab_phys"]
    names = {"ACPI": "acpi", "ACPI 2.0": "acpi20", "SMBIOS": "smbios", "SMBIOS 3.0": "smbios3"}
    assert kv.efi is not None
    logged = {names[k]: v for k, v in efi["dmesg_tables"].items() if k in names}
    assert kv.efi.present_tables() == logged
    assert kv.efi_mem_attr_table is not None and kv.efi_mem_attr_table.value == efi["dmesg_tables"]["MEMATTR"]
    # /sys/firmware/efi/runtime-map lists every descriptor of efi.memmap (drivers/firmware/efi/runtime-map.c):
    # the runtime ones on a 64-bit firmware, the whole map on a 32-bit one (mixed mode)
    mm = kv.efi.memmap
    assert mm is not None and mm.descriptors is not None
    got = [
        (x.type, x.physical_start, x.virtual_start, x.number_of_pages, x.attribute) for x in mm.descriptors.descriptors
    ]
    assert got == [
        (r["type"], r["phys_addr"], r["virt_addr"], r["num_pages"], r["attribute"]) for r in efi["runtime_map"]
    ]


@real
@pytest.mark.parametrize("variant", ELF_VARIANTS)
def test_real_dump_copies_are_the_guests(real_dumps: Mapping[str, Path], variant: str) -> None:
    mem = open_memory(str(real_dumps[f"{variant}.elf"]))
    kv = read_kernel_view(mem)
    t = truth(variant)
    assert_matches_truth(kv, t)
    assert codes(kv) == []
    assert kv.kexec_crash_image is None
    kl = t.get("kexec_load")
    if kl is None:
        # no image loaded when it was dumped (dumps/real/guest/init: the kexec variant's dump is of the
        # second kernel, kexec2, which idles)
        assert kv.kexec_image is None
        return
    # the kexecload guest: kexec-tools -d printed what it passed to kexec_load, the guest read the kimage
    # back through /proc/kcore with bpftool's offsets (serial_to_truth.py kexec_load_truth)
    img, ki = kv.kexec_image, kl["kimage"]
    file_mode = kl["syscall_option"] == "-s"  # kexec_file_load; -c: kexec_load
    assert kl["rc"] == 0 and kl["kexec_loaded"] == 1
    assert img is not None and kv.kexec_loaded is img and img.image_type == "default" and img.file_mode is file_mode
    assert img.virtual == ki["kexec_image"] and img.raw == bytes.fromhex(ki["raw"])[: img.size]
    assert img.start == ki["fields"]["start"] and img.head == ki["fields"]["head"] == ki["head_entry"]
    assert img.nr_segments == ki["fields"]["nr_segments"] == len(img.segments)
    got = [(s.bufsz, s.mem, s.memsz) for s in img.segments]
    assert got == [(g["bufsz"], g["mem"], g["memsz"]) for g in ki["segments"]]
    if not file_mode:  # kexec-tools chose them, and printed what it passed to kexec_load
        assert img.start == kl["entry"] and img.nr_segments == kl["nr_segments"]
        assert got == [(g["bufsz"], g["mem"], g["memsz"]) for g in kl["segments"]]
    assert img.control_code_page == ki["fields"]["control_code_page"]
    # the identity map's root: the first control page (6.1), kimage->arch.pgd (6.12.14+), as the guest found it
    assert img.pgd == ki["pgd_phys"] and img.pgd_source == PGD_SOURCE[ki["pgd_source"]]
    assert mem.read(img.pgd, 4096) == bytes.fromhex(ki["pgd"])


@pytest.mark.skipif(not KDUMP_VARIANTS, reason="no kdump capture in the corpus")
@pytest.mark.parametrize("variant", KDUMP_VARIANTS)
def test_real_kdump_capture(real_dumps: Mapping[str, Path], variant: str) -> None:
    """The crashed first kernel, read from /proc/vmcore and makedumpfile's outputs: its copies equal what it
    printed, and its crash image lies in its crashkernel= reservation, identity map included."""
    t = truth(variant)
    crash = t["kdump"]["crashkernel"]
    lo, hi = crash["start"], crash["end"] + 1
    names = [n for n in real_dumps if n.startswith(f"{variant}.") and not n.endswith(".json")]
    assert f"{variant}.vmcore" in names
    for name in names:
        mem = open_memory(str(real_dumps[name]))
        kv = read_kernel_view(mem)
        assert_matches_truth(kv, t)
        img = kv.kexec_crash_image
        assert t["kdump"]["kexec"]["loaded"] == 1
        assert img is not None and kv.kexec_image is None and img.image_type == "crash", name
        assert img.file_mode is not None and 1 <= len(img.segments) == img.nr_segments <= KEXEC_SEGMENT_MAX
        assert all(lo <= s.mem and s.end <= hi for s in img.segments), name
        assert sum(s.memsz for s in img.segments) <= t["kdump"]["kexec"]["crash_size"]
        # v6.1: the identity map's PGD is the first control page, inside the reservation, which the
        # capture kernel's /proc/vmcore leaves out
        assert img.pgd is not None and lo <= img.pgd < hi and img.pgd_source.startswith("first page of")
        assert not mem.is_readable(img.pgd, 4096)


@real
@pytest.mark.parametrize("variant", [v for v in ("kexecload", "kexecload612") if v in ELF_VARIANTS])  # images loaded
def test_fallback_offsets_are_the_real_kernels_btf(real_dumps: Mapping[str, Path], variant: str) -> None:
    """Every member of the fallback tables (efitables.schemas.kernel) where the real kernel's BTF puts it:
    Debian's 6.1 (the v6.1 table) and 6.12.95 (the v6.12 table, ``kimage_arch.pgd`` first); and the kernel
    view read with the table alone equals the one read with BTF."""
    mem = open_memory(str(real_dumps[f"{variant}.elf"]))
    ks = kallsyms.load(mem, mem.vmcoreinfo, names=btf_mod.BTF_SYMBOLS)
    b = btf_mod.load(mem, ks)
    assert not isinstance(b, Finding)
    v = kernel_version(mem.vmcoreinfo.get("OSRELEASE") if mem.vmcoreinfo else None, None)
    assert v is not None and v.key in ((6, 1), (6, 12))
    with_btf, without = Layouts(btf=b, version=v), Layouts(version=v)
    checked = 0
    for struct_name, schema in TABLES[v.key].structs.items():
        assert with_btf.sizeof(struct_name) is not None
        for span in struct_layout(schema):
            path = span.name
            a, b2 = with_btf.field(struct_name, path), without.field(struct_name, path)
            assert a is not None and b2 is not None, (struct_name, path)
            assert (a.offset, a.bit, a.bits) == (b2.offset, b2.bit, b2.bits), (struct_name, path)
            checked += 1
    for bit in ("preserve_context", "file_mode"):
        a, b2 = with_btf.field("kimage", bit), without.field("kimage", bit)
        assert a is not None and b2 is not None and (a.offset, a.bit, a.bits) == (b2.offset, b2.bit, b2.bits)
    pgd = with_btf.field("kimage", "arch.pgd")
    if v.key == (6, 1):
        assert pgd is None  # v6.1: the PGD is the first control page
    else:  # 6.12.95: kimage_arch.pgd (backported to 6.12.14), where the table puts it
        assert pgd is not None and without.field("kimage", "arch.pgd") == pgd and pgd.offset == 640
    assert checked > 60
    by_btf, by_table = read_kernel_view(mem), read_kernel_view(mem, use_btf=False)
    assert by_table.findings == [] and by_table.layout_source == "offsets for " + TABLES[v.key].name
    # every value the same; only where layouts came from differs, and struct kimage's size (BTF: the whole
    # struct; the table: up to arch, all that is read)
    assert by_table.kexec_image is not None and by_btf.kexec_image is not None
    assert by_table.kexec_image.size == TABLES[v.key].structs["kimage"].sizeof() < by_btf.kexec_image.size
    assert _values(by_btf.to_dict()) == _values(by_table.to_dict())


def _values(doc: object) -> object:
    """A kernel view's dict without what says where its layouts came from (and struct kimage's size)."""
    if isinstance(doc, dict):
        drop = {"layout_source", "layout", "btf_address", "btf_types"}
        if doc.get("kind") == "kernel_kimage":
            drop.add("size")
        return {k: _values(v) for k, v in doc.items() if k not in drop}
    if isinstance(doc, list):
        return [_values(x) for x in doc]
    return doc


def test_the_612_table_holds_struct_kimage_from_its_stable_14() -> None:
    """Before 6.12.14 (and for a 6.12 whose sublevel is unknown) kimage_arch had no pgd: no kimage layout."""
    for text, has in (("6.12.95+deb12-amd64", True), ("6.12.14", True), ("6.12.13", False), ("6.12", False)):
        v = kernel_version(text, None)
        assert v is not None and v.key == (6, 12)
        lay = Layouts(version=v)
        assert lay.field("efi", "unaccepted") == Field(88, 8), text
        assert (lay.sizeof("kimage") is not None) is has, text
        assert (lay.field("kimage", "arch.pgd") is not None) is has, text


# -- VMCOREINFO found in RAM -----------------------------------------------------------------------
@pytest.fixture(scope="session")
def ram_only(real_files) -> dict[str, Path]:
    return {v: real_files.ram_lime(v, truth(v)) for v in ("ovmf64", "kexec") if v in ELF_VARIANTS}


@real
def test_vmcoreinfo_found_in_a_system_ram_lime(ram_only: dict[str, Path], real_dumps: Mapping[str, Path]) -> None:
    for v, path in ram_only.items():
        mem = open_memory(str(path))
        assert mem.vmcoreinfo is None
        found = find_vmcoreinfo(mem)
        elf = open_memory(str(real_dumps[f"{v}.elf"]))
        assert found is not None and found.info == elf.vmcoreinfo
        assert found.address - NOTE_TEXT_OFFSET == truth(v)["vmcoreinfo"]["note_phys"]
        assert found.confirmed_by == "the kernel's vmcoreinfo_note points to it"
        kv = read_kernel_view(mem, found.info, vmcoreinfo_source=found.source)
        assert_matches_truth(kv, truth(v))


def test_a_stale_vmcoreinfo_page_is_not_taken() -> None:
    """A previous kernel's VMCOREINFO page (another phys_base) comes first in the sweep; the running kernel's
    ``vmcoreinfo_data`` points at its own page, which is the one taken."""
    img = Image()
    img.add_region(0, 0x100000)
    built = add_kernel(img, KernelSpec(vmcoreinfo_page=True))
    page = built.pointers["vmcoreinfo_data"]
    stale = {**built.info, "NUMBER(phys_base)": str(0x4000000)}
    img.put(0x3000, "".join(f"{k}={v}\n" for k, v in stale.items()).encode())
    mem = memory(img, None)
    found = find_vmcoreinfo(mem)
    assert found is not None and found.address == page > 0x3000
    assert found.info == built.info and found.confirmed_by == "the kernel's vmcoreinfo_data points to it"
    kv = read_kernel_view(mem, found.info, vmcoreinfo_source=found.source)
    assert_fixture_values(kv, SPEC, "BTF")
    # without the running kernel's page, nothing is taken (the stale one does not locate a kernel)
    img2 = Image()
    img2.add_region(0, 0x100000)
    add_kernel(img2, SPEC)
    img2.put(0x3000, "".join(f"{k}={v}\n" for k, v in stale.items()).encode())
    assert find_vmcoreinfo(memory(img2, None)) is None
