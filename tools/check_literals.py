#!/usr/bin/env python3
"""List hand-written binary layouts outside the schemas; fail on any not allowlisted.

The rule: schemas (``efitables/schemas/``) own every layout, constant and mask,
and the memory back-ends (``efitables/memory/``) own their container formats.
Everywhere else a fast path takes its ``struct`` format and its offsets from a
schema constant (derived from, or tested against, the construct ``Struct``),
never from a literal.

This walks the syntax tree of every module under ``efitables/`` outside those two
packages (no regular expressions on source) and reports these sites:

* ``struct.unpack`` / ``unpack_from`` / ``iter_unpack`` / ``pack`` / ``pack_into`` /
  ``calcsize`` / ``Struct(...)`` whose format is a literal (a string constant,
  an f-string, an expression containing one, or a local/module name assigned
  one), whose offset holds an integer literal, or whose buffer is a slice with
  literal bounds; ``import struct as s`` and ``from struct import ...`` are
  followed;
* ``<compiled Struct>.unpack_from`` / ``pack_into`` with a literal offset, and
  ``.unpack`` / ``.iter_unpack`` of a slice with literal bounds;
* ``int.from_bytes(buf[a:b], ...)`` with literal slice bounds.

The integer 0 is not a literal offset (the start of a buffer needs no schema).

Each site is reported as ``path:line: what`` and is allowed only if its
``path:function`` (``<module>`` at module level, ``Class.method`` for methods)
is listed in the allowlist (default ``tools/literal_allowlist.txt``), one entry
a line followed by the reason it is tolerated. Exit 0 when every site is
allowed, 1 otherwise (or when an entry has no reason). Entries that match no
site are reported on stderr; ``--strict`` makes them fail too.

Usage: python tools/check_literals.py [--root DIR] [--allowlist FILE] [--list] [--strict]
"""

from __future__ import annotations

import argparse
import ast
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "efitables"
#: Packages that own layouts (relative to the root, posix form).
EXEMPT = ("efitables/schemas/", "efitables/memory/")

STRUCT_FUNCS = {"unpack", "unpack_from", "iter_unpack", "pack", "pack_into", "calcsize", "Struct"}
#: struct-module function -> positional index of its offset argument
STRUCT_OFFSET_ARG = {"unpack_from": 2, "pack_into": 2}
#: struct-module function -> positional index of its buffer argument
STRUCT_BUFFER_ARG = {"unpack": 1, "unpack_from": 1, "iter_unpack": 1}
#: compiled-Struct method -> positional index of its offset argument
METHOD_OFFSET_ARG = {"unpack_from": 1, "pack_into": 1}
#: compiled-Struct method -> positional index of its buffer argument
METHOD_BUFFER_ARG = {"unpack": 0, "unpack_from": 0, "iter_unpack": 0}


@dataclass(frozen=True)
class Site:
    path: str  # relative to the root, posix form
    line: int
    function: str  # "<module>", "func", "Class.method", "outer.inner"
    call: str  # "struct.unpack_from", "int.from_bytes", ".unpack_from"
    why: tuple[str, ...]  # "literal format '<I'", "literal offset 12", ...

    @property
    def key(self) -> str:
        return f"{self.path}:{self.function}"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.call} in {self.function}: {', '.join(self.why)}"


# -- literal detection -----------------------------------------------------------------
def _has_str(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.JoinedStr) or (isinstance(n, ast.Constant) and isinstance(n.value, str | bytes))
        for n in ast.walk(node)
    )


def _has_int(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Constant) and type(n.value) is int and n.value != 0 for n in ast.walk(node))


def _literal_slice(node: ast.AST | None) -> ast.Subscript | None:
    """``buf[a:b]`` with a literal bound (None when not a slice or no literal bound)."""
    if not isinstance(node, ast.Subscript) or not isinstance(node.slice, ast.Slice):
        return None
    sl = node.slice
    if any(part is not None and _has_int(part) for part in (sl.lower, sl.upper, sl.step)):
        return node
    return None


def is_format_literal(value: object) -> bool:
    """A string that is a ``struct`` format with an explicit byte order (``"<QII"``), judged by ``struct``."""
    if not isinstance(value, str) or len(value) < 2 or value[0] not in "<>!=@":
        return False
    try:
        struct.calcsize(value)
    except struct.error:
        return False
    return True


def _arg(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    if len(call.args) > index and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


# -- the walk ----------------------------------------------------------------------------
class _Scope:
    def __init__(self, node: ast.AST) -> None:
        #: name -> values assigned to it directly in this scope
        self.assigns: dict[str, list[ast.expr]] = {}
        for stmt in _own_nodes(node):
            if isinstance(stmt, ast.Assign):
                for t in stmt.targets:
                    if isinstance(t, ast.Name):
                        self.assigns.setdefault(t.id, []).append(stmt.value)
            elif isinstance(stmt, ast.AnnAssign | ast.AugAssign) and isinstance(stmt.target, ast.Name):
                if stmt.value is not None:
                    self.assigns.setdefault(stmt.target.id, []).append(stmt.value)


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a scope, not descending into nested functions, classes or lambdas."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            yield from _own_nodes(child)


class _Finder(ast.NodeVisitor):
    def __init__(self, path: str, tree: ast.Module, source: str) -> None:
        self.path = path
        self.source = source
        self.sites: list[Site] = []
        self.names: list[str] = []
        self.scopes: list[_Scope] = [_Scope(tree)]
        self.struct_modules: set[str] = set()  # local names of the struct module
        self.struct_funcs: dict[str, str] = {}  # local name -> struct function
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == "struct":
                        self.struct_modules.add(a.asname or a.name)
            elif isinstance(node, ast.ImportFrom) and node.module == "struct" and node.level == 0:
                for a in node.names:
                    if a.name in STRUCT_FUNCS:
                        self.struct_funcs[a.asname or a.name] = a.name

    def _text(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)

    # scopes
    def _enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.names.append(node.name)
        is_func = not isinstance(node, ast.ClassDef)
        if is_func:
            self.scopes.append(_Scope(node))
        self.generic_visit(node)
        if is_func:
            self.scopes.pop()
        self.names.pop()

    visit_FunctionDef = _enter  # noqa: N815
    visit_AsyncFunctionDef = _enter  # noqa: N815
    visit_ClassDef = _enter  # noqa: N815

    @property
    def function(self) -> str:
        return ".".join(self.names) or "<module>"

    def _format_literal(self, node: ast.expr | None) -> str | None:
        """The literal a format argument is or is bound to, as text; None when it comes from elsewhere."""
        if node is None:
            return None
        if _has_str(node):
            return self._text(node)
        if isinstance(node, ast.Name):
            # a name bound to a literal in this function or at module level
            for scope in (self.scopes[-1], self.scopes[0]):
                for value in scope.assigns.get(node.id, []):
                    if _has_str(value):
                        return f"{node.id} = {self._text(value)}"
        return None

    def visit_Call(self, node: ast.Call) -> None:  # noqa: N802
        self._check(node)
        self.generic_visit(node)

    def _add(self, node: ast.Call, call: str, why: list[str]) -> None:
        if why:
            self.sites.append(Site(self.path, node.lineno, self.function, call, tuple(why)))

    def _check(self, node: ast.Call) -> None:
        func = node.func
        struct_func = None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id in self.struct_modules and func.attr in STRUCT_FUNCS:
                struct_func = func.attr
            elif func.value.id == "int" and func.attr == "from_bytes":
                sl = _literal_slice(_arg(node, 0, "bytes"))
                self._add(node, "int.from_bytes", [f"literal slice {self._text(sl)}"] if sl else [])
                return
        elif isinstance(func, ast.Name) and func.id in self.struct_funcs:
            struct_func = self.struct_funcs[func.id]
        why: list[str] = []
        if struct_func is not None:
            fmt = self._format_literal(_arg(node, 0, "format"))
            if fmt is not None:
                why.append(f"literal format {fmt}")
            off = _arg(node, STRUCT_OFFSET_ARG[struct_func], "offset") if struct_func in STRUCT_OFFSET_ARG else None
            buf = _arg(node, STRUCT_BUFFER_ARG[struct_func], "buffer") if struct_func in STRUCT_BUFFER_ARG else None
            call = f"struct.{struct_func}"
        elif isinstance(func, ast.Attribute) and func.attr in METHOD_OFFSET_ARG.keys() | METHOD_BUFFER_ARG.keys():
            off = _arg(node, METHOD_OFFSET_ARG[func.attr], "offset") if func.attr in METHOD_OFFSET_ARG else None
            buf = _arg(node, METHOD_BUFFER_ARG[func.attr], "buffer") if func.attr in METHOD_BUFFER_ARG else None
            call = f".{func.attr}"
        else:
            # a struct format handed to a helper (``_u("<QII", mem, pa)``)
            lits = [
                a
                for a in [*node.args, *(k.value for k in node.keywords)]
                if isinstance(a, ast.Constant) and is_format_literal(a.value)
            ]
            self._add(node, self._text(func), [f"literal format {self._text(a)} passed on" for a in lits])
            return
        if off is not None and _has_int(off):
            why.append(f"literal offset {self._text(off)}")
        sl = _literal_slice(buf)
        if sl:
            why.append(f"literal slice {self._text(sl)}")
        self._add(node, call, why)


def find_sites(path: str, source: str) -> list[Site]:
    """Every literal-layout site in one module's source (``path`` is only reported)."""
    tree = ast.parse(source, filename=path)
    finder = _Finder(path, tree, source)
    finder.visit(tree)
    return finder.sites


def checked_files(root: Path) -> Iterator[Path]:
    for p in sorted((root / PACKAGE).rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if not rel.startswith(EXEMPT):
            yield p


def scan_tree(root: Path) -> list[Site]:
    sites: list[Site] = []
    for p in checked_files(root):
        sites.extend(find_sites(p.relative_to(root).as_posix(), p.read_text(encoding="utf-8")))
    return sites


# -- the allowlist -----------------------------------------------------------------------
def read_allowlist(path: Path) -> tuple[dict[str, str], list[str]]:
    """``path:function reason`` entries -> ({key: reason}, [problems])."""
    entries: dict[str, str] = {}
    problems: list[str] = []
    if not path.exists():
        return entries, problems
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, reason = line.partition(" ")
        if ":" not in key:
            problems.append(f"{path.name}:{n}: {key!r} is not path:function")
        elif not reason.strip():
            problems.append(f"{path.name}:{n}: {key} has no reason")
        else:
            entries[key] = reason.strip()
    return entries, problems


def check(sites: Iterable[Site], allow: dict[str, str]) -> tuple[list[Site], list[str]]:
    """(sites not allowed, allowlist keys that matched no site)."""
    sites = list(sites)
    bad = [s for s in sites if s.key not in allow]
    used = {s.key for s in sites}
    return bad, [k for k in allow if k not in used]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root (holds efitables/)")
    ap.add_argument("--allowlist", type=Path, default=None, help="default: tools/literal_allowlist.txt")
    ap.add_argument("--list", action="store_true", help="print every site, allowed ones too")
    ap.add_argument("--strict", action="store_true", help="fail on allowlist entries that match no site")
    args = ap.parse_args(argv)
    allow_path = args.allowlist or (args.root / "tools" / "literal_allowlist.txt")
    allow, problems = read_allowlist(allow_path)
    sites = scan_tree(args.root)
    bad, stale = check(sites, allow)
    if args.list:
        for s in sites:
            print(f"{s}{'' if s in bad else '  [allowed]'}")
        print(f"{len(sites)} sites, {len(sites) - len(bad)} allowed, {len(bad)} not", file=sys.stderr)
    else:
        for s in bad:
            print(s)
    for p in problems:
        print(p, file=sys.stderr)
    for k in stale:
        print(f"{allow_path.name}: {k} matches no site (remove the entry)", file=sys.stderr)
    if bad and not args.list:
        print(
            f"{len(bad)} literal layout site(s) outside efitables/schemas/ and efitables/memory/: "
            "take the format and offsets from the schema module that owns the layout",
            file=sys.stderr,
        )
    return 1 if bad or problems or (args.strict and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
