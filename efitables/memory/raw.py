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
        # One reused buffer: memory stays bounded whatever the image size. The
        # yielded view is valid until the next step of the iteration.
        buf = bytearray(chunk_size)
        view = memoryview(buf)
        for dlo, dhi in self.data_extents(lo, hi):
            cur = dlo
            while cur < dhi:
                n = min(chunk_size, dhi - cur)
                got = os.preadv(self._fd, [view[:n]], cur)
                if got <= 0:
                    break
                yield cur, view[:got]
                if cur + got >= dhi:
                    break
                cur += got - overlap if got > overlap else got

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
