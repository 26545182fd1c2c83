"""Memory encryption across kexec (efitables.analysis.encryption) and the walker's C-bit / shared-bit stripping."""

from __future__ import annotations

import pytest
from builders_kernel import KernelSpec, add_kernel, memory

from dumps.builder import Image
from efitables.analysis.encryption import mode_of
from efitables.coverage import pagewalk as pw
from efitables.coverage.ptbuilder import PageTableBuilder
from efitables.dump import Dump
from efitables.memory.base import BytesMemory
from efitables.schemas.snp import CC_BLOB_SEV_HDR_MAGIC, CC_BLOB_SEV_INFO

CC_BLOB, SECRETS, CPUID_PAGE = 0x80000, 0x81000, 0x82000


def kernel_dump(pt: PageTableBuilder | None = None, **over: object) -> Dump:
    spec = KernelSpec(**over)  # type: ignore[arg-type]
    img = Image()
    img.add_region(0, 0x100000)
    if pt is not None:
        for pa, data in pt.pages().items():
            img.put(pa, data)
    if spec.cc_blob_address:
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
    return Dump(memory(img, built.info), scan="never")


@pytest.mark.parametrize(
    ("status", "sme", "cc", "mode"),
    [
        (0x7, 1 << 51, 1 << 51, "SEV-SNP"),
        (0x3, 1 << 47, 1 << 47, "SEV-ES"),
        (0x1, 1 << 47, 1 << 47, "SEV"),
        (0x0, 1 << 47, 1 << 47, "SME"),
        (0x0, 0, 1 << 51, "TDX"),
        (0x0, 0, 0, "none"),
        (None, None, None, "none"),
    ],
)
def test_mode_from_the_kernel_variables(status: int | None, sme: int | None, cc: int | None, mode: str) -> None:
    assert mode_of(status, sme, cc) == mode


def test_snp_guest_c_bit_and_objects_read_encrypted() -> None:
    d = kernel_dump(sev_status=0x7, sme_me_mask=1 << 51, cc_blob_address=CC_BLOB)
    e = d.encryption
    assert e.mode == "SEV-SNP" and e.c_bit == 51 and e.shared_bit is None
    assert e.sev_features == ["SEV_ENABLED", "SEV_ES_ENABLED", "SNP_ENABLED"]
    assert e.strip_mask == 1 << 51
    objs = {o.name: (o.address, o.access) for o in e.objects}
    assert objs["CC blob"] == (CC_BLOB, "encrypted")
    assert objs["SNP secrets page"] == (SECRETS, "encrypted")
    assert objs["SNP CPUID page"] == (CPUID_PAGE, "encrypted")
    assert "OVMF SEV metadata" in next(o.rule for o in e.objects if o.name == "SNP secrets page")
    # cc_mask in the fixture kernel is 0 while sme_me_mask is 1 << 51: the kernel sets both alike
    assert [f.code for f in e.findings] == []


def test_no_encryption() -> None:
    e = kernel_dump().encryption
    assert e.mode == "none" and e.c_bit is None and e.strip_mask == 0 and not e.findings


def test_a_mask_that_is_not_one_bit() -> None:
    e = kernel_dump(sev_status=0x7, sme_me_mask=(1 << 51) | (1 << 47)).encryption
    assert e.c_bit is None
    assert [f.code for f in e.findings] == ["ENC-MASK"]


def test_snp_without_es_is_inconsistent() -> None:
    e = kernel_dump(sev_status=0x4, sme_me_mask=1 << 51).encryption
    assert "ENC-SEV-STATUS" in [f.code for f in e.findings]


def test_findings_reach_the_report() -> None:
    d = kernel_dump(sev_status=0x7, sme_me_mask=(1 << 51) | 1)
    assert "ENC-MASK" in [f.code for f in d.report().findings]


# -- the walker strips the C-bit (private) and the TDX shared bit ----------------------------------
def _mem(pt: PageTableBuilder) -> BytesMemory:
    base, blob = pt.blob()
    return BytesMemory({0: bytes(0x100000), base: blob, 0x200000: bytes(0x200000)})


def test_walk_strips_the_c_bit_given_by_the_encryption_state() -> None:
    pt = PageTableBuilder(4, 0x100000, cbit=51)
    pt.ident_map(0x200000, 0x400000)
    res = pw.walk(_mem(pt), pt.cr3, cbit=51)
    assert res.identity == [(0x200000, 0x400000)]
    assert all(lf.pa == lf.va and lf.encrypted for lf in res.identity_leaves)


def test_walk_strips_the_tdx_shared_bit() -> None:
    # a TDX guest's shared mapping: the shared bit (here 47) is set in every entry
    pt = PageTableBuilder(4, 0x100000, cbit=47)
    pt.ident_map(0x200000, 0x400000)
    mem = _mem(pt)
    res = pw.walk(mem, pt.cr3, shared_bit=47)
    assert res.identity == [(0x200000, 0x400000)]
    # shared is not "encrypted": the C-bit flag stays clear
    assert all(lf.pa == lf.va and not lf.encrypted for lf in res.identity_leaves)
    assert pw.PGW_CBIT not in [f.code for f in res.findings]
    # without it the tables point outside the dump
    assert pw.walk(mem, pt.root).identity == []


def test_dump_coverage_takes_the_c_bit_by_default() -> None:
    pt = PageTableBuilder(4, 0x90000, cbit=51)
    pt.ident_map(0x0, 0x200000)
    d = kernel_dump(pt, sev_status=0x7, sme_me_mask=1 << 51)
    rep = d.coverage(pgd=pt.cr3)
    assert rep.walk is not None and rep.walk.cbit == 51
    # the root was found through the C-bit it carries (without it: PGWALK-ROOT, the table "past the dump")
    assert rep.walk.root == pt.root and rep.walk.complete
    assert "PGWALK-ROOT" not in [f.code for f in rep.walk.findings]
