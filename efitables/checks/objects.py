"""The parsed objects of a Dump, as physical regions the cross-structure checks compare.

Only objects that are separate allocations are listed (an entry inside its
array, or a descriptor inside its map, is part of its parent). Areas are read
with ``getattr`` so that a build without an area (or a Dump that has not got
the attribute yet) skips it; nothing here reads the dump's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from efitables.model import Parsed

if TYPE_CHECKING:
    from efitables.dump import Dump

#: Roles: who owns the memory and so which rules apply.
FIRMWARE = "firmware"  # must survive ExitBootServices: runtime memory, described by the EFI memory map
HANDOVER = "handover"  # boot loader / EFI stub -> kernel, reserved by the kernel itself
PAYLOAD = "payload"  # configuration-table payloads (the payload decoders check their regions)


@dataclass(frozen=True)
class Region:
    """One parsed object's physical extent."""

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


def area(d: Dump, name: str) -> Any:
    """``d.<name>`` if this build's Dump has that area, else None (an absent area is no error)."""
    if not hasattr(type(d), name):
        return None
    value = getattr(d, name)
    return None if callable(value) else value


def _region(name: str, address: Any, size: Any, role: str, group: str, tag: str = "") -> Region | None:
    if not isinstance(address, int) or not isinstance(size, int) or size <= 0 or address < 0:
        return None
    return Region(name, address, size, role, group, tag)


def firmware_regions(d: Dump) -> list[Region]:
    """The system table and the objects it leads to (all owned by the firmware, all runtime)."""
    out: list[Region | None] = []
    st = area(d, "systab")
    if st is None:
        return []
    out.append(_region("EFI_SYSTEM_TABLE", st.address, st.size, FIRMWARE, "systab"))
    rt = st.runtime_services
    if rt is not None and rt.raw:
        out.append(_region("EFI_RUNTIME_SERVICES", rt.address, rt.size, FIRMWARE, "runtime"))
    arr = st.config_table_array
    if arr is not None:
        from efitables.efi.systab import MAX_CONFIG_TABLES

        n = min(arr.count, MAX_CONFIG_TABLES)
        out.append(_region("EFI_CONFIGURATION_TABLE array", arr.address, n * arr.entry_size, FIRMWARE, "cfgarray"))
    vp = st.firmware_vendor_ptr
    if st.firmware_vendor is not None and vp.physical is not None:
        out.append(_region("FirmwareVendor", vp.physical, (len(st.firmware_vendor) + 1) * 2, FIRMWARE, "vendor"))
    return [r for r in out if r is not None]


def handover_regions(d: Dump) -> list[Region]:
    """Objects the boot loader or EFI stub hands to the kernel (memory map, zero page, setup_data)."""
    out: list[Region | None] = []
    mm = area(d, "efi_memmap")
    if isinstance(mm, Parsed):
        out.append(_region("EFI memory map", mm.address, mm.size, HANDOVER, "memmap"))
    bp = area(d, "boot_params")
    if isinstance(bp, Parsed):
        out.append(_region("boot_params", bp.address, 4096, HANDOVER, "boot_params"))
        cl = getattr(bp, "command_line", None)
        if isinstance(cl, Parsed):
            out.append(_region("kernel command line", cl.address, cl.size, HANDOVER, "cmdline"))
    sd = area(d, "setup_data")
    for node in getattr(sd, "nodes", None) or []:
        if isinstance(node, Parsed):
            label = f"setup_data [{getattr(node, 'index', '?')}] {getattr(node, 'type_name', '')}".rstrip()
            out.append(_region(label, node.address, node.size, HANDOVER, f"setup_data@{node.address}"))
    # SEV-SNP: the blob(s) and the pages they name; overlaps among them are SNP-BLOB-OVERLAP.
    cc = area(d, "cc_blob")
    for b in getattr(cc, "blobs", None) or []:
        if isinstance(b, Parsed) and getattr(b, "readable", True):
            out.append(_region("cc_blob_sev_info", b.address, b.size, HANDOVER, "snp"))
    for name, label in (("snp_secrets", "SNP secrets page"), ("snp_cpuid", "SNP CPUID table")):
        p = area(d, name)
        if isinstance(p, Parsed):
            out.append(_region(label, p.address, p.size, HANDOVER, "snp"))
    return [r for r in out if r is not None]


def payload_regions(d: Dump) -> list[Region]:
    """Decoded configuration-table payloads (one region per distinct extent)."""
    st = area(d, "systab")
    if st is None:
        return []
    out: list[Region] = []
    seen: set[tuple[int, int]] = set()
    for e in st.config_tables:
        p = e.payload
        if not isinstance(p, Parsed):
            continue
        label = f"configuration table [{e.index}] {e.name or e.guid}"
        r = _region(label, p.address, p.size, PAYLOAD, "payload", e.name or e.guid)
        if r is not None and (r.address, r.size) not in seen:
            seen.add((r.address, r.size))
            out.append(r)
    return out


def all_regions(d: Dump) -> list[Region]:
    return firmware_regions(d) + handover_regions(d) + payload_regions(d)


def e820_lookup(d: Dump) -> Any:
    """A function ``pa -> (type, start, end) | None`` over the E820 table, or None without one."""
    table = area(d, "e820")
    entries = getattr(table, "entries", None)
    if entries is None:
        bp = area(d, "boot_params")
        entries = getattr(bp, "e820_table", None)
    if not entries:
        return None
    spans = []
    for e in entries:
        addr, length, typ = getattr(e, "addr", None), getattr(e, "length", None), getattr(e, "type", None)
        if isinstance(addr, int) and isinstance(length, int) and isinstance(typ, int) and length > 0:
            spans.append((addr, addr + length, typ))

    def lookup(pa: int) -> tuple[int, int, int] | None:
        for lo, hi, typ in spans:
            if lo <= pa < hi:
                return typ, lo, hi
        return None

    return lookup
