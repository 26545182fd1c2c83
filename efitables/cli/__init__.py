"""The ``efitables`` command line.

Exit codes (every command): 0 done and nothing at or above the failure
threshold; 1 findings at or above it (for ``show``: an error-severity
finding); 2 a dump could not be opened or the command line was wrong; 141
(128 + SIGPIPE) standard output was closed before everything was written
(``efitables show DUMP | head -1``): nothing more is printed, not even an
error, as a Unix tool ended by SIGPIPE.

Each command lives in its own module, which attaches it to :data:`cli` when
imported. :class:`LazyGroup` imports that module only when the command runs (or
its own ``--help`` is asked for), so ``efitables --version`` and ``efitables
--help`` import no parser. A new command gets a :data:`COMMANDS` entry.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import click

from efitables import __version__
from efitables.errors import EfitablesError

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from efitables.dump import Dump

EXIT_OK, EXIT_FINDINGS, EXIT_OPEN = 0, 1, 2
#: Standard output closed early (a reader such as ``head`` quit): the status a shell reports for a
#: process ended by SIGPIPE. efitables does not restore SIGPIPE's default action to get it (Python's
#: signal docs advise against that: ``validate --jobs`` talks to its workers through pipes); it
#: catches the BrokenPipeError and exits with the same status.
EXIT_BROKEN_PIPE = 128 + int(getattr(signal, "SIGPIPE", 13))
#: Distributions ``--version`` names besides efitables and Python: pyproject's dependencies.
VERSION_DISTRIBUTIONS = ("construct", "pyelftools", "click", "rich", "numpy", "textual", "cramjam", "lzokay")


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
    "export": LazyCommand(
        ("efitables.cli.export",),
        "Write the raw bytes of DUMP's ACPI tables (acpidump -b names, for iasl) or of any structure to a directory.",
    ),
    "dmesg": LazyCommand(
        ("efitables.cli.dmesg",),
        "Print the kernel's log (the printk ring buffer) held in DUMP, as dmesg prints it.",
    ),
    "scan": LazyCommand(
        ("efitables.cli.scan",),
        "Sweep DUMP for 'IBI SYST' and zero pages; list every candidate and why it was accepted or rejected.",
    ),
    "show": LazyCommand(
        ("efitables.cli.show", "efitables.cli.boot", "efitables.cli.snp", "efitables.cli.kernel"),
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

    # A closed standard output ends the run with EXIT_BROKEN_PIPE wherever it is met: click's own
    # handler (around these two) and rich's Console.on_broken_pipe would both exit 1, "findings" here.
    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:  # --help and --version print while the arguments are parsed
            return super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError:
            stdout_closed()

    def invoke(self, ctx: click.Context) -> Any:
        _rich_raises_broken_pipe()
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            stdout_closed()


def _rich_raises_broken_pipe() -> None:
    """Make rich's consoles raise BrokenPipeError (to :meth:`LazyGroup.invoke`) instead of exiting 1.

    rich documents ``Console.on_broken_pipe`` as the hook to override; the commands build
    their consoles in several places, so the hook is set once, on the class, for the
    command line's run only (the library API never calls this).
    """
    from rich.console import Console  # every command prints through rich; already imported by then

    def on_broken_pipe(self: Console) -> None:
        raise BrokenPipeError

    Console.on_broken_pipe = on_broken_pipe  # type: ignore[method-assign]


def stdout_closed() -> NoReturn:
    """Exit quietly after a reader closed standard output (Python's signal docs, "Note on SIGPIPE").

    Standard output is pointed at ``/dev/null`` so that the flush at exit cannot fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test runner's stream)
        pass
    sys.exit(EXIT_BROKEN_PIPE)


def installed_versions(names: tuple[str, ...] = VERSION_DISTRIBUTIONS) -> dict[str, str | None]:
    """``{distribution: version or None}`` without importing the distributions.

    A wheel installs ``<name>-<version>.dist-info`` (PEP 427 and the core metadata
    specification: the name normalized, the version the one of its ``METADATA``), so
    the versions are read from those directory names on ``sys.path``, in path order
    as :mod:`importlib.metadata` searches. A name found that way needs no
    :mod:`importlib.metadata` (whose import alone costs about what ``--version`` did
    before); any other is asked of ``importlib.metadata.version``.
    """
    want = {_dist_key(n): n for n in names}
    found: dict[str, str | None] = {}
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for fn in listing:
            if not fn.endswith(".dist-info"):
                continue
            dist, _, version = fn.removesuffix(".dist-info").partition("-")
            name = want.get(_dist_key(dist))
            if name is not None and name not in found and version:
                found[name] = version
        if len(found) == len(want):
            break
    missing = [n for n in names if n not in found]
    if missing:
        import importlib.metadata

        for n in missing:
            try:
                found[n] = importlib.metadata.version(n)
            except importlib.metadata.PackageNotFoundError:
                found[n] = None
    return {n: found[n] for n in names}


def _dist_key(name: str) -> str:
    """A distribution name normalized (PEP 503: case, runs of ``-``, ``_``, ``.``)."""
    return "-".join(name.lower().replace("_", "-").replace(".", "-").split("-"))


def version_text() -> str:
    """What ``--version`` prints: efitables' version, then Python's and each library's, one a line."""
    impl = sys.implementation.name
    lines = [f"efitables, version {__version__}", f"Python {sys.version.split()[0]} ({impl}, {sys.executable})"]
    for name, version in installed_versions().items():
        lines.append(f"{name} {version if version is not None else 'not installed'}")
    return "\n".join(lines)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(version_text())
    ctx.exit()


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the versions of efitables, Python and the libraries it uses, and exit.",
)
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


def open_dump(path: str | list[str], opts: dict[str, Any], progress: Any = None) -> Dump:
    """Open one dump (a list of paths: the parts of one makedumpfile --split dump) with the command's options."""
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
        try:
            cli.main(args=argv, prog_name="efitables", standalone_mode=True)
        finally:
            if sys.stdout is not None:  # flushed here, not at exit: a reader gone is a BrokenPipeError caught below
                sys.stdout.flush()
    except BrokenPipeError:
        stdout_closed()
    except EfitablesError as e:  # anything a command did not turn into output itself
        click.echo(f"efitables: {e}", err=True)
        sys.exit(EXIT_OPEN)
    except KeyboardInterrupt:
        click.echo("efitables: interrupted", err=True)
        sys.exit(130)
