"""The SEV-SNP CC blob routes a Dump holds, gathered for :func:`efitables.snp.ccblob.analyze_cc_blob`.

Linux has three carriers of the blob's address (torvalds/linux v6.12):
``boot_params.cc_blob_address`` (arch/x86/include/uapi/asm/bootparam.h), the
first ``SETUP_CC_BLOB`` setup_data node (``find_cc_blob_setup_data`` in
arch/x86/boot/startup/sev-shared.c, earlier arch/x86/kernel/sev-shared.c) and
the ``EFI_CC_BLOB_GUID`` configuration table (``find_cc_blob_efi`` in
arch/x86/boot/compressed/sev.c). This module reads them from the areas the
Dump parsed (the zero page, the setup_data list, the configuration tables) and
places the blob and its pages with the Dump's one :class:`~efitables.regions.RegionMap`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from efitables.boot.setup_data import CcBlobPayload
from efitables.memory.vmcoreinfo import vmcoreinfo_int
from efitables.schemas.snp import EFI_CC_BLOB_GUID, SETUP_CC_BLOB
from efitables.snp.ccblob import MAX_SETUP_NODES, CcBlobReport, analyze_cc_blob, cc_setup_data_blob_address

if TYPE_CHECKING:
    from efitables.dump import Dump


def cc_blob_report(d: Dump) -> CcBlobReport:
    """Every route to the CC blob in ``d``, each boot stage's choice, the blob(s) and their pages."""
    mem = d.memory
    bp = d.boot_params
    nodes: list[tuple[int | None, int]] = []
    # find_cc_blob_setup_data matches the node type itself: a SETUP_INDIRECT wrapper is not followed.
    plain = [n for n in d.setup_data.nodes if n.type == SETUP_CC_BLOB] if d.setup_data is not None else []
    for n in plain[: MAX_SETUP_NODES + 1]:
        blob_pa = n.payload.cc_blob_address if isinstance(n.payload, CcBlobPayload) else None
        if blob_pa is None and n.address is not None:
            blob_pa = cc_setup_data_blob_address(mem, n.address)
        if blob_pa is not None:
            nodes.append((n.address, blob_pa))
    efi_table = next((t for t in d.config_tables if t.guid == EFI_CC_BLOB_GUID), None)  # Linux takes the first
    info = mem.vmcoreinfo
    return analyze_cc_blob(
        mem,
        boot_params_cc_blob_address=bp.cc_blob_address if bp is not None else None,
        boot_params_address=bp.address if bp is not None else None,
        setup_cc_blob_addresses=nodes,
        efi_cc_blob_address=efi_table.table_address if efi_table is not None else None,
        efi_entry_address=efi_table.address if efi_table is not None else None,
        regions=d.regions,
        sme_mask=vmcoreinfo_int(info, "NUMBER(sme_mask)") if info else None,
        show_secrets=d.show_secrets,
    )
