"""The boot sections of ``efitables show``: boot_params (and how it was found), the command
line, setup_data, the E820 table and the boot/EFI cross-checks.

The JSON form is ``Dump.to_dict()["boot"]`` (``Dump.boot_to_dict``). Every string
from the dump (command line, vendor strings, property names) goes through
:func:`efitables.cli.render.safe`.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from efitables.boot.setup_data import (
    ApplePropertiesPayload,
    CcBlobPayload,
    E820ExtPayload,
    EfiSetupPayload,
    FdtPayload,
    ImaPayload,
    IndirectPayload,
    JailhousePayload,
    KhoPayload,
    PciRomPayload,
    RawPayload,
    RngSeedPayload,
    SetupPayload,
)
from efitables.cli.render import hexa, kv_table, safe
from efitables.cli.show import add_section
from efitables.dump import Dump

#: Rows shown per long table (the JSON has everything).
MAX_ROWS = 200


def payload_summary(p: SetupPayload | None) -> str:
    """One line describing a decoded payload (plain text; the caller escapes it)."""
    if p is None:
        return ""
    if isinstance(p, IndirectPayload):
        head = f"-> {p.indirect_type_name} at {p.target_addr:#x}, {p.target_len} bytes"
        if not p.followed:
            return head + " (not followed)"
        return f"{head}: {payload_summary(p.target)}"
    if isinstance(p, E820ExtPayload):
        return f"{len(p.entries)} E820 entries"
    if isinstance(p, FdtPayload):
        ok = "" if p.valid else " (invalid)"
        return f"FDT magic {p.magic:#010x}, totalsize {p.totalsize}, version {p.version}/{p.last_comp_version}{ok}"
    if isinstance(p, PciRomPayload):
        sig = "55aa" if p.rom_signature == 0xAA55 else hexa(p.rom_signature)
        return (
            f"PCI {p.vendor:04x}:{p.devid:04x} at {p.segment:04x}:{p.bus:02x}:{p.device:02x}.{p.function}, "
            f"ROM {p.pcilen} bytes at {p.rom_address:#x} (signature {sig})"
        )
    if isinstance(p, EfiSetupPayload):
        vendor = f" ({p.fw_vendor_text})" if p.fw_vendor_text else ""
        return f"fw_vendor {p.fw_vendor:#x}{vendor}, runtime {p.runtime:#x}, tables {p.tables:#x}, smbios {p.smbios:#x}"
    if isinstance(p, ApplePropertiesPayload):
        props = sum(len(d.properties) for d in p.devices)
        return f"version {p.version}, {p.dev_count} devices, {props} properties"
    if isinstance(p, JailhousePayload):
        v2 = f", flags {p.flags:#x}" if p.flags is not None else ""
        return (
            f"version {p.version} (compatible {p.compatible_version}), {p.num_cpus} CPUs, "
            f"MMCONFIG {p.pci_mmconfig_base:#x}, TSC {p.tsc_khz} kHz, APIC {p.apic_khz} kHz{v2}"
        )
    if isinstance(p, CcBlobPayload):
        magic = {True: "AMDE magic ok", False: "no AMDE magic", None: "not checked"}[p.magic_ok]
        return f"cc_blob_address {p.cc_blob_address:#x} ({magic})"
    if isinstance(p, ImaPayload):
        return f"IMA buffer {p.addr:#x}, {p.buffer_size} bytes"
    if isinstance(p, KhoPayload):
        return f"KHO FDT {p.fdt_addr:#x} ({p.fdt_size} bytes), scratch {p.scratch_addr:#x} ({p.scratch_size} bytes)"
    if isinstance(p, RngSeedPayload):
        if p.length == 0:
            return "seed wiped by the kernel (len 0)"
        digest = f", sha256 {p.sha256_prefix}..." if p.sha256_prefix else ""
        shown = f" seed {p.seed}" if p.seed is not None else " (redacted; --show-secrets to show)"
        return f"{p.length} bytes{digest}{shown}"
    if isinstance(p, RawPayload):
        more = "..." if p.length > len(p.preview) // 2 else ""
        return f"raw {p.length} bytes: {p.preview[:64]}{more}"
    return p.title


@add_section
def boot_section(con: Console, d: Dump) -> None:
    disc = d.boot_params_discovery
    t = Table(title="boot_params routes", title_justify="left")
    for col in ("route", "address", "status", "detail"):
        t.add_column(col)
    for r in disc.routes:
        t.add_row(r.name, hexa(r.address), r.status, safe(r.detail))
    con.print(t)
    if len(disc.candidates) > 1:
        t = Table(title=f"boot_params candidates ({len(disc.candidates)})", title_justify="left")
        for col in ("address", "found by", "identity", "score", "reasons"):
            t.add_column(col)
        for c in disc.candidates[:20]:
            t.add_row(hexa(c.address), c.found_by, c.identity or "-", str(c.score), safe("; ".join(c.reasons)))
        con.print(t)

    bp = d.boot_params
    if bp is None:
        con.print("[yellow]No boot_params.[/]\n")
        return
    hdr = f"protocol {bp.protocol} ({bp.protocol_version:#06x})" if bp.has_hdrs else "no 'HdrS' (EFI-stub zero page)"
    rows = [
        ("found by", bp.found_by),
        ("setup header", f"{hdr}, boot_flag {bp.boot_flag:#06x}"),
        ("loader", f"{safe(bp.loader)} (type_of_loader {bp.type_of_loader:#04x})"),
        ("loadflags", " ".join(bp.loadflags) or "-"),
        ("xloadflags", " ".join(bp.xloadflags) or "-"),
        ("efi_info", bp.efi_loader_signature or "none (not EFI-booted)"),
    ]
    if bp.efi_loader_signature:
        rows += [
            ("  efi_systab", hexa(bp.efi_systab)),
            (
                "  efi_memmap",
                f"{bp.efi_memmap:#x}, {bp.efi_memmap_size:#x} bytes, stride {bp.efi_memdesc_size}, "
                f"version {bp.efi_memdesc_version}",
            ),
        ]
    rows += [
        ("e820_entries", str(bp.e820_entries)),
        ("acpi_rsdp_addr", hexa(bp.acpi_rsdp_addr)),
        ("cc_blob_address", hexa(bp.cc_blob_address)),
        ("initrd", f"{bp.ramdisk_image:#x}, {bp.ramdisk_size:#x} bytes"),
        ("cmd_line_ptr", f"{bp.cmd_line_ptr:#x} (cmdline_size {bp.cmdline_size})"),
        ("setup_data", hexa(bp.setup_data_ptr)),
        ("secure_boot", bp.secure_boot),
        ("sentinel", f"{bp.sentinel:#x}"),
    ]
    cl = bp.command_line
    if cl is not None:
        text = safe(cl.text) if cl.text else "[dim](empty)[/]"
        rows.append(("command line", text + ("" if cl.terminated else " [yellow](no NUL: truncated)[/]")))
    con.print(kv_table(f"boot_params @ {bp.address:#x}", rows))
    con.print()
    setup_section(con, d)
    e820_section(con, d)
    crosscheck_section(con, d)


def setup_section(con: Console, d: Dump) -> None:
    lst = d.setup_data
    if lst is None:
        return
    if not lst.nodes:
        con.print("setup_data: none" + (" (list incomplete)" if not lst.complete else ""))
        con.print()
        return
    title = f"setup_data ({len(lst.nodes)} nodes{'' if lst.complete else ', walk stopped early'})"
    t = Table(title=title, title_justify="left")
    for col in ("#", "address", "type", "len", "next", "payload"):
        t.add_column(col)
    for n in lst.nodes[:MAX_ROWS]:
        t.add_row(
            str(n.index), hexa(n.address), n.type_name, str(n.len), hexa(n.next), safe(payload_summary(n.payload))
        )
    con.print(t)
    for n in lst.nodes:
        p = n.effective_payload
        if isinstance(p, ApplePropertiesPayload):
            for dev in p.devices[:MAX_ROWS]:
                names = ", ".join(f"{x['name']} ({x['value_length']} bytes)" for x in dev.properties)
                con.print(f"  node [{n.index}] device {'/'.join(dev.device_path) or '-'}: {safe(names)}")
    con.print()


def e820_section(con: Console, d: Dump) -> None:
    e = d.e820
    if e is None:
        return
    title = f"E820 table ({e.from_boot_params} from boot_params, {e.from_setup_data} from SETUP_E820_EXT)"
    t = Table(title=title, title_justify="left")
    for col in ("#", "range", "size", "type", "source"):
        t.add_column(col)
    for x in e.entries[:MAX_ROWS]:
        t.add_row(str(x.index), f"{x.addr:#x}-{x.end:#x}", f"{x.length:#x}", x.type_name, x.source)
    if len(e.entries) > MAX_ROWS:
        t.add_row("...", "", "", "", f"{len(e.entries) - MAX_ROWS} more (see --json)")
    con.print(t)
    con.print()


_STATUS = {"agrees": "[green]agrees[/]", "disagrees": "[red]disagrees[/]"}


def crosscheck_section(con: Console, d: Dump) -> None:
    xc = d.boot_crosschecks
    t = Table(title="boot / EFI cross-checks", title_justify="left")
    for col in ("check", "status", "values", "detail"):
        t.add_column(col)
    for c in xc.checks:
        values = ", ".join(f"{k} {hexa(v)}" for k, v in c.values.items())
        t.add_row(c.name, _STATUS.get(c.status, c.status), values, safe(c.detail))
    con.print(t)
    if xc.regions:
        t = Table(title="Where each object lives", title_justify="left")
        for col in ("object", "address", "EFI type", "E820 type", "verdict"):
            t.add_column(col)
        for r in xc.regions[:MAX_ROWS]:
            efi = (r.efi_type or "-") + (" +RUNTIME" if r.efi_runtime else "")
            verdict = r.verdict if r.verdict.startswith("ok") else f"[yellow]{r.verdict}[/]"
            t.add_row(safe(r.object), hexa(r.address), efi, r.e820_type or "-", verdict)
        con.print(t)
    con.print()
