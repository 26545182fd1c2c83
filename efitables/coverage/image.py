"""The loaded kexec image in a coverage report: its segments, and whether the walked map has them.

``init_pgtable`` (torvalds/linux arch/x86/kernel/machine_kexec_64.c@v6.1.192) maps every
segment's ``[mem, mem + memsz)`` into the kexec identity map besides RAM, the EFI system
table and the ACPI tables: ``relocate_kernel`` copies the image to those pages on that
map. A segment the walked table leaves unmapped is a kexec that faults before the next
kernel runs. The walk covers the segments' ranges as well as the early objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from efitables.coverage.intervals import normalize, subtract
from efitables.coverage.pagewalk import WalkResult
from efitables.coverage.verdict import COVERED, NOT_COVERED
from efitables.findings import Finding, Severity, make, register
from efitables.kernel.copies import KernelKimage

SEGMENT_UNMAPPED = register(
    "COVERAGE-SEGMENT-UNMAPPED",
    Severity.ERROR,
    "A segment of the loaded kexec image is not (wholly) identity-mapped by the image's own kexec map",
    "init_pgtable maps every segment; relocate_kernel copies the image into them on that map, so a "
    "hole faults before the next kernel runs (or the walked table is not the map kexec would use).",
)

#: A segment's verdict when the walk maps part of it.
PARTLY = "partly covered"
#: A segment's verdict without a walked table.
NOT_WALKED = "not walked"


@dataclass
class SegmentVerdict:
    """One ``struct kexec_segment`` of the image and what the walked identity map does with it."""

    index: int
    mem: int
    end: int
    bufsz: int
    verdict: str
    detail: str = ""

    def to_dict(self) -> dict:
        # struct kexec_segment's names (include/linux/kexec.h); efitables.jsonout adds the _hex twins
        return {
            "index": self.index,
            "mem": self.mem,
            "end": self.end,
            "memsz": self.end - self.mem,
            "bufsz": self.bufsz,
            "verdict": self.verdict,
            "detail": self.detail,
        }


@dataclass
class ImageSummary:
    """What coverage knew of the loaded image: where it is, its entry, its map and its segments."""

    symbol: str
    address: int | None
    image_type: str
    entry: int
    pgd: int | None
    pgd_source: str
    segments: list[SegmentVerdict] = field(default_factory=list)
    #: Whose zero page, command line and setup_data the rows judge (the next kernel's, when found).
    inputs: str = ""

    @property
    def unmapped(self) -> list[SegmentVerdict]:
        """Segments the walked map leaves (partly) unmapped."""
        return [s for s in self.segments if s.verdict in (NOT_COVERED, PARTLY)]

    def findings(self) -> list[Finding]:
        return [
            make(SEGMENT_UNMAPPED, f"{self.symbol}.segment[{s.index}]", s.mem, f"{s.mem:#x}-{s.end:#x}: {s.detail}")
            for s in self.unmapped
        ]

    def to_dict(self) -> dict:
        # struct kimage's names: ``start`` is the entry point, ``pgd`` the identity map's root (both physical)
        return {
            "symbol": self.symbol,
            "address": self.address,
            "type": self.image_type,
            "start": self.entry,
            "pgd": self.pgd,
            "pgd_source": self.pgd_source,
            "segments": [s.to_dict() for s in self.segments],
            "inputs": self.inputs,
        }


def segment_verdicts(image: KernelKimage, walk_result: WalkResult | None) -> list[SegmentVerdict]:
    """Each segment of ``image`` against the identity ranges of ``walk_result`` (when it walked this image's map)."""
    walked = walk_result is not None and image.pgd is not None and walk_result.root == image.pgd
    have = normalize(walk_result.identity) if walk_result is not None and walked else []
    out: list[SegmentVerdict] = []
    for s in image.segments:
        if not walked:
            out.append(SegmentVerdict(s.index, s.mem, s.end, s.bufsz, NOT_WALKED))
            continue
        if s.memsz == 0:
            out.append(SegmentVerdict(s.index, s.mem, s.end, s.bufsz, COVERED, "empty"))
            continue
        missing = subtract((s.mem, s.end), have)
        if not missing:
            out.append(SegmentVerdict(s.index, s.mem, s.end, s.bufsz, COVERED))
        else:
            gaps = ", ".join(f"{a:#x}-{b:#x}" for a, b in missing[:4]) + (" ..." if len(missing) > 4 else "")
            verdict = NOT_COVERED if missing == [(s.mem, s.end)] else PARTLY
            out.append(SegmentVerdict(s.index, s.mem, s.end, s.bufsz, verdict, f"unmapped: {gaps}"))
    return out


def summarize(image: KernelKimage, walk_result: WalkResult | None, inputs: str) -> ImageSummary:
    return ImageSummary(
        symbol=image.symbol,
        address=image.address,
        image_type=image.image_type,
        entry=image.start,
        pgd=image.pgd,
        pgd_source=image.pgd_source,
        segments=segment_verdicts(image, walk_result),
        inputs=inputs,
    )


__all__ = [
    "NOT_WALKED",
    "PARTLY",
    "SEGMENT_UNMAPPED",
    "ImageSummary",
    "SegmentVerdict",
    "segment_verdicts",
    "summarize",
]
