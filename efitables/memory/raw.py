"""Raw physical-memory images: file offset == physical address.

The file is memory-mapped read-only; sparse holes cost nothing to map and are
skipped by scans (``SEEK_DATA``/``SEEK_HOLE``) where the filesystem supports it.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator

from efitables.memory.base import PhysicalMemory, PhysRange


class RawMemory(PhysicalMemory):
    format = "raw"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._fd = os.open(path, os.O_RDONLY)
        size = os.fstat(self._fd).st_size
        self.info.file_size = size
        self._mm = mmap.mmap(self._fd, size, access=mmap.ACCESS_READ) if size else None

    def _load_ranges(self) -> list[PhysRange]:
        return [PhysRange(0, self.info.file_size)] if self.info.file_size else []

    def _read(self, pa: int, size: int) -> bytes:
        assert self._mm is not None
        return self._mm[pa : pa + size]

    def data_extents(self, lo: int, hi: int) -> Iterator[tuple[int, int]]:
        """The parts of ``[lo, hi)`` that hold data (not sparse holes)."""
        seek_data = getattr(os, "SEEK_DATA", None)
        seek_hole = getattr(os, "SEEK_HOLE", None)
        if seek_data is None or seek_hole is None:
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
        (``MAP_POPULATE``: no copy, no per-page faults), unmapped once the caller moves
        on, so memory stays bounded whatever the image size. A yielded view is valid
        until the next step of the iteration."""
        populate = getattr(mmap, "MAP_POPULATE", 0)
        for dlo, dhi in self.data_extents(lo, hi):
            cur = dlo
            while cur < dhi:
                start = cur - cur % mmap.ALLOCATIONGRANULARITY
                n = min(chunk_size, dhi - cur)
                mm = mmap.mmap(
                    self._fd, cur + n - start, flags=mmap.MAP_SHARED | populate, prot=mmap.PROT_READ, offset=start
                )
                view = memoryview(mm)[cur - start :]
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
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
