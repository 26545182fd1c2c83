"""What the boot loader handed the kernel: boot_params, the command line, setup_data, E820.

* :mod:`efitables.boot.bootparams` - ``parse_boot_params`` -> :class:`BootParams`
* :mod:`efitables.boot.setup_data` - ``walk_setup_data`` -> :class:`SetupDataList` (SETUP_INDIRECT included)
* :mod:`efitables.boot.setup_payloads` (with ``setup_payloads_kexec``, ``setup_payloads_vendor``,
  ``setup_payload_base``) - each SETUP_* payload decoded, and the registry of decoders
* :mod:`efitables.boot.e820` - :class:`E820Table` (zero page + SETUP_E820_EXT)
* :mod:`efitables.boot.discovery` - ``discover_boot_params`` (argument, kallsyms, scan)
"""

from __future__ import annotations

from efitables.boot.bootparams import BootParams, CommandLine, efi_memmap_of, parse_boot_params
from efitables.boot.e820 import E820Entry, E820Table, build_table
from efitables.boot.setup_data import SetupDataList, SetupDataNode, walk_setup_data

__all__ = [
    "BootParams",
    "CommandLine",
    "E820Entry",
    "E820Table",
    "SetupDataList",
    "SetupDataNode",
    "build_table",
    "e820_of",
    "efi_memmap_of",
    "parse_boot_params",
    "walk_setup_data",
]


def e820_of(bp: BootParams, setup: SetupDataList | None) -> E820Table:
    """The E820 table: the zero page's entries, then every SETUP_E820_EXT node's, in list order."""
    from efitables.boot.setup_payloads import E820ExtPayload
    from efitables.schemas.boot_params import E820_TABLE_OFFSET

    entries = list(bp.e820_table)
    n_bp = len(entries)
    for node in setup or []:
        p = node.effective_payload
        if isinstance(p, E820ExtPayload):
            for e in p.entries:
                e.index = len(entries)
                entries.append(e)
    base = bp.address + E820_TABLE_OFFSET if bp.address is not None else None
    return build_table(base, entries, n_bp, len(entries) - n_bp)
