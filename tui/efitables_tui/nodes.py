"""What the TUI shows, as plain Python: the dump's object tree, its findings and secrets.

:func:`build_model` walks a :class:`~efitables.dump.Dump` once (every area in
:data:`AREAS`) into :class:`Node` objects. Widgets only display nodes; tests
assert on them without a terminal. What a node says about its object is the
object's own presentation (:meth:`~efitables.model.Parsed.summary`,
:meth:`~efitables.model.Parsed.rows`, :meth:`~efitables.model.Parsed.tables`,
:meth:`~efitables.model.Parsed.secret_ranges`), the same facts ``efitables show``
prints.

Everything is bounded: at most :data:`MAX_NODES` nodes, :data:`MAX_DEPTH`
levels and :data:`MAX_RANGE_NODES` physical-range nodes, with cycles cut by a
visited set, so a hostile dump cannot make the tree unbounded.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from efitables.analysis import AREAS as DUMP_AREAS
from efitables.dump import Dump
from efitables.efi.config_tables import ConfigTable
from efitables.efi.hits import ScanCancelled
from efitables.findings import Finding, Severity
from efitables.model import Parsed, TableView
from efitables.schemas.common import FieldSpan, struct_layout
from efitables.text import size_text
from efitables_tui.text import MAX_VALUE, shown

MAX_NODES = 50_000
MAX_DEPTH = 32
MAX_RANGE_NODES = 4096

#: Top-level areas shown collapsed on the first screen (long lists, opened on demand): the container with
#: its physical ranges, the EFI memory map and the E820 table.
COLLAPSED_ROOTS = frozenset({"dump", "EFI_MEMORY_MAP", "e820_table"})
#: Nodes below the top level shown expanded on the first screen: the configuration tables.
EXPANDED_KINDS = frozenset({"EFI_CONFIGURATION_TABLE_ARRAY"})

#: Areas of a Dump, in tree order (efitables.analysis.AREAS, the list every face walks):
#: (key, label when absent or failed, how to get it).
AREAS: list[tuple[str, str, Callable[[Dump], Parsed | None]]] = [(a.attr, a.title, a.value) for a in DUMP_AREAS]


@dataclass(eq=False)
class Node:
    """One row of the structure tree."""

    label: str
    kind: str
    obj: Parsed | None = None
    address: int | None = None
    size: int = 0
    #: Key/value rows shown when there is no Parsed object (container, discovery, errors).
    info: list[tuple[str, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    parent: Node | None = field(default=None, repr=False)
    #: Stable identifier ("efi/0/2/1"): position in the tree.
    key: str = ""

    @property
    def end(self) -> int | None:
        return None if self.address is None else self.address + max(self.size, 1)

    def contains(self, pa: int) -> bool:
        return self.address is not None and self.address <= pa < self.address + max(self.size, 1)

    @property
    def path(self) -> str:
        parts = []
        n: Node | None = self
        while n is not None:
            parts.append(n.label)
            n = n.parent
        return " › ".join(reversed(parts))

    @cached_property
    def search_text(self) -> str:
        """What a search matches (lower case): what the tree and the detail pane show of this node, that is its
        label, kind, summary and facts, each as far as it is shown."""
        bits = [self.label, self.kind]
        if self.obj is not None:
            bits.append(self.summary())
        bits += [shown(v, MAX_VALUE) for _k, v in self.facts()]
        return "\n".join(bits).lower()

    def worst(self) -> Severity | None:
        """Worst severity in this node and below."""
        sev = [f.severity for f in self.findings]
        sev += [s for c in self.children if (s := c.worst()) is not None]
        return max(sev) if sev else None

    def layout(self) -> list[FieldSpan]:
        """The object's fields with offsets; decoded from ``raw`` with its schema when the parser kept no fields."""
        o = self.obj
        if o is None:
            return []
        try:
            if o.fields is None and o.schema is not None and o.raw:
                return struct_layout(o.schema, o.schema.parse(bytes(o.raw)))
            return o.layout()
        except Exception:  # noqa: BLE001  (a decoder's layout must never take the UI down)
            return []

    # -- the object's own presentation (a decoder's bug is shown, never raised) --------
    def summary(self) -> str:
        """The object's one-line summary (its label for nodes without an object)."""
        if self.obj is None:
            return self.label
        try:
            return self.obj.summary()
        except Exception as e:  # noqa: BLE001
            return f"{self.label} (summary unavailable: {e})"

    def facts(self) -> list[tuple[str, str]]:
        """Label/value rows: the object's :meth:`~efitables.model.Parsed.rows`, or the node's own info rows."""
        if self.obj is None:
            return list(self.info)
        try:
            return self.obj.facts() + self.info
        except Exception as e:  # noqa: BLE001
            return [("error", f"rows unavailable: {e}"), *self.info]

    def table_views(self) -> list[TableView]:
        """The object's sub-tables (entries, ranges, strings)."""
        if self.obj is None:
            return []
        try:
            return self.obj.table_views()
        except Exception as e:  # noqa: BLE001
            return [TableView("tables unavailable", ("error",), [(str(e),)])]


@dataclass
class DumpModel:
    """The walked dump: tree roots, every node in tree order, every finding, secret byte ranges."""

    roots: list[Node]
    nodes: list[Node]
    findings: list[Finding]
    secret_spans: list[tuple[int, int]]
    truncated: bool = False
    _owner: dict[Finding, Node] = field(default_factory=dict, repr=False)
    _by_start: list[Node] = field(default_factory=list, repr=False)
    _starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        for n in self.nodes:
            for f in n.findings:
                self._owner.setdefault(f, n)
        self._by_start = sorted((n for n in self.nodes if n.address is not None), key=lambda n: n.address or 0)
        self._starts = [n.address or 0 for n in self._by_start]

    def node_at(self, pa: int) -> Node | None:
        """The smallest parsed object whose bytes hold ``pa`` (container ranges last)."""
        best: Node | None = None
        stop = bisect.bisect_right(self._starts, pa)
        for n in self._by_start[:stop]:
            if n.contains(pa) and (best is None or _rank(n) < _rank(best)):
                best = n
        return best

    def node_for_finding(self, f: Finding) -> Node | None:
        n = self._owner.get(f)
        if n is not None:
            return n
        if f.address is not None:
            exact = [n for n in self.nodes if n.address == f.address and n.obj is not None]
            if exact:
                return exact[0]
            at = self.node_at(f.address)
            if at is not None:
                return at
        for n in self.nodes:
            if n.kind == f.structure or n.label == f.structure:
                return n
        return None

    def search(self, query: str, limit: int = 200) -> list[Node]:
        q = query.strip().lower()
        if not q:
            return []
        out = [n for n in self.nodes if q in n.search_text]
        return out[:limit]

    def by_key(self, key: str) -> Node | None:
        for n in self.nodes:
            if n.key == key:
                return n
        return None

    def is_secret(self, pa: int) -> bool:
        return any(a <= pa < b for a, b in self.secret_spans)


def expanded_by_default(node: Node) -> bool:
    """Whether the tree shows ``node`` expanded when it is added: every top-level area but the container and
    the memory maps (:data:`COLLAPSED_ROOTS`), and below the top level the configuration table array."""
    if node.parent is None:
        return node.kind not in COLLAPSED_ROOTS
    return node.kind in EXPANDED_KINDS


def tree_label(node: Node) -> tuple[str, str]:
    """(name, address) as the tree shows ``node``.

    A configuration table is its GUID's name and the address of the table it points to (``VendorTable``:
    the payload), not of its 16- or 24-byte entry in the array, which the detail pane shows; other objects
    are their title and ``@`` their own address; ranges carry their span in their title already.
    """
    obj = node.obj
    if isinstance(obj, ConfigTable):
        return obj.name or f"unknown GUID {obj.guid}", f"{obj.table_address:#x}"
    if node.address is None or node.kind == "range":
        return node.label, ""
    return node.label, f"@{node.address:#x}"


def _rank(n: Node) -> tuple[int, int]:
    return (0 if n.obj is not None else 1, n.size)


class _Walker:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.seen: set[int] = set()
        self.truncated = False

    def add(self, node: Node, parent: Node | None) -> Node | None:
        if len(self.nodes) >= MAX_NODES:
            self.truncated = True
            return None
        node.parent = parent
        if parent is not None:
            node.key = f"{parent.key}/{len(parent.children)}"
            parent.children.append(node)
        self.nodes.append(node)
        return node

    def parsed(self, obj: Parsed, parent: Node | None, depth: int = 0, label: str | None = None) -> Node | None:
        if id(obj) in self.seen:
            return None
        self.seen.add(id(obj))
        try:
            title = obj.title
        except Exception:  # noqa: BLE001
            title = obj.kind
        node = Node(
            label=label or title,
            kind=obj.kind,
            obj=obj,
            address=obj.address,
            size=obj.size or 0,
            findings=list(obj.findings),
        )
        if self.add(node, parent) is None:
            return None
        if depth >= MAX_DEPTH:
            self.truncated = True
            return node
        try:
            kids = obj.children()
        except Exception as e:  # noqa: BLE001
            node.info.append(("children", f"unavailable: {e}"))
            kids = []
        for c in kids:
            if isinstance(c, Parsed):
                self.parsed(c, node, depth + 1)
        return node


def _area_value(dump: Dump, get: Callable[[Dump], Parsed | None]) -> tuple[Parsed | None, str | None]:
    """(the area's object or None, error text when its parser failed)."""
    try:
        return get(dump), None
    except ScanCancelled:
        raise
    except Exception as e:  # noqa: BLE001  (a parser bug is shown, not raised)
        return None, f"{type(e).__name__}: {e}"


def container_node(dump: Dump, w: _Walker) -> Node:
    mem = dump.memory
    info = mem.info
    ranges = mem.ranges()
    present = sum(r.size for r in ranges)
    rows = [
        ("path", str(dump.path)),
        ("format", str(info.format)),
        ("file size", f"{info.file_size:#x} ({info.file_size})"),
        ("physical ranges", str(len(ranges))),
        ("bytes present", f"{present:#x} ({present})"),
    ]
    if ranges:
        rows.append(("lowest..highest", f"{ranges[0].start:#x}..{ranges[-1].end:#x}"))
    vmci = mem.vmcoreinfo or {}
    if vmci:
        rows.append(("VMCOREINFO", str(vmci.get("OSRELEASE", f"{len(vmci)} keys"))))
    for k, v in info.details.items():
        if isinstance(v, str | int):
            rows.append((str(k), f"{v:#x}" if isinstance(v, int) and not isinstance(v, bool) else str(v)))
    root = Node(
        label=f"Dump {os.path.basename(str(dump.path))} ({info.format})",
        kind="dump",
        info=rows,
        findings=list(mem.findings),
        key="dump",
    )
    w.add(root, None)
    rnode = Node(label=f"Physical ranges ({len(ranges)})", kind="ranges", info=[("ranges", str(len(ranges)))])
    w.add(rnode, root)
    for r in ranges[:MAX_RANGE_NODES]:
        n = Node(
            label=f"{r.start:#x}-{r.end:#x} ({size_text(r.size)})",
            kind="range",
            address=r.start,
            size=r.size,
            info=[("start", f"{r.start:#x}"), ("end", f"{r.end:#x}"), ("size", f"{r.size:#x} ({r.size})")],
        )
        w.add(n, rnode)
    if len(ranges) > MAX_RANGE_NODES:
        rnode.info.append(("shown", f"first {MAX_RANGE_NODES}"))
    return root


def discovery_node(dump: Dump, w: _Walker, parent: Node | None) -> Node | None:
    try:
        d = dump.systab_discovery
    except ScanCancelled:
        raise
    except Exception as e:  # noqa: BLE001
        n = Node(label="EFI system table discovery", kind="discovery", info=[("error", str(e))])
        return w.add(n, parent)
    rows = []
    for r in d.routes:
        addr = "-" if r.address is None else f"{r.address:#x}"
        rows.append((str(r.name), f"{addr}  {r.status}  {r.detail}"))
    for c in d.candidates[:256]:
        verdict = "accepted" if c.accepted else "rejected"
        rows.append((f"candidate {c.address:#x}", f"{c.kind} {verdict}: {c.reason}"))
    n = Node(label="EFI system table discovery", kind="discovery", address=d.address, size=0, info=rows)
    return w.add(n, parent)


def secret_spans(nodes: Iterable[Node]) -> list[tuple[int, int]]:
    """Physical byte ranges a hex view must hide: what each object's :meth:`~efitables.model.Parsed.secret_ranges`
    names (empty for objects shown with ``--show-secrets``)."""
    out: list[tuple[int, int]] = []
    for n in nodes:
        if n.obj is not None:
            out.extend(n.obj.secret_ranges())
    return sorted(out)


def build_model(
    dump: Dump,
    on_area: Callable[[str], None] | None = None,
    on_root: Callable[[Node], None] | None = None,
) -> DumpModel:
    """Walk every area of ``dump`` (this parses them: run it in a worker for big dumps).

    ``on_area`` is told each area's label before it is parsed; ``on_root`` is given each top-level node
    as soon as it and its subtree are complete, in tree order (the container, the system-table discovery,
    then :data:`AREAS`: the EFI system table and its configuration tables first), so a UI can show each
    area while the next is parsed. The nodes it is given are the returned model's own.

    Raises :class:`~efitables.efi.hits.ScanCancelled` if the Dump's scan was cancelled.
    """
    w = _Walker()
    roots: list[Node] = [container_node(dump, w)]
    if on_root is not None:
        on_root(roots[0])
    disc = discovery_node(dump, w, None)
    if disc is not None:
        disc.key = "discovery"
        roots.append(disc)
        if on_root is not None:
            on_root(disc)
    for key, label, get in AREAS:
        if on_area is not None:
            on_area(label)
        value, error = _area_value(dump, get)
        node: Node | None
        if error is not None:
            node = Node(label=f"{label}: error", kind=key, info=[("error", error)])
            w.add(node, None)
        elif value is None:
            node = Node(label=f"{label}: not found", kind=key, info=[("status", "not in this dump")])
            w.add(node, None)
        else:
            node = w.parsed(value, None)
        if node is not None:
            node.key = key
            _rekey(node)
            roots.append(node)
            if on_root is not None:
                on_root(node)
    findings = _dump_findings(dump, roots[0])
    # what the objects name, and what the dump's redacting view withholds whoever reads it
    spans = sorted(set(secret_spans(w.nodes)) | set(dump.secret_spans()))
    return DumpModel(roots=roots, nodes=w.nodes, findings=findings, secret_spans=spans, truncated=w.truncated)


def _rekey(node: Node) -> None:
    for i, c in enumerate(node.children):
        c.key = f"{node.key}/{i}"
        _rekey(c)


def _dump_findings(dump: Dump, root: Node) -> list[Finding]:
    """:attr:`Dump.findings <efitables.dump.Dump.findings>`: every finding of the dump (cross-structure checks
    included), in its order; the findings screen lists exactly these."""
    try:
        return list(dump.findings)
    except ScanCancelled:
        raise
    except Exception as e:  # noqa: BLE001  (a check's bug is shown, not raised)
        root.info.append(("findings", f"unavailable: {type(e).__name__}: {e}"))
        return []
