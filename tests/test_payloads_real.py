"""Configuration-table payloads in the real QEMU/OVMF dumps (dumps/real/corpus), against what
each guest printed about itself (``*.truth.json``: /sys/firmware/efi/systab and the dmesg table line)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import efitables

CORPUS = Path(
    os.environ.get("EFITABLES_REAL_CORPUS", Path(__file__).resolve().parent.parent / "dumps" / "real" / "corpus")
)
EFI_VARIANTS = sorted(
    p.name.removesuffix(".elf.xz")
    for p in CORPUS.glob("*.elf.xz")
    if (CORPUS / (p.name.removesuffix(".elf.xz") + ".truth.json")).exists() and p.name.startswith(("ovmf", "kexec"))
)

pytestmark = pytest.mark.skipif(not EFI_VARIANTS, reason="no real OVMF dumps in dumps/real/corpus")


@pytest.fixture(scope="module")
def elf_dumps(real_files) -> dict[str, Path]:
    return {v: real_files.elf(v) for v in EFI_VARIANTS}


def _not_info(p) -> list:
    """Findings above INFO (a kexec'd kernel's runtime-only map adds PAYLOAD-NOT-IN-MAP, which is INFO)."""
    return [f for f in p.all_findings() if f.severity > efitables.Severity.INFO]


@pytest.mark.parametrize("variant", EFI_VARIANTS)
def test_real_payloads(elf_dumps: dict[str, Path], variant: str) -> None:
    truth = json.loads((CORPUS / f"{variant}.truth.json").read_text())["efi"]
    printed = truth["dmesg_tables"]  # what "efi: ACPI=... SMBIOS=..." said at boot
    with efitables.open(str(elf_dumps[variant])) as d:
        by_name = {t.name: t for t in d.config_tables}

        acpi20 = by_name["ACPI_20_TABLE_GUID"]
        assert acpi20.table_address == printed["ACPI 2.0"]
        r = acpi20.payload
        assert r.kind == "ACPI_RSDP" and r.revision == 2 and r.oem_id == "BOCHS"
        assert r.checksum_ok and r.extended_checksum_ok and _not_info(r) == []
        assert r.xsdt.checksum_ok and r.rsdt.checksum_ok and r.xsdt.signatures == r.rsdt.signatures
        assert r.xsdt.signatures[0] == "FACP" and all(t.checksum_ok for t in r.xsdt.tables)
        r1 = by_name["ACPI_TABLE_GUID"].payload
        assert by_name["ACPI_TABLE_GUID"].table_address == printed["ACPI"] and r1.revision == 0 and r1.checksum_ok

        sm = by_name["SMBIOS_TABLE_GUID"]
        assert sm.table_address == printed["SMBIOS"]
        ep = sm.payload
        assert ep.checksum_ok and ep.intermediate_checksum_ok and ep.table_read and _not_info(ep) == []
        assert len(ep.structures) == ep.number_of_structures and ep.structures[-1].type == 127
        bios = next(s for s in ep.structures if s.type == 0)
        assert bios.strings[0] == "EFI Development Kit II / OVMF"

        ma = by_name["EFI_MEMORY_ATTRIBUTES_TABLE_GUID"]
        assert ma.table_address == printed["MEMATTR"]
        t = ma.payload
        if variant == "kexec":  # the kexec'd second kernel (kexecload is the first, with an image loaded)
            # Seen in the kexec'd kernel's dump: the table's bytes are zero (its memblock reservation does not
            # survive kexec); reported, at info severity, with what it means after kexec
            assert _not_info(t) == []
            (z,) = [f for f in t.findings if f.code == "MEMATTR-ZERO"]
            assert "after kexec" in z.message
        else:
            assert t.version in (1, 2) and len(t.entries) == t.number_of_entries > 0 and t.all_findings() == []
            assert {e.type_name for e in t.entries} <= {"EFI_RUNTIME_SERVICES_CODE", "EFI_RUNTIME_SERVICES_DATA"}

        bm = by_name["LINUX_EFI_BOOT_MEMMAP_GUID"].payload
        assert bm.memmap is not None and len(bm.memmap.descriptors) > 100
        if variant != "kexec":  # efi_info points at map[]; a kexec'd kernel gets a runtime-only map
            assert bm.memmap.address == d.efi_memmap.address
            assert len(bm.memmap.descriptors) == len(d.efi_memmap.descriptors)
        # Nothing about the payloads is an error in a dump of a healthy machine.
        errors = [f for c in d.config_tables if c.payload for f in c.payload.all_findings()
                  if f.severity >= efitables.Severity.ERROR]  # fmt: skip
        assert errors == []

        # No RNG protocol in these guests: no seed table, and none printed at boot.
        assert ("RNG" in printed) == ("LINUX_EFI_RANDOM_SEED_TABLE_GUID" in by_name)
        # Payloads in boot-services memory are only ever "possibly stale", never errors.
        for c in d.config_tables:
            if c.payload is not None and any(f.code == "PAYLOAD-STALE" for f in c.payload.findings):
                assert {f.severity for f in c.payload.all_findings()} == {efitables.Severity.INFO}
