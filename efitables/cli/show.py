"""``efitables show``: the answer first, then the findings, then (on request) the tables.

The text report of each dump starts with a **summary** of at most
:data:`MAX_SUMMARY_LINES` lines (:func:`summary_rows`): the container, the EFI
system table and how it was found, the configuration tables that matter, the EFI
memory map, boot_params and its setup_data, the CC blob (an SNP guest only), the
running kernel's own view, the kexec coverage verdict, the worst findings with the
counts by severity, and a last line with the verdict ``efitables validate`` gives
the same dump (:func:`efitables.validate.validate_dump` on the same opened Dump:
the two cannot disagree). Then every error and warning, one a line (the infos are
counted; ``--full`` lists them).

The long tables (routes, every configuration table and decoded payload, ACPI and
SMBIOS tables, the EFI memory map, boot_params, setup_data, E820, cross-checks, the
SEV-SNP pages, the kernel's copies) are printed with ``--full``, or one area at a
time with ``--section NAME`` (repeatable; the names are the keys of
:data:`efitables.analysis.AREAS`). Text sections are registered by the modules
that own them with :func:`add_section` (efitables.cli.boot, .snp, ...);
:data:`SECTION_AREAS` says which area each one shows. ``--json`` prints the whole
report, as before, whatever the other options.

The coverage line judges :meth:`Dump.coverage` with its default model and no
page-table root: :mod:`efitables.analysis.coverage` takes its inputs from the
areas the report already parsed and reads no byte of the dump, and no page table
is walked (that needs ``--pgd``), so the line costs neither a sweep nor a walk
(measured at most 0.06 s after the report on each real dump of dumps/real/corpus),
hinted dump or not.

Every string that came out of a dump goes through :func:`efitables.cli.render.safe`.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable

import click
from rich.console import Console
from rich.table import Table

from efitables import jsonout
from efitables.analysis import AREAS, Area
from efitables.cli import EXIT_FINDINGS, EXIT_OK, EXIT_OPEN, cli, open_dump, scan_progress
from efitables.cli.options import dump_options, split_option
from efitables.cli.payloads import payload_section, rich_table
from efitables.cli.payloads import summary as payload_summary
from efitables.cli.render import finding_line, findings_table, hexa, kv_table, make_console, safe
from efitables.dump import NOT_EFI_BOOT, Dump
from efitables.errors import EfitablesError
from efitables.findings import Finding, Severity
from efitables.payloads.acpi import ACPI_20_TABLE_GUID, ACPI_TABLE_GUID
from efitables.payloads.esrt import EFI_SYSTEM_RESOURCE_TABLE_GUID
from efitables.payloads.fdt import DEVICE_TREE_GUID
from efitables.payloads.linux_memory import LINUX_EFI_MEMRESERVE_TABLE_GUID, LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID
from efitables.payloads.linux_secrets import (
    LINUX_EFI_COCO_SECRET_AREA_GUID,
    LINUX_EFI_MOK_VARIABLE_TABLE_GUID,
    LINUX_EFI_RANDOM_SEED_TABLE_GUID,
)
from efitables.payloads.memattr import EFI_MEMORY_ATTRIBUTES_TABLE_GUID, EFI_RT_PROPERTIES_TABLE_GUID
from efitables.payloads.smbios import SMBIOS3_TABLE_GUID, SMBIOS_TABLE_GUID
from efitables.payloads.tcg import (
    EFI_CC_FINAL_EVENTS_TABLE_GUID,
    EFI_TCG2_FINAL_EVENTS_TABLE_GUID,
    LINUX_EFI_TPM_EVENT_LOG_GUID,
)
from efitables.schemas.kernel import EFI_INVALID_TABLE_ADDR
from efitables.schemas.snp import EFI_CC_BLOB_GUID
from efitables.snp.ccblob import ROUTE_LABELS
from efitables.text import printable
from efitables.validate import Verdict, path_text, validate_dump

Section = Callable[[Console, Dump], None]
Rows = list[tuple[str, str]]

#: Text sections of ``show --full``, in order. Areas append theirs with :func:`add_section`.
SECTIONS: list[Section] = []

#: The AREAS keys (``--section NAME``) each registered section shows, by the section function's name.
#: ``boot_section`` prints boot_params with its setup_data, E820 and cross-check tables.
SECTION_AREAS: dict[str, tuple[str, ...]] = {
    "efi_section": ("system_table",),
    "payload_section": ("system_table",),
    "memmap_section": ("memory_map",),
    "boot_section": ("boot_params", "setup_data", "e820"),
    "snp_section": ("cc_blob", "secrets_page", "cpuid_table"),
    "kernel_section": ("view", "witnesses"),
}
#: ``--section`` names: the keys of :data:`efitables.analysis.AREAS`.
SECTION_NAMES: tuple[str, ...] = tuple(a.key for a in AREAS)

#: The summary never has more lines than this (the README and the tests hold it to that).
MAX_SUMMARY_LINES = 15
#: The worst findings named in the summary.
TOP_FINDINGS = 3
#: Characters of a finding message, of the command line and of a kernel error kept in the summary.
MAX_MESSAGE = 110
MAX_CMDLINE = 60

#: Configuration tables the summary names with their address, in this order (GUIDs from the
#: payload decoders' modules; names after torvalds/linux include/linux/efi.h@v6.12.117).
IMPORTANT_TABLES: tuple[tuple[str, str], ...] = (
    (ACPI_20_TABLE_GUID, "ACPI 2.0"),
    (ACPI_TABLE_GUID, "ACPI 1.0"),
    (SMBIOS3_TABLE_GUID, "SMBIOS3"),
    (SMBIOS_TABLE_GUID, "SMBIOS"),
    (EFI_MEMORY_ATTRIBUTES_TABLE_GUID, "MEMATTR"),
    (EFI_SYSTEM_RESOURCE_TABLE_GUID, "ESRT"),
    (LINUX_EFI_TPM_EVENT_LOG_GUID, "TPM log"),
    (EFI_TCG2_FINAL_EVENTS_TABLE_GUID, "TPM final log"),
    (EFI_CC_FINAL_EVENTS_TABLE_GUID, "CC final log"),
    (EFI_CC_BLOB_GUID, "CC blob"),
    (LINUX_EFI_RANDOM_SEED_TABLE_GUID, "RNG seed"),
    (LINUX_EFI_MEMRESERVE_TABLE_GUID, "MEMRESERVE"),
    (EFI_RT_PROPERTIES_TABLE_GUID, "RT properties"),
    (LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID, "unaccepted memory"),
    (LINUX_EFI_COCO_SECRET_AREA_GUID, "CoCo secret"),
    (LINUX_EFI_MOK_VARIABLE_TABLE_GUID, "MOK"),
    (DEVICE_TREE_GUID, "DTB"),
)

#: Summary labels, in the order their lines appear (a line is left out when it has nothing to say).
LABELS = (
    "dump",
    "system table",
    "config tables",
    "memory map",
    "boot_params",
    "setup_data",
    "SEV-SNP",
    "kernel",
    "coverage",
    "findings",
    "verdict",
)
_WIDTH = max(len(x) for x in LABELS) + 1
_STATUS_STYLE = {"ok": "green", "fail": "bold red", "error": "bold magenta"}


def add_section(fn: Section) -> Section:
    SECTIONS.append(fn)
    return fn


# -- the summary ---------------------------------------------------------------------------------


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def dump_line(d: Dump) -> str:
    mem = d.memory
    ranges = mem.ranges()
    text = f"{printable(d.path)}: {mem.info.format}, {mem.info.file_size:#x} bytes, {_plural(len(ranges), 'range')}"
    if ranges:
        text += f" ({mem.total_size():#x} bytes of memory in {ranges[0].start:#x}..{ranges[-1].end:#x})"
    return text


def systab_line(d: Dump, findings: list[Finding]) -> str:
    disc = d.systab_discovery
    st = d.systab
    if disc.address is None:
        pvh = d.pvh
        if pvh.boot_path == "PVH":
            si = pvh.start_info
            at = f": hvm_start_info @ {si.address:#x}" if si is not None and si.address is not None else ""
            return f"none: not an EFI boot (Xen PVH entry{at})"
        if any(f.code == NOT_EFI_BOOT for f in findings):
            return "none: not an EFI boot (boot_params has no EFI loader signature)"
        tried = ", ".join(r.name for r in disc.routes) or "no route"
        return f"none found ({tried})"
    used = next((r for r in disc.routes if r.status == "used"), None)
    how = f"{disc.route}" + (f" ({printable(used.detail)})" if used is not None and used.detail else "")
    if st is None:
        scope = d.witnesses.scope
        why = " (this dump holds System RAM only: --section view has the kernel's copies)" if scope.ram_only else ""
        return f"{disc.address:#x} via {how}: not in this dump{why}"
    crc = "-" if st.crc_ok is None else ("ok" if st.crc_ok else "MISMATCH")
    vendor = printable(st.firmware_vendor) if st.firmware_vendor is not None else "(vendor unreadable)"
    return (
        f"{st.address:#x} via {how}; {st.bits}-bit, UEFI {st.revision_text}, {vendor} rev {st.firmware_revision:#x}, "
        f"CRC32 {crc}"
    )


#: ``struct efi`` fields (include/linux/efi.h) under the names the summary gives their tables.
KERNEL_TABLE_LABELS: tuple[tuple[str, str], ...] = (
    ("acpi20", "ACPI 2.0"),
    ("acpi", "ACPI 1.0"),
    ("smbios3", "SMBIOS3"),
    ("smbios", "SMBIOS"),
    ("esrt", "ESRT"),
    ("tpm_log", "TPM log"),
    ("tpm_final_log", "TPM final log"),
    ("mokvar_table", "MOKvar"),
    ("coco_secret", "CoCo secret"),
    ("unaccepted", "unaccepted memory"),
)


def _kernel_tables_line(d: Dump) -> str | None:
    """The tables the kernel's own ``efi`` struct names, when the firmware's array is not in the dump."""
    kv = d.kernel
    if not kv.available or kv.efi is None:
        return None
    present = kv.efi.present_tables()
    named = [f"{label} {present[k]:#x}" for k, label in KERNEL_TABLE_LABELS if k in present]
    memattr = kv.efi_mem_attr_table.value if kv.efi_mem_attr_table is not None else None
    if isinstance(memattr, int) and memattr not in (0, EFI_INVALID_TABLE_ADDR):
        named.append(f"MEMATTR {memattr:#x}")
    if not named:
        return None
    return "array not in this dump; the kernel's efi struct: " + ", ".join(named)


def config_tables_line(d: Dump) -> str | None:
    st = d.systab
    if st is None:
        return _kernel_tables_line(d)
    tables = st.config_tables
    named: list[str] = []
    listed = set()
    for guid, label in IMPORTANT_TABLES:
        for t in tables:
            if t.guid == guid:
                named.append(f"{label} {t.table_address:#x}" + ("" if t.readable else " (not in dump)"))
                listed.add(t.index)
    rest = len(tables) - len(listed)
    text = f"{len(tables)}" + (f" of NumberOfTableEntries {st.nr_tables}" if st.nr_tables != len(tables) else "")
    if named:
        text += ": " + ", ".join(named)
    if rest:
        text += f"{'; ' if named else ': '}{rest} {'other' if named else 'tables'} (--section system_table)"
    return text


def memmap_line(d: Dump) -> str | None:
    mm = d.efi_memmap
    if mm is None:
        return None
    kv = d.kernel
    kmm = kv.efi.memmap if kv.available and kv.efi is not None else None
    if not mm.descriptors and kmm is not None and kmm.descriptors is not None and kmm.descriptors.descriptors:
        return (
            f"{hexa(mm.address)}: not in this dump; the kernel's efi.memmap: "
            f"{_plural(len(kmm.descriptors.descriptors), 'descriptor')} of {kmm.desc_size} bytes at "
            f"{kmm.phys_map:#x} (the runtime regions it keeps after boot)"
        )
    if not mm.descriptors:
        kind = "no descriptor readable"
    elif d.regions.runtime_only_efi_map:
        kind = "runtime-only (a kexec'd kernel's: no conventional memory, no ACPI)"
    elif d.regions.full_efi_map:
        kind = "full (conventional memory listed)"
    else:
        kind = "partial (no conventional memory listed)"
    return (
        f"{hexa(mm.address)}: {_plural(len(mm.descriptors), 'descriptor')}, desc_size {mm.descriptor_size}, "
        f"version {mm.descriptor_version}; {kind}"
    )


def boot_params_line(d: Dump) -> str:
    bp = d.boot_params
    if bp is None:
        tried = ", ".join(r.name for r in d.boot_params_discovery.routes) or "no route"
        return f"none found ({tried})"
    if bp.has_hdrs:
        hdr = f"protocol {bp.protocol} ({bp.protocol_version:#06x})"
    elif d.pvh.boot_path == "PVH":
        hdr = "no HdrS (built by the kernel from the PVH start info)"
    else:
        hdr = "no HdrS (EFI-stub zero page)"
    parts = [f"{bp.address:#x} via {printable(bp.found_by)}", hdr, bp.efi_loader_signature or "no EFI hand-over"]
    if d.e820 is not None:
        parts.append(f"E820 {_plural(len(d.e820.entries), 'entry', 'entries')}")
    cl = bp.command_line
    kcl = d.kernel.command_line if d.kernel.available else None
    if kcl is not None and kcl.text is not None and (cl is None or cl.text != kcl.text):
        # the boot-time buffer cmd_line_ptr names is often reused by the time of a dump; the kernel's
        # own copy (saved_command_line, init/main.c) is what it booted with
        parts.append(f'cmdline "{printable(_cut(kcl.text, MAX_CMDLINE))}" (kernel\'s saved_command_line)')
    elif cl is not None:
        parts.append(f'cmdline "{printable(_cut(cl.text, MAX_CMDLINE))}" ({len(cl.text)} chars)')
    return "; ".join(parts)


def setup_data_line(d: Dump) -> str | None:
    lst = d.setup_data
    if lst is None:
        return None
    if not lst.nodes:
        return "none" + ("" if lst.complete else " (walk stopped early)")
    kinds = Counter(printable(n.type_name) for n in lst.nodes)
    text = f"{_plural(len(lst.nodes), 'node')}: " + ", ".join(f"{n} {k}" for k, n in kinds.items())
    return text + ("" if lst.complete else " (walk stopped early)")


def snp_line(d: Dump) -> str | None:
    rep = d.cc_blob
    if not rep.present:
        return None
    blob = rep.blob
    via = ", ".join(dict.fromkeys(ROUTE_LABELS[r.route] for r in rep.routes if r.blob_address))
    parts = [f"CC blob {hexa(blob.address) if blob is not None else '-'} via {via}"]
    parts.append(f"routes agree: {'yes' if rep.routes_agree else 'NO'}")
    sp = d.snp_secrets
    parts.append(f"secrets page v{sp.version} @ {hexa(sp.address)}" if sp is not None else "no secrets page")
    cp = d.snp_cpuid
    if cp is not None:
        cbit = f", C-bit {cp.c_bit}" if cp.c_bit is not None else ""
        parts.append(f"CPUID table {_plural(cp.count, 'entry', 'entries')}{cbit}")
    else:
        parts.append("no CPUID table")
    return "; ".join(parts)


def kernel_line(d: Dump) -> str:
    kv = d.kernel
    if not kv.available:
        return f"not located: {printable(_cut(kv.error or '', MAX_MESSAGE))}"
    rel = printable(kv.release) if kv.release else "unknown release"
    ver = f"{kv.version.short}, " if kv.version is not None else ""
    parts = [f"{rel} ({ver}{printable(kv.vmcoreinfo_source)}, layouts {printable(kv.layout_source or 'none')})"]
    k = kv.kexec_loaded
    if k is not None:
        parts.append(f"{printable(k.name)} loaded")
    w = d.witnesses
    bad = sum(1 for r in w.rows if r.verdict == "disagree")
    log = "" if w.log_available else " (its log not read)"
    parts.append(f"its copies vs the firmware's and its log: {len(w.rows)} objects, {bad} disagreeing{log}")
    return "; ".join(parts)


#: How bad each coverage verdict is (the worst over an object's maps is the object's).
_COVERAGE_ORDER = ("covered", "rounding-only", "not-covered")


def coverage_line(d: Dump) -> str:
    try:
        rep = d.coverage()
    except EfitablesError as e:
        return f"not judged ({printable(str(e))})"
    worst: dict[str, int] = {}
    for r in rep.rows:
        if not r.required or r.verdict not in _COVERAGE_ORDER:
            continue
        rank = _COVERAGE_ORDER.index(r.verdict)
        worst[r.object] = max(worst.get(r.object, 0), rank)
    if not worst:
        return f"{printable(rep.model.name)}: nothing to judge (no boot_params, system table or CC blob)"
    n = Counter(worst.values())
    failing = [printable(o) for o, rank in worst.items() if rank == len(_COVERAGE_ORDER) - 1]
    state = "ok" if rep.ok else "NOT COVERED: " + ", ".join(failing)
    counts = ", ".join(f"{n.get(i, 0)} {v}" for i, v in enumerate(_COVERAGE_ORDER))
    model = printable(rep.model.name)
    if rep.model_choice.startswith("auto"):  # Dump.coverage() picks the preset of the dump's kernel when it can
        model += " (its kernel's)" if d.kernel.version is not None else " (the default)"
    return f"{model}: {state} ({_plural(len(worst), 'object')}: {counts}; no page walk, see efitables coverage)"


def counts_text(counts: dict[str, int]) -> str:
    """``1 error, 2 warning, 15 info``: as ``efitables validate`` counts."""
    return ", ".join(f"{n} {s}" for s, n in counts.items())


def verdict_line(v: Verdict) -> str:
    """The verdict ``efitables validate`` gives the dump (same findings, same default threshold)."""
    if v.error is not None:
        return f"ERROR {printable(v.error)} (efitables validate exits {v.exit_code})"
    text = f"{v.status.upper()} ({counts_text(v.counts)}): efitables validate exits {v.exit_code}"
    if v.status == "ok" and v.counts[str(Severity.WARNING)]:
        text += ", 1 with --fail-on warning"
    return text


def summary_rows(d: Dump, v: Verdict) -> Rows:
    """The summary as ``(label, plain printable text)`` rows (the findings' own rows have label "")."""
    rows: Rows = [("dump", dump_line(d)), ("system table", systab_line(d, v.findings))]
    for label, fn in (
        ("config tables", config_tables_line),
        ("memory map", memmap_line),
        ("boot_params", boot_params_line),
        ("setup_data", setup_data_line),
        ("SEV-SNP", snp_line),
        ("kernel", kernel_line),
        ("coverage", coverage_line),
    ):
        text = fn(d)
        if text is not None:
            rows.append((label, text))
    rows.append(("findings", counts_text(v.counts)))
    for f in v.findings[:TOP_FINDINGS]:
        rows.append(("", _finding_text(f)))
    rows.append(("verdict", verdict_line(v)))
    return rows


def _finding_text(f: Finding) -> str:
    at = f" @ {f.address:#x}" if f.address is not None else ""
    return f"{str(f.severity):<7} {f.code}  {printable(f.structure)}{at}: {printable(_cut(f.message, MAX_MESSAGE))}"


def print_summary(con: Console, rows: Rows, v: Verdict) -> None:
    for label, text in rows:
        value = safe(text)
        if label == "verdict":
            value = f"[{_STATUS_STYLE[v.status]}]{value}[/]"
        con.print(f"[bold]{label:<{_WIDTH}}[/] {value}", soft_wrap=True)


# -- the findings ----------------------------------------------------------------------------------


def findings_block(con: Console, findings: list[Finding], full: bool) -> None:
    """Every error and warning, one a line; the infos counted (``full``: every finding, as a table)."""
    con.print()
    if not findings:
        con.print("No findings.")
        return
    if full:
        con.print(findings_table(findings))
        return
    shown = [f for f in findings if f.severity >= Severity.WARNING]
    infos = len(findings) - len(shown)
    more = f"; {_plural(infos, 'info finding')} (--full lists them)" if infos else ""
    if not shown:
        con.print(f"No errors or warnings{more}.")
        return
    con.print(f"Errors and warnings ({len(shown)}){more}:")
    for f in shown:
        con.print(finding_line(f), soft_wrap=True)


# -- the tables (--full, --section) ----------------------------------------------------------------


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


def area_section(area: Area) -> Section:
    """A section for an area no registered section shows: its summary, facts and sub-tables."""

    def section(con: Console, d: Dump) -> None:
        p = area.value(d)
        if p is None:
            con.print(f"{safe(area.title)}: none")
            con.print()
            return
        con.print(kv_table(safe(p.summary()), [(safe(k), safe(v)) for k, v in p.facts()]))
        for view in p.table_views():
            con.print(rich_table(view))
        con.print()

    section.__name__ = f"{area.key}_area_section"
    return section


def sections_for(names: tuple[str, ...] | None) -> list[Section]:
    """The sections to print: every one (``names`` None: ``--full``), or those showing the named areas.

    An area that no registered section shows gets :func:`area_section`, after the registered ones.
    """
    covered = {a for fn in SECTIONS for a in SECTION_AREAS.get(fn.__name__, ())}
    if names is None:
        out = list(SECTIONS)
        out += [area_section(a) for a in AREAS if a.key not in covered]
        return out
    want = set(names)
    out = [fn for fn in SECTIONS if want & set(SECTION_AREAS.get(fn.__name__, ()))]
    out += [area_section(a) for a in AREAS if a.key in want and a.key not in covered]
    return out


# -- the command -----------------------------------------------------------------------------------


def show_text(con: Console, d: Dump, *, full: bool = False, sections: tuple[str, ...] = ()) -> Verdict:
    """One dump's text report: the summary, the findings, then the tables asked for; returns the verdict."""
    v = validate_dump(d)
    print_summary(con, summary_rows(d, v), v)
    findings_block(con, v.findings, full)
    chosen = sections_for(None if full else sections) if (full or sections) else []
    if chosen:
        con.print()
    for section in chosen:
        section(con, d)
    if not full:
        con.print(f"[dim]Tables: --full, or --section NAME ({', '.join(SECTION_NAMES)}).[/]", soft_wrap=True)
    return v


@cli.command()
@click.argument("dumps", nargs=-1, type=click.Path(dir_okay=True))
@dump_options
@split_option
@click.option("--json", "as_json", is_flag=True, help="JSON output (several dumps: one report each in 'dumps').")
@click.option("--raw", is_flag=True, help="With --json: include each object's raw bytes as hex.")
@click.option("--full", is_flag=True, help="Text: every table (routes, configuration tables and payloads, maps, ...).")
@click.option(
    "--section",
    "sections",
    multiple=True,
    type=click.Choice(SECTION_NAMES),
    metavar="NAME",
    help=f"Text: the tables of one area (repeatable): {', '.join(SECTION_NAMES)}.",
)
def show(
    dumps: tuple[str, ...],
    split_parts: tuple[str, ...],
    as_json: bool,
    raw: bool,
    full: bool,
    sections: tuple[str, ...],
    **opts: object,
) -> None:
    """Show the EFI and boot structures found in DUMPS.

    With --split PART (repeated), also the makedumpfile --split dump whose parts they are, as one dump.
    """
    targets: list[str | list[str]] = [*dumps, *([list(split_parts)] if split_parts else [])]
    if not targets:
        raise click.UsageError("missing DUMPS (or the parts of a split dump: --split PART, repeated)")
    code = EXIT_OK
    out = []
    con = make_console()
    for i, path in enumerate(targets):
        try:
            with scan_progress(not as_json) as progress:
                d = open_dump(path, opts, progress)
                with d:
                    if as_json:  # the document is the report: its exit code follows its findings
                        out.append(d.to_dict(raw=raw))  # its "dump" part is the dump header
                        if any(f.severity >= Severity.ERROR for f in d.findings):
                            code = max(code, EXIT_FINDINGS)
                    else:  # the text ends with validate's verdict: so does the exit code
                        if i:
                            con.print()
                        v = show_text(con, d, full=full, sections=sections)
                        code = max(code, v.exit_code)
        except EfitablesError as e:
            click.echo(f"efitables: {e}", err=True)
            code = EXIT_OPEN
            if as_json:
                out.append({"dump": jsonout.dump_header(path_text(path)), "error": str(e)})
    if as_json:
        # one dump: its report is the document; several: one document with a report per dump
        jsonout.write(out[0] if len(out) == 1 else {"dumps": out}, "show", sys.stdout)
    sys.exit(code)
