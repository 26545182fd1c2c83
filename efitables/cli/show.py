"""``efitables show``: everything efitables finds in one or more dumps."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click
from rich.console import Console
from rich.table import Table

from efitables import jsonout
from efitables.cli import EXIT_FINDINGS, EXIT_OK, EXIT_OPEN, cli, open_dump, scan_progress
from efitables.cli.options import dump_options
from efitables.cli.payloads import payload_section
from efitables.cli.payloads import summary as payload_summary
from efitables.cli.render import findings_table, hexa, kv_table, make_console, safe
from efitables.dump import Dump
from efitables.errors import EfitablesError
from efitables.findings import Severity

Section = Callable[[Console, Dump], None]

#: Text sections of ``show``, in order. Areas append theirs with :func:`add_section`.
SECTIONS: list[Section] = []


def add_section(fn: Section) -> Section:
    SECTIONS.append(fn)
    return fn


@add_section
def container_section(con: Console, d: Dump) -> None:
    mem = d.memory
    ranges = mem.ranges()
    rows = [
        ("file", safe(d.path)),
        ("format", mem.info.format),
        ("file size", f"{mem.info.file_size:#x}"),
        ("physical ranges", f"{len(ranges)} ({mem.total_size():#x} bytes present)"),
    ]
    if ranges:
        rows.append(("lowest..highest", f"{ranges[0].start:#x}..{ranges[-1].end:#x}"))
    if mem.vmcoreinfo:
        rows.append(("VMCOREINFO", safe(mem.vmcoreinfo.get("OSRELEASE", "(present)"))))
    con.print(kv_table("Dump", rows))
    con.print()


@add_section
def efi_section(con: Console, d: Dump) -> None:
    disc = d.systab_discovery
    t = Table(title="EFI system table routes", title_justify="left")
    for col in ("route", "address", "status", "detail"):
        t.add_column(col)
    for r in disc.routes:
        t.add_row(r.name, hexa(r.address), r.status, safe(r.detail))
    con.print(t)
    rejected = [c for c in disc.candidates if not c.accepted]
    if rejected:
        t = Table(title=f"Rejected signature hits ({len(rejected)})", title_justify="left")
        t.add_column("address", justify="right")
        t.add_column("kind")
        t.add_column("why")
        for c in rejected[:50]:
            t.add_row(hexa(c.address), c.kind, safe(c.reason))
        if len(rejected) > 50:
            t.add_row("...", "", f"{len(rejected) - 50} more (see --json)")
        con.print(t)
    st = d.systab
    if st is None:
        con.print("[yellow]No EFI system table.[/]\n")
        return

    def ptr(p: object) -> str:
        from efitables.efi.systab import ResolvedPointer

        assert isinstance(p, ResolvedPointer)
        if p.route == "physical" or p.route == "null":
            return hexa(p.stored)
        return f"{p.stored:#x} (virtual) -> {hexa(p.physical)} via {p.route}"

    crc = "-" if st.crc_ok is None else ("ok" if st.crc_ok else f"MISMATCH (computed {st.crc32_computed:#010x})")
    con.print(
        kv_table(
            f"EFI system table @ {st.address:#x}",
            [
                ("found by", st.found_by),
                ("layout", f"{st.bits}-bit, HeaderSize {st.header_size:#x}"),
                ("revision", f"{st.revision_text} (UEFI {st.spec_version}, {st.revision:#010x})"),
                ("CRC32", f"{st.crc32:#010x} {crc}"),
                (
                    "FirmwareVendor",
                    f"{safe(st.firmware_vendor) if st.firmware_vendor is not None else '-'}"
                    f"  @ {ptr(st.firmware_vendor_ptr)}",
                ),
                ("FirmwareRevision", f"{st.firmware_revision:#x}"),
                ("RuntimeServices", ptr(st.runtime_services_ptr)),
                ("BootServices", hexa(st.boot_services)),
                ("NumberOfTableEntries", str(st.nr_tables)),
                ("ConfigurationTable", ptr(st.config_table_ptr)),
            ],
        )
    )
    t = Table(title=f"Configuration tables ({len(st.config_tables)})", title_justify="left")
    for col in ("#", "GUID", "name", "VendorTable", "in dump", "payload"):
        t.add_column(col)
    for e in st.config_tables:
        payload = payload_summary(e.payload) if e.payload is not None else ""
        t.add_row(
            str(e.index),
            e.guid,
            safe(e.name) if e.name else "[dim]unknown[/]",
            hexa(e.table_address),
            "yes" if e.readable else "[red]no[/]",
            safe(payload),
        )
    con.print(t)
    con.print()


add_section(payload_section)  # decoded configuration-table payloads (efitables.cli.payloads)


@add_section
def memmap_section(con: Console, d: Dump) -> None:
    mm = d.efi_memmap
    if mm is None:
        return
    t = Table(
        title=f"EFI memory map @ {mm.address:#x} ({len(mm.descriptors)} descriptors, stride {mm.descriptor_size})",
        title_justify="left",
    )
    for col in ("#", "type", "physical", "pages", "virtual", "attributes"):
        t.add_column(col)
    for x in mm.descriptors:
        t.add_row(
            str(x.index),
            x.type_name,
            f"{x.physical_start:#x}-{x.physical_end:#x}",
            f"{x.number_of_pages:#x}",
            hexa(x.virtual_start) if x.virtual_start else "",
            " ".join(n.removeprefix("EFI_MEMORY_") for n in x.attribute_names),
        )
    con.print(t)
    con.print()


def findings_section(con: Console, d: Dump) -> None:
    fs = d.findings
    if fs:
        con.print(findings_table(fs))
    else:
        con.print("No findings.")


@cli.command()
@click.argument("dumps", nargs=-1, required=True, type=click.Path(dir_okay=True))
@dump_options
@click.option("--json", "as_json", is_flag=True, help="JSON output (several dumps: one report each in 'dumps').")
@click.option("--raw", is_flag=True, help="With --json: include each object's raw bytes as hex.")
def show(dumps: tuple[str, ...], as_json: bool, raw: bool, **opts: object) -> None:
    """Show the EFI and boot structures found in DUMPS."""
    code = EXIT_OK
    out = []
    con = make_console()
    for path in dumps:
        try:
            with scan_progress(not as_json) as progress:
                d = open_dump(path, opts, progress)
                with d:
                    if as_json:
                        out.append(jsonout.show_report(d, raw=raw))
                    else:
                        for section in SECTIONS:
                            section(con, d)
                        findings_section(con, d)
                    if any(f.severity >= Severity.ERROR for f in d.findings):
                        code = max(code, EXIT_FINDINGS)
        except EfitablesError as e:
            click.echo(f"efitables: {e}", err=True)
            code = EXIT_OPEN
            if as_json:
                out.append({"dump": jsonout.dump_header(path), "error": str(e)})
    if as_json:
        # one dump: its report is the document; several: one document with a report per dump
        jsonout.write(out[0] if len(out) == 1 else {"dumps": out}, "show", sys.stdout)
    sys.exit(code)
