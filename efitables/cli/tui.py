"""``efitables tui``: the terminal UI (package ``efitables_tui``, Textual)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from efitables.cli import EXIT_OK, EXIT_OPEN, cli, open_dump
from efitables.cli.options import dump_options
from efitables.errors import EfitablesError


@cli.command("tui")
@click.argument("dump", type=click.Path(dir_okay=True))
@dump_options
@click.option(
    "--export-dir",
    type=click.Path(file_okay=False, dir_okay=True, writable=True),
    default=".",
    show_default=True,
    help="Where 'e' (export the selected object as JSON) writes.",
)
def tui_cmd(dump: str, export_dir: str, **opts: Any) -> None:
    """Browse DUMP in a terminal UI: structure tree, fields, hex view, findings, memory map.

    The window opens at once; parsing (and a signature scan, when the dump gives
    no hints) runs in the background with a progress bar; press x to cancel the scan.
    """
    try:
        from efitables_tui.app import EfitablesApp
    except ImportError as e:  # pragma: no cover - packaging problem
        click.echo(f"efitables: the TUI is not installed ({e})", err=True)
        sys.exit(EXIT_OPEN)
    try:
        d = open_dump(dump, opts)
    except EfitablesError as e:
        click.echo(f"efitables: {e}", err=True)
        sys.exit(EXIT_OPEN)
    with d:
        EfitablesApp(d, export_dir=os.path.abspath(export_dir)).run()
    sys.exit(EXIT_OK)
