"""The ``efitables`` command line.

Exit codes (every command): 0 done and nothing at or above the failure
threshold; 1 findings at or above it (for ``show``: an error-severity
finding); 2 a dump could not be opened or the command line was wrong.

Each command lives in its own module, which attaches it to :data:`cli` when
imported. :class:`LazyGroup` imports that module only when the command runs (or
its own ``--help`` is asked for), so ``efitables --version`` and ``efitables
--help`` import no parser. A new command gets a :data:`COMMANDS` entry.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from efitables import __version__
from efitables.errors import EfitablesError

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from efitables.dump import Dump

EXIT_OK, EXIT_FINDINGS, EXIT_OPEN = 0, 1, 2


@dataclass(frozen=True)
class LazyCommand:
    """Where a command is defined, and its one-line help for the group's listing before it is loaded.

    ``modules`` are imported in order; the first defines the command, any others
    add to it (``show``'s text sections register in import order). ``summary`` is
    the first paragraph of the command's docstring (tests/test_startup.py checks
    that they agree).
    """

    modules: tuple[str, ...]
    summary: str


COMMANDS: dict[str, LazyCommand] = {
    "coverage": LazyCommand(
        ("efitables.cli.coverage",),
        "Verdict per object the next kernel reads before its own page tables: covered, rounding-only, not-covered.",
    ),
    "diff": LazyCommand(
        ("efitables.cli.diff",),
        "Compare the structures of dumps A and B: tables added, removed, moved; fields changed; findings.",
    ),
    "scan": LazyCommand(
        ("efitables.cli.scan",),
        "Sweep DUMP for 'IBI SYST' and zero pages; list every candidate and why it was accepted or rejected.",
    ),
    "show": LazyCommand(
        ("efitables.cli.show", "efitables.cli.boot", "efitables.cli.snp"),
        "Show the EFI and boot structures found in DUMPS.",
    ),
    "tui": LazyCommand(
        ("efitables.cli.tui",),
        "Browse DUMP in a terminal UI: structure tree, fields, hex view, findings, memory map.",
    ),
    "validate": LazyCommand(
        ("efitables.cli.validate",),
        "Validate DUMPS (files, directories, globs): findings, a summary line per dump, an exit code.",
    ),
}


class LazyGroup(click.Group):
    """A click group that imports a command's module on first use (click's documented LazyGroup pattern).

    Listing the commands (``--help``, shell completion of command names) describes
    a command not yet loaded by its :class:`LazyCommand` summary instead of importing it.
    """

    def __init__(self, *args: Any, lazy_commands: dict[str, LazyCommand] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, LazyCommand] = dict(lazy_commands or {})
        self._loaded: set[str] = set()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self._loaded:
            self.load(cmd_name)
        return self.commands.get(cmd_name)

    def load(self, cmd_name: str) -> click.Command:
        """Import the modules of ``cmd_name``; the first one attaches the command to this group.

        All of them, even when the command's own module was imported directly before
        (``show`` then still gets the sections the later modules add).
        """
        for module in self.lazy_commands[cmd_name].modules:
            importlib.import_module(module)
        self._loaded.add(cmd_name)
        cmd = self.commands.get(cmd_name)
        if cmd is None:
            raise RuntimeError(f"{self.lazy_commands[cmd_name].modules[0]} did not define command {cmd_name!r}")
        return cmd

    def load_all(self) -> None:
        for name in self.lazy_commands:
            self.get_command(click.Context(self), name)

    def _described(self, cmd_name: str) -> click.Command | None:
        """The command if loaded, else a stand-in carrying its summary (for listings; never invoked)."""
        cmd = self.commands.get(cmd_name)
        if cmd is None and cmd_name in self.lazy_commands:
            cmd = click.Command(cmd_name, help=self.lazy_commands[cmd_name].summary)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing (same layout), from the summaries of commands not yet loaded."""
        commands = []
        for name in self.list_commands(ctx):
            cmd = self._described(name)
            if cmd is not None and not cmd.hidden:
                commands.append((name, cmd))
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            rows = [(name, cmd.get_short_help_str(limit)) for name, cmd in commands]
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """Command names (with their one-line help) complete without importing the commands."""
        from click.shell_completion import CompletionItem

        results = []
        for name in self.list_commands(ctx):
            cmd = self._described(name) if name.startswith(incomplete) else None
            if cmd is not None and not cmd.hidden:
                results.append(CompletionItem(name, help=cmd.get_short_help_str()))
        results.extend(click.Command.shell_complete(self, ctx, incomplete))
        return results


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
    from efitables.dump import Dump

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
