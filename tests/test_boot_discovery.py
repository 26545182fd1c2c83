"""Finding boot_params (argument, kallsyms, scan; ranked with reasons) and the boot/EFI cross-checks."""

from __future__ import annotations

import json
import struct

import pytest

from dumps.builder import config_tables, runtime_services, system_table, ucs2
from efitables.boot.discovery import discover_boot_params, kallsyms_lookup, scan_candidates, score_candidate
from efitables.dump import Dump
from efitables.schemas.setup_data import SETUP_EFI, SETUP_PCI
from tests import builders_boot as B

KERNEL_COPY = 0x9A0880  # the kernel's global: 16-byte aligned, not a page
LOADER_COPY = 0x950000
EFI_INFO = dict(systab=0x7E0018, memmap=0x960000)

ACPI20 = "8868e871-e4f1-11d3-bc22-0080c73c8881"
SMBIOS = "eb9d2d31-2d88-11d3-9a16-0090273fc14d"
UNKNOWN = "11111111-2222-3333-4444-555555555555"
DXE = "05ad34ba-6f02-4214-952e-4da0398e2bb9"
ESRT = "b122a263-3661-4f68-9929-78f8b0d62180"

DESCS = [  # (type, start, pages, attribute)
    (7, 0x0, 0x9F, 0xF),
    (7, 0x100000, 0x6E0, 0xF),
    (6, 0x7E0000, 0x20, 0xF | 1 << 63),  # runtime services data: system table, config array
    (4, 0x800000, 0x100, 0xF),  # boot-services data
    (2, 0x900000, 0x100, 0xF),  # loader data: zero pages, setup_data, command line
    (9, 0xA00000, 0x100, 0xF),  # ACPI reclaim
]
E820 = [
    (0, 0x9F000, 1),
    (0x100000, 0x6E0000, 1),
    (0x7E0000, 0x20000, 2),
    (0x800000, 0x200000, 1),
    (0xA00000, 0x100000, 3),
]


def codes(findings):
    return [f.code for f in findings]


def efi_layout(*, setup_tables: int = 0x7E0100, efi_info_systab: int = 0x7E0018, kallsyms: bool = False):
    L = B.Layout(0xC00000)
    mm = B.memory_map(DESCS)
    L.put(0x960000, mm)
    entries = [(ACPI20, 0xA00000), (SMBIOS, 0x810000), (DXE, 0x200000), (UNKNOWN, 0xB80000), (ESRT, 0x300000)]
    L.put(0x7E0100, config_tables(64, entries))
    L.put(0x7E0200, ucs2("EDK II"))
    L.put(0x7E0400, runtime_services(64, 0x20046, 0x7E1000))
    L.put(
        0x7E0018,
        system_table(
            64,
            vendor=0x7E0200,
            revision=0x20046,
            fw_revision=0x10000,
            runtime=0x7E0400,
            nr_tables=len(entries),
            tables=0x7E0100,
        ),
    )
    L.put(0xA00000, b"RSD PTR ")
    efi = B.efi_info(efi_info_systab, 0x960000, len(mm))
    # the loader's copy (HdrS, kexec-tools) with setup_data and a command line
    L.put(0x970000, b"console=ttyS0\0")
    head = B.chain(
        L,
        [
            (0x980000, SETUP_EFI, B.efi_setup(0x7E0200, 0x7E0400, setup_tables, 0x810000)),
            (0x981000, SETUP_PCI, B.pci_rom(0x1234, 0x1111, b"\x55\xaa" + bytes(14))),
        ],
    )
    L.put(
        LOADER_COPY,
        B.boot_params(
            e820=E820,
            efi=efi,
            hdr__cmd_line_ptr=0x970000,
            hdr__setup_data=head,
            hdr__type_of_loader=0xD0,
            acpi_rsdp_addr=0xA00000,
        ),
    )
    # the kernel's own copy: an EFI-stub zero page without HdrS, at a 16-byte-aligned address
    L.put(KERNEL_COPY, B.boot_params(hdrs=False, e820=E820, efi=efi, hdr__type_of_loader=0x21))
    # a cached bzImage setup header (HdrS, nothing at runtime) and a decoy EL64 with garbage around it
    L.put(0x400000, B.boot_params(version=0x020F, hdr__type_of_loader=0))
    L.put(0x500000, B.boot_params(hdrs=False, efi=dict(efi_loader_signature=0x34364C45, efi_memdesc_size=7)))
    info = None
    if kallsyms:
        info = B.kallsyms_image(
            L,
            base_pa=0xB00000,
            phys_base=-0x800000,
            symbols=[
                ("T", "_stext", 0xFFFFFFFF81000000),
                ("D", "boot_params_extra", 0xFFFFFFFF81100000),
                ("B", "boot_params", KERNEL_COPY - (-0x800000) + 0xFFFFFFFF80000000),
            ],
        )
    mem = L.memory()
    mem.info.vmcoreinfo = info
    return mem


# -- discovery ------------------------------------------------------------------------------
def test_scan_ranks_and_explains_candidates():
    mem = efi_layout()
    found, truncated = scan_candidates(mem, chunk_size=1 << 20)
    assert not truncated
    assert [(c.address, c.identity) for c in found] == [
        (LOADER_COPY, "setup_header"),
        (KERNEL_COPY, "efi_stub"),
        (0x400000, "setup_header"),
    ]
    best, kernel, cached = found
    assert best.score > kernel.score > cached.score
    assert "+30 'HdrS' at +0x202" in best.reasons and "+10 efi_systab points at 'IBI SYST'" in best.reasons
    assert "+20 EL64 at +0x1c0" in kernel.reasons and "+3 page-aligned" not in kernel.reasons
    assert "-10 e820_entries 0 (a cached kernel image or an unused copy)" in cached.reasons
    decoy = score_candidate(mem, 0x500000)
    assert not decoy.plausible and any("efi_info not sane" in r for r in decoy.reasons)


def test_vmcoreinfo_symbol_route_needs_no_kallsyms_tables():
    """A VMCOREINFO SYMBOL(boot_params) resolves the kernel's copy even when the kallsyms tables are unusable."""
    mem = efi_layout(kallsyms=True)
    virt = KERNEL_COPY + 0x800000 + 0xFFFFFFFF80000000
    info = {k: v for k, v in mem.vmcoreinfo.items() if not k.startswith("SYMBOL(kallsyms")}
    info["SYMBOL(boot_params)"] = f"{virt:x}"
    r = kallsyms_lookup(mem, info, "boot_params")
    assert (r.physical, r.virtual) == (KERNEL_COPY, virt)
    assert r.detail.startswith("VMCOREINFO SYMBOL(): boot_params = ") and "None" not in r.detail


def test_kallsyms_route_resolves_the_kernels_copy():
    mem = efi_layout(kallsyms=True)
    r = kallsyms_lookup(mem, mem.vmcoreinfo, "boot_params")
    assert r.physical == KERNEL_COPY and r.virtual == KERNEL_COPY + 0x800000 + 0xFFFFFFFF80000000
    assert "boot_params (B)" in r.detail and "symbol 2 of 3" in r.detail
    d = discover_boot_params(mem, vmcoreinfo=mem.vmcoreinfo)
    assert d.address == KERNEL_COPY and d.route == "kallsyms" and not d.scanned
    assert [(r.name, r.status) for r in d.routes] == [("kallsyms", "used"), ("scan", "unavailable")]
    d = discover_boot_params(mem, vmcoreinfo=mem.vmcoreinfo, scan=True)
    assert d.address == KERNEL_COPY and [r.status for r in d.routes] == ["used", "other"]
    assert d.candidates[0].address == KERNEL_COPY and d.candidates[0].found_by == "kallsyms"


def test_kallsyms_absolute_percpu_encoding():
    L = B.Layout(0x400000)
    info = B.kallsyms_image(
        L,
        base_pa=0x100000,
        phys_base=0,
        symbols=[("T", "_text", 0xFFFFFFFF81000000), ("B", "boot_params", 0xFFFFFFFF81234560)],
        absolute_percpu=True,
    )
    mem = L.memory()
    r = kallsyms_lookup(mem, info, "boot_params")
    assert r.virtual == 0xFFFFFFFF81234560 and r.physical == 0x1234560
    assert kallsyms_lookup(mem, info, "nope").detail == "nope is not among 2 kallsyms symbols"


def test_kallsyms_route_unavailable_is_explained():
    mem = efi_layout()
    assert kallsyms_lookup(mem, None, "boot_params").detail == "no VMCOREINFO in the dump"
    r = kallsyms_lookup(mem, {"NUMBER(phys_base)": "0", "SYMBOL(kallsyms_names)": "ffffffff81000000"}, "boot_params")
    assert r.physical is None and r.detail.startswith("VMCOREINFO lacks SYMBOL(kallsyms_num_syms)")
    d = discover_boot_params(mem, vmcoreinfo=None)
    assert d.routes[0].name == "kallsyms" and d.routes[0].status == "unavailable"
    assert d.route == "scan" and d.address == LOADER_COPY and d.scanned


def test_kallsyms_tables_out_of_the_dump():
    L = B.Layout(0x100000)
    info = {
        f"SYMBOL({k})": "ffffffff90000000"
        for k in (
            "kallsyms_names",
            "kallsyms_num_syms",
            "kallsyms_token_table",
            "kallsyms_token_index",
            "kallsyms_offsets",
            "kallsyms_relative_base",
        )
    }
    info["NUMBER(phys_base)"] = "0"
    r = kallsyms_lookup(L.memory(), info, "boot_params")
    assert r.physical is None and r.detail.startswith("kallsyms tables not in the dump")


def test_argument_route_wins_and_is_scored():
    mem = efi_layout(kallsyms=True)
    d = discover_boot_params(mem, given=LOADER_COPY, vmcoreinfo=mem.vmcoreinfo)
    assert d.route == "argument" and d.address == LOADER_COPY
    assert [(r.name, r.status) for r in d.routes][:2] == [("argument", "used"), ("kallsyms", "other")]
    assert d.ranked()[:2] == [(LOADER_COPY, "argument"), (KERNEL_COPY, "kallsyms")]
    bad = discover_boot_params(mem, given=0x300000, vmcoreinfo=None, scan=False)
    assert bad.address == 0x300000 and "does not look like a zero page" in bad.routes[0].detail


def test_dump_uses_kallsyms_and_feeds_the_efi_discovery():
    d = Dump(efi_layout(kallsyms=True))
    assert d.boot_params.address == KERNEL_COPY and d.boot_params.found_by == "kallsyms"
    assert d.boot_params_candidates()[0] == (KERNEL_COPY, "kallsyms")
    assert d.systab.address == 0x7E0018 and d.systab_discovery.route == "efi_info"
    assert d.efi_memmap is not None and len(d.efi_memmap.descriptors) == len(DESCS)
    assert not d.systab_discovery.scanned  # a hint was enough
    assert d.setup_data is not None and len(d.setup_data) == 0  # the kernel's copy has no setup_data


def test_no_boot_params_found():
    L = B.Layout(0x100000)
    d = Dump(L.memory())
    assert d.boot_params is None and d.setup_data is None and d.e820 is None
    assert "BOOT-PARAMS-NOT-FOUND" in codes(d.boot_findings())
    assert json.loads(json.dumps(d.to_dict()))["boot"]["boot_params"] is None


# -- cross-checks ------------------------------------------------------------------------------
def test_crosschecks_agree_and_regions_are_typed():
    d = Dump(efi_layout(), boot_params=LOADER_COPY, scan="always")
    xc = d.boot_crosschecks
    status = {c.name: c.status for c in xc.checks}
    assert status == {
        "system table: efi_info vs signature scan": "agrees",
        "system table: efi_info vs in use": "agrees",
        "configuration tables: SETUP_EFI.tables vs system table": "agrees",
        "firmware vendor: SETUP_EFI.fw_vendor vs system table": "agrees",
        "runtime services: SETUP_EFI.runtime vs system table": "agrees",
        "SMBIOS: SETUP_EFI.smbios vs configuration table": "agrees",
        "ACPI RSDP: acpi_rsdp_addr vs configuration table": "agrees",
    }
    r = {x.object: x for x in xc.regions}
    assert r["EFI system table"].efi_type == "EFI_RUNTIME_SERVICES_DATA" and r["EFI system table"].efi_runtime
    assert r["EFI system table"].e820_type == "E820_TYPE_RESERVED"
    assert r["EFI system table"].verdict == "ok: memory the kernel keeps"
    assert r["configuration table array"].verdict == "ok: memory the kernel keeps"
    assert r["configuration table [0] ACPI_20_TABLE_GUID"].efi_type == "EFI_ACPI_RECLAIM_MEMORY"
    smb = r["configuration table [1] SMBIOS_TABLE_GUID"]
    assert smb.efi_type == "EFI_BOOT_SERVICES_DATA" and "stale or overwritten" in smb.verdict
    assert r["configuration table [2] EFI_DXE_SERVICES_TABLE_GUID"].verdict == "free RAM to the kernel"
    assert r["configuration table [4] EFI_SYSTEM_RESOURCE_TABLE_GUID"].verdict == "free RAM to the kernel"
    assert r[f"configuration table [3] {UNKNOWN}"].verdict == "outside the EFI memory map"
    assert r["setup_data node [0] SETUP_EFI"].verdict == "ok: loader data the kernel reserves"
    assert r["setup_data node [0] SETUP_EFI"].efi_type == "EFI_LOADER_DATA"
    assert "freed after boot" in r["command line"].verdict
    assert r["ACPI RSDP (acpi_rsdp_addr)"].verdict == "ok: memory the kernel keeps"
    assert r["ACPI RSDP (acpi_rsdp_addr)"].efi_type == "EFI_ACPI_RECLAIM_MEMORY"
    by_code = {}
    for f in xc.findings:
        by_code.setdefault(f.code, []).append(f.structure)
    # a table with a payload decoder is judged once, by it; only the unknown GUID's region is the cross-check's
    assert by_code == {"BOOT-XC-UNMAPPED": [f"configuration table [3] {UNKNOWN}"]}
    region_codes = {
        t.index: [f.code for f in t.payload.findings if f.code.startswith("PAYLOAD-")]
        for t in d.systab.config_tables
        if t.payload is not None
    }
    # SMBIOS in boot-services data, DXE services (firmware-internal) in free memory: stale, by design (info);
    # the ESRT, which the running kernel reads and reserves, in free memory: a hazard (warning)
    assert region_codes == {0: [], 1: ["PAYLOAD-STALE"], 2: ["PAYLOAD-STALE"], 4: ["PAYLOAD-REGION-TYPE"]}
    j = json.loads(json.dumps(d.to_dict()))["boot"]["crosschecks"]
    assert len(j["checks"]) == 7 and j["regions"][0]["object"] == "EFI system table"


def test_crosscheck_mismatches_are_findings():
    d = Dump(efi_layout(setup_tables=0x7E0180), boot_params=LOADER_COPY, scan="always")
    xc = d.boot_crosschecks
    ct = xc.check("configuration tables: SETUP_EFI.tables vs system table")
    assert ct.status == "disagrees" and ct.values == {"SETUP_EFI.tables": 0x7E0180, "ConfigurationTable": 0x7E0100}
    mism = [f for f in xc.findings if f.code == "BOOT-XC-MISMATCH"]
    assert [f.structure for f in mism] == ["configuration tables: SETUP_EFI.tables vs system table"]
    assert mism[0] in d.findings

    d = Dump(efi_layout(efi_info_systab=0x7E0900), boot_params=LOADER_COPY, scan="always")
    st = d.boot_crosschecks.check("system table: efi_info vs signature scan")
    assert st.status == "disagrees" and st.values == {"efi_info": 0x7E0900, "scan": 0x7E0018}
    assert "BOOT-XC-MISMATCH" in codes(d.boot_findings())


def test_crosscheck_unavailable_without_scan_or_setup_efi():
    d = Dump(efi_layout(), boot_params=KERNEL_COPY, scan="never")
    xc = d.boot_crosschecks
    assert xc.check("system table: efi_info vs signature scan").status == "unavailable"
    assert "not run" in xc.check("system table: efi_info vs signature scan").detail
    assert xc.check("configuration tables: SETUP_EFI.tables vs system table").detail.startswith("no SETUP_EFI node")


def test_runtime_only_map_of_a_kexec_boot_falls_back_to_e820():
    from efitables.analysis.crosscheck import crosscheck
    from efitables.boot import e820_of, efi_memmap_of, parse_boot_params, walk_setup_data

    mem = efi_layout()
    bp = parse_boot_params(mem, LOADER_COPY)
    full = efi_memmap_of(mem, bp)
    runtime_only = [x for x in full.descriptors if x.type != 7]  # what kexec-tools passes: no free memory
    full.descriptors[:] = runtime_only
    sdl = walk_setup_data(mem, bp.setup_data_ptr)
    xc = crosscheck(
        mem, boot_params=bp, setup_data=sdl, efi_memmap=full, e820=e820_of(bp, sdl), systab=Dump(mem).systab
    )
    r = {x.object: x for x in xc.regions}
    acpi = r["configuration table [0] ACPI_20_TABLE_GUID"]
    assert acpi.efi_type == "EFI_ACPI_RECLAIM_MEMORY"
    dxe = r["configuration table [2] EFI_DXE_SERVICES_TABLE_GUID"]  # was conventional: now only E820 RAM
    assert dxe.efi_type is None and dxe.verdict == "free RAM to the kernel (E820 RAM)"
    assert r["configuration table [4] EFI_SYSTEM_RESOURCE_TABLE_GUID"].verdict == "free RAM to the kernel (E820 RAM)"
    assert "BOOT-XC-FREE-RAM" not in codes(xc.findings)  # decoded tables: their decoders judge the region
    unknown = r[f"configuration table [3] {UNKNOWN}"]  # in no map at all: not called "unmapped" for a partial map
    assert unknown.verdict == "in neither the (runtime-only) EFI map nor E820"
    assert "BOOT-XC-UNMAPPED" not in codes(xc.findings)


def test_given_boot_params_outside_the_dump():
    d = Dump(B.Layout(0x100000).memory(), boot_params=0x800000, scan="never")
    assert d.boot_params is None
    f = [x for x in d.boot_findings() if x.code == "DUMP-READ"]
    assert f and f[0].address == 0x800000 and "argument" in f[0].message


def test_setup_data_node_running_past_its_e820_range():
    from efitables.analysis.crosscheck import crosscheck
    from efitables.boot import e820_of, parse_boot_params, walk_setup_data
    from efitables.schemas.setup_data import build_node

    L = B.Layout(0x200000)
    L.put(0x9F000 - 0x20, build_node(0, 0x77, b"", length=0x100))  # RAM node whose len crosses into reserved
    L.put(0x10000, B.boot_params(e820=[(0, 0x9F000, 1), (0x9F000, 0x1000, 2)], hdr__setup_data=0x9F000 - 0x20))
    mem = L.memory()
    bp = parse_boot_params(mem, 0x10000)
    sdl = walk_setup_data(mem, bp.setup_data_ptr)
    xc = crosscheck(mem, boot_params=bp, setup_data=sdl, efi_memmap=None, e820=e820_of(bp, sdl))
    f = [x for x in xc.findings if x.code == "BOOT-XC-SETUP-SPAN"]
    assert len(f) == 1 and "into E820_TYPE_RESERVED at 0x9f000" in f[0].message


def _kallsyms_fixture(patch: dict[str, bytes] | None = None):
    """Two symbols' tables at 0x100000; ``patch`` overwrites a table's first bytes (hostile values)."""
    L = B.Layout(0x200000)
    info = B.kallsyms_image(
        L,
        base_pa=0x100000,
        phys_base=0,
        symbols=[("T", "_text", 0xFFFFFFFF81000000), ("B", "boot_params", 0xFFFFFFFF81234560)],
    )
    for key, data in (patch or {}).items():
        L.put(int(info[f"SYMBOL({key})"], 16) - 0xFFFFFFFF80000000, data)
    return L.memory(), info


@pytest.mark.parametrize(
    "patch,error",
    [
        ({"kallsyms_num_syms": struct.pack("<I", 0)}, "kallsyms_num_syms 0 is implausible"),
        ({"kallsyms_num_syms": struct.pack("<I", 0xFFFFFFFF)}, "kallsyms_num_syms 4294967295 is implausible"),
        # more symbols claimed than the names table (bounded by the next table) holds
        ({"kallsyms_num_syms": struct.pack("<I", 1000)}, "kallsyms_names ends after"),
        # a two-byte length of 0x7f | 0x7f << 7 = 16383 > KSYM_NAME_LEN
        ({"kallsyms_names": b"\xff\x7f"}, "kallsyms_names entry 0 has length 16383: not a kallsyms table"),
    ],
)
def test_kallsyms_hostile_tables_are_explained(patch, error):
    from efitables.kernel import kallsyms

    mem, info = _kallsyms_fixture(patch)
    ks = kallsyms.load(mem, info)
    assert not ks.available and ks.error.startswith(error)
    r = kallsyms_lookup(mem, info, "boot_params")
    assert r.physical is None and r.detail == ks.error
    d = discover_boot_params(mem, vmcoreinfo=info, scan=False)
    assert d.address is None and d.routes[0].status == "unavailable"


def test_kallsyms_decoded_once_per_table_set():
    from efitables.kernel import kallsyms

    mem, info = _kallsyms_fixture()
    first = kallsyms.load(mem, info)
    assert first.available and first.count == 2 and first.index("boot_params") == 1
    assert kallsyms.load(mem, dict(info)) is first  # same tables: the cached decode
    # another phys_base moves the tables (here out of the dump): decoded anew, not the cached answer
    other = kallsyms.load(mem, {**info, "NUMBER(phys_base)": "0x1000000"})
    assert other.error == "kallsyms tables not in the dump: physical range 0x1100000-0x1100004 is not in the dump"


def test_e820_ram_absent_from_the_dump_is_said_per_entry():
    """The map says RAM, the dump has no bytes (as for pages a filtered kdump left out): an info per entry."""
    from efitables.analysis.crosscheck import MAX_RAM_GAP_FINDINGS, crosscheck
    from efitables.boot.e820 import build_table, decode_entries
    from efitables.memory import BytesMemory

    mem = BytesMemory({0: bytes(0x30000), 0x50000: bytes(0x50000), 0x100000: bytes(0x100000)})
    raw = b"".join(
        struct.pack("<QQI", a, n, t)
        for a, n, t in [(0, 0xA0000, 1), (0xA0000, 0x60000, 2), (0x100000, 0x100000, 1), (0x200000, 0x1000, 1)]
    )
    e820 = build_table(None, decode_entries(raw, 0, 4, "boot_params"), 4, 0)
    xc = crosscheck(mem, boot_params=None, setup_data=None, efi_memmap=None, e820=e820)
    got = [(f.structure, f.address, f.message) for f in xc.findings if f.code == "BOOT-XC-RAM-NOT-IN-DUMP"]
    assert got == [
        ("E820 entry [0] RAM 0x0-0xa0000", 0, "0x20000 bytes in 1 range(s) absent from the dump: 0x30000-0x50000"),
        ("E820 entry [3] RAM 0x200000-0x201000", 0x200000, "0x1000 bytes in 1 range(s) absent from the dump: "
         "0x200000-0x201000"),
    ]  # the reserved entry is not RAM; the fully present one says nothing
    # a filtered dump missing most RAM: bounded, with a closing note
    many = b"".join(struct.pack("<QQI", 0x1000000 + i * 0x2000, 0x1000, 1) for i in range(40))
    e820 = build_table(None, decode_entries(many, 0, 40, "boot_params"), 40, 0)
    xc = crosscheck(mem, boot_params=None, setup_data=None, efi_memmap=None, e820=e820)
    f = [x for x in xc.findings if x.code == "BOOT-XC-RAM-NOT-IN-DUMP"]
    assert len(f) == MAX_RAM_GAP_FINDINGS + 1
    assert f[-1].message == "24 more BOOT-XC-RAM-NOT-IN-DUMP findings omitted (the first 16 are listed)"
