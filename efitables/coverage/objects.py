"""The objects the next kernel reads before it has page tables of its own.

Sources (torvalds/linux at v6.12.117): the decompressor's ``startup_64``
(arch/x86/boot/compressed/head_64.S) runs ``sev_enable``
(arch/x86/boot/compressed/sev.c) and ``configure_5level_paging``
(arch/x86/boot/compressed/pgtable_64.c) before its page-fault handler exists,
then ``initialize_identity_maps`` (arch/x86/boot/compressed/ident_map_64.c);
the decompressed kernel's ``startup_64`` (arch/x86/kernel/head_64.S) calls
``sme_enable`` (arch/x86/mm/mem_encrypt_identity.c), which calls ``snp_init``
(arch/x86/coco/sev/core.c) on the decompressor's page tables. What the old
kernel's kexec map covers is ``init_pgtable`` (arch/x86/kernel/machine_kexec_64.c;
:mod:`efitables.coverage.models`); the CC blob routes are :mod:`efitables.snp.ccblob`.

Each :class:`EarlyObject` lists its :class:`Need` per map: the byte range that
must be identity-mapped there, whether a miss is fatal (a triple fault) or
informational, and which code reads it. :func:`early_objects` works on plain
:class:`EarlyInputs`; :func:`collect` fills those from a :class:`~efitables.dump.Dump`,
using the area parsers when the Dump has them and a few bounded ``struct``
reads of boot_params otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from efitables.coverage.intervals import Range
from efitables.coverage.models import (
    BOOT_PARAMS_SIZE,
    CC_BLOB_SIZE,
    COMMAND_LINE_SIZE,
    EFI_CONFIG_ENTRY_SIZE,
    EFI_SYSTAB_SIZE,
    SETUP_DATA_HEADER,
)
from efitables.efi.systab import MAX_CONFIG_TABLES
from efitables.findings import Severity, register
from efitables.memory.base import MAX_PHYS_ADDR
from efitables.schemas.common import struct_layout
from efitables.schemas.setup_data import SETUP_CC_BLOB, SETUP_EFI
from efitables.schemas.snp import SNP_CPUID_TABLE_SIZE, SNP_SECRETS_PAGE_V3

KEXEC = "kexec"
DECOMPRESSOR = "decompressor"
MAPS = (KEXEC, DECOMPRESSOR)

#: Most configuration-table entries counted into the array's extent (the system table parser's cap).
MAX_CONFIG_ENTRIES = MAX_CONFIG_TABLES
#: SVSM fields of the secrets page (svsm_base..svsm_guest_vmpl + reserved: "guest area 1").
_SECRETS_V3 = {f.name: f for f in struct_layout(SNP_SECRETS_PAGE_V3)}
SECRETS_SVSM_OFFSET = _SECRETS_V3["svsm_base"].offset
SECRETS_SVSM_SIZE = 0x20
BDA_RANGE = (0x40E, 0x415)  # EBDA segment word and base memory size word

COLLECT_PROBLEM = register(
    "COVERAGE-INPUT",
    Severity.WARNING,
    "An input of the coverage check could not be read from the dump",
    "A pointer the coverage check follows (setup_data, CC blob, E820) is outside the dump or "
    "malformed; the object is listed with what is known or left out.",
)
SETUP_LOOP = register(
    "COVERAGE-SETUP-LOOP", Severity.WARNING, "The setup_data list loops or exceeds the cap while collecting objects"
)


@dataclass(frozen=True)
class Need:
    """A byte range one map must identity-map for one object."""

    map: str  # KEXEC or DECOMPRESSOR
    start: int
    end: int
    required: bool  # False: reported, but a miss does not fault
    why: str

    @property
    def range(self) -> Range:
        return (self.start, self.end)


@dataclass
class EarlyObject:
    name: str
    kind: str
    start: int
    size: int
    needs: list[Need] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class SetupNode:
    address: int
    type: int
    len: int
    indirect: tuple[int, int, int] | None = None  # (real type, addr, len) of a SETUP_INDIRECT node


@dataclass
class EarlyInputs:
    """Everything the object list needs, as plain values."""

    boot_params: int | None = None
    cmdline: int | None = None
    cmdline_len: int | None = None  # bytes up to and including the NUL, when known
    setup_nodes: list[SetupNode] = field(default_factory=list)
    systab: int | None = None
    systab_bits: int = 64
    config_array: int | None = None
    nr_tables: int = 0
    cc_blob: int | None = None
    cc_blob_route: str = ""
    cpuid: Range | None = None  # [cpuid_phys, cpuid_phys + cpuid_len)
    secrets: int | None = None
    svsm: bool | None = None  # secrets page says an SVSM is present (guest not at VMPL0)
    efi_boot: bool = True


def early_objects(inp: EarlyInputs) -> list[EarlyObject]:
    """The object list with the range each map must cover (the v6.12 boot sequence in the module docstring)."""
    out: list[EarlyObject] = []
    sev = "sev_enable (SEV-capable CPUs)"
    if inp.boot_params is not None:
        bp = inp.boot_params
        out.append(
            EarlyObject(
                "boot_params",
                "boot_params",
                bp,
                BOOT_PARAMS_SIZE,
                [
                    Need(KEXEC, bp, bp + BOOT_PARAMS_SIZE, True, "startup_64, sev_enable, sanitize_boot_params"),
                    Need(DECOMPRESSOR, bp, bp + BOOT_PARAMS_SIZE, True, "decompressed kernel: sme_enable/snp_init"),
                ],
            )
        )
    if inp.cmdline:
        n = min(inp.cmdline_len or COMMAND_LINE_SIZE, COMMAND_LINE_SIZE)
        c = inp.cmdline
        out.append(
            EarlyObject(
                "command line",
                "cmdline",
                c,
                n,
                [
                    Need(KEXEC, c, c + n, True, "configure_5level_paging (no5lvl)"),
                    Need(DECOMPRESSOR, c, c + n, True, "decompressed kernel: sme_enable (mem_encrypt=)"),
                ],
            )
        )
    for i, nd in enumerate(inp.setup_nodes):
        full = SETUP_DATA_HEADER + nd.len
        if nd.type == SETUP_EFI:
            kexec_len, why = min(full, SETUP_DATA_HEADER + 0x18), f"{sev}: SETUP_EFI tables"
        elif nd.type == SETUP_CC_BLOB:
            kexec_len, why = min(full, SETUP_DATA_HEADER + 4), f"{sev}: SETUP_CC_BLOB"
        else:
            kexec_len, why = SETUP_DATA_HEADER, f"{sev}: setup_data walk (header)"
        a = nd.address
        out.append(
            EarlyObject(
                f"setup_data[{i}] type {nd.type:#x}",
                "setup_data",
                a,
                full,
                [
                    Need(KEXEC, a, a + kexec_len, True, why),
                    Need(DECOMPRESSOR, a, a + full, True, "decompressed kernel: snp_init setup_data walk"),
                ],
            )
        )
        if nd.indirect is not None:
            rtype, taddr, tlen = nd.indirect
            if tlen > 0 and taddr + tlen <= MAX_PHYS_ADDR:
                out.append(
                    EarlyObject(
                        f"setup_data[{i}] indirect payload type {rtype:#x}",
                        "setup_indirect",
                        taddr,
                        tlen,
                        [
                            Need(
                                DECOMPRESSOR,
                                taddr,
                                taddr + tlen,
                                False,
                                "not mapped by the decompressor (only the node); read later via early_memremap",
                            )
                        ],
                    )
                )
    if inp.systab is not None:
        size = EFI_SYSTAB_SIZE.get(inp.systab_bits, 120)
        s = inp.systab
        out.append(
            EarlyObject(
                "EFI system table",
                "efi_systab",
                s,
                size,
                [Need(KEXEC, s, s + size, True, f"{sev}: efi_get_conf_table")],
            )
        )
    if inp.config_array is not None and inp.nr_tables > 0:
        size = min(inp.nr_tables, MAX_CONFIG_ENTRIES) * EFI_CONFIG_ENTRY_SIZE.get(inp.systab_bits, 24)
        a = inp.config_array
        out.append(
            EarlyObject(
                "EFI configuration table array",
                "efi_config_array",
                a,
                size,
                [Need(KEXEC, a, a + size, True, f"{sev}: scan for EFI_CC_BLOB_GUID")],
            )
        )
    if inp.cc_blob:
        a = inp.cc_blob
        out.append(
            EarlyObject(
                f"SEV-SNP CC blob ({inp.cc_blob_route})" if inp.cc_blob_route else "SEV-SNP CC blob",
                "cc_blob",
                a,
                CC_BLOB_SIZE,
                [
                    Need(KEXEC, a, a + CC_BLOB_SIZE, True, f"{sev}: find_cc_blob"),
                    Need(DECOMPRESSOR, a, a + CC_BLOB_SIZE, True, "decompressed kernel: snp_init"),
                ],
            )
        )
    if inp.cpuid is not None:
        a = inp.cpuid[0]
        n = SNP_CPUID_TABLE_SIZE
        out.append(
            EarlyObject(
                "SNP CPUID page",
                "snp_cpuid",
                a,
                inp.cpuid[1] - a,
                [
                    Need(KEXEC, a, a + n, True, f"{sev}: setup_cpuid_table copies 0xc10 bytes"),
                    Need(DECOMPRESSOR, a, a + n, True, "decompressed kernel: snp_init setup_cpuid_table"),
                ],
            )
        )
    if inp.secrets is not None:
        a = inp.secrets + SECRETS_SVSM_OFFSET
        req = bool(inp.svsm)
        note = "" if inp.svsm else (" (only below VMPL0; no SVSM seen)" if inp.svsm is False else " (if not VMPL0)")
        out.append(
            EarlyObject(
                "SNP secrets page (SVSM fields)",
                "snp_secrets",
                inp.secrets,
                4096,
                [
                    Need(KEXEC, a, a + SECRETS_SVSM_SIZE, req, f"{sev}: svsm_setup_ca{note}"),
                    Need(DECOMPRESSOR, a, a + SECRETS_SVSM_SIZE, req, f"decompressed kernel: svsm_setup_ca{note}"),
                ],
            )
        )
    if not inp.efi_boot:
        s, e = BDA_RANGE
        out.append(
            EarlyObject(
                "BIOS data area words",
                "bda",
                s,
                e - s,
                [Need(KEXEC, s, e, False, "configure_5level_paging on non-EFI boots (paging-mode switch only)")],
            )
        )
    return out
