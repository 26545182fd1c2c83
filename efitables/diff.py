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

Snapshots hold plain data, so they can be built in worker processes or saved.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

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

Scalar = bool | int | float | str | None


@dataclass
class ObjectSnapshot:
    key: str
    kind: str
    address: int | None
    size: int
    fields: dict[str, Scalar] = field(default_factory=dict)
    #: in memory freed after boot (its payload's region check said so, or its parent's): changes may be reuse
    stale: bool = False

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
        out = {k: c.get(k, 0) for k in ("added", "removed", "moved", "changed")}
        out["findings_new"] = len(self.findings_new)
        out["findings_gone"] = len(self.findings_gone)
        return out

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
    )
    disc = d.systab_discovery
    if disc is not None:
        objects["EFI system table discovery"] = ObjectSnapshot(
            "EFI system table discovery",
            "discovery",
            None,
            0,
            {"address": disc.address, "route": disc.route, "bits": disc.bits},
        )
    stack: list[tuple[Parsed, str, bool]] = []
    for _name, v in reversed(d.areas()):
        if v is not None:
            stack.append((v, "", False))
    visited: set[int] = set()
    while stack:
        p, parent, parent_stale = stack.pop()
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
        objects[key] = ObjectSnapshot(key, p.kind, where, p.size, object_fields(p), stale)
        stack.extend((c, key, stale) for c in reversed(p.children()) if isinstance(c, Parsed))
    return Snapshot(d.path, objects, d.findings, truncated)


# -- comparing -----------------------------------------------------------------


def _finding_key(f: Finding) -> tuple[str, str, str]:
    return (f.code, f.structure, f.message)


def diff_snapshots(a: Snapshot, b: Snapshot) -> DumpDiff:
    out = DumpDiff(a.path, b.path, truncated=a.truncated or b.truncated)
    for key, oa in a.objects.items():
        ob = b.objects.get(key)
        if ob is None:
            out.changes.append(Change("removed", key, oa.kind, old_address=oa.address, stale=oa.stale))
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
            out.changes.append(Change("moved", key, oa.kind, oa.address, ob.address, fields, stale))
        elif fields:
            out.changes.append(Change("changed", key, oa.kind, oa.address, ob.address, fields, stale))
    for key, ob in b.objects.items():
        if key not in a.objects:
            out.changes.append(Change("added", key, ob.kind, new_address=ob.address, stale=ob.stale))
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
