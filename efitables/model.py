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
from efitables.reprs import ShortRepr
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


class FlagFields(cs.Container):  # type: ignore[misc]
    """A decoded ``FlagsEnum``: flag name -> bool (construct's private ``_flagsenum`` key removed).

    ``get("_flagsenum")`` still answers True, for readers that test construct's marker (the TUI's
    ``value_meaning``), though the key is not there to iterate.
    """

    def get(self, key: Any, default: Any = None) -> Any:
        return True if key == "_flagsenum" else super().get(key, default)


def clean_fields(v: Any) -> Any:
    """A construct parse result without construct's private keys (``_io``, ``_flagsenum``, ...) or
    padding (``__pad1``), at any depth; what :attr:`Parsed.fields` holds."""
    if isinstance(v, dict):
        cls = FlagFields if v.get("_flagsenum") else cs.Container
        return cls((k, clean_fields(x)) for k, x in v.items() if not str(k).startswith("_"))
    if isinstance(v, cs.ListContainer):
        return cs.ListContainer(clean_fields(x) for x in v)
    return v


@dataclass(kw_only=True)
class Parsed(ShortRepr):
    """A structure found in a dump.

    ``repr()`` is one short line (:mod:`efitables.reprs`): the class, its address and size in hex and
    the key attributes a subclass lists in ``_repr_fields``.
    """

    kind: ClassVar[str] = "object"

    #: Physical address of the structure (None when it has none, e.g. a synthesized list).
    address: int | None
    #: Size in bytes of the structure as read (its :attr:`raw`).
    size: int
    #: The structure's bytes as read from the dump (secrets already redacted).
    raw: bytes = field(default=b"", repr=False)
    #: The decoded fields (a construct ``Container`` with the spec's field names; construct's private
    #: keys and padding removed), or None.
    fields: Any = field(default=None, repr=False)
    #: The construct schema that decoded :attr:`fields` (for :meth:`layout`), or None.
    schema: cs.Construct | None = field(default=None, repr=False, compare=False)
    #: Findings about this structure itself (:meth:`all_findings` adds its children's).
    findings: list[Finding] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.fields is not None:
            self.fields = clean_fields(self.fields)

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
        """Physical ``[start, end)`` byte ranges of the secrets this object holds (while redacted); empty by default.

        They are what a Dump withholds from every other reader: the secrets pre-pass
        (:mod:`efitables.analysis.secrets`) collects them from every object it parses, and the Dump's
        :class:`~efitables.memory.redact.RedactedMemory` reads them as zeros for any structure but this
        object's own parser (the read :func:`efitables.analysis.secrets.secret_range_of` names for its class).
        """
        return []

    def layout(self) -> list[FieldSpan]:
        """Decoded fields with their offsets inside :attr:`raw` (empty if not fixed-layout)."""
        if self.schema is None:
            return []
        return struct_layout(self.schema, self.fields)

    def all_findings(self) -> list[Finding]:
        """This structure's findings and, recursively, its children's."""
        out = list(self.findings)
        for c in self.children():
            out.extend(c.all_findings())
        return out

    def worst(self) -> Severity | None:
        """The highest severity among :meth:`all_findings` (None without findings)."""
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
        """The JSON the CLI prints: kind, address, size, typed attributes, fields, findings (and ``raw``)."""
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
