"""Building blocks shared by the schemas: the EFI GUID, and helpers that turn a
construct ``Struct`` into field offsets (for hex views) and JSON-ready values.

EFI_GUID source: tianocore/edk2 MdePkg/Include/Uefi/UefiBaseType.h (``EFI_GUID``
= ``{UINT32 Data1; UINT16 Data2; UINT16 Data3; UINT8 Data4[8]}``), stored
"mixed endian": Data1-3 little-endian, Data4 in text order (shared/spec/efi.md 1).
"""

from __future__ import annotations

import enum
import uuid
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
