"""Confidential-computing depth checks: the VMSA pages, the OVMF SEV metadata and the measured-boot replay.

Each check returns the findings of the Dump area that parsed it (:attr:`~efitables.dump.Dump.snp_vmsa`,
:attr:`~efitables.dump.Dump.ovmf_metadata`, :attr:`~efitables.dump.Dump.measured`), so every face
(show, validate, SARIF, diff) has them through :func:`efitables.analysis.report`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from efitables.analysis.registry import check
from efitables.findings import Finding
from efitables.measured import replay as _replay  # noqa: F401  (registers the MEASURED- codes)
from efitables.snp import ovmf_metadata as _ovmf_metadata  # noqa: F401  (registers the OVMF- codes)
from efitables.snp import vmsa as _vmsa  # noqa: F401  (registers the SNP-VMSA- codes)

if TYPE_CHECKING:
    from efitables.dump import Dump


@check("vmsa")
def vmsa_check(d: Dump) -> list[Finding]:
    """VMSA pages named by the kernel's per-CPU sev_vmsa, and hostile pointers on the way."""
    return d.snp_vmsa.all_findings()


@check("ovmf_metadata")
def ovmf_metadata_check(d: Dump) -> list[Finding]:
    """The OVMF SEV metadata (when the flash is in the dump) and the CC blob against it."""
    return d.ovmf_metadata.all_findings()


@check("measured")
def measured_check(d: Dump) -> list[Finding]:
    """The TCG2 / CC event logs replayed."""
    return d.measured.all_findings()
