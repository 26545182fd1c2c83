"""Finding the system table: routes, the scan, decoys."""

from __future__ import annotations

import efitables
from dumps.builder import Image, system_table
from efitables.efi.discovery import check_candidate, discover_systab
from efitables.efi.scan import scan
from efitables.memory import BytesMemory
from efitables.schemas.efi_tables import EFI_SYSTEM_TABLE_SIGNATURE


def test_scan_finds_aligned_signatures_and_zero_pages_across_chunks():
    img = Image()
    img.add_region(0, 0x40000)
    img.put(0x1FFF8, system_table(64, vendor=0, revision=0x20046, fw_revision=0, runtime=0, nr_tables=0, tables=0))
    img.put(0x30003, EFI_SYSTEM_TABLE_SIGNATURE.to_bytes(8, "little"))  # unaligned
    img.put(0x5000 + 0x1C0, b"EL64")
    img.put(0x9000 + 0x202, b"HdrS")
    img.put(0x17E30 + 0x1C0, b"EL32")  # the kernel's copy: a 16-byte-aligned global, not a page
    img.put(0x1FBFC + 0x202, b"HdrS")  # a base 4- but not 8-byte aligned: ignored
    img.put(0x37FF8 + 0x202, b"HdrS")  # a zero page across two 0x8000 chunks (they overlap by a page)
    mem = BytesMemory({0: bytes(img.regions[0])})
    hits = scan(mem, chunk_size=0x8000, zero_page_align=8)
    assert hits.systab == [0x1FFF8]
    assert hits.zero_pages == [0x5000, 0x9000, 0x17E30, 0x37FF8]
    assert scan(mem, chunk_size=0x8000).zero_pages == [0x5000, 0x9000]  # page starts only
    assert hits.bytes_scanned == 0x40000
    assert scan(mem, exhaustive=True, chunk_size=0x8000).systab == [0x1FFF8, 0x30003]


def test_scan_progress_and_cancel():
    mem = BytesMemory({0: bytes(0x100000)})
    seen = []
    scan(mem, chunk_size=0x40000, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (0x100000, 0x100000)
    import pytest

    from efitables.efi.scan import ScanCancelled

    with pytest.raises(ScanCancelled):
        scan(mem, chunk_size=0x40000, cancel=lambda: True)


def test_sample_scan_rejects_decoys(samples, expected):
    exp = expected["ovmf64.raw"]
    d = efitables.open(str(samples / "ovmf64.raw"))
    disc = d.systab_discovery
    by = {c.address: c for c in disc.candidates}
    assert sorted(by) == [0x300000, 0x300200, exp["systab"]]
    assert by[exp["systab"]].accepted
    assert not by[0x300000].accepted and "CRC32" in by[0x300000].reason
    assert not by[0x300200].accepted and "HeaderSize 0x100" in by[0x300200].reason
    routes = {r.name: (r.address, r.status) for r in disc.routes}
    assert routes == {"efi_info": (exp["systab"], "used"), "scan": (exp["systab"], "agrees")}


def test_hint_avoids_the_scan(samples, expected):
    exp = expected["ovmf64.raw"]
    d = efitables.open(str(samples / "ovmf64.raw"), boot_params=exp["boot_params"])
    assert d.systab.address == exp["systab"]
    assert "scan_hits" not in d.__dict__  # no sweep was needed
    assert [r.status for r in d.systab_discovery.routes] == ["used", "unavailable"]
    # --systab alone: any hint means no sweep (--scan auto), also not for the zero page that would
    # name the EFI memory map; the scan route says why and how to ask for one
    d = efitables.open(str(samples / "ovmf64.raw"), systab=exp["systab"])
    assert d.systab.found_by == "user" and "scan_hits" not in d.__dict__
    scan_route = next(r for r in d.boot_params_discovery.routes if r.name == "scan")
    assert scan_route.status == "unavailable" and "--systab was given" in scan_route.detail
    assert d.boot_params is None and d.efi_memmap is None and len(d.config_tables) == 6
    d = efitables.open(str(samples / "ovmf64.raw"), systab=exp["systab"], scan="always")
    assert d.boot_params.address == exp["boot_params"] and d.efi_memmap is not None and "scan_hits" in d.__dict__
    d = efitables.open(str(samples / "ovmf64.raw"), systab=exp["systab"], scan="never")
    assert d.systab.found_by == "user" and "scan_hits" not in d.__dict__ and d.efi_memmap is None


def test_user_systab_disagreeing_with_efi_info(samples, expected):
    exp = expected["ovmf64.raw"]
    d = efitables.open(str(samples / "ovmf64.raw"), systab=0x300000, boot_params=exp["boot_params"])
    routes = [(r.name, r.address, r.status) for r in d.systab_discovery.routes]
    assert routes[0] == ("user", 0x300000, "used")
    assert ("efi_info", exp["systab"], "disagrees") in routes
    assert "EFI-SYSTAB-CRC" in {f.code for f in d.findings}


def test_systab_pointer_structure_is_recognised():
    import struct
    import zlib

    img = Image()
    img.add_region(0, 0x800000)
    st = system_table(64, vendor=0, revision=0x20046, fw_revision=0, runtime=0, nr_tables=0, tables=0)
    img.put(0x7E0018, st)
    ptr = bytearray(struct.pack("<QQII", EFI_SYSTEM_TABLE_SIGNATURE, 0x7E0018, 0, 0))
    ptr[16:20] = struct.pack("<I", zlib.crc32(ptr))
    img.put(0x400000, bytes(ptr))
    mem = BytesMemory({0: bytes(img.regions[0])})
    c = check_candidate(mem, 0x400000)
    assert c.kind == "EFI_SYSTEM_TABLE_POINTER" and "0x7e0018" in c.reason
    d = discover_systab(mem, hits=scan(mem))
    routes = {r.name: (r.address, r.status) for r in d.routes}
    assert routes["EFI_SYSTEM_TABLE_POINTER"] == (0x7E0018, "used")
    assert routes["scan"] == (0x7E0018, "agrees")


def test_no_efi_on_seabios(samples):
    d = efitables.open(str(samples / "seabios.raw"))
    assert d.systab is None and d.config_tables == []
    # a BIOS boot: the zero page has no EFI loader signature, so nothing is missing (info, not a warning)
    [f] = d.findings
    assert (f.code, f.severity.name, f.address) == ("EFI-NOT-EFI-BOOT", "INFO", None)
    assert "boot_params @ 0x13000 (scan) has no EFI loader signature" in f.message
    # without boot_params, or with the sweep switched off, an absent table is still a warning
    d = efitables.open(str(samples / "seabios.raw"), scan="never")
    assert [f.code for f in d.findings if f.structure == "EFI_SYSTEM_TABLE"] == ["EFI-SYSTAB-NOT-FOUND"]


def test_a_flood_of_one_signature_caps_that_kind_only(monkeypatch):
    """A dump full of 'EL64' (hostile or unlucky) stops collecting zero pages, not the system-table sweep."""
    import efitables.efi.scan as S

    monkeypatch.setattr(S, "MAX_HITS", 64)
    img = Image()
    img.add_region(0, 0x100000)
    img.put(0, b"EL64\0\0\0\0" * 0x1000)  # 4096 zero-page hits in the first 32 KiB
    img.put(0xF0018, system_table(64, vendor=0, revision=0x20046, fw_revision=0, runtime=0, nr_tables=0, tables=0))
    mem = BytesMemory({0: bytes(img.regions[0])})
    hits = scan(mem, chunk_size=0x8000, zero_page_align=8)
    assert hits.systab == [0xF0018] and not hits.systab_truncated
    assert hits.zero_pages_truncated and hits.truncated and len(hits.zero_pages) == 64
    assert hits.bytes_scanned == 0x100000  # the sweep went to the end
