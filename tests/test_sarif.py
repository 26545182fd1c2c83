"""SARIF 2.1.0 output validates against the official schema (tests/data/, see its README)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from click.testing import CliRunner
from sample_mutations import SAMPLES, ST32_CFG, ST_CFG, SYSTAB, SampleImage

from efitables.cli import cli
from efitables.findings import Severity, code_info
from efitables.sarif import SCHEMA_URI, artifact_uri, sarif_log
from efitables.validate import Verdict, validate_path

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def check(log: dict) -> None:
    v = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(v.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_schema_is_the_official_one() -> None:
    assert SCHEMA["id"] == SCHEMA_URI
    assert SCHEMA["properties"]["version"]["enum"] == ["2.1.0"]


def test_sarif_of_samples_and_bad_dumps(tmp_path: Path) -> None:
    img = SampleImage("ovmf64.raw")
    img.systab_field(ST_CFG, ST32_CFG, SYSTAB)
    bad = img.save(tmp_path, "overlap.raw")
    (tmp_path / "junk.dmp").write_bytes(b"junk")
    r = CliRunner().invoke(cli, ["validate", "--sarif", str(SAMPLES), str(bad), str(tmp_path / "junk.dmp")])
    assert r.exit_code == 2, r.output
    log = json.loads(r.stdout)
    check(log)
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "efitables"
    rules = run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert ids == sorted(set(ids))
    for res in run["results"]:
        assert ids[res["ruleIndex"]] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        art = run["artifacts"][res["locations"][0]["physicalLocation"]["artifactLocation"]["index"]]
        assert art["location"]["uri"] == res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    overlap = [x for x in run["results"] if x["ruleId"] == "XS-OVERLAP"]
    assert overlap and overlap[0]["level"] == "error"
    loc = overlap[0]["locations"][0]
    assert loc["physicalLocation"]["address"] == {"absoluteAddress": SYSTAB, "kind": "data", "name": "EFI_SYSTEM_TABLE"}
    assert loc["physicalLocation"]["region"] == {"byteOffset": SYSTAB}  # raw image: offset == address
    assert loc["logicalLocations"][0]["name"] == "EFI_SYSTEM_TABLE"
    rule = rules[ids.index("XS-OVERLAP")]
    assert rule["shortDescription"]["text"] == code_info("XS-OVERLAP").title
    assert rule["defaultConfiguration"]["level"] == "error"
    inv = run["invocations"][0]
    assert inv["executionSuccessful"] is False and inv["exitCode"] == 2
    assert [n["level"] for n in inv["toolExecutionNotifications"]] == ["error"]
    assert "junk.dmp" in inv["toolExecutionNotifications"][0]["message"]["text"]


def test_sarif_clean_run_and_levels() -> None:
    v = validate_path(str(SAMPLES / "seabios.raw"))
    log = sarif_log([v])
    check(log)
    run = log["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is True
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels == {"EFI-NOT-EFI-BOOT": "note"}  # a BIOS boot: an info finding is a SARIF note
    # an info finding is a SARIF note; a finding without an address has no address object
    assert {"error": "error", "warning": "warning", "info": "note"} == {
        str(s): {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}[s] for s in Severity
    }
    nf = next(r for r in run["results"] if r["ruleId"] == "EFI-NOT-EFI-BOOT")
    assert "address" not in nf["locations"][0]["physicalLocation"]


def test_sarif_empty_and_odd_paths(tmp_path: Path) -> None:
    check(sarif_log([]))
    weird = Verdict(path="/tmp/a dump#1%.raw", opened=False, error="x", stage="open")
    log = sarif_log([weird])
    check(log)
    assert log["runs"][0]["artifacts"][0]["location"]["uri"] == "file:///tmp/a%20dump%231%25.raw"
    assert artifact_uri("dumps/x y.elf") == "dumps/x%20y.elf"


def test_fingerprints_stable_and_distinct() -> None:
    # the virtual-pointer sample has three findings with one code, structure and address
    a = sarif_log([validate_path(str(SAMPLES / "ovmf64-virt.elf"))])
    b = sarif_log([validate_path(str(SAMPLES / "ovmf64-virt.elf"))])
    fa = [r["partialFingerprints"] for r in a["runs"][0]["results"]]
    fb = [r["partialFingerprints"] for r in b["runs"][0]["results"]]
    assert fa == fb and len({json.dumps(x) for x in fa}) == len(fa)


def test_region_only_inside_a_raw_file(tmp_path: Path) -> None:
    from sample_mutations import ST32_FW_VENDOR, ST_FW_VENDOR

    img = SampleImage("ovmf64.raw")
    img.systab_field(ST_FW_VENDOR, ST32_FW_VENDOR, 0x1000000000)  # EFI-FW-VENDOR-UNREADABLE @ 0x1000000000
    v = validate_path(str(img.save(tmp_path)))
    log = sarif_log([v])
    check(log)
    run = log["runs"][0]
    assert run["artifacts"][0]["length"] == len(img.data)
    res = next(r for r in run["results"] if r["ruleId"] == "EFI-FW-VENDOR-UNREADABLE")
    phys = res["locations"][0]["physicalLocation"]
    assert phys["address"]["absoluteAddress"] == 0x1000000000 and "region" not in phys
