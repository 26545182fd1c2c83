"""Every registered decoder on hostile bytes: no exception, no decoder failure, JSON-ready output.

The bytes are random, or a valid-looking fixture with random words written over it (so
counts, lengths and pointers that point back into the region get exercised, not only
bad signatures)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from efitables.memory import BytesMemory
from efitables.payloads import DECODERS, decode_payload
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
