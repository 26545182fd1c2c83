"""A view of physical memory that withholds secret byte ranges, whatever structure reads them.

Secrets (the SNP VMPCKs, Linux's RNG seeds, the CoCo secret area) used to be hidden by the
object that owns them: the secrets page parser summarised its keys, the RNG seed decoders
theirs. Any other structure whose pointer landed on the same bytes (a ``SETUP_INDIRECT``
node of an unknown type, a configuration table, an EFI memory map pointer) read and
printed them as its own. :class:`RedactedMemory` moves redaction to the bytes: every read
returns zeros where a :class:`SecretRange` lies, unless the read is the one the range's
owner makes (the secrets page parser reading the page, the RNG seed decoder reading the
seed), which turns them into a :class:`~efitables.secret.Secret` summary itself.

The ranges are found lazily, on the first read, by a function the
:class:`~efitables.dump.Dump` gives (a throwaway parse of the unredacted memory:
:func:`efitables.analysis.secrets.find_secret_ranges`). Every read of a secret range by
anything else than its owner is remembered (:attr:`RedactedMemory.references`, one per
structure and range, at most :data:`MAX_REFERENCES`) for the ``SECRET-RANGE-REFERENCED``
finding.

A secret's bytes met at another address (a container that shows one page twice: kdump page
descriptors sharing a data offset) are withheld there too, by content
(:meth:`RedactedMemory._secret_bytes`), and remembered as references of that address.

The view is a :class:`~efitables.memory.base.PhysicalMemory` in every respect that matters
to a reader: the ranges, ``info``, ``findings``, VMCOREINFO and any container attribute
(ELF notes, a split kdump's files) are the container's, and ``isinstance(view, ElfMemory)``
holds for a view of an ELF core, so code that asks what container it reads keeps working.
Only the bytes differ.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from efitables.errors import MemoryReadError
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory, PhysRange
from efitables.memory.view import MemoryView

#: Distinct (structure, secret range) references remembered; past it they are only counted.
MAX_REFERENCES = 4096
#: Secrets searched for by content (see :meth:`RedactedMemory._secret_bytes`): their count, sizes and
#: the distinct byte values a secret needs to be told from ordinary data.
MAX_ALIAS_NEEDLES = 64
MIN_ALIAS_BYTES = 16
MAX_ALIAS_BYTES = 4096
MIN_ALIAS_DISTINCT = 8


@dataclass(frozen=True)
class SecretRange:
    """Physical bytes ``[start, end)`` of one secret, and the one read that may see them.

    ``owner_pa`` and ``owner_structure`` name the read the owning parser makes (the
    ``structure=`` argument of :meth:`PhysicalMemory.read`); a structure name starting with
    ``*`` matches any name ending with the rest (one walk names its nodes by index).
    ``summarised``: the owner keeps nothing of these bytes but a
    :class:`~efitables.secret.Secret` summary (length, digest, all-zero), so it may also
    see another secret's bytes that overlap its own; an owner that parses its bytes (the
    CoCo area's GUIDs and lengths) sees only its own.
    """

    start: int
    end: int
    #: What the bytes are, for messages: "the VMPCKs (vmpck0-3) of the SNP secrets page @ 0x80d000".
    label: str
    owner_pa: int | None = None
    owner_structure: str = ""
    summarised: bool = False

    @property
    def size(self) -> int:
        return self.end - self.start

    def owned_by(self, pa: int, structure: str | None) -> bool:
        """Whether a read at ``pa`` naming ``structure`` is the owner's read of this secret."""
        if structure is None or self.owner_pa is None or pa != self.owner_pa or not self.owner_structure:
            return False
        want = self.owner_structure
        return structure.endswith(want[1:]) if want.startswith("*") else structure == want


@dataclass
class Reference:
    """A read of a secret range by something other than its owner (the first read of that structure)."""

    structure: str | None
    address: int  # where the read started
    size: int  # bytes of the secret range it covered
    secret: SecretRange
    #: True if bytes were replaced by zeros (False: a summarising owner of another secret saw them).
    withheld: bool


RangesFn = Callable[[], Sequence[SecretRange]]


class RedactedMemory(MemoryView):
    """``inner`` with every secret range (found by ``ranges_fn`` on first use) read as zeros."""

    def __init__(self, inner: PhysicalMemory, ranges_fn: RangesFn) -> None:
        super().__init__(inner)
        self._ranges_fn: RangesFn | None = ranges_fn
        self._secrets: tuple[SecretRange, ...] | None = None
        self._computing = False
        # The union of the secret ranges, merged: the fast "does this read touch a secret?" test.
        self._ustarts = array("q")
        self._uends = array("q")
        self._refs: dict[tuple[str | None, SecretRange], Reference] = {}
        self.references_dropped = 0
        self._needles: list[tuple[bytes, SecretRange]] = []

    def __repr__(self) -> str:
        return f"<RedactedMemory of {self.inner!r}>"

    # -- ranges: the container's -------------------------------------------------------
    def _ensure_ranges(self) -> None:
        return None

    def range_count(self) -> int:
        return self.inner.range_count()

    def ranges(self) -> list[PhysRange]:
        return self.inner.ranges()

    def total_size(self) -> int:
        return self.inner.total_size()

    def _range_index(self, pa: int) -> int | None:
        return self.inner._range_index(pa)

    def range_at(self, pa: int) -> PhysRange | None:
        return self.inner.range_at(pa)

    def first_gap(self, pa: int, size: int) -> tuple[int, int] | None:
        return self.inner.first_gap(pa, size)

    def gaps(self, pa: int, size: int, limit: int = 64) -> list[tuple[int, int]]:
        return self.inner.gaps(pa, size, limit)

    def is_readable(self, pa: int, size: int = 1) -> bool:
        return self.inner.is_readable(pa, size)

    # -- the secret ranges -----------------------------------------------------------
    @property
    def secrets(self) -> tuple[SecretRange, ...]:
        """Every secret range, sorted (computed on first use)."""
        if self._secrets is None:
            if self._computing or self._ranges_fn is None:
                # The function that finds the ranges must read the container, not this view.
                raise RuntimeError("secret ranges read through the redacted view while being found")
            self._computing = True
            try:
                found = list(self._ranges_fn())
            finally:
                self._computing = False
            self._set_secrets(found)
        assert self._secrets is not None
        return self._secrets

    def _set_secrets(self, found: Iterable[SecretRange]) -> None:
        rs = tuple(sorted({r for r in found if 0 <= r.start < r.end <= MAX_PHYS_ADDR},
                          key=lambda r: (r.start, r.end, r.label)))
        us, ue = array("q"), array("q")
        for r in rs:
            if ue and r.start <= ue[-1]:
                ue[-1] = max(ue[-1], r.end)
            else:
                us.append(r.start)
                ue.append(r.end)
        self._secrets, self._ustarts, self._uends, self._ranges_fn = rs, us, ue, None
        self._needles = self._secret_bytes(rs)

    def _secret_bytes(self, ranges: Sequence[SecretRange]) -> list[tuple[bytes, SecretRange]]:
        """Each secret's own bytes, to withhold wherever else a read meets them (an alias).

        A container can show one page at two addresses: a kdump file whose page descriptors
        share one data offset (makedumpfile does that for the zero page; a damaged or hostile
        file for any page), a raw image's copy. Redaction by range hides the secret at its
        address only; its bytes are found at the others by content. Only distinctive secrets
        are searched for (at least :data:`MIN_ALIAS_BYTES` bytes, of at least
        :data:`MIN_ALIAS_DISTINCT` distinct values: not an all-zero, never-provisioned key).
        """
        out: list[tuple[bytes, SecretRange]] = []
        for r in ranges[:MAX_ALIAS_NEEDLES]:
            if not MIN_ALIAS_BYTES <= r.size <= MAX_ALIAS_BYTES:
                continue
            try:
                data = self.inner.read(r.start, r.size)
            except MemoryReadError:
                continue
            if len(set(data)) >= MIN_ALIAS_DISTINCT:
                out.append((data, r))
        return out

    def _zero_aliases(self, pa: int, data: bytes, structure: str | None) -> bytes:
        """``data`` with every copy of a secret's bytes away from the secret's own address zeroed."""
        out: bytearray | None = None
        for needle, r in self._needles:
            i = data.find(needle)
            while i >= 0:
                if pa + i != r.start:
                    if out is None:
                        out = bytearray(data)
                    out[i : i + len(needle)] = bytes(len(needle))
                    self._remember(structure, pa + i, len(needle), r, True)
                i = data.find(needle, i + 1)
        return data if out is None else bytes(out)

    def touches_secret(self, pa: int, size: int) -> bool:
        """Whether ``[pa, pa+size)`` overlaps a secret range."""
        if size <= 0 or not self.secrets:
            return False
        i = bisect_right(self._ustarts, pa + size - 1) - 1
        return i >= 0 and self._uends[i] > pa

    def is_secret(self, pa: int) -> bool:
        """Whether the byte at ``pa`` is withheld from every reader but its owner (for hex views)."""
        return self.touches_secret(pa, 1)

    def secret_spans(self) -> list[tuple[int, int]]:
        """The merged ``[start, end)`` spans of every secret (what a viewer shows as hidden)."""
        self.secrets  # noqa: B018 (computes them)
        return list(zip(self._ustarts, self._uends, strict=True))

    @property
    def references(self) -> list[Reference]:
        """Reads of a secret range by something other than its owner, in the order first seen."""
        return list(self._refs.values())

    # -- reading ---------------------------------------------------------------------
    def _read(self, pa: int, size: int) -> bytes:
        return self.read(pa, size)

    def read(self, pa: int, size: int, structure: str | None = None) -> bytes:
        data = self.inner.read(pa, size, structure)
        if self.touches_secret(pa, len(data)):
            data = self._withhold(pa, data, structure)
        return self._zero_aliases(pa, data, structure) if self._needles else data

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
        """The container's windows, secret bytes zeroed (a sweep is no structure: nothing is recorded)."""
        for pa, data in self.inner.chunks(chunk_size, overlap, start, end):
            if self.touches_secret(pa, len(data)):
                yield pa, self._withhold(pa, data, None, record=False)
            else:
                yield pa, data

    def _withhold(self, pa: int, data: bytes | memoryview, structure: str | None, record: bool = True) -> bytes:
        """``data`` (read at ``pa``) with the bytes this read may not see zeroed; references recorded."""
        end = pa + len(data)
        hit = [r for r in self.secrets if r.start < end and r.end > pa]
        owned = [r.owned_by(pa, structure) for r in hit]
        # Cut [pa, end) where any overlapping range starts or ends; decide each piece once.
        cuts = sorted({pa, end, *(max(pa, r.start) for r in hit), *(min(end, r.end) for r in hit)})
        out = bytearray(data)
        zeroed: set[int] = set()  # indexes into hit of ranges whose bytes were withheld somewhere
        for lo, hi in zip(cuts, cuts[1:], strict=False):
            over = [i for i, r in enumerate(hit) if r.start < hi and r.end > lo]
            if not over:
                continue
            mine = [i for i in over if owned[i]]
            # Raw only for the owner, and only where every other secret there is its own or it only summarises.
            if mine and (len(mine) == len(over) or any(hit[i].summarised for i in mine)):
                continue
            out[lo - pa : hi - pa] = bytes(hi - lo)
            zeroed.update(i for i in over if not owned[i])
        if record:
            for i, r in enumerate(hit):
                if not owned[i]:
                    n = min(end, r.end) - max(pa, r.start)
                    self._remember(structure, pa, n, r, i in zeroed)
        return bytes(out)

    def _remember(self, structure: str | None, pa: int, n: int, r: SecretRange, withheld: bool) -> None:
        key = (structure, r)
        old = self._refs.get(key)
        if old is not None:
            old.size = max(old.size, n)
            old.withheld = old.withheld or withheld
            return
        if len(self._refs) >= MAX_REFERENCES:
            self.references_dropped += 1
            return
        self._refs[key] = Reference(structure, pa, n, r, withheld)
