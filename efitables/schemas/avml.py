"""AVML memory captures: the 32-byte block header, the compressed-length trailer, snappy framing.

An AVML file is a sequence of blocks. Each block is a header (the LiME range
header's layout), then the block's bytes, then, for a compressed block only, an
8-byte little-endian trailer holding the length of the compressed stream::

    u32 magic     0x4C4D5641 ("AVML" on disk) compressed, or 0x4C694D45 ("EMiL", LiME) uncompressed
    u32 version   2 with "AVML", 1 with "EMiL"
    u64 start     first physical address
    u64 end       last physical address (inclusive)
    u64 padding   0
    ...           version 2: a snappy *framed* stream of end - start + 1 bytes, then u64 compressed length
                  version 1: end - start + 1 bytes as they are

AVML leaves all-zero blocks out (``copy_if_nonzero``) and, since 2022, splits
ranges into blocks of at most 16 MiB (``MAX_BLOCK_SIZE = 0x1000 * 0x1000``);
captures from the first releases (v0.2.x) hold one block per iomem range.

The snappy framing format: a stream identifier chunk (type 0xff, length 6,
"sNaPpY"), then chunks of a 1-byte type and a 3-byte little-endian length: 0x00
compressed data (a masked CRC-32C of the uncompressed bytes, then raw snappy),
0x01 uncompressed data (CRC, then the bytes), 0xfe padding, 0x80-0xfd skippable,
0x02-0x7f reserved (a reader must stop). A data chunk holds at most 65536
uncompressed bytes.

Sources: microsoft/avml src/image.rs@v0.20.0 (``Format::{LIME_MAGIC, AVML_MAGIC}``,
``Header::read``/``encode``: end is written as ``range.end - 1``, padding must be 0;
``MAX_BLOCK_SIZE``; ``copy_if_nonzero``; ``convert_block`` seeks 8 bytes past the
stream) and src/io/snappy.rs@v0.20.0 (``SnapCountWriter::finalize``: the trailer
is the compressed length as ``u64::to_le_bytes``); the same layout in
src/image.rs@01678a83 (the first release, ``lime_header``); google/snappy
framing_format.txt@1.2.1 (chunk types, lengths, the 65536-byte limit).
"""

from __future__ import annotations

import construct as cs

#: ``Format::AVML_MAGIC``: b"AVML" read as a little-endian u32.
AVML_MAGIC = 0x4C4D5641
#: ``Format::LIME_MAGIC``: b"EMiL" read as a little-endian u32 (an uncompressed LiME block).
LIME_MAGIC = 0x4C694D45
AVML_VERSION = 2
LIME_VERSION = 1
#: ``image.rs`` ``MAX_BLOCK_SIZE``: the largest block AVML writes today (16 MiB).
AVML_WRITER_MAX_BLOCK = 0x1000 * 0x1000

AVML_HEADER = cs.Struct(
    "magic" / cs.Int32ul,
    "version" / cs.Int32ul,
    "start" / cs.Int64ul,
    "end" / cs.Int64ul,  # inclusive
    "padding" / cs.Int64ul,  # must be 0
)
AVML_HEADER_SIZE = 32
assert AVML_HEADER.sizeof() == AVML_HEADER_SIZE

#: After a version-2 block's stream: the stream's length in bytes.
AVML_TRAILER = cs.Struct("compressed_length" / cs.Int64ul)
AVML_TRAILER_SIZE = 8
assert AVML_TRAILER.sizeof() == AVML_TRAILER_SIZE

# -- snappy framing (google/snappy framing_format.txt) -------------------------------
SNAPPY_CHUNK_HEADER = cs.Struct(
    "type" / cs.Int8ul,
    "length" / cs.Int24ul,
)
SNAPPY_CHUNK_HEADER_SIZE = 4
assert SNAPPY_CHUNK_HEADER.sizeof() == SNAPPY_CHUNK_HEADER_SIZE
#: Bytes of the masked CRC-32C that start a data chunk.
SNAPPY_CRC_SIZE = 4

SNAPPY_CHUNK_COMPRESSED = 0x00
SNAPPY_CHUNK_UNCOMPRESSED = 0x01
SNAPPY_CHUNK_PADDING = 0xFE
SNAPPY_CHUNK_STREAM_ID = 0xFF
#: Chunk types 0x02-0x7f are reserved and unskippable; 0x80-0xfd are skippable.
SNAPPY_RESERVED_UNSKIPPABLE = range(0x02, 0x80)
#: The stream identifier's payload.
SNAPPY_STREAM_ID_BODY = b"sNaPpY"
#: The whole stream identifier chunk: type 0xff, length 6, "sNaPpY".
SNAPPY_STREAM_ID = SNAPPY_CHUNK_HEADER.build({"type": SNAPPY_CHUNK_STREAM_ID, "length": 6}) + SNAPPY_STREAM_ID_BODY
#: Largest uncompressed payload of one data chunk.
SNAPPY_MAX_CHUNK_DATA = 65536
#: Largest compressed data chunk a conforming writer makes: CRC + snappy's worst case for 65536 bytes
#: (``MaxCompressedLength(n) = 32 + n + n / 6``).
SNAPPY_MAX_CHUNK_LENGTH = SNAPPY_CRC_SIZE + 32 + SNAPPY_MAX_CHUNK_DATA + SNAPPY_MAX_CHUNK_DATA // 6
