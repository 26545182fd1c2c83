#!/usr/bin/env python3
"""Regenerate efitables/data/edk2_guids.idx, the prebuilt index of efitables/data/edk2_guids.csv.

The CSV stays the source of truth (``tools/gen_edk2_guids.py`` writes it and then
reruns this). Parsing its 12,800 rows costs some 80 ms per process; the index is
the same data, already canonical, de-duplicated (the first row of a GUID wins, as
when the CSV is loaded) and sorted, so :mod:`efitables.guids` loads it in a
millisecond or two and finds a GUID by bisecting its lines. Layout: see
``efitables.guids._Edk2Index``. The header records the SHA-256 of the CSV it was
built from.

Usage: python tools/gen_guid_index.py [--check] [--csv PATH] [-o PATH]
``--check`` writes nothing and exits 1 when the committed index differs from what
this would write (tests/test_guids.py runs the same comparison).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT / "efitables/data/edk2_guids.csv"
OUT = ROOT / "efitables/data/edk2_guids.idx"

_FORBIDDEN = ("\t", "\n", "\r")


def render_index(csv_bytes: bytes) -> str:
    """The index text for the CSV ``csv_bytes`` (deterministic: same CSV, same index)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from efitables.guids import INDEX_MAGIC, INDEX_VERSION, parse_guid_csv_text

    entries = parse_guid_csv_text(csv_bytes.decode("utf-8"))
    sources: dict[str, int] = {}
    lines = []
    for key in sorted(entries):
        k = entries[key]
        fields = (k.guid, k.linux_name, k.edk2_name, k.source, k.note)
        for f in fields:
            if any(c in f for c in _FORBIDDEN):
                raise ValueError(f"{key}: a field holds a tab or a line end: {f!r}")
        n = sources.setdefault(k.source, len(sources))
        lines.append("\t".join((k.guid, k.linux_name, k.edk2_name, str(n), k.note)))
    digest = hashlib.sha256(csv_bytes).hexdigest()
    head = f"{INDEX_MAGIC} {INDEX_VERSION} {len(sources)} {len(lines)} {digest}"
    return "\n".join([head, *sources, *lines]) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", type=Path, default=CSV, help="the GUID CSV (default: %(default)s)")
    ap.add_argument("-o", "--out", type=Path, default=OUT, help="the index to write (default: %(default)s)")
    ap.add_argument("--check", action="store_true", help="exit 1 if the index is stale; write nothing")
    a = ap.parse_args(argv)
    text = render_index(a.csv.read_bytes())
    if a.check:
        current = a.out.read_bytes() if a.out.exists() else b""
        if current != text.encode("utf-8"):
            print(f"{a.out} is stale: run python tools/gen_guid_index.py", file=sys.stderr)
            return 1
        return 0
    a.out.write_bytes(text.encode("utf-8"))
    print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
