"""setup_data: every SETUP_* payload round-trips field by field; hostile lists give findings."""

from __future__ import annotations

import hashlib
import json

import construct as cs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from efitables.boot.setup_data import (
    MAX_NODES,
    ApplePropertiesPayload,
    CcBlobPayload,
    E820ExtPayload,
    EfiSetupPayload,
    FdtPayload,
    ImaPayload,
    IndirectPayload,
    JailhousePayload,
    KhoPayload,
    PciRomPayload,
    RawPayload,
    RngSeedPayload,
    walk_setup_data,
)
from efitables.schemas import setup_data as sd
from efitables.schemas.snp import CC_BLOB_SEV_HDR_MAGIC
from efitables.secret import Secret
from tests import builders_boot as B


def codes(findings):
    return [f.code for f in findings]


# -- schemas: parse -> object, build -> bytes, sizeof (construct's declarativeunittest idiom) --------------
@pytest.mark.parametrize(
    "schema,obj,size",
    [
        (sd.SETUP_DATA, {"next": 0x1000, "type": 4, "len": 96}, 16),
        (sd.STRUCT_SETUP_INDIRECT, {"type": 0x80000001, "reserved": 0, "len": 40, "addr": 0x5000}, 24),
        (sd.IMA_SETUP_DATA, {"addr": 0x1234000, "size": 0x2000}, 16),
        (sd.KHO_DATA, {"fdt_addr": 1, "fdt_size": 2, "scratch_addr": 3, "scratch_size": 4}, 32),
        (sd.CC_SETUP_DATA, {"cc_blob_address": 0x7F000}, 4),
        (
            sd.EFI_SETUP_DATA,
            {"fw_vendor": 0x7E1000, "__unused": 0, "tables": 0x7E0100, "smbios": 0x7F0000, "reserved": [0] * 8},
            0x60,
        ),
    ],
)
def test_schema_round_trip(schema, obj, size):
    raw = schema.build(obj)
    assert len(raw) == size == schema.sizeof()
    parsed = schema.parse(raw)
    assert {k: parsed[k] for k in obj} == obj
    assert schema.build(parsed) == raw


def test_fixed_sizes_match_the_kernel_headers():
    assert sd.PCI_SETUP_ROM.sizeof() == 0x40 and sd.PCI_SETUP_ROM_DATA.sizeof() == 0x30
    assert sd.JAILHOUSE_SETUP_DATA.sizeof() == 284 and sd.JAILHOUSE_SETUP_DATA_V1.sizeof() == 280
    assert sd.FDT_HEADER.sizeof() == 40
    assert sd.FDT_HEADER.build(sd.FDT_HEADER.parse(B.fdt()[:40]))[:4] == b"\xd0\x0d\xfe\xed"  # big-endian
    assert sd.SETUP_TYPE_MAX == 0x8000000A
    assert sd.setup_type_name(0x80000001) == "SETUP_INDIRECT|SETUP_E820_EXT"
    assert sd.setup_type_name(77) == "UNKNOWN(0x4d)"


# -- one list holding every type --------------------------------------------------------------
ROM = b"\x55\xaa" + bytes(range(30))
SEED = bytes(range(32))


def every_type_layout():
    L = B.Layout(0x100000)
    L.put(0x80000, "EDK II".encode("utf-16-le") + b"\0\0")
    L.put(0x7F000, CC_BLOB_SEV_HDR_MAGIC.to_bytes(4, "little"))
    # out-of-line payloads for the indirect nodes
    L.put(0x90000, B.e820_entries([(0x100000000, 0x40000000, 1), (0x140000000, 0x1000, 2)]))
    L.put(0x91000, B.efi_setup(0x80000, 0, 0x7E0100, 0x7F100))
    nodes = [
        (0x10000, sd.SETUP_E820_EXT, B.e820_entries([(0x100000, 0x7F00000, 1), (0xFEC00000, 0x1000, 2)])),
        (0x11000, sd.SETUP_DTB, B.fdt(0x100)),
        (0x12000, sd.SETUP_PCI, B.pci_rom(0x8086, 0x10D3, ROM, bus=0, device=2, function=0)),
        (0x13000, sd.SETUP_EFI, B.efi_setup(0x80000, 0xFFFFFFFEFF1EBB98, 0x7E0100, 0x7F100)),
        (
            0x14000,
            sd.SETUP_APPLE_PROPERTIES,
            B.apple_properties([([(2, 1, bytes(8)), (1, 1, bytes(2))], [("built-in", b"\x01"), ("model", b"GPU\0")])]),
        ),
        (0x15000, sd.SETUP_JAILHOUSE, B.jailhouse(num_cpus=3, flags=1)),
        (0x16000, sd.SETUP_CC_BLOB, B.cc_blob(0x7F000)),
        (0x17000, sd.SETUP_IMA, B.ima(0x3000000, 0x5000)),
        (0x18000, sd.SETUP_RNG_SEED, SEED),
        (0x19000, sd.SETUP_KEXEC_KHO, B.kho(0x4000000, 0x1000, 0x8000000, 0x200000)),
        (0x1A000, sd.SETUP_INDIRECT, B.indirect(sd.SETUP_INDIRECT | sd.SETUP_E820_EXT, 40, 0x90000)),
        (0x1B000, sd.SETUP_INDIRECT, B.indirect(sd.SETUP_INDIRECT | sd.SETUP_EFI, 0x60, 0x91000)),
        (0x1C000, 0x77, b"opaque bytes"),
    ]
    head = B.chain(L, nodes)
    return L, head


def test_every_setup_type_round_trips_field_by_field():
    L, head = every_type_layout()
    lst = walk_setup_data(L.memory(), head)
    assert lst.complete and not lst.findings
    assert [n.type for n in lst] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x80000000, 0x80000000, 0x77]
    assert [n.address for n in lst][:3] == [0x10000, 0x11000, 0x12000]
    n = lst.nodes

    e = n[0].payload
    assert isinstance(e, E820ExtPayload) and n[0].len == 40
    assert [(x.addr, x.length, x.type_name) for x in e.entries] == [
        (0x100000, 0x7F00000, "E820_TYPE_RAM"),
        (0xFEC00000, 0x1000, "E820_TYPE_RESERVED"),
    ]

    f = n[1].payload
    assert isinstance(f, FdtPayload) and f.valid
    assert (f.magic, f.totalsize, f.version, f.last_comp_version) == (0xD00DFEED, 0x100, 17, 16)

    p = n[2].payload
    assert isinstance(p, PciRomPayload)
    assert (p.vendor, p.devid, p.pcilen, p.segment, p.bus, p.device, p.function) == (0x8086, 0x10D3, 32, 0, 0, 2, 0)
    assert p.rom_signature == 0xAA55 and p.rom_address == 0x12000 + 16 + 48 and not p.findings

    s = n[3].payload
    assert isinstance(s, EfiSetupPayload)
    assert (s.fw_vendor, s.runtime, s.tables, s.smbios) == (0x80000, 0xFFFFFFFEFF1EBB98, 0x7E0100, 0x7F100)
    assert s.fw_vendor_text == "EDK II"

    a = n[4].payload
    assert isinstance(a, ApplePropertiesPayload) and not a.findings
    assert (a.version, a.dev_count, a.properties_len) == (1, 1, n[4].len)
    assert a.devices[0].device_path == ["02/01", "01/01"]
    assert a.devices[0].properties == [{"name": "built-in", "value_length": 1}, {"name": "model", "value_length": 4}]

    j = n[5].payload
    assert isinstance(j, JailhousePayload)
    assert (j.version, j.compatible_version, j.pm_timer_address, j.num_cpus) == (2, 1, 0x608, 3)
    assert (j.pci_mmconfig_base, j.tsc_khz, j.apic_khz, j.standard_ioapic) == (0xB0000000, 2_000_000, 1_000_000, 1)
    assert j.cpu_ids == [0, 1, 2] and j.flags == 1

    c = n[6].payload
    assert isinstance(c, CcBlobPayload) and c.cc_blob_address == 0x7F000 and c.magic_ok is True

    i = n[7].payload
    assert isinstance(i, ImaPayload) and (i.addr, i.buffer_size) == (0x3000000, 0x5000)

    r = n[8].payload
    assert isinstance(r, RngSeedPayload) and r.length == 32
    assert r.redacted and r.raw == b"" and isinstance(r.seed, Secret)
    assert (r.seed.length, r.seed.all_zero, r.seed.redacted, r.seed.value) == (32, False, True, None)
    assert r.seed.sha256_prefix == hashlib.sha256(SEED).hexdigest()[:16]
    assert r.secret_ranges() == [(0x18010, 0x18030)]

    k = n[9].payload
    assert isinstance(k, KhoPayload)
    assert (k.fdt_addr, k.fdt_size, k.scratch_addr, k.scratch_size) == (0x4000000, 0x1000, 0x8000000, 0x200000)

    ind = n[10].payload
    assert isinstance(ind, IndirectPayload) and ind.followed
    assert (ind.indirect_type, ind.target_len, ind.target_addr) == (0x80000001, 40, 0x90000)
    assert isinstance(ind.target, E820ExtPayload)
    assert [(x.addr, x.length, x.type) for x in ind.target.entries] == [
        (0x100000000, 0x40000000, 1),
        (0x140000000, 0x1000, 2),
    ]
    assert n[10].effective_payload is ind.target

    ind2 = n[11].payload
    assert isinstance(ind2.target, EfiSetupPayload) and ind2.target.tables == 0x7E0100
    assert [x.index for x in lst.of_type(sd.SETUP_EFI)] == [3, 11]

    u = n[12].payload
    assert isinstance(u, RawPayload) and u.preview == b"opaque bytes".hex()
    assert codes(u.findings) == ["SETUP-DATA-UNKNOWN-TYPE"]


def test_every_type_in_json_and_layout():
    L, head = every_type_layout()
    lst = walk_setup_data(L.memory(), head)
    d = json.loads(json.dumps(lst.to_dict(raw=True)))
    assert d["kind"] == "setup_data_list" and len(d["nodes"]) == 13
    assert d["nodes"][3]["payload"]["tables"] == 0x7E0100
    assert d["nodes"][10]["payload"]["target"]["entries"][0]["addr"] == 0x100000000
    rng = d["nodes"][8]["payload"]
    assert rng["redacted"] and "raw" in rng and rng["raw"] == "" and rng["length"] == 32
    assert rng["seed"] == {
        "redacted": True,
        "length": 32,
        "sha256_prefix": hashlib.sha256(SEED).hexdigest()[:16],
        "all_zero": False,
    }
    assert SEED.hex() not in json.dumps(d)
    spans = {s.name: s.offset for s in lst.nodes[3].payload.layout()}
    assert spans["tables"] == 0x10 and spans["smbios"] == 0x18


def test_rng_seed_shown_on_request():
    L, head = every_type_layout()
    r = walk_setup_data(L.memory(), head, show_secrets=True).nodes[8].payload
    assert not r.redacted and r.seed is not None and r.raw == SEED
    assert (r.seed.value, r.seed.length, r.seed.redacted) == (SEED, 32, False)
    assert r.seed.sha256_prefix == hashlib.sha256(SEED).hexdigest()[:16]
    assert r.to_dict()["seed"]["hex"] == SEED.hex()
    assert r.secret_ranges() == []


def test_rng_seed_wiped_by_the_kernel():
    L = B.Layout(0x20000)
    head = B.chain(L, [(0x1000, sd.SETUP_RNG_SEED, b"")])
    lst = walk_setup_data(L.memory(), head)
    assert codes(lst.nodes[0].findings) == ["SETUP-DATA-CONSUMED"]
    assert lst.nodes[0].payload.length == 0 and lst.nodes[0].payload.seed is None
    assert lst.nodes[0].payload.secret_ranges() == []


# -- hostile input ----------------------------------------------------------------------
def test_cyclic_list_is_detected_and_the_walk_stops():
    L = B.Layout(0x20000)
    L.put(0x1000, sd.build_node(0x2000, sd.SETUP_IMA, B.ima(1, 2)))
    L.put(0x2000, sd.build_node(0x3000, sd.SETUP_IMA, B.ima(3, 4)))
    L.put(0x3000, sd.build_node(0x1000, sd.SETUP_IMA, B.ima(5, 6)))  # back to the head
    lst = walk_setup_data(L.memory(), 0x1000)
    assert len(lst) == 3 and not lst.complete
    assert codes(lst.findings) == ["SETUP-DATA-CYCLE"]
    assert "node [2].next points back to node [0]" in lst.findings[0].message


def test_self_loop():
    L = B.Layout(0x20000)
    L.put(0x1000, sd.build_node(0x1000, 0, b""))
    lst = walk_setup_data(L.memory(), 0x1000)
    assert len(lst) == 1 and codes(lst.findings) == ["SETUP-DATA-CYCLE"]


def test_node_len_past_the_dump():
    L = B.Layout(0x2000)
    L.put(0x1000, sd.build_node(0, sd.SETUP_RNG_SEED, bytes(32), length=0x100000))
    lst = walk_setup_data(L.memory(), 0x1000)
    node = lst.nodes[0]
    assert "SETUP-DATA-LEN" in codes(node.findings)
    assert "0x2000-" in next(f.message for f in node.findings if f.code == "SETUP-DATA-LEN")
    assert "DUMP-READ" in codes(node.payload.findings)  # the seed's prefix was read, the rest reported
    assert node.payload.length == 0x100000


def test_next_pointing_into_a_hole():
    L = B.Layout()
    L.add(0x1000, 0x1000)
    L.add(0x10000, 0x1000)
    L.put(0x1000, sd.build_node(0x8000, sd.SETUP_IMA, B.ima(1, 2)))  # 0x8000 is a hole
    lst = walk_setup_data(L.memory(), 0x1000)
    assert len(lst) == 1 and not lst.complete
    assert codes(lst.findings) == ["SETUP-DATA-DANGLING"]
    assert "node [0].next = 0x8000" in lst.findings[0].message


def test_head_beyond_physical_space():
    lst = walk_setup_data(B.Layout(0x1000).memory(), 1 << 60)
    assert codes(lst.findings) == ["SETUP-DATA-DANGLING"] and len(lst) == 0


def test_absurd_number_of_nodes_is_capped():
    L = B.Layout(0x100000)
    n = MAX_NODES + 50
    B.chain(L, [(0x1000 + 16 * i, 0, b"") for i in range(n)])
    lst = walk_setup_data(L.memory(), 0x1000)
    assert len(lst) == MAX_NODES and not lst.complete
    assert codes(lst.findings) == ["SETUP-DATA-TOO-MANY"]


def test_indirect_pointing_to_another_indirect_is_not_followed():
    L = B.Layout(0x20000)
    L.put(0x5000, B.indirect(sd.SETUP_INDIRECT | sd.SETUP_E820_EXT, 20, 0x6000))
    head = B.chain(L, [(0x1000, sd.SETUP_INDIRECT, B.indirect(sd.SETUP_INDIRECT, 24, 0x5000))])
    p = walk_setup_data(L.memory(), head).nodes[0].payload
    assert isinstance(p, IndirectPayload) and not p.followed and p.target is None
    assert codes(p.findings) == ["SETUP-INDIRECT-NESTED"]


def test_indirect_checks():
    L = B.Layout(0x20000)
    L.put(0x6000, B.ima(7, 8))
    head = B.chain(
        L,
        [
            (0x1000, sd.SETUP_INDIRECT, B.indirect(sd.SETUP_IMA, 16, 0x6000, reserved=5) + bytes(8)),  # no bit, len 32
            (0x2000, sd.SETUP_INDIRECT, B.indirect(sd.SETUP_INDIRECT | sd.SETUP_IMA, 16, 0x900000)),  # past the dump
        ],
    )
    n0, n1 = walk_setup_data(L.memory(), head).nodes
    assert sorted(codes(n0.payload.findings)) == ["SETUP-INDIRECT-LEN", "SETUP-INDIRECT-TYPE", "SETUP-INDIRECT-TYPE"]
    assert isinstance(n0.payload.target, ImaPayload) and n0.payload.target.addr == 7
    assert "SETUP-DATA-LEN" in codes(n1.payload.findings)
    assert isinstance(n1.payload.target, RawPayload)  # unreadable IMA payload kept as raw
    assert "DUMP-READ" in codes(n1.payload.target.findings)


def test_payload_checks():
    L = B.Layout(0x40000)
    bad_apple = bytearray(B.apple_properties([([], [("x", b"")])]))
    bad_apple[4] = 2  # version 2
    head = B.chain(
        L,
        [
            (0x1000, sd.SETUP_DTB, B.fdt(0x200, magic=0x12345678)[:0x100]),  # bad magic, totalsize > len
            (0x2000, sd.SETUP_PCI, B.pci_rom(1, 2, b"\x00\x00rom")),
            (0x3000, sd.SETUP_EFI, B.efi_setup(0, 0, 0, 0)),
            (0x4000, sd.SETUP_APPLE_PROPERTIES, bytes(bad_apple)),
            (0x5000, sd.SETUP_JAILHOUSE, B.jailhouse(flags=None)[:100]),
            (0x6000, sd.SETUP_CC_BLOB, B.cc_blob(0x30000)),  # no AMDE there
            (0x7000, sd.SETUP_E820_EXT, B.e820_entries([(0, 0x1000, 1)]) + b"xx"),
            (0x8000, sd.SETUP_IMA, b"\x01\x02"),
        ],
    )
    n = walk_setup_data(L.memory(), head).nodes
    assert codes(n[0].payload.findings) == ["SETUP-DTB-HEADER", "SETUP-DTB-HEADER"] and not n[0].payload.valid
    assert codes(n[1].payload.findings) == ["SETUP-PCI-ROM"]
    assert codes(n[2].payload.findings) == ["SETUP-EFI-DATA"]
    assert codes(n[3].payload.findings) == ["SETUP-APPLE-PROPERTIES"]
    assert "SETUP-JAILHOUSE" in codes(n[4].payload.findings)
    assert codes(n[5].payload.findings) == ["SETUP-CC-BLOB"] and n[5].payload.magic_ok is False
    assert codes(n[6].payload.findings) == ["SETUP-E820-EXT-LEN"] and len(n[6].payload.entries) == 1
    assert codes(n[7].payload.findings) == ["SETUP-DATA-SHORT"] and isinstance(n[7].payload, RawPayload)


def test_jailhouse_v1():
    L = B.Layout(0x20000)
    head = B.chain(L, [(0x1000, sd.SETUP_JAILHOUSE, B.jailhouse(num_cpus=1, flags=None))])
    j = walk_setup_data(L.memory(), head).nodes[0].payload
    assert j.flags is None and j.version == 1 and j.cpu_ids == [0] and not j.findings


def test_unaligned_node_and_empty_list():
    L = B.Layout(0x20000)
    head = B.chain(L, [(0x1004, sd.SETUP_IMA, B.ima(1, 2))])
    lst = walk_setup_data(L.memory(), head)
    assert codes(lst.nodes[0].findings) == ["SETUP-DATA-ALIGN"]
    empty = walk_setup_data(L.memory(), 0)
    assert len(empty) == 0 and empty.complete and not empty.findings


def test_construct_is_not_needed_to_walk():
    # the walk uses struct for headers; the schema Container is still attached for layout()
    L, head = every_type_layout()
    node = walk_setup_data(L.memory(), head).nodes[0]
    assert isinstance(node.fields, cs.Container) and node.fields.type == 1
    assert [s.name for s in node.layout()] == ["next", "type", "len"]


def test_every_type_through_a_raw_dump_and_the_dump_api(tmp_path):
    from efitables.dump import Dump

    L, head = every_type_layout()
    L.put(0x1000, B.boot_params(e820=[(0, 0x9FC00, 1), (0x100000, 0xF00000, 1)], hdr__setup_data=head))
    p = tmp_path / "every-type.raw"
    with open(p, "wb") as fh:
        fh.write(L.segments[0])
    with Dump.open(str(p), boot_params=0x1000, scan="never") as d:
        assert [n.type_name for n in d.setup_data] == [
            "SETUP_E820_EXT",
            "SETUP_DTB",
            "SETUP_PCI",
            "SETUP_EFI",
            "SETUP_APPLE_PROPERTIES",
            "SETUP_JAILHOUSE",
            "SETUP_CC_BLOB",
            "SETUP_IMA",
            "SETUP_RNG_SEED",
            "SETUP_KEXEC_KHO",
            "SETUP_INDIRECT",
            "SETUP_INDIRECT",
            "UNKNOWN(0x77)",
        ]
        # E820: 2 zero-page entries, 2 from the plain SETUP_E820_EXT, 2 through SETUP_INDIRECT
        assert (d.e820.from_boot_params, d.e820.from_setup_data) == (2, 4)
        assert d.setup_data[8].payload.seed.value is None
        assert "SETUP-DATA-UNKNOWN-TYPE" in codes(d.findings)
        out = json.loads(json.dumps(d.to_dict(raw=True)))
        assert SEED.hex() not in json.dumps(out)
        assert out["boot"]["setup_data"]["nodes"][5]["payload"]["num_cpus"] == 3
    with Dump.open(str(p), boot_params=0x1000, scan="never", show_secrets=True) as d:
        assert d.setup_data[8].payload.seed.value == SEED


# -- fuzz: every decoder on arbitrary payloads, hostile links -------------------------------
_TYPES = [*range(0, 12), sd.SETUP_INDIRECT, 0x80000001, 0xFFFFFFFF]
_node = st.tuples(
    st.sampled_from(_TYPES),
    st.binary(max_size=400),
    st.one_of(st.none(), st.integers(0, 0xFFFFFFFF)),  # len override
    st.one_of(st.none(), st.integers(0, 0x8000)),  # next override (cycles, holes, mid-node)
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nodes=st.lists(_node, min_size=1, max_size=8), indirect_targets=st.binary(min_size=24, max_size=24))
def test_fuzz_setup_data_never_raises(nodes, indirect_targets):
    L = B.Layout(0x6000)
    L.add(0x7000, 0x1000)  # a hole at 0x6000-0x7000
    pa = 0x100
    addrs = []
    for _typ, payload, _ln, _nx in nodes:
        addrs.append(pa)
        pa += 16 + len(payload) + 8
    for i, (typ, payload, ln, nx) in enumerate(nodes):
        nxt = nx if nx is not None else (addrs[i + 1] if i + 1 < len(addrs) else 0)
        if typ == sd.SETUP_INDIRECT and len(payload) >= 24:
            payload = indirect_targets[:16] + payload[16:]
        L.put(addrs[i], sd.build_node(nxt, typ, payload, ln))
    for secrets in (False, True):
        lst = walk_setup_data(L.memory(), addrs[0], show_secrets=secrets)
        assert 1 <= len(lst) <= MAX_NODES
        json.dumps(lst.to_dict(raw=True))
        for n in lst:
            n.layout()
            for c in n.children():
                c.layout()


# -- presentation: every payload says what it is (summary/rows/tables), as plain printable text -------------
def test_every_payload_summarises_itself():
    L, head = every_type_layout()
    n = walk_setup_data(L.memory(), head).nodes
    assert [x.payload.summary() for x in n] == [
        "2 E820 entries",
        "FDT magic 0xd00dfeed, totalsize 256, version 17/16",
        "PCI 8086:10d3 at 0000:00:02.0, ROM 32 bytes at 0x12040 (signature 55aa)",
        "fw_vendor 0x80000 (EDK II), runtime 0xfffffffeff1ebb98, tables 0x7e0100, smbios 0x7f100",
        "version 1, 1 devices, 2 properties",
        "version 2 (compatible 1), 3 CPUs, MMCONFIG 0xb0000000, TSC 2000000 kHz, APIC 1000000 kHz, flags 0x1",
        "cc_blob_address 0x7f000 (AMDE magic ok)",
        "IMA buffer 0x3000000, 20480 bytes",
        f"32 bytes, sha256 {hashlib.sha256(SEED).hexdigest()[:16]}... (redacted; --show-secrets to show)",
        "KHO FDT 0x4000000 (4096 bytes), scratch 0x8000000 (2097152 bytes)",
        "-> SETUP_INDIRECT|SETUP_E820_EXT at 0x90000, 40 bytes: 2 E820 entries",
        "-> SETUP_INDIRECT|SETUP_EFI at 0x91000, 96 bytes: fw_vendor 0x80000 (EDK II), runtime 0x0, "
        "tables 0x7e0100, smbios 0x7f100",
        "raw 12 bytes: 6f7061717565206279746573",
    ]
    for x in n:
        rows = x.payload.facts()
        assert rows[:2] == [("type", x.payload.type_name), ("length", str(x.payload.length))]
        assert all(isinstance(k, str) and isinstance(v, str) and v.isprintable() for k, v in rows)
        assert SEED.hex() not in repr(rows) and SEED.hex() not in x.payload.summary()
    assert ("cpu_ids", "0 1 2") in n[5].payload.facts()
    assert ("seed", f"<redacted: 32 bytes, sha256 {hashlib.sha256(SEED).hexdigest()[:16]}>") in n[8].payload.facts()
    # sub-tables: entries and Apple devices; a payload without entries has none
    (apple,) = n[4].payload.table_views()
    assert apple.columns == ("offset", "device path", "properties")
    assert apple.rows == [("+0xc", "02/01/01/01", "built-in (1 bytes), model (4 bytes)")]
    (e820,) = n[0].payload.table_views()
    assert e820.columns == ("range", "size", "type")
    assert e820.rows == [
        ("0x100000-0x8000000", "0x7f00000", "E820_TYPE_RAM"),
        ("0xfec00000-0xfec01000", "0x1000", "E820_TYPE_RESERVED"),
    ]
    assert [x.payload.table_views() for x in n if x.index not in (0, 4)] == [[]] * 11
    (indirect_e820,) = n[10].effective_payload.table_views()  # through SETUP_INDIRECT, as the CLI shows it
    assert indirect_e820.rows[0] == ("0x100000000-0x140000000", "0x40000000", "E820_TYPE_RAM")


def test_setup_efi_tables_field_is_the_kernels_int():
    # the kernel's field name ``tables`` lives beside Parsed's views (facts(), table_views()) without a clash
    L, head = every_type_layout()
    s = walk_setup_data(L.memory(), head).nodes[3].payload
    assert isinstance(s, EfiSetupPayload)
    assert type(s.tables) is int and s.tables == 0x7E0100 and s.table_views() == []
    assert json.loads(json.dumps(s.to_dict()))["tables"] == 0x7E0100


def test_rng_seed_presentation_revealed_wiped_zero():
    L, head = every_type_layout()
    r = walk_setup_data(L.memory(), head, show_secrets=True).nodes[8].payload
    assert r.summary().endswith(f" seed {SEED.hex()}") and ("seed", SEED.hex()) in r.facts()
    L = B.Layout(0x20000)
    head = B.chain(L, [(0x1000, sd.SETUP_RNG_SEED, b""), (0x2000, sd.SETUP_RNG_SEED, bytes(32))])
    wiped, zero = (x.payload for x in walk_setup_data(L.memory(), head))
    assert wiped.summary() == "seed wiped by the kernel (len 0)" and wiped.seed is None
    assert zero.seed is not None and zero.seed.all_zero and zero.seed.length == 32 and zero.seed.value is None
    assert "all zero" in dict(zero.facts())["seed"]
    # a seed running past the dump: the Secret sums up the bytes read; the whole declared range stays hidden
    L = B.Layout(0x2000)
    L.put(0x1000, sd.build_node(0, sd.SETUP_RNG_SEED, b"", length=0x2000)[:16])
    far = walk_setup_data(L.memory(), 0x1000).nodes[0].payload
    assert far.seed is not None and far.seed.length == 0x2000 - 0x1010
    assert far.secret_ranges() == [(0x1010, 0x1010 + 0x2000)]
    assert "DUMP-READ" in codes(far.findings)


def test_dump_strings_in_presentation_are_printable():
    L = B.Layout(0x20000)
    L.put(0x8000, "EDK\x1b[31m II".encode("utf-16-le") + b"\0\0")
    apple = B.apple_properties([([(2, 1, bytes(8))], [("na\x07me[red]", b"\x01")])])
    head = B.chain(
        L, [(0x1000, sd.SETUP_EFI, B.efi_setup(0x8000, 0, 0x7000, 0)), (0x2000, sd.SETUP_APPLE_PROPERTIES, apple)]
    )
    efi, props = (x.payload for x in walk_setup_data(L.memory(), head))
    assert "(EDK\\x1b[31m II)" in efi.summary() and efi.summary().isprintable()
    assert props.table_views()[0].rows[0][2] == "na\\x07me[red] (1 bytes)"  # markup escaping is each face's job


def test_payload_modules_and_the_old_import_path_agree():
    from efitables.boot import setup_data as walk
    from efitables.boot import setup_payloads, setup_payloads_kexec, setup_payloads_vendor

    assert walk.RngSeedPayload is setup_payloads_kexec.RngSeedPayload is RngSeedPayload
    assert walk.ApplePropertiesPayload is setup_payloads_vendor.ApplePropertiesPayload
    assert walk.E820ExtPayload is setup_payloads.E820ExtPayload
    assert set(setup_payloads.DECODERS) == set(range(1, 11))  # every plain type the kernel headers define
    for name in walk.__all__:
        assert hasattr(walk, name), name


def test_show_prints_each_payload_summary_and_sub_tables(tmp_path):
    from click.testing import CliRunner

    from efitables.cli import cli

    L, head = every_type_layout()
    L.put(0x1000, B.boot_params(e820=[(0, 0x9FC00, 1), (0x100000, 0xF00000, 1)], hdr__setup_data=head))
    p = tmp_path / "every-type.raw"
    p.write_bytes(bytes(L.segments[0]))
    args = ["show", "--full", "--boot-params", "0x1000", "--scan", "never", str(p)]
    out = CliRunner().invoke(cli, args, env={"COLUMNS": "250"}).output
    for text in (
        "fw_vendor 0x80000 (EDK II), runtime 0xfffffffeff1ebb98, tables 0x7e0100, smbios 0x7f100",
        "32 bytes, sha256 630dcd2966c43366... (redacted; --show-secrets to show)",
        "-> SETUP_INDIRECT|SETUP_E820_EXT at 0x90000, 40 bytes: 2 E820 entries",
        "node [4] devices",
        "built-in (1 bytes), model (4 bytes)",
        "node [10] E820 entries",
    ):
        assert text in out, text
    assert SEED.hex() not in out
    shown = CliRunner().invoke(cli, [*args[:1], "--show-secrets", *args[1:]], env={"COLUMNS": "250"}).output
    assert f"seed {SEED.hex()}" in shown
