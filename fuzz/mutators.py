"""Structure-aware mutation of dumps of the seed machine, and a plain byte mutator.

:func:`mutate` picks one of:

* ``field``: 1-4 fields of :data:`fuzz.machine.FIELDS`-style catalogue (pointers, counts, lengths,
  types, magics of every structure) set to hostile values: 0, all ones, the dump's size and a few
  bytes either side, the hole page, addresses past the dump, beyond 4 GiB and 52 bits, the field's
  own address or its structure's (self-references: cycles), another structure's address (type
  confusion, cycles between structures), unaligned and virtual addresses; counts and lengths 0,
  1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, all ones. Then, most of the time, the checksums covering
  the fields are recomputed (the EFI table CRC32 through :func:`efitables.schemas.efi_tables.efi_crc32`,
  ACPI and SMBIOS byte sums), so the structure is accepted and the code behind the check runs;
* ``container``: 1-3 of the container's own header fields (program headers, LiME ranges, kdump
  header, sub-header and page descriptors, flattened records, AVML blocks, VMware groups and
  region tags) set to values around the file's size, zero, all ones, or huge;
* ``copy``: a structure's bytes copied over another (a zero page where the system table is, a
  setup_data node over the memory map, ...);
* ``guid``: a configuration table's GUID replaced by another known one (a decoder fed another
  decoder's payload);
* ``truncate``: the file cut inside or just after a structure;
* ``bytes``: a generic byte mutation (libFuzzer's, through ``atheris.Mutate``, when running under
  atheris; :func:`byte_mutate` otherwise).

Physical writes go through the file's :class:`PhysView`: in place for containers that store
bytes as they are (raw, ELF, LiME: earlier container mutations survive), or read back through
efitables, patched and rebuilt for compressed or framed ones (kdump, AVML, VMware).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from fuzz import containers as C
from fuzz import machine as M

#: EFI runtime regions' virtual offset as Linux maps them (dumps/make_samples.py VIRT_OFFSET).
VIRT_OFFSET = 0xFFFFFFFEFF000000

#: Interesting integers for the byte mutator (as libFuzzer's dictionary of "magic" values would).
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
               1 << 32, 1 << 52, 1 << 63, (1 << 64) - 1, M.SIZE, M.SIZE - 8, M.HOLE, 0x1000]


class PhysView:
    """Physical reads and writes on a file of one container (in place or by rebuilding)."""

    def __init__(self, container: C.Container, data: bytes) -> None:
        self.c = container
        self.data = bytearray(data)
        self.segments: C.Segments = []
        self.image: bytearray | None = None
        if container.segments is not None:
            self.segments = container.segments(bytes(data))
        else:
            parts = C.physical_of(container, bytes(data))
            self.image = C.image_of(parts) if parts is not None else None
        self.dirty = False

    @property
    def ok(self) -> bool:
        return bool(self.segments) or self.image is not None

    def _off(self, pa: int, n: int) -> int | None:
        for start, end, off in self.segments:
            if start <= pa and pa + n <= end:
                return off + pa - start
        return None

    def read(self, pa: int, n: int) -> bytes | None:
        if self.image is not None:
            return bytes(self.image[pa : pa + n]) if 0 <= pa and pa + n <= len(self.image) else None
        off = self._off(pa, n)
        return None if off is None else bytes(self.data[off : off + n])

    def write(self, pa: int, b: bytes) -> bool:
        if self.image is not None:
            if 0 <= pa and pa + len(b) <= len(self.image):
                self.image[pa : pa + len(b)] = b
                self.dirty = True
                return True
            return False
        off = self._off(pa, len(b))
        if off is None:
            return False
        self.data[off : off + len(b)] = b
        return True

    def file_offset(self, pa: int) -> int | None:
        return self._off(pa, 1)

    def result(self) -> bytes:
        if self.image is not None and self.dirty:
            return self.c.build(bytes(self.image))
        return bytes(self.data)


# -- values ------------------------------------------------------------------------------------------
def _mask(width: int) -> int:
    return (1 << (8 * width)) - 1


def hostile_value(rnd: random.Random, f: M.Field, current: int, structures: list[int]) -> int:
    """A value a hostile dump would put in ``f``."""
    top = _mask(f.size)
    if f.kind == "ptr":
        pick = rnd.randrange(22)
        choices: list[Callable[[], int]] = [
            lambda: 0, lambda: top, lambda: top - 7, lambda: 1 << 63, lambda: (1 << 52) - 8, lambda: 1 << 52,
            lambda: M.SIZE - rnd.choice((1, 4, 8, 16, 0x18)), lambda: M.SIZE + rnd.choice((0, 8, 0x1000)),
            lambda: M.HOLE + rnd.choice((0, 8, 0x18, 0xFF8)), lambda: 0x100000, lambda: 1 << 32,
            lambda: 0xFFFFF000, lambda: f.pa, lambda: f.base, lambda: rnd.choice(structures),
            lambda: rnd.choice(structures) + rnd.choice((1, 8, 0x10, 0x18, -8, -0x10)), lambda: current + 1,
            lambda: VIRT_OFFSET + rnd.choice(structures), lambda: current - f.pa + f.base,
            lambda: rnd.getrandbits(8 * f.size), lambda: current ^ (1 << rnd.randrange(8 * f.size)),
            lambda: rnd.randrange(0, M.SIZE, 8),
        ]
        return choices[pick]() & top
    if f.kind in ("count", "len"):
        vals = [0, 1, 2, 3, 0xFF, 0x100, 0x1000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, top, top - 1,
                M.SIZE, M.SIZE // 8, current + 1, current - 1, current * 2, current * 0x1000, current + 0x1000,
                rnd.getrandbits(8 * f.size), rnd.randrange(0, 0x200)]
        return rnd.choice(vals) & top
    if f.kind == "guid":
        return rnd.getrandbits(8 * f.size)
    vals = [0, 1, current ^ 1, current + 1, top, rnd.getrandbits(8 * f.size), rnd.randrange(0, 16),
            (1 << 31) | rnd.randrange(0, 12)]
    return rnd.choice(vals) & top


def container_value(rnd: random.Random, current: int, width: int, file_size: int) -> int:
    top = _mask(abs(width))
    vals = [0, 1, top, top - 1, file_size, file_size - 1, file_size + 1, file_size * 2, file_size - 0x1000,
            1 << 31, 1 << 32, 1 << 40, 1 << 52, 1 << 62, 1 << 63, current + 1, current - 1, current + 0x1000,
            current - 0x1000, current * 2, current // 2, current << 12, 0xFFFF, 0x10000, 0x7FFFFFFF,
            rnd.getrandbits(8 * abs(width))]
    return rnd.choice(vals) & top


def _put_int(buf: bytearray, off: int, width: int, value: int) -> None:
    n = abs(width)
    if 0 <= off and off + n <= len(buf):
        buf[off : off + n] = (value & _mask(n)).to_bytes(n, "big" if width < 0 else "little")


# -- the mutations ------------------------------------------------------------------------------------
def _fields(c: C.Container) -> tuple[M.Field, ...]:
    return M.fields(c.bits)


def mutate_fields(rnd: random.Random, c: C.Container, data: bytes) -> bytes | None:
    view = PhysView(c, data)
    if not view.ok:
        return None
    fields = _fields(c)
    structures = list(M.structures(c.bits).values())
    groups: set[str] = set()
    for _ in range(rnd.choice((1, 1, 1, 2, 2, 3, 4))):
        f = rnd.choice(fields)
        cur_b = view.read(f.pa, f.size)
        cur = int.from_bytes(cur_b, "little") if cur_b is not None else 0
        if f.kind == "guid":
            guid = rnd.choice(_known_guids())
            from efitables.schemas.common import guid_to_bytes

            view.write(f.pa, guid_to_bytes(guid))
        else:
            view.write(f.pa, hostile_value(rnd, f, cur, structures).to_bytes(f.size, "little"))
        if f.group:
            groups.add(f.group)
    if groups and rnd.random() < 0.7:
        fixers = M.build(c.bits).fixers
        for g in groups:
            fixers[g](view.read, view.write)
    return view.result()


def mutate_container(rnd: random.Random, c: C.Container, data: bytes) -> bytes | None:
    fields = c.header_fields(data)
    if not fields:
        return None
    buf = bytearray(data)
    for _ in range(rnd.choice((1, 1, 2, 3))):
        _name, off, width = rnd.choice(fields)
        n = abs(width)
        if off < 0 or off + n > len(buf):
            continue
        cur = int.from_bytes(buf[off : off + n], "big" if width < 0 else "little")
        _put_int(buf, off, width, container_value(rnd, cur, width, len(buf)))
    return bytes(buf)


def mutate_copy(rnd: random.Random, c: C.Container, data: bytes) -> bytes | None:
    view = PhysView(c, data)
    if not view.ok:
        return None
    structures = list(M.structures(c.bits).values())
    src = rnd.choice(structures)
    dst = rnd.choice(structures + [M.HOLE, M.SIZE - 0x100, rnd.randrange(0, M.SIZE - 0x100, 8)])
    n = rnd.choice((8, 0x18, 0x40, 0x100, 0x400, 0x1000))
    b = view.read(src, n) or view.read(src, 0x18)
    if b is None:
        return None
    view.write(dst, b[: max(0, min(len(b), M.SIZE - dst))])
    return view.result()


_GUIDS: list[str] = []


def _known_guids() -> list[str]:
    if not _GUIDS:
        from efitables.payloads import DECODERS

        _GUIDS.extend(sorted(DECODERS))
        _GUIDS.append(M.UNKNOWN_GUID)
    return _GUIDS


def mutate_truncate(rnd: random.Random, c: C.Container, data: bytes) -> bytes | None:
    if len(data) < 2:
        return None
    cut: int | None = None
    if c.segments is not None:
        view = PhysView(c, data)
        pa = rnd.choice(list(M.structures(c.bits).values())) + rnd.choice((0, 1, 8, 0x10, 0x18, 0x40, 0x200))
        cut = view.file_offset(pa)
    if cut is None:
        cut = rnd.choice((rnd.randrange(1, len(data)), len(data) - rnd.randrange(1, min(len(data), 0x1000) + 1)))
    return data[: max(1, cut)]


def byte_mutate(rnd: random.Random, data: bytes, max_size: int) -> bytes:
    """A libFuzzer-like byte mutation (when atheris's own is not available): flips, interesting
    integers, erase, insert, duplicate and copy of blocks."""
    buf = bytearray(data or b"\0")
    for _ in range(rnd.choice((1, 1, 2, 3, 4, 8))):
        op = rnd.randrange(7)
        n = len(buf)
        pos = rnd.randrange(n)
        if op == 0:
            buf[pos] ^= 1 << rnd.randrange(8)
        elif op == 1:
            buf[pos] = rnd.randrange(256)
        elif op == 2:
            w = rnd.choice((1, 2, 4, 8))
            _put_int(buf, pos, w, rnd.choice(INTERESTING))
        elif op == 3 and n > 1:
            k = rnd.randrange(1, min(n - pos, 0x200) + 1)
            del buf[pos : pos + k]
        elif op == 4:
            k = rnd.choice((1, 4, 8, 0x10, 0x100))
            buf[pos:pos] = bytes(rnd.randrange(256) for _ in range(k)) if k <= 16 else bytes(k)
        elif op == 5:
            src = rnd.randrange(n)
            k = rnd.randrange(1, min(n - src, 0x100) + 1)
            buf[pos : pos + k] = buf[src : src + k]
        else:
            k = rnd.randrange(1, 9)
            for j in range(pos, min(n, pos + k)):
                buf[j] = 0xFF if rnd.random() < 0.5 else 0
    return bytes(buf[:max_size])


#: (operation, weight).
OPERATIONS: list[tuple[str, int]] = [
    ("field", 36), ("container", 16), ("copy", 5), ("truncate", 4), ("bytes", 39),
]


def mutate(
    data: bytes,
    max_size: int,
    rnd: random.Random,
    *,
    container: C.Container | None = None,
    generic: Callable[[bytes, int], bytes] | None = None,
) -> tuple[str, bytes]:
    """One mutation of ``data``: (operation name, result). ``generic`` is the byte mutator
    (``atheris.Mutate`` under atheris); without it :func:`byte_mutate`."""
    c = container or C.sniff(data)
    ops, weights = zip(*OPERATIONS, strict=True)
    op = rnd.choices(ops, weights)[0]
    out: bytes | None = None
    if op == "field":
        out = mutate_fields(rnd, c, data)
    elif op == "container":
        out = mutate_container(rnd, c, data)
    elif op == "copy":
        out = mutate_copy(rnd, c, data)
    elif op == "truncate":
        out = mutate_truncate(rnd, c, data)
    if out is None:
        op = "bytes"
        out = generic(data, max_size) if generic is not None else byte_mutate(rnd, data, max_size)
    return op, out[:max_size] if len(out) > max_size else out
