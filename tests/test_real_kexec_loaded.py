"""Real kernels dumped with a kexec image loaded (dumps/real: ``kexecload``, ``kexecfile``, ``kexecload612``).

Each guest (dumps/real/guest/init) loaded a second kernel and was dumped with it loaded, not started:
``kexecload`` with kexec-tools ``-d -c -l`` (the ``kexec_load`` syscall: kexec-tools printed every
segment it passed and where it put the next kernel's zero page and command line), ``kexecfile`` with
``-d -s -l`` (``kexec_file_load``: the kernel built and placed the image). Then each guest read its own
``struct kimage`` back through /proc/kcore (layouts from bpftool's dump of its BTF), computed the
identity map's root the way its kernel does (6.1's ``machine_kexec_prepare``: the first control page;
``kexecload612``, Debian's 6.12 backport: ``kimage->arch.pgd``), walked that map itself for each
segment, the EFI system table and the configuration table array, and walked the image's page list
(awk) to print each segment's first page as the next kernel will find it.

Issue 14's last "done when": ``coverage --pgd auto`` on such a dump lists the real segments and walks
the kexec map, with no ``--pgd scan``; and the rows judge the next kernel's inputs, read out of the
image through its page list.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import test_real_dumps as R
from click.testing import CliRunner

import efitables
from efitables.analysis.coverage import collect
from efitables.cli import cli

VARIANTS = [v for v in ("kexecload", "kexecfile", "kexecload612") if (R.CORPUS / f"{v}.elf.xz").exists()]
pytestmark = pytest.mark.skipif(not VARIANTS, reason="no kexec-loaded dump in dumps/real/corpus")
#: Where the identity map's root is, by what the guest's kernel has (dumps/real/guest/init: ``pgd_source``).
PGD_SOURCE = {"control_code_page": "first page of kexec_image->control_code_page", "arch.pgd": "kexec_image->arch.pgd"}
#: The coverage model ``--model auto`` picks for each guest kernel's release (its uname -r, up to "-"/"+").
MODEL = {"6.1.0": "v6.1.188", "6.12.95": "v6.12"}
#: Documentation/arch/x86/boot.rst: the setup header's "HdrS" at 0x202 of the zero page.
HDRS = (0x202, b"HdrS")


@pytest.fixture(scope="module", params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def truth(variant: str) -> dict:
    return json.loads((R.CORPUS / f"{variant}.truth.json").read_text())


@pytest.fixture(scope="module")
def dumps(real_files, variant: str, truth: dict) -> dict[str, Path]:
    """The QEMU ELF, and a LiME of its System RAM only (what LiME or AVML would have captured)."""
    return {"elf": real_files.elf(variant), "ram-lime": real_files.ram_lime(variant, truth)}


def first_pages(truth: dict) -> dict[int, bytes]:
    """Each segment's first page as the next kernel will find it: the guest walked its own page list (awk)
    and read the page that holds it through /proc/kcore."""
    out = {}
    for f in truth["kexec_load"]["kimage"]["segment_first_pages"]:
        assert f["src"] != -1, f  # every segment's first page was found in the list
        out[f["mem"]] = bytes.fromhex(f["bytes"])
    return out


def zero_page_truth(truth: dict) -> int:
    """Where the next kernel's zero page is, as the guest said: the one segment whose first page holds a
    setup header; for kexec_load, also where kexec-tools said it put "real_mode_data"."""
    (zp,) = [mem for mem, page in first_pages(truth).items() if page[HDRS[0] : HDRS[0] + 4] == HDRS[1]]
    kl = truth["kexec_load"]
    if kl["syscall_option"] == "-c":
        assert zp == kl["real_mode_data"]
    return zp


def segments_truth(truth: dict) -> list[tuple[int, int, int]]:
    """(mem, memsz, bufsz) of each segment: what kexec-tools passed (-c), else the kimage the guest read."""
    kl = truth["kexec_load"]
    if kl["syscall_option"] == "-c":
        assert [(g["mem"], g["memsz"], g["bufsz"]) for g in kl["segments"]] == [
            (g["mem"], g["memsz"], g["bufsz"]) for g in kl["kimage"]["segments"]
        ]
    return [(g["mem"], g["memsz"], g["bufsz"]) for g in kl["kimage"]["segments"]]


def _coverage_json(path: Path) -> tuple[int, dict]:
    """``efitables coverage --pgd auto --json``: exit code and the document, checked against its JSON Schema."""
    from test_json_schemas import check

    r = CliRunner().invoke(cli, ["coverage", str(path), "--pgd", "auto", "--json"])
    return r.exit_code, check("coverage", r.stdout)


def _probe(truth: dict, name: str) -> dict:
    return next(p for p in truth["kexec_load"]["kimage"]["probes"] if p["name"] == name)


@pytest.mark.parametrize("container", ["elf", "ram-lime"])
def test_coverage_lists_the_real_segments_and_walks_the_kexec_map(
    dumps: dict[str, Path], truth: dict, container: str
) -> None:
    """The loaded image's kimage, entry, identity map and segments, as the guest read them; each segment,
    the system table and the configuration table array mapped by the walked map, as the guest's walk saw."""
    kl, ki = truth["kexec_load"], truth["kexec_load"]["kimage"]
    code, rep = _coverage_json(dumps[container])
    assert code == 0 and rep["ok"] is True
    im = rep["image"]
    assert im["symbol"] == "kexec_image" and im["type"] == "default"
    assert im["address"] == ki["kexec_image"] - truth["page_offset_base"]  # a kmalloc'd kimage: the direct map
    assert im["address_hex"] == hex(im["address"]) and im["pgd_hex"] == hex(ki["pgd_phys"])
    assert im["start"] == ki["fields"]["start"] and (kl["entry"] is None or im["start"] == kl["entry"])
    assert im["pgd"] == ki["pgd_phys"] and im["pgd_source"] == PGD_SOURCE[ki["pgd_source"]]
    assert all(s["mem_hex"] == hex(s["mem"]) and s["end_hex"] == hex(s["end"]) for s in im["segments"])
    assert [(s["mem"], s["memsz"], s["bufsz"]) for s in im["segments"]] == segments_truth(truth)
    # the walk is of the image's own map (no --pgd scan), and agrees with the guest's walk of it
    pt = rep["page_table"]
    assert pt["root"] == ki["pgd_phys"] and im["pgd_source"] in pt["root_source"]
    assert pt["complete"] and pt["non_identity_leaves"] == 0
    for s in im["segments"]:
        first, last = _probe(truth, f"segment{s['index']}.first"), _probe(truth, f"segment{s['index']}.last")
        assert first["mapped"] and last["mapped"]
        assert s["verdict"] == "covered", s
    walked = {r["kind"]: r for r in rep["rows"] if r["map"] == "page-table"}
    assert _probe(truth, "systab")["mapped"] and walked["efi_systab"]["verdict"] == "covered"
    assert walked["efi_systab"]["start"] == truth["efi"]["systab_phys"]
    if container == "elf":
        assert _probe(truth, "config_table.last")["mapped"] and walked["efi_config_array"]["verdict"] == "covered"
        assert walked["efi_config_array"]["start"] == truth["efi"]["config_table"]
    else:
        # System RAM only: the array's length is in the firmware's system table, which is not in the
        # capture (the system table's address comes from the kernel's copies); the array is left out, said
        assert "efi_config_array" not in walked
        (why,) = [f for f in rep["findings"] if f["code"] == "COVERAGE-INPUT"]
        assert why["structure"] == "EFI configuration table array (kernel efi_config_table)"
        assert why["address"] == truth["efi"]["config_table"]
    # a guest without pdpe1gb: 2 MiB leaves, as the guest's walk saw
    assert ki["cpu_gbpages"] == 0 and {p["size"] for p in ki["probes"] if p["mapped"]} == {"2M"}
    assert rep["model"]["name"] == MODEL[truth["uname"]["release"].split("-")[0].split("+")[0]]
    assert rep["segments_source"] == "kexec_image"
    assert "COVERAGE-PGD-NOT-IDENTITY" not in {f["code"] for f in rep["findings"]}
    assert "COVERAGE-PGD-SCANNED" not in {f["code"] for f in rep["findings"]}


@pytest.mark.parametrize("container", ["elf", "ram-lime"])
def test_rows_judge_the_next_kernels_inputs(dumps: dict[str, Path], truth: dict, container: str) -> None:
    """The zero page, command line and setup_data judged are the ones the loader (kexec-tools, or the
    kernel for kexec_file_load) built into the image, read through the kimage's page list, not the
    running kernel's."""
    kl = truth["kexec_load"]
    zp = zero_page_truth(truth)
    segs = segments_truth(truth)
    with efitables.open(str(dumps[container])) as d:
        col = collect(d)
        nk = col.next_kernel
        assert nk is not None and nk.dump is not None and nk.pages is not None
        assert nk.pages.done and nk.pages.findings == []
        # every page of every segment has its source page in the list (kimage_load_normal_segment)
        assert len(nk.pages.sources) == sum(-(-memsz // 4096) for _mem, memsz, _bufsz in segs)
        assert nk.boot_params == zp and segs[nk.segment][0] == zp
        # each segment's first page through the view is the page the guest's own walk found
        for mem, page in first_pages(truth).items():
            assert nk.memory.read(mem, 4096) == page, hex(mem)
        bp = nk.dump.boot_params
        assert bp is not None and bp.address == zp and bp.has_hdrs
        assert bp.raw == first_pages(truth)[zp]
        if kl["syscall_option"] == "-c":
            assert (bp.ramdisk_image, bp.ramdisk_size) == (kl["initrd"]["addr"], kl["initrd_size"])
        assert bp.ramdisk_size == kl["initrd_size"]
        assert bp.command_line is not None and bp.command_line.text == kl["append"]
        efi = truth["efi"]
        assert bp.efi_systab == efi["systab_phys"]
        sd = nk.dump.setup_data
        assert sd is not None and [n.type for n in sd] == [4]  # SETUP_EFI only, from either loader
        node = sd.nodes[0]
        assert any(mem <= node.address < mem + memsz for mem, memsz, _bufsz in segs)
        assert node.payload.tables == efi["config_table"]  # the array the kernel saved (/sys/firmware/efi)
        # the objects' addresses are the next kernel's
        inp = col.inputs
        assert inp.boot_params == zp
        assert inp.cmdline == bp.cmd_line_ptr and inp.cmdline_len == len(kl["append"]) + 1
        assert [n.address for n in inp.setup_nodes] == [node.address]
        assert inp.config_array == efi["config_table"]
        rep = d.coverage(pgd="auto")
        assert rep.image is not None
        assert rep.image.inputs.startswith(f"kexec_image's: zero page at segment {nk.segment} @ {zp:#x}")
        rows = {(r.kind, r.map): r for r in rep.rows}
        assert rows[("boot_params", "kexec")].start == zp
        # the running kernel's own zero page is elsewhere: the kernel's copy in its image
        assert d.boot_params is not None and d.boot_params.address == truth["boot_params"]["phys"] != zp


def test_a_looping_page_list_in_the_real_image(dumps: dict[str, Path], truth: dict) -> None:
    """The real image with its first entry page pointing back at itself: a finding at that entry, the rows
    fall back to the running kernel's inputs (said in one finding), and the segments are still judged."""
    from efitables.memory import open_memory

    head = truth["kexec_load"]["kimage"]["fields"]["head"]
    first_page = head & ~0xFFF
    loop = struct.pack("<Q", first_page | 0x2)  # IND_INDIRECTION to itself
    with open_memory(str(dumps["elf"])) as mem:
        d = efitables.Dump(R._Patched(mem, {first_page + i: b for i, b in enumerate(loop)}))
        rep = d.coverage(pgd="auto")
        by_code = {f.code: f for f in rep.findings}
        f = by_code["KEXEC-PAGE-LIST"]
        assert (f.structure, f.address) == ("kernel kexec_image->head", first_page)
        assert f.message == f"indirection page {first_page:#x} again: the list loops"
        assert "KEXEC-NO-ZERO-PAGE" in by_code
        assert rep.image is not None and rep.image.inputs.startswith("the running kernel's")
        assert [s.verdict for s in rep.image.segments] == ["covered"] * len(segments_truth(truth))
        assert rep.walk is not None and rep.walk.root == truth["kexec_load"]["kimage"]["pgd_phys"]


def test_tui_coverage_lists_the_segments(dumps: dict[str, Path], truth: dict) -> None:
    """The TUI's coverage screen shows what the CLI prints: a row per segment, and whose inputs are judged."""
    pytest.importorskip("textual")
    import asyncio

    from tui_helpers import open_coverage, screen_text, wait_loaded

    from efitables_tui.app import EfitablesApp
    from efitables_tui.screens.coverage_screen import IMAGE_MAP, image_rows

    segs_truth = segments_truth(truth)

    async def run() -> None:
        app = EfitablesApp(efitables.open(str(dumps["elf"])))
        async with app.run_test(size=(160, 50)) as pilot:
            await wait_loaded(app, pilot)
            screen = await open_coverage(app, pilot)
            rep = screen.report
            assert rep is not None and rep.image is not None
            segs = [r for r in screen.rows if r.map == IMAGE_MAP]
            assert segs == image_rows(rep) and screen.rows[: len(segs)] == segs
            assert [(r.start, r.end - r.start) for r in segs] == [(mem, memsz) for mem, memsz, _b in segs_truth]
            assert {r.verdict for r in segs} == {"not walked"}  # the CLI's default: no --pgd
            text = screen_text(app)
            assert "kexec_image segment [0]" in text
            assert rep.image.inputs.startswith("kexec_image's: zero page at segment ")
            assert f"inputs: {rep.image.inputs[:48]}" in text

    asyncio.run(run())


def test_a_secret_in_the_next_kernels_setup_data_is_withheld(dumps: dict[str, Path], truth: dict) -> None:
    """A loader that puts an RNG seed in the image (SETUP_RNG_SEED, newer kexec-tools and kernels): the real
    image's SETUP_EFI node rewritten into one, in the page that holds it until kexec -e. The next kernel's
    Dump withholds the seed like any dump does, unless the dump was opened with show_secrets."""
    from efitables.memory import open_memory

    nk0 = efitables.open(str(dumps["elf"])).next_kernel
    assert nk0 is not None and nk0.dump is not None and nk0.pages is not None
    node_pa = nk0.dump.setup_data.nodes[0].address
    src = nk0.pages.source_of(node_pa)
    seed = bytes.fromhex("5be0cd9919137e2179fa0a9bd7ffbd6b61c1b9e7a4f2e6d3c8b5a49f8e7d6c5b")
    header = struct.pack("<QII", 0, 9, len(seed))  # next, type SETUP_RNG_SEED, len (setup_data.h)
    patch = {src + i: b for i, b in enumerate(header + seed)}
    for show in (False, True):
        with open_memory(str(dumps["elf"])) as mem:
            d = efitables.Dump(R._Patched(mem, patch), show_secrets=show)
            nk = d.next_kernel
            assert nk is not None and nk.dump is not None
            (node,) = nk.dump.setup_data.nodes
            assert (node.address, node.type, node.len) == (node_pa, 9, 32)
            p = node.payload
            assert p.kind == "SETUP_RNG_SEED" and p.seed is not None and p.seed.length == 32
            assert (p.seed.value == seed) is show and p.redacted is not show
            got = nk.dump.memory.read(node_pa + 16, 32, "another reader")
            assert got == (seed if show else bytes(32))


def test_two_segments_with_a_setup_header(dumps: dict[str, Path], truth: dict) -> None:
    """A second segment whose first page also holds a setup header (HdrS, protocol 2.15): the first one is
    taken, and one finding lists both."""
    from efitables.memory import open_memory

    nk0 = efitables.open(str(dumps["elf"])).next_kernel
    assert nk0 is not None and nk0.pages is not None and nk0.segment is not None
    segs = segments_truth(truth)
    other = next(i for i, (mem, memsz, _b) in enumerate(segs) if i != nk0.segment and memsz >= 4096)
    src = nk0.pages.source_of(segs[other][0])
    patch = {src + 0x202 + i: b for i, b in enumerate(b"HdrS" + struct.pack("<H", 0x020F))}
    with open_memory(str(dumps["elf"])) as mem:
        d = efitables.Dump(R._Patched(mem, patch))
        nk = d.next_kernel
        assert nk is not None
        hits = sorted([(nk0.segment, nk0.boot_params), (other, segs[other][0])])
        assert (nk.segment, nk.boot_params) == hits[0]
        (f,) = [f for f in nk.findings if f.code == "KEXEC-ZERO-PAGES"]
        assert f.message == ", ".join(f"segment {i} @ {pa:#x}" for i, pa in hits)
