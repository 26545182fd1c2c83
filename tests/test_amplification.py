"""Amplification caps (issue 19): a hostile count costs what a real machine costs, and says so once.

Each case of tests/builders_amplification.py is the healthy ovmf64.raw sample with one count or
length inflated (a SETUP_E820_EXT ``len`` of 0xfffffff0, an ``efi_memmap_size`` of 0xffffffff,
``NumberOfTableEntries`` 0xffffffff over 1,000 readable entries, and every other count the area
parsers cap), the bytes behind it readable. For each: (a) the parser decodes exactly its cap, and
reads only that much; (b) one summarising finding names the code, the structure and the physical
address, with the counts claimed, decoded and left out; (c) the JSON of the whole dump and the text
of ``efitables show`` stay under 1 MiB; and no finding code repeats past the per-kind cap.

The sort-based and memoised paths that replaced per-entry scans are checked against the naive
definitions they replace. Timing belongs to bench/bench_amplification.py (no timed asserts here).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import efitables
from efitables.analysis.layout import _covered_end
from efitables.boot.e820 import E820Entry, build_table
from efitables.caps import MAX_FINDINGS_PER_KIND, cap_findings, count_cap
from efitables.cli import cli
from efitables.efi.memmap import MAX_DESCRIPTORS, parse_memmap
from efitables.findings import Finding, Severity, make
from efitables.memory import BytesMemory
from efitables.payloads.base import MAX_OVERLAP_FINDINGS
from efitables.payloads.smbios import MAX_STRING_BYTES
from efitables.schemas.boot_params import BOOT_E820_ENTRY_SIZE
from tests import builders_amplification as A
from tests.builders_payloads import memdesc

MIB = 1 << 20


def omitted(code: str, n: int, limit: int = MAX_FINDINGS_PER_KIND) -> str:
    return f"{n} more {code} findings omitted (the first {limit} are listed)"


def messages(findings: list[Finding], code: str) -> list[str]:
    return [f.message for f in findings if f.code == code]


# -- what each case shows beyond its cap and its finding -------------------------------------------------
def _e820_ext_len(d: Any) -> None:
    p = d.setup_data[0].payload
    assert len(p.raw) == A.MAX_E820_EXT_ENTRIES * BOOT_E820_ENTRY_SIZE  # the read is sized by the cap
    assert len(d.e820.entries) == 3 + A.MAX_E820_EXT_ENTRIES and d.e820.from_setup_data == A.MAX_E820_EXT_ENTRIES
    empty = len(range(0, A.MAX_E820_EXT_ENTRIES, 3))  # every third entry of the pattern is empty
    assert omitted("BOOT-E820-EMPTY", empty - MAX_FINDINGS_PER_KIND) in messages(p.findings, "BOOT-E820-EMPTY")
    assert len(messages(d.e820.findings, "BOOT-E820-OVERLAP")) == MAX_FINDINGS_PER_KIND + 1


def _e820_ext_nodes(d: Any) -> None:
    per = [len(n.payload.entries) for n in d.setup_data]
    full = A.MAX_E820_EXT_ENTRIES // A.E820_PER_NODE
    assert per == [A.E820_PER_NODE] * full + [A.MAX_E820_EXT_ENTRIES % A.E820_PER_NODE] + [0] * (A.E820_NODES - 11)
    assert len(messages(d.findings, "SETUP-E820-EXT-LEN")) == 1  # one finding for the whole list


def _memmap_size(d: Any) -> None:
    mm = d.efi_memmap
    assert len(mm.raw) == MAX_DESCRIPTORS * 48
    overlapping = MAX_DESCRIPTORS - 7 - 1  # the hostile descriptors after the sample's 7, each over the previous
    summary = omitted("EFI-MEMMAP-OVERLAP", overlapping - MAX_FINDINGS_PER_KIND)
    assert summary in messages(mm.findings, "EFI-MEMMAP-OVERLAP")
    assert sum(len(x.findings) for x in mm.descriptors) <= 3 * MAX_FINDINGS_PER_KIND


def _config_tables(d: Any) -> None:
    arr = d.systab.config_table_array
    assert len(arr.raw) == A.MAX_DECODED_TABLES * 24
    # every GUID's payload is decoded once, at its first entry: ACPI 2.0, ACPI 1.0, DXE, HOB list, memory types
    decoded = [t.index for t in d.config_tables if t.payload is not None]
    assert decoded == [0, 1, 2, 3, 4]
    assert {t.duplicate_of for t in d.config_tables if t.guid == A.ACPI20} == {None, 0}
    assert omitted("EFI-CFGTAB-NULL", len(range(8, 256, 4)) - MAX_FINDINGS_PER_KIND) in messages(
        arr.findings, "EFI-CFGTAB-NULL"
    )


def _acpi_sdt(d: Any) -> None:
    r = d.config_table(A.ACPI20).payload
    assert r.xsdt.entry_count == r.rsdt.entry_count == A.acpi_mod.MAX_SDT_ENTRIES
    assert [t.address for t in r.xsdt.tables] == [A.SSDTS + 0x40 * i for i in range(A.acpi_mod.MAX_SDT_ENTRIES)]
    overlaps = messages(d.findings, "PAYLOAD-OVERLAP")
    assert len(overlaps) == MAX_OVERLAP_FINDINGS + 1
    assert sum("more PAYLOAD-OVERLAP findings omitted" in m for m in overlaps) == 1


def _smbios(d: Any) -> None:
    for g in (A.smbios_mod.SMBIOS_TABLE_GUID, A.smbios_mod.SMBIOS3_TABLE_GUID):
        ep = d.config_table(g).payload
        assert sum(len(s) for x in ep.structures for s in x.strings) <= MAX_STRING_BYTES
        assert any(f.code == "SMBIOS-STRINGS-CAP" for f in ep.findings)


def _raw_size(guid: str, head: int, entry: int, n: int) -> Callable[[Any], None]:
    def check(d: Any) -> None:
        assert len(d.config_table(guid).payload.raw) == head + entry * n  # the read is sized by the cap

    return check


def _memreserve(d: Any) -> None:
    m = d.config_table(A.lm_mod.LINUX_EFI_MEMRESERVE_TABLE_GUID).payload
    assert len(m.nodes) == A.lm_mod.MAX_MEMRESERVE_NODES
    assert [len(n.ranges) for n in m.nodes[:5]] == [255, 255, 255, 255, 4] and not m.nodes[5].ranges
    assert f"stopped after {A.lm_mod.MAX_MEMRESERVE_NODES} nodes" in messages(m.findings, "LINUX-MEMRESERVE-TOO-MANY")


def _image_exec(d: Any) -> None:
    t = d.config_table(A.edk2_mod.EFI_IMAGE_SECURITY_DATABASE_GUID).payload
    assert t.images[-1].name == f"\\EFI\\hostile\\image{A.edk2_mod.MAX_EXEC_IMAGES - 1:04d}.efi"


def _hob_types(d: Any) -> None:
    h = d.config_table(A.HOB).payload
    named = A.edk2_mod.MAX_HOB_TYPE_NAMES - 1  # HANDOFF, then the first 31 unknown types by name
    assert h.type_counts["HANDOFF"] == 1 and h.hob_count == A.edk2_mod.MAX_HOBS
    assert h.type_counts[A.edk2_mod.OTHER_HOB_TYPES] == A.edk2_mod.MAX_HOBS - 1 - named


def _setup_nodes(d: Any) -> None:
    unknown = messages(d.findings, "SETUP-DATA-UNKNOWN-TYPE")
    assert len(unknown) == MAX_FINDINGS_PER_KIND + 1
    assert omitted("SETUP-DATA-UNKNOWN-TYPE", 256 - MAX_FINDINGS_PER_KIND) in unknown


def _apple(d: Any) -> None:
    p = d.setup_data[0].payload
    per = A.MAX_APPLE_PROPS // A.APPLE_PROPS_EACH
    props = [len(x.properties) for x in p.devices]
    assert len(props) == A.APPLE_DEVICES
    assert props[: per + 1] == [A.APPLE_PROPS_EACH] * per + [A.MAX_APPLE_PROPS % A.APPLE_PROPS_EACH]
    assert set(props[per + 1 :]) == {0}


def _zero_page(d: Any) -> None:
    assert len(d.boot_params.e820_table) == A.E820_MAX_ENTRIES_ZEROPAGE


def _cpuid(d: Any) -> None:
    t = d.snp_cpuid
    assert omitted("SNP-CPUID-RESERVED", 63 - MAX_FINDINGS_PER_KIND) in messages(t.findings, "SNP-CPUID-RESERVED")
    assert omitted("SNP-CPUID-DUPLICATE", 59 - MAX_FINDINGS_PER_KIND) in messages(t.findings, "SNP-CPUID-DUPLICATE")


CHECKS: dict[str, Callable[[Any], None]] = {
    "e820-ext-len": _e820_ext_len,
    "e820-ext-nodes": _e820_ext_nodes,
    "memmap-size": _memmap_size,
    "config-tables": _config_tables,
    "acpi-sdt": _acpi_sdt,
    "smbios": _smbios,
    "memattr": _raw_size(A.memattr_mod.EFI_MEMORY_ATTRIBUTES_TABLE_GUID, 16, 48, A.memattr_mod.MAX_ENTRIES),
    "esrt": _raw_size(A.esrt_mod.EFI_SYSTEM_RESOURCE_TABLE_GUID, 16, 40, A.esrt_mod.MAX_ENTRIES),
    "tpm-log": lambda d: None,
    "memreserve": _memreserve,
    "image-exec": _image_exec,
    "hob-types": _hob_types,
    "setup-nodes": _setup_nodes,
    "apple-properties": _apple,
    "zero-page-e820": _zero_page,
    "boot-memmap": lambda d: None,
    "snp-cpuid": _cpuid,
}


def test_every_case_has_its_checks() -> None:
    assert set(CHECKS) == set(A.CASE)


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("amplification")


@pytest.mark.parametrize("case", A.CASES, ids=lambda c: c.name)
def test_hostile_count_is_capped_once_and_bounded(case: A.Case, dumps: Path) -> None:
    path = case.image().save(dumps, f"{case.name}.raw")
    e = case.expect
    with efitables.open(str(path), boot_params=A.BOOT_PARAMS_PA) as d:
        # (a) exactly the cap is decoded
        assert e.count(d) == e.decoded
        CHECKS[case.name](d)
        # (b) one summarising finding, naming the structure and its physical address
        hits = [f for f in d.findings if f.code == e.code and e.message in f.message]
        assert len(hits) == 1, [str(f) for f in d.findings if f.code == e.code]
        assert (hits[0].structure, hits[0].address) == (e.structure, e.address)
        # (c) bounded output; no code repeats past its cap (a structure and its entries, then one summary)
        assert len(json.dumps(d.to_dict())) < MIB
        assert len(d.findings) < 300
        for _name, area in d.areas():
            if area is not None:
                worst = Counter(f.code for f in area.all_findings()).most_common(1)
                assert not worst or worst[0][1] <= 2 * (max(MAX_FINDINGS_PER_KIND, MAX_OVERLAP_FINDINGS) + 1)
    r = CliRunner().invoke(cli, ["show", "--full", "--boot-params", hex(A.BOOT_PARAMS_PA), str(path)])
    assert r.exit_code in (0, 1), r.output[-2000:]
    assert e.structure in r.output and len(r.output) < MIB


def test_the_healthy_sample_has_no_cap_finding(samples: Path) -> None:
    with efitables.open(str(samples / A.SAMPLE)) as d:
        assert not [f for f in d.findings if "claimed; decoded the first" in f.message or "omitted (the" in f.message]


# -- the mechanism ---------------------------------------------------------------------------------------
def test_count_cap_reports_once_what_it_cut() -> None:
    assert count_cap(5, 8, "EFI-MEMMAP-TOO-MANY", "map", 0x1000, "size") == (5, None)
    assert count_cap(-3, 8, "EFI-MEMMAP-TOO-MANY", "map", 0x1000, "size") == (0, None)
    n, f = count_cap(0xFFFFFFFF, 256, "EFI-SYSTAB-TOO-MANY-TABLES", "array", 0x7E8000, "NumberOfTableEntries x")
    assert n == 256 and f is not None
    assert (f.code, f.structure, f.address, f.severity) == ("EFI-SYSTAB-TOO-MANY-TABLES", "array", 0x7E8000,
                                                            Severity.ERROR)  # fmt: skip
    assert f.message == (
        "NumberOfTableEntries x: 4294967295 entries claimed; decoded the first 256, 4294967039 more omitted"
    )


def test_cap_findings_keeps_the_first_of_each_code_in_order() -> None:
    def f(code: str, i: int, sev: Severity | None = None) -> Finding:
        return make(code, f"entry [{i}]", i, f"#{i}", sev)

    lists = [[f("BOOT-E820-EMPTY", i), f("BOOT-E820-TYPE", i)] for i in range(5)]
    lists[4][0] = f("BOOT-E820-EMPTY", 4, Severity.ERROR)
    out = cap_findings(lists, "E820 table", 0x2D0, limit=2)
    assert [[x.message for x in fs] for fs in lists] == [["#0", "#0"], ["#1", "#1"], [], [], []]
    assert [(x.code, x.structure, x.address, x.severity, x.message) for x in out] == [
        ("BOOT-E820-EMPTY", "E820 table", 0x2D0, Severity.ERROR, omitted("BOOT-E820-EMPTY", 3, 2)),
        ("BOOT-E820-TYPE", "E820 table", 0x2D0, Severity.INFO, omitted("BOOT-E820-TYPE", 3, 2)),
    ]
    assert cap_findings([[f("BOOT-E820-EMPTY", 0)]], "t", None) == []


# -- the paths that replaced per-entry scans, against the definitions they replace ------------------------
def test_e820_lookup_is_the_lowest_starting_entry_holding_the_address() -> None:
    rng = random.Random(19)
    for _ in range(50):
        entries = [
            E820Entry(address=0, size=20, index=i, addr=a, length=n, type=1, type_name="E820_TYPE_RAM", source="t")
            for i, (a, n) in enumerate(
                (rng.randrange(0, 1 << 20, 0x100), rng.choice([0, 0x100, 0x1000, 0x80000])) for _ in range(40)
            )
        ]
        t = build_table(None, entries, len(entries), 0)
        ordered = sorted((e for e in entries if e.length), key=lambda e: e.addr)
        probes = [rng.randrange(0, 1 << 21) for _ in range(200)] + [e.addr for e in entries] + [e.end for e in entries]
        for pa in probes:
            want = next((e for e in ordered if e.addr <= pa < e.end), None)
            assert t.lookup(pa) is want


def test_covered_end_memo_matches_the_walk_it_replaces() -> None:
    def walk(mm: Any, desc: Any) -> int:  # the loop layout.extents ran once per object before
        end = desc.physical_end
        for _ in range(len(mm.descriptors)):
            nxt = mm.lookup(end)
            if nxt is None or nxt.type != desc.type or nxt.physical_end <= end:
                break
            end = nxt.physical_end
        return end

    rng = random.Random(7)
    for _ in range(20):
        raw, start = b"", 0
        for _ in range(300):
            pages = rng.choice([1, 2, 4])
            start += rng.choice([0, 0, 1, -1]) * 0x1000 if start else 0
            raw += memdesc(rng.choice([4, 7, 7, 7]), max(start, 0), pages, 0xF)
            start += pages * 0x1000
        mm = parse_memmap(BytesMemory({0: raw}), 0, len(raw), 48, 1)
        memo: dict[int, int] = {}
        for desc in rng.sample(mm.descriptors, len(mm.descriptors)):
            assert _covered_end(mm, desc, memo) == walk(mm, desc)


def test_descriptor_sizes_past_a_page_are_refused_not_read() -> None:
    mm = parse_memmap(BytesMemory({0: bytes(0x1000)}), 0, 0x40000000, 0x8000000, 1)
    assert [f.code for f in mm.findings] == ["EFI-MEMMAP-DESC-SIZE"] and mm.raw == b""


def test_bulk_entries_render_as_the_generic_to_dict() -> None:
    """MemoryDescriptor and E820Entry write their JSON out (thousands per dump): the same as Parsed.to_dict."""
    from efitables.efi.memmap import decode_descriptor
    from efitables.model import Parsed

    raw = memdesc(6, 0x7E0000, 0x10, 1 << 63 | 0xF) + memdesc(0x20, 0x1010, 0, 0)
    mm = parse_memmap(BytesMemory({0: raw}), 0, len(raw), 48, 1)
    decode_descriptor(mm.descriptors[0])
    entries = build_table(None, [
        E820Entry(address=0x2D0, size=20, raw=bytes(range(20)), fields={"addr": 0, "size": 0x9F000, "type": 1},
                  index=0, addr=0, length=0x9F000, type=1, type_name="E820_TYPE_RAM", source="boot_params"),
        E820Entry(address=0x2E4, size=20, index=1, addr=0x9F000, length=0, type=99, type_name="E820_TYPE_99",
                  source="boot_params", findings=[make("BOOT-E820-EMPTY", "e", 0x2E4, "size 0")]),
    ], 2, 0).entries  # fmt: skip
    assert mm.descriptors[0].fields is not None and mm.descriptors[1].findings
    for obj in [*mm.descriptors, *entries]:
        for raw_too in (False, True):
            assert json.dumps(obj.to_dict(raw_too)) == json.dumps(Parsed.to_dict(obj, raw_too))
