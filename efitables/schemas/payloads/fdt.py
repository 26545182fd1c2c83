"""Flattened device tree header (DEVICE_TREE_GUID configuration table).

Source: torvalds/linux scripts/dtc/libfdt/fdt.h@v6.12.117 (``struct fdt_header``,
all fields big-endian); Devicetree Specification v0.4 §5.2 (header).
"""

from __future__ import annotations

import construct as cs

FDT_MAGIC = 0xD00DFEED
FDT_HEADER_SIZE = 40

FDT_HEADER = cs.Struct(
    "magic" / cs.Int32ub,
    "totalsize" / cs.Int32ub,
    "off_dt_struct" / cs.Int32ub,
    "off_dt_strings" / cs.Int32ub,
    "off_mem_rsvmap" / cs.Int32ub,
    "version" / cs.Int32ub,
    "last_comp_version" / cs.Int32ub,
    "boot_cpuid_phys" / cs.Int32ub,  # version 2+
    "size_dt_strings" / cs.Int32ub,  # version 3+
    "size_dt_struct" / cs.Int32ub,  # version 17+
)
assert FDT_HEADER.sizeof() == FDT_HEADER_SIZE
