"""The kernel's compressed symbol tables (kallsyms) as they lie in memory.

Sources: torvalds/linux kernel/kallsyms_internal.h@v6.12.117 (``kallsyms_offsets``
is ``const int[]``, ``kallsyms_token_index`` ``const u16[]``,
``kallsyms_token_table`` ``const char[]``, ``kallsyms_num_syms`` ``const unsigned
int``, ``kallsyms_relative_base`` ``const unsigned long``, ``kallsyms_markers``
``const unsigned int[]``, ``kallsyms_seqs_of_names`` ``const u8[]``),
kernel/kallsyms.c@v6.12.117 (``kallsyms_expand_symbol``: a name's length is one
byte, or two when bit 7 of the first is set: ``(len & 0x7F) | (next << 7)``;
``get_symbol_offset``: ``kallsyms_markers[pos >> 8]`` then ``pos & 0xFF`` names
skipped; ``get_symbol_seq``: three bytes, most significant first;
``kallsyms_lookup_names``: a binary search of ``kallsyms_seqs_of_names``),
scripts/kallsyms.c@v6.12.117 (256 tokens; the emitted length encoding;
``output_label``: every table ``.balign 8`` on 64-bit; ``write_src``: the table
order) and include/linux/kallsyms.h@v6.12.117 (``KSYM_NAME_LEN``). Everything
little-endian (x86-64) except the sequence numbers.

Table order (``write_src``): up to v6.3 ``offsets, relative_base, num_syms, names,
markers, [seqs_of_names,] token_table, token_index``; ``seqs_of_names`` arrived in
v6.2 (Debian's 6.1 carries it); v6.4 (Masahiro Yamada, "scripts/kallsyms: change
the output order") moved ``offsets, relative_base, seqs_of_names`` after
``token_index``. VMCOREINFO exports neither ``kallsyms_markers`` nor
``kallsyms_seqs_of_names`` (kernel/vmcore_info.c), so a reader finds them by this
order.
"""

from __future__ import annotations

import struct
from typing import Literal

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

#: ``kallsyms_relative_base`` (``const unsigned long``, emitted as ``PTR``: 8 bytes on 64-bit).
KALLSYMS_RELATIVE_BASE = cs.Int64ul
KALLSYMS_RELATIVE_BASE_SIZE = KALLSYMS_RELATIVE_BASE.sizeof()

#: ``kallsyms_names``: bit 7 of a length byte says a second byte follows with bits 14:7.
KALLSYMS_NAME_LEN_BIG = 0x80
KALLSYMS_NAME_LEN_LOW_MASK = 0x7F
KALLSYMS_NAME_LEN_HIGH_SHIFT = 7

#: Longest symbol name (include/linux/kallsyms.h; 512 since v6.1).
KSYM_NAME_LEN = 512

#: The smallest ``kallsyms_names`` entry: a length byte and one token (no name is empty).
KALLSYMS_MIN_ENTRY = 2
#: The largest entry a reader accepts: two length bytes and ``KSYM_NAME_LEN`` tokens.
KALLSYMS_MAX_ENTRY = 2 + KSYM_NAME_LEN

#: ``kallsyms_markers``: the offset in ``kallsyms_names`` of every 256th name.
KALLSYMS_MARKER = cs.Int32ul
KALLSYMS_MARKER_SIZE = KALLSYMS_MARKER.sizeof()
KALLSYMS_MARKER_SHIFT = 8
KALLSYMS_NAMES_PER_MARKER = 1 << KALLSYMS_MARKER_SHIFT
KALLSYMS_MARKER_MASK = KALLSYMS_NAMES_PER_MARKER - 1

#: ``kallsyms_seqs_of_names`` (v6.2+): per name in name order (``strcmp`` of the names
#: without their type, duplicates by address), the symbol's index in three bytes.
KALLSYMS_SEQ = cs.Int24ub
KALLSYMS_SEQ_SIZE = KALLSYMS_SEQ.sizeof()
KALLSYMS_SEQ_BYTEORDER: Literal["big"] = "big"

#: scripts/kallsyms.c ``output_label``: every table starts ``.balign 8`` (``ALGN``, 64-bit).
KALLSYMS_TABLE_ALIGN = 8

#: VMCOREINFO ``SYMBOL()`` keys whose value is not the symbol's address:
#: ``VMCOREINFO_SYMBOL_ARRAY(mem_section)`` prints the pointer's value under
#: CONFIG_SPARSEMEM_EXTREME (kernel/vmcore_info.c).
VMCOREINFO_SYMBOL_VALUES = frozenset({"mem_section"})


def kallsyms_offsets_fast(num: int) -> struct.Struct:
    """``struct`` for ``num`` entries of ``kallsyms_offsets`` (one unpack of the whole array)."""
    return struct.Struct(struct_format(cs.Array(num, KALLSYMS_OFFSET)))


def kallsyms_markers_fast(num: int) -> struct.Struct:
    """``struct`` for ``num`` entries of ``kallsyms_markers`` (one unpack of the whole array)."""
    return struct.Struct(struct_format(cs.Array(num, KALLSYMS_MARKER)))
