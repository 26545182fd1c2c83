"""The signature sweep (efitables.efi.scan.scan) against two references.

* ``reference_scan``: the definition, written plainly with ``bytes.find`` over the same
  windows (``mem.chunks``, overlapping by a page): the hits of each window, per kind the first
  MAX_HITS valid ones in address order, a kind no longer collected once it holds MAX_HITS.
* ``scan_before_issue16``: the sweep as it was before the one-pass 8-byte sweep (verbatim), to
  show the new one returns the very same hits, windows, holes, range ends and caps included.

The two agree everywhere except where the old sweep's per-window cap also counted signature
words that are not hits (at 4 mod 8, or below address 0x1C0/0x202): a window with more than
MAX_HITS of those could hide a real hit after them (``test_old_cap_counted_non_hits``).
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

import efitables.efi.scan as S
from efitables.memory import BytesMemory
from efitables.memory.base import PhysicalMemory
from efitables.memory.raw import RawMemory
from efitables.schemas import boot_params as bp
from efitables.schemas import efi_info, efi_tables

EL64 = efi_info.EFI64_LOADER_SIGNATURE.to_bytes(4, "little")
EL32 = efi_info.EFI32_LOADER_SIGNATURE.to_bytes(4, "little")
HDRS = bp.HDRS_MAGIC.to_bytes(4, "little")
SIG = efi_tables.EFI_SYSTEM_TABLE_SIGNATURE_BYTES
EL_AT, HDRS_AT = bp.EFI_LOADER_SIGNATURE_OFFSET, bp.HEADER_MAGIC_OFFSET
assert (EL_AT, HDRS_AT) == (0x1C0, 0x202)
#: words whose key (bytes 2-3) matches but that are no signature: the sweep must confirm
DECOYS = [SIG[:2] + SIG[2:4] + b"xxxx", b"ELxx", b"xx64", b"xx32", b"xxHd", b"\0\0HdrX", b"EL6", b"HdrS"[:3], SIG[:7]]
PAGE = S.PAGE
REAL_MAX_HITS = S.MAX_HITS


# -- the references ---------------------------------------------------------------------------
def _find_all(data: bytes, needle: bytes) -> list[int]:
    out, i = [], data.find(needle)
    while i >= 0:
        out.append(i)
        i = data.find(needle, i + 1)
    return out


def reference_scan(
    mem: PhysicalMemory,
    *,
    exhaustive: bool = False,
    zero_pages: bool = True,
    zero_page_align: int = PAGE,
    chunk_size: int = S.CHUNK,
    cap: int | None = None,
) -> S.ScanHits:
    cap = S.MAX_HITS if cap is None else cap
    systab: set[int] = set()
    pages: set[int] = set()
    done = last_end = 0
    for pa, view in mem.chunks(chunk_size=chunk_size, overlap=PAGE):
        data = bytes(view)
        n, end = len(data), pa + len(data)
        want_systab, want_pages = len(systab) < cap, zero_pages and len(pages) < cap
        if not (want_systab or want_pages):
            break
        if want_systab:
            found = [pa + p for p in _find_all(data, SIG) if exhaustive or (pa + p) % 8 == 0]
            systab.update(found[:cap])
        if want_pages and zero_page_align == PAGE:
            bases = [
                b
                for b in range(-(-pa // PAGE) * PAGE, end - PAGE + 1, PAGE)
                if data[b - pa + EL_AT : b - pa + EL_AT + 4] in (EL64, EL32)
                or data[b - pa + HDRS_AT : b - pa + HDRS_AT + 4] == HDRS
            ]
            pages.update(bases[:cap])
        elif want_pages and (n - (-pa) % 4) // 4 > 1:  # at least two aligned u32 in the window
            # efi_loader_signature: a whole aligned u32 in the window; base 8-aligned and >= 0
            el = sorted(pa + p - EL_AT for p in _find_all(data, EL64) + _find_all(data, EL32))
            el = [b for b in el if b >= 0 and b % 8 == 0]
            # "HdrS" at 2 mod 8: both aligned u32 it straddles in the window
            hd = [pa + p - HDRS_AT for p in _find_all(data, HDRS) if p >= 2 and p + 6 <= n]
            hd = [b for b in hd if b >= 0 and b % 8 == 0]
            pages.update(el[:cap])
            pages.update(hd[:cap])
        done += end - max(pa, last_end) if end > last_end else 0
        last_end = max(last_end, end)
    hits = S.ScanHits(systab=sorted(systab)[:cap], zero_pages=sorted(pages)[:cap], bytes_scanned=done)
    hits.systab_truncated, hits.zero_pages_truncated = len(systab) >= cap, len(pages) >= cap
    return hits


def scan_before_issue16(mem, *, exhaustive=False, zero_pages=True, zero_page_align=PAGE, chunk_size=S.CHUNK, cap=None):
    """efitables/efi/scan.py:scan before issue 16 (progress and cancel left out), verbatim otherwise."""
    MAX_HITS = S.MAX_HITS if cap is None else cap  # noqa: N806
    _W8, _W4, _U64, _U32, _U16 = 8, 4, S._U64, S._U32, S._U16  # noqa: N806
    total = mem.total_size()
    hits = S.ScanHits()
    systab: set[int] = set()
    pages: set[int] = set()
    done = 0
    last_end = 0
    for pa, data in mem.chunks(chunk_size=chunk_size, overlap=PAGE):
        n = len(data)
        want_systab = len(systab) < MAX_HITS
        want_pages = zero_pages and len(pages) < MAX_HITS
        if not (want_systab or want_pages):
            break
        if want_systab and exhaustive:
            for shift in range(_W8):
                cnt = (n - shift) // _W8
                if cnt > 0:
                    arr = np.frombuffer(data, dtype=_U64, count=cnt, offset=shift)
                    for i in np.flatnonzero(arr == efi_tables.EFI_SYSTEM_TABLE_SIGNATURE)[:MAX_HITS].tolist():
                        systab.add(pa + shift + _W8 * i)
                    del arr
        elif want_systab:
            off = (-pa) % _W8
            cnt = (n - off) // _W8
            if cnt > 0:
                arr = np.frombuffer(data, dtype=_U64, count=cnt, offset=off)
                for i in np.flatnonzero(arr == efi_tables.EFI_SYSTEM_TABLE_SIGNATURE)[:MAX_HITS].tolist():
                    systab.add(pa + off + _W8 * i)
                del arr
        if want_pages and zero_page_align == PAGE:
            off = (-pa) % PAGE
            npages = (n - off) // PAGE
            if npages > 0:
                per4, per2 = PAGE // _W4, PAGE // 2
                u32 = np.frombuffer(data, dtype=_U32, count=npages * per4, offset=off).reshape(npages, per4)
                sig = u32[:, S.EL_U32_INDEX]
                m = (sig == efi_info.EFI64_LOADER_SIGNATURE) | (sig == efi_info.EFI32_LOADER_SIGNATURE)
                u16 = np.frombuffer(data, dtype=_U16, count=npages * per2, offset=off).reshape(npages, per2)
                m |= (u16[:, S.HDRS_U16_INDEX] == bp.HDRS_MAGIC_LO16) & (
                    u16[:, S.HDRS_U16_INDEX + 1] == bp.HDRS_MAGIC_HI16
                )
                for i in np.flatnonzero(m)[:MAX_HITS].tolist():
                    pages.add(pa + off + PAGE * i)
                del u32, u16, sig, m
        elif want_pages:
            off = (-pa) % _W4
            cnt = (n - off) // _W4
            if cnt > 1:
                u32 = np.frombuffer(data, dtype=_U32, count=cnt, offset=off)
                el = np.flatnonzero((u32 == efi_info.EFI64_LOADER_SIGNATURE) | (u32 == efi_info.EFI32_LOADER_SIGNATURE))
                hdrs = np.flatnonzero((u32[:-1] >> np.uint32(16)) == bp.HDRS_MAGIC_LO16)
                hdrs = hdrs[(u32[hdrs + 1] & np.uint32(0xFFFF)) == bp.HDRS_MAGIC_HI16]
                for rel, idx in ((bp.EFI_LOADER_SIGNATURE_OFFSET, el), (S.HDRS_WORD_OFFSET, hdrs)):
                    for i in idx[:MAX_HITS].tolist():
                        base = pa + off + _W4 * i - rel
                        if base >= 0 and base % zero_page_align == 0:
                            pages.add(base)
                del u32, el, hdrs
        end = pa + n
        done += end - max(pa, last_end) if end > last_end else 0
        last_end = max(last_end, end)
    hits.systab_truncated = len(systab) >= MAX_HITS
    hits.zero_pages_truncated = len(pages) >= MAX_HITS
    hits.systab = sorted(systab)[:MAX_HITS]
    hits.zero_pages = sorted(pages)[:MAX_HITS]
    hits.bytes_scanned = done
    assert total >= done
    return hits


def _as_tuple(h: S.ScanHits) -> tuple:
    return (h.systab, h.zero_pages, h.bytes_scanned, h.systab_truncated, h.zero_pages_truncated)


def check_all(mem: PhysicalMemory, *, old: bool = True, **kw) -> S.ScanHits:
    """The sweep equals the reference (and the old sweep) for every mode."""
    last = None
    for align in (PAGE, S.KERNEL_COPY_ALIGN):
        for exhaustive in (False, True):
            for zero_pages in (True, False):
                args = dict(exhaustive=exhaustive, zero_pages=zero_pages, zero_page_align=align, **kw)
                got = S.scan(mem, **args)
                want = reference_scan(mem, **args)
                assert _as_tuple(got) == _as_tuple(want), args
                if old:
                    assert _as_tuple(scan_before_issue16(mem, **args)) == _as_tuple(want), args
                if align == S.KERNEL_COPY_ALIGN and not exhaustive and zero_pages:
                    last = got
    assert last is not None
    return last


# -- crafted buffers ---------------------------------------------------------------------------
def plant(buf: bytearray, rng: random.Random, count: int, boundaries: list[int]) -> None:
    """Signatures and decoys at aligned, odd and boundary-hugging offsets (some cut by the buffer's end)."""
    n = len(buf)
    for _ in range(count):
        pat = rng.choice([SIG, EL64, EL32, HDRS, *DECOYS])
        where = rng.random()
        if where < 0.4 and boundaries:  # around a window or range boundary
            at = rng.choice(boundaries) + rng.randrange(-24, 24)
        elif where < 0.5:  # the very end (possibly cut short)
            at = n - rng.randrange(1, 16)
        elif where < 0.8:  # an aligned base's signature position
            at = rng.randrange(0, n) // 8 * 8 + rng.choice([0, 2, 2, 4, 6])
        else:
            at = rng.randrange(0, n)
        at = max(0, at)
        piece = pat[: max(0, n - at)]
        buf[at : at + len(piece)] = piece


def window_starts(size: int, chunk: int) -> list[int]:
    """Where windows of one range start and end (relative to the range)."""
    out, cur = [], 0
    while cur < size:
        m = min(chunk, size - cur)
        out += [cur, cur + m, cur + m - PAGE]
        if cur + m >= size:
            break
        cur += m - PAGE
    return out


@pytest.mark.parametrize("seed", range(12))
def test_random_buffers_match_the_references(seed):
    rng = random.Random(seed)
    chunk = rng.choice([0x1800, 0x2345, 0x4000, 0x8000, 0x10003])
    segs: dict[int, bytes] = {}
    cur = rng.choice([0, 0x1C0 - 8, 3, 0x1000, 0x12345])
    for _ in range(rng.randint(1, 4)):
        size = rng.choice([rng.randrange(1, 40), rng.randrange(PAGE, 6 * PAGE), rng.randrange(0x9000, 0x30000)])
        buf = bytearray(rng.randbytes(size))
        plant(buf, rng, rng.randint(5, 200), window_starts(size, chunk))
        segs[cur] = bytes(buf)
        cur += size + rng.choice([0, 0, 1, 7, 0x1000, 0x20000 + rng.randrange(16)])  # adjacent ranges too
    check_all(BytesMemory(segs), chunk_size=chunk)


def test_every_alignment_of_every_signature_at_range_ends():
    """A 1..40-byte range at each start mod 8, its last bytes a signature (whole or cut)."""
    for start in range(0x2000, 0x2008):
        for size in range(1, 41):
            for pat in (SIG, EL64, EL32, HDRS):
                for cut in range(0, 3):
                    buf = bytearray(size)
                    at = max(0, size - len(pat) + cut)
                    buf[at:] = pat[: size - at]
                    check_all(BytesMemory({start: bytes(buf)}))


def test_signatures_straddling_window_boundaries():
    chunk = 0x3000
    size = 0x20000
    for pat, rel in ((SIG, 0), (EL64, 0), (EL32, 0), (HDRS, 2)):
        for delta in range(-16, 16, 2):
            buf = bytearray(size)
            for w in window_starts(size, chunk):
                at = w + delta
                at = at - (at % 8) + rel
                if 0 <= at <= size - len(pat):
                    buf[at : at + len(pat)] = pat
            hits = check_all(BytesMemory({0x100000: bytes(buf)}), chunk_size=chunk)
            assert hits.systab if pat == SIG else hits.zero_pages


def test_windows_a_few_bytes_apart():
    """chunk_size just above the overlap: each window starts a few bytes after the previous one."""
    rng = random.Random(11)
    buf = bytearray(rng.randbytes(0x1400))
    plant(buf, rng, 40, [])
    for chunk in (PAGE + 1, PAGE + 5, PAGE + 8):
        check_all(BytesMemory({0x3003: bytes(buf), 0x5000: bytes(buf[:0x1100])}), chunk_size=chunk)


def test_the_first_bytes_of_memory():
    """Signatures whose zero page would start below 0 are not hits (and do not count against the cap)."""
    buf = bytearray(0x3000)
    for at in range(0, 0x240, 8):
        buf[at : at + 4] = EL64 if at % 16 else EL32
        buf[at + 2 : at + 6] = HDRS if at % 24 == 0 else buf[at + 2 : at + 6]
    hits = check_all(BytesMemory({0: bytes(buf)}))
    assert hits.zero_pages[0] == 0


def test_sparse_holes_are_skipped(tmp_path):
    path = tmp_path / "sparse.raw"
    rng = random.Random(7)
    size = 64 * PAGE * 16
    with open(path, "wb") as fh:
        fh.truncate(size)
        for blk in range(0, size, 8 * 64 * 1024):  # 64 KiB of data every 512 KiB; the rest holes
            data = bytearray(rng.randbytes(64 * 1024))
            plant(data, rng, 100, [0, len(data)])
            fh.seek(blk)
            fh.write(data)
    with RawMemory(str(path)) as mem:
        extents = list(mem.data_extents(0, size))
        hits = check_all(mem, chunk_size=0x5000)
    if len(extents) > 1:  # the filesystem reports holes: only data was read
        assert hits.bytes_scanned < size


def test_random_data_with_the_default_window():
    """A window of CHUNK bytes (blocks of BLOCK_WORDS inside it), signatures sprinkled, against the old sweep."""
    rng = np.random.default_rng(3)
    size = S.CHUNK + 3 * S.BLOCK_WORDS * 8 + 40
    buf = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    r = random.Random(3)
    plant(buf, r, 3000, [i * S.BLOCK_WORDS * 8 for i in range(size // (S.BLOCK_WORDS * 8) + 1)])
    mem = BytesMemory({0x7000: bytes(buf)})
    for exhaustive in (False, True):
        args = dict(exhaustive=exhaustive, zero_page_align=S.KERNEL_COPY_ALIGN)
        got = S.scan(mem, **args)
        assert _as_tuple(got) == _as_tuple(scan_before_issue16(mem, **args))
        assert _as_tuple(got) == _as_tuple(reference_scan(mem, **args))
    assert len(got.zero_pages) > 50 and len(got.systab) > 100


# -- floods and caps ---------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", ["EL64", "EL32", "HdrS", "SIG", "keys", "mixed"])
@pytest.mark.parametrize("cap", [1, 5, 64, 1000])
def test_floods(monkeypatch, pattern, cap):
    monkeypatch.setattr(S, "MAX_HITS", cap)
    word = {
        "EL64": EL64 + b"\0" * 4,
        "EL32": EL32 + b"\0" * 4,
        "HdrS": b"\0\0" + HDRS + b"\0\0",
        "SIG": SIG,
        "keys": b"\0\0" + SIG[2:4] + b"\0\0\0\0",  # every word a candidate, none a hit
        "mixed": EL64 + HDRS,  # EL64 at 0 mod 8 and HdrS at 4 mod 8 (not a hit)
    }[pattern]
    size = 0x30000
    buf = bytearray((word * (size // 8 + 1))[:size])
    buf[0x28018 : 0x28018 + 8] = SIG
    buf[0x29000 + EL_AT : 0x29000 + EL_AT + 4] = EL32
    for pa in (0, 0x100000):
        mem = BytesMemory({pa: bytes(buf), pa + 0x50000: bytes(buf[:0x9000])})
        for chunk in (0x8000, S.CHUNK):
            # the old sweep agrees but where its cap counted signatures below address 0 (pa == 0)
            hits = check_all(mem, chunk_size=chunk, old=pa != 0)
            ref = reference_scan(mem, chunk_size=chunk, zero_page_align=S.KERNEL_COPY_ALIGN, cap=cap)
            assert _as_tuple(hits) == _as_tuple(ref)
            if pattern in ("EL64", "EL32", "HdrS"):
                assert hits.zero_pages_truncated and len(hits.zero_pages) == cap
                assert hits.systab == [pa + 0x28018] if cap > 1 else hits.systab_truncated
            if pattern == "SIG":
                assert hits.systab_truncated and len(hits.systab) == cap


def test_floods_with_the_real_cap_match_the_old_sweep():
    """MAX_HITS aligned hits in one window, then more: the old and new sweeps keep the same ones."""
    n = (S.MAX_HITS + 5000) * 8
    for word in (EL64 + b"\0" * 4, b"\0\0" + HDRS + b"\0\0", SIG):
        mem = BytesMemory({0x200000: word * (n // 8)})
        for args in (dict(zero_page_align=8), dict(zero_page_align=8, exhaustive=True), dict()):
            got = S.scan(mem, **args)
            assert (
                _as_tuple(got) == _as_tuple(scan_before_issue16(mem, **args)) == _as_tuple(reference_scan(mem, **args))
            )
            assert got.truncated or not args


@pytest.mark.parametrize("seed", range(8))
def test_floods_among_random_data_in_small_blocks(monkeypatch, seed):
    """Blocks full of candidates (confirmed word by word) next to sparse ones (confirmed by group),
    several blocks per window, small caps."""
    rng = random.Random(100 + seed)
    monkeypatch.setattr(S, "BLOCK_WORDS", rng.choice([64, 128, 448, 1024]))
    cap = rng.choice([2, 7, 40, 300, REAL_MAX_HITS])
    monkeypatch.setattr(S, "MAX_HITS", cap)
    buf = bytearray(rng.randbytes(0x18000))
    for _ in range(rng.randint(1, 5)):
        word = rng.choice([EL64 + b"\0" * 4, EL32 + b"abcd", b"xy" + HDRS + b"zw", SIG, b"\0\0" + SIG[2:4] + b"\0" * 4])
        at = rng.randrange(0, len(buf) - 0x2000) // 8 * 8
        run = rng.randrange(8, 0x2000) // 8 * 8
        buf[at : at + run] = word * (run // 8)
    plant(buf, rng, 300, [])
    pa = rng.choice([0, 0x1000, 0x100003])
    chunk = rng.choice([0x2000, 0x6000, S.CHUNK])
    check_all(BytesMemory({pa: bytes(buf)}), chunk_size=chunk, old=cap == REAL_MAX_HITS)


@pytest.mark.parametrize("word", [EL64 + b"\0" * 4, b"\0\0" + HDRS + b"\0\0"])
def test_a_flood_from_address_0_in_small_blocks(monkeypatch, word):
    """The words whose zero page would start below 0 do not count against the cap of a block
    confirmed word by word."""
    monkeypatch.setattr(S, "BLOCK_WORDS", 64)
    monkeypatch.setattr(S, "MAX_HITS", 20)
    mem = BytesMemory({0: word * 0x400})
    hits = S.scan(mem, zero_page_align=8)
    assert hits.zero_pages == list(range(0, 20 * 8, 8)) and hits.zero_pages_truncated
    check_all(mem, old=False)


def test_a_capped_row_does_not_hide_the_other_row_of_its_kind(monkeypatch):
    """EL64 fills a block past the cap; the EL32 among them (another key row, same kind) is kept."""
    monkeypatch.setattr(S, "BLOCK_WORDS", 64)
    monkeypatch.setattr(S, "MAX_HITS", 10)
    words = [EL64 + b"\0" * 4] * 256
    words[5] = EL32 + b"\0" * 4
    pa = 0x10000
    mem = BytesMemory({pa: b"".join(words)})
    hits = S.scan(mem, zero_page_align=8)
    assert hits.zero_pages == [pa + 8 * i - EL_AT for i in range(10)]
    check_all(mem, old=False)


def test_old_cap_counted_non_hits(monkeypatch):
    """The one difference: before, EL64 at 4 mod 8 (no hit) used up the window's cap and hid a real hit."""
    monkeypatch.setattr(S, "MAX_HITS", 8)
    buf = bytearray(0x4000)
    for at in range(0x1004, 0x1004 + 8 * 20, 8):  # 20 misaligned EL64
        buf[at : at + 4] = EL64
    buf[0x3000 + EL_AT : 0x3000 + EL_AT + 4] = EL64  # a zero page at 0x3000
    mem = BytesMemory({0: bytes(buf)})
    assert S.scan(mem, zero_page_align=8).zero_pages == [0x3000]
    assert reference_scan(mem, zero_page_align=8).zero_pages == [0x3000]
    assert scan_before_issue16(mem, zero_page_align=8).zero_pages == []


# -- progress, cancellation, buffers -----------------------------------------------------------
def test_progress_and_cancel_with_the_kernel_copy_sweep():
    mem = BytesMemory({0: bytes(0x100000), 0x200000: bytes(0x30000)})
    seen: list[tuple[int, int]] = []
    S.scan(mem, chunk_size=0x40000, zero_page_align=8, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (0x130000, 0x130000) and len(seen) == 6
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(S.ScanCancelled):
        S.scan(mem, chunk_size=0x40000, zero_page_align=8, cancel=cancel)
    assert len(calls) == 3


def test_raw_memory_windows_are_released(tmp_path):
    """The sweep keeps no view of a window once it moves on (a raw window is an mmap closed by the iterator)."""
    path = tmp_path / "m.raw"
    buf = bytearray(os.urandom(3 * 0x10000 + 100))
    buf[0x10000 - 8 : 0x10000] = SIG
    buf[0x20000 + EL_AT : 0x20000 + EL_AT + 4] = EL64
    path.write_bytes(bytes(buf))
    with RawMemory(str(path)) as mem:
        hits = check_all(mem, chunk_size=0x8000)
    assert 0x10000 - 8 in hits.systab and 0x20000 in hits.zero_pages


def test_key_constants_follow_the_schema():
    assert S.KEY_BYTE == bp.HEADER_MAGIC_OFFSET % 8 and S.HDRS_KEY_WORD + S.KEY_BYTE == bp.HEADER_MAGIC_OFFSET
    words = {
        S.ROW_HDRS: (b"\0" * S.KEY_BYTE + HDRS).ljust(8, b"\0"),
        S.ROW_EL64: EL64.ljust(8, b"\0"),
        S.ROW_EL32: EL32.ljust(8, b"\0"),
        S.ROW_SYSTAB: SIG,
    }
    for row, word in words.items():
        assert S.KEYS[row] == int.from_bytes(word[S.KEY_BYTE : S.KEY_BYTE + 2], "little")
