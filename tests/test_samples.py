"""The committed sample dumps: every known value, field by field, in every container."""

from __future__ import annotations

import json

import pytest

import efitables

EFI_SAMPLES = ["ovmf64.raw", "ovmf64-virt.elf", "ovmf32.elf"]


def test_samples_are_current(tmp_path, samples):
    from dumps.make_samples import build_all

    exp = build_all(tmp_path)
    for name in exp:
        assert (tmp_path / name).read_bytes() == (samples / name).read_bytes(), (
            f"rebuild {name}: python -m dumps.make_samples"
        )
    assert json.loads((samples / "expected.json").read_text()) == json.loads((tmp_path / "expected.json").read_text())


@pytest.mark.parametrize("name", EFI_SAMPLES)
def test_sample_system_table(samples, expected, name):
    exp = expected[name]
    with efitables.open(str(samples / name)) as d:
        assert [[r.start, r.end] for r in d.memory.ranges()] == exp["ranges"]
        st = d.systab
        assert st.address == exp["systab"] and st.bits == exp["bits"]
        assert st.revision == exp["revision"] and st.revision_text == exp["revision_text"]
        assert st.firmware_vendor == exp["firmware_vendor"] and st.firmware_revision == exp["firmware_revision"]
        assert st.crc_ok is True
        assert st.config_table_address == exp["config_table_address"]
        assert st.config_table_ptr.route == exp["pointer_route"]
        assert st.runtime_services_ptr.physical == exp["runtime_services"]
        assert st.runtime_services.signature_ok and st.runtime_services.crc_ok
        assert st.nr_tables == exp["nr_tables"]
        assert [[t.guid, t.table_address] for t in d.config_tables] == exp["tables"]
        assert all(t.readable for t in d.config_tables)
        assert d.config_table("ACPI_20_TABLE_GUID").table_address == 0x700000
        assert d.config_tables[-1].name is None  # the unknown GUID stays visible
        mm = d.efi_memmap
        assert mm.address == exp["memmap"]["address"] and len(mm.descriptors) == exp["memmap"]["descriptors"]
        assert mm.descriptor_size == exp["memmap"]["descriptor_size"]
        assert d.systab_discovery.efi_info.boot_params == exp["boot_params"]
        errors = [f for f in d.findings if f.severity >= efitables.Severity.WARNING]
        assert errors == []


def test_virtual_sample_keeps_stored_values(samples, expected):
    exp = expected["ovmf64-virt.elf"]
    with efitables.open(str(samples / "ovmf64-virt.elf")) as d:
        st = d.systab
        assert st.firmware_vendor_ptr.stored == exp["virtual"]["FirmwareVendor"]
        assert st.config_table_ptr.stored == exp["virtual"]["ConfigurationTable"]
        assert st.runtime_services_ptr.stored == exp["virtual"]["RuntimeServices"]
        assert {f.code for f in st.findings} == {"EFI-SYSTAB-VIRTUAL-POINTER"}
        assert d.memory.vmcoreinfo["OSRELEASE"] == exp["vmcoreinfo"]["OSRELEASE"]
        assert d.config_tables[-1].table_address == 0x1_0000_0000  # above 4 GiB, readable
        assert d.memory.read(0x1_0000_0000, 15) == b"unknown payload"
        assert d.memory.read(0x7F8000, 16) == bytes(16)  # p_memsz zero fill


def test_raw_and_elf_of_the_same_machine_agree(samples):
    a = efitables.open(str(samples / "ovmf64.raw")).to_dict()
    b = efitables.open(str(samples / "ovmf32.elf")).to_dict()
    ta = [(e["guid"], e["table_address"]) for e in a["efi"]["system_table"]["config_table_array"]["entries"]]
    tb = [(e["guid"], e["table_address"]) for e in b["efi"]["system_table"]["config_table_array"]["entries"]]
    assert ta == tb
