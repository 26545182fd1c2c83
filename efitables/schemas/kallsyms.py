"""The kernel's compressed symbol tables (kallsyms) as they lie in memory.

Sources: torvalds/linux kernel/kallsyms_internal.h@v6.12.117 (``kallsyms_offsets``
is ``const int[]``, ``kallsyms_token_index`` ``const u16[]``,
``kallsyms_token_table`` ``const char[]``, ``kallsyms_num_syms`` ``const unsigned
int``, ``kallsyms_relative_base`` ``const unsigned long``), kernel/kallsyms.c@v6.12.117
(``kallsyms_expand_symbol``: a name's length is one byte, or two when bit 7 of
the first is set: ``(len & 0x7F) | (next << 7)``), scripts/kallsyms.c@v6.12.117
(256 tokens; the emitted length encoding) and include/linux/kallsyms.h@v6.12.117
(``KSYM_NAME_LEN``). Everything little-endian (x86-64).
"""

from __future__ import annotations

import struct

import construct as cs

from efitables.schemas.common import fast_struct, struct_format

#: ``kallsyms_token_index``: one u16 offset into ``kallsyms_token_table`` per token.
KALLSYMS_TOKEN_COUNT = 256
KALLSYMS_TOKEN_INDEX = cs.Array(KALLSYMS_TOKEN_COUNT, cs.Int16ul)
KALLSYMS_TOKEN_INDEX_SIZE = KALLSYMS_TOKEN_INDEX.sizeof()
assert KALLSYMS_TOKEN_INDEX_SIZE == 512
KALLSYMS_TOKEN_INDEX_FAST = fast_struct(KALLSYMS_TOKEN_INDEX)

#: One ``kallsyms_offsets`` entry (signed: negative ones are absolute per-CPU addresses).
KALLSYMS_OFFSET = cs.Int32sl
KALLSYMS_OFFSET_SIZE = KALLSYMS_OFFSET.sizeof()

#: ``kallsyms_names``: bit 7 of a length byte says a second byte follows with bits 14:7.
KALLSYMS_NAME_LEN_BIG = 0x80
KALLSYMS_NAME_LEN_LOW_MASK = 0x7F
KALLSYMS_NAME_LEN_HIGH_SHIFT = 7

#: Longest symbol name (include/linux/kallsyms.h; 512 since v6.1).
KSYM_NAME_LEN = 512


def kallsyms_offsets_fast(num: int) -> struct.Struct:
    """``struct`` for ``num`` entries of ``kallsyms_offsets`` (one unpack of the whole array)."""
    return struct.Struct(struct_format(cs.Array(num, KALLSYMS_OFFSET)))
