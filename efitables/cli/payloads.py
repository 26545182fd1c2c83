"""Text rendering of decoded configuration-table payloads for ``efitables show``.

Each payload says what to show itself (:meth:`~efitables.model.Parsed.summary`,
:meth:`~efitables.model.Parsed.rows`, :meth:`~efitables.model.Parsed.tables`, as
the same plain printable text the TUI shows); this module only lays that out with
rich. Every label, value, title and cell goes through
:func:`~efitables.cli.render.safe` (dump strings may hold rich markup); the
verdict ``BAD`` (a cell, or a word of a table title) is styled red.
"""

from __future__ import annotations

import re

from rich.console import Console
from rich.table import Table

from efitables.cli.render import hexa, kv_table, safe
from efitables.dump import Dump
from efitables.model import Parsed, TableView

#: Most rows of a sub-table (descriptors, structures, ranges) printed; --json has all.
MAX_ROWS = 64


def cell(text: str) -> str:
    """A plain-text value as rich markup: escaped, and red when it is the verdict ``BAD``."""
    return "[red]BAD[/]" if text == "BAD" else safe(text)


def title_markup(text: str) -> str:
    """A plain-text title as rich markup: escaped, each word ``BAD`` in it red (``checksum BAD``).

    :func:`safe` never leaves a lone trailing backslash, so the pieces join without escaping the tag.
    """
    return "[red]BAD[/]".join(safe(part) for part in re.split(r"\bBAD\b", text))


def rich_table(view: TableView, max_rows: int = MAX_ROWS) -> Table:
    """A :class:`TableView` as a rich Table, its rows capped at ``max_rows`` with a "... N more" row."""
    t = Table(title=title_markup(view.title), title_justify="left")
    for c in view.columns:
        t.add_column(safe(c))
    for r in view.rows[:max_rows]:
        t.add_row(*(cell(c) for c in r))
    if len(view.rows) > max_rows:
        more = f"{len(view.rows) - max_rows} more (see --json)"
        t.add_row(*(("...", more) if len(view.columns) > 1 else (f"... {more}",)))
    return t


def summary(p: Parsed) -> str:
    """A payload's one-line summary (plain text: the caller escapes it)."""
    return p.summary()


def payload_section(con: Console, d: Dump) -> None:
    """One block per decoded configuration-table payload: a heading, its fields, then its sub-tables."""
    seen: dict[tuple[str, int | None], int] = {}
    for t in d.config_tables:
        p = t.payload
        if p is None:
            continue
        where = hexa(p.address) + (f" +{p.size:#x}" if p.size else "")
        con.print(f"[bold]{safe(f'[{t.index}]')} {safe(t.name or t.guid)}[/]: {safe(p.summary())} @ {where}")
        key = (p.kind, p.address)
        if key in seen:
            con.print(f"  same object as {safe(f'[{seen[key]}]')}\n")
            continue
        seen[key] = t.index
        rows = p.facts()
        if rows:
            con.print(kv_table("", [(safe(k), cell(v)) for k, v in rows]))
        for view in p.table_views():
            con.print(rich_table(view))
        con.print()
