"""efitables validate: verdicts, exit codes, output formats, bad input, every bad fixture's code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sample_mutations import (
    ALL_SAMPLES,
    BOOT_PARAMS,
    BP_SETUP_DATA,
    CFG_ARRAY,
    DESC_PAGES,
    DESC_PHYS,
    DESC_SIZE,
    EFI_INFO,
    MEMMAP,
    RT_GET_TIME,
    RUNTIME,
    SAMPLES,
    ST32_CFG,
    ST32_FW_VENDOR,
    ST32_NR_TABLES,
    ST32_RUNTIME,
    ST_CFG,
    ST_FW_REVISION,
    ST_FW_VENDOR,
    ST_NR_TABLES,
    ST_RUNTIME,
    SYSTAB,
    SampleImage,
)

from efitables.cli import cli
from efitables.dump import Dump
from efitables.findings import Severity, all_codes
from efitables.validate import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_OK,
    Verdict,
    expand_paths,
    ignore_matcher,
    overall_exit,
    validate_dump,
    validate_path,
)

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


# -- the samples ---------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_samples_validate_clean(name: str) -> None:
    v = validate_path(str(SAMPLES / name))
    assert v.opened and v.error is None
    # no cross-structure finding on a well-formed machine
    assert not [f for f in v.findings if f.code.startswith("XS-")]
    # the verdict follows the findings (other areas' checks decide those)
    assert v.exit_code == (EXIT_FINDINGS if v.counts["error"] else EXIT_OK)
    assert v.failing == [f for f in v.findings if f.severity == Severity.ERROR]
    if name == "seabios.raw":  # no EFI at all, and boot_params says so: info, not a warning
        assert "EFI-NOT-EFI-BOOT" in {f.code for f in v.findings} and not v.counts["warning"]


def test_verdict_is_plain_data() -> None:
    import pickle

    v = validate_path(str(SAMPLES / "ovmf64.raw"))
    w = pickle.loads(pickle.dumps(v))
    assert w == v and w.exit_code == v.exit_code
    d = v.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert set(d) >= {"path", "opened", "status", "exit_code", "counts", "findings", "error"}
    assert list(d["counts"]) == ["error", "warning", "info"] and sum(d["counts"].values()) == len(v.findings)


# -- hostile fixtures: each flagged with its documented code -------------------

Mutation = Callable[[SampleImage], None]


def _vendor_in_conventional(img: SampleImage) -> None:
    img.write(0x250000, "EDK II".encode("utf-16-le") + b"\0\0")
    img.systab_field(ST_FW_VENDOR, ST32_FW_VENDOR, 0x250000)


def _runtime_outside_memmap(img: SampleImage) -> None:
    img.write(0xA0000, img.read(RUNTIME, 0x88))
    img.systab_field(ST_RUNTIME, ST32_RUNTIME, 0xA0000)


def _runtime_in_e820_ram(img: SampleImage) -> None:
    img.u64(MEMMAP + DESC_PAGES, 0x10)  # descriptor 0 now ends at 0x10000
    img.write(0x20000, img.read(RUNTIME, 0x88))
    img.systab_field(ST_RUNTIME, ST32_RUNTIME, 0x20000)


def _array_across_region_end(img: SampleImage) -> None:
    img.write(0x7EFFC0, img.read(CFG_ARRAY, 6 * 24))  # runtime data ends at 0x7f0000
    img.systab_field(ST_CFG, ST32_CFG, 0x7EFFC0)


def _runtime_pointer_into_free_ram(img: SampleImage) -> None:
    img.u64(RUNTIME + RT_GET_TIME, 0x200000)
    img.fix_crc(RUNTIME)


def _setup_data_cycle(img: SampleImage) -> None:
    img.u64(BOOT_PARAMS + BP_SETUP_DATA, 0x15000)
    img.write(0x15000, (0x15000).to_bytes(8, "little") + (1).to_bytes(4, "little") + bytes(4))


#: (name, mutation, code that must be reported). Cross-structure (XS-) and parser codes.
HOSTILE: list[tuple[str, Mutation, str]] = [
    ("config array spliced onto the system table", lambda i: i.systab_field(ST_CFG, ST32_CFG, SYSTAB), "XS-OVERLAP"),
    ("firmware vendor string in conventional memory", _vendor_in_conventional, "XS-MEMTYPE"),
    ("runtime services outside the memory map", _runtime_outside_memmap, "XS-NOT-IN-MEMMAP"),
    ("runtime services in E820 RAM", _runtime_in_e820_ram, "XS-E820-RAM"),
    ("configuration table array across its region's end", _array_across_region_end, "XS-EXTENT"),
    ("runtime service pointer into free RAM", _runtime_pointer_into_free_ram, "XS-RUNTIME-POINTER"),
    ("debug pointer naming a decoy", lambda i: i.systab_pointer(0x400000, 0x300000), "XS-SYSTAB-ROUTES"),
    ("system table CRC", lambda i: i.u32(SYSTAB + ST_FW_REVISION, 0x12345), "EFI-SYSTAB-CRC"),
    ("GUID listed twice", lambda i: i.write(CFG_ARRAY + 2 * 24, i.read(CFG_ARRAY, 16)), "EFI-CFGTAB-DUPLICATE-GUID"),
    (
        "huge NumberOfTableEntries",
        lambda i: i.systab_field(ST_NR_TABLES, ST32_NR_TABLES, 0x10000),
        "EFI-SYSTAB-TOO-MANY-TABLES",
    ),
    (
        "configuration table array past the dump's end",
        lambda i: (i.write(0x7FFFE0, i.read(CFG_ARRAY, 32)), i.systab_field(ST_CFG, ST32_CFG, 0x7FFFE0)),
        "EFI-CFGTAB-ARRAY-UNREADABLE",
    ),
    ("dangling VendorTable", lambda i: i.u64(CFG_ARRAY + 16, 0x1000000000), "EFI-CFGTAB-NOT-IN-DUMP"),
    ("memory descriptors overlap", lambda i: i.u64(MEMMAP + DESC_SIZE + DESC_PHYS, 0), "EFI-MEMMAP-OVERLAP"),
    ("memory descriptor type", lambda i: i.u32(MEMMAP, 0x20), "EFI-MEMMAP-TYPE"),
    ("runtime services signature", lambda i: i.write(RUNTIME, b"XXXXXXXX"), "EFI-RUNTIME-SIGNATURE"),
    (
        "firmware vendor pointer not in the dump",
        lambda i: i.systab_field(ST_FW_VENDOR, ST32_FW_VENDOR, 0x1000000000),
        "EFI-FW-VENDOR-UNREADABLE",
    ),
    ("setup_data cycle", _setup_data_cycle, "SETUP-DATA-CYCLE"),
    ("memory map past the dump's end", lambda i: i.u32(BOOT_PARAMS + EFI_INFO + 0x10, 0x7FFF00), "DUMP-READ"),
    ("system table signature", lambda i: i.write(SYSTAB, b"NOTASYST"), "EFI-SYSTAB-SIGNATURE"),
]


@pytest.mark.parametrize("what,mutate,code", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_fixture_flagged(tmp_path: Path, what: str, mutate: Mutation, code: str) -> None:
    img = SampleImage("ovmf64.raw")
    mutate(img)
    v = validate_path(str(img.save(tmp_path)))
    assert v.opened and v.error is None, v.error
    codes = {f.code for f in v.findings}
    assert code in codes, f"{what}: {sorted(codes)}"
    info = {c.code: c for c in all_codes()}[code]
    assert all(f.severity == info.severity for f in v.findings if f.code == code)
    assert v.exit_code == (EXIT_FINDINGS if v.counts["error"] else EXIT_OK)


def test_hostile_codes_are_documented() -> None:
    doc = (ROOT / "docs" / "findings.md").read_text()
    for _what, _m, code in HOSTILE:
        assert f"### {code}\n" in doc


@pytest.mark.parametrize("name", ["ovmf64-virt.elf", "ovmf32.elf"])
def test_cross_checks_on_elf_samples(tmp_path: Path, name: str) -> None:
    """The same splice in the ELF (virtual pointers) and 32-bit samples."""
    img = SampleImage(name)
    img.write(0xA0000 if name == "ovmf32.elf" else 0x100000000 + 0x1000, img.read(RUNTIME, 0x88))
    target = 0xA0000 if name == "ovmf32.elf" else 0x100000000 + 0x1000
    img.systab_field(ST_RUNTIME, ST32_RUNTIME, target)
    v = validate_path(str(img.save(tmp_path)))
    codes = {f.code for f in v.findings}
    if name == "ovmf32.elf":
        assert "XS-NOT-IN-MEMMAP" in codes
    else:  # above 4 GiB: boot-services data, not runtime memory
        assert "XS-MEMTYPE" in codes


# -- bad input -----------------------------------------------------------------


def test_random_bytes(tmp_path: Path) -> None:
    rnd = __import__("random").Random(8)
    page_multiple = tmp_path / "random.raw"
    page_multiple.write_bytes(rnd.randbytes(256 * 1024))
    v = validate_path(str(page_multiple))
    assert v.opened and v.error is None
    assert "EFI-SYSTAB-NOT-FOUND" in {f.code for f in v.findings}
    odd = tmp_path / "random.bin"
    odd.write_bytes(rnd.randbytes(12345))
    v = validate_path(str(odd))
    assert not v.opened and v.exit_code == EXIT_ERROR and v.stage == "open"
    assert "not a recognised dump" in (v.error or "")


def test_directory_and_missing_file(tmp_path: Path) -> None:
    v = validate_path(str(tmp_path))
    assert not v.opened and "is a directory" in (v.error or "") and v.exit_code == EXIT_ERROR
    v = validate_path(str(tmp_path / "nope.raw"))
    assert not v.opened and "no such file" in (v.error or "")
    fifo = tmp_path / "pipe.raw"
    os.mkfifo(fifo)
    v = validate_path(str(fifo))  # must not block reading a FIFO
    assert not v.opened and "not a regular file" in (v.error or "")
    loop = tmp_path / "loop.raw"
    loop.symlink_to(loop)
    v = validate_path(str(loop))
    assert not v.opened and v.exit_code == EXIT_ERROR and v.stage == "open"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = SampleImage("seabios.raw").save(tmp_path)
    if os.geteuid() != 0:  # root reads a mode-000 file anyway
        p.chmod(0)
        v = validate_path(str(p))
        assert not v.opened and v.exit_code == EXIT_ERROR and "ermission" in (v.error or "")
        p.chmod(0o644)
    real_open = open

    def deny(file, *a, **k):  # type: ignore[no-untyped-def]
        if str(file) == str(p):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr("builtins.open", deny)
    v = validate_path(str(p))
    assert not v.opened and v.exit_code == EXIT_ERROR and "Permission denied" in (v.error or "")


@pytest.mark.parametrize("name", ["ovmf64.raw", "ovmf64-virt.elf"])
def test_dump_that_shrinks_while_read(tmp_path: Path, name: str) -> None:
    """Truncated after opening: exit 2 for that dump, never a crash (a mapping would SIGBUS).

    Run in a child process so that a regression to a SIGBUS fails this test instead of killing pytest.
    """
    p = SampleImage(name).save(tmp_path)
    code = (
        "import os, sys, json\n"
        "from efitables.dump import Dump\n"
        "from efitables.validate import validate_dump\n"
        f"d = Dump.open({str(p)!r})\n"
        f"os.truncate({str(p)!r}, 4096)\n"
        "v = validate_dump(d)\n"
        "print(json.dumps(v.to_dict()))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, f"child died with {r.returncode}: {r.stderr[-2000:]}"
    v = json.loads(r.stdout)
    assert v["exit_code"] == EXIT_ERROR
    assert "shrank" in v["error"] or "changed size" in v["error"]


def test_dump_that_grows_while_read(tmp_path: Path) -> None:
    p = SampleImage("ovmf64.raw").save(tmp_path)
    with Dump.open(str(p)) as d:
        with open(p, "ab") as fh:
            fh.write(bytes(1 << 20))
        v = validate_dump(d)
    assert v.exit_code == EXIT_ERROR and "changed size while being read" in (v.error or "")


# -- paths: directories, globs ----------------------------------------------------


def test_expand_paths(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.raw").write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_text("x")
    (tmp_path / "a" / "vmcore").write_bytes(b"")
    (tmp_path / "b.elf").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    paths, problems = expand_paths(
        [str(tmp_path / "a"), str(tmp_path / "*.elf"), str(tmp_path / "b.elf"), str(tmp_path / "empty"), "x*.nope"]
    )
    assert paths == [str(tmp_path / "a" / "one.raw"), str(tmp_path / "a" / "vmcore"), str(tmp_path / "b.elf")]
    assert [p.path for p in problems] == [str(tmp_path / "empty"), "x*.nope"]
    assert all(p.exit_code == EXIT_ERROR for p in problems)


def test_ignore_matcher() -> None:
    assert ignore_matcher(["efi-systab-crc", "EFI-CFGTAB-*,XS-OVERLAP"]) == (
        "EFI-SYSTAB-CRC",
        "EFI-CFGTAB-*",
        "XS-OVERLAP",
    )
    with pytest.raises(ValueError, match="NO-SUCH"):
        ignore_matcher(["NO-SUCH-CODE"])


# -- the CLI -------------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline() -> dict[str, Verdict]:
    """Each sample's verdict through the API; the CLI must agree (the samples' findings are other areas')."""
    return {name: validate_path(str(SAMPLES / name)) for name in ALL_SAMPLES}


def _overlap_dump(tmp_path: Path) -> Path:
    """A dump with an error-severity finding: the configuration table array spliced onto the system table."""
    img = SampleImage("ovmf64.raw")
    img.systab_field(ST_CFG, ST32_CFG, SYSTAB)
    return img.save(tmp_path, "overlap.raw")


def test_cli_text_and_exit_codes(tmp_path: Path, baseline: dict[str, Verdict]) -> None:
    code, out, _err = run("validate", str(SAMPLES))
    assert code == overall_exit(list(baseline.values()))
    for name, v in baseline.items():
        assert f"{SAMPLES / name}: {v.status.upper()} (" in out
    assert "4 dumps: " in out
    # seabios has only info findings: --fail-on warning passes it
    assert baseline["seabios.raw"].exit_code == EXIT_OK
    assert run("validate", "--fail-on", "warning", str(SAMPLES / "seabios.raw"))[0] == EXIT_OK
    # random pages: no boot_params, no table, nothing efitables knows: never OK (issue 15), an error
    noise = tmp_path / "noise.raw"
    noise.write_bytes(__import__("random").Random(3).randbytes(64 * 1024))
    code, out, _ = run("validate", str(noise))
    assert code == EXIT_FINDINGS and "DUMP-NOTHING-FOUND" in out
    code, out, _ = run("validate", "--fail-on", "warning", "--ignore", "DUMP-NOTHING-FOUND", str(noise))
    assert code == EXIT_FINDINGS and "FAIL" in out and "EFI-SYSTAB-NOT-FOUND" in out
    code, out, _ = run(
        "validate", "--fail-on", "warning", "--ignore", "EFI-SYSTAB-*,BOOT-PARAMS-*,DUMP-NOTHING-FOUND", str(noise)
    )
    assert code == EXIT_OK and "ignored" in out
    code, _, err = run("validate", "--ignore", "NOPE", str(SAMPLES / "seabios.raw"))
    assert code == 2 and "NOPE" in err
    # an error-severity finding: exit 1 (and --ignore of it: exit 0 if nothing else fails)
    bad = _overlap_dump(tmp_path)
    code, out, _ = run("validate", "-q", str(bad))
    assert code == EXIT_FINDINGS and "overlap.raw: FAIL (" in out and "XS-OVERLAP" not in out  # -q: summary only
    code, out, _ = run("validate", str(bad))
    assert "error   XS-OVERLAP  EFI_SYSTEM_TABLE @ 0x7e0018: EFI_SYSTEM_TABLE 0x7e0018-0x7e0090 overlaps" in out
    # an unopenable dump next to it: exit 2
    (tmp_path / "junk.dmp").write_bytes(b"junk")
    code, out, _ = run("validate", str(bad), str(tmp_path / "junk.dmp"))
    assert code == EXIT_ERROR and "junk.dmp: ERROR" in out


def test_cli_json_and_jsonl(tmp_path: Path, baseline: dict[str, Verdict]) -> None:
    bad = _overlap_dump(tmp_path)
    code, out, err = run("validate", "--json", str(bad), str(SAMPLES / "seabios.raw"))
    assert code == EXIT_FINDINGS
    doc = json.loads(out)
    assert doc["version"] == 1 and doc["fail_on"] == "error"
    s = doc["summary"]
    assert (s["dumps"], s["ok"], s["failed"], s["errors"], s["exit_code"]) == (2, 1, 1, 0, 1)
    assert s["findings"]["error"] == doc["dumps"][0]["counts"]["error"] > 0
    assert [d["path"] for d in doc["dumps"]] == [str(bad), str(SAMPLES / "seabios.raw")]
    f = next(f for f in doc["dumps"][0]["findings"] if f["code"] == "XS-OVERLAP")
    assert f == {
        "code": "XS-OVERLAP",
        "severity": "error",
        "structure": "EFI_SYSTEM_TABLE",
        "address": SYSTAB,
        "address_hex": hex(SYSTAB),
        "message": f["message"],
    }
    assert "seabios.raw: OK" in err  # summary lines on stderr keep stdout parseable
    code, out, _ = run("validate", "--jsonl", str(SAMPLES))
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["status"] for x in lines] == [baseline[n].status for n in sorted(ALL_SAMPLES)]
    code, _, err = run("validate", "--json", "--sarif", str(SAMPLES))
    assert code == 2 and "choose one" in err


def test_cli_jobs_same_verdicts(tmp_path: Path) -> None:
    img = SampleImage("ovmf64.raw")
    img.systab_field(ST_CFG, ST32_CFG, SYSTAB)
    img.save(tmp_path, "bad.raw")
    for name in ALL_SAMPLES:
        SampleImage(name).save(tmp_path)
    (tmp_path / "junk.img").write_bytes(b"junk")
    c1, o1, _ = run("validate", "--jsonl", str(tmp_path))
    c2, o2, _ = run("validate", "--jsonl", "--jobs", "2", str(tmp_path))
    assert c1 == c2 == EXIT_ERROR

    def strip(text: str) -> list[dict]:
        out = []
        for line in text.splitlines():
            d = json.loads(line)
            d.pop("seconds")
            out.append(d)
        return out

    assert strip(o1) == strip(o2)
    statuses = {Path(d["path"]).name: d["status"] for d in strip(o1)}
    assert statuses["bad.raw"] == "fail" and statuses["junk.img"] == "error"
    assert statuses["seabios.raw"] == "ok"


def test_cli_is_registered() -> None:
    code, out, _ = run("validate", "--help")
    assert code == 0 and "--fail-on" in out and "--jobs" in out and "--sarif" in out


def test_internal_error_is_reported_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parser bug: validate_path raises (tests see it); the CLI reports it per dump with exit 2."""
    from efitables.analysis import registry
    from efitables.validate import InternalError

    def boom(d: Dump) -> list:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(registry, "CHECKS", [registry.Check("boom", boom, "")])
    with pytest.raises(InternalError, match="check boom"):
        validate_path(str(SAMPLES / "ovmf64.raw"))
    code, out, _ = run("validate", str(SAMPLES / "ovmf64.raw"))
    assert code == EXIT_ERROR and "internal error in check boom" in out


# -- the reference page ------------------------------------------------------------


def test_findings_doc_is_current() -> None:
    """docs/findings.md is generated from the registry: regenerate with python tools/gen_findings_doc.py."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_findings_doc
    finally:
        sys.path.remove(str(ROOT / "tools"))
    current = (ROOT / "docs" / "findings.md").read_text()
    assert current == gen_findings_doc.render(), "docs/findings.md is stale: run python tools/gen_findings_doc.py"


def test_every_code_documented() -> None:
    doc = (ROOT / "docs" / "findings.md").read_text()
    missing = [c.code for c in all_codes() if f"### {c.code}\n" not in doc]
    assert not missing


def test_verdict_of_problem_paths() -> None:
    v = Verdict(path="x", opened=False, error="x: no such file", stage="open")
    assert v.exit_code == EXIT_ERROR and v.summary_line() == "x: ERROR x: no such file"


# -- real QEMU dumps (dumps/real/corpus): no cross-structure false positives; the kexec diff --------

CORPUS = ROOT / "dumps" / "real" / "corpus"


@pytest.fixture(scope="module")
def real_dumps(real_files) -> dict[str, Path]:
    names = [n for n in ("ovmf64", "ovmf32", "kexec", "kexecload612") if (CORPUS / f"{n}.elf.xz").exists()]
    if not names:
        pytest.skip("no real-dump corpus in dumps/real/corpus")
    return {n: real_files.elf(n) for n in names}


def test_real_dumps_have_no_cross_structure_findings(real_dumps: dict[str, Path]) -> None:
    """Real OVMF machines (EFI stub, mixed mode, kexec): the XS- checks must not cry wolf.

    Two false positives were found and fixed this way: the Linux EFI stub's LINUX_EFI_BOOT_MEMMAP table
    wraps the memory map (XS-OVERLAP), and runtime service pointers that are EFI virtual addresses the
    boot-time map does not translate (XS-RUNTIME-POINTER).
    """
    for name, path in real_dumps.items():
        v = validate_path(str(path))
        assert v.opened and v.error is None, (name, v.error)
        assert [str(f) for f in v.findings if f.code.startswith("XS-")] == [], name


def test_real_kexec_diff(real_dumps: dict[str, Path]) -> None:
    """The first use of diff: a first kernel's machine against one that kexec'd a second kernel."""
    if not {"ovmf64", "kexec"} <= set(real_dumps):
        pytest.skip("needs the ovmf64 and kexec dumps")
    from efitables.diff import diff_dumps

    with Dump.open(str(real_dumps["ovmf64"])) as a, Dump.open(str(real_dumps["kexec"])) as b:
        dd = diff_dumps(a, b)
    assert not dd.identical
    by = {c.key: c for c in dd.changes}
    # the kexec'd kernel reaches the firmware's tables through SETUP_EFI (kexec-tools passes it)
    st = by["EFI_SYSTEM_TABLE"]
    assert st.fields["config_table_ptr.route"][1] == "SETUP_EFI"
    # the memory attributes table was reinstalled elsewhere for the second kernel
    assert by["configuration table EFI_MEMORY_ATTRIBUTES_TABLE_GUID"].change == "moved"
    assert json.loads(json.dumps(dd.to_dict()))["counts"] == dd.counts()


def test_cli_jobs_workers_see_guid_db(tmp_path: Path) -> None:
    """--guid-db is loaded by the parent; forked workers (--jobs 2) use the same names."""
    from dumps.make_samples import UNKNOWN_GUID
    from efitables import guids

    csv = tmp_path / "names.csv"
    csv.write_text(f"{UNKNOWN_GUID},SampleVendorTable\n")
    saved = dict(guids._REGISTRY)
    try:
        for jobs in ("1", "2"):
            code, out, _ = run("validate", "--jsonl", "--guid-db", str(csv), "--jobs", jobs, str(SAMPLES))
            codes = {f["code"] for line in out.splitlines() for f in json.loads(line)["findings"]}
            assert "EFI-CFGTAB-UNKNOWN-GUID" not in codes, jobs
    finally:
        guids._REGISTRY.clear()
        guids._REGISTRY.update(saved)
