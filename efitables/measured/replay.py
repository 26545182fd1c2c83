"""Replay of the TCG2 (TPM) and CC (CCEL) event logs into the PCR / RTMR values they imply.

An event log is the firmware's record of every measurement it extended; replaying it
gives the values the registers must hold if the log is complete and honest. The rules
(TCG PC Client Platform Firmware Profile, "PFP", section 10.2 ``TCG_PCR_EVENT2`` and the
extend operation; see :mod:`efitables.schemas.measured` for the sources):

* a crypto-agile log starts with a TCG 1.2 ``TCG_PCR_EVENT`` (``EV_NO_ACTION``) carrying
  ``"Spec ID Event03"`` and the algorithms and digest sizes of every later record; each
  declared algorithm is one bank, replayed with its hash (SHA-1/256/384/512; an algorithm
  without a known hash is walked but not replayed, with a finding);
* every ``TCG_PCR_EVENT2`` but an ``EV_NO_ACTION`` one extends its register in every bank:
  ``R = H(R || digest)``; registers start as zeros, except PCR 0 when a
  ``TCG_EfiStartupLocalityEvent`` (``EV_NO_ACTION`` in PCR 0, ``"StartupLocality\\0"``) says
  the platform started in locality 3 or 4: PCR 0 then starts with the locality in its last byte;
* a TCG 1.2 log (SHA-1 ``TCG_PCR_EVENT`` records only) is one SHA-1 bank;
* a CC event log (the ACPI CCEL table's ``log_area_start_address`` / ``log_area_minimum_length``)
  has the same records with the MR index in place of the PCR index (tianocore/edk2
  MdePkg/Include/Protocol/CcMeasurement.h ``CC_EVENT``); on TDX MR index 1..4 are RTMR[0..3]
  (index 0, MRTD, is measured by the TDX module, never by the log), SHA-384;
* the TCG2 final events table holds the events logged after the boot loader first called
  ``GetEventLog()``; Linux appends those past ``final_events_preboot_size`` to the copied log
  (torvalds/linux drivers/char/tpm/eventlog/efi.c@v6.12 ``tpm_read_log_efi``: "Copy any of the
  final events log that didn't also end up in the main log"), and so does this replay.

What is compared: PCRs live in the TPM and RTMRs in the TDX module, not in guest memory, and
Linux keeps no TDREPORT or quote; :attr:`MeasuredBoot.compared` says so, and the values are
given to be compared with a quote or ``tpm2_pcrread`` outside the dump.

Bounds: the log is read up to :data:`MAX_LOG_SIZE` (and up to the first hole of the dump); the
Linux TPM log is read once per dump: the replay takes the bytes the payload decoder
(:func:`efitables.payloads.tcg.decode_tpm_log`) read from the same memory, and reads them
itself only when it has none (the decoder met a hole, or the payload came from elsewhere);
records are counted up to :data:`MAX_EVENTS`; a malformed record stops the walk with a
finding and the values replayed so far are marked partial.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.memory.base import PhysicalMemory
from efitables.model import Parsed, TableView
from efitables.payloads.tcg import (
    EFI_CC_FINAL_EVENTS_TABLE_GUID,
    EFI_TCG2_FINAL_EVENTS_TABLE_GUID,
    MAX_ALGS,
    MAX_EVENTS,
    MAX_LOG_SIZE,
    FinalEventsTable,
    TpmEventLog,
)
from efitables.schemas.measured import (
    ACPI_TABLE_CCEL,
    CC_MR_RTMR_FIRST,
    CCEL_CC_TYPES,
    CCEL_SIGNATURE,
    EVENT_SIZE_FIELD_SIZE,
    PCR_COUNT,
    RTMR_COUNT,
    STARTUP_LOCALITY_SIG,
    TCG_EFI_SPECID_EVENT_ALGS_SIZE,
    TCG_EFI_SPECID_EVENT_HEAD_SIZE,
    TCG_EFI_STARTUP_LOCALITY_EVENT,
    TCG_PCR_EVENT2_HEAD_COMPILED,
    TCG_PCR_EVENT2_HEAD_SIZE,
    TCG_PCR_EVENT_COMPILED,
    TCG_PCR_EVENT_SIZE,
    TPM_ALG_HASHES,
    TPMI_ALG_HASH_SIZE,
)
from efitables.schemas.payloads.tcg import (
    EFI_TCG2_EVENT_LOG_FORMAT_TCG_1_2,
    EFI_TCG2_FINAL_EVENTS_TABLE,
    EV_NO_ACTION,
    TCG_EFI_SPECID_EVENT_ALGS,
    TCG_EFI_SPECID_EVENT_HEAD,
    TCG_SPECID_SIG,
    TPM_ALG_NAMES,
)

#: A record whose head is all 0xff bytes: the erased fill after the last record (CC log areas).
_FILL = 0xFFFFFFFF
_SHA1 = 0x0004
#: EFI_TCG2_FINAL_EVENTS_TABLE's header (Version, NumberOfEvents) before the records.
TCG2_FINAL_HEADER_SIZE = EFI_TCG2_FINAL_EVENTS_TABLE.sizeof()

SPECID = register(
    "MEASURED-SPECID",
    Severity.WARNING,
    "An event log does not start with a usable 'Spec ID Event03' event; it cannot be replayed",
)
EVENT = register(
    "MEASURED-EVENT",
    Severity.WARNING,
    "An event-log record is malformed or runs past the log; the replay stopped there (values are partial)",
)
TOO_MANY = register("MEASURED-TOO-MANY", Severity.INFO, "An event log has more records than efitables replays")
ALG_UNKNOWN = register(
    "MEASURED-ALG-UNKNOWN",
    Severity.INFO,
    "An event log declares an algorithm efitables has no hash for; that bank is walked, not replayed",
)
DIGEST_MISSING = register(
    "MEASURED-DIGEST-MISSING",
    Severity.WARNING,
    "An event-log record lacks the digest of a bank its Spec ID event declares (or repeats one)",
    "The firmware must extend every active bank for every event; a record without one leaves that "
    "bank's replay unable to match the register.",
)
INDEX = register(
    "MEASURED-INDEX",
    Severity.WARNING,
    "An event-log record names a PCR (or a CC measurement register) that does not exist",
    "PCR indexes are 0-23 on a PC Client TPM; a CC event log's MR index is 1-4 (RTMR[0..3]); the record is skipped.",
)
CCEL_BAD = register(
    "MEASURED-CCEL",
    Severity.WARNING,
    "The ACPI CCEL table is unreadable or names no log area",
)
FINAL_NOT_REPLAYED = register(
    "MEASURED-FINAL-SKIPPED",
    Severity.INFO,
    "A final events table was not replayed on top of its log",
    "The CC final events table gives no preboot size (events may be in both it and the CCEL log), or the "
    "TCG2 one could not be walked; the values are the main log's.",
)


@dataclass(frozen=True)
class LogEvent:
    """One record of a log, as replayed."""

    index: int
    address: int
    register: int  # the PCR index, or the MR index of a CC log
    event_type: int
    digests: dict[int, bytes]
    event_size: int


@dataclass(kw_only=True)
class Replay(Parsed):
    """One log replayed: the registers it extended, per bank, and how far it could be read."""

    kind: ClassVar[str] = "measured_replay"
    _repr_fields = ("log_kind", "event_count", "complete")

    log_kind: str  # "TCG2", "TCG_1_2" or "CC"
    source: str
    #: The Spec ID event's algorithms: {alg_id, name, digest_size, replayed}.
    algorithms: list[dict[str, Any]] = field(default_factory=list)
    event_count: int = 0
    extends: int = 0
    startup_locality: int | None = None
    #: Final values: bank name -> register name ("PCR0", "RTMR1") -> hex digest; only registers the log touched.
    registers: dict[str, dict[str, str]] = field(default_factory=dict)
    complete: bool = True
    final_events_replayed: int = 0
    events: list[LogEvent] = field(default_factory=list, repr=False)
    #: Internal state: bank alg -> register index -> value.
    _banks: dict[int, dict[int, bytes]] = field(default_factory=dict, repr=False)
    _sizes: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def title(self) -> str:
        what = "RTMR" if self.log_kind == "CC" else "PCR"
        part = "" if self.complete else ", partial"
        return f"{self.log_kind} event log replay ({self.event_count} events, {self.extends} {what} extends{part})"

    def value(self, bank: str, reg: str) -> str | None:
        return self.registers.get(bank, {}).get(reg)

    def table_views(self) -> list[TableView]:
        rows: list[tuple[str, ...]] = [
            (bank, reg, val) for bank, regs in self.registers.items() for reg, val in regs.items()
        ]
        return [TableView(f"{self.log_kind} replayed values", ("bank", "register", "value"), rows)]

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        d = super().to_dict(raw)
        d.pop("events", None)
        return d


# -- walking a log -----------------------------------------------------------------------------
def _reg_name(kind: str, idx: int) -> str:
    return f"RTMR{idx}" if kind == "CC" else f"PCR{idx}"


def _register_of(kind: str, idx: int) -> int | None:
    if kind == "CC":
        r = idx - CC_MR_RTMR_FIRST
        return r if 0 <= r < RTMR_COUNT else None
    return idx if 0 <= idx < PCR_COUNT else None


def _spec_id(log: bytes, r: Replay, base: int) -> int | None:
    """Read the Spec ID event; set the banks; return the offset of the first crypto-agile record."""
    if len(log) < TCG_PCR_EVENT_SIZE + TCG_EFI_SPECID_EVENT_HEAD_SIZE:
        r.findings.append(make(SPECID, r.source, base, f"log of {len(log)} bytes is too short for a Spec ID event"))
        return None
    first = TCG_PCR_EVENT_COMPILED.parse(log[:TCG_PCR_EVENT_SIZE])
    head = TCG_EFI_SPECID_EVENT_HEAD.parse(
        log[TCG_PCR_EVENT_SIZE : TCG_PCR_EVENT_SIZE + TCG_EFI_SPECID_EVENT_HEAD_SIZE]
    )
    if first.event_type != EV_NO_ACTION or bytes(head.signature) != TCG_SPECID_SIG:
        why = f"first event type {first.event_type}, signature {bytes(head.signature)!r}"
        r.findings.append(make(SPECID, r.source, base, why))
        return None
    end = TCG_PCR_EVENT_SIZE + first.event_size
    nalg = head.num_algs
    p = TCG_PCR_EVENT_SIZE + TCG_EFI_SPECID_EVENT_HEAD_SIZE
    if nalg == 0 or nalg > MAX_ALGS or p + TCG_EFI_SPECID_EVENT_ALGS_SIZE * nalg > min(len(log), end):
        r.findings.append(make(SPECID, r.source, base, f"{nalg} algorithms in an event of {first.event_size} bytes"))
        return None
    for i in range(nalg):
        q = p + TCG_EFI_SPECID_EVENT_ALGS_SIZE * i
        a = TCG_EFI_SPECID_EVENT_ALGS.parse(log[q : q + TCG_EFI_SPECID_EVENT_ALGS_SIZE])
        known = TPM_ALG_HASHES.get(a.alg_id)
        ok = known is not None and known[1] == a.digest_size
        r._sizes[a.alg_id] = a.digest_size
        name = TPM_ALG_NAMES.get(a.alg_id, f"{a.alg_id:#06x}")
        r.algorithms.append({"alg_id": a.alg_id, "name": name, "digest_size": a.digest_size, "replayed": ok})
        if ok:
            r._banks[a.alg_id] = {}
        else:
            why = f"{name}: digest size {a.digest_size}" + ("" if known else " (no hash known)")
            r.findings.append(make(ALG_UNKNOWN, r.source, base, why))
    if end > len(log):
        r.findings.append(
            make(EVENT, r.source, base, f"the Spec ID event ({first.event_size} bytes) runs past the log")
        )
        r.complete = False
        return None
    return end


def _walk2(log: bytes, start: int, base: int, r: Replay, limit: int | None = None) -> Iterable[LogEvent]:
    """TCG_PCR_EVENT2 records from ``start`` (bounded; a malformed one stops the walk with a finding)."""
    off, n = start, 0
    sizes = r._sizes
    while off < len(log):
        if limit is not None and n >= limit:
            return
        if r.event_count >= MAX_EVENTS:
            r.findings.append(make(TOO_MANY, r.source, base + off, f"stopped after {MAX_EVENTS} records"))
            r.complete = False
            return
        if off + TCG_PCR_EVENT2_HEAD_SIZE > len(log):
            if any(log[off:]):
                r.findings.append(make(EVENT, r.source, base + off, "record header truncated"))
                r.complete = False
            return
        h = TCG_PCR_EVENT2_HEAD_COMPILED.parse(log[off : off + TCG_PCR_EVENT2_HEAD_SIZE])
        if h.count == 0 and h.pcr_idx == 0 and h.event_type == 0:
            return  # zero fill after the last record
        if h.pcr_idx == _FILL and h.event_type == _FILL:
            return  # erased (0xff) fill
        p = off + TCG_PCR_EVENT2_HEAD_SIZE
        digests: dict[int, bytes] = {}
        bad = ""
        if h.count > MAX_ALGS:
            bad = f"digest count {h.count}"
        for _ in range(0 if bad else h.count):
            if p + TPMI_ALG_HASH_SIZE > len(log):
                bad = "digest list runs past the log"
                break
            alg = int.from_bytes(log[p : p + TPMI_ALG_HASH_SIZE], "little")
            size = sizes.get(alg)
            if size is None:
                bad = f"algorithm {alg:#06x} is not in the Spec ID event"
                break
            p += TPMI_ALG_HASH_SIZE
            if p + size > len(log):
                bad = "digest runs past the log"
                break
            if alg in digests:
                r.findings.append(make(DIGEST_MISSING, r.source, base + off, f"record {n}: {alg:#06x} given twice"))
            digests[alg] = log[p : p + size]
            p += size
        if not bad and p + EVENT_SIZE_FIELD_SIZE > len(log):
            bad = "EventSize runs past the log"
        if bad:
            r.findings.append(make(EVENT, r.source, base + off, f"record {r.event_count}: {bad}"))
            r.complete = False
            return
        esize = int.from_bytes(log[p : p + EVENT_SIZE_FIELD_SIZE], "little")
        p += EVENT_SIZE_FIELD_SIZE
        if p + esize > len(log):
            r.findings.append(
                make(EVENT, r.source, base + off, f"record {r.event_count}: EventSize {esize:#x} runs past the log")
            )
            r.complete = False
            return
        ev = LogEvent(r.event_count, base + off, h.pcr_idx, h.event_type, digests, esize)
        _startup_locality(r, ev, log[p : p + esize])
        r.event_count += 1
        n += 1
        off = p + esize
        yield ev


def _walk12(log: bytes, base: int, r: Replay) -> Iterable[LogEvent]:
    """TCG 1.2 ``TCG_PCR_EVENT`` records (SHA-1 only)."""
    off = 0
    while off < len(log):
        if r.event_count >= MAX_EVENTS:
            r.findings.append(make(TOO_MANY, r.source, base + off, f"stopped after {MAX_EVENTS} records"))
            r.complete = False
            return
        if off + TCG_PCR_EVENT_SIZE > len(log):
            if any(log[off:]):
                r.findings.append(make(EVENT, r.source, base + off, "record header truncated"))
                r.complete = False
            return
        h = TCG_PCR_EVENT_COMPILED.parse(log[off : off + TCG_PCR_EVENT_SIZE])
        end = off + TCG_PCR_EVENT_SIZE + h.event_size
        if end > len(log):
            r.findings.append(make(EVENT, r.source, base + off, f"EventSize {h.event_size:#x} runs past the log"))
            r.complete = False
            return
        ev = LogEvent(r.event_count, base + off, h.pcr_idx, h.event_type, {_SHA1: bytes(h.digest)}, h.event_size)
        _startup_locality(r, ev, log[off + TCG_PCR_EVENT_SIZE : end])
        r.event_count += 1
        off = end
        yield ev


def _startup_locality(r: Replay, ev: LogEvent, data: bytes) -> None:
    if ev.event_type != EV_NO_ACTION or ev.register != 0 or r.log_kind == "CC":
        return
    if len(data) >= TCG_EFI_STARTUP_LOCALITY_EVENT.sizeof() and data.startswith(STARTUP_LOCALITY_SIG):
        if r.startup_locality is None and not any(r._banks.get(a, {}).get(0) for a in r._banks):
            r.startup_locality = TCG_EFI_STARTUP_LOCALITY_EVENT.parse(data).StartupLocality


def _extend(r: Replay, events: Iterable[LogEvent]) -> None:
    bad_index = 0
    for ev in events:
        r.events.append(ev)
        if ev.event_type == EV_NO_ACTION:
            continue  # PFP: EV_NO_ACTION events are not extended
        reg = _register_of(r.log_kind, ev.register)
        if reg is None:
            if bad_index < 8:
                r.findings.append(
                    make(
                        INDEX,
                        r.source,
                        ev.address,
                        f"record {ev.index}: index {ev.register} (event type {ev.event_type:#x})",
                    )
                )
            bad_index += 1
            continue
        missing = [a for a in r._sizes if a not in ev.digests]
        if missing:
            names = ", ".join(TPM_ALG_NAMES.get(a, f"{a:#06x}") for a in missing)
            r.findings.append(make(DIGEST_MISSING, r.source, ev.address, f"record {ev.index}: no {names} digest"))
        r.extends += 1
        for alg, bank in r._banks.items():
            d = ev.digests.get(alg)
            if d is None:
                continue
            hname, hsize = TPM_ALG_HASHES[alg]
            cur = bank.get(reg)
            if cur is None:
                cur = _initial(r, reg, hsize)
            bank[reg] = hashlib.new(hname, cur + d).digest()
    if bad_index > 8:
        r.findings.append(make(INDEX, r.source, None, f"{bad_index - 8} more records with a bad index"))


def _initial(r: Replay, reg: int, size: int) -> bytes:
    """Zeros; PCR 0 with a startup locality: the locality in the last byte (PFP "Startup Locality Event")."""
    if reg == 0 and r.log_kind != "CC" and r.startup_locality:
        return bytes(size - 1) + bytes((r.startup_locality & 0xFF,))
    return bytes(size)


def _finish(r: Replay) -> None:
    r.registers = {}
    for alg, bank in r._banks.items():
        name = TPM_ALG_NAMES.get(alg, f"{alg:#06x}")
        r.registers[name] = {_reg_name(r.log_kind, i): bank[i].hex() for i in sorted(bank)}


def replay_log(log: bytes, address: int, *, kind: str = "TCG2", source: str = "event log") -> Replay:
    """Replay one log held in ``log`` (read from physical ``address``); ``kind``: "TCG2", "TCG_1_2" or "CC"."""
    r = Replay(address=address, size=len(log), log_kind=kind, source=source)
    if kind == "TCG_1_2":
        r._sizes = {_SHA1: TPM_ALG_HASHES[_SHA1][1]}
        r._banks = {_SHA1: {}}
        r.algorithms = [{"alg_id": _SHA1, "name": "sha1", "digest_size": 20, "replayed": True}]
        _extend(r, _walk12(log, address, r))
    else:
        start = _spec_id(log, r, address)
        if start is None:
            r.complete = False
            return r
        r.event_count = 1  # the Spec ID event
        _extend(r, _walk2(log, start, address, r))
    _finish(r)
    return r


def continue_with_final_events(r: Replay, data: bytes, address: int, count: int) -> None:
    """Extend ``r`` with ``count`` more records (the final events past the preboot part) in ``data``."""
    before = r.event_count
    _extend(r, _walk2(data, 0, address, r, limit=count))
    r.final_events_replayed = r.event_count - before
    _finish(r)


# -- the dump's logs --------------------------------------------------------------------------
@dataclass(kw_only=True)
class MeasuredBoot(Parsed):
    """Every event log of a dump replayed (the TPM log Linux kept, the CCEL log), and what was compared."""

    kind: ClassVar[str] = "measured_boot"

    replays: list[Replay] = field(default_factory=list)
    compared: str = ""

    @property
    def present(self) -> bool:
        return bool(self.replays)

    @property
    def title(self) -> str:
        if not self.replays:
            return "measured boot: no event log in the dump"
        return "measured boot: " + "; ".join(r.title for r in self.replays)

    def children(self) -> list[Parsed]:
        return list(self.replays)


def _read_log(mem: PhysicalMemory, pa: int, size: int, name: str, findings: list[Finding]) -> bytes | None:
    size = min(size, MAX_LOG_SIZE)
    gap = mem.first_gap(pa, size)
    avail = size if gap is None else gap[0] - pa
    if avail <= 0:
        findings.append(make(READ_ERROR, name, pa, f"{size:#x} bytes: not in the dump"))
        return None
    try:
        return mem.read(pa, avail, structure=name)
    except MemoryReadError as e:
        findings.append(make(READ_ERROR, name, pa, e.reason))
        return None


def _tpm_replay(mem: PhysicalMemory, log: TpmEventLog, final: FinalEventsTable | None) -> Replay | None:
    if log.format not in ("TCG_2", "TCG_1_2") or not log.log_size:
        return None
    found: list[Finding] = []
    # the bytes the decoder read from this memory (a read whole, as _read_log would give), else a read here
    data = log.take_log_bytes(mem, log.log_address, min(log.log_size, MAX_LOG_SIZE))
    if data is None:
        data = _read_log(mem, log.log_address, log.log_size, "TPM event log", found)
    if data is None:
        r = Replay(address=log.log_address, size=0, log_kind="TCG2", source="LINUX_EFI_TPM_EVENT_LOG", complete=False)
        r.findings.extend(found)
        return r
    kind = "TCG_1_2" if log.version == EFI_TCG2_EVENT_LOG_FORMAT_TCG_1_2 else "TCG2"
    if kind == "TCG2" and not log.digest_sizes:
        return None  # no usable Spec ID event: the decoder's TPM-LOG-SPECID already says so
    r = replay_log(data, log.log_address, kind=kind, source="LINUX_EFI_TPM_EVENT_LOG")
    if final is None or final.address is None or kind != "TCG2" or not r._banks:
        return r
    skip = log.final_events_preboot_size
    rest = final.number_of_events
    if final.events_size is None or skip > final.events_size:
        why = f"final events table @ {final.address:#x}: not walkable with the log's digest sizes"
        if final.events_size is not None:
            why = f"final_events_preboot_size {skip:#x} exceeds the table's {final.events_size:#x} bytes"
        r.findings.append(make(FINAL_NOT_REPLAYED, "TCG2 final events table", final.address, why))
        return r
    start = final.address + TCG2_FINAL_HEADER_SIZE
    body = final.take_event_bytes(mem, start, final.events_size)  # what size_final_events read, else read here
    if body is None:
        body = _read_log(mem, start, final.events_size, "TCG2 final events", r.findings)
    if body is None:
        return r
    # records inside the preboot part are already in the main log
    skipped = 0
    probe = Replay(address=start, size=0, log_kind="TCG2", source="TCG2 final events")
    probe._sizes = r._sizes
    if skip:
        skipped = sum(1 for _ in _walk2(body[:skip], 0, start, probe))
    continue_with_final_events(r, body[skip:], start + skip, max(0, rest - skipped))
    return r


def _ccel_replay(mem: PhysicalMemory, rsdp: Any) -> list[Replay]:
    out: list[Replay] = []
    for sdt in _sdts(rsdp):
        for t in sdt.tables:
            if t.signature != CCEL_SIGNATURE or t.address is None:
                continue
            found: list[Finding] = []
            try:
                raw = mem.read(t.address, ACPI_TABLE_CCEL.sizeof(), structure="ACPI CCEL")
            except MemoryReadError as e:
                r = Replay(address=t.address, size=0, log_kind="CC", source="ACPI CCEL", complete=False)
                r.findings.append(make(READ_ERROR, "ACPI CCEL", t.address, e.reason))
                out.append(r)
                continue
            c = ACPI_TABLE_CCEL.parse(raw)
            lasa, laml = c.log_area_start_address, c.log_area_minimum_length
            cc = CCEL_CC_TYPES.get(c.cc_type, f"type {c.cc_type}")
            source = f"ACPI CCEL ({cc}) log @ {lasa:#x}"
            if not lasa or not laml:
                r = Replay(address=t.address, size=0, log_kind="CC", source=source, complete=False)
                r.findings.append(make(CCEL_BAD, "ACPI CCEL", t.address, f"LASA {lasa:#x}, LAML {laml:#x}"))
                out.append(r)
                continue
            data = _read_log(mem, lasa, laml, "CC event log", found)
            if data is None:
                r = Replay(address=lasa, size=0, log_kind="CC", source=source, complete=False)
                r.findings.extend(found)
            else:
                r = replay_log(data, lasa, kind="CC", source=source)
            out.append(r)
            break
    return out


def _sdts(rsdp: Any) -> list[Any]:
    return [s for s in (getattr(rsdp, "xsdt", None), getattr(rsdp, "rsdt", None)) if s is not None][:1]


def measured_boot(mem: PhysicalMemory, tables: Iterable[tuple[str, Any]]) -> MeasuredBoot:
    """Replay every event log among the configuration tables ``(guid, payload)`` of a dump."""
    from efitables.payloads.acpi import Rsdp

    pairs = list(tables)
    out = MeasuredBoot(address=None, size=0)
    tpm = next((p for _g, p in pairs if isinstance(p, TpmEventLog)), None)
    final = next(
        (p for g, p in pairs if g == EFI_TCG2_FINAL_EVENTS_TABLE_GUID and isinstance(p, FinalEventsTable)), None
    )
    cc_final = next(
        (p for g, p in pairs if g == EFI_CC_FINAL_EVENTS_TABLE_GUID and isinstance(p, FinalEventsTable)), None
    )
    if tpm is not None:
        r = _tpm_replay(mem, tpm, final)
        if r is not None:
            out.replays.append(r)
    rsdp = next((p for _g, p in pairs if isinstance(p, Rsdp)), None)
    if rsdp is not None:
        ccs = _ccel_replay(mem, rsdp)
        for r in ccs:
            if cc_final is not None and cc_final.address is not None and cc_final.number_of_events:
                why = f"{cc_final.number_of_events} CC final events: no preboot size tells which are in the CCEL log"
                r.findings.append(make(FINAL_NOT_REPLAYED, "CC final events table", cc_final.address, why))
        out.replays.extend(ccs)
    out.compared = (
        "nothing: the TPM holds the PCRs and the TDX module the RTMRs; guest memory keeps no PCR or RTMR "
        "values (Linux keeps no TDREPORT or quote): compare these with a quote or tpm2_pcrread"
        if out.replays
        else ""
    )
    return out
