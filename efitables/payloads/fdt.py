"""DEVICE_TREE_GUID: the flattened device tree's header (Devicetree Specification
v0.4 §5.2; torvalds/linux scripts/dtc/libfdt/fdt.h@v6.12.117).

Checks: magic, a totalsize that holds the header and every block, block offsets
and sizes inside totalsize, last_comp_version <= version. Rare on x86.
"""

from __future__ import annotations

from dataclasses import dataclass

from efitables.findings import Severity, make, register
from efitables.payloads import register_decoder
from efitables.payloads.base import DecodeContext, Payload
from efitables.schemas.payloads.fdt import FDT_HEADER, FDT_HEADER_SIZE, FDT_MAGIC

DEVICE_TREE_GUID = "b1b621d5-f19c-41a5-830b-d9152c69aae0"

#: Largest device tree believed (real ones are tens of KiB).
MAX_FDT_SIZE = 64 * 1024 * 1024

FDT_MAGIC_BAD = register("PAYLOAD-FDT-MAGIC", Severity.ERROR, "Device tree magic is not 0xd00dfeed")
FDT_LAYOUT = register(
    "PAYLOAD-FDT-HEADER",
    Severity.WARNING,
    "Device tree header sizes or offsets are inconsistent",
    "totalsize below the header or above efitables' cap, a block outside totalsize, or "
    "last_comp_version above version.",
)


@dataclass(kw_only=True)
class DeviceTree(Payload):
    kind = "FDT"

    magic_ok: bool
    totalsize: int
    version: int
    last_comp_version: int
    boot_cpuid_phys: int
    in_dump: bool | None = None

    @property
    def title(self) -> str:
        return (
            f"device tree v{self.version} ({self.totalsize:#x} bytes)" if self.magic_ok else "device tree (bad magic)"
        )


def decode_fdt(ctx: DecodeContext) -> DeviceTree:
    pa, name = ctx.address, "device tree"
    findings: list = []
    raw = ctx.read(pa, FDT_HEADER_SIZE, name, findings)
    if raw is None:
        d = DeviceTree(address=pa, size=0, magic_ok=False, totalsize=0, version=0, last_comp_version=0,
                       boot_cpuid_phys=0)  # fmt: skip
        d.findings.extend(findings)
        return d
    f = FDT_HEADER.parse(raw)
    d = DeviceTree(address=pa, size=FDT_HEADER_SIZE, raw=raw, fields=f, schema=FDT_HEADER,
                   magic_ok=f["magic"] == FDT_MAGIC, totalsize=f["totalsize"], version=f["version"],
                   last_comp_version=f["last_comp_version"], boot_cpuid_phys=f["boot_cpuid_phys"])  # fmt: skip
    if not d.magic_ok:
        d.findings.append(make(FDT_MAGIC_BAD, name, pa, f"magic {f['magic']:#010x}"))
        return d
    total = d.totalsize
    bad = []
    if total < FDT_HEADER_SIZE or total > MAX_FDT_SIZE:
        bad.append(f"totalsize {total:#x}")
    for off, size, what in (
        (f["off_dt_struct"], f["size_dt_struct"] if d.version >= 17 else 0, "structure block"),
        (f["off_dt_strings"], f["size_dt_strings"] if d.version >= 3 else 0, "strings block"),
        (f["off_mem_rsvmap"], 16, "memory reservation map"),
    ):
        if off < FDT_HEADER_SIZE or off + size > total:
            bad.append(f"{what} at +{off:#x} (+{size:#x}) outside totalsize {total:#x}")
    if d.last_comp_version > d.version:
        bad.append(f"last_comp_version {d.last_comp_version} > version {d.version}")
    if bad:
        d.findings.append(make(FDT_LAYOUT, name, pa, "; ".join(bad)))
    elif total <= MAX_FDT_SIZE:
        d.size = total
        d.in_dump = ctx.mem.is_readable(pa, total)
    return d


register_decoder(DEVICE_TREE_GUID, decode_fdt)
