"""Minimise a failing input: the fewest byte changes to its seed that still fail the same way.

The input is compared with the pristine seed of its container (fuzz/containers.py); the runs of
bytes that differ are reverted to the seed's in ever smaller groups (delta debugging, Zeller's
ddmin) as long as the harness still reports the same failure kind and signature; then a longer
or shorter file is tried at the seed's length. What is left is printed as ``file offset
(physical address): seed bytes -> new bytes``, with the container field or machine field each
change falls in when one is known.

Usage::

    python -m fuzz.minimize ENTRY FILE [-o OUT] [--tries 600]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz import containers as C  # noqa: E402
from fuzz import machine as M  # noqa: E402
from fuzz.harness import Harness  # noqa: E402


def _runs(a: bytes, b: bytes) -> list[tuple[int, int]]:
    """[start, end) runs where ``a`` and ``b`` differ (over their common length)."""
    out: list[tuple[int, int]] = []
    n = min(len(a), len(b))
    i = 0
    while i < n:
        if a[i] != b[i]:
            j = i
            while j < n and a[j] != b[j]:
                j += 1
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


def _apply(seed: bytes, data: bytes, keep: list[tuple[int, int]]) -> bytes:
    """``data`` with every differing run not in ``keep`` put back to the seed's bytes."""
    out = bytearray(seed[: len(data)] + data[len(seed) :]) if len(data) > len(seed) else bytearray(seed[: len(data)])
    for s, e in keep:
        out[s:e] = data[s:e]
    return bytes(out)


def minimize(entry: str, data: bytes, tries: int = 600) -> tuple[bytes, str, list[tuple[int, int]]]:
    """(reduced input, failure, kept runs)."""
    h = Harness(entry, crash_dir=None)
    h.warm_up()
    try:
        first = h.execute(data, "replay").failure
        if first is None:
            raise SystemExit(f"{entry}: the input does not fail (now)")
        want = (first.kind, first.signature)
        c = h.container_of(data)
        seed = c.seed()
        budget = [tries]

        def fails(candidate: bytes) -> bool:
            if budget[0] <= 0:
                return False
            budget[0] -= 1
            f = h.execute(candidate, "replay").failure
            return f is not None and (f.kind, f.signature) == want

        # the length first: the seed's, when the change of length is not what fails
        if len(data) != len(seed):
            trial = data[: len(seed)] + seed[len(data) :] if len(data) < len(seed) else data[: len(seed)]
            if fails(trial):
                data = trial
        runs = _runs(seed, data)
        n = 2
        while len(runs) >= 2 and budget[0] > 0:
            size = max(1, len(runs) // n)
            chunks = [runs[i : i + size] for i in range(0, len(runs), size)]
            reduced = False
            for i in range(len(chunks)):
                rest = [r for j, ch in enumerate(chunks) if j != i for r in ch]
                if fails(_apply(seed, data, rest)):
                    runs, n, reduced = rest, max(n - 1, 2), True
                    break
            if not reduced:
                if n >= len(runs):
                    break
                n = min(len(runs), 2 * n)
        return _apply(seed, data, runs), f"{first.kind}: {first.signature}: {first.message}", runs
    finally:
        h.close()


def describe(c: C.Container, seed: bytes, data: bytes, runs: list[tuple[int, int]]) -> list[str]:
    segments = c.segments(data) if c.segments is not None else []
    header = c.header_fields(seed)
    fields = M.fields(c.bits)
    out = []
    for s, e in runs:
        pa = next((start + s - off for start, end, off in segments if off <= s < off + end - start), None)
        what = [n for n, o, w in header if o < e and s < o + abs(w)]
        if pa is not None:
            what += [f.name for f in fields if f.pa < pa + (e - s) and pa < f.pa + f.size]
        where = f"file {s:#x}" + (f" (physical {pa:#x})" if pa is not None else "")
        out.append(f"{where}: {seed[s:e].hex()} -> {data[s:e].hex()}" + (f"  [{', '.join(what)}]" if what else ""))
    if len(data) != len(seed):
        out.append(f"length {len(seed):#x} -> {len(data):#x}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("entry")
    ap.add_argument("file", type=Path)
    ap.add_argument("-o", "--out", type=Path)
    ap.add_argument("--tries", type=int, default=600)
    a = ap.parse_args()
    data = a.file.read_bytes()
    small, failure, runs = minimize(a.entry, data, a.tries)
    h = Harness(a.entry, crash_dir=None)
    c = h.container_of(small)
    h.close()
    print(f"{a.file}: {failure}")
    print(f"container {c.name}; {len(runs)} change(s) to its seed:")
    for line in describe(c, c.seed(), small, runs):
        print("  " + line)
    if a.out:
        a.out.write_bytes(small)
        print(f"written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
