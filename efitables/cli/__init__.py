"""The ``efitables`` command line.

Exit codes (every command): 0 done and nothing at or above the failure
threshold; 1 findings at or above it (for ``show``: an error-severity
finding); 2 a dump could not be opened or the command line was wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from efitables import __version__
from efitables.dump import Dump
from efitables.errors import EfitablesError

EXIT_OK, EXIT_FINDINGS, EXIT_OPEN = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="efitables")
def cli() -> None:
    """Parse the EFI, boot_params, setup_data and SEV-SNP structures in x86-64 memory dumps."""


@contextmanager
def scan_progress(enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr for long scans (only when stderr is a terminal)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as prog:
        task = prog.add_task("scanning", total=None)

        def update(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        yield update


def open_dump(path: str, opts: dict[str, Any], progress: Any = None) -> Dump:
    return Dump.open(
        path,
        opts.get("fmt"),
        systab=opts.get("systab"),
        boot_params=opts.get("boot_params"),
        scan=opts.get("scan", "auto"),
        exhaustive=opts.get("exhaustive", False),
        show_secrets=opts.get("show_secrets", False),
        progress=progress,
    )


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="efitables", standalone_mode=True)
    except EfitablesError as e:  # anything a command did not turn into output itself
        click.echo(f"efitables: {e}", err=True)
        sys.exit(EXIT_OPEN)
    except KeyboardInterrupt:
        click.echo("efitables: interrupted", err=True)
        sys.exit(130)


# Commands live in their own modules and attach themselves to ``cli``.
from efitables.cli import scan as _scan  # noqa: E402,F401,I001 (order: show sections register in import order)
from efitables.cli import show as _show  # noqa: E402,F401
from efitables.cli import boot as _boot  # noqa: E402,F401
from efitables.cli import snp as _snp  # noqa: E402,F401
from efitables.cli import validate as _validate  # noqa: E402,F401
from efitables.cli import tui as _tui  # noqa: E402,F401
from efitables.cli import diff as _diff  # noqa: E402,F401
from efitables.cli import coverage as _coverage  # noqa: E402,F401
