"""Building blocks shared by the schemas: the EFI GUID, and helpers that turn a
construct ``Struct`` into field offsets (for hex views), ``struct`` fast paths
and JSON-ready values.

EFI_GUID source: tianocore/edk2 MdePkg/Include/Uefi/UefiBaseType.h@c5aa7e7d94c0
(``EFI_GUID`` = ``{UINT32 Data1; UINT16 Data2; UINT16 Data3; UINT8 Data4[8]}``),
stored "mixed endian": Data1-3 little-endian, Data4 in text order; Linux
``efi_guid_t`` (include/linux/efi.h@v6.12.117) is the same 16 bytes.

Fast paths: the hot loops (signature sweep, candidate checks, bulk tables) decode
with ``struct`` because construct is far slower. Their formats and offsets are
not written by hand: :func:`struct_format`, :func:`fast_struct` and
:func:`field_offset` derive them from the construct schema, so the two cannot
drift apart (tests/test_schema_fastpaths.py checks each against the schema).
"""

from __future__ import annotations

import enum
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import construct as cs


class GuidAdapter(cs.Adapter):  # type: ignore[misc]
    """16 on-disk bytes <-> canonical lower-case text ``xxxxxxxx-xxxx-...``."""

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        return str(uuid.UUID(bytes_le=bytes(obj)))

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        return uuid.UUID(obj).bytes_le


EFI_GUID = GuidAdapter(cs.Bytes(16))
NULL_GUID = "00000000-0000-0000-0000-000000000000"


def guid_from_bytes(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=bytes(raw[:16])))


def guid_to_bytes(text: str) -> bytes:
    return uuid.UUID(text).bytes_le


@dataclass(frozen=True)
class FieldSpan:
    """A field of a fixed-layout structure: where its bytes are and what they mean."""

    name: str
    offset: int
    size: int
    value: Any


def _unwrap(sc: cs.Construct) -> cs.Construct:
    while isinstance(sc, cs.Renamed):
        sc = sc.subcon
    return sc


def struct_layout(schema: cs.Construct, value: Any = None, prefix: str = "") -> list[FieldSpan]:
    """Flatten a fixed-size ``Struct`` into spans (nested structs become ``a.b``).

    Fields whose size cannot be known statically stop the walk; what precedes
    them is returned.
    """
    spans: list[FieldSpan] = []
    sc = _unwrap(schema)
    if not isinstance(sc, cs.Struct):
        return spans
    off = 0
    for sub in sc.subcons:
        try:
            size = sub.sizeof()
        except cs.SizeofError:
            break
        name = sub.name
        inner = _unwrap(sub)
        if name is not None:
            v = value.get(name) if isinstance(value, dict) else None
            if isinstance(inner, cs.Struct):
                for s in struct_layout(inner, v, f"{prefix}{name}."):
                    spans.append(FieldSpan(s.name, off + s.offset, s.size, s.value))
            else:
                spans.append(FieldSpan(prefix + name, off, size, v))
        off += size
    return spans


# -- fast paths derived from a schema ------------------------------------------------
#: construct's FormatField codes -> the ``struct`` code written in this project (same sizes).
_CODE = {"L": "I", "l": "i"}


def _fields(sc: cs.Construct) -> Iterator[tuple[str | None, cs.Construct]]:
    """The (name, subconstruct) members of a Struct, names unwrapped."""
    for sub in _unwrap(sc).subcons:
        yield sub.name, _unwrap(sub)


def _resolve(schema: cs.Construct, path: str) -> tuple[int, cs.Construct]:
    """Offset and construct of a field named by a dotted path (``hdr.version``)."""
    sc = _unwrap(schema)
    off = 0
    for part in path.split("."):
        if not isinstance(sc, cs.Struct):
            raise KeyError(f"{path}: {part!r} is inside a field that is not a Struct")
        rel = 0
        for name, sub in _fields(sc):
            if name == part:
                off += rel
                sc = sub
                break
            rel += sub.sizeof()
        else:
            raise KeyError(f"{path}: no field {part!r}")
    return off, sc


def field_offset(schema: cs.Construct, path: str) -> int:
    """Byte offset of a field (dotted path for nested structs): the sum of the sizes before it."""
    return _resolve(schema, path)[0]


def field_size(schema: cs.Construct, path: str) -> int:
    """``sizeof`` of a field (dotted path for nested structs)."""
    return int(_resolve(schema, path)[1].sizeof())


def _codes(sc: cs.Construct, order: list[str]) -> str:
    """The ``struct`` codes of a fixed-size construct; ``order`` collects byte-order marks."""
    sc = _unwrap(sc)
    if isinstance(sc, cs.FormatField):
        mark, code = sc.fmtstr[0], sc.fmtstr[1:]
        if code not in ("B", "b"):  # a single byte has no order
            order.append(mark)
        return _CODE.get(code, code)
    if isinstance(sc, cs.Padded) and sc.subcon is cs.Pass and isinstance(sc.length, int):
        return f"{sc.length}x"
    if isinstance(sc, cs.Bytes) and isinstance(sc.length, int):
        return f"{sc.length}s"
    if isinstance(sc, cs.Array) and isinstance(sc.count, int):
        inner = _codes(sc.subcon, order)
        return f"{sc.count}{inner}" if len(inner) == 1 else inner * sc.count
    if isinstance(sc, cs.Struct):
        return "".join(_codes(sub, order) for _, sub in _fields(sc))
    if isinstance(sc, cs.Adapter | cs.Default):  # Enum, FlagsEnum, GuidAdapter, Default: same bytes
        return _codes(sc.subcon, order)
    raise TypeError(f"no struct format for {sc!r}")


def struct_format(schema: cs.Construct, first: str | None = None, last: str | None = None) -> str:
    """The ``struct`` format of ``schema``, or of its fields ``first`` .. ``last`` (inclusive).

    ``first``/``last`` are dotted paths with the same parent (``hdr.header``,
    ``hdr.version``); ``last`` defaults to ``first``. Padding becomes ``x``
    (skipped when unpacking), byte strings ``s``; every multi-byte field must
    have the same byte order, which starts the format.
    """
    if first is None:
        members = [_unwrap(schema)]
    else:
        last = first if last is None else last
        parent, _, head = first.rpartition(".")
        lparent, _, tail = last.rpartition(".")
        if parent != lparent:
            raise ValueError(f"{first} and {last} are not in the same struct")
        sc = _resolve(schema, parent)[1] if parent else _unwrap(schema)
        names = [n for n, _ in _fields(sc)]
        i, j = names.index(head), names.index(tail)
        if j < i:
            raise ValueError(f"{last} comes before {first}")
        members = [sub for _, sub in list(_fields(sc))[i : j + 1]]
    order: list[str] = []
    codes = "".join(_codes(m, order) for m in members)
    marks = set(order) or {"<"}
    if len(marks) != 1:
        raise ValueError(f"mixed byte order in {schema!r}")
    return marks.pop() + codes


def fast_struct(schema: cs.Construct, first: str | None = None, last: str | None = None) -> struct.Struct:
    """A compiled :class:`struct.Struct` of :func:`struct_format` (same arguments)."""
    return struct.Struct(struct_format(schema, first, last))


def jsonable(v: Any) -> Any:
    """Turn parsed values (construct Containers, enums, bytes) into JSON types."""
    if isinstance(v, cs.EnumIntegerString):
        return str(v)
    if isinstance(v, enum.Enum):
        return v.name
    if isinstance(v, bool | int | float | str) or v is None:
        return v
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items() if not str(k).startswith("_")}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if hasattr(v, "to_dict"):
        return v.to_dict()
    return str(v)
