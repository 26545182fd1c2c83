"""A real kdump capture (dumps/real/corpus/kdump.*) against what its two kernels printed.

dumps/real/make_real_dumps.py (variant ``kdump``) boots Debian's kernel under OVMF
with ``crashkernel=``; the first kernel prints its report (the truth), loads a
capture kernel with ``kexec -p`` and crashes; the capture kernel copies
/proc/vmcore (``<variant>.vmcore``: an ELF with System RAM only, no firmware
memory) and runs Debian's makedumpfile on it (``<variant>.kdump-*``), printing each
file's size and SHA-256, the vmcore's ELF header, program headers and notes, and
the first kernel's log as ``makedumpfile --dump-dmesg`` read it. Everything
expected here comes from those prints (``<variant>.truth.json``, made by
dumps/real/serial_to_truth.py), never from efitables.

``EFITABLES_REAL_CORPUS=/path`` runs the same tests on another corpus.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import pytest
import test_real_dumps as R

import efitables
from efitables.kernel import kallsyms
from efitables.memory import PhysicalMemory, open_memory

CORPUS = R.CORPUS
VARIANTS = sorted(
    p.name.removesuffix(".vmcore.xz")
    for p in CORPUS.glob("*.vmcore.xz")
    if (CORPUS / (p.name.removesuffix(".vmcore.xz") + ".truth.json")).exists()
)
PAGE = 4096
PT_LOAD, PT_NOTE = 1, 4
MASK64 = (1 << 64) - 1

pytestmark = pytest.mark.skipif(not VARIANTS, reason="no kdump capture in dumps/real/corpus")


@pytest.fixture(scope="session")
def kcorpus(real_files) -> dict[str, dict[str, Path]]:
    """{variant: {container: path}} (``vmcore``, ``kdump-zlib``, ...), unpacked once per session."""
    out: dict[str, dict[str, Path]] = {}
    for v in VARIANTS:
        names = [
            src.name.removesuffix(".xz")
            for src in sorted(CORPUS.glob(f"{v}.*"))
            if src.name.removeprefix(f"{v}.") not in ("truth.json", "serial.log.xz")
        ]
        out[v] = {n.removeprefix(f"{v}."): real_files.get(n) for n in names}
    return out


def truth(variant: str) -> dict:
    return R.truth(variant)


def manifest(variant: str) -> dict:
    return json.loads((CORPUS / "manifest.json").read_text())["variants"][variant]


def kdumps(kcorpus: dict, variant: str) -> list[tuple[str, Path]]:
    return [(n, p) for n, p in sorted(kcorpus[variant].items()) if n.startswith("kdump")]


def output(variant: str, name: str) -> dict:
    """What the capture kernel printed about the file it wrote as ``<variant>.<name>``."""
    return truth(variant)["kdump"]["outputs"][f"{variant}.{name}"]


def options(variant: str, name: str) -> list[str]:
    cmd = output(variant, name)["cmd"].split()
    assert cmd[0] == "makedumpfile"
    return cmd[1:]


def loads(t: dict) -> list[dict]:
    return [p for p in t["kdump"]["vmcore"]["phdrs"] if p["type"] == PT_LOAD]


def union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(x for x in spans if x[1] > x[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def elf_ranges(t: dict) -> list[tuple[int, int]]:
    """Physical memory the vmcore holds: its PT_LOADs (the kernel-text one overlaps System RAM)."""
    return union([(p["paddr"], p["paddr"] + p["filesz"]) for p in loads(t)])


def whole_pages(t: dict) -> list[tuple[int, int]]:
    """Pages wholly inside one PT_LOAD: what makedumpfile can write of the vmcore."""
    return union([(-(-p["paddr"] // PAGE) * PAGE, (p["paddr"] + p["filesz"]) // PAGE * PAGE) for p in loads(t)])


def inside(span: tuple[int, int], ranges: list[tuple[int, int]]) -> bool:
    return any(s <= span[0] and span[1] <= e for s, e in ranges)


def codes(d: efitables.Dump) -> list[str]:
    return [f.code for f in d.findings]


def same_bytes(mem: PhysicalMemory, ref: PhysicalMemory, ranges: list[tuple[int, int]], name: str) -> None:
    for start, end in ranges:
        for pa in range(start, end, R.CHUNK):
            n = min(R.CHUNK, end - pa)
            assert mem.read(pa, n) == ref.read(pa, n), f"{name} differs from the vmcore in {pa:#x}+{n:#x}"


# ---------------------------------------------------------------------------
# The corpus is what the capture kernel wrote; the truth is the serial log's
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_files_are_what_the_capture_kernel_wrote(kcorpus: dict, variant: str) -> None:
    t = truth(variant)
    assert "vmcore" in kcorpus[variant] and kdumps(kcorpus, variant)
    for name, path in kcorpus[variant].items():
        o = output(variant, name)
        assert o["rc"] == 0, name
        assert path.stat().st_size == o["size"], name
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda f=f: f.read(1 << 20), b""):
                h.update(chunk)
        assert h.hexdigest() == o["sha256"], name
    # the raw copy is /proc/vmcore whole
    assert output(variant, "vmcore")["size"] == t["kdump"]["vmcore"]["size"]
    # every output the capture kernel wrote is in the corpus or listed as left out
    m = manifest(variant)
    for fname, o in t["kdump"]["outputs"].items():
        if o["rc"] == 0:
            assert fname.removeprefix(f"{variant}.") in kcorpus[variant] or any(
                k.startswith(fname) for k in m["left_out"]
            ), fname


@pytest.mark.parametrize("variant", VARIANTS)
def test_truth_is_what_the_serial_log_says(variant: str) -> None:
    R.test_truth_is_what_the_serial_log_says(variant)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_capture_is_of_the_first_kernel(variant: str) -> None:
    """The truth's own consistency: one crash of the kernel whose report is the truth."""
    t = truth(variant)
    k = t["kdump"]
    assert t["stage"] == "kdump1" and t["stages"] == ["kdump1", k["capture"]["stage"]]
    assert k["kexec"]["rc"] == 0 and k["kexec"]["loaded"] == 1
    crash = k["crashkernel"]
    assert k["kexec"]["crash_size"] == crash["end"] + 1 - crash["start"]
    assert "crashkernel=" in t["cmdline"]
    assert k["capture"]["elfcorehdr"] is not None and crash["start"] <= k["capture"]["elfcorehdr"] <= crash["end"]
    vi = k["vmcore"]["vmcoreinfo"]
    assert vi["OSRELEASE"] == t["uname"]["release"]
    assert int(vi["KERNELOFFSET"], 16) == t["kernel"]["kaslr_offset"]
    # the crash reservation is not in the vmcore, and no firmware memory is
    for s, e in elf_ranges(t):
        assert e <= crash["start"] or s > crash["end"]
    assert not inside((t["efi"]["systab_phys"], t["efi"]["systab_phys"] + 0x78), elf_ranges(t))
    dm = k["makedumpfile_dmesg"]
    assert dm["rc"] == 0 and any("sysrq: Trigger a crash" in x for x in dm["matched"])


# ---------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_vmcore_elf_is_what_the_capture_kernel_saw(kcorpus: dict, variant: str) -> None:
    t = truth(variant)
    v = t["kdump"]["vmcore"]
    mem = open_memory(str(kcorpus[variant]["vmcore"]))
    assert mem.info.format == "elf"
    d = mem.info.details
    assert d["phnum"] == v["elf"]["phnum"]
    assert d["pt_load"] == len(loads(t))
    assert R.merged(mem) == elf_ranges(t)
    assert mem.vmcoreinfo == v["vmcoreinfo"]
    # kexec-tools adds a PT_LOAD for the kernel image over System RAM: the overlap is reported
    overlap = sum(e - s for s, e in elf_ranges(t)) < sum(p["filesz"] for p in loads(t))
    assert ("ELF-SEGMENT-OVERLAP" in [f.code for f in mem.findings]) is overlap
    # the VMCOREINFO note the first kernel registered, at the address it printed
    note = mem.read(t["vmcoreinfo"]["note_phys"], t["vmcoreinfo"]["note_size"])
    namesz, descsz, ntype = struct.unpack_from("<III", note)
    assert (namesz, ntype, note[12:23]) == (11, 0, b"VMCOREINFO\0")
    assert R.parse_vmcoreinfo(note[24 : 24 + descsz]) == v["vmcoreinfo"]
    mem.close()


@pytest.mark.parametrize("variant", VARIANTS)
def test_kdump_headers_are_what_makedumpfile_was_asked(kcorpus: dict, variant: str) -> None:
    t = truth(variant)
    k = t["kdump"]
    features = k["capture"]["makedumpfile_features"]
    cpus = sum(1 for n in k["vmcore"]["notes"] if n["name"] == "CORE" and n["type"] == 1)  # NT_PRSTATUS
    for name, path in kdumps(kcorpus, variant):
        opts = options(variant, name)
        mem = open_memory(str(path))
        assert mem.info.format == "kdump", name
        d = mem.info.details
        assert d["flattened"] is ("-F" in opts), name
        assert d["signature"] == "KDUMP" and d["header_version"] == 6 and d["block_size"] == PAGE
        want = {"-c": "zlib", "-l": "lzo", "-p": "snappy", "-z": "zstd"}
        (flag,) = [o for o in opts if o in want]
        # a makedumpfile built without the codec writes the pages uncompressed (and says nothing)
        built = {"-c": "enabled", "-l": features["lzo"], "-p": features["snappy"], "-z": features["zstd"]}[flag]
        assert d["compression"] == (want[flag] if built == "enabled" else "none"), name
        assert d["dump_level"] == int(opts[opts.index("-d") + 1]), name
        assert (d["sysname"], d["release"], d["version"], d["machine"]) == (
            "Linux",
            t["uname"]["release"],
            t["uname"]["version"],
            t["uname"]["machine"],
        )
        assert d["nr_cpus"] == cpus
        # makedumpfile takes phys_base from VMCOREINFO right (unlike QEMU 7.2: test_real_dumps)
        assert d["phys_base"] == t["kernel"]["phys_base"] & MASK64
        assert "KDUMP-PHYS-BASE" not in [f.code for f in mem.findings]
        assert d["max_mapnr"] == -(-max(e for _, e in elf_ranges(t)) // PAGE)
        assert mem.vmcoreinfo == k["vmcore"]["vmcoreinfo"]
        mem.close()


@pytest.mark.parametrize("variant", VARIANTS)
def test_kdump_pages_are_the_vmcore_pages(kcorpus: dict, variant: str) -> None:
    """-d 0 keeps every page wholly inside a PT_LOAD (pages split between two PT_LOADs
    at non-page-aligned boundaries are dropped); -d 31 a subset; the bytes are the vmcore's."""
    t = truth(variant)
    pages = whole_pages(t)
    ref = open_memory(str(kcorpus[variant]["vmcore"]))
    for name, path in kdumps(kcorpus, variant):
        opts = options(variant, name)
        mem = open_memory(str(path))
        got = R.merged(mem)
        if opts[opts.index("-d") + 1] == "0":
            assert got == pages, name
        else:
            assert all(inside(r, pages) for r in got), name
            assert sum(e - s for s, e in got) < sum(e - s for s, e in pages)
        assert mem.info.details["pages_dumped"] == sum(e - s for s, e in got) // PAGE
        same_bytes(mem, ref, got, name)
        mem.close()
    ref.close()


# ---------------------------------------------------------------------------
# efitables' API against the first kernel's report
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_api_vmcoreinfo_and_kallsyms(kcorpus: dict, variant: str) -> None:
    t = truth(variant)
    syms = t["kernel"]["kallsyms"]
    for name, path in sorted(kcorpus[variant].items()):
        mem = open_memory(str(path))
        vi = mem.vmcoreinfo
        assert vi is not None and vi["OSRELEASE"] == t["uname"]["release"], name
        assert int(vi["SYMBOL(init_top_pgt)"], 16) == syms["init_top_pgt"]
        assert int(vi["NUMBER(phys_base)"]) == t["kernel"]["phys_base"]
        ks = kallsyms.load(mem, vi)
        assert ks.available, name
        assert ks.lookup(syms) == syms, name
        for sym in ("_text", "boot_params"):
            assert ks.physical(sym) == t["kernel"]["text_phys"] + syms[sym] - syms["_text"]
        mem.close()


@pytest.mark.parametrize("variant", VARIANTS)
def test_api_boot_params_and_e820(kcorpus: dict, variant: str) -> None:
    t = truth(variant)
    tb = t["boot_params"]
    for name, path in sorted(kcorpus[variant].items()):
        with efitables.open(str(path)) as d:
            assert d.boot_params_discovery.route == "kallsyms", name  # no sweep needed
            bp = d.boot_params
            assert bp is not None, name
            assert bp.address == tb["phys"]
            assert d.memory.read(bp.address, 4096).hex() == tb["data"]
            assert bp.has_hdrs is (tb["hdr_magic"] == "HdrS")
            assert bp.type_of_loader == tb["type_of_loader"]
            assert bp.acpi_rsdp_addr == tb["acpi_rsdp_addr"]
            assert bp.setup_data_ptr == tb["setup_data"]
            assert (bp.ramdisk_image, bp.ramdisk_size) == (tb["ramdisk_image"], tb["ramdisk_size"])
            assert bp.cmd_line_ptr == tb["cmd_line_ptr"]
            ei = tb["efi_info"]
            assert bp.efi_loader_signature == ei["signature"]
            assert (bp.efi_systab, bp.efi_memmap, bp.efi_memmap_size, bp.efi_memdesc_size) == (
                ei["systab"],
                ei["memmap"],
                ei["memmap_size"],
                ei["memdesc_size"],
            )
            assert [(e.addr, e.length, e.type) for e in d.e820.entries] == [
                (e["addr"], e["size"], e["type"]) for e in tb["e820"]
            ]
            # the EFI stub's command-line buffer (freed after boot, then scrubbed) where
            # the container has its page; unreadable where makedumpfile filtered it out
            if d.memory.first_gap(bp.cmd_line_ptr, 1) is None:
                assert bp.command_line is not None and bp.command_line.text in (t["cmdline"], ""), name
            else:
                assert "BOOT-CMDLINE-UNREADABLE" in codes(d), name


@pytest.mark.parametrize("variant", VARIANTS)
def test_api_setup_data(kcorpus: dict, variant: str) -> None:
    """The vmcore has every node; a kdump walk stops, with a finding naming the node's address,
    at the first node whose header makedumpfile did not write."""
    t = truth(variant)
    nodes = t["setup_data"]
    assert nodes and all(n["phys"] is not None for n in nodes)
    assert all(inside((n["phys"], n["phys"] + 16 + n["size"]), elf_ranges(t)) for n in nodes)
    for name, path in sorted(kcorpus[variant].items()):
        with efitables.open(str(path)) as d:
            present = 0
            for n in nodes:
                if d.memory.first_gap(n["phys"], 16) is not None:
                    break
                present += 1
            if name == "vmcore":
                assert present == len(nodes)
            got = list(d.setup_data or [])
            assert [(g.address, g.type, g.len) for g in got] == [
                (n["phys"], n["type"], n["size"]) for n in nodes[:present]
            ], name
            for n in nodes[:present]:
                if d.memory.first_gap(n["phys"] + 16, n["size"]) is None:
                    data = d.memory.read(n["phys"] + 16, n["size"])
                    assert hashlib.sha256(data).hexdigest() == n["sha256"]
            if present < len(nodes):
                # makedumpfile left the node's page out (KDUMP-FILTERED): said, at info severity, not called
                # a dangling pointer (DUMP-FILTERED-REFERENCE keeps the walk's own message)
                missing = nodes[present]["phys"]
                assert any(f.code == "KDUMP-FILTERED" for f in d.container.findings), name
                (ref,) = [f for f in d.findings if f.code == "DUMP-FILTERED-REFERENCE" and f.address == missing]
                assert ref.severity.name == "INFO" and "SETUP-DATA-DANGLING" in ref.message, name
                assert not any(f.code == "SETUP-DATA-DANGLING" for f in d.findings), name


@pytest.mark.parametrize("variant", VARIANTS)
def test_api_efi_is_named_but_not_in_a_kdump(kcorpus: dict, variant: str) -> None:
    """/proc/vmcore holds System RAM only: the system table and the EFI memory map are found by
    boot_params.efi_info and reported absent; the kernel's saved physical pointers still read."""
    t = truth(variant)
    efi = t["efi"]
    for name, path in sorted(kcorpus[variant].items()):
        with efitables.open(str(path)) as d:
            disc = d.systab_discovery
            assert (disc.address, disc.route, disc.bits) == (efi["systab_phys"], "efi_info", 64), name
            assert d.systab is None
            # said once for the whole capture (DUMP-SYSTEM-RAM-ONLY, naming the table), or per structure
            ram_only = [f.message for f in d.findings if f.code == "DUMP-SYSTEM-RAM-ONLY"]
            if ram_only:
                assert f"EFI system table @ {efi['systab_phys']:#x}" in ram_only[0], name
                assert "EFI-SYSTAB-UNREADABLE" not in codes(d)
            else:
                assert "EFI-SYSTAB-UNREADABLE" in codes(d), name
            mm = d.efi_memmap
            assert mm is not None and mm.address == efi["memmap"]["phys"] and mm.descriptors == []
            assert "DUMP-READ" in [f.code for f in mm.findings]
            # efi_config_table, efi_fw_vendor, efi_runtime (x86 efi.c), through kallsyms
            copies = d._systab_physical_copies()
            assert copies["ConfigurationTable"] == (efi["config_table"], "kallsyms"), name
            assert copies["FirmwareVendor"] == (efi["fw_vendor"], "kallsyms"), name


@pytest.mark.parametrize("variant", VARIANTS)
def test_api_kernel_log_is_makedumpfiles(kcorpus: dict, variant: str) -> None:
    """The crashed kernel's printk ring, line for line as makedumpfile --dump-dmesg printed it in the guest."""
    dm = truth(variant)["kdump"]["makedumpfile_dmesg"]
    for name, path in sorted(kcorpus[variant].items()):
        with efitables.open(str(path)) as d:
            log = d.kernel_log
            assert log.error is None, name
            lines = list(log.lines())
            assert len(lines) == dm["lines"], name
            assert hashlib.sha256("".join(x + "\n" for x in lines).encode()).hexdigest() == dm["sha256"], name
            assert lines[-1] == dm["last"]
            assert [x for x in lines if x in dm["matched"]] == dm["matched"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_faces_report_the_same_findings(kcorpus: dict, variant: str) -> None:
    from test_findings_registry import _faces

    for name, path in sorted(kcorpus[variant].items()):
        show, val, api = _faces(str(path))
        assert show == val == api, name


@pytest.mark.parametrize("variant", VARIANTS)
def test_stale_command_line_finding_names_a_memory_type(kcorpus: dict, variant: str) -> None:
    with efitables.open(str(kcorpus[variant]["vmcore"])) as d:
        stale = [f for f in d.findings if f.code == "BOOT-XC-CMDLINE-STALE"]
        assert stale
        assert not any(re.search(r"\bNone\b", f.message) for f in stale), [f.message for f in stale]


@pytest.mark.parametrize("variant", VARIANTS)
def test_show_answers_from_the_kernels_copies(kcorpus: dict, variant: str) -> None:
    """Issue 14's 'done when': on the kdump capture `show` gives the system table address, every table the
    kernel's log names with its address, the memory map and the command line, from the kernel's copies, as
    the first kernel printed them before it crashed."""
    from click.testing import CliRunner

    from efitables.cli import cli

    t = truth(variant)
    efi = t["efi"]
    labels = {"ACPI 2.0": "ACPI 2.0", "ACPI": "ACPI 1.0", "SMBIOS": "SMBIOS", "SMBIOS 3.0": "SMBIOS3"}
    for name, path in sorted(kcorpus[variant].items()):
        r = CliRunner().invoke(cli, ["show", str(path)])
        rows = {ln[:15].strip(): ln[15:] for ln in r.output.splitlines() if ln[:15].strip()}
        assert rows["system table"].startswith(f"{efi['systab_phys']:#x} via efi_info"), name
        assert "not in this dump (this dump holds System RAM only" in rows["system table"], name
        tables = rows["config tables"]
        assert tables.startswith("array not in this dump; the kernel's efi struct: "), (name, tables)
        for logged, addr in efi["dmesg_tables"].items():
            if logged in labels:
                assert f"{labels[logged]} {addr:#x}" in tables, (name, logged, tables)
        assert f"MEMATTR {efi['dmesg_tables']['MEMATTR']:#x}" in tables, name
        mm = rows["memory map"]
        assert f"the kernel's efi.memmap: {len(efi['runtime_map'])} descriptors of " in mm, (name, mm)
        cmdline = t["cmdline"]
        assert f'cmdline "{cmdline[:50]}' in rows["boot_params"] and "(kernel's saved_command_line)" in rows[
            "boot_params"], name


@pytest.mark.parametrize("variant", VARIANTS)
def test_coverage_of_the_crash_image(kcorpus: dict, variant: str) -> None:
    """The loaded crash image lies in the crashkernel= reservation, which the vmcore and makedumpfile leave
    out: coverage lists its segments from the kernel's kimage, says that neither they nor its identity map
    are in the dump, and judges the running kernel's inputs instead (said in the report)."""
    t = truth(variant)
    crash = t["kdump"]["crashkernel"]
    lo, hi = crash["start"], crash["end"] + 1
    for name, path in sorted(kcorpus[variant].items()):
        with efitables.open(str(path)) as d:
            rep = d.coverage(pgd="auto")
            im = rep.image
            assert im is not None and im.symbol == "kexec_crash_image" and im.image_type == "crash", name
            assert im.segments and all(lo <= s.mem and s.end <= hi for s in im.segments), name
            assert {s.verdict for s in im.segments} == {"not walked"}, name  # the map is not in the dump
            assert im.inputs == "the running kernel's (kexec_crash_image's segments are not in the dump)", name
            by_code = {f.code: f for f in rep.findings}
            n = len(im.segments)
            assert by_code["KEXEC-NO-ZERO-PAGE"].message == (
                f"none of its {n} segments is in the dump (a crash image lies in the crashkernel= reservation, "
                "which a vmcore leaves out)"
            ), name
            assert by_code["COVERAGE-PGD-NOT-IN-DUMP"].address == im.pgd, name
