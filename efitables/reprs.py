"""Short, non-recursive reprs for result objects, like drgn's.

A REPL shows ``SystemTable(address=0x7e0018, size=0x78, revision='2.70', vendor='EDK II', tables=6)``,
not every attribute of every object it reaches: the class name, the physical address and size in hex,
and two to four key attributes. Which attributes is a class's ``_repr_fields`` (``"attr"`` or
``"label=attr"``); without one, the first scalar attributes of the dataclass. Integers print in hex
(addresses, sizes, flags) except small ones and counts and indexes (:data:`DECIMAL`), lists print their
length, a nested
result prints as ``ClassName@0xADDR`` (never recursively), strings are ``repr``'d and cut at
:data:`MAX_STR` characters (dump strings: ``repr`` escapes control characters).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any, ClassVar

#: Longest string value shown (the rest becomes an ellipsis).
MAX_STR = 40
#: Key attributes a repr shows when the class names none.
DEFAULT_FIELDS = 3
#: Integer attributes shown in decimal: counts, indexes, bit widths, versions.
DECIMAL = re.compile(r"(^nr_|^num_|^n_|count$|index$|^bits$|version$|^instance$|^level$|^tables$|^entries$)")
#: Attributes never chosen by default (shown elsewhere, or bulky).
_SKIP = {"address", "size", "raw", "fields", "schema", "findings"}


def _value(name: str, v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, enum.Enum):
        return v.name
    if isinstance(v, int):
        return str(v) if DECIMAL.search(name) or -10 < v < 10 else f"{v:#x}"
    if isinstance(v, str):
        return repr(v if len(v) <= MAX_STR else v[:MAX_STR] + "…")
    if isinstance(v, bytes | bytearray | memoryview):
        return f"<{len(v)} bytes>"
    if isinstance(v, list | tuple | dict | set | frozenset):
        return str(len(v))
    if isinstance(v, ShortRepr):
        addr = getattr(v, "address", None)
        if isinstance(addr, int):
            return f"{type(v).__name__}@{addr:#x}"
        return repr(v)
    if isinstance(v, float):
        return f"{v:g}"
    text = str(v)
    return text if len(text) <= MAX_STR else text[:MAX_STR] + "…"


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | str | float)


def repr_keys(obj: Any) -> list[tuple[str, str]]:
    """``(label, attribute)`` pairs a repr of ``obj`` shows after its address and size."""
    declared: tuple[str, ...] | None = getattr(type(obj), "_repr_fields", None)
    if declared is not None:
        out = []
        for item in declared:
            label, _, attr = item.partition("=")
            out.append((label, attr or label))
        return out
    picked: list[tuple[str, str]] = []
    if not dataclasses.is_dataclass(obj):
        return picked
    for f in dataclasses.fields(obj):
        if f.name in _SKIP or f.name.startswith("_") or not f.repr:
            continue
        v = getattr(obj, f.name, None)
        if _is_scalar(v) or isinstance(v, list | tuple):
            picked.append((f.name, f.name))
        if len(picked) == DEFAULT_FIELDS:
            break
    return picked


def short_repr(obj: Any) -> str:
    """``ClassName(address=0x.., size=0x.., key=value, ...)``: one line, never recursive."""
    parts = []
    for base in ("address", "size"):
        if hasattr(obj, base) and (base not in dict(repr_keys(obj)).values()):
            v = getattr(obj, base)
            parts.append(f"{base}={v:#x}" if isinstance(v, int) and not isinstance(v, bool) else f"{base}={v!r}")
    for label, attr in repr_keys(obj):
        try:
            v = getattr(obj, attr)
        except Exception as e:  # noqa: BLE001 - a repr never raises
            parts.append(f"{label}=<{type(e).__name__}>")
            continue
        parts.append(f"{label}={_value(label, v)}")
    return f"{type(obj).__name__}({', '.join(parts)})"


class ShortRepr:
    """Mixin: :func:`short_repr` as ``__repr__`` for the class and every subclass.

    ``@dataclass`` writes its own ``__repr__`` into a class unless the class already has one in its own
    namespace; :meth:`__init_subclass__` puts ours there first (a subclass that writes ``__repr__``
    by hand keeps it).
    """

    _repr_fields: ClassVar[tuple[str, ...] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = ShortRepr.__repr__  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return short_repr(self)
