"""VMware guest memory: a ``.vmem`` file and the region table of its ``.vmss``/``.vmsn`` (``format=vmware``).

A suspended or snapshotted VMware guest leaves its RAM in ``X.vmem`` and its
device state in ``X.vmss`` (suspend) or ``X.vmsn`` (snapshot); older products
put the RAM in the checkpoint itself, as a ``Memory`` block. The ``.vmem`` has
no header: it is guest RAM with the holes left out, and the checkpoint's
``memory`` group says where each piece belongs (``regionPPN``,
``regionPageNum``, ``regionSize``: the layout is in
:mod:`efitables.schemas.vmware`). Read flat, the memory above the PCI hole
(usually 3 GiB) would appear at the wrong address.

Opening ``X.vmem`` looks for ``X.vmss``, then ``X.vmsn`` beside it: with one,
its regions map physical ranges to file offsets; without (or when it cannot be
read), the ``.vmem`` is read flat, offset = address, with a finding that says
so. Opening the checkpoint itself reads its ``Memory`` block, or else the
``X.vmem`` beside it; a checkpoint with neither is refused.

Every count and offset comes from the checkpoint and is bounded: groups
(:data:`MAX_GROUPS`), tags per group (:data:`MAX_TAGS`), regions
(:data:`MAX_REGIONS`), and every tag must lie inside the file. The findings a
region can repeat (``VMWARE-BAD-REGION``, ``VMWARE-TRUNCATED``) go through the
container's per-code cap (:attr:`PhysicalMemory.capped`): the first
:data:`~efitables.memory.base.MAX_FINDINGS_PER_CODE` of each are listed, then one
finding says how many more there were.

Sources: crash-utility/crash vmware_vmss.c@9.0.2 and vmware_vmss.h@9.0.2;
volatilityfoundation/volatility3 volatility3/framework/layers/vmware.py@1390001a
(``VmwareLayer._read_header``, and ``VmwareStacker``: ``X.vmss`` then ``X.vmsn``
beside ``X.vmem``).
"""

from __future__ import annotations

import os
from bisect import bisect_right
from dataclasses import dataclass, field

from efitables.errors import DumpFormatError, DumpOpenError, MemoryReadError
from efitables.findings import Finding, Severity, make, register
from efitables.memory import ContainerFormat, register_format
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory, PhysRange
from efitables.memory.raw import shrank_reason
from efitables.memory.source import ByteSource, is_remote, open_source, source_exists
from efitables.schemas.common import fast_struct
from efitables.schemas.vmware import (
    CPT_GROUP_DESC,
    CPT_GROUP_DESC_SIZE,
    CPT_GROUP_NAME_LENGTH,
    CPTDUMP_HEADER,
    CPTDUMP_HEADER_SIZE,
    MAX_TAG_INDICES,
    MEMORY_GROUP,
    NULL_TAG,
    TAG_INDEX,
    TAG_INDEX_SIZE,
    TAG_ISBLOCK,
    TAG_ISBLOCK_COMPRESSED,
    TAG_MEMORY_BLOCK,
    TAG_REGION_PAGE_NUM,
    TAG_REGION_PPN,
    TAG_REGION_SIZE,
    TAG_REGIONS_COUNT,
    TAG_SIZE,
    VMSS_BLOCK_HEADER,
    VMSS_BLOCK_HEADER_32,
    VMSS_BLOCK_HEADER_32_SIZE,
    VMSS_BLOCK_HEADER_SIZE,
    VMSS_MAGICS,
    VMSS_TAG,
    VMW_PAGE_SIZE,
    block_sizes_are_32bit,
    tag_namelen,
    tag_nindx,
    tag_valsize,
)

_HEADER = fast_struct(CPTDUMP_HEADER)
_GROUP = fast_struct(CPT_GROUP_DESC)
_TAG = fast_struct(VMSS_TAG)
_INDEX = fast_struct(TAG_INDEX)
_BLOCK64 = fast_struct(VMSS_BLOCK_HEADER)
_BLOCK32 = fast_struct(VMSS_BLOCK_HEADER_32)

#: Group descriptors read at most (VMware writes a few dozen).
MAX_GROUPS = 1024
#: Tags walked per group at most.
MAX_TAGS = 1 << 16
#: Memory regions used at most (VMware writes two or three: below and above the PCI hole).
MAX_REGIONS = 1024
#: Largest plain value a tag may have (the tags used here are u32).
MAX_VALUE_SIZE = 8

STATE_SUFFIXES = (".vmss", ".vmsn")
VMEM_SUFFIX = ".vmem"

VMWARE_NO_STATE = register(
    "VMWARE-NO-STATE",
    Severity.INFO,
    "No .vmss/.vmsn beside the .vmem: read flat, without the region table",
    "The memory file is read with offset = physical address. That is right below the PCI hole; a guest "
    "with more RAM than fits below it (about 3 GiB) has the rest at the wrong address. Put the "
    "checkpoint (same name, .vmss or .vmsn) beside the .vmem.",
)
VMWARE_BAD_STATE = register(
    "VMWARE-BAD-STATE",
    Severity.WARNING,
    "The VMware checkpoint could not be read; the memory file is read flat",
)
VMWARE_BAD_REGION = register(
    "VMWARE-BAD-REGION",
    Severity.WARNING,
    "A VMware memory region is incomplete, impossible or overlaps another; it is skipped or cut",
)
VMWARE_TRUNCATED = register(
    "VMWARE-TRUNCATED",
    Severity.WARNING,
    "The VMware memory file is shorter than its regions say",
    "The part of each region that is in the file stays readable; the rest is missing.",
)
VMWARE_LIMIT = register(
    "VMWARE-LIMIT",
    Severity.WARNING,
    "A VMware checkpoint exceeds a reader limit (groups, tags or regions)",
)
VMWARE_NO_REGIONS = register(
    "VMWARE-NO-REGIONS",
    Severity.INFO,
    "The VMware checkpoint has no region table; the memory is read flat",
)


class StateError(Exception):
    """The checkpoint cannot be parsed (the reason is the message)."""


@dataclass
class VmssState:
    """What a checkpoint says about memory."""

    path: str
    magic: int
    size: int  # of the file, when read
    groups: list[tuple[str, int, int]] = field(default_factory=list)  # name, position, size
    values: dict[tuple[str, tuple[int, ...]], int] = field(default_factory=dict)  # memory group tags
    memory_block: tuple[int, int, bool] | None = None  # data offset, nbytesinmem, compressed
    findings: list[Finding] = field(default_factory=list)

    @property
    def regions_count(self) -> int | None:
        return self.values.get((TAG_REGIONS_COUNT, ()))


def read_state(path: str) -> VmssState:
    """Parse a checkpoint's header, groups and ``memory`` group tags (a file or a URL); raises StateError."""
    try:
        src = open_source(path)
    except OSError as e:
        raise StateError(f"{e.strerror or e}") from None
    except DumpOpenError as e:
        raise StateError(e.reason) from None
    try:
        return _read_state(src, path, src.size)
    except OSError as e:
        raise StateError(f"{e.strerror or e}") from None
    finally:
        src.close()


def _read_state(src: ByteSource, path: str, size: int) -> VmssState:
    head = src.pread(CPTDUMP_HEADER_SIZE, 0)
    if len(head) < CPTDUMP_HEADER_SIZE:
        raise StateError(f"{size} bytes are too few for a checkpoint header")
    magic, _version, ngroups = _HEADER.unpack(head)
    if magic not in VMSS_MAGICS:
        raise StateError(f"magic {magic:#010x} is not a VMware checkpoint's")
    st = VmssState(path, magic, size)
    if ngroups > MAX_GROUPS:
        st.findings.append(make(VMWARE_LIMIT, "VMware checkpoint", None,
                                f"{path}: {ngroups} groups; the first {MAX_GROUPS} are read"))
        ngroups = MAX_GROUPS
    table = src.pread(ngroups * CPT_GROUP_DESC_SIZE, CPTDUMP_HEADER_SIZE)
    if len(table) < ngroups * CPT_GROUP_DESC_SIZE:
        raise StateError(f"the file ends inside its {ngroups} group descriptors")
    mem_group: tuple[int, int] | None = None
    for i in range(ngroups):
        raw_name, position, gsize = _GROUP.unpack_from(table, i * CPT_GROUP_DESC_SIZE)
        name = raw_name[:CPT_GROUP_NAME_LENGTH].split(b"\0", 1)[0]
        st.groups.append((name.decode("ascii", "backslashreplace"), position, gsize))
        if name == MEMORY_GROUP and mem_group is None:
            mem_group = (position, gsize)
    if mem_group is None:
        raise StateError("it has no 'memory' group")
    position, gsize = mem_group
    if position >= size:
        raise StateError(f"its memory group at {position:#x} lies past the end of the file ({size:#x} bytes)")
    end = min(size, position + gsize) if gsize else size
    _walk_tags(src, st, position, end)
    return st


def _walk_tags(src: ByteSource, st: VmssState, pos: int, end: int) -> None:
    wide = not block_sizes_are_32bit(st.magic)
    block_hdr, block_size = (_BLOCK64, VMSS_BLOCK_HEADER_SIZE) if wide else (_BLOCK32, VMSS_BLOCK_HEADER_32_SIZE)
    for _ in range(MAX_TAGS):
        raw = src.pread(TAG_SIZE, pos)
        if len(raw) < TAG_SIZE or pos + TAG_SIZE > end:
            raise StateError(f"the memory group's tags run past its end at {end:#x} (tag at {pos:#x})")
        (tag,) = _TAG.unpack(raw)
        if tag == NULL_TAG:
            return
        nlen, nidx, vsize = tag_namelen(tag), tag_nindx(tag), tag_valsize(tag)
        if nidx > MAX_TAG_INDICES:  # two bits cannot hold more; kept as crash checks it
            raise StateError(f"tag at {pos:#x} has {nidx} indices")
        body = src.pread(nlen + nidx * TAG_INDEX_SIZE, pos + TAG_SIZE)
        if len(body) < nlen + nidx * TAG_INDEX_SIZE:
            raise StateError(f"the file ends inside the tag at {pos:#x}")
        name = body[:nlen].decode("ascii", "backslashreplace")
        idx = tuple(_INDEX.unpack_from(body, nlen + k * TAG_INDEX_SIZE)[0] for k in range(nidx))
        vpos = pos + TAG_SIZE + nlen + nidx * TAG_INDEX_SIZE
        if vsize in (TAG_ISBLOCK, TAG_ISBLOCK_COMPRESSED):
            bh = src.pread(block_size, vpos)
            if len(bh) < block_size:
                raise StateError(f"the file ends inside the block tag {name!r} at {pos:#x}")
            nbytes, inmem, pad = block_hdr.unpack(bh)
            data = vpos + block_size + pad
            if name == TAG_MEMORY_BLOCK and st.memory_block is None:
                st.memory_block = (data, inmem, vsize == TAG_ISBLOCK_COMPRESSED)
            pos = data + nbytes
        else:
            if vsize and vsize <= MAX_VALUE_SIZE:
                value = src.pread(vsize, vpos)
                if len(value) < vsize:
                    raise StateError(f"the file ends inside the tag {name!r} at {pos:#x}")
                st.values.setdefault((name, idx), int.from_bytes(value, "little"))
            pos = vpos + vsize
        if pos > end:
            raise StateError(f"the tag at {pos:#x} runs past the memory group's end at {end:#x}")
    st.findings.append(make(VMWARE_LIMIT, "VMware checkpoint", None,
                            f"{st.path}: more than {MAX_TAGS} tags in the memory group; the rest are ignored"))


def companion(path: str, suffixes: tuple[str, ...]) -> str | None:
    """``X.vmss``/``X.vmsn`` beside ``X.vmem`` (or ``X.vmem`` beside a checkpoint): the first that exists."""
    stem, ext = os.path.splitext(path)
    if not ext:
        return None
    for sfx in suffixes:
        for cand in (stem + sfx, stem + sfx.upper()) if ext.isupper() else (stem + sfx,):
            if source_exists(cand):
                return cand
    return None


@dataclass(frozen=True)
class _Seg:
    start: int  # physical
    end: int
    file_offset: int


class VmwareMemory(PhysicalMemory):
    """Guest memory from a ``.vmem`` (or a checkpoint's ``Memory`` block), placed by the region table."""

    format = "vmware"

    def __init__(self, path: str | ByteSource) -> None:
        given = path if isinstance(path, ByteSource) else None
        path = given.name if given is not None else str(path)
        super().__init__(path)
        self._src: ByteSource | None = None
        self._given = given  # the source open_memory sniffed: used if it is the memory file, else closed
        self._files: dict[str, int] = {}  # every file read, with its size when opened
        self.state: VmssState | None = None
        try:
            head = given.pread(CPTDUMP_HEADER_SIZE, 0) if given is not None else _pread_file(path, CPTDUMP_HEADER_SIZE)
            if _sniff(head):
                self._open_state(path)
            else:
                self._open_vmem(path)
        except BaseException:
            self.close()
            raise
        if self._given is not None:  # the checkpoint itself, read: the memory is elsewhere
            self._given.close()
            self._given = None

    def _open_data(self, path: str) -> int:
        if self._given is not None and self._given.name == path:
            self._src, self._given = self._given, None
        else:
            self._src = open_source(path)
        size = self._src.size
        self._files[path] = size
        return size

    def _open_state(self, path: str) -> None:
        """Opened through the checkpoint: its Memory block, or the .vmem beside it."""
        try:
            st = read_state(path)
        except StateError as e:
            vmem = companion(path, (VMEM_SUFFIX,))
            hint = (f"; open {vmem} instead (read flat without a region table)" if vmem else
                    "; and no .vmem with its guest memory is beside it")
            raise DumpFormatError(path, f"VMware checkpoint state ({os.path.splitext(path)[1] or 'vmss'}) "
                                        f"that cannot be read: {e}{hint}") from None
        self.state = st
        blk = st.memory_block
        if blk is not None and not blk[2]:
            self._data_path, self._base = path, blk[0]
            self._data_size = blk[1]
            have = self._open_data(path) - blk[0]
            if have < self._data_size:
                self.info.findings.append(make(VMWARE_TRUNCATED, "VMware Memory block", None,
                                               f"the Memory block holds {self._data_size:#x} bytes but the file "
                                               f"has {max(0, have):#x} after its start"))
                self._data_size = max(0, have)
        else:
            vmem = companion(path, (VMEM_SUFFIX,))
            if vmem is None:
                name = os.path.splitext(os.path.basename(path))[0] + VMEM_SUFFIX
                why = ("its Memory block is compressed, which efitables does not read, and"
                       if blk is not None else "it holds no Memory block, and")
                raise DumpOpenError(
                    path, f"VMware checkpoint state ({os.path.splitext(path)[1] or 'vmss'}) without guest memory: "
                    f"{why} the guest's RAM file {name} is not beside it; put {name} there and open it")
            self._data_path, self._base = vmem, 0
            self._data_size = self._open_data(vmem)
            self._files.setdefault(path, st.size)
        self.info.findings.extend(st.findings)
        self._place(st)

    def _open_vmem(self, path: str) -> None:
        self._data_path, self._base = path, 0
        self._data_size = self._open_data(path)
        state_path = companion(path, STATE_SUFFIXES)
        if state_path is None:
            self.info.findings.append(make(
                VMWARE_NO_STATE, "VMware memory file", None,
                f"neither {os.path.splitext(os.path.basename(path))[0]}.vmss nor .vmsn is beside it"))
            self._flat()
            return
        try:
            st = read_state(state_path)
        except StateError as e:
            self.info.findings.append(make(VMWARE_BAD_STATE, "VMware checkpoint", None,
                                           f"{os.path.basename(state_path)}: {e}; read flat"))
            self._flat()
            return
        self.state = st
        self._files.setdefault(state_path, st.size)
        self.info.findings.extend(st.findings)
        self._place(st)

    def _flat(self) -> None:
        self.info.file_size = self._data_size
        self._segs = [_Seg(0, self._data_size, 0)] if self._data_size else []
        self._finish()

    def _place(self, st: VmssState) -> None:
        """Map the checkpoint's regions onto the memory file."""
        self.info.details["state"] = st.path
        self.info.details["state_magic"] = f"{st.magic:#010x}"
        count = st.regions_count
        if not count:
            self.info.findings.append(make(VMWARE_NO_REGIONS, "VMware checkpoint", None,
                                           f"{os.path.basename(st.path)}: regionsCount is "
                                           f"{'absent' if count is None else 0}; offset = address"))
            self._flat()
            return
        if count > MAX_REGIONS:
            self.info.findings.append(make(VMWARE_LIMIT, "VMware checkpoint", None,
                                           f"regionsCount {count}; the first {MAX_REGIONS} are used"))
            count = MAX_REGIONS
        segs: list[_Seg] = []
        for i in range(count):
            vals = [st.values.get((t, (i,))) for t in (TAG_REGION_PPN, TAG_REGION_PAGE_NUM, TAG_REGION_SIZE)]
            where = f"region {i}"
            ppn, pagenum, npages = vals
            if ppn is None or pagenum is None or npages is None:
                missing = [t for t, v in zip((TAG_REGION_PPN, TAG_REGION_PAGE_NUM, TAG_REGION_SIZE), vals,
                                             strict=True) if v is None]
                self._bad_region(None, f"{where}: no {', '.join(f'{m}[{i}]' for m in missing)}; skipped")
                continue
            pa, off, length = ppn * VMW_PAGE_SIZE, pagenum * VMW_PAGE_SIZE, npages * VMW_PAGE_SIZE
            what = (f"{where} (physical {pa:#x}-{pa + length - 1:#x} at file offset {off:#x})"
                    if length else f"{where} (physical {pa:#x}, empty)")
            if length == 0:
                continue
            if pa + length > MAX_PHYS_ADDR:
                self._bad_region(pa, f"{what}: beyond the 52-bit physical address space; skipped")
                continue
            have = max(0, min(length, self._data_size - off))
            if have < length:
                self.capped.add(  # one per region: capped like VMWARE-BAD-REGION
                    VMWARE_TRUNCATED, "VMware memory region", pa + have,
                    f"{what}: the memory file ({self._data_size:#x} bytes) holds only {have:#x} bytes of it")
            if have:
                segs.append(_Seg(pa, pa + have, off))
        out: list[_Seg] = []
        for s in sorted(segs, key=lambda s: s.start):
            if out and s.start < out[-1].end:
                prev = out[-1]
                self._bad_region(s.start, f"physical {s.start:#x}-{s.end - 1:#x} (file offset {s.file_offset:#x}) "
                                          f"overlaps {prev.start:#x}-{prev.end - 1:#x}; the first is used")
                if s.end <= prev.end:
                    continue
                s = _Seg(prev.end, s.end, s.file_offset + (prev.end - s.start))
            out.append(s)
        self.info.file_size = self._data_size
        self._segs = out
        self.info.details["regions"] = [
            {"start": s.start, "end": s.end, "file_offset": s.file_offset} for s in out]
        self._finish()

    def _bad_region(self, pa: int | None, message: str) -> None:
        """One VMWARE-BAD-REGION, through the container's cap: a checkpoint can name a bad region per
        index, so past :data:`~efitables.memory.base.MAX_FINDINGS_PER_CODE` one finding counts the rest."""
        self.capped.add(VMWARE_BAD_REGION, "VMware memory region", pa, message)

    def _finish(self) -> None:
        self.info.details["memory_file"] = self._data_path
        self._seg_start = [s.start for s in self._segs]
        self._set_ranges([PhysRange(s.start, s.end) for s in self._segs])

    def sources(self) -> list[ByteSource]:
        return [self._src] if self._src is not None else []

    def source_files(self) -> list[tuple[str, int]]:
        """The local files read, with their sizes when opened (validate checks that none changed)."""
        return [(p, n) for p, n in self._files.items() if not is_remote(p)]

    # -- PhysicalMemory -------------------------------------------------------------
    def _load_ranges(self) -> list[PhysRange]:
        return [PhysRange(s.start, s.end) for s in self._segs]

    def _read(self, pa: int, size: int) -> bytes:
        seg = self._segs[bisect_right(self._seg_start, pa) - 1]
        assert self._src is not None
        data = self._src.pread(size, self._base + seg.file_offset + (pa - seg.start))
        if len(data) < size:
            raise MemoryReadError(pa, size, reason=shrank_reason(self._src, self._files[self._data_path]))
        return data

    def close(self) -> None:
        for src in (self._src, self._given):
            if src is not None:
                src.close()


def _pread_file(path: str, n: int) -> bytes:
    with open_source(path) as src:
        return src.pread(n, 0)


def _sniff(head: bytes) -> bool:
    """A checkpoint (``.vmss``/``.vmsn``) opened directly; a ``.vmem`` has no header (open_memory goes by its name)."""
    return len(head) >= CPTDUMP_HEADER_SIZE and _HEADER.unpack_from(head)[0] in VMSS_MAGICS


register_format(ContainerFormat("vmware", "VMware guest memory (.vmem with its .vmss/.vmsn region table)",
                                _sniff, VmwareMemory))
