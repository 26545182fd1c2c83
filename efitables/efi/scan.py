"""Signature sweep of physical memory for EFI system tables and zero pages.

One streaming pass over :meth:`PhysicalMemory.chunks` (bounded memory: one
window at a time) finds, with numpy compares rather than Python loops:

* ``IBI SYST`` at 8-byte-aligned addresses (EFI tables are naturally aligned),
  or at any byte in exhaustive mode;
* positions that may start a ``struct boot_params``: ``EL64``/``EL32`` at +0x1C0
  (efi_info; the EFI stub's zero page has nothing else) or ``HdrS`` at +0x202
  (setup_header). ``zero_page_align=PAGE`` looks at page starts only (loaders'
  copies; nearly free); ``zero_page_align=8`` at every 8-byte-aligned base, which
  also finds the kernel's own copy, a global in its image (not page-aligned).

The 8-byte sweep (the one ``efitables scan`` and a no-hint ``show`` run) reads each
window from memory once. Every signature it looks for covers bytes 2-3 of an
8-byte-aligned word: ``IBI SYST`` and ``EL64``/``EL32`` start one, ``HdrS`` starts at
its byte 2 (0x1C0 and 0x200 are multiples of 8). A block of the window at a time
(:data:`BLOCK_WORDS`, so that what follows stays in cache), one cast copies that u16
"key" of every word into a buffer; four compares flag the words whose key is one of
the four signatures' (~1 word in 16 K of random data); the flags, read 8 then 64 at
a time, give the few groups of 64 words worth a look; those words are checked whole
(``(word & mask) == signature``). A block full of candidates (memory filled with one
pattern) is checked word by word instead. The buffers are allocated once per sweep.

Hits are only positions: callers validate them with cheap ``struct`` checks
before any construct parse. Every offset and signature compared here comes from
the schemas (:mod:`efitables.schemas.boot_params`, :mod:`efitables.schemas.efi_tables`).

A window of at most :data:`SMALL_WINDOW` bytes (a dump of very many small ranges has one per
range) is first searched whole with ``bytes.find``: without any of the four signatures it
has no candidate, and the vector work is skipped.

Unreadable bytes: :meth:`PhysicalMemory.chunks` never stops the sweep. A window the
container cannot produce whole (a kdump page whose descriptor or compressed data is
bad, a file that shrank) is re-read block by block; the blocks that read are swept, each
one that does not is one finding on the memory's findings (capped per code, with one
finding counting the rest), and :attr:`ScanHits.findings` lists those the sweep caused.

Caps: in each window the sweep keeps, per kind (system tables; zero pages by
efi_loader_signature; zero pages by HdrS), the first :data:`MAX_HITS` hits in address
order; once the system tables or the zero pages number MAX_HITS they are no longer
collected, and the sweep stops early only when both are capped. A zero page whose
base would lie below address 0 is no hit (and does not count). A window shorter than
two aligned u32 words is not searched for zero pages.
"""

from __future__ import annotations

import numpy as np

from efitables.efi.hits import (
    CHUNK,
    KERNEL_COPY_ALIGN,
    MAX_HITS,
    PAGE,
    CancelFn,
    ProgressFn,
    ScanCancelled,
    ScanHits,
)
from efitables.memory.base import PhysicalMemory
from efitables.schemas.boot_params import (
    EFI_LOADER_SIGNATURE_OFFSET,
    HDRS_MAGIC,
    HDRS_MAGIC_HI16,
    HDRS_MAGIC_LO16,
    HEADER_MAGIC_OFFSET,
)
from efitables.schemas.efi_info import EFI32_LOADER_SIGNATURE, EFI64_LOADER_SIGNATURE
from efitables.schemas.efi_tables import EFI_SYSTEM_TABLE_SIGNATURE, EFI_SYSTEM_TABLE_SIGNATURE_BYTES

SIG_BYTES = EFI_SYSTEM_TABLE_SIGNATURE_BYTES

# The vector views and where, in them, the zero-page signatures lie (from the schema).
_U64, _U32, _U16 = np.dtype("<u8"), np.dtype("<u4"), np.dtype("<u2")
_W8, _W4, _W2 = _U64.itemsize, _U32.itemsize, _U16.itemsize
assert len(SIG_BYTES) == _W8
#: efi_loader_signature is a whole aligned u32; "HdrS" straddles two: "Hd" in the high half
#: of the u32 at HDRS_WORD_OFFSET, "rS" in the low half of the next.
assert EFI_LOADER_SIGNATURE_OFFSET % _W4 == 0 and HEADER_MAGIC_OFFSET % _W4 == _W2
EL_U32_INDEX = EFI_LOADER_SIGNATURE_OFFSET // _W4
HDRS_U16_INDEX = HEADER_MAGIC_OFFSET // _W2
HDRS_WORD_OFFSET = HEADER_MAGIC_OFFSET - _W2

# -- the 8-byte sweep's key: the u16 at KEY_BYTE of every 8-byte-aligned word ----------------
_BITS = 8
#: "HdrS" starts at byte KEY_BYTE of an aligned word (the word at HDRS_KEY_WORD of the zero page) ...
KEY_BYTE = HEADER_MAGIC_OFFSET % _W8
HDRS_KEY_WORD = HEADER_MAGIC_OFFSET - KEY_BYTE
#: ... and efi_loader_signature, like a system table's signature, starts one, so their keys are
#: bytes KEY_BYTE..KEY_BYTE+1 of the signature ("64"/"32", "I "); the first two of "HdrS".
assert EFI_LOADER_SIGNATURE_OFFSET % _W8 == 0 and KEY_BYTE % _W2 == 0 and KEY_BYTE + _W2 <= _W4
assert HDRS_KEY_WORD == HDRS_WORD_OFFSET - HDRS_WORD_OFFSET % _W8
KEY_SHIFT = _BITS * KEY_BYTE
_KEY_MASK = (1 << (_BITS * _W2)) - 1
_U32_MASK = (1 << (_BITS * _W4)) - 1
assert HDRS_MAGIC & _KEY_MASK == HDRS_MAGIC_LO16 and HDRS_MAGIC >> (_BITS * _W2) == HDRS_MAGIC_HI16
#: Key rows in the order the sweep compares them (the system table last: dropped when not wanted),
#: and what confirms a candidate word of each row: (word & mask) == value.
ROW_HDRS, ROW_EL64, ROW_EL32, ROW_SYSTAB = range(4)
_ROWS = (
    (HDRS_MAGIC << KEY_SHIFT, _U32_MASK << KEY_SHIFT),
    (EFI64_LOADER_SIGNATURE, _U32_MASK),
    (EFI32_LOADER_SIGNATURE, _U32_MASK),
    (EFI_SYSTEM_TABLE_SIGNATURE, (1 << (_BITS * _W8)) - 1),
)
KEYS = tuple((value >> KEY_SHIFT) & _KEY_MASK for value, _mask in _ROWS)
assert len(set(KEYS)) == len(KEYS) and all(KEYS)  # distinct, and never the zero that pads a block
_KEY_VALUES = tuple(np.uint16(k) for k in KEYS)
_ROW_VALUE = np.array([value for value, _mask in _ROWS], dtype=_U64)
_ROW_MASK = np.array([mask for _value, mask in _ROWS], dtype=_U64)
#: Words per block of a window: the keys and flags of a block stay in cache (a multiple of _GROUP, so
#: the flags of a block can be read as whole u64 words, and those flags again).
BLOCK_WORDS = 1 << 19
_GROUP = _W8 * _W8
#: a flagged group is tagged (row << _ROW_SHIFT) + group number; groups confirmed at a time
_ROW_SHIFT = 48
_GROUP_MASK = (1 << _ROW_SHIFT) - 1
_CONFIRM_GROUPS = 4096
#: a block with more than 1/_DENSE of its groups flagged is confirmed word by word, not group by group
_DENSE = 16
#: the kind of hit each key row gives (the per-window cap is per kind)
#: Windows up to this size (a dump of very many small ranges) are first searched whole for the signatures
#: with ``bytes.find``: one that holds none (nearly all of them) costs no vector setup.
SMALL_WINDOW = 1 << 16
_SIGNATURES = (
    SIG_BYTES,
    HDRS_MAGIC.to_bytes(_W4, "little"),
    EFI64_LOADER_SIGNATURE.to_bytes(_W4, "little"),
    EFI32_LOADER_SIGNATURE.to_bytes(_W4, "little"),
)
_KINDS = ("systab", "efi_loader_signature", "HdrS")
_ROW_KIND = (
    _KINDS.index("HdrS"),
    _KINDS.index("efi_loader_signature"),
    _KINDS.index("efi_loader_signature"),
    _KINDS.index("systab"),
)

class _KeySweep:
    """The 8-byte sweep of a window: system tables (optionally) and zero pages at every aligned base.

    Buffers are allocated once per sweep and reused for every block of every window."""

    def __init__(self, chunk_size: int) -> None:
        words = min(BLOCK_WORDS, chunk_size // _W8 + 1)
        self.block = -(-words // _GROUP) * _GROUP
        self.keys = np.empty(self.block, dtype=_U16)
        self.flags = np.empty((len(KEYS), self.block), dtype=np.bool_)
        self.hit8 = np.empty(len(KEYS) * self.block // _W8, dtype=np.bool_)
        self.hit64 = np.empty(len(KEYS) * self.block // _GROUP, dtype=np.bool_)
        self.masked: np.ndarray | None = None  # for blocks full of candidates only
        self._cache: dict[
            tuple[int, int], tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]
        ] = {}

    def _views(
        self, mg: int, rows: int
    ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The buffers of a block of ``mg`` words (a multiple of _GROUP) and ``rows`` keys: keys,
        flag rows, the flags as u64, the u64 groups of 8 flags that are not 0, those as u64, and
        the groups of 64 words with a flag (as one array, row after row)."""
        got = self._cache.get((mg, rows))
        if got is None:
            flags = self.flags[:rows, :mg]
            hit8 = self.hit8[: rows * mg // _W8].reshape(rows, mg // _W8)
            got = (
                self.keys[:mg],
                list(flags),
                flags.view(_U64),
                hit8,
                hit8.view(_U64).reshape(-1),
                self.hit64[: rows * mg // _GROUP],
            )
            if mg == self.block:  # windows end in blocks of other sizes: only whole blocks are kept
                self._cache[(mg, rows)] = got
        return got

    def candidates(
        self, words: np.ndarray, shifted: np.ndarray, rows: int, cap: int, first: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(word index, row), by row then index, of the words whose key is one of the first ``rows``
        KEYS and whose whole signature matches, from index ``first[row]`` on; per kind (_ROW_KIND)
        at least the first ``cap`` of them. ``shifted[k]``, read KEY_BYTE after ``words[k]``, holds
        its key in its low bits (it may lack the last word)."""
        cnt = len(words)
        tags: list[np.ndarray] = []  # flagged groups of 64 words, confirmed at the end
        dense_k: list[np.ndarray] = []  # words confirmed in a block full of candidates
        dense_r: list[np.ndarray] = []
        counted = [0] * len(_KINDS)  # confirmed so far per kind (dense blocks)
        for s in range(0, cnt, self.block):
            e = min(cnt, s + self.block)
            m = e - s
            mg = -(-m // _GROUP) * _GROUP
            keys, flag_rows, flags8, hit8, hit8_64, hit64 = self._views(mg, rows)
            k_end = min(e, len(shifted))
            if k_end - s == mg:
                np.copyto(keys, shifted[s:k_end], casting="unsafe")
            else:
                np.copyto(keys[: k_end - s], shifted[s:k_end], casting="unsafe")
                keys[k_end - s : m] = words[k_end:e] >> np.uint64(KEY_SHIFT)
                keys[m:mg] = 0
            for r, out in enumerate(flag_rows):
                np.equal(keys, _KEY_VALUES[r], out=out)
            # the flags read 8 at a time, and those 8 at a time: a group of 64 words per flag
            np.not_equal(flags8, 0, out=hit8)
            np.not_equal(hit8_64, 0, out=hit64)
            hit = hit64.nonzero()[0]
            if not hit.size:
                continue
            flags = self.flags[:rows, :mg]
            row, g = np.divmod(hit, mg // _GROUP)
            if hit.size * _DENSE <= len(hit64):
                tags.append((row << _ROW_SHIFT) + g + s // _GROUP)
                continue
            # a block full of candidates (a region filled with one pattern): whole words, row by row
            capped = [c >= cap for c in counted]
            for r in np.unique(row).tolist():
                if capped[_ROW_KIND[r]]:
                    continue  # the kind's first cap hits lie in earlier blocks
                ok = flags[r, :m]
                if _ROW_MASK[r] == _ROW_MASK[ROW_SYSTAB]:
                    np.equal(words[s:e], _ROW_VALUE[r], out=ok)
                else:
                    if self.masked is None:
                        self.masked = np.empty(self.block, dtype=_U64)
                    np.bitwise_and(words[s:e], _ROW_MASK[r], out=self.masked[:m])
                    np.equal(self.masked[:m], _ROW_VALUE[r], out=ok)
                k = np.flatnonzero(ok) + s
                k = k[k >= first[r]]
                dense_k.append(k)
                dense_r.append(np.full(k.size, r, dtype=np.intp))
                counted[_ROW_KIND[r]] += k.size
        found_k, found_r = dense_k, dense_r
        if tags:
            row_first = np.array(first, dtype=np.intp)
            # the words of each flagged group, checked whole against their row's signature (a slice
            # of the groups at a time)
            tagged = np.concatenate(tags)
            for t in range(0, len(tagged), _CONFIRM_GROUPS):
                part = tagged[t : t + _CONFIRM_GROUPS]
                row = part >> _ROW_SHIFT
                k = np.minimum(((part & _GROUP_MASK) * _GROUP)[:, None] + np.arange(_GROUP), cnt - 1)
                ok2 = (words[k] & _ROW_MASK[row][:, None]) == _ROW_VALUE[row][:, None]
                ok2[:, 1:] &= k[:, 1:] != k[:, :-1]  # past the last word: the clipped index, once
                ok2 &= k >= row_first[row][:, None]
                hh, b = np.nonzero(ok2)
                found_k.append(k[hh, b])
                found_r.append(row[hh])
        if not found_k:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
        k, row = np.concatenate(found_k), np.concatenate(found_r)
        order = np.lexsort((k, row))
        return k[order], row[order]

    def window(
        self, pa: int, data: bytes | memoryview, systab: bool, cap: int
    ) -> tuple[list[int], list[int], list[int]]:
        """In ``data`` at ``pa``: (aligned system tables, zero-page bases by EL64/EL32, zero-page bases
        by HdrS), each in address order and at most ``cap`` long (bases below 0 are not hits)."""
        n = len(data)
        off = (-pa) % _W8
        cnt = max(0, (n - off) // _W8)
        base = pa + off
        st: list[int] = []
        el: list[int] = []
        hd: list[int] = []
        if cnt > 0:
            words = np.frombuffer(data, dtype=_U64, count=cnt, offset=off)
            nkey = min(cnt, (n - off - KEY_BYTE) // _W8)
            shifted = np.frombuffer(data, dtype=_U64, count=nkey, offset=off + KEY_BYTE)
            # per row, the first word whose signature gives a base >= 0
            first = [0] * len(KEYS)
            first[ROW_EL64] = first[ROW_EL32] = max(0, -(-(EFI_LOADER_SIGNATURE_OFFSET - base) // _W8))
            first[ROW_HDRS] = max(0, -(-(HDRS_KEY_WORD - base) // _W8))
            k, row = self.candidates(words, shifted, len(KEYS) if systab else ROW_SYSTAB, cap, tuple(first))
            del words, shifted
            if k.size:
                st = [base + _W8 * i for i in k[row == ROW_SYSTAB][:cap].tolist()]
                el_k = np.sort(k[(row == ROW_EL64) | (row == ROW_EL32)])
                el = [base + _W8 * i - EFI_LOADER_SIGNATURE_OFFSET for i in el_k[:cap].tolist()]
                hd = [base + _W8 * i - HDRS_KEY_WORD for i in k[row == ROW_HDRS][:cap].tolist()]
        # efi_loader_signature in the window's last 4..7 bytes: a whole u32 there, not a whole u64
        tail = off + _W8 * cnt
        if (
            tail + _W4 <= n
            and len(el) < cap
            and pa + tail >= EFI_LOADER_SIGNATURE_OFFSET
            and (n - (-pa) % _W4) // _W4 > 1
            and int(np.frombuffer(data, dtype=_U32, count=1, offset=tail)[0])
            in (EFI64_LOADER_SIGNATURE, EFI32_LOADER_SIGNATURE)
        ):
            el.append(pa + tail - EFI_LOADER_SIGNATURE_OFFSET)
        return st, el, hd


def scan(
    mem: PhysicalMemory,
    *,
    exhaustive: bool = False,
    zero_pages: bool = True,
    zero_page_align: int = PAGE,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    chunk_size: int = CHUNK,
) -> ScanHits:
    if zero_page_align not in (PAGE, KERNEL_COPY_ALIGN):
        raise ValueError(f"zero_page_align {zero_page_align}: PAGE or 8")
    total = mem.total_size()
    hits = ScanHits()
    known = set(mem.findings)
    systab: set[int] = set()
    pages: set[int] = set()
    done = 0
    last_end = 0
    keyed: _KeySweep | None = None
    sig_out: np.ndarray | None = None  # the system-table compare's output, reused
    for pa, data in mem.chunks(chunk_size=chunk_size, overlap=PAGE):
        if cancel is not None and cancel():
            raise ScanCancelled
        n = len(data)
        want_systab = len(systab) < MAX_HITS
        want_pages = zero_pages and len(pages) < MAX_HITS
        if not (want_systab or want_pages):
            break  # a hostile dump full of signatures: both kinds are capped
        if n <= SMALL_WINDOW:
            small = bytes(data)
            if not any(sig in small for sig in _SIGNATURES):  # no signature anywhere, aligned or not
                want_systab = want_pages = False
        if want_pages and zero_page_align == KERNEL_COPY_ALIGN:
            # one pass: the zero pages at every 8-byte-aligned base, and the aligned system tables
            if keyed is None:
                keyed = _KeySweep(chunk_size)
            st, el, hd = keyed.window(pa, data, want_systab and not exhaustive, MAX_HITS)
            systab.update(st)
            pages.update(el)
            pages.update(hd)
            want_systab = want_systab and exhaustive  # the aligned ones are found
        if want_systab:
            # exhaustive: eight shifted 64-bit views, every byte offset, still a vector compare
            for shift in range(_W8) if exhaustive else ((-pa) % _W8,):
                cnt = (n - shift) // _W8
                if cnt > 0:
                    if sig_out is None or len(sig_out) < cnt:
                        sig_out = np.empty(max(cnt, chunk_size // _W8 + 1), dtype=np.bool_)
                    arr = np.frombuffer(data, dtype=_U64, count=cnt, offset=shift)
                    found = np.equal(arr, np.uint64(EFI_SYSTEM_TABLE_SIGNATURE), out=sig_out[:cnt])
                    if found.any():
                        for i in np.flatnonzero(found)[:MAX_HITS].tolist():
                            systab.add(pa + shift + _W8 * i)
                    del arr
        if want_pages and zero_page_align == PAGE:
            off = (-pa) % PAGE
            npages = (n - off) // PAGE
            if npages > 0:
                per4, per2 = PAGE // _W4, PAGE // _W2
                u32 = np.frombuffer(data, dtype=_U32, count=npages * per4, offset=off).reshape(npages, per4)
                sig = u32[:, EL_U32_INDEX]
                m = (sig == EFI64_LOADER_SIGNATURE) | (sig == EFI32_LOADER_SIGNATURE)
                u16 = np.frombuffer(data, dtype=_U16, count=npages * per2, offset=off).reshape(npages, per2)
                m |= (u16[:, HDRS_U16_INDEX] == HDRS_MAGIC_LO16) & (u16[:, HDRS_U16_INDEX + 1] == HDRS_MAGIC_HI16)
                for i in np.flatnonzero(m)[:MAX_HITS].tolist():
                    pages.add(pa + off + PAGE * i)
                del u32, u16, sig, m
        end = pa + n
        done += end - max(pa, last_end) if end > last_end else 0
        last_end = max(last_end, end)
        if progress is not None:
            progress(min(done, total), total)
    hits.systab_truncated = len(systab) >= MAX_HITS
    hits.zero_pages_truncated = len(pages) >= MAX_HITS
    hits.systab = sorted(systab)[:MAX_HITS]
    hits.zero_pages = sorted(pages)[:MAX_HITS]
    hits.bytes_scanned = done
    hits.findings = [f for f in mem.findings if f not in known]
    return hits
