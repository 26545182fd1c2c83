"""Reading the plain kdump file's bytes: directly, or through the records of a flattened stream.

The **flattened** format (``makedumpfile -F``, and what QEMU 7.2 writes for every
``kdump-*`` format) is a stream made for pipes: a 4096-byte
``makedumpfile_header`` (signature "makedumpfile", i64 type = 1, i64 version = 1,
big-endian), then records ``{i64 offset; i64 buf_size}`` (big-endian) each
followed by ``buf_size`` bytes that belong at ``offset`` of the plain file,
ended by a record whose offset and size are -1. ``makedumpfile -R`` converts it
to the plain layout. Here the records are indexed once at open (one pass over
the 16-byte record headers, never over the data; three ``array('q')`` entries
per record, at most :data:`MAX_FLAT_RECORDS` records) and the plain file is
read through that index, so nothing is converted or copied up front. Records
that rewrite bytes written earlier (makedumpfile rewrites its headers at the
end) win over the older ones, as they do in ``makedumpfile -R``; the overlaps are
resolved on the arrays (:func:`resolve_records`; numpy past
:data:`SMALL_RESOLVE` records), never with Python objects per record, so time and
memory stay bounded at the record cap.

:class:`PlainFile` and :class:`FlatFile` offer the same ``read(offset, n)`` of
plain-file bytes (short at the end), so the container does not care which it has.

Sources: makedumpfile/makedumpfile makedumpfile.h@1.7.9
(``makedumpfile_header``, ``makedumpfile_data_header``, ``MAX_SIZE_MDF_HEADER``,
``TYPE_FLAT_HEADER``, ``END_FLAG_FLAT_HEADER``) and makedumpfile.c@1.7.9
(``write_start_flat_header``, ``write_buffer``, ``write_end_flat_header``;
``read_start_flat_header`` and ``rearrange_dumpdata`` for ``-R``); qemu/qemu
include/sysemu/dump.h@v7.2.0 (``MakedumpfileHeader``,
``MakedumpfileDataHeader``) and dump/dump.c@v7.2.0 (``write_start_flat_header``,
``write_buffer``, ``write_end_flat_header``).
"""

from __future__ import annotations

import heapq
import struct
from array import array
from bisect import bisect_right
from typing import Any

from efitables.errors import DumpFormatError
from efitables.findings import Finding, Severity, make, register
from efitables.memory.source import ByteSource

MDF_SIGNATURE = b"makedumpfile"
MDF_HEADER_SIZE = 4096  # MAX_SIZE_MDF_HEADER
MDF_TYPE_FLAT = 1
MDF_END = -1

_FLAT_REC = struct.Struct(">qq")

#: At most this many flattened records are indexed (24 bytes each).
MAX_FLAT_RECORDS = 1 << 22
#: Records that overlap are resolved in pure Python up to this many (a real dump has a few
#: thousand records), with numpy past it.
SMALL_RESOLVE = 1 << 14
#: Bytes of the stream read at a time while indexing the record headers.
HEADER_READ = 1 << 19  # 512 KiB: one request of its own over a network (memory/source.py LARGE_READ)

KDUMP_FLAT_TRUNCATED = register(
    "KDUMP-FLAT-TRUNCATED",
    Severity.WARNING,
    "Flattened kdump stream ends without its end record",
    "The records before the cut are used; the plain file they describe may lack its end.",
)
KDUMP_FLAT_OVERLAP = register(
    "KDUMP-FLAT-OVERLAP",
    Severity.INFO,
    "Flattened kdump records rewrite earlier bytes; the later records are used",
)


class PlainFile:
    """The diskdump file itself (read with pread: a file that shrinks gives short reads, not SIGBUS)."""

    flattened = False

    def __init__(self, src: ByteSource, size: int) -> None:
        self.size = size
        self._src = src

    def read(self, off: int, n: int) -> bytes:
        if off < 0 or n <= 0 or off >= self.size:
            return b""
        return self._src.pread(min(n, self.size - off), off)

    def close(self) -> None:
        pass  # the container closes the file


def resolve_records(
    starts: array, lengths: array, srcs: array, findings: list
) -> tuple[array, array, array]:
    """The records (in stream order) as sorted, non-overlapping pieces ``(start, length, src)``, later
    records winning where they rewrite earlier bytes (one KDUMP-FLAT-OVERLAP finding says so).

    Up to :data:`SMALL_RESOLVE` records: records already in order and disjoint (one pass over the
    arrays) are the pieces; others are resolved by a sweep over their boundaries with a heap of the
    active records. More records are resolved with numpy (:func:`_resolve_numpy`: sorts, and a paint
    of the elementary stretches by the latest record covering each), in time O(n log n) and memory
    proportional to the record count (about 120 bytes a record at the peak), whatever the records say."""
    n = len(starts)
    if n > SMALL_RESOLVE:
        return _resolve_numpy(starts, lengths, srcs, findings)
    if all(starts[k] + lengths[k] <= starts[k + 1] for k in range(n - 1)):
        return starts, lengths, srcs
    return _resolve_small(starts, lengths, srcs, findings)


def _resolve_small(starts: array, lengths: array, srcs: array, findings: list) -> tuple[array, array, array]:
    n = len(starts)
    order = sorted(range(n), key=starts.__getitem__)
    overlap = any(
        starts[order[k]] + lengths[order[k]] > starts[order[k + 1]] for k in range(n - 1)
    )
    if not overlap:
        return (array("q", (starts[i] for i in order)), array("q", (lengths[i] for i in order)),
                array("q", (srcs[i] for i in order)))
    # Later records win: sweep the boundaries, the active record with the
    # highest sequence number owns each stretch.
    findings.append(_overlap_finding())
    bounds = sorted({starts[i] for i in range(n)} | {starts[i] + lengths[i] for i in range(n)})
    out_s, out_l, out_src = array("q"), array("q"), array("q")
    heap: list[tuple[int, int]] = []  # (-seq, end)
    k = 0
    for bi in range(len(bounds) - 1):
        x, nx = bounds[bi], bounds[bi + 1]
        while k < n and starts[order[k]] <= x:
            i = order[k]
            heapq.heappush(heap, (-i, starts[i] + lengths[i]))
            k += 1
        while heap and heap[0][1] <= x:
            heapq.heappop(heap)
        if not heap:
            continue
        i = -heap[0][0]
        src = srcs[i] + (x - starts[i])
        if out_s and out_s[-1] + out_l[-1] == x and out_src[-1] + out_l[-1] == src:
            out_l[-1] += nx - x
        else:
            out_s.append(x)
            out_l.append(nx - x)
            out_src.append(src)
    return out_s, out_l, out_src


def _overlap_finding() -> Finding:
    return make(KDUMP_FLAT_OVERLAP, "flattened kdump", None,
                "some records rewrite bytes of earlier ones; the later bytes are used")


def _resolve_numpy(starts: Any, lengths: Any, srcs: Any, findings: list) -> tuple[array, array, array]:
    """:func:`_resolve_small` for many records, on arrays (numpy, imported here: only such a dump needs it).

    Sorted by start, the records fall into clusters (a record starting before the furthest end so far
    joins the cluster); a record alone in its cluster is a piece as it is. The records of the other
    clusters cut the address space at their boundaries into elementary stretches; each stretch belongs
    to the latest record covering it. That is a "max over covering intervals": each record writes its
    sequence number into the two power-of-two blocks that cover its stretches exactly (they may
    overlap: max does not mind), then the blocks are pushed down a level at a time to single
    stretches. Two scatters per record and one pass per level: O(n log n), arrays only.
    """
    import numpy as np

    st, ln, sr = (x if isinstance(x, np.ndarray) else np.frombuffer(x, dtype=np.int64) for x in (starts, lengths, srcs))
    n = len(st)
    order = np.argsort(st)
    s_sorted = st[order]
    reach = np.maximum.accumulate(s_sorted + ln[order])
    joins = s_sorted[1:] < reach[:-1]  # record k+1 (sorted) starts inside what the ones before cover
    if not joins.any():
        return (array("q", s_sorted.tobytes()), array("q", ln[order].tobytes()), array("q", sr[order].tobytes()))
    findings.append(_overlap_finding())
    del reach
    first = np.ones(n, dtype=bool)
    first[1:] = ~joins
    del joins
    cluster = np.cumsum(first) - 1
    alone = np.bincount(cluster)[cluster] == 1
    del first, cluster
    single = order[alone]
    many = np.sort(order[~alone])  # stream order = sequence numbers: later wins
    del order, alone, s_sorted
    # the distinct boundaries, sorted, and where each record's start and end fall among them (one sort)
    k = len(many)
    edges = np.concatenate([st[many], st[many] + ln[many]])
    by = np.argsort(edges)
    edges = edges[by]
    new = np.empty(len(edges), dtype=bool)
    new[0] = True
    np.not_equal(edges[1:], edges[:-1], out=new[1:])
    bounds = edges[new]
    del edges
    m = len(bounds) - 1
    rank = np.cumsum(new, dtype=np.int64) - 1
    del new
    where = np.empty(2 * k, dtype=np.int32 if m < 1 << 31 else np.int64)
    where[by] = rank
    del by, rank
    lo, hi = where[:k], where[k:]
    owner = _latest_cover(np, lo, hi, many, m)
    del lo, hi
    seg = np.flatnonzero(owner >= 0)
    who = many[owner[seg]]
    ps = bounds[seg]
    pl = bounds[seg + 1] - ps
    psrc = sr[who] + (ps - st[who])
    del owner, who, bounds
    # stretches that continue one another in the plain file and in the stream are one piece
    keep = np.ones(len(seg), dtype=bool)
    keep[1:] = (ps[1:] != ps[:-1] + pl[:-1]) | (psrc[1:] != psrc[:-1] + pl[:-1])
    heads = np.flatnonzero(keep)
    ps, psrc, pl = ps[heads], psrc[heads], np.add.reduceat(pl, heads)
    out_s = np.concatenate([st[single], ps])
    out_l = np.concatenate([ln[single], pl])
    out_src = np.concatenate([sr[single], psrc])
    o = np.argsort(out_s)
    return (array("q", out_s[o].tobytes()), array("q", out_l[o].tobytes()), array("q", out_src[o].tobytes()))


def _latest_cover(np: Any, lo: Any, hi: Any, many: Any, m: int) -> Any:
    """For each of ``m`` stretches, the index (into ``many``) of the record with the highest sequence
    number among those whose stretches ``[lo, hi)`` cover it, or -1."""
    k = len(many)
    val = np.arange(k, dtype=np.int32 if k < 1 << 31 else np.int64)  # many is sorted: a higher index is later
    span = (hi - lo).astype(np.int64)
    level = (np.frexp(span.astype(np.float64))[1] - 1).astype(np.int8)  # floor(log2(span)), exact below 2**53
    top = int(level.max())
    cur = np.full(m, -1, dtype=val.dtype)
    for p in range(top, -1, -1):
        if p < top:  # the blocks of 2**(p+1) stretches pushed down into their two halves
            half = 1 << p
            nxt = cur.copy()
            np.maximum(nxt[half:], cur[: m - half], out=nxt[half:])
            cur = nxt
        sel = np.flatnonzero(level == p)
        if sel.size:
            np.maximum.at(cur, lo[sel], val[sel])
            np.maximum.at(cur, hi[sel] - (1 << p), val[sel])
    return cur


class FlatFile:
    """The plain file that a flattened stream describes, read through an index of its records.

    Pieces (sorted, non-overlapping) map plain-file ``[start, start+length)`` to
    stream offset ``src``; they are three ``array('q')``, never a Python object per
    record. Bytes no record wrote read as zeros (as in the file ``makedumpfile -R``
    writes); ``size`` is the end of the last byte written. Everything is read with
    pread (the record headers through a small buffer at open).
    """

    flattened = True

    def __init__(self, path: str, src: ByteSource, size: int, findings: list) -> None:
        self._src = src
        head = src.pread(MDF_HEADER_SIZE, 0)
        ftype, version = struct.unpack_from(">qq", head, 16)
        if ftype != MDF_TYPE_FLAT:
            raise DumpFormatError(path, f"flattened kdump header type {ftype} is not {MDF_TYPE_FLAT}")
        self.version = version
        # (offset, length, stream offset) of each record, flat in one array: one call per record
        recs = array("q")
        add = recs.extend
        count = 0
        pos = MDF_HEADER_SIZE
        ended = False
        unpack = _FLAT_REC.unpack_from
        buf, buf_pos, buf_last = b"", 0, -1  # record headers are read HEADER_READ bytes at a time
        while pos + 16 <= size:
            if not buf_pos <= pos <= buf_last:
                buf, buf_pos = src.pread(HEADER_READ, pos), pos
                buf_last = pos + len(buf) - 16
                if len(buf) < 16:
                    break
            off, buf_size = unpack(buf, pos - buf_pos)
            if off == MDF_END and buf_size == MDF_END:
                ended = True
                break
            if off < 0 or buf_size < 0 or off + buf_size > (1 << 62):
                raise DumpFormatError(
                    path, f"flattened kdump record at file offset {pos:#x} has offset {off:#x} size {buf_size:#x}"
                )
            if count >= MAX_FLAT_RECORDS:
                raise DumpFormatError(
                    path, f"flattened kdump has more than {MAX_FLAT_RECORDS} records; convert it with makedumpfile -R"
                )
            data = pos + 16
            pos = data + buf_size
            if pos > size:  # the end of the file cuts this record
                avail = size - data
                findings.append(
                    make(KDUMP_FLAT_TRUNCATED, "flattened kdump record", None,
                         f"record at file offset {data - 16:#x} (plain offset {off:#x}, {buf_size:#x} bytes) is cut "
                         f"after {max(avail, 0):#x} bytes by the end of the file")
                )
                if avail <= 0:
                    continue
                buf_size = avail
            elif buf_size == 0:
                continue
            add((off, buf_size, data))
            count += 1
        if not ended and not any(f.code == KDUMP_FLAT_TRUNCATED for f in findings):
            findings.append(
                make(KDUMP_FLAT_TRUNCATED, "flattened kdump", None,
                     f"no end record; the stream stops at file offset {min(pos, size):#x}")
            )
        self.records = count
        if count > SMALL_RESOLVE:  # numpy's strided views of the one array: no copy of the records
            import numpy as np

            v = np.frombuffer(recs, dtype=np.int64).reshape(-1, 3)
            self._starts, self._lengths, self._srcs = _resolve_numpy(v[:, 0], v[:, 1], v[:, 2], findings)
            del v
        else:
            starts, lengths, srcs = recs[0::3], recs[1::3], recs[2::3]
            self._starts, self._lengths, self._srcs = resolve_records(starts, lengths, srcs, findings)
        del recs
        n = len(self._starts)
        self.size = self._starts[-1] + self._lengths[-1] if n else 0

    def read(self, off: int, n: int) -> bytes:
        if off < 0 or n <= 0 or off >= self.size:
            return b""
        end = min(off + n, self.size)
        starts, lengths, srcs = self._starts, self._lengths, self._srcs
        count = len(starts)
        parts: list[bytes] = []
        cur = off
        i = bisect_right(starts, cur) - 1  # invariant: the last piece starting at or before cur
        while cur < end:
            if i >= 0 and cur < starts[i] + lengths[i]:
                piece_end = min(end, starts[i] + lengths[i])
                src = srcs[i] + (cur - starts[i])
                data = self._src.pread(piece_end - cur, src)
                parts.append(data)
                if len(data) < piece_end - cur:  # the file shrank: a short read, as past its end
                    break
                cur = piece_end
            else:  # a stretch no record wrote reads as zeros
                gap_end = min(end, starts[i + 1]) if i + 1 < count else end
                parts.append(bytes(gap_end - cur))
                cur = gap_end
            if i + 1 < count and starts[i + 1] <= cur:
                i += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        pass  # the container closes the file
