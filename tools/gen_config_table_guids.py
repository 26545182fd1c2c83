#!/usr/bin/env python3
"""Regenerate efitables/data/config_table_guids.csv from a Markdown table of GUIDs.

The input is a Markdown file holding one table row per configuration-table GUID,
with seven columns::

    | Linux name | EDK2 name | `guid` | first 8 bytes | defined in | payload | notes |

"Linux name" is the ``EFI_GUID`` macro of torvalds/linux include/linux/efi.h
(a trailing parenthesis is dropped; ``-`` for none), "EDK2 name" the
declaration in a tianocore/edk2 ``.dec`` file (``-`` or a parenthesis for none;
only the first of ``a = b`` aliases is kept), "defined in" the headers the GUID
was checked against, in the form ``torvalds/linux include/linux/efi.h@v6.12.117;
tianocore/edk2 MdePkg/MdePkg.dec@<commit>``. Rows whose third cell is not a
back-quoted GUID are skipped. Writes: guid, linux_name, edk2_name, source, note.
Every GUID can be re-checked against those headers with the parsers of
``tools/gen_edk2_guids.py``.

Usage: python tools/gen_config_table_guids.py MARKDOWN_FILE
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
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/gen_config_table_guids.py MARKDOWN_FILE")
    spec_path = Path(sys.argv[1])
    out = ROOT / "efitables/data/config_table_guids.csv"
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["guid", "linux_name", "edk2_name", "source", "note"])
        for r in rows(spec_path.read_text()):
            w.writerow(r)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
