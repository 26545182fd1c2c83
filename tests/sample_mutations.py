"""Copies of the sample dumps, patched by physical address, for the validate/diff/fuzz tests.

The samples in dumps/samples/ are never modified: :class:`SampleImage` holds a
copy in memory and :meth:`SampleImage.save` writes it to a test's tmp dir. The
addresses are the constants dumps/make_samples.py built the samples with.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from dumps import make_samples as ms
from efitables.schemas.efi_tables import efi_crc32

SAMPLES = Path(__file__).resolve().parent.parent / "dumps" / "samples"
EFI_SAMPLES = ("ovmf64.raw", "ovmf64-virt.elf", "ovmf32.elf")
ALL_SAMPLES = (*EFI_SAMPLES, "seabios.raw")

SYSTAB, CFG_ARRAY, VENDOR, RUNTIME = ms.SYSTAB, ms.CFG_ARRAY, ms.VENDOR, ms.RUNTIME
MEMMAP, BOOT_PARAMS, RSDP = ms.MEMMAP, ms.BOOT_PARAMS, ms.RSDP

# Offsets in the 64-bit tables (UEFI 2.10 4.3, 4.5; efitables/schemas/efi_tables.py).
ST_FW_VENDOR, ST_FW_REVISION, ST_RUNTIME, ST_NR_TABLES, ST_CFG = 0x18, 0x20, 0x58, 0x68, 0x70
ST32_FW_VENDOR, ST32_RUNTIME, ST32_NR_TABLES, ST32_CFG = 0x18, 0x38, 0x40, 0x44
RT_GET_TIME = 0x18
# boot_params.efi_info (Linux arch/x86/include/uapi/asm/bootparam.h) and the memory descriptor.
EFI_INFO = 0x1C0
BP_SETUP_DATA = 0x250
DESC_SIZE = 48
DESC_PHYS, DESC_VIRT, DESC_PAGES = 8, 16, 24


class SampleImage:
    """One sample dump's bytes, with physical addresses mapped to file offsets."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.data = bytearray((SAMPLES / name).read_bytes())
        self.segments = self._segments()

    def _segments(self) -> list[tuple[int, int, int]]:
        """``(pa, file offset, size)`` of each part of the file that holds physical memory."""
        if not self.data.startswith(b"\x7fELF"):
            return [(0, 0, len(self.data))]
        is64 = self.data[4] == 2
        if is64:
            phoff, phentsize, phnum = (
                struct.unpack_from("<Q", self.data, 0x20)[0],
                *struct.unpack_from("<HH", self.data, 0x36),
            )
        else:
            phoff, phentsize, phnum = (
                struct.unpack_from("<I", self.data, 0x1C)[0],
                *struct.unpack_from("<HH", self.data, 0x2A),
            )
        out = []
        for i in range(phnum):
            o = phoff + i * phentsize
            if is64:
                p_type, _flags, off, _va, pa, filesz = struct.unpack_from("<IIQQQQ", self.data, o)
            else:
                p_type, off, _va, pa, filesz = struct.unpack_from("<IIIII", self.data, o)
            if p_type == 1:  # PT_LOAD
                out.append((pa, off, filesz))
        return out

    @property
    def bits(self) -> int:
        return 32 if self.name == "ovmf32.elf" else 64

    def off(self, pa: int) -> int:
        for spa, off, size in self.segments:
            if spa <= pa < spa + size:
                return off + pa - spa
        raise KeyError(f"{pa:#x} is not in {self.name}")

    def read(self, pa: int, n: int) -> bytes:
        o = self.off(pa)
        return bytes(self.data[o : o + n])

    def write(self, pa: int, b: bytes) -> None:
        o = self.off(pa)
        self.data[o : o + len(b)] = b

    def u32(self, pa: int, v: int) -> None:
        self.write(pa, (v & 0xFFFFFFFF).to_bytes(4, "little"))

    def u64(self, pa: int, v: int) -> None:
        self.write(pa, (v & (1 << 64) - 1).to_bytes(8, "little"))

    def ptr(self, pa: int, v: int) -> None:
        """A pointer field of this sample's width."""
        (self.u64 if self.bits == 64 else self.u32)(pa, v)

    def fix_crc(self, pa: int) -> None:
        """Recompute an EFI table header's CRC32 (so only the intended check fires)."""
        hsize = struct.unpack("<I", self.read(pa + 12, 4))[0]
        self.u32(pa + 16, efi_crc32(self.read(pa, hsize), hsize))

    # -- the EFI objects of the sample machine --------------------------------
    def systab_field(self, off64: int, off32: int, value: int) -> None:
        self.ptr(SYSTAB + (off64 if self.bits == 64 else off32), value)
        self.fix_crc(SYSTAB)

    def systab_pointer(self, at: int, base: int) -> None:
        """EDK2's EFI_SYSTEM_TABLE_POINTER at ``at`` naming ``base``, CRC valid."""
        raw = bytearray(b"IBI SYST" + base.to_bytes(8, "little") + bytes(8))
        raw[16:20] = (zlib.crc32(bytes(raw)) & 0xFFFFFFFF).to_bytes(4, "little")
        self.write(at, bytes(raw))

    def save(self, directory: Path, name: str | None = None) -> Path:
        p = Path(directory) / (name or self.name)
        p.write_bytes(self.data)
        return p
