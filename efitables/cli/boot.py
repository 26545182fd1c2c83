"""The boot sections of ``efitables show``: boot_params (and how it was found), the command
line, setup_data, the E820 table and the boot/EFI cross-checks.

The JSON form is ``Dump.to_dict()["boot"]`` (``Dump.boot_to_dict``). Every string
from the dump (command line, vendor strings, property names) goes through
:func:`efitables.cli.render.safe`.
"""

from __future__ import annotations

import dataclasses

from rich.console import Console
from rich.table import Table

from efitables.cli.payloads import rich_table
from efitables.cli.render import hexa, kv_table, safe
from efitables.cli.show import add_section
from efitables.dump import Dump

#: Rows shown per long table (the JSON has everything).
MAX_ROWS = 200


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
    """The nodes with each payload's one-line summary, then the payloads' sub-tables (Apple devices, ...)."""
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
        summary = n.payload.summary() if n.payload is not None else ""
        t.add_row(str(n.index), hexa(n.address), safe(n.type_name), str(n.len), hexa(n.next), safe(summary))
    con.print(t)
    for n in lst.nodes:
        p = n.effective_payload  # through SETUP_INDIRECT to the payload it names
        for view in p.table_views() if p is not None else []:
            con.print(rich_table(dataclasses.replace(view, title=f"node [{n.index}] {view.title}"), MAX_ROWS))
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
