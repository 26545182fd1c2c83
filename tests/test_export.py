"""``efitables export``: ACPI tables in acpidump -b names, structures and ranges, byte for byte."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from dumps import make_samples as ms
from efitables.cli import cli
from efitables.schemas.payloads.acpi import acpi_checksum
from tests.builders_payloads import acpi_table
from tests.test_payloads_acpi import AML, facs_raw, fadt_raw

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "dumps" / "samples" / "ovmf64.raw"
DSDT_PA, FACS_PA = ms.RSDP + 0x800, ms.RSDP + 0x600


def run(*args: str):
    return CliRunner().invoke(cli, ["export", *args])


def test_sample_acpi_tables_byte_for_byte(tmp_path):
    out = tmp_path / "acpi"  # created
    r = run(str(SAMPLE), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["facp.dat", "rsdp.dat", "rsdt.dat", "xsdt.dat"]
    fixture = ms.acpi_payloads()
    assert (out / "rsdt.dat").read_bytes() == fixture[ms.RSDP + 0x100]
    assert (out / "xsdt.dat").read_bytes() == fixture[ms.RSDP + 0x200]
    assert (out / "facp.dat").read_bytes() == fixture[ms.FACP]
    rsdp = (out / "rsdp.dat").read_bytes()
    assert len(rsdp) == 36 and rsdp[:8] == b"RSD PTR " and acpi_checksum(rsdp) == 0
    assert f"facp.dat  {len(fixture[ms.FACP]):#x} bytes @ {ms.FACP:#x}  ACPI FACP" in r.output


def test_refuses_to_overwrite_without_force(tmp_path):
    assert run(str(SAMPLE), "FACP", "-o", str(tmp_path)).exit_code == 0
    (tmp_path / "facp.dat").write_bytes(b"mine")
    r = run(str(SAMPLE), "FACP", "-o", str(tmp_path))
    assert r.exit_code == 2 and (tmp_path / "facp.dat").read_bytes() == b"mine"
    assert run(str(SAMPLE), "facp", "-o", str(tmp_path), "--force").exit_code == 0
    assert (tmp_path / "facp.dat").read_bytes() == ms.acpi_payloads()[ms.FACP]


def test_structures_and_ranges(tmp_path):
    raw = SAMPLE.read_bytes()
    r = run(str(SAMPLE), "systab", "boot-params", "efi-memmap", "0x7e0018:8", "-o", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "systab.bin").read_bytes() == raw[0x7E0018 : 0x7E0018 + 0x78]
    assert (tmp_path / "mem-7e0018-8.bin").read_bytes() == b"IBI SYST"
    assert (tmp_path / "boot-params.bin").read_bytes() == raw[0x13000:0x14000]
    assert (tmp_path / "efi-memmap.bin").read_bytes() == raw[0x14000:0x14150]


def test_missing_and_unreadable(tmp_path):
    r = run(str(SAMPLE), "SSDT", "snp-secrets", "FACP", "-o", str(tmp_path))
    assert r.exit_code == 1 and (tmp_path / "facp.dat").exists()
    assert "SSDT: not in the dump" in r.output and "snp-secrets: not in the dump" in r.output
    r = run(str(SAMPLE), "0x7ff000:0x2000", "-o", str(tmp_path / "x"))  # runs past the 8 MiB image
    assert r.exit_code == 1 and not (tmp_path / "x" / "mem-7ff000-2000.bin").exists()
    assert run(str(SAMPLE), "0x10:0", "-o", str(tmp_path)).exit_code == 2


@pytest.fixture
def with_dsdt(tmp_path) -> Path:
    """The sample with its FADT replaced by an ACPI 6.5 one naming a DSDT and a FACS (the schemas build all)."""
    img = bytearray(SAMPLE.read_bytes())
    fadt = fadt_raw(x_dsdt=DSDT_PA, x_facs=FACS_PA)
    dsdt = acpi_table(b"DSDT", AML)
    for pa, b in ((ms.FACP, fadt), (DSDT_PA, dsdt), (FACS_PA, facs_raw())):
        img[pa : pa + len(b)] = b
    p = tmp_path / "dsdt.raw"
    p.write_bytes(bytes(img))
    return p


def test_dsdt_and_facs_followed_and_exported(with_dsdt, tmp_path):
    out = tmp_path / "out"
    r = run(str(with_dsdt), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["dsdt.dat", "facp.dat", "facs.dat", "rsdp.dat", "rsdt.dat",
                                                     "xsdt.dat"]  # fmt: skip
    assert (out / "dsdt.dat").read_bytes() == acpi_table(b"DSDT", AML)
    assert (out / "facs.dat").read_bytes() == facs_raw()
    assert (out / "facp.dat").read_bytes() == fadt_raw(x_dsdt=DSDT_PA, x_facs=FACS_PA)


def test_instances_numbered_as_acpidump(tmp_path):
    """Two SSDTs: ssdt1.dat and ssdt2.dat (acpidump's ap_write_to_binary_file)."""
    from efitables.cli.export import acpi_pieces

    class T:
        def __init__(self, sig, pa, n):
            self.signature, self.address, self.length = sig, pa, n

    class Sdt(T):
        tables = [T("FACP", 0x1000, 116), T("SSDT", 0x2000, 40), T("SSDT", 0x3000, 50), T("APIC", 0x4000, 60)]

    class Rsdp:
        address, size, xsdt, rsdt, dsdt, facs = 0x100, 36, Sdt("XSDT", 0x200, 68), None, T("DSDT", 0x5000, 36), None

    from efitables.payloads import acpi

    class Cfg:
        payload = Rsdp()

    class D:
        def config_table(self, name):
            return Cfg() if name == "ACPI_20_TABLE_GUID" else None

    orig = acpi.Rsdp
    acpi.Rsdp = Rsdp  # type: ignore[misc]
    try:
        names = [p.name for p in acpi_pieces(D())]
    finally:
        acpi.Rsdp = orig  # type: ignore[misc]
    assert names == ["rsdp.dat", "xsdt.dat", "facp.dat", "ssdt1.dat", "ssdt2.dat", "apic.dat", "dsdt.dat"]


@pytest.mark.skipif(shutil.which("iasl") is None, reason="iasl (Debian acpica-tools) not installed")
def test_iasl_disassembles_exported_dsdt(with_dsdt, tmp_path):
    out = tmp_path / "out"
    assert run(str(with_dsdt), "DSDT", "-o", str(out)).exit_code == 0
    p = subprocess.run(["iasl", "-d", "dsdt.dat"], cwd=out, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "DefinitionBlock" in (out / "dsdt.dsl").read_text(errors="replace")
