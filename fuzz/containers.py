"""The seed machine (:mod:`fuzz.machine`) in every container efitables opens, and the way back.

Each :class:`Container` builds its seed file from the machine's physical image with the project's
builders (dumps/builder.py ``Image.write_elf``; tests/test_kdump.py ``build_kdump`` and ``flatten``;
tests/builders_hostile.py ``lime_of_ranges``; the AVML and VMware layouts through their schemas,
efitables/schemas/avml.py and efitables/schemas/vmware.py, as tests/test_input_formats.py builds
them). Every container but raw leaves out the machine's :data:`fuzz.machine.HOLE` page.

For the structure-aware mutator a container gives, for any (mutated) file:

* :meth:`Container.segments`: where physical bytes lie in the file (raw, ELF, LiME: the data is
  stored as is), so a field can be patched in place and earlier container mutations survive; or
* :meth:`Container.rebuild`: for containers whose pages are compressed or framed (kdump, flattened
  kdump, AVML, VMware), the file's physical bytes are read back through efitables' own reader
  (bounded), patched, and the file is built again;
* :meth:`Container.header_fields`: the container's own hostile-worthy fields (file offset, width):
  program headers, LiME ranges, kdump header and descriptors, flattened records, AVML blocks,
  the VMware group table and region tags.

Layout sources: the System V gABI (``Elf64_Ehdr``, ``Elf64_Phdr``, ``Elf32_*``);
504ensicsLabs/LiME src/lime.h@v1.12.0; makedumpfile/makedumpfile diskdump_mod.h@1.7.9 and
makedumpfile.c@1.7.9 (flattened format); microsoft/avml src/image.rs@v0.14.0; crash-utility/crash
vmware_vmss.h@9.0.2.
"""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import cramjam

from dumps.builder import PT_LOAD, PT_NOTE, Image, _elf_schemas, elf_note
from efitables.schemas.avml import AVML_HEADER, AVML_HEADER_SIZE, AVML_MAGIC, AVML_TRAILER, AVML_TRAILER_SIZE
from efitables.schemas.common import field_offset, field_size
from efitables.schemas.vmware import (
    CPT_GROUP_DESC,
    CPT_GROUP_DESC_SIZE,
    CPTDUMP_HEADER,
    CPTDUMP_HEADER_SIZE,
    CPTDUMP_MAGIC_NUMBER,
    TAG_ISBLOCK,
    TAG_MEMORY_BLOCK,
    TAG_REGION_PAGE_NUM,
    TAG_REGION_PPN,
    TAG_REGION_SIZE,
    TAG_REGIONS_COUNT,
    VMSS_BLOCK_HEADER,
    make_tag,
)
from fuzz import machine as M
from tests.builders_hostile import lime_of_ranges
from tests.test_kdump import LZO, SNAPPY, ZLIB, ZSTD, build_kdump, flatten

#: (physical start, physical end, file offset) of bytes stored as they are.
Segments = list[tuple[int, int, int]]
#: (name, file offset, width) of a container header field.
HeaderField = tuple[str, int, int]

#: Largest physical image the mutator reads back to rebuild a file (the seeds hold 64 KiB).
MAX_REBUILD = 1 << 20
#: Program headers, LiME ranges, flattened records, AVML blocks a mutator parse looks at.
MAX_PARSE = 64

# -- ELF ------------------------------------------------------------------------------------------------
_EHDR = {bits: _elf_schemas(bits)[0] for bits in (32, 64)}
_PHDR = {bits: _elf_schemas(bits)[1] for bits in (32, 64)}
_EH = {bits: {n: (field_offset(_EHDR[bits], n), field_size(_EHDR[bits], n)) for n in
              ("e_phoff", "e_phentsize", "e_phnum", "e_shoff", "e_shnum")} for bits in (32, 64)}
_PH = {bits: {n: (field_offset(_PHDR[bits], n), field_size(_PHDR[bits], n)) for n in
              ("p_type", "p_offset", "p_paddr", "p_filesz", "p_memsz")} for bits in (32, 64)}


def _u(data: bytes, off: int, size: int) -> int:
    return int.from_bytes(data[off : off + size], "little") if off + size <= len(data) else 0


def _elf_phdrs(data: bytes) -> tuple[int, list[int]]:
    """(bits, file offset of each program header) of an ELF file, at most MAX_PARSE of them."""
    if data[:4] != b"\x7fELF" or len(data) < 0x34:
        return 64, []
    bits = 64 if data[4] == 2 else 32
    eh = _EH[bits]
    phoff, phent, phnum = _u(data, *eh["e_phoff"]), _u(data, *eh["e_phentsize"]), _u(data, *eh["e_phnum"])
    if phent != _PHDR[bits].sizeof():
        return bits, []
    return bits, [phoff + i * phent for i in range(min(phnum, MAX_PARSE)) if phoff + (i + 1) * phent <= len(data)]


def elf_segments(data: bytes) -> Segments:
    bits, offs = _elf_phdrs(data)
    ph = _PH[bits]
    out = []
    for o in offs:
        if _u(data, *[o + ph["p_type"][0], ph["p_type"][1]]) != PT_LOAD:
            continue
        pa, off, filesz = (_u(data, o + ph[n][0], ph[n][1]) for n in ("p_paddr", "p_offset", "p_filesz"))
        if off < len(data) and filesz:
            out.append((pa, pa + min(filesz, len(data) - off), off))
    return out


def elf_fields(data: bytes) -> list[HeaderField]:
    bits, offs = _elf_phdrs(data)
    out = [(f"ELF.{n}", o, s) for n, (o, s) in _EH[bits].items()]
    for i, o in enumerate(offs):
        out += [(f"phdr[{i}].{n}", o + po, s) for n, (po, s) in _PH[bits].items()]
    return out


def build_elf(image: bytes, bits: int, notes: bool = True) -> bytes:
    img = Image()
    for start, end in ((0, M.HOLE), (M.HOLE + M.PAGE, M.SIZE)):
        img.add_region(start, end - start)
        img.put(start, image[start:end])
    with tempfile.NamedTemporaryFile() as tmp:
        img.write_elf(tmp.name, bits, notes=[elf_note("VMCOREINFO", 0, M.VMCOREINFO)] if notes else None)
        return open(tmp.name, "rb").read()


# -- LiME ------------------------------------------------------------------------------------------------
_LIME_HDR = struct.Struct("<IIQQ8x")  # lime_mem_range_header: magic, version, s_addr, e_addr (inclusive), reserved


def _lime_headers(data: bytes) -> list[int]:
    out: list[int] = []
    pos = 0
    while len(out) < MAX_PARSE and pos + _LIME_HDR.size <= len(data):
        _magic, _ver, s, e = _LIME_HDR.unpack_from(data, pos)
        out.append(pos)
        if e < s or e - s >= len(data):
            break
        pos += _LIME_HDR.size + (e - s + 1)
    return out


def lime_segments(data: bytes) -> Segments:
    out = []
    for pos in _lime_headers(data):
        _m, _v, s, e = _LIME_HDR.unpack_from(data, pos)
        if e >= s:
            n = min(e - s + 1, len(data) - pos - _LIME_HDR.size)
            if n > 0:
                out.append((s, s + n, pos + _LIME_HDR.size))
    return out


def lime_fields(data: bytes) -> list[HeaderField]:
    out = []
    for i, pos in enumerate(_lime_headers(data)):
        out += [(f"lime[{i}].magic", pos, 4), (f"lime[{i}].version", pos + 4, 4), (f"lime[{i}].s_addr", pos + 8, 8),
                (f"lime[{i}].e_addr", pos + 16, 8)]
    return out


def build_lime(image: bytes) -> bytes:
    with tempfile.NamedTemporaryFile() as tmp:
        lime_of_ranges(tmp.name, [(0, image[: M.HOLE]), (M.HOLE + M.PAGE, image[M.HOLE + M.PAGE :])])
        return open(tmp.name, "rb").read()


# -- kdump -----------------------------------------------------------------------------------------------
#: struct disk_dump_header (makedumpfile diskdump_mod.h@1.7.9), the fields a reader uses, by their
#: offsets in the packed x86-64 layout: derived from the format's prefix, not written by hand.
_DDH = "<8si390s6xqq"  # signature, header_version, utsname, tv_sec/tv_usec: then the u32/i32 fields below
_DDH_FIELDS = ["status", "block_size", "sub_hdr_size", "bitmap_blocks", "max_mapnr"]
#: struct kdump_sub_header, version 6.
_SUB_FIELDS = ["phys_base", "dump_level", "split", "start_pfn", "end_pfn", "offset_vmcoreinfo", "size_vmcoreinfo",
               "offset_note", "size_note", "offset_eraseinfo", "size_eraseinfo", "start_pfn_64", "end_pfn_64",
               "max_mapnr_64"]
_SUB = "<QiiQQqQqQqQQQQ"
_PAGE_DESC = struct.Struct("<qIIQ")  # page_desc_t: offset, size, flags, page_flags


def kdump_fields(data: bytes) -> list[HeaderField]:
    out: list[HeaderField] = [("kdump.header_version", struct.calcsize("<8s"), 4)]
    base = struct.calcsize(_DDH)
    out += [(f"kdump.{n}", base + 4 * i, 4) for i, n in enumerate(_DDH_FIELDS)]
    bs = _u(data, base + 4, 4)
    if bs not in (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536):
        return out
    codes = _SUB[1:]
    for i, n in enumerate(_SUB_FIELDS):
        out.append((f"kdump_sub.{n}", bs + struct.calcsize("<" + codes[:i]), struct.calcsize("<" + codes[i])))
    sub_blocks, bitmap_blocks = _u(data, base + 8, 4), _u(data, base + 12, 4)
    desc = bs * (1 + sub_blocks + bitmap_blocks)
    for i in range(min(MAX_PARSE // 4, 16)):
        o = desc + i * _PAGE_DESC.size
        if o + _PAGE_DESC.size > len(data):
            break
        out += [(f"page_desc[{i}].offset", o, 8), (f"page_desc[{i}].size", o + 8, 4),
                (f"page_desc[{i}].flags", o + 12, 4)]
    return out


def _pages(image: bytes) -> dict[int, bytes]:
    return {pa // M.PAGE: image[pa : pa + M.PAGE] for pa in range(0, len(image), M.PAGE) if pa != M.HOLE}


def build_kdump_of(image: bytes, compression: int) -> bytes:
    return build_kdump(_pages(image), max_mapnr=M.SIZE // M.PAGE, compression=compression, vmcoreinfo=M.VMCOREINFO)


_FLAT_REC = struct.Struct(">qq")  # makedumpfile_data_header: offset, buf_size (big-endian)
_FLAT_HEADER = 4096  # MAX_SIZE_MDF_HEADER


def flat_fields(data: bytes) -> list[HeaderField]:
    out: list[HeaderField] = [("flat.type", 16, 8), ("flat.version", 24, 8)]
    pos = _FLAT_HEADER
    for i in range(MAX_PARSE):
        if pos + _FLAT_REC.size > len(data):
            break
        off, size = _FLAT_REC.unpack_from(data, pos)
        out += [(f"flat[{i}].offset", pos, -8), (f"flat[{i}].size", pos + 8, -8)]  # negative width: big-endian
        if size < 0 or off < 0:
            break
        pos += _FLAT_REC.size + size
    return out


def build_flat(image: bytes) -> bytes:
    return flatten(build_kdump_of(image, ZLIB), chunk=3000, seed=1)


# -- AVML -----------------------------------------------------------------------------------------------
def avml_block(start: int, data: bytes) -> bytes:
    """One version-2 block as microsoft/avml src/image.rs writes it: header, snappy-framed stream, trailer."""
    hdr = AVML_HEADER.build({"magic": AVML_MAGIC, "version": 2, "start": start, "end": start + len(data) - 1,
                             "padding": 0})
    stream = bytes(cramjam.snappy.compress(data))
    return hdr + stream + AVML_TRAILER.build({"compressed_length": len(stream)})


def build_avml(image: bytes) -> bytes:
    return avml_block(0, image[: M.HOLE]) + avml_block(M.HOLE + M.PAGE, image[M.HOLE + M.PAGE :])


def avml_fields(data: bytes) -> list[HeaderField]:
    out: list[HeaderField] = []
    pos = 0
    for i in range(MAX_PARSE):
        if pos + AVML_HEADER_SIZE > len(data):
            break
        out += [(f"avml[{i}].{n}", pos + field_offset(AVML_HEADER, n), field_size(AVML_HEADER, n))
                for n in ("magic", "version", "start", "end", "padding")]
        # the stream runs to the trailer; find it by the length the next header needs (the seed's layout)
        nxt = data.find(struct.pack("<I", AVML_MAGIC), pos + AVML_HEADER_SIZE)
        end = len(data) if nxt < 0 else nxt
        if end - AVML_TRAILER_SIZE > pos + AVML_HEADER_SIZE:
            out.append((f"avml[{i}].compressed_length", end - AVML_TRAILER_SIZE, AVML_TRAILER_SIZE))
            out.append((f"avml[{i}].chunk_length", pos + AVML_HEADER_SIZE + 10 + 1, 3))
        if nxt < 0:
            break
        pos = nxt
    return out


# -- VMware checkpoint with a Memory block -------------------------------------------------------------
def _tag(name: str, value: int | None = None, idx: tuple[int, ...] = (), size: int = 4,
         block: bytes | None = None, pad: int = 0) -> bytes:
    nb = name.encode()
    valsize = TAG_ISBLOCK if block is not None else size
    out = struct.pack("<H", make_tag(len(nb), len(idx), valsize)) + nb + b"".join(struct.pack("<I", i) for i in idx)
    if block is not None:
        hdr = VMSS_BLOCK_HEADER.build({"nbytes": len(block), "nbytesinmem": len(block), "padsize": pad})
        return out + hdr + bytes(pad) + block
    assert value is not None
    return out + value.to_bytes(size, "little")


def build_vmss(image: bytes) -> bytes:
    """Header, groups ``cpu`` (empty) and ``memory``: two regions around the hole, then the Memory block."""
    below, above = M.HOLE // M.PAGE, (M.SIZE - M.HOLE - M.PAGE) // M.PAGE
    regions = [(0, 0, below), (below + 1, below, above)]
    tags = _tag(TAG_REGIONS_COUNT, len(regions))
    for i, (ppn, pagenum, n) in enumerate(regions):
        tags += _tag(TAG_REGION_PPN, ppn, (i,)) + _tag(TAG_REGION_PAGE_NUM, pagenum, (i,))
        tags += _tag(TAG_REGION_SIZE, n, (i,))
    tags += _tag(TAG_MEMORY_BLOCK, block=image[: M.HOLE] + image[M.HOLE + M.PAGE :], pad=6)
    groups_end = CPTDUMP_HEADER_SIZE + 2 * CPT_GROUP_DESC_SIZE
    cpu = struct.pack("<H", 0)
    mem = tags + struct.pack("<H", 0)
    return (CPTDUMP_HEADER.build({"id": CPTDUMP_MAGIC_NUMBER, "version": 8, "numgroups": 2})
            + CPT_GROUP_DESC.build({"name": b"cpu".ljust(64, b"\0"), "position": groups_end, "size": len(cpu)})
            + CPT_GROUP_DESC.build({"name": b"memory".ljust(64, b"\0"), "position": groups_end + len(cpu),
                                    "size": len(mem)})
            + cpu + mem)


@cache
def _vmss_fields() -> tuple[HeaderField, ...]:
    seed = build_vmss(bytes(M.SIZE))
    out: list[HeaderField] = [("vmss.numgroups", field_offset(CPTDUMP_HEADER, "numgroups"), 4)]
    for g in range(2):
        base = CPTDUMP_HEADER_SIZE + g * CPT_GROUP_DESC_SIZE
        out += [(f"group[{g}].position", base + field_offset(CPT_GROUP_DESC, "position"), 8),
                (f"group[{g}].size", base + field_offset(CPT_GROUP_DESC, "size"), 8)]
    for name in (TAG_REGIONS_COUNT, TAG_REGION_PPN, TAG_REGION_PAGE_NUM, TAG_REGION_SIZE):
        start = 0
        while (at := seed.find(name.encode(), start)) >= 0:
            start = at + 1
            nidx = 0 if name == TAG_REGIONS_COUNT else 1
            out.append((f"tag {name}@{at:#x}", at + len(name) + 4 * nidx, 4))
    at = seed.find(TAG_MEMORY_BLOCK.encode() + VMSS_BLOCK_HEADER.build({"nbytes": M.SIZE - M.PAGE,
                                                                       "nbytesinmem": M.SIZE - M.PAGE, "padsize": 6}))
    if at >= 0:
        blk = at + len(TAG_MEMORY_BLOCK)
        out += [("Memory.nbytes", blk, 8), ("Memory.nbytesinmem", blk + 8, 8), ("Memory.padsize", blk + 16, 2)]
    return tuple(out)


# -- the containers -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Container:
    """One container the fuzzer writes seeds in."""

    name: str  # "raw", "elf64", "kdump-zlib", ...
    format: str  # efitables' format name (``--format``)
    filename: str  # what the harness names the file it writes (the VMware reader looks at the suffix)
    bits: int  # the machine's firmware width
    build: Callable[[bytes], bytes]
    segments: Callable[[bytes], Segments] | None = None
    fields: Callable[[bytes], list[HeaderField]] | None = None

    def seed(self) -> bytes:
        return _seed(self.name)

    def header_fields(self, data: bytes) -> list[HeaderField]:
        if self.fields is None:
            return []
        try:
            return self.fields(data)
        except (struct.error, ValueError, OverflowError):
            return []


CONTAINERS: dict[str, Container] = {
    c.name: c
    for c in (
        Container("raw", "raw", "dump.raw", 64, bytes, lambda d: [(0, len(d), 0)], None),
        Container("elf64", "elf", "dump.elf", 64, lambda im: build_elf(im, 64), elf_segments, elf_fields),
        Container("elf32", "elf", "dump.elf", 32, lambda im: build_elf(im, 32, notes=False), elf_segments,
                  elf_fields),
        Container("kdump-zlib", "kdump", "dump.kdump", 64, lambda im: build_kdump_of(im, ZLIB), None, kdump_fields),
        Container("kdump-lzo", "kdump", "dump.kdump", 64, lambda im: build_kdump_of(im, LZO), None, kdump_fields),
        Container("kdump-snappy", "kdump", "dump.kdump", 64, lambda im: build_kdump_of(im, SNAPPY), None,
                  kdump_fields),
        Container("kdump-zstd", "kdump", "dump.kdump", 64, lambda im: build_kdump_of(im, ZSTD), None, kdump_fields),
        Container("kdump-flat", "kdump", "dump.kdump", 64, build_flat, None, flat_fields),
        Container("lime", "lime", "dump.lime", 64, build_lime, lime_segments, lime_fields),
        Container("avml", "avml", "dump.avml", 64, build_avml, None, avml_fields),
        Container("vmware", "vmware", "guest.vmss", 64, build_vmss, None, lambda d: list(_vmss_fields())),
    )
}


@cache
def _seed(name: str) -> bytes:
    c = CONTAINERS[name]
    return c.build(bytes(M.build(c.bits).image))


def sniff(data: bytes) -> Container:
    """The container ``data`` most looks like (by its first bytes; raw when none)."""
    head = data[:16]
    if head[:4] == b"\x7fELF":
        return CONTAINERS["elf32" if len(head) > 4 and head[4] == 1 else "elf64"]
    if head[:8] in (b"KDUMP   ", b"DISKDUMP"):
        status = _u(data, struct.calcsize(_DDH), 4)
        for flag, name in ((LZO, "kdump-lzo"), (SNAPPY, "kdump-snappy"), (ZSTD, "kdump-zstd")):
            if status & flag:
                return CONTAINERS[name]
        return CONTAINERS["kdump-zlib"]
    if head[:12] == b"makedumpfile":
        return CONTAINERS["kdump-flat"]
    if head[:4] == struct.pack("<I", AVML_MAGIC):
        return CONTAINERS["avml"]
    if head[:4] == b"EMiL":
        return CONTAINERS["lime"]
    if head[:4] == struct.pack("<I", CPTDUMP_MAGIC_NUMBER):
        return CONTAINERS["vmware"]
    return CONTAINERS["raw"]


_TMP = tempfile.mkdtemp(prefix="efitables-fuzz-mut-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)


def cleanup() -> None:
    """Remove the mutator's scratch directory (also at exit)."""
    shutil.rmtree(_TMP, ignore_errors=True)


atexit.register(cleanup)


def read_back(c: Container, data: bytes) -> dict[int, bytearray] | None:
    """Open ``data`` as ``c`` with efitables and read its ranges (at most :data:`MAX_REBUILD` bytes)."""
    from efitables.errors import EfitablesError
    from efitables.memory import open_memory

    path = os.path.join(_TMP, c.filename)
    with open(path, "wb") as fh:
        fh.write(data)
    try:
        with open_memory(path, c.format) as mem:
            out: dict[int, bytearray] = {}
            total = 0
            for r in mem.ranges()[:MAX_PARSE]:
                total += r.size
                if total > MAX_REBUILD:
                    return None
                try:
                    out[r.start] = bytearray(mem.read(r.start, r.size))
                except EfitablesError:
                    continue
            return out
    except Exception:  # the mutator must never stop the fuzzer; the harness finds the bug
        return None


def physical_of(c: Container, data: bytes) -> dict[int, bytearray] | None:
    """The physical bytes of ``data``: the machine itself for an unmutated seed, else :func:`read_back`."""
    if data == c.seed():
        return {0: bytearray(M.build(c.bits).image)}
    return read_back(c, data)


def image_of(parts: dict[int, bytearray]) -> bytearray:
    """The machine-sized image of read-back parts (what is absent stays zero)."""
    img = bytearray(M.SIZE)
    for start, b in parts.items():
        if start < M.SIZE:
            n = min(len(b), M.SIZE - start)
            img[start : start + n] = b[:n]
    return img


__all__ = ["CONTAINERS", "PT_NOTE", "Container", "image_of", "physical_of", "read_back", "sniff"]
