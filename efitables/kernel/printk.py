"""The kernel's log (what ``dmesg`` prints) read out of a dump: the printk ring buffer.

Linux v5.10 and later keep the log in the lockless ring buffer (torvalds/linux
kernel/printk/printk_ringbuffer.h and printk_ringbuffer.c@v6.1): a descriptor
ring (``struct prb_desc``: a state variable and the logical positions of the
text), an array of ``struct printk_info`` (sequence number, timestamp, text
length, level, caller, device) with one entry per descriptor, and a text data
ring of ``struct prb_data_block`` (the descriptor ID, then the text). VMCOREINFO
exports ``SYMBOL(prb)`` (the ``prb`` pointer variable) and every size and offset
a reader needs (kernel/printk/printk.c@v6.1 ``log_buf_vmcoreinfo_setup``); the
layouts and constants are :mod:`efitables.schemas.printk`.

The walk is the one dump tools do (makedumpfile printk.c ``dump_lockless_record``,
crash-utility printk.c ``dump_lockless_record_log``) with the validity rules of
the kernel's own reader (printk_ringbuffer.c ``desc_read``,
``desc_read_finalized_seq``, ``get_data``, ``copy_data``): every descriptor ID from
``tail_id`` to ``head_id``; a descriptor whose ``state_var`` holds another ID or
the *reserved* state is being written (skipped, as the kernel skips it); a
*reusable* one, or one whose text block is ``FAILED_LPOS``, has lost its text
(counted in :attr:`KernelLog.lost`, as ``dmesg`` silently skips it); *committed*
and *finalized* ones are records (the newest one is often only committed:
finalization happens when the next record is reserved, so dump tools show it
too). A text block is regular (``begin`` and ``next`` in the same wrap of the
data ring) or wrapping (the whole block at index 0, ``begin`` one wrap behind);
anything else, a position not aligned to the ID size, a block shorter than its
ID or larger than the ring, a ``seq`` that is not in this descriptor's slot, or a
``text_len`` past the block contradicts the ring (``PRINTK-RECORD-BAD``). A
block outside ``[tail_lpos, head_lpos]`` or that no longer starts with its
descriptor's ID was overwritten (``PRINTK-RECORD-SKIPPED``, info: a dump of a
running machine can catch that).

Kernels before v5.10 (from v3.11) keep variable-length ``struct printk_log``
records in ``log_buf`` (VMCOREINFO ``SYMBOL(log_buf)``, ``log_buf_len``,
``log_first_idx``, ``log_next_idx``, ``SIZE(printk_log)``, ``OFFSET(printk_log.*)``);
they are walked from ``log_first_idx`` to ``log_next_idx`` (a ``len`` of 0 wraps
to the start) as ``log_from_idx``/``log_next`` in kernel/printk/printk.c@v5.9 do.
Sequence numbers come from the ``log_first_seq`` variable when kallsyms has it.

The ring's pointers are kernel virtual addresses: the ring itself is a static
variable in the kernel image, its arrays either static too or (with
``log_buf_len=``) memblock allocations in the direct map;
:mod:`efitables.kernel.addrspace` translates both.

Everything read is bounded: ``count_bits`` and ``size_bits`` by what
``log_buf_len`` allows (``LOG_BUF_LEN_MAX`` = 2**31, ``PRB_AVGBITS``), at most
:data:`MAX_RECORDS` records (the newest ones) and :data:`MAX_TEXT_BYTES` of
text; arrays are read in :data:`WINDOW`-byte windows, only where records are.
Nothing here raises on dump data: a problem is a finding naming the
"printk ring buffer" and its physical address, or :attr:`KernelLog.error`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Severity, make, register
from efitables.kernel.addrspace import KernelAddressSpace, kernel_address_space
from efitables.memory.base import PhysicalMemory
from efitables.memory.vmcoreinfo import symbol_to_phys, vmcoreinfo_int
from efitables.model import Parsed
from efitables.schemas.printk import (
    CALLER_ID_CPU,
    DESC_FLAGS_SHIFT,
    DESC_ID_MASK,
    DESC_RESERVED,
    DESC_REUSABLE,
    DESC_STATE_NAMES,
    FACILITY_NAMES,
    FLAGS_MASK,
    INFO_FACILITY_AFTER_TEXT_LEN,
    INFO_FLAGS_LEVEL_AFTER_TEXT_LEN,
    LEGACY_CONTAINMENT,
    LEGACY_DEFAULTS,
    LEVEL_MASK,
    LEVEL_NAMES,
    LEVEL_SHIFT,
    LOCKLESS_CONTAINMENT,
    LOCKLESS_DEFAULTS,
    LOG_BUF_LEN_MAX_BITS,
    LOG_CALLER_AFTER_DICT_LEN,
    LOG_FACILITY_AFTER_DICT_LEN,
    LOG_FLAGS_LEVEL_AFTER_DICT_LEN,
    LPOS_DATALESS_BIT,
    MAX_STRUCT_SIZE,
    NO_LPOS,
    PRB_AVGBITS,
    PRB_DATA_BLOCK_ID_SIZE,
    PRINTK_LOG_ALIGN,
    PRINTK_LOG_SIZE_NO_CALLER,
    U16_FAST,
    U32_FAST,
    U64_FAST,
    ULONG_MASK,
    ULONG_SIZE,
)

#: The structure every finding of this module names.
RING = "printk ring buffer"
#: Records kept (the newest); a 1 MiB ring (``log_buf_len=1M``) has 32768 descriptors.
MAX_RECORDS = 1 << 18
#: Text kept over all records (a ring's text is at most its data size: 2**31 bytes in theory).
MAX_TEXT_BYTES = 32 << 20
#: ``count_bits`` a real ring can have: ``log_buf_len`` is at most 2**31 bytes, one descriptor per 2**5 of them.
MAX_DESC_COUNT_BITS = LOG_BUF_LEN_MAX_BITS - PRB_AVGBITS
#: ``size_bits`` of the text data ring: at most ``LOG_BUF_LEN_MAX``; at least room for two block IDs.
MAX_DATA_SIZE_BITS = LOG_BUF_LEN_MAX_BITS
MIN_DATA_SIZE_BITS = 4
#: ``log_buf_len`` of a pre-v5.10 kernel: at most ``LOG_BUF_LEN_MAX``.
MAX_LEGACY_BUF = 1 << LOG_BUF_LEN_MAX_BITS
#: Bytes read at once from an array, and how many such windows are kept.
WINDOW = 64 << 10
MAX_WINDOWS = 32

PRINTK_RING_BAD = register(
    "PRINTK-RING-BAD",
    Severity.WARNING,
    "The printk ring buffer's header is implausible",
    "A count or size beyond what log_buf_len allows (count_bits, size_bits, log_buf_len), a pointer that is "
    "not a kernel address the dump can translate, indexes or IDs that cannot belong to the ring: the log is "
    "not read, or read only as far as the header allows.",
)
PRINTK_RECORD_BAD = register(
    "PRINTK-RECORD-BAD",
    Severity.WARNING,
    "printk records contradict their ring buffer",
    "A text block position the kernel's reader rejects (neither regular nor wrapping, not aligned to the "
    "ID size, shorter than its ID, larger than the ring), a sequence number outside its descriptor's slot, "
    "a text_len past its block, or an old-style record running past log_buf. One finding per kind, with the "
    "count and the first descriptor.",
)
PRINTK_RECORD_SKIPPED = register(
    "PRINTK-RECORD-SKIPPED",
    Severity.INFO,
    "printk records the kernel's own reader would skip",
    "Descriptors being written when the dump was taken (reserved, or holding another ID), and committed "
    "records whose text block was already reused (outside the data ring's live range, or no longer "
    "starting with the descriptor's ID). A dump of a running machine can catch these.",
)
PRINTK_RECORD_CAP = register(
    "PRINTK-RECORD-CAP",
    Severity.WARNING,
    "More printk records or text than efitables reads",
    f"The ring holds more than {MAX_RECORDS} records or {MAX_TEXT_BYTES >> 20} MiB of text; the newest "
    "records up to those bounds are read.",
)

_LEVEL_BY_NAME = {n: i for i, n in enumerate(LEVEL_NAMES)}


# -- results ---------------------------------------------------------------------------
@dataclass(kw_only=True)
class PrintkRecord(Parsed):
    """One log record: its ``printk_info`` (or ``printk_log`` header) and text.

    ``address``/``size``/``raw`` are the info (or header) bytes; ``text_address``
    is the physical address of the text. ``state`` is the descriptor state
    (``finalized``, ``committed``) or ``legacy`` for a ``printk_log`` record.
    ``truncated``: ``text_len`` was longer than the bytes the block holds.
    """

    kind: ClassVar[str] = "printk record"

    seq: int | None
    ts_nsec: int
    level: int
    facility: int
    flags: int
    caller_id: int | None
    text: str
    subsystem: str = ""
    device: str = ""
    desc_id: int | None = None
    state: str = ""
    text_address: int | None = None
    text_len: int = 0
    truncated: bool = False

    @property
    def title(self) -> str:
        return f"{self.timestamp} {self.text.splitlines()[0] if self.text else ''}"

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level & LEVEL_MASK]

    @property
    def facility_name(self) -> str:
        return FACILITY_NAMES[self.facility] if self.facility < len(FACILITY_NAMES) else str(self.facility)

    @property
    def caller(self) -> str:
        """``T<pid>`` or ``C<cpu>`` as the kernel prints it with CONFIG_PRINTK_CALLER ("" when unknown)."""
        if self.caller_id is None:
            return ""
        if self.caller_id & CALLER_ID_CPU:
            return f"C{self.caller_id & ~CALLER_ID_CPU}"
        return f"T{self.caller_id}"

    @property
    def timestamp(self) -> str:
        """``[%5lu.%06lu]`` of the kernel's ``print_time``."""
        sec, nsec = divmod(self.ts_nsec, 1_000_000_000)
        return f"[{sec:5d}.{nsec // 1000:06d}]"

    def dmesg_lines(self, caller: bool = False) -> list[str]:
        """The record as ``dmesg`` prints it: every line of the text with the time prefix (text not escaped)."""
        prefix = self.timestamp + (f" [{self.caller:>6}]" if caller and self.caller else "")
        return [f"{prefix} {line}" for line in (self.text.split("\n") or [""])]

    def brief(self) -> dict[str, Any]:
        """The JSON ``efitables dmesg --json`` prints per record."""
        return {
            "seq": self.seq,
            "ts_nsec": self.ts_nsec,
            "level": self.level,
            "level_name": self.level_name,
            "facility": self.facility,
            "caller": self.caller or None,
            "subsystem": self.subsystem or None,
            "device": self.device or None,
            "text": self.text,
            "truncated": self.truncated,
        }


@dataclass(kw_only=True)
class KernelLog(Parsed):
    """The kernel's log in one dump, or why there is none (``error``).

    ``format``: ``lockless`` (v5.10+), ``legacy`` (``printk_log`` records) or
    ``none``. ``address``/``raw`` are the ``struct printk_ringbuffer`` (lockless)
    or None (legacy: the records have their own addresses). ``lost`` counts
    records whose text the ring had already dropped (reusable descriptors):
    normal once the text ring has wrapped, and ``dmesg`` skips them too.
    """

    kind: ClassVar[str] = "printk ring buffer"

    format: str
    error: str | None = None
    virtual_address: int | None = None
    translation: str = ""
    desc_count: int | None = None
    data_size: int | None = None
    head_id: int | None = None
    tail_id: int | None = None
    head_lpos: int | None = None
    tail_lpos: int | None = None
    arrays: dict[str, int] = field(default_factory=dict)  # physical address of descs, infos, data (or log_buf)
    lost: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    records: list[PrintkRecord] = field(default_factory=list, repr=False)

    @property
    def available(self) -> bool:
        return self.error is None

    @property
    def title(self) -> str:
        return "Kernel log (printk ring buffer)"

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.title}: {self.error}"
        return f"{self.title}: {len(self.records)} records ({self.format})"

    def lines(self, caller: bool = False) -> Iterator[str]:
        """The whole log as ``dmesg`` prints it (text not escaped)."""
        for r in self.records:
            yield from r.dmesg_lines(caller)

    def find(self, needle: str) -> list[PrintkRecord]:
        """Records whose text contains ``needle``."""
        return [r for r in self.records if needle in r.text]


def level_number(name: str) -> int | None:
    """A level name (``err``, ``warn``, ...) or number as the kernel's 0-7, or None."""
    key = name.strip().lower()
    if key.isdigit() and int(key) < len(LEVEL_NAMES):
        return int(key)
    return _LEVEL_BY_NAME.get({"warning": "warn", "error": "err", "emergency": "emerg"}.get(key, key))


# -- reading ----------------------------------------------------------------------------
def read_kernel_log(
    mem: PhysicalMemory,
    info: dict[str, str] | None = None,
    *,
    space: KernelAddressSpace | None = None,
) -> KernelLog:
    """The log of ``mem`` located through ``info`` (default: the dump's VMCOREINFO); never raises on dump data."""
    info = mem.vmcoreinfo if info is None else info
    if not info:
        return KernelLog(
            address=None,
            size=0,
            format="none",
            error="the dump carries no VMCOREINFO note (raw, LiME and AVML images have none), "
            "so nothing locates the log",
        )
    reader: type[_Reader]
    if "SYMBOL(prb)" in info:
        reader = _Lockless
    elif "SYMBOL(log_buf)" in info:
        reader = _Legacy
    else:
        return KernelLog(
            address=None,
            size=0,
            format="none",
            error="VMCOREINFO names neither prb (Linux 5.10+) nor log_buf (older kernels)",
        )
    if space is None:
        space = kernel_address_space(mem, info)
    r = reader(mem, info, space)
    try:
        r.read()
    except (IndexError, ValueError, OverflowError, struct.error) as e:  # bytes no check foresaw: never a traceback
        r.bad_ring(r.log.address, f"{type(e).__name__}: {e}")
    r.finish()
    return r.log


class _Window:
    """One array of the dump, read :data:`WINDOW` bytes at a time (a few windows kept)."""

    def __init__(self, mem: PhysicalMemory, pa: int, size: int, structure: str) -> None:
        self.mem, self.pa, self.size, self.structure = mem, pa, size, structure
        self._cache: dict[int, bytes | None] = {}
        self._cur, self._base = b"", 0  # the window last used

    def at(self, off: int, n: int) -> tuple[bytes, int]:
        """``(buffer, position)`` of the ``n`` bytes at ``off``: the window itself (no copy) or the exact bytes.

        Raises MemoryReadError for bytes the dump lacks.
        """
        pos = off - self._base
        if 0 <= pos and pos + n <= len(self._cur):
            return self._cur, pos
        k = off // WINDOW
        if (off + n - 1) // WINDOW == k:
            w = self._window(k)
            if w is not None:
                self._cur, self._base = w, k * WINDOW
                return w, off - self._base
        return self.mem.read(self.pa + off, n, structure=self.structure), 0

    def get(self, off: int, n: int) -> bytes:
        """``n`` bytes at ``off`` (inside the array); raises MemoryReadError for bytes the dump lacks."""
        buf, pos = self.at(off, n)
        return buf[pos : pos + n]

    def _window(self, k: int) -> bytes | None:
        if k in self._cache:
            return self._cache[k]
        start = k * WINDOW
        try:
            w: bytes | None = self.mem.read(self.pa + start, min(WINDOW, self.size - start), structure=self.structure)
        except MemoryReadError:
            w = None  # a hole somewhere in the window: exact reads decide
        if len(self._cache) >= MAX_WINDOWS:
            self._cache.pop(next(iter(self._cache)))
        self._cache[k] = w
        return w


def _u(buf: bytes, off: int, size: int) -> int:
    return int.from_bytes(buf[off : off + size], "little")


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


class _Reader:
    """What both formats share: the result, layout lookups, findings gathered per kind."""

    fmt = ""
    defaults: dict[str, int] = {}

    def __init__(self, mem: PhysicalMemory, info: dict[str, str], space: KernelAddressSpace) -> None:
        self.mem, self.info, self.space = mem, info, space
        self.log = KernelLog(address=None, size=0, format=self.fmt)
        self.bad: dict[str, tuple[int, int | None, str]] = {}  # kind -> (count, first address, first detail)
        self.skip: dict[str, tuple[int, int | None]] = {}
        self.read_errors: dict[str, tuple[int, MemoryReadError]] = {}
        self.text_bytes = 0
        self.defaulted: list[str] = []

    def read(self) -> None:
        raise NotImplementedError

    def n(self, key: str, *alternatives: str) -> int:
        """A VMCOREINFO size/offset (the schema's value when the dump lacks the key)."""
        for k in (key, *alternatives):
            v = vmcoreinfo_int(self.info, k)
            if v is not None and v >= 0:
                return v
        self.defaulted.append(key)
        return self.defaults[key]

    def layout_ok(self, rules: tuple[tuple[str, str, int | str], ...], pa: int | None) -> bool:
        """Whether the VMCOREINFO layout keeps every field inside its structure (else a finding and the error)."""
        for key, parent, width in rules:
            size = self.n(parent)
            end = self.n(key) + (self.n(width) if isinstance(width, str) else width)
            if end > size or size > MAX_STRUCT_SIZE:
                self.bad_ring(pa, f"VMCOREINFO layout: {key} ends at {end}, {parent} is {size}")
                self.fail(f"the VMCOREINFO layout of the log is implausible ({key}, {parent})")
                return False
        return True

    def bad_ring(self, pa: int | None, message: str) -> None:
        self.log.findings.append(make(PRINTK_RING_BAD, RING, pa, message))

    def fail(self, message: str) -> None:
        self.log.error = message

    def read_error(self, e: MemoryReadError) -> None:
        key = e.structure or RING
        count, first = self.read_errors.get(key, (0, e))
        self.read_errors[key] = (count + 1, first)

    def record_bad(self, kind: str, pa: int | None, detail: str) -> None:
        count, first, d = self.bad.get(kind, (0, pa, detail))
        self.bad[kind] = (count + 1, first, d)

    def record_skipped(self, kind: str, pa: int | None) -> None:
        count, first = self.skip.get(kind, (0, pa))
        self.skip[kind] = (count + 1, first)
        self.log.skipped[kind] = count + 1

    def text_budget(self, n: int) -> bool:
        """Count ``n`` more text bytes; False once :data:`MAX_TEXT_BYTES` is reached."""
        self.text_bytes += n
        return self.text_bytes <= MAX_TEXT_BYTES

    def finish(self) -> None:
        log = self.log
        if self.defaulted:
            keys = ", ".join(dict.fromkeys(self.defaulted))
            log.notes.append(f"not in VMCOREINFO, the v6.1 x86-64 layout assumed: {keys}")
        log.translation = self.space.describe()
        for structure, (count, e) in self.read_errors.items():
            more = f" ({count} reads failed)" if count > 1 else ""
            log.findings.append(make(READ_ERROR, structure, e.pa, f"{e.reason}{more}"))
        for kind, (count, pa, detail) in self.bad.items():
            log.findings.append(make(PRINTK_RECORD_BAD, RING, pa, f"{count} record(s): {kind} (first: {detail})"))
        if self.skip:
            parts = "; ".join(f"{count} {kind}" for kind, (count, _pa) in self.skip.items())
            first = next(iter(self.skip.values()))[1]
            log.findings.append(make(PRINTK_RECORD_SKIPPED, RING, first, parts))


class _Lockless(_Reader):
    fmt = "lockless"
    defaults = LOCKLESS_DEFAULTS

    def read(self) -> None:
        log, mem = self.log, self.mem
        sym = symbol_to_phys(self.info, "prb")
        if not self.layout_ok(LOCKLESS_CONTAINMENT, sym):
            return
        size = self.n("SIZE(printk_ringbuffer)")
        log.size = size
        if sym is None:
            self.fail("SYMBOL(prb) is not a kernel-image address, or NUMBER(phys_base) is missing")
            return
        try:
            ptr = mem.read_u64(sym, structure="prb")
        except MemoryReadError as e:
            self.read_error(e)
            self.fail(f"the prb pointer is not in the dump: {e.reason}")
            return
        log.virtual_address = ptr
        pa = self.space.range_to_phys(ptr, size)
        if pa is None:
            self.bad_ring(sym, f"prb holds {ptr:#x}, which no translation the dump offers maps")
            self.fail(f"prb points to {ptr:#x}, which does not translate to a physical address")
            return
        log.address = pa
        try:
            raw = mem.read(pa, size, structure=RING)
        except MemoryReadError as e:
            self.read_error(e)
            self.fail(f"the printk_ringbuffer at {pa:#x} is not in the dump")
            return
        log.raw = raw
        self.walk(pa, raw)

    def walk(self, pa: int, raw: bytes) -> None:
        log, n = self.log, self.n
        counter = n("OFFSET(atomic_long_t.counter)")
        dr = n("OFFSET(printk_ringbuffer.desc_ring)")
        tr = n("OFFSET(printk_ringbuffer.text_data_ring)")
        count_bits = _u(raw, dr + n("OFFSET(prb_desc_ring.count_bits)"), U32_FAST.size)
        descs_va = _u(raw, dr + n("OFFSET(prb_desc_ring.descs)"), ULONG_SIZE)
        infos_va = _u(raw, dr + n("OFFSET(prb_desc_ring.infos)"), ULONG_SIZE)
        head_id = _u(raw, dr + n("OFFSET(prb_desc_ring.head_id)") + counter, ULONG_SIZE)
        tail_id = _u(raw, dr + n("OFFSET(prb_desc_ring.tail_id)") + counter, ULONG_SIZE)
        size_bits = _u(raw, tr + n("OFFSET(prb_data_ring.size_bits)"), U32_FAST.size)
        data_va = _u(raw, tr + n("OFFSET(prb_data_ring.data)"), ULONG_SIZE)
        head_lpos = _u(raw, tr + n("OFFSET(prb_data_ring.head_lpos)") + counter, ULONG_SIZE)
        tail_lpos = _u(raw, tr + n("OFFSET(prb_data_ring.tail_lpos)") + counter, ULONG_SIZE)
        log.head_id, log.tail_id, log.head_lpos, log.tail_lpos = head_id, tail_id, head_lpos, tail_lpos
        log.fields = {
            "desc_ring": {
                "count_bits": count_bits,
                "descs": descs_va,
                "infos": infos_va,
                "head_id": head_id,
                "tail_id": tail_id,
            },
            "text_data_ring": {"size_bits": size_bits, "data": data_va, "head_lpos": head_lpos, "tail_lpos": tail_lpos},
        }
        if not 1 <= count_bits <= MAX_DESC_COUNT_BITS:
            self.bad_ring(
                pa, f"desc_ring.count_bits is {count_bits} (a ring has 2**1 to 2**{MAX_DESC_COUNT_BITS} descriptors)"
            )
            self.fail(f"desc_ring.count_bits {count_bits} is implausible")
            return
        if not MIN_DATA_SIZE_BITS <= size_bits <= MAX_DATA_SIZE_BITS:
            self.bad_ring(
                pa,
                f"text_data_ring.size_bits is {size_bits} (a ring has 2**{MIN_DATA_SIZE_BITS} to "
                f"2**{MAX_DATA_SIZE_BITS} bytes)",
            )
            self.fail(f"text_data_ring.size_bits {size_bits} is implausible")
            return
        count, dsize = 1 << count_bits, 1 << size_bits
        log.desc_count, log.data_size = count, dsize
        desc_size, info_size = n("SIZE(prb_desc)"), n("SIZE(printk_info)")
        arrays = {}
        for name, va, length in (
            ("descs", descs_va, count * desc_size),
            ("infos", infos_va, count * info_size),
            ("data", data_va, dsize),
        ):
            apa = self.space.range_to_phys(va, length)
            if apa is None:
                self.bad_ring(pa, f"{name} {va:#x} (+{length:#x}) does not translate to one physical range")
                self.fail(f"the ring's {name} array at {va:#x} does not translate to a physical range")
                return
            arrays[name] = _Window(self.mem, apa, length, f"{RING} {name}")
            log.arrays[name] = apa
        span = (head_id - tail_id) & DESC_ID_MASK
        if span >= count:
            self.bad_ring(
                pa,
                f"head_id {head_id:#x} is {span} IDs past tail_id {tail_id:#x}: more than the "
                f"{count} descriptors; reading the newest {count}",
            )
            span = count - 1
        data_span = (head_lpos - tail_lpos) & ULONG_MASK
        live = data_span <= dsize
        if not live:
            self.bad_ring(
                pa,
                f"head_lpos {head_lpos:#x} is {data_span:#x} bytes past tail_lpos {tail_lpos:#x}: "
                f"more than the {dsize:#x}-byte text ring",
            )
        total = span + 1
        if total > MAX_RECORDS:
            log.findings.append(
                make(
                    PRINTK_RECORD_CAP,
                    RING,
                    pa,
                    f"{total} descriptors from tail to head; reading the newest {MAX_RECORDS}",
                )
            )
            total = MAX_RECORDS
        first = (head_id - total + 1) & DESC_ID_MASK
        ctx = _Ring(
            descs=arrays["descs"],
            infos=arrays["infos"],
            data=arrays["data"],
            mask=count - 1,
            dsize=dsize,
            size_bits=size_bits,
            desc_size=desc_size,
            info_size=info_size,
            tail_lpos=tail_lpos,
            data_span=data_span if live else None,
            sv=n("OFFSET(prb_desc.state_var)") + counter,
            begin=n("OFFSET(prb_desc.text_blk_lpos)") + n("OFFSET(prb_data_blk_lpos.begin)"),
            next=n("OFFSET(prb_desc.text_blk_lpos)") + n("OFFSET(prb_data_blk_lpos.next)"),
            seq=n("OFFSET(printk_info.seq)"),
            ts=n("OFFSET(printk_info.ts_nsec)"),
            text_len=n("OFFSET(printk_info.text_len)"),
            caller=n("OFFSET(printk_info.caller_id)"),
            subsystem=n("OFFSET(printk_info.dev_info)") + n("OFFSET(dev_printk_info.subsystem)"),
            subsystem_len=n("LENGTH(printk_info_subsystem)"),
            device=n("OFFSET(printk_info.dev_info)") + n("OFFSET(dev_printk_info.device)"),
            device_len=n("LENGTH(printk_info_device)"),
        )
        for k in range(total):
            desc_id = (first + k) & DESC_ID_MASK
            try:
                if not self.record(ctx, desc_id):
                    break
            except MemoryReadError as e:
                self.read_error(e)
                self.record_skipped("unreadable", e.pa)

    def record(self, c: _Ring, desc_id: int) -> bool:
        """Read one descriptor's record; False once the text budget is spent."""
        u64 = U64_FAST.unpack_from
        idx = desc_id & c.mask
        doff = idx * c.desc_size
        desc, dp = c.descs.at(doff, c.desc_size)
        (sv,) = u64(desc, dp + c.sv)
        state = sv >> DESC_FLAGS_SHIFT
        if sv & DESC_ID_MASK != desc_id:
            self.record_skipped("in flight (state_var holds another ID)", c.descs.pa + doff)
            return True
        if state == DESC_RESERVED:
            self.record_skipped("in flight (reserved)", c.descs.pa + doff)
            return True
        if state == DESC_REUSABLE:
            self.log.lost += 1
            return True
        (begin,), (nxt,) = u64(desc, dp + c.begin), u64(desc, dp + c.next)
        ioff = idx * c.info_size
        info, ip = c.infos.at(ioff, c.info_size)
        (seq,) = u64(info, ip + c.seq)
        if seq & c.mask != idx:
            self.record_bad(
                "seq not in its descriptor's slot", c.descs.pa + doff, f"id {desc_id:#x} slot {idx} has seq {seq}"
            )
            return True
        (text_len,) = U16_FAST.unpack_from(info, ip + c.text_len)
        text_pa: int | None = None
        if begin & LPOS_DATALESS_BIT and nxt & LPOS_DATALESS_BIT:
            if begin != NO_LPOS or nxt != NO_LPOS:  # FAILED_LPOS: the text was never stored
                self.log.lost += 1
                return True
            text, truncated = "", text_len > 0
        else:
            block = self._block(c, desc_id, c.descs.pa + doff, begin, nxt)
            if block is None:
                return True
            off, length = block
            data_size = length - PRB_DATA_BLOCK_ID_SIZE
            truncated = text_len > data_size
            if truncated:
                self.record_bad(
                    "text_len past its text block",
                    c.descs.pa + doff,
                    f"id {desc_id:#x}: text_len {text_len} > {data_size} bytes in the block",
                )
            keep = min(text_len, data_size)
            if not self.text_budget(keep):
                self.log.findings.append(
                    make(
                        PRINTK_RECORD_CAP,
                        RING,
                        self.log.address,
                        f"more than {MAX_TEXT_BYTES} bytes of text; the log stops at seq {seq}",
                    )
                )
                return False
            text_pa = c.data.pa + off + PRB_DATA_BLOCK_ID_SIZE
            if keep:
                buf, tp = c.data.at(off + PRB_DATA_BLOCK_ID_SIZE, keep)
                text = buf[tp : tp + keep].decode("utf-8", "replace")
            else:
                text = ""
        lv = ip + c.text_len
        fl = info[lv + INFO_FLAGS_LEVEL_AFTER_TEXT_LEN]
        sub, dev = ip + c.subsystem, ip + c.device
        self.log.records.append(
            PrintkRecord(
                address=c.infos.pa + ioff,
                size=c.info_size,
                raw=info[ip : ip + c.info_size],
                seq=seq,
                ts_nsec=u64(info, ip + c.ts)[0],
                level=fl >> LEVEL_SHIFT & LEVEL_MASK,
                flags=fl & FLAGS_MASK,
                facility=info[lv + INFO_FACILITY_AFTER_TEXT_LEN],
                caller_id=U32_FAST.unpack_from(info, ip + c.caller)[0],
                text=text,
                subsystem=_cstr(info[sub : sub + c.subsystem_len]) if info[sub] else "",
                device=_cstr(info[dev : dev + c.device_len]) if info[dev] else "",
                desc_id=desc_id,
                state=DESC_STATE_NAMES[state],
                text_address=text_pa,
                text_len=text_len,
                truncated=truncated,
            )
        )
        return True

    def _block(self, c: _Ring, desc_id: int, dpa: int, begin: int, nxt: int) -> tuple[int, int] | None:
        """(offset in the data array, length) of a record's block, as ``get_data`` finds it; None to skip."""
        shift = c.size_bits
        if begin >> shift == nxt >> shift and begin < nxt:
            off, length = begin & (c.dsize - 1), nxt - begin  # regular block
        elif ((begin + c.dsize) & ULONG_MASK) >> shift == nxt >> shift:
            off, length = 0, nxt & (c.dsize - 1)  # wrapping block: all of it at index 0
        else:
            self.record_bad(
                "text block neither regular nor wrapping", dpa, f"id {desc_id:#x}: begin {begin:#x}, next {nxt:#x}"
            )
            return None
        if begin % PRB_DATA_BLOCK_ID_SIZE or nxt % PRB_DATA_BLOCK_ID_SIZE:
            self.record_bad(
                "text block not aligned to its ID", dpa, f"id {desc_id:#x}: begin {begin:#x}, next {nxt:#x}"
            )
            return None
        if length < PRB_DATA_BLOCK_ID_SIZE or length > c.dsize - PRB_DATA_BLOCK_ID_SIZE:
            self.record_bad(
                "text block size impossible", dpa, f"id {desc_id:#x}: {length} bytes in a {c.dsize}-byte ring"
            )
            return None
        if c.data_span is not None and (
            (begin - c.tail_lpos) & ULONG_MASK > c.data_span or (nxt - c.tail_lpos) & ULONG_MASK > c.data_span
        ):
            self.record_skipped("text overwritten (block outside the data ring's live range)", dpa)
            return None
        buf, pos = c.data.at(off, PRB_DATA_BLOCK_ID_SIZE)
        if U64_FAST.unpack_from(buf, pos)[0] != desc_id:
            self.record_skipped("text overwritten (block holds another descriptor's ID)", dpa)
            return None
        return off, length


@dataclass
class _Ring:
    """The arrays, sizes and field offsets of one lockless ring (one lookup each, not per record)."""

    descs: _Window
    infos: _Window
    data: _Window
    mask: int
    dsize: int
    size_bits: int
    desc_size: int
    info_size: int
    tail_lpos: int
    data_span: int | None  # head_lpos - tail_lpos, or None when that is not a live range
    sv: int
    begin: int
    next: int
    seq: int
    ts: int
    text_len: int
    caller: int
    subsystem: int
    subsystem_len: int
    device: int
    device_len: int


class _Legacy(_Reader):
    fmt = "legacy"
    defaults = LEGACY_DEFAULTS

    def read(self) -> None:
        log, mem, info = self.log, self.mem, self.info
        syms = {}
        for name in ("log_buf", "log_buf_len", "log_first_idx", "log_next_idx"):
            pa = symbol_to_phys(info, name)
            if pa is None:
                self.fail(f"VMCOREINFO lacks SYMBOL({name}) as a kernel-image address")
                return
            syms[name] = pa
        try:
            buf_va = mem.read_u64(syms["log_buf"], structure="log_buf")
            buf_len = mem.read_u32(syms["log_buf_len"], structure="log_buf_len")
            first_idx = mem.read_u32(syms["log_first_idx"], structure="log_first_idx")
            next_idx = mem.read_u32(syms["log_next_idx"], structure="log_next_idx")
        except MemoryReadError as e:
            self.read_error(e)
            self.fail(f"the log_buf variables are not in the dump: {e.reason}")
            return
        log.virtual_address = buf_va
        log.data_size = buf_len
        log.fields = {"log_buf": buf_va, "log_buf_len": buf_len, "log_first_idx": first_idx, "log_next_idx": next_idx}
        if not self.layout_ok(LEGACY_CONTAINMENT, syms["log_buf"]):
            return
        hdr = self.n("SIZE(printk_log)", "SIZE(log)")
        if not 0 < buf_len <= MAX_LEGACY_BUF or hdr < PRINTK_LOG_SIZE_NO_CALLER:
            self.bad_ring(
                syms["log_buf_len"],
                f"log_buf_len {buf_len:#x} (at most {MAX_LEGACY_BUF:#x}) or SIZE(printk_log) {hdr} is implausible",
            )
            self.fail(f"log_buf_len {buf_len:#x} is implausible")
            return
        if first_idx >= buf_len or next_idx >= buf_len:
            self.bad_ring(
                syms["log_first_idx"],
                f"log_first_idx {first_idx:#x} or log_next_idx {next_idx:#x} is past log_buf_len {buf_len:#x}",
            )
            self.fail("log_first_idx or log_next_idx is past the buffer")
            return
        pa = self.space.range_to_phys(buf_va, buf_len)
        if pa is None:
            self.bad_ring(
                syms["log_buf"], f"log_buf {buf_va:#x} (+{buf_len:#x}) does not translate to one physical range"
            )
            self.fail(f"log_buf {buf_va:#x} does not translate to a physical range")
            return
        log.address = pa
        log.size = buf_len
        log.arrays["log_buf"] = pa
        buf = _Window(mem, pa, buf_len, f"{RING} log_buf")
        seq = self._first_seq()
        try:
            self.walk(buf, buf_len, hdr, first_idx, next_idx, seq)
        except MemoryReadError as e:
            self.read_error(e)
            self.record_skipped("unreadable", e.pa)

    def _first_seq(self) -> int | None:
        """``log_first_seq`` (a static u64 kallsyms may locate); None when it cannot be read."""
        from efitables.kernel import kallsyms

        pa = kallsyms.load(self.mem, self.info, ("log_first_seq",)).physical("log_first_seq")
        if pa is None:
            self.log.notes.append("log_first_seq not found: records have no sequence numbers")
            return None
        try:
            return self.mem.read_u64(pa, structure="log_first_seq")
        except MemoryReadError:
            return None

    def walk(self, buf: _Window, buf_len: int, hdr: int, idx: int, end: int, seq: int | None) -> None:
        n = self.n
        o_ts, o_len = n("OFFSET(printk_log.ts_nsec)"), n("OFFSET(printk_log.len)")
        o_text, o_dict = n("OFFSET(printk_log.text_len)"), n("OFFSET(printk_log.dict_len)")
        # caller_id: exported from v5.1 with CONFIG_PRINTK_CALLER, else after dict_len when the header has room
        o_caller: int | None = o_dict + LOG_CALLER_AFTER_DICT_LEN
        if "OFFSET(printk_log.caller_id)" in self.info:
            o_caller = n("OFFSET(printk_log.caller_id)")
        if o_caller is not None and o_caller + U32_FAST.size > hdr:
            o_caller = None
        wraps = 0
        while idx != end:
            if len(self.log.records) >= MAX_RECORDS:
                self.log.findings.append(
                    make(PRINTK_RECORD_CAP, RING, buf.pa, f"more than {MAX_RECORDS} records; the oldest are read")
                )
                return
            rpa = buf.pa + idx
            if idx + hdr > buf_len or idx % PRINTK_LOG_ALIGN:
                self.record_bad("record header past log_buf or misaligned", rpa, f"index {idx:#x}")
                return
            head = buf.get(idx, hdr)
            length = _u(head, o_len, U16_FAST.size)
            if length == 0:  # the end-of-buffer marker: the next record is at the start
                wraps += 1
                if wraps > 1 or idx == 0:
                    self.record_bad("record chain wraps twice", rpa, f"len 0 at index {idx:#x}")
                    return
                idx = 0
                continue
            text_len, dict_len = _u(head, o_text, U16_FAST.size), _u(head, o_dict, U16_FAST.size)
            if length < hdr or idx + length > buf_len or length % PRINTK_LOG_ALIGN:
                self.record_bad("record length impossible", rpa, f"len {length} at index {idx:#x}")
                return
            truncated = hdr + text_len + dict_len > length
            if truncated:
                self.record_bad(
                    "text_len past its record", rpa, f"text {text_len} + dict {dict_len} in a {length}-byte record"
                )
            keep = max(0, min(text_len, length - hdr))
            if not self.text_budget(keep):
                self.log.findings.append(
                    make(PRINTK_RECORD_CAP, RING, rpa, f"more than {MAX_TEXT_BYTES} bytes of text; the log stops here")
                )
                return
            body = buf.get(idx + hdr, length - hdr)
            keys = _dict_keys(body[keep : keep + dict_len])
            fl = head[o_dict + LOG_FLAGS_LEVEL_AFTER_DICT_LEN]
            self.log.records.append(
                PrintkRecord(
                    address=rpa,
                    size=hdr,
                    raw=head,
                    seq=seq,
                    ts_nsec=_u(head, o_ts, U64_FAST.size),
                    level=fl >> LEVEL_SHIFT & LEVEL_MASK,
                    flags=fl & FLAGS_MASK,
                    facility=head[o_dict + LOG_FACILITY_AFTER_DICT_LEN],
                    caller_id=_u(head, o_caller, U32_FAST.size) if o_caller is not None else None,
                    text=body[:keep].decode("utf-8", "replace"),
                    subsystem=keys.get("SUBSYSTEM", ""),
                    device=keys.get("DEVICE", ""),
                    state="legacy",
                    text_address=rpa + hdr,
                    text_len=text_len,
                    truncated=truncated,
                )
            )
            if seq is not None:
                seq += 1
            idx += length


def _dict_keys(raw: bytes) -> dict[str, str]:
    """``KEY=value`` pairs of an old-style record dictionary (NUL-separated)."""
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode("ascii", "replace")] = value.decode("utf-8", "replace")
    return out


__all__ = [
    "MAX_RECORDS",
    "KernelLog",
    "PrintkRecord",
    "level_number",
    "read_kernel_log",
]
