"""Text rendering of decoded configuration-table payloads for ``efitables show``.

Every string from the dump (OEM IDs, SMBIOS strings, MOK variable names) goes
through :func:`~efitables.cli.render.safe`. A payload kind without a renderer
of its own is shown by its scalar attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from efitables.cli.render import hexa, kv_table, safe
from efitables.dump import Dump
from efitables.model import Parsed
from efitables.payloads.acpi import Rsdp
from efitables.payloads.base import in_stale_memory
from efitables.payloads.edk2 import ImageExecutionInfoTable, MemoryTypeInformation
from efitables.payloads.linux_tables import BootMemmap, Memreserve, RandomSeed, UnacceptedMemory
from efitables.payloads.memattr import MemoryAttributesTable
from efitables.payloads.smbios import SmbiosEntryPoint

Rows = list[tuple[str, str]]
Tables = list[Table]
#: Most rows of a sub-table (descriptors, structures, ranges) printed; --json has all.
MAX_ROWS = 64


def _ok(v: bool | None) -> str:
    return "-" if v is None else ("ok" if v else "[red]BAD[/]")


def _fmt(v: object) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:#x}" if v > 9 else str(v)
    return safe(v)


def _generic_rows(p: Parsed) -> Rows:
    rows: Rows = []
    for k, v in p.extra_dict().items():
        if isinstance(v, list | dict) and v:
            rows.append((k, safe(f"{len(v)} items (see --json)") if not isinstance(v, dict) else safe(v)))
        elif not isinstance(v, list | dict):
            rows.append((k, _fmt(v)))
    return rows


def _table(title: str, cols: Iterable[str], rows: list[list[str]]) -> Table:
    t = Table(title=title, title_justify="left")
    for c in cols:
        t.add_column(c)
    for r in rows[:MAX_ROWS]:
        t.add_row(*r)
    if len(rows) > MAX_ROWS:
        t.add_row("...", f"{len(rows) - MAX_ROWS} more (see --json)")
    return t


def _rsdp(con: Tables, p: Rsdp) -> Rows:
    rows = [
        ("signature", safe(p.signature)),
        ("OEM ID", safe(p.oem_id)),
        ("revision", str(p.revision)),
        ("checksum", _ok(p.checksum_ok)),
        ("extended checksum", _ok(p.extended_checksum_ok)),
        ("RsdtAddress", hexa(p.rsdt_address)),
        ("XsdtAddress", hexa(p.xsdt_address)),
    ]
    for sdt in (p.xsdt, p.rsdt):
        if sdt is None:
            continue
        tabs = [
            [
                str(t.index),
                safe(t.signature),
                hexa(t.address),
                f"{t.length:#x}",
                _ok(t.checksum_ok),
                safe(t.oem_id),
                safe(t.oem_table_id),
            ]
            for t in sdt.tables
        ]
        con.append(
            _table(
                f"{safe(sdt.signature)} @ {sdt.address:#x}: {sdt.entry_count} entries, checksum {_ok(sdt.checksum_ok)}",
                ("#", "signature", "address", "length", "checksum", "OEM", "OEM table"),
                tabs,
            )
        )
    return rows


def _smbios(con: Tables, p: SmbiosEntryPoint) -> Rows:
    rows = [
        ("anchor", safe(p.anchor)),
        ("version", safe(p.version)),
        ("checksum", _ok(p.checksum_ok)),
        ("table", f"{hexa(p.table_address)} length {p.table_length:#x} (used {p.table_used:#x})"),
        (
            "structures",
            f"{len(p.structures)}"
            + ("" if p.number_of_structures is None else f" (entry point says {p.number_of_structures})"),
        ),
        ("types", " ".join(f"{t}x{n}" for t, n in p.type_counts.items())),
    ]
    if p.intermediate_checksum_ok is not None:
        rows.insert(3, ("_DMI_ checksum", _ok(p.intermediate_checksum_ok)))
    named = [
        [str(s.type), safe(s.type_name), f"{s.handle:#06x}", safe(" | ".join(s.strings[:4]))]
        for s in p.structures
        if s.type in (0, 1, 2, 3, 4, 17) and s.strings
    ]
    if named:
        con.append(_table("SMBIOS strings (types 0-4, 17)", ("type", "name", "handle", "strings"), named))
    return rows


def _memattr(con: Tables, p: MemoryAttributesTable) -> Rows:
    ents = [
        [
            str(e.index),
            e.type_name.removeprefix("EFI_"),
            f"{e.physical_start:#x}-{e.physical_end:#x}",
            " ".join(n.removeprefix("EFI_MEMORY_") for n in e.attribute_names),
        ]
        for e in p.entries
    ]
    con.append(_table(f"Memory attributes entries ({len(ents)})", ("#", "type", "physical", "attributes"), ents))
    return [
        ("version", str(p.version)),
        ("entries", str(p.number_of_entries)),
        ("descriptor size", str(p.descriptor_size)),
        ("flags", f"{p.flags:#x}"),
        ("forward CFI (IBT/BTI)", str(p.forward_cfi)),
    ]


def _memreserve(con: Tables, p: Memreserve) -> Rows:
    ranges = [[str(i), f"{b:#x}-{b + s:#x}", f"{s:#x}"] for i, (b, s) in enumerate(p.ranges)]
    if ranges:
        con.append(_table(f"Reserved ranges ({len(ranges)})", ("#", "physical", "size"), ranges))
    return [
        ("nodes", " -> ".join(hexa(n.address) for n in p.nodes[:8]) + (" ..." if len(p.nodes) > 8 else "")),
        ("ranges", str(len(p.ranges))),
        ("reserved bytes", f"{sum(s for _, s in p.ranges):#x}"),
    ]


def _seed(con: Tables, p: RandomSeed) -> Rows:
    return [("size", str(p.seed_size)), ("seed", safe(p.seed) if p.seed is not None else "-")]


def _unaccepted(con: Tables, p: UnacceptedMemory) -> Rows:
    rows = [
        ("version", str(p.version)),
        ("unit size", f"{p.unit_size:#x}"),
        ("phys_base", hexa(p.phys_base)),
        ("bitmap", f"{p.bitmap_size:#x} bytes = {p.units} units"),
        ("covers", f"{p.covered_start:#x}-{p.covered_end:#x}"),
    ]
    if p.unaccepted_units is not None:
        rows.append(("accepted", f"{p.accepted_units} units ({p.accepted_bytes:#x} bytes)"))
        rows.append(("unaccepted", f"{p.unaccepted_units} units ({p.unaccepted_bytes:#x} bytes)"))
    return rows


def _boot_memmap(con: Tables, p: BootMemmap) -> Rows:
    n = len(p.memmap.descriptors) if p.memmap is not None else 0
    return [
        ("map_size", f"{p.map_size:#x}"),
        ("desc_size", str(p.desc_size)),
        ("desc_ver", str(p.desc_ver)),
        ("map_key", f"{p.map_key:#x}"),
        ("buff_size", f"{p.buff_size:#x}"),
        ("descriptors", str(n)),
    ]


def _memory_type_info(con: Tables, p: MemoryTypeInformation) -> Rows:
    if not p.terminated:
        return [("records", f"{len(p.bins)} without a Type-16 terminator (see --json)")]
    rows = [[str(b["type"]), safe(b["type_name"]), f"{b['number_of_pages']:#x}"] for b in p.bins]
    con.append(_table(f"Memory type bins ({len(rows)})", ("type", "name", "pages"), rows))
    return []


def _image_exec(con: Tables, p: ImageExecutionInfoTable) -> Rows:
    rows = [[str(i.index), i.action_name + ("" if i.initialized else " (uninit)"), safe(i.name),
             "-" if i.device_path_size is None else str(i.device_path_size),
             "-" if i.signature_list_size is None else str(i.signature_list_size)] for i in p.images]  # fmt: skip
    if rows:
        con.append(_table(f"Images ({len(rows)})", ("#", "action", "name", "device path", "signature list"), rows))
    return [("NumberOfImages", str(p.number_of_images))]


#: by ``kind``; each renderer takes the payload class of that kind
RENDERERS: dict[str, Callable[[Tables, Any], Rows]] = {
    "ACPI_RSDP": _rsdp,
    "SMBIOS_ENTRY_POINT": _smbios,
    "SMBIOS3_ENTRY_POINT": _smbios,
    "EFI_MEMORY_ATTRIBUTES_TABLE": _memattr,
    "LINUX_EFI_MEMRESERVE": _memreserve,
    "LINUX_EFI_RANDOM_SEED": _seed,
    "LINUX_EFI_UNACCEPTED_MEMORY": _unaccepted,
    "LINUX_EFI_BOOT_MEMMAP": _boot_memmap,
    "EFI_MEMORY_TYPE_INFORMATION": _memory_type_info,
    "EFI_IMAGE_EXECUTION_INFO_TABLE": _image_exec,
}


def summary(p: Parsed) -> str:
    """A payload's title, marked when its bytes lie in memory freed after boot (they may be reused)."""
    return p.title + (" [in possibly stale memory]" if in_stale_memory(p) else "")


def payload_section(con: Console, d: Dump) -> None:
    """One block per decoded configuration-table payload: a heading, its fields, then its sub-tables."""
    seen: dict[tuple[str, int | None], int] = {}
    for t in d.config_tables:
        p = t.payload
        if p is None:
            continue
        where = hexa(p.address) + (f" +{p.size:#x}" if p.size else "")
        con.print(f"[bold]{safe(f'[{t.index}]')} {safe(t.name or t.guid)}[/]: {safe(summary(p))} @ {where}")
        key = (p.kind, p.address)
        if key in seen:
            con.print(f"  same object as {safe(f'[{seen[key]}]')}\n")
            continue
        seen[key] = t.index
        subs: Tables = []
        render = RENDERERS.get(p.kind)
        rows = render(subs, p) if render is not None else _generic_rows(p)
        if rows:
            con.print(kv_table("", rows))
        for sub in subs:
            con.print(sub)
        con.print()
