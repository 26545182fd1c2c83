"""What a signature sweep returns and how it is steered, without the sweep itself.

The sweep (:mod:`efitables.efi.scan`) needs numpy; most reports never sweep (any
hint avoids it), so the names other modules need at import time (the hit lists,
the progress and cancel types, the window and alignment constants) live here and
cost nothing to import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from efitables.findings import Finding

#: Bytes a sweep maps and compares at a time (one window; memory stays bounded by it).
CHUNK = 16 * 1024 * 1024
PAGE = 4096
#: The zero-page alignment the Dump sweeps with: the kernel's own copy is not page-aligned.
KERNEL_COPY_ALIGN = 8
#: A scan never keeps more hits than this (a dump full of copies is hostile).
MAX_HITS = 65536

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class ScanCancelled(Exception):
    pass


@dataclass
class ScanHits:
    systab: list[int] = field(default_factory=list)
    zero_pages: list[int] = field(default_factory=list)
    bytes_scanned: int = 0
    #: MAX_HITS reached: that kind is no longer collected, the sweep goes on for the other
    systab_truncated: bool = False
    zero_pages_truncated: bool = False
    #: what the sweep could not read and skipped (also on the memory's findings: DUMP-UNREADABLE, or the
    #: container's own code such as KDUMP-BAD-PAGE; capped per code, one finding counting the rest)
    findings: list[Finding] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.systab_truncated or self.zero_pages_truncated
