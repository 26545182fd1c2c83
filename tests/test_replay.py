"""Measured-boot replay (efitables.measured.replay) against PCR / RTMR values computed here with hashlib.

The logs are built with the schemas (TCG_PCR_EVENT, the Spec ID head and algorithm entries,
TCG_PCR_EVENT2's head); the expected values are computed in this file, independently of the
replay code: a dict of registers extended in order with ``hashlib``.
"""

from __future__ import annotations

import hashlib
import struct

from efitables.measured.replay import MeasuredBoot, measured_boot, replay_log
from efitables.memory.base import BytesMemory
from efitables.payloads.base import DecodeContext
from efitables.payloads.tcg import (
    EFI_CC_FINAL_EVENTS_TABLE_GUID,
    EFI_TCG2_FINAL_EVENTS_TABLE_GUID,
    LINUX_EFI_TPM_EVENT_LOG_GUID,
    decode_final_events,
    decode_tpm_log,
    link_tcg,
)
from efitables.schemas.measured import ACPI_TABLE_CCEL
from efitables.schemas.payloads.tcg import (
    EFI_TCG2_FINAL_EVENTS_TABLE,
    LINUX_EFI_TPM_EVENTLOG,
    TCG_EFI_SPECID_EVENT_ALGS,
    TCG_EFI_SPECID_EVENT_HEAD,
    TCG_PCR_EVENT,
    TCG_PCR_EVENT2_HEAD,
)

SHA1, SHA256, SHA384 = 0x4, 0xB, 0xC
SIZES = {SHA1: 20, SHA256: 32, SHA384: 48}
NAMES = {SHA1: "sha1", SHA256: "sha256", SHA384: "sha384"}
EV_NO_ACTION, EV_SEPARATOR, EV_S_CRTM_VERSION = 0x3, 0x4, 0x8
EV_EFI_VARIABLE_DRIVER_CONFIG, EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000001, 0x80000003


def spec_id_event(algs: list[int]) -> bytes:
    body = TCG_EFI_SPECID_EVENT_HEAD.build(
        dict(
            signature=b"Spec ID Event03\0",
            platform_class=0,
            spec_version_minor=0,
            spec_version_major=2,
            spec_errata=0,
            uintnsize=2,
            num_algs=len(algs),
        )
    )
    body += b"".join(TCG_EFI_SPECID_EVENT_ALGS.build(dict(alg_id=a, digest_size=SIZES[a])) for a in algs)
    body += b"\0"  # vendorInfoSize
    head = TCG_PCR_EVENT.build(dict(pcr_idx=0, event_type=EV_NO_ACTION, digest=bytes(20), event_size=len(body)))
    return head + body


def event2(pcr: int, etype: int, digests: dict[int, bytes], data: bytes) -> bytes:
    out = TCG_PCR_EVENT2_HEAD.build(dict(pcr_idx=pcr, event_type=etype, count=len(digests)))
    for alg, d in digests.items():
        out += struct.pack("<H", alg) + d
    return out + struct.pack("<I", len(data)) + data


def digests_of(data: bytes, algs: list[int]) -> dict[int, bytes]:
    return {a: hashlib.new(NAMES[a], data).digest() for a in algs}


#: (pcr, event type, event data) of the fixture TCG2 log, after the Spec ID event.
TCG2_EVENTS = [
    (0, EV_NO_ACTION, b"StartupLocality\0" + bytes([3])),
    (0, EV_S_CRTM_VERSION, b"OVMF 1.0\0"),
    (7, EV_EFI_VARIABLE_DRIVER_CONFIG, b"SecureBoot=1"),
    (0, EV_SEPARATOR, bytes(4)),
    (7, EV_SEPARATOR, bytes(4)),
    (4, EV_EFI_BOOT_SERVICES_APPLICATION, b"\\EFI\\BOOT\\BOOTX64.EFI"),
]


def expected(events: list[tuple[int, int, bytes]], algs: list[int], locality: int | None, cc: bool = False) -> dict:
    """The registers, extended here with hashlib: {alg name: {register name: hex}}."""
    out: dict[str, dict[str, str]] = {}
    for a in algs:
        regs: dict[int, bytes] = {}
        for pcr, etype, data in events:
            if etype == EV_NO_ACTION:
                continue
            idx = pcr - 1 if cc else pcr
            start = bytes(SIZES[a])
            if idx == 0 and locality is not None and not cc:
                start = bytes(SIZES[a] - 1) + bytes([locality])
            cur = regs.get(idx, start)
            regs[idx] = hashlib.new(NAMES[a], cur + hashlib.new(NAMES[a], data).digest()).digest()
        prefix = "RTMR" if cc else "PCR"
        out[NAMES[a]] = {f"{prefix}{i}": regs[i].hex() for i in sorted(regs)}
    return out


def tcg2_log(events: list[tuple[int, int, bytes]], algs: list[int]) -> bytes:
    return spec_id_event(algs) + b"".join(event2(p, t, digests_of(d, algs), d) for p, t, d in events)


def test_tcg2_replay_sha1_and_sha256_with_startup_locality() -> None:
    algs = [SHA1, SHA256]
    log = tcg2_log(TCG2_EVENTS, algs)
    r = replay_log(log, 0x7000000, kind="TCG2", source="test log")
    assert r.complete and not r.findings
    assert r.event_count == 1 + len(TCG2_EVENTS)
    assert r.extends == 5 and r.startup_locality == 3
    assert [a["name"] for a in r.algorithms] == ["sha1", "sha256"]
    want = expected(TCG2_EVENTS, algs, locality=3)
    assert r.registers == want
    # PCR 0 did start from the locality: not the value a zero start gives
    assert r.registers["sha256"]["PCR0"] != expected(TCG2_EVENTS, algs, locality=None)["sha256"]["PCR0"]


def test_ccel_replay_sha384_rtmrs() -> None:
    events = [(1, EV_EFI_VARIABLE_DRIVER_CONFIG, b"SecureBoot"), (1, EV_SEPARATOR, bytes(4)), (2, 0xD, b"kernel")]
    log = tcg2_log(events, [SHA384]) + b"\xff" * 64  # erased fill after the last record
    r = replay_log(log, 0x8000000, kind="CC", source="CCEL")
    assert r.complete and not r.findings
    assert r.registers == expected(events, [SHA384], None, cc=True)
    assert set(r.registers["sha384"]) == {"RTMR0", "RTMR1"}


def test_record_running_past_the_log_is_a_finding_and_partial() -> None:
    log = tcg2_log(TCG2_EVENTS, [SHA256])
    r = replay_log(log[:-5], 0x1000, kind="TCG2")
    assert not r.complete
    assert [f.code for f in r.findings] == ["MEASURED-EVENT"]
    # every record but the last one was replayed
    assert r.registers == expected(TCG2_EVENTS[:-1], [SHA256], locality=3)


def test_bad_index_missing_digest_and_no_spec_id() -> None:
    algs = [SHA1, SHA256]
    bad = event2(30, EV_SEPARATOR, digests_of(b"x", algs), b"x")
    missing = event2(1, EV_SEPARATOR, digests_of(b"y", [SHA256]), b"y")
    r = replay_log(spec_id_event(algs) + bad + missing, 0x2000)
    codes = sorted(f.code for f in r.findings)
    assert codes == ["MEASURED-DIGEST-MISSING", "MEASURED-INDEX"]
    assert "PCR1" not in r.registers["sha1"] and r.registers["sha256"]["PCR1"] == (
        hashlib.sha256(bytes(32) + hashlib.sha256(b"y").digest()).hexdigest()
    )
    r = replay_log(b"\x01" * 200, 0x3000)
    assert [f.code for f in r.findings] == ["MEASURED-SPECID"] and not r.registers


def test_huge_digest_count_and_event_size_stop_the_walk() -> None:
    log = spec_id_event([SHA256]) + TCG_PCR_EVENT2_HEAD.build(dict(pcr_idx=0, event_type=1, count=1 << 31))
    r = replay_log(log, 0)
    assert [f.code for f in r.findings] == ["MEASURED-EVENT"] and not r.complete
    log = spec_id_event([SHA256]) + event2(0, 1, digests_of(b"", [SHA256]), b"")[:-4] + struct.pack("<I", 0xFFFFFFFF)
    r = replay_log(log, 0)
    assert [f.code for f in r.findings] == ["MEASURED-EVENT"]


# -- the dump's logs: Linux's TPM log copy plus the final events, and the CCEL ------------------------
LOG_PA, FINAL_PA = 0x10000, 0x20000


def tpm_machine(preboot: list[tuple[int, int, bytes]], after: list[tuple[int, int, bytes]]) -> tuple:
    algs = [SHA1, SHA256]
    log = tcg2_log(TCG2_EVENTS, algs)
    pre = b"".join(event2(p, t, digests_of(d, algs), d) for p, t, d in preboot)
    post = b"".join(event2(p, t, digests_of(d, algs), d) for p, t, d in after)
    head = LINUX_EFI_TPM_EVENTLOG.build(dict(size=len(log), final_events_preboot_size=len(pre), version=2))
    final = EFI_TCG2_FINAL_EVENTS_TABLE.build(dict(Version=1, NumberOfEvents=len(preboot) + len(after)))
    mem = BytesMemory({LOG_PA: (head + log).ljust(0x8000, b"\0"), FINAL_PA: (final + pre + post).ljust(0x1000, b"\0")})
    t = decode_tpm_log(DecodeContext(mem, LINUX_EFI_TPM_EVENT_LOG_GUID, LOG_PA))
    f = decode_final_events(DecodeContext(mem, EFI_TCG2_FINAL_EVENTS_TABLE_GUID, FINAL_PA))
    link_tcg(mem, [t, f])
    return mem, [(LINUX_EFI_TPM_EVENT_LOG_GUID, t), (EFI_TCG2_FINAL_EVENTS_TABLE_GUID, f)]


def test_final_events_past_the_preboot_size_are_replayed_on_top() -> None:
    pre = [(4, EV_EFI_BOOT_SERVICES_APPLICATION, b"already in the main log")]
    after = [(5, 0x80000007, b"ExitBootServices() Invocation"), (5, 0x80000007, b"Exit Boot Services Returned")]
    mem, tables = tpm_machine(pre, after)
    mb = measured_boot(mem, tables)
    assert isinstance(mb, MeasuredBoot) and len(mb.replays) == 1
    r = mb.replays[0]
    assert r.final_events_replayed == 2 and not r.findings
    # the preboot final event is already in the main log: replayed once, from there
    assert r.registers == expected(TCG2_EVENTS + after, [SHA1, SHA256], locality=3)
    assert "nothing" in mb.compared


def test_ccel_from_the_acpi_tables_and_the_cc_final_table_not_replayed() -> None:
    from efitables.payloads.acpi import AcpiSdt, AcpiTableHeader, Rsdp
    from efitables.payloads.tcg import FinalEventsTable

    ccel_pa, lasa = 0x30000, 0x40000
    events = [(1, EV_SEPARATOR, bytes(4)), (4, 0xD, b"initrd")]
    log = tcg2_log(events, [SHA384])
    ccel = ACPI_TABLE_CCEL.build(
        dict(
            header=b"CCEL" + bytes(32),
            cc_type=2,
            cc_sub_type=0,
            reserved=0,
            log_area_minimum_length=0x10000,
            log_area_start_address=lasa,
        )
    )
    mem = BytesMemory({ccel_pa: ccel.ljust(0x1000, b"\0"), lasa: log.ljust(0x10000, b"\xff")})
    common = dict(
        revision=1, checksum_ok=True, oem_id="", oem_table_id="", oem_revision=0, creator_id="", creator_revision=0
    )
    hdr = AcpiTableHeader(address=ccel_pa, size=36, signature="CCEL", length=56, index=0, **common)
    xsdt = AcpiSdt(address=0x50000, size=36, signature="XSDT", length=44, entry_count=1, tables=[hdr], **common)
    rsdp = Rsdp(
        address=0x60000,
        size=36,
        signature="RSD PTR ",
        revision=2,
        oem_id="",
        rsdt_address=0,
        checksum_ok=True,
        xsdt_address=0x50000,
        xsdt=xsdt,
    )
    cc_final = FinalEventsTable(address=0x70000, size=16, version=1, number_of_events=2)
    mb = measured_boot(mem, [("acpi", rsdp), (EFI_CC_FINAL_EVENTS_TABLE_GUID, cc_final)])
    (r,) = mb.replays
    assert r.log_kind == "CC" and r.address == lasa and "TDX" in r.source
    assert r.registers == expected(events, [SHA384], None, cc=True)
    assert [f.code for f in r.findings] == ["MEASURED-FINAL-SKIPPED"]


# -- the TPM log is read from the dump once: the replay takes the bytes the payload decoder read -------
SYSTAB_PA, CFG_PA, VENDOR_PA, BIG_LOG_PA = 0x7E0018, 0x7E0100, 0x7E0300, 0x800000
#: A log far larger than a real one (tens of KiB): 2000 events of 1000 bytes, SHA-1 and SHA-256 digests.
BIG_EVENTS = [(i % 8, EV_EFI_BOOT_SERVICES_APPLICATION, i.to_bytes(4, "little") * 250) for i in range(2000)]


class CountingMemory(BytesMemory):
    """A BytesMemory that counts the bytes read from one range ``watch`` (every read reaches ``_read``)."""

    def __init__(self, segments: dict[int, bytes], watch: tuple[int, int]) -> None:
        super().__init__(segments)
        self.watch = watch
        self.watched = 0

    def _read(self, pa: int, size: int) -> bytes:
        lo, hi = self.watch
        self.watched += max(0, min(hi, pa + size) - max(lo, pa))
        return super()._read(pa, size)


def big_log_dump(log: bytes) -> CountingMemory:
    """A dump with a system table whose one configuration table is LINUX_EFI_TPM_EVENT_LOG, holding ``log``."""
    from dumps.builder import Image, config_tables, system_table, ucs2

    img = Image()
    img.add_region(0, BIG_LOG_PA + 0x800000)
    img.put(SYSTAB_PA, system_table(64, vendor=VENDOR_PA, revision=0x20046, fw_revision=1, runtime=0, nr_tables=1,
                                    tables=CFG_PA))  # fmt: skip
    img.put(CFG_PA, config_tables(64, [(LINUX_EFI_TPM_EVENT_LOG_GUID, BIG_LOG_PA)]))
    img.put(VENDOR_PA, ucs2("EDK II"))
    img.put(BIG_LOG_PA, LINUX_EFI_TPM_EVENTLOG.build(dict(size=len(log), final_events_preboot_size=0, version=2)) + log)
    log_pa = BIG_LOG_PA + LINUX_EFI_TPM_EVENTLOG.sizeof()
    return CountingMemory({s: bytes(b) for s, b in img.regions.items()}, (log_pa, log_pa + len(log)))


def test_a_dumps_tpm_log_is_read_once() -> None:
    """Decoder and replay of one Dump: the log's bytes are read from the dump once (its size, not twice it)."""
    from efitables.dump import Dump

    algs = [SHA1, SHA256]
    log = tcg2_log(BIG_EVENTS, algs)
    assert len(log) > 2 * 1024 * 1024
    mem = big_log_dump(log)
    d = Dump(mem, systab=SYSTAB_PA)
    ct = d.config_table(LINUX_EFI_TPM_EVENT_LOG_GUID)
    assert ct is not None
    t = ct.payload
    assert t.event_count == 1 + len(BIG_EVENTS) and t.log_size == len(log) and not t.all_findings()
    assert mem.watched == len(log)  # the decoder's read
    mb = d.measured
    assert mem.watched == len(log)  # the replay read nothing more
    (r,) = mb.replays
    assert (r.log_kind, r.address, r.size, r.event_count, r.extends) == ("TCG2", t.log_address, len(log), 2001, 2000)
    assert r.complete and not r.findings
    assert r.registers == expected(BIG_EVENTS, algs, locality=None)
    assert t._log is not None and not t._log.held  # handed over: the dump keeps no second copy of the log


def test_the_replay_alone_reads_the_log_itself() -> None:
    """The replay of a payload decoded from another memory, or already replayed once, reads the log (once)."""
    algs = [SHA256]
    log = tcg2_log(BIG_EVENTS, algs)
    other_events = [(p, ty, bytes(reversed(data))) for p, ty, data in BIG_EVENTS]
    other = tcg2_log(other_events, algs)
    assert len(other) == len(log) and other != log
    a, b = big_log_dump(log), big_log_dump(other)
    t = decode_tpm_log(DecodeContext(a, LINUX_EFI_TPM_EVENT_LOG_GUID, BIG_LOG_PA))
    assert t.event_count == 1 + len(BIG_EVENTS) and a.watched == len(log)
    # another memory: its own bytes, read there, whatever the payload kept
    (r,) = measured_boot(b, [(LINUX_EFI_TPM_EVENT_LOG_GUID, t)]).replays
    assert b.watched == len(other) and a.watched == len(log)
    assert r.registers == expected(other_events, algs, locality=None)
    # the decoder's memory: the kept bytes, then (handed over once) a read
    (r,) = measured_boot(a, [(LINUX_EFI_TPM_EVENT_LOG_GUID, t)]).replays
    assert a.watched == len(log)
    assert r.registers == expected(BIG_EVENTS, algs, locality=None)
    (r2,) = measured_boot(a, [(LINUX_EFI_TPM_EVENT_LOG_GUID, t)]).replays
    assert a.watched == 2 * len(log)
    assert r2.registers == r.registers and (r2.event_count, r2.complete) == (1 + len(BIG_EVENTS), True)


def test_a_log_the_decoder_could_not_read_whole_is_replayed_up_to_the_hole() -> None:
    """The decoder's read stops at a hole (DUMP-READ, no bytes kept): the replay reads the log up to it itself."""

    def digest(i: int) -> bytes:
        return hashlib.sha1(i.to_bytes(2, "little")).digest()

    log = b"".join(
        TCG_PCR_EVENT.build(dict(pcr_idx=i % 4, event_type=EV_SEPARATOR, digest=digest(i), event_size=0))
        for i in range(300)
    )
    head = LINUX_EFI_TPM_EVENTLOG.build(dict(size=len(log), final_events_preboot_size=0, version=1))
    present = 0x1000 - len(head)  # the first page only: 4087 bytes of the log, 127 whole records
    log_pa = LOG_PA + len(head)
    mem = CountingMemory({LOG_PA: (head + log)[:0x1000]}, (log_pa, log_pa + len(log)))
    t = decode_tpm_log(DecodeContext(mem, LINUX_EFI_TPM_EVENT_LOG_GUID, LOG_PA))
    assert [f.code for f in t.findings] == ["DUMP-READ"] and t.event_count is None and t._log is None
    (r,) = measured_boot(mem, [(LINUX_EFI_TPM_EVENT_LOG_GUID, t)]).replays
    assert (r.log_kind, r.size, r.event_count, r.complete) == ("TCG_1_2", present, present // 32, False)
    assert [f.code for f in r.findings] == ["MEASURED-EVENT"]
    want: dict[int, bytes] = {}
    for i in range(present // 32):
        cur = want.get(i % 4, bytes(20))
        want[i % 4] = hashlib.sha1(cur + digest(i)).digest()
    assert r.registers == {"sha1": {f"PCR{i}": v.hex() for i, v in sorted(want.items())}}


def test_final_events_are_read_as_far_as_their_records_and_once() -> None:
    """Sizing the final events reads what the records need (64 KiB, then 8 times more while they run on),
    not the 4 MiB cap; the replay then takes those bytes instead of reading them again."""
    from efitables.payloads.tcg import FINAL_EVENTS_FIRST_READ, MAX_FINAL_EVENTS_BYTES

    algs = [SHA1, SHA256]
    after = [(5, 0x80000007, f"event {i}".encode() * 8) for i in range(2000)]
    log = tcg2_log(TCG2_EVENTS, algs)
    post = b"".join(event2(p, t, digests_of(d, algs), d) for p, t, d in after)
    assert FINAL_EVENTS_FIRST_READ < len(post) < 8 * FINAL_EVENTS_FIRST_READ
    head = LINUX_EFI_TPM_EVENTLOG.build(dict(size=len(log), final_events_preboot_size=0, version=2))
    final = EFI_TCG2_FINAL_EVENTS_TABLE.build(dict(Version=1, NumberOfEvents=len(after)))
    region = MAX_FINAL_EVENTS_BYTES + 0x10000  # the cap is readable: the old single read took all of it
    mem = CountingMemory(
        {LOG_PA: (head + log).ljust(0x8000, b"\0"), 0x400000: bytes(0x10) + (final + post).ljust(region, b"\0")},
        (0x400010 + 16, 0x400010 + 16 + region),
    )
    fpa = 0x400010
    t = decode_tpm_log(DecodeContext(mem, LINUX_EFI_TPM_EVENT_LOG_GUID, LOG_PA))
    f = decode_final_events(DecodeContext(mem, EFI_TCG2_FINAL_EVENTS_TABLE_GUID, fpa))
    mem.watched = 0
    link_tcg(mem, [t, f])
    assert f.events_size == len(post) and not f.findings
    assert mem.watched == FINAL_EVENTS_FIRST_READ + 8 * FINAL_EVENTS_FIRST_READ  # two reads, not 4 MiB
    mb = measured_boot(mem, [(LINUX_EFI_TPM_EVENT_LOG_GUID, t), (EFI_TCG2_FINAL_EVENTS_TABLE_GUID, f)])
    assert mem.watched == 9 * FINAL_EVENTS_FIRST_READ  # the replay read none of them again
    (r,) = mb.replays
    assert r.final_events_replayed == len(after) and not r.findings
    assert r.registers == expected(TCG2_EVENTS + after, algs, locality=3)
