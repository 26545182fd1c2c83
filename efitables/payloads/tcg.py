"""LINUX_EFI_TPM_EVENT_LOG (the firmware TPM log the Linux stub copies) and the
TCG2 / CC final events tables.

Layouts: :mod:`efitables.schemas.payloads.tcg`. Checks (torvalds/linux
include/linux/efi.h@v6.12.117 ``struct linux_efi_tpm_eventlog``, read as
drivers/firmware/efi/tpm.c@v6.12.117 does; the Spec ID event and TCG_PCR_EVENT2
records of the TCG PC Client Platform Firmware Profile, EFI_TCG2_FINAL_EVENTS_TABLE
of the TCG EFI Protocol Specification): log version 1 (TCG 1.2) or 2 (crypto-agile);
for version 2 the first record is a TCG 1.2 ``EV_NO_ACTION`` event carrying
``Spec ID Event03`` and the digest sizes; the records are counted by a bounded
walk. The final events tables are decoded to their header (version, count).

The log's bytes, once read, stay on the :class:`TpmEventLog` until the PCR replay
(:mod:`efitables.measured.replay`) of the same dump takes them (:meth:`TpmEventLog.take_log_bytes`):
a dump's log is read from the dump once.
"""

from __future__ import annotations

import struct
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from efitables.findings import Severity, make, register
from efitables.memory.base import PhysicalMemory
from efitables.payloads import register_decoder
from efitables.payloads.base import ACPI_TYPES, BS_DATA, DecodeContext, Extent, Payload
from efitables.schemas.payloads.tcg import (
    EFI_TCG2_EVENT_LOG_FORMAT_TCG_1_2,
    EFI_TCG2_EVENT_LOG_FORMAT_TCG_2,
    EFI_TCG2_FINAL_EVENTS_TABLE,
    EFI_TCG2_FINAL_EVENTS_TABLE_VERSION,
    EV_NO_ACTION,
    LINUX_EFI_TPM_EVENTLOG,
    LINUX_EFI_TPM_EVENTLOG_HEADER_SIZE,
    LINUX_EFI_TPM_EVENTLOG_SIZEOF,
    TCG_EFI_SPECID_EVENT_HEAD,
    TCG_PCR_EVENT,
    TCG_SPECID_SIG,
    TPM_ALG_NAMES,
)

LINUX_EFI_TPM_EVENT_LOG_GUID = "b7799cb0-eca2-4943-9667-1fae07b747fa"
EFI_TCG2_FINAL_EVENTS_TABLE_GUID = "1e2ed096-30e2-4254-bd89-863bbef82325"
EFI_CC_FINAL_EVENTS_TABLE_GUID = "dd4a4648-2de7-4665-964d-21d9ef5fb446"

#: Largest log read (real logs are tens of KiB).
MAX_LOG_SIZE = 16 * 1024 * 1024
#: Most records counted.
MAX_EVENTS = 65536
#: Most algorithms a Spec ID event may list.
MAX_ALGS = 16

LOG_VERSION = register("TPM-LOG-VERSION", Severity.WARNING, "Linux TPM event log version is not 1 or 2")
LOG_SIZE = register("TPM-LOG-SIZE", Severity.WARNING, "Linux TPM event log is larger than efitables reads")
LOG_SPECID = register(
    "TPM-LOG-SPECID", Severity.WARNING, "Crypto-agile TPM log does not start with a 'Spec ID Event03' event"
)
LOG_EVENT = register(
    "TPM-LOG-EVENT", Severity.WARNING, "TPM event log record runs past the log or is malformed; counting stopped"
)
LOG_TOO_MANY = register("TPM-LOG-TOO-MANY", Severity.INFO, "TPM event log has more records than efitables counts")
FINAL_VERSION = register("TPM-FINAL-VERSION", Severity.WARNING, "TCG2/CC final events table version is not 1")
FINAL_EVENTS = register(
    "TPM-FINAL-EVENTS",
    Severity.WARNING,
    "TCG2/CC final events do not walk with the main log's digest sizes",
    "NumberOfEvents records could not be read as TCG_PCR_EVENT2 with the algorithms of the Linux TPM "
    "log's Spec ID event (as Linux tpm.c reads them): the table is truncated, stale or inconsistent.",
)
FINAL_COUNT = register("TPM-FINAL-COUNT", Severity.WARNING, "TCG2/CC final events table claims an implausible count")


class HandOver:
    """Bytes a decoder read, kept for the one later reader of the same range of the same memory object.

    The PCR replay (:mod:`efitables.measured.replay`) reads what the payload decoders read already (the
    TPM log, the final events); :meth:`take` hands the bytes over once, and then they are dropped, so a dump
    keeps no second copy of a log of up to :data:`MAX_LOG_SIZE` bytes. The memory is held by a weak
    reference: the bytes never outlive it, nor keep it open.
    """

    __slots__ = ("_data", "_mem", "_pa")

    def __init__(self, mem: PhysicalMemory, pa: int, data: bytes) -> None:
        self._mem: Callable[[], PhysicalMemory | None] | None = weakref.ref(mem)
        self._pa = pa
        self._data: bytes | None = data

    @classmethod
    def of(cls, mem: PhysicalMemory, pa: int, data: bytes) -> HandOver | None:
        try:
            return cls(mem, pa, data)
        except TypeError:  # a memory object that takes no weak reference: the reader reads the bytes itself
            return None

    @property
    def held(self) -> bool:
        return self._data is not None

    def take(self, mem: PhysicalMemory, pa: int, size: int) -> bytes | None:
        """The bytes, if they are the ``size`` bytes at ``pa`` of ``mem`` (the very object the decoder read);
        else None, and the caller reads them. Once: a later call returns None."""
        data, src = self._data, self._mem
        if data is None or src is None or src() is not mem or pa != self._pa or size != len(data):
            return None
        self._data = self._mem = None
        return data


@dataclass(kw_only=True)
class TpmEventLog(Payload):
    kind = "LINUX_EFI_TPM_EVENT_LOG"

    log_size: int
    final_events_preboot_size: int
    version: int
    format: str
    log_address: int
    spec_id: dict | None = None
    algorithms: list[dict] = field(default_factory=list)
    event_count: int | None = None
    digest_sizes: dict[int, int] = field(default_factory=dict, repr=False)
    #: The ``min(log_size, MAX_LOG_SIZE)`` bytes at ``log_address`` as :func:`decode_tpm_log` read them (None
    #: if it did not read them all): the PCR replay of the same dump takes them instead of reading the log again.
    _log: HandOver | None = field(default=None, repr=False, compare=False)

    @property
    def title(self) -> str:
        n = "?" if self.event_count is None else self.event_count
        return f"TPM event log ({self.format}, {self.log_size} bytes, {n} events)"

    def extents(self) -> list[Extent]:
        # Linux reserves sizeof (12) + size bytes.
        return [Extent(self.kind, self.address or 0, LINUX_EFI_TPM_EVENTLOG_SIZEOF + min(self.log_size, MAX_LOG_SIZE))]

    def take_log_bytes(self, mem: PhysicalMemory, pa: int, size: int) -> bytes | None:
        """The log bytes the decoder read, if they are the ``size`` bytes at ``pa`` of ``mem`` (:class:`HandOver`)."""
        return self._log.take(mem, pa, size) if self._log is not None else None


def _count_tcg12(log: bytes, findings: list, base: int, start: int = 0, limit: int = MAX_EVENTS) -> int:
    off, n = start, 0
    while off < len(log):
        if n >= limit:
            findings.append(make(LOG_TOO_MANY, "TPM event log", base + off, f"stopped after {limit} records"))
            break
        if off + 32 > len(log):
            findings.append(make(LOG_EVENT, "TPM event log", base + off, f"record [{n}] header truncated"))
            break
        size = struct.unpack_from("<I", log, off + 28)[0]
        if off + 32 + size > len(log):
            findings.append(
                make(LOG_EVENT, "TPM event log", base + off, f"record [{n}] EventSize {size:#x} runs past the log")
            )
            break
        off += 32 + size
        n += 1
    return n


def _count_tcg2(
    log: bytes, start: int, digest_sizes: dict[int, int], findings: list, base: int, limit: int | None = None
) -> tuple[int, int]:
    """Walk TCG_PCR_EVENT2 records from ``start``; returns (records, offset after the last one)."""
    off, n = start, 0
    while off < len(log):
        if limit is not None and n >= limit:
            break
        if n >= MAX_EVENTS:
            findings.append(make(LOG_TOO_MANY, "TPM event log", base + off, f"stopped after {MAX_EVENTS} records"))
            break
        if off + 12 > len(log):
            if not any(log[off:]):  # zero padding after the last record
                break
            findings.append(make(LOG_EVENT, "TPM event log", base + off, f"record [{n}] header truncated"))
            break
        _pcr, _typ, count = struct.unpack_from("<III", log, off)
        if count == 0 and not any(log[off : off + 12]):
            break  # zero fill: end of records
        p = off + 12
        ok = count <= MAX_ALGS
        for _ in range(count if ok else 0):
            if p + 2 > len(log):
                ok = False
                break
            alg = struct.unpack_from("<H", log, p)[0]
            if alg not in digest_sizes:
                ok = False
                break
            p += 2 + digest_sizes[alg]
        if not ok or p + 4 > len(log):
            findings.append(make(LOG_EVENT, "TPM event log", base + off, f"record [{n}] digest list is malformed"))
            break
        size = struct.unpack_from("<I", log, p)[0]
        if p + 4 + size > len(log):
            findings.append(
                make(LOG_EVENT, "TPM event log", base + off, f"record [{n}] EventSize {size:#x} runs past the log")
            )
            break
        off = p + 4 + size
        n += 1
    return n, off


def decode_tpm_log(ctx: DecodeContext) -> TpmEventLog:
    pa, name = ctx.address, "LINUX_EFI_TPM_EVENT_LOG"
    findings: list = []
    raw = ctx.read(pa, LINUX_EFI_TPM_EVENTLOG_HEADER_SIZE, name, findings)
    if raw is None:
        t = TpmEventLog(
            address=pa,
            size=0,
            log_size=0,
            final_events_preboot_size=0,
            version=0,
            format="?",
            log_address=pa + LINUX_EFI_TPM_EVENTLOG_HEADER_SIZE,
        )
        t.findings.extend(findings)
        return t
    h = LINUX_EFI_TPM_EVENTLOG.parse(raw)
    fmt = {EFI_TCG2_EVENT_LOG_FORMAT_TCG_1_2: "TCG_1_2", EFI_TCG2_EVENT_LOG_FORMAT_TCG_2: "TCG_2"}.get(
        h["version"], "?"
    )
    t = TpmEventLog(
        address=pa,
        size=LINUX_EFI_TPM_EVENTLOG_HEADER_SIZE,
        raw=raw,
        fields=h,
        schema=LINUX_EFI_TPM_EVENTLOG,
        log_size=h["size"],
        final_events_preboot_size=h["final_events_preboot_size"],
        version=h["version"],
        format=fmt,
        log_address=pa + LINUX_EFI_TPM_EVENTLOG_HEADER_SIZE,
    )
    if fmt == "?":
        t.findings.append(make(LOG_VERSION, name, pa, f"version {t.version}"))
        return t
    size = t.log_size
    if size > MAX_LOG_SIZE:
        t.findings.append(make(LOG_SIZE, name, pa, f"size {size:#x}; reading {MAX_LOG_SIZE:#x}"))
        size = MAX_LOG_SIZE
    if size == 0:
        t.event_count = 0
        return t
    log = ctx.read(t.log_address, size, "TPM event log", t.findings)
    if log is None:
        return t
    t._log = HandOver.of(ctx.mem, t.log_address, log)
    t.size = LINUX_EFI_TPM_EVENTLOG_HEADER_SIZE + size
    if t.version == EFI_TCG2_EVENT_LOG_FORMAT_TCG_1_2:
        t.event_count = _count_tcg12(log, t.findings, t.log_address)
        return t
    # Crypto-agile: a TCG 1.2 header event with the Spec ID, then TCG_PCR_EVENT2 records.
    if len(log) < 32 + TCG_EFI_SPECID_EVENT_HEAD.sizeof():
        t.findings.append(make(LOG_SPECID, name, t.log_address, "log too short for a Spec ID event"))
        return t
    first = TCG_PCR_EVENT.parse(log[:32])
    head = TCG_EFI_SPECID_EVENT_HEAD.parse(log[32 : 32 + TCG_EFI_SPECID_EVENT_HEAD.sizeof()])
    if first["event_type"] != EV_NO_ACTION or bytes(head["signature"]) != TCG_SPECID_SIG:
        t.findings.append(
            make(
                LOG_SPECID,
                name,
                t.log_address,
                f"first event type {first['event_type']}, signature {bytes(head['signature'])!r}",
            )
        )
        return t
    t.spec_id = {
        "platform_class": head["platform_class"],
        "spec_version": f"{head['spec_version_major']}.{head['spec_version_minor']} errata {head['spec_errata']}",
        "uintn_size": head["uintnsize"],
        "num_algs": head["num_algs"],
    }
    nalg = head["num_algs"]
    p = 32 + TCG_EFI_SPECID_EVENT_HEAD.sizeof()
    if nalg == 0 or nalg > MAX_ALGS or p + 4 * nalg > min(len(log), 32 + first["event_size"]):
        t.findings.append(make(LOG_SPECID, name, t.log_address, f"{nalg} algorithms"))
        return t
    sizes: dict[int, int] = {}
    for i in range(nalg):
        alg, dsz = struct.unpack_from("<HH", log, p + 4 * i)
        sizes[alg] = dsz
        t.algorithms.append({"alg_id": alg, "name": TPM_ALG_NAMES.get(alg, f"{alg:#06x}"), "digest_size": dsz})
    start = 32 + first["event_size"]
    if start > len(log):
        t.findings.append(make(LOG_EVENT, name, t.log_address, "Spec ID event runs past the log"))
        return t
    t.digest_sizes = sizes
    t.event_count = 1 + _count_tcg2(log, start, sizes, t.findings, t.log_address)[0]
    return t


@dataclass(kw_only=True)
class FinalEventsTable(Payload):
    kind = "TCG2_FINAL_EVENTS_TABLE"

    version: int
    number_of_events: int
    #: Bytes of the records, when the main log's Spec ID event gave the digest sizes to walk them.
    events_size: int | None = None
    #: The ``events_size`` bytes of the records as :func:`size_final_events` read them, for the replay.
    _events: HandOver | None = field(default=None, repr=False, compare=False)

    def take_event_bytes(self, mem: PhysicalMemory, pa: int, size: int) -> bytes | None:
        """The records' bytes :func:`size_final_events` read, if they are ``size`` bytes at ``pa`` of ``mem``."""
        return self._events.take(mem, pa, size) if self._events is not None else None

    @property
    def title(self) -> str:
        size = "" if self.events_size is None else f", {self.events_size:#x} bytes"
        return f"final events table v{self.version} ({self.number_of_events} events{size})"


def decode_final_events(ctx: DecodeContext) -> FinalEventsTable:
    pa, name = ctx.address, ctx.name or "final events table"
    findings: list = []
    raw = ctx.read(pa, 16, name, findings)
    if raw is None:
        f = FinalEventsTable(address=pa, size=0, version=0, number_of_events=0)
        f.findings.extend(findings)
        return f
    h = EFI_TCG2_FINAL_EVENTS_TABLE.parse(raw)
    f = FinalEventsTable(
        address=pa,
        size=16,
        raw=raw,
        fields=h,
        schema=EFI_TCG2_FINAL_EVENTS_TABLE,
        version=h["Version"],
        number_of_events=h["NumberOfEvents"],
    )
    if f.version != EFI_TCG2_FINAL_EVENTS_TABLE_VERSION:
        f.findings.append(make(FINAL_VERSION, name, pa, f"Version {f.version}"))
    if f.number_of_events > MAX_EVENTS:
        f.findings.append(make(FINAL_COUNT, name, pa, f"NumberOfEvents {f.number_of_events}"))
    return f


#: Most bytes of final events read to size them.
MAX_FINAL_EVENTS_BYTES = 4 * 1024 * 1024
#: The first read of the final events' records (most tables hold a few records: a few hundred bytes).
FINAL_EVENTS_FIRST_READ = 1 << 16


def size_final_events(mem: PhysicalMemory, final: FinalEventsTable, log: TpmEventLog) -> None:
    """Walk the final events with the digest sizes of the main log's Spec ID event (as Linux tpm.c does).

    Sets ``events_size`` and ``size``; a record that cannot be walked is TPM-FINAL-EVENTS.
    """
    if final.address is None or not log.digest_sizes or final.number_of_events > MAX_EVENTS:
        return
    start = final.address + 16
    gap = mem.first_gap(start, MAX_FINAL_EVENTS_BYTES)
    avail = MAX_FINAL_EVENTS_BYTES if gap is None else gap[0] - start
    if avail <= 0:
        return
    # read what the records need, not the cap: FINAL_EVENTS_FIRST_READ, then 8 times more while the
    # records run past what was read (the walk of a prefix is the walk of the whole, cut)
    want = min(avail, FINAL_EVENTS_FIRST_READ)
    while True:
        data = mem.read(start, want, structure="final events")
        n, end = _count_tcg2(data, 0, log.digest_sizes, [], start, limit=final.number_of_events)
        if n >= final.number_of_events or want >= avail:
            break
        want = min(avail, want * 8)
    if n < final.number_of_events:
        final.findings.append(
            make(FINAL_EVENTS, "final events table", start + end, f"walked {n} of {final.number_of_events} records")
        )
        return
    final.events_size = end
    final.size = 16 + end
    final._events = HandOver.of(mem, start, data[:end])


def link_tcg(mem: PhysicalMemory, payloads: list) -> None:
    """Cross-table step: size every final events table with the Linux TPM log's digest sizes."""
    logs = [p for p in payloads if isinstance(p, TpmEventLog) and p.digest_sizes]
    if not logs:
        return
    for p in payloads:
        if isinstance(p, FinalEventsTable) and p.events_size is None:
            size_final_events(mem, p, logs[0])


TCG_TYPES = ACPI_TYPES | {BS_DATA}
register_decoder(LINUX_EFI_TPM_EVENT_LOG_GUID, decode_tpm_log, expected_types=TCG_TYPES, kept=True)
register_decoder(EFI_TCG2_FINAL_EVENTS_TABLE_GUID, decode_final_events, expected_types=TCG_TYPES, kept=True)
register_decoder(EFI_CC_FINAL_EVENTS_TABLE_GUID, decode_final_events, expected_types=TCG_TYPES, kept=True)
