"""The kernel's log out of a dump: the printk ring buffer, the old log_buf, ``efitables dmesg``, and the
kernel's ``efi:`` line against the configuration tables (KLOG-*).

Fixtures are rings built with efitables.schemas.printk (tests/builders_printk.py) holding known records;
the real corpus is checked against what each guest printed on its serial console.
"""

from __future__ import annotations

import json
import lzma
from pathlib import Path
from typing import Any

import pytest
import test_real_dumps as R
from builders_printk import (
    DIRECT_PA,
    IMAGE_PA,
    LOG_BUF_PA,
    LOG_FIRST_IDX_PA,
    POB,
    RB_PA,
    Ring,
    legacy_log,
    log_record,
)
from click.testing import CliRunner

from efitables.analysis import CHECKS
from efitables.analysis import kernel_log as klog
from efitables.cli import cli
from efitables.coverage.ptbuilder import PageTableBuilder
from efitables.dump import Dump
from efitables.kernel import printk
from efitables.kernel.addrspace import KernelAddressSpace
from efitables.kernel.printk import KernelLog, PrintkRecord, read_kernel_log
from efitables.memory.base import BytesMemory
from efitables.schemas.paging import PAGE_PRESENT, PAGE_PSE
from efitables.schemas.printk import (
    DESC_COMMITTED,
    DESC_FINALIZED,
    DESC_ID_MASK,
    DESC_RESERVED,
    DESC_REUSABLE,
    LOG_CONT,
    LOG_NEWLINE,
    NO_LPOS,
    PRINTK_INFO,
    PRINTK_LOG,
    PRINTK_LOG_SIZE_NO_CALLER,
)

TEXT_B = b"efi: ACPI=0x7e0000 "  # 19 bytes: a 32-byte block
TEXT_C = b"multi\nline record that wraps!"  # 29 bytes: a 40-byte block, wrapping
TEXT_D = b"head record"  # 11 bytes: a 24-byte block


def standard_ring(arrays: str = "image") -> Ring:
    """Eight descriptors, a 128-byte text ring in its second wrap (lpos 0x2000..), IDs 0x102..0x107.

    ============  =====  =========  ==================  ==========================================
    id (slot)     seq    state      text block (lpos)   what the reader must do
    ============  =====  =========  ==================  ==========================================
    0x102 (2)     10     reusable   0x1fe0-0x2000       lost (the tail, text dropped by the ring)
    0x103 (3)     11     finalized  0x2020-0x2040       overwritten: before tail_lpos 0x2040
    0x104 (4)     12     finalized  0x2040-0x2060       record B (regular block at index 64)
    0x105 (5)     13     finalized  0x2060-0x20a8       record C (wrapping: whole block at index 0)
    0x106 (6)     14     finalized  NO_LPOS             an empty line (data-less)
    0x107 (7)     15     committed  0x20a8-0x20c0       record D, the head (not yet finalized)
    ============  =====  =========  ==================  ==========================================
    """
    r = Ring(count_bits=3, size_bits=7, arrays=arrays)
    r.tail_id, r.head_id = 0x102, 0x107
    r.tail_lpos, r.head_lpos = 0x2040, 0x20C0
    r.desc(0, 0xF8, DESC_REUSABLE, 0x1F00, 0x1F20)  # stale slots outside tail..head: never read
    r.desc(1, 0xF9, DESC_REUSABLE, 0x1F20, 0x1F40)
    r.desc(2, 0x102, DESC_REUSABLE, 0x1FE0, 0x2000)
    r.set_info(2, seq=10, text_len=5, ts_nsec=100)
    r.desc(3, 0x103, DESC_FINALIZED, 0x2020, 0x2040)
    r.set_info(3, seq=11, text_len=20, ts_nsec=200)
    r.block(0x2020, 0x2040, 0x103, b"A" * 20)  # then overwritten by C and D below
    r.desc(4, 0x104, DESC_FINALIZED, 0x2040, 0x2060)
    r.set_info(4, seq=12, text_len=len(TEXT_B), ts_nsec=1_500_000_000, level=3, flags=LOG_NEWLINE, caller_id=123)
    r.block(0x2040, 0x2060, 0x104, TEXT_B)
    r.desc(5, 0x105, DESC_FINALIZED, 0x2060, 0x20A8)
    r.set_info(
        5,
        seq=13,
        text_len=len(TEXT_C),
        ts_nsec=2_000_123_456,
        level=6,
        facility=1,
        flags=LOG_NEWLINE,
        caller_id=0x80000001,
        subsystem=b"pci",
        device=b"+pci:0000:00:01.0",
    )
    r.block(0x2060, 0x20A8, 0x105, TEXT_C)
    r.desc(6, 0x106, DESC_FINALIZED, NO_LPOS, NO_LPOS)
    r.set_info(6, seq=14, text_len=0, ts_nsec=3_000_000_000, level=4, flags=LOG_NEWLINE, caller_id=1)
    r.desc(7, 0x107, DESC_COMMITTED, 0x20A8, 0x20C0)
    r.set_info(7, seq=15, text_len=len(TEXT_D), ts_nsec=123_456_789_000, level=7, flags=LOG_CONT, caller_id=42)
    r.block(0x20A8, 0x20C0, 0x107, TEXT_D)
    return r


def as_tuple(rec: PrintkRecord) -> tuple[Any, ...]:
    return (
        rec.seq,
        rec.ts_nsec,
        rec.level,
        rec.facility,
        rec.flags,
        rec.caller_id,
        rec.text,
        rec.subsystem,
        rec.device,
        rec.desc_id,
        rec.state,
        rec.text_len,
        rec.truncated,
    )


EXPECTED = [
    (12, 1_500_000_000, 3, 0, LOG_NEWLINE, 123, TEXT_B.decode(), "", "", 0x104, "finalized", 19, False),
    (
        13,
        2_000_123_456,
        6,
        1,
        LOG_NEWLINE,
        0x80000001,
        TEXT_C.decode(),
        "pci",
        "+pci:0000:00:01.0",
        0x105,
        "finalized",
        29,
        False,
    ),
    (14, 3_000_000_000, 4, 0, LOG_NEWLINE, 1, "", "", "", 0x106, "finalized", 0, False),
    (15, 123_456_789_000, 7, 0, LOG_CONT, 42, TEXT_D.decode(), "", "", 0x107, "committed", 11, False),
]


def codes(log: KernelLog) -> list[str]:
    return [f.code for f in log.findings]


# -- the lockless ring -------------------------------------------------------------------------
def test_records_field_by_field():
    r = standard_ring()
    log = read_kernel_log(r.memory())
    assert log.error is None and log.format == "lockless"
    assert [as_tuple(x) for x in log.records] == EXPECTED
    info_size = PRINTK_INFO.sizeof()
    assert [x.address for x in log.records] == [r.infos_pa + i * info_size for i in (4, 5, 6, 7)]
    assert log.arrays == {"descs": r.descs_pa, "infos": r.infos_pa, "data": r.data_pa}
    assert [x.size for x in log.records] == [info_size] * 4
    assert [x.text_address for x in log.records] == [r.data_pa + 64 + 8, r.data_pa + 8, None, r.data_pa + 40 + 8]
    assert log.records[1].raw == PRINTK_INFO.build(r.infos[5])
    assert log.address == RB_PA and log.virtual_address == 0xFFFFFFFF81000000 - IMAGE_PA + RB_PA
    assert (log.desc_count, log.data_size) == (8, 128)
    assert (log.head_id, log.tail_id, log.head_lpos, log.tail_lpos) == (0x107, 0x102, 0x20C0, 0x2040)
    assert log.lost == 1  # the reusable tail
    assert log.skipped == {"text overwritten (block outside the data ring's live range)": 1}
    (f,) = log.findings
    assert (f.code, f.structure, f.address) == ("PRINTK-RECORD-SKIPPED", "printk ring buffer", r.descs_pa + 3 * 24)
    assert log.translation == "image"


def test_record_presentation():
    log = read_kernel_log(standard_ring().memory())
    b, c, empty, d = log.records
    assert b.timestamp == "[    1.500000]" and d.timestamp == "[  123.456789]"
    assert (b.level_name, c.level_name, empty.level_name, d.level_name) == ("err", "info", "warn", "debug")
    assert (b.facility_name, c.facility_name) == ("kern", "user")
    assert (b.caller, c.caller) == ("T123", "C1")
    assert c.dmesg_lines() == ["[    2.000123] multi", "[    2.000123] line record that wraps!"]
    assert c.dmesg_lines(caller=True)[0] == "[    2.000123] [    C1] multi"
    assert empty.dmesg_lines() == ["[    3.000000] "]
    assert list(log.lines())[0] == "[    1.500000] efi: ACPI=0x7e0000 "
    assert c.brief() == {
        "seq": 13,
        "ts_nsec": 2_000_123_456,
        "level": 6,
        "level_name": "info",
        "facility": 1,
        "caller": "C1",
        "subsystem": "pci",
        "device": "+pci:0000:00:01.0",
        "text": "multi\nline record that wraps!",
        "truncated": False,
    }
    assert log.find("wraps") == [c]


@pytest.mark.parametrize("arrays, route", [("kallsyms", "direct map"), ("pagetables", "page tables")])
def test_arrays_in_the_direct_map(arrays: str, route: str):
    """log_buf_len= rings: memblock arrays in the direct map, through page_offset_base or init_top_pgt."""
    r = standard_ring(arrays)
    assert r.descs_pa == DIRECT_PA
    log = read_kernel_log(r.memory())
    assert [as_tuple(x) for x in log.records] == EXPECTED
    assert [x.text_address for x in log.records] == [r.data_pa + 72, r.data_pa + 8, None, r.data_pa + 48]
    assert route in log.translation
    if arrays == "kallsyms":
        assert f"page_offset_base {POB:#x} from kallsyms" in log.translation


def test_in_flight_descriptors_are_skipped():
    r = standard_ring()
    r.desc(6, 0x106, DESC_RESERVED, NO_LPOS, NO_LPOS)  # a writer holds it
    r.desc(7, 0x0F, DESC_FINALIZED, 0x20A8, 0x20C0)  # state_var with another ID: being recycled
    log = read_kernel_log(r.memory())
    assert [x.seq for x in log.records] == [12, 13]
    assert log.skipped == {
        "text overwritten (block outside the data ring's live range)": 1,
        "in flight (reserved)": 1,
        "in flight (state_var holds another ID)": 1,
    }
    assert codes(log) == ["PRINTK-RECORD-SKIPPED"]
    assert "1 in flight (reserved)" in log.findings[0].message


def test_block_with_another_id_is_overwritten():
    r = standard_ring()
    r.block(0x2040, 0x2060, 0x0FF, TEXT_B)  # B's block now starts with another descriptor's ID
    log = read_kernel_log(r.memory())
    assert [x.seq for x in log.records] == [13, 14, 15]
    assert log.skipped["text overwritten (block holds another descriptor's ID)"] == 1


def test_failed_lpos_is_lost():
    r = standard_ring()
    r.desc(6, 0x106, DESC_FINALIZED, 0x1, 0x1)  # FAILED_LPOS: the text never made it
    log = read_kernel_log(r.memory())
    assert [x.seq for x in log.records] == [12, 13, 15] and log.lost == 2


def test_page_walk_large_leaves_and_sme_mask():
    """init_top_pgt walks: a 1 GiB and a 2 MiB leaf, the SME C-bit cleared from every entry."""
    cbit = 1 << 47
    ptb = PageTableBuilder(levels=4, table_base=0x10000)
    va1 = POB + (1 << 30)
    va2 = va1 + (1 << 30)
    pdpt, pd = ptb.alloc(), ptb.alloc()
    ptb.set_entry(ptb.root, (va1 >> 39) & 511, pdpt | PAGE_PRESENT | cbit)
    ptb.set_entry(pdpt, (va1 >> 30) & 511, 0x80000000 | PAGE_PRESENT | PAGE_PSE | cbit)
    ptb.set_entry(pdpt, (va2 >> 30) & 511, pd | PAGE_PRESENT | cbit)
    ptb.set_entry(pd, (va2 >> 21) & 511, 0x1200000 | PAGE_PRESENT | PAGE_PSE | cbit)
    space = KernelAddressSpace(BytesMemory(ptb.pages()), pgd=ptb.root, sme_mask=cbit)
    assert space.to_phys(va1 + 0x1234) == 0x80001234
    assert space.to_phys(va2 + 0x1234) == 0x1201234
    assert space.to_phys(va2 + (2 << 20)) is None  # the next PD entry is not present
    assert space.range_to_phys(va2 + 0x1FF000, 0x1000) == 0x13FF000
    assert space.range_to_phys(va2 + 0x1FF000, 0x2000) is None  # runs into the unmapped 2 MiB
    assert space.to_phys(0xFFFFFFFF81000000) is None  # no phys_base: the image does not translate either
    assert space.describe() == "page tables"


# -- hostile rings ---------------------------------------------------------------------------------
def test_count_bits_60():
    r = standard_ring()
    r.header_over["desc_ring.count_bits"] = 60
    log = read_kernel_log(r.memory())
    assert log.records == [] and log.error == "desc_ring.count_bits 60 is implausible"
    (f,) = log.findings
    assert (f.code, f.structure, f.address) == ("PRINTK-RING-BAD", "printk ring buffer", RB_PA)
    assert "count_bits is 60" in f.message


@pytest.mark.parametrize("bits", [0, 3, 40])
def test_size_bits_implausible(bits: int):
    r = standard_ring()
    r.header_over["text_data_ring.size_bits"] = bits
    log = read_kernel_log(r.memory())
    assert log.records == [] and codes(log) == ["PRINTK-RING-BAD"] and log.findings[0].address == RB_PA


def test_head_further_from_tail_than_the_ring():
    r = standard_ring()
    r.tail_id = (0x102 - 8 * 1000) & DESC_ID_MASK  # 8000 IDs behind (same slot): the newest 8 are read
    log = read_kernel_log(r.memory())
    assert codes(log)[0] == "PRINTK-RING-BAD" and "more than the 8 descriptors" in log.findings[0].message
    assert [x.seq for x in log.records] == [12, 13, 14, 15]
    # slots 0 and 1 hold other IDs: skipped, never misread
    assert log.skipped["in flight (state_var holds another ID)"] == 2


def test_text_len_past_the_block():
    r = standard_ring()
    r.set_info(4, seq=12, text_len=200, level=3)
    log = read_kernel_log(r.memory())
    b = log.records[0]
    assert b.truncated and b.text_len == 200
    assert b.text == (TEXT_B + b"\0" * 5).decode()  # the 24 data bytes of the 32-byte block
    bad = [f for f in log.findings if f.code == "PRINTK-RECORD-BAD"]
    assert len(bad) == 1 and bad[0].address == r.descs_pa + 4 * 24
    assert "text_len past its text block" in bad[0].message and "text_len 200 > 24" in bad[0].message


@pytest.mark.parametrize(
    "begin, nxt, kind",
    [
        (0x2060, 0x2040, "text block neither regular nor wrapping"),  # next before begin
        (0x2044, 0x2060, "text block not aligned to its ID"),
        (0x2040, 0x205C, "text block not aligned to its ID"),
        (0x2060, 0x2080, "text block size impossible"),  # "wrapping" to exactly the wrap start: 0 bytes
        (0x2040, 0x2000 + 0x200, "text block neither regular nor wrapping"),  # four wraps ahead
    ],
)
def test_illegal_block_positions(begin: int, nxt: int, kind: str):
    r = standard_ring()
    r.desc(4, 0x104, DESC_FINALIZED, begin, nxt)
    log = read_kernel_log(r.memory())
    assert [x.seq for x in log.records] == [13, 14, 15]
    bad = [f for f in log.findings if f.code == "PRINTK-RECORD-BAD"]
    assert len(bad) == 1 and kind in bad[0].message and bad[0].address == r.descs_pa + 4 * 24


def test_seq_outside_its_slot():
    r = standard_ring()
    r.set_info(5, seq=21, text_len=len(TEXT_C))  # 21 % 8 = 5: fine
    r.set_info(4, seq=20, text_len=len(TEXT_B))  # 20 % 8 = 4: fine
    r.set_info(7, seq=16, text_len=len(TEXT_D))  # 16 % 8 = 0, in slot 7: contradicts the ring
    log = read_kernel_log(r.memory())
    assert [x.seq for x in log.records] == [20, 21, 14]
    (bad,) = [f for f in log.findings if f.code == "PRINTK-RECORD-BAD"]
    assert "seq not in its descriptor's slot" in bad.message and "slot 7 has seq 16" in bad.message


def test_data_lpos_span_larger_than_the_ring():
    r = standard_ring()
    r.tail_lpos = 0x1000  # head - tail = 0x10c0 bytes > 128: no live range to judge blocks by
    log = read_kernel_log(r.memory())
    assert "PRINTK-RING-BAD" in codes(log)
    # without a live range, A's block is judged by its ID alone (overwritten by C's text)
    assert [x.seq for x in log.records] == [12, 13, 14, 15]
    assert log.skipped == {"text overwritten (block holds another descriptor's ID)": 1}


def test_pointers_that_do_not_translate():
    r = standard_ring()
    r.header_over["desc_ring.descs"] = 0x1234  # a user-space address
    log = read_kernel_log(r.memory())
    assert log.error is not None and "descs" in log.error and log.records == []
    (f,) = log.findings
    assert f.code == "PRINTK-RING-BAD" and f.address == RB_PA and "0x1234" in f.message


def test_prb_pointing_nowhere():
    r = standard_ring()
    mem = r.memory()
    seg = dict(mem._segments)
    image = bytearray(seg[IMAGE_PA])
    image[0x1000:0x1008] = (0xFFFF800000001000).to_bytes(8, "little")  # no page_offset_base, no tables
    seg[IMAGE_PA] = bytes(image)
    bad = BytesMemory(seg)
    bad.info.vmcoreinfo = mem.vmcoreinfo
    log = read_kernel_log(bad)
    assert log.error == "prb points to 0xffff800000001000, which does not translate to a physical address"
    assert codes(log) == ["PRINTK-RING-BAD"]


def test_arrays_not_in_the_dump():
    """The data ring translates (direct map) but its bytes are a hole: a read finding, no traceback."""
    r = standard_ring("kallsyms")
    mem = r.memory()
    seg = {pa: b for pa, b in mem._segments.items() if pa != DIRECT_PA}
    seg[DIRECT_PA] = mem._segments[DIRECT_PA][: r.data_pa - DIRECT_PA]  # descs and infos, not the text
    hole = BytesMemory(seg)
    hole.info.vmcoreinfo = mem.vmcoreinfo
    log = read_kernel_log(hole)
    assert log.records[0].text == "" and log.records[0].seq == 14  # only the data-less record has no text to read
    assert log.skipped["unreadable"] == 3  # B, C and D; A is judged overwritten before its block is read
    reads = [f for f in log.findings if f.code == "DUMP-READ"]
    assert len(reads) == 1 and reads[0].structure == "printk ring buffer data" and "3 reads failed" in reads[0].message


def test_no_vmcoreinfo_and_no_symbols():
    mem = BytesMemory({0: bytes(4096)})
    log = read_kernel_log(mem)
    assert log.format == "none" and "no VMCOREINFO" in (log.error or "") and log.findings == []
    mem.info.vmcoreinfo = {"OSRELEASE": "6.1.0"}
    log = read_kernel_log(mem)
    assert log.format == "none" and "neither prb" in (log.error or "")


def test_record_cap(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(printk, "MAX_RECORDS", 2)
    log = read_kernel_log(standard_ring().memory())
    assert [x.seq for x in log.records] == [14, 15]  # the newest two
    cap = [f for f in log.findings if f.code == "PRINTK-RECORD-CAP"]
    assert len(cap) == 1 and "6 descriptors from tail to head; reading the newest 2" in cap[0].message


def test_text_cap(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(printk, "MAX_TEXT_BYTES", 40)
    log = read_kernel_log(standard_ring().memory())
    assert [x.seq for x in log.records] == [12]  # 19 bytes, then 30 more would pass 40
    assert "PRINTK-RECORD-CAP" in codes(log)


def test_layout_from_vmcoreinfo_wins():
    """The offsets come from VMCOREINFO: a dump that says text_len is elsewhere is read there."""
    r = standard_ring()
    mem = r.memory()
    mem.info.vmcoreinfo["OFFSET(printk_info.caller_id)"] = "8"  # read ts_nsec's low half as the caller
    log = read_kernel_log(mem)
    assert [x.caller_id for x in log.records] == [
        1_500_000_000 & 0xFFFFFFFF,
        2_000_123_456,
        3_000_000_000,
        123_456_789_000 & 0xFFFFFFFF,
    ]
    del mem.info.vmcoreinfo["SIZE(printk_info)"]
    log = read_kernel_log(mem)
    assert "SIZE(printk_info)" in log.notes[0] and len(log.records) == 4


@pytest.mark.parametrize(
    "key, value",
    [
        ("SIZE(prb_desc)", "0"),  # a descriptor with no room for its state
        ("OFFSET(printk_info.caller_id)", "1000"),  # past the 88-byte info
        ("SIZE(printk_info)", "1000000000"),  # a structure no kernel has
        ("OFFSET(prb_desc_ring.tail_id)", "44"),  # runs past the 48-byte desc ring
    ],
)
def test_hostile_vmcoreinfo_layout(key: str, value: str):
    """VMCOREINFO is dump data too: a layout whose fields leave their structures is refused, not followed."""
    mem = standard_ring().memory()
    mem.info.vmcoreinfo[key] = value
    log = read_kernel_log(mem)
    assert log.records == [] and log.error is not None and key.split("(")[1].split(".")[0].rstrip(")") in log.error
    (f,) = log.findings
    assert f.code == "PRINTK-RING-BAD" and f.message.startswith("VMCOREINFO layout: ")


# -- the old log_buf (before v5.10) ------------------------------------------------------------------
def legacy_buffer() -> tuple[bytes, int, int]:
    """256 bytes: records at 120 and 160, the end marker at 224, then records at 0 and 36; next at 64."""
    buf = bytearray(b"\xaa" * 256)  # old bytes everywhere no record is
    r1 = log_record(b"first legacy record", 1_000_000, level=6, caller_id=7)
    r2 = log_record(b"second", 2_000_000, level=4, facility=0, dict_=b"SUBSYSTEM=pci\0DEVICE=+pci:0000:00:02.0")
    r3 = log_record(b"third after wrap", 3_000_000, level=5, flags=LOG_NEWLINE)
    r4 = log_record(b"fourth", 4_000_000, level=3, facility=1, caller_id=0x80000002)
    assert (len(r1), len(r2), len(r3), len(r4)) == (40, 64, 36, 28)
    buf[120:160], buf[160:224] = r1, r2
    buf[224 : 224 + PRINTK_LOG.sizeof()] = bytes(PRINTK_LOG.sizeof())  # len 0: wrap to the start
    buf[0:36], buf[36:64] = r3, r4
    return bytes(buf), 120, 64


def test_legacy_log_records():
    buf, first, nxt = legacy_buffer()
    mem, _info = legacy_log(buf, first, nxt, first_seq=500)
    log = read_kernel_log(mem)
    assert log.error is None and log.format == "legacy" and log.findings == []
    got = [
        (x.seq, x.ts_nsec, x.level, x.facility, x.flags, x.caller_id, x.text, x.subsystem, x.device, x.state)
        for x in log.records
    ]
    assert got == [
        (500, 1_000_000, 6, 0, 0, 7, "first legacy record", "", "", "legacy"),
        (501, 2_000_000, 4, 0, 0, 0, "second", "pci", "+pci:0000:00:02.0", "legacy"),
        (502, 3_000_000, 5, 0, LOG_NEWLINE, 0, "third after wrap", "", "", "legacy"),
        (503, 4_000_000, 3, 1, 0, 0x80000002, "fourth", "", "", "legacy"),
    ]
    assert [x.address for x in log.records] == [LOG_BUF_PA + 120, LOG_BUF_PA + 160, LOG_BUF_PA, LOG_BUF_PA + 36]
    assert log.records[0].text_address == LOG_BUF_PA + 120 + PRINTK_LOG.sizeof()
    assert log.address == LOG_BUF_PA and log.data_size == 256


def test_legacy_log_without_seq_or_caller():
    buf = bytearray(64)
    r = log_record(b"no caller here", 9_000_000, level=2, caller=False)
    buf[0 : len(r)] = r
    mem, info = legacy_log(bytes(buf), 0, len(r))
    info["SIZE(printk_log)"] = str(PRINTK_LOG_SIZE_NO_CALLER)
    del info["OFFSET(printk_log.caller_id)"]
    log = read_kernel_log(mem)
    (rec,) = log.records
    assert (rec.seq, rec.caller_id, rec.text, rec.level, rec.ts_nsec) == (None, None, "no caller here", 2, 9_000_000)
    assert "log_first_seq not found" in log.notes[0]


@pytest.mark.parametrize(
    "patch, kind",
    [
        ({0: 0}, "record chain wraps twice"),  # the record at 0 has len 0: a marker at the start
        ({8: 4}, "record length impossible"),  # len 4 < the header
        ({8: 0xFF, 9: 0x0F}, "record length impossible"),  # past the buffer
    ],
)
def test_legacy_hostile_chain(patch: dict[int, int], kind: str):
    buf, first, nxt = legacy_buffer()
    b = bytearray(buf)
    for off, value in patch.items():
        b[off] = value
    if patch == {0: 0}:
        b[0 : PRINTK_LOG.sizeof()] = bytes(PRINTK_LOG.sizeof())
    mem, _ = legacy_log(bytes(b), first, nxt)
    log = read_kernel_log(mem)
    assert [x.text for x in log.records] == ["first legacy record", "second"]  # read up to the damage
    (bad,) = [f for f in log.findings if f.code == "PRINTK-RECORD-BAD"]
    assert kind in bad.message and bad.address == LOG_BUF_PA


def test_legacy_hostile_layout():
    buf, first, nxt = legacy_buffer()
    mem, info = legacy_log(buf, first, nxt)
    info["OFFSET(printk_log.dict_len)"] = "30"
    log = read_kernel_log(mem)
    assert log.records == [] and codes(log) == ["PRINTK-RING-BAD"] and "printk_log.dict_len" in (log.error or "")


def test_legacy_indexes_past_the_buffer():
    buf, _first, nxt = legacy_buffer()
    mem, _ = legacy_log(buf, 4096, nxt)
    log = read_kernel_log(mem)
    assert log.records == [] and codes(log) == ["PRINTK-RING-BAD"]
    assert log.findings[0].address == LOG_FIRST_IDX_PA


# -- the Dump and the KLOG- check --------------------------------------------------------------------
class _FakeTable:
    def __init__(self, guid: str, table_address: int) -> None:
        self.guid, self.table_address = guid, table_address


def _log_with(text: str) -> KernelLog:
    rec = PrintkRecord(address=0x1000, size=88, seq=40, ts_nsec=0, level=6, facility=0, flags=0, caller_id=0, text=text)
    return KernelLog(address=0x2000, size=88, format="lockless", records=[rec])


ACPI20, ACPI, SMBIOS, MEMATTR = (
    "8868e871-e4f1-11d3-bc22-0080c73c8881",
    "eb9d2d30-2d88-11d3-9a16-0090273fc14d",
    "eb9d2d31-2d88-11d3-9a16-0090273fc14d",
    "dcfa911d-26eb-469f-a220-38b7dc461220",
)


def test_parse_efi_tables_line():
    got = klog.parse_efi_tables_line("efi: SMBIOS=0xf520000 ACPI=0xf77d000 ACPI 2.0=0xf77d014 MEMATTR=0xdc27518 ")
    assert [(t.name, t.logged, t.guid, t.unusable) for t in got or []] == [
        ("SMBIOS", 0xF520000, SMBIOS, False),
        ("ACPI", 0xF77D000, ACPI, False),
        ("ACPI 2.0", 0xF77D014, ACPI20, False),
        ("MEMATTR", 0xDC27518, MEMATTR, False),
    ]
    old = klog.parse_efi_tables_line("efi:  ACPI=0x7fb7e000  ACPI 2.0=0x7fb7e014  SMBIOS=0x7f9a0000 ")
    assert [(t.name, t.logged) for t in old or []] == [
        ("ACPI", 0x7FB7E000),
        ("ACPI 2.0", 0x7FB7E014),
        ("SMBIOS", 0x7F9A0000),
    ]
    new = klog.parse_efi_tables_line("efi: ACPI 2.0=0x7e014 (MEMATTR=0x7d000 unusable) FOO=0x10 ")
    assert [(t.name, t.logged, t.unusable, t.guid) for t in new or []] == [
        ("ACPI 2.0", 0x7E014, False, ACPI20),
        ("MEMATTR", 0x7D000, True, MEMATTR),
        ("FOO", 0x10, False, None),
    ]
    for not_a_table_line in (
        "efi: EFI v2.70 by EDK II",
        "efi: Freeing EFI boot services memory: 43792K",
        "efi: mem00: [Conventional] range=[0x0-0xfff] (0MB)",
        "efi:",
        "ACPI=0x1",
    ):
        assert klog.parse_efi_tables_line(not_a_table_line) is None


def test_efi_log_check_verdicts():
    log = _log_with("efi: ACPI=0x1000 ACPI 2.0=0x1014 SMBIOS=0x5000 FOO=0x9 ")
    tables: list[Any] = [_FakeTable(ACPI, 0x1000), _FakeTable(ACPI20, 0x2014), _FakeTable(MEMATTR, 0x7000)]
    res = klog.efi_log_check(log, tables, True, "6.1.0-56-amd64")
    assert [(t.name, t.verdict, t.table) for t in res.tables] == [
        ("ACPI", "match", 0x1000),
        ("ACPI 2.0", "mismatch", 0x2014),
        ("SMBIOS", "only in log", None),
        ("FOO", "unknown name", None),
    ]
    assert res.unlogged == [("MEMATTR", MEMATTR, 0x7000)] and res.seq == 40
    assert klog.efi_log_check(log, tables, True, "4.4.0").unlogged == []  # before MEMATTR was logged
    assert klog.efi_log_check(_log_with("efi: EFI v2.70 by EDK II"), tables, True).text is None


class _StubDump:
    """What kernel_log_check reads of a Dump."""

    def __init__(self, log: KernelLog, tables: list[Any], in_dump: bool = True) -> None:
        self.kernel_log = log
        self.config_tables = tables
        arr = type("Arr", (), {"entries": tables})() if in_dump else None
        self.systab = type("St", (), {"config_table_array": arr})()
        self.memory = type("Mem", (), {"vmcoreinfo": {"OSRELEASE": "6.1.0"}})()


def test_kernel_log_check_findings():
    log = _log_with("efi: ACPI=0x1000 ACPI 2.0=0x1014 SMBIOS=0x5000 ")
    tables: list[Any] = [_FakeTable(ACPI, 0x1000), _FakeTable(ACPI20, 0x2014), _FakeTable(MEMATTR, 0x7000)]
    out = klog.kernel_log_check(_StubDump(log, tables))  # type: ignore[arg-type]
    got = [(f.code, str(f.severity), f.structure, f.address) for f in out]
    assert got == [
        ("KLOG-EFI-MISMATCH", "warning", "kernel log", 0x1014),
        ("KLOG-EFI-ONLY-LOG", "info", "kernel log", 0x5000),
        ("KLOG-EFI-ONLY-TABLE", "info", "kernel log", 0x7000),
    ]
    assert out[0].message == (
        f"log record seq 40: the kernel logged ACPI 2.0=0x1014; the configuration table {ACPI20} holds 0x2014"
    )
    assert "array has no entry with that GUID" in out[1].message
    (none,) = klog.kernel_log_check(_StubDump(log, [], in_dump=False))  # type: ignore[arg-type]
    assert (none.code, none.address) == ("KLOG-EFI-ONLY-LOG", 0x1000)
    assert none.message == (
        "log record seq 40: the kernel logged ACPI=0x1000, ACPI 2.0=0x1014, SMBIOS=0x5000; "
        "the configuration table array is not in the dump"
    )


def test_kernel_log_check_unreadable():
    bad = KernelLog(address=0x3000, size=88, format="lockless", error="desc_ring.count_bits 60 is implausible")
    (f,) = klog.kernel_log_check(_StubDump(bad, []))  # type: ignore[arg-type]
    assert (f.code, f.address, f.message) == ("KLOG-UNREADABLE", 0x3000, "desc_ring.count_bits 60 is implausible")
    nothing = KernelLog(address=None, size=0, format="none", error="the dump carries no VMCOREINFO")
    assert klog.kernel_log_check(_StubDump(nothing, [])) == []  # type: ignore[arg-type]


def test_dump_kernel_log_property(tmp_path: Path):
    r = standard_ring()
    path = tmp_path / "ring.elf"
    r.write_elf(str(path))
    with Dump.open(str(path)) as d:
        assert d.kernel_log is d.kernel_log  # cached
        assert [as_tuple(x) for x in d.kernel_log.records] == EXPECTED
    # importing the check module registers the check every report runs
    assert "kernel log" in [c.name for c in CHECKS]


# -- efitables dmesg -----------------------------------------------------------------------------
@pytest.fixture
def ring_elf(tmp_path: Path) -> Path:
    r = standard_ring()
    path = tmp_path / "ring.elf"
    r.write_elf(str(path))
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_dmesg_text(ring_elf: Path):
    res = run("dmesg", str(ring_elf))
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [
        "[    1.500000] efi: ACPI=0x7e0000 ",
        "[    2.000123] multi",
        "[    2.000123] line record that wraps!",
        "[    3.000000] ",
        "[  123.456789] head record",
    ]
    assert "PRINTK-RECORD-SKIPPED" in res.stderr
    res = run("dmesg", "--caller", str(ring_elf))
    assert res.stdout.splitlines()[0] == "[    1.500000] [  T123] efi: ACPI=0x7e0000 "


@pytest.mark.parametrize(
    "spec, seqs",
    [("err", [12]), ("warn,debug", [14, 15]), ("warn+", [12, 14]), ("+warn", [13, 14, 15]), ("6", [13])],
)
def test_dmesg_levels(ring_elf: Path, spec: str, seqs: list[int]):
    res = run("dmesg", "--json", "--level", spec, str(ring_elf))
    assert res.exit_code == 0, res.output
    assert [x["seq"] for x in json.loads(res.stdout)["records"]] == seqs


def test_dmesg_json_and_grep(ring_elf: Path):
    res = run("dmesg", "--json", "--grep", r"wraps?!$", str(ring_elf))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["format"] == "lockless" and doc["address"] == RB_PA and doc["records_in_ring"] == 4
    assert doc["lost"] == 1 and doc["skipped"] == {"text overwritten (block outside the data ring's live range)": 1}
    assert doc["records"] == [
        {
            "seq": 13,
            "ts_nsec": 2_000_123_456,
            "level": 6,
            "level_name": "info",
            "facility": 1,
            "caller": "C1",
            "subsystem": "pci",
            "device": "+pci:0000:00:01.0",
            "text": "multi\nline record that wraps!",
            "truncated": False,
        }
    ]
    assert [f["code"] for f in doc["findings"]] == ["PRINTK-RECORD-SKIPPED"]


def test_dmesg_escapes_the_terminal(tmp_path: Path):
    r = standard_ring()
    evil = b"\x1b[2J\x1b]0;pwned\x07\tbell"  # 19 bytes, like TEXT_B: same block
    r.block(0x2040, 0x2060, 0x104, evil)
    r.set_info(4, seq=12, text_len=len(evil), ts_nsec=1_500_000_000, level=3)
    path = tmp_path / "evil.elf"
    r.write_elf(str(path))
    res = run("dmesg", str(path))
    assert res.exit_code == 0
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    assert res.stdout.splitlines()[0] == "[    1.500000] \\x1b[2J\\x1b]0;pwned\\x07\tbell"  # tabs stay
    doc = json.loads(run("dmesg", "--json", str(path)).stdout)
    assert doc["records"][0]["text"] == evil.decode()


def test_dmesg_without_a_log(samples: Path, tmp_path: Path):
    res = run("dmesg", str(samples / "ovmf64.raw"))
    assert res.exit_code == 2 and res.stdout == ""
    assert "no readable kernel log: the dump carries no VMCOREINFO" in res.stderr
    r = standard_ring()
    r.header_over["desc_ring.count_bits"] = 60
    path = tmp_path / "bad.elf"
    r.write_elf(str(path))
    res = run("dmesg", str(path))
    assert res.exit_code == 2 and "desc_ring.count_bits 60 is implausible" in res.stderr
    assert "PRINTK-RING-BAD" in res.stderr
    res = run("dmesg", str(tmp_path / "missing.elf"))
    assert res.exit_code == 2 and "missing.elf" in res.stderr


@pytest.mark.parametrize("args", [("--level", "loud"), ("--level", "err++"), ("--grep", "(")])
def test_dmesg_bad_options(ring_elf: Path, args: tuple[str, str]):
    res = run("dmesg", *args, str(ring_elf))
    assert res.exit_code == 2 and "Invalid value" in res.stderr


# -- the real corpus: what each guest printed on its serial console --------------------------------
REAL = [v for v in ("ovmf64", "ovmf32", "kexec", "seabios", "kexecload612") if v in R.VARIANTS]
real_only = pytest.mark.skipif(not REAL, reason="no real-dump corpus in dumps/real/corpus")


@pytest.fixture(scope="module")
def real(real_files):
    def get(variant: str, name: str) -> Path:
        return real_files.get(f"{variant}.{name}")

    return get


def serial_dmesg(variant: str) -> list[str]:
    """The last ``dmesg`` the guest's init printed on the serial console (dumps/real/guest/init)."""
    text = lzma.open(R.CORPUS / f"{variant}.serial.log.xz", "rt", errors="replace").read()
    sections: list[list[str]] = []
    cur: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@@EFT-BEGIN dmesg"):
            cur = []
        elif line.startswith("@@EFT-END dmesg"):
            sections.append(cur or [])
            cur = None
        elif cur is not None:
            cur.append(line.rstrip("\r"))
    return sections[-1]


@real_only
@pytest.mark.parametrize("variant", REAL)
def test_real_log_is_what_the_guest_printed(real: Any, variant: str) -> None:
    truth = R.truth(variant)
    with Dump.open(str(real(variant, "elf"))) as d:
        log = d.kernel_log
        assert log.error is None and log.format == "lockless" and log.findings == []
        assert "direct map" in log.translation  # log_buf_len=1M: memblock arrays
        lines = list(log.lines())
        guest = serial_dmesg(variant)
        assert len(guest) > 300 and lines[: len(guest)] == guest
        # the banner: uname as the guest printed it
        banner = [r.text for r in log.records if r.text.startswith("Linux version ")]
        u = truth["uname"]
        assert len(banner) == 1 and banner[0].startswith(f"Linux version {u['release']} (")
        assert banner[0].endswith(u["version"]) and log.records[0].text == banner[0]
        assert f"Command line: {truth['cmdline']}" in [r.text for r in log.records]
        seqs = [r.seq for r in log.records]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # nothing lost since boot
        # the EFI line against the configuration tables the guest saw
        res = klog.efi_log_check(log, d.config_tables, True, d.memory.vmcoreinfo["OSRELEASE"])
        efi = truth["efi"]
        if efi is None:  # SeaBIOS: no EFI, no line
            assert res.text is None and not any(r.text.startswith("efi: EFI v") for r in log.records)
        else:
            assert {t.name: t.logged for t in res.tables} == efi["dmesg_tables"]
            by_guid = {t["guid"]: t["table"] for t in efi["config_tables"]}
            assert {t.name: by_guid[t.guid or ""] for t in res.tables} == efi["dmesg_tables"]
            assert [t.verdict for t in res.tables] == ["match"] * len(res.tables) and res.unlogged == []
            assert f"efi: {efi['version_line']}" in [r.text for r in log.records]
        assert klog.kernel_log_check(d) == []
        assert not [f.code for f in d.findings if f.code.startswith(("KLOG-", "PRINTK-"))]


@real_only
@pytest.mark.skipif("ovmf64" not in REAL, reason="no ovmf64 in the corpus")
def test_real_kdump_holds_the_same_log(real: Any) -> None:
    with Dump.open(str(real("ovmf64", "elf"))) as a, Dump.open(str(real("ovmf64", "kdump-zlib"))) as b:
        assert [as_tuple(r) for r in b.kernel_log.records] == [as_tuple(r) for r in a.kernel_log.records]
        assert b.kernel_log.address == a.kernel_log.address


@real_only
@pytest.mark.skipif("kexec" not in REAL, reason="no kexec dump in the corpus")
def test_real_dmesg_cli(real: Any) -> None:
    path = str(real("kexec", "elf"))
    res = run("dmesg", "--json", "--grep", "^efi: SMBIOS=", path)
    assert res.exit_code == 0, res.output
    (rec,) = json.loads(res.stdout)["records"]
    tables = R.truth("kexec")["efi"]["dmesg_tables"]
    assert rec["text"] == "efi: " + "".join(f"{n}={a:#x} " for n, a in tables.items())
    res = run("dmesg", path)
    assert res.exit_code == 0 and res.stdout.splitlines() == serial_dmesg("kexec")


@real_only
@pytest.mark.parametrize("variant", [v for v in REAL if R.truth(v)["efi"] is not None])
def test_real_dmesg_of_a_system_ram_lime(real_files: Any, variant: str) -> None:
    """A LiME of the guest's System RAM carries no VMCOREINFO note: the log is found through the kernel's
    own VMCOREINFO page in RAM, and ``dmesg`` prints what the guest printed, as it does from the ELF."""
    lime = str(real_files.ram_lime(variant, R.truth(variant)))
    res = run("dmesg", lime)
    assert res.exit_code == 0, res.output
    guest = serial_dmesg(variant)
    lines = res.stdout.splitlines()
    assert len(guest) > 300 and lines[: len(guest)] == guest
    assert lines == run("dmesg", str(real_files.elf(variant))).stdout.splitlines()
    with Dump.open(lime) as d:
        assert d.memory.vmcoreinfo is None and d.kernel_log.available
        assert d.kernel.vmcoreinfo_source != "the container's VMCOREINFO note"
    res = run("dmesg", "--format", "raw", lime)  # a raw image is not searched for the kernel's VMCOREINFO page
    assert res.exit_code == 2 and "carries no VMCOREINFO note" in res.stderr


@real_only
@pytest.mark.skipif("ovmf64" not in REAL, reason="no ovmf64 in the corpus")
def test_real_ring_mutated_never_raises(real: Any) -> None:
    """Bytes of the real ring header, descriptors, infos and text flipped: a log or an error, findings, never
    an exception; every record still lies inside the ring's arrays."""
    import random

    from efitables.memory import open_memory

    base = open_memory(str(real("ovmf64", "elf")))
    log0 = read_kernel_log(base)
    assert log0.address is not None and log0.fields is not None
    recs, arrays = log0.records, log0.arrays
    assert set(arrays) == {"descs", "infos", "data"}
    targets = [(log0.address, log0.size), (arrays["descs"], 24 * len(recs)), (arrays["infos"], 88 * len(recs))]
    targets += [(r.text_address - 8, 16) for r in recs if r.text_address is not None]
    rnd = random.Random(14)
    for _ in range(40):
        patches = {}
        for _ in range(rnd.choice([1, 2, 4, 16])):
            a, size = rnd.choice(targets)
            patches[a + rnd.randrange(size)] = rnd.choice([0, 0xFF, 0x80, 0x3F, rnd.randrange(256)])
        log = read_kernel_log(R._Patched(base, patches))
        assert (log.error is None) or (log.records == [])
        assert len(log.records) <= 1 << (log0.desc_count or 1).bit_length()
        for f in log.findings:
            assert f.code.startswith(("PRINTK-", "DUMP-READ")) and f.message
        for r in log.records:
            assert isinstance(r.text, str) and 0 <= r.level <= 7


@real_only
@pytest.mark.parametrize("variant", REAL)
def test_schema_is_the_layout_the_real_kernel_exports(real: Any, variant: str) -> None:
    """Every size and offset VMCOREINFO exports for the ring equals the schema's (Debian 6.1, x86-64)."""
    from efitables.memory import open_memory
    from efitables.schemas.printk import LOCKLESS_DEFAULTS

    info = open_memory(str(real(variant, "elf"))).vmcoreinfo or {}
    assert {k: int(info[k]) for k in LOCKLESS_DEFAULTS if k in info} == LOCKLESS_DEFAULTS


KDUMP_CONTAINERS = [c for c in ("vmcore", "kdump-zlib", "kdump-lzo-d31") if (R.CORPUS / f"kdump.{c}.xz").exists()]


def serial_after(variant: str, start: str, stop: str) -> list[str]:
    """Console lines between two markers of the serial log (what the kernel printed at loglevel 4)."""
    text = lzma.open(R.CORPUS / f"{variant}.serial.log.xz", "rt", errors="replace").read()
    lines = [line.rstrip("\r") for line in text.splitlines()]
    i = lines.index(start)
    j = next(k for k in range(i + 1, len(lines)) if lines[k].startswith(stop))
    return lines[i + 1 : j]


@pytest.mark.skipif(not KDUMP_CONTAINERS, reason="no kdump variant in the corpus")
@pytest.mark.parametrize("container", KDUMP_CONTAINERS)
def test_real_crashed_kernel_log(real: Any, container: str) -> None:
    """A crash kernel's capture (/proc/vmcore, makedumpfile -c and -l -d 31) of a kernel panicked by sysrq:
    its log holds everything the guest printed before, then the panic the console showed, line for line."""
    truth = R.truth("kdump")
    with Dump.open(str(real("kdump", container))) as d:
        log = d.kernel_log
        assert log.error is None and log.findings == [] and "direct map" in log.translation
        lines = list(log.lines())
        before = serial_dmesg("kdump")
        panic = serial_after("kdump", "@@EFT-KDUMP crashing", "@@EFT-START")
        assert len(before) > 300 and lines[: len(before)] == before
        assert panic[:2] == [
            "[   36.931922] sysrq: Trigger a crash",
            "[   36.932472] Kernel panic - not syncing: sysrq triggered crash",
        ]
        assert lines[-len(panic) :] == panic  # the console showed the panic's records: the log ends with them
        panic_rec = next(r for r in log.records if r.text.startswith("Kernel panic"))
        assert panic_rec.level == 0 and panic_rec.caller == "T1"  # KERN_EMERG, from init (pid 1)
        u = truth["uname"]
        assert log.records[0].text.startswith(f"Linux version {u['release']} (") and log.records[0].text.endswith(
            u["version"]
        )
        res = klog.efi_log_check(log, d.config_tables, bool(d.config_tables), d.memory.vmcoreinfo["OSRELEASE"])
        assert {t.name: t.logged for t in res.tables} == truth["efi"]["dmesg_tables"]
        # a vmcore holds System RAM only: the firmware's array may be absent, never contradicted
        assert all(f.code == "KLOG-EFI-ONLY-LOG" for f in klog.kernel_log_check(d))
