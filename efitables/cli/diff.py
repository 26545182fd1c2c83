"""``efitables diff A B``: what changed between two dumps (kexec: first kernel vs second).

The text starts with a summary: the two dumps with the verdict ``efitables
validate`` gives each, the counts of objects added, removed, moved and changed
(overall and by area) and of findings new and gone. Then the changes, with the
changes of one kind to objects of one sort under one parent folded into one line
(:func:`efitables.diff.fold`: "126 EFI memory descriptors moved, because their
map's desc_size went from 48 to 40"), then the findings new and gone (one code's
findings folded the same way). ``--full`` lists every change and every finding;
``--json`` is the whole diff, unfolded.

Exit codes follow diff(1): 0 the dumps hold the same structures, 1 they
differ, 2 a dump could not be opened or read.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console

from efitables import jsonout
from efitables.cli import EXIT_FINDINGS, EXIT_OK, EXIT_OPEN, cli, open_dump
from efitables.cli.options import dump_options
from efitables.cli.render import hexa, make_console, safe
from efitables.diff import (
    AREA_TITLES,
    CHANGE_KINDS,
    Change,
    DumpDiff,
    FindingFold,
    Fold,
    diff_snapshots,
    fold,
    fold_findings,
    snapshot,
)
from efitables.errors import EfitablesError
from efitables.validate import Verdict, validate_dump

_MARK = {"added": "[green]+ added  [/]", "removed": "[red]- removed[/]", "moved": "[yellow]~ moved  [/]"}
_MARK["changed"] = "[cyan]~ changed[/]"
#: Field changes shown per object in text output (--json has all).
MAX_FIELDS_SHOWN = 12
#: Field changes of a parent named as the cause of a fold.
MAX_CAUSE_FIELDS = 3
_STALE = " [dim](in possibly stale memory: changes may be reuse)[/]"


def _val(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and (v > 9 or v < 0):
        return hex(v)
    return safe(repr(v) if isinstance(v, str) else str(v))


def _counts(c: dict[str, int]) -> str:
    return ", ".join(f"{c[k]} {k}" for k in CHANGE_KINDS if c.get(k))


def _verdict_text(v: Verdict) -> str:
    if v.error is not None:
        return f"ERROR {safe(v.error)}"
    return f"{v.status.upper()} (" + ", ".join(f"{n} {s}" for s, n in v.counts.items()) + ")"


def summary_lines(dd: DumpDiff, headers: list[dict[str, Any]], verdicts: list[Verdict]) -> list[str]:
    """The summary (rich markup): the dumps and their verdicts, the counts overall and by area."""
    out = []
    for mark, h, v in zip(("---", "+++"), headers, verdicts, strict=True):
        size = f", {h['size']:#x} bytes" if h.get("size") is not None else ""
        out.append(f"{mark} {safe(h['path'])} ({safe(h.get('format') or '?')}{size}): {_verdict_text(v)}")
    if dd.identical:
        return out
    n = dd.counts()
    objects = ", ".join(f"{n[k]} {k}" for k in CHANGE_KINDS)
    out.append(f"objects: {objects}; findings: {n['findings_new']} new, {n['findings_gone']} gone")
    for area, c in dd.counts_by_area().items():
        out.append(f"  {safe(AREA_TITLES.get(area, area))}: {_counts(c)}")
    if dd.truncated:
        out.append("[yellow]a snapshot was truncated (too many objects): the diff is partial[/]")
    return out


def _where(c: Change) -> str:
    if c.change == "added":
        return f" @ {hexa(c.new_address)}" if c.new_address is not None else ""
    if c.change == "moved":
        return f" {hexa(c.old_address)} -> {hexa(c.new_address)}"
    return f" @ {hexa(c.old_address)}" if c.old_address is not None else ""


def _print_change(con: Console, c: Change) -> None:
    con.print(f"{_MARK[c.change]} {safe(c.key)}{_where(c)}{_STALE if c.stale else ''}", soft_wrap=True)
    items = list(c.fields.items())
    for name, (old, new) in items[:MAX_FIELDS_SHOWN]:
        con.print(f"      {safe(name)}: {_val(old)} -> {_val(new)}", soft_wrap=True)
    if len(items) > MAX_FIELDS_SHOWN:
        con.print(f"      ... {len(items) - MAX_FIELDS_SHOWN} more fields (see --json)")


def _fields_text(fields: dict[str, tuple[Any, Any]], limit: int) -> str:
    items = list(fields.items())
    text = ", ".join(f"{safe(k)} {_val(a)} -> {_val(b)}" for k, (a, b) in items[:limit])
    return text + (f", ... {len(items) - limit} more" if len(items) > limit else "")


def fold_line(f: Fold) -> str:
    """One line for a fold (rich markup): ``~ moved   PARENT: N × SORT by +a..+b (cause); each: ...; e.g. ...``."""
    where = f"{safe(f.parent)}: " if f.parent else ""
    text = f"{_MARK[f.change]} {where}{f.count} × {safe(f.label)}"
    sh = f.shifts()
    if sh is not None:
        text += f" by {sh[0]:+#x}" + (f"..{sh[1]:+#x}" if sh[1] != sh[0] else "")
    p = f.parent_change
    if p is not None:
        cause = _fields_text(p.fields, MAX_CAUSE_FIELDS) if p.fields else ""
        if p.change == "moved":
            cause = f"moved {hexa(p.old_address)} -> {hexa(p.new_address)}" + (f", {cause}" if cause else "")
        text += f" ({safe(p.label)} {cause or p.change})"
    common = f.common_fields()
    if common:
        text += f"; each: {_fields_text(common, MAX_CAUSE_FIELDS)}"
    other = f.other_fields()
    if other:
        text += "; also " + ", ".join(f"{safe(k)} in {n}" for k, n in other.most_common(MAX_CAUSE_FIELDS))
        if len(other) > MAX_CAUSE_FIELDS:
            text += f", {len(other) - MAX_CAUSE_FIELDS} more fields"
    if f.stale:
        text += f" [dim]({f.stale} in possibly stale memory: changes may be reuse)[/]"
    e = f.example
    text += f"; e.g. {safe(e.key.rpartition(' / ')[2])}{_where(e)}"
    return text


def _print_findings(con: Console, dd: DumpDiff, full: bool) -> None:
    for label, fs, mark in (("new", dd.findings_new, "[red]+[/]"), ("gone", dd.findings_gone, "[green]-[/]")):
        if not fs:
            continue
        con.print(f"Findings {label} ({len(fs)}):")
        for item in fs if full else fold_findings(fs):
            if isinstance(item, FindingFold):
                e = item.findings[0]
                at = f" @ {hexa(e.address)}" if e.address is not None else ""
                con.print(
                    f"  {mark} {e.severity}: {safe(item.code)} × {item.count}; e.g. {safe(e.structure)}{at}: "
                    f"{safe(e.message)}",
                    soft_wrap=True,
                )
            else:
                con.print(f"  {mark} {safe(str(item))}", soft_wrap=True)


def _print_text(dd: DumpDiff, headers: list[dict[str, Any]], verdicts: list[Verdict], full: bool = False) -> None:
    con = make_console()
    for line in summary_lines(dd, headers, verdicts):
        con.print(line, soft_wrap=True)
    if dd.identical:
        con.print("No differences.")
        return
    con.print()
    items = dd.changes if full else fold(dd.changes)
    for item in items:
        if isinstance(item, Fold):
            con.print(fold_line(item), soft_wrap=True)
        else:
            _print_change(con, item)
    _print_findings(con, dd, full)
    n = dd.counts()
    folded = not full and (
        any(isinstance(x, Fold) for x in items)
        or any(isinstance(x, FindingFold) for x in fold_findings(dd.findings_new) + fold_findings(dd.findings_gone))
    )
    hint = " (folded: --full lists every change)" if folded else ""
    con.print(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in n.items()) + hint)


@cli.command("diff")
@click.argument("a", type=click.Path(dir_okay=True))
@click.argument("b", type=click.Path(dir_okay=True))
@dump_options
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--full", is_flag=True, help="Text: every change and finding on its own line (no folding).")
def diff_cmd(a: str, b: str, as_json: bool, full: bool, **opts: Any) -> None:
    """Compare the structures of dumps A and B: tables added, removed, moved; fields changed; findings.

    Exit 0: no differences; 1: differences; 2: a dump could not be opened or read.
    """
    snaps, headers, verdicts = [], [], []
    for path in (a, b):
        try:
            with open_dump(path, opts) as d:
                snaps.append(snapshot(d))
                headers.append(jsonout.header_of(d))
                if not as_json:
                    verdicts.append(validate_dump(d))  # its report is the snapshot's: no second parse
        except EfitablesError as e:
            click.echo(f"efitables: {e}", err=True)
            sys.exit(EXIT_OPEN)
    dd = diff_snapshots(snaps[0], snaps[1])
    if as_json:
        jsonout.write(dd.to_dict(a=headers[0], b=headers[1]), "diff", sys.stdout)
    else:
        _print_text(dd, headers, verdicts, full)
    sys.exit(EXIT_OK if dd.identical else EXIT_FINDINGS)
