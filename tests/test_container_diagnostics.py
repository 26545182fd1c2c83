"""Container diagnostics stay safe and bounded on hostile files.

* AVML: a header or trailer that fails its check may be page data (a walk gone off the rails), so its
  bytes may be a secret (an SNP VMPCK page). AVML-BAD-HEADER and AVML-BAD-STREAM name the structure, its
  file offset and what is wrong, never the failed field's value: not in the finding, not in
  ``efitables show --json``, not in the one-line error of a file whose first header is bad.
* VMware: VMWARE-BAD-REGION goes through the container's per-code cap, so 10,000 bad regions are
  :data:`MAX_FINDINGS_PER_CODE` findings plus one that counts the rest.

The files are built with the fixture builders of ``test_input_formats`` (imported, not copied).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_input_formats import (
    HOLE_LO,
    PAGE,
    RAM,
    B,
    C,
    _vm,
    avml_block,
    build_vmss,
    run,
    tag,
)

from efitables.errors import DumpFormatError
from efitables.memory import open_memory
from efitables.memory import vmware as vmware_mod
from efitables.memory.base import MAX_FINDINGS_PER_CODE
from efitables.schemas.avml import AVML_HEADER_SIZE, AVML_TRAILER_SIZE

#: A secret-like pattern: 16 distinctive bytes, none zero, so no rendering of any piece of it is short.
SECRET = bytes.fromhex("c0ffee5ec2e7a11ba5edd00dfacade99")


def renderings(secret: bytes) -> set[str]:
    """Every way a message could quote (part of) ``secret``: its bytes as hex (either order, any 4 bytes in
    a row, as ``{:x}`` of a little-endian field prints them), as decimal fields, and as a bytes repr."""
    out = {secret.hex(), secret.hex().upper(), "".join(f"\\x{b:02x}" for b in secret[:4])}
    for i in range(len(secret) - 3):
        piece = secret[i : i + 4]
        out |= {piece.hex(), piece[::-1].hex(), piece.hex().upper(), piece[::-1].hex().upper()}
    for width in (4, 8):
        for i in range(0, len(secret) - width + 1, 4):
            out.add(str(int.from_bytes(secret[i : i + width], "little")))
    return out


def leaked(text: str, secret: bytes) -> list[str]:
    found = sorted(r for r in renderings(secret) if r in text)
    if any(secret[i : i + 4].decode("latin-1") in text for i in range(len(secret) - 3)):
        found.append("raw bytes")
    return found


def test_renderings_catch_what_the_old_messages_printed() -> None:
    """The check is not vacuous: the forms the old messages used are among the renderings."""
    magic = int.from_bytes(SECRET[:4], "little")
    version = int.from_bytes(SECRET[4:8], "little")
    old = f"magic {magic:#010x} version {version} is neither AVML/2 nor LiME/1"
    assert {SECRET[:4][::-1].hex(), str(version)} <= set(leaked(old, SECRET))
    trailer = int.from_bytes(SECRET[8:], "little")
    assert SECRET[12:][::-1].hex() in leaked(f"trailer says the stream is {trailer:#x} bytes", SECRET[8:])
    assert leaked(bytes(SECRET).decode("latin-1"), SECRET) == ["raw bytes"]
    assert leaked("padding is not zero", SECRET) == []


def _show_json(path: Path) -> tuple[str, dict]:
    code, out, err = run("show", "--json", str(path))
    assert (code, err) == (0, "")  # warnings only: show exits 0
    return out, json.loads(out)


# (offset of the secret in the second header, the problem the finding names)
HEADER_CASES = [
    (0, "magic is not AVML's (nor LiME's)"),  # magic, version, start
    (4, "magic is AVML's but the version is not 2"),  # version, start, end's low half
    (8, "the range's end is beyond the 52-bit physical address space"),  # start, end
    (16, "padding is not zero"),  # end, padding
]


@pytest.mark.parametrize(("at", "problem"), HEADER_CASES)
def test_avml_bad_header_names_the_offset_not_the_bytes(tmp_path: Path, at: int, problem: str) -> None:
    first = avml_block(0x1000, B)
    second = bytearray(avml_block(0x100000, C))
    second[at : at + len(SECRET)] = SECRET
    p = tmp_path / "secret.avml"
    p.write_bytes(first + bytes(second))
    hdr = len(first)
    expected = f"header at file offset {hdr:#x}: {problem}; {len(second):#x} bytes from here are ignored"
    with open_memory(str(p)) as mem:
        assert mem.info.details["indexed"] == "chunk walk"
        (f,) = mem.findings
        assert (f.code, f.structure, f.address, f.message) == ("AVML-BAD-HEADER", "AVML block header", None, expected)
        assert leaked(f.message, SECRET) == []
        # the block before it is whole and reads
        assert [(r.start, r.end) for r in mem.ranges()] == [(0x1000, 0x1000 + len(B))]
        assert mem.read(0x1000, len(B)) == B
    out, doc = _show_json(p)
    avml = [f for f in doc["findings"] if f["code"].startswith("AVML-")]
    assert avml == [{"code": "AVML-BAD-HEADER", "severity": "warning", "structure": "AVML block header",
                     "address": None, "message": expected}]
    assert leaked(out, SECRET) == []


def test_avml_bad_first_header_error_names_the_offset_not_the_bytes(tmp_path: Path) -> None:
    """Forced as AVML, a file whose first header is not one: refused, the one-line error quotes nothing of it."""
    block = bytearray(avml_block(0x100000, C))
    block[:16] = SECRET
    p = tmp_path / "first.avml"
    p.write_bytes(bytes(block))
    with pytest.raises(DumpFormatError) as ei:
        open_memory(str(p), "avml")
    assert ei.value.reason == "AVML header at file offset 0x0: magic is not AVML's (nor LiME's)"
    code, out, err = run("show", "--json", "--format", "avml", str(p))
    assert code == 2
    assert err == f"efitables: {p}: AVML header at file offset 0x0: magic is not AVML's (nor LiME's)\n"
    assert json.loads(out)["error"] == f"{p}: AVML header at file offset 0x0: magic is not AVML's (nor LiME's)"
    assert leaked(out + err, SECRET) == []


def test_avml_bad_trailer_names_its_offset_not_its_value(tmp_path: Path) -> None:
    trailer = int.from_bytes(SECRET[8:], "little")  # 8 secret bytes where block A's length trailer is
    first = avml_block(0x1000, B, trailer=trailer)
    stream_len = len(first) - AVML_HEADER_SIZE - AVML_TRAILER_SIZE
    trailer_at = AVML_HEADER_SIZE + stream_len
    assert first[trailer_at:] == SECRET[8:]
    p = tmp_path / "trailer.avml"
    p.write_bytes(first + avml_block(0x100000, C))
    expected = (f"block at file offset 0x0 (physical 0x1000-{0x1000 + len(B) - 1:#x}): the length trailer at file "
                f"offset {trailer_at:#x} disagrees with the block's compressed size ({stream_len:#x} bytes, from "
                "its chunks); the chunks are followed")
    with open_memory(str(p)) as mem:
        assert mem.info.details["indexed"] == "chunk walk"
        (f,) = mem.findings
        assert (f.code, f.structure, f.address, f.message) == ("AVML-BAD-STREAM", "AVML block", 0x1000, expected)
        assert leaked(f.message, SECRET[8:]) == []
        assert mem.read(0x1000, len(B)) == B and mem.read(0x100000, len(C)) == C
    out, doc = _show_json(p)
    avml = [f for f in doc["findings"] if f["code"].startswith("AVML-")]
    assert avml == [{"code": "AVML-BAD-STREAM", "severity": "warning", "structure": "AVML block",
                     "address": 0x1000, "address_hex": "0x1000", "message": expected}]
    assert leaked(out, SECRET[8:]) == []


def test_avml_good_header_range_is_still_printed(tmp_path: Path) -> None:
    """Validated values stay: a good header's physical range names the block whose stream is wrong."""
    p = tmp_path / "good.avml"
    p.write_bytes(avml_block(0x1000, B, trailer=1) + avml_block(0x100000, C))
    with open_memory(str(p)) as mem:
        (f,) = mem.findings
        assert f.message.startswith(f"block at file offset 0x0 (physical 0x1000-{0x1000 + len(B) - 1:#x}): ")


# -- VMware: bad regions are capped ------------------------------------------------------------

N_REGIONS = 10_000
#: The omitted-findings summary's message (efitables.caps.omitted).
SUMMARY = "{n} more VMWARE-BAD-REGION findings omitted (the first {k} are listed)"


def _bad(mem: object) -> list:
    return [f for f in mem.findings if f.code == "VMWARE-BAD-REGION"]  # type: ignore[attr-defined]


def test_vmware_ten_thousand_regions_without_tags_are_capped(tmp_path: Path) -> None:
    """regionsCount 10,000 and no region tags: MAX_REGIONS (1024) are looked at, each one bad."""
    vmem = _vm(tmp_path, build_vmss(tag("regionsCount", N_REGIONS)))
    looked = vmware_mod.MAX_REGIONS
    with open_memory(str(vmem)) as mem:
        assert [f.code for f in mem.findings] == (
            ["VMWARE-LIMIT"] + ["VMWARE-BAD-REGION"] * (MAX_FINDINGS_PER_CODE + 1) + ["DUMP-NO-RANGES"])
        assert mem.findings[0].message == f"regionsCount {N_REGIONS}; the first {looked} are used"
        bad = _bad(mem)
        assert [f.message for f in bad[:MAX_FINDINGS_PER_CODE]] == [
            f"region {i}: no regionPPN[{i}], regionPageNum[{i}], regionSize[{i}]; skipped"
            for i in range(MAX_FINDINGS_PER_CODE)]
        summary = bad[-1]
        assert (summary.structure, summary.address, summary.severity.name, summary.message) == (
            "VMware memory region", None, "WARNING",
            SUMMARY.format(n=looked - MAX_FINDINGS_PER_CODE, k=MAX_FINDINGS_PER_CODE))
        assert mem.capped.count("VMWARE-BAD-REGION") == looked
        assert mem.ranges() == []


def test_vmware_ten_thousand_bad_regions_are_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000 regions, all read (the region cap raised): one good, 4,999 beyond 52 bits, 5,000 overlapping
    the good one. 9,999 problems are 16 findings and one summary counting the other 9,983."""
    monkeypatch.setattr(vmware_mod, "MAX_REGIONS", 2 * N_REGIONS)
    far = 1 << 41  # a page number whose address is 2**53: beyond the 52-bit physical address space
    tags = bytearray(tag("regionsCount", N_REGIONS))
    tags += tag("regionPPN", 0, (0,)) + tag("regionPageNum", 0, (0,)) + tag("regionSize", HOLE_LO // PAGE, (0,))
    for i in range(1, N_REGIONS):
        ppn = far if i < N_REGIONS // 2 else 1  # the second half overlaps region 0 (one page at 0x1000)
        tags += tag("regionPPN", ppn, (i,), size=8) + tag("regionPageNum", 0, (i,)) + tag("regionSize", 1, (i,))
    vmem = _vm(tmp_path, build_vmss(bytes(tags)))
    n_far, n_overlap = N_REGIONS // 2 - 1, N_REGIONS // 2
    with open_memory(str(vmem)) as mem:
        assert [f.code for f in mem.findings] == ["VMWARE-BAD-REGION"] * (MAX_FINDINGS_PER_CODE + 1)
        bad = _bad(mem)
        assert [f.message for f in bad[:MAX_FINDINGS_PER_CODE]] == [
            f"region {i} (physical {far * PAGE:#x}-{far * PAGE + PAGE - 1:#x} at file offset 0x0): beyond the "
            "52-bit physical address space; skipped" for i in range(1, MAX_FINDINGS_PER_CODE + 1)]
        assert [f.address for f in bad[:MAX_FINDINGS_PER_CODE]] == [far * PAGE] * MAX_FINDINGS_PER_CODE
        assert bad[-1].message == SUMMARY.format(n=n_far + n_overlap - MAX_FINDINGS_PER_CODE,
                                                 k=MAX_FINDINGS_PER_CODE)
        assert mem.capped.count("VMWARE-BAD-REGION") == n_far + n_overlap == N_REGIONS - 1
        # the good region is placed whole; the overlapping ones add nothing
        assert [(r.start, r.end) for r in mem.ranges()] == [(0, HOLE_LO)]
        assert mem.read(0x1000, 64) == RAM[0x1000:0x1040]
    code, out, _err = run("validate", "--json", str(vmem))
    doc = json.loads(out)
    assert code == doc["summary"]["exit_code"]
    (entry,) = doc["dumps"]
    bad_json = [f for f in entry["findings"] if f["code"] == "VMWARE-BAD-REGION"]
    assert len(bad_json) == MAX_FINDINGS_PER_CODE + 1
    summaries = [f["message"] for f in bad_json if " more VMWARE-BAD-REGION findings omitted" in f["message"]]
    assert summaries == [SUMMARY.format(n=N_REGIONS - 1 - MAX_FINDINGS_PER_CODE, k=MAX_FINDINGS_PER_CODE)]


def test_vmware_regions_past_the_memory_file_are_capped(tmp_path: Path) -> None:
    """VMWARE-TRUNCATED is one per region too: 100 regions whose pages lie past the .vmem's end are 16
    findings (each naming its region) and one counting the other 84."""
    n = 100
    beyond = len(RAM) // PAGE  # the first page number past the end of the .vmem
    tags = bytearray(tag("regionsCount", n))
    for i in range(n):
        tags += tag("regionPPN", 0x1000 + i, (i,)) + tag("regionPageNum", beyond + i, (i,)) + tag("regionSize", 1, (i,))
    vmem = _vm(tmp_path, build_vmss(bytes(tags)))
    with open_memory(str(vmem)) as mem:
        trunc = [f for f in mem.findings if f.code == "VMWARE-TRUNCATED"]
        assert len(trunc) == MAX_FINDINGS_PER_CODE + 1 and _bad(mem) == []
        pa = [(0x1000 + i) * PAGE for i in range(MAX_FINDINGS_PER_CODE)]
        assert [(f.address, f.message) for f in trunc[:MAX_FINDINGS_PER_CODE]] == [
            (a, f"region {i} (physical {a:#x}-{a + PAGE - 1:#x} at file offset {(beyond + i) * PAGE:#x}): the "
                f"memory file ({len(RAM):#x} bytes) holds only 0x0 bytes of it") for i, a in enumerate(pa)]
        assert trunc[-1].message == (f"{n - MAX_FINDINGS_PER_CODE} more VMWARE-TRUNCATED findings omitted "
                                     f"(the first {MAX_FINDINGS_PER_CODE} are listed)")
        assert mem.capped.count("VMWARE-TRUNCATED") == n
        assert mem.ranges() == []
