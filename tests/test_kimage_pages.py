"""The kimage page list (efitables.kernel.kimage_pages) and the next kernel's view of memory
(efitables.memory.kexec_view), on lists built entry by entry with the IND_* flags of include/linux/kexec.h."""

from __future__ import annotations

import struct

import pytest

from efitables.errors import MemoryReadError
from efitables.kernel.kimage_pages import (
    IND_DESTINATION,
    IND_DONE,
    IND_INDIRECTION,
    IND_SOURCE,
    MAX_SOURCE_PAGES,
    SLACK_ENTRIES,
    needed_pages,
    walk_page_list,
)
from efitables.memory.base import BytesMemory
from efitables.memory.kexec_view import KexecTargetMemory

P1, P2 = 0x10000, 0x11000  # entry pages
SRC = 0x20000  # source pages start here
KIMAGE_HEAD_PA = 0x9000


def page(*entries: int) -> bytes:
    return struct.pack(f"<{len(entries)}Q", *entries).ljust(4096, b"\0")


def memory(pages: dict[int, bytes], sources: int = 4) -> BytesMemory:
    """Entry pages, and ``sources`` source pages whose bytes say which page they are."""
    segs = dict(pages)
    for i in range(sources):
        segs[SRC + i * 4096] = bytes([0xA0 + i]) * 4096
    return BytesMemory(segs)


def codes_and_messages(p: object) -> list[tuple[str, str]]:
    return [(f.code, f.message) for f in p.findings]  # type: ignore[attr-defined]


def test_a_list_over_two_entry_pages() -> None:
    p1 = page(IND_DESTINATION | 0x200000, IND_SOURCE | SRC, IND_SOURCE | (SRC + 0x1000), IND_INDIRECTION | P2)
    p2 = page(IND_DESTINATION | 0x400000, IND_SOURCE | (SRC + 0x2000), IND_DONE)
    mem = memory({P1: p1, P2: p2})
    p = walk_page_list(mem, IND_INDIRECTION | P1, KIMAGE_HEAD_PA, needed_pages=3)
    assert p.done and p.findings == []
    assert p.sources == {0x200000: SRC, 0x201000: SRC + 0x1000, 0x400000: SRC + 0x2000}
    assert p.indirection_pages == [P1, P2]
    assert p.entries == 7  # head, 4 in P1, 2 in P2 (IND_DONE is not counted)
    assert p.moved == 3 and p.source_of(0x201234) == SRC + 0x1234 and p.source_of(0x300000) == 0x300000
    assert (p.address, p.raw) == (KIMAGE_HEAD_PA, struct.pack("<Q", IND_INDIRECTION | P1))


def test_a_zero_entry_ends_the_walk_without_a_finding() -> None:
    mem = memory({P1: page(IND_DESTINATION | 0x200000, IND_SOURCE | SRC)})
    p = walk_page_list(mem, IND_INDIRECTION | P1, KIMAGE_HEAD_PA, needed_pages=1)
    assert not p.done and p.findings == [] and p.sources == {0x200000: SRC}


def test_a_page_found_free_at_its_destination_is_its_own_source() -> None:
    mem = memory({P1: page(IND_DESTINATION | SRC, IND_SOURCE | SRC, IND_DONE)})
    p = walk_page_list(mem, IND_INDIRECTION | P1, KIMAGE_HEAD_PA, needed_pages=1)
    assert p.sources == {SRC: SRC} and p.moved == 0


@pytest.mark.parametrize(
    ("pages", "head", "need", "where", "message"),
    [
        # P1's last entry leads back to P1
        ({P1: page(IND_DESTINATION | 0x200000, IND_INDIRECTION | P1)}, IND_INDIRECTION | P1, 4, P1 + 8,
         "indirection page 0x10000 again: the list loops"),
        ({}, IND_INDIRECTION | P1, 4, KIMAGE_HEAD_PA, "indirection page 0x10000 is not in the dump"),
        ({P1: page(IND_SOURCE | SRC)}, IND_INDIRECTION | P1, 4, P1, "source page 0x20000 before any IND_DESTINATION"),
        ({P1: page(IND_DESTINATION | 0x200000, *([IND_SOURCE | SRC] * 511))}, IND_INDIRECTION | P1, 1024,
         None, "the entries of page 0x10000 end without IND_INDIRECTION or IND_DONE"),
        ({P1: page(IND_DESTINATION | 0x200000, *([IND_SOURCE | SRC] * 10))}, IND_INDIRECTION | P1, 2, P1 + 24,
         "more than 2 source pages; cut"),
        ({P1: page(IND_DESTINATION | (1 << 60))}, IND_INDIRECTION | P1, 2, P1,
         "entry 0x1000000000000001 names a page beyond physical memory"),
    ],
    ids=["cycle", "missing-page", "source-first", "runs-off-the-page", "too-many-sources", "beyond-52-bits"],
)
def test_a_damaged_list_stops_with_a_finding(
    pages: dict[int, bytes], head: int, need: int, where: int | None, message: str
) -> None:
    p = walk_page_list(memory(pages), head, KIMAGE_HEAD_PA, needed_pages=need, structure="kernel kexec_image")
    (f,) = p.findings
    assert f.code == "KEXEC-PAGE-LIST" and f.structure == "kernel kexec_image->head"
    assert message in f.message
    if where is not None:
        assert f.address == where
    else:  # the last entry of the page
        assert f.address == P1 + 8 * 511
    assert not p.done


def test_entries_are_capped_by_what_the_segments_need() -> None:
    """A list of destinations only (no source) cannot run on: it is cut after the segments' pages + slack."""
    entries = [IND_DESTINATION | 0x200000] * 511 + [IND_INDIRECTION | P2]
    p2 = [IND_DESTINATION | 0x200000] * 511 + [IND_INDIRECTION | 0x12000]
    pages = {P1: page(*entries), P2: page(*p2)}
    for i in range(2, 12):
        nxt = IND_INDIRECTION | (0x11000 + i * 0x1000)
        pages[0x10000 + i * 0x1000] = page(*([IND_DESTINATION | 0x200000] * 511 + [nxt]))
    p = walk_page_list(memory(pages), IND_INDIRECTION | P1, KIMAGE_HEAD_PA, needed_pages=1)
    (f,) = p.findings
    assert f"more than {1 + SLACK_ENTRIES} entries for segments of 1 pages; cut" in f.message


def test_needed_pages() -> None:
    assert needed_pages([(0x100000, 0x1000), (0x100800, 0x1000), (0x200000, 0)]) == 3
    assert needed_pages([(0, 1 << 50)]) == MAX_SOURCE_PAGES


def test_the_next_kernels_view_reads_each_destination_page_from_its_source() -> None:
    dest = 0x200000
    old = {dest: b"\x11" * 0x3000}  # the running kernel's bytes at the destinations
    pages = {P1: page(IND_DESTINATION | dest, IND_SOURCE | SRC, IND_SOURCE | (SRC + 0x1000), IND_DONE)}
    mem = memory({**pages, **old})
    p = walk_page_list(mem, IND_INDIRECTION | P1, KIMAGE_HEAD_PA, needed_pages=2)
    view = KexecTargetMemory(mem, p)
    assert view.ranges() == mem.ranges() and view.info is mem.info
    # one read across two moved pages and one that is not moved
    got = view.read(dest + 0xFF0, 0x2010)
    assert got == b"\xa0" * 0x10 + b"\xa1" * 0x1000 + b"\x11" * 0x1000
    assert mem.read(dest, 4) == b"\x11" * 4  # the dump itself is unchanged
    assert view.is_readable(dest, 0x3000) and view.first_gap(dest, 0x3000) is None


def test_a_source_page_missing_from_the_dump_is_a_read_error_at_the_destination() -> None:
    pages = {P1: page(IND_DESTINATION | 0x200000, IND_SOURCE | 0x900000, IND_DONE)}
    mem = memory({**pages, 0x200000: b"\0" * 0x1000})
    p = walk_page_list(mem, IND_INDIRECTION | P1, KIMAGE_HEAD_PA, needed_pages=1)
    view = KexecTargetMemory(mem, p)
    assert not view.is_readable(0x200000, 16) and view.first_gap(0x200000, 16) == (0x200000, 16)
    with pytest.raises(MemoryReadError):
        view.read(0x200000, 16)


def test_a_huge_range_costs_the_moved_pages_it_holds_not_its_length() -> None:
    """A payload's size from the dump (a stale LINUX_EFI_INITRD_MEDIA table said terabytes, in a real dump
    with an image loaded) is checked through the view in time bounded by the moved pages, not the range."""
    dest = 0x200000
    pages = {P1: page(IND_DESTINATION | dest, IND_SOURCE | SRC, IND_SOURCE | (SRC + 0x1000), IND_DONE)}
    mem = memory({**pages, dest: b"\x11" * 0x3000})
    view = KexecTargetMemory(mem, walk_page_list(mem, IND_INDIRECTION | P1, KIMAGE_HEAD_PA, needed_pages=2))
    rest = (1 << 44) - dest - 0x2000
    assert view._pieces(0, 1 << 44) == [(0, dest), (dest, 0x1000), (dest + 0x1000, 0x1000), (dest + 0x2000, rest)]
    assert not view.is_readable(dest, 1 << 44)
    assert view.first_gap(dest, 1 << 44) == mem.first_gap(dest + 0x2000, (1 << 44) - 0x2000)
    assert view.first_gap(dest + 0x800, 0x1000) is None  # across the two moved pages
    assert view._pieces(dest + 0x800, 0x10) == [(dest + 0x800, 0x10)]
