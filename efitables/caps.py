"""Caps on what one dump can make efitables decode and report: the one mechanism every area parser uses.

Counts and lengths in a dump are untrusted: an ``efi_memmap_size`` of 0xFFFFFFFF, a
``SETUP_E820_EXT`` node whose ``len`` is 0xFFFFFFF0 or a ``NumberOfTableEntries`` of
0xFFFFFFFF must cost what a real machine costs, not what the dump claims. Two rules:

* :func:`count_cap`: a parser decodes at most a module constant's worth of entries (each
  constant says which specification, kernel limit or real system sizes it) and reads only
  that many bytes. Past the cap it reports **one** finding naming the structure, its
  physical address, how many entries were claimed, how many were decoded and how many
  were left out.
* :func:`cap_findings`: the entries it did decode carry at most :data:`MAX_FINDINGS_PER_KIND`
  findings of each code between them; the rest are dropped and **one** finding per code
  (:func:`omitted`) says how many, so a table of two thousand zeroed descriptors is two
  dozen findings, not six thousand, and the JSON and text stay bounded.
"""

from __future__ import annotations

from collections.abc import Iterable

from efitables.findings import Finding, Severity, make

#: Findings of one code kept among the entries of one structure (the rest are counted in one finding).
MAX_FINDINGS_PER_KIND = 16


def count_cap(
    claimed: int,
    cap: int,
    code: str,
    structure: str,
    address: int | None,
    what: str,
    unit: str = "entries",
    severity: Severity | None = None,
) -> tuple[int, Finding | None]:
    """How many of ``claimed`` entries to decode, and the one finding when that is fewer.

    ``what`` names the field the count came from, as the dump holds it (``"NumberOfTableEntries
    0xffffffff"``, ``"len 0xfffffff0"``); the finding reads ``"<what>: <claimed> <unit> claimed;
    decoded the first <cap>, <claimed - cap> more omitted"``. ``claimed`` below zero counts as 0.
    """
    claimed = max(claimed, 0)
    if claimed <= cap:
        return claimed, None
    message = f"{what}: {claimed} {unit} claimed; decoded the first {cap}, {claimed - cap} more omitted"
    return cap, make(code, structure, address, message, severity)


def cap_findings(
    lists: Iterable[list[Finding]],
    structure: str,
    address: int | None,
    limit: int | None = None,
) -> list[Finding]:
    """Keep the first ``limit`` findings of each code across ``lists``, in order; return one summary per code cut.

    ``lists`` are the ``findings`` lists of a structure's entries (or of the structure itself);
    findings past the limit are removed from them in place. Each returned finding has the code
    it summarises, the worst severity among those removed, and names ``structure`` at
    ``address``; the caller appends them to the structure's own findings.
    """
    keep = MAX_FINDINGS_PER_KIND if limit is None else limit
    seen: dict[str, int] = {}
    cut: dict[str, tuple[int, Severity]] = {}  # code -> (findings removed, the worst severity among them)
    for findings in lists:
        if not findings:
            continue
        kept: list[Finding] = []
        for f in findings:
            n = seen.get(f.code, 0) + 1
            seen[f.code] = n
            if n <= keep:
                kept.append(f)
            else:
                gone, worst = cut.get(f.code, (0, f.severity))
                cut[f.code] = (gone + 1, max(worst, f.severity))
        if len(kept) != len(findings):
            findings[:] = kept
    return [omitted(code, gone, structure, address, keep, worst) for code, (gone, worst) in cut.items()]


def omitted(
    code: str, count: int, structure: str, address: int | None, limit: int, severity: Severity | None = None
) -> Finding:
    """The one finding that stands for ``count`` findings of ``code`` left out after the first ``limit``.

    :func:`cap_findings` uses it; so does a loop that stops building findings at its limit and only
    counts the rest (pairs of overlapping objects, where building each one first would itself cost).
    """
    message = f"{count} more {code} findings omitted (the first {limit} are listed)"
    return make(code, structure, address, message, severity)
