"""``efitables validate``: a verdict per dump for CI pipelines and fleet triage.

Exit codes: 0 every dump validated and no finding at or above ``--fail-on``;
1 some dump has such a finding; 2 some dump could not be opened or read (this
wins over 1), or the command line was wrong.

Output: a text report (findings, then one summary line per dump) or
``--json`` (one document), ``--jsonl`` (one verdict object per line) or
``--sarif`` (SARIF 2.1.0). With a machine format the summary lines go to
stderr, so stdout stays parseable.

Directories are walked by content (:func:`efitables.validate.expand`); the files
skipped as not dumps are counted in the text report, in ``--json``'s summary and
on stderr. A DUMP that is a URL (``s3://bucket/dumps/vmcore``, ``https://...``) is
read by range (:mod:`efitables.memory.source`); a URL with a glob
(``s3://bucket/dumps/*.elf``) is expanded by fsspec, and one ending in ``/`` lists
every object below it named like a dump.

Executors: ``--executor local`` (the default) validates on this machine, in
``--jobs`` forked processes, and prints in argument order; ``--executor dask``
(:func:`efitables.fleet.run_dask`) submits one task per dump to the Dask scheduler
at ``--scheduler``, or to a LocalCluster of ``--workers`` processes started for the
run, and prints each verdict as it completes (a JSONL line, or the text block;
``--json`` and ``--sarif`` still print one document at the end). A dump whose task
fails on its worker is an error verdict (exit code 2); the others go on.
``--stats`` adds, per dump, what its files or URLs read (stderr; ``stats`` in
each JSONL line's envelope, all of them in ``--json``'s).

``--split PART`` (repeated) validates the parts of one makedumpfile
``--split`` dump as one dump. Every file name printed to a terminal is escaped
(:func:`efitables.text.printable`, and rich markup through
:func:`efitables.cli.render.safe`): names come from whoever named the files.
"""

from __future__ import annotations

import glob
import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import click

from efitables.cli import cli
from efitables.cli.options import LOADED_GUID_DBS, dump_options, split_option
from efitables.cli.render import hexa, safe
from efitables.findings import Severity
from efitables.fleet import (
    LOCAL_WORKERS,
    FleetError,
    ValidateOptions,
    failed_verdict,
    guarded_validate,
    run_dask,
    validate_one,
)
from efitables.jsonout import validate_document, verdict_line
from efitables.text import printable
from efitables.validate import (
    EXIT_ERROR,
    DumpPath,
    Expansion,
    Verdict,
    expand,
    ignore_matcher,
    overall_exit,
)

__all__ = ["expand_args", "guarded_validate", "run_validation", "validate_cmd"]

_SEV_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_STATUS_STYLE = {"ok": "green", "fail": "bold red", "error": "bold magenta"}


def run_validation(
    paths: list[DumpPath],
    *,
    fail_on: Severity = Severity.ERROR,
    ignore: tuple[str, ...] = (),
    open_kwargs: dict[str, Any] | None = None,
    jobs: int = 1,
    on_done: Callable[[Verdict], None] | None = None,
    on_start: Callable[[], None] | None = None,
    stats: bool = False,
) -> list[Verdict]:
    """Validate ``paths`` (in ``jobs`` processes when > 1); verdicts in the order of ``paths``.

    Each dump is :func:`efitables.fleet.validate_one` (``stats``: with what its files read).
    Workers are forked (where the platform can), so state the command line set up in this
    process (``--guid-db`` names) is theirs too; ``on_start`` runs once they exist (a progress
    bar's thread must not be running when the workers fork).
    """
    options = ValidateOptions.from_open_kwargs(open_kwargs, fail_on=fail_on, ignore=ignore, stats=stats)
    out: dict[int, Verdict] = {}
    if jobs <= 1 or len(paths) <= 1:
        if on_start:
            on_start()
        for i, p in enumerate(paths):
            out[i] = validate_one(p, options)
            if on_done:
                on_done(out[i])
    else:
        ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=ctx) as pool:
            futs = {pool.submit(validate_one, p, options): i for i, p in enumerate(paths)}
            if on_start:
                on_start()
            for fut in as_completed(futs):
                i = futs[fut]
                try:
                    v = fut.result()
                except Exception as e:  # noqa: BLE001  (a worker died: a crash, not a finding)
                    v = failed_verdict(paths[i], options, e)
                out[i] = v
                if on_done:
                    on_done(v)
    return [out[i] for i in range(len(paths))]


class _Progress:
    """A rich progress bar on stderr (only on a terminal)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled and sys.stderr.isatty() and total > 1
        self._prog: Any = None

    def __enter__(self) -> _Progress:
        return self

    def start(self) -> None:
        if self.enabled and self._prog is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

            self._prog = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._prog.start()
            self._task = self._prog.add_task("validating", total=self.total)

    def advance(self, v: Verdict) -> None:
        if self._prog is not None:
            self._prog.update(self._task, advance=1, description=f"validating {safe(os.path.basename(v.path))}")

    def __exit__(self, *exc: object) -> None:
        if self._prog is not None:
            self._prog.stop()


def _summary(verdicts: list[Verdict], skipped: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    total = {str(s): 0 for s in sorted(Severity, reverse=True)}
    for v in verdicts:
        for k, n in v.counts.items():
            total[k] += n
    return {
        "dumps": len(verdicts),
        "ok": sum(v.status == "ok" for v in verdicts),
        "failed": sum(v.status == "fail" for v in verdicts),
        "errors": sum(v.status == "error" for v in verdicts),
        "findings": total,
        "skipped": len(skipped or []),
        "exit_code": overall_exit(verdicts),
    }


def _skipped_line(skipped: list[tuple[str, str]]) -> str:
    """``3 files skipped (not dumps): 2 text, 1 empty`` (reasons counted, no file names)."""
    why: dict[str, int] = {}
    for _p, w in skipped:
        why[w] = why.get(w, 0) + 1
    reasons = ", ".join(f"{n} {printable(w)}" for w, n in sorted(why.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{len(skipped)} file{'s' if len(skipped) != 1 else ''} skipped (not dumps): {reasons}"


def _text_console() -> Any:
    from efitables.cli.render import make_console

    return make_console()


def _echo_verdict(con: Any, v: Verdict, quiet: bool) -> None:
    """One dump's findings (unless ``quiet``) and its summary line."""
    if not quiet:
        for f in v.findings:
            con.print(
                f"  [{_SEV_STYLE[f.severity]}]{str(f.severity):<7}[/] {f.code}  {safe(f.structure)}"
                f"{' @ ' + hexa(f.address) if f.address is not None else ''}: {safe(f.message)}",
                soft_wrap=True,
            )
    con.print(f"[{_STATUS_STYLE[v.status]}]{safe(v.summary_line())}[/]", soft_wrap=True)


def _echo_text(
    verdicts: list[Verdict],
    quiet: bool,
    skipped: list[tuple[str, str]] | None = None,
    summary_of: list[Verdict] | None = None,
) -> None:
    """The text report: each verdict, the files skipped, and (several dumps) the run's summary, which
    covers ``summary_of`` when given (a run whose verdicts were printed as they finished)."""
    con = _text_console()
    for v in verdicts:
        _echo_verdict(con, v, quiet)
    if skipped:
        con.print(safe(_skipped_line(skipped)), soft_wrap=True)
    every = verdicts if summary_of is None else summary_of
    if len(every) > 1:
        s = _summary(every)
        con.print(
            f"{s['dumps']} dumps: {s['ok']} ok, {s['failed']} failed, {s['errors']} not validated "
            f"({', '.join(f'{n} {k}' for k, n in s['findings'].items())})"
        )


def _stats_of(v: Verdict) -> list[dict[str, Any]] | None:
    stats = getattr(v, "stats", None)
    return stats if isinstance(stats, list) else None


def _jsonl_line(v: Verdict, with_stats: bool) -> str:
    return json.dumps(verdict_line(v.to_dict(), (_stats_of(v) or []) if with_stats else None), sort_keys=False)


def _iter_lines(verdicts: list[Verdict], with_stats: bool = False) -> Iterator[str]:
    for v in verdicts:
        yield _jsonl_line(v, with_stats)


def _stats_lines(v: Verdict) -> list[str]:
    """``stats: PATH: 1.2 MiB read in 20 requests ...`` per file the dump read (escaped)."""
    from efitables.memory.source import SourceStats

    out = []
    for d in _stats_of(v) or []:
        st = SourceStats(
            str(d.get("path")),
            bool(d.get("remote")),
            **{
                k: int(d.get(k) or 0) for k in ("size", "bytes_read", "requests", "reads", "bytes_served", "cache_hits")
            },
        )
        out.append(f"stats: {printable(st.line())}")
    return out


# -- DUMP arguments that are URLs --------------------------------------------------------------------


def _expand_url(arg: str, out: Expansion) -> None:
    """A URL argument: itself, or what an fsspec glob (``s3://b/dumps/*.elf``) or a folder listing
    (``s3://b/dumps/``: every object named like a dump, recursively) gives."""
    from efitables.memory.source import REMOTE_EXTRA
    from efitables.validate import is_dump_name

    listing = arg.endswith("/")
    pattern = glob.has_magic(arg.split("://", 1)[-1])
    if not listing and not pattern:
        out.paths.append(arg)
        return
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(arg)
        found = sorted(fs.glob(path) if pattern else fs.find(path))
    except ImportError as e:
        out.problems.append(Verdict(path=arg, opened=False, stage="open", error=f"{arg}: {e} ({REMOTE_EXTRA})"))
        return
    except Exception as e:  # noqa: BLE001 (whatever the protocol raises: the argument's verdict says it)
        out.problems.append(
            Verdict(path=arg, opened=False, stage="open", error=f"{arg}: cannot list: {type(e).__name__}: {e}")
        )
        return
    urls = []
    for p in found:
        name = p.rstrip("/").rsplit("/", 1)[-1]
        if listing and not is_dump_name(name):
            out.skipped.append((fs.unstrip_protocol(p), "not named like a dump"))
            continue
        urls.append(fs.unstrip_protocol(p))
    if not urls:
        out.problems.append(
            Verdict(
                path=arg,
                opened=False,
                stage="open",
                error=f"{arg}: {'no object matches' if pattern else 'holds no dump files'}",
            )
        )
    out.paths.extend(urls)


def expand_args(args: tuple[str, ...]) -> Expansion:
    """:func:`efitables.validate.expand` for local arguments, :func:`_expand_url` for URLs; order kept."""
    from efitables.memory.source import is_remote

    out = Expansion()
    for arg in args:
        if is_remote(arg):
            _expand_url(arg, out)
        else:
            e = expand([arg])
            out.paths.extend(e.paths)
            out.problems.extend(e.problems)
            out.skipped.extend(e.skipped)
    out.paths = list(dict.fromkeys(out.paths))
    return out


@cli.command("validate")
@click.argument("dumps", nargs=-1)
@dump_options
@split_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document: every verdict and a summary.")
@click.option("--jsonl", "as_jsonl", is_flag=True, help="One JSON verdict per line.")
@click.option("--sarif", "as_sarif", is_flag=True, help="SARIF 2.1.0 (for code-scanning dashboards).")
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning"]),
    default="error",
    show_default=True,
    help="Exit 1 when a finding of this severity or worse remains.",
)
@click.option(
    "--ignore",
    "ignore",
    multiple=True,
    metavar="CODE",
    help="Drop findings with this code (repeatable; commas and patterns such as 'EFI-CFGTAB-*' allowed).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Parallel processes on this machine (--executor local).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default=None,
    help="local: this machine (--jobs); dask: one task per dump on a Dask cluster, verdicts as they finish "
    "(default: dask with --scheduler, else local).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask scheduler address (tcp://host:8786); without it --executor dask starts a LocalCluster.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=LOCAL_WORKERS,
    show_default=True,
    help="Worker processes of the LocalCluster (--executor dask without --scheduler).",
)
@click.option("-q", "--quiet", is_flag=True, help="Text output: summary lines only.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on a terminal (stderr).")
def validate_cmd(
    dumps: tuple[str, ...],
    as_json: bool,
    as_jsonl: bool,
    as_sarif: bool,
    fail_on: str,
    ignore: tuple[str, ...],
    jobs: int,
    executor: str | None,
    scheduler: str | None,
    workers: int,
    quiet: bool,
    progress: bool,
    split_parts: tuple[str, ...],
    **opts: Any,
) -> None:
    """Validate DUMPS (files, directories, globs): findings, a summary line per dump, an exit code.

    Exit 0: clean; 1: a finding at or above --fail-on; 2: a dump could not be opened or read.
    DUMPS may be URLs (s3://, https://, any fsspec protocol: read by range) and, with
    --executor dask, are validated one task per dump on a Dask cluster.
    """
    if sum((as_json, as_jsonl, as_sarif)) > 1:
        raise click.UsageError("choose one of --json, --jsonl, --sarif")
    if not dumps and not split_parts:
        raise click.UsageError("give DUMPS (files, directories, globs) or the parts of a split dump with --split")
    if executor is None:
        executor = "dask" if scheduler else "local"
    if scheduler and executor != "dask":
        raise click.UsageError("--scheduler is the address of a Dask scheduler: use it with --executor dask")
    try:
        patterns = ignore_matcher(ignore)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--ignore") from None
    from efitables.memory import source

    with_stats = source.tracking()  # --stats: each verdict carries its files' numbers (printed here)
    threshold = Severity.parse(fail_on)
    expansion = expand_args(dumps)
    problems, skipped = expansion.problems, expansion.skipped
    paths: list[DumpPath] = list(expansion.paths)
    if split_parts:
        paths.append(list(split_parts))
    open_kwargs = {
        "format": opts.get("fmt"),
        "systab": opts.get("systab"),
        "boot_params": opts.get("boot_params"),
        "scan": opts.get("scan", "auto"),
        "exhaustive": opts.get("exhaustive", False),
    }
    for v in problems:
        v.fail_on = threshold
    machine = as_json or as_jsonl or as_sarif
    if as_jsonl:  # the arguments that gave no dump first, as before
        for v in problems:
            _write_line(_jsonl_line(v, with_stats))
    streamed: Callable[[Verdict], None] | None = None
    if executor == "dask":
        options = ValidateOptions.from_open_kwargs(
            open_kwargs, fail_on=threshold, ignore=patterns, stats=with_stats, guid_db=tuple(LOADED_GUID_DBS)
        )
        con = None if machine else _text_console()

        def stream(v: Verdict) -> None:  # verdicts as they finish: a JSONL line, or the text block
            if as_jsonl:
                _write_line(_jsonl_line(v, with_stats))
            elif con is not None:
                _echo_verdict(con, v, quiet)
            if machine or with_stats:
                _echo_err(v, machine, with_stats)

        streamed = stream
        verdicts = _run_dask_cli(paths, options, scheduler, workers, progress, stream)
    else:
        with _Progress(len(paths), progress) as bar:
            verdicts = run_validation(
                paths,
                fail_on=threshold,
                ignore=patterns,
                open_kwargs=open_kwargs,
                jobs=jobs,
                on_done=bar.advance,
                on_start=bar.start,
                stats=with_stats,
            )
    verdicts = problems + verdicts
    if with_stats:
        source.stop_tracking()  # each verdict printed its own; nothing left for the end of the command
    all_stats = [d for v in verdicts for d in (_stats_of(v) or [])] if with_stats else None
    if as_json:
        json.dump(
            validate_document(
                {
                    "version": 1,
                    "fail_on": fail_on,
                    "ignore": list(patterns),
                    "summary": _summary(verdicts, skipped),
                    "skipped": [{"path": p, "why": w} for p, w in skipped],
                    "dumps": [v.to_dict() for v in verdicts],
                },
                all_stats,
            ),
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    elif as_jsonl:
        if streamed is None:
            for line in _iter_lines(verdicts[len(problems) :], with_stats):
                _write_line(line)
    elif as_sarif:
        from efitables.sarif import sarif_log

        json.dump(sarif_log(verdicts), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif streamed is None:
        _echo_text(verdicts, quiet, skipped)
    else:  # the dask run printed each verdict as it finished: what is left is the summary
        _echo_text(problems, quiet, skipped, summary_of=verdicts)
    if machine or with_stats:
        for v in problems if streamed is not None else verdicts:
            _echo_err(v, machine, with_stats)
        if machine and skipped:
            click.echo(_skipped_line(skipped), err=True)
    sys.exit(overall_exit(verdicts))


def _write_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _echo_err(v: Verdict, summary: bool, stats: bool) -> None:
    """stderr: the verdict's summary line (machine formats) and its files' numbers (--stats)."""
    if summary:
        click.echo(v.summary_line(), err=True)  # summary_line escapes the path and the error
    if stats:
        for line in _stats_lines(v):
            click.echo(line, err=True)


def _run_dask_cli(
    paths: list[DumpPath],
    options: ValidateOptions,
    scheduler: str | None,
    workers: int,
    progress: bool,
    on_done: Callable[[Verdict], None],
) -> list[Verdict]:
    """:func:`efitables.fleet.run_dask` with a progress bar fed from the futures as they complete."""
    if not paths:
        return []
    out: list[Verdict] = []
    with _Progress(len(paths), progress) as bar:
        try:
            for v in run_dask(paths, options, scheduler, workers, on_submitted=lambda _n: bar.start()):
                out.append(v)
                on_done(v)
                bar.advance(v)
        except FleetError as e:
            click.echo(f"efitables: {e}", err=True)
            sys.exit(EXIT_ERROR)
    return out
