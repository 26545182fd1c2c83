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
before any construct parse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from efitables.memory.base import PhysicalMemory
from efitables.schemas.efi_info import EFI32_LOADER_SIGNATURE, EFI64_LOADER_SIGNATURE
from efitables.schemas.efi_tables import EFI_SYSTEM_TABLE_SIGNATURE

SIG_BYTES = EFI_SYSTEM_TABLE_SIGNATURE.to_bytes(8, "little")
CHUNK = 16 * 1024 * 1024
PAGE = 4096
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
    if zero_page_align not in (PAGE, 8):
        raise ValueError(f"zero_page_align {zero_page_align}: PAGE or 8")
    total = mem.total_size()
    hits = ScanHits()
    systab: set[int] = set()
    pages: set[int] = set()
    done = 0
    last_end = 0
    hd = np.uint32(16)
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
            for shift in range(8):
                cnt = (n - shift) // 8
                if cnt > 0:
                    arr = np.frombuffer(data, dtype="<u8", count=cnt, offset=shift)
                    for i in np.flatnonzero(arr == EFI_SYSTEM_TABLE_SIGNATURE)[:MAX_HITS].tolist():
                        systab.add(pa + shift + 8 * i)
                    del arr
        elif want_systab:
            off = (-pa) % 8
            cnt = (n - off) // 8
            if cnt > 0:
                arr = np.frombuffer(data, dtype="<u8", count=cnt, offset=off)
                for i in np.flatnonzero(arr == EFI_SYSTEM_TABLE_SIGNATURE)[:MAX_HITS].tolist():
                    systab.add(pa + off + 8 * i)
                del arr
        if want_pages and zero_page_align == PAGE:
            off = (-pa) % PAGE
            npages = (n - off) // PAGE
            if npages > 0:
                u32 = np.frombuffer(data, dtype="<u4", count=npages * 1024, offset=off).reshape(npages, 1024)
                sig = u32[:, 0x1C0 // 4]
                m = (sig == EFI64_LOADER_SIGNATURE) | (sig == EFI32_LOADER_SIGNATURE)
                u16 = np.frombuffer(data, dtype="<u2", count=npages * 2048, offset=off).reshape(npages, 2048)
                m |= (u16[:, 0x202 // 2] == 0x6448) & (u16[:, 0x204 // 2] == 0x5372)  # "HdrS"
                for i in np.flatnonzero(m)[:MAX_HITS].tolist():
                    pages.add(pa + off + PAGE * i)
                del u32, u16, sig, m
        elif want_pages:
            off = (-pa) % 4
            cnt = (n - off) // 4
            if cnt > 1:
                # aligned u32 compares (an unaligned view is several times slower):
                # EL64/EL32 whole words; "HdrS" at 2 mod 4 as "Hd" in a word's high half, "rS" in the next's low half
                u32 = np.frombuffer(data, dtype="<u4", count=cnt, offset=off)
                el = np.flatnonzero((u32 == EFI64_LOADER_SIGNATURE) | (u32 == EFI32_LOADER_SIGNATURE))
                hdrs = np.flatnonzero((u32[:-1] >> hd) == 0x6448)
                hdrs = hdrs[(u32[hdrs + 1] & 0xFFFF) == 0x5372]
                for rel, idx in ((0x1C0, el), (0x200, hdrs)):
                    for i in idx[:MAX_HITS].tolist():
                        base = pa + off + 4 * i - rel
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
