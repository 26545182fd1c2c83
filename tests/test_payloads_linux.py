"""Tables the Linux stub installs: RNG seed, MEMRESERVE, initrd, boot memmap,
unaccepted memory, screen_info, MOK variables, CoCo secret area."""

from __future__ import annotations

import json
import struct

from efitables.memory import BytesMemory
from efitables.payloads import decode_payload
from efitables.payloads import linux_tables as lt
from efitables.schemas.common import guid_to_bytes
from efitables.schemas.payloads import linux_tables as s
from tests.builders_payloads import (
    Entry,
    boot_memmap,
    memdesc,
    memreserve_node,
    random_seed,
    roundtrip,
    unaccepted,
)

PA = 0x7000000
SEED = bytes(range(1, 33))


def codes(p):
    return sorted({f.code for f in p.all_findings()})


def _mem(*pages: tuple[int, bytes]) -> BytesMemory:
    return BytesMemory({pa: raw + bytes(-len(raw) % 0x1000) for pa, raw in pages})


# -- random seed ---------------------------------------------------------------
def test_seed_redacted_by_default():
    raw = random_seed(SEED)
    assert roundtrip(s.LINUX_EFI_RANDOM_SEED, raw[:4]).size == 32
    r = decode_payload(_mem((PA, raw)), Entry(lt.LINUX_EFI_RANDOM_SEED_TABLE_GUID, PA))
    assert r.kind == "LINUX_EFI_RANDOM_SEED" and codes(r) == []
    assert r.seed_size == 32 and r.size == 36 and r.seed.length == 32 and r.seed.redacted
    assert r.raw == raw[:4] and SEED.hex() not in json.dumps(r.to_dict(raw=True))
    assert r.to_dict()["seed"]["sha256_prefix"] == r.seed.sha256_prefix and len(r.seed.sha256_prefix) == 16
    assert "redacted" in str(r.seed)
    assert r.redacted and r.secret_ranges() == [(PA + 4, PA + 36)]  # what a hex view must hide


def test_seed_shown_on_request():
    r = decode_payload(_mem((PA, random_seed(SEED))), Entry(lt.LINUX_EFI_RANDOM_SEED_TABLE_GUID, PA), show_secrets=True)
    assert r.seed.value == SEED and r.to_dict()["seed"]["hex"] == SEED.hex() and r.raw.endswith(SEED)
    assert not r.redacted and r.secret_ranges() == []


def test_seed_consumed_is_zero():
    r = decode_payload(_mem((PA, random_seed(bytes(32)))), Entry(lt.LINUX_EFI_RANDOM_SEED_TABLE_GUID, PA))
    assert codes(r) == ["LINUX-RNG-SEED-CONSUMED"] and r.seed.all_zero


def test_seed_size_larger_than_the_page():
    r = decode_payload(_mem((PA, random_seed(SEED, size=0x10000))), Entry(lt.LINUX_EFI_RANDOM_SEED_TABLE_GUID, PA))
    assert "LINUX-RNG-SEED-SIZE" in codes(r) and r.seed.length == 1024
    r = decode_payload(_mem((PA, random_seed(SEED, size=2000))), Entry(lt.LINUX_EFI_RANDOM_SEED_TABLE_GUID, PA))
    assert "LINUX-RNG-SEED-LARGE" in codes(r)
    r = decode_payload(BytesMemory({PA: random_seed(SEED, size=600)}), Entry(lt.LINUX_EFI_RANDOM_SEED_TABLE_GUID, PA))
    assert codes(r) == ["DUMP-READ"] and r.seed is None


# -- MEMRESERVE -------------------------------------------------------------------
def test_memreserve_list_walked():
    n2 = PA + 0x1000
    raw0 = memreserve_node([], next_pa=n2)  # the stub's empty root
    raw1 = memreserve_node([(0x8000000, 0x10000), (0x9000000, 0x2000)], capacity=255)
    h = roundtrip(s.LINUX_EFI_MEMRESERVE, raw1[:16])
    assert (h.size, h.count, h.next) == (255, 2, 0)
    m = decode_payload(_mem((PA, raw0), (n2, raw1)), Entry(lt.LINUX_EFI_MEMRESERVE_TABLE_GUID, PA))
    assert codes(m) == [] and len(m.nodes) == 2
    assert m.ranges == [(0x8000000, 0x10000), (0x9000000, 0x2000)]
    assert (m.nodes[1].capacity, m.nodes[1].count, m.nodes[1].size) == (255, 2, 4096)
    assert m.to_dict()["reserved_bytes"] == 0x12000


def test_memreserve_cycle():
    n2 = PA + 0x1000
    m = decode_payload(
        _mem((PA, memreserve_node([(1 << 20, 4096)], next_pa=n2)), (n2, memreserve_node([], next_pa=PA))),
        Entry(lt.LINUX_EFI_MEMRESERVE_TABLE_GUID, PA),
    )
    assert codes(m) == ["LINUX-MEMRESERVE-CYCLE"] and len(m.nodes) == 2


def test_memreserve_self_loop_and_endless():
    m = decode_payload(_mem((PA, memreserve_node([], next_pa=PA))), Entry(lt.LINUX_EFI_MEMRESERVE_TABLE_GUID, PA))
    assert codes(m) == ["LINUX-MEMRESERVE-CYCLE"]
    # An endless chain: every node points to the next page, for more pages than the cap.
    n = lt.MAX_MEMRESERVE_NODES + 5
    mem = _mem(*[(PA + i * 0x1000, memreserve_node([], next_pa=PA + (i + 1) * 0x1000)) for i in range(n)])
    m = decode_payload(mem, Entry(lt.LINUX_EFI_MEMRESERVE_TABLE_GUID, PA))
    assert codes(m) == ["LINUX-MEMRESERVE-TOO-MANY"] and len(m.nodes) == lt.MAX_MEMRESERVE_NODES


def test_memreserve_bad_counts_and_dangling_next():
    raw = memreserve_node([(0x1000, 0x1000)], capacity=1, count=5, next_pa=0x123456789000)
    m = decode_payload(_mem((PA, raw)), Entry(lt.LINUX_EFI_MEMRESERVE_TABLE_GUID, PA))
    assert {"LINUX-MEMRESERVE-COUNT", "DUMP-READ"} <= set(codes(m)) and m.ranges == [(0x1000, 0x1000)]
    raw = memreserve_node([], capacity=-1, count=-3)
    m = decode_payload(_mem((PA, raw)), Entry(lt.LINUX_EFI_MEMRESERVE_TABLE_GUID, PA))
    assert codes(m) == ["LINUX-MEMRESERVE-COUNT"] and m.ranges == []
    raw = memreserve_node([(0x1000, 0)], capacity=300)
    m = decode_payload(_mem((PA, raw)), Entry(lt.LINUX_EFI_MEMRESERVE_TABLE_GUID, PA))
    assert {"LINUX-MEMRESERVE-PAGE", "LINUX-MEMRESERVE-RANGE"} <= set(codes(m))


# -- initrd, screen_info, boot memmap -----------------------------------------------
def test_initrd():
    raw = s.LINUX_EFI_INITRD.build(dict(base=PA + 0x1000, size=0x800))
    assert roundtrip(s.LINUX_EFI_INITRD, raw).base == PA + 0x1000
    i = decode_payload(_mem((PA, raw + bytes(0x1800))), Entry(lt.LINUX_EFI_INITRD_MEDIA_GUID, PA))
    assert codes(i) == [] and (i.base, i.initrd_size, i.in_dump) == (PA + 0x1000, 0x800, True)
    i = decode_payload(
        _mem((PA, s.LINUX_EFI_INITRD.build(dict(base=0x10, size=0)))), Entry(lt.LINUX_EFI_INITRD_MEDIA_GUID, PA)
    )
    assert codes(i) == ["LINUX-INITRD-RANGE"]


def test_screen_info():
    f = {sc.name: 0 for sc in s.SCREEN_INFO.subcons}
    f.update(
        orig_video_isVGA=0x70,
        lfb_width=1280,
        lfb_height=800,
        lfb_depth=32,
        lfb_base=0x80000000,
        lfb_size=0x400000,
        lfb_linelength=5120,
        capabilities=2,
        ext_lfb_base=0x1,
        _reserved=b"\0\0",
    )
    raw = s.SCREEN_INFO.build(f)
    roundtrip(s.SCREEN_INFO, raw)
    si = decode_payload(_mem((PA, raw)), Entry(lt.LINUX_EFI_SCREEN_INFO_TABLE_GUID, PA))
    assert (si.video_type, si.lfb_base, si.lfb_width, si.lfb_height) == ("EFI", 0x180000000, 1280, 800)


def test_boot_memmap():
    descs = [memdesc(7, 0, 0x9F, 8), memdesc(4, 0x100000, 0x100, 8), memdesc(9, 0x200000, 1, 8)]
    raw = boot_memmap(descs)
    h = roundtrip(s.EFI_BOOT_MEMMAP, raw[:40])
    assert (h.map_size, h.desc_size, h.desc_ver, h.map_key) == (144, 48, 1, 0x1234)
    b = decode_payload(_mem((PA, raw)), Entry(lt.LINUX_EFI_BOOT_MEMMAP_GUID, PA))
    assert codes(b) == [] and len(b.memmap.descriptors) == 3 and b.size == 40 + 144
    assert b.memmap.descriptors[2].type_name == "EFI_ACPI_RECLAIM_MEMORY" and b.memmap.address == PA + 40
    b = decode_payload(_mem((PA, boot_memmap(descs, buff_size=16))), Entry(lt.LINUX_EFI_BOOT_MEMMAP_GUID, PA))
    assert codes(b) == ["LINUX-BOOT-MEMMAP-SIZE"]
    huge = bytearray(raw)
    huge[0:8] = struct.pack("<Q", 1 << 40)
    b = decode_payload(_mem((PA, bytes(huge))), Entry(lt.LINUX_EFI_BOOT_MEMMAP_GUID, PA))
    assert "EFI-MEMMAP-TOO-MANY" in codes(b)


# -- unaccepted memory -------------------------------------------------------------
def test_unaccepted_summary():
    bitmap = bytes([0b11110000, 0xFF, 0, 0x01]) + bytes(4)  # 64 units; bits 4-15 and 24 unaccepted
    raw = unaccepted(bitmap)
    h = roundtrip(s.EFI_UNACCEPTED_MEMORY, raw[:24])
    assert (h.version, h.unit_size, h.phys_base, h.size) == (1, 0x200000, 0x100000000, 8)
    u = decode_payload(_mem((PA, raw)), Entry(lt.LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID, PA))
    assert codes(u) == [] and u.units == 64 and u.unaccepted_units == 13 and u.accepted_units == 51
    assert u.covered_end == 0x100000000 + 64 * 0x200000 and u.unaccepted_bytes == 13 * 0x200000
    assert u.unaccepted_runs == [(0x100000000 + 4 * 0x200000, 12 * 0x200000), (0x100000000 + 24 * 0x200000, 0x200000)]
    d = u.to_dict()
    assert d["accepted_bytes"] == 51 * 0x200000


def test_unaccepted_hostile():
    u = decode_payload(_mem((PA, unaccepted(bytes(8), version=2))), Entry(lt.LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID, PA))
    assert codes(u) == ["LINUX-UNACCEPTED-VERSION"]
    u = decode_payload(_mem((PA, unaccepted(bytes(8), unit=3))), Entry(lt.LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID, PA))
    assert codes(u) == ["LINUX-UNACCEPTED-UNIT"]
    raw = bytearray(unaccepted(bytes(8), phys_base=0x100001000))
    raw[16:24] = struct.pack("<Q", 1 << 40)  # a bitmap size past the dump and the cap
    u = decode_payload(_mem((PA, bytes(raw))), Entry(lt.LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID, PA))
    assert {"LINUX-UNACCEPTED-SIZE", "LINUX-UNACCEPTED-ALIGN", "DUMP-READ"} <= set(codes(u))
    assert u.unaccepted_units is None


# -- MOK variables, CoCo secret ----------------------------------------------------
def test_mokvar():
    def ent(name: bytes, data: bytes) -> bytes:
        return s.EFI_MOKVAR_TABLE_ENTRY.build(dict(name=name.ljust(256, b"\0"), data_size=len(data))) + data

    raw = ent(b"MokListRT", b"x" * 100) + ent(b"SbatLevelRT", b"sbat,1\n") + ent(b"", b"")
    assert roundtrip(s.EFI_MOKVAR_TABLE_ENTRY, raw[:264]).data_size == 100
    t = decode_payload(_mem((PA, raw)), Entry(lt.LINUX_EFI_MOK_VARIABLE_TABLE_GUID, PA))
    assert codes(t) == [] and [e["name"] for e in t.entries] == ["MokListRT", "SbatLevelRT"]
    assert t.entries[0]["data_size"] == 100 and t.size == len(raw)
    raw = ent(b"MokListRT", b"") * (lt.MAX_MOKVAR_ENTRIES + 1)
    t = decode_payload(_mem((PA, raw)), Entry(lt.LINUX_EFI_MOK_VARIABLE_TABLE_GUID, PA))
    assert codes(t) == ["LINUX-MOKVAR-TOO-MANY"]


def test_coco_secret_redacted():
    secret = b"very secret key!"
    entry = guid_to_bytes("736869e5-84f0-4973-92ec-06879ce3da0b") + struct.pack("<I", 20 + len(secret)) + secret
    area = guid_to_bytes(s.EFI_SECRET_TABLE_HEADER_GUID) + struct.pack("<I", 20 + len(entry)) + entry
    table = s.LINUX_EFI_COCO_SECRET_AREA.build(dict(base_pa=PA + 0x1000, size=0xC00))
    c = decode_payload(_mem((PA, table), (PA + 0x1000, area)), Entry(lt.LINUX_EFI_COCO_SECRET_AREA_GUID, PA))
    assert codes(c) == [] and c.header_ok and len(c.entries) == 1
    assert c.entries[0]["data"].redacted and secret.hex() not in json.dumps(c.to_dict(raw=True))
    assert c.secret_ranges() == [(PA + 0x1000, PA + 0x1C00)]
    assert roundtrip(s.LINUX_EFI_COCO_SECRET_AREA, table).base_pa == PA + 0x1000
    assert roundtrip(s.EFI_SECRET_TABLE_HEADER, area[:20]).guid == s.EFI_SECRET_TABLE_HEADER_GUID
    c = decode_payload(
        _mem((PA, table), (PA + 0x1000, area)), Entry(lt.LINUX_EFI_COCO_SECRET_AREA_GUID, PA), show_secrets=True
    )
    assert c.entries[0]["data"].value == secret


def test_unaccepted_bitmap_covers_every_unaccepted_region():
    from dumps.builder import memory_map
    from efitables.efi.memmap import parse_memmap

    raw = unaccepted(bytes(8))  # 64 units of 2 MiB from 4 GiB: 4 GiB .. 4 GiB + 128 MiB
    mm_raw = memory_map([
        dict(Type=9, PhysicalStart=PA, NumberOfPages=1, Attribute=8),
        dict(Type=15, PhysicalStart=0x100000000, NumberOfPages=0x8000, Attribute=8),  # 128 MiB: covered
        dict(Type=15, PhysicalStart=0x110000000, NumberOfPages=0x100, Attribute=8),  # past the bitmap
    ])  # fmt: skip
    mem = BytesMemory({PA: raw + bytes(0x1000 - len(raw)), 0x200000: mm_raw})
    mm = parse_memmap(mem, 0x200000, len(mm_raw), 48, 1)
    u = decode_payload(mem, Entry(lt.LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID, PA), memmap=mm)
    assert codes(u) == ["LINUX-UNACCEPTED-COVER"] and "0x110000000" in u.findings[0].message
