"""The "SEV-SNP" section of ``efitables show``: CC blob routes, the blob, secrets page, CPUID table.

A dump that is not an SNP guest gets one quiet line, "SEV-SNP: no CC blob".
The JSON form is ``Dump.to_dict()["snp"]`` (``CcBlobReport.to_dict``).
"""

from __future__ import annotations

from rich.console import Console

from efitables.cli.render import safe
from efitables.cli.show import add_section
from efitables.dump import Dump
from efitables.snp import summary_lines


@add_section
def snp_section(con: Console, d: Dump) -> None:
    report = d.cc_blob
    if not report.present:
        con.print("SEV-SNP: no CC blob")
        con.print()
        return
    con.print("[bold]SEV-SNP[/]")
    for line in summary_lines(report):
        con.print("  " + safe(line))
    con.print()
