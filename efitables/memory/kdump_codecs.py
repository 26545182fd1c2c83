"""Page codecs of kdump files: each turns one stored page back into exactly one page, or fails.

``page_desc_t.flags`` names the codec of each page: ``DUMP_DH_COMPRESSED_ZLIB``
(zlib ``compress2`` output), ``_LZO`` (LZO1X-1), ``_SNAPPY`` (raw snappy, no
framing) or ``_ZSTD`` (a zstd frame); a page with none of these flags is stored
raw (makedumpfile and QEMU store a page raw when compressing does not make it
smaller). Codecs: zlib (stdlib), LZO1X through ``lzokay``, raw snappy and zstd
through ``cramjam``; each decompresses into a buffer of exactly one page, so a
corrupt page can never make an allocation larger than ``block_size``. (lzokay
was checked against liblzo2 2.10's ``lzo1x_1_compress``, the function
makedumpfile uses, on 300 pages; python-lzo itself ships no wheel.) The
optional codec packages are imported when the first page that needs them is
read.

Sources: makedumpfile/makedumpfile diskdump_mod.h@1.7.9 (``DUMP_DH_COMPRESSED_*``)
and makedumpfile.c@1.7.9 (``write_kdump_pages_cyclic``: ``compress2``,
``lzo1x_1_compress``, ``snappy_compress``, ``ZSTD_compressCCtx``, and the raw
fallback); qemu/qemu dump/dump.c@v7.2.0 (``write_dump_pages``: ``compress2``,
``lzo1x_1_compress``, ``snappy_compress``, raw fallback).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

from efitables.memory.kdump_layout import (
    DUMP_DH_COMPRESSED_LZO,
    DUMP_DH_COMPRESSED_SNAPPY,
    DUMP_DH_COMPRESSED_ZLIB,
    DUMP_DH_COMPRESSED_ZSTD,
)


def _zlib(data: bytes, size: int) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(data, size)
    if len(out) != size or d.unconsumed_tail or not d.eof:
        raise ValueError(f"zlib data decompresses to {len(out)}{'+' if d.unconsumed_tail else ''} bytes, not {size}")
    return out


def _lzo(data: bytes, size: int) -> bytes:
    import lzokay  # optional until an LZO page is read

    out = lzokay.decompress(data, size)
    if len(out) != size:
        raise ValueError(f"LZO data decompresses to {len(out)} bytes, not {size}")
    return bytes(out)


def _snappy(data: bytes, size: int) -> bytes:
    import cramjam

    n = cramjam.snappy.decompress_raw_len(data)
    if n != size:
        raise ValueError(f"snappy data declares {n} bytes, not {size}")
    buf = bytearray(size)
    got = cramjam.snappy.decompress_raw_into(data, buf)
    if got != size:
        raise ValueError(f"snappy data decompresses to {got} bytes, not {size}")
    return bytes(buf)


def _zstd(data: bytes, size: int) -> bytes:
    import cramjam

    buf = bytearray(size)
    got = cramjam.zstd.decompress_into(data, buf)
    if got != size:
        raise ValueError(f"zstd data decompresses to {got} bytes, not {size}")
    return bytes(buf)


CODECS: dict[int, Callable[[bytes, int], bytes]] = {
    DUMP_DH_COMPRESSED_ZLIB: _zlib,
    DUMP_DH_COMPRESSED_LZO: _lzo,
    DUMP_DH_COMPRESSED_SNAPPY: _snappy,
    DUMP_DH_COMPRESSED_ZSTD: _zstd,
}
CODEC_PACKAGES = {DUMP_DH_COMPRESSED_LZO: "lzokay", DUMP_DH_COMPRESSED_SNAPPY: "cramjam",
                   DUMP_DH_COMPRESSED_ZSTD: "cramjam"}


def codec_error_text(e: BaseException) -> str:
    """A decompressor's error, without the numbers it decoded from the stream.

    A codec's message can quote values it read out of the corrupt data (cramjam's snappy: "expected valid
    offset but got offset 1468073699"), and compressed data carries its input's bytes as literals: a secret
    in the page would leak four bytes at a time. Numbers of six digits or more become N.
    """
    text = re.sub(r"\b(?:0x[0-9a-fA-F]{6,}|\d{6,})\b", "N", str(e))  # small counts (4096) carry no data
    return text.strip() or type(e).__name__
