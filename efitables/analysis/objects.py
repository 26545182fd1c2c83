"""The parsed objects of a Dump, as physical regions the cross-structure checks compare.

Only objects that are separate allocations are listed (an entry inside its
array, or a descriptor inside its map, is part of its parent). Nothing here
reads the dump's bytes: the extents come from the objects the Dump parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from efitables.efi.systab import MAX_CONFIG_TABLES
from efitables.schemas.boot_params import BOOT_PARAMS_SIZE

if TYPE_CHECKING:
    from efitables.dump import Dump

#: Roles: who owns the memory and so which rules apply.
FIRMWARE = "firmware"  # must survive ExitBootServices: runtime memory, described by the EFI memory map
HANDOVER = "handover"  # boot loader / EFI stub -> kernel, reserved by the kernel itself
PAYLOAD = "payload"  # configuration-table payloads (the payload decoders check their regions)


@dataclass(frozen=True)
class Extent:
    """One parsed object's physical extent (where it lies; what memory that is comes from efitables.regions)."""

    name: str
    address: int
    size: int
    role: str
    group: str
    tag: str = ""  # a configuration table's GUID name, for payloads

    @property
    def end(self) -> int:
        return self.address + self.size

    def describe(self) -> str:
        return f"{self.name} {self.address:#x}-{self.end:#x}"


def _extent(name: str, address: int | None, size: int, role: str, group: str, tag: str = "") -> Extent | None:
    if address is None or size <= 0 or address < 0:
        return None
    return Extent(name, address, size, role, group, tag)


def firmware_regions(d: Dump) -> list[Extent]:
    """The system table and the objects it leads to (all owned by the firmware, all runtime)."""
    out: list[Extent | None] = []
    st = d.systab
    if st is None:
        return []
    out.append(_extent("EFI_SYSTEM_TABLE", st.address, st.size, FIRMWARE, "systab"))
    rt = st.runtime_services
    if rt is not None and rt.raw:
        out.append(_extent("EFI_RUNTIME_SERVICES", rt.address, rt.size, FIRMWARE, "runtime"))
    arr = st.config_table_array
    if arr is not None:
        n = min(arr.count, MAX_CONFIG_TABLES)
        out.append(_extent("EFI_CONFIGURATION_TABLE array", arr.address, n * arr.entry_size, FIRMWARE, "cfgarray"))
    vp = st.firmware_vendor_ptr
    if st.firmware_vendor is not None and vp.physical is not None:
        out.append(_extent("FirmwareVendor", vp.physical, (len(st.firmware_vendor) + 1) * 2, FIRMWARE, "vendor"))
    return [r for r in out if r is not None]


def handover_regions(d: Dump) -> list[Extent]:
    """Objects the boot loader or EFI stub hands to the kernel (memory map, zero page, setup_data)."""
    out: list[Extent | None] = []
    mm = d.efi_memmap
    if mm is not None:
        out.append(_extent("EFI memory map", mm.address, mm.size, HANDOVER, "memmap"))
    bp = d.boot_params
    if bp is not None:
        out.append(_extent("boot_params", bp.address, BOOT_PARAMS_SIZE, HANDOVER, "boot_params"))
        cl = bp.command_line
        if cl is not None:
            out.append(_extent("kernel command line", cl.address, cl.size, HANDOVER, "cmdline"))
    for node in d.setup_data.nodes if d.setup_data is not None else []:
        label = f"setup_data [{node.index}] {node.type_name}".rstrip()
        out.append(_extent(label, node.address, node.size, HANDOVER, f"setup_data@{node.address}"))
    # SEV-SNP: the blob(s) and the pages they name; overlaps among them are SNP-BLOB-OVERLAP.
    for b in d.cc_blob.blobs:
        if b.readable:
            out.append(_extent("cc_blob_sev_info", b.address, b.size, HANDOVER, "snp"))
    for p, label in ((d.snp_secrets, "SNP secrets page"), (d.snp_cpuid, "SNP CPUID table")):
        if p is not None:
            out.append(_extent(label, p.address, p.size, HANDOVER, "snp"))
    return [r for r in out if r is not None]


def payload_regions(d: Dump) -> list[Extent]:
    """Decoded configuration-table payloads (one region per distinct extent)."""
    st = d.systab
    if st is None:
        return []
    out: list[Extent] = []
    seen: set[tuple[int, int]] = set()
    for e in st.config_tables:
        p = e.payload
        if p is None:
            continue
        label = f"configuration table [{e.index}] {e.name or e.guid}"
        r = _extent(label, p.address, p.size, PAYLOAD, "payload", e.name or e.guid)
        if r is not None and (r.address, r.size) not in seen:
            seen.add((r.address, r.size))
            out.append(r)
    return out


def all_regions(d: Dump) -> list[Extent]:
    return firmware_regions(d) + handover_regions(d) + payload_regions(d)
