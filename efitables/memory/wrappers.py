"""What a file is before it is opened: compressed wrappers, foreign formats, plausible raw images.

``open_memory`` reads no dump through a compressor and never calls a foreign
file a raw image: a gzip, xz, zstd, bzip2, lz4, snappy-framed or zlib file is
refused with the command that unpacks it, and a Windows crash dump, a
hibernation file, a swap area, a QEMU migration stream, a VirtualBox saved
state, an EWF evidence file or an archive is refused naming what it is.
:func:`classify` is the same judgement for directory walks (``validate DIR``):
which files are dumps, which are wrapped dumps, which are not dumps at all.

For gzip, xz, bzip2 and zlib the first few KiB are inflated (bounded: at most
:data:`PEEK_OUT` bytes out of :data:`PEEK_IN` bytes in) to name the container
inside and to skip compressed text files.

Magics and where they come from:

* gzip ``1f 8b 08`` (RFC 1952 2.3.1), xz ``fd 37 7a 58 5a 00`` (tukaani-project/xz
  doc/xz-file-format.txt 2.1.1.1), zstd ``28 b5 2f fd`` (facebook/zstd
  doc/zstd_compression_format.md, "Zstandard frames"), bzip2 ``BZh`` + level
  ``1``-``9`` + the block or end-of-stream magic (libbzip2 ``BZ_HDR_h``,
  ``0x314159265359`` / ``0x177245385090``), lz4 frame ``04 22 4d 18`` and legacy
  ``02 21 4c 18`` (lz4/lz4 doc/lz4_Frame_format.md), snappy framing
  ``ff 06 00 00 sNaPpY`` (google/snappy framing_format.txt), zlib (RFC 1950: CM 8,
  ``(CMF*256 + FLG) % 31 == 0``), what LiME's ``compress=1`` writes
  (504ensicsLabs/LiME docs/README.md@v1.12.0);
* Windows crash dumps ``PAGEDUMP`` / ``PAGEDU64`` (``DUMP_HEADER32/64``
  ``Signature`` + ``ValidDump``), hibernation files ``hibr``/``HIBR``/``wake``/
  ``WAKE``/``RSTR``/``HORM`` (``PO_MEMORY_IMAGE`` signatures, as
  volatilityfoundation/volatility3 and libyal/libhibr read them);
* Linux swap and hibernation: the last 10 bytes of the swap area's first page,
  ``SWAPSPACE2``/``SWAP-SPACE`` (torvalds/linux include/linux/swap.h@v6.12
  ``union swap_header``) or ``S1SUSPEND`` (kernel/power/swap.c@v6.12
  ``HIBERNATE_SIG``);
* QEMU migration / ``savevm`` streams ``QEVM`` (qemu/qemu migration/savevm.c@v7.2.0
  ``QEMU_VM_FILE_MAGIC``), VirtualBox saved states ``\\x7fVirtualBox SavedState``
  (VirtualBox src/VBox/VMM/VMMR3/SSM.cpp ``SSMFILEHDR_MAGIC_V2_0``), EWF
  ``EVF\\x09\\x0d\\x0a\\xff\\x00`` (libyal/libewf documentation), ZIP (AFF4 images
  are ZIP files), 7-Zip and POSIX tar (``ustar`` at 257).
"""

from __future__ import annotations

import os
import shlex
import stat
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from efitables.findings import Severity, register
from efitables.schemas.avml import AVML_MAGIC, LIME_MAGIC, SNAPPY_STREAM_ID

#: Bytes of a compressed file read to peek inside it, and the most it may inflate to.
PEEK_IN = 64 * 1024
PEEK_OUT = 4096
#: A file without a known header is taken for a raw image only from this size on (the first
#: MiB of x86 physical memory alone is real-mode IVT, BIOS data, the VGA hole and the BIOS).
RAW_MIN_SIZE = 1 << 20
RAW_PAGE = 4096

DUMP_NO_RANGES = register(
    "DUMP-NO-RANGES",
    Severity.ERROR,
    "The dump holds no physical memory",
    "The container opened, but it describes no readable physical range (an ELF core without "
    "PT_LOAD segments, a LiME/AVML file without blocks, an empty kdump bitmap): there is nothing "
    "in it to parse, so it cannot be called OK.",
)
DUMP_NOTHING_FOUND = register(
    "DUMP-NOTHING-FOUND",
    Severity.ERROR,
    "Nothing efitables knows was found in the dump",
    "No EFI system table, no boot_params (zero page), no VMCOREINFO and no kallsyms: the file is "
    "not a memory image of an x86-64 Linux machine, or it is one in a form efitables does not "
    "read (compressed, encrypted, another container forced with --format). A dump like that is "
    "never validated as OK.",
)
DUMP_FORCED_FORMAT = register(
    "DUMP-FORCED-FORMAT",
    Severity.WARNING,
    "The container was forced with --format although the file looks like something else",
    "The file starts like a compressed file or a foreign format; its bytes were read as the "
    "container that was asked for, so what is found in it may be meaningless.",
)


@dataclass(frozen=True)
class Wrapper:
    """A compressor's file format: how to recognise it and how to undo it."""

    name: str
    what: str  # "xz-compressed"
    suffixes: tuple[str, ...]  # conventional file-name suffixes, lower case
    keep: str  # command that unpacks FILE.sfx into FILE and keeps FILE.sfx ({f})
    alt: str | None  # another spelling of it
    to_stdout: str  # command that writes the unpacked bytes to stdout ({f})
    magic: Callable[[bytes], bool]
    peek: Callable[[bytes], bytes] | None = None  # inflate a prefix: at most PEEK_OUT bytes


def _zlib_header(head: bytes) -> bool:
    return len(head) >= 2 and head[0] & 0x0F == 8 and head[0] >> 4 <= 7 and (head[0] << 8 | head[1]) % 31 == 0


def _peek_gzip(data: bytes) -> bytes:
    return zlib.decompressobj(wbits=31).decompress(data, PEEK_OUT)


def _peek_zlib(data: bytes) -> bytes:
    return zlib.decompressobj().decompress(data, PEEK_OUT)


def _peek_xz(data: bytes) -> bytes:
    import lzma  # only when an xz file is peeked into

    return lzma.LZMADecompressor().decompress(data, max_length=PEEK_OUT)


def _peek_bz2(data: bytes) -> bytes:
    import bz2

    return bz2.BZ2Decompressor().decompress(data, max_length=PEEK_OUT)


def _bzip2(head: bytes) -> bool:
    return (
        len(head) >= 10
        and head[:3] == b"BZh"
        and 0x31 <= head[3] <= 0x39
        and head[4:10] in (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")
    )


WRAPPERS: tuple[Wrapper, ...] = (
    Wrapper("gzip", "gzip-compressed", (".gz",), "gzip -dk {f}", "gunzip -k {f}", "gzip -dc {f}",
            lambda h: h[:3] == b"\x1f\x8b\x08", _peek_gzip),
    Wrapper("xz", "xz-compressed", (".xz",), "xz -dk {f}", "unxz -k {f}", "xz -dc {f}",
            lambda h: h[:6] == b"\xfd7zXZ\x00", _peek_xz),
    Wrapper("zstd", "zstd-compressed", (".zst", ".zstd"), "zstd -d {f}", "unzstd {f}", "zstd -dc {f}",
            lambda h: h[:4] == b"\x28\xb5\x2f\xfd"),
    Wrapper("bzip2", "bzip2-compressed", (".bz2",), "bzip2 -dk {f}", "bunzip2 -k {f}", "bzip2 -dc {f}",
            _bzip2, _peek_bz2),
    Wrapper("lz4", "lz4-compressed", (".lz4",), "lz4 -d {f}", "unlz4 {f}", "lz4 -dc {f}",
            lambda h: h[:4] in (b"\x04\x22\x4d\x18", b"\x02\x21\x4c\x18")),
    Wrapper("snappy", "snappy-framed (.sz)", (".sz",), "snzip -dk {f}", None, "snzip -dc {f}",
            lambda h: h[: len(SNAPPY_STREAM_ID)] == SNAPPY_STREAM_ID),
    # Last: the weakest magic (two bytes). LiME's compress=1 output is one zlib stream.
    Wrapper("zlib", "zlib-compressed", (".zz", ".zlib"),
            "zlib-flate -uncompress < {f} > {o}", None, "zlib-flate -uncompress < {f}",
            _zlib_header, _peek_zlib),
)


#: Every wrapper's conventional suffixes (lower case).
WRAPPER_SUFFIXES = frozenset(sfx for w in WRAPPERS for sfx in w.suffixes)


@dataclass(frozen=True)
class Foreign:
    """A format that is not a physical-memory image efitables reads."""

    name: str
    what: str  # what the file is, and what to do instead
    magic: Callable[[bytes], bool]


def _swap_sig(head: bytes) -> bytes:
    return head[RAW_PAGE - 10 : RAW_PAGE] if len(head) >= RAW_PAGE else b""


FOREIGN: tuple[Foreign, ...] = (
    Foreign("windows-crashdump", "Windows crash dump (PAGEDUMP, 32-bit): not a Linux memory image",
            lambda h: h[:8] == b"PAGEDUMP"),
    Foreign("windows-crashdump", "Windows crash dump (PAGEDU64, 64-bit): not a Linux memory image",
            lambda h: h[:8] == b"PAGEDU64"),
    Foreign("windows-hibernation", "Windows hibernation file (hiberfil.sys): convert it to a raw image first "
            "(e.g. Volatility's or Hibr2Bin's converters)",
            lambda h: h[:4] in (b"hibr", b"HIBR", b"wake", b"WAKE", b"RSTR", b"HORM")),
    Foreign("linux-hibernation", "Linux hibernation image in a swap area (S1SUSPEND): not a memory dump",
            lambda h: _swap_sig(h).rstrip(b"\0") in (b"S1SUSPEND", b"LINHIB0001")),
    Foreign("linux-swap", "Linux swap area (SWAPSPACE2): not a memory dump",
            lambda h: _swap_sig(h) in (b"SWAPSPACE2", b"SWAP-SPACE")),
    Foreign("qemu-savevm", "QEMU migration / savevm stream (QEVM): not a memory dump; take one with "
            "`virsh dump --memory-only` or QEMU's dump-guest-memory",
            lambda h: h[:4] == b"QEVM"),
    Foreign("virtualbox-sav", "VirtualBox saved state: not a memory dump; take an ELF core with "
            "`VBoxManage debugvm VM dumpvmcore --filename FILE`",
            lambda h: h.startswith(b"\x7fVirtualBox SavedState")),
    Foreign("ewf", "EWF (E01) evidence file: export the raw image with `ewfexport`",
            lambda h: h[:8] in (b"EVF\x09\x0d\x0a\xff\x00", b"LVF\x09\x0d\x0a\xff\x00")),
    Foreign("zip", "ZIP archive (AFF4 images are ZIP files): extract the memory image from it first",
            lambda h: h[:4] == b"PK\x03\x04"),
    Foreign("7z", "7-Zip archive: extract it first (`7z x FILE`)", lambda h: h[:6] == b"7z\xbc\xaf\x27\x1c"),
    Foreign("tar", "tar archive: extract it first (`tar -xf FILE`)", lambda h: h[257:262] == b"ustar"),
)

_ELF_MAGIC = b"\x7fELF"
_ELF_E_TYPE = struct.Struct("<H")  # e_type: the u16 right after the 16-byte e_ident (ELF32 and ELF64)
_ELF_E_TYPE_OFFSET = 16
_ET_CORE = 4
_KDUMP_SIGS = (b"KDUMP   ", b"DISKDUMP", b"makedumpfile")


def inner_name(data: bytes) -> str | None:
    """The container that bytes begin with, as far as a prefix tells (for messages)."""
    if data[:4] == _ELF_MAGIC:
        return "ELF core" if is_elf_core(data) else "ELF file"
    if any(data.startswith(s) for s in _KDUMP_SIGS):
        return "kdump"
    if len(data) >= 8:
        magic, version = struct.unpack_from("<II", data)
        if magic == LIME_MAGIC:
            return "LiME" if version == 1 else "AVML/LiME"
        if magic == AVML_MAGIC:
            return "AVML"
    if data[:4] == b"PAGE":
        return "Windows crash dump"
    if looks_like_text(data):
        return "text"
    return None


_INNER_SUFFIX = {"ELF core": ".elf", "kdump": ".kdump", "LiME": ".lime", "AVML": ".avml", "AVML/LiME": ".avml"}


def is_elf_core(head: bytes) -> bool:
    if len(head) < _ELF_E_TYPE_OFFSET + _ELF_E_TYPE.size or head[:4] != _ELF_MAGIC:
        return False
    le = head[5] != 2  # EI_DATA: 2 is big-endian
    (e_type,) = _ELF_E_TYPE.unpack_from(head, _ELF_E_TYPE_OFFSET) if le else struct.unpack_from(
        ">H", head, _ELF_E_TYPE_OFFSET)
    return bool(e_type == _ET_CORE)


def looks_like_text(data: bytes) -> bool:
    """True for a prefix that is UTF-8 text (no NUL, decodes, mostly printable): no memory image starts so."""
    if not data or b"\0" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(data) - 4:  # a multi-byte character cut at the end of the prefix is still text
            return False
        text = data[: e.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
    return printable >= 0.95 * max(1, len(text))


@dataclass(frozen=True)
class Sniffed:
    """What :func:`sniff` made of a file's first bytes."""

    kind: Literal["wrapper", "foreign"]
    name: str  # "xz", "windows-crashdump"
    what: str  # "xz-compressed ELF core", "Windows crash dump (PAGEDU64, 64-bit)"
    reason: str  # the one-line refusal, with the command to run for a wrapper
    inner: str | None = None  # the container inside a wrapper, when a peek told


def sniff(path: str, head: bytes, read: Callable[[int], bytes] | None = None) -> Sniffed | None:
    """A compressed wrapper or a foreign format ``head`` (the file's first bytes) starts with, or None.

    ``read(n)`` gives the file's first ``n`` bytes (a URL's, through its source); by default
    the local file ``path`` is read.
    """
    for w in WRAPPERS:
        if w.magic(head):
            inner = _peek(path, w, read)
            if w.name == "zlib" and inner is None:
                continue  # two bytes that only look like a zlib header: not judged a wrapper
            if inner == "text":
                what = f"{w.what} text"
                return Sniffed("wrapper", w.name, what, f"{what}, not a memory dump", inner)
            advice = wrapper_advice(path, w, inner)
            return Sniffed("wrapper", w.name, advice.split(": run ", 1)[0], advice, inner)
    for f in FOREIGN:
        if f.magic(head):
            return Sniffed("foreign", f.name, f.what.split(":", 1)[0],
                           f"{f.what}; if it really is a raw physical image, use --format raw")
    return None


def _peek(path: str, w: Wrapper, read: Callable[[int], bytes] | None = None) -> str | None:
    """Name what the wrapped stream starts with (None if unknown, or the peek failed)."""
    if w.peek is None:
        return None
    try:
        if read is not None:
            data = read(PEEK_IN)
        else:
            with open(path, "rb") as fh:
                data = fh.read(PEEK_IN)
        out = w.peek(data)
    except Exception:  # zlib.error, lzma.LZMAError, OSError, EOFError, ValueError: nothing to name
        return None
    if not out:
        return None
    return inner_name(out) or "data"


def wrapper_advice(path: str, w: Wrapper, inner: str | None = None) -> str:
    """``xz-compressed ELF core: run `xz -dk F.xz` (or `unxz -k F.xz`) and open F``."""
    what = w.what if inner in (None, "data") else f"{w.what} {inner}"
    if w.name == "zlib" and inner == "LiME":
        what += " (LiME's compress=1 output)"
    base = os.path.basename(path)
    low = base.lower()
    sfx = next((s for s in w.suffixes if low.endswith(s) and len(low) > len(s)), None)
    if sfx is not None and "{o}" not in w.keep:
        out = path[: -len(sfx)]
        cmd = w.keep.format(f=shlex.quote(path))
        alt = f" (or `{w.alt.format(f=shlex.quote(path))}`)" if w.alt else ""
        return f"{what}: run `{cmd}`{alt} and open {out}"
    out = (path[: -len(sfx)] if sfx else path) + _INNER_SUFFIX.get(inner or "", ".raw")
    if "{o}" in w.keep:
        cmd = w.keep.format(f=shlex.quote(path), o=shlex.quote(out))
    else:
        cmd = f"{w.to_stdout.format(f=shlex.quote(path))} > {shlex.quote(out)}"
    return f"{what}: run `{cmd}` and open {out}"


Kind = Literal["dump", "wrapper", "foreign", "raw", "not-dump"]


@dataclass(frozen=True)
class Classified:
    """A file judged for a directory walk: ``kind`` and why."""

    kind: Kind
    why: str


def classify(path: str, sniffers: dict[str, Callable[[bytes], bool]]) -> Classified:
    """Is ``path`` a dump (a container's magic), a wrapped one, a foreign format, a plausible raw
    image (no magic, a whole number of pages, at least :data:`RAW_MIN_SIZE`, not text), or not a dump?

    ``sniffers`` are the registered containers' sniff functions (raw excluded). Never raises:
    a file that cannot be read is a "dump" so that opening it reports why.
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return Classified("not-dump", "not a regular file")
        with open(path, "rb") as fh:
            head = fh.read(RAW_PAGE)
    except OSError as e:
        return Classified("dump", f"unreadable ({e.strerror or e})")
    if not head:
        return Classified("not-dump", "empty")
    if head[:4] == _ELF_MAGIC and not is_elf_core(head):
        return Classified("not-dump", "an ELF file that is not a core file")
    for name, fn in sniffers.items():
        if fn(head):
            return Classified("dump", name)
    s = sniff(path, head)
    if s is not None:
        if s.kind == "wrapper" and s.inner == "text":
            return Classified("not-dump", f"{s.name}-compressed text")
        return Classified(s.kind, s.reason)
    if looks_like_text(head):
        return Classified("not-dump", "text")
    if st.st_size % RAW_PAGE or st.st_size < RAW_MIN_SIZE:
        return Classified("not-dump", "no known header and not sized like a raw image")
    return Classified("raw", "no header: a raw image")
