#!/usr/bin/env python3
"""Build the small sample dumps in dumps/samples/ from efitables' own schemas.

Every value placed in a sample is a constant below; ``EXPECTED`` records what
efitables must report for each sample, and the tests assert those values field
by field. Run from the repository root:  python -m dumps.make_samples

Samples:
  ovmf64.raw        raw image, 64-bit system table with physical pointers, an EFI-stub
                    zero page (no "HdrS"), two decoy signatures the scan must reject
  ovmf64-virt.elf   ELF64 core of the same machine after SetVirtualAddressMap: virtual
                    system-table pointers, a hole, a segment above 4 GiB, a zero-filled
                    segment tail, a VMCOREINFO note
  ovmf32.elf        ELF32 core, 32-bit (mixed-mode) system table with 20-byte entries
  seabios.raw       a non-EFI boot: zero page with "HdrS" and E820 only
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dumps.builder import (
    Image,
    acpi_sdt_header,
    config_tables,
    elf_note,
    runtime_services,
    system_table,
    ucs2,
    zero_page,
)
from efitables.schemas.efi_memmap import EFI_MEMORY_TYPE

OUT = Path(__file__).resolve().parent / "samples"

BOOT_PARAMS = 0x13000
MEMMAP = 0x14000
SYSTAB = 0x7E0018
CFG_ARRAY = 0x7E0100
VENDOR = 0x7E0300
RUNTIME = 0x7E0400
RSDP = 0x700000
ABOVE_4G = 0x100000000
VIRT_OFFSET = 0xFFFFFFFEFF000000  # EFI VA = PA + this in the runtime regions (Linux's window)
REVISION = 0x00020046  # UEFI 2.7
FW_REVISION = 0x00010000
VENDOR_TEXT = "EDK II"
UNKNOWN_GUID = "f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b"

RT = 1 << 63
WB = 0x8
T = EFI_MEMORY_TYPE


def _descs(above_4g: bool, virtual: bool) -> list[dict]:
    d = [
        dict(Type=T["EFI_CONVENTIONAL_MEMORY"], PhysicalStart=0x0, NumberOfPages=0x9F, Attribute=WB),
        dict(Type=T["EFI_LOADER_DATA"], PhysicalStart=0x100000, NumberOfPages=0x100, Attribute=WB),
        dict(Type=T["EFI_CONVENTIONAL_MEMORY"], PhysicalStart=0x200000, NumberOfPages=0x500, Attribute=WB),
        dict(Type=T["EFI_ACPI_RECLAIM_MEMORY"], PhysicalStart=0x700000, NumberOfPages=0x10, Attribute=WB),
        dict(Type=T["EFI_BOOT_SERVICES_DATA"], PhysicalStart=0x710000, NumberOfPages=0xD0, Attribute=WB),
        dict(Type=T["EFI_RUNTIME_SERVICES_DATA"], PhysicalStart=0x7E0000, NumberOfPages=0x10, Attribute=RT | WB),
        dict(Type=T["EFI_RUNTIME_SERVICES_CODE"], PhysicalStart=0x7F0000, NumberOfPages=0x10, Attribute=RT | WB),
    ]
    if above_4g:
        d.append(dict(Type=T["EFI_BOOT_SERVICES_DATA"], PhysicalStart=ABOVE_4G, NumberOfPages=0x10, Attribute=WB))
    out = []
    for x in d:
        x = dict(x)
        x["VirtualStart"] = x["PhysicalStart"] + VIRT_OFFSET if virtual and x["Attribute"] & RT else 0
        out.append(x)
    return out


def _memory_map(descs: list[dict]) -> bytes:
    from efitables.schemas.efi_memmap import EFI_MEMORY_DESCRIPTOR

    return b"".join(EFI_MEMORY_DESCRIPTOR.build(dict(pad=0, **x)) + bytes(8) for x in descs)


def rsdp_v2(rsdt: int, xsdt: int) -> bytes:
    """ACPI 2.0 RSDP (ACPI spec 5.2.5.3) with both checksums valid."""
    b = bytearray(36)
    b[0:8] = b"RSD PTR "
    b[9:15] = b"BOCHS "
    b[15] = 2
    b[16:20] = rsdt.to_bytes(4, "little")
    b[20:24] = (36).to_bytes(4, "little")
    b[24:32] = xsdt.to_bytes(8, "little")
    b[8] = -sum(b[0:20]) & 0xFF
    b[32] = -sum(b) & 0xFF
    return bytes(b)


FACP = RSDP + 0x400
DXE_SERVICES = 0x710000
HOB_LIST = 0x720000
MEMORY_TYPE_INFO = 0x730000
MEMORY_TYPE_BINS = [(10, 0x80), (9, 0x40), (0, 0x4), (5, 0x100), (6, 0x200), (4, 0x1000), (3, 0x200)]


def acpi_payloads() -> dict[int, bytes]:
    """RSDT and XSDT listing one FACP, every checksum valid (efitables.schemas.payloads.acpi)."""
    from efitables.schemas.payloads.acpi import EFI_ACPI_DESCRIPTION_HEADER, RSDT, XSDT, fix_checksum

    facp = EFI_ACPI_DESCRIPTION_HEADER.build(acpi_sdt_header(b"FACP", 116)) + bytes(80)
    rsdt = RSDT.build(dict(Header=acpi_sdt_header(b"RSDT", 40), Entry=[FACP]))
    xsdt = XSDT.build(dict(Header=acpi_sdt_header(b"XSDT", 44), Entry=[FACP]))
    return {
        RSDP + 0x100: fix_checksum(rsdt, 9, len(rsdt)),
        RSDP + 0x200: fix_checksum(xsdt, 9, len(xsdt)),
        FACP: fix_checksum(facp, 9, len(facp)),
    }


def edk2_payloads() -> dict[int, bytes]:
    """DXE services table (CRC32 valid), a HOB list (PHIT + end HOB), memory type information."""
    import construct as cs

    from efitables.schemas.efi_tables import EFI_DXE_SERVICES_SIGNATURE, EFI_TABLE_HEADER, build_table
    from efitables.schemas.payloads.edk2 import (
        EFI_HOB_GENERIC_HEADER,
        EFI_HOB_HANDOFF_INFO_TABLE,
        EFI_MEMORY_TYPE_INFORMATION,
    )

    dxe = cs.Struct("Hdr" / EFI_TABLE_HEADER, "Functions" / cs.Array(18, cs.Int64ul))
    hdr = dict(Signature=EFI_DXE_SERVICES_SIGNATURE, Revision=0x10046, HeaderSize=dxe.sizeof(), CRC32=0, Reserved=0)
    phit = EFI_HOB_HANDOFF_INFO_TABLE.build(
        dict(
            Header=dict(HobType=1, HobLength=0x38, Reserved=0),
            Version=9,
            BootMode=0,
            EfiMemoryTop=0x7E0000,
            EfiMemoryBottom=0x710000,
            EfiFreeMemoryTop=0x7D0000,
            EfiFreeMemoryBottom=0x728000,
            EfiEndOfHobList=HOB_LIST + 0x38,
        )
    )
    end = EFI_HOB_GENERIC_HEADER.build(dict(HobType=0xFFFF, HobLength=8, Reserved=0))
    bins = [*MEMORY_TYPE_BINS, (16, 0)]
    return {
        DXE_SERVICES: build_table(dxe, dict(Hdr=hdr, Functions=[0x7F0000 + 0x10 * i for i in range(18)])),
        HOB_LIST: phit + end,
        MEMORY_TYPE_INFO: b"".join(EFI_MEMORY_TYPE_INFORMATION.build(dict(Type=t, NumberOfPages=n)) for t, n in bins),
    }


def _tables(unknown_at: int) -> list[tuple[str, int]]:
    return [
        ("8868e871-e4f1-11d3-bc22-0080c73c8881", RSDP),  # ACPI_20_TABLE_GUID
        ("eb9d2d30-2d88-11d3-9a16-0090273fc14d", RSDP),  # ACPI_TABLE_GUID
        ("05ad34ba-6f02-4214-952e-4da0398e2bb9", 0x710000),  # EFI_DXE_SERVICES_TABLE_GUID
        ("7739f24c-93d7-11d4-9a3a-0090273fc14d", 0x720000),  # gEfiHobListGuid
        ("4c19049f-4137-4dd3-9c10-8b97a83ffdfa", 0x730000),  # gEfiMemoryTypeInformationGuid
        (UNKNOWN_GUID, unknown_at),
    ]


def _efi_machine(img: Image, bits: int, *, virtual: bool, above_4g: bool) -> dict:
    """Place the EFI objects of one machine; returns the expected values."""
    descs = _descs(above_4g, virtual)
    mm = _memory_map(descs)
    unknown_at = ABOVE_4G if above_4g else 0x740000
    tables = _tables(unknown_at)
    v = (lambda pa: pa + VIRT_OFFSET) if virtual else (lambda pa: pa)
    img.put(
        SYSTAB,
        system_table(
            bits,
            vendor=v(VENDOR),
            revision=REVISION,
            fw_revision=FW_REVISION,
            runtime=v(RUNTIME),
            nr_tables=len(tables),
            tables=v(CFG_ARRAY),
        ),
    )
    img.put(CFG_ARRAY, config_tables(bits, tables))
    img.put(VENDOR, ucs2(VENDOR_TEXT))
    img.put(RUNTIME, runtime_services(bits, REVISION, v(0x7F0000)))
    img.put(MEMMAP, mm)
    img.put(RSDP, rsdp_v2(RSDP + 0x100, RSDP + 0x200))
    for pa, raw in {**acpi_payloads(), **edk2_payloads()}.items():
        img.put(pa, raw)
    img.put(unknown_at, b"unknown payload")
    sig = "EL64" if bits == 64 else "EL32"
    img.put(
        BOOT_PARAMS,
        zero_page(
            efi=dict(
                efi_loader_signature=sig,
                efi_systab=SYSTAB,
                efi_memdesc_size=48,
                efi_memdesc_version=1,
                efi_memmap=MEMMAP,
                efi_memmap_size=len(mm),
                efi_systab_hi=0,
                efi_memmap_hi=0,
            ),
            e820=[(0, 0x9F000, 1), (0x100000, 0x6E0000, 1), (0x7E0000, 0x20000, 2)],
            hdrs=False,
        ),
    )
    return {
        "boot_params": BOOT_PARAMS,
        "systab": SYSTAB,
        "bits": bits,
        "revision": REVISION,
        "revision_text": "2.70",
        "firmware_vendor": VENDOR_TEXT,
        "firmware_revision": FW_REVISION,
        "pointer_route": "efi-memmap" if virtual else "physical",
        "config_table_address": CFG_ARRAY,
        "runtime_services": RUNTIME,
        "nr_tables": len(tables),
        "tables": [[g, t] for g, t in tables],
        "memmap": {"address": MEMMAP, "descriptors": len(descs), "descriptor_size": 48},
    }


def build_ovmf64_raw(path: Path) -> dict:
    img = Image()
    img.add_region(0, 0x800000)
    exp = _efi_machine(img, 64, virtual=False, above_4g=False)
    # Decoys: a copy with a wrong CRC, and one with a wrong HeaderSize.
    bad_crc = bytearray(img.regions[0][SYSTAB : SYSTAB + 0x78])
    bad_crc[16] ^= 0xFF
    img.put(0x300000, bytes(bad_crc))
    bad_size = bytearray(bad_crc)
    bad_size[12:16] = (0x100).to_bytes(4, "little")
    img.put(0x300200, bytes(bad_size))
    img.write_raw(str(path))
    exp["decoys"] = {"0x300000": "CRC32", "0x300200": "HeaderSize"}
    exp["ranges"] = [[0, 0x800000]]
    return exp


def build_ovmf64_virt_elf(path: Path) -> dict:
    img = Image()
    img.add_region(0, 0xA0000)
    img.add_region(0x100000, 0x700000)
    img.add_region(ABOVE_4G, 0x10000)
    exp = _efi_machine(img, 64, virtual=True, above_4g=True)
    vmcoreinfo = b"OSRELEASE=6.1.0-sample\nPAGESIZE=4096\nNUMBER(phys_base)=6291456\nKERNELOFFSET=0\n"
    # The last 0x8000 bytes of the 1 MiB..8 MiB segment are p_memsz-only (zero filled).
    img.write_elf(str(path), 64, notes=[elf_note("VMCOREINFO", 0, vmcoreinfo)], zero_tail={0x100000: 0x8000})
    exp["ranges"] = [[0, 0xA0000], [0x100000, 0x7F8000], [0x7F8000, 0x800000], [ABOVE_4G, ABOVE_4G + 0x10000]]
    exp["vmcoreinfo"] = {"OSRELEASE": "6.1.0-sample", "PAGESIZE": "4096", "NUMBER(phys_base)": "6291456"}
    exp["virtual"] = {
        "FirmwareVendor": VENDOR + VIRT_OFFSET,
        "ConfigurationTable": CFG_ARRAY + VIRT_OFFSET,
        "RuntimeServices": RUNTIME + VIRT_OFFSET,
    }
    return exp


def build_ovmf32_elf(path: Path) -> dict:
    img = Image()
    img.add_region(0, 0x800000)
    exp = _efi_machine(img, 32, virtual=False, above_4g=False)
    img.write_elf(str(path), 32)
    exp["ranges"] = [[0, 0x800000]]
    return exp


def build_seabios_raw(path: Path) -> dict:
    img = Image()
    img.add_region(0, 0x100000)
    img.put(BOOT_PARAMS, zero_page(efi=None, e820=[(0, 0x9FC00, 1), (0xF0000, 0x10000, 2)], hdrs=True))
    img.write_raw(str(path))
    return {"boot_params": BOOT_PARAMS, "systab": None, "ranges": [[0, 0x100000]]}


SAMPLES = {
    "ovmf64.raw": build_ovmf64_raw,
    "ovmf64-virt.elf": build_ovmf64_virt_elf,
    "ovmf32.elf": build_ovmf32_elf,
    "seabios.raw": build_seabios_raw,
}


def build_all(out: Path = OUT) -> dict[str, dict]:
    out.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, fn in SAMPLES.items():
        expected[name] = fn(out / name)
    (out / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    return expected


if __name__ == "__main__":
    exp = build_all()
    for name in exp:
        print(f"{OUT / name}: {os.path.getsize(OUT / name)} bytes")
