"""Shared click option types and decorators."""

from __future__ import annotations

import os
from typing import Any

import click

from efitables.text import printable


class Address(click.ParamType):
    """A physical address: ``0x7e0018``, ``7e0018h`` or decimal."""

    name = "ADDR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().replace("_", "")
        try:
            if text.endswith("h"):
                n = int(text[:-1], 16)
            else:
                n = int(text, 0)
        except ValueError:
            self.fail(f"{value!r} is not an address (use 0x... for hex)", param, ctx)
        if not 0 <= n < 1 << 64:
            self.fail(f"{value!r} is out of the 64-bit range", param, ctx)
        return n


ADDRESS = Address()


#: The ``--guid-db`` files of the command being run (a Dask worker is another process: it loads them itself).
LOADED_GUID_DBS: list[str] = []


def _load_guid_db(ctx: click.Context, param: click.Parameter, paths: tuple[str, ...]) -> tuple[str, ...]:
    """Load user GUID name lists (``GUID,Name`` CSV, as UEFITool's guids.csv) before any dump is parsed."""
    from efitables import guids

    LOADED_GUID_DBS.clear()  # this command's files only (a test runner invokes many commands in one process)
    for p in paths:
        try:
            guids.load_guid_csv(p)
        except OSError as e:
            raise click.BadParameter(f"{p}: {e.strerror or e}", ctx=ctx, param=param) from e
        LOADED_GUID_DBS.append(os.path.abspath(p))
    return paths


def _stats(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """``--stats``: count what every dump's sources read; print one line per file on stderr at the end.

    The command's JSON carries the same numbers under ``stats`` in its envelope
    (:func:`efitables.jsonout.envelope`); ``validate`` prints them per dump itself.
    """
    if not value or ctx.resilient_parsing:
        return value
    from efitables.memory import source

    source.start_tracking()

    def print_stats() -> None:
        for st in source.tracked():
            click.echo(f"stats: {printable(st.line())}", err=True)
        source.stop_tracking()  # the command is over (a test runner's process goes on)

    ctx.call_on_close(print_stats)
    return value


def split_option(f: Any) -> Any:
    """``--split PART`` (repeated): the parts of one makedumpfile ``--split`` dump, read as one dump."""
    return click.option(
        "--split",
        "split_parts",
        multiple=True,
        metavar="PART",
        type=click.Path(dir_okay=False),
        help="A part of one makedumpfile --split dump (repeat for every part): the parts are read as one dump.",
    )(f)


def one_dump(dump: str | None, split_parts: tuple[str, ...]) -> str | list[str]:
    """The one dump a command reads: DUMP, or the parts given with ``--split`` (not both, not neither)."""
    if dump is not None and split_parts:
        raise click.UsageError("give DUMP or the parts of one split dump (--split PART ...), not both")
    if split_parts:
        return list(split_parts)
    if dump is None:
        raise click.UsageError("missing DUMP (or the parts of a split dump: --split PART, repeated)")
    return dump


def dump_options(f: Any) -> Any:
    """Options every command that opens a dump takes."""
    from efitables.memory import FORMATS

    opts = [
        click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), help="Force the container format."),
        click.option("--systab", type=ADDRESS, help="Physical address of the EFI system table."),
        click.option("--boot-params", type=ADDRESS, help="Physical address of boot_params (the zero page)."),
        click.option(
            "--scan",
            type=click.Choice(["auto", "always", "never"]),
            default="auto",
            show_default=True,
            help="Signature scan: only without hints (auto), always, or never.",
        ),
        click.option("--exhaustive", is_flag=True, help="Scan every byte offset, not only 8-byte-aligned ones."),
        click.option("--show-secrets", is_flag=True, help="Reveal secrets (SNP VMPCKs, RNG seeds) instead of digests."),
        click.option(
            "--stats",
            is_flag=True,
            callback=_stats,
            expose_value=False,
            help="Print what was read from each file or URL (bytes, requests, cache hits) on stderr; "
            "JSON: 'stats' in the envelope.",
        ),
        click.option(
            "--guid-db",
            "guid_db",
            multiple=True,
            type=click.Path(dir_okay=False),
            callback=_load_guid_db,
            expose_value=False,
            is_eager=True,
            help="CSV of GUID names (GUID,Name per line, as UEFITool's guids.csv); built-in names win. Repeatable.",
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f
