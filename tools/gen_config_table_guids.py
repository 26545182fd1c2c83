#!/usr/bin/env python3
"""Regenerate efitables/data/config_table_guids.csv from the spec's GUID table.

Reads the "GUIDs of configuration tables" table in shared/spec/efi.md (each row
was checked by the spec's authors against the defining Linux and EDK2
headers) and writes: guid, linux_name, edk2_name, source, note.

Usage: python tools/gen_config_table_guids.py [../shared/spec/efi.md]
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUID_RE = re.compile(r"`([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`")


def rows(spec: str):
    for line in spec.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 7:
            continue
        m = GUID_RE.fullmatch(cells[2])
        if not m:
            continue
        linux, edk2 = cells[0], cells[1]
        linux = "" if linux in {"-", ""} else re.sub(r"\s*\(.*\)$", "", linux)
        edk2 = "" if edk2.startswith("-") or edk2.startswith("(") else edk2.split(" = ")[0]
        yield m.group(1), linux, edk2, cells[4], cells[6]


def main() -> None:
    spec_path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/spec/efi.md"
    out = ROOT / "efitables/data/config_table_guids.csv"
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["guid", "linux_name", "edk2_name", "source", "note"])
        for r in rows(spec_path.read_text()):
            w.writerow(r)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
