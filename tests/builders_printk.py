"""Fixture builders for the kernel log tests: printk ring buffers (and old log_buf records) built with
efitables.schemas.printk, placed in a sparse physical address space with the VMCOREINFO that locates them.

The kernel image is mapped at ``IMAGE_VA`` (physical ``IMAGE_PA``: ``phys_base`` = ``PHYS_BASE``); arrays
allocated by memblock live in the direct map at ``POB`` (a KASLR-like ``page_offset_base``). Everything a
test checks is written here with known values; the tests assert the parser gives them back.
"""

from __future__ import annotations

import struct
from typing import Any

from builders_boot import Layout, kallsyms_image

from dumps.builder import Image, elf_note
from efitables.coverage.ptbuilder import PageTableBuilder
from efitables.memory.base import BytesMemory
from efitables.memory.vmcoreinfo import KERNEL_MAP_BASE
from efitables.schemas.common import field_offset
from efitables.schemas.paging import TABLE_SIZE
from efitables.schemas.printk import (
    DESC_FLAGS_SHIFT,
    LEGACY_DEFAULTS,
    LOCKLESS_DEFAULTS,
    PRB_DATA_BLOCK_HEADER,
    PRB_DESC,
    PRINTK_INFO,
    PRINTK_LOG,
    PRINTK_LOG_ALIGN,
    PRINTK_LOG_SIZE_NO_CALLER,
    PRINTK_RINGBUFFER,
)

IMAGE_VA = 0xFFFFFFFF81000000
IMAGE_PA = 0x3000000
PHYS_BASE = IMAGE_PA - (IMAGE_VA - KERNEL_MAP_BASE)
IMAGE_SIZE = 0x200000
POB = 0xFFFF9A4C80000000  # page_offset_base after KASLR
DIRECT_PA = 0x5000000
PRB_VAR_PA = IMAGE_PA + 0x1000  # struct printk_ringbuffer *prb
POB_VAR_PA = IMAGE_PA + 0x1100  # unsigned long page_offset_base
RB_PA = IMAGE_PA + 0x2000  # printk_rb_dynamic
STATIC_ARRAYS_PA = IMAGE_PA + 0x10000  # _printk_rb_static_descs/_infos/_text
KALLSYMS_PA = IMAGE_PA + 0x100000
TABLES_PA = IMAGE_PA + 0x180000  # init_top_pgt and the tables below it


def image_va(pa: int) -> int:
    return pa - PHYS_BASE + KERNEL_MAP_BASE


def sv(desc_id: int, state: int) -> int:
    """``DESC_SV(id, state)``."""
    return state << DESC_FLAGS_SHIFT | desc_id


def vmcoreinfo_text(info: dict[str, str]) -> bytes:
    return "".join(f"{k}={v}\n" for k, v in info.items()).encode()


class Ring:
    """A lockless printk ring: header, descriptor and info arrays, text data ring.

    ``arrays``: ``"image"`` (static arrays, as without log_buf_len=), ``"kallsyms"`` (direct map,
    page_offset_base read through kallsyms) or ``"pagetables"`` (direct map, translated through
    init_top_pgt).
    """

    def __init__(self, count_bits: int = 3, size_bits: int = 7, arrays: str = "image") -> None:
        self.count_bits, self.size_bits, self.arrays = count_bits, size_bits, arrays
        self.count, self.dsize = 1 << count_bits, 1 << size_bits
        self.descs = [{"state_var": {"counter": 0}, "text_blk_lpos": {"begin": 0, "next": 0}}] * self.count
        self.infos = [_info(seq=0, text_len=0)] * self.count
        self.data = bytearray(self.dsize)
        self.head_id = self.tail_id = 0
        self.head_lpos = self.tail_lpos = 0
        self.desc_size, self.info_size = PRB_DESC.sizeof(), PRINTK_INFO.sizeof()
        self.layout = Layout(IMAGE_SIZE, IMAGE_PA)
        if arrays == "image":
            base = STATIC_ARRAYS_PA
        else:
            size = self.count * (self.desc_size + self.info_size) + self.dsize + 3 * 4096
            self.layout.add(DIRECT_PA, size)
            base = DIRECT_PA
        self.descs_pa = base
        self.infos_pa = self.descs_pa + self.count * self.desc_size
        self.data_pa = (self.infos_pa + self.count * self.info_size + 0xFF) & ~0xFF
        self.info: dict[str, str] = {
            "OSRELEASE": "6.1.0-test",
            "PAGESIZE": "4096",
            "SYMBOL(prb)": f"{image_va(PRB_VAR_PA):x}",
            "NUMBER(phys_base)": str(PHYS_BASE),
            **{k: str(v) for k, v in LOCKLESS_DEFAULTS.items()},
        }
        self.header_over: dict[str, Any] = {}

    def va(self, pa: int) -> int:
        return image_va(pa) if self.arrays == "image" else POB + pa

    def desc(self, idx: int, desc_id: int, state: int, begin: int, nxt: int) -> None:
        self.descs[idx] = {"state_var": {"counter": sv(desc_id, state)}, "text_blk_lpos": {"begin": begin, "next": nxt}}

    def set_info(self, idx: int, **fields: Any) -> None:
        self.infos[idx] = _info(**fields)

    def block(self, begin: int, nxt: int, desc_id: int, text: bytes) -> None:
        """A data block as ``data_alloc`` writes it: the ID at ``begin``; a wrapping block again, whole, at 0."""
        idx = begin & (self.dsize - 1)
        head = PRB_DATA_BLOCK_HEADER.build({"id": desc_id})
        self.data[idx : idx + len(head)] = head
        start = idx if begin >> self.size_bits == nxt >> self.size_bits else 0
        whole = head + text
        self.data[start : start + len(whole)] = whole

    def memory(self) -> BytesMemory:
        mem = BytesMemory({pa: bytes(b) for pa, b in self.segments().items()})
        mem.info.vmcoreinfo = dict(self.info)
        return mem

    def segments(self) -> dict[int, bytearray]:
        lay = self.layout
        header = {
            "desc_ring": {
                "count_bits": self.count_bits,
                "descs": self.va(self.descs_pa),
                "infos": self.va(self.infos_pa),
                "head_id": {"counter": self.head_id},
                "tail_id": {"counter": self.tail_id},
                "last_finalized_id": {"counter": self.head_id},
            },
            "text_data_ring": {
                "size_bits": self.size_bits,
                "data": self.va(self.data_pa),
                "head_lpos": {"counter": self.head_lpos},
                "tail_lpos": {"counter": self.tail_lpos},
            },
            "fail": {"counter": 0},
        }
        for path, value in self.header_over.items():
            node = header
            parts = path.split(".")
            for p in parts[:-1]:
                node = node[p]
            node[parts[-1]] = value
        lay.put(RB_PA, PRINTK_RINGBUFFER.build(header))
        lay.put(PRB_VAR_PA, struct.pack("<Q", image_va(RB_PA)))
        lay.put(self.descs_pa, b"".join(PRB_DESC.build(d) for d in self.descs))
        lay.put(self.infos_pa, b"".join(PRINTK_INFO.build(i) for i in self.infos))
        lay.put(self.data_pa, bytes(self.data))
        if self.arrays == "kallsyms":
            lay.put(POB_VAR_PA, struct.pack("<Q", POB))
            self.info.update(
                kallsyms_image(
                    lay,
                    base_pa=KALLSYMS_PA,
                    phys_base=PHYS_BASE,
                    symbols=[("T", "_stext", IMAGE_VA), ("D", "page_offset_base", image_va(POB_VAR_PA))],
                )
            )
        elif self.arrays == "pagetables":
            ptb = PageTableBuilder(levels=4, table_base=TABLES_PA)
            size = self.data_pa + self.dsize - DIRECT_PA
            for off in range(0, size + 4095, 4096):
                ptb.map_4k(POB + DIRECT_PA + off, DIRECT_PA + off)
            for pa, page in ptb.pages().items():
                assert TABLES_PA <= pa and pa + TABLE_SIZE <= IMAGE_PA + IMAGE_SIZE
                lay.put(pa, page)
            self.info["SYMBOL(init_top_pgt)"] = f"{image_va(ptb.root):x}"
        return lay.segments

    def write_elf(self, path: str) -> None:
        img = Image()
        for pa, data in self.segments().items():
            size = (len(data) + 4095) & ~4095
            img.add_region(pa, size)
            img.put(pa, bytes(data))
        img.write_elf(path, notes=[elf_note("VMCOREINFO", 0, vmcoreinfo_text(self.info))])


def _info(
    seq: int,
    text_len: int,
    ts_nsec: int = 0,
    facility: int = 0,
    level: int = 6,
    flags: int = 0,
    caller_id: int = 0,
    subsystem: bytes = b"",
    device: bytes = b"",
) -> dict[str, Any]:
    return {
        "seq": seq,
        "ts_nsec": ts_nsec,
        "text_len": text_len,
        "facility": facility,
        "flags_level": {"level": level, "flags": flags},
        "caller_id": caller_id,
        "dev_info": {"subsystem": subsystem.ljust(16, b"\0"), "device": device.ljust(48, b"\0")},
    }


# -- struct printk_log (before v5.10) ------------------------------------------------------------
LOG_BUF_VAR_PA = IMAGE_PA + 0x1000  # char *log_buf
LOG_BUF_LEN_PA = IMAGE_PA + 0x1008  # u32 log_buf_len
LOG_FIRST_IDX_PA = IMAGE_PA + 0x100C  # u32 log_first_idx
LOG_NEXT_IDX_PA = IMAGE_PA + 0x1010  # u32 log_next_idx
LOG_FIRST_SEQ_PA = IMAGE_PA + 0x1018  # u64 log_first_seq
LOG_BUF_PA = IMAGE_PA + 0x20000  # __log_buf


def log_record(
    text: bytes,
    ts_nsec: int,
    level: int = 6,
    facility: int = 0,
    flags: int = 0,
    caller_id: int = 0,
    dict_: bytes = b"",
    caller: bool = True,
) -> bytes:
    """One ``struct printk_log`` record: header, text, dictionary, padding to ``LOG_ALIGN``.

    Without ``caller`` the header ends before ``caller_id`` (no CONFIG_PRINTK_CALLER).
    """
    hdr = PRINTK_LOG.sizeof() if caller else PRINTK_LOG_SIZE_NO_CALLER
    size = hdr + len(text) + len(dict_)
    size += -size % PRINTK_LOG_ALIGN
    head = PRINTK_LOG.build(
        {
            "ts_nsec": ts_nsec,
            "len": size,
            "text_len": len(text),
            "dict_len": len(dict_),
            "facility": facility,
            "flags_level": {"level": level, "flags": flags},
            "caller_id": caller_id,
        }
    )[:hdr]
    return (head + text + dict_).ljust(size, b"\0")


def legacy_log(
    buf: bytes, first_idx: int, next_idx: int, first_seq: int | None = None
) -> tuple[BytesMemory, dict[str, str]]:
    """A pre-v5.10 log: ``buf`` as ``__log_buf`` and the variables VMCOREINFO names."""
    lay = Layout(IMAGE_SIZE, IMAGE_PA)
    lay.put(LOG_BUF_PA, buf)
    lay.put(LOG_BUF_VAR_PA, struct.pack("<Q", image_va(LOG_BUF_PA)))
    lay.put(LOG_BUF_LEN_PA, struct.pack("<I", len(buf)))
    lay.put(LOG_FIRST_IDX_PA, struct.pack("<I", first_idx))
    lay.put(LOG_NEXT_IDX_PA, struct.pack("<I", next_idx))
    info = {
        "OSRELEASE": "5.4.0-test",
        "NUMBER(phys_base)": str(PHYS_BASE),
        "SYMBOL(log_buf)": f"{image_va(LOG_BUF_VAR_PA):x}",
        "SYMBOL(log_buf_len)": f"{image_va(LOG_BUF_LEN_PA):x}",
        "SYMBOL(log_first_idx)": f"{image_va(LOG_FIRST_IDX_PA):x}",
        "SYMBOL(log_next_idx)": f"{image_va(LOG_NEXT_IDX_PA):x}",
        "SYMBOL(clear_idx)": f"{image_va(LOG_FIRST_IDX_PA):x}",
        **{k: str(v) for k, v in LEGACY_DEFAULTS.items()},
        "OFFSET(printk_log.caller_id)": str(field_offset(PRINTK_LOG, "caller_id")),
    }
    if first_seq is not None:
        lay.put(LOG_FIRST_SEQ_PA, struct.pack("<Q", first_seq))
        info.update(
            kallsyms_image(
                lay,
                base_pa=KALLSYMS_PA,
                phys_base=PHYS_BASE,
                symbols=[("T", "_stext", IMAGE_VA), ("b", "log_first_seq", image_va(LOG_FIRST_SEQ_PA))],
            )
        )
    mem = BytesMemory({pa: bytes(b) for pa, b in lay.segments.items()})
    mem.info.vmcoreinfo = info
    return mem, info
