"""Half-open physical ranges ``[start, end)``: union, subtraction, rounding."""

from __future__ import annotations

from collections.abc import Iterable

Range = tuple[int, int]

MIB2 = 1 << 21
GIB = 1 << 30


def round_down(x: int, unit: int) -> int:
    return x - x % unit


def round_up(x: int, unit: int) -> int:
    return -(-x // unit) * unit


def normalize(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, merged (touching ranges joined), empty ones dropped."""
    out: list[Range] = []
    for s, e in sorted(r for r in ranges if r[1] > r[0]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def subtract(want: Range, have: list[Range]) -> list[Range]:
    """Parts of ``want`` not inside the normalized ``have``."""
    s, e = want
    gaps: list[Range] = []
    cur = s
    for hs, he in have:
        if he <= cur:
            continue
        if hs >= e:
            break
        if hs > cur:
            gaps.append((cur, min(hs, e)))
        cur = max(cur, he)
        if cur >= e:
            break
    if cur < e:
        gaps.append((cur, e))
    return gaps


def covers(have: list[Range], want: Range) -> bool:
    return want[1] <= want[0] or not subtract(want, have)


def overlaps(a: Range, b: Range) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def fmt(r: Range) -> str:
    return f"{r[0]:#x}-{r[1]:#x}"
