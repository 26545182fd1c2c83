"""``efitables dmesg``: the kernel's log out of a dump, printed as ``dmesg`` prints it.

The log is :attr:`efitables.dump.Dump.kernel_log` (:mod:`efitables.kernel.printk`):
found through VMCOREINFO: the container's note (ELF and kdump dumps), or, in a
LiME or AVML capture, the kernel's own VMCOREINFO page found in RAM; a raw image
has neither. Every line is ``[%5lu.%06lu] text`` (a record of several lines gets the
prefix on each); ``--caller`` adds ``[T<pid>]``/``[C<cpu>]`` as kernels built
with CONFIG_PRINTK_CALLER print it. ``--level`` takes util-linux dmesg's level
list (``err,warn``; ``err+`` for err and everything more severe, ``+err`` for
err and everything less severe); ``--grep`` a Python regular expression.

Text from the dump is escaped before it reaches the terminal
(:func:`efitables.text.printable`: control and escape characters become
``\\x1b``-style escapes; tabs stay tabs, as dmesg prints them); ``--json``
leaves that to the JSON encoder.

Exit codes: 0 the log was printed (even if filters left nothing); 2 the dump
could not be opened, it holds no readable log (the reason goes to stderr), or
the command line was wrong.
"""

from __future__ import annotations

import json
import re
import sys

import click

from efitables.cli import EXIT_OK, EXIT_OPEN, cli
from efitables.cli.options import one_dump, split_option
from efitables.errors import EfitablesError
from efitables.kernel.printk import KernelLog, PrintkRecord, level_number
from efitables.memory import FORMATS
from efitables.schemas.printk import LEVEL_NAMES
from efitables.text import printable

_MOST_SEVERE, _LEAST_SEVERE = 0, len(LEVEL_NAMES) - 1


def parse_levels(spec: str) -> set[int]:
    """util-linux dmesg's ``--level`` list as the set of kernel levels (0 emerg .. 7 debug); ValueError if bad."""
    out: set[int] = set()
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name = item.strip("+")
        n = level_number(name)
        if n is None or item.count("+") > 1 or (item.startswith("+") and item.endswith("+")):
            raise ValueError(f"unknown level {item!r} (use {', '.join(LEVEL_NAMES)} or 0-7, with + before or after)")
        if item.endswith("+"):
            out.update(range(_MOST_SEVERE, n + 1))  # this level and the more severe ones
        elif item.startswith("+"):
            out.update(range(n, _LEAST_SEVERE + 1))  # this level and the less severe ones
        else:
            out.add(n)
    if not out:
        raise ValueError("no level given")
    return out


def terminal_line(line: str) -> str:
    """A log line made safe for a terminal: tabs kept (dmesg prints them; the kernel logs some), the rest
    of the control and escape characters escaped by :func:`efitables.text.printable`."""
    return "\t".join(printable(part) for part in line.split("\t"))


def _selected(log: KernelLog, levels: set[int] | None, pattern: re.Pattern[str] | None) -> list[PrintkRecord]:
    return [
        r
        for r in log.records
        if (levels is None or r.level in levels) and (pattern is None or pattern.search(r.text) is not None)
    ]


@cli.command("dmesg")
@click.argument("dump", required=False, type=click.Path(dir_okay=False))
@split_option
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), help="Force the container format.")
@click.option("--json", "as_json", is_flag=True, help="JSON: the ring's facts and one object per record.")
@click.option(
    "--level",
    "level_spec",
    metavar="LIST",
    help="Only these levels, comma-separated: emerg, alert, crit, err, warn, notice, info, debug or 0-7; "
    "err+ adds the more severe levels, +err the less severe ones.",
)
@click.option("--grep", "pattern", metavar="REGEX", help="Only records whose text matches (Python regular expression).")
@click.option("--caller", is_flag=True, help="Show the caller ([T<pid>] or [C<cpu>]) after the time stamp.")
def dmesg_cmd(
    dump: str | None,
    split_parts: tuple[str, ...],
    fmt: str | None,
    as_json: bool,
    level_spec: str | None,
    pattern: str | None,
    caller: bool,
) -> None:
    """Print the kernel's log (the printk ring buffer) held in DUMP, as dmesg prints it.

    The ring is found through the dump's VMCOREINFO (ELF and kdump dumps carry
    it); records whose text the ring already reused are skipped, as dmesg skips
    them. Exit 0 when the log was read, 2 when the dump holds no readable log.
    """
    try:
        levels = parse_levels(level_spec) if level_spec is not None else None
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--level") from e
    try:
        regex = re.compile(pattern) if pattern is not None else None
    except re.error as e:
        raise click.BadParameter(f"{pattern!r} is not a regular expression: {e}", param_hint="--grep") from e
    from efitables.dump import Dump

    try:
        d = Dump.open(one_dump(dump, split_parts), fmt)
    except EfitablesError as e:
        click.echo(f"efitables: {printable(str(e))}", err=True)
        sys.exit(EXIT_OPEN)
    with d:
        log = d.kernel_log
        if not log.available:
            why = printable(log.error or "")
            click.echo(f"efitables: {printable(d.path)}: no readable kernel log: {why}", err=True)
            for f in log.findings:
                click.echo(f"efitables: {printable(str(f))}", err=True)
            sys.exit(EXIT_OPEN)
        records = _selected(log, levels, regex)
        if as_json:
            doc = {
                "dump": d.path,
                "format": log.format,
                "address": log.address,
                "virtual_address": log.virtual_address,
                "translation": log.translation,
                "records_in_ring": len(log.records),
                "lost": log.lost,
                "skipped": log.skipped,
                "notes": log.notes,
                "findings": [f.to_dict() for f in log.findings],
                "records": [r.brief() for r in records],
            }
            json.dump(doc, sys.stdout, indent=1)
            sys.stdout.write("\n")
            sys.exit(EXIT_OK)
        out = sys.stdout
        for r in records:
            out.write("".join(terminal_line(line) + "\n" for line in r.dmesg_lines(caller)))
        for f in log.findings:
            click.echo(f"efitables: {printable(str(f))}", err=True)
    sys.exit(EXIT_OK)
