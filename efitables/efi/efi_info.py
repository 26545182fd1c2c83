"""Reading ``boot_params.efi_info`` (layout: :mod:`efitables.schemas.efi_info`).

The cheap checks here decide whether a page could be a zero page handed over
by the EFI stub or a loader, before anything else is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass

from efitables.errors import MemoryReadError
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.schemas.boot_params import E820_ENTRIES_OFFSET, E820_MAX_ENTRIES_ZEROPAGE, EFI_INFO_OFFSET
from efitables.schemas.efi_info import (
    EFI32_LOADER_SIGNATURE,
    EFI64_LOADER_SIGNATURE,
    EFI_INFO_FAST,
    EFI_INFO_HI_SHIFT,
    EFI_INFO_SIZE,
    EFI_LOADER_SIGNATURE_SIZE,
)
from efitables.schemas.efi_memmap import descriptor_size_plausible


@dataclass(frozen=True)
class EfiInfo:
    boot_params: int
    efi_loader_signature: int
    systab: int
    memdesc_size: int
    memdesc_version: int
    memmap: int
    memmap_size: int
    e820_entries: int

    @property
    def bits(self) -> int | None:
        if self.efi_loader_signature == EFI64_LOADER_SIGNATURE:
            return 64
        if self.efi_loader_signature == EFI32_LOADER_SIGNATURE:
            return 32
        return None

    @property
    def signature_text(self) -> str:
        raw = self.efi_loader_signature.to_bytes(EFI_LOADER_SIGNATURE_SIZE, "little")
        return raw.decode("ascii", "backslashreplace")

    def problems(self) -> list[str]:
        """Why this is not a usable EFI hand-over (empty list: plausible)."""
        p = []
        if self.bits is None:
            p.append(f"efi_loader_signature {self.signature_text!r} is not EL64/EL32")
        if self.systab == 0 or self.systab >= MAX_PHYS_ADDR:
            p.append(f"efi_systab {self.systab:#x} is not a physical address")
        if not descriptor_size_plausible(self.memdesc_size):
            p.append(f"efi_memdesc_size {self.memdesc_size} is not a descriptor size")
        elif self.memmap_size % self.memdesc_size:
            p.append(f"efi_memmap_size {self.memmap_size:#x} is not a multiple of {self.memdesc_size}")
        if not 1 <= self.e820_entries <= E820_MAX_ENTRIES_ZEROPAGE:
            p.append(f"e820_entries {self.e820_entries} outside 1..{E820_MAX_ENTRIES_ZEROPAGE}")
        return p

    def to_dict(self) -> dict:
        return {
            "boot_params": self.boot_params,
            "efi_loader_signature": self.signature_text,
            "efi_systab": self.systab,
            "efi_memdesc_size": self.memdesc_size,
            "efi_memdesc_version": self.memdesc_version,
            "efi_memmap": self.memmap,
            "efi_memmap_size": self.memmap_size,
        }


def read_efi_info(mem: PhysicalMemory, boot_params: int) -> EfiInfo | None:
    try:
        raw = mem.read(boot_params + EFI_INFO_OFFSET, EFI_INFO_SIZE, structure="boot_params.efi_info")
        e820 = mem.read(boot_params + E820_ENTRIES_OFFSET, 1)[0]
    except MemoryReadError:
        return None
    sig, st_lo, dsize, dver, mm_lo, mm_size, st_hi, mm_hi = EFI_INFO_FAST.unpack(raw)
    systab, memmap = st_lo | st_hi << EFI_INFO_HI_SHIFT, mm_lo | mm_hi << EFI_INFO_HI_SHIFT
    return EfiInfo(boot_params, sig, systab, dsize, dver, memmap, mm_size, e820)
