"""Where a loaded kexec image's bytes wait until ``kexec -e``: the kimage's page list.

``kexec_load`` and ``kexec_file_load`` do not copy a segment to its destination
(``segment[i].mem``): that memory is in use by the running kernel. They copy it into pages
the kernel allocates and record, in a list of ``kimage_entry_t`` (include/linux/kexec.h@v6.1:
a physical address with flags in the low bits), which page goes where; ``relocate_kernel``
copies them in place after the jump. The list (kernel/kexec_core.c@v6.1.192):

* starts at ``kimage->head``, an entry itself;
* ``IND_DESTINATION`` (0x1) sets the destination page, ``IND_SOURCE`` (0x8) names the
  page holding the bytes of the current destination page and advances it by one page
  (``kimage_load_normal_segment``: ``kimage_set_destination`` then one ``kimage_add_page``
  per page of the segment), ``IND_INDIRECTION`` (0x2) continues the list at the start of
  another page of entries, ``IND_DONE`` (0x4) ends it (``kimage_terminate``); a zero entry
  also ends the walk (``for_each_kimage_entry``);
* a page ``kimage_alloc_page`` finds free at its destination is its own source.

A crash image (``kexec -p``) is loaded in place (``kimage_load_crash_segment`` copies into
the crashkernel reservation): its list holds no source pages, and its bytes are at their
destinations already.

Everything in the list is untrusted: an indirection page seen twice (a cycle), one that is
not in the dump, a source before any destination, a list that runs off the end of a page,
or more entries than the image's segments can need each end the walk with a
``KEXEC-PAGE-LIST`` finding naming the entry's physical address. The walk reads one 4 KiB
page per indirection page and keeps one mapping per source page, at most
:data:`MAX_SOURCE_PAGES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from efitables.errors import MemoryReadError
from efitables.findings import Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.model import Parsed
from efitables.schemas.kernel import (
    IND_DESTINATION,
    IND_DONE,
    IND_INDIRECTION,
    IND_SOURCE,
    KIMAGE_ENTRY_FAST,
    KIMAGE_ENTRY_PAGE_FAST,
)

PAGE_SIZE = KIMAGE_ENTRY_PAGE_FAST.size
PAGE_MASK = ~(PAGE_SIZE - 1) & 0xFFFFFFFFFFFFFFFF
#: The most source pages followed (4 GiB of image); a list that claims more is cut with a finding.
MAX_SOURCE_PAGES = 1 << 20
#: Entries allowed beyond what the segments need (destinations and indirections).
SLACK_ENTRIES = 4096

PAGE_LIST = register(
    "KEXEC-PAGE-LIST",
    Severity.WARNING,
    "The loaded kexec image's page list (kimage->head) is damaged, cut or not in the dump",
    "The list says which allocated page holds each destination page of the image's segments "
    "(kernel/kexec_core.c for_each_kimage_entry); the walk stops at the first bad entry and the "
    "image's bytes past it are read at their destinations, as the dump holds them.",
)


@dataclass(kw_only=True)
class KimagePages(Parsed):
    """The walked page list of one kimage: destination page -> the page that holds its bytes now."""

    kind: ClassVar[str] = "kimage_pages"
    #: Where the walk started (``kimage->head``'s own physical address) and the entry's value.
    head: int = 0
    sources: dict[int, int] = field(default_factory=dict, repr=False)
    entries: int = 0
    indirection_pages: list[int] = field(default_factory=list, repr=False)
    #: The walk reached ``IND_DONE`` (a complete list); False: a zero entry or a finding ended it.
    done: bool = False

    @property
    def title(self) -> str:
        return f"kexec page list ({len(self.sources)} source pages, {len(self.indirection_pages)} entry pages)"

    @property
    def moved(self) -> int:
        """Destination pages whose bytes are somewhere else until kexec runs."""
        return sum(1 for d, s in self.sources.items() if d != s)

    def source_of(self, pa: int) -> int:
        """Where the byte the next kernel will find at ``pa`` is in this dump."""
        page = pa & PAGE_MASK
        src = self.sources.get(page)
        return pa if src is None else src + (pa - page)


def walk_page_list(
    mem: PhysicalMemory, head: int, head_pa: int | None, *, needed_pages: int, structure: str = "kimage"
) -> KimagePages:
    """Follow ``kimage->head`` (value ``head``, stored at ``head_pa``) through ``mem``.

    ``needed_pages``: the pages the image's segments span; the list may hold that many
    source entries plus destinations and indirections (:data:`SLACK_ENTRIES`), at most
    :data:`MAX_SOURCE_PAGES` sources.
    """
    out = KimagePages(address=head_pa, size=KIMAGE_ENTRY_FAST.size, raw=KIMAGE_ENTRY_FAST.pack(head), head=head)
    limit_sources = min(max(needed_pages, 0), MAX_SOURCE_PAGES)
    limit_entries = limit_sources + SLACK_ENTRIES

    def bad(pa: int | None, why: str) -> KimagePages:
        out.findings.append(make(PAGE_LIST, f"{structure}->head", pa, why))
        return out

    entries: tuple[int, ...] = (head,)
    entry_pa: int | None = head_pa  # where the current entry is stored (for findings)
    page_pa: int | None = None
    i = 0
    dest: int | None = None
    seen: set[int] = set()
    while True:
        if i >= len(entries):
            return bad(entry_pa, f"the entries of page {page_pa:#x} end without IND_INDIRECTION or IND_DONE")
        e = entries[i]
        entry_pa = head_pa if page_pa is None else page_pa + KIMAGE_ENTRY_FAST.size * i
        if e == 0:
            return out  # for_each_kimage_entry stops at a zero entry (a list still being built)
        if e & IND_DONE:
            out.done = True
            return out
        out.entries += 1
        if out.entries > limit_entries:
            return bad(entry_pa, f"more than {limit_entries} entries for segments of {needed_pages} pages; cut")
        addr = e & PAGE_MASK
        if addr >= MAX_PHYS_ADDR:
            return bad(entry_pa, f"entry {e:#x} names a page beyond physical memory")
        if e & IND_INDIRECTION:
            if addr in seen:
                return bad(entry_pa, f"indirection page {addr:#x} again: the list loops")
            seen.add(addr)
            try:
                data = mem.read(addr, PAGE_SIZE, f"{structure} entry page")
            except MemoryReadError as err:
                return bad(entry_pa, f"indirection page {addr:#x} is not in the dump ({err})")
            out.indirection_pages.append(addr)
            entries, page_pa, i = KIMAGE_ENTRY_PAGE_FAST.unpack(data), addr, 0
            continue
        if e & IND_DESTINATION:
            dest = addr
        elif e & IND_SOURCE:
            if dest is None:
                return bad(entry_pa, f"source page {addr:#x} before any IND_DESTINATION entry")
            if len(out.sources) >= limit_sources:
                return bad(entry_pa, f"more than {limit_sources} source pages; cut")
            out.sources[dest] = addr
            dest += PAGE_SIZE
        i += 1


def needed_pages(segments: list[tuple[int, int]]) -> int:
    """Pages spanned by ``[(mem, memsz)]`` (what the list may hold source entries for), capped."""
    total = 0
    for mem, memsz in segments:
        if memsz > 0:
            total += ((mem + memsz + PAGE_SIZE - 1) // PAGE_SIZE) - mem // PAGE_SIZE
        if total >= MAX_SOURCE_PAGES:
            return MAX_SOURCE_PAGES
    return total


__all__ = [
    "IND_DESTINATION",
    "IND_DONE",
    "IND_INDIRECTION",
    "IND_SOURCE",
    "MAX_SOURCE_PAGES",
    "PAGE_LIST",
    "KimagePages",
    "needed_pages",
    "walk_page_list",
]
