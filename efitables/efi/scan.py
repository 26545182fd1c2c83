"""Signature sweep of physical memory for EFI system tables and zero pages.

One streaming pass over :meth:`PhysicalMemory.chunks` (bounded memory: one
window at a time) finds, with numpy compares rather than Python loops:

* ``IBI SYST`` at 8-byte-aligned addresses (EFI tables are naturally aligned),
  or at any byte in exhaustive mode;
* positions that may start a ``struct boot_params``: ``EL64``/``EL32`` at +0x1C0
  (efi_info; the EFI stub's zero page has nothing else) or ``HdrS`` at +0x202
  (setup_header). ``zero_page_align=PAGE`` looks at page starts only (loaders'
  copies; nearly free); ``zero_page_align=8`` at every 8-byte-aligned base, which
  also finds the kernel's own copy, a global in its image (not page-aligned),
  at about three times the cost of the system-table compare.

Hits are only positions: callers validate them with cheap ``struct`` checks
before any construct parse. Every offset and signature compared here comes from
the schemas (:mod:`efitables.schemas.boot_params`, :mod:`efitables.schemas.efi_tables`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from efitables.memory.base import PhysicalMemory
from efitables.schemas.boot_params import (
    EFI_LOADER_SIGNATURE_OFFSET,
    HDRS_MAGIC_HI16,
    HDRS_MAGIC_LO16,
    HEADER_MAGIC_OFFSET,
)
from efitables.schemas.efi_info import EFI32_LOADER_SIGNATURE, EFI64_LOADER_SIGNATURE
from efitables.schemas.efi_tables import EFI_SYSTEM_TABLE_SIGNATURE, EFI_SYSTEM_TABLE_SIGNATURE_BYTES

SIG_BYTES = EFI_SYSTEM_TABLE_SIGNATURE_BYTES
CHUNK = 16 * 1024 * 1024
PAGE = 4096

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
_HALF_BITS = np.uint32(8 * _W2)
_LOW_HALF = np.uint32((1 << (8 * _W2)) - 1)
#: The zero-page alignment the Dump sweeps with: the kernel's own copy is not page-aligned.
KERNEL_COPY_ALIGN = 8
#: A scan never keeps more hits than this (a dump full of copies is hostile).
MAX_HITS = 65536

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class ScanCancelled(Exception):
    pass


@dataclass
class ScanHits:
    systab: list[int] = field(default_factory=list)
    zero_pages: list[int] = field(default_factory=list)
    bytes_scanned: int = 0
    #: MAX_HITS reached: that kind is no longer collected, the sweep goes on for the other
    systab_truncated: bool = False
    zero_pages_truncated: bool = False

    @property
    def truncated(self) -> bool:
        return self.systab_truncated or self.zero_pages_truncated


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
    systab: set[int] = set()
    pages: set[int] = set()
    done = 0
    last_end = 0
    for pa, data in mem.chunks(chunk_size=chunk_size, overlap=PAGE):
        if cancel is not None and cancel():
            raise ScanCancelled
        n = len(data)
        want_systab = len(systab) < MAX_HITS
        want_pages = zero_pages and len(pages) < MAX_HITS
        if not (want_systab or want_pages):
            break  # a hostile dump full of signatures: both kinds are capped
        if want_systab and exhaustive:
            # eight shifted 64-bit views: every byte offset, still a vector compare
            for shift in range(_W8):
                cnt = (n - shift) // _W8
                if cnt > 0:
                    arr = np.frombuffer(data, dtype=_U64, count=cnt, offset=shift)
                    for i in np.flatnonzero(arr == EFI_SYSTEM_TABLE_SIGNATURE)[:MAX_HITS].tolist():
                        systab.add(pa + shift + _W8 * i)
                    del arr
        elif want_systab:
            off = (-pa) % _W8
            cnt = (n - off) // _W8
            if cnt > 0:
                arr = np.frombuffer(data, dtype=_U64, count=cnt, offset=off)
                for i in np.flatnonzero(arr == EFI_SYSTEM_TABLE_SIGNATURE)[:MAX_HITS].tolist():
                    systab.add(pa + off + _W8 * i)
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
        elif want_pages:
            off = (-pa) % _W4
            cnt = (n - off) // _W4
            if cnt > 1:
                # aligned u32 compares (an unaligned view is several times slower):
                # EL64/EL32 whole words; "HdrS" at 2 mod 4 as "Hd" in a word's high half, "rS" in the next's low half
                u32 = np.frombuffer(data, dtype=_U32, count=cnt, offset=off)
                el = np.flatnonzero((u32 == EFI64_LOADER_SIGNATURE) | (u32 == EFI32_LOADER_SIGNATURE))
                hdrs = np.flatnonzero((u32[:-1] >> _HALF_BITS) == HDRS_MAGIC_LO16)
                hdrs = hdrs[(u32[hdrs + 1] & _LOW_HALF) == HDRS_MAGIC_HI16]
                for rel, idx in ((EFI_LOADER_SIGNATURE_OFFSET, el), (HDRS_WORD_OFFSET, hdrs)):
                    for i in idx[:MAX_HITS].tolist():
                        base = pa + off + _W4 * i - rel
                        if base >= 0 and base % zero_page_align == 0:
                            pages.add(base)
                del u32, el, hdrs
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
    return hits
