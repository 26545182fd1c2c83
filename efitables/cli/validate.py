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
on stderr. ``--split PART`` (repeated) validates the parts of one makedumpfile
``--split`` dump as one dump. Every file name printed to a terminal is escaped
(:func:`efitables.text.printable`, and rich markup through
:func:`efitables.cli.render.safe`): names come from whoever named the files.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import click

from efitables.cli import cli
from efitables.cli.options import dump_options
from efitables.cli.render import hexa, safe
from efitables.findings import Severity
from efitables.jsonout import validate_document, verdict_line
from efitables.text import printable
from efitables.validate import (
    DumpPath,
    InternalError,
    Verdict,
    expand,
    ignore_matcher,
    overall_exit,
    path_text,
    validate_path,
)

_SEV_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_STATUS_STYLE = {"ok": "green", "fail": "bold red", "error": "bold magenta"}


def guarded_validate(
    path: DumpPath, fail_on: Severity, ignore: tuple[str, ...], open_kwargs: dict[str, Any]
) -> Verdict:
    """validate_path with a last-resort guard: a parser bug fails this dump (exit 2), not the whole run.

    The fuzz tests call :func:`validate_path` directly, so such a bug still fails them.
    """
    try:
        return validate_path(path, fail_on=fail_on, ignore=ignore, open_kwargs=open_kwargs)
    except InternalError as e:
        return Verdict(path=path_text(path), opened=True, fail_on=fail_on, error=str(e), stage=e.stage)
    except Exception as e:  # noqa: BLE001  (last resort; reported, never silent)
        return Verdict(
            path=path_text(path), opened=False, fail_on=fail_on, error=f"internal error: {e!r}", stage="unknown"
        )


def run_validation(
    paths: list[DumpPath],
    *,
    fail_on: Severity = Severity.ERROR,
    ignore: tuple[str, ...] = (),
    open_kwargs: dict[str, Any] | None = None,
    jobs: int = 1,
    on_done: Callable[[Verdict], None] | None = None,
    on_start: Callable[[], None] | None = None,
) -> list[Verdict]:
    """Validate ``paths`` (in ``jobs`` processes when > 1); verdicts in the order of ``paths``.

    Workers are forked (where the platform can), so state the command line set up in this
    process (``--guid-db`` names) is theirs too; ``on_start`` runs once they exist (a progress
    bar's thread must not be running when the workers fork).
    """
    kw = open_kwargs or {}
    out: dict[int, Verdict] = {}
    if jobs <= 1 or len(paths) <= 1:
        if on_start:
            on_start()
        for i, p in enumerate(paths):
            out[i] = guarded_validate(p, fail_on, ignore, kw)
            if on_done:
                on_done(out[i])
    else:
        ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=ctx) as pool:
            futs = {pool.submit(guarded_validate, p, fail_on, ignore, kw): i for i, p in enumerate(paths)}
            if on_start:
                on_start()
            for fut in as_completed(futs):
                i = futs[fut]
                try:
                    v = fut.result()
                except Exception as e:  # noqa: BLE001  (a worker died: a crash, not a finding)
                    v = Verdict(
                        path=path_text(paths[i]), opened=False, fail_on=fail_on, error=f"worker failed: {e!r}"
                    )
                    v.stage = "worker"
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


def _echo_text(verdicts: list[Verdict], quiet: bool, skipped: list[tuple[str, str]] | None = None) -> None:
    from efitables.cli.render import make_console

    con = make_console()
    for v in verdicts:
        if not quiet:
            for f in v.findings:
                con.print(
                    f"  [{_SEV_STYLE[f.severity]}]{str(f.severity):<7}[/] {f.code}  {safe(f.structure)}"
                    f"{' @ ' + hexa(f.address) if f.address is not None else ''}: {safe(f.message)}",
                    soft_wrap=True,
                )
        con.print(f"[{_STATUS_STYLE[v.status]}]{safe(v.summary_line())}[/]", soft_wrap=True)
    if skipped:
        con.print(safe(_skipped_line(skipped)), soft_wrap=True)
    if len(verdicts) > 1:
        s = _summary(verdicts)
        con.print(
            f"{s['dumps']} dumps: {s['ok']} ok, {s['failed']} failed, {s['errors']} not validated "
            f"({', '.join(f'{n} {k}' for k, n in s['findings'].items())})"
        )


def _iter_lines(verdicts: list[Verdict]) -> Iterator[str]:
    for v in verdicts:
        yield json.dumps(verdict_line(v.to_dict()), sort_keys=False)


@cli.command("validate")
@click.argument("dumps", nargs=-1)
@dump_options
@click.option(
    "--split",
    "split_parts",
    multiple=True,
    metavar="PART",
    help="A part of one makedumpfile --split dump (repeat for every part): the parts are validated as one dump.",
)
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
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=1, show_default=True, help="Parallel processes.")
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
    quiet: bool,
    progress: bool,
    split_parts: tuple[str, ...],
    **opts: Any,
) -> None:
    """Validate DUMPS (files, directories, globs): findings, a summary line per dump, an exit code.

    Exit 0: clean; 1: a finding at or above --fail-on; 2: a dump could not be opened or read.
    """
    if sum((as_json, as_jsonl, as_sarif)) > 1:
        raise click.UsageError("choose one of --json, --jsonl, --sarif")
    if not dumps and not split_parts:
        raise click.UsageError("give DUMPS (files, directories, globs) or the parts of a split dump with --split")
    try:
        patterns = ignore_matcher(ignore)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--ignore") from None
    threshold = Severity.parse(fail_on)
    expansion = expand(dumps)
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
    with _Progress(len(paths), progress) as bar:
        verdicts = run_validation(
            paths,
            fail_on=threshold,
            ignore=patterns,
            open_kwargs=open_kwargs,
            jobs=jobs,
            on_done=bar.advance,
            on_start=bar.start,
        )
    verdicts = problems + verdicts
    machine = as_json or as_jsonl or as_sarif
    if as_json:
        json.dump(
            validate_document({
                "version": 1,
                "fail_on": fail_on,
                "ignore": list(patterns),
                "summary": _summary(verdicts, skipped),
                "skipped": [{"path": p, "why": w} for p, w in skipped],
                "dumps": [v.to_dict() for v in verdicts],
            }),
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    elif as_jsonl:
        for line in _iter_lines(verdicts):
            sys.stdout.write(line + "\n")
    elif as_sarif:
        from efitables.sarif import sarif_log

        json.dump(sarif_log(verdicts), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _echo_text(verdicts, quiet, skipped)
    if machine:
        for v in verdicts:
            click.echo(v.summary_line(), err=True)  # summary_line escapes the path and the error
        if skipped:
            click.echo(_skipped_line(skipped), err=True)
    sys.exit(overall_exit(verdicts))
