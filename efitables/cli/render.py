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

from efitables.findings import Finding, Severity

_SEV_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def printable(text: str) -> str:
    """Replace control, escape and non-printable characters with visible escapes."""
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        else:
            o = ord(ch)
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}")
    return "".join(out)


def safe(text: object) -> str:
    """Dump-derived text made safe for a terminal and for rich markup."""
    return escape(printable(str(text)))


def hexa(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


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


def make_console(stderr: bool = False) -> Console:
    """A console; when not writing to a terminal, wide enough that tables do not fold addresses."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)
