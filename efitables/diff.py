"""What changed between two dumps, structure by structure.

The first use is kexec: the first kernel's dump against the second kernel's.
Each dump becomes a :func:`snapshot`: its parsed objects keyed by a stable
identity that does not depend on where they are (a configuration table by its
GUID, a setup_data node by its type, an EFI memory descriptor or E820 entry by
its range, other objects by their kind and place in the tree), each with its
address (for a configuration table: its VendorTable), size and scalar fields. :func:`diff_dumps` compares two snapshots:

* ``added`` / ``removed``: an identity only one dump has;
* ``moved``: same identity at another address (field changes listed too);
* ``changed``: same identity and address, some fields differ;
* findings ``new`` / ``gone``, matched by code, structure and message.

Each object also carries the area it was reached from (a key of
:data:`efitables.analysis.AREAS`, ``"dump"`` for the container), so a diff can
count its changes by area (:meth:`DumpDiff.counts_by_area`).

**Folding.** One cause often changes many objects the same way: a kexec'd kernel's
EFI memory map with ``desc_size`` 40 instead of 48 moves every descriptor after the
first; a zero page copied elsewhere moves each of its E820 entries. :func:`fold`
groups the changes of one kind (added, removed, moved, changed) of the same sort
of object under the same parent into one :class:`Fold` (from :data:`FOLD_MIN`
changes on) that says how many, what they share, the parent's own change (the
likely cause) and one example; :func:`fold_findings` does the same for findings
of one code. The text face prints folds; ``--full`` and the JSON keep every change.

Snapshots hold plain data, so they can be built in worker processes or saved.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from efitables.analysis import AREAS
from efitables.dump import Dump
from efitables.findings import Finding
from efitables.jsonout import dump_header
from efitables.model import Parsed
from efitables.payloads.base import in_stale_memory
from efitables.schemas.common import jsonable

#: Objects per snapshot; a hostile dump cannot make the diff unbounded.
MAX_OBJECTS = 50_000
#: Nested field dicts are flattened to this depth; deeper values are compared as text.
MAX_DEPTH = 4
#: Attributes that are bookkeeping, not content.
_SKIP_FIELDS = {"kind", "index", "title"}
#: Changes (or findings) of one kind under one parent are folded from this many on.
FOLD_MIN = 3
#: The area of the container's own object and of objects reached from no area.
DUMP_AREA = "dump"
#: Area key -> title, in the order a diff counts them (the container first, then AREAS).
AREA_TITLES: dict[str, str] = {DUMP_AREA: "dump", **{a.key: a.title for a in AREAS}}
_AREA_OF_ATTR = {a.attr: a.key for a in AREAS}

Scalar = bool | int | float | str | None
CHANGE_KINDS = ("added", "removed", "moved", "changed")
#: Addresses and ``#n`` duplicate counters in a key's last part (see :attr:`Change.label`).
_ADDRESSES = re.compile(r"\s*(?:0x[0-9a-f]+|#\d+)")


@dataclass
class ObjectSnapshot:
    key: str
    kind: str
    address: int | None
    size: int
    fields: dict[str, Scalar] = field(default_factory=dict)
    #: in memory freed after boot (its payload's region check said so, or its parent's): changes may be reuse
    stale: bool = False
    #: the AREAS key it was reached from (:data:`DUMP_AREA` for the container); not in :meth:`to_dict`
    area: str = DUMP_AREA

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "address": self.address,
            "size": self.size,
            "fields": self.fields,
            "stale": self.stale,
        }


@dataclass
class Snapshot:
    path: str
    objects: dict[str, ObjectSnapshot]
    findings: list[Finding]
    truncated: bool = False


@dataclass
class Change:
    change: str  # "added", "removed", "moved", "changed"
    key: str
    kind: str
    old_address: int | None = None
    new_address: int | None = None
    fields: dict[str, tuple[Scalar, Scalar]] = field(default_factory=dict)
    stale: bool = False  # the object lies in memory freed after boot in either dump
    area: str = DUMP_AREA  # the AREAS key the object belongs to (not in to_dict: the JSON shape is fixed)

    @property
    def parent(self) -> str:
        """The key of the object's parent ("" for a top-level object)."""
        return self.key.rpartition(" / ")[0]

    @property
    def label(self) -> str:
        """What sort of object it is: the last part of its key without addresses and ``#n`` counters."""
        last = self.key.rpartition(" / ")[2]
        return _ADDRESSES.sub("", last).strip() or self.kind

    def to_dict(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "key": self.key,
            "kind": self.kind,
            "old_address": self.old_address,
            "new_address": self.new_address,
            "fields": {k: {"old": v[0], "new": v[1]} for k, v in self.fields.items()},
            "stale": self.stale,
        }


@dataclass
class DumpDiff:
    a: str
    b: str
    changes: list[Change] = field(default_factory=list)
    findings_new: list[Finding] = field(default_factory=list)
    findings_gone: list[Finding] = field(default_factory=list)
    truncated: bool = False

    @property
    def identical(self) -> bool:
        return not (self.changes or self.findings_new or self.findings_gone)

    def counts(self) -> dict[str, int]:
        c = Counter(ch.change for ch in self.changes)
        out = {k: c.get(k, 0) for k in CHANGE_KINDS}
        out["findings_new"] = len(self.findings_new)
        out["findings_gone"] = len(self.findings_gone)
        return out

    def counts_by_area(self) -> dict[str, dict[str, int]]:
        """``{area key: {"added": n, "removed": n, "moved": n, "changed": n}}`` for every area with a
        change, in :data:`AREA_TITLES` order (areas not in it last)."""
        per: dict[str, Counter[str]] = {}
        for ch in self.changes:
            per.setdefault(ch.area, Counter())[ch.change] += 1
        order = [a for a in AREA_TITLES if a in per] + [a for a in per if a not in AREA_TITLES]
        return {a: {k: per[a].get(k, 0) for k in CHANGE_KINDS} for a in order}

    def to_dict(self, a: dict[str, Any] | None = None, b: dict[str, Any] | None = None) -> dict[str, Any]:
        """JSON-ready; ``a`` and ``b`` are the dumps' headers (:func:`efitables.jsonout.dump_header`).

        Without them, each is a header holding the path only (format and size unknown here).
        """
        return {
            "a": a if a is not None else dump_header(self.a),
            "b": b if b is not None else dump_header(self.b),
            "identical": self.identical,
            "counts": self.counts(),
            "truncated": self.truncated,
            "changes": [c.to_dict() for c in self.changes],
            "findings": {
                "new": [f.to_dict() for f in self.findings_new],
                "gone": [f.to_dict() for f in self.findings_gone],
            },
        }


# -- snapshots -----------------------------------------------------------------


def _flatten(prefix: str, v: Any, out: dict[str, Scalar], depth: int = 0) -> None:
    if isinstance(v, dict):
        if depth >= MAX_DEPTH:
            out[prefix] = str(v)
            return
        for k, x in v.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), x, out, depth + 1)
    elif isinstance(v, list):
        if all(isinstance(x, bool | int | float | str) or x is None for x in v):
            out[prefix] = ", ".join(hex(x) if isinstance(x, int) and not isinstance(x, bool) else str(x) for x in v)
        else:
            out[prefix] = f"[{len(v)} items]"
    else:
        out[prefix] = v


def _is_parsed_value(v: Any) -> bool:
    if isinstance(v, Parsed):
        return True
    return isinstance(v, list | tuple) and bool(v) and isinstance(v[0], Parsed)


def object_fields(p: Parsed) -> dict[str, Scalar]:
    """An object's scalar content: its typed attributes and its decoded fields, flattened."""
    out: dict[str, Scalar] = {}
    if dataclasses.is_dataclass(p):
        for f in dataclasses.fields(p):
            if f.name in ("address", "size", "raw", "findings", "schema", "fields") or f.name in _SKIP_FIELDS:
                continue
            if f.name.startswith("_") or not f.repr:
                continue
            v = getattr(p, f.name, None)
            if _is_parsed_value(v):
                continue  # children are objects of their own
            _flatten(f.name, jsonable(v), out)
    if p.fields is not None:
        _flatten("fields", jsonable(p.fields), out)
    return out


#: String attributes that name an object among its siblings (first found is used).
_NAMING_ATTRS = ("signature", "type_name", "name")


def _identity(p: Parsed, parent: str, seen: Counter[str]) -> str:
    """A key for ``p`` that survives moves (see the module docstring)."""
    kind = p.kind
    guid = getattr(p, "guid", None)
    if kind == "EFI_CONFIGURATION_TABLE" and isinstance(guid, str):
        base = f"configuration table {getattr(p, 'name', None) or guid}"
    elif kind == "setup_data":
        base = f"setup_data {getattr(p, 'type_name', '?')}"
    else:
        if kind == "EFI_MEMORY_DESCRIPTOR":
            label = f"EFI memory descriptor {getattr(p, 'physical_start', 0):#x}"
        elif kind == "boot_e820_entry":
            label = f"E820 {getattr(p, 'addr', 0):#x} ({getattr(p, 'source', '')})"
        else:
            label = kind
            for attr in _NAMING_ATTRS:
                v = getattr(p, attr, None)
                if isinstance(v, str) and v:
                    label = f"{kind} {v}"
                    break
        base = f"{parent} / {label}" if parent else label
    seen[base] += 1
    return base if seen[base] == 1 else f"{base} #{seen[base]}"


def snapshot(d: Dump) -> Snapshot:
    """The Dump's parsed objects, keyed by identity, and its findings."""
    objects: dict[str, ObjectSnapshot] = {}
    seen: Counter[str] = Counter()
    truncated = False
    mem = d.memory
    objects["dump"] = ObjectSnapshot(
        "dump",
        "dump",
        None,
        mem.total_size(),
        {
            "format": mem.info.format,
            "ranges": ", ".join(f"{r.start:#x}-{r.end:#x}" for r in mem.ranges()[:64]),
            "OSRELEASE": (mem.vmcoreinfo or {}).get("OSRELEASE"),
        },
        area=DUMP_AREA,
    )
    disc = d.systab_discovery
    if disc is not None:
        objects["EFI system table discovery"] = ObjectSnapshot(
            "EFI system table discovery",
            "discovery",
            None,
            0,
            {"address": disc.address, "route": disc.route, "bits": disc.bits},
            area=_AREA_OF_ATTR.get("systab", DUMP_AREA),
        )
    stack: list[tuple[Parsed, str, bool, str]] = []
    for name, v in reversed(d.areas()):
        if v is not None:
            stack.append((v, "", False, _AREA_OF_ATTR.get(name, DUMP_AREA)))
    visited: set[int] = set()
    while stack:
        p, parent, parent_stale, area = stack.pop()
        if id(p) in visited:
            continue
        visited.add(id(p))
        if len(objects) >= MAX_OBJECTS:
            truncated = True
            break
        key = _identity(p, parent, seen)
        # A configuration table is where its VendorTable points, not where its array entry is.
        where = getattr(p, "table_address", p.address) if p.kind == "EFI_CONFIGURATION_TABLE" else p.address
        stale = parent_stale or in_stale_memory(p)
        objects[key] = ObjectSnapshot(key, p.kind, where, p.size, object_fields(p), stale, area)
        stack.extend((c, key, stale, area) for c in reversed(p.children()) if isinstance(c, Parsed))
    return Snapshot(d.path, objects, d.findings, truncated)


# -- comparing -----------------------------------------------------------------


def _finding_key(f: Finding) -> tuple[str, str, str]:
    return (f.code, f.structure, f.message)


def diff_snapshots(a: Snapshot, b: Snapshot) -> DumpDiff:
    out = DumpDiff(a.path, b.path, truncated=a.truncated or b.truncated)
    for key, oa in a.objects.items():
        ob = b.objects.get(key)
        if ob is None:
            out.changes.append(Change("removed", key, oa.kind, old_address=oa.address, stale=oa.stale, area=oa.area))
            continue
        fields = {
            k: (oa.fields.get(k), ob.fields.get(k))
            for k in sorted(set(oa.fields) | set(ob.fields))
            if oa.fields.get(k) != ob.fields.get(k)
        }
        if oa.size != ob.size:
            fields["size"] = (oa.size, ob.size)
        stale = oa.stale or ob.stale
        if oa.address != ob.address:
            out.changes.append(Change("moved", key, oa.kind, oa.address, ob.address, fields, stale, ob.area))
        elif fields:
            out.changes.append(Change("changed", key, oa.kind, oa.address, ob.address, fields, stale, ob.area))
    for key, ob in b.objects.items():
        if key not in a.objects:
            out.changes.append(Change("added", key, ob.kind, new_address=ob.address, stale=ob.stale, area=ob.area))
    ca = Counter(_finding_key(f) for f in a.findings)
    cb = Counter(_finding_key(f) for f in b.findings)
    gone, new = ca - cb, cb - ca
    for f in a.findings:
        k = _finding_key(f)
        if gone[k] > 0:
            gone[k] -= 1
            out.findings_gone.append(f)
    for f in b.findings:
        k = _finding_key(f)
        if new[k] > 0:
            new[k] -= 1
            out.findings_new.append(f)
    return out


def diff_dumps(a: Dump, b: Dump) -> DumpDiff:
    """Compare two opened dumps."""
    return diff_snapshots(snapshot(a), snapshot(b))


# -- folding ---------------------------------------------------------------------------------------


@dataclass
class Fold:
    """Changes of one kind to objects of one sort under one parent (see the module docstring)."""

    change: str
    parent: str  # the parent's key ("" at the top level)
    label: str  # the sort of object (:attr:`Change.label`)
    changes: list[Change]
    #: The parent's own change, when it has one: the likely cause (a desc_size that changed, a move).
    parent_change: Change | None = None

    @property
    def count(self) -> int:
        return len(self.changes)

    @property
    def example(self) -> Change:
        return self.changes[0]

    @property
    def stale(self) -> int:
        """How many of the objects lie in memory freed after boot (their changes may be reuse)."""
        return sum(1 for c in self.changes if c.stale)

    def common_fields(self) -> dict[str, tuple[Scalar, Scalar]]:
        """Field changes every change of the fold has, with the same old and new values."""
        first = self.changes[0].fields
        return {k: v for k, v in first.items() if all(c.fields.get(k) == v for c in self.changes[1:])}

    def other_fields(self) -> Counter[str]:
        """Field name -> how many changes changed it, for the fields not in :meth:`common_fields`."""
        common = self.common_fields()
        return Counter(k for c in self.changes for k in c.fields if k not in common)

    def shifts(self) -> tuple[int, int] | None:
        """The least and greatest ``new - old`` address of a moved object (None for other kinds)."""
        d = [
            c.new_address - c.old_address
            for c in self.changes
            if c.old_address is not None and c.new_address is not None
        ]
        return (min(d), max(d)) if d and self.change == "moved" else None


@dataclass
class FindingFold:
    """Findings of one code and severity new (or gone) in a diff."""

    code: str
    findings: list[Finding]

    @property
    def count(self) -> int:
        return len(self.findings)


def fold(changes: list[Change], min_count: int = FOLD_MIN) -> list[Change | Fold]:
    """``changes`` with each group of at least ``min_count`` changes of one kind to objects of one sort
    under one parent replaced by one :class:`Fold`, placed where its first change was."""
    groups: dict[tuple[str, str, str, str], list[Change]] = {}
    for c in changes:
        groups.setdefault((c.change, c.kind, c.parent, c.label), []).append(c)
    by_key = {c.key: c for c in changes}
    out: list[Change | Fold] = []
    done: set[tuple[str, str, str, str]] = set()
    for c in changes:
        g = (c.change, c.kind, c.parent, c.label)
        members = groups[g]
        if len(members) < min_count:
            out.append(c)
        elif g not in done:
            done.add(g)
            out.append(Fold(c.change, c.parent, c.label, members, by_key.get(c.parent)))
    return out


def fold_findings(findings: list[Finding], min_count: int = FOLD_MIN) -> list[Finding | FindingFold]:
    """``findings`` with the findings of one code and severity, from ``min_count`` on, as one :class:`FindingFold`."""
    groups: dict[tuple[str, int], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.code, int(f.severity)), []).append(f)
    out: list[Finding | FindingFold] = []
    done: set[tuple[str, int]] = set()
    for f in findings:
        g = (f.code, int(f.severity))
        if len(groups[g]) < min_count:
            out.append(f)
        elif g not in done:
            done.add(g)
            out.append(FindingFold(f.code, groups[g]))
    return out
