"""SNP VMSA pages found through the fixture kernel's per-CPU ``sev_vmsa`` (efitables.snp.vmsa).

The kernel is tests/builders_kernel.py's; this adds ``sev_vmsa`` (a per-CPU variable in the image),
``__per_cpu_offset`` and ``nr_cpu_ids`` as VMCOREINFO ``SYMBOL()`` entries, a per-CPU area per CPU in
the direct map and two VMSA pages built with the ``struct sev_es_save_area`` schema with known values.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from builders_kernel import IMAGE_PA, KernelSpec, add_kernel, memory, virt_direct, virt_image

from dumps.builder import Image
from efitables.memory.base import BytesMemory
from efitables.schemas.common import field_offset
from efitables.schemas.vmsa import SEV_ES_SAVE_AREA, SEV_ES_SAVE_AREA_SIZE, VMSA_PAGE_SIZE
from efitables.snp.vmsa import MAX_CPUS, find_vmsa_pages

M64 = (1 << 64) - 1
PERCPU_PA, PERCPU_STRIDE = 0x3000000, 0x2000
VMSA_PA = 0x3100000
SEV_VMSA_PA = IMAGE_PA + 0x180000  # the per-CPU variable's address in the image (non-zero-based per-CPU)
OFFSETS_PA = IMAGE_PA + 0x181000
NR_CPU_IDS_PA = IMAGE_PA + 0x184000

#: (rip, cr3, efer, sev_features) of CPU 1's and CPU 2's VMSA
KNOWN = {
    1: (0xFFFFFFFF81000200, 0x10A000, 0x1D01, 0x1 | 1 << 5),
    2: (0xFFFFFFFF81000300, 0x10B000, 0x1D01, 0x1),
}


def vmsa_bytes(rip: int, cr3: int, efer: int, feats: int) -> bytes:
    v = SEV_ES_SAVE_AREA.parse(bytes(SEV_ES_SAVE_AREA_SIZE))
    v.update(
        dict(rip=rip, cr3=cr3, efer=efer, sev_features=feats, vmpl=0, cpl=0, cr0=0x80050033, rsp=0xFFFFC90000013F00)
    )
    return SEV_ES_SAVE_AREA.build(v).ljust(VMSA_PAGE_SIZE, b"\0")


@dataclass
class Machine:
    cpus: int = 3
    nr_cpu_ids: int | None = None  # None: cpus
    #: cpu -> physical VMSA page (None: NULL); default CPU 0 none, CPU 1 and 2 their pages
    vmsa: dict[int, int | None] = field(default_factory=lambda: {0: None, 1: VMSA_PA, 2: VMSA_PA + VMSA_PAGE_SIZE})
    raw_pointer: dict[int, int] = field(default_factory=dict)  # cpu -> pointer value written as is
    offsets: dict[int, int] = field(default_factory=dict)  # cpu -> per-CPU offset override
    vmsa_in_dump: bool = True
    zero_based: bool = False


def build(m: Machine) -> BytesMemory:
    img = Image()
    img.add_region(0, 0x100000)
    built = add_kernel(img, KernelSpec(sev_status=0x7, sme_me_mask=1 << 51))
    img.add_region(PERCPU_PA, PERCPU_STRIDE * max(m.cpus, 1))
    if m.vmsa_in_dump:
        img.add_region(VMSA_PA, 2 * VMSA_PAGE_SIZE)
        for cpu, (rip, cr3, efer, feats) in KNOWN.items():
            img.put(VMSA_PA + (cpu - 1) * VMSA_PAGE_SIZE, vmsa_bytes(rip, cr3, efer, feats))
    sym = 0x1F0C8 if m.zero_based else virt_image(SEV_VMSA_PA)
    offs = []
    for cpu in range(m.cpus):
        area = PERCPU_PA + cpu * PERCPU_STRIDE
        offs.append(m.offsets.get(cpu, (virt_direct(area) - sym) & M64))
        page = m.vmsa.get(cpu)
        ptr = m.raw_pointer.get(cpu, virt_direct(page) if page is not None else 0)
        img.put(area, struct.pack("<Q", ptr))
    img.put(OFFSETS_PA, b"".join(struct.pack("<Q", o) for o in offs))
    img.put(NR_CPU_IDS_PA, struct.pack("<I", m.cpus if m.nr_cpu_ids is None else m.nr_cpu_ids))
    info = dict(built.info)
    info["SYMBOL(__per_cpu_offset)"] = f"{virt_image(OFFSETS_PA):x}"
    info["SYMBOL(nr_cpu_ids)"] = f"{virt_image(NR_CPU_IDS_PA):x}"
    info["SYMBOL(sev_vmsa)"] = f"{sym:x}"
    return memory(img, info)


def codes(rep: object) -> list[str]:
    return sorted(f.code for f in rep.all_findings())  # type: ignore[attr-defined]


def test_offsets_of_the_identifying_fields() -> None:
    # arch/x86/include/asm/svm.h: vmpl 0xca, cpl 0xcb, efer 0xd0, cr3 0x150, rip 0x178,
    # "rsp already available at 0x01d8", sev_features 0x3b0, xcr0 0x3e8
    want = {
        "vmpl": 0xCA,
        "cpl": 0xCB,
        "efer": 0xD0,
        "cr4": 0x148,
        "cr3": 0x150,
        "cr0": 0x158,
        "rip": 0x178,
        "rsp": 0x1D8,
        "rax": 0x1F8,
        "sev_features": 0x3B0,
        "xcr0": 0x3E8,
        "tr": 0x90,
    }
    assert {k: field_offset(SEV_ES_SAVE_AREA, k) for k in want} == want


def test_two_vmsa_pages_decoded_and_flagged() -> None:
    rep = find_vmsa_pages(*(lambda mem: (mem, mem.vmcoreinfo))(build(Machine())))
    assert rep.available and rep.nr_cpu_ids == 3 and rep.cpus_checked == 3
    assert [(p.cpu, p.address, p.in_dump) for p in rep.pages] == [
        (1, VMSA_PA, True),
        (2, VMSA_PA + VMSA_PAGE_SIZE, True),
    ]
    for p in rep.pages:
        rip, cr3, efer, feats = KNOWN[p.cpu]
        assert (p.rip, p.cr3, p.efer, p.sev_features) == (rip, cr3, efer, feats)
        assert p.cr0 == 0x80050033 and p.rsp == 0xFFFFC90000013F00 and p.vmpl == 0
        assert p.virtual == virt_direct(p.address)
    assert rep.pages[0].sev_feature_names == ["SNP_ACTIVE", "DEBUG_SWAP"]
    found = [(f.code, f.address) for f in rep.all_findings()]
    assert found == [("SNP-VMSA-IN-DUMP", VMSA_PA), ("SNP-VMSA-IN-DUMP", VMSA_PA + VMSA_PAGE_SIZE)]


def test_a_kdump_without_the_vmsa_pages_has_no_finding() -> None:
    mem = build(Machine(vmsa_in_dump=False))
    rep = find_vmsa_pages(mem, mem.vmcoreinfo)
    assert [(p.cpu, p.in_dump) for p in rep.pages] == [(1, False), (2, False)]
    assert codes(rep) == []


def test_zero_based_per_cpu_symbol_from_vmcoreinfo() -> None:
    mem = build(Machine(zero_based=True))
    rep = find_vmsa_pages(mem, mem.vmcoreinfo)
    assert rep.symbol_source == "VMCOREINFO"
    assert [p.rip for p in rep.pages] == [KNOWN[1][0], KNOWN[2][0]]


def test_hostile_pointers() -> None:
    # CPU 1: not page-aligned; CPU 2: names CPU 1's page... after CPU 1 was rejected, so CPU 3 repeats CPU 2
    m = Machine(
        cpus=4,
        vmsa={0: None, 1: None, 2: VMSA_PA, 3: VMSA_PA},
        raw_pointer={1: virt_direct(VMSA_PA) + 0x10},
    )
    rep = find_vmsa_pages(*(lambda mem: (mem, mem.vmcoreinfo))(build(m)))
    assert [p.cpu for p in rep.pages] == [2]
    assert codes(rep) == ["SNP-VMSA-ALIAS", "SNP-VMSA-IN-DUMP", "SNP-VMSA-POINTER"]
    # a pointer that translates nowhere (user half, no page tables)
    m = Machine(raw_pointer={1: 0x7F0000000000})
    rep = find_vmsa_pages(*(lambda mem: (mem, mem.vmcoreinfo))(build(m)))
    assert "SNP-VMSA-POINTER" in codes(rep) and [p.cpu for p in rep.pages] == [2]


def test_repeated_per_cpu_offsets_are_an_alias() -> None:
    m = Machine(offsets={2: (virt_direct(PERCPU_PA + PERCPU_STRIDE) - virt_image(SEV_VMSA_PA)) & M64})
    rep = find_vmsa_pages(*(lambda mem: (mem, mem.vmcoreinfo))(build(m)))
    assert rep.cpus_checked == 2 and [p.cpu for p in rep.pages] == [1]
    assert codes(rep) == ["SNP-VMSA-ALIAS", "SNP-VMSA-IN-DUMP"]


def test_nr_cpu_ids_of_2_to_the_32_minus_1_is_capped() -> None:
    mem = build(Machine(nr_cpu_ids=0xFFFFFFFF))
    rep = find_vmsa_pages(mem, mem.vmcoreinfo)
    assert rep.nr_cpu_ids == 0xFFFFFFFF and rep.cpus_checked <= MAX_CPUS
    c = codes(rep)
    assert "SNP-VMSA-CPU-COUNT" in c
    # the zero entries past CPU 2 repeat one offset: one alias finding each, capped and counted
    assert c.count("SNP-VMSA-ALIAS") + c.count("SNP-VMSA-POINTER") <= 33
    assert [p.cpu for p in rep.pages] == [1, 2]


def test_no_sev_vmsa_symbol() -> None:
    from builders_kernel import kernel_only

    mem, _built = kernel_only()
    rep = find_vmsa_pages(mem, mem.vmcoreinfo)
    assert not rep.available and "sev_vmsa" in rep.why and not rep.findings


# -- the real corpus: a Debian 6.1 kdump (zero-based per-CPU section, not an SNP guest) ----------------
def test_real_kdump_has_sev_vmsa_and_no_vmsa_page(real_files) -> None:  # type: ignore[no-untyped-def]
    import pytest
    import test_real_dumps as R

    from efitables.memory import open_memory

    src = R.CORPUS / "kdump.vmcore.xz"
    if not src.exists():
        pytest.skip("no real kdump in the corpus")
    truth = (R.CORPUS / "kdump.truth.json").read_text()
    mem = open_memory(str(real_files.get("kdump.vmcore")))
    rep = find_vmsa_pages(mem, mem.vmcoreinfo)
    # sev_vmsa is a kallsyms 'A' symbol, resolved relative to __per_cpu_start
    assert rep.available and rep.symbol_source == "kallsyms (per-CPU offset from __per_cpu_start)"
    # the capture kernel ran with nr_cpus=1 (the guest's own command line in truth.json)
    assert "nr_cpus=1" in truth and rep.nr_cpu_ids == 1 and rep.cpus_checked == 1
    # not an SNP guest: the slot was read (a failed read or translation would be a finding), NULL
    assert rep.pages == [] and rep.all_findings() == []
