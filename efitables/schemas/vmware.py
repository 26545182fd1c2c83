"""VMware checkpoint state (``.vmss`` suspend state, ``.vmsn`` snapshot): header, groups, tags.

A checkpoint file starts with a header and an array of group descriptors; each
group (``memory``, ``cpu``, ...) is a list of tags at its ``position``, ended by
a zero tag. A tag is a little-endian u16 of bit fields, then the name, then up
to three u32 indices, then its value::

    u16 tag   bits 15..8 name length, 7..6 number of indices, 5..0 value size
    name      name-length bytes, no terminator
    u32 index[number of indices]
    value     value-size bytes (little-endian), or, when value size is 62
              (compressed block) or 63 (block): u64 nbytes, u64 nbytesinmem,
              u16 padsize, padsize bytes, nbytes bytes of data
              (the 32-bit checkpoint, magic 0xbed0bed0 / 0xbed2bed0, has u32 sizes)

The ``memory`` group describes guest RAM in the ``.vmem`` file (or in a
``Memory`` block of the checkpoint itself): ``regionsCount``, and per region
``i`` ``regionPPN[i]`` (first guest-physical page), ``regionPageNum[i]`` (first
page in the memory file) and ``regionSize[i]`` (pages). The holes between
regions (the PCI hole below 4 GiB) are not in the file.

Sources: crash-utility/crash vmware_vmss.h@9.0.2 (``CPTDUMP_*_MAGIC_NUMBER``,
``struct cptdumpheader``, ``struct cptgroupdesc``, the ``TAG_*`` bit fields,
``TAG_ISBLOCK``/``TAG_ISBLOCK_COMPRESSED``, ``struct memregion``) and
vmware_vmss.c@9.0.2 (``vmware_vmss_init``: block tags as ``nbytes``,
``nbytesinmem``, ``padsize``; ``read_vmware_vmss``: physical page to file page
through the regions); volatilityfoundation/volatility3
volatility3/framework/layers/vmware.py@1390001a (the magics ``0xbed2bed0``,
``0xbad1bad1``, ``0xbed2bed2``, ``0xbed3bed3``; 4-byte block sizes when the
magic's low byte is ``0xd0``; segments ``regionPPN * 4096 -> regionPageNum * 4096``).
"""

from __future__ import annotations

import construct as cs

CPTDUMP_OLD_MAGIC_NUMBER = 0xBED0BED0
CPTDUMP_MAGIC_NUMBER = 0xBED2BED2
CPTDUMP_PARTIAL_MAGIC_NUMBER = 0xBED3BED3
CPTDUMP_RESTORED_MAGIC_NUMBER = 0xBAD1BAD1
CPTDUMP_NORESTORE_MAGIC_NUMBER = 0xBAD2BAD2
#: The magic volatility3 lists first (a 32-bit variant; not in crash's list).
CPTDUMP_VOL3_MAGIC_NUMBER = 0xBED2BED0
VMSS_MAGICS = frozenset({
    CPTDUMP_OLD_MAGIC_NUMBER, CPTDUMP_MAGIC_NUMBER, CPTDUMP_PARTIAL_MAGIC_NUMBER,
    CPTDUMP_RESTORED_MAGIC_NUMBER, CPTDUMP_NORESTORE_MAGIC_NUMBER, CPTDUMP_VOL3_MAGIC_NUMBER,
})


def block_sizes_are_32bit(magic: int) -> bool:
    """Block tags of a 32-bit checkpoint carry u32 sizes (volatility3: version ``magic & 0xf == 0``)."""
    return magic & 0xFF == 0xD0


CPTDUMP_HEADER = cs.Struct(
    "id" / cs.Int32ul,
    "version" / cs.Int32ul,
    "numgroups" / cs.Int32ul,
)
CPTDUMP_HEADER_SIZE = 12
assert CPTDUMP_HEADER.sizeof() == CPTDUMP_HEADER_SIZE

CPT_GROUP_NAME_LENGTH = 64  # MAX_LENGTH
CPT_GROUP_DESC = cs.Struct(
    "name" / cs.Bytes(CPT_GROUP_NAME_LENGTH),  # NUL-padded
    "position" / cs.Int64ul,
    "size" / cs.Int64ul,
)
CPT_GROUP_DESC_SIZE = 80
assert CPT_GROUP_DESC.sizeof() == CPT_GROUP_DESC_SIZE

# -- tags ------------------------------------------------------------------------------
VMSS_TAG = cs.Struct("tag" / cs.Int16ul)
TAG_SIZE = 2
assert VMSS_TAG.sizeof() == TAG_SIZE
TAG_NAMELEN_MASK, TAG_NAMELEN_OFFSET = 0xFF, 8
TAG_NINDX_MASK, TAG_NINDX_OFFSET = 0x3, 6
TAG_VALSIZE_MASK, TAG_VALSIZE_OFFSET = 0x3F, 0
TAG_ISBLOCK = TAG_VALSIZE_MASK  # 63
TAG_ISBLOCK_COMPRESSED = TAG_VALSIZE_MASK - 1  # 62
NULL_TAG = 0
TAG_INDEX = cs.Int32ul
TAG_INDEX_SIZE = 4
MAX_TAG_INDICES = 3


def make_tag(name_length: int, nindx: int, valsize: int) -> int:
    """``MAKE_TAG``."""
    return ((name_length & TAG_NAMELEN_MASK) << TAG_NAMELEN_OFFSET
            | (nindx & TAG_NINDX_MASK) << TAG_NINDX_OFFSET
            | (valsize & TAG_VALSIZE_MASK) << TAG_VALSIZE_OFFSET)


def tag_namelen(tag: int) -> int:
    return (tag >> TAG_NAMELEN_OFFSET) & TAG_NAMELEN_MASK


def tag_nindx(tag: int) -> int:
    return (tag >> TAG_NINDX_OFFSET) & TAG_NINDX_MASK


def tag_valsize(tag: int) -> int:
    return (tag >> TAG_VALSIZE_OFFSET) & TAG_VALSIZE_MASK


#: What follows the indices of a block tag (64-bit checkpoint), then ``padsize`` bytes, then the data.
VMSS_BLOCK_HEADER = cs.Struct(
    "nbytes" / cs.Int64ul,
    "nbytesinmem" / cs.Int64ul,
    "padsize" / cs.Int16ul,
)
VMSS_BLOCK_HEADER_SIZE = 18
assert VMSS_BLOCK_HEADER.sizeof() == VMSS_BLOCK_HEADER_SIZE
VMSS_BLOCK_HEADER_32 = cs.Struct(
    "nbytes" / cs.Int32ul,
    "nbytesinmem" / cs.Int32ul,
    "padsize" / cs.Int16ul,
)
VMSS_BLOCK_HEADER_32_SIZE = 10
assert VMSS_BLOCK_HEADER_32.sizeof() == VMSS_BLOCK_HEADER_32_SIZE

#: The group and tag names the memory layout is read from.
MEMORY_GROUP = b"memory"
TAG_REGIONS_COUNT = "regionsCount"
TAG_REGION_PPN = "regionPPN"
TAG_REGION_PAGE_NUM = "regionPageNum"
TAG_REGION_SIZE = "regionSize"
TAG_MEMORY_BLOCK = "Memory"
VMW_PAGE_SIZE = 4096
