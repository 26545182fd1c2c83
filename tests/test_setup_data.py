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
    assert r.redacted and r.seed is None and r.raw == b""
    assert r.sha256_prefix == hashlib.sha256(SEED).hexdigest()[:16]
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
    assert rng["seed"] is None and "raw" in rng and rng["raw"] == "" and rng["length"] == 32
    assert SEED.hex() not in json.dumps(d)
    spans = {s.name: s.offset for s in lst.nodes[3].payload.layout()}
    assert spans["tables"] == 0x10 and spans["smbios"] == 0x18


def test_rng_seed_shown_on_request():
    L, head = every_type_layout()
    r = walk_setup_data(L.memory(), head, show_secrets=True).nodes[8].payload
    assert not r.redacted and r.seed == SEED.hex() and r.raw == SEED
    assert r.secret_ranges() == []


def test_rng_seed_wiped_by_the_kernel():
    L = B.Layout(0x20000)
    head = B.chain(L, [(0x1000, sd.SETUP_RNG_SEED, b"")])
    lst = walk_setup_data(L.memory(), head)
    assert codes(lst.nodes[0].findings) == ["SETUP-DATA-CONSUMED"]
    assert lst.nodes[0].payload.length == 0 and lst.nodes[0].payload.sha256_prefix is None


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
        assert d.setup_data[8].payload.seed is None
        assert "SETUP-DATA-UNKNOWN-TYPE" in codes(d.findings)
        out = json.loads(json.dumps(d.to_dict(raw=True)))
        assert SEED.hex() not in json.dumps(out)
        assert out["boot"]["setup_data"]["nodes"][5]["payload"]["num_cpus"] == 3
    with Dump.open(str(p), boot_params=0x1000, scan="never", show_secrets=True) as d:
        assert d.setup_data[8].payload.seed == SEED.hex()


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
