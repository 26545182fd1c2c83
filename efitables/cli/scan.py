"""``efitables scan``: the signature sweep alone, every candidate with its verdict.

The sweep reads the container; each candidate is then read and judged through the
:class:`~efitables.dump.Dump`'s memory, so a candidate lying on a secret (an SNP VMPCK, an
RNG seed) is judged on zeros and none of its bytes is printed unless ``--show-secrets``.
"""

from __future__ import annotations

import sys
import time

import click
from rich.table import Table

from efitables import jsonout
from efitables.cli import EXIT_OK, EXIT_OPEN, cli, scan_progress
from efitables.cli.options import one_dump, split_option
from efitables.cli.render import hexa, make_console, safe
from efitables.dump import Dump
from efitables.efi.discovery import check_candidate
from efitables.efi.efi_info import read_efi_info
from efitables.errors import EfitablesError
from efitables.memory import FORMATS, open_memory


@cli.command("scan")
@click.argument("dump", required=False, type=click.Path(dir_okay=True))
@split_option
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), help="Force the container format.")
@click.option("--exhaustive", is_flag=True, help="Every byte offset, not only 8-byte-aligned ones.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--show-secrets", is_flag=True, help="Judge candidates on secret bytes too (SNP VMPCKs, RNG seeds).")
def scan_cmd(
    dump: str | None, split_parts: tuple[str, ...], fmt: str | None, exhaustive: bool, as_json: bool, show_secrets: bool
) -> None:
    """Sweep DUMP for 'IBI SYST' and zero pages; list every candidate and why it was accepted or rejected."""
    target = one_dump(dump, split_parts)
    try:
        mem = open_memory(target, fmt)
    except EfitablesError as e:
        click.echo(f"efitables: {e}", err=True)
        sys.exit(EXIT_OPEN)
    with mem, scan_progress(not as_json) as progress:
        # The sweep reads the container; the candidates are read through the Dump's memory (secret ranges
        # withheld), whose secrets pre-pass reuses this one sweep.
        d = Dump(mem, scan="always", exhaustive=exhaustive, show_secrets=show_secrets, progress=progress)
        t0 = time.perf_counter()
        hits = d.scan_hits
        secs = time.perf_counter() - t0
        view = d.memory
        cands = [check_candidate(view, pa) for pa in hits.systab]
        pages = []
        for pa in hits.zero_pages:
            info = read_efi_info(view, pa)
            pages.append((pa, info.problems() if info else ["unreadable"], info))
    if as_json:
        jsonout.write(
            {
                "dump": jsonout.dump_header(mem.path, mem.info.format, mem.info.file_size),
                "bytes_scanned": hits.bytes_scanned,
                "seconds": round(secs, 3),
                "truncated": hits.truncated,
                "system_tables": [c.to_dict() for c in cands],
                "zero_pages": [
                    {"address": pa, "efi_info_problems": p, "efi_info": i.to_dict() if i else None}
                    for pa, p, i in pages
                ],
            },
            "scan",
            sys.stdout,
        )
        sys.exit(EXIT_OK)
    con = make_console()
    con.print(f"scanned {hits.bytes_scanned:#x} bytes in {secs:.2f} s")
    t = Table(title=f"'IBI SYST' hits ({len(cands)})", title_justify="left")
    for col in ("address", "kind", "verdict", "why"):
        t.add_column(col)
    for c in cands:
        t.add_row(hexa(c.address), c.kind, "[green]accepted[/]" if c.accepted else "[red]rejected[/]", safe(c.reason))
    con.print(t)
    t = Table(title=f"Zero-page candidates ({len(pages)})", title_justify="left")
    for col in ("address", "efi_info"):
        t.add_column(col)
    for pa, problems, _info in pages:
        t.add_row(hexa(pa), "plausible" if not problems else safe("; ".join(problems)))
    con.print(t)
    sys.exit(EXIT_OK)
