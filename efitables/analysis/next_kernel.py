"""The inputs of the kernel a loaded kexec image would start, read out of the image.

In a dump of a kernel with an image loaded (``kexec -l``, ``kexec_load`` or
``kexec_file_load``; or ``kexec -p``), the next kernel's zero page, command line and
setup_data list are not the running kernel's: the loader built new ones into one of the
image's segments (kexec-tools kexec/arch/i386/x86-linux-setup.c and
kexec-bzimage64.c: "real_mode_data and command line"; arch/x86/kernel/kexec-bzimage64.c@v6.1
``bzImage64_load``: ``params`` with the command line and setup_data after it). Coverage
must judge those, at the addresses the next kernel will use.

:func:`next_kernel` walks the image's page list (:mod:`efitables.kernel.kimage_pages`),
reads memory as the next kernel will find it (:class:`~efitables.memory.kexec_view.KexecTargetMemory`)
and takes as its zero page the segment whose first page holds a setup header
(``HdrS`` and a 2.x protocol version; Documentation/arch/x86/boot.rst). A second
:class:`~efitables.dump.Dump` on that view, told where the zero page is, parses it with
the same area parsers as any dump. When no segment holds a zero page (an image of
another kind) the next kernel's inputs are unknown, and a finding says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from efitables.errors import MemoryReadError
from efitables.findings import Finding, Severity, make, register
from efitables.kernel.copies import KernelKimage
from efitables.kernel.kimage_pages import PAGE_SIZE, KimagePages, needed_pages, walk_page_list
from efitables.memory.base import PhysicalMemory
from efitables.memory.kexec_view import KexecTargetMemory
from efitables.schemas.boot_params import HDRS_MAGIC, HEADER_MAGIC_OFFSET, HEADER_VERSION_FAST

if TYPE_CHECKING:
    from efitables.dump import Dump

NO_ZERO_PAGE = register(
    "KEXEC-NO-ZERO-PAGE",
    Severity.INFO,
    "No segment of the loaded kexec image in the dump starts with a zero page: the next kernel's inputs are unknown",
    "Coverage then judges the running kernel's own zero page, command line and setup_data, "
    "as for a dump with no image loaded.",
)
ZERO_PAGES = register(
    "KEXEC-ZERO-PAGES",
    Severity.INFO,
    "More than one segment of the loaded kexec image starts with a zero page; the first is taken",
)


@dataclass
class NextKernel:
    """What the next kernel will be handed: where its zero page is, and a Dump that reads it."""

    image: KernelKimage
    pages: KimagePages | None
    memory: PhysicalMemory
    #: Physical address of the next kernel's zero page (the start of segment ``segment``).
    boot_params: int | None = None
    segment: int | None = None
    dump: Dump | None = None
    findings: list[Finding] = field(default_factory=list)
    #: Segments whose first page is not in the dump.
    absent: int = 0

    @property
    def description(self) -> str:
        if self.boot_params is None:
            where = "not in the dump" if self.absent else "without a zero page"
            return f"the running kernel's ({self.image.symbol}'s segments are {where})"
        moved = ""
        if self.pages is not None and self.pages.sources:
            moved = f", read through its page list ({len(self.pages.sources)} pages, {self.pages.moved} moved)"
        return f"{self.image.symbol}'s: zero page at segment {self.segment} @ {self.boot_params:#x}{moved}"


def _is_zero_page(page: bytes) -> bool:
    """A setup header's ``HdrS`` with a 2.x protocol version (``boot_flag`` is not checked: kexec-tools
    2.0.25's zero page has 0x0055 there, seen in a real dump)."""
    magic, version = HEADER_VERSION_FAST.unpack_from(page, HEADER_MAGIC_OFFSET)
    return magic == HDRS_MAGIC and 0x0200 <= version < 0x0300


def next_kernel(d: Dump, image: KernelKimage) -> NextKernel:
    """Find the next kernel's zero page in ``image``'s segments, read as the next kernel will find them."""
    from efitables.dump import Dump  # the Dump reads through this module's view: imported at call time

    mem = d.memory
    pages: KimagePages | None = None
    findings: list[Finding] = []
    if image.head and image.image_type != "crash":
        need = needed_pages([(s.mem, s.memsz) for s in image.segments])
        pages = walk_page_list(mem, image.head, image.head_pa, needed_pages=need, structure=f"kernel {image.symbol}")
        findings.extend(pages.findings)
    view: PhysicalMemory = KexecTargetMemory(mem, pages) if pages is not None and pages.sources else mem
    hits: list[tuple[int, int]] = []
    absent = tried = 0
    for seg in image.segments:
        if seg.memsz < PAGE_SIZE:
            continue
        tried += 1
        try:
            page = view.read(seg.mem, PAGE_SIZE, f"kernel {image.symbol}.segment[{seg.index}]")
        except MemoryReadError:
            absent += 1
            continue
        if _is_zero_page(page):
            hits.append((seg.index, seg.mem))
    out = NextKernel(image, pages, view, findings=findings, absent=absent)
    if not hits:
        n = len(image.segments)
        if absent and absent == tried:
            why = f"none of its {n} segments is in the dump"
            if image.image_type == "crash":
                why += " (a crash image lies in the crashkernel= reservation, which a vmcore leaves out)"
        else:
            why = f"{n} segments; none starts with a setup header ('HdrS', protocol 2.x)"
            why += f"; {absent} are not in the dump" if absent else ""
        out.findings.append(make(NO_ZERO_PAGE, f"kernel {image.symbol}", image.address, why))
        return out
    if len(hits) > 1:
        listed = ", ".join(f"segment {i} @ {pa:#x}" for i, pa in hits)
        out.findings.append(make(ZERO_PAGES, f"kernel {image.symbol}", image.address, listed))
    out.segment, out.boot_params = hits[0]
    # ``view`` reads through ``d.memory``, which withholds the running kernel's secrets; the next kernel's
    # own (an RNG seed a loader put in the image's setup_data) are found by this Dump's own pre-pass
    out.dump = Dump(view, boot_params=out.boot_params, scan="never", show_secrets=d.show_secrets)
    return out


__all__ = ["NO_ZERO_PAGE", "ZERO_PAGES", "NextKernel", "next_kernel"]
