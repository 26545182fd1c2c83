"""The physical-memory interface every dump container implements.

One object per dump, in the spirit of Volatility 3's layers and drgn's
``Program``: the rest of efitables reads physical memory only through
:meth:`PhysicalMemory.read`, never through the container's file.

A container lists the physical ranges it holds (:meth:`ranges`) and reads bytes
inside one of them (:meth:`_read`). The base class adds bounds checking, reads
that span adjacent ranges, a clear :class:`~efitables.errors.MemoryReadError`
naming the absent range, and chunked iteration for scanners.
"""

from __future__ import annotations

import bisect
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

from efitables.errors import MemoryReadError
from efitables.findings import Finding

#: Largest single read. Sizes come from the dump, so nothing may allocate more.
MAX_READ = 64 * 1024 * 1024

#: Largest physical address an x86-64 machine can have (52 bits).
MAX_PHYS_ADDR = 1 << 52


@dataclass(frozen=True, order=True)
class PhysRange:
    """Physical bytes ``[start, end)`` that a dump holds."""

    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def __contains__(self, pa: object) -> bool:
        return isinstance(pa, int) and self.start <= pa < self.end

    def to_dict(self) -> dict[str, int]:
        return {"start": self.start, "end": self.end, "size": self.size}


@dataclass
class ContainerInfo:
    """What the container itself says (format, notes, problems)."""

    format: str
    path: str
    file_size: int
    details: dict[str, object] = field(default_factory=dict)
    vmcoreinfo: dict[str, str] | None = None
    findings: list[Finding] = field(default_factory=list)


class PhysicalMemory(ABC):
    """Read-only physical memory of one dump."""

    #: Short format name (``raw``, ``elf``, ``kdump``, ``lime``, ``bytes``).
    format: str = "?"

    def __init__(self, path: str) -> None:
        self.path = path
        self.info = ContainerInfo(self.format, path, 0)
        self._starts: list[int] = []
        self._ranges: list[PhysRange] = []

    # -- what containers implement ---------------------------------------
    @abstractmethod
    def _load_ranges(self) -> list[PhysRange]:
        """Sorted, non-overlapping ranges of present bytes."""

    @abstractmethod
    def _read(self, pa: int, size: int) -> bytes:
        """Read ``size`` bytes that lie inside one range returned by :meth:`_load_ranges`."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release the file."""

    # -- the interface ----------------------------------------------------
    def _set_ranges(self, ranges: list[PhysRange]) -> None:
        merged: list[PhysRange] = []
        for r in sorted(r for r in ranges if r.end > r.start):
            if merged and r.start < merged[-1].end:
                raise ValueError(f"overlapping physical ranges {merged[-1]} and {r}")
            merged.append(r)
        self._ranges = merged
        self._starts = [r.start for r in merged]

    def ranges(self) -> list[PhysRange]:
        """Physical ranges present in the dump, sorted. Adjacent ranges are not merged."""
        if not self._ranges and not self._starts:
            self._set_ranges(self._load_ranges())
        return list(self._ranges)

    @property
    def vmcoreinfo(self) -> dict[str, str] | None:
        return self.info.vmcoreinfo

    @property
    def findings(self) -> list[Finding]:
        return self.info.findings

    def total_size(self) -> int:
        return sum(r.size for r in self.ranges())

    def _range_index(self, pa: int) -> int | None:
        self.ranges()
        i = bisect.bisect_right(self._starts, pa) - 1
        if i >= 0 and pa < self._ranges[i].end:
            return i
        return None

    def range_at(self, pa: int) -> PhysRange | None:
        """The present range holding ``pa``, or None."""
        i = self._range_index(pa)
        return None if i is None else self._ranges[i]

    def first_gap(self, pa: int, size: int) -> tuple[int, int] | None:
        """The first absent sub-range of ``[pa, pa+size)``, or None if all is present."""
        end = pa + size
        cur = pa
        while cur < end:
            i = self._range_index(cur)
            if i is None:
                j = bisect.bisect_right(self._starts, cur)
                nxt = self._ranges[j].start if j < len(self._ranges) else end
                return (cur, min(nxt, end))
            cur = self._ranges[i].end
        return None

    def gaps(self, pa: int, size: int, limit: int = 64) -> list[tuple[int, int]]:
        """The absent sub-ranges of ``[pa, pa+size)``, in order, at most ``limit`` of them."""
        out: list[tuple[int, int]] = []
        end = pa + size
        while pa < end and len(out) < limit:
            gap = self.first_gap(pa, end - pa)
            if gap is None:
                break
            out.append(gap)
            pa = gap[1]
        return out

    def is_readable(self, pa: int, size: int = 1) -> bool:
        if pa < 0 or size < 0 or pa + size > MAX_PHYS_ADDR:
            return False
        return self.first_gap(pa, size) is None

    def read(self, pa: int, size: int, structure: str | None = None) -> bytes:
        """Read ``size`` bytes at physical address ``pa``.

        Raises :class:`MemoryReadError` naming the first absent range, or when
        the request is negative, beyond 52-bit physical space, or larger than
        :data:`MAX_READ`.
        """
        if size < 0 or pa < 0:
            raise MemoryReadError(pa, size, reason="negative address or size", structure=structure)
        if size > MAX_READ:
            raise MemoryReadError(
                pa, size, reason=f"size exceeds the {MAX_READ:#x}-byte read limit", structure=structure
            )
        if pa + size > MAX_PHYS_ADDR:
            raise MemoryReadError(pa, size, reason="beyond the 52-bit physical address space", structure=structure)
        if size == 0:
            return b""
        parts: list[bytes] = []
        cur, end = pa, pa + size
        while cur < end:
            i = self._range_index(cur)
            if i is None:
                raise MemoryReadError(pa, size, missing=self.first_gap(cur, end - cur), structure=structure)
            r = self._ranges[i]
            n = min(end, r.end) - cur
            parts.append(self._read(cur, n))
            cur += n
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_u64(self, pa: int, structure: str | None = None) -> int:
        return int.from_bytes(self.read(pa, 8, structure), "little")

    def read_u32(self, pa: int, structure: str | None = None) -> int:
        return int.from_bytes(self.read(pa, 4, structure), "little")

    def chunks(
        self,
        chunk_size: int = 16 * 1024 * 1024,
        overlap: int = 0,
        start: int = 0,
        end: int = MAX_PHYS_ADDR,
    ) -> Iterator[tuple[int, bytes | memoryview]]:
        """Yield ``(pa, data)`` windows over every present range within ``[start, end)``.

        Consecutive windows of one range overlap by ``overlap`` bytes so that a
        pattern straddling a boundary is seen once whole. Containers override
        :meth:`_range_chunks` to skip sparse holes or to reuse a buffer.
        """
        if chunk_size <= overlap:
            raise ValueError("chunk_size must exceed overlap")
        for r in self.ranges():
            lo, hi = max(r.start, start), min(r.end, end)
            if lo < hi:
                yield from self._range_chunks(lo, hi, chunk_size, overlap)

    def _range_chunks(
        self, lo: int, hi: int, chunk_size: int, overlap: int
    ) -> Iterator[tuple[int, bytes | memoryview]]:
        cur = lo
        while cur < hi:
            n = min(chunk_size, hi - cur)
            yield cur, self._read(cur, n)
            if cur + n >= hi:
                break
            cur += n - overlap

    def __enter__(self) -> PhysicalMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {os.path.basename(self.path)}>"


class FileMemory(PhysicalMemory):
    """A container read from one file: opened read-only, kept open for lazy reads.

    Subclasses parse their headers in :meth:`_init`; if it raises, the file is
    closed before the error propagates.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._fh = open(path, "rb")  # noqa: SIM115 (kept open for lazy reads)
        try:
            self.info.file_size = os.fstat(self._fh.fileno()).st_size
            self._init()
        except BaseException:
            self.close()
            raise

    @abstractmethod
    def _init(self) -> None:
        """Read the container's headers (``self.info.file_size`` is set)."""

    def close(self) -> None:
        self._fh.close()


class BytesMemory(PhysicalMemory):
    """Physical memory from in-memory segments ``{pa: bytes}``; for tests and fixtures."""

    format = "bytes"

    def __init__(self, segments: dict[int, bytes], path: str = "<bytes>") -> None:
        super().__init__(path)
        self._segments = dict(segments)
        self.info.file_size = sum(len(b) for b in segments.values())

    def _load_ranges(self) -> list[PhysRange]:
        return [PhysRange(pa, pa + len(b)) for pa, b in self._segments.items() if b]

    def _read(self, pa: int, size: int) -> bytes:
        i = self._range_index(pa)
        assert i is not None
        r = self._ranges[i]
        off = pa - r.start
        return self._segments[r.start][off : off + size]
