"""``efitables export DUMP [TABLE...] -o DIR``: the raw bytes of ACPI tables and of any structure.

ACPI tables are written as ``acpidump -b`` names them (acpica source/tools/acpidump/apfiles.c
``ap_write_to_binary_file``; torvalds/linux tools/power/acpi/tools/acpidump/apfiles.c@v6.12.117): the
signature in lower case, an instance number when a signature occurs more than once (``ssdt1.dat``,
``ssdt2.dat``), and ``.dat`` (``rsdp.dat`` for the RSDP), so ``iasl -d dsdt.dat`` disassembles them.
The tables are the RSDP's, the XSDT's (else the RSDT's) list, and the DSDT and FACS the FADT names.

TABLE is an ACPI signature (``DSDT``, ``FACP``, ``SSDT`` for every SSDT, ``RSDP``, ``XSDT``), a
structure name (:data:`STRUCTURES`: ``systab``, ``config-array``, ``efi-memmap``, ``boot-params``,
``setup-data``, ``cc-blob``, ``snp-secrets``, ``snp-cpuid``, ``e820``), ``acpi`` (every ACPI table: the
default), ``all``, or ``ADDR:SIZE`` (``0x7e0018:0x78``; written as ``mem-ADDR-SIZE.bin``). Bytes are read
through :attr:`efitables.dump.Dump.memory`, so secrets stay redacted (zeros) unless ``--show-secrets``.

Exit codes: 0 everything asked for was written; 1 something asked for is not in the dump (or could not be
read), the rest written; 2 the dump could not be opened, a file exists without ``--force``, or the command
line was wrong.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from efitables.cli import EXIT_FINDINGS, EXIT_OK, EXIT_OPEN, cli, open_dump
from efitables.cli.options import ADDRESS, dump_options, one_dump, split_option
from efitables.errors import EfitablesError, MemoryReadError
from efitables.text import printable

#: Largest ``ADDR:SIZE`` range exported (it is read and written in :data:`CHUNK` pieces).
MAX_EXPORT_SIZE = 1 << 32
#: Bytes read at a time.
CHUNK = 1 << 20
#: Largest ACPI table exported (as the ACPI decoder's MAX_TABLE_LENGTH: a Length above is not believed).
MAX_ACPI_TABLE = 16 * 1024 * 1024


@dataclass(frozen=True)
class Piece:
    """One file to write: its name, the physical range it holds and what it is."""

    name: str
    address: int
    size: int
    what: str


def _parsed(obj: Any, name: str, what: str) -> list[Piece]:
    if obj is None or getattr(obj, "address", None) is None or getattr(obj, "size", 0) <= 0:
        return []
    return [Piece(name, obj.address, obj.size, what)]


def _setup_data(d: Any) -> list[Piece]:
    sd = d.setup_data
    if sd is None:
        return []
    nodes = [n for n in sd if getattr(n, "address", None) is not None]
    out = []
    for i, n in enumerate(nodes):
        suffix = str(i + 1) if len(nodes) > 1 else ""
        out.append(Piece(f"setup-data{suffix}.bin", n.address, n.size, f"setup_data node {i}"))
    return out


def _cc_blob(d: Any) -> list[Piece]:
    return _parsed(d.cc_blob.blob, "cc-blob.bin", "CC blob (the one the kernel uses)")


#: Structure names and how each is found in a Dump.
STRUCTURES: dict[str, Callable[[Any], list[Piece]]] = {
    "systab": lambda d: _parsed(d.systab, "systab.bin", "EFI system table"),
    "config-array": lambda d: _parsed(
        d.systab.config_table_array if d.systab else None, "config-array.bin", "configuration table array"
    ),
    "efi-memmap": lambda d: _parsed(d.efi_memmap, "efi-memmap.bin", "EFI memory map"),
    "boot-params": lambda d: _parsed(d.boot_params, "boot-params.bin", "boot_params (zero page)"),
    "setup-data": _setup_data,
    "cc-blob": _cc_blob,
    "snp-secrets": lambda d: _parsed(d.snp_secrets, "snp-secrets.bin", "SNP secrets page"),
    "snp-cpuid": lambda d: _parsed(d.snp_cpuid, "snp-cpuid.bin", "SNP CPUID table"),
    "e820": lambda d: _parsed(d.e820, "e820.bin", "E820 table (zero page)"),
}


def acpi_pieces(d: Any) -> list[Piece]:
    """Every ACPI table of the dump, named as ``acpidump -b`` names them."""
    from efitables.payloads.acpi import Rsdp

    rsdp = None
    for guid in ("ACPI_20_TABLE_GUID", "ACPI_TABLE_GUID"):
        t = d.config_table(guid)
        if t is not None and isinstance(t.payload, Rsdp):
            rsdp = t.payload
            break
    if rsdp is None:
        return []
    tables: list[tuple[str, int, int]] = []
    if rsdp.address is not None and rsdp.size:
        tables.append(("RSDP", rsdp.address, rsdp.size))
    sdts = [s for s in (rsdp.xsdt, rsdp.rsdt) if s is not None and s.address is not None and s.length > 0]
    for s in sdts:
        tables.append((s.signature, s.address or 0, s.length))
    listed = sdts[0].tables if sdts else []
    for t in listed:
        if t.address is not None:
            tables.append((t.signature, t.address, t.length))
    for extra in (rsdp.dsdt, rsdp.facs):
        if extra is not None and extra.address is not None:
            tables.append((extra.signature or "", extra.address, extra.length))
    seen: set[tuple[int, int]] = set()
    unique = []
    for sig, pa, length in tables:
        if (pa, length) not in seen and 0 < length <= MAX_ACPI_TABLE:
            seen.add((pa, length))
            unique.append((sig, pa, length))
    counts: dict[str, int] = {}
    for sig, _pa, _len in unique:
        counts[sig] = counts.get(sig, 0) + 1
    instance: dict[str, int] = {}
    out = []
    for sig, pa, length in unique:
        base = "".join(c if c.isalnum() else "_" for c in sig.lower()) or "unknown"
        name = base
        if counts[sig] > 1:
            instance[sig] = instance.get(sig, 0) + 1
            name = f"{base}{instance[sig]}"
        out.append(Piece(f"{name}.dat", pa, length, f"ACPI {sig}"))
    return out


def _range(spec: str) -> Piece:
    addr_text, _, size_text = spec.partition(":")
    try:
        pa = ADDRESS.convert(addr_text, None, None)
        size = ADDRESS.convert(size_text, None, None)
    except click.BadParameter as e:
        raise click.BadParameter(f"{spec!r}: {e.message}", param_hint="TABLE") from e
    if not 0 < size <= MAX_EXPORT_SIZE:
        raise click.BadParameter(f"{spec!r}: size must be 1..{MAX_EXPORT_SIZE:#x}", param_hint="TABLE")
    return Piece(f"mem-{pa:x}-{size:x}.bin", pa, size, f"memory {pa:#x}+{size:#x}")


def select(d: Any, wanted: tuple[str, ...]) -> tuple[list[Piece], list[str]]:
    """The pieces ``wanted`` names, and the names that matched nothing in the dump."""
    pieces: list[Piece] = []
    missing: list[str] = []
    acpi: list[Piece] | None = None
    for w in wanted or ("acpi",):
        key = w.strip()
        low = key.lower()
        found: list[Piece]
        if ":" in key:
            found = [_range(key)]
        elif low in STRUCTURES:
            found = STRUCTURES[low](d)
        elif low == "all":
            acpi = acpi if acpi is not None else acpi_pieces(d)
            found = list(acpi) + [p for f in STRUCTURES.values() for p in f(d)]
        else:
            acpi = acpi if acpi is not None else acpi_pieces(d)
            found = list(acpi) if low == "acpi" else [p for p in acpi if p.what == f"ACPI {key.upper()}"]
        if not found:
            missing.append(key)
        pieces.extend(p for p in found if p not in pieces)
    return pieces, missing


def write_piece(mem: Any, piece: Piece, path: Path) -> None:
    """Copy ``piece``'s bytes from ``mem`` to ``path`` (MemoryReadError: nothing is left behind)."""
    try:
        with open(path, "xb") as fh:
            pos, end = piece.address, piece.address + piece.size
            while pos < end:
                n = min(CHUNK, end - pos)
                fh.write(mem.read(pos, n, structure=f"export {piece.name}"))
                pos += n
    except MemoryReadError:
        path.unlink(missing_ok=True)
        raise


@cli.command("export")
@click.argument("dump", required=False, type=click.Path(dir_okay=False))
@click.argument("tables", nargs=-1)
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False), help="Directory to write.")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@dump_options
@split_option
def export_cmd(
    dump: str | None, tables: tuple[str, ...], split_parts: tuple[str, ...], outdir: str, force: bool, **opts: Any
) -> None:
    """Write the raw bytes of DUMP's ACPI tables (acpidump -b names, for iasl) or of any structure to a directory.

    ACPI tables are named as acpidump -b names them (dsdt.dat, facp.dat, ssdt1.dat..., for iasl -d);
    TABLE may also name a structure (systab, config-array, efi-memmap, boot-params, setup-data, cc-blob,
    snp-secrets, snp-cpuid, e820) or an ADDR:SIZE range. Files go to DIR (-o), created if missing.

    With --split PART (repeated) the parts of one makedumpfile --split dump are read in place of DUMP, and
    every argument is a TABLE. TABLE defaults to every ACPI table. Secrets read as zeros unless --show-secrets.
    Exit 0 all written, 1 something asked for is missing or unreadable, 2 the dump cannot be opened or a file exists.
    """
    if split_parts and dump is not None:  # with --split every argument names a table
        tables = (dump, *tables)
        dump = None
    target = one_dump(dump, split_parts)
    try:
        d = open_dump(target, opts)
    except EfitablesError as e:
        click.echo(f"efitables: {printable(str(e))}", err=True)
        sys.exit(EXIT_OPEN)
    with d:
        pieces, missing = select(d, tables)
        out = Path(outdir)
        out.mkdir(parents=True, exist_ok=True)
        clash = [p.name for p in pieces if (out / p.name).exists()]
        if clash and not force:
            click.echo(f"efitables: {printable(str(out))}: exists: {printable(' '.join(clash))} (use --force)",
                       err=True)  # fmt: skip
            sys.exit(EXIT_OPEN)
        status = EXIT_OK
        for name in missing:
            hint = ""
            if split_parts and os.path.isfile(name):  # most likely a dump given beside its parts
                hint = " (a file: with --split every argument is a TABLE; give each part with --split)"
            click.echo(f"efitables: {printable(name)}: not in the dump{hint}", err=True)
            status = EXIT_FINDINGS
        for p in pieces:
            path = out / p.name
            if force and path.exists():
                os.unlink(path)
            try:
                write_piece(d.memory, p, path)
            except MemoryReadError as e:
                click.echo(f"efitables: {printable(p.name)}: {printable(str(e))}", err=True)
                status = EXIT_FINDINGS
                continue
            click.echo(f"{printable(str(path))}  {p.size:#x} bytes @ {p.address:#x}  {printable(p.what)}")
    sys.exit(status)
