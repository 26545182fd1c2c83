"""The prebuilt EDK2 GUID index (efitables/data/edk2_guids.idx): current, exact, and answering as the CSV did."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from efitables import guids

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "efitables" / "data"
TOOL = ROOT / "tools" / "gen_guid_index.py"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_guid_index", TOOL)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def from_csv() -> dict[str, guids.KnownGuid]:
    """What the CSV says (the old first-use load): the source of truth."""
    return guids.parse_guid_csv_text((DATA / guids.EDK2_CSV).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def builtin() -> dict[str, guids.KnownGuid]:
    return guids.parse_guid_csv_text((DATA / "config_table_guids.csv").read_text(encoding="utf-8"))


@pytest.fixture
def fresh_edk2(monkeypatch):
    """Forget the loaded EDK2 list (restored afterwards)."""
    monkeypatch.setattr(guids, "_EDK2", None)


def test_committed_index_is_current(gen):
    """Fails when edk2_guids.csv changed without rerunning tools/gen_guid_index.py."""
    expected = gen.render_index((DATA / guids.EDK2_CSV).read_bytes())
    assert (DATA / guids.INDEX_FILE).read_bytes() == expected.encode("utf-8"), (
        "efitables/data/edk2_guids.idx is stale: run python tools/gen_guid_index.py"
    )


def test_generator_check_mode(tmp_path, gen):
    csv_path = tmp_path / "g.csv"
    csv_path.write_text(
        "guid,linux_name,edk2_name,source,note\n"
        "8868E871-E4F1-11D3-BC22-0080C73C8881,ACPI_20_TABLE_GUID,gEfiAcpi20TableGuid,src a,\n"
        "00026aeb-f334-4c15-a7f0-e1e897e9fe91,,NvmeRecovery,src b,vendors: X\n"
        "{8868e871-e4f1-11d3-bc22-0080c73c8881},DUP,,src c,\n"
    )
    out = tmp_path / "g.idx"
    args = ["--csv", str(csv_path), "-o", str(out)]
    assert gen.main([*args, "--check"]) == 1  # missing counts as stale
    assert gen.main(args) == 0
    assert gen.main([*args, "--check"]) == 0
    idx = guids._Edk2Index(out.read_text(encoding="utf-8"))
    assert len(idx) == 2  # canonical, de-duplicated: the first row of a GUID wins
    k = idx.get("8868e871-e4f1-11d3-bc22-0080c73c8881")
    assert k == guids.KnownGuid(
        "8868e871-e4f1-11d3-bc22-0080c73c8881", "ACPI_20_TABLE_GUID", "gEfiAcpi20TableGuid", "src a"
    )
    assert [e.guid for e in idx] == sorted(e.guid for e in idx)
    csv_path.write_text(csv_path.read_text() + "11111111-2222-3333-4444-555555555555,,New,src d,\n")
    assert gen.main([*args, "--check"]) == 1


def test_generator_refuses_tabs(gen):
    bad = b"guid,linux_name,edk2_name,source,note\n00000000-0000-0000-0000-000000000001,,A\tB,s,\n"
    with pytest.raises(ValueError, match="tab"):
        gen.render_index(bad)


def test_index_matches_csv_exactly(from_csv):
    """Every GUID, name, source and note of the CSV, and nothing else."""
    idx = guids._load_edk2_index()
    assert idx._dict is None, "the index did not load (fell back to the CSV)"
    entries = list(idx)
    assert len(entries) == len(idx) == len(from_csv)
    assert {k.guid: k for k in entries} == from_csv
    for key, k in from_csv.items():
        assert idx.get(key) == k
        if key != key.upper():
            assert idx.get(key.upper()) is None  # keys are canonical text; lookup() canonicalises first


def test_index_misses():
    idx = guids._load_edk2_index()
    for key in ("00000000-0000-0000-0000-000000000001", "ffffffff-ffff-ffff-ffff-fffffffffffe", "", "0", "g"):
        assert idx.get(key) is None


def test_lookup_answers_as_before_for_every_guid(from_csv, builtin):
    """Before the index: the built-in list, then the EDK2 CSV below it."""
    for key in {*from_csv, *builtin}:
        assert guids.lookup(key) == (builtin.get(key) or from_csv.get(key)), key


# Names the CSV-parsing lookup gave (recorded before the index), in the forms users type.
SAMPLE = [
    ("00000000-0000-0000-0000-000000000000", "NULL_GUID"),
    ("164CE56B-5EBC-4984-B0DA-C12B4F21D2EC", "AmdRasRvSmm"),
    ("2cb4f37a-0026-43af-a948-d71976a96860", "CpuIoDxe"),
    ("{41dc6838-029a-4d2e-860c-6ec6425b5edd}", "AsusWlanUpdate"),
    ("57d55f85-c177-4a84-a2dd-8668e6f082e1", "DellCipherSmm"),
    ("6e4cb8c5-6144-4ae3-ba52-b6afbcb2b2f5", "BaseFspApiLib"),
    ("844ec5bc-ae49-41b2-a70a-0aee59505518", "DellAdvSysMgmtDxe"),
    ("9a61f154-4a83-b8c5-80de-239bff40d66b", "AmdRasDxe"),
    ("afe751c5-05d4-4898-bf94-1a4b50f35fd4", "DELL_SMM_CRYPTO_ALGORITHM_GUID"),
    ("c61c6982b9044cefbf1bc63bf7ca0352", "SataPeim"),
    ("dcb5fce4-2116-4e7b-bb83-2fc7329261bd", "NvmExpressSmm"),
    ("f1cf1802-8f94-4504-aa96-ce193c57c86e", "PostCodeSmm"),
    ("00026AEB-F334-4C15-A7F0-E1E897E9FE91", "NvmeRecovery"),
    ("ffffffff-ffff-ffff-ffff-ffffffffffff", "ALL_FF_GUID"),
    # in both lists: the built-in configuration-table entry wins
    ("eb9d2d30-2d88-11d3-9a16-0090273fc14d", "ACPI_TABLE_GUID"),
    ("{8868E871-E4F1-11D3-BC22-0080C73C8881}", "ACPI_20_TABLE_GUID"),
    ("eb9d2d31-2d88-11d3-9a16-0090273fc14d", "SMBIOS_TABLE_GUID"),
    ("dcfa911d-26eb-469f-a220-38b7dc461220", "EFI_MEMORY_ATTRIBUTES_TABLE_GUID"),
    ("7739f24c-93d7-11d4-9a3a-0090273fc14d", "gEfiHobListGuid"),
    ("01234567-89ab-cdef-0123-456789abcdef", None),
    ("not a guid", None),
]


@pytest.mark.parametrize("guid,name", SAMPLE)
def test_sample_names_unchanged(guid, name):
    assert guids.name_of(guid) == name


def test_builtin_source_wins_over_edk2():
    k = guids.lookup("8868e871-e4f1-11d3-bc22-0080c73c8881")
    assert k is not None and k.source.startswith("torvalds/linux include/linux/efi.h") and "RSDP" in k.note


def test_find_by_name_and_all_known(from_csv, builtin):
    every = guids.all_known()
    assert len(every) == len({*from_csv, *builtin})
    assert len({k.guid for k in every}) == len(every)
    assert [k.name for k in every] == sorted(k.name for k in every)
    nvme = [k for k in every if "nvmerecovery" in (k.linux_name + k.edk2_name).lower()]
    assert sorted(guids.find_by_name("NvmeRecovery"), key=lambda k: k.guid) == sorted(nvme, key=lambda k: k.guid)
    assert len(nvme) == 3
    acpi = guids.find_by_name("ACPI_20_TABLE")
    assert [k.guid for k in acpi] == ["8868e871-e4f1-11d3-bc22-0080c73c8881"] and acpi[0].note


def test_user_csv_does_not_rename_edk2_guids(tmp_path, monkeypatch):
    monkeypatch.setattr(guids, "_REGISTRY", dict(guids._REGISTRY))
    p = tmp_path / "user.csv"
    p.write_text("00026AEB-F334-4C15-A7F0-E1E897E9FE91,Renamed\n01234567-89AB-CDEF-0123-456789ABCDEF,Mine\n")
    assert guids.load_guid_csv(str(p)) == 1
    assert guids.name_of("00026aeb-f334-4c15-a7f0-e1e897e9fe91") == "NvmeRecovery"
    assert guids.name_of("01234567-89ab-cdef-0123-456789abcdef") == "Mine"
    assert [k.guid for k in guids.find_by_name("Mine")] == ["01234567-89ab-cdef-0123-456789abcdef"]


def test_falls_back_to_the_csv_without_an_index(monkeypatch, fresh_edk2, from_csv):
    monkeypatch.setattr(guids, "INDEX_FILE", "no-such-index.idx")
    assert guids.name_of("00026aeb-f334-4c15-a7f0-e1e897e9fe91") == "NvmeRecovery"
    assert guids._edk2()._dict == from_csv


def test_unreadable_index_falls_back(monkeypatch, fresh_edk2):
    monkeypatch.setattr(guids, "INDEX_FILE", "config_table_guids.csv")  # exists, but is no index
    assert guids.name_of("00026aeb-f334-4c15-a7f0-e1e897e9fe91") == "NvmeRecovery"
    assert guids._edk2()._dict is not None


def test_index_loads_lazily_and_without_the_csv():
    """Importing efitables.guids reads no EDK2 data; the first lookup reads the index, never the CSV."""
    code = (
        "import pathlib\n"
        "from efitables import guids\n"
        "assert guids._EDK2 is None\n"
        "seen = []\n"
        "orig = pathlib.Path.read_text\n"
        "def rt(self, *a, **k):\n"
        "    seen.append(self.name)\n"
        "    return orig(self, *a, **k)\n"
        "pathlib.Path.read_text = rt\n"
        "assert guids.name_of('00026aeb-f334-4c15-a7f0-e1e897e9fe91') == 'NvmeRecovery'\n"
        "assert guids._EDK2 is not None and guids._EDK2._dict is None\n"
        "assert 'edk2_guids.csv' not in seen, seen\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
