"""``efitables tui``: the terminal UI (package ``efitables_tui``, Textual)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from efitables.cli import EXIT_OK, EXIT_OPEN, cli
from efitables.cli.options import dump_options, one_dump, split_option
from efitables.text import printable


@cli.command("tui")
@click.argument("dump", required=False, type=click.Path(dir_okay=False))
@dump_options
@split_option
@click.option(
    "--export-dir",
    type=click.Path(file_okay=False, dir_okay=True, writable=True),
    default=".",
    show_default=True,
    help="The directory 'e' (export the selected object as JSON) offers; it asks before writing.",
)
def tui_cmd(dump: str | None, split_parts: tuple[str, ...], export_dir: str, **opts: Any) -> None:
    """Browse DUMP in a terminal UI: structure tree, fields, hex view, findings, memory map.

    The window opens at once; parsing (and a signature scan, when the dump gives
    no hints) runs in the background with a progress bar; press x to cancel the scan.
    """
    target = one_dump(dump, split_parts)
    for path in [target] if isinstance(target, str) else target:
        if "://" not in path and not os.path.isfile(path):  # a URL is opened (and refused, if need be) by the app
            raise click.BadParameter(f"{printable(path)}: no such file", param_hint="'DUMP'" if dump else "'--split'")
    try:
        from efitables_tui.app import DumpSource, EfitablesApp
    except ImportError as e:  # pragma: no cover - packaging problem
        click.echo(f"efitables: the TUI is not installed ({e})", err=True)
        sys.exit(EXIT_OPEN)
    # The app opens the dump in its worker, after its first frame (a bad file exits 2 with the error).
    options = {
        "systab": opts.get("systab"),
        "boot_params": opts.get("boot_params"),
        "scan": opts.get("scan", "auto"),
        "exhaustive": opts.get("exhaustive", False),
        "show_secrets": opts.get("show_secrets", False),
    }
    app = EfitablesApp(DumpSource(target, opts.get("fmt"), options), export_dir=os.path.abspath(export_dir))
    try:
        app.run()
    finally:
        if app.dump_open:
            app.dump.close()
    sys.exit(app.return_code or EXIT_OK)
