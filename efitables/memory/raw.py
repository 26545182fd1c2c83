"""Raw physical-memory images: file offset == physical address.

Structures are read with ``pread`` (through the file's
:class:`~efitables.memory.source.ByteSource`) and scans of a local file map
windows read-only; sparse holes are skipped by scans (``SEEK_DATA``/``SEEK_HOLE``)
where the filesystem supports it. An image behind a URL is read by range, scans
included (window by window through the source's block cache). A file that
shrinks while it is read gives a MemoryReadError (a short ``pread``), never the
SIGBUS a mapping of the vanished bytes would raise: a scan checks the size
before each window and reads a window past the new end page by page, reporting
the pages that are gone (``DUMP-UNREADABLE``).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator

from efitables.errors import MemoryReadError
from efitables.memory.base import PhysicalMemory, PhysRange
from efitables.memory.source import ByteSource, LocalSource, open_source


class RawMemory(PhysicalMemory):
    format = "raw"

    def __init__(self, path: str | ByteSource) -> None:
        src = path if isinstance(path, ByteSource) else open_source(path)
        super().__init__(src.name)
        self._src = src
        #: The local file's descriptor (mappings, SEEK_DATA), or -1 for a remote source.
        self._fd = src.fd if isinstance(src, LocalSource) else -1
        self.info.file_size = src.size

    def sources(self) -> list[ByteSource]:
        return [self._src]

    def _load_ranges(self) -> list[PhysRange]:
        return [PhysRange(0, self.info.file_size)] if self.info.file_size else []

    def _read(self, pa: int, size: int) -> bytes:
        data = self._src.pread(size, pa)
        if len(data) < size:
            raise MemoryReadError(pa, size, reason=shrank_reason(self._src, self.info.file_size))
        return data

    def data_extents(self, lo: int, hi: int) -> Iterator[tuple[int, int]]:
        """The parts of ``[lo, hi)`` that hold data (not sparse holes)."""
        seek_data = getattr(os, "SEEK_DATA", None)
        seek_hole = getattr(os, "SEEK_HOLE", None)
        if seek_data is None or seek_hole is None or self._fd < 0:
            yield lo, hi
            return
        cur = lo
        while cur < hi:
            try:
                d = os.lseek(self._fd, cur, seek_data)
            except OSError:  # ENXIO: no data after cur
                return
            if d >= hi:
                return
            h = min(os.lseek(self._fd, d, seek_hole), hi)
            yield d, h
            cur = h

    def _range_chunks(
        self, lo: int, hi: int, chunk_size: int, overlap: int
    ) -> Iterator[tuple[int, bytes | memoryview]]:
        """Windows over the data extents of ``[lo, hi)``: each a fresh read-only mapping
        (no copy), unmapped once the caller moves on, so memory stays bounded whatever
        the image size. A yielded view is valid until the next step of the iteration.

        Pages fault in as the sweep reads them: on Linux, ``MAP_POPULATE`` made each
        16 MiB mapping cost more than the faults it saved (bench/bench_scan.py: the
        full sweep 0.57x grep with it, 0.43x without).

        A remote image has no descriptor to map: its windows are read through the source.
        """
        if not isinstance(self._src, LocalSource):
            yield from super()._range_chunks(lo, hi, chunk_size, overlap)
            return
        count = self._src.count_mapped
        for dlo, dhi in self.data_extents(lo, hi):
            cur = dlo
            while cur < dhi:
                start = cur - cur % mmap.ALLOCATIONGRANULARITY
                n = min(chunk_size, dhi - cur)
                if os.fstat(self._fd).st_size < cur + n:  # mapping vanished bytes would be a SIGBUS
                    # the file shrank: what is left of the window is read with pread, the rest reported
                    yield from self._granules(cur, cur + n, chunk_size, overlap)
                else:
                    mm = mmap.mmap(
                        self._fd, cur + n - start, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ, offset=start
                    )
                    view = memoryview(mm)[cur - start :]
                    count(n)
                    try:
                        yield cur, view
                    finally:
                        view.release()
                        try:
                            mm.close()
                        except BufferError:  # the caller still holds a view; the mapping goes with it
                            pass
                if cur + n >= dhi:
                    break
                cur += n - overlap if n > overlap else n

    def close(self) -> None:
        self._src.close()
        self._fd = -1


def shrank_reason(src: ByteSource, opened_size: int) -> str:
    """Why a read inside the file's ranges came back short: it shrank (or vanished) after opening."""
    try:
        now = f"{src.size_now():#x}"
    except OSError as e:
        now = f"unknown ({e.strerror or e})"
    return f"the file shrank while being read ({opened_size:#x} bytes when opened, now {now})"


def shrank(src: ByteSource, opened_size: int) -> bool:
    """Whether the file is now shorter than when it was opened (False when that cannot be asked)."""
    try:
        return src.size_now() < opened_size
    except OSError:
        return False
