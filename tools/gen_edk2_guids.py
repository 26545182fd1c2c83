#!/usr/bin/env python3
"""Regenerate efitables/data/edk2_guids.csv: names for thousands of firmware GUIDs.

GUID values and names are facts; every row keeps where it came from. Inputs, in
priority order (a GUID named by an earlier input keeps that name):

1. ``--dec PATH`` (repeatable; a file or a directory searched for ``*.dec``):
   EDK2 package declaration files. The ``[Guids*]``, ``[Protocols*]`` and
   ``[Ppis*]`` sections are parsed (``gName = { 0x..., 0x..., 0x..., { 8 bytes } }``);
   the source is ``tianocore/edk2 <path relative to the root given>``.
2. ``--linux-efi-h PATH``: Linux's include/linux/efi.h (``#define NAME EFI_GUID(...)``);
   the source is ``torvalds/linux include/linux/efi.h@<--linux-version>``. Debian's
   ``linux-headers-<version>-common`` package ships this file.
3. ``--guid-db PATH``: a GUID database module in the form of cert-uefi-parser's
   ``uefi_parser/guiddb.py`` (PyPI ``cert-uefi-parser``): ``EfiGuid("guid", "NAME",
   aliases=[...], urls=[...], vendors=[...])`` calls. It is read with ``ast`` (never
   imported or executed). The name kept is the EDK2-style ``g...Guid`` alias (or the
   database's CamelCase ``...Guid`` alias, which drops the ``g``) when the entry cites
   an EDK2 .dec file, else the database's own name; the source names the
   database and the files the entry cites (``tianocore/edk2 MdePkg/MdePkg.dec``, ...).

Output columns are those of config_table_guids.csv: guid, linux_name, edk2_name
(the firmware-side name: EDK2's where known), source, note. Writing the package's
CSV also rewrites its run-time index, efitables/data/edk2_guids.idx
(tools/gen_guid_index.py).

Usage (what produced the checked-in file; see the module docstring of
efitables/guids.py):

    apt-get download linux-headers-6.12.117+deb12-common   # then dpkg-deb -x
    pip download --no-deps cert-uefi-parser==1.0.8          # then unzip
    python tools/gen_edk2_guids.py \\
        --linux-efi-h .../include/linux/efi.h --linux-version v6.12.117 \\
        --guid-db .../uefi_parser/guiddb.py --guid-db-name "cert-uefi-parser 1.0.8" \\
        [--dec path/to/edk2 ...]
"""

from __future__ import annotations

import argparse
import ast
import csv
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "efitables/data/edk2_guids.csv"

_HEX = r"0[xX][0-9a-fA-F]+"
DEC_ENTRY = re.compile(
    rf"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*\{{\s*(?P<d1>{_HEX})\s*,\s*(?P<d2>{_HEX})\s*,\s*(?P<d3>{_HEX})\s*,"
    rf"\s*\{{(?P<d4>(?:\s*{_HEX}\s*,){{7}}\s*{_HEX}\s*)\}}\s*\}}"
)
DEC_SECTION = re.compile(r"^\s*\[(?P<names>[^\]]+)\]")
DEC_KINDS = ("guids", "protocols", "ppis")
EFI_H_ENTRY = re.compile(
    rf"^#define\s+(?P<name>[A-Z0-9_]+)\s+EFI_GUID\(\s*(?P<args>(?:{_HEX}\s*,\s*){{10}}{_HEX})\s*\)", re.M
)


@dataclass
class Row:
    guid: str
    linux_name: str = ""
    edk2_name: str = ""
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def guid_text(d1: int, d2: int, d3: int, d4: list[int]) -> str:
    if d1 >> 32 or d2 >> 16 or d3 >> 16 or len(d4) != 8 or any(b >> 8 for b in d4):
        raise ValueError("GUID field out of range")
    return str(uuid.UUID(fields=(d1, d2, d3, d4[0], d4[1], int.from_bytes(bytes(d4[2:]), "big"))))


def parse_dec(text: str) -> Iterator[tuple[str, str, str]]:
    """(guid, name, kind) for every GUID/protocol/PPI declaration in a .dec file's text."""
    kind: str | None = None
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        m = DEC_SECTION.match(line)
        if m:
            heads = [n.strip().split(".")[0].lower() for n in m.group("names").split(",")]
            kind = heads[0] if heads and heads[0] in DEC_KINDS else None
            continue
        if kind is None:
            continue
        m = DEC_ENTRY.match(line)
        if m:
            d4 = [int(x, 16) for x in m.group("d4").split(",")]
            try:
                yield guid_text(int(m["d1"], 16), int(m["d2"], 16), int(m["d3"], 16), d4), m["name"], kind
            except ValueError:
                continue


def parse_efi_h(text: str) -> Iterator[tuple[str, str]]:
    """(guid, name) for every ``#define NAME EFI_GUID(...)`` in Linux's efi.h."""
    for m in EFI_H_ENTRY.finditer(text):
        v = [int(x, 16) for x in m.group("args").split(",")]
        try:
            yield guid_text(v[0], v[1], v[2], v[3:]), m.group("name")
        except ValueError:
            continue


def _literal(node: ast.AST) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError):
        return None


def parse_guid_db(text: str) -> Iterator[dict]:
    """Entries of a cert-uefi-parser style database, read with ast (no code runs)."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "EfiGuid" and len(node.args) >= 2):
            continue
        guid, name = _literal(node.args[0]), _literal(node.args[1])
        if not isinstance(guid, str) or not isinstance(name, str):
            continue
        kw = {k.arg: _literal(k.value) for k in node.keywords if k.arg}
        yield {
            "guid": guid,
            "name": name,
            "aliases": kw.get("aliases") or [],
            "urls": kw.get("urls") or [],
            "vendors": kw.get("vendors") or [],
        }


_GITHUB = re.compile(r"https://github\.com/(?P<repo>[^/]+/[^/]+)/blob/[^/]+/(?P<path>.+)$")


def _cited(urls: list[str]) -> list[str]:
    out = []
    for u in urls:
        m = _GITHUB.match(u)
        if m:
            out.append(f"{m['repo']} {m['path']}")
    return out


def _canonical(g: str) -> str | None:
    try:
        return str(uuid.UUID(g.strip().strip("{}")))
    except ValueError:
        return None


def build(
    dec_roots: list[Path], efi_h: Path | None, linux_version: str, db: Path | None, db_name: str
) -> dict[str, Row]:
    rows: dict[str, Row] = {}

    def row(g: str) -> Row:
        return rows.setdefault(g, Row(g))

    for root in dec_roots:
        files = sorted(root.rglob("*.dec")) if root.is_dir() else [root]
        for f in files:
            rel = f.relative_to(root).as_posix() if root.is_dir() else f.name
            for g, name, kind in parse_dec(f.read_text(errors="replace")):
                r = row(g)
                if not r.edk2_name:
                    r.edk2_name = name
                    r.notes.append(kind[:-1] if kind.endswith("s") else kind)
                r.sources.append(f"tianocore/edk2 {rel}")
    if efi_h is not None:
        for g, name in parse_efi_h(efi_h.read_text(errors="replace")):
            r = row(g)
            if not r.linux_name:
                r.linux_name = name
                r.sources.append(f"torvalds/linux include/linux/efi.h@{linux_version}")
    if db is not None:
        for e in parse_guid_db(db.read_text(errors="replace")):
            g = _canonical(e["guid"])
            if g is None or not e["name"]:
                continue
            cited = _cited(e["urls"])
            names = [e["name"], *e["aliases"]]
            dec_cited = any(c.startswith("tianocore/edk2 ") and c.endswith(".dec") for c in cited)
            # The EDK2-style name: gXxxGuid, or the CamelCase XxxGuid the database keeps without its "g".
            g_alias = next((n for n in names if re.fullmatch(r"g[A-Z][A-Za-z0-9_]*Guid", n)), "") or next(
                (n for n in names if re.fullmatch(r"[A-Z][a-z][A-Za-z0-9_]*Guid", n)), ""
            )
            r = row(g)
            if not r.edk2_name and not r.linux_name:
                r.edk2_name = g_alias if (dec_cited and g_alias) else e["name"]
            elif r.edk2_name or r.linux_name:
                if g_alias and not r.edk2_name and dec_cited:
                    r.edk2_name = g_alias
            src = db_name + (" (cites " + ", ".join(cited[:3]) + ")" if cited else "")
            r.sources.append(src)
            if e["vendors"] and not r.notes:
                r.notes.append("vendors: " + " ".join(str(v) for v in e["vendors"][:4]))
    return rows


def write(rows: dict[str, Row], out: Path) -> int:
    n = 0
    with out.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["guid", "linux_name", "edk2_name", "source", "note"])
        for g in sorted(rows):
            r = rows[g]
            if not (r.linux_name or r.edk2_name):
                continue
            w.writerow([g, r.linux_name, r.edk2_name, "; ".join(dict.fromkeys(r.sources)), "; ".join(r.notes)])
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dec", type=Path, action="append", default=[], help="EDK2 .dec file or tree")
    ap.add_argument("--linux-efi-h", type=Path, help="Linux include/linux/efi.h")
    ap.add_argument("--linux-version", default="v6.12.117")
    ap.add_argument("--guid-db", type=Path, help="cert-uefi-parser uefi_parser/guiddb.py")
    ap.add_argument("--guid-db-name", default="cert-uefi-parser 1.0.8 uefi_parser/guiddb.py")
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    if not (a.dec or a.linux_efi_h or a.guid_db):
        ap.error("give at least one input")
    rows = build(a.dec, a.linux_efi_h, a.linux_version, a.guid_db, a.guid_db_name)
    n = write(rows, a.out)
    print(f"wrote {n} GUIDs to {a.out}", file=sys.stderr)
    if a.out.resolve() == OUT.resolve():
        # The run-time index of the CSV (efitables.guids reads it, not the CSV); tests fail when it is stale.
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import gen_guid_index

        return gen_guid_index.main([])
    print(f"not the package CSV, so no index written (tools/gen_guid_index.py --csv {a.out} -o ...)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
