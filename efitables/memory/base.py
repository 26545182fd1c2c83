"""The physical-memory interface every dump container implements.

One object per dump, in the spirit of Volatility 3's layers and drgn's
``Program``: the rest of efitables reads physical memory only through
:meth:`PhysicalMemory.read`, never through the container's file.

A container lists the physical ranges it holds (:meth:`_load_ranges` or
:meth:`_set_ranges`) and reads bytes inside one of them (:meth:`_read`). The
base class adds bounds checking, reads that span adjacent ranges, a clear
:class:`~efitables.errors.MemoryReadError` naming the absent range, and chunked
iteration for sweeps.

The ranges are kept once, when they are set, as two sorted arrays (starts and
ends); every lookup (:meth:`read`, :meth:`range_at`, :meth:`first_gap`,
:meth:`gaps`, :meth:`chunks`) is a bisection of them, so a dump with hundreds
of thousands of ranges costs no more per read than one with a single range.

A sweep never stops at bytes that its container holds but cannot produce (a
kdump page whose descriptor or compressed data is bad, a file that shrank):
:meth:`chunks` re-reads such a window block by block, yields the blocks that
read, and reports each block that does not as a finding on :attr:`findings`
(at most :data:`MAX_FINDINGS_PER_CODE` per code, then one finding counting the
rest).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

from efitables.caps import MAX_FINDINGS_PER_KIND, omitted
from efitables.errors import MemoryReadError
from efitables.findings import Finding, Severity, make, register
from efitables.memory.source import ByteSource, SourceError, SourceStats, open_source

#: Largest single read. Sizes come from the dump, so nothing may allocate more.
MAX_READ = 64 * 1024 * 1024

#: Largest physical address an x86-64 machine can have (52 bits).
MAX_PHYS_ADDR = 1 << 52

#: Findings listed per code for problems a dump can repeat without bound (bad program headers,
#: overlapping ranges, unreadable pages); past it one finding per code says how many more there were
#: (the limit every area parser keeps: :data:`efitables.caps.MAX_FINDINGS_PER_KIND`).
MAX_FINDINGS_PER_CODE = MAX_FINDINGS_PER_KIND

#: The unit a sweep re-reads an unreadable window in (a page; kdump uses its block size).
READ_GRANULE = 4096

DUMP_UNREADABLE = register(
    "DUMP-UNREADABLE",
    Severity.WARNING,
    "Bytes inside the dump's ranges could not be read; the sweep skipped them",
    "The container lists these bytes but cannot produce them (a kdump page whose descriptor or "
    "compressed data is invalid, a file that shrank). A sweep of the whole dump skips the block and "
    "goes on with the rest; a structure read there is a DUMP-READ finding of its own.",
)


class FindingCap:
    """Findings a container adds to ``out`` as it parses or reads, at most ``limit`` per code; past that
    one finding per code (:func:`efitables.caps.omitted`) counts the rest, replaced in place as the count
    grows. A dump-sized number of problems (one per program header, range or page) is a bounded list.

    ``key`` (a physical address, say) makes a repeat of one problem count once; keys are remembered up to
    :data:`MAX_KEYS` per code, past which every report counts.
    """

    MAX_KEYS = 1 << 16

    def __init__(self, out: list[Finding], limit: int = MAX_FINDINGS_PER_CODE) -> None:
        self.out = out
        self.limit = limit
        self._counts: dict[str, int] = {}
        self._keys: dict[str, set[object]] = {}
        self._summary: dict[str, Finding] = {}

    def count(self, code: str) -> int:
        """Problems of ``code`` reported so far, listed and omitted."""
        return self._counts.get(code, 0)

    def seen(self, code: str, key: object) -> bool:
        return key in self._keys.get(code, ())

    def add(self, code: str, structure: str, address: int | None, message: str, key: object = None) -> bool:
        """Report one problem; True if it is listed (not a repeat, not past the limit)."""
        if key is not None:
            keys = self._keys.setdefault(code, set())
            if key in keys:
                return False
            if len(keys) < self.MAX_KEYS:
                keys.add(key)
        n = self._counts[code] = self._counts.get(code, 0) + 1
        if n <= self.limit:
            self.out.append(make(code, structure, address, message))
            return True
        summary = omitted(code, n - self.limit, structure, None, self.limit)
        old = self._summary.get(code)
        self._summary[code] = summary
        if old is not None:
            for i in range(len(self.out) - 1, -1, -1):
                if self.out[i] is old:
                    self.out[i] = summary
                    return False
        self.out.append(summary)
        return False


@dataclass(frozen=True, order=True, slots=True)
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
    #: Bytes re-read at a time when a sweep's window cannot be read whole.
    read_granule: int = READ_GRANULE

    def __init__(self, path: str) -> None:
        self.path = path
        self.info = ContainerInfo(self.format, path, 0)
        self._starts = array("q")
        self._ends = array("q")
        self._loaded = False
        self._total = 0
        self._capped_findings: FindingCap | None = None

    # -- what containers implement ---------------------------------------
    @abstractmethod
    def _load_ranges(self) -> list[PhysRange]:
        """Sorted, non-overlapping ranges of present bytes (called once, unless :meth:`_set_ranges` ran)."""

    @abstractmethod
    def _read(self, pa: int, size: int) -> bytes:
        """Read ``size`` bytes that lie inside one range returned by :meth:`_load_ranges`."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release the file."""

    def sources(self) -> list[ByteSource]:
        """The byte sources (files, URLs) the container reads; none for memory built from bytes."""
        return []

    def source_files(self) -> list[tuple[str, int]]:
        """The local files read, with their sizes when opened (validate checks that none changed).

        A remote object (a URL) is not listed: its size is the one its server gave at open, and
        reads past a changed end come back short (a read error naming the range).
        """
        return [(s.name, s.size) for s in self.sources() if not s.remote]

    def source_stats(self) -> list[SourceStats]:
        """What each source read so far (``--stats``)."""
        return [s.stats for s in self.sources()]

    # -- the interface ----------------------------------------------------
    def _set_ranges(self, ranges: list[PhysRange]) -> None:
        """Keep ``ranges`` (empty ones dropped) as the sorted start and end arrays every lookup bisects."""
        starts, ends = array("q"), array("q")
        for r in sorted((r for r in ranges if r.end > r.start), key=lambda r: r.start):
            if ends and r.start < ends[-1]:
                prev = f"{starts[-1]:#x}-{ends[-1]:#x}"
                raise ValueError(f"overlapping physical ranges {prev} and {r.start:#x}-{r.end:#x}")
            starts.append(r.start)
            ends.append(r.end)
        self._set_range_arrays(starts, ends)

    def _set_range_arrays(self, starts: array, ends: array) -> None:
        """Keep ranges given as sorted, non-overlapping, non-empty ``array('q')`` starts and ends (not copied)."""
        self._starts, self._ends = starts, ends
        self._total = sum(ends) - sum(starts)
        self._loaded = True

    def _ensure_ranges(self) -> None:
        if not self._loaded:
            self._set_ranges(self._load_ranges())

    def range_count(self) -> int:
        self._ensure_ranges()
        return len(self._starts)

    def ranges(self) -> list[PhysRange]:
        """Physical ranges present in the dump, sorted. Adjacent ranges are not merged."""
        self._ensure_ranges()
        return [PhysRange(s, e) for s, e in zip(self._starts, self._ends, strict=True)]

    @property
    def vmcoreinfo(self) -> dict[str, str] | None:
        return self.info.vmcoreinfo

    @property
    def findings(self) -> list[Finding]:
        return self.info.findings

    @property
    def capped(self) -> FindingCap:
        """:attr:`findings`, capped per code (:data:`MAX_FINDINGS_PER_CODE`): how containers report
        problems a dump can repeat without bound."""
        c = self._capped_findings
        if c is None or c.out is not self.info.findings:
            c = self._capped_findings = FindingCap(self.info.findings)
        return c

    def total_size(self) -> int:
        self._ensure_ranges()
        return self._total

    def _range_index(self, pa: int) -> int | None:
        """Index of the range holding ``pa``, or None: a bisection of the start array, no copy."""
        if not self._loaded:
            self._ensure_ranges()
        i = bisect_right(self._starts, pa) - 1
        if i >= 0 and pa < self._ends[i]:
            return i
        return None

    def range_at(self, pa: int) -> PhysRange | None:
        """The present range holding ``pa``, or None."""
        i = self._range_index(pa)
        return None if i is None else PhysRange(self._starts[i], self._ends[i])

    def first_gap(self, pa: int, size: int) -> tuple[int, int] | None:
        """The first absent sub-range of ``[pa, pa+size)``, or None if all is present.

        In a container whose reads can fail inside its ranges (:attr:`decode_can_fail`), a page that does
        not decode counts as absent: callers that ask ``first_gap`` and then read never meet a read error
        (the first :data:`READABLE_PROBE` bytes are tried; decoded pages are cached, so the read that
        follows is cheap).
        """
        gap = self._range_gap(pa, size)
        if not self.decode_can_fail or size <= 0:
            return gap
        end = pa + size if gap is None else gap[0]  # the pages before a range gap can fail to decode too
        if end <= pa:
            return gap
        try:
            self.read(pa, min(end - pa, self.READABLE_PROBE))
        except MemoryReadError as e:
            if e.missing is not None:
                return (max(e.missing[0], pa), min(e.missing[1], end))
            return (max(e.pa, pa), min(e.pa + max(e.size, 1), end))
        return gap

    def _range_gap(self, pa: int, size: int) -> tuple[int, int] | None:
        """:meth:`first_gap` by the ranges alone."""
        end = pa + size
        cur = pa
        while cur < end:
            i = self._range_index(cur)
            if i is None:
                j = bisect_right(self._starts, cur)
                nxt = self._starts[j] if j < len(self._starts) else end
                return (cur, min(nxt, end))
            cur = self._ends[i]
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

    #: A read inside the ranges can still fail (a kdump page whose descriptor or compressed data is bad, a corrupt
    #: AVML chunk): :meth:`is_readable` then tries the read, so "readable" always means a read will succeed.
    decode_can_fail: bool = False
    #: Bytes :meth:`is_readable` reads to find out, at most (larger spans are judged by their first bytes and
    #: the ranges: the read that follows reports the rest).
    READABLE_PROBE = 1 << 20

    def is_readable(self, pa: int, size: int = 1) -> bool:
        if pa < 0 or size < 0 or pa + size > MAX_PHYS_ADDR:
            return False
        if self._range_gap(pa, size) is not None:
            return False
        if not self.decode_can_fail:
            return True
        try:  # decoded pages are cached by the containers that set decode_can_fail: the read that follows is cheap
            self.read(pa, min(max(size, 1), self.READABLE_PROBE))
        except MemoryReadError:
            return False
        return True

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
                raise MemoryReadError(pa, size, missing=self._range_gap(cur, end - cur), structure=structure)
            n = min(end, self._ends[i]) - cur
            try:
                parts.append(self._read(cur, n))
            except SourceError as e:  # a remote read that failed: this range cannot be read now
                raise MemoryReadError(pa, size, reason=str(e), structure=structure) from None
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

        A window that cannot be read is re-read :attr:`read_granule` bytes at a
        time: the blocks that read are yielded (as windows of their own), each
        block that does not is reported once on :attr:`findings`
        (``DUMP-UNREADABLE``, unless the container already reported that block
        itself), and the sweep goes on. Nothing here raises MemoryReadError.
        """
        if chunk_size <= overlap:
            raise ValueError("chunk_size must exceed overlap")
        self._ensure_ranges()
        starts, ends = self._starts, self._ends
        i = max(0, bisect_right(starts, start) - 1)
        while i < len(starts) and starts[i] < end:
            lo, hi = max(starts[i], start), min(ends[i], end)
            if lo < hi:
                yield from self._sweep_range(lo, hi, chunk_size, overlap)
            i += 1

    def _sweep_range(
        self, lo: int, hi: int, chunk_size: int, overlap: int
    ) -> Iterator[tuple[int, bytes | memoryview]]:
        """:meth:`_range_chunks` of ``[lo, hi)``. The containers' own windows go on past what they cannot
        read; should one raise anyway, the window it was at is re-read block by block and the range goes on."""
        cur = lo
        while cur < hi:
            resume = cur
            try:
                for pa, data in self._range_chunks(cur, hi, chunk_size, overlap):
                    end = pa + len(data)
                    yield pa, data
                    resume = max(resume, end - overlap if end < hi else hi)
                return
            except (MemoryReadError, SourceError):
                bad_end = min(hi, resume + chunk_size)
                yield from self._granules(resume, bad_end, chunk_size, overlap)
                if bad_end >= hi:
                    return
                cur = max(resume + 1, bad_end - overlap)

    def _range_chunks(
        self, lo: int, hi: int, chunk_size: int, overlap: int
    ) -> Iterator[tuple[int, bytes | memoryview]]:
        """Windows of ``[lo, hi)`` (inside one range); a window that cannot be read whole is read by blocks."""
        cur = lo
        while cur < hi:
            n = min(chunk_size, hi - cur)
            try:
                data = self._read(cur, n)
            except (MemoryReadError, SourceError):
                yield from self._granules(cur, cur + n, chunk_size, overlap)
            else:
                yield cur, data
            if cur + n >= hi:
                break
            cur += n - overlap

    def _granules(
        self, lo: int, hi: int, chunk_size: int, overlap: int
    ) -> Iterator[tuple[int, bytes | memoryview]]:
        """``[lo, hi)`` read :attr:`read_granule` bytes (aligned) at a time. Runs of blocks that read are
        yielded as windows of at most ``chunk_size`` bytes (consecutive ones of a run overlapping by
        ``overlap``); each block that does not read is reported (:meth:`report_unreadable`) and skipped."""
        g = max(1, min(self.read_granule, chunk_size - overlap))
        run = bytearray()
        run_pa = cur = lo
        while cur < hi:
            n = min(g - cur % g, hi - cur)
            try:
                data = self._read(cur, n)
            except (MemoryReadError, SourceError) as e:
                if isinstance(e, SourceError):
                    e = MemoryReadError(cur, n, reason=str(e))
                if run:
                    yield run_pa, memoryview(run)
                    run = bytearray()
                self.report_unreadable(cur, n, e)
                cur += n
                run_pa = cur
                continue
            if run and len(run) + n > chunk_size:
                yield run_pa, memoryview(run)
                keep = min(overlap, len(run))
                run = bytearray(run[len(run) - keep :])
                run_pa = cur - keep
            run += data
            cur += n
        if run:
            yield run_pa, memoryview(run)

    def report_unreadable(self, pa: int, size: int, error: MemoryReadError) -> None:
        """Report once that the block at ``pa`` (``size`` bytes, inside the ranges) could not be read."""
        if self._already_reported(pa):
            return
        self.capped.add(
            DUMP_UNREADABLE, f"{self.info.format} dump", pa,
            f"physical {pa:#x}-{pa + size:#x} skipped by the sweep: {error.reason}", key=pa,
        )

    def _already_reported(self, pa: int) -> bool:
        """Whether the container reported the block at ``pa`` as a finding of its own (kdump's bad pages)."""
        return False

    def __enter__(self) -> PhysicalMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {os.path.basename(self.path)}>"


class FileMemory(PhysicalMemory):
    """A container read from one file or URL (a :class:`~efitables.memory.source.ByteSource`), kept open
    for lazy reads: :attr:`_src` reads bytes, :attr:`_fh` is a read-only file object over it.

    ``path`` is a path or URL (opened with :func:`~efitables.memory.source.open_source`) or a source
    already open (:func:`~efitables.memory.open_memory` passes the one it sniffed); the container owns
    it. Subclasses parse their headers in :meth:`_init`; if it raises, the source is closed before the
    error propagates.
    """

    def __init__(self, path: str | ByteSource) -> None:
        src = path if isinstance(path, ByteSource) else open_source(path)
        super().__init__(src.name)
        self._src = src
        self._fh = src.fileobj()
        try:
            self.info.file_size = src.size
            self._init()
        except BaseException:
            self.close()
            raise

    @abstractmethod
    def _init(self) -> None:
        """Read the container's headers (``self.info.file_size`` is set)."""

    def sources(self) -> list[ByteSource]:
        return [self._src]

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
        start = self._starts[i]
        off = pa - start
        return self._segments[start][off : off + size]
