"""Turning results into terminal text with rich.

Everything that came out of a dump (vendor strings, command lines, names from
user GUID lists) passes through :func:`safe` before rich sees it: control and
escape characters become visible escapes and rich markup is escaped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from efitables.findings import Finding
from efitables.text import SEV_STYLE as _SEV_STYLE
from efitables.text import hexa, printable

__all__ = ["finding_line", "findings_table", "hexa", "kv_table", "make_console", "printable", "safe"]



def safe(text: object) -> str:
    """Dump-derived text made safe for a terminal and for rich markup."""
    return escape(printable(str(text)))


def kv_table(title: str, rows: Iterable[tuple[str, str]]) -> Table:
    t = Table(title=title, show_header=False, title_justify="left", box=None, pad_edge=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    for k, v in rows:
        t.add_row(k, v)
    return t


def findings_table(findings: list[Finding], title: str = "Findings") -> Table:
    t = Table(title=f"{title} ({len(findings)})", title_justify="left")
    t.add_column("severity")
    t.add_column("code")
    t.add_column("structure")
    t.add_column("address", justify="right")
    t.add_column("message")
    for f in sorted(findings, key=lambda f: -f.severity):
        t.add_row(
            f"[{_SEV_STYLE[f.severity]}]{f.severity}[/]",
            f.code,
            safe(f.structure),
            hexa(f.address),
            safe(f.message),
        )
    return t


def finding_line(f: Finding, indent: str = "  ") -> str:
    """One finding as one line of markup: ``  error   CODE  structure @ 0x...: message`` (as validate prints)."""
    at = f" @ {hexa(f.address)}" if f.address is not None else ""
    return (
        f"{indent}[{_SEV_STYLE[f.severity]}]{str(f.severity):<7}[/] {f.code}  {safe(f.structure)}{at}: "
        f"{safe(f.message)}"
    )


def make_console(stderr: bool = False) -> Console:
    """A console; when not writing to a terminal, wide enough that tables do not fold addresses."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)
