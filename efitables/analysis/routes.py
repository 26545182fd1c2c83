"""Reachability: a debug pointer naming another system table, runtime services that lead nowhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

from efitables.analysis.registry import check
from efitables.findings import Finding, Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR
from efitables.schemas.efi_memmap import EFI_MEMORY_TYPE

if TYPE_CHECKING:
    from efitables.dump import Dump

XS_SYSTAB_ROUTES = register(
    "XS-SYSTAB-ROUTES",
    Severity.WARNING,
    "EDK2's EFI_SYSTEM_TABLE_POINTER names another system table than the one in use",
    "The debug structure on a 4 MiB boundary (found by the signature scan) names one table and the route in "
    "use (efi_info, --systab or the scan) another: a second boot's leftovers or a forged table. efi_info "
    "against the scan is BOOT-XC-MISMATCH.",
)
XS_RUNTIME_POINTER = register(
    "XS-RUNTIME-POINTER",
    Severity.WARNING,
    "A runtime service pointer is not in EfiRuntimeServicesCode",
    "A non-NULL function pointer of the runtime services table names memory that the EFI memory map does not "
    "give the type EfiRuntimeServicesCode (after translating an EFI virtual address through the map; a virtual "
    "address the map does not translate is not judged): the kernel would call into memory it does not map for "
    "runtime services.",
)

RUNTIME_CODE = EFI_MEMORY_TYPE["EFI_RUNTIME_SERVICES_CODE"]
#: Runtime service function pointers in EFI_RUNTIME_SERVICES, after the header.
RT_FUNCS = (
    "GetTime SetTime GetWakeupTime SetWakeupTime SetVirtualAddressMap ConvertPointer "
    "GetVariable GetNextVariableName SetVariable GetNextHighMonotonicCount ResetSystem "
    "UpdateCapsule QueryCapsuleCapabilities QueryVariableInfo"
).split()


@check("system table routes")
def systab_routes(d: Dump) -> list[Finding]:
    """XS-SYSTAB-ROUTES: the EFI_SYSTEM_TABLE_POINTER route names another system table than the one used."""
    disc = d.systab_discovery
    if disc.address is None:
        return []
    out = []
    for r in disc.routes:
        if r.name == "EFI_SYSTEM_TABLE_POINTER" and r.status == "disagrees" and r.address is not None:
            out.append(
                make(
                    XS_SYSTAB_ROUTES,
                    "EFI_SYSTEM_TABLE",
                    r.address,
                    f"route {r.name} ({r.detail}) names {r.address:#x}; "
                    f"{disc.route} gave {disc.address:#x}, which is used",
                )
            )
    return out


@check("runtime service pointers")
def runtime_pointers(d: Dump) -> list[Finding]:
    """XS-RUNTIME-POINTER: runtime service function pointers outside runtime code."""
    st = d.systab
    mm = d.efi_memmap
    rt = st.runtime_services if st is not None else None
    if st is None or rt is None or not rt.signature_ok or rt.fields is None or mm is None or not mm.descriptors:
        return []
    bad: list[str] = []
    for name in RT_FUNCS:
        ptr = getattr(rt.fields, name, None)
        if not isinstance(ptr, int) or ptr == 0:
            continue
        virtual = rt.address is not None and st.runtime_services_ptr.is_virtual
        desc = mm.lookup(ptr) if ptr < MAX_PHYS_ADDR else None
        if desc is None or desc.type != RUNTIME_CODE:
            hit = mm.virt_to_phys(ptr)
            if hit is not None:
                desc = hit[1]
            elif ptr >= MAX_PHYS_ADDR or virtual:
                continue  # an EFI virtual address this map does not translate: nothing to judge
        if desc is None:
            bad.append(f"{name} {ptr:#x} (not in the memory map)")
        elif desc.type != RUNTIME_CODE:
            bad.append(f"{name} {ptr:#x} (in {desc.type_name})")
    if not bad:
        return []
    shown = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
    return [make(XS_RUNTIME_POINTER, "EFI_RUNTIME_SERVICES", rt.address, f"{len(bad)} pointers: {shown}")]
