"""``efitables diff A B``: what changed between two dumps (kexec: first kernel vs second).

Exit codes follow diff(1): 0 the dumps hold the same structures, 1 they
differ, 2 a dump could not be opened or read.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from efitables import jsonout
from efitables.cli import EXIT_FINDINGS, EXIT_OK, EXIT_OPEN, cli, open_dump
from efitables.cli.options import dump_options
from efitables.cli.render import hexa, make_console, safe
from efitables.diff import DumpDiff, diff_snapshots, snapshot
from efitables.errors import EfitablesError

_MARK = {"added": "[green]+ added  [/]", "removed": "[red]- removed[/]", "moved": "[yellow]~ moved  [/]"}
_MARK["changed"] = "[cyan]~ changed[/]"
#: Field changes shown per object in text output (--json has all).
MAX_FIELDS_SHOWN = 12


def _val(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and (v > 9 or v < 0):
        return hex(v)
    return safe(repr(v) if isinstance(v, str) else str(v))


def _print_text(dd: DumpDiff) -> None:
    con = make_console()
    con.print(f"--- {safe(dd.a)}\n+++ {safe(dd.b)}", soft_wrap=True)
    if dd.identical:
        con.print("No differences.")
        return
    for c in dd.changes:
        if c.change == "added":
            where = f" @ {hexa(c.new_address)}" if c.new_address is not None else ""
        elif c.change == "moved":
            where = f" {hexa(c.old_address)} -> {hexa(c.new_address)}"
        else:
            where = f" @ {hexa(c.old_address)}" if c.old_address is not None else ""
        stale = " [dim](in possibly stale memory: changes may be reuse)[/]" if c.stale else ""
        con.print(f"{_MARK[c.change]} {safe(c.key)}{where}{stale}", soft_wrap=True)
        items = list(c.fields.items())
        for name, (old, new) in items[:MAX_FIELDS_SHOWN]:
            con.print(f"      {safe(name)}: {_val(old)} -> {_val(new)}", soft_wrap=True)
        if len(items) > MAX_FIELDS_SHOWN:
            con.print(f"      ... {len(items) - MAX_FIELDS_SHOWN} more fields (see --json)")
    for label, fs, mark in (("new", dd.findings_new, "[red]+[/]"), ("gone", dd.findings_gone, "[green]-[/]")):
        if fs:
            con.print(f"Findings {label} ({len(fs)}):")
            for f in fs:
                con.print(f"  {mark} {safe(str(f))}", soft_wrap=True)
    n = dd.counts()
    con.print(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in n.items()))


@cli.command("diff")
@click.argument("a", type=click.Path(dir_okay=True))
@click.argument("b", type=click.Path(dir_okay=True))
@dump_options
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def diff_cmd(a: str, b: str, as_json: bool, **opts: Any) -> None:
    """Compare the structures of dumps A and B: tables added, removed, moved; fields changed; findings.

    Exit 0: no differences; 1: differences; 2: a dump could not be opened or read.
    """
    snaps, headers = [], []
    for path in (a, b):
        try:
            with open_dump(path, opts) as d:
                snaps.append(snapshot(d))
                headers.append(jsonout.header_of(d))
        except EfitablesError as e:
            click.echo(f"efitables: {e}", err=True)
            sys.exit(EXIT_OPEN)
    dd = diff_snapshots(snaps[0], snaps[1])
    if as_json:
        jsonout.write(dd.to_dict(a=headers[0], b=headers[1]), "diff", sys.stdout)
    else:
        _print_text(dd)
    sys.exit(EXIT_OK if dd.identical else EXIT_FINDINGS)
