"""``efitables coverage``: table, JSON, exit codes, options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders_coverage import BOOT_PARAMS, CFG_FAR, PT_BASE, kexec_machine, kexec_table
from click.testing import CliRunner

from efitables.cli import cli
from efitables.coverage import PRESETS


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def fixture(tmp_path, name="kexec.raw", **kw):
    path = tmp_path / name
    kexec_machine(**kw).write_raw(str(path))
    return path


def test_known_failure_exit_codes(tmp_path):
    path = fixture(tmp_path)
    old = run("coverage", path, "--boot-params", hex(BOOT_PARAMS), "--model", "v5.3")
    assert old.exit_code == 1, old.output
    assert "not-covered" in old.output and "EFI configuration table array" in old.output
    assert "COVERAGE-NOT-COVERED" in old.output and "NOT COVERED" in old.output
    new = run("coverage", path, "--boot-params", hex(BOOT_PARAMS), "--model", "v6.12")
    assert new.exit_code == 0, new.output
    assert "EFI configuration table array (map_efi_systab)" in new.output
    gb = run("coverage", path, "--boot-params", hex(BOOT_PARAMS), "--model", "v5.3,gbpages=on")
    assert gb.exit_code == 0 and "rounding-only" in gb.output and "1 GiB" in gb.output


def test_json(tmp_path):
    path = fixture(tmp_path, setup=True)
    r = run("coverage", path, "--boot-params", hex(BOOT_PARAMS), "--model", "v5.3", "--json")
    assert r.exit_code == 1
    d = json.loads(r.output)
    assert d["ok"] is False and d["model"]["name"] == "v5.3" and d["dump"]["path"] == str(path)
    assert d["dump"] == {"path": str(path), "format": "raw", "size": Path(path).stat().st_size}
    assert set(d) >= {"kind", "model", "ok", "rows", "rules", "page_table", "findings"}
    row = next(x for x in d["rows"] if x["kind"] == "efi_config_array")
    assert row == {
        "object": "EFI configuration table array",
        "kind": "efi_config_array",
        "map": "kexec",
        "start": CFG_FAR,
        "start_hex": hex(CFG_FAR),
        "end": CFG_FAR + 48,
        "end_hex": hex(CFG_FAR + 48),
        "verdict": "not-covered",
        "rules": [],
        "detail": f"{CFG_FAR:#x}-{CFG_FAR + 48:#x} is not mapped",
        "required": True,
        "why": "sev_enable (SEV-capable CPUs): scan for EFI_CC_BLOB_GUID",
    }
    assert {x["map"] for x in d["rows"]} == {"kexec", "decompressor"}
    assert d["page_table"] is None
    assert any(x["code"] == "COVERAGE-NOT-COVERED" for x in d["findings"])


def test_pgd(tmp_path):
    pt = kexec_table("v6.12", levels=5)
    path = fixture(tmp_path, page_table=pt)
    r = run("coverage", path, "--boot-params", hex(BOOT_PARAMS), "--pgd", hex(pt.cr3), "--levels", "5", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["page_table"]["root"] == PT_BASE and d["page_table"]["levels"] == 5
    assert {x["verdict"] for x in d["rows"] if x["map"] == "page-table"} == {"covered"}
    text = run("coverage", path, "--boot-params", hex(BOOT_PARAMS), "--pgd", hex(pt.cr3), "--levels", "5")
    assert "walked page table @ 0x4000000" in text.output and "2M leaf" in text.output
    # Walking a v6.12 table under the v5.3 model: the table maps the array, the model would not.
    r = run(
        "coverage", path, "--boot-params", hex(BOOT_PARAMS), "--pgd", hex(pt.cr3), "--levels", "5", "--model", "v5.3"
    )
    assert r.exit_code == 1 and "COVERAGE-MODEL-DISAGREES" in r.output


def test_pgd_auto_without_notes_and_bad_root(tmp_path):
    path = fixture(tmp_path)
    r = run("coverage", path, "--boot-params", hex(BOOT_PARAMS), "--pgd", "auto", "--json")
    assert r.exit_code == 0
    assert any(x["code"] == "COVERAGE-NO-PGD" for x in json.loads(r.output)["findings"])
    r = run("coverage", path, "--boot-params", hex(BOOT_PARAMS), "--pgd", "0x7f000000", "--json")
    d = json.loads(r.output)
    assert r.exit_code == 1 and any(x["code"] == "PGWALK-ROOT" for x in d["findings"])


def test_usage_errors(tmp_path):
    assert run("coverage", fixture(tmp_path), "--model", "v9").exit_code == 2
    assert run("coverage", fixture(tmp_path), "--model", "v6.12,gbpages=perhaps").exit_code == 2
    assert run("coverage", fixture(tmp_path), "--cbit", "99").exit_code == 2
    assert run("coverage").exit_code == 2
    assert run("coverage", tmp_path / "missing.raw").exit_code == 2
    r = run("coverage", "--list-models")
    assert r.exit_code == 0 and "v6.12" in r.output and "gbpages" in r.output and "v6.1.113" in r.output


def test_samples(samples):
    for name in ("ovmf64.raw", "ovmf64-virt.elf", "ovmf32.elf", "seabios.raw"):
        for model in ("v4.x", "v5.3", "v6.12", "v6.8,gbpages=on"):
            r = run("coverage", samples / name, "--model", model, "--json")
            assert r.exit_code in (0, 1), r.output
            d = json.loads(r.output)
            assert d["rows"], name
    # The samples are OVMF-like: everything reachable, the array only by 2 MiB rounding before v6.12.
    r = run("coverage", samples / "ovmf64.raw", "--model", "v5.3")
    assert r.exit_code == 0 and "rounding-only" in r.output


# -- the real QEMU/OVMF corpus (dumps/real/corpus), when present ---------------------------------

REAL = Path(__file__).resolve().parent.parent / "dumps" / "real" / "corpus"


@pytest.mark.skipif(
    not (REAL / "ovmf64.elf.xz").exists() or not (REAL / "ovmf64.truth.json").exists(),
    reason="no real-dump corpus",
)
def test_real_ovmf64(real_files):
    elf = real_files.elf("ovmf64")
    truth = json.loads((REAL / "ovmf64.truth.json").read_text())
    old = json.loads(run("coverage", elf, "--model", "v6.1.85", "--pgd", "auto", "--json").output)
    new = json.loads(run("coverage", elf, "--model", "v6.1.113", "--json").output)
    rows = {(r["map"], r["kind"]): r for r in old["rows"]}
    arr = rows[("kexec", "efi_config_array")]
    # The System Table's pointer is virtual after SetVirtualAddressMap; the array is found at the
    # physical address the guest's kernel printed (efi_config_table).
    assert arr["start"] == truth["efi"]["config_table"]
    assert rows[("kexec", "efi_systab")]["start"] == truth["efi"]["systab_phys"]
    assert arr["verdict"] == "rounding-only"  # OVMF: same page as the System Table
    assert {r["kind"]: r["verdict"] for r in new["rows"] if r["map"] == "kexec"}["efi_config_array"] == "covered"
    # The QEMU CPU note's CR3 is a running kernel's: no identity map, said once.
    assert old["page_table"]["root_source"].startswith("QEMU CPU note")
    codes = [f["code"] for f in old["findings"]]
    assert "PGWALK-NO-IDENTITY" in codes and "COVERAGE-MODEL-DISAGREES" not in codes


def test_compare(tmp_path):
    path = fixture(tmp_path)
    r = run("coverage", path, "--boot-params", hex(BOOT_PARAMS), "--compare", "--json")
    assert r.exit_code == 0  # the default model (v6.12) decides the exit code
    cmp = json.loads(r.output)["compare"]
    arr = {name: v["EFI configuration table array"] for name, v in cmp.items()}
    assert arr["v5.3"] == "not-covered" and arr["v5.3,gbpages=on"] == "rounding-only"
    assert arr["v6.8,gbpages=on"] == "not-covered" and arr["v6.9,gbpages=on"] == "rounding-only"
    assert arr["v6.12"] == arr["v6.12,gbpages=on"] == arr["v6.1.113"] == "covered"
    assert len(cmp) == 2 * len(PRESETS)
    text = run("coverage", path, "--boot-params", hex(BOOT_PARAMS), "--compare").output
    assert "kexec map by kernel behaviour" in text and "NO | rnd" in text
