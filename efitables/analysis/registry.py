"""Cross-structure checks: what no single parser can see.

A parser checks its own structure (a CRC, a count, a pointer it follows). The
checks here look at several parsed objects of one :class:`~efitables.dump.Dump`
together: objects that overlap, firmware objects in memory of the wrong type
or not described by the EFI memory map, arrays whose count runs past the
region that holds them, routes to the system table that disagree, runtime
service pointers that lead nowhere.

A check is a function ``(Dump) -> list[Finding]`` registered with
:func:`check`. Checks only read objects the Dump already parsed (through
:mod:`efitables.analysis.objects`) and never read the dump's bytes
themselves, so a check cannot raise on hostile input.

The check modules (:mod:`~efitables.analysis.layout`,
:mod:`~efitables.analysis.routes`) register their codes (prefix ``XS-``) and
checks when :mod:`efitables.analysis` is imported, which :mod:`efitables.dump`
does: whoever holds a Dump has every check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from efitables.findings import Finding

if TYPE_CHECKING:
    from efitables.dump import Dump

CheckFn = Callable[["Dump"], list[Finding]]


@dataclass(frozen=True)
class Check:
    name: str
    fn: CheckFn
    doc: str


#: Every cross-structure check, in the order they run.
CHECKS: list[Check] = []


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register a cross-structure check under ``name`` (shown if it ever fails internally)."""

    def deco(fn: CheckFn) -> CheckFn:
        CHECKS.append(Check(name, fn, (fn.__doc__ or "").strip().split("\n")[0]))
        return fn

    return deco
