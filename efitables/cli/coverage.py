"""``efitables coverage``: is what the next kernel reads early identity-mapped?

Exit codes: 0 every required object is covered (possibly by rounding only),
1 something required is not covered, 2 the dump or the options were unusable.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from efitables import jsonout
from efitables.analysis.coverage import compare
from efitables.cli import EXIT_FINDINGS, EXIT_OK, EXIT_OPEN, cli, open_dump, scan_progress
from efitables.cli.options import ADDRESS, dump_options, one_dump, split_option
from efitables.cli.render import findings_table, hexa, kv_table, make_console, safe
from efitables.coverage import PRESETS, CoverageReport, ModelError, parse_model
from efitables.coverage.image import PARTLY
from efitables.coverage.models import ALIASES, AUTO_MODEL, DEFAULT_MODEL, MODEL_KEYS
from efitables.coverage.objects import DECOMPRESSOR, KEXEC
from efitables.coverage.verdict import COVERED, NOT_COVERED, PAGE_TABLE, ROUNDING
from efitables.errors import EfitablesError

_STYLE = {COVERED: "green", ROUNDING: "yellow", NOT_COVERED: "bold red"}
_TITLES = {
    KEXEC: "kexec identity map (old kernel; the next decompressor starts on it)",
    DECOMPRESSOR: "decompressor identity map (the decompressed kernel starts on it)",
    PAGE_TABLE: "walked page table",
}


class PgdParam(click.ParamType):
    name = "ADDR|auto|scan"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, str) and value.strip().lower() in ("auto", "scan"):
            return value.strip().lower()
        return ADDRESS.convert(value, param, ctx)


def _models_text() -> str:
    lines = [f"{AUTO_MODEL:10} the preset of the dump's own kernel (its version from VMCOREINFO and linux_banner); "
             f"{DEFAULT_MODEL} when the dump does not say"]
    lines += [f"{name:10} {m.description}" for name, m in PRESETS.items()]
    lines.append("")
    lines.append("Aliases: " + ", ".join(f"{a} = {p}" for a, p in ALIASES.items()))
    lines.append("")
    lines.append("Modifiers (NAME,key=value,...; 'custom,...' starts from " + DEFAULT_MODEL + "):")
    lines.extend(f"  {k:15} {v}" for k, v in MODEL_KEYS.items())
    return "\n".join(lines)


def render(rep: CoverageReport) -> None:
    con = make_console()
    m = rep.model
    con.print(
        kv_table(
            f"Model {safe(m.name)}",
            [
                ("chosen", safe(rep.model_choice) or "given with --model"),
                ("behaviour", safe(m.description)),
                ("sources", safe(", ".join(m.sources)) or "-"),
                ("granularity", "1 GiB (whole touched GiBs)" if m.granularity() == 1 << 30 else "2 MiB"),
                ("gbpages", f"{'on' if m.gbpages else 'off'} (rule: {m.gbpage_rule})"),
                (
                    "kexec segments",
                    f"the loaded image's ({safe(rep.segments_source)})"
                    if rep.segments_source
                    else "assumed (no kexec image loaded in the dump)",
                ),
            ],
        )
    )
    con.print()
    if rep.image is not None:
        _render_image(con, rep)
    for map_name in (KEXEC, DECOMPRESSOR, PAGE_TABLE):
        rows = rep.rows_for(map_name)
        if not rows:
            continue
        title = _TITLES[map_name]
        if map_name == PAGE_TABLE and rep.walk is not None:
            w = rep.walk
            title += f" @ {w.root:#x} ({safe(w.root_source)}, {w.levels}-level, C-bit {w.cbit or '-'})"
        t = Table(title=title, title_justify="left")
        for col in ("object", "range", "verdict", "rule / detail", "read by"):
            t.add_column(col)
        for r in rows:
            verdict = f"[{_STYLE[r.verdict]}]{r.verdict}[/]" + ("" if r.required else " [dim](optional)[/]")
            detail = "; ".join(r.rules) if r.rules else ""
            if r.detail:
                detail = f"{detail}; {r.detail}" if detail else r.detail
            t.add_row(safe(r.object), f"{r.start:#x}-{r.end:#x}", verdict, safe(detail), safe(r.why))
        con.print(t)
        con.print()
    if rep.walk is not None:
        w = rep.walk
        con.print(
            kv_table(
                "Page-table walk",
                [
                    ("root", f"{hexa(w.root)} ({safe(w.root_source)})"),
                    ("tables read", str(w.tables_read) + ("" if w.complete else " (incomplete)")),
                    ("leaves in windows", f"{w.leaves_seen} ({len(w.identity_leaves)} identity)"),
                    ("identity ranges", ", ".join(f"{s:#x}-{e:#x}" for s, e in w.identity[:8]) or "none"),
                ],
            )
        )
        con.print()
    if rep.findings:
        con.print(findings_table(rep.findings))
    con.print("[green]OK[/]: every required object is identity-mapped" if rep.ok else "[bold red]NOT COVERED[/]")


def _render_image(con: Console, rep: CoverageReport) -> None:
    """The loaded kexec image: where it is, whose inputs the rows judge, its segments in the walked map."""
    im = rep.image
    assert im is not None
    con.print(
        kv_table(
            f"Loaded kexec image ({safe(im.symbol)}, {safe(im.image_type) or 'type unknown'})",
            [
                ("struct kimage", hexa(im.address)),
                ("entry", hexa(im.entry)),
                ("identity map", f"{hexa(im.pgd)} ({safe(im.pgd_source)})" if im.pgd is not None else "-"),
                ("inputs judged", safe(im.inputs)),
            ],
        )
    )
    t = Table(title="kexec segments (init_pgtable maps each one)", title_justify="left")
    for col in ("#", "mem", "end", "memsz", "bufsz", "walked map"):
        t.add_column(col)
    for s in im.segments:
        style = _STYLE.get(s.verdict, "yellow" if s.verdict == PARTLY else "dim")
        verdict = f"[{style}]{s.verdict}[/]" + (f" {safe(s.detail)}" if s.detail else "")
        t.add_row(str(s.index), hexa(s.mem), hexa(s.end), f"{s.end - s.mem:#x}", f"{s.bufsz:#x}", verdict)
    con.print(t)
    con.print()


_SHORT = {COVERED: "[green]yes[/]", ROUNDING: "[yellow]rnd[/]", NOT_COVERED: "[bold red]NO[/]"}


def compare_table(reports: dict[str, CoverageReport]) -> Table:
    """Kexec-map verdict of every object under every preset: 'without gbpages | with gbpages'."""
    t = Table(
        title="kexec map by kernel behaviour (yes: on purpose, rnd: rounding only, NO: not covered; "
        "left: 2 MiB pages, right: with gbpages)",
        title_justify="left",
    )
    t.add_column("object")
    names = [n for n in reports if not n.endswith(",gbpages=on")]
    for n in names:
        t.add_column(n)
    first = next(iter(reports.values()))
    for row in first.rows_for(KEXEC):
        cells = []
        for n in names:
            pair = []
            for key in (n, f"{n},gbpages=on"):
                rep = reports.get(key)
                r = next((x for x in rep.rows_for(KEXEC) if x.object == row.object), None) if rep else None
                pair.append(_SHORT[r.verdict] if r else "-")
            cells.append(" | ".join(pair))
        t.add_row(safe(row.object), *cells)
    return t


@cli.command("coverage")
@click.argument("dump", required=False, type=click.Path(dir_okay=True))
@dump_options
@split_option
@click.option(
    "--model",
    "model_spec",
    default=AUTO_MODEL,
    show_default=True,
    help="Kexec identity-map model: 'auto' (the dump's kernel version), a preset or alias (v6.1), "
    "optionally NAME,key=value,... (see --list-models).",
)
@click.option(
    "--pgd",
    type=PgdParam(),
    help="Also walk a page table: ADDR (a CR3 value), 'auto' (the loaded kexec image's identity map, else QEMU "
    "CR3 / init_top_pgt) or 'scan' (find identity maps).",
)
@click.option("--cbit", type=click.IntRange(12, 51), help="SME/SEV C-bit position to mask from page-table entries.")
@click.option("--levels", type=click.Choice(["4", "5"]), help="Paging levels for --pgd (default: from notes, else 4).")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option(
    "--compare",
    "compare_all",
    is_flag=True,
    help="Also show the kexec-map verdicts under every preset, with and without gbpages.",
)
@click.option("--list-models", is_flag=True, help="List the model presets and modifiers, then exit.")
def coverage_cmd(
    dump: str | None,
    split_parts: tuple[str, ...],
    model_spec: str,
    pgd: int | str | None,
    cbit: int | None,
    levels: str | None,
    as_json: bool,
    compare_all: bool,
    list_models: bool,
    **opts: object,
) -> None:
    """Verdict per object the next kernel reads before its own page tables: covered, rounding-only, not-covered."""
    if list_models:
        click.echo(_models_text())
        sys.exit(EXIT_OK)
    target = one_dump(dump, split_parts)
    head, sep, rest = model_spec.partition(",")
    auto = head.strip().lower() == AUTO_MODEL
    try:  # "auto" is resolved against the dump; its modifiers are checked here
        model: object = parse_model(DEFAULT_MODEL + sep + rest if auto else model_spec)
    except ModelError as e:
        raise click.BadParameter(str(e), param_hint="--model") from None
    if auto:
        model = model_spec
    try:
        with scan_progress(not as_json) as progress:
            d = open_dump(target, opts, progress)
            with d:
                header = jsonout.header_of(d)
                rep = d.coverage(model, pgd=pgd, cbit=cbit, levels=int(levels) if levels else None)
                matrix = compare(d) if compare_all else None
    except EfitablesError as e:
        click.echo(f"efitables: {e}", err=True)
        sys.exit(EXIT_OPEN)
    if as_json:
        out = {"dump": header, **rep.to_dict()}
        if matrix is not None:
            out["compare"] = {name: {r.object: r.verdict for r in rp.rows_for(KEXEC)} for name, rp in matrix.items()}
        jsonout.write(out, "coverage", sys.stdout)
    else:
        render(rep)
        if matrix is not None:
            make_console().print(compare_table(matrix))
    sys.exit(EXIT_OK if rep.ok else EXIT_FINDINGS)
