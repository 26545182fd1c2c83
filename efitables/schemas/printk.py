"""The kernel log (printk) buffers as they lie in memory: the lockless ring buffer and the old ``printk_log`` records.

Lockless ring buffer (Linux v5.10 and later), from torvalds/linux
kernel/printk/printk_ringbuffer.h@v6.1 (``struct printk_info``, ``struct
prb_data_blk_lpos``, ``struct prb_desc``, ``struct prb_data_ring``, ``struct
prb_desc_ring``, ``struct printk_ringbuffer``, ``enum desc_state``, the
``DESC_*`` state-variable macros, ``FAILED_LPOS`` / ``NO_LPOS``; ``NO_LPOS`` is
``EMPTY_LINE_LPOS`` from v6.10 on, same value), kernel/printk/printk_ringbuffer.c@v6.1
(``struct prb_data_block``: an ``unsigned long`` descriptor ID then the text;
``DATA_INDEX``, ``DATA_WRAPS``, ``LPOS_DATALESS``, ``get_data``) and
include/linux/dev_printk.h@v6.1 (``struct dev_printk_info``: ``subsystem[16]``,
``device[48]``). ``enum printk_info_flags`` (``LOG_NEWLINE``, ``LOG_CONT``) is in
kernel/printk/printk_ringbuffer.h@v6.1. The layout here is x86-64 v6.1 (the
Debian 6.1 kernel of the real corpus exports exactly these sizes and offsets);
readers take the offsets a dump's VMCOREINFO exports
(kernel/printk/printk.c@v6.1 ``log_buf_vmcoreinfo_setup``) and fall back on
these only for keys it lacks. ``prb_desc_ring.last_finalized_id`` (v5.19; named
``last_finalized_seq`` from v6.10) is not exported and not read.

``flags:5`` and ``level:3`` share one byte (GCC on x86 allocates bit-fields from
the least significant bit: ``flags`` in bits 4:0, ``level`` in bits 7:5);
VMCOREINFO exports neither, nor ``facility``: they follow ``text_len`` as in the
declaration, which has not changed since v5.10.

Before v5.10 (v3.11 to v5.9): ``struct printk_log`` records, variable length, in
one ``log_buf`` of ``log_buf_len`` bytes, from torvalds/linux
kernel/printk/printk.c@v5.9 (``struct printk_log``, ``LOG_ALIGN``,
``log_from_idx``/``log_next``: a record with ``len`` 0 marks the end of the
buffer; the next record is at offset 0). x86 has
``CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS``, so the struct is ``__packed
__aligned(4)`` and records are 4-byte aligned; ``caller_id`` exists with
``CONFIG_PRINTK_CALLER`` (v5.1+), which ``SIZE(printk_log)`` tells.
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.common import fast_struct, field_offset, field_size

# -- shared -----------------------------------------------------------------------------
#: The scalar types of these structures on x86-64: ``u64`` / ``unsigned long`` / pointers, ``u32``, ``u16``.
U64 = cs.Int64ul
U32 = cs.Int32ul
U16 = cs.Int16ul
#: ``atomic_long_t`` (include/linux/types.h: ``struct { s64 counter; }`` on 64-bit; read unsigned).
ATOMIC_LONG_T = cs.Struct("counter" / U64)
#: ``unsigned long`` on x86-64.
ULONG_SIZE = U64.sizeof()
#: Fast paths for the hot loop, read at the offsets VMCOREINFO gives (``unpack_from(buf, offset)``).
U64_FAST = fast_struct(U64)
U32_FAST = fast_struct(U32)
U16_FAST = fast_struct(U16)

#: ``flags:5`` then ``level:3`` in one byte (construct's BitStruct reads the most significant bit first).
FLAGS_LEVEL = cs.BitStruct("level" / cs.BitsInteger(3), "flags" / cs.BitsInteger(5))

# -- the lockless ring buffer (v5.10+) --------------------------------------------------------
PRB_DATA_BLK_LPOS = cs.Struct(
    "begin" / U64,  # unsigned long: logical position of the block
    "next" / U64,  # unsigned long: logical position of the next block
)

PRB_DESC = cs.Struct(
    "state_var" / ATOMIC_LONG_T,  # ID | state << 62
    "text_blk_lpos" / PRB_DATA_BLK_LPOS,
)

DEV_PRINTK_INFO_SUBSYSTEM_LEN = 16
DEV_PRINTK_INFO_DEVICE_LEN = 48
DEV_PRINTK_INFO = cs.Struct(
    "subsystem" / cs.Bytes(DEV_PRINTK_INFO_SUBSYSTEM_LEN),
    "device" / cs.Bytes(DEV_PRINTK_INFO_DEVICE_LEN),
)

PRINTK_INFO = cs.Struct(
    "seq" / U64,
    "ts_nsec" / U64,
    "text_len" / U16,
    "facility" / cs.Int8ul,
    "flags_level" / FLAGS_LEVEL,  # u8 flags:5; u8 level:3
    "caller_id" / U32,
    "dev_info" / DEV_PRINTK_INFO,
)

PRB_DATA_RING = cs.Struct(
    "size_bits" / U32,
    cs.Padding(4),
    "data" / U64,  # char *
    "head_lpos" / ATOMIC_LONG_T,
    "tail_lpos" / ATOMIC_LONG_T,
)

PRB_DESC_RING = cs.Struct(
    "count_bits" / U32,
    cs.Padding(4),
    "descs" / U64,  # struct prb_desc *
    "infos" / U64,  # struct printk_info *
    "head_id" / ATOMIC_LONG_T,
    "tail_id" / ATOMIC_LONG_T,
    "last_finalized_id" / ATOMIC_LONG_T,
)

PRINTK_RINGBUFFER = cs.Struct(
    "desc_ring" / PRB_DESC_RING,
    "text_data_ring" / PRB_DATA_RING,
    "fail" / ATOMIC_LONG_T,
)

#: ``struct prb_data_block``: the descriptor ID, then the text (``char data[]``).
PRB_DATA_BLOCK_HEADER = cs.Struct("id" / U64)
PRB_DATA_BLOCK_ID_SIZE = PRB_DATA_BLOCK_HEADER.sizeof()

# ``state_var`` (printk_ringbuffer.h: DESC_SV_BITS, DESC_FLAGS_SHIFT, DESC_FLAGS_MASK, DESC_ID_MASK).
DESC_SV_BITS = ULONG_SIZE * 8
DESC_FLAGS_SHIFT = DESC_SV_BITS - 2
DESC_FLAGS_MASK = 3 << DESC_FLAGS_SHIFT
DESC_ID_MASK = ((1 << DESC_SV_BITS) - 1) & ~DESC_FLAGS_MASK
ULONG_MASK = (1 << DESC_SV_BITS) - 1

#: ``enum desc_state`` (``desc_miss`` = -1 is a pseudo state: the ID in ``state_var`` is not the one asked for).
DESC_RESERVED = 0x0
DESC_COMMITTED = 0x1
DESC_FINALIZED = 0x2
DESC_REUSABLE = 0x3
DESC_STATE_NAMES = {
    DESC_RESERVED: "reserved",
    DESC_COMMITTED: "committed",
    DESC_FINALIZED: "finalized",
    DESC_REUSABLE: "reusable",
}

#: Data-less block positions (bit 0 set): the data was lost (FAILED) or the record is an empty line.
FAILED_LPOS = 0x1
NO_LPOS = 0x3
LPOS_DATALESS_BIT = 0x1

#: ``enum printk_info_flags``.
LOG_NEWLINE = 0x2
LOG_CONT = 0x8

#: ``printk_caller_id()`` (kernel/printk/printk.c@v6.1): a CPU number with this bit, else a task PID.
CALLER_ID_CPU = 0x80000000

#: kernel/printk/printk.c@v6.1: ``PRB_AVGBITS`` (average text bytes per record, log2) and
#: ``LOG_BUF_LEN_MAX`` (the largest ``log_buf_len=``): together they bound a real ring.
PRB_AVGBITS = 5
LOG_BUF_LEN_MAX_BITS = 31

# -- struct printk_log (v3.11 .. v5.9) ---------------------------------------------------
PRINTK_LOG = cs.Struct(
    "ts_nsec" / U64,
    "len" / U16,  # the whole record: header, text, dict, padding
    "text_len" / U16,
    "dict_len" / U16,
    "facility" / cs.Int8ul,
    "flags_level" / FLAGS_LEVEL,
    "caller_id" / U32,  # CONFIG_PRINTK_CALLER only
)
#: ``LOG_ALIGN`` on x86 (CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS): records start 4-byte aligned.
PRINTK_LOG_ALIGN = 4
#: ``struct printk_log`` without ``caller_id`` (kernels without CONFIG_PRINTK_CALLER, and before v5.1).
PRINTK_LOG_SIZE_NO_CALLER = field_offset(PRINTK_LOG, "caller_id")

# -- where the fields VMCOREINFO does not export lie, relative to one it does -----------------------
#: ``facility`` and the flags/level byte follow ``text_len`` (printk_info) or ``dict_len`` (printk_log).
INFO_FACILITY_AFTER_TEXT_LEN = field_offset(PRINTK_INFO, "facility") - field_offset(PRINTK_INFO, "text_len")
INFO_FLAGS_LEVEL_AFTER_TEXT_LEN = field_offset(PRINTK_INFO, "flags_level") - field_offset(PRINTK_INFO, "text_len")
LOG_FACILITY_AFTER_DICT_LEN = field_offset(PRINTK_LOG, "facility") - field_offset(PRINTK_LOG, "dict_len")
LOG_FLAGS_LEVEL_AFTER_DICT_LEN = field_offset(PRINTK_LOG, "flags_level") - field_offset(PRINTK_LOG, "dict_len")
LOG_CALLER_AFTER_DICT_LEN = field_offset(PRINTK_LOG, "caller_id") - field_offset(PRINTK_LOG, "dict_len")
#: Bits of the flags/level byte.
LEVEL_SHIFT = 5
FLAGS_MASK = (1 << LEVEL_SHIFT) - 1
LEVEL_MASK = 0x7

# -- VMCOREINFO keys and the values this layout gives them ----------------------------------
_LOCKLESS_FIELDS: dict[str, tuple[cs.Construct, str]] = {
    "OFFSET(printk_ringbuffer.desc_ring)": (PRINTK_RINGBUFFER, "desc_ring"),
    "OFFSET(printk_ringbuffer.text_data_ring)": (PRINTK_RINGBUFFER, "text_data_ring"),
    "OFFSET(printk_ringbuffer.fail)": (PRINTK_RINGBUFFER, "fail"),
    "OFFSET(prb_desc_ring.count_bits)": (PRB_DESC_RING, "count_bits"),
    "OFFSET(prb_desc_ring.descs)": (PRB_DESC_RING, "descs"),
    "OFFSET(prb_desc_ring.infos)": (PRB_DESC_RING, "infos"),
    "OFFSET(prb_desc_ring.head_id)": (PRB_DESC_RING, "head_id"),
    "OFFSET(prb_desc_ring.tail_id)": (PRB_DESC_RING, "tail_id"),
    "OFFSET(prb_desc.state_var)": (PRB_DESC, "state_var"),
    "OFFSET(prb_desc.text_blk_lpos)": (PRB_DESC, "text_blk_lpos"),
    "OFFSET(prb_data_blk_lpos.begin)": (PRB_DATA_BLK_LPOS, "begin"),
    "OFFSET(prb_data_blk_lpos.next)": (PRB_DATA_BLK_LPOS, "next"),
    "OFFSET(printk_info.seq)": (PRINTK_INFO, "seq"),
    "OFFSET(printk_info.ts_nsec)": (PRINTK_INFO, "ts_nsec"),
    "OFFSET(printk_info.text_len)": (PRINTK_INFO, "text_len"),
    "OFFSET(printk_info.caller_id)": (PRINTK_INFO, "caller_id"),
    "OFFSET(printk_info.dev_info)": (PRINTK_INFO, "dev_info"),
    "OFFSET(dev_printk_info.subsystem)": (DEV_PRINTK_INFO, "subsystem"),
    "OFFSET(dev_printk_info.device)": (DEV_PRINTK_INFO, "device"),
    "OFFSET(prb_data_ring.size_bits)": (PRB_DATA_RING, "size_bits"),
    "OFFSET(prb_data_ring.data)": (PRB_DATA_RING, "data"),
    "OFFSET(prb_data_ring.head_lpos)": (PRB_DATA_RING, "head_lpos"),
    "OFFSET(prb_data_ring.tail_lpos)": (PRB_DATA_RING, "tail_lpos"),
    "OFFSET(atomic_long_t.counter)": (ATOMIC_LONG_T, "counter"),
}
_LOCKLESS_SIZES: dict[str, cs.Construct] = {
    "SIZE(printk_ringbuffer)": PRINTK_RINGBUFFER,
    "SIZE(prb_desc_ring)": PRB_DESC_RING,
    "SIZE(prb_desc)": PRB_DESC,
    "SIZE(prb_data_blk_lpos)": PRB_DATA_BLK_LPOS,
    "SIZE(printk_info)": PRINTK_INFO,
    "SIZE(dev_printk_info)": DEV_PRINTK_INFO,
    "SIZE(prb_data_ring)": PRB_DATA_RING,
    "SIZE(atomic_long_t)": ATOMIC_LONG_T,
}

#: Every VMCOREINFO key of the lockless ring buffer a reader uses, with its v6.1 x86-64 value.
LOCKLESS_DEFAULTS: dict[str, int] = {
    **{key: field_offset(schema, path) for key, (schema, path) in _LOCKLESS_FIELDS.items()},
    **{key: int(schema.sizeof()) for key, schema in _LOCKLESS_SIZES.items()},
    "LENGTH(printk_info_subsystem)": field_size(DEV_PRINTK_INFO, "subsystem"),
    "LENGTH(printk_info_device)": field_size(DEV_PRINTK_INFO, "device"),
}

#: The same for ``struct printk_log`` (VMCOREINFO before v5.10; ``caller_id`` from v5.1 with CONFIG_PRINTK_CALLER).
LEGACY_DEFAULTS: dict[str, int] = {
    "SIZE(printk_log)": int(PRINTK_LOG.sizeof()),
    "OFFSET(printk_log.ts_nsec)": field_offset(PRINTK_LOG, "ts_nsec"),
    "OFFSET(printk_log.len)": field_offset(PRINTK_LOG, "len"),
    "OFFSET(printk_log.text_len)": field_offset(PRINTK_LOG, "text_len"),
    "OFFSET(printk_log.dict_len)": field_offset(PRINTK_LOG, "dict_len"),
}

#: What must hold of a dump's VMCOREINFO layout before it is used: ``(offset key, size key of the
#: structure holding the field, the field's width as bytes or as a size/length key)``. A reader rejects a
#: layout whose field runs past its structure (or a structure larger than :data:`MAX_STRUCT_SIZE`).
LOCKLESS_CONTAINMENT: tuple[tuple[str, str, int | str], ...] = (
    ("OFFSET(printk_ringbuffer.desc_ring)", "SIZE(printk_ringbuffer)", "SIZE(prb_desc_ring)"),
    ("OFFSET(printk_ringbuffer.text_data_ring)", "SIZE(printk_ringbuffer)", "SIZE(prb_data_ring)"),
    ("OFFSET(prb_desc_ring.count_bits)", "SIZE(prb_desc_ring)", U32.sizeof()),
    ("OFFSET(prb_desc_ring.descs)", "SIZE(prb_desc_ring)", U64.sizeof()),
    ("OFFSET(prb_desc_ring.infos)", "SIZE(prb_desc_ring)", U64.sizeof()),
    ("OFFSET(prb_desc_ring.head_id)", "SIZE(prb_desc_ring)", "SIZE(atomic_long_t)"),
    ("OFFSET(prb_desc_ring.tail_id)", "SIZE(prb_desc_ring)", "SIZE(atomic_long_t)"),
    ("OFFSET(prb_data_ring.size_bits)", "SIZE(prb_data_ring)", U32.sizeof()),
    ("OFFSET(prb_data_ring.data)", "SIZE(prb_data_ring)", U64.sizeof()),
    ("OFFSET(prb_data_ring.head_lpos)", "SIZE(prb_data_ring)", "SIZE(atomic_long_t)"),
    ("OFFSET(prb_data_ring.tail_lpos)", "SIZE(prb_data_ring)", "SIZE(atomic_long_t)"),
    ("OFFSET(atomic_long_t.counter)", "SIZE(atomic_long_t)", U64.sizeof()),
    ("OFFSET(prb_desc.state_var)", "SIZE(prb_desc)", "SIZE(atomic_long_t)"),
    ("OFFSET(prb_desc.text_blk_lpos)", "SIZE(prb_desc)", "SIZE(prb_data_blk_lpos)"),
    ("OFFSET(prb_data_blk_lpos.begin)", "SIZE(prb_data_blk_lpos)", U64.sizeof()),
    ("OFFSET(prb_data_blk_lpos.next)", "SIZE(prb_data_blk_lpos)", U64.sizeof()),
    ("OFFSET(printk_info.seq)", "SIZE(printk_info)", U64.sizeof()),
    ("OFFSET(printk_info.ts_nsec)", "SIZE(printk_info)", U64.sizeof()),
    # text_len, then facility and the flags/level byte (not exported, see the module docstring)
    ("OFFSET(printk_info.text_len)", "SIZE(printk_info)", INFO_FLAGS_LEVEL_AFTER_TEXT_LEN + 1),
    ("OFFSET(printk_info.caller_id)", "SIZE(printk_info)", U32.sizeof()),
    ("OFFSET(printk_info.dev_info)", "SIZE(printk_info)", "SIZE(dev_printk_info)"),
    ("OFFSET(dev_printk_info.subsystem)", "SIZE(dev_printk_info)", "LENGTH(printk_info_subsystem)"),
    ("OFFSET(dev_printk_info.device)", "SIZE(dev_printk_info)", "LENGTH(printk_info_device)"),
)
LEGACY_CONTAINMENT: tuple[tuple[str, str, int | str], ...] = (
    ("OFFSET(printk_log.ts_nsec)", "SIZE(printk_log)", U64.sizeof()),
    ("OFFSET(printk_log.len)", "SIZE(printk_log)", U16.sizeof()),
    ("OFFSET(printk_log.text_len)", "SIZE(printk_log)", U16.sizeof()),
    # dict_len, then facility and the flags/level byte
    ("OFFSET(printk_log.dict_len)", "SIZE(printk_log)", LOG_FLAGS_LEVEL_AFTER_DICT_LEN + 1),
)
#: No structure of the log is anywhere near this big (the largest, printk_info, is 88 bytes in v6.1).
MAX_STRUCT_SIZE = 4096

# -- syslog names (include/linux/kern_levels.h; util-linux dmesg's level and facility names) ---------
LEVEL_NAMES = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")
FACILITY_NAMES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "res0",
    "res1",
    "res2",
    "res3",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
