"""Property: every mutation of a sample dump gives a verdict (findings or clean) in bounded time.

Hypothesis mutates copies of the sample dumps (flips bytes in and around the
structures, truncates the file, splices pointer fields to hostile values) and
runs :func:`efitables.validate.validate_path`, which re-raises any exception a
parser lets escape (as InternalError): such an exception fails the test and is
a parser bug. A dump that cannot be opened is fine (exit code 2, stage
"open"); an error while parsing one that opened is not.

Bounded: ~50 examples per property, one shared tmp file per test.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_mutations import (
    ALL_SAMPLES,
    BOOT_PARAMS,
    CFG_ARRAY,
    MEMMAP,
    RSDP,
    RUNTIME,
    SYSTAB,
    VENDOR,
    SampleImage,
)

from dumps import make_samples as ms
from efitables.diff import diff_snapshots, snapshot
from efitables.dump import Dump
from efitables.sarif import sarif_log
from efitables.validate import EXIT_ERROR, validate_path

#: Seconds one mutated dump may take to validate (they take ~0.05 s; CI machines are slower).
TIME_BOUND = 10.0
#: Examples per property; raise it to hunt for bugs: EFITABLES_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz_samples.py
EXAMPLES = int(os.environ.get("EFITABLES_FUZZ_EXAMPLES", "50"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the explicit TIME_BOUND below, with the dump in the message
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

_IMAGES: dict[str, SampleImage] = {}


def image(name: str) -> SampleImage:
    if name not in _IMAGES:
        _IMAGES[name] = SampleImage(name)
    img = SampleImage.__new__(SampleImage)
    src = _IMAGES[name]
    img.name, img.data, img.segments = src.name, bytearray(src.data), src.segments
    return img


#: Where the structures are: flips land in and around them.
TARGETS = [
    SYSTAB,
    CFG_ARRAY,
    VENDOR,
    RUNTIME,
    MEMMAP,
    BOOT_PARAMS,
    BOOT_PARAMS + 0x1C0,
    BOOT_PARAMS + 0x200,
    RSDP,
    0x710000,
    0x720000,
    0x730000,
    0x300000,
    0x300200,
]
#: Pointer and count fields (physical address, width).
POINTERS = [
    (SYSTAB + 0x18, 8),  # FirmwareVendor
    (SYSTAB + 0x58, 8),  # RuntimeServices
    (SYSTAB + 0x68, 8),  # NumberOfTableEntries
    (SYSTAB + 0x70, 8),  # ConfigurationTable
    (SYSTAB + 0x38, 4),  # 32-bit RuntimeServices
    (SYSTAB + 0x40, 4),  # 32-bit NumberOfTableEntries
    (SYSTAB + 0x44, 4),  # 32-bit ConfigurationTable
    (SYSTAB + 0x0C, 4),  # HeaderSize
    *[(CFG_ARRAY + 16 + 24 * i, 8) for i in range(6)],  # VendorTable
    *[(CFG_ARRAY + 16 + 20 * i, 4) for i in range(6)],  # 32-bit VendorTable
    *[(BOOT_PARAMS + 0x1C0 + 4 * i, 4) for i in range(8)],  # efi_info
    (BOOT_PARAMS + 0x1E8, 1),  # e820_entries
    (BOOT_PARAMS + 0x228, 4),  # cmd_line_ptr
    (BOOT_PARAMS + 0x238, 4),  # cmdline_size
    (BOOT_PARAMS + 0x250, 8),  # setup_data
    (BOOT_PARAMS + 0x13C, 4),  # cc_blob_address
    (BOOT_PARAMS + 0x70, 8),  # acpi_rsdp_addr
    *[(MEMMAP + 48 * i + off, 8) for i in range(3) for off in (8, 16, 24)],  # descriptor fields
    (RUNTIME + 0x18, 8),  # GetTime
    (RSDP + 16, 4),  # RsdtAddress
    (RSDP + 24, 8),  # XsdtAddress
]
HOSTILE_VALUES = st.one_of(
    st.sampled_from(
        [
            0,
            1,
            0xFFFFFFFF,
            (1 << 64) - 1,
            1 << 63,
            1 << 52,
            SYSTAB,
            CFG_ARRAY,
            MEMMAP,
            BOOT_PARAMS,
            BOOT_PARAMS + 0x250,  # a setup_data node on the zero page itself
            RSDP,
            0x7FFFF8,  # the last 8 bytes of the 8 MiB samples
            0x800000,  # just past them
            0x9F000,  # a hole in the ELF sample
            ms.ABOVE_4G,
            ms.VIRT_OFFSET + CFG_ARRAY,
            ms.VIRT_OFFSET + 0x7FF000,
            0x7FFFFFFF,
            0x10000,
        ]
    ),
    st.integers(0, (1 << 64) - 1),
)


@st.composite
def flips(draw: st.DrawFn) -> list[tuple[str, int, int]]:
    out = []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            out.append(("pa", draw(st.sampled_from(TARGETS)) + draw(st.integers(0, 0x1FF)), draw(st.integers(1, 255))))
        else:  # container headers: the ELF header and program headers, a raw image's first page
            out.append(("file", draw(st.integers(0, 0x3FF)), draw(st.integers(1, 255))))
    return out


@st.composite
def splices(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    n = draw(st.integers(1, 4))
    return [(*draw(st.sampled_from(POINTERS)), draw(HOSTILE_VALUES)) for _ in range(n)]


def apply_flips(img: SampleImage, ops: list[tuple[str, int, int]]) -> None:
    for where, pos, x in ops:
        try:
            off = img.off(pos) if where == "pa" else pos
        except KeyError:
            continue  # not in this sample
        if off < len(img.data):
            img.data[off] ^= x


def apply_splices(img: SampleImage, ops: list[tuple[int, int, int]]) -> None:
    for pa, width, value in ops:
        try:
            img.write(pa, (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little"))
        except KeyError:
            continue


def check(path: Path, what: str) -> None:
    t0 = time.perf_counter()
    v = validate_path(str(path))  # a parser exception propagates (InternalError) and fails the test
    secs = time.perf_counter() - t0
    assert secs < TIME_BOUND, f"{what}: {secs:.1f} s"
    if v.error is not None:
        assert v.stage == "open" and v.exit_code == EXIT_ERROR, f"{what}: error while parsing: {v.stage}: {v.error}"
    else:
        assert v.exit_code in (0, 1)
    # every output format can be produced from whatever the dump held
    json.dumps(v.to_dict())
    json.dumps(sarif_log([v]))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(name=st.sampled_from(ALL_SAMPLES), ops=flips())
def test_flipped_bytes(work: Path, name: str, ops: list) -> None:
    img = image(name)
    apply_flips(img, ops)
    check(img.save(work, "flip-" + name), f"{name} flips {ops}")


@FUZZ
@given(name=st.sampled_from(ALL_SAMPLES), ops=splices())
def test_spliced_pointers(work: Path, name: str, ops: list) -> None:
    img = image(name)
    apply_splices(img, ops)
    if name != "seabios.raw" and img.data[:4] != b"\x7fELF":
        img.fix_crc(SYSTAB)  # a valid CRC, so the system table is accepted by every route
    check(img.save(work, "splice-" + name), f"{name} splices {[(hex(a), w, hex(v)) for a, w, v in ops]}")


@FUZZ
@given(name=st.sampled_from(ALL_SAMPLES), data=st.data())
def test_truncated(work: Path, name: str, data: st.DataObject) -> None:
    img = image(name)
    n = len(img.data)
    near = [img.off(pa) for pa in TARGETS if _has(img, pa)] + [0x40, 0x1000, n - 1]
    cut = data.draw(st.one_of(st.integers(1, n - 1), st.sampled_from(near).map(lambda o: max(1, o + 8))))
    img.data = img.data[:cut]
    check(img.save(work, "cut-" + name), f"{name} truncated to {cut:#x}")


@FUZZ
@given(name=st.sampled_from(ALL_SAMPLES), f=flips(), s=splices(), cut=st.none() | st.integers(0x1000, 0x900000))
def test_combined_and_diff(work: Path, name: str, f: list, s: list, cut: int | None) -> None:
    img = image(name)
    apply_splices(img, s)
    apply_flips(img, f)
    if cut is not None:
        img.data = img.data[:cut]
    p = img.save(work, "mix-" + name)
    check(p, f"{name} splices {s} flips {f} cut {cut}")
    # diff against the pristine sample: bounded, never an exception (unless the mutant cannot be opened)
    from efitables.errors import DumpOpenError

    try:
        with Dump.open(str(p)) as b:
            sb = snapshot(b)
    except DumpOpenError:
        return
    with Dump.open(str(Path(ms.OUT) / name)) as a:
        json.dumps(diff_snapshots(snapshot(a), sb).to_dict())


def _has(img: SampleImage, pa: int) -> bool:
    try:
        img.off(pa)
    except KeyError:
        return False
    return True


def test_regression_huge_zero_fill_segment(work: Path) -> None:
    """Found by test_combined_and_diff: a PT_LOAD whose p_memsz claims 408 GiB beyond its p_filesz
    made the zero-page scan stream 408 GiB of zeros (a hang). Zero-fill is now skipped by scans."""
    img = image("ovmf64-virt.elf")
    phoff, phnum = int.from_bytes(img.data[0x20:0x28], "little"), int.from_bytes(img.data[0x38:0x3A], "little")
    for i in range(phnum):
        o = phoff + 56 * i
        if int.from_bytes(img.data[o + 0x18 : o + 0x20], "little") == ms.ABOVE_4G:  # p_paddr
            img.data[o + 0x28 : o + 0x30] = (0x6600010000).to_bytes(8, "little")  # p_memsz
            break
    else:
        raise AssertionError("no PT_LOAD above 4 GiB in the sample")
    check(img.save(work, "zero-fill.elf"), "p_memsz 0x6600010000")


def test_regression_note_offset_past_the_file(work: Path) -> None:
    """Found by test_flipped_bytes: a PT_NOTE p_offset with its top byte set (file offset 0x4f ^= 0x80)
    reached os.pread as an offset too large for a C long (OverflowError)."""
    img = image("ovmf64-virt.elf")
    apply_flips(img, [("file", 79, 128)])
    check(img.save(work, "note-offset.elf"), "PT_NOTE p_offset >= 2**63")
