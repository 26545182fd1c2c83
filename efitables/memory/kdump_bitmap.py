"""The two page bitmaps of a kdump file, turned into runs of page frame numbers.

After the sub-header come two bitmaps of equal size (``bitmap_blocks *
block_size / 2`` bytes each), bit N standing for page frame N, least
significant bit first in each byte. The first marks the pages that existed
(RAM), the second the pages written to the dump; a page in the first but not
the second was left out by the dump level (zero, cache, user or free pages). A
page descriptor exists for each set bit of the second bitmap, in PFN order, so
the runs of set bits also number the descriptors.

The bitmaps are read in :data:`BITMAP_CHUNK` pieces and never held whole; the
runs are capped at :data:`MAX_RUNS` (the container refuses a dump with more).

Sources: makedumpfile/makedumpfile makedumpfile.c@1.7.9
(``write_kdump_bitmap1``, ``write_kdump_bitmap2``, ``set_bit_on_2nd_bitmap``);
qemu/qemu dump/dump.c@v7.2.0 (``set_dump_bitmap``, ``write_dump_bitmap``);
crash-utility/crash diskdump.c@9.0.2 (``page_is_ram`` reads the first bitmap,
``page_is_dumpable`` the second, ``get_bit`` LSB first).
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: At most this many present runs (a very fragmented filtered dump has more).
MAX_RUNS = 1 << 20
#: Bitmap bytes processed at a time.
BITMAP_CHUNK = 1 << 20

_NONZERO = re.compile(rb"[^\x00]")
_NONFF = re.compile(rb"[^\xff]")


def bitmap_runs(
    read: Callable[[int, int], bytes], off: int, nbytes: int, pfn_lo: int, pfn_hi: int, max_runs: int = MAX_RUNS
) -> tuple[list[tuple[int, int]], int]:
    """Runs ``[start_pfn, end_pfn)`` of set bits within ``[pfn_lo, pfn_hi)``.

    Returns (runs, number of set bits in the window); past ``max_runs`` runs it
    stops and returns the runs so far with -1 as the count. Reads the bitmap in
    :data:`BITMAP_CHUNK` pieces; whole 0x00 and 0xFF bytes are skipped by a
    regular-expression search, so the cost follows the number of runs.
    """
    runs: list[tuple[int, int]] = []
    run_start = -1
    nonzero = _NONZERO
    nonff = _NONFF
    first_byte = pfn_lo >> 3
    last_byte = min(nbytes, (pfn_hi + 7) >> 3)
    base = first_byte
    while base < last_byte:
        chunk = read(off + base, min(BITMAP_CHUNK, last_byte - base))
        if not chunk:
            break
        n = len(chunk)
        pos = 0
        while pos < n:
            m = (nonff if run_start >= 0 else nonzero).search(chunk, pos)
            if m is None:
                break
            pos = m.start()
            b = chunk[pos]
            pfn0 = (base + pos) << 3
            for bit in range(8):
                pfn = pfn0 + bit
                if (b >> bit) & 1 and pfn_lo <= pfn < pfn_hi:
                    if run_start < 0:
                        run_start = pfn
                elif run_start >= 0:
                    runs.append((run_start, pfn))
                    run_start = -1
                    if len(runs) > max_runs:
                        return runs, -1  # the caller refuses the dump; stop growing the list
            pos += 1
        base += n
    if run_start >= 0:
        runs.append((run_start, min(pfn_hi, base << 3)))
    return runs, sum(e - s for s, e in runs)


def bitmap_count(read: Callable[[int, int], bytes], off: int, nbytes: int, pfn_lo: int, pfn_hi: int) -> int:
    """Number of set bits of the bitmap within ``[pfn_lo, pfn_hi)``."""
    total = 0
    first_byte = pfn_lo >> 3
    last_byte = min(nbytes, (pfn_hi + 7) >> 3)
    base = first_byte
    while base < last_byte:
        chunk = read(off + base, min(BITMAP_CHUNK, last_byte - base))
        if not chunk:
            break
        value = int.from_bytes(chunk, "little")
        lo = pfn_lo - (base << 3)
        hi = pfn_hi - (base << 3)
        if lo > 0:
            value &= ~((1 << lo) - 1)
        if hi < len(chunk) * 8:
            value &= (1 << max(hi, 0)) - 1
        total += value.bit_count()
        base += len(chunk)
    return total


def truncate_runs(runs: list[tuple[int, int]], keep: int) -> list[tuple[int, int]]:
    """The first ``keep`` pages of ``runs`` (those whose descriptors a cut-short file still holds)."""
    out: list[tuple[int, int]] = []
    for s, e in runs:
        if keep <= 0:
            break
        n = min(e - s, keep)
        out.append((s, s + n))
        keep -= n
    return out
