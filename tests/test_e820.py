"""The E820 table: zero-page entries plus SETUP_E820_EXT, types named, order and overlap checks."""

from __future__ import annotations

from efitables.boot import e820_of, parse_boot_params, walk_setup_data
from efitables.boot.e820 import build_table, decode_entries
from efitables.dump import Dump
from efitables.schemas.boot_params import BOOT_E820_ENTRY, e820_type_name
from efitables.schemas.setup_data import SETUP_E820_EXT, SETUP_INDIRECT
from tests import builders_boot as B

BP = 0x10000


def codes(findings):
    return [f.code for f in findings]


def test_entry_schema_is_packed_20_bytes():
    raw = BOOT_E820_ENTRY.build(dict(addr=0x100000, size=0x1000, type=3))
    assert len(raw) == 20 and BOOT_E820_ENTRY.parse(raw) == dict(addr=0x100000, size=0x1000, type=3)
    assert BOOT_E820_ENTRY.build(BOOT_E820_ENTRY.parse(raw)) == raw


def test_type_names():
    assert [e820_type_name(t) for t in (1, 2, 3, 4, 5, 7, 12, 128, 0xEFFFFFFF)] == [
        "E820_TYPE_RAM",
        "E820_TYPE_RESERVED",
        "E820_TYPE_ACPI",
        "E820_TYPE_NVS",
        "E820_TYPE_UNUSABLE",
        "E820_TYPE_PMEM",
        "E820_TYPE_PRAM",
        "E820_TYPE_RESERVED_KERN",
        "E820_TYPE_SOFT_RESERVED",
    ]
    assert e820_type_name(13) == "UNKNOWN(0xd)"


def test_decode_and_entry_checks():
    raw = B.e820_entries([(0, 0x9FC00, 1), (0x100000, 0, 1), (0xFFFFFFFFFFFFF000, 0x2000, 2), (0xA0000, 0x1000, 13)])
    es = decode_entries(raw, 0x2D0, 4, "boot_params")
    assert [(e.index, e.addr, e.length, e.type, e.address) for e in es][0] == (0, 0, 0x9FC00, 1, 0x2D0)
    assert es[3].address == 0x2D0 + 60 and es[3].type_name == "UNKNOWN(0xd)"
    assert [codes(e.findings) for e in es] == [[], ["BOOT-E820-EMPTY"], ["BOOT-E820-EMPTY"], ["BOOT-E820-TYPE"]]


def test_unsorted_is_information_and_overlap_a_warning():
    es = decode_entries(B.e820_entries([(0x100000, 0x100000, 1), (0, 0xA0000, 1), (0x180000, 0x1000, 2)]), 0, 3, "x")
    t = build_table(0, es, 3, 0)
    assert codes(t.findings) == ["BOOT-E820-UNSORTED", "BOOT-E820-OVERLAP"]
    assert [f.severity.name for f in t.findings] == ["INFO", "WARNING"]
    assert t.lookup(0x50000).index == 1 and t.lookup(0x180800).index == 0  # overlap: the lower start wins
    assert t.lookup(0xB0000) is None
    assert t.ram_bytes() == 0x1A0000


def test_empty_table():
    t = build_table(None, [], 0, 0)
    assert codes(t.findings) == ["BOOT-E820-NONE"]


def layout_with_ext():
    L = B.Layout(0x100000)
    L.put(BP, B.boot_params(e820=[(0, 0x9FC00, 1), (0x100000, 0x7F00000, 1)], hdr__setup_data=0x20000))
    L.put(0x30000, B.e820_entries([(0x200000000, 0x1000, 7)]))
    B.chain(
        L,
        [
            (0x20000, SETUP_E820_EXT, B.e820_entries([(0x100000000, 0x40000000, 1), (0xFEC00000, 0x1000, 2)])),
            (0x21000, SETUP_INDIRECT, B.indirect(SETUP_INDIRECT | SETUP_E820_EXT, 20, 0x30000)),
        ],
    )
    return L


def test_setup_e820_ext_merged_in_list_order():
    mem = layout_with_ext().memory()
    bp = parse_boot_params(mem, BP)
    t = e820_of(bp, walk_setup_data(mem, bp.setup_data_ptr))
    assert (t.from_boot_params, t.from_setup_data) == (2, 3)
    assert [(e.index, e.addr, e.type_name) for e in t.entries] == [
        (0, 0, "E820_TYPE_RAM"),
        (1, 0x100000, "E820_TYPE_RAM"),
        (2, 0x100000000, "E820_TYPE_RAM"),
        (3, 0xFEC00000, "E820_TYPE_RESERVED"),
        (4, 0x200000000, "E820_TYPE_PMEM"),
    ]
    assert [e.source for e in t.entries][1:3] == ["boot_params", "SETUP_E820_EXT@0x20010"]
    assert codes(t.findings) == ["BOOT-E820-UNSORTED"]
    assert t.address == BP + 0x2D0 and t.entries[1].address == BP + 0x2D0 + 20


def test_dump_e820_api_and_json():
    d = Dump(layout_with_ext().memory(), boot_params=BP)
    assert len(d.e820.entries) == 5 and d.e820.lookup(0x100000123).type == 1
    j = d.to_dict()["boot"]["e820"]
    assert j["from_setup_data"] == 3 and j["entries"][4]["type_name"] == "E820_TYPE_PMEM"
    assert j["entries"][0]["length"] == 0x9FC00
