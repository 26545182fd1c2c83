"""The SNP CPUID table (the page the AMD-SP validates at launch, named by ``cpuid_phys``).

Layout: :mod:`efitables.schemas.snp` (torvalds/linux arch/x86/coco/sev/shared.c@v6.12.117
``struct snp_cpuid_table``; the AMD SEV-SNP Firmware ABI specification, publication
56860, defines the page). Checks: ``1 <= count <= 64`` (``setup_cpuid_table`` in the
same file terminates the guest otherwise), reserved words zero, no duplicate
entries. Decoded for a debugger: leaf 0x8000001F (C-bit position EBX[5:0] and
physical-address reduction EBX[11:6] as in torvalds/linux
Documentation/arch/x86/amd-memory-encryption.rst; VMPL count EBX[15:12], the
field arch/x86/kvm/cpuid.c clears as "NumVMPL"; EAX feature bits as word 19 of
arch/x86/include/asm/cpufeatures.h@v6.12.117), leaves 0x1 and 0x7 feature bits
(names as in Linux arch/x86/include/asm/cpufeatures.h), leaf 0xD XSAVE sizes
(and the sizes Linux computes from the per-component entries,
``snp_cpuid_calc_xsave_size``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from efitables.caps import cap_findings, count_cap
from efitables.findings import Severity, make, register
from efitables.model import Parsed
from efitables.schemas.snp import (
    SNP_CPUID_COUNT_MAX,
    SNP_CPUID_FN,
    SNP_CPUID_FN_SIZE,
    SNP_CPUID_FN_STRUCT,
    SNP_CPUID_TABLE_HEADER,
    SNP_CPUID_TABLE_HEADER_SIZE,
    SNP_CPUID_TABLE_SIZE,
)

CPUID_COUNT = register(
    "SNP-CPUID-COUNT",
    Severity.ERROR,
    "SNP CPUID table count is 0 or above 64",
    "Linux terminates the guest when the CPUID table's count is 0 or exceeds SNP_CPUID_COUNT_MAX (64); "
    "efitables decodes at most 64 entries.",
)
CPUID_RESERVED = register("SNP-CPUID-RESERVED", Severity.INFO, "SNP CPUID table reserved fields are not zero")
CPUID_DUPLICATE = register(
    "SNP-CPUID-DUPLICATE",
    Severity.INFO,
    "SNP CPUID table lists the same leaf twice",
    "Linux uses the first entry matching (leaf, sub-leaf) (and XCR0/XSS for leaf 0xD sub-leaves 0-1).",
)
CPUID_NO_SEV_LEAF = register(
    "SNP-CPUID-NO-SEV-LEAF",
    Severity.WARNING,
    "SNP CPUID table has no leaf 0x8000001F",
    "Without it the guest's C-bit position is not in the table.",
)
CPUID_CBIT = register(
    "SNP-CPUID-CBIT", Severity.WARNING, "C-bit position from leaf 0x8000001F is implausible (not 32-51)"
)
CPUID_XSAVE = register(
    "SNP-CPUID-XSAVE",
    Severity.INFO,
    "SNP CPUID table XSAVE components do not match the features XCR0 enables",
    "Linux's snp_cpuid_calc_xsave_size fails when a component enabled by XCR0 (here: the entry's "
    "xcr0_in/xss_in) has no leaf 0xD sub-leaf entry; CPUID 0xD then fails in the guest.",
)

LEAF_SEV = 0x8000001F
XSAVE_LEGACY_AND_HEADER = 0x240  # legacy area (512) + XSAVE header (64)

# Feature-bit names: torvalds/linux arch/x86/include/asm/cpufeatures.h@v6.12.117
# (lower case, as /proc/cpuinfo prints them).
CPUID_1_EDX = {
    0: "fpu", 1: "vme", 2: "de", 3: "pse", 4: "tsc", 5: "msr", 6: "pae", 7: "mce", 8: "cx8",
    9: "apic", 11: "sep", 12: "mtrr", 13: "pge", 14: "mca", 15: "cmov", 16: "pat", 17: "pse36",
    18: "pn", 19: "clflush", 21: "dts", 22: "acpi", 23: "mmx", 24: "fxsr", 25: "sse", 26: "sse2",
    27: "ss", 28: "ht", 29: "tm", 30: "ia64", 31: "pbe",
}  # fmt: skip
CPUID_1_ECX = {
    0: "pni", 1: "pclmulqdq", 2: "dtes64", 3: "monitor", 4: "ds_cpl", 5: "vmx", 6: "smx", 7: "est",
    8: "tm2", 9: "ssse3", 10: "cid", 11: "sdbg", 12: "fma", 13: "cx16", 14: "xtpr", 15: "pdcm",
    17: "pcid", 18: "dca", 19: "sse4_1", 20: "sse4_2", 21: "x2apic", 22: "movbe", 23: "popcnt",
    24: "tsc_deadline_timer", 25: "aes", 26: "xsave", 27: "osxsave", 28: "avx", 29: "f16c",
    30: "rdrand", 31: "hypervisor",
}  # fmt: skip
CPUID_7_EBX = {
    0: "fsgsbase", 1: "tsc_adjust", 2: "sgx", 3: "bmi1", 4: "hle", 5: "avx2", 6: "fdp_excptn_only",
    7: "smep", 8: "bmi2", 9: "erms", 10: "invpcid", 11: "rtm", 12: "cqm", 13: "zero_fcs_fds",
    14: "mpx", 15: "rdt_a", 16: "avx512f", 17: "avx512dq", 18: "rdseed", 19: "adx", 20: "smap",
    21: "avx512ifma", 23: "clflushopt", 24: "clwb", 25: "intel_pt", 26: "avx512pf", 27: "avx512er",
    28: "avx512cd", 29: "sha_ni", 30: "avx512bw", 31: "avx512vl",
}  # fmt: skip
CPUID_7_ECX = {
    1: "avx512vbmi", 2: "umip", 3: "pku", 4: "ospke", 5: "waitpkg", 6: "avx512_vbmi2", 7: "shstk",
    8: "gfni", 9: "vaes", 10: "vpclmulqdq", 11: "avx512_vnni", 12: "avx512_bitalg", 13: "tme",
    14: "avx512_vpopcntdq", 16: "la57", 22: "rdpid", 24: "bus_lock_detect", 25: "cldemote",
    27: "movdiri", 28: "movdir64b", 29: "enqcmd", 30: "sgx_lc",
}  # fmt: skip
CPUID_7_EDX = {
    2: "avx512_4vnniw", 3: "avx512_4fmaps", 4: "fsrm", 8: "avx512_vp2intersect", 10: "md_clear",
    14: "serialize", 16: "tsxldtrk", 18: "pconfig", 19: "arch_lbr", 20: "ibt", 22: "amx_bf16",
    23: "avx512_fp16", 24: "amx_tile", 25: "amx_int8", 26: "spec_ctrl", 27: "intel_stibp",
    28: "flush_l1d", 29: "arch_capabilities", 30: "core_capabilities", 31: "spec_ctrl_ssbd",
}  # fmt: skip
#: Leaf 0x8000001F EAX (cpufeatures.h word 19; bit 28, X86_FEATURE_SVSM, is not a hardware bit: Linux's
#: ``svsm_setup_ca`` sets it in its copy of the table when an SVSM is present).
CPUID_8000001F_EAX = {
    0: "sme", 1: "sev", 2: "vm_page_flush", 3: "sev_es", 4: "sev_snp", 9: "v_tsc_aux",
    10: "sme_coherent", 14: "debug_swap", 28: "svsm", 30: "hv_inuse_wr_allowed",
}  # fmt: skip
#: XSAVE state components (XCR0/XSS bit numbers).
XSAVE_COMPONENTS = {
    0: "x87", 1: "sse", 2: "avx", 3: "bndregs", 4: "bndcsr", 5: "opmask", 6: "zmm_hi256",
    7: "hi16_zmm", 8: "pt", 9: "pkru", 10: "pasid", 11: "cet_u", 12: "cet_s", 13: "hdc",
    14: "uintr", 15: "lbr", 16: "hwp", 17: "xtilecfg", 18: "xtiledata",
}  # fmt: skip


def bit_names(value: int, names: dict[int, str]) -> list[str]:
    """Names of the set bits, unknown ones as ``bitN``."""
    return [names.get(b, f"bit{b}") for b in range(32) if value >> b & 1]


def decode_fms(eax: int) -> dict[str, int]:
    """Family/model/stepping from a CPUID Fn0000_0001_EAX value (also the secrets page ``fms``)."""
    stepping, model, family = eax & 0xF, eax >> 4 & 0xF, eax >> 8 & 0xF
    ext_model, ext_family = eax >> 16 & 0xF, eax >> 20 & 0xFF
    disp_family = family + ext_family if family == 0xF else family
    disp_model = (ext_model << 4) + model if family in (0x6, 0xF) else model
    return {"family": disp_family, "model": disp_model, "stepping": stepping}


@dataclass(kw_only=True)
class CpuidEntry(Parsed):
    """One ``struct snp_cpuid_fn``."""

    kind = "snp_cpuid_fn"

    index: int
    eax_in: int
    ecx_in: int
    xcr0_in: int
    xss_in: int
    eax: int
    ebx: int
    ecx: int
    edx: int
    reserved: int

    @property
    def title(self) -> str:
        return (
            f"[{self.index}] {self.eax_in:#010x}.{self.ecx_in:x}: eax={self.eax:#010x} ebx={self.ebx:#010x} "
            f"ecx={self.ecx:#010x} edx={self.edx:#010x}"
        )

    @property
    def key(self) -> tuple[int, int, int, int]:
        """What Linux matches on: XCR0/XSS only count for leaf 0xD sub-leaves 0 and 1."""
        if self.eax_in == 0xD and self.ecx_in in (0, 1):
            return (self.eax_in, self.ecx_in, self.xcr0_in, self.xss_in)
        return (self.eax_in, self.ecx_in, 0, 0)


@dataclass(kw_only=True)
class SnpCpuidTable(Parsed):
    """``struct snp_cpuid_table`` with its entries and decoded leaves."""

    kind = "snp_cpuid_table"

    count: int
    entries: list[CpuidEntry] = field(default_factory=list)
    std_max: int | None = None
    hyp_max: int | None = None
    ext_max: int | None = None
    #: Leaf 0x8000001F decoded (C-bit etc.), or None when absent.
    sev: dict[str, Any] | None = None
    #: Leaf 0x1 decoded (family/model/stepping, feature names).
    leaf_1: dict[str, Any] | None = None
    #: Leaf 0x7 sub-leaf 0 decoded.
    leaf_7: dict[str, Any] | None = None
    #: Leaf 0xD decoded (supported components, sizes as listed and as Linux computes them).
    xsave: dict[str, Any] | None = None

    @property
    def title(self) -> str:
        cbit = f", C-bit {self.c_bit}" if self.c_bit is not None else ""
        return f"SNP CPUID table ({self.count} entries{cbit})"

    @property
    def c_bit(self) -> int | None:
        return None if self.sev is None else self.sev["c_bit"]

    def children(self) -> list[Parsed]:
        return list(self.entries)

    def lookup(self, leaf: int, subleaf: int = 0) -> CpuidEntry | None:
        """The entry Linux would use for ``(leaf, subleaf)`` (the first match)."""
        for e in self.entries:
            if e.eax_in == leaf and e.ecx_in == subleaf:
                return e
        return None

    def to_dict(self, raw: bool = False) -> dict:
        d = super().to_dict(raw)
        d["entries"] = [
            {k: getattr(e, k) for k in ("index", "eax_in", "ecx_in", "xcr0_in", "xss_in", "eax", "ebx", "ecx", "edx")}
            | {"reserved": e.reserved, "findings": [f.to_dict() for f in e.findings]}
            for e in self.entries
        ]
        return d


_FN = struct.Struct(SNP_CPUID_FN_STRUCT)


def parse_cpuid_table(raw: bytes, address: int | None, name: str = "SNP CPUID table") -> SnpCpuidTable:
    """Decode a CPUID table from its bytes (at least the 16-byte header; up to 0xC10)."""
    raw = bytes(raw[:SNP_CPUID_TABLE_SIZE])
    if len(raw) < SNP_CPUID_TABLE_HEADER_SIZE:
        raise ValueError(f"a CPUID table needs at least {SNP_CPUID_TABLE_HEADER_SIZE} bytes, got {len(raw)}")
    count, rsvd1, rsvd2 = struct.unpack_from("<IIQ", raw, 0)
    t = SnpCpuidTable(
        address=address,
        size=len(raw),
        raw=raw,
        fields=SNP_CPUID_TABLE_HEADER.parse(raw[:SNP_CPUID_TABLE_HEADER_SIZE]),
        schema=SNP_CPUID_TABLE_HEADER,
        count=count,
    )
    if rsvd1 or rsvd2:
        t.findings.append(make(CPUID_RESERVED, name, address, f"__reserved1={rsvd1:#x} __reserved2={rsvd2:#x}"))
    what = f"count {count:#x} (Linux terminates the guest above {SNP_CPUID_COUNT_MAX})"
    n, too_many = count_cap(count, SNP_CPUID_COUNT_MAX, CPUID_COUNT, name, address, what)
    if too_many is not None:
        t.findings.append(too_many)
    elif count == 0:
        t.findings.append(make(CPUID_COUNT, name, address, "count 0; Linux terminates"))
    n = min(n, (len(raw) - SNP_CPUID_TABLE_HEADER_SIZE) // SNP_CPUID_FN_SIZE)
    seen: dict[tuple[int, int, int, int], int] = {}
    for i in range(n):
        off = SNP_CPUID_TABLE_HEADER_SIZE + i * SNP_CPUID_FN_SIZE
        eax_in, ecx_in, xcr0, xss, eax, ebx, ecx, edx, rsvd = _FN.unpack_from(raw, off)
        chunk = raw[off : off + SNP_CPUID_FN_SIZE]
        e = CpuidEntry(
            address=None if address is None else address + off,
            size=SNP_CPUID_FN_SIZE,
            raw=chunk,
            fields=SNP_CPUID_FN.parse(chunk),
            schema=SNP_CPUID_FN,
            index=i,
            eax_in=eax_in,
            ecx_in=ecx_in,
            xcr0_in=xcr0,
            xss_in=xss,
            eax=eax,
            ebx=ebx,
            ecx=ecx,
            edx=edx,
            reserved=rsvd,
        )
        ename = f"{name} fn[{i}]"
        if rsvd:
            e.findings.append(make(CPUID_RESERVED, ename, e.address, f"__reserved={rsvd:#x}"))
        if e.key in seen:
            e.findings.append(
                make(
                    CPUID_DUPLICATE,
                    ename,
                    e.address,
                    f"leaf {eax_in:#x}.{ecx_in:#x} already at fn[{seen[e.key]}]; Linux uses that one",
                )
            )
        else:
            seen[e.key] = i
        t.entries.append(e)
    t.findings.extend(cap_findings((e.findings for e in t.entries), name, address))
    _decode(t, name)
    return t


def _decode(t: SnpCpuidTable, name: str) -> None:
    for leaf, attr in ((0, "std_max"), (0x40000000, "hyp_max"), (0x80000000, "ext_max")):
        e = t.lookup(leaf)
        if e is not None:
            setattr(t, attr, e.eax)
    e = t.lookup(LEAF_SEV)
    if e is None:
        if t.entries:
            t.findings.append(
                make(CPUID_NO_SEV_LEAF, name, t.address, f"{len(t.entries)} entries, none for 0x8000001f")
            )
    else:
        c_bit = e.ebx & 0x3F
        t.sev = {
            "c_bit": c_bit,
            "sme_me_mask": 1 << c_bit,
            "phys_addr_reduction": e.ebx >> 6 & 0x3F,
            "num_vmpls": e.ebx >> 12 & 0xF,
            "features": bit_names(e.eax, CPUID_8000001F_EAX),
            "num_encrypted_guests": e.ecx,
            "min_sev_no_es_asid": e.edx,
        }
        if not 32 <= c_bit <= 51:
            t.findings.append(make(CPUID_CBIT, f"{name} fn[{e.index}]", e.address, f"C-bit {c_bit} (EBX {e.ebx:#x})"))
    e = t.lookup(1)
    if e is not None:
        t.leaf_1 = {
            "fms": decode_fms(e.eax),
            "clflush_line_size": (e.ebx >> 8 & 0xFF) * 8,
            "logical_processors": e.ebx >> 16 & 0xFF,
            "initial_apic_id": e.ebx >> 24,
            "ecx": bit_names(e.ecx, CPUID_1_ECX),
            "edx": bit_names(e.edx, CPUID_1_EDX),
        }
    e = t.lookup(7)
    if e is not None:
        t.leaf_7 = {
            "max_subleaf": e.eax,
            "ebx": bit_names(e.ebx, CPUID_7_EBX),
            "ecx": bit_names(e.ecx, CPUID_7_ECX),
            "edx": bit_names(e.edx, CPUID_7_EDX),
        }
    _decode_xsave(t, name)


def _component_names(mask: int) -> list[str]:
    return [XSAVE_COMPONENTS.get(b, f"bit{b}") for b in range(64) if mask >> b & 1]


def _calc_xsave_size(t: SnpCpuidTable, xfeatures_en: int, compacted: bool) -> int | None:
    """Linux ``snp_cpuid_calc_xsave_size``: None when an enabled component has no entry."""
    size = XSAVE_LEGACY_AND_HEADER
    found = 0
    for e in t.entries:
        if e.eax_in != 0xD or not 2 <= e.ecx_in <= 63 or not xfeatures_en >> e.ecx_in & 1:
            continue
        if found >> e.ecx_in & 1:
            continue  # Linux counts the first entry of a component only
        found |= 1 << e.ecx_in
        size = size + e.eax if compacted else max(size, e.eax + e.ebx)
    if found != xfeatures_en & ~0x3:
        return None
    return size


def _decode_xsave(t: SnpCpuidTable, name: str) -> None:
    subs = [e for e in t.entries if e.eax_in == 0xD]
    if not subs:
        return
    out: dict[str, Any] = {}
    s0 = next((e for e in subs if e.ecx_in == 0), None)
    if s0 is not None:
        supported = s0.eax | s0.edx << 32
        out["supported_xcr0"] = supported
        out["supported_components"] = _component_names(supported)
        out["xcr0_in"] = s0.xcr0_in
        out["size_enabled"] = s0.ebx  # for the features xcr0_in enables
        out["size_max"] = s0.ecx
        out["size_enabled_computed"] = _calc_xsave_size(t, s0.xcr0_in | 0x3, compacted=False)
    s1 = next((e for e in subs if e.ecx_in == 1), None)
    if s1 is not None:
        out["subleaf1_eax"] = bit_names(s1.eax, {0: "xsaveopt", 1: "xsavec", 2: "xgetbv1", 3: "xsaves", 4: "xfd"})
        out["xss_in"] = s1.xss_in
        out["size_compacted"] = s1.ebx  # for XCR0 | IA32_XSS
        out["size_compacted_computed"] = _calc_xsave_size(t, (s1.xcr0_in | s1.xss_in) | 0x3, compacted=True)
    out["components"] = [
        {
            "component": e.ecx_in,
            "name": XSAVE_COMPONENTS.get(e.ecx_in, f"bit{e.ecx_in}"),
            "size": e.eax,
            "offset": e.ebx,
            "supervisor": bool(e.ecx & 1),
        }
        for e in subs
        if 2 <= e.ecx_in <= 63
    ]
    t.xsave = out
    for key, ref in (("size_enabled_computed", s0), ("size_compacted_computed", s1)):
        if ref is not None and out.get(key) is None:
            t.findings.append(
                make(
                    CPUID_XSAVE,
                    f"{name} fn[{ref.index}]",
                    ref.address,
                    f"leaf 0xd sub-leaf {ref.ecx_in}: xcr0_in={ref.xcr0_in:#x} xss_in={ref.xss_in:#x} "
                    "enables a component that has no sub-leaf entry",
                )
            )
