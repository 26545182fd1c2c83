"""Every registered decoder on hostile bytes: no exception, no decoder failure, JSON-ready output.

The bytes are random, or a valid-looking fixture with random words written over it (so
counts, lengths and pointers that point back into the region get exercised, not only
bad signatures)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dumps.builder import memory_map
from efitables.efi.memmap import parse_memmap
from efitables.memory import BytesMemory
from efitables.payloads import DECODERS, check_overlaps, decode_payload, link_payloads
from tests.builders_payloads import Entry

PA = 0x100000
SIZE = 0x3000
GUIDS = sorted(DECODERS)


@st.composite
def region(draw) -> bytes:
    base = bytearray(draw(st.binary(min_size=0, max_size=SIZE)).ljust(SIZE, b"\0"))
    # Plant small integers and pointers back into the region at random offsets.
    for _ in range(draw(st.integers(0, 24))):
        off = draw(st.integers(0, SIZE - 8))
        val = draw(
            st.one_of(
                st.integers(0, 64),
                st.integers(PA, PA + SIZE),
                st.sampled_from([0xFFFFFFFF, 1 << 63, 0x7FFFFFFF, 36, 40, 48, 0x1F, 0x18]),
            )
        )
        base[off : off + 8] = val.to_bytes(8, "little")
    if draw(st.booleans()):
        base[0:8] = draw(st.sampled_from([b"RSD PTR ", b"_SM_\0\0\0\0", b"_SM3_\0\0\0"]))
    return bytes(base)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(guid=st.sampled_from(GUIDS), data=region(), bits=st.sampled_from([24, 20]), secrets=st.booleans())
def test_decoders_survive_hostile_bytes(guid: str, data: bytes, bits: int, secrets: bool) -> None:
    mem = BytesMemory({PA: data})
    p = decode_payload(mem, Entry(guid, PA, size=bits), show_secrets=secrets)
    assert p is not None
    assert not [f for f in p.all_findings() if f.code == "PAYLOAD-DECODE"], p.all_findings()
    json.dumps(p.to_dict(raw=True))
    p.title  # noqa: B018 - must not raise
    for c in p.children():
        c.title  # noqa: B018
        c.layout()


MAP_PA = 0x10000


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=region(),
    types=st.lists(st.integers(0, 16), min_size=1, max_size=3),
    runtime=st.booleans(),
    guids=st.lists(st.sampled_from(GUIDS), min_size=1, max_size=4),
)
def test_decoders_with_a_memory_map(data: bytes, types: list[int], runtime: bool, guids: list[str]) -> None:
    """Region checks, stale downgrades, cross-table links and overlaps on hostile bytes under any map."""
    pages = SIZE // 0x1000
    descs = [
        dict(Type=t, PhysicalStart=PA + i * 0x1000, NumberOfPages=1, Attribute=((1 << 63) if runtime else 0) | 8)
        for i, t in enumerate(types[:pages])
    ]
    raw_map = memory_map(descs)
    mem = BytesMemory({PA: data, MAP_PA: raw_map})
    mm = parse_memmap(mem, MAP_PA, len(raw_map), 48, 1)
    out = []
    for i, g in enumerate(guids):
        p = decode_payload(mem, Entry(g, PA + (i * 0x40) % SIZE), memmap=mm)
        assert p is not None and not [f for f in p.all_findings() if f.code == "PAYLOAD-DECODE"]
        out.append((g, p))
    link_payloads(mem, [p for _, p in out])
    for f in check_overlaps(out):
        assert f.code == "PAYLOAD-OVERLAP"
    json.dumps([p.to_dict() for _, p in out])
