"""``show`` and ``diff`` answer first (issue 15 item 2).

``show``: a summary of at most 15 lines before anything else (its values checked against
dumps/samples/expected.json and against what each real guest printed about itself,
dumps/real/corpus/*.truth.json), ending with the verdict ``efitables validate`` gives the
same dump; then the errors and warnings; the tables only with ``--full`` / ``--section``.
``diff``: a summary (the dumps and their verdicts, the counts by area), then the changes
with the repeated ones folded into one line (a memory map whose desc_size went from 48 to
40 moves every descriptor but the first: one line, with the count).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import test_real_dumps as real
from click.testing import CliRunner
from sample_mutations import ST_FW_REVISION, SYSTAB, SampleImage

from dumps.builder import Image, memory_map, system_table, ucs2, zero_page
from efitables.cli import cli
from efitables.cli.show import LABELS, MAX_SUMMARY_LINES
from efitables.diff import Fold, diff_dumps, fold
from efitables.dump import Dump
from efitables.payloads.acpi import ACPI_20_TABLE_GUID
from efitables.schemas.efi_memmap import EFI_MEMORY_TYPE
from efitables.validate import validate_path

#: The real corpus: its variants, and the session fixture that unpacks it (tests/test_real_dumps.py).
VARIANTS = real.VARIANTS
corpus = real.corpus
SAMPLES = Path(__file__).resolve().parent.parent / "dumps" / "samples"
SAMPLE_NAMES = ("ovmf64.raw", "ovmf64-virt.elf", "ovmf32.elf", "seabios.raw")
#: Characters that only a rich table draws.
TABLE_GLYPHS = ("┏", "┃", "│", "└")
#: The issue's bound for ``show`` on a real dump, default options (it printed 467-481 lines).
MAX_REAL_LINES = 80


def run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout


def summary_of(out: str) -> tuple[list[str], dict[str, str]]:
    """The summary's lines (up to and with the verdict line) and ``{label: text}`` of its labelled lines."""
    lines = out.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("verdict "))
    rows: dict[str, str] = {}
    for line in lines[: end + 1]:
        label = next((x for x in LABELS if line.startswith(x + " ")), None)
        if label is not None:
            rows[label] = line[len(label) :].strip()
        else:
            assert line.startswith(" "), f"not a summary line: {line!r}"
    return lines[: end + 1], rows


def validate_says(path: str, *opts: str) -> tuple[int, str]:
    """``efitables validate``'s exit code and verdict (``OK (0 error, 0 warning, 6 info)``) for ``path``."""
    code, out = run("validate", "--quiet", *opts, path)
    m = re.search(r": (OK|FAIL|ERROR) (\([^)]*\))", out)
    assert m, out
    return code, f"{m.group(1)} {m.group(2)}"


def check_summary(out: str, path: str, *opts: str) -> dict[str, str]:
    """The summary comes first, fits in MAX_SUMMARY_LINES, has no table before it and ends with validate's verdict."""
    lines, rows = summary_of(out)
    assert lines[0].startswith("dump ") and path in lines[0]
    assert len(lines) <= MAX_SUMMARY_LINES == 15
    assert not any(g in line for line in lines for g in TABLE_GLYPHS)
    code, verdict = validate_says(path, *opts)
    assert rows["verdict"].startswith(verdict + ": efitables validate exits "), (rows["verdict"], verdict)
    assert rows["verdict"].endswith(f"exits {code}") or f"exits {code}," in rows["verdict"]
    return rows


# -- show on the bundled samples (dumps/samples/expected.json) -------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_summary_is_the_truth(name: str, expected: dict) -> None:
    path = str(SAMPLES / name)
    code, out = run("show", path)
    rows = check_summary(out, path)
    assert code == validate_says(path)[0] == 0
    exp = expected[name]
    fmt = "raw" if name.endswith(".raw") else "elf"
    assert rows["dump"].startswith(f"{path}: {fmt}, {(SAMPLES / name).stat().st_size:#x} bytes")
    assert rows["boot_params"].startswith(f"{exp['boot_params']:#x} via scan;")
    if exp["systab"] is None:
        assert rows["system table"] == "none: not an EFI boot (boot_params has no EFI loader signature)"
        assert "config tables" not in rows and "memory map" not in rows
        return
    assert rows["system table"].startswith(f"{exp['systab']:#x} via efi_info (boot_params.efi_info at ")
    assert f"{exp['bits']}-bit, UEFI {exp['revision_text']}, {exp['firmware_vendor']} rev " in rows["system table"]
    assert rows["system table"].endswith("CRC32 ok")
    acpi20 = next(addr for guid, addr in exp["tables"] if guid == ACPI_20_TABLE_GUID)
    assert rows["config tables"].startswith(f"{exp['nr_tables']}: ACPI 2.0 {acpi20:#x}, ")
    mm = exp["memmap"]
    assert rows["memory map"].startswith(
        f"{mm['address']:#x}: {mm['descriptors']} descriptors, desc_size {mm['descriptor_size']}, version 1; full"
    )
    assert "SEV-SNP" not in rows  # not an SNP guest: no line


def test_default_has_no_table_and_full_has_every_one() -> None:
    path = str(SAMPLES / "ovmf64.raw")
    _code, out = run("show", path)
    titles = (
        "EFI system table routes",
        "Configuration tables (6)",
        "[0] ACPI_20_TABLE_GUID: ACPI RSDP rev 2",
        "EFI memory map @ 0x14000 (7 descriptors, stride 48)",
        "boot_params routes",
        "E820 table (3 from boot_params, 0 from SETUP_E820_EXT)",
        "boot / EFI cross-checks",
        "SEV-SNP: no CC blob",
        "Findings (6)",
    )
    assert not any(g in out for g in TABLE_GLYPHS)
    assert not any(t in out for t in titles)
    assert "Tables: --full, or --section NAME (system_table, memory_map, boot_params," in out
    code, full = run("show", "--full", path)
    assert code == 0
    summary, _rows = summary_of(full)
    assert full.startswith("\n".join(summary))  # the summary still comes first
    for t in titles:
        assert t in full, t
    assert "Tables: --full" not in full


def test_section_prints_only_the_areas_asked_for() -> None:
    path = str(SAMPLES / "ovmf64.raw")
    code, out = run("show", "--section", "memory_map", path)
    assert code == 0
    assert "EFI memory map @ 0x14000 (7 descriptors, stride 48)" in out
    assert "Configuration tables" not in out and "E820 table" not in out
    code, out = run("show", "--section", "system_table", "--section", "e820", path)
    assert "Configuration tables (6)" in out and "E820 table (3 from boot_params" in out
    assert "EFI memory map @" not in out
    check_summary(out, path)
    code, out = run("show", "--section", "view", path)
    assert code == 0 and "kernel's own copies: unavailable (no vmcoreinfo" in out.lower()
    assert "Configuration tables" not in out and "E820 table" not in out
    r = CliRunner().invoke(cli, ["show", "--section", "nonsense", path])
    assert r.exit_code == 2 and "system_table" in r.output


def test_section_of_an_area_no_section_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    """An area whose module registered no text section still has one: its summary, facts and sub-tables."""
    from efitables.cli import show

    monkeypatch.setattr(show, "SECTION_AREAS", {k: v for k, v in show.SECTION_AREAS.items() if "view" not in v})
    code, out = run("show", "--section", "view", str(SAMPLES / "ovmf64-virt.elf"))
    assert code == 0
    assert re.search(r"^kernel's own copies: unavailable \(VMCOREINFO lacks SYMBOL\(kallsyms_names\)", out, re.M)
    assert re.search(r"^status +unavailable", out, re.M) and re.search(r"^why +VMCOREINFO lacks ", out, re.M)
    assert "Configuration tables" not in out


def test_errors_and_warnings_listed_infos_counted(tmp_path: Path) -> None:
    img = SampleImage("ovmf64.raw")
    img.u32(SYSTAB + ST_FW_REVISION, 0x12345)  # FirmwareRevision changed: the CRC32 no longer matches (a warning)
    path = str(img.save(tmp_path, "crc.raw"))
    code, out = run("show", path)
    rows = check_summary(out, path)
    v = validate_path(path)
    warnings = [f for f in v.findings if f.severity == 1]
    infos = [f for f in v.findings if f.severity == 0]
    assert [f.code for f in warnings] == ["EFI-SYSTAB-CRC"] and len(infos) == 6
    assert rows["findings"] == "0 error, 1 warning, 6 info"
    assert rows["system table"].endswith("CRC32 MISMATCH")
    assert f"Errors and warnings (1); {len(infos)} info findings (--full lists them):" in out
    assert re.search(r"^  warning EFI-SYSTAB-CRC  EFI_SYSTEM_TABLE @ 0x7e0018: ", out, re.M)
    assert rows["verdict"] == "OK (0 error, 1 warning, 6 info): efitables validate exits 0, 1 with --fail-on warning"
    # the summary names the three worst; the other infos wait for --full
    top = [line.split()[1] for line in summary_of(out)[0] if line.startswith(" ")]
    assert top == [f.code for f in v.findings[:3]]
    hidden = {f.code for f in v.findings[3:]} - set(top)
    assert hidden and not any(c in out for c in hidden)
    _code, full = run("show", "--full", path)
    assert all(c in full for c in hidden)


def test_error_verdict_fails_like_validate(tmp_path: Path) -> None:
    img = Image()
    img.add_region(0, 0x10000)
    img.put(
        0x1018, system_table(64, vendor=0, revision=0x20046, fw_revision=0, runtime=0, nr_tables=5, tables=0x800000)
    )
    p = tmp_path / "bad.raw"
    img.write_raw(str(p))
    code, out = run("show", "--systab", "0x1018", str(p))
    rows = check_summary(out, str(p), "--systab", "0x1018")
    assert code == 1 and rows["verdict"].startswith("FAIL (1 error, ")
    assert re.search(r"^  error   EFI-CFGTAB-ARRAY-UNREADABLE ", out, re.M)


def test_summary_escapes_dump_strings(tmp_path: Path) -> None:
    img = Image()
    img.add_region(0, 0x10000)
    img.put(
        0x1018, system_table(64, vendor=0x2000, revision=0x20046, fw_revision=0, runtime=0, nr_tables=0, tables=0)
    )
    img.put(0x2000, ucs2("\x1b]0;pwned\x07[bold red]X[/]"))
    p = tmp_path / "evil.raw"
    img.write_raw(str(p))
    _code, out = run("show", "--systab", "0x1018", str(p))
    _lines, rows = summary_of(out)
    assert "\x1b" not in out and "\x07" not in out
    assert "UEFI 2.70, \\x1b]0;pwned\\x07[bold red]X[/] rev 0x0" in rows["system table"]


def test_snp_guest_has_its_line(tmp_path: Path) -> None:
    from tests.builders_snp import RAW_BLOB, RAW_BOOT_PARAMS, write_snp_guest_raw

    path = str(tmp_path / "snp.raw")
    write_snp_guest_raw(path)
    code, out = run("show", "--boot-params", hex(RAW_BOOT_PARAMS), path)
    rows = check_summary(out, path, "--boot-params", hex(RAW_BOOT_PARAMS))
    assert rows["SEV-SNP"].startswith(f"CC blob {RAW_BLOB:#x} via boot_params.cc_blob_address")
    assert "routes agree: yes" in rows["SEV-SNP"] and ", C-bit 51" in rows["SEV-SNP"]
    assert "secrets page v" in rows["SEV-SNP"] and "vmpck" not in out  # the keys stay in --full, redacted


# -- show on the real corpus (dumps/real/corpus/*.truth.json) --------------------------------------


def _opts(name: str, t: dict) -> tuple[str, ...]:
    """LiME carries no VMCOREINFO: its zero page is given, as a user would (test_real_dumps._dump)."""
    return ("--boot-params", hex(t["boot_params"]["phys"])) if name == "lime" else ()


@pytest.mark.parametrize("variant", VARIANTS)
def test_real_summary_is_what_the_guest_said(corpus: dict, variant: str) -> None:
    t = real.truth(variant)
    efi = t["efi"]
    for name, path in real.containers(corpus, variant):
        opts = _opts(name, t)
        code, out = run("show", *opts, str(path))
        lines = out.splitlines()
        assert len(lines) < MAX_REAL_LINES, (name, len(lines))
        rows = check_summary(out, str(path), *opts)
        assert code == validate_says(str(path), *opts)[0], name
        tb = t["boot_params"]
        assert rows["boot_params"].startswith(f"{tb['phys']:#x} via "), (name, rows["boot_params"])
        n = len(t["setup_data"])
        assert rows["setup_data"].startswith(f"{n} node" if n else "none"), rows["setup_data"]
        assert rows["kernel"].startswith(t["uname"]["release"] + " ("), (name, rows["kernel"])
        if efi is None:
            assert rows["system table"].startswith("none: not an EFI boot"), rows["system table"]
            continue
        assert rows["system table"].startswith(f"{efi['systab_phys']:#x} via efi_info"), rows["system table"]
        vendor, rev = efi["fw_vendor_string"], efi["systab"]["revision"]
        assert f"{efi['fw_platform_size']}-bit, UEFI {rev >> 16}.{rev & 0xFFFF:02d}, {vendor} rev " in rows[
            "system table"
        ]
        assert rows["config tables"].startswith(f"{len(efi['config_tables'])}: ACPI 2.0 "), rows["config tables"]
        acpi20 = next(c["table"] for c in efi["config_tables"] if c["guid"] == ACPI_20_TABLE_GUID)
        assert f"ACPI 2.0 {acpi20:#x}" in rows["config tables"]
        if efi["memmap"]:
            mm = efi["memmap"]
            want = f"{mm['phys']:#x}: {len(mm['entries'])} descriptors, desc_size {mm['desc_size']}, version 1; full"
        else:  # a kexec'd kernel's map: the runtime descriptors only
            ei = tb["efi_info"]
            want = f"{ei['memmap']:#x}: {len(efi['runtime_map'])} descriptors, desc_size {ei['memdesc_size']}, "
            want += "version 1; runtime-only"
        assert rows["memory map"].startswith(want), (rows["memory map"], want)


def test_real_full_still_has_every_table(corpus: dict) -> None:
    variant = "ovmf64" if "ovmf64" in VARIANTS else VARIANTS[0]
    t = real.truth(variant)
    path = str(corpus[variant]["elf"])
    code, out = run("show", "--full", path)
    assert code == 0
    check_summary(out, path)
    n_cfg = len(t["efi"]["config_tables"]) if t["efi"] else 0
    for title in (
        "EFI system table routes",
        f"Configuration tables ({n_cfg})",
        "EFI memory map @ ",
        "boot_params routes",
        f"E820 table ({t['boot_params']['e820_entries']} from boot_params",
        "boot / EFI cross-checks",
        "Where each object lives",
        "Findings (",
    ):
        assert title in out, title
    assert len(out.splitlines()) > 4 * MAX_REAL_LINES  # every descriptor, every E820 entry, every payload


# -- diff: a summary, then the changes folded --------------------------------------------------------

MM_SYSTAB, MM_VENDOR, MM_MEMMAP, MM_BOOT_PARAMS = 0x7E0018, 0x7E0300, 0x14000, 0x13000
MM_DESCS = 24
WB, RT = 0x8, 1 << 63


def memmap_machine(tmp_path: Path, desc_size: int) -> Path:
    """An EFI machine whose memory map has MM_DESCS descriptors of ``desc_size`` bytes each."""
    free = EFI_MEMORY_TYPE["EFI_CONVENTIONAL_MEMORY"]
    descs = [dict(Type=free, PhysicalStart=0x20000 * i, NumberOfPages=0x20, Attribute=WB) for i in range(MM_DESCS - 1)]
    descs.append(dict(Type=EFI_MEMORY_TYPE["EFI_RUNTIME_SERVICES_DATA"], PhysicalStart=0x7E0000, NumberOfPages=0x20,
                      Attribute=RT | WB))  # fmt: skip
    mm = memory_map(descs, desc_size)
    img = Image()
    img.add_region(0, 0x800000)
    img.put(MM_MEMMAP, mm)
    img.put(MM_SYSTAB, system_table(64, vendor=MM_VENDOR, revision=0x20046, fw_revision=0x10000, runtime=0,
                                    nr_tables=0, tables=0))  # fmt: skip
    img.put(MM_VENDOR, ucs2("EDK II"))
    efi = dict(efi_loader_signature="EL64", efi_systab=MM_SYSTAB, efi_memdesc_size=desc_size, efi_memdesc_version=1,
               efi_memmap=MM_MEMMAP, efi_memmap_size=len(mm), efi_systab_hi=0, efi_memmap_hi=0)  # fmt: skip
    img.put(MM_BOOT_PARAMS, zero_page(efi=efi, e820=[(0, 0x7E0000, 1), (0x7E0000, 0x20000, 2)], hdrs=False))
    p = tmp_path / f"memmap-{desc_size}.raw"
    img.write_raw(str(p))
    return p


def test_diff_folds_a_desc_size_change_into_one_line(tmp_path: Path) -> None:
    a, b = memmap_machine(tmp_path, 48), memmap_machine(tmp_path, 40)
    moved = MM_DESCS - 1  # every descriptor but the first lies elsewhere in the map
    with Dump.open(str(a), boot_params=MM_BOOT_PARAMS) as da, Dump.open(str(b), boot_params=MM_BOOT_PARAMS) as db:
        assert (da.efi_memmap.descriptor_size, db.efi_memmap.descriptor_size) == (48, 40)
        dd = diff_dumps(da, db)
    folds = [x for x in fold(dd.changes) if isinstance(x, Fold)]
    assert len(folds) == 1
    f = folds[0]
    assert (f.change, f.parent, f.label, f.count) == ("moved", "EFI_MEMORY_MAP", "EFI memory descriptor", moved)
    assert f.parent_change is not None and f.parent_change.fields["descriptor_size"] == (48, 40)
    assert f.shifts() == (-8 * moved, -8)
    assert f.common_fields() == {"size": (48, 40)}
    assert dd.counts_by_area()["memory_map"] == {"added": 0, "removed": 0, "moved": moved, "changed": 2}

    opts = ("--boot-params", hex(MM_BOOT_PARAMS))
    code, out = run("diff", *opts, str(a), str(b))
    assert code == 1
    lines = out.splitlines()
    _ok, va = validate_says(str(a), *opts)
    _ok, vb = validate_says(str(b), *opts)
    assert lines[0] == f"--- {a} (raw, {a.stat().st_size:#x} bytes): {va}"
    assert lines[1] == f"+++ {b} (raw, {b.stat().st_size:#x} bytes): {vb}"
    assert lines[2].startswith(f"objects: 0 added, 0 removed, {moved} moved, 3 changed; findings: ")
    assert f"  EFI memory map: {moved} moved, 2 changed" in lines
    desc = [line for line in lines if "EFI memory descriptor" in line]
    second = 0x20000
    assert desc == [
        f"~ changed EFI_MEMORY_MAP / EFI memory descriptor 0x0 @ {MM_MEMMAP:#x}",  # the first: same place
        f"~ moved   EFI_MEMORY_MAP: {moved} × EFI memory descriptor by {-8 * moved:+#x}..-0x8 "
        f"(EFI_MEMORY_MAP descriptor_size 0x30 -> 0x28, size {48 * MM_DESCS:#x} -> {40 * MM_DESCS:#x}); "
        f"each: size 0x30 -> 0x28; e.g. EFI memory descriptor {second:#x} {MM_MEMMAP + 48:#x} -> {MM_MEMMAP + 40:#x}",
    ]
    assert lines[-1].endswith("(folded: --full lists every change)")
    _code, full = run("diff", "--full", *opts, str(a), str(b))
    rows = [line for line in full.splitlines() if line.startswith("~ moved   EFI_MEMORY_MAP / EFI memory descriptor")]
    assert len(rows) == moved
    assert "×" not in full


def test_diff_folds_findings_of_one_code() -> None:
    with Dump.open(str(SAMPLES / "ovmf64.raw")) as a, Dump.open(str(SAMPLES / "ovmf64-virt.elf")) as b:
        new = diff_dumps(a, b).findings_new
    assert [f.code for f in new] == ["EFI-SYSTAB-VIRTUAL-POINTER"] * 3
    _code, out = run("diff", str(SAMPLES / "ovmf64.raw"), str(SAMPLES / "ovmf64-virt.elf"))
    lines = out.splitlines()
    i = lines.index("Findings new (3):")
    assert lines[i + 1].startswith("  + info: EFI-SYSTAB-VIRTUAL-POINTER × 3; e.g. EFI_SYSTEM_TABLE @ 0x7e0018: ")
    assert not lines[i + 2].startswith("  +")
    _code, full = run("diff", "--full", str(SAMPLES / "ovmf64.raw"), str(SAMPLES / "ovmf64-virt.elf"))
    assert full.count("  + info: EFI-SYSTAB-VIRTUAL-POINTER: EFI_SYSTEM_TABLE @ 0x7e0018: ") == 3


def test_diff_identical_summary() -> None:
    path = str(SAMPLES / "ovmf64.raw")
    code, out = run("diff", path, path)
    _ok, v = validate_says(path)
    assert code == 0
    assert out.splitlines() == [
        f"--- {path} (raw, {Path(path).stat().st_size:#x} bytes): {v}",
        f"+++ {path} (raw, {Path(path).stat().st_size:#x} bytes): {v}",
        "No differences.",
    ]
