"""The findings registry is complete on a plain import, and every face reports the same findings."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import efitables
from efitables.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "dumps" / "samples"


def test_all_codes_complete_without_other_imports() -> None:
    """A fresh interpreter that imports only efitables.findings sees every code any module registers."""
    code = "from efitables.findings import all_codes; print(len(all_codes()))"
    fresh = int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    for mod in pkgutil.walk_packages(efitables.__path__, "efitables."):
        if not mod.name.endswith("__main__"):
            importlib.import_module(mod.name)
    from efitables.findings import all_codes

    every = all_codes()
    assert fresh == len(every)
    assert any(c.code.startswith("XS-") for c in every) and any(c.code.startswith("BOOT-XC-") for c in every)


def _keys(findings: list[dict]) -> list[tuple]:
    return [(f["code"], f["severity"], f["structure"], f["address"], f["message"]) for f in findings]


def _faces(path: str) -> tuple[list[tuple], list[tuple], list[tuple]]:
    runner = CliRunner()
    show = json.loads(runner.invoke(cli, ["show", "--json", path]).stdout)
    val = json.loads(runner.invoke(cli, ["validate", "--json", path]).stdout)
    with efitables.open(path) as d:
        api = [f.to_dict() for f in d.findings]
    (verdict,) = val["dumps"]
    return _keys(show["findings"]), _keys(verdict["findings"]), _keys(api)


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".raw", ".elf")))
def test_show_validate_and_api_agree_on_samples(name: str) -> None:
    show, val, api = _faces(str(SAMPLES / name))
    assert show == val == api


def test_faces_agree_on_a_corrupted_dump(tmp_path: Path) -> None:
    """The case that used to differ: a spliced pointer only validate saw as XS-OVERLAP."""
    from sample_mutations import ST32_CFG, ST_CFG, SYSTAB, SampleImage

    img = SampleImage("ovmf64.raw")
    img.systab_field(ST_CFG, ST32_CFG, SYSTAB)  # the configuration table array "is" the system table
    bad = img.save(tmp_path, "overlap.raw")
    show, val, api = _faces(str(bad))
    assert show == val == api
    assert any(k[0] == "XS-OVERLAP" for k in show)
