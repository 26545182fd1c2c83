"""The BTF reader (efitables.kernel.btf) on blobs built with the schemas (tests/builders_btf.py), on hostile
blobs, and on the real Debian 6.1 kernels of dumps/real/corpus (checked against the guest's own words and,
where bpftool is installed, against ``bpftool btf dump file X format raw``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import test_real_dumps as R
from builders_btf import EXPECTED, BtfBuilder, Member, info_word, kernel_like

from efitables.findings import READ_ERROR, Finding, Severity, code_info
from efitables.kernel import btf
from efitables.kernel.kallsyms import Kallsyms
from efitables.memory import open_memory
from efitables.memory.base import BytesMemory
from efitables.memory.vmcoreinfo import KERNEL_MAP_BASE
from efitables.schemas import boot_params as bp
from efitables.schemas import btf as sb
from efitables.schemas import common, efi_info, setup_data
from efitables.schemas.btf import BtfKind

BASE = 0x62C1B88  # where the fixtures pretend the blob lies


def _btf(blob: bytes, address: int | None = BASE) -> btf.Btf:
    got = btf.parse(blob, address)
    assert isinstance(got, btf.Btf), got
    return got


def _codes(b: btf.Btf) -> list[str]:
    return [f.code for f in b.findings]


@pytest.fixture(scope="module")
def kl():
    return kernel_like()


@pytest.fixture()
def b(kl) -> btf.Btf:
    return _btf(kl.blob)


# -- schemas ----------------------------------------------------------------------------------
def test_schema_bit_layouts_match_the_header_macros() -> None:
    """BTF_TYPE_INFO / BTF_INT / BTF_MEMBER_OFFSET_KFLAG (construct bit layouts) against the C macros."""
    for kind, vlen, kflag in [(19, 0x1234, True), (1, 0, False), (4, 0xFFFF, True)]:
        w = info_word(kind, vlen, kflag)
        assert (w >> 24) & 0x1F == kind and w & 0xFFFF == vlen and w >> 31 == kflag  # BTF_INFO_KIND/VLEN/KFLAG
        assert (w >> sb.BTF_INFO_KIND_SHIFT) & sb.BTF_INFO_KIND_MASK == kind
        assert w & sb.BTF_INFO_VLEN_MASK == vlen and w >> sb.BTF_INFO_KFLAG_SHIFT == kflag
    d = int.from_bytes(sb.BTF_INT.build({"encoding": 5, "offset": 0x21, "bits": 0x3F}), "little")
    assert ((d & 0x0F000000) >> 24, (d & 0x00FF0000) >> 16, d & 0xFF) == (5, 0x21, 0x3F)  # BTF_INT_*
    assert (d >> sb.BTF_INT_ENCODING_SHIFT) & sb.BTF_INT_ENCODING_MASK == 5
    assert (d >> sb.BTF_INT_OFFSET_SHIFT) & sb.BTF_INT_OFFSET_MASK == 0x21 and d & sb.BTF_INT_BITS_MASK == 0x3F
    assert sb.BTF_INT.parse(sb.BTF_INT_DATA.build(d)).bits == 0x3F
    m = int.from_bytes(sb.BTF_MEMBER_OFFSET_KFLAG.build({"bitfield_size": 7, "bit_offset": 0xABCDE}), "little")
    assert (m >> 24, m & 0xFFFFFF) == (7, 0xABCDE)  # BTF_MEMBER_BITFIELD_SIZE / BTF_MEMBER_BIT_OFFSET
    assert (m >> sb.BTF_MEMBER_BITFIELD_SIZE_SHIFT, m & sb.BTF_MEMBER_BIT_OFFSET_MASK) == (7, 0xABCDE)


def test_schema_record_sizes_are_libbpf_btf_type_size() -> None:
    """tools/lib/bpf/btf.c btf_type_size@v6.12, written out here by hand."""
    libbpf = {
        BtfKind.INT: (4, 0),
        BtfKind.ARRAY: (12, 0),
        BtfKind.STRUCT: (0, 12),
        BtfKind.UNION: (0, 12),
        BtfKind.ENUM: (0, 8),
        BtfKind.ENUM64: (0, 12),
        BtfKind.FUNC_PROTO: (0, 8),
        BtfKind.VAR: (4, 0),
        BtfKind.DATASEC: (0, 12),
        BtfKind.DECL_TAG: (4, 0),
    }
    for k in BtfKind:
        want = (-1, -1) if k == BtfKind.UNKN else libbpf.get(k, (0, 0))
        assert sb.KIND_RECORD[k] == want, k
    assert all(r == (-1, -1) for r in sb.KIND_RECORD[sb.NR_BTF_KINDS :])
    assert len(sb.KIND_RECORD) == 32 and sb.NR_BTF_KINDS == 20
    assert sb.BTF_HEADER_SIZE == 24 and sb.BTF_TYPE_SIZE == 12
    assert common.field_offset(sb.BTF_HEADER, "str_len") == 20


# -- the kernel-like fixture, field by field -----------------------------------------------------
def test_header_and_index(kl, b: btf.Btf) -> None:
    assert (b.version, b.flags, b.hdr_len, b.type_off) == (1, 0, 24, 0)
    assert b.count == len(b) == max(kl.ids.values())
    assert b.type_len == sum(t.size for t in b)
    assert b.str_off == b.type_len and b.str_len == len(kl.blob) - 24 - b.type_len
    assert b.address == BASE and b.size == len(kl.blob) and b.raw == kl.blob
    assert b.fields.magic == sb.BTF_MAGIC and b.layout()[0].name == "magic"
    assert b.findings == []
    assert b.title == f"kernel BTF v1: {b.count} types"


def test_every_kind_decodes(kl, b: btf.Btf) -> None:
    ids = kl.ids
    t = b.type_by_id(ids["char"])
    assert (t.btf_kind, t.name, t.type_size, t.int_info) == (
        BtfKind.INT,
        "char",
        1,
        btf.BtfInt(sb.BTF_INT_SIGNED | sb.BTF_INT_CHAR, 0, 8),
    )
    assert (
        t.address == BASE + 24 + 16 * (ids["char"] - 1) and t.size == 16 and t.raw == kl.blob[t.address - BASE :][:16]
    )
    assert t.fields == {"name_off": t.name_off, "info": info_word(BtfKind.INT), "size": 1}
    assert b.type_by_id(ids["bool"]).int_info == btf.BtfInt(sb.BTF_INT_BOOL, 0, 8)
    p = b.type_by_id(ids["void_ptr"])
    assert (p.btf_kind, p.name, p.ref, p.type_size) == (BtfKind.PTR, "", 0, None)
    a = b.type_by_id(ids["segments"])
    assert (a.btf_kind, a.array) == (BtfKind.ARRAY, btf.BtfArray(ids["segment"], ids["int"], 16))
    s = b.type_by_id(ids["memmap"])
    assert (s.btf_kind, s.name, s.type_size, s.vlen, s.kind_flag) == (BtfKind.STRUCT, "efi_memory_map", 56, 7, False)
    assert [(m.name, m.type, m.bit_offset, m.bitfield_size) for m in s.members] == [
        ("phys_map", ids["phys_addr_t"], 0, 0),
        ("map", ids["void_ptr"], 64, 0),
        ("map_end", ids["void_ptr"], 128, 0),
        ("nr_map", ids["int"], 192, 0),
        ("desc_version", ids["ulong"], 256, 0),
        ("desc_size", ids["ulong"], 320, 0),
        ("flags", ids["ulong"], 384, 0),
    ]
    assert s.size == 12 + 7 * 12
    u = b.type_by_id(ids["anon_u"])
    assert (u.btf_kind, u.members[0].anonymous, u.members[0].name, u.members[1].name) == (
        BtfKind.UNION,
        True,
        "",
        "both",
    )
    k = b.type_by_id(ids["flags_kflag"])
    assert k.kind_flag and [(m.name, m.bit_offset, m.bitfield_size) for m in k.members] == [
        ("control_page", 0, 0),
        ("type", 32, 1),
        ("preserve_context", 33, 1),
        ("file_mode", 34, 3),
        ("after", 64, 0),
    ]
    e = b.type_by_id(ids["signed_small"])
    assert (e.btf_kind, e.kind_flag, e.type_size) == (BtfKind.ENUM, True, 4)
    assert [(x.name, x.value) for x in e.enumerators] == [("NEG_ONE", -1), ("POS", 7)]
    e64 = b.type_by_id(ids["big_flags"])
    assert (e64.btf_kind, e64.kind_flag, e64.type_size) == (BtfKind.ENUM64, False, 8)
    assert [(x.name, x.value) for x in e64.enumerators] == [("BIG_BIT40", 1 << 40), ("BIG_TOP", 0xFFFF_FFFF_0000_0001)]
    f = b.type_by_id(ids["fwd_union"])
    assert (f.btf_kind, f.name, f.kind_flag, f.ref, f.type_size) == (BtfKind.FWD, "opaque_u", True, None, None)
    assert not b.type_by_id(ids["fwd_struct"]).kind_flag
    assert b.type_by_id(ids["u64"]).ref == ids["__u64"]
    cv = b.type_by_id(ids["cv_ulong"])
    assert cv.btf_kind == BtfKind.CONST and b.type_by_id(cv.ref or 0).btf_kind == BtfKind.VOLATILE
    assert b.type_by_id(ids["restrict_ptr"]).btf_kind == BtfKind.RESTRICT
    fn = b.type_by_id(ids["efi_reset_func"])
    assert (fn.btf_kind, fn.name, fn.ref, fn.vlen) == (BtfKind.FUNC, "efi_reset_system", ids["reset_proto"], 1)
    fp = b.type_by_id(ids["reset_proto"])
    assert (fp.btf_kind, fp.ref) == (BtfKind.FUNC_PROTO, 0)
    assert [(x.name, x.type) for x in fp.params] == [("reset_type", ids["int"]), ("status", ids["ulong"]), ("", 0)]
    v = b.type_by_id(ids["var_efi"])
    assert (v.btf_kind, v.name, v.ref, v.linkage) == (BtfKind.VAR, "efi", ids["efi"], sb.BTF_VAR_GLOBAL_ALLOCATED)
    ds = b.type_by_id(ids["datasec"])
    assert (ds.btf_kind, ds.name, ds.type_size) == (BtfKind.DATASEC, ".data..percpu", 0x40)
    assert ds.secinfos == (btf.BtfVarSecinfo(ids["var_cpu"], 0x10, 4),)
    fl = b.type_by_id(ids["float"])
    assert (fl.btf_kind, fl.name, fl.type_size) == (BtfKind.FLOAT, "double", 8)
    dt = b.type_by_id(ids["decl_tag"])
    assert (dt.btf_kind, dt.name, dt.ref, dt.component_idx) == (BtfKind.DECL_TAG, "btf_decl_tag_member", ids["efi"], 3)
    tt = b.type_by_id(ids["efi_tag"])
    assert (tt.btf_kind, tt.name, tt.ref) == (BtfKind.TYPE_TAG, "user", ids["efi"])
    void = b.type_by_id(0)
    assert (void.id, void.name, void.btf_kind) == (0, "void", BtfKind.UNKN)
    assert [t.id for t in b] == list(range(1, b.count + 1))
    assert b.findings == []


def test_json(kl, b: btf.Btf) -> None:
    """to_dict: the header fields, and every decoded piece of a type as JSON values."""
    d = json.loads(json.dumps(b.to_dict()))
    assert (d["kind"], d["address"], d["count"], d["fields"]["magic"]) == ("btf", BASE, b.count, sb.BTF_MAGIC)
    e = json.loads(json.dumps(b.find("big_flags", "enum").to_dict()))
    assert (e["kind"], e["btf_kind"], e["name"], e["type_size"]) == ("btf_type", "ENUM64", "big_flags", 8)
    assert [(x["name"], x["value"]) for x in e["enumerators"]] == [
        ("BIG_BIT40", 1 << 40),
        ("BIG_TOP", 0xFFFF_FFFF_0000_0001),
    ]
    k = json.loads(json.dumps(b.find("flags_kflag").to_dict()))
    assert k["members"][3] == {
        "name": "file_mode",
        "name_off": b.find("flags_kflag").members[3].name_off,
        "type": kl.ids["u32"],
        "bit_offset": 34,
        "bitfield_size": 3,
    }
    a = json.loads(json.dumps(b.type_by_id(kl.ids["segments"]).to_dict()))
    assert a["array"] == {"type": kl.ids["segment"], "index_type": kl.ids["int"], "nelems": 16}


def test_find_by_kind(kl, b: btf.Btf) -> None:
    ids = kl.ids
    assert b.find("efi").id == ids["efi"]  # struct, although a VAR is named efi too
    assert b.find("efi", "var").id == ids["var_efi"]
    assert b.find("efi", None).id == ids["efi"]
    assert [t.id for t in b.find_all("efi")] == [ids["efi"], ids["var_efi"]]
    assert b.find("anon_u", "union").id == ids["anon_u"] and b.find("anon_u") is None
    assert b.find("u64", "typedef").id == ids["u64"]
    assert b.find("efi_rts_ids", "enum").id == ids["efi_rts_ids"]
    assert b.find("big_flags", "enum").id == ids["big_flags"] and b.find("big_flags", "enum64").id == ids["big_flags"]
    assert b.find(".data..percpu", "datasec").id == ids["datasec"]
    assert b.find("opaque", "fwd").id == ids["fwd_struct"]
    assert b.find("efi_reset_system", BtfKind.FUNC).id == ids["efi_reset_func"]
    # names that are only the tail of another string, or nobody's name
    assert b.find("map") is None and b.find("memory_map") is None and b.find("") is None
    assert b.find("no_such_struct") is None and b.find("a\0b") is None
    assert [t.id for t in b.find_all("unsigned int", "int")] == [ids["u32"], ids["int3"], ids["int5_at2"]]
    with pytest.raises(ValueError, match="unknown BTF kind word"):
        b.find("efi", "structure")


def test_resolve_sizeof_and_type_specs(kl, b: btf.Btf) -> None:
    ids = kl.ids
    for spec, size in EXPECTED["sizeof"].items():
        assert b.sizeof(spec) == size, spec
    assert b.resolve("efi_t").id == ids["efi"]  # typedef -> const -> type_tag -> struct
    assert b.resolve("phys_addr_t").id == ids["ullong"]
    assert b.resolve(ids["cv_ulong"]).id == ids["ulong"]
    assert b.type_of("struct efi").id == ids["efi"] and b.type_of("efi").id == ids["efi"]
    assert b.type_of(b.type_by_id(ids["memmap"])).id == ids["memmap"]
    assert b.sizeof(ids["segments"]) == 16 * 32
    assert b.sizeof(ids["void_ptr"]) == 8 and b.sizeof(ids["restrict_ptr"]) == 8
    assert b.sizeof(ids["var_efi"]) == 104 and b.sizeof(ids["float"]) == 8
    assert b.sizeof(ids["big_flags"]) == 8 and b.sizeof(ids["datasec"]) == 0x40
    for no_size in (0, ids["reset_proto"], ids["efi_reset_func"], ids["fwd_struct"]):
        with pytest.raises(btf.BtfError) as e:
            b.sizeof(no_size)
        assert e.value.finding.code == btf.NO_SIZE
    with pytest.raises(btf.BtfError) as e:
        b.type_of("struct missing")
    assert e.value.finding.code == btf.NOT_FOUND and "missing" in e.value.finding.message


def test_member_offsets(kl, b: btf.Btf) -> None:
    for (spec, path), off in EXPECTED["offsetof"].items():
        assert b.member_offset(spec, path) == off, (spec, path)
        ref = b.member(spec, path)
        assert (ref.offset, ref.bit_offset, ref.bitfield_size, ref.path) == (off, off * 8, 0, path)
    ids = kl.ids
    assert b.member("struct efi", "memmap.phys_map").type.id == ids["phys_addr_t"]
    assert b.member("struct efi", "lo").type.id == ids["u32"]
    assert b.member("struct kimage", "segment[2]").type.id == ids["segment"]
    assert b.member("struct kimage", "segment").type.id == ids["segments"]
    assert b.member(ids["efi"], "acpi20").type.id == ids["cv_ulong"]


def test_bitfields(b: btf.Btf) -> None:
    for (spec, path), (bit, size) in EXPECTED["bitfields"].items():
        ref = b.member(spec, path)
        assert (ref.bit_offset, ref.bitfield_size, ref.offset) == (bit, size, bit // 8), (spec, path)


def test_enum_values(kl, b: btf.Btf) -> None:
    for (enum, name), value in EXPECTED["enums"].items():
        assert b.enum_value(name, enum) == value, name
        assert b.enum_value(name, f"enum {enum}") == value
        assert b.enum_value(name) == value  # searched in every enum
    assert b.enum_value("EFI_GET_TIME", kl.ids["efi_rts_ids"]) == 1
    for args in [("EFI_NOPE", "efi_rts_ids"), ("EFI_NOPE", None), ("X", "no_enum")]:
        with pytest.raises(btf.BtfError) as e:
            b.enum_value(*args)
        assert e.value.finding.code == btf.NOT_FOUND
    with pytest.raises(btf.BtfError) as e:
        b.enum_value("lo", "struct efi")
    assert e.value.finding.code == btf.NOT_COMPOSITE
    assert b.findings == []  # a caller's question that has no answer is not damage in the blob


def test_variables(kl, b: btf.Btf) -> None:
    assert b.var("cpu_number").id == kl.ids["var_cpu"]
    assert b.var_type("efi").id == kl.ids["efi"]
    assert b.resolve(b.var_type("cpu_number")).name == "int"
    assert b.var("nothing") is None
    with pytest.raises(btf.BtfError) as e:
        b.var_type("nothing")
    assert e.value.finding.code == btf.NOT_FOUND


def test_longer_header_is_skipped_and_sections_may_have_gaps(kl) -> None:
    plain = _btf(kl.blob)
    blob = _builder_of_kernel_like().build(hdr_len=40, header_tail=b"\x5a" * 16, type_off=8, gap=12)
    b = _btf(blob)
    assert (b.hdr_len, b.type_off, b.str_off) == (40, 8, plain.type_len + 8 + 12)
    assert b.count == plain.count and b.findings == []
    for (spec, path), off in EXPECTED["offsetof"].items():
        assert b.member_offset(spec, path) == off
    assert b.type_by_id(5).address == BASE + 40 + 8 + (plain.type_by_id(5).address - BASE - 24)


def _builder_of_kernel_like() -> BtfBuilder:
    """A builder holding the kernel-like types (rebuilt: each test lays it out its own way)."""
    blob = kernel_like().blob
    hdr = sb.BTF_HEADER.parse(blob)
    b = BtfBuilder()
    b.records = [blob[24 : 24 + hdr.type_len]]  # one opaque record holding every type
    b.strings = bytearray(blob[24 + hdr.str_off : 24 + hdr.str_off + hdr.str_len])
    return b


# -- hostile blobs ----------------------------------------------------------------------------------
def _finding(got: btf.Btf | Finding) -> Finding:
    assert isinstance(got, Finding), got
    assert got.structure == "kernel BTF"
    return got


def test_header_findings() -> None:
    good = BtfBuilder()
    good.int_("int", 4)
    f = _finding(btf.parse(good.build(magic=sb.BTF_MAGIC_SWAPPED), BASE))
    assert (f.code, f.address, f.severity) == (btf.BYTE_SWAPPED, BASE, Severity.ERROR)
    assert "big-endian" in f.message
    assert _finding(btf.parse(good.build(magic=0x1234), BASE)).code == btf.BAD_HEADER
    f = _finding(btf.parse(good.build(version=2), BASE))
    assert f.code == btf.BAD_HEADER and "version 2" in f.message
    f = _finding(btf.parse(good.build(hdr_len=16, header_tail=b""), BASE))
    assert f.code == btf.BAD_HEADER and "shorter than struct btf_header" in f.message
    blob = good.build()
    f = _finding(btf.parse(good.build(hdr_len=len(blob) + 1, header_tail=b""), BASE))
    assert f.code == btf.BAD_HEADER and "past the" in f.message
    f = _finding(btf.parse(good.build(type_off=2), BASE))
    assert f.code == btf.BAD_HEADER and "aligned" in f.message
    f = _finding(btf.parse(good.build(str_off=4), BASE))
    assert f.code == btf.BAD_HEADER and "overlaps" in f.message
    f = _finding(btf.parse(blob[:7], BASE))
    assert f.code == btf.TRUNCATED
    with pytest.raises(btf.BtfError) as e:
        btf.Btf.from_bytes(good.build(magic=sb.BTF_MAGIC_SWAPPED))
    assert e.value.finding.code == btf.BYTE_SWAPPED
    b = _btf(good.build(flags=1))
    assert _codes(b) == [btf.BAD_HEADER] and b.count == 1


def test_sections_past_the_data() -> None:
    g = BtfBuilder()
    g.int_("int", 4)
    g.int_("unsigned int", 4)
    blob = g.build()
    b = _btf(blob[:-3])  # the string section loses its last 3 bytes ("nt\0")
    assert _codes(b) == [btf.TRUNCATED, btf.BAD_STRING]
    f = b.findings[0]
    assert f.address == BASE and "runs past" in f.message
    assert b.count == 2 and b.type_by_id(1).name == "int"
    t = b.type_by_id(2)
    assert t.name == "unsigned i"  # what is left of it, up to the end of the data
    assert b.findings[-1].code == btf.BAD_STRING and b.findings[-1].address == t.address
    assert "without a terminating NUL" in b.findings[-1].message
    # the type section cut short: the record that runs past the data is not read
    b = _btf(g.build(str_off=len(g.records[0]) + len(g.records[1]), str_len=0)[: 24 + 16 + 8])
    assert b.count == 1 and _codes(b) == [btf.TRUNCATED, btf.TRUNCATED, btf.BAD_STRING, btf.TRUNCATED]
    assert "the type section (0x0+0x20) runs past the 0x18 bytes" in b.findings[0].message
    assert b.findings[-1].address == BASE + 24 + 16 and "type 2: its btf_type runs past" in b.findings[-1].message


def test_vlen_past_the_type_section() -> None:
    g = BtfBuilder()
    i = g.int_("int", 4)
    g.composite("ok", 4, [Member("a", i, 0)])
    g.composite("big", 4, [Member("a", i, 0)], vlen=100)  # says 100 members, holds 1
    g.int_("after", 4)
    b = _btf(g.build())
    assert b.count == 2  # the types before it stay usable
    assert b.find("ok").members[0].name == "a" and b.find("big") is None
    (f,) = b.findings
    assert f.code == btf.TRUNCATED and f.address == BASE + 24 + 16 + 24
    assert "vlen 100" in f.message and "type 3 (STRUCT" in f.message
    with pytest.raises(btf.BtfError) as e:
        b.type_by_id(3)
    assert e.value.finding.code == btf.BAD_TYPE_ID


def test_unknown_kind_stops_the_walk() -> None:
    g = BtfBuilder()
    g.int_("int", 4)
    g.record(25, "future", 0)  # a kind this reader does not know
    g.int_("after", 4)
    b = _btf(g.build())
    assert b.count == 1 and b.find("after", "int") is None
    (f,) = b.findings
    assert (f.code, f.address) == (btf.UNKNOWN_KIND, BASE + 24 + 16) and "kind 25" in f.message


def test_type_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    g = BtfBuilder()
    for n in range(10):
        g.int_(f"i{n}", 4)
    monkeypatch.setattr(btf, "MAX_TYPES", 4)
    b = _btf(g.build())
    assert b.count == 4
    (f,) = b.findings
    assert f.code == btf.TOO_MANY_TYPES and f.address == BASE + 24 + 4 * 16


def test_type_loops_and_chain_depth() -> None:
    g = BtfBuilder()
    i = g.int_("int", 4)
    # typedef loop_a -> const -> typedef loop_b -> typedef loop_a
    a = g.typedef("loop_a", g.next_id + 1)
    c = g.const(g.next_id + 1)
    g.typedef("loop_b", a)
    # a chain of 40 consts (no loop, longer than MAX_CHAIN)
    first = g.next_id
    for n in range(40):
        g.const(first + n + 1)
    g.typedef("deep", i)
    # an array of itself; a struct whose anonymous member is itself
    arr = g.array(g.next_id, i, 2)
    selfish = g.composite("selfish", 8, [Member("", g.next_id, 0), Member("x", i, 0)])
    g.composite("holder", 8, [Member("arr", arr, 0), Member("n", i, 0)])
    b = _btf(g.build())
    for spec in ("loop_a", "loop_b", c):
        with pytest.raises(btf.BtfError) as e:
            b.resolve(spec)
        assert e.value.finding.code == btf.TYPE_LOOP and e.value.finding.structure == "kernel BTF"
    with pytest.raises(btf.BtfError) as e:
        b.resolve(first)
    assert e.value.finding.code == btf.TYPE_LOOP and f"more than {btf.MAX_CHAIN}" in e.value.finding.message
    assert e.value.finding.address == b.type_by_id(first).address
    with pytest.raises(btf.BtfError) as e:
        b.sizeof(arr)
    assert e.value.finding.code == btf.TYPE_LOOP
    with pytest.raises(btf.BtfError) as e:
        b.member("struct selfish", "nope")
    assert e.value.finding.code == btf.TYPE_LOOP and e.value.finding.address == b.type_by_id(selfish).address
    assert b.member_offset("struct selfish", "x") == 0  # a direct member is found before the loop is walked
    assert b.member_offset("struct holder", "n") == 0
    assert set(_codes(b)) == {btf.TYPE_LOOP}  # kept on the Btf too


def test_type_ids_past_the_end() -> None:
    g = BtfBuilder()
    i = g.int_("int", 4)
    g.typedef("dangling", 999)
    g.composite("s", 8, [Member("m", 777, 0), Member("ok", i, 32)])
    g.array(555, i, 4)
    g.var("v", 444)
    b = _btf(g.build())
    for call, tid in [
        (lambda: b.resolve("dangling"), 999),
        (lambda: b.member("struct s", "m.x"), 777),
        (lambda: b.sizeof(4), 555),
        (lambda: b.var_type("v"), 444),
        (lambda: b.type_by_id(6), 6),
        (lambda: b.type_by_id(-1), -1),
    ]:
        with pytest.raises(btf.BtfError) as e:
            call()
        assert e.value.finding.code == btf.BAD_TYPE_ID and f"type id {tid}" in e.value.finding.message
    assert b.member_offset("struct s", "ok") == 4
    bad = [f for f in b.findings if f.code == btf.BAD_TYPE_ID]
    assert {f.address for f in bad} >= {b.type_by_id(2).address, b.type_by_id(3).address}


def test_bad_strings() -> None:
    g = BtfBuilder()
    g.int_("int", 4)
    g.record(BtfKind.INT, 0x10000, 4, sb.BTF_INT.build({"encoding": 0, "offset": 0, "bits": 32}))  # past str_len
    g.composite("s", 4, [Member("x", 1, 0)])
    unterminated = g.raw_string(b"tail_without_nul")
    g.record(BtfKind.TYPEDEF, unterminated, 1)
    b = _btf(g.build())
    assert [f.code for f in b.findings] == [btf.BAD_STRING]  # the section does not end with NUL
    assert "does not start and end with NUL" in b.findings[0].message
    assert b.type_by_id(2).name == ""
    f = b.findings[-1]
    assert f.code == btf.BAD_STRING and "0x10000 is past the string section" in f.message
    assert f.address == b.type_by_id(2).address
    t = b.type_by_id(4)
    assert t.name == "tail_without_nul"  # up to the end of the section
    assert "without a terminating NUL" in b.findings[-1].message and b.findings[-1].address == t.address
    assert b.find("tail_without_nul", "typedef") is None  # a name is NUL-terminated
    # a name longer than the cap
    g2 = BtfBuilder()
    g2.int_("x" * (btf.MAX_NAME_LEN + 10), 4)
    b2 = _btf(g2.build())
    assert b2.type_by_id(1).name == "x" * btf.MAX_NAME_LEN
    assert b2.findings[-1].code == btf.BAD_STRING and "longer than" in b2.findings[-1].message


def test_member_path_through_a_non_struct(kl, b: btf.Btf) -> None:
    for spec, path, through in [
        ("struct efi", "flags.x", "long unsigned int"),
        ("struct efi", "memmap.phys_map.low", "long long unsigned int"),
        ("struct efi", "reset_system.reset_type", "(anon)"),
        ("u64", "x", "long long unsigned int"),
    ]:
        with pytest.raises(btf.BtfError) as e:
            b.member(spec, path)
        f = e.value.finding
        assert f.code == btf.NOT_COMPOSITE and f.structure == "kernel BTF", path
        assert through in f.message
    with pytest.raises(btf.BtfError) as e:
        b.member("struct efi", "flags[1]")
    assert e.value.finding.code == btf.NOT_COMPOSITE and "not an array" in e.value.finding.message
    for path in ("nope", "memmap.nope", "segment[99]", "a..b", "x[-1]"):
        with pytest.raises(btf.BtfError) as e:
            b.member("struct kimage" if "segment" in path else "struct efi", path)
        assert e.value.finding.code == btf.NOT_FOUND, path
    assert {f.code for f in b.findings} == {btf.NOT_COMPOSITE}


def test_duplicated_strings_and_the_lookup_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name spelled many times (duplicates, not deduplicated as libbpf would): every type is found, by
    the one-by-one search and by the one pass over all types; past MAX_NAME_HITS places a finding."""
    g = BtfBuilder()
    ids = []
    for _ in range(12):
        ids.append(
            g.record(BtfKind.INT, g.raw_string(b"dup\0"), 4, sb.BTF_INT.build({"encoding": 0, "offset": 0, "bits": 32}))
        )
        g.raw_string(b"x_dup\0")  # "dup" as the tail of another string: nobody's name here
    blob = g.build()
    for searches in (100, 2):  # one by one; one pass
        monkeypatch.setattr(btf, "MAX_NAME_SEARCHES", searches)
        b = _btf(blob)
        assert [t.id for t in b.find_all("dup", "int")] == ids
        assert b.find("dup", "int").id == 1 and b.findings == []
    monkeypatch.setattr(btf, "MAX_NAME_HITS", 5)
    b = _btf(blob)
    assert [t.id for t in b.find_all("dup")] == [1, 2, 3]  # 5 places: dup, x_dup, dup, x_dup, dup
    (f,) = b.findings
    assert f.code == btf.BAD_STRING and "more than 5 times" in f.message


def test_findings_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    g = BtfBuilder()
    for n in range(12):
        g.record(BtfKind.INT, 0x100000 + n, 4, sb.BTF_INT.build({"encoding": 0, "offset": 0, "bits": 32}))
    monkeypatch.setattr(btf, "MAX_FINDINGS", 5)
    b = _btf(g.build())
    assert [t.name for t in b] == [""] * 12
    assert _codes(b) == [btf.BAD_STRING] * 5 + [btf.TOO_MANY_FINDINGS]


def test_registered_codes() -> None:
    for code in (
        btf.NO_SECTION,
        btf.BAD_SECTION,
        btf.BAD_HEADER,
        btf.BYTE_SWAPPED,
        btf.TRUNCATED,
        btf.UNKNOWN_KIND,
        btf.TOO_MANY_TYPES,
        btf.BAD_STRING,
        btf.BAD_TYPE_ID,
        btf.TYPE_LOOP,
        btf.NOT_COMPOSITE,
        btf.NO_SIZE,
        btf.NOT_FOUND,
        btf.TOO_MANY_FINDINGS,
    ):
        assert code.startswith("BTF-") and code_info(code).title


def test_random_damage_never_raises(kl) -> None:
    """Bytes of the fixture flipped at random: parse and every query either answer or raise BtfError."""
    import random

    rnd = random.Random(14)
    base = bytearray(kl.blob)
    queries = [*EXPECTED["offsetof"], *EXPECTED["bitfields"]]
    for _ in range(300):
        blob = bytearray(base)
        for _ in range(rnd.choice([1, 2, 4, 16])):
            blob[rnd.randrange(len(blob))] = rnd.choice([0, 0xFF, 0x7F, 0x80, rnd.randrange(256)])
        got = btf.parse(bytes(blob), BASE)
        if isinstance(got, Finding):
            continue
        for spec, path in queries:
            try:
                got.member(spec, path)
                got.sizeof(spec)
            except btf.BtfError as e:
                assert e.finding.code.startswith("BTF-") and e.finding.structure == "kernel BTF"
        for t in got:
            assert t.id >= 1


# -- load() through kallsyms -------------------------------------------------------------------------
def _ks(symbols: dict[str, int], error: str | None = None) -> Kallsyms:
    """A symbol table that knows ``symbols`` (physical addresses, phys_base 0)."""
    return Kallsyms(
        error, len(symbols), 0, {k.encode(): (KERNEL_MAP_BASE + v, "R", n) for n, (k, v) in enumerate(symbols.items())}
    )


def test_load_through_kallsyms(kl) -> None:
    pa = 0x200000
    mem = BytesMemory({pa: kl.blob + b"\xcc" * 64})
    got = btf.load(mem, _ks({"__start_BTF": pa, "__stop_BTF": pa + len(kl.blob)}))
    assert isinstance(got, btf.Btf) and got.address == pa and got.raw == kl.blob
    assert got.member_offset("struct efi", "memmap.desc_size") == 64
    assert got.type_by_id(1).address == pa + 24
    # no __stop_BTF: the header says how long it is
    got = btf.load(mem, _ks({"__start_BTF": pa}))
    assert isinstance(got, btf.Btf) and got.raw == kl.blob
    assert btf.locate(mem, _ks({"__start_BTF": pa})) == (pa, len(kl.blob))


def test_load_findings(kl) -> None:
    pa = 0x200000
    mem = BytesMemory({pa: kl.blob})
    f = _finding(btf.load(mem, _ks({}, error="no VMCOREINFO in the dump")))
    assert (f.code, f.address, f.severity) == (btf.NO_SECTION, None, Severity.INFO)
    assert "no VMCOREINFO" in f.message
    f = _finding(btf.load(mem, _ks({"__start_BTF": pa, "__stop_BTF": pa})))
    assert (f.code, f.address) == (btf.BAD_SECTION, pa)
    f = _finding(btf.load(mem, _ks({"__start_BTF": pa, "__stop_BTF": pa + btf.MAX_SECTION + 1})))
    assert f.code == btf.BAD_SECTION and "more than" in f.message
    f = _finding(btf.load(mem, _ks({"__start_BTF": pa, "__stop_BTF": pa + len(kl.blob) + 4096})))
    assert (f.code, f.address) == (READ_ERROR, pa)
    f = _finding(btf.load(mem, _ks({"__start_BTF": pa + 0x100000, "__stop_BTF": pa + 0x100100})))
    assert (f.code, f.address) == (READ_ERROR, pa + 0x100000)
    swapped = BytesMemory({pa: BtfBuilder().build(magic=sb.BTF_MAGIC_SWAPPED)})
    f = _finding(btf.load(swapped, _ks({"__start_BTF": pa, "__stop_BTF": pa + 24})))
    assert (f.code, f.address) == (btf.BYTE_SWAPPED, pa)


# -- the real Debian kernels: 6.1.0, and the 6.12 of bookworm-backports --------------------------------
REAL = [v for v in ("ovmf64", "seabios") if v in R.VARIANTS]
#: A 6.12 kernel (kexecload612): another kernel's BTF (112,372 types; 100,750 on 6.1), the same reader.
REAL_612 = [v for v in ("kexecload612",) if v in R.VARIANTS]


@pytest.fixture(scope="module")
def real(real_files):
    def get(variant: str, name: str = "elf") -> Path:
        return real_files.get(f"{variant}.{name}")

    return get


@pytest.fixture(scope="module")
def real_btf(real) -> dict[str, tuple[btf.Btf, object]]:
    out = {}
    for v in REAL + REAL_612:
        mem = open_memory(str(real(v)))
        got = btf.load(mem)
        assert isinstance(got, btf.Btf), got
        out[v] = (got, mem)
    return out


#: Checked with bpftool v7.1.0 (``bpftool btf dump file ovmf64.btf format raw``) on the section extracted
#: from the ovmf64 dump; the ABI ones are also in Documentation/arch/x86/zero-page.rst.
REAL_FACTS = {
    "count": 100750,
    "sizeof": {
        "struct efi": 264,
        "struct boot_params": 4096,
        "struct setup_header": 123,
        "struct kimage": 784,
        "struct e820_table": 64004,
        "struct e820_entry": 20,
        "struct efi_memory_map": 56,
        "struct kexec_segment": 32,
        "struct efi_info": efi_info.EFI_INFO_SIZE,
        "struct setup_data": setup_data.SETUP_DATA_HEADER_SIZE,
    },
    "offsetof": {
        ("struct efi", "runtime"): 0,
        ("struct efi", "acpi"): 16,
        ("struct efi", "acpi20"): 24,
        ("struct efi", "smbios"): 32,
        ("struct efi", "memmap"): 200,
        ("struct efi", "memmap.phys_map"): 200,
        ("struct efi", "memmap.desc_size"): 240,
        ("struct efi", "flags"): 256,
        ("struct kimage", "start"): 24,
        ("struct kimage", "nr_segments"): 56,
        ("struct kimage", "segment"): 64,
        ("struct kimage", "segment[1].mem"): 64 + 32 + 16,
        ("struct kimage", "control_page"): 624,
        ("struct kimage", "arch"): 640,
        ("struct e820_table", "nr_entries"): 0,
        ("struct e820_table", "entries"): 4,
        ("struct e820_table", "entries[1].type"): 4 + 20 + 16,
    },
    "bitfields": {
        ("struct kimage", "type"): (5056, 1),
        ("struct kimage", "preserve_context"): (5057, 1),
        ("struct kimage", "file_mode"): (5058, 1),
    },
}


@pytest.mark.parametrize("variant", REAL)
def test_real_btf_values(real_btf, variant: str) -> None:
    b, _mem = real_btf[variant]
    assert b.findings == [] and b.count == REAL_FACTS["count"]
    assert (b.version, b.flags, b.hdr_len, b.type_off) == (1, 0, 24, 0)
    assert b.size == b.hdr_len + b.str_off + b.str_len
    for spec, size in REAL_FACTS["sizeof"].items():
        assert b.sizeof(spec) == size, spec
    for (spec, path), off in REAL_FACTS["offsetof"].items():
        assert b.member_offset(spec, path) == off, (spec, path)
    for (spec, path), (bit, size) in REAL_FACTS["bitfields"].items():
        ref = b.member(spec, path)
        assert (ref.bit_offset, ref.bitfield_size) == (bit, size), path
    assert b.find("kimage").kind_flag and not b.find("efi").kind_flag
    # the zero page's ABI (zero-page.rst), as efitables' own boot_params schema declares it
    for path, off in bp.OFFSETS.items():
        if path == "e820_table":
            continue  # the kernel's struct boot_params calls it e820_table too: checked below
        assert b.member_offset("struct boot_params", path) == off, path
    assert b.member_offset("struct boot_params", "e820_table") == bp.E820_TABLE_OFFSET == 0x2D0
    assert b.member_offset("struct boot_params", "efi_info") == 0x1C0
    assert b.member_offset("struct setup_header", "header") == 0x202 - 0x1F1
    assert b.member_offset("struct boot_params", "hdr.setup_data") == bp.SETUP_DATA_PTR_OFFSET
    # kernel/bpf/btf.c's own enum, ENUM64 and typedef chains
    assert b.enum_value("BTF_KIND_ENUM64") == 19  # include/uapi/linux/btf.h (an anonymous enum)
    assert b.enum_value("E820_TYPE_RAM", "enum e820_type") == 1
    assert b.find("perf_callchain_context", "enum").btf_kind == BtfKind.ENUM64
    assert b.resolve("phys_addr_t").name == "long long unsigned int" and b.sizeof("phys_addr_t") == 8
    assert b.resolve(b.var_type("runqueues")).name == "rq"  # a per-CPU VAR


@pytest.mark.parametrize("variant", REAL + REAL_612)
def test_real_btf_reads_what_the_guest_printed(real_btf, variant: str) -> None:
    """The kernel's own ``efi`` and ``boot_params`` globals, decoded with BTF offsets, hold what the guest
    printed in sysfs (/sys/firmware/efi/systab, /sys/kernel/boot_params)."""
    b, mem = real_btf[variant]
    truth = R.truth(variant)
    from efitables.kernel import kallsyms

    ks = kallsyms.load(mem, mem.vmcoreinfo, names=("efi", "boot_params"))
    efi_pa = ks.physical("efi")
    assert efi_pa is not None

    def u64(pa: int, spec: str, path: str) -> int:
        ref = b.member(spec, path)
        assert b.sizeof(ref.type) == 8
        return mem.read_u64(pa + ref.offset)

    sysfs = (truth.get("efi") or {}).get("systab_sysfs")
    invalid = (1 << 64) - 1  # EFI_INVALID_TABLE_ADDR (include/linux/efi.h)
    for key, member in (("ACPI20", "acpi20"), ("ACPI", "acpi"), ("SMBIOS", "smbios")):
        want = sysfs[key] if sysfs else invalid
        assert u64(efi_pa, "struct efi", member) == want, member
    bpa = ks.physical("boot_params")
    assert bpa == truth["boot_params"]["phys"]
    t = truth["boot_params"]
    e820 = b.member("struct boot_params", "e820_entries")
    assert mem.read(bpa + e820.offset, b.sizeof(e820.type))[0] == t["e820_entries"]
    ver = b.member("struct boot_params", "hdr.version")
    assert int.from_bytes(mem.read(bpa + ver.offset, b.sizeof(ver.type)), "little") == t["hdr_version"]
    st = b.member("struct boot_params", "efi_info.efi_systab")
    assert (
        int.from_bytes(mem.read(bpa + st.offset, b.sizeof(st.type)), "little") == t["efi_info"]["systab"] & 0xFFFFFFFF
    )


@pytest.mark.skipif("ovmf64" not in REAL, reason="no ovmf64 dump in the corpus")
def test_real_btf_same_from_kdump(real, real_btf) -> None:
    """The kdump-compressed container of the same guest gives the same blob at the same address."""
    b, _ = real_btf["ovmf64"]
    got = btf.load(open_memory(str(real("ovmf64", "kdump-zlib"))))
    assert isinstance(got, btf.Btf) and got.raw == b.raw and got.address == b.address
    assert got.member_offset("struct efi", "memmap") == 200


_BPFTOOL = shutil.which("bpftool")
_RAW_TYPE = re.compile(r"^\[(\d+)\] (\w+) '([^']*)'(.*)$")
_RAW_MEMBER = re.compile(r"^\t'([^']*)' type_id=(\d+) bits_offset=(\d+)(?: bitfield_size=(\d+))?$")
_RAW_ENUM = re.compile(r"^\t'([^']*)' val=(-?\d+)(?:U?LL)?$")  # ENUM64 values end in LL or ULL


def _bpftool_raw(path: Path) -> dict[int, dict]:
    out = subprocess.run(
        [_BPFTOOL or "bpftool", "btf", "dump", "file", str(path), "format", "raw"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    types: dict[int, dict] = {}
    cur: dict | None = None
    for line in out.splitlines():
        m = _RAW_TYPE.match(line)
        if m:
            attrs = dict(re.findall(r"(\w+)=([^\s,]+)", m.group(4)))
            cur = {"kind": m.group(2), "name": m.group(3), "attrs": attrs, "members": [], "values": []}
            types[int(m.group(1))] = cur
            continue
        m = _RAW_MEMBER.match(line)
        if m and cur is not None:
            cur["members"].append((m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)))
            continue
        m = _RAW_ENUM.match(line)
        if m and cur is not None:
            cur["values"].append((m.group(1), int(m.group(2))))
    return types


@pytest.mark.skipif(_BPFTOOL is None, reason="bpftool is not installed (Debian package bpftool)")
@pytest.mark.parametrize("variant", [v for v in ("ovmf64", *REAL_612) if v in REAL + REAL_612])
def test_real_btf_against_bpftool(real_btf, variant: str, tmp_path: Path) -> None:
    """Every type's kind and name, and every struct/union/enum's size, members and values, as bpftool reads
    the section extracted from the dump (Debian's 6.1 and 6.12 kernels)."""
    b, _ = real_btf[variant]
    path = tmp_path / "vmlinux.btf"
    path.write_bytes(b.raw)
    ref = _bpftool_raw(path)
    assert len(ref) == b.count
    kinds = {"ENUM64": "ENUM64", "FUNC_PROTO": "FUNC_PROTO", "DECL_TAG": "DECL_TAG", "TYPE_TAG": "TYPE_TAG"}
    for tid, want in ref.items():
        t = b.type_by_id(tid)
        assert t.btf_kind.name == kinds.get(want["kind"], want["kind"]), tid
        assert (t.name or "(anon)") == want["name"], tid
        if t.btf_kind in (BtfKind.STRUCT, BtfKind.UNION):
            assert t.type_size == int(want["attrs"]["size"]) and t.vlen == int(want["attrs"]["vlen"]), tid
            assert [(m.name or "(anon)", m.type, m.bit_offset, m.bitfield_size) for m in t.members] == want[
                "members"
            ], tid
        elif t.btf_kind in (BtfKind.ENUM, BtfKind.ENUM64):
            assert [(e.name, e.value) for e in t.enumerators] == want["values"], tid
        elif t.btf_kind == BtfKind.ARRAY:
            a = want["attrs"]
            assert t.array == btf.BtfArray(int(a["type_id"]), int(a["index_type_id"]), int(a["nr_elems"])), tid
            assert t.ref is None
        elif t.btf_kind == BtfKind.FUNC_PROTO:
            assert t.ref == int(want["attrs"]["ret_type_id"]) and t.vlen == int(want["attrs"]["vlen"]), tid
        elif t.btf_kind == BtfKind.FUNC:
            linkage = ("static", "global", "extern")[t.vlen]
            assert (t.ref, linkage) == (int(want["attrs"]["type_id"]), want["attrs"]["linkage"]), tid
        elif t.btf_kind == BtfKind.INT:
            assert (t.type_size, t.int_info and t.int_info.bits) == (
                int(want["attrs"]["size"]),
                int(want["attrs"]["nr_bits"]),
            ), tid
        elif "type_id" in want["attrs"]:
            assert t.ref == int(want["attrs"]["type_id"]), tid
    assert b.findings == []
