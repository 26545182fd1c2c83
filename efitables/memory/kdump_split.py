"""makedumpfile ``--split`` sets: several kdump files that are one dump (``open_memory([a, b, c])``).

``makedumpfile --split -d 31 /proc/vmcore dump1 dump2 dump3`` writes one kdump
file per process. Every part has the same ``disk_dump_header``; its sub-header
says ``split = 1`` and which page frames it holds, ``[start_pfn, end_pfn)``
(``start_pfn_64``/``end_pfn_64`` from header version 6), and only those pages
have descriptors and data in it. The parts' ranges follow one another from
PFN 0 to ``max_mapnr``: ``makedumpfile --reassemble`` refuses a set whose
headers differ or whose ranges leave a gap.

:class:`KdumpSplitMemory` opens each part with the kdump reader
(:class:`~efitables.memory.kdump.KdumpMemory`, which already limits a split
part's pages to its own window) and serves each physical read from the part
whose window holds the page. The set is checked the way ``--reassemble`` checks
it, but a problem is a finding, not a refusal: headers that differ
(``KDUMP-SPLIT-MISMATCH``), PFNs no part holds (``KDUMP-SPLIT-GAP``: they read
as missing), PFNs two parts claim (``KDUMP-SPLIT-OVERLAP``: the part with the
lower ``start_pfn`` wins). VMCOREINFO comes from the part that holds PFN 0.

Sources: makedumpfile/makedumpfile makedumpfile.c@1.7.9 (``write_kdump_header``:
``kh.split``, ``start_pfn``/``end_pfn`` and their 64-bit copies;
``write_kdump_pages_cyclic``: only ``[split_start_pfn, split_end_pfn)`` is
written; ``store_splitting_info``, ``sort_splitting_info`` and
``check_splitting_info``: the reassembly checks) and diskdump_mod.h@1.7.9;
crash-utility/crash diskdump.c@9.0.2 (a split set opened as one dump, each page
read from the file whose range holds it).
"""

from __future__ import annotations

import os
from bisect import bisect_right

from efitables.errors import DumpOpenError
from efitables.findings import Finding, Severity, make, register
from efitables.memory.base import PhysicalMemory, PhysRange
from efitables.memory.kdump import KdumpMemory
from efitables.memory.source import ByteSource

#: Parts in one set at most (makedumpfile runs one process per part).
MAX_PARTS = 256

#: Header fields every part must share (``store_splitting_info`` compares the whole header).
SHARED_FIELDS = ("signature", "header_version", "block_size", "sysname", "nodename", "release", "version",
                 "machine", "timestamp", "nr_cpus", "sub_hdr_size", "bitmap_blocks", "max_mapnr",
                 "phys_base", "dump_level", "compression")

KDUMP_SPLIT_MISMATCH = register(
    "KDUMP-SPLIT-MISMATCH",
    Severity.ERROR,
    "The parts of a kdump --split set do not belong together",
    "Their headers differ (another dump, another machine or another run), or a part is not a split "
    "part at all: makedumpfile --reassemble refuses such a set. The pages are still served from the "
    "part whose range holds them, but they may not be of one moment of one machine.",
)
KDUMP_SPLIT_GAP = register(
    "KDUMP-SPLIT-GAP",
    Severity.WARNING,
    "No part of a kdump --split set holds some page frames",
    "A part is missing: those PFNs read as missing.",
)
KDUMP_SPLIT_OVERLAP = register(
    "KDUMP-SPLIT-OVERLAP",
    Severity.WARNING,
    "Two parts of a kdump --split set claim the same page frames",
    "The part with the lower start_pfn is used for them.",
)


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


class KdumpSplitMemory(PhysicalMemory):
    """The parts of one makedumpfile ``--split`` dump, read as one physical memory."""

    format = "kdump-split"
    decode_can_fail = True  # a page's descriptor or compressed data can be bad

    def __init__(self, paths: list[str]) -> None:
        if not paths:
            raise DumpOpenError("<no path>", "an empty list of dump parts")
        super().__init__(" + ".join(paths))  # the set's name, as validate prints it
        if len(paths) > MAX_PARTS:
            raise DumpOpenError(paths[0], f"{len(paths)} parts; a split set has at most {MAX_PARTS}")
        self.parts: list[KdumpMemory] = []
        try:
            for p in paths:
                part = KdumpMemory(p)
                self.parts.append(part)
            self._assemble()
        except BaseException:
            self.close()
            raise

    def _part_name(self, i: int) -> str:
        return f"part {i + 1} ({os.path.basename(self.parts[i].path)})"

    def _assemble(self) -> None:
        own = self.info.findings
        first = self.parts[0].info.details
        windows: list[tuple[int, int, int]] = []  # start_pfn, end_pfn, part index
        for i, part in enumerate(self.parts):
            d = part.info.details
            diff = [f"{k} {d.get(k)!r} (part 1: {first.get(k)!r})" for k in SHARED_FIELDS if d.get(k) != first.get(k)]
            if diff:
                own.append(make(KDUMP_SPLIT_MISMATCH, "kdump split set", None,
                                f"{self._part_name(i)} differs from part 1: {'; '.join(diff)}"))
            mapnr = _int(d.get("max_mapnr"))
            if d.get("split"):
                lo, hi = _int(d.get("start_pfn")), min(_int(d.get("end_pfn")), mapnr)
            else:
                if len(self.parts) > 1:
                    own.append(make(KDUMP_SPLIT_MISMATCH, "kdump split set", None,
                                    f"{self._part_name(i)} is not a split part (its sub-header's split is 0); "
                                    f"it is taken for PFNs 0-{mapnr:#x}"))
                lo, hi = 0, mapnr
            windows.append((lo, hi, i))
        windows.sort()
        max_mapnr = _int(first.get("max_mapnr"))
        shift = self.parts[0].page_shift
        segs: list[tuple[int, int, int]] = []  # physical start, end, part index
        cur = 0  # first PFN no earlier part has covered
        prev_name = ""
        for lo, hi, i in windows:
            if lo > cur:
                own.append(make(KDUMP_SPLIT_GAP, "kdump split set", cur << shift,
                                f"no part holds PFNs {cur:#x}-{lo - 1:#x} (before {self._part_name(i)})"))
            elif lo < cur:
                own.append(make(KDUMP_SPLIT_OVERLAP, "kdump split set", lo << shift,
                                f"{self._part_name(i)} (PFNs {lo:#x}-{hi - 1:#x}) and {prev_name} both claim "
                                f"PFNs {lo:#x}-{min(hi, cur) - 1:#x}"))
            use_lo = max(lo, cur)
            if hi > use_lo:
                for r in self.parts[i].ranges():
                    s, e = max(r.start, use_lo << shift), min(r.end, hi << shift)
                    if s < e:
                        segs.append((s, e, i))
                cur = hi
                prev_name = self._part_name(i)
        if cur < max_mapnr:
            own.append(make(KDUMP_SPLIT_GAP, "kdump split set", cur << shift,
                            f"no part holds PFNs {cur:#x}-{max_mapnr - 1:#x} (up to max_mapnr {max_mapnr:#x})"))
        segs.sort()
        self._segs = segs
        self._seg_start = [s for s, _e, _i in segs]
        self._set_ranges([PhysRange(s, e) for s, e, _i in segs])
        zero = next((i for lo, _hi, i in windows if lo == 0), 0)
        self.info.vmcoreinfo = self.parts[zero].info.vmcoreinfo
        self.read_granule = self.parts[0].block_size  # a sweep re-reads a bad window page by page
        self.info.file_size = sum(p.info.file_size for p in self.parts)
        self.info.details.update({k: first[k] for k in SHARED_FIELDS if k in first})
        self.info.details["parts"] = [p.path for p in self.parts]
        self.info.details["part_pfns"] = [[lo, hi] for lo, hi, _i in sorted(windows, key=lambda w: w[2])]

    @property
    def findings(self) -> list[Finding]:
        """The set's own findings, then each part's (named by its part), as they stand now
        (the parts add findings as bad pages are read)."""
        out = list(self.info.findings)
        for i, part in enumerate(self.parts):
            name = self._part_name(i)
            out.extend(Finding(f.code, f.severity, f.structure, f.address, f"{name}: {f.message}")
                       for f in part.info.findings)
        return out

    def sources(self) -> list[ByteSource]:
        """Every part's file (or URL)."""
        return [s for p in self.parts for s in p.sources()]

    # -- PhysicalMemory ------------------------------------------------------------------
    def _load_ranges(self) -> list[PhysRange]:
        return [PhysRange(s, e) for s, e, _i in self._segs]

    def _read(self, pa: int, size: int) -> bytes:
        _s, _e, i = self._segs[bisect_right(self._seg_start, pa) - 1]
        return self.parts[i].read(pa, size)

    def _already_reported(self, pa: int) -> bool:
        """A page the part holding it reported itself (kdump's bad pages) is not reported twice."""
        k = bisect_right(self._seg_start, pa) - 1
        if k < 0:
            return False
        hook = getattr(self.parts[self._segs[k][2]], "_already_reported", None)
        return bool(hook(pa)) if callable(hook) else False

    def close(self) -> None:
        for p in self.parts:
            p.close()
