"""Fixtures of configuration-table payloads, built with efitables' own schemas."""

from __future__ import annotations

from dataclasses import dataclass

import construct as cs

from dumps.builder import acpi_sdt_header as sdt_header
from efitables.schemas.payloads import acpi, edk2, esrt, linux_tables, memattr, smbios, tcg
from efitables.schemas.payloads.acpi import fix_checksum


@dataclass
class Entry:
    """What decode_payload needs of a configuration table entry."""

    guid: str
    table_address: int
    name: str | None = None
    size: int = 24  # 20 for a 32-bit firmware's entry


def roundtrip(schema: cs.Construct, data: bytes) -> cs.Container:
    """construct's three-way check: build(parse(b)) == b, parse(build(x)) == x, sizeof."""
    obj = schema.parse(data)
    assert schema.build(obj) == data
    assert schema.parse(schema.build(obj)) == obj
    try:
        assert schema.sizeof() == len(data)
    except cs.SizeofError:
        pass
    return obj


def acpi_table(sig: bytes, body: bytes = b"", **over) -> bytes:
    raw = acpi.EFI_ACPI_DESCRIPTION_HEADER.build(sdt_header(sig, 36 + len(body), **over)) + body
    return fix_checksum(raw, 9, len(raw))


def rsdt(entries: list[int], xsdt: bool = False, **over) -> bytes:
    schema = acpi.XSDT if xsdt else acpi.RSDT
    n = 36 + (8 if xsdt else 4) * len(entries)
    raw = schema.build(dict(Header=sdt_header(b"XSDT" if xsdt else b"RSDT", n, **over), Entry=entries))
    return fix_checksum(raw, 9, len(raw))


def rsdp(revision: int = 2, rsdt_address: int = 0, xsdt_address: int = 0, oem: bytes = b"BOCHS ") -> bytes:
    if revision < 2:
        raw = acpi.EFI_ACPI_1_0_ROOT_SYSTEM_DESCRIPTION_POINTER.build(
            dict(Signature=b"RSD PTR ", Checksum=0, OemId=oem, Revision=revision, RsdtAddress=rsdt_address)
        )
        return fix_checksum(raw, 8, 20)
    raw = acpi.EFI_ACPI_2_0_ROOT_SYSTEM_DESCRIPTION_POINTER.build(
        dict(
            Signature=b"RSD PTR ",
            Checksum=0,
            OemId=oem,
            Revision=revision,
            RsdtAddress=rsdt_address,
            Length=36,
            XsdtAddress=xsdt_address,
            ExtendedChecksum=0,
            Reserved=b"\0\0\0",
        )
    )
    raw = fix_checksum(raw, 8, 20)
    return fix_checksum(raw, 32, 36)


def smbios_structure(type_: int, handle: int, formatted: bytes = b"", strings: list[bytes] | None = None) -> bytes:
    head = smbios.SMBIOS_STRUCTURE.build(dict(Type=type_, Length=4 + len(formatted), Handle=handle)) + formatted
    if not strings:
        return head + b"\0\0"
    return head + b"\0".join(strings) + b"\0\0"


def smbios_table() -> bytes:
    return (
        smbios_structure(
            0,
            0,
            bytes([1, 2, 0, 0xE8, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            [b"EFI Development Kit II / OVMF", b"0.0.0", b"02/06/2015"],
        )
        + smbios_structure(
            1, 0x100, bytes([1, 2, 0, 0] + [0] * 16 + [6, 0, 0]), [b"QEMU", b"Standard PC (Q35 + ICH9, 2009)"]
        )
        + smbios_structure(3, 0x300, bytes([1, 1, 0, 0, 0, 3, 3, 3, 2] + [0] * 8), [b"QEMU"])
        + smbios_structure(127, 0x7F00)
    )


def smbios2_ep(table_address: int, table: bytes, count: int = 4, major: int = 2, minor: int = 8, **over) -> bytes:
    ep = dict(
        AnchorString=b"_SM_",
        EntryPointStructureChecksum=0,
        EntryPointLength=0x1F,
        MajorVersion=major,
        MinorVersion=minor,
        MaxStructureSize=0x100,
        EntryPointRevision=0,
        FormattedArea=bytes(5),
        IntermediateAnchorString=b"_DMI_",
        IntermediateChecksum=0,
        TableLength=len(table),
        TableAddress=table_address,
        NumberOfSmbiosStructures=count,
        SmbiosBcdRevision=0x28,
    )
    ep.update(over)
    raw = smbios.SMBIOS_TABLE_ENTRY_POINT.build(ep)
    b = bytearray(raw)
    b[0x15] = (-sum(b[0x10:0x1F])) & 0xFF  # intermediate checksum first: bytes 0x10..0x1E
    b[4] = 0
    b[4] = (-sum(b[:0x1F])) & 0xFF
    return bytes(b)


def smbios3_ep(table_address: int, max_size: int, **over) -> bytes:
    ep = dict(
        AnchorString=b"_SM3_",
        EntryPointStructureChecksum=0,
        EntryPointLength=0x18,
        MajorVersion=3,
        MinorVersion=0,
        DocRev=0,
        EntryPointRevision=1,
        Reserved=0,
        TableMaximumSize=max_size,
        TableAddress=table_address,
    )
    ep.update(over)
    return fix_checksum(smbios.SMBIOS_TABLE_3_0_ENTRY_POINT.build(ep), 5, 0x18)


def memdesc(type_: int, start: int, pages: int, attr: int, desc_size: int = 48) -> bytes:
    from efitables.schemas.efi_memmap import EFI_MEMORY_DESCRIPTOR

    raw = EFI_MEMORY_DESCRIPTOR.build(
        dict(Type=type_, pad=0, PhysicalStart=start, VirtualStart=0, NumberOfPages=pages, Attribute=attr)
    )
    return raw + bytes(desc_size - len(raw))


def memattr_table(
    descs: list[bytes], version: int = 2, desc_size: int = 48, flags: int = 0, count: int | None = None
) -> bytes:
    head = memattr.EFI_MEMORY_ATTRIBUTES_TABLE.build(
        dict(
            Version=version,
            NumberOfEntries=len(descs) if count is None else count,
            DescriptorSize=desc_size,
            Flags=flags,
        )
    )
    return head + b"".join(descs)


def esrt_table(entries: list[dict], count_max: int | None = None, version: int = 1) -> bytes:
    head = esrt.EFI_SYSTEM_RESOURCE_TABLE.build(
        dict(
            FwResourceCount=len(entries),
            FwResourceCountMax=len(entries) if count_max is None else count_max,
            FwResourceVersion=version,
        )
    )
    return head + b"".join(esrt.EFI_SYSTEM_RESOURCE_ENTRY.build(e) for e in entries)


def random_seed(bits: bytes, size: int | None = None) -> bytes:
    return linux_tables.LINUX_EFI_RANDOM_SEED.build(dict(size=len(bits) if size is None else size)) + bits


def memreserve_node(
    ranges: list[tuple[int, int]], next_pa: int = 0, capacity: int | None = None, count: int | None = None
) -> bytes:
    cap = len(ranges) if capacity is None else capacity
    head = linux_tables.LINUX_EFI_MEMRESERVE.build(
        dict(size=cap, count=len(ranges) if count is None else count, next=next_pa)
    )
    body = b"".join(linux_tables.LINUX_EFI_MEMRESERVE_ENTRY.build(dict(base=b, size=s)) for b, s in ranges)
    return head + body + bytes(16 * max(0, cap - len(ranges)))


def unaccepted(bitmap: bytes, phys_base: int = 0x100000000, unit: int = 0x200000, version: int = 1) -> bytes:
    return (
        linux_tables.EFI_UNACCEPTED_MEMORY.build(
            dict(version=version, unit_size=unit, phys_base=phys_base, size=len(bitmap))
        )
        + bitmap
    )


def boot_memmap(descs: list[bytes], desc_size: int = 48, buff_size: int | None = None) -> bytes:
    n = len(descs) * desc_size
    return linux_tables.EFI_BOOT_MEMMAP.build(
        dict(
            map_size=n,
            desc_size=desc_size,
            desc_ver=1,
            map_key=0x1234,
            buff_size=n + 0x100 if buff_size is None else buff_size,
        )
    ) + b"".join(descs)


def tpm_log_v2(n_events: int = 3) -> bytes:
    """A crypto-agile log: Spec ID event (sha1 + sha256) and ``n_events`` TCG_PCR_EVENT2 records."""
    import struct

    algs = [(0x0004, 20), (0x000B, 32)]
    spec = tcg.TCG_EFI_SPECID_EVENT_HEAD.build(
        dict(
            signature=tcg.TCG_SPECID_SIG,
            platform_class=0,
            spec_version_minor=0,
            spec_version_major=2,
            spec_errata=0,
            uintnsize=2,
            num_algs=len(algs),
        )
    )
    spec += b"".join(struct.pack("<HH", a, s) for a, s in algs) + b"\0"  # vendor info size 0
    log = (
        tcg.TCG_PCR_EVENT.build(dict(pcr_idx=0, event_type=tcg.EV_NO_ACTION, digest=bytes(20), event_size=len(spec)))
        + spec
    )
    for i in range(n_events):
        data = b"event %d" % i
        log += struct.pack("<III", i, 0xD, len(algs))
        log += b"".join(struct.pack("<H", a) + bytes([i]) * s for a, s in algs)
        log += struct.pack("<I", len(data)) + data
    return log


def tpm_eventlog_table(log: bytes, version: int = 2, preboot: int = 0) -> bytes:
    return (
        tcg.LINUX_EFI_TPM_EVENTLOG.build(dict(size=len(log), final_events_preboot_size=preboot, version=version)) + log
    )


def phit(end_of_hob_list: int, **over) -> bytes:
    f = dict(
        Header=dict(HobType=1, HobLength=0x38, Reserved=0),
        Version=9,
        BootMode=0,
        EfiMemoryTop=0x8000000,
        EfiMemoryBottom=0x7000000,
        EfiFreeMemoryTop=0x7F00000,
        EfiFreeMemoryBottom=0x7100000,
        EfiEndOfHobList=end_of_hob_list,
    )
    f.update(over)
    return edk2.EFI_HOB_HANDOFF_INFO_TABLE.build(f)
