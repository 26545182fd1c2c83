"""Kernel symbols from the kallsyms tables, located through VMCOREINFO.

Source: torvalds/linux kernel/kallsyms.c (``kallsyms_expand_symbol``,
``kallsyms_sym_address``, ``get_symbol_offset``, ``kallsyms_lookup_names``),
scripts/kallsyms.c (``write_src``) and kernel/vmcore_info.c, which exports
``SYMBOL(kallsyms_names)``, ``_token_table``, ``_token_index``, ``_offsets``,
``_relative_base`` and ``_num_syms`` (Linux 6.x; Debian's 6.1 has them).

``kallsyms_names`` holds per symbol a length (one byte; two when bit 7 of the
first is set, v6.1+) and that many token indices; ``kallsyms_token_index[t]``
is the offset of token ``t`` (NUL-terminated) in ``kallsyms_token_table``;
the first expanded character is the symbol type. The address is
``kallsyms_relative_base + (u32)offset`` for a non-negative offset and
``relative_base - 1 - offset`` for a negative one
(CONFIG_KALLSYMS_ABSOLUTE_PERCPU, kernels before v6.13). Kernel-image
addresses become physical as ``virt - __START_KERNEL_map + phys_base``.
The tables' element types, the length encoding and the table order are
:mod:`efitables.schemas.kallsyms`.

A name is resolved on demand (:meth:`Kallsyms.lookup`), cheapest way first:

1. a VMCOREINFO ``SYMBOL(name)`` that is a kernel-image address (no table read);
2. ``kallsyms_seqs_of_names`` (v6.2+, and Debian's 6.1): the kernel's own binary
   search, expanding ~17 names per symbol; only the 256-name blocks of
   ``kallsyms_names`` it visits are read (through ``kallsyms_markers``);
3. ``kallsyms_markers`` alone (v6.0/v6.1): every block walked at once (numpy,
   one step per name of a block), then a trie of the wanted names stepped one
   token at a time over all names; only the few names it leaves are expanded;
4. otherwise, or when the tables contradict themselves, the whole table decoded
   in one bounded pass (:func:`full_decode`, what every lookup did before) whose
   verdict (the table or the reason there is none) is then the answer.

Neither ``kallsyms_markers`` nor ``kallsyms_seqs_of_names`` is in VMCOREINFO: they
are found by the order scripts/kallsyms.c emits the tables in, then checked (the
markers start at 0 and grow by a plausible block size, the last block's names
end where the markers start, the sequence table fills the gap it is said to
fill); a table that fails a check is not used. Every block a lookup reads is
checked as :func:`full_decode` checks the whole table (lengths at most
``KSYM_NAME_LEN``, inside the names, ending exactly at the next marker); a
sequence number past the count (or given twice), names out of order or a read
that fails make the lookup fall back to the next way. Damage in a part of the
tables no lookup reads no longer makes every lookup fail, as it did when the
whole table was decoded up front. Of duplicate (static) names the first, by
table position, wins, as in the kernel's ``kallsyms_lookup_name``. Everything
resolved is cached on the :class:`Kallsyms`, itself cached per dump and set of
VMCOREINFO symbols.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from efitables.errors import MemoryReadError
from efitables.memory.base import PhysicalMemory

if TYPE_CHECKING:
    import numpy as np
from efitables.memory.vmcoreinfo import KERNEL_MAP_BASE, symbol_to_phys, vmcoreinfo_int
from efitables.schemas.kallsyms import (
    KALLSYMS_MARKER_MASK,
    KALLSYMS_MARKER_SHIFT,
    KALLSYMS_MARKER_SIZE,
    KALLSYMS_MAX_ENTRY,
    KALLSYMS_MIN_ENTRY,
    KALLSYMS_NAME_LEN_BIG,
    KALLSYMS_NAME_LEN_HIGH_SHIFT,
    KALLSYMS_NAME_LEN_LOW_MASK,
    KALLSYMS_NAMES_PER_MARKER,
    KALLSYMS_OFFSET_SIZE,
    KALLSYMS_RELATIVE_BASE_SIZE,
    KALLSYMS_SEQ_BYTEORDER,
    KALLSYMS_SEQ_SIZE,
    KALLSYMS_TABLE_ALIGN,
    KALLSYMS_TOKEN_COUNT,
    KALLSYMS_TOKEN_INDEX_FAST,
    KALLSYMS_TOKEN_INDEX_SIZE,
    KSYM_NAME_LEN,
    VMCOREINFO_SYMBOL_VALUES,
    kallsyms_markers_fast,
    kallsyms_offsets_fast,
)

KEYS = (
    "kallsyms_names",
    "kallsyms_num_syms",
    "kallsyms_token_table",
    "kallsyms_token_index",
    "kallsyms_offsets",
    "kallsyms_relative_base",
)
#: A v6.x kernel has ~100k-250k symbols; names take ~12 bytes each.
MAX_SYMBOLS = 1 << 20
MAX_NAMES_BYTES = 32 << 20
#: The kernel symbols a report reads (efitables.dump, efitables.boot.discovery): resolved
#: when the table is opened, so that :attr:`Kallsyms.error` already covers them.
REPORT_SYMBOLS = ("boot_params", "efi_config_table", "efi_fw_vendor", "efi_runtime")
#: Names a binary search may find equal to the wanted one before the table counts as hostile.
MAX_SAME_NAME = 4096
#: Wanted names (total characters) above which a pass expands every name instead of the trie.
MAX_SPELLING = 4096
#: What the binary search compares: C identifiers sort the same under every order the
#: kernel has used (plain ``strcmp``, or with an LTO ``.llvm.`` suffix cut off).
_IDENTIFIER = re.compile(rb"[A-Za-z0-9_]+")
_MASK64 = 0xFFFFFFFFFFFFFFFF
_ONE_OFFSET = kallsyms_offsets_fast(1)  # a lookup reads only the offsets it resolves


class _Contradiction(Exception):
    """The tables disagree with themselves: the lookup falls back to the next way."""


def _align(value: int) -> int:
    return (value + KALLSYMS_TABLE_ALIGN - 1) & -KALLSYMS_TABLE_ALIGN


def _align_down(value: int) -> int:
    return value & -KALLSYMS_TABLE_ALIGN


def _address(rel_base: int, rel: int, absolute_percpu: bool = False) -> int:
    """``kallsyms_sym_address`` (kernel/kallsyms.c@v6.1): with CONFIG_KALLSYMS_ABSOLUTE_PERCPU (x86-64 SMP
    before v6.15) "positive offsets are absolute values" (the zero-based per-CPU symbols) and negative ones
    are relative to ``kallsyms_relative_base - 1``; without it every offset is relative to the base."""
    if rel >= 0:
        return rel & _MASK64 if absolute_percpu else (rel_base + rel) & _MASK64
    return (rel_base - 1 - rel) & _MASK64


def _sort_key(name: bytes) -> bytes:
    """A name as the binary search compares it with an identifier (up to its first ``.``)."""
    return name.partition(b".")[0]


@dataclass
class Kallsyms:
    """The symbol table of one dump, or the reason there is none (``error``).

    Names are resolved on demand and cached (see the module docstring);
    ``method`` says how table lookups are done (``"seqs_of_names"``,
    ``"markers"`` or ``"full decode"``) and ``notes`` why a faster way was
    abandoned. ``error`` is about the tables; VMCOREINFO ``SYMBOL()`` values
    are answered even without them.
    """

    error: str | None = None
    count: int = 0
    phys_base: int = 0
    _addr: dict[bytes, tuple[int, str, int]] = field(default_factory=dict, repr=False)
    method: str = ""
    notes: list[str] = field(default_factory=list)
    _vmcoreinfo: dict[bytes, int] = field(default_factory=dict, repr=False)
    _absent: set[bytes] = field(default_factory=set, repr=False)
    _finder: _Finder | None = field(default=None, repr=False)
    _decode: _Tables | None = field(default=None, repr=False)

    @property
    def available(self) -> bool:
        return self.error is None

    # -- lookups ------------------------------------------------------------------
    def lookup(self, names: Iterable[str]) -> dict[str, int]:
        """Virtual addresses of those of ``names`` the dump knows (VMCOREINFO first, then kallsyms)."""
        names = list(names)
        out: dict[str, int] = {}
        todo = []
        for name in names:
            key = name.encode()
            if key in self._vmcoreinfo:
                out[name] = self._vmcoreinfo[key]
            else:
                todo.append(key)
        self._resolve(todo)
        for name in names:
            if name not in out:
                hit = self._addr.get(name.encode())
                if hit is not None:
                    out[name] = hit[0]
        return out

    def lookup_physical(self, names: Iterable[str]) -> dict[str, int]:
        """Physical addresses of those of ``names`` that are kernel-image symbols (see :meth:`physical`)."""
        out: dict[str, int] = {}
        for name, virt in self.lookup(names).items():
            pa = self._phys(virt)
            if pa is not None:
                out[name] = pa
        return out

    def virtual(self, name: str) -> int | None:
        return self.lookup((name,)).get(name)

    def kind(self, name: str) -> str | None:
        """The symbol's type letter in kallsyms (None for a name only VMCOREINFO gives)."""
        hit = self._table(name)
        return hit[1] if hit else None

    def index(self, name: str) -> int | None:
        """The symbol's position in the kallsyms tables."""
        hit = self._table(name)
        return hit[2] if hit else None

    def source(self, name: str) -> str | None:
        """Where :meth:`virtual` took the address from: ``"VMCOREINFO"``, ``"kallsyms"`` or None."""
        if name.encode() in self._vmcoreinfo:
            return "VMCOREINFO"
        return "kallsyms" if self._table(name) else None

    def physical(self, name: str) -> int | None:
        """Physical address of a kernel-image symbol, or None."""
        virt = self.virtual(name)
        return None if virt is None else self._phys(virt)

    def _phys(self, virt: int) -> int | None:
        if virt < KERNEL_MAP_BASE:
            return None
        return (virt - KERNEL_MAP_BASE + self.phys_base) & _MASK64

    def _table(self, name: str) -> tuple[int, str, int] | None:
        key = name.encode()
        self._resolve([key])
        return self._addr.get(key)

    def _resolve(self, keys: list[bytes]) -> None:
        """Find in the tables those of ``keys`` not yet looked up; fall back on a contradiction."""
        while True:
            todo = [k for k in dict.fromkeys(keys) if k not in self._addr and k not in self._absent]
            finder = self._finder
            if not todo or finder is None:
                return
            try:
                found = finder.find(todo)
            except _Contradiction as e:
                self._fall_back(finder, str(e))
                continue
            except MemoryReadError as e:
                self._fall_back(finder, f"{e.structure or 'kallsyms'}: {e.reason}")
                continue
            except (IndexError, ValueError, OverflowError) as e:  # bytes no check foresaw: never raise
                self._fall_back(finder, f"kallsyms tables: {type(e).__name__}: {e}")
                continue
            for k in todo:
                if k in found:
                    self._addr[k] = found[k]
                else:
                    self._absent.add(k)
            return

    def _fall_back(self, finder: _Finder, why: str) -> None:
        nxt = finder.fallback()
        self.notes.append(f"{why}: names looked up by {nxt.method if nxt else 'a decode of the whole table'}")
        self._finder = nxt
        if nxt is not None:
            self.method = nxt.method
        else:
            self._decode_all()

    def _decode_all(self) -> None:
        """The verdict of the one-pass decode replaces everything the faster ways said."""
        assert self._decode is not None
        whole = full_decode_tables(self._decode)
        self._finder, self._decode = None, None
        self._addr, self._absent = whole._addr, set()
        self.error, self.count, self.method = whole.error, whole.count, whole.method


def load(mem: PhysicalMemory, info: dict[str, str] | None, names: Iterable[str] = REPORT_SYMBOLS) -> Kallsyms:
    """The kallsyms tables of ``mem`` (cached on it per VMCOREINFO symbol set); never raises.

    ``names`` are resolved at once (a report's symbols by default), so that
    ``error`` already says whether the tables could give them.
    """
    given = info or {}
    key = (given.get("NUMBER(phys_base)"), *sorted((k, v) for k, v in given.items() if k.startswith("SYMBOL(")))
    cache: dict[tuple[object, ...], Kallsyms] = mem.__dict__.setdefault("_efitables_kallsyms", {})
    if key not in cache:
        cache[key] = _open(mem, info)
    ks = cache[key]
    ks.lookup(names)
    return ks


def full_decode(mem: PhysicalMemory, info: dict[str, str] | None) -> Kallsyms:
    """Decode every name in one bounded pass (what :func:`load` did before lookups on demand; not cached).

    The reference the faster ways are measured and tested against
    (bench/bench_open.py ``--full-decode``).
    """
    tables = _tables(mem, info)
    if isinstance(tables, Kallsyms):
        return tables
    return full_decode_tables(tables)


# -- the tables' headers ---------------------------------------------------------------
@dataclass
class _Tables:
    """What every way of looking up needs, read and checked once."""

    mem: PhysicalMemory
    pa: dict[str, int]
    num: int
    phys_base: int
    rel_base: int
    token_index: tuple[int, ...]
    tokens: list[bytes]
    names_len: int  # bytes of kallsyms_names readable before the next table, a gap or the bound
    info: dict[str, str]
    _absolute: bool | None = None

    def address(self, i: int) -> int:
        pa = self.pa["kallsyms_offsets"] + KALLSYMS_OFFSET_SIZE * i
        (rel,) = _ONE_OFFSET.unpack(self.mem.read(pa, KALLSYMS_OFFSET_SIZE, "kallsyms_offsets"))
        return _address(self.rel_base, rel, rel >= 0 and self.absolute_percpu)

    @property
    def absolute_percpu(self) -> bool:
        """The table was built with ``--absolute-percpu``: the last symbol (the highest kernel-image
        address) is then stored as a negative offset, which a base-relative table never holds."""
        if self._absolute is None:
            pa = self.pa["kallsyms_offsets"] + KALLSYMS_OFFSET_SIZE * (self.num - 1)
            try:
                (rel,) = _ONE_OFFSET.unpack(self.mem.read(pa, KALLSYMS_OFFSET_SIZE, "kallsyms_offsets"))
            except MemoryReadError:
                rel = 0
            self._absolute = rel < 0
        return self._absolute


def _vmcoreinfo_symbols(info: dict[str, str] | None) -> dict[bytes, int]:
    """The ``SYMBOL(name)`` values of VMCOREINFO that are kernel-image addresses of ``name``."""
    out: dict[bytes, int] = {}
    if not info or vmcoreinfo_int(info, "NUMBER(phys_base)") is None:
        return out
    for key in info:
        if key.startswith("SYMBOL(") and key.endswith(")"):
            name = key[len("SYMBOL(") : -1]
            virt = vmcoreinfo_int(info, key)
            if name not in VMCOREINFO_SYMBOL_VALUES and virt is not None and KERNEL_MAP_BASE <= virt <= _MASK64:
                out[name.encode()] = virt
    return out


def _tables(mem: PhysicalMemory, info: dict[str, str] | None) -> _Tables | Kallsyms:
    """Read the tables' headers, in the order and with the checks of the one-pass decode."""
    if not info:
        return Kallsyms("no VMCOREINFO in the dump")
    missing = [k for k in KEYS if f"SYMBOL({k})" not in info]
    if missing:
        return Kallsyms("VMCOREINFO lacks " + ", ".join(f"SYMBOL({k})" for k in missing))
    phys_base = vmcoreinfo_int(info, "NUMBER(phys_base)")
    if phys_base is None:
        return Kallsyms("VMCOREINFO lacks NUMBER(phys_base)")
    found = {k: symbol_to_phys(info, k) for k in KEYS}
    pa = {k: v for k, v in found.items() if v is not None}
    if len(pa) != len(KEYS):
        return Kallsyms("a kallsyms SYMBOL() is not a kernel-image address")
    try:
        num = mem.read_u32(pa["kallsyms_num_syms"], "kallsyms_num_syms")
        if not 0 < num <= MAX_SYMBOLS:
            return Kallsyms(f"kallsyms_num_syms {num} is implausible")
        rel_base = mem.read_u64(pa["kallsyms_relative_base"], "kallsyms_relative_base")
        token_index = KALLSYMS_TOKEN_INDEX_FAST.unpack(
            mem.read(pa["kallsyms_token_index"], KALLSYMS_TOKEN_INDEX_SIZE, "kallsyms_token_index")
        )
        table = mem.read(pa["kallsyms_token_table"], max(token_index) + KSYM_NAME_LEN, "kallsyms_token_table")
        size = KALLSYMS_OFFSET_SIZE * num
        gap = mem.first_gap(pa["kallsyms_offsets"], size)
        if gap is not None:  # read on demand: here only whether it is there (as the whole read would say)
            raise MemoryReadError(pa["kallsyms_offsets"], size, missing=gap, structure="kallsyms_offsets")
    except MemoryReadError as e:
        return Kallsyms(f"kallsyms tables not in the dump: {e.reason}")
    tokens = []
    for off in token_index:
        end = table.find(b"\0", off)
        tokens.append(table[off : end if end >= 0 else len(table)])
    names_pa = pa["kallsyms_names"]
    # the names end before the next kallsyms table the linker placed after them (scripts/kallsyms.c)
    after = [v for v in pa.values() if v > names_pa]
    want = min([MAX_NAMES_BYTES, *(v - names_pa for v in after)])
    gap = mem.first_gap(names_pa, want)
    names_len = want if gap is None else gap[0] - names_pa
    return _Tables(mem, pa, num, phys_base, rel_base, token_index, tokens, names_len, info)


def _open(mem: PhysicalMemory, info: dict[str, str] | None) -> Kallsyms:
    vmci = _vmcoreinfo_symbols(info)
    t = _tables(mem, info)
    if isinstance(t, Kallsyms):
        if vmci:  # no table, yet VMCOREINFO names some symbols (with NUMBER(phys_base))
            t._vmcoreinfo, t.phys_base = vmci, vmcoreinfo_int(info or {}, "NUMBER(phys_base)") or 0
        return t
    ks = Kallsyms(None, t.num, t.phys_base, _vmcoreinfo=vmci, _decode=t)
    layout = _locate(t)
    if layout is None:  # no markers where the table order puts them: the one-pass decode, now
        ks._decode_all()
    else:
        finder = _SeqsFinder(t, layout) if layout.seqs_pa is not None else _MarkersFinder(t, layout)
        ks._finder, ks.method = finder, finder.method
    return ks


# -- where kallsyms_markers and kallsyms_seqs_of_names lie -------------------------------
@dataclass
class _Layout:
    markers_pa: int
    markers: tuple[int, ...]
    seqs_pa: int | None
    names_end: int  # offset in kallsyms_names where the last name ends
    last_block: tuple[bytes, list[int]]


def _locate(t: _Tables) -> _Layout | None:
    """``kallsyms_markers`` (and ``kallsyms_seqs_of_names`` if the kernel has it), by the table order.

    Candidates, each checked before use: up to v6.3 the sequence numbers (if any)
    end where the token table starts and the markers end where they start; from
    v6.4 the markers end where the token table starts and the sequence numbers
    follow ``kallsyms_relative_base``. VMCOREINFO ``SYMBOL()`` entries of either
    table, when a kernel exports them, come first.
    """
    num, pa = t.num, t.pa
    nm = (num + KALLSYMS_NAMES_PER_MARKER - 1) >> KALLSYMS_MARKER_SHIFT
    markers_size, seqs_size = KALLSYMS_MARKER_SIZE * nm, KALLSYMS_SEQ_SIZE * num
    tt = pa["kallsyms_token_table"]
    candidates: list[tuple[int, int | None]] = []
    given_m = symbol_to_phys(t.info, "kallsyms_markers")
    given_s = symbol_to_phys(t.info, "kallsyms_seqs_of_names")
    if given_m is not None:
        candidates.append((given_m, given_s))
    before_tt = _align_down(tt - seqs_size)  # v6.2, v6.3
    candidates.append((_align_down(before_tt - markers_size), given_s or before_tt))
    after_base = _align(pa["kallsyms_relative_base"] + KALLSYMS_RELATIVE_BASE_SIZE)  # v6.4+
    candidates.append((_align_down(tt - markers_size), given_s or (after_base if after_base > tt else None)))
    for markers_pa, seqs_pa in candidates:
        try:
            layout = _check_markers(t, markers_pa, nm)
            if layout is None:
                continue
            if seqs_pa is not None and _check_seqs(t, layout, seqs_pa, seqs_size, given_s is not None):
                layout.seqs_pa = seqs_pa
        except MemoryReadError:
            continue
        return layout
    return None


def _check_markers(t: _Tables, markers_pa: int, nm: int) -> _Layout | None:
    names_pa, num = t.pa["kallsyms_names"], t.num
    end = markers_pa - names_pa  # the names end (aligned) where the markers start
    if not 0 < end <= t.names_len or not t.mem.is_readable(markers_pa, KALLSYMS_MARKER_SIZE * nm):
        return None
    markers = kallsyms_markers_fast(nm).unpack(t.mem.read(markers_pa, KALLSYMS_MARKER_SIZE * nm, "kallsyms_markers"))
    if markers[0] != 0:
        return None
    full = KALLSYMS_NAMES_PER_MARKER
    for a, b in zip(markers, markers[1:], strict=False):
        if not full * KALLSYMS_MIN_ENTRY <= b - a <= full * KALLSYMS_MAX_ENTRY:
            return None
    last_count = num - ((nm - 1) << KALLSYMS_MARKER_SHIFT)
    last = markers[-1]
    if not 0 < end - last <= last_count * KALLSYMS_MAX_ENTRY + KALLSYMS_TABLE_ALIGN:
        return None
    data = t.mem.read(names_pa + last, end - last, "kallsyms_names")
    try:
        starts, stop = _walk(data, last_count, nm - 1)
    except _Contradiction:
        return None
    if _align(names_pa + last + stop) != markers_pa:
        return None
    return _Layout(markers_pa, markers, None, last + stop, (data, starts))


def _check_seqs(t: _Tables, layout: _Layout, seqs_pa: int, size: int, given: bool) -> bool:
    """The sequence numbers fill the place the order gives them, are there, and start plausibly."""
    markers_end = _align(layout.markers_pa + KALLSYMS_MARKER_SIZE * len(layout.markers))
    tt = t.pa["kallsyms_token_table"]
    after_base = _align(t.pa["kallsyms_relative_base"] + KALLSYMS_RELATIVE_BASE_SIZE)
    placed = (
        given
        or (markers_end == seqs_pa and _align(seqs_pa + size) == tt)  # v6.2, v6.3
        or (markers_end == tt and seqs_pa == after_base)  # v6.4+
    )
    if not placed or not t.mem.is_readable(seqs_pa, size):
        return False
    for i in (0, t.num - 1):
        raw = t.mem.read(seqs_pa + KALLSYMS_SEQ_SIZE * i, KALLSYMS_SEQ_SIZE, "kallsyms_seqs_of_names")
        if int.from_bytes(raw, KALLSYMS_SEQ_BYTEORDER) >= t.num:
            return False
    return True


def _walk(data: bytes, count: int, block: int) -> tuple[list[int], int]:
    """Where each of ``count`` names at the start of ``data`` starts, and where the last one ends.

    A one-byte length is at most 0x7F, below ``KSYM_NAME_LEN``; a name running
    past ``data`` makes the next length byte (or the end check) fail.
    """
    starts = [0] * count
    off = j = 0
    try:
        for j in range(count):
            starts[j] = off
            n = data[off]
            if n & KALLSYMS_NAME_LEN_BIG:
                n = (n & KALLSYMS_NAME_LEN_LOW_MASK) | data[off + 1] << KALLSYMS_NAME_LEN_HIGH_SHIFT
                if n > KSYM_NAME_LEN:
                    raise _Contradiction(f"kallsyms_names entry {(block << KALLSYMS_MARKER_SHIFT) + j} has length {n}")
                off += n + 2
            else:
                off += n + 1
    except IndexError:
        raise _Contradiction(f"kallsyms_names block {block} ends after {j} names") from None
    if off > len(data):
        raise _Contradiction(f"kallsyms_names block {block} ends inside name {count - 1}")
    return starts, off


def _span(data: bytes, start: int) -> tuple[int, int]:
    """The token bytes of the name whose length starts at ``start``."""
    n = data[start]
    if n & KALLSYMS_NAME_LEN_BIG:
        n = (n & KALLSYMS_NAME_LEN_LOW_MASK) | data[start + 1] << KALLSYMS_NAME_LEN_HIGH_SHIFT
        return start + 2, start + 2 + n
    return start + 1, start + 1 + n


# -- the ways of looking up --------------------------------------------------------------
class _Finder:
    method = ""

    def find(self, keys: list[bytes]) -> dict[bytes, tuple[int, str, int]]:
        raise NotImplementedError

    def fallback(self) -> _Finder | None:
        return None


class _MarkersFinder(_Finder):
    """Every block walked at once from its marker (numpy); only names that can spell a wanted one expanded."""

    method = "markers"

    def __init__(self, t: _Tables, layout: _Layout) -> None:
        self.t, self.layout = t, layout
        self._scanned: tuple[bytes, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._all: dict[bytes, tuple[int, str]] | None = None  # every name, when many are asked for

    def _scan(self) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
        """``kallsyms_names`` (bytes and array), and per name where its tokens start and how many."""
        if self._scanned is not None:
            return self._scanned
        import numpy as np  # only this walk needs it (kernels without kallsyms_seqs_of_names)

        t, lay = self.t, self.layout
        size, nm, markers = lay.names_end, len(lay.markers), lay.markers
        raw = t.mem.read(t.pa["kallsyms_names"], size, "kallsyms_names")
        per = KALLSYMS_NAMES_PER_MARKER
        # One step per name, all blocks at once, taking every length as one byte: a step moves at
        # most 256 bytes (a byte's values, one per token), so zeros past the names keep a chain that
        # runs off them inside the array.
        arr = np.frombuffer(raw + bytes(KALLSYMS_TOKEN_COUNT * per + 2), dtype=np.uint8)
        last_count = t.num - ((nm - 1) << KALLSYMS_MARKER_SHIFT)
        pos = np.array(markers, dtype=np.int64)
        starts = np.empty((nm, per), dtype=np.int64)  # block-major: row k is block k
        end_last = -1
        for j in range(per):
            starts[:, j] = pos
            pos += arr[pos]
            pos += 1
            if j + 1 == last_count:
                end_last = int(pos[-1])
        limit = np.array([*markers[1:], size], dtype=np.int64)
        ends = pos.copy()
        ends[-1] = end_last
        # blocks with a two-byte length were walked wrong: walk them again, exactly
        firsts = arr[starts]
        firsts[-1, last_count:] = 0  # past the last name
        for k in np.flatnonzero((firsts & KALLSYMS_NAME_LEN_BIG).any(axis=1)).tolist():
            count = last_count if k == nm - 1 else per
            lo = markers[k]
            block, stop = _walk(raw[lo : int(limit[k])], count, k)
            starts[k, :count] = np.array(block, dtype=np.int64) + lo
            ends[k] = lo + stop
        if not np.array_equal(ends, limit):
            k = int(np.flatnonzero(ends != limit)[0])
            raise _Contradiction(f"kallsyms_names block {k} does not end at the next marker")
        flat = starts.reshape(-1)[: t.num]
        flat_heads = flat + 1 + (arr[flat] >> KALLSYMS_NAME_LEN_HIGH_SHIFT)
        nexts = np.empty_like(flat)  # a block's last name ends where the next block starts (checked above)
        nexts[:-1] = flat[1:]
        nexts[-1] = size
        counts = nexts - flat_heads
        self._scanned = (raw, arr, flat_heads, counts)
        return self._scanned

    def find(self, keys: list[bytes]) -> dict[bytes, tuple[int, str, int]]:
        raw, arr, heads, counts = self._scan()
        tokens = self.t.tokens
        if sum(map(len, keys)) > MAX_SPELLING:  # many names: expand every one, once
            if self._all is None:
                self._all = {}
                for i, (a, n) in enumerate(zip(heads.tolist(), counts.tolist(), strict=True)):
                    sym = b"".join([tokens[x] for x in raw[a : a + n]])
                    if sym[1:] not in self._all:
                        self._all[sym[1:]] = (i, chr(sym[0]) if sym else "?")
            return {k: (self.t.address(hit[0]), hit[1], hit[0]) for k in keys if (hit := self._all.get(k))}
        wanted = set(keys)
        found: dict[bytes, tuple[int, str, int]] = {}
        for i in _spelling(tokens, keys, arr, heads, counts):
            a = int(heads[i])
            sym = b"".join([tokens[x] for x in raw[a : a + int(counts[i])]])
            name = sym[1:]
            if name in wanted and name not in found:
                found[name] = (self.t.address(i), chr(sym[0]) if sym else "?", i)
        return found


def _spelling(
    tokens: list[bytes], keys: list[bytes], arr: np.ndarray, heads: np.ndarray, counts: np.ndarray
) -> list[int]:
    """The indices, ascending, of the names whose tokens can spell a type letter then one of ``keys``.

    A trie of the keys' prefixes stepped one token at a time over every name at
    once: ``move[node, token]`` is the node the token's expansion leads to (0: none).
    """
    import numpy as np

    prefixes = {b"": 1}
    for k in keys:
        for n in range(1, len(k) + 1):
            prefixes.setdefault(k[:n], len(prefixes) + 1)
    by_bytes: dict[bytes, list[int]] = {}
    for i, tok in enumerate(tokens):
        by_bytes.setdefault(tok, []).append(i)
    move = np.zeros((len(prefixes) + 1, len(tokens)), dtype=np.int64)
    for q, target in prefixes.items():
        for n in range(len(q) + 1):  # q = p + a token's expansion
            p, tok = q[:n], q[n:]
            if p in prefixes and tok in by_bytes:
                move[prefixes[p], by_bytes[tok]] = target
    whole = np.zeros(len(prefixes) + 1, dtype=bool)
    whole[[prefixes[k] for k in keys]] = True
    # the first token: the type letter, then the start of the name; an empty one (never emitted) fits anything
    first = np.array([prefixes.get(tok[1:], 0) if tok else -1 for tok in tokens], dtype=np.int64)
    live = np.flatnonzero(counts > 0)
    state = first[arr[heads[live]]]
    hits = [live[state < 0]]
    live, state = live[state > 0], state[state > 0]
    hits.append(live[(counts[live] == 1) & whole[state]])
    step = 1
    while live.size and step <= KSYM_NAME_LEN:
        more = counts[live] > step
        live, state = live[more], state[more]
        state = move[state, arr[heads[live] + step]]
        live, state = live[state > 0], state[state > 0]
        step += 1
        hits.append(live[(counts[live] == step) & whole[state]])
    if b"" in keys:
        hits.append(np.flatnonzero(counts == 0))
    return sorted(set(np.concatenate(hits).tolist()))  # a handful (np.unique's first call costs ~9 ms)


class _SeqsFinder(_Finder):
    """kernel/kallsyms.c ``kallsyms_lookup_names``: a binary search of ``kallsyms_seqs_of_names``."""

    method = "seqs_of_names"

    def __init__(self, t: _Tables, layout: _Layout) -> None:
        self.t, self.layout = t, layout
        nm = len(layout.markers)
        self._blocks: dict[int, tuple[bytes, list[int]]] = {nm - 1: layout.last_block}
        self._expanded: dict[int, bytes] = {}
        self._seqs: dict[int, int] = {}  # position in name order -> symbol index
        self._positions: dict[int, int] = {}  # the reverse, to catch an index given twice
        self._others: _MarkersFinder | None = None

    def fallback(self) -> _Finder | None:
        return self._others or _MarkersFinder(self.t, self.layout)

    def _block(self, k: int) -> tuple[bytes, list[int]]:
        hit = self._blocks.get(k)
        if hit is None:
            m = self.layout.markers
            lo, hi = m[k], m[k + 1]  # the last block is read when the layout is checked
            data = self.t.mem.read(self.t.pa["kallsyms_names"] + lo, hi - lo, "kallsyms_names")
            starts, stop = _walk(data, KALLSYMS_NAMES_PER_MARKER, k)
            if stop != len(data):
                raise _Contradiction(f"kallsyms_names block {k} does not end at the next marker")
            hit = self._blocks[k] = (data, starts)
        return hit

    def _name(self, i: int) -> bytes:
        """Symbol ``i`` expanded, type letter first."""
        sym = self._expanded.get(i)
        if sym is None:
            data, starts = self._block(i >> KALLSYMS_MARKER_SHIFT)
            a, b = _span(data, starts[i & KALLSYMS_MARKER_MASK])
            tokens = self.t.tokens
            sym = self._expanded[i] = b"".join([tokens[x] for x in data[a:b]])
        return sym

    def _seq(self, pos: int) -> int:
        seq = self._seqs.get(pos)
        if seq is None:
            assert self.layout.seqs_pa is not None
            raw = self.t.mem.read(
                self.layout.seqs_pa + KALLSYMS_SEQ_SIZE * pos, KALLSYMS_SEQ_SIZE, "kallsyms_seqs_of_names"
            )
            seq = int.from_bytes(raw, KALLSYMS_SEQ_BYTEORDER)
            if seq >= self.t.num:
                raise _Contradiction(f"kallsyms_seqs_of_names[{pos}] = {seq} is past the {self.t.num} symbols")
            if seq in self._positions:  # a permutation names every symbol once
                raise _Contradiction(f"kallsyms_seqs_of_names[{pos}] repeats [{self._positions[seq]}] ({seq})")
            self._seqs[pos], self._positions[seq] = seq, pos
        return seq

    def find(self, keys: list[bytes]) -> dict[bytes, tuple[int, str, int]]:
        found: dict[bytes, tuple[int, str, int]] = {}
        others = [k for k in keys if not _IDENTIFIER.fullmatch(k)]
        if others:  # not a C identifier: where the kernel's orders put it is less certain
            self._others = self._others or _MarkersFinder(self.t, self.layout)
            found.update(self._others.find(others))
        for key in keys:
            if key not in found and _IDENTIFIER.fullmatch(key):
                i = self._search(key)
                if i is not None:
                    sym = self._name(i)
                    found[key] = (self.t.address(i), chr(sym[0]), i)
        return found

    def _search(self, key: bytes) -> int | None:
        """The first (by table position) symbol named ``key``, or None."""
        low, high = 0, self.t.num - 1
        floor: bytes | None = None  # every name probed so far sorts in [floor, ceiling]
        ceiling: bytes | None = None
        while low <= high:
            mid = low + (high - low) // 2
            probe = _sort_key(self._name(self._seq(mid))[1:])
            if (floor is not None and probe < floor) or (ceiling is not None and probe > ceiling):
                raise _Contradiction(f"kallsyms_seqs_of_names is not in name order (at {mid})")
            if key > probe:
                low, floor = mid + 1, probe
            elif key < probe:
                high, ceiling = mid - 1, probe
            else:
                return self._first_equal(key, mid)
        return None

    def _first_equal(self, key: bytes, mid: int) -> int | None:
        """Of the names around ``mid`` that sort equal to ``key``, the first one spelled ``key``."""
        best: int | None = None
        seen = 0
        for step in (-1, 1):
            pos = mid if step < 0 else mid + 1
            while 0 <= pos < self.t.num:
                i = self._seq(pos)
                name = self._name(i)[1:]
                if _sort_key(name) != key:
                    break
                if name == key and (best is None or i < best):
                    best = i
                seen += 1
                if seen > MAX_SAME_NAME:
                    raise _Contradiction(f"more than {MAX_SAME_NAME} kallsyms names sort as {key.decode()}")
                pos += step
        return best


# -- the one-pass decode ------------------------------------------------------------------
def full_decode_tables(t: _Tables) -> Kallsyms:
    """Every name expanded in one pass over ``kallsyms_names`` (the checks and verdicts of the first reader)."""
    mem, pa, num = t.mem, t.pa, t.num
    try:
        offsets = kallsyms_offsets_fast(num).unpack(
            mem.read(pa["kallsyms_offsets"], KALLSYMS_OFFSET_SIZE * num, "kallsyms_offsets")
        )
        names = mem.read(pa["kallsyms_names"], t.names_len, "kallsyms_names")
    except MemoryReadError as e:
        return Kallsyms(f"kallsyms tables not in the dump: {e.reason}", method="full decode")
    tokens, rel_base = t.tokens, t.rel_base
    absolute = bool(offsets) and offsets[-1] < 0  # see _Tables.absolute_percpu
    addr: dict[bytes, tuple[int, str, int]] = {}
    off, n_names = 0, len(names)
    for i in range(num):
        if off >= n_names:
            return Kallsyms(f"kallsyms_names ends after {i} of {num} symbols", method="full decode")
        n = names[off]
        off += 1
        if n & KALLSYMS_NAME_LEN_BIG:
            if off >= n_names:
                return Kallsyms(f"kallsyms_names ends after {i} of {num} symbols", method="full decode")
            n = (n & KALLSYMS_NAME_LEN_LOW_MASK) | names[off] << KALLSYMS_NAME_LEN_HIGH_SHIFT
            off += 1
        if n > KSYM_NAME_LEN or off + n > n_names:
            return Kallsyms(f"kallsyms_names entry {i} has length {n}: not a kallsyms table", method="full decode")
        sym = b"".join([tokens[x] for x in names[off : off + n]])
        off += n
        if sym[1:] not in addr:  # the first of duplicate static names wins
            addr[sym[1:]] = (_address(rel_base, offsets[i], absolute), chr(sym[0]) if sym else "?", i)
    return Kallsyms(None, num, t.phys_base, addr, method="full decode")
