"""SEV-SNP guest structures: the CC blob and its routes, the secrets page, the CPUID table.

    >>> report = analyze_cc_blob(mem, boot_params_cc_blob_address=0x7F5E2018, efi_cc_blob_address=0x7F5E2018)
    >>> report.routes_agree, report.kernel.route, report.cpuid_table.c_bit
    (True, 'boot_params', 51)

:func:`summary_lines` renders a report as plain text lines (the ``show``
command's "SEV-SNP" section); values from the dump are numbers, so the lines
need no escaping.
"""

from __future__ import annotations

from efitables.secret import Secret
from efitables.snp.ccblob import (
    ROUTE_BOOT_PARAMS,
    ROUTE_EFI,
    ROUTE_LABELS,
    ROUTE_SETUP_DATA,
    CcBlob,
    CcBlobReport,
    CcBlobRoute,
    StageChoice,
    analyze_cc_blob,
    boot_params_cc_blob_address,
    cc_setup_data_blob_address,
    parse_cc_blob,
)
from efitables.snp.cpuid import CpuidEntry, SnpCpuidTable, parse_cpuid_table
from efitables.snp.secrets import SnpSecretsPage, parse_secrets_page

__all__ = [
    "ROUTE_BOOT_PARAMS",
    "ROUTE_EFI",
    "ROUTE_LABELS",
    "ROUTE_SETUP_DATA",
    "CcBlob",
    "CcBlobReport",
    "CcBlobRoute",
    "CpuidEntry",
    "Secret",
    "SnpCpuidTable",
    "SnpSecretsPage",
    "StageChoice",
    "analyze_cc_blob",
    "boot_params_cc_blob_address",
    "cc_setup_data_blob_address",
    "parse_cc_blob",
    "parse_cpuid_table",
    "parse_secrets_page",
    "summary_lines",
]

NO_CC_BLOB = "no CC blob"


def _hex(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


def summary_lines(report: CcBlobReport | None) -> list[str]:
    """Plain-text lines for the "SEV-SNP" section; one line for a non-SNP dump."""
    if report is None or not report.present:
        return [NO_CC_BLOB]
    out = ["routes:"]
    for r in report.routes:
        where = f" (pointer @ {r.carrier_address:#x})" if r.carrier_address is not None else ""
        ignored = "" if r.effective else " [ignored: not the first node]"
        out.append(f"  {r.label:<45} -> {_hex(r.blob_address)}{where}{ignored}")
    for choice in (report.decompressor, report.kernel):
        if choice is None:
            continue
        how = ROUTE_LABELS[choice.route] if choice.route else "no route"
        out.append(f"{choice.stage} would use: {how} -> {_hex(choice.blob_address)}")
    out.append(f"routes agree: {'yes' if report.routes_agree else 'NO'}")
    for b in report.blobs:
        out.append(f"CC blob @ {b.address:#x} (via {', '.join(b.routes)}):")
        if not b.readable:
            out.append("  not readable in the dump")
            continue
        out.append(
            f"  magic {_hex(b.magic)}{'' if b.magic_ok else ' (WRONG)'} version {b.version}; "
            f"secrets {_hex(b.secrets_phys)} len {_hex(b.secrets_len)}; "
            f"cpuid {_hex(b.cpuid_phys)} len {_hex(b.cpuid_len)}"
        )
        for what, regions in (("blob", b.blob_regions), ("secrets", b.secrets_regions), ("cpuid", b.cpuid_regions)):
            if regions:
                out.append(f"  {what} memory: " + "; ".join(str(r) for r in regions))
        if b.secrets_page is not None:
            out.extend("  " + line for line in _secrets_lines(b.secrets_page))
        if b.cpuid_table is not None:
            out.extend("  " + line for line in _cpuid_lines(b.cpuid_table))
    return out


def _secrets_lines(p: SnpSecretsPage) -> list[str]:
    fms = p.family_model_stepping
    layout = f"layout v{p.layout_version}" if p.layout_version else "unknown layout, common prefix only"
    out = [
        f"secrets page @ {p.address:#x}: version {p.version} ({layout}), imien {int(p.imi_enabled)}, "
        f"fms {p.fms:#x} (family {fms['family']:#x} model {fms['model']:#x} stepping {fms['stepping']})"
    ]
    for i, k in enumerate(p.vmpck):
        out.append(f"  vmpck{i}: {k}  msg_seqno {p.msg_seqno[i]}")
    out.append(f"  ap_jump_table_pa {p.ap_jump_table_pa:#x}")
    if p.layout_version == 3:
        if p.svsm_present:
            out.append(
                f"  SVSM: base {_hex(p.svsm_base)} size {_hex(p.svsm_size)} caa {_hex(p.svsm_caa)} "
                f"max_version {p.svsm_max_version} guest VMPL {p.svsm_guest_vmpl}"
            )
        else:
            out.append("  SVSM: none")
        tweaked = p.vmsa_tweaked_quadwords or []
        out.append(f"  vmsa_tweak_bitmap: {len(tweaked)} quadwords marked; tsc_factor {p.tsc_factor}")
    return out


def _cpuid_lines(t: SnpCpuidTable) -> list[str]:
    out = [f"CPUID table @ {t.address:#x}: count {t.count}, {len(t.entries)} entries decoded"]
    ranges = ", ".join(
        f"{name} {_hex(v)}" for name, v in (("std max", t.std_max), ("hyp max", t.hyp_max), ("ext max", t.ext_max))
    )
    out.append(f"  {ranges}")
    if t.sev is not None:
        s = t.sev
        out.append(
            f"  0x8000001f: C-bit {s['c_bit']} (mask {s['sme_me_mask']:#x}), phys addr reduction "
            f"{s['phys_addr_reduction']}, VMPLs {s['num_vmpls']}, features {' '.join(s['features']) or '-'}"
        )
    if t.leaf_1 is not None:
        fms = t.leaf_1["fms"]
        out.append(
            f"  0x1: family {fms['family']:#x} model {fms['model']:#x} stepping {fms['stepping']}; "
            f"{len(t.leaf_1['ecx']) + len(t.leaf_1['edx'])} feature bits"
        )
    if t.leaf_7 is not None:
        n = sum(len(t.leaf_7[r]) for r in ("ebx", "ecx", "edx"))
        out.append(f"  0x7.0: {n} feature bits")
    if t.xsave is not None:
        x = t.xsave
        parts = []
        if "size_enabled" in x:
            parts.append(
                f"size {x['size_enabled']:#x} for xcr0 {x['xcr0_in']:#x} (computed {_hex(x['size_enabled_computed'])})"
            )
            parts.append(f"max {x['size_max']:#x}")
        if "size_compacted" in x:
            parts.append(f"compacted {x['size_compacted']:#x} (computed {_hex(x['size_compacted_computed'])})")
        out.append("  0xd: " + ", ".join(parts) if parts else "  0xd: no sub-leaf 0/1")
    return out
