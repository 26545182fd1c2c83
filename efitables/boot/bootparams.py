"""``struct boot_params`` (the zero page) parsed and checked, with the command line it names.

Layout: :mod:`efitables.schemas.boot_params` (torvalds/linux
arch/x86/include/uapi/asm/bootparam.h@v6.12.117); field meanings, flags and
protocol versions from Documentation/arch/x86/boot.rst@v6.12.117 and
Documentation/arch/x86/zero-page.rst@v6.12.117. A native 64-bit EFI-stub boot
leaves the kernel's copy with no ``HdrS`` and version 0: ``efi_pe_entry`` in
drivers/firmware/efi/libstub/x86-stub.c@v6.12.117 (and the Linux 6.1 stable
kernels it was backported to) fills only the few setup-header fields the kernel
reads, and QEMU/OVMF dumps of such boots show exactly that. So a missing header
is information when ``efi_info`` says ``EL64``/``EL32``, and an error otherwise.
64-bit pointers are combined from their ``ext_``/``_hi`` halves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from efitables.boot.e820 import E820Entry, cap_entry_findings, decode_entries
from efitables.caps import count_cap
from efitables.efi.memmap import EfiMemoryMap, parse_memmap
from efitables.errors import MemoryReadError
from efitables.findings import Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.model import Parsed
from efitables.schemas.boot_params import (
    BOOT_FLAG,
    BOOT_PARAMS,
    BOOT_PARAMS_SIZE,
    COMMAND_LINE_SIZE,
    E820_MAX_ENTRIES_ZEROPAGE,
    E820_TABLE_OFFSET,
    EDD_MBR_SIG_MAX,
    EDDMAXNR,
    HDRS_MAGIC,
    LOADFLAGS,
    SECURE_BOOT,
    XLOADFLAGS,
    flag_names,
    loader_name,
)
from efitables.schemas.efi_info import EFI32_LOADER_SIGNATURE, EFI64_LOADER_SIGNATURE
from efitables.schemas.pvh import PVH_BOOT_PROTOCOL, PVH_LOADER_OTHER, PVH_LOADER_XEN

S = "boot_params"
BP_NO_HDRS = register(
    "BOOT-PARAMS-NO-HDRS",
    Severity.INFO,
    "boot_params has no 'HdrS' setup header (an EFI-stub zero page)",
    "After a native 64-bit EFI-stub boot the kernel's copy of the zero page has an almost empty "
    "setup header; efi_info and the E820 table identify it.",
)
BP_NOT_ZERO_PAGE = register(
    "BOOT-PARAMS-UNIDENTIFIED",
    Severity.ERROR,
    "boot_params has neither 'HdrS' nor an EL64/EL32 efi_info",
    "Nothing at this address identifies a zero page; every field shown may be unrelated data.",
)
BP_PVH = register(
    "BOOT-PARAMS-PVH",
    Severity.INFO,
    "boot_params was built by the kernel from a Xen PVH start info (no 'HdrS')",
    "init_pvh_bootparams (arch/x86/platform/pvh/enlighten.c@v6.1) fills only the E820 table, "
    "cmd_line_ptr, the initrd, hdr.version 2.12 and type_of_loader 0x90 (Xen) or 0xb0: "
    "no setup header, no efi_info (efitables.boot.pvh has the start info).",
)
BP_BOOT_FLAG = register(
    "BOOT-PARAMS-BOOT-FLAG",
    Severity.INFO,
    "setup_header boot_flag is not 0xAA55",
    "The boot protocol defines it as 0xAA55 for loaders to check in the kernel image; a zero page "
    "with another value still boots. "
    "A kernel started by kexec holds 0x0055 in its own copy (seen in dumps/real, confirmed by the "
    "guest's /sys/kernel/boot_params/data).",
)
BP_VERSION = register(
    "BOOT-PARAMS-VERSION", Severity.WARNING, "Boot protocol version is outside 2.00-2.ff (or is the burnt 2.14)"
)
BP_SENTINEL = register(
    "BOOT-PARAMS-SENTINEL",
    Severity.WARNING,
    "boot_params.sentinel is non-zero: the kernel zeroes most fields (sanitize_boot_params)",
)
BP_E820_COUNT = register(
    "BOOT-PARAMS-E820-COUNT", Severity.ERROR, "e820_entries exceeds the zero page's 128-entry table"
)
BP_EDD_COUNT = register("BOOT-PARAMS-EDD-COUNT", Severity.WARNING, "eddbuf_entries > 6 or edd_mbr_sig_buf_entries > 16")
BP_CMDLINE_UNTERMINATED = register(
    "BOOT-CMDLINE-UNTERMINATED",
    Severity.WARNING,
    "The kernel command line has no NUL within cmdline_size (shown truncated)",
)
BP_CMDLINE_UNREADABLE = register(
    "BOOT-CMDLINE-UNREADABLE", Severity.WARNING, "cmd_line_ptr names memory the dump does not hold"
)
BP_CMDLINE_SIZE = register(
    "BOOT-CMDLINE-SIZE", Severity.INFO, "cmdline_size is 0 or larger than x86's COMMAND_LINE_SIZE; 2047 used"
)
BP_RSDP = register(
    "BOOT-PARAMS-RSDP", Severity.WARNING, "acpi_rsdp_addr does not point to an 'RSD PTR ' signature in the dump"
)
BP_RAMDISK = register("BOOT-PARAMS-RAMDISK", Severity.WARNING, "The initrd address plus size overflows")
BP_EFI_INFO = register(
    "BOOT-PARAMS-EFI-INFO", Severity.WARNING, "efi_info is inconsistent (EL32 with high halves, NULL system table)"
)

#: The largest command line efitables reads (x86's is 2048 including the NUL).
MAX_CMDLINE = 64 * 1024


@dataclass(kw_only=True)
class CommandLine(Parsed):
    """The kernel command line; ``text`` is dump data (escape it when printing)."""

    kind = "cmdline"

    text: str
    terminated: bool
    limit: int  # the bound used (cmdline_size, or 2047)

    @property
    def title(self) -> str:
        return f"command line ({len(self.text)} chars)"


@dataclass(kw_only=True)
class BootParams(Parsed):
    kind = "boot_params"

    found_by: str
    has_hdrs: bool
    boot_flag: int
    protocol_version: int
    protocol: str  # "2.15", or "" without HdrS
    type_of_loader: int
    loader: str
    loadflags: list[str]
    xloadflags: list[str]
    efi_loader_signature: str | None  # "EL64", "EL32", or None
    efi_systab: int
    efi_memmap: int
    efi_memmap_size: int
    efi_memdesc_size: int
    efi_memdesc_version: int
    e820_entries: int
    acpi_rsdp_addr: int
    cc_blob_address: int
    cmd_line_ptr: int
    cmdline_size: int
    ramdisk_image: int
    ramdisk_size: int
    setup_data_ptr: int
    secure_boot: str
    sentinel: int
    tboot_addr: int
    command_line: CommandLine | None = None
    e820_table: list[E820Entry] = field(default_factory=list, repr=False)

    @property
    def efi_bits(self) -> int | None:
        return {"EL64": 64, "EL32": 32}.get(self.efi_loader_signature or "")

    @property
    def title(self) -> str:
        what = f"protocol {self.protocol}" if self.has_hdrs else "no HdrS"
        efi = f", {self.efi_loader_signature}" if self.efi_loader_signature else ""
        return f"boot_params ({what}{efi})"

    def children(self) -> list[Parsed]:
        return [self.command_line] if self.command_line is not None else []

    def to_dict(self, raw: bool = False) -> dict:
        d = super().to_dict(raw)
        d["command_line"] = self.command_line.to_dict(raw) if self.command_line else None
        d.pop("e820_table", None)  # shown once, in the merged E820 table
        return d


def protocol_text(version: int) -> str:
    return f"{version >> 8}.{version & 0xFF:02d}"


def read_cmdline(mem: PhysicalMemory, pa: int, cmdline_size: int) -> CommandLine:
    """Read the NUL-terminated command line at ``pa``, at most ``cmdline_size`` characters."""
    name = "kernel command line"
    findings = []
    limit = cmdline_size
    if not 0 < limit <= MAX_CMDLINE:
        findings.append(
            make(BP_CMDLINE_SIZE, name, pa, f"cmdline_size {cmdline_size}; reading at most {COMMAND_LINE_SIZE - 1}")
        )
        limit = COMMAND_LINE_SIZE - 1
    want = limit + 1  # the NUL
    gap = mem.first_gap(pa, want) if pa + want <= MAX_PHYS_ADDR else (pa, pa + want)
    n = want if gap is None else gap[0] - pa
    if n <= 0:
        findings.append(make(BP_CMDLINE_UNREADABLE, name, pa, f"cmd_line_ptr {pa:#x} is not in the dump"))
        return CommandLine(address=pa, size=0, findings=findings, text="", terminated=False, limit=limit)
    data = mem.read(pa, n, structure=name)
    nul = data.find(b"\0")
    terminated = 0 <= nul <= limit
    body = data[:nul] if terminated else data[:limit]
    if not terminated:
        why = f"before a hole at {gap[0]:#x}" if gap is not None and n < want else f"within {limit} characters"
        findings.append(make(BP_CMDLINE_UNTERMINATED, name, pa, f"no NUL {why}"))
    return CommandLine(
        address=pa,
        size=len(body) + (1 if terminated else 0),
        raw=body,
        findings=findings,
        text=body.decode("utf-8", "backslashreplace"),
        terminated=terminated,
        limit=limit,
    )


def parse_boot_params(mem: PhysicalMemory, pa: int, *, found_by: str = "") -> BootParams | None:
    """Parse and check the zero page at ``pa``; None if its 4 KiB are not in the dump."""
    try:
        raw = mem.read(pa, BOOT_PARAMS_SIZE, structure=S)
    except MemoryReadError:
        return None
    f = BOOT_PARAMS.parse(raw)
    h = f.hdr
    ei = f.efi_info
    sig = int.from_bytes(raw[0x1C0:0x1C4], "little")  # the schema's Enum gives names
    efi_sig = {EFI64_LOADER_SIGNATURE: "EL64", EFI32_LOADER_SIGNATURE: "EL32"}.get(sig)
    has_hdrs = h.header == HDRS_MAGIC
    findings = []

    if not has_hdrs:
        if efi_sig:
            findings.append(
                make(BP_NO_HDRS, S, pa, f"header {h.header:#x}, version {h.version:#x}; identified by {efi_sig}")
            )
        elif h.version == PVH_BOOT_PROTOCOL and h.type_of_loader in (PVH_LOADER_XEN, PVH_LOADER_OTHER):
            findings.append(make(BP_PVH, S, pa, f"version {h.version:#06x}, type_of_loader {h.type_of_loader:#04x}"))
        else:
            findings.append(make(BP_NOT_ZERO_PAGE, S, pa, f"header {h.header:#x}, efi_loader_signature {sig:#x}"))
    else:
        if h.boot_flag != BOOT_FLAG:
            findings.append(make(BP_BOOT_FLAG, S, pa + 0x1FE, f"boot_flag {h.boot_flag:#06x}"))
        if not 0x200 <= h.version <= 0x2FF:
            findings.append(make(BP_VERSION, S, pa + 0x206, f"version {h.version:#06x}"))
        elif h.version == 0x20E:
            findings.append(make(BP_VERSION, S, pa + 0x206, "protocol 2.14 is declared burnt; treated as 2.13"))
    if f.sentinel:
        findings.append(make(BP_SENTINEL, S, pa + 0x1EF, f"sentinel {f.sentinel:#x}"))

    count, too_many = count_cap(
        f.e820_entries, E820_MAX_ENTRIES_ZEROPAGE, BP_E820_COUNT, S, pa + 0x1E8, f"e820_entries {f.e820_entries}"
    )
    if too_many is not None:
        findings.append(too_many)
    if f.eddbuf_entries > EDDMAXNR or f.edd_mbr_sig_buf_entries > EDD_MBR_SIG_MAX:
        findings.append(
            make(
                BP_EDD_COUNT,
                S,
                pa + 0x1E9,
                f"eddbuf_entries {f.eddbuf_entries}, edd_mbr_sig_buf_entries {f.edd_mbr_sig_buf_entries}",
            )
        )
    e820 = decode_entries(raw[E820_TABLE_OFFSET:], pa + E820_TABLE_OFFSET, count, "boot_params")
    findings.extend(cap_entry_findings(e820, S, pa + E820_TABLE_OFFSET))

    systab = ei.efi_systab | ei.efi_systab_hi << 32
    memmap = ei.efi_memmap | ei.efi_memmap_hi << 32
    if efi_sig == "EL32" and (ei.efi_systab_hi or ei.efi_memmap_hi):
        findings.append(make(BP_EFI_INFO, S, pa + 0x1C0, "EL32 (32-bit firmware) with non-zero high halves"))
    if efi_sig and systab == 0:
        findings.append(make(BP_EFI_INFO, S, pa + 0x1C0, f"{efi_sig} but efi_systab is 0"))

    cmd_ptr = h.cmd_line_ptr | f.ext_cmd_line_ptr << 32
    rd_image = h.ramdisk_image | f.ext_ramdisk_image << 32
    rd_size = h.ramdisk_size | f.ext_ramdisk_size << 32
    if rd_image + rd_size > 1 << 64:
        findings.append(make(BP_RAMDISK, S, pa + 0x218, f"ramdisk {rd_image:#x} + {rd_size:#x}"))

    if f.acpi_rsdp_addr:
        try:
            ok = mem.read(f.acpi_rsdp_addr, 8, structure="ACPI RSDP") == b"RSD PTR "
            if not ok:
                findings.append(make(BP_RSDP, S, pa + 0x70, f"no 'RSD PTR ' at {f.acpi_rsdp_addr:#x}"))
        except MemoryReadError as e:
            findings.append(make(BP_RSDP, S, pa + 0x70, e.reason))
    # cc_blob_address is followed, and its blob judged, by the SNP analysis (efitables.snp), once

    bp = BootParams(
        address=pa,
        size=BOOT_PARAMS_SIZE,
        raw=raw,
        fields=f,
        schema=BOOT_PARAMS,
        findings=findings,
        found_by=found_by,
        has_hdrs=has_hdrs,
        boot_flag=h.boot_flag,
        protocol_version=h.version,
        protocol=protocol_text(h.version) if has_hdrs else "",
        type_of_loader=h.type_of_loader,
        loader=loader_name(h.type_of_loader, h.ext_loader_type),
        loadflags=flag_names(h.loadflags, LOADFLAGS),
        xloadflags=flag_names(h.xloadflags, XLOADFLAGS),
        efi_loader_signature=efi_sig,
        efi_systab=systab,
        efi_memmap=memmap,
        efi_memmap_size=ei.efi_memmap_size,
        efi_memdesc_size=ei.efi_memdesc_size,
        efi_memdesc_version=ei.efi_memdesc_version,
        e820_entries=f.e820_entries,
        acpi_rsdp_addr=f.acpi_rsdp_addr,
        cc_blob_address=f.cc_blob_address,
        cmd_line_ptr=cmd_ptr,
        cmdline_size=h.cmdline_size,
        ramdisk_image=rd_image,
        ramdisk_size=rd_size,
        setup_data_ptr=h.setup_data,
        secure_boot=SECURE_BOOT.get(f.secure_boot, f"invalid ({f.secure_boot})"),
        sentinel=f.sentinel,
        tboot_addr=f.tboot_addr,
        e820_table=e820,
    )
    if cmd_ptr:
        bp.command_line = read_cmdline(mem, cmd_ptr, h.cmdline_size)
    return bp


def efi_memmap_of(mem: PhysicalMemory, bp: BootParams) -> EfiMemoryMap | None:
    """The EFI memory map ``efi_info`` names (:func:`efitables.efi.memmap.parse_memmap`), or None."""
    if bp.efi_loader_signature is None or bp.efi_memmap == 0:
        return None
    return parse_memmap(mem, bp.efi_memmap, bp.efi_memmap_size, bp.efi_memdesc_size, bp.efi_memdesc_version)
