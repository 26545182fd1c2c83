"""Real QEMU dumps (dumps/real/corpus) against what each guest printed about itself.

The ground truth (``<variant>.truth.json``) comes only from the guest's serial
log (dumps/real/serial_to_truth.py). Every container of one guest was dumped
from the same stopped VM, so all of them must hold the same bytes. Two more
containers are derived here, with code independent of efitables, to run the
same checks on layouts QEMU 7.2 does not write: the plain diskdump layout
(what ``makedumpfile -R`` makes of QEMU's flattened stream; ``unflatten``
in tests/real_files.py gave a file byte-identical to makedumpfile 1.7.2's ``-R`` for ovmf64) and LiME (one
range per ELF PT_LOAD).

``EFITABLES_REAL_CORPUS=/path`` runs the same tests on another corpus made by
dumps/real/make_real_dumps.py (``--out``). The kdump capture variant is tested in
test_real_kdump.py.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import struct
from pathlib import Path

import pytest
from real_files import CORPUS, RealFiles

import efitables
from efitables.memory import PhysicalMemory, open_memory
from efitables.memory.base import PhysRange
from efitables.memory.vmcoreinfo import parse_vmcoreinfo

#: QEMU dump-guest-memory variants; a kdump capture (``<variant>.vmcore.xz``: the capture
#: kernel's /proc/vmcore and makedumpfile's outputs) has its own tests in test_real_kdump.py.
VARIANTS = sorted(
    p.name.removesuffix(".truth.json")
    for p in CORPUS.glob("*.truth.json")
    if not (CORPUS / p.name.replace(".truth.json", ".vmcore.xz")).exists()
)
CHUNK = 4 * 1024 * 1024

pytestmark = pytest.mark.skipif(not VARIANTS, reason="no real-dump corpus in dumps/real/corpus")


# ---------------------------------------------------------------------------
# Corpus unpacking (once per session) and derived containers
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def corpus(real_files: RealFiles) -> dict[str, dict[str, Path]]:
    """{variant: {container name: path}}, unpacked through the session's shared ``real_files``."""
    out: dict[str, dict[str, Path]] = {}
    for v in VARIANTS:
        files: dict[str, Path] = {}
        for src in sorted(CORPUS.glob(f"{v}.*")):
            name = src.name.removeprefix(f"{v}.")
            if name in ("truth.json", "serial.log.xz"):
                continue
            name = name.removesuffix(".xz")
            files[name] = real_files.get(f"{v}.{name}")
        if "kdump-zlib" in files:
            files["kdump-zlib-plain"] = real_files.kdump_plain(v)
        if "elf" in files:
            files["lime"] = real_files.lime(v)
        out[v] = files
    return out


def truth(variant: str) -> dict:
    return json.loads((CORPUS / f"{variant}.truth.json").read_text())


def containers(corpus: dict, variant: str) -> list[tuple[str, Path]]:
    return sorted(corpus[variant].items())


def merged(mem: PhysicalMemory) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for r in mem.ranges():
        if out and out[-1][1] == r.start:
            out[-1] = (out[-1][0], r.end)
        else:
            out.append((r.start, r.end))
    return out


EXPECTED_FORMAT = {
    "elf": "elf",
    "kdump-zlib": "kdump",
    "kdump-zlib-plain": "kdump",
    "kdump-lzo": "kdump",
    "lime": "lime",
}


# ---------------------------------------------------------------------------
# Container layer
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_corpus_has_elf_and_kdump(corpus: dict, variant: str) -> None:
    names = set(corpus[variant])
    assert "elf" in names
    if variant == "ovmf64":
        assert "kdump-zlib" in names


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_container_holds_the_same_memory(corpus: dict, variant: str) -> None:
    ref_name = "elf"
    ref = open_memory(str(corpus[variant][ref_name]))
    ref_ranges = merged(ref)
    assert ref_ranges, "the ELF dump holds no memory"
    # the guest's RAM (E820 RAM) lies inside what the dump holds
    t = truth(variant)
    for e in t["boot_params"]["e820"]:
        if e["type"] == 1:
            assert ref.first_gap(e["addr"], e["size"]) is None, f"E820 RAM {e['addr']:#x}+{e['size']:#x} not dumped"
    for name, path in containers(corpus, variant):
        if name == ref_name:
            continue
        mem = open_memory(str(path))
        assert mem.info.format == EXPECTED_FORMAT[name]
        assert merged(mem) == ref_ranges, name
        for start, end in ref_ranges:
            for pa in range(start, end, CHUNK):
                n = min(CHUNK, end - pa)
                assert mem.read(pa, n) == ref.read(pa, n), f"{name} differs from the ELF in {pa:#x}+{n:#x}"
        assert [f.code for f in mem.findings if f.severity >= 1] == [], name
        mem.close()
    ref.close()


@pytest.mark.parametrize("variant", VARIANTS)
def test_kdump_header_matches_the_guest(corpus: dict, variant: str) -> None:
    t = truth(variant)
    for name, path in containers(corpus, variant):
        if not name.startswith("kdump"):
            continue
        mem = open_memory(str(path))
        d = mem.info.details
        assert d["flattened"] is (name == "kdump-zlib")
        assert d["signature"] == "KDUMP"
        assert d["header_version"] == 6
        assert d["block_size"] == 4096
        assert d["compression"] == "zlib"
        assert d["machine"] == "x86_64"
        assert d["nr_cpus"] == 1
        # QEMU 7.2 takes phys_base from the guest's VMCOREINFO but parses the
        # signed decimal NUMBER(phys_base) as hexadecimal (dump.c,
        # vmcoreinfo_update_phys_base); efitables reports the difference
        pb = t["kernel"]["phys_base"]
        assert d["phys_base"] == int(str(pb), 16) & 0xFFFFFFFFFFFFFFFF
        if int(str(pb), 16) != pb:
            assert d["phys_base_vmcoreinfo"] == pb & 0xFFFFFFFFFFFFFFFF
            assert [f.code for f in mem.findings] == ["KDUMP-PHYS-BASE"]
        assert d["pages_dumped"] == sum(e - s for s, e in merged(mem)) // 4096
        mem.close()


@pytest.mark.parametrize("variant", VARIANTS)
def test_vmcoreinfo_matches_the_guest(corpus: dict, variant: str) -> None:
    t = truth(variant)
    k = t["kernel"]
    for name, path in containers(corpus, variant):
        mem = open_memory(str(path))
        if name == "lime":
            assert mem.vmcoreinfo is None  # LiME carries no notes
            continue
        vi = mem.vmcoreinfo
        assert vi is not None, name
        assert vi["OSRELEASE"] == t["uname"]["release"]
        assert vi["PAGESIZE"] == "4096"
        assert int(vi["SYMBOL(init_top_pgt)"], 16) == k["kallsyms"]["init_top_pgt"]
        assert int(vi["KERNELOFFSET"], 16) == k["kaslr_offset"]
        assert int(vi["NUMBER(phys_base)"]) == k["phys_base"]
        # the note the guest registered, read from the dump's memory at the
        # address the guest printed, says the same
        note = mem.read(t["vmcoreinfo"]["note_phys"], t["vmcoreinfo"]["note_size"])
        namesz, descsz, ntype = struct.unpack_from("<III", note)
        assert (namesz, ntype, note[12:23]) == (11, 0, b"VMCOREINFO\0")
        assert parse_vmcoreinfo(note[24 : 24 + descsz]) == vi
        mem.close()


# ---------------------------------------------------------------------------
# Bytes the guest printed, found at the addresses it printed, in every container
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_guest_bytes_are_in_every_container(corpus: dict, variant: str) -> None:
    t = truth(variant)
    bp = t["boot_params"]
    for _name, path in containers(corpus, variant):
        mem = open_memory(str(path))
        assert mem.read(bp["phys"], 4096).hex() == bp["data"]
        for node in t["setup_data"]:
            if node["phys"] is None:
                continue
            nxt, typ, length = struct.unpack("<QII", mem.read(node["phys"], 16))
            assert (typ, length) == (node["type"], node["size"])
            data = mem.read(node["phys"] + 16, length)
            assert hashlib.sha256(data).hexdigest() == node["sha256"]
            assert data[:256].hex() == node["head"]
        efi = t["efi"]
        if efi is not None and efi.get("systab_bytes"):
            sb = bytes.fromhex(efi["systab_bytes"])
            size = efi["systab"]["header_size"]  # the whole table, header included (0x78 / 0x48)
            assert mem.read(efi["systab_phys"], size) == sb[:size]
            entry = 24 if efi["fw_platform_size"] == 64 else 20
            n = efi["systab"]["nr_tables"]
            raw = mem.read(efi["config_table"], n * entry)
            assert raw.hex() == efi_config_hex(efi, n * entry)
        if efi is not None and efi.get("memmap"):
            mm = efi["memmap"]
            raw = mem.read(mm["phys"], mm["size"])
            for e in mm["entries"]:
                off = e["index"] * mm["desc_size"]
                typ, phys, virt, pages, attr = struct.unpack_from("<I4xQQQQ", raw, off)
                assert (typ, phys, virt, pages, attr) == (
                    e["type"],
                    e["phys"],
                    e["virt"],
                    e["num_pages"],
                    e["attribute"],
                )
        mem.close()


def efi_config_hex(efi: dict, n: int) -> str:
    # serial_to_truth keeps the decoded entries; rebuild their bytes for the comparison
    out = bytearray()
    import uuid

    for ct in efi["config_tables"]:
        out += uuid.UUID(ct["guid"]).bytes_le
        out += struct.pack("<Q" if efi["fw_platform_size"] == 64 else "<I", ct["table"])
    return bytes(out[:n]).hex()


# ---------------------------------------------------------------------------
# efitables' API against the ground truth
# ---------------------------------------------------------------------------
def _dump(path: Path, truth: dict | None = None) -> efitables.Dump:
    """efitables' Dump; LiME carries no VMCOREINFO (no kallsyms route to the kernel's
    zero page), so there the zero page's address is given, as a user would."""
    if truth is not None and path.suffix == ".lime" and truth["boot_params"]["phys"] is not None:
        return efitables.open(str(path), boot_params=truth["boot_params"]["phys"])
    return efitables.open(str(path))


def _require(obj: object, attr: str) -> object:
    if not hasattr(obj, attr):
        pytest.skip(f"Dump.{attr} not implemented yet")
    return getattr(obj, attr)


@pytest.mark.parametrize("variant", VARIANTS)
def test_api_boot_params_e820_setup_data(corpus: dict, variant: str) -> None:
    t = truth(variant)
    tb = t["boot_params"]
    for name, path in containers(corpus, variant):
        with _dump(path, t) as d:
            bp = _require(d, "boot_params")
            assert bp is not None, name
            assert bp.address == tb["phys"], name
            assert bp.has_hdrs is (tb["hdr_magic"] == "HdrS")
            assert bp.type_of_loader == tb["type_of_loader"]
            assert bp.acpi_rsdp_addr == tb["acpi_rsdp_addr"]
            assert bp.setup_data_ptr == tb["setup_data"]
            assert bp.e820_entries == tb["e820_entries"]
            assert bp.ramdisk_image == tb["ramdisk_image"]
            assert bp.ramdisk_size == tb["ramdisk_size"]
            assert bp.cmd_line_ptr == tb["cmd_line_ptr"]
            # the loader's command-line buffer is not kept by the kernel (it copies it to
            # boot_command_line): after boot it holds the line, zeros, or other data once the page
            # is reused (the kexecload guest's: 'Q)'); then it lies in memory freed after boot, the
            # command-line witness leaves it out of the comparison, and the kernel's copy is the line
            assert bp.command_line is not None
            if bp.command_line.text not in (t["cmdline"], ""):
                assert any(r.reused for r in d.regions.at(bp.cmd_line_ptr)), bp.command_line.text
                row = next(r for r in d.witnesses.rows if r.object == "command line")
                assert row.firmware is not None and not row.firmware.compared
                assert row.kernel is not None and row.kernel.value == t["cmdline"]
            ei = tb["efi_info"]
            if ei["signature"] in ("EL64", "EL32"):
                assert bp.efi_loader_signature == ei["signature"]
                assert bp.efi_systab == ei["systab"]
                assert bp.efi_memmap == ei["memmap"]
                assert bp.efi_memmap_size == ei["memmap_size"]
                assert bp.efi_memdesc_size == ei["memdesc_size"]
                assert bp.efi_memdesc_version == ei["memdesc_version"]
            else:
                assert bp.efi_loader_signature is None
            e820 = _require(d, "e820")
            assert [(e.addr, e.length, e.type) for e in e820.entries] == [
                (e["addr"], e["size"], e["type"]) for e in tb["e820"]
            ]
            sd = _require(d, "setup_data")
            assert len(sd) == len(t["setup_data"])
            for node, tn in zip(sd, t["setup_data"], strict=True):
                assert (node.type, node.len) == (tn["type"], tn["size"])
                if tn["phys"] is not None:
                    assert node.address == tn["phys"]
                    assert node.data_address == tn["phys"] + 16


@pytest.mark.parametrize("variant", VARIANTS)
def test_api_efi_tables(corpus: dict, variant: str) -> None:
    t = truth(variant)
    efi = t["efi"]
    for name, path in containers(corpus, variant):
        with _dump(path, t) as d:
            st = _require(d, "systab")
            if efi is None:
                assert st is None, f"{name}: a system table in a non-EFI guest"
                continue
            assert st is not None, name
            assert st.address == efi["systab_phys"]
            assert st.bits == efi["fw_platform_size"]
            s = efi["systab"]
            assert st.revision == s["revision"]
            assert st.header_size == s["header_size"]
            assert st.crc32 == s["crc32"]
            assert st.nr_tables == s["nr_tables"]
            assert st.firmware_revision == s["fw_revision"]
            assert st.firmware_vendor_ptr.stored == s["fw_vendor"]
            assert st.runtime_services_ptr.stored == s["runtime_services"]
            assert st.config_table_ptr.stored == s["config_table"]
            if st.config_table_ptr.physical is None:
                # After SetVirtualAddressMap the three pointers are EFI virtual
                # addresses, and the boot-time map at efi_info carries no virtual
                # addresses (Linux hands the firmware a separate copy); the kernel's
                # runtime map (its efi.memmap) has them.
                pytest.skip(f"{name}: SystemTable.config_table_ptr not translated (route "
                            f"{st.config_table_ptr.route!r}): virtual-to-physical translation without "
                            "SETUP_EFI or a memory map with virtual addresses is not implemented yet")
            assert st.firmware_vendor_ptr.physical == efi["fw_vendor"]
            assert st.firmware_vendor == efi["fw_vendor_string"]
            if efi["runtime"] == s["runtime_services"]:
                # a kexec'd 6.1 kernel takes fw_vendor and the tables from SETUP_EFI but
                # RuntimeServices from the system table, so sysfs shows the virtual pointer
                assert st.runtime_services_ptr.physical is not None
            else:
                assert st.runtime_services_ptr.physical == efi["runtime"]
            assert st.config_table_address == efi["config_table"]
            tables = _require(d, "config_tables")
            assert [(c.guid, c.table_address) for c in tables] == [
                (c["guid"], c["table"]) for c in efi["config_tables"]
            ]
            # the tables Linux itself recognised (/sys/firmware/efi/systab)
            by_guid = {c.guid: c.table_address for c in tables}
            names = {
                "ACPI20": "8868e871-e4f1-11d3-bc22-0080c73c8881",
                "ACPI": "eb9d2d30-2d88-11d3-9a16-0090273fc14d",
                "SMBIOS": "eb9d2d31-2d88-11d3-9a16-0090273fc14d",
                "SMBIOS3": "f2fd1544-9794-4a2c-992e-e5bbcf20e394",
            }
            for key, addr in efi["systab_sysfs"].items():
                assert by_guid[names[key]] == addr, key


@pytest.mark.parametrize("variant", VARIANTS)
def test_api_efi_memmap(corpus: dict, variant: str) -> None:
    t = truth(variant)
    efi = t["efi"]
    if efi is None:
        pytest.skip("not an EFI guest")
    for name, path in containers(corpus, variant):
        with _dump(path, t) as d:
            mm = _require(d, "efi_memmap")
            assert mm is not None, name
            got = [(m.type, m.physical_start, m.virtual_start, m.number_of_pages, m.attribute) for m in mm.descriptors]
            if efi.get("memmap"):
                assert mm.address == efi["memmap"]["phys"]
                assert mm.descriptor_size == efi["memmap"]["desc_size"]
                assert got == [
                    (e["type"], e["phys"], e["virt"], e["num_pages"], e["attribute"]) for e in efi["memmap"]["entries"]
                ]
            ei = t["boot_params"]["efi_info"]
            if not efi.get("memmap") and ei["memmap_size"] == len(efi["runtime_map"]) * ei["memdesc_size"]:
                # a kexec'd kernel's map is the runtime map kexec-tools passed, which is
                # also what its /sys/firmware/efi/runtime-map lists, entry by entry
                assert mm.address == ei["memmap"]
                assert got == [(r["type"], r["phys_addr"], r["virt_addr"], r["num_pages"], r["attribute"])
                               for r in efi["runtime_map"]]
            # every region of /sys/firmware/efi/runtime-map (the kernel's later copy
            # of the map, whose virtual addresses the boot-time map need not carry,
            # e.g. in mixed mode; the kernel also splits regions it reserves) lies
            # inside a boot-time region of the same type
            for r in efi["runtime_map"]:
                m = mm.lookup(r["phys_addr"])
                assert m is not None, f"{name}: runtime-map entry {r} not in the map"
                assert m.type == r["type"], r
                assert r["phys_addr"] + r["num_pages"] * 4096 <= m.physical_end, r


@pytest.mark.parametrize("variant", VARIANTS)
def test_truth_is_what_the_serial_log_says(variant: str) -> None:
    """The committed truth is exactly serial_to_truth.py's output for the committed serial log."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "dumps" / "real" / "serial_to_truth.py"
    log = lzma.decompress((CORPUS / f"{variant}.serial.log.xz").read_bytes())
    r = subprocess.run([sys.executable, str(script), "/dev/stdin", "--variant", variant], input=log,
                       capture_output=True, check=True)
    assert json.loads(r.stdout) == truth(variant)


def _summary(d: efitables.Dump) -> dict:
    st = d.systab
    bp = d.boot_params
    mm = d.efi_memmap
    return {
        "systab": None if st is None else (st.address, st.bits, st.revision, st.nr_tables, st.firmware_vendor,
                                           st.config_table_address, st.crc_ok),
        "config_tables": [(c.guid, c.name, c.table_address) for c in d.config_tables],
        "boot_params": None if bp is None else (bp.address, bp.efi_loader_signature, bp.efi_systab, bp.efi_memmap,
                                                bp.setup_data_ptr, bp.acpi_rsdp_addr),
        "e820": None if d.e820 is None else [(e.addr, e.length, e.type) for e in d.e820.entries],
        "setup_data": None if d.setup_data is None else [(n.address, n.type, n.len) for n in d.setup_data],
        "efi_memmap": None if mm is None else [(m.type, m.physical_start, m.virtual_start, m.number_of_pages,
                                                m.attribute) for m in mm.descriptors],
    }


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_container_gives_the_same_results(corpus: dict, variant: str) -> None:
    t = truth(variant)
    summaries = {}
    for name, path in containers(corpus, variant):
        with _dump(path, t) as d:
            summaries[name] = _summary(d)
    ref = summaries["elf"]
    assert ref["boot_params"] is not None and ref["boot_params"][0] == t["boot_params"]["phys"]
    for name, s in summaries.items():
        assert s == ref, name


class _Patched(PhysicalMemory):
    """A real dump seen through byte patches: hostile values in real structures, no copy of the dump."""

    def __init__(self, inner: PhysicalMemory, patches: dict[int, int]) -> None:
        super().__init__(inner.path)
        self.inner, self.patches, self.info = inner, patches, inner.info

    def _load_ranges(self) -> list[PhysRange]:
        return self.inner.ranges()

    def _read(self, pa: int, size: int) -> bytes:
        data = bytearray(self.inner.read(pa, size))
        for a, b in self.patches.items():
            if pa <= a < pa + size:
                data[a - pa] = b
        return bytes(data)


#: Mutated real dumps per EFI variant (each ~0.2 s); raise with EFITABLES_FUZZ_EXAMPLES to hunt.
REAL_MUTATIONS = int(os.environ.get("EFITABLES_FUZZ_EXAMPLES", "25"))


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v not in ("seabios", "pvh")])  # the EFI guests
def test_mutated_real_structures_never_crash(corpus: dict, variant: str) -> None:
    """Bytes of the real system table, array, payloads, zero page, setup_data, memory map and kallsyms
    tables (and a loaded kexec image's kimage, page list and next zero page) flipped: every report still
    completes (findings, never an exception) within a time bound."""
    import random
    import time

    from efitables.dump import Dump
    from efitables.kernel import kallsyms

    base = open_memory(str(corpus[variant]["elf"]))
    d0 = Dump(base)
    st, bp = d0.systab, d0.boot_params
    assert st is not None and bp is not None and bp.address is not None
    targets = [(st.address, st.size), (bp.address, 0x1000)]
    if st.config_table_array is not None:
        targets.append((st.config_table_array.address, st.config_table_array.size))
    payloads = [t.payload for t in d0.config_tables if t.payload is not None and t.payload.address is not None]
    targets += [(p.address, min(p.size, 0x400)) for p in payloads if p.size]
    targets += [(n.address, 0x40) for n in d0.setup_data or [] if n.address is not None]
    if d0.efi_memmap is not None and d0.efi_memmap.address is not None:
        targets.append((d0.efi_memmap.address, d0.efi_memmap.size))
    ks = kallsyms.load(base, base.vmcoreinfo)
    for sym in ("kallsyms_num_syms", "kallsyms_token_index", "kallsyms_names", "kallsyms_offsets", "efi_config_table"):
        pa = ks.physical(sym)
        if pa is not None:
            targets.append((pa, 0x200))
    im = d0.kernel.kexec_loaded
    if im is not None and im.address is not None:  # a loaded kexec image: its kimage, page list, zero page
        targets.append((im.address, im.size))
        nk = d0.next_kernel
        assert nk is not None and nk.pages is not None and nk.boot_params is not None
        targets += [(pa, 0x1000) for pa in nk.pages.indirection_pages[:2] + nk.pages.indirection_pages[-1:]]
        targets.append((nk.pages.source_of(nk.boot_params), 0x1000))
    rnd = random.Random(variant)
    for i in range(REAL_MUTATIONS):
        patches = {}
        for _ in range(rnd.choice([1, 2, 4, 8, 32])):
            a, size = rnd.choice(targets)
            patches[a + rnd.randrange(max(size, 1))] = rnd.choice([0, 0xFF, 0x80, 0x7F, rnd.randrange(256)])
        t0 = time.perf_counter()
        d = Dump(_Patched(base, patches))
        d.to_dict()
        d.boot_to_dict()
        assert isinstance(d.findings, list)  # every area and every cross-structure check ran
        assert d.coverage().objects is not None
        if im is not None:  # the image's map walked, the next kernel's inputs read through its page list
            rep = d.coverage(pgd="auto")
            assert rep.objects is not None and (rep.image is None or len(rep.image.segments) <= 16)
        assert time.perf_counter() - t0 < 20, (i, sorted(patches.items())[:8])


@pytest.mark.parametrize("variant", VARIANTS)
def test_faces_report_the_same_findings(corpus: dict, variant: str) -> None:
    """show --json, validate --json and the API list the same findings for every container of a real dump."""
    from test_findings_registry import _faces

    for name, path in containers(corpus, variant):
        show, val, api = _faces(str(path))
        assert show == val == api, name
