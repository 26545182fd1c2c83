"""What every ``setup_data`` payload decoder shares: the result base class and bounded reads.

A payload is the ``data[len]`` of a ``struct setup_data`` node, or the
out-of-line bytes a ``struct setup_indirect`` names (torvalds/linux
arch/x86/include/uapi/asm/setup_data.h@v6.12.117). Decoders read only the
prefix they need, never more than the node declares, and turn a short or
unreadable payload into findings (SETUP-DATA-SHORT, DUMP-READ) and a
:class:`RawPayload` with a bounded preview, never into an exception.

The decoders of each SETUP_* type and their registry are in
:mod:`efitables.boot.setup_payloads` and :mod:`efitables.boot.setup_payloads_vendor`;
the list walk is in :mod:`efitables.boot.setup_data`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.model import Parsed, Rows
from efitables.schemas.setup_data import setup_type_name

#: Bytes of an unknown payload kept for display.
MAX_PREVIEW = 256
#: Hex characters of a raw preview shown in a one-line summary.
SUMMARY_PREVIEW_HEX = 64

SETUP_SHORT = register("SETUP-DATA-SHORT", Severity.WARNING, "A setup_data payload is shorter than its structure")


# -- results -------------------------------------------------------------------
@dataclass(kw_only=True)
class SetupPayload(Parsed):
    """A decoded payload; subclasses add the typed fields of each SETUP_* type."""

    kind = "setup_payload"

    setup_type: int
    type_name: str
    length: int  # the payload length the node (or setup_indirect) declares

    @property
    def title(self) -> str:
        return f"{self.type_name} payload ({self.length} bytes)"

    def facts(self) -> Rows:
        return [("type", self.type_name), ("length", str(self.length)), *self.payload_rows()]

    def payload_rows(self) -> Rows:
        """The type's own facts (after type and length); the typed attributes by default."""
        return [(k, v) for k, v in super().facts() if k not in ("setup_type", "type_name", "length")]


@dataclass(kw_only=True)
class RawPayload(SetupPayload):
    """An unknown (or undecodable) payload: a bounded preview."""

    kind = "setup_payload_raw"
    preview: str  # hex of the first MAX_PREVIEW bytes

    def summary(self) -> str:
        more = "..." if self.length > len(self.preview) // 2 else ""
        return f"raw {self.length} bytes: {self.preview[:SUMMARY_PREVIEW_HEX]}{more}"

    def payload_rows(self) -> Rows:
        shown = len(self.preview) // 2
        return [("preview", f"{shown} of {self.length} bytes: {self.preview or '-'}")]


# -- decoding context and bounded reads --------------------------------------------
class DecodeCtx:
    """What a decoder may use: the dump, whether secrets are revealed, and the walk's shared budgets.

    ``budget`` maps a name to what is left of a cap that spans every node of one list (the
    SETUP_E820_EXT entries of all nodes together, for instance); one walk passes the same
    dict to every node's decoder, so a list of many nodes cannot multiply a per-node cap.
    """

    def __init__(self, mem: PhysicalMemory, show_secrets: bool, budget: dict[str, int] | None = None) -> None:
        self.mem = mem
        self.show_secrets = show_secrets
        self.budget = {} if budget is None else budget


#: ``decoder(ctx, setup_type, pa, length, structure_name) -> SetupPayload``
Decoder = Callable[[DecodeCtx, int, int, int, str], SetupPayload]


def read_prefix(mem: PhysicalMemory, pa: int, want: int, structure: str) -> tuple[bytes, tuple[int, int] | None]:
    """Up to ``want`` bytes at ``pa``: all of them, or the readable prefix and the first gap."""
    if want <= 0:
        return b"", None
    if pa < 0 or pa + want > MAX_PHYS_ADDR:
        return b"", (pa, pa + want)
    gap = mem.first_gap(pa, want)
    if gap is None:
        return mem.read(pa, want, structure=structure), None
    n = gap[0] - pa
    return (mem.read(pa, n, structure=structure) if n > 0 else b""), gap


def gap_finding(name: str, pa: int, gap: tuple[int, int]) -> Finding:
    """DUMP-READ for a payload whose bytes stop at a hole."""
    return make(READ_ERROR, name, pa, f"{gap[0]:#x}-{gap[1]:#x} is not in the dump")


def read_need(ctx: DecodeCtx, t: int, pa: int, length: int, need: int, name: str) -> tuple[bytes, list[Finding]]:
    """Read ``min(length, need)`` bytes; findings when the payload is short or unreadable."""
    findings: list[Finding] = []
    want = min(length, need)
    data, gap = read_prefix(ctx.mem, pa, want, name)
    if gap is not None:
        findings.append(gap_finding(name, pa, gap))
    if length < need:
        findings.append(make(SETUP_SHORT, name, pa, f"len {length} < {need} bytes of {setup_type_name(t)}"))
    return data, findings


def common(
    t: int,
    pa: int,
    length: int,
    raw: bytes,
    findings: list[Finding],
    schema: Any = None,
    fields: Any = None,
) -> dict[str, Any]:
    """The keyword arguments every :class:`SetupPayload` shares."""
    return dict(
        address=pa,
        size=length,
        raw=raw,
        fields=fields,
        schema=schema,
        findings=findings,
        setup_type=t,
        type_name=setup_type_name(t),
        length=length,
    )


def pad_to(data: bytes, n: int) -> bytes:
    return data + bytes(n - len(data)) if len(data) < n else data[:n]


def short_payload(t: int, pa: int, length: int, data: bytes, findings: list[Finding]) -> RawPayload:
    """A payload too short for its structure, kept raw with the findings that say so."""
    return RawPayload(
        **common(t, pa, length, data, findings),
        preview=data[:MAX_PREVIEW].hex(),
    )


def raw_payload(ctx: DecodeCtx, t: int, pa: int, length: int, name: str) -> RawPayload:
    """A payload no decoder handles: the first :data:`MAX_PREVIEW` bytes."""
    data, gap = read_prefix(ctx.mem, pa, min(length, MAX_PREVIEW), name)
    p = RawPayload(
        **common(t, pa, length, data, []),
        preview=data.hex(),
    )
    if gap is not None:
        p.findings.append(gap_finding(name, pa, gap))
    return p
