"""Physical memory as the kernel a loaded kexec image starts will find it.

A dump of a kernel with an image loaded (``kexec -l``) holds the image's bytes in pages
the kernel allocated, not at the segments' destinations
(:mod:`efitables.kernel.kimage_pages`). :class:`KexecTargetMemory` reads every destination
page from the page that holds it and every other byte from the dump, so the next kernel's
zero page, command line and setup_data list (all inside the segments) are parsed by the
same area parsers, at the addresses the next kernel will use.

Only the bytes differ from the dump: the ranges, ``info``, VMCOREINFO and container
attributes are the dump's (:class:`~efitables.memory.view.MemoryView`).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right

from efitables.kernel.kimage_pages import PAGE_SIZE, KimagePages
from efitables.memory.base import PhysicalMemory
from efitables.memory.view import MemoryView


class KexecTargetMemory(MemoryView):
    """``inner`` with each destination page of ``pages`` read from its source page."""

    def __init__(self, inner: PhysicalMemory, pages: KimagePages) -> None:
        super().__init__(inner)
        self.pages = pages
        #: Destination pages whose bytes are elsewhere, sorted (a page that is its own source is not moved).
        self._moved = array("q", sorted(d for d, src in pages.sources.items() if d != src))

    def __repr__(self) -> str:
        return f"<KexecTargetMemory of {self.inner!r}: {len(self.pages.sources)} pages moved>"

    def is_readable(self, pa: int, size: int = 1) -> bool:
        return self.first_gap(pa, size) is None

    def first_gap(self, pa: int, size: int) -> tuple[int, int] | None:
        """The first piece of ``[pa, pa + size)`` whose bytes (at their source) the dump does not hold."""
        if size <= 0:
            return None
        for p, n in self._pieces(pa, size):
            src = self.pages.source_of(p)
            if src == p:
                gap = self.inner.first_gap(p, n)
                if gap is not None:
                    return gap
            elif not self.inner.is_readable(src, n):
                return (p, n)
        return None

    def _pieces(self, pa: int, size: int) -> list[tuple[int, int]]:
        """``[pa, pa + size)`` cut where a moved page starts or ends: one piece per moved page in the range
        and one per run between them (the work is the moved pages the range holds, not its length)."""
        moved = self._moved
        end = pa + size
        i = bisect_right(moved, pa) - 1  # a moved page that starts before pa may still hold it
        if i < 0 or moved[i] + PAGE_SIZE <= pa:
            i += 1
        out: list[tuple[int, int]] = []
        cur = pa
        while i < len(moved) and moved[i] < end:
            lo, hi = max(cur, moved[i]), min(end, moved[i] + PAGE_SIZE)
            if cur < lo:
                out.append((cur, lo - cur))
            out.append((lo, hi - lo))
            cur, i = hi, i + 1
        if cur < end or not out:
            out.append((cur, end - cur))
        return out

    def _read(self, pa: int, size: int) -> bytes:
        return b"".join(self.inner.read(self.pages.source_of(p), n) for p, n in self._pieces(pa, size))


__all__ = ["KexecTargetMemory"]
