"""BTF, the BPF Type Format: the type information a kernel carries between ``__start_BTF`` and ``__stop_BTF``.

Sources: torvalds/linux include/uapi/linux/btf.h@v6.12 (``struct btf_header``,
``struct btf_type`` and its ``info`` bits, ``BTF_KIND_*`` up to
``BTF_KIND_ENUM64`` = 19, ``BTF_INT_*``, ``struct btf_enum``, ``btf_array``,
``btf_member`` with ``BTF_MEMBER_BITFIELD_SIZE``/``BTF_MEMBER_BIT_OFFSET``,
``btf_param``, ``btf_var``, ``btf_var_secinfo``, ``btf_decl_tag``,
``btf_enum64``, ``BTF_MAX_TYPE``, ``BTF_MAX_NAME_OFFSET``, ``BTF_MAX_VLEN``),
Documentation/bpf/btf.rst@v6.12 (section 2: what follows each kind, what
``kind_flag`` means per kind: bitfield offsets for STRUCT/UNION, union for FWD,
signed for ENUM/ENUM64) and tools/lib/bpf/btf.c@v6.12 (``btf_parse_hdr``: the
header may be longer than ``struct btf_header``, section offsets are relative to
its end, the type section is 4-byte aligned, a byte-swapped magic means the
other endianness; ``btf_type_size``: the size of each kind's record). All
little-endian (x86-64).

A type record is ``struct btf_type`` (12 bytes) followed by its kind's trailing
data: :data:`KIND_TRAILER` gives per kind the construct of the fixed part and of
the per-``vlen`` part, so the reader's index pass computes each record's size
from these schemas' ``sizeof``.
"""

from __future__ import annotations

import enum

import construct as cs

from efitables.schemas.common import fast_struct

#: ``BTF_MAGIC`` and how it reads when the producer had the other byte order.
BTF_MAGIC = 0xEB9F
BTF_MAGIC_SWAPPED = 0x9FEB
BTF_VERSION = 1

#: ``struct btf_header``; the section offsets are relative to the end of the header, ``hdr_len`` bytes in.
BTF_HEADER = cs.Struct(
    "magic" / cs.Int16ul,
    "version" / cs.Int8ul,
    "flags" / cs.Int8ul,
    "hdr_len" / cs.Int32ul,
    "type_off" / cs.Int32ul,
    "type_len" / cs.Int32ul,
    "str_off" / cs.Int32ul,
    "str_len" / cs.Int32ul,
)
BTF_HEADER_SIZE = BTF_HEADER.sizeof()
assert BTF_HEADER_SIZE == 24
#: (magic, version, flags, hdr_len): enough to judge the rest of the header.
BTF_PREAMBLE_FAST = fast_struct(BTF_HEADER, "magic", "hdr_len")
BTF_PREAMBLE_SIZE = BTF_PREAMBLE_FAST.size
#: libbpf ``btf_parse_hdr``: "BTF type section is not aligned to 4 bytes".
BTF_TYPE_ALIGN = 4

#: ``BTF_MAX_TYPE``: the largest type id; ``BTF_MAX_NAME_OFFSET``; ``BTF_MAX_VLEN``.
BTF_MAX_TYPE = 0x000FFFFF
BTF_MAX_NAME_OFFSET = 0x00FFFFFF
BTF_MAX_VLEN = 0xFFFF


class BtfKind(enum.IntEnum):
    """``BTF_KIND_*`` (include/uapi/linux/btf.h@v6.12)."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


NR_BTF_KINDS = max(BtfKind) + 1

#: ``struct btf_type``. The third word is the C union ``{ __u32 size; __u32 type; }``: a size for
#: INT, ENUM, STRUCT, UNION, ENUM64, DATASEC and FLOAT, a type id for PTR, TYPEDEF, VOLATILE,
#: CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DECL_TAG and TYPE_TAG (:data:`KINDS_WITH_SIZE`).
BTF_TYPE = cs.Struct(
    "name_off" / cs.Int32ul,
    "info" / cs.Int32ul,
    "size" / cs.Int32ul,
)
BTF_TYPE_SIZE = BTF_TYPE.sizeof()
assert BTF_TYPE_SIZE == 12
BTF_TYPE_FAST = fast_struct(BTF_TYPE)

#: ``btf_type.info``: bits 0-15 vlen, 16-23 unused, 24-28 kind, 29-30 unused, 31 kind_flag
#: (``BTF_INFO_VLEN``, ``BTF_INFO_KIND``, ``BTF_INFO_KFLAG``); declared most significant bit first.
BTF_TYPE_INFO = cs.ByteSwapped(
    cs.BitStruct(
        "kind_flag" / cs.Flag,
        cs.Padding(2),
        "kind" / cs.BitsInteger(5),
        cs.Padding(8),
        "vlen" / cs.BitsInteger(16),
    )
)
assert BTF_TYPE_INFO.sizeof() == 4
BTF_INFO_VLEN_MASK = 0xFFFF
BTF_INFO_KIND_SHIFT = 24
BTF_INFO_KIND_MASK = 0x1F
BTF_INFO_KFLAG_SHIFT = 31

#: The u32 after a ``BTF_KIND_INT``: bits 24-27 encoding, 16-23 offset, 0-7 bits
#: (``BTF_INT_ENCODING``, ``BTF_INT_OFFSET``, ``BTF_INT_BITS``); declared most significant bit first.
BTF_INT = cs.ByteSwapped(
    cs.BitStruct(
        cs.Padding(4),
        "encoding" / cs.BitsInteger(4),
        "offset" / cs.BitsInteger(8),
        cs.Padding(8),
        "bits" / cs.BitsInteger(8),
    )
)
assert BTF_INT.sizeof() == 4
#: The same u32 as one word, for the fast path and the masks below.
BTF_INT_DATA = cs.Int32ul
BTF_INT_FAST = fast_struct(BTF_INT_DATA)
BTF_INT_ENCODING_SHIFT = 24
BTF_INT_ENCODING_MASK = 0x0F
BTF_INT_OFFSET_SHIFT = 16
BTF_INT_OFFSET_MASK = 0xFF
BTF_INT_BITS_MASK = 0xFF
BTF_INT_SIGNED = 1 << 0
BTF_INT_CHAR = 1 << 1
BTF_INT_BOOL = 1 << 2

#: ``struct btf_array`` (one after a ``BTF_KIND_ARRAY``).
BTF_ARRAY = cs.Struct(
    "type" / cs.Int32ul,
    "index_type" / cs.Int32ul,
    "nelems" / cs.Int32ul,
)
BTF_ARRAY_FAST = fast_struct(BTF_ARRAY)

#: ``struct btf_member`` (``vlen`` of them after a STRUCT or UNION). With ``kind_flag`` set,
#: ``offset`` holds the bitfield size in bits 24-31 and the bit offset in bits 0-23.
BTF_MEMBER = cs.Struct(
    "name_off" / cs.Int32ul,
    "type" / cs.Int32ul,
    "offset" / cs.Int32ul,
)
BTF_MEMBER_FAST = fast_struct(BTF_MEMBER)
#: ``btf_member.offset`` of a kind_flag STRUCT/UNION: bitfield size (bits 24-31) and bit offset (bits 0-23),
#: declared most significant bit first.
BTF_MEMBER_OFFSET_KFLAG = cs.ByteSwapped(
    cs.BitStruct(
        "bitfield_size" / cs.BitsInteger(8),
        "bit_offset" / cs.BitsInteger(24),
    )
)
assert BTF_MEMBER_OFFSET_KFLAG.sizeof() == 4
BTF_MEMBER_BITFIELD_SIZE_SHIFT = 24
BTF_MEMBER_BIT_OFFSET_MASK = 0xFFFFFF

#: ``struct btf_enum`` (``vlen`` of them after an ENUM; ``val`` is signed, read unsigned when kind_flag is 0).
BTF_ENUM = cs.Struct(
    "name_off" / cs.Int32ul,
    "val" / cs.Int32sl,
)
BTF_ENUM_FAST = fast_struct(BTF_ENUM)

#: ``struct btf_enum64`` (``vlen`` of them after an ENUM64).
BTF_ENUM64 = cs.Struct(
    "name_off" / cs.Int32ul,
    "val_lo32" / cs.Int32ul,
    "val_hi32" / cs.Int32ul,
)
BTF_ENUM64_FAST = fast_struct(BTF_ENUM64)
BTF_ENUM64_HI_SHIFT = 32

#: ``struct btf_param`` (``vlen`` of them after a FUNC_PROTO).
BTF_PARAM = cs.Struct(
    "name_off" / cs.Int32ul,
    "type" / cs.Int32ul,
)
BTF_PARAM_FAST = fast_struct(BTF_PARAM)

#: ``struct btf_var`` (one after a VAR) and its linkage values.
BTF_VAR = cs.Struct("linkage" / cs.Int32ul)
BTF_VAR_FAST = fast_struct(BTF_VAR)
BTF_VAR_STATIC = 0
BTF_VAR_GLOBAL_ALLOCATED = 1
BTF_VAR_GLOBAL_EXTERN = 2

#: ``struct btf_var_secinfo`` (``vlen`` of them after a DATASEC).
BTF_VAR_SECINFO = cs.Struct(
    "type" / cs.Int32ul,
    "offset" / cs.Int32ul,
    "size" / cs.Int32ul,
)
BTF_VAR_SECINFO_FAST = fast_struct(BTF_VAR_SECINFO)

#: ``struct btf_decl_tag`` (one after a DECL_TAG); -1: the tag is on the type itself.
BTF_DECL_TAG = cs.Struct("component_idx" / cs.Int32sl)
BTF_DECL_TAG_FAST = fast_struct(BTF_DECL_TAG)

#: Per kind: (construct of the fixed trailing part or None, construct repeated ``vlen`` times or None)
#: (Documentation/bpf/btf.rst@v6.12 section 2.2; libbpf ``btf_type_size``).
KIND_TRAILER: dict[BtfKind, tuple[cs.Construct | None, cs.Construct | None]] = {
    BtfKind.INT: (BTF_INT, None),
    BtfKind.PTR: (None, None),
    BtfKind.ARRAY: (BTF_ARRAY, None),
    BtfKind.STRUCT: (None, BTF_MEMBER),
    BtfKind.UNION: (None, BTF_MEMBER),
    BtfKind.ENUM: (None, BTF_ENUM),
    BtfKind.FWD: (None, None),
    BtfKind.TYPEDEF: (None, None),
    BtfKind.VOLATILE: (None, None),
    BtfKind.CONST: (None, None),
    BtfKind.RESTRICT: (None, None),
    BtfKind.FUNC: (None, None),
    BtfKind.FUNC_PROTO: (None, BTF_PARAM),
    BtfKind.VAR: (BTF_VAR, None),
    BtfKind.DATASEC: (None, BTF_VAR_SECINFO),
    BtfKind.FLOAT: (None, None),
    BtfKind.DECL_TAG: (BTF_DECL_TAG, None),
    BtfKind.TYPE_TAG: (None, None),
    BtfKind.ENUM64: (None, BTF_ENUM64),
}


def _sizeof(sc: cs.Construct | None) -> int:
    return 0 if sc is None else int(sc.sizeof())


#: Per kind number: (bytes after ``struct btf_type``, bytes per ``vlen``); -1 for a kind the format
#: does not define (0 and anything past ENUM64). Indexed by ``BTF_INFO_KIND``, all 32 values.
KIND_RECORD: tuple[tuple[int, int], ...] = tuple(
    (_sizeof(KIND_TRAILER[BtfKind(k)][0]), _sizeof(KIND_TRAILER[BtfKind(k)][1])) if k in KIND_TRAILER else (-1, -1)
    for k in range(BTF_INFO_KIND_MASK + 1)
)

#: Kinds whose third ``btf_type`` word is a size; the others' is a type id (``btf_type`` comment).
KINDS_WITH_SIZE = frozenset(
    {BtfKind.INT, BtfKind.ENUM, BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM64, BtfKind.DATASEC, BtfKind.FLOAT}
)

#: A pointer's size: BTF does not record it; x86-64 is LP64 (libbpf guesses it from ``long``).
BTF_POINTER_SIZE = 8
