"""Everything that reads more than one area of a Dump, and the one report every face prints.

The area parsers (``efi/``, ``boot/``, ``snp/``, ``payloads/``) each decode
their own structures and never see a Dump. This package looks across them:

* :mod:`~efitables.analysis.crosscheck`: sources that should name the same
  address compared (``BOOT-XC-*``), and each object placed in memory;
* :mod:`~efitables.analysis.layout`, :mod:`~efitables.analysis.routes`:
  overlaps, memory types, extents, reachability (``XS-*``), registered checks
  over :mod:`~efitables.analysis.objects` extents;
* :mod:`~efitables.analysis.ccblob`: the SEV-SNP CC blob routes;
* :mod:`~efitables.analysis.coverage_inputs`: what the kexec coverage models judge.

:func:`report` runs every area and every check once and returns the
:class:`Report` that ``show``, ``--json``, the TUI, ``validate``, ``diff`` and
SARIF all print, so they cannot disagree. :data:`AREAS` is the one list of
the Dump's areas every face walks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from efitables.analysis import coco as _coco  # noqa: F401  (registers the vmsa, measured, ovmf checks)
from efitables.analysis import encryption as _encryption  # noqa: F401  (registers the encryption check)
from efitables.analysis import kernel_log as _kernel_log  # noqa: F401  (registers the KLOG- check)
from efitables.analysis import layout as _layout  # noqa: F401  (registers the XS- checks)
from efitables.analysis import registry
from efitables.analysis import routes as _routes  # noqa: F401
from efitables.analysis import secrets as _secrets  # noqa: F401  (registers the SECRET- check)
from efitables.analysis import witnesses as _witnesses  # noqa: F401  (registers the witnesses check)
from efitables.analysis.registry import CHECKS, Check, check
from efitables.findings import Finding, Severity

if TYPE_CHECKING:
    from efitables.dump import Dump
    from efitables.model import Parsed

__all__ = ["AREAS", "CHECKS", "Area", "Check", "Report", "check", "report", "sort_key"]


@dataclass(frozen=True)
class Area:
    """One area of a Dump: the property that parses it and where it goes in the JSON."""

    attr: str  # the Dump property
    section: str  # the JSON object it belongs to: "efi", "boot", "snp" or "kernel"
    key: str  # its key there
    title: str

    def value(self, d: Dump) -> Parsed | None:
        v: Parsed | None = getattr(d, self.attr)
        return v


#: The Dump's areas, in the order every face shows them (the EFI tables first: the heart of a report).
AREAS: tuple[Area, ...] = (
    Area("systab", "efi", "system_table", "EFI system table"),
    Area("efi_memmap", "efi", "memory_map", "EFI memory map"),
    Area("boot_params", "boot", "boot_params", "boot_params (zero page)"),
    Area("setup_data", "boot", "setup_data", "setup_data chain"),
    Area("e820", "boot", "e820", "E820 table"),
    Area("pvh", "boot", "pvh", "Xen PVH start info"),
    Area("cc_blob", "snp", "cc_blob", "CC blob (SEV-SNP)"),
    Area("snp_secrets", "snp", "secrets_page", "SNP secrets page"),
    Area("snp_cpuid", "snp", "cpuid_table", "SNP CPUID table"),
    Area("snp_vmsa", "snp", "vmsa", "SNP VMSA pages (per-CPU sev_vmsa)"),
    Area("ovmf_metadata", "snp", "ovmf_metadata", "OVMF SEV metadata"),
    Area("kernel", "kernel", "view", "kernel's own copies"),
    Area("encryption", "kernel", "encryption", "memory encryption (C-bit / shared bit)"),
    Area("measured", "efi", "measured", "measured boot (event logs replayed)"),
    Area("witnesses", "kernel", "witnesses", "firmware, kernel and log compared"),
)
#: Discovery and cross-area results parsed with the areas (validate's stages name them).
STAGES: tuple[str, ...] = (
    "systab_discovery",
    "efi_memmap",
    "systab",
    "boot_params_discovery",
    "boot_params",
    "setup_data",
    "e820",
    "boot_crosschecks",
    "pvh",
    "cc_blob",
    "snp_secrets",
    "snp_cpuid",
    "kernel",
    "snp_vmsa",
    "ovmf_metadata",
    "encryption",
    "measured",
    "witnesses",
)


def sort_key(f: Finding) -> tuple[int, str, int, str]:
    """Worst first, then by code, address and message: the order every face lists findings in."""
    return (-f.severity, f.code, -1 if f.address is None else f.address, f.message)


@dataclass
class Report:
    """Every finding of one dump: the area parsers', the cross-area checks', deduplicated and sorted."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        c = {str(s): 0 for s in sorted(Severity, reverse=True)}
        for f in self.findings:
            c[str(f.severity)] += 1
        return c

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def at_least(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= severity]

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "findings": [f.to_dict() for f in self.findings]}


def report(d: Dump, on_stage: Callable[[str], None] | None = None) -> Report:
    """Parse every area of ``d``, run every check, and collect the findings once.

    ``on_stage`` is told the name of each stage before it runs (validate names the stage
    in which a parser bug surfaced).
    """
    stage = on_stage or (lambda _name: None)
    for name in STAGES:
        stage(name)
        getattr(d, name)
    stage("findings")
    out = list(d.memory.findings)
    out.extend(d.efi_findings())
    out.extend(d.boot_findings())
    out.extend(d.cc_blob.all_findings())
    for c in registry.CHECKS:
        stage(f"check {c.name}")
        out.extend(c.fn(d))
    # The same finding reached through two areas is one finding.
    return Report(sorted(dict.fromkeys(out), key=sort_key))
