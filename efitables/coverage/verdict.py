"""Verdicts: is each early object identity-mapped, on purpose, by rounding only, or not?

Pure functions over plain inputs: an object range, the :class:`~efitables.coverage.models.Rule`
list of one map, the rounding that map applies, and optionally the identity
ranges a page-table walk found.

* ``covered``: inside the exact ranges the map-building code asks for.
* ``rounding-only``: mapped only because some requested range was rounded out to
  2 MiB or 1 GiB (fragile: it breaks when the page size or a neighbour changes);
  in page-table mode also "the table maps it, but no rule of the model names it".
* ``not-covered``: some byte is not identity-mapped: a read faults before the
  next kernel has a #PF handler (a triple fault), when the need is required.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from efitables.coverage.intervals import (
    GIB,
    MIB2,
    Range,
    covers,
    fmt,
    normalize,
    overlaps,
    round_down,
    round_up,
    subtract,
)
from efitables.coverage.models import Rule
from efitables.coverage.pagewalk import WalkResult
from efitables.findings import Finding, Severity, make, register

COVERED = "covered"
ROUNDING = "rounding-only"
NOT_COVERED = "not-covered"
VERDICTS = (COVERED, ROUNDING, NOT_COVERED)

PAGE_TABLE = "page-table"

NOT_COVERED_CODE = register(
    "COVERAGE-NOT-COVERED",
    Severity.ERROR,
    "An object the next kernel reads before it can handle page faults is not identity-mapped",
    "Under the chosen model (or in the walked page table) some byte of the object is not mapped VA == PA; "
    "the read triple-faults (a full firmware reboot).",
)
NOT_COVERED_INFO = register(
    "COVERAGE-NOT-COVERED-OPTIONAL",
    Severity.INFO,
    "An object read only in some configurations, or later, is not identity-mapped",
)
ROUNDING_CODE = register(
    "COVERAGE-ROUNDING-ONLY",
    Severity.WARNING,
    "An object is identity-mapped only because a neighbouring range was rounded out",
    "No rule maps it on purpose: it is reachable because a 2 MiB or 1 GiB page around another mapped "
    "range happens to include it, and breaks when the page size or the neighbour changes.",
)
DISAGREE_CODE = register(
    "COVERAGE-MODEL-DISAGREES",
    Severity.INFO,
    "The walked page table and the model give different verdicts for an object",
)


@dataclass
class Verdict:
    """One (object, map) row."""

    object: str
    kind: str
    map: str
    start: int
    end: int
    verdict: str
    rules: list[str] = field(default_factory=list)
    detail: str = ""
    required: bool = True
    why: str = ""

    @property
    def fails(self) -> bool:
        return self.required and self.verdict == NOT_COVERED

    def to_dict(self) -> dict:
        return {
            "object": self.object,
            "kind": self.kind,
            "map": self.map,
            "start": self.start,
            "end": self.end,
            "verdict": self.verdict,
            "rules": list(self.rules),
            "detail": self.detail,
            "required": self.required,
            "why": self.why,
        }


def _unit_text(r: Range, rr: Range) -> str:
    two_mib = (round_down(r[0], MIB2), round_up(r[1], MIB2))
    return "2 MiB" if rr == two_mib else ("1 GiB" if rr[0] % GIB == 0 and rr[1] % GIB == 0 else "rounded")


def _dedupe(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def judge(want: Range, rules: list[Rule], rounder: Callable[[int, int], Range]) -> tuple[str, list[str], str]:
    """(verdict, rule names, detail) for ``want`` under one map's rules."""
    if want[1] <= want[0]:
        return COVERED, [], "empty range"
    exact = normalize(r.range for r in rules)
    if covers(exact, want):
        return COVERED, _dedupe([r.name for r in rules if overlaps(r.range, want)]), ""
    rounded = [(r, rounder(r.start, r.end)) for r in rules if not r.assumed]
    full = normalize(exact + [rr for _, rr in rounded])
    gaps = subtract(want, exact)
    if covers(full, want):
        names = []
        for r, rr in rounded:
            if any(overlaps(rr, g) for g in gaps):
                names.append(f"{r.name} {fmt(r.range)} rounded to {fmt(rr)} ({_unit_text(r.range, rr)})")
        return ROUNDING, _dedupe(names), f"{fmt(gaps[0])} is not requested by any rule"
    missing = subtract(want, full)
    return (
        NOT_COVERED,
        [],
        f"{fmt(missing[0])} is not mapped" + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""),
    )


def judge_table(
    want: Range, walk: WalkResult, rules: list[Rule], rounder: Callable[[int, int], Range]
) -> tuple[str, list[str], str]:
    """Verdict against a walked page table; the model says whether a mapping is on purpose."""
    if want[1] <= want[0]:
        return COVERED, [], "empty range"
    missing = subtract(want, walk.identity)
    if missing:
        extra = "" if walk.complete else " (walk incomplete)"
        return NOT_COVERED, [], f"{fmt(missing[0])} has no identity-mapped leaf{extra}"
    leaves = [lf.describe() for lf in walk.leaves_for(want)]
    mv, mrules, _ = judge(want, rules, rounder)
    if mv == COVERED:
        return COVERED, leaves + [f"model: {n}" for n in mrules], ""
    return ROUNDING, leaves, "mapped by the table, but no rule of the model asks for it"


def findings_for(rows: list[Verdict]) -> list[Finding]:
    out = []
    for v in rows:
        where = f"{v.map} map" if v.map != PAGE_TABLE else "walked page table"
        if v.verdict == NOT_COVERED:
            code = NOT_COVERED_CODE if v.required else NOT_COVERED_INFO
            out.append(make(code, v.object, v.start, f"{where}: {v.detail}; read by {v.why}"))
        elif v.verdict == ROUNDING and v.required:
            out.append(make(ROUNDING_CODE, v.object, v.start, f"{where}: {v.detail}; {'; '.join(v.rules[:2])}"))
    return out
