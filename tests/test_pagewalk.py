"""The bounded page-table walker, the identity-map builder, and page-table-mode verdicts."""

from __future__ import annotations

import random
import struct

import pytest
from builders_coverage import (
    BOOT_PARAMS,
    CFG_FAR,
    PT_BASE,
    kexec_machine,
    kexec_table,
    memory,
    open_dump,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import efitables
from dumps.builder import elf_note
from efitables.analysis.coverage import find_roots
from efitables.coverage import pagewalk as pw
from efitables.coverage.intervals import GIB, MIB2
from efitables.coverage.models import GBPAGE_FULL, GBPAGE_WHOLE
from efitables.coverage.objects import KEXEC
from efitables.coverage.ptbuilder import PageTableBuilder
from efitables.coverage.ptscan import scan_identity_tables
from efitables.coverage.verdict import COVERED, NOT_COVERED, PAGE_TABLE, ROUNDING
from efitables.memory.base import BytesMemory
from efitables.schemas.paging import KEXEC_LEAF_FLAGS, KEXEC_TABLE_FLAGS, PAGE_NX, PTE


def mem_of(pt: PageTableBuilder, extra: dict[int, bytes] | None = None) -> BytesMemory:
    start, blob = pt.blob()
    return BytesMemory({start: blob, **(extra or {})})


def codes(res) -> list[str]:
    return [f.code for f in res.findings]


# -- builder semantics (kernel_ident_mapping_init) --------------------------------------------


@pytest.mark.parametrize("levels", [4, 5])
def test_ident_map_2m_rounding(levels):
    pt = PageTableBuilder(levels, 0x100000)
    pt.ident_map(0x7E0018, 0x7E0090)
    pt.ident_map(0xA00100, 0xA00130)
    res = pw.walk(mem_of(pt), pt.cr3, levels=levels)
    assert res.identity == [(0x600000, 0x800000), (0xA00000, 0xC00000)]
    assert {lf.size for lf in res.identity_leaves} == {MIB2}
    assert all(lf.entry & 0xFFF == KEXEC_LEAF_FLAGS for lf in res.identity_leaves)
    assert res.complete and res.tables_read == levels - 1  # one table per level down to the PD
    assert pw.PGW_NO_IDENTITY not in codes(res)


def test_ident_map_gbpage_rules():
    old = PageTableBuilder(4, 0x100000)
    old.ident_map(0x7E0018, 0x7E0090, gbpages=True, gbrule=GBPAGE_WHOLE)
    res = pw.walk(mem_of(old), old.cr3)
    assert res.identity == [(0, GIB)] and res.identity_leaves[0].size == GIB
    new = PageTableBuilder(4, 0x100000)
    new.ident_map(0x7E0018, 0x7E0090, gbpages=True, gbrule=GBPAGE_FULL)
    new.ident_map(GIB, 3 * GIB + MIB2, gbpages=True, gbrule=GBPAGE_FULL)
    res = pw.walk(mem_of(new), new.cr3)
    assert res.identity == [(0x600000, 0x800000), (GIB, 3 * GIB + MIB2)]
    sizes = sorted((lf.va, lf.size) for lf in res.identity_leaves)
    assert (GIB, GIB) in sizes and (2 * GIB, GIB) in sizes and (3 * GIB, MIB2) in sizes
    # Never overwrite: a later gbpage request over a GiB already split into 2 MiB pages stays split.
    new.ident_map(0, GIB, gbpages=True, gbrule=GBPAGE_FULL)
    res = pw.walk(mem_of(new), new.cr3)
    assert (0x600000, MIB2) in [(lf.va, lf.size) for lf in res.identity_leaves]
    assert res.identity[0] == (0, 3 * GIB + MIB2)


def test_cbit_masked_everywhere():
    pt = PageTableBuilder(4, 0x100000, cbit=51)
    pt.ident_map(0x200000, 0x400000)
    assert pt.entry(pt.root, 0) >> 51 & 1 and pt.cr3 >> 51 & 1
    mem = mem_of(pt)
    res = pw.walk(mem, pt.cr3, cbit=51)
    assert res.identity == [(0x200000, 0x400000)]
    assert all(lf.encrypted and lf.pa == lf.va for lf in res.identity_leaves)
    # Without the C-bit: the root's entries point "outside the dump"; the walker says why.
    res = pw.walk(mem, pt.root)
    assert pw.PGW_CBIT in codes(res) and pw.PGW_MISSING in codes(res)
    assert res.identity == []
    # A CR3 carrying the C-bit is not a root at all without it.
    assert pw.PGW_ROOT in codes(pw.walk(mem, pt.cr3))


def test_4k_leaves_nx_and_non_identity():
    pt = PageTableBuilder(4, 0x100000)
    pt.map_4k(0x5000, 0x5000, flags=0x63 | PAGE_NX)
    pt.map_4k(0x6000, 0x9000)
    res = pw.walk(mem_of(pt), pt.cr3)
    assert res.identity == [(0x5000, 0x6000)]
    (lf,) = res.identity_leaves
    assert lf.size == 0x1000 and lf.nx and lf.writable and lf.describe().startswith("4K leaf 0x5000-0x6000")
    assert res.non_identity_leaves == 1 and res.leaves_seen == 2


def test_pte_schema_round_trip():
    v = 0x8000000000A001E3
    raw = struct.pack("<Q", v)
    p = PTE.parse(raw)
    assert p.present and p.rw and p.ps_or_pat and p.global_ and p.nx and p.address_bits << 12 == 0xA00000
    assert PTE.build(p) == raw and PTE.sizeof() == 8
    assert (KEXEC_TABLE_FLAGS, KEXEC_LEAF_FLAGS) == (0x63, 0x1E3)


# -- hostile tables ------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [4, 5])
def test_self_reference_is_rejected(levels):
    pt = PageTableBuilder(levels, 0x100000)
    pt.ident_map(0x200000, 0x400000)
    pt.set_entry(pt.root, 1, pt.root | KEXEC_TABLE_FLAGS)  # top-level entry -> itself
    mid = pt.entry(pt.root, 0) & ~0xFFF
    pt.set_entry(mid, 7, pt.root | KEXEC_TABLE_FLAGS)  # a lower table -> its ancestor
    res = pw.walk(mem_of(pt), pt.cr3, levels=levels)
    assert codes(res).count(pw.PGW_SELF) == 2
    assert res.identity == [(0x200000, 0x400000)]
    assert res.tables_read == levels - 1


def test_level_alias_is_not_entered():
    pt = PageTableBuilder(4, 0x100000)
    pt.ident_map(0x200000, 0x400000)
    other = pt.alloc()
    pdpt = pt.entry(pt.root, 0) & ~0xFFF
    pt.set_entry(other, 0, pdpt | KEXEC_TABLE_FLAGS)  # 'other' (a PDPT) points at the real PDPT as if it were a PD
    pt.set_entry(pt.root, 2, other | KEXEC_TABLE_FLAGS)
    res = pw.walk(mem_of(pt), pt.cr3)
    assert pw.PGW_ALIAS in codes(res)
    assert res.identity == [(0x200000, 0x400000)]


def test_absurd_table_and_bad_entries():
    pt = PageTableBuilder(4, 0x100000)
    pt.ident_map(0x200000, 0x400000)
    junk = pt.alloc()
    rnd = random.Random(6)
    for i in range(512):
        pt.set_entry(junk, i, rnd.getrandbits(64))
    pt.set_entry(pt.root, 3, junk | KEXEC_TABLE_FLAGS)  # junk as the PDPT of VA 1.5 TiB
    pt.set_entry(pt.root, 4, (5 << 30) | 0x1E3)  # PS in a PML4E
    res = pw.walk(mem_of(pt), pt.cr3)
    assert pw.PGW_ABSURD in codes(res) and pw.PGW_BAD_ENTRY in codes(res)
    assert res.identity == [(0x200000, 0x400000)]
    # A random root is rejected as a whole.
    res = pw.walk(BytesMemory({0x1000: bytes(rnd.getrandbits(8) for _ in range(4096))}), 0x1000)
    assert pw.PGW_ABSURD in codes(res) and res.identity == []


def test_missing_root_and_tables():
    pt = PageTableBuilder(4, 0x100000)
    pt.ident_map(0x200000, 0x400000)
    pt.set_entry(pt.root, 9, 0x7_0000_0000 | KEXEC_TABLE_FLAGS)
    res = pw.walk(mem_of(pt), pt.cr3)
    assert pw.PGW_MISSING in codes(res)
    res = pw.walk(mem_of(pt), 0x9000_0000)
    assert codes(res) == [pw.PGW_ROOT] and not res.complete
    with pytest.raises(ValueError):
        pw.walk(mem_of(pt), pt.cr3, levels=3)


def test_table_cap(monkeypatch):
    monkeypatch.setattr(pw, "MAX_TABLES", 3)
    pt = PageTableBuilder(4, 0x100000)
    pt.ident_map(0, 4 * GIB)  # PML4 + PDPT + 4 PDs
    res = pw.walk(mem_of(pt), pt.cr3)
    assert pw.PGW_CAP in codes(res) and not res.complete and res.tables_read == 3


def test_shared_tables_are_bounded(monkeypatch):
    """512 x 512 entries all pointing to one PD: a 'fan-out bomb'; the cap stops it."""
    monkeypatch.setattr(pw, "MAX_TABLES", 64)
    pt = PageTableBuilder(4, 0x100000)
    pdpt, pd = pt.alloc(), pt.alloc()
    for i in range(256):
        pt.set_entry(pt.root, i, pdpt | KEXEC_TABLE_FLAGS)
    for i in range(512):
        pt.set_entry(pdpt, i, pd | KEXEC_TABLE_FLAGS)
        pt.set_entry(pd, i, (i << 21) | KEXEC_LEAF_FLAGS)
    res = pw.walk(mem_of(pt), pt.cr3)
    assert pw.PGW_CAP in codes(res) and res.tables_read == 64


def test_windows_limit_the_walk():
    pt = PageTableBuilder(4, 0x100000)
    pt.ident_map(0, 4 * GIB)
    res = pw.walk(mem_of(pt), pt.cr3, windows=[(0x7E0000, 0x7E1000)])
    assert res.tables_read == 3 and res.identity == [(0x600000, 0x800000)]


def test_kernel_cr3_has_no_identity_map():
    pt = PageTableBuilder(4, 0x100000)
    pt.map_4k(0xFFFF888000000000, 0)  # direct map only, upper half
    res = pw.walk(mem_of(pt), pt.cr3)
    assert pw.PGW_NO_IDENTITY in codes(res) and res.tables_read == 1


# -- page-table mode agrees with the model ---------------------------------------------------


@pytest.mark.parametrize("levels", [4, 5])
@pytest.mark.parametrize("model,expected", [("v5.3", NOT_COVERED), ("v6.12", COVERED), ("v5.3,gbpages=on", ROUNDING)])
def test_page_table_agrees_with_model(levels, model, expected):
    pt = kexec_table(model, levels=levels)
    d = open_dump(kexec_machine(page_table=pt))
    rep = d.coverage(model, pgd=pt.cr3, levels=levels)
    k = {r.object: r.verdict for r in rep.rows if r.map == KEXEC}
    t = {r.object: r.verdict for r in rep.rows if r.map == PAGE_TABLE}
    assert k["EFI configuration table array"] == expected
    for obj, v in k.items():
        assert t[obj] == v, obj
    assert "COVERAGE-MODEL-DISAGREES" not in [f.code for f in rep.findings]
    assert rep.walk is not None and rep.walk.levels == levels and rep.walk.root == PT_BASE
    row = next(r for r in rep.rows if r.map == PAGE_TABLE and r.kind == "efi_config_array")
    if expected != NOT_COVERED:
        assert row.rules[0].startswith(("2M leaf", "1G leaf"))
    else:
        assert f"{CFG_FAR:#x}" in row.detail
    assert rep.ok == (expected != NOT_COVERED)


def test_page_table_maps_more_than_the_model():
    """A table built by a v6.12 kernel, judged under v5.3: covered, but no v5.3 rule asks -> rounding-only."""
    pt = kexec_table("v6.12")
    rep = open_dump(kexec_machine(page_table=pt)).coverage("v5.3", pgd=pt.cr3)
    row = next(r for r in rep.rows if r.map == PAGE_TABLE and r.kind == "efi_config_array")
    assert row.verdict == ROUNDING and "no rule of the model" in row.detail
    assert "COVERAGE-MODEL-DISAGREES" in [f.code for f in rep.findings]


def test_page_table_with_cbit(tmp_path):
    pt = kexec_table("v6.12", cbit=47)
    d = open_dump(kexec_machine(page_table=pt))
    rep = d.coverage("v6.12", pgd=pt.cr3, cbit=47)
    assert all(r.verdict == COVERED for r in rep.rows if r.map == PAGE_TABLE)
    assert rep.walk.cbit == 47


# -- roots from the dump's notes ------------------------------------------------------------


def _qemu_note(cr3: int, cr4: int = 0) -> bytes:
    regs = struct.pack("<II", 1, 8 + 18 * 8 + 10 * 24 + 6 * 8) + bytes(18 * 8 + 10 * 24)
    return elf_note("QEMU", 0, regs + struct.pack("<5Q", 0x80050033, 0, 0, cr3, cr4) + bytes(8))


def test_root_from_qemu_note(tmp_path):
    pt = kexec_table("v6.12", levels=5)
    img = kexec_machine(page_table=pt)
    path = tmp_path / "qemu.elf"
    img.write_elf(str(path), 64, notes=[_qemu_note(pt.cr3 | 0x1, 1 << 12)])
    with efitables.open(str(path), boot_params=BOOT_PARAMS) as d:
        roots = find_roots(d)
        assert roots[0].address == pt.cr3 | 1 and roots[0].levels == 5 and "QEMU" in roots[0].source
        rep = d.coverage("v6.12", pgd="auto")
        assert rep.walk.root == PT_BASE and rep.walk.levels == 5
        assert all(r.verdict == COVERED for r in rep.rows if r.map == PAGE_TABLE)


def test_root_from_vmcoreinfo(tmp_path):
    pt = kexec_table("v6.12")
    img = kexec_machine(page_table=pt)
    sym = 0xFFFFFFFF82000000
    info = f"OSRELEASE=6.12.0\nSYMBOL(init_top_pgt)={sym:x}\nNUMBER(phys_base)={PT_BASE - 0x2000000}\n"
    path = tmp_path / "vmcore.elf"
    img.write_elf(str(path), 64, notes=[elf_note("VMCOREINFO", 0, info.encode())])
    with efitables.open(str(path), boot_params=BOOT_PARAMS) as d:
        (root,) = find_roots(d)
        assert root.address == PT_BASE and root.levels == 4 and "init_top_pgt" in root.source


def test_auto_without_root_is_a_finding():
    rep = open_dump(kexec_machine()).coverage("v6.12", pgd="auto")
    assert rep.walk is None and "COVERAGE-NO-PGD" in [f.code for f in rep.findings]


def test_memory_helper_is_bytes_memory():
    assert isinstance(memory(kexec_machine()), BytesMemory)


# -- finding identity maps without a root (--pgd scan) ----------------------------------------


@pytest.mark.parametrize("levels", [4, 5])
@pytest.mark.parametrize("model", ["v6.12", "v5.3,gbpages=on"])
def test_scan_finds_the_kexec_map(levels, model):
    pt = kexec_table(model, levels=levels)
    sc = scan_identity_tables(memory(kexec_machine(page_table=pt)))
    assert sc.roots[0].address == PT_BASE and sc.roots[0].levels == levels
    rep = open_dump(kexec_machine(page_table=pt)).coverage(model, pgd="scan")
    assert rep.walk.root == PT_BASE and rep.walk.root_source == "identity-table scan"
    assert "COVERAGE-PGD-SCANNED" in [f.code for f in rep.findings]
    k = {r.object: r.verdict for r in rep.rows if r.map == KEXEC}
    t = {r.object: r.verdict for r in rep.rows if r.map == PAGE_TABLE}
    assert all(t[o] == v for o, v in k.items())


def test_scan_ignores_the_direct_map_and_cbit():
    direct = PageTableBuilder(4, 0x100000, leaf_flags=KEXEC_LEAF_FLAGS | PAGE_NX)
    direct.ident_map(0, 8 * MIB2)  # same shape as an identity map, but NX like the kernel's direct map
    assert scan_identity_tables(mem_of(direct)).roots == []
    enc = PageTableBuilder(4, 0x100000, cbit=47)
    enc.ident_map(0, 8 * MIB2)
    assert [r.address for r in scan_identity_tables(mem_of(enc)).roots] == [0x100000]
    assert [r.address for r in scan_identity_tables(mem_of(enc), cbit=47).roots] == [0x100000]
    rep = open_dump(kexec_machine()).coverage("v6.12", pgd="scan")
    assert rep.walk is None and "COVERAGE-NO-PGD" in [f.code for f in rep.findings]


# -- fuzz: any bytes as page tables never raise, hang or exceed the caps --------------------------


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(0, 511), min_size=1, max_size=24),
    st.lists(st.integers(0, (1 << 64) - 1), min_size=1, max_size=24),
    st.integers(0, 3),
    st.sampled_from([4, 5]),
    st.sampled_from([None, 47, 51]),
)
def test_fuzzed_tables(indices, values, root_page, levels, cbit):
    pages = bytearray(4 * 4096)
    for i, (idx, val) in enumerate(zip(indices, values, strict=False)):
        page = i % 4
        # Bias entries toward the fixture's own pages so that walks go somewhere.
        if val & 3 == 1:
            val = (val & ~0x000F_FFFF_FFFF_F000) | ((0x10000 + (val >> 20) % 4 * 0x1000) & ~0xFFF)
        struct.pack_into("<Q", pages, page * 4096 + idx * 8, val)
    mem = BytesMemory({0x10000: bytes(pages)})
    res = pw.walk(mem, 0x10000 + root_page * 0x1000, levels=levels, cbit=cbit)
    assert res.tables_read <= pw.MAX_TABLES
    assert all(lf.va == lf.pa for lf in res.identity_leaves)
    sc = scan_identity_tables(mem, cbit)
    assert all(r.levels in (4, 5) for r in sc.roots)
