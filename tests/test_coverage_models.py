"""Identity-map models and verdicts, pure and through a Dump.

The models follow torvalds/linux arch/x86/kernel/machine_kexec_64.c ``init_pgtable``,
arch/x86/mm/ident_map.c and arch/x86/boot/compressed/ident_map_64.c (see
:mod:`efitables.coverage.models` for versions and commits).
"""

from __future__ import annotations

import dataclasses

import pytest
from builders_coverage import (
    BOOT_PARAMS,
    CFG_FAR,
    CFG_NEAR,
    CMDLINE,
    CMDLINE_TEXT,
    CONFIG_GUIDS,
    INDIRECT_TARGET,
    SETUP0,
    SETUP1,
    SYSTAB,
    kexec_machine,
    memory,
    open_dump,
)

import efitables
from efitables.coverage import MODELS, evaluate
from efitables.coverage.intervals import GIB, MIB2, normalize, subtract
from efitables.coverage.models import (
    GBPAGE_FULL,
    GBPAGE_WHOLE,
    PRESETS,
    MapInputs,
    ModelError,
    decompressor_rules,
    kexec_rules,
    parse_model,
)
from efitables.coverage.objects import DECOMPRESSOR, KEXEC, EarlyInputs, SetupNode, early_objects
from efitables.coverage.verdict import COVERED, NOT_COVERED, ROUNDING, judge
from efitables.findings import code_info
from efitables.regions import E820, Region, efi_type_to_e820

CFG_SIZE = len(CONFIG_GUIDS) * 24


def verdicts(rep, map_name=KEXEC):
    return {r.object: r.verdict for r in rep.rows if r.map == map_name}


# -- intervals and rounding ----------------------------------------------------------


def test_intervals():
    assert normalize([(5, 9), (0, 2), (2, 4), (8, 12), (20, 20)]) == [(0, 4), (5, 12)]
    assert subtract((0, 10), [(2, 3), (5, 20)]) == [(0, 2), (3, 5)]
    assert subtract((4, 6), [(0, 10)]) == []


def test_rounding_per_model():
    new = PRESETS["v6.12"]
    assert new.round(0x7E0018, 0x7E0090) == (0x600000, 0x800000)
    # gbpages under the new rule: 1 GiB leaves only for fully requested GiBs, so 2 MiB rounding.
    assert dataclasses.replace(new, gbpages=True).round(0x7E0018, 0x7E0090) == (0x600000, 0x800000)
    old = dataclasses.replace(PRESETS["v5.3"], gbpages=True)
    assert old.granularity() == GIB
    assert old.round(0x7E0018, 0x7E0090) == (0, GIB)
    assert old.round(GIB - 1, GIB + 1) == (0, 2 * GIB)
    assert PRESETS["v5.3"].round(0x1FFFFF, 0x200001) == (0, 2 * MIB2)


def test_kexec_rules_follow_init_pgtable():
    inp = MapInputs(
        regions=[
            Region(E820, 1, 0, 0x9F000),
            Region(E820, 1, 0x100000, 0x800000),
            Region(E820, 3, 0x800000, 0x810000),
            Region(E820, 4, 0x900000, 0x910000),
            Region(E820, 2, 0xA00000, 0xB00000),
            Region(E820, 128, 0xB00000, 0xC00000),
        ],
        systab=(0x7E0018, 0x7E0090),
        config_array=(0xA00100, 0xA00130),
    )
    names = lambda rs: [r.name.split(" (")[0] for r in rs]  # noqa: E731
    v612 = kexec_rules(parse_model("v6.12"), inp)
    assert names(v612) == [
        "ISA range",
        "RAM",
        "RAM",
        "RAM",
        "EFI system table",
        "EFI configuration table array",
        "ACPI",
        "ACPI",
    ]
    assert (0xB00000, 0xC00000) in [r.range for r in v612]  # E820_TYPE_RESERVED_KERN is memblock RAM
    assert (0xA00000, 0xB00000) not in [r.range for r in v612]  # reserved is not
    v53 = kexec_rules(parse_model("v5.3"), inp)
    assert "EFI configuration table array" not in names(v53)
    assert (0x800000, 0x80FFFF) in [r.range for r in v53]  # v6.1: start + size - 1 as the exclusive end
    v4 = kexec_rules(parse_model("v4.x"), inp)
    assert set(names(v4)) == {"ISA range", "RAM"}
    serial = kexec_rules(parse_model("mainline,serial=0xfe001ff8"), inp)
    assert serial[-1].range == (0xFE001000, 0xFE003000)
    seg = kexec_rules(parse_model("v6.12,segment=0x1000000+0x10000"), inp, [("boot params", (0x13000, 0x14000))])
    assert ("kexec segment 0", 0x1000000, 0x1010000) in [(r.name, r.start, r.end) for r in seg]
    assert not any(r.assumed for r in seg)  # known segments replace the assumed ones
    assumed = kexec_rules(parse_model("v6.12"), inp, [("boot params", (0x13000, 0x14000))])
    assert [r.assumed for r in assumed if "segment" in r.name] == [True]


def test_parse_model():
    assert parse_model(None) is PRESETS["v6.12"]
    assert parse_model("v5.3") is PRESETS["v5.3"]
    m = parse_model("v5.3,gbpages=on")
    assert m.gbpages and m.gbpage_rule == GBPAGE_WHOLE and m.name == "v5.3,gbpages=on"
    c = parse_model("custom,config=off,acpi=3,ram=1,gbpages=on,gbrule=full,segment=0x1000-0x2000,segment=0x5000+0x1000")
    assert not c.efi_config_array and c.acpi_types == {3} and c.ram_types == {1}
    assert c.gbpages and c.gbpage_rule == GBPAGE_FULL
    assert c.segments == ((0x1000, 0x2000), (0x5000, 0x6000))
    for bad in ("v9.9", "v6.12,frob=1", "v6.12,gbpages=maybe", "v6.12,segment=5", "v6.12,gbpages", "v6.12,serial=x"):
        with pytest.raises(ModelError):
            parse_model(bad)
    assert set(MODELS) == set(PRESETS)
    # Each preset states where its behaviour comes from.
    assert all(m.sources for m in PRESETS.values())
    assert PRESETS["v6.8"].gbpage_rule == GBPAGE_FULL and not PRESETS["v6.8"].efi_config_array


def test_efi_type_to_e820():
    assert efi_type_to_e820(7) == 1
    assert efi_type_to_e820(6) == 2
    assert efi_type_to_e820(9) == 3
    assert efi_type_to_e820(10) == 4
    assert efi_type_to_e820(7, 1 << 18) == 0xEFFFFFFF
    assert efi_type_to_e820(0x70000000) is None


def test_judge_three_verdicts():
    rules = kexec_rules(
        PRESETS["v5.3"],
        MapInputs(regions=[Region(E820, 1, 0x100000, 0x7E0000)], systab=(0x7E0018, 0x7E0090)),
    )
    v, names, _ = judge((0x7E0018, 0x7E0090), rules, PRESETS["v5.3"].round)
    assert v == COVERED and names == ["EFI system table (map_efi_systab)"]
    v, names, detail = judge((0x7E0100, 0x7E0130), rules, PRESETS["v5.3"].round)
    assert v == ROUNDING and "2 MiB" in names[0] and "not requested" in detail
    v, _, detail = judge((0xA00100, 0xA00130), rules, PRESETS["v5.3"].round)
    assert v == NOT_COVERED and detail.startswith("0xa00100-0xa00130")
    # Partly on purpose, partly rounding: rounding-only.
    v, _, _ = judge((0x7E0080, 0x7E00A0), rules, PRESETS["v5.3"].round)
    assert v == ROUNDING


# -- the known failure, without a dump ----------------------------------------------------


def _known_failure(cfg: int) -> tuple[list, MapInputs]:
    objs = early_objects(
        EarlyInputs(boot_params=BOOT_PARAMS, systab=SYSTAB, config_array=cfg, nr_tables=len(CONFIG_GUIDS))
    )
    inp = MapInputs(
        regions=[Region(E820, t, a, a + n) for a, n, t in [(0, 0x9F000, 1), (0x100000, 0x6E0000, 1)]]
        + [Region(E820, 2, 0x7E0000, 0x800000), Region(E820, 2, 0xA00000, 0xA10000)],
        systab=(SYSTAB, SYSTAB + 120),
        config_array=(cfg, cfg + CFG_SIZE),
    )
    return objs, inp


@pytest.mark.parametrize(
    "model,expected",
    [
        ("v4.x", NOT_COVERED),
        ("v5.3", NOT_COVERED),
        ("v6.8", NOT_COVERED),
        ("v6.9", NOT_COVERED),
        ("v6.1.79", NOT_COVERED),
        ("v6.1.85", NOT_COVERED),
        ("v6.12", COVERED),
        ("v6.1.113", COVERED),
        ("v6.1.188", COVERED),
        ("mainline", COVERED),
        ("v5.3,gbpages=on", ROUNDING),  # the array was reachable only by the 1 GiB page around RAM
        ("v6.9,gbpages=on", ROUNDING),
        ("v6.8,gbpages=on", NOT_COVERED),  # the gbpage restriction exposed it: the regression
        ("v6.1.79,gbpages=on", NOT_COVERED),
        ("v6.12,gbpages=on", COVERED),
    ],
)
def test_known_failure_pure(model, expected):
    objs, inp = _known_failure(CFG_FAR)
    rep = evaluate(objs, inp, model)
    v = verdicts(rep)
    assert v["EFI configuration table array"] == expected
    # Before v5.3 the system table too is reached only by the 2 MiB page around RAM below it.
    assert v["EFI system table"] == (ROUNDING if model.startswith("v4.x") else COVERED)
    assert rep.ok == (expected != NOT_COVERED)


def test_near_array_is_rounding_only_before_v612():
    """OVMF's layout (array in the system table's page): reachable by 2 MiB rounding only."""
    objs, inp = _known_failure(CFG_NEAR)
    assert verdicts(evaluate(objs, inp, "v5.3"))["EFI configuration table array"] == ROUNDING
    assert verdicts(evaluate(objs, inp, "v6.12"))["EFI configuration table array"] == COVERED


# -- the known failure, through a dump built with the project's builders ------------------


@pytest.mark.parametrize(
    "model,expected",
    [("v5.3", NOT_COVERED), ("v6.12", COVERED), ("v5.3,gbpages=on", ROUNDING), ("v6.8,gbpages=on", NOT_COVERED)],
)
def test_known_failure_dump(model, expected):
    d = open_dump(kexec_machine())
    rep = d.coverage(model)
    row = next(r for r in rep.rows if r.kind == "efi_config_array")
    assert (row.start, row.end) == (CFG_FAR, CFG_FAR + CFG_SIZE)
    assert row.map == KEXEC and row.required
    assert row.verdict == expected
    codes = [f.code for f in rep.findings]
    if expected == NOT_COVERED:
        assert not rep.ok
        f = next(f for f in rep.findings if f.code == "COVERAGE-NOT-COVERED")
        assert f.address == CFG_FAR and "0xa00100" in f.message
    elif expected == ROUNDING:
        assert rep.ok and "COVERAGE-ROUNDING-ONLY" in codes
        assert any("1 GiB" in n for n in row.rules)
    else:
        assert rep.ok and row.rules == ["EFI configuration table array (map_efi_systab)"]
    assert code_info("COVERAGE-NOT-COVERED").severity.name == "ERROR"


def test_dump_objects_and_decompressor_map():
    d = open_dump(kexec_machine(setup=True))
    rep = d.coverage("v6.12")
    objs = {o.kind: o for o in rep.objects}
    assert objs["boot_params"].start == BOOT_PARAMS
    assert (objs["cmdline"].start, objs["cmdline"].size) == (CMDLINE, len(CMDLINE_TEXT))
    nodes = [o for o in rep.objects if o.kind == "setup_data"]
    assert [o.start for o in nodes] == [SETUP0, SETUP1]
    # The SETUP_EFI node's physical ``tables`` names the array the decompressor reads.
    assert objs["efi_config_array"].start == CFG_FAR
    kexec_need = next(n for n in nodes[0].needs if n.map == KEXEC)
    assert kexec_need.end - kexec_need.start == 16 + 0x18  # header + fw_vendor, runtime, tables
    dec = {r.object: r for r in rep.rows_for(DECOMPRESSOR)}
    assert dec["boot_params"].rules == ["boot_params"]
    assert dec["command line"].rules == ["command line (COMMAND_LINE_SIZE)"]
    assert dec["setup_data[1] type 0x80000000"].verdict == COVERED
    ind = dec[f"setup_data[1] indirect payload type {0x80000008:#x}"]
    assert (ind.start, ind.end) == (INDIRECT_TARGET, INDIRECT_TARGET + 0x1000)
    assert ind.verdict == NOT_COVERED and not ind.required
    assert rep.ok  # optional misses do not fail
    assert "COVERAGE-NOT-COVERED-OPTIONAL" in [f.code for f in rep.findings]
    # boot_params, command line and setup_data are assumed to be in kexec segments (not rounded).
    k = {r.object: r for r in rep.rows_for(KEXEC)}
    assert any("assumed" in n for n in k["setup_data[0] type 0x4"].rules)
    assert {r.map for r in rep.rows} == {KEXEC, DECOMPRESSOR}
    js = rep.to_dict()
    assert js["ok"] is True and js["model"]["name"] == "v6.12" and js["rules"]["decompressor"]


def test_indirect_target_near_a_node_is_rounding_only():
    objs = early_objects(
        EarlyInputs(
            boot_params=BOOT_PARAMS, setup_nodes=[SetupNode(0x16000, 0x80000000, 24, (0x80000001, 0x17000, 40))]
        )
    )
    rep = evaluate(objs, MapInputs(), "v6.12")
    row = next(r for r in rep.rows_for(DECOMPRESSOR) if r.kind == "setup_indirect")
    assert row.verdict == ROUNDING and any("setup_data node 0" in n for n in row.rules)


# -- SEV-SNP objects (OVMF layout, tianocore/edk2 OvmfPkg/Include/Fdf/MemFd.fdf.inc) ----------


def test_snp_objects_ovmf_layout():
    cc = 0x7F00018
    inp = EarlyInputs(
        boot_params=BOOT_PARAMS,
        cc_blob=cc,
        cc_blob_route="EFI_CC_BLOB_GUID",
        cpuid=(0x80E000, 0x80F000),
        secrets=0x80D000,
        svsm=True,
    )
    regions = [
        Region(E820, 1, 0x100000, 0x800000),
        Region(E820, 2, 0x800000, 0x810000),  # SEC tables, GHCB, secrets, CPUID, CAA
        Region(E820, 1, 0x900000, 0x7F00000),
        Region(E820, 3, 0x7F00000, 0x7F10000),  # the blob in EfiACPIReclaimMemory
    ]
    rep = evaluate(early_objects(inp), MapInputs(regions=regions), "v6.12")
    k = {r.kind: r for r in rep.rows_for(KEXEC)}
    d = {r.kind: r for r in rep.rows_for(DECOMPRESSOR)}
    assert k["cc_blob"].verdict == COVERED and "ACPI" in k["cc_blob"].rules[0]
    # Nothing in init_pgtable maps the CPUID or secrets page on purpose, in any version.
    assert k["snp_cpuid"].verdict == ROUNDING
    assert k["snp_secrets"].verdict == ROUNDING and k["snp_secrets"].required
    assert (k["snp_secrets"].start, k["snp_secrets"].end) == (0x80D140, 0x80D160)
    # The decompressor maps blob and CPUID page on purpose; the secrets page only by the CPUID page's 2 MiB.
    assert d["cc_blob"].verdict == COVERED and d["snp_cpuid"].verdict == COVERED
    assert d["snp_secrets"].verdict == ROUNDING and "SNP CPUID page" in d["snp_secrets"].rules[0]
    # Without neighbouring RAM the CPUID page is simply not there for the next decompressor.
    rep2 = evaluate(early_objects(inp), MapInputs(regions=regions[:1] + regions[3:]), "v6.12")
    assert {r.kind: r.verdict for r in rep2.rows_for(KEXEC)}["snp_cpuid"] == NOT_COVERED
    assert not rep2.ok
    # At VMPL0 (no SVSM) the secrets page is not read early.
    inp.svsm = False
    rows = evaluate(early_objects(inp), MapInputs(regions=regions), "v6.12").rows
    assert not next(r for r in rows if r.kind == "snp_secrets").required


def test_decompressor_rules():
    rules = decompressor_rules(boot_params=0x1000, cmdline=0x3000, setup_nodes=[(0x5000, 40)], cc_blob=0x9000)
    assert [(r.start, r.end) for r in rules] == [(0x1000, 0x2000), (0x3000, 0x3800), (0x5000, 0x5028), (0x9000, 0x9028)]


# -- sample dumps --------------------------------------------------------------------------


def test_samples(samples, expected):
    for name, exp in expected.items():
        with efitables.open(str(samples / name)) as d:
            old, new = d.coverage("v5.3"), d.coverage("v6.12")
            if exp["systab"] is None:  # SeaBIOS: no EFI objects; the BIOS data area is in the ISA range
                assert {r.kind for r in new.rows} == {"boot_params", "bda"}
                assert all(r.verdict == COVERED for r in new.rows)
                continue
            # OVMF-like layout: the array shares the system table's page -> 2 MiB rounding before v6.12.
            assert verdicts(old)["EFI configuration table array"] == ROUNDING
            assert verdicts(new)["EFI configuration table array"] == COVERED
            assert verdicts(new)["EFI system table"] == COVERED
            arr = next(o for o in new.objects if o.kind == "efi_config_array")
            assert arr.start == exp["config_table_address"]
            assert arr.size == exp["nr_tables"] * (24 if exp["bits"] == 64 else 20)
            assert old.ok and new.ok


def test_virtual_config_pointer_is_located():
    """After SetVirtualAddressMap an untranslatable pointer still gives the page offset (as in real OVMF dumps)."""
    from efitables.efi.systab import page_offset_candidates, parse_system_table

    virt = 0xFFFFFFFEFF1EBC98
    img = kexec_machine(cfg=0x7E0C98, cfg_pointer=virt, stale_cfg=0x7E2C98)
    mem = memory(img)
    # every page within 2 MiB of the System Table, at the pointer's page offset (bounded by a descriptor if known)
    cands = page_offset_candidates(virt, SYSTAB, None)
    assert SYSTAB == 0x7E0018 and (cands[0], cands[-1], len(cands)) == (0x5E0C98, 0x9DFC98, 1024)
    # The live array next to the System Table wins over a stale copy farther away; the choice is said.
    st = parse_system_table(mem, SYSTAB)
    assert st.config_table_ptr.route == "efi-va-page-offset" and st.config_table_address == 0x7E0C98
    msg = next(f.message for f in st.findings if f.message.startswith("ConfigurationTable"))
    assert "via efi-va-page-offset" in msg and "1 other page(s) hold one too (stale copies?)" in msg
    # a pointer whose offset names no array stays untranslated (a warning), not guessed
    bad = kexec_machine(cfg=0x7E0C98, cfg_pointer=virt + 8, stale_cfg=0x7E2C98)
    st = parse_system_table(memory(bad), SYSTAB)
    assert st.config_table_ptr.route == "untranslated" and "EFI-SYSTAB-UNTRANSLATED" in [f.code for f in st.findings]
    # Through the Dump: coverage takes the array the System Table parser resolved.
    d = open_dump(img)
    rep = d.coverage("v6.12")
    arr = next(o for o in rep.objects if o.kind == "efi_config_array")
    assert arr.start == 0x7E0C98
    assert verdicts(rep)["EFI configuration table array"] == COVERED
    assert verdicts(d.coverage("v5.3"))["EFI configuration table array"] == ROUNDING
    # A Linux-like VA (congruent modulo 2 MiB): translated the same, preferred over the stale copy.
    linux_va = 0xFFFFFFFEFF000000 | (0x7E0C98 & 0x1FFFFF)
    d = open_dump(kexec_machine(cfg=0x7E0C98, cfg_pointer=linux_va, stale_cfg=0x7E2C98))
    assert d.systab.config_table_address == 0x7E0C98
    assert next(o for o in d.coverage("v6.12").objects if o.kind == "efi_config_array").start == 0x7E0C98


def test_snp_guest_dump(tmp_path):
    """An OVMF SNP guest image (tests/builders_snp.py): blob via EFI_CC_BLOB_GUID, its pages, the C-bit."""
    from builders_snp import RAW_BLOB, RAW_BOOT_PARAMS, SECRETS_PA, write_snp_guest_raw

    from efitables.analysis.coverage import collect

    path = tmp_path / "snp.raw"
    write_snp_guest_raw(str(path))
    with efitables.open(str(path), boot_params=RAW_BOOT_PARAMS) as d:
        col = collect(d)
        assert col.inputs.cc_blob == RAW_BLOB and col.inputs.cc_blob_route == "EFI_CC_BLOB_GUID"
        assert col.inputs.secrets == SECRETS_PA and col.inputs.cpuid == (SECRETS_PA + 0x1000, SECRETS_PA + 0x2000)
        assert col.sme_mask_bit == 51  # SNP CPUID table, leaf 0x8000001F EBX[5:0]
        rep = d.coverage("v6.12")
        k = {r.kind: r for r in rep.rows_for(KEXEC)}
        dec = {r.kind: r for r in rep.rows_for(DECOMPRESSOR)}
        assert k["cc_blob"].verdict == COVERED and "map_acpi_tables" in k["cc_blob"].rules[0]
        assert k["snp_cpuid"].verdict == ROUNDING  # nobody maps it on purpose in the kexec map
        assert dec["cc_blob"].verdict == COVERED and dec["snp_cpuid"].verdict == COVERED
        assert dec["snp_secrets"].verdict == ROUNDING and not dec["snp_secrets"].required  # no SVSM
        assert rep.ok


def test_a_failing_area_parser_is_a_finding_not_silence(monkeypatch, samples):
    """coverage reads other areas through the Dump; one that raises leaves its objects out, said as COVERAGE-INPUT."""
    from efitables.analysis.coverage import collect
    from efitables.dump import Dump

    def broken(self):
        raise ValueError("decoder bug")

    d = efitables.open(str(samples / "ovmf64.raw"), boot_params=0x13000)
    monkeypatch.setattr(Dump, "setup_data", property(broken))
    col = collect(d)
    problems = [f for f in col.findings if f.code == "COVERAGE-INPUT"]
    # the CC blob routes include SETUP_CC_BLOB and dump.e820 merges SETUP_E820_EXT nodes, so both fail
    # too; the zero page's own E820 table is then used
    assert [(f.structure, f.address) for f in problems] == [
        ("setup_data", None),
        ("CC blob", None),
        ("E820 table", None),
    ]
    assert "ValueError: decoder bug" in problems[0].message
    assert col.inputs.systab == 0x7E0018 and col.map_inputs.regions  # the rest is still collected
