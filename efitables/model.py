"""Typed result objects shared by the API, the CLI and the TUI.

Every parsed structure is a :class:`Parsed`: where it is (physical address),
how big it is, its raw bytes, its decoded fields (from the construct schema
that declared it) and its findings. Subclasses add typed attributes for what a
user asks about (``SystemTable.firmware_vendor``), and :meth:`Parsed.children`
gives the tree the TUI shows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import construct as cs

from efitables.findings import Finding, Severity
from efitables.schemas.common import FieldSpan, jsonable, struct_layout

# Attributes every Parsed has that to_dict() renders itself.
_BASE_KEYS = {"address", "size", "raw", "findings", "schema", "fields"}

Rows = list[tuple[str, str]]


@dataclass(frozen=True)
class TableView:
    """A table of facts an object shows beyond its fields (entries, ranges, strings), as plain text.

    Cells are printable text (dump strings already passed through :func:`efitables.text.printable`);
    each face escapes its own markup. Every row is kept; a face caps what it prints.
    """

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]


@dataclass(kw_only=True)
class Parsed:
    """A structure found in a dump."""

    kind: ClassVar[str] = "object"

    address: int | None
    size: int
    raw: bytes = field(default=b"", repr=False)
    fields: Any = field(default=None, repr=False)
    schema: cs.Construct | None = field(default=None, repr=False, compare=False)
    findings: list[Finding] = field(default_factory=list, repr=False)

    @property
    def title(self) -> str:
        """A one-line label for trees and tables."""
        return self.kind

    def children(self) -> list[Parsed]:
        """Structures reached from this one, for tree views."""
        return []

    # -- presentation: the same facts for the CLI, the TUI and the API ----------
    def summary(self) -> str:
        """One line saying what this object is and the state it is in (CLI headings, TUI tree)."""
        return self.title

    def facts(self) -> Rows:
        """Label/value facts (plain printable text) beyond :meth:`layout`: the typed attributes by default.

        A parsed child is shown by its :meth:`summary` (it has its own node and rows), a list by its length.
        """
        from efitables.text import fmt_value

        out: Rows = []
        for f in dataclasses.fields(self):
            if f.name in _BASE_KEYS or f.name.startswith("_") or not f.repr:
                continue
            v = getattr(self, f.name)
            if isinstance(v, Parsed):
                out.append((f.name, v.summary()))
            elif isinstance(v, list | tuple):
                if v:
                    out.append((f.name, f"{len(v)} items"))
            elif isinstance(v, dict):
                if v:
                    out.append((f.name, fmt_value(jsonable(v))))
            else:
                out.append((f.name, fmt_value(jsonable(v))))
        return out

    def table_views(self) -> list[TableView]:
        """Sub-tables (entries, ranges, strings) shown below :meth:`facts`."""
        return []

    def secret_ranges(self) -> list[tuple[int, int]]:
        """Physical ``[start, end)`` byte ranges a viewer must hide (secrets redacted); empty by default."""
        return []

    def layout(self) -> list[FieldSpan]:
        """Decoded fields with their offsets inside :attr:`raw` (empty if not fixed-layout)."""
        if self.schema is None:
            return []
        return struct_layout(self.schema, self.fields)

    def all_findings(self) -> list[Finding]:
        out = list(self.findings)
        for c in self.children():
            out.extend(c.all_findings())
        return out

    def worst(self) -> Severity | None:
        sev = [f.severity for f in self.all_findings()]
        return max(sev) if sev else None

    def extra_dict(self, raw: bool = False) -> dict[str, Any]:
        """Typed attributes of subclasses, JSON-ready (parsed children rendered recursively, with ``raw``)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in _BASE_KEYS or f.name.startswith("_") or not f.repr:
                continue
            out[f.name] = _render(getattr(self, f.name), raw)
        return out

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "address": self.address, "size": self.size}
        d.update(self.extra_dict(raw))
        if self.fields is not None:
            d["fields"] = jsonable(self.fields)
        d["findings"] = [f.to_dict() for f in self.findings]
        if raw:
            d["raw"] = self.raw.hex()
        return d


def _render(v: Any, raw: bool) -> Any:
    if isinstance(v, Parsed):
        return v.to_dict(raw)
    if isinstance(v, list | tuple) and any(isinstance(x, Parsed) for x in v):
        return [_render(x, raw) for x in v]
    return jsonable(v)
