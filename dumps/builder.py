"""Build synthetic physical-memory dumps from efitables' own construct schemas.

A :class:`Image` is a sparse physical address space (``put(pa, bytes)``); it is
written as a raw image (file offset = physical address, holes stay sparse) or
as an ELF core with one ``PT_LOAD`` per present region (``p_paddr`` = physical
address) and optional VMCOREINFO note, in ELF64 or ELF32 - the shapes QEMU's
``dump-guest-memory`` writes.

ELF layouts: the System V gABI (``Elf64_Ehdr``, ``Elf64_Phdr``, ``Elf32_*``,
``Elf64_Nhdr``), as in /usr/include/elf.h.
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.common import guid_to_bytes
from efitables.schemas.efi_info import EFI_INFO
from efitables.schemas.efi_memmap import EFI_MEMORY_DESCRIPTOR
from efitables.schemas.efi_tables import (
    EFI_CONFIGURATION_TABLE_32,
    EFI_CONFIGURATION_TABLE_64,
    EFI_RUNTIME_SERVICES_32,
    EFI_RUNTIME_SERVICES_64,
    EFI_RUNTIME_SERVICES_SIGNATURE,
    EFI_RUNTIME_SERVICES_SIZE_32,
    EFI_RUNTIME_SERVICES_SIZE_64,
    EFI_SYSTEM_TABLE_32,
    EFI_SYSTEM_TABLE_64,
    EFI_SYSTEM_TABLE_SIGNATURE,
    EFI_SYSTEM_TABLE_SIZE_32,
    EFI_SYSTEM_TABLE_SIZE_64,
    build_table,
)

PAGE = 4096


def _elf_schemas(bits: int) -> tuple[cs.Struct, cs.Struct]:
    addr = cs.Int64ul if bits == 64 else cs.Int32ul
    ehdr = cs.Struct(
        "e_ident" / cs.Bytes(16),
        "e_type" / cs.Int16ul,
        "e_machine" / cs.Int16ul,
        "e_version" / cs.Int32ul,
        "e_entry" / addr,
        "e_phoff" / addr,
        "e_shoff" / addr,
        "e_flags" / cs.Int32ul,
        "e_ehsize" / cs.Int16ul,
        "e_phentsize" / cs.Int16ul,
        "e_phnum" / cs.Int16ul,
        "e_shentsize" / cs.Int16ul,
        "e_shnum" / cs.Int16ul,
        "e_shstrndx" / cs.Int16ul,
    )
    if bits == 64:
        phdr = cs.Struct(
            "p_type" / cs.Int32ul,
            "p_flags" / cs.Int32ul,
            "p_offset" / cs.Int64ul,
            "p_vaddr" / cs.Int64ul,
            "p_paddr" / cs.Int64ul,
            "p_filesz" / cs.Int64ul,
            "p_memsz" / cs.Int64ul,
            "p_align" / cs.Int64ul,
        )
    else:
        phdr = cs.Struct(
            "p_type" / cs.Int32ul,
            "p_offset" / cs.Int32ul,
            "p_vaddr" / cs.Int32ul,
            "p_paddr" / cs.Int32ul,
            "p_filesz" / cs.Int32ul,
            "p_memsz" / cs.Int32ul,
            "p_flags" / cs.Int32ul,
            "p_align" / cs.Int32ul,
        )
    return ehdr, phdr


ELF_NHDR = cs.Struct("n_namesz" / cs.Int32ul, "n_descsz" / cs.Int32ul, "n_type" / cs.Int32ul)
PT_LOAD, PT_NOTE, ET_CORE, EM_X86_64, EM_386 = 1, 4, 4, 62, 3


def elf_note(name: str, ntype: int, desc: bytes) -> bytes:
    n = name.encode() + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return ELF_NHDR.build({"n_namesz": len(n), "n_descsz": len(desc), "n_type": ntype}) + pad(n) + pad(desc)


class Image:
    """A sparse physical address space made of page-granular regions."""

    def __init__(self) -> None:
        self.regions: dict[int, bytearray] = {}  # page-aligned start -> bytes

    def add_region(self, start: int, size: int) -> None:
        assert start % PAGE == 0 and size % PAGE == 0
        for s, b in self.regions.items():
            if start < s + len(b) and s < start + size:
                raise ValueError(f"region {start:#x}+{size:#x} overlaps {s:#x}+{len(b):#x}")
        self.regions[start] = bytearray(size)

    def put(self, pa: int, data: bytes) -> int:
        for s, b in self.regions.items():
            if s <= pa and pa + len(data) <= s + len(b):
                b[pa - s : pa - s + len(data)] = data
                return pa
        raise ValueError(f"{pa:#x}+{len(data):#x} is not inside one region")

    def write_raw(self, path: str) -> None:
        end = max(s + len(b) for s, b in self.regions.items())
        with open(path, "wb") as fh:
            for s in sorted(self.regions):
                fh.seek(s)
                fh.write(self.regions[s])
            fh.truncate(end)

    def write_elf(
        self,
        path: str,
        bits: int = 64,
        notes: list[bytes] | None = None,
        zero_tail: dict[int, int] | None = None,
        truncate_to: int | None = None,
    ) -> None:
        """Write an ELF core. ``zero_tail`` maps a region start to a byte count kept out of
        the file (``p_filesz < p_memsz``); ``truncate_to`` cuts the file short."""
        ehdr, phdr = _elf_schemas(bits)
        note_blob = b"".join(notes or [])
        regions = sorted(self.regions.items())
        nph = len(regions) + (1 if note_blob else 0)
        phoff = ehdr.sizeof()
        off = phoff + nph * phdr.sizeof()
        phs, blobs = [], []
        if note_blob:
            phs.append(
                dict(
                    p_type=PT_NOTE,
                    p_flags=0,
                    p_offset=off,
                    p_vaddr=0,
                    p_paddr=0,
                    p_filesz=len(note_blob),
                    p_memsz=len(note_blob),
                    p_align=4,
                )
            )
            blobs.append(note_blob)
            off += len(note_blob)
        for start, data in regions:
            off += -off % PAGE
            tail = (zero_tail or {}).get(start, 0)
            filesz = len(data) - tail
            phs.append(
                dict(
                    p_type=PT_LOAD,
                    p_flags=7,
                    p_offset=off,
                    p_vaddr=0,
                    p_paddr=start,
                    p_filesz=filesz,
                    p_memsz=len(data),
                    p_align=PAGE,
                )
            )
            blobs.append((off, bytes(data[:filesz])))
            off += filesz
        ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1, 1]) + bytes(9)
        head = ehdr.build(
            dict(
                e_ident=ident,
                e_type=ET_CORE,
                e_machine=EM_X86_64 if bits == 64 else EM_386,
                e_version=1,
                e_entry=0,
                e_phoff=phoff,
                e_shoff=0,
                e_flags=0,
                e_ehsize=ehdr.sizeof(),
                e_phentsize=phdr.sizeof(),
                e_phnum=nph,
                e_shentsize=0,
                e_shnum=0,
                e_shstrndx=0,
            )
        )
        with open(path, "wb") as fh:
            fh.write(head)
            for p in phs:
                fh.write(phdr.build(p))
            if note_blob:
                fh.write(note_blob)
            for b in blobs[1 if note_blob else 0 :]:
                o, data = b
                fh.seek(o)
                fh.write(data)
            if truncate_to is not None:
                fh.truncate(truncate_to)


def ucs2(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\0\0"


def system_table(
    bits: int,
    *,
    vendor: int,
    revision: int,
    fw_revision: int,
    runtime: int,
    nr_tables: int,
    tables: int,
    boot_services: int = 0,
) -> bytes:
    schema = EFI_SYSTEM_TABLE_64 if bits == 64 else EFI_SYSTEM_TABLE_32
    size = EFI_SYSTEM_TABLE_SIZE_64 if bits == 64 else EFI_SYSTEM_TABLE_SIZE_32
    obj = dict(
        Hdr=dict(Signature=EFI_SYSTEM_TABLE_SIGNATURE, Revision=revision, HeaderSize=size, CRC32=0, Reserved=0),
        FirmwareVendor=vendor,
        FirmwareRevision=fw_revision,
        ConsoleInHandle=0,
        ConIn=0,
        ConsoleOutHandle=0,
        ConOut=0,
        StandardErrorHandle=0,
        StdErr=0,
        RuntimeServices=runtime,
        BootServices=boot_services,
        NumberOfTableEntries=nr_tables,
        ConfigurationTable=tables,
    )
    if bits == 64:
        obj["__pad1"] = 0
    return build_table(schema, obj)


def runtime_services(bits: int, revision: int, base_fn: int) -> bytes:
    schema = EFI_RUNTIME_SERVICES_64 if bits == 64 else EFI_RUNTIME_SERVICES_32
    size = EFI_RUNTIME_SERVICES_SIZE_64 if bits == 64 else EFI_RUNTIME_SERVICES_SIZE_32
    names = [sc.name for sc in schema.subcons[1:]]
    obj = {n: base_fn + 0x40 * i for i, n in enumerate(names)}
    obj["Hdr"] = dict(Signature=EFI_RUNTIME_SERVICES_SIGNATURE, Revision=revision, HeaderSize=size, CRC32=0, Reserved=0)
    return build_table(schema, obj)


def config_tables(bits: int, entries: list[tuple[str, int]]) -> bytes:
    schema = EFI_CONFIGURATION_TABLE_64 if bits == 64 else EFI_CONFIGURATION_TABLE_32
    return b"".join(schema.build(dict(VendorGuid=g, VendorTable=t)) for g, t in entries)


def acpi_sdt_header(sig: bytes, length: int, **over: object) -> dict:
    """Fields of an EFI_ACPI_DESCRIPTION_HEADER as QEMU's tables carry them (Checksum 0: fix it after)."""
    h: dict = dict(
        Signature=sig,
        Length=length,
        Revision=1,
        Checksum=0,
        OemId=b"BOCHS ",
        OemTableId=b"BXPC    ",
        OemRevision=1,
        CreatorId=b"BXPC",
        CreatorRevision=1,
    )
    h.update(over)
    return h


def memory_map(descs: list[dict], desc_size: int = 48) -> bytes:
    out = b""
    for d in descs:
        raw = EFI_MEMORY_DESCRIPTOR.build(dict(pad=0, VirtualStart=0, **d))
        out += raw + bytes(desc_size - len(raw))
    return out


def zero_page(
    *, efi: dict | None, e820: list[tuple[int, int, int]], hdrs: bool, version: int = 0x020F, type_of_loader: int = 0x21
) -> bytes:
    """A 4 KiB boot_params with efi_info (schema-built), e820 entries and optionally the setup header magic."""
    bp = bytearray(PAGE)
    if efi is not None:
        bp[0x1C0:0x1E0] = EFI_INFO.build(efi)
    bp[0x1E8] = len(e820)
    for i, (addr, size, typ) in enumerate(e820):
        o = 0x2D0 + 20 * i
        bp[o : o + 20] = addr.to_bytes(8, "little") + size.to_bytes(8, "little") + typ.to_bytes(4, "little")
    if hdrs:
        bp[0x1FE:0x200] = (0xAA55).to_bytes(2, "little")
        bp[0x202:0x206] = b"HdrS"
        bp[0x206:0x208] = version.to_bytes(2, "little")
        bp[0x210] = type_of_loader
    return bytes(bp)


__all__ = ["Image", "elf_note", "guid_to_bytes", "memory_map", "system_table", "zero_page"]
