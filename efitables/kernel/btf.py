"""The kernel's own type information (BTF), read out of the dump.

A kernel built with CONFIG_DEBUG_INFO_BTF (Debian 11 and later) keeps a BTF
blob in its read-only data between the linker symbols ``__start_BTF`` and
``__stop_BTF`` (include/asm-generic/vmlinux.lds.h@v6.12, the ``.BTF`` output
section); :func:`load` finds them through :mod:`efitables.kernel.kallsyms` and
reads the blob through :meth:`PhysicalMemory.read`. :func:`parse` reads a blob
held in memory. The format is :mod:`efitables.schemas.btf`
(torvalds/linux include/uapi/linux/btf.h@v6.12, Documentation/bpf/btf.rst@v6.12);
what is accepted and how names, bitfields, enums and chains of modifiers are
read follows tools/lib/bpf/btf.c@v6.12 (``btf_parse_hdr``, ``btf_parse_str_sec``,
``btf_type_size``, ``btf__resolve_size``, ``btf_member_bit_offset``,
``btf_member_bitfield_size``, ``btf_enum64_value``) and kernel/bpf/btf.c@v6.12
(for ``kind_flag`` 0, a bitfield is an INT member whose ``BTF_INT_OFFSET`` adds
to the member offset).

The reader is lazy: :class:`Btf` checks the header, then one ``struct`` pass over
the type section records where each type's record starts (construct declares
the layouts and decodes the header only; it is far too slow per type). A type is
decoded when asked for (:meth:`Btf.type_by_id`) and cached. Names are never
decoded in bulk: :meth:`Btf.find` searches the string section for ``name\\0``
(every offset whose string is the name), keeps the offsets some type uses (a set
of the types' name offsets, the name index, built on the first call) and finds
those types in the array of name offsets the index pass kept (one C-speed
search of its bytes per offset); the answer is cached per name.

Everything in the blob is untrusted: the number of types is capped
(:data:`MAX_TYPES`), a record that runs past the type section or an unknown
kind stops the walk (the types before it stay usable), chains of
typedef/const/volatile/restrict/type_tag and nested arrays and anonymous
members are followed with a visited set and a depth cap, a type id past the
last type and a string offset past the string section (or a string without its
terminator) are findings. A query that cannot be answered raises
:class:`BtfError` carrying its :class:`~efitables.findings.Finding` (the
structure is ``"kernel BTF"`` and the address the physical address of the
record concerned); findings about damage in the blob are also kept in
:attr:`Btf.findings`.
"""

from __future__ import annotations

import dataclasses
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from efitables.errors import EfitablesError, MemoryReadError
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.model import Parsed
from efitables.schemas.btf import (
    BTF_ARRAY_FAST,
    BTF_DECL_TAG_FAST,
    BTF_ENUM64_FAST,
    BTF_ENUM64_HI_SHIFT,
    BTF_ENUM_FAST,
    BTF_HEADER,
    BTF_HEADER_SIZE,
    BTF_INFO_KFLAG_SHIFT,
    BTF_INFO_KIND_MASK,
    BTF_INFO_KIND_SHIFT,
    BTF_INFO_VLEN_MASK,
    BTF_INT_BITS_MASK,
    BTF_INT_ENCODING_MASK,
    BTF_INT_ENCODING_SHIFT,
    BTF_INT_FAST,
    BTF_INT_OFFSET_MASK,
    BTF_INT_OFFSET_SHIFT,
    BTF_MAGIC,
    BTF_MAGIC_SWAPPED,
    BTF_MAX_NAME_OFFSET,
    BTF_MAX_TYPE,
    BTF_MEMBER_BIT_OFFSET_MASK,
    BTF_MEMBER_BITFIELD_SIZE_SHIFT,
    BTF_MEMBER_FAST,
    BTF_PARAM_FAST,
    BTF_POINTER_SIZE,
    BTF_PREAMBLE_FAST,
    BTF_PREAMBLE_SIZE,
    BTF_TYPE,
    BTF_TYPE_ALIGN,
    BTF_TYPE_FAST,
    BTF_TYPE_SIZE,
    BTF_VAR_FAST,
    BTF_VAR_SECINFO_FAST,
    BTF_VERSION,
    KIND_RECORD,
    KINDS_WITH_SIZE,
    BtfKind,
)
from efitables.text import printable

if TYPE_CHECKING:
    from efitables.kernel.kallsyms import Kallsyms
    from efitables.memory.base import PhysicalMemory

STRUCTURE = "kernel BTF"
#: The linker symbols around the blob (include/asm-generic/vmlinux.lds.h ``.BTF``).
BTF_SYMBOLS = ("__start_BTF", "__stop_BTF")
#: Largest blob read (Debian 6.1's is 4.2 MiB; an allyesconfig kernel's ~ 20 MiB).
MAX_SECTION = 64 << 20
#: Most types indexed: ``BTF_MAX_TYPE`` is the largest id the format allows (Debian 6.1 has ~100,750).
MAX_TYPES = BTF_MAX_TYPE
#: Longest chain of typedef/const/volatile/restrict/type_tag (libbpf ``MAX_RESOLVE_DEPTH``).
MAX_CHAIN = 32
#: Deepest nesting of arrays and of anonymous struct/union members followed.
MAX_NESTING = 64
#: Longest name read (kernel identifiers are < 512 bytes, KSYM_NAME_LEN; tags may be longer).
MAX_NAME_LEN = 4096
#: Names whose type ids are cached on one :class:`Btf` (the cache starts over past it).
MAX_CACHED_NAMES = 4096
#: Places a name is looked for in the string section per lookup (real kernels: a few hundred for
#: a short member-like name, as a suffix of longer ones).
MAX_NAME_HITS = 1 << 16
#: Name offsets looked up one by one in the types' name offsets; more take one pass over all types.
MAX_NAME_SEARCHES = 8
#: Findings kept on one :class:`Btf` before the rest are only counted.
MAX_FINDINGS = 256

NO_SECTION = register(
    "BTF-NO-SECTION",
    Severity.INFO,
    "The kernel's BTF could not be located",
    "kallsyms does not give __start_BTF and __stop_BTF (a kernel built without CONFIG_DEBUG_INFO_BTF, "
    "or no usable kallsyms tables), so the kernel's type information is not read.",
)
BAD_SECTION = register(
    "BTF-BAD-SECTION",
    Severity.ERROR,
    "The kernel's BTF section bounds are impossible",
    "__stop_BTF is not after __start_BTF, or the section is larger than efitables reads (64 MiB).",
)
BAD_HEADER = register(
    "BTF-BAD-HEADER",
    Severity.ERROR,
    "The BTF header is invalid",
    "Wrong magic or version, a hdr_len shorter than struct btf_header or past the data, a misaligned "
    "or overlapping type/string section (libbpf btf_parse_hdr), or unsupported flags.",
)
BYTE_SWAPPED = register(
    "BTF-BYTE-SWAPPED",
    Severity.ERROR,
    "The BTF is of the other byte order",
    "The magic reads 0x9feb: the blob was written big-endian; an x86-64 kernel's BTF is little-endian, "
    "so it is not read.",
)
TRUNCATED = register(
    "BTF-TRUNCATED",
    Severity.ERROR,
    "The BTF is shorter than it says",
    "A section runs past the end of the blob, or a type record (with vlen trailing entries) runs past "
    "the type section; the types before it are read, the rest are not.",
)
UNKNOWN_KIND = register(
    "BTF-UNKNOWN-KIND",
    Severity.ERROR,
    "A BTF type has a kind efitables does not know",
    "Its record size is unknown, so the walk of the type section stops there (libbpf: unsupported kind).",
)
TOO_MANY_TYPES = register(
    "BTF-TOO-MANY-TYPES",
    Severity.ERROR,
    "The BTF holds more types than the format allows",
    "More than BTF_MAX_TYPE (0xfffff) type records: the ones past the cap are not read.",
)
BAD_STRING = register(
    "BTF-BAD-STRING",
    Severity.WARNING,
    "A BTF string is invalid",
    "A name offset past the string section, a name without its NUL terminator or longer than efitables "
    "reads, or a string section that does not start and end with NUL.",
)
BAD_TYPE_ID = register(
    "BTF-BAD-TYPE-ID",
    Severity.ERROR,
    "A BTF type id is past the last type",
    "A type refers to (or a caller asked for) a type id the type section does not hold.",
)
TYPE_LOOP = register(
    "BTF-TYPE-LOOP",
    Severity.ERROR,
    "A BTF type chain loops or is too deep",
    "A chain of typedef/const/volatile/restrict/type_tag, arrays or anonymous members comes back to a "
    "type already on it, or is longer than efitables follows.",
)
NOT_COMPOSITE = register(
    "BTF-NOT-COMPOSITE",
    Severity.WARNING,
    "A BTF member path goes through a type without members",
    "A member was looked up inside a type that is not a struct or union (or indexed in one that is not an array).",
)
NO_SIZE = register(
    "BTF-NO-SIZE",
    Severity.WARNING,
    "A BTF type has no size",
    "void, a function, a function prototype or a forward declaration has no size.",
)
NOT_FOUND = register(
    "BTF-NOT-FOUND",
    Severity.INFO,
    "A type, member or enumerator is not in the kernel's BTF",
    "The kernel's type information does not describe what was asked for (another kernel version or configuration).",
)
TOO_MANY_FINDINGS = register(
    "BTF-TOO-MANY-FINDINGS",
    Severity.INFO,
    "More BTF findings than efitables lists",
    "Only the first findings about one BTF blob are kept.",
)

#: Kinds :meth:`Btf.resolve` looks through.
MODIFIERS = frozenset({BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG})
COMPOSITES = frozenset({BtfKind.STRUCT, BtfKind.UNION})
#: ``kind=`` words of :meth:`Btf.find` and the C keywords of a type spec (``"struct efi"``).
KIND_WORDS: dict[str, frozenset[BtfKind]] = {
    "struct": frozenset({BtfKind.STRUCT}),
    "union": frozenset({BtfKind.UNION}),
    "enum": frozenset({BtfKind.ENUM, BtfKind.ENUM64}),
    "enum64": frozenset({BtfKind.ENUM64}),
    "typedef": frozenset({BtfKind.TYPEDEF}),
    "var": frozenset({BtfKind.VAR}),
    "datasec": frozenset({BtfKind.DATASEC}),
    "func": frozenset({BtfKind.FUNC}),
    "int": frozenset({BtfKind.INT}),
    "float": frozenset({BtfKind.FLOAT}),
    "fwd": frozenset({BtfKind.FWD}),
    "decl_tag": frozenset({BtfKind.DECL_TAG}),
    "type_tag": frozenset({BtfKind.TYPE_TAG}),
}
#: What a bare name in a type spec may be (``"efi_memory_desc_t"``, ``"efi"``), first match by id.
PLAIN_NAME_KINDS = frozenset({BtfKind.STRUCT, BtfKind.UNION, BtfKind.TYPEDEF, BtfKind.ENUM, BtfKind.ENUM64})
_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")
_MASK32 = 0xFFFFFFFF
_SIGN32 = 1 << 31
_SIGN64 = 1 << 63
#: The index pass's view of KIND_RECORD: bytes after btf_type and per vlen; a kind the format does not
#: define gets a length no type section holds, so that the one bounds test of the pass stops there.
_RECORD = tuple(fixed if fixed >= 0 else 1 << 40 for fixed, _per in KIND_RECORD)
_PER_VLEN = tuple(max(per, 0) for _fixed, per in KIND_RECORD)
_KINDS = tuple(BtfKind(k) if k <= max(BtfKind) else None for k in range(BTF_INFO_KIND_MASK + 1))


class BtfError(EfitablesError):
    """A BTF query that cannot be answered; ``finding`` says why and where."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(str(finding))
        self.finding = finding


# -- typed results ------------------------------------------------------------------------
class _Record:
    """A decoded piece of a type record: JSON as its fields (efitables.schemas.common.jsonable calls to_dict)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class BtfInt(_Record):
    """The u32 after a ``BTF_KIND_INT``: ``BTF_INT_ENCODING`` (signed/char/bool bits), ``_OFFSET``, ``_BITS``."""

    encoding: int
    offset: int
    bits: int


@dataclass(frozen=True)
class BtfArray(_Record):
    """``struct btf_array``."""

    type: int
    index_type: int
    nelems: int


@dataclass(frozen=True)
class BtfMember(_Record):
    """One ``struct btf_member``, decoded: ``bit_offset`` and ``bitfield_size`` (0: not a bitfield) per kind_flag."""

    name: str
    name_off: int
    type: int
    bit_offset: int
    bitfield_size: int

    @property
    def anonymous(self) -> bool:
        return self.name_off == 0


@dataclass(frozen=True)
class BtfEnumerator(_Record):
    """One ``struct btf_enum`` or ``btf_enum64``, its value signed or not as the enum's kind_flag says."""

    name: str
    name_off: int
    value: int


@dataclass(frozen=True)
class BtfParam(_Record):
    """One ``struct btf_param`` of a FUNC_PROTO."""

    name: str
    name_off: int
    type: int


@dataclass(frozen=True)
class BtfVarSecinfo(_Record):
    """One ``struct btf_var_secinfo`` of a DATASEC."""

    type: int
    offset: int
    size: int


@dataclass(kw_only=True)
class BtfType(Parsed):
    """One type record: ``struct btf_type`` and its kind's trailing data.

    ``size`` (inherited) is the record's length; ``type_size`` the third word for
    kinds that carry a size, ``ref`` that word for kinds that refer to a type.
    """

    kind: ClassVar[str] = "btf_type"

    id: int
    btf_kind: BtfKind
    name: str
    name_off: int
    kind_flag: bool
    vlen: int
    type_size: int | None = None
    ref: int | None = None
    int_info: BtfInt | None = None
    array: BtfArray | None = None
    members: tuple[BtfMember, ...] = ()
    enumerators: tuple[BtfEnumerator, ...] = ()
    params: tuple[BtfParam, ...] = ()
    secinfos: tuple[BtfVarSecinfo, ...] = ()
    linkage: int | None = None
    component_idx: int | None = None

    @property
    def title(self) -> str:
        word = self.btf_kind.name.lower()
        return f"[{self.id}] {word} {printable(self.name) or '(anon)'}"


@dataclass(frozen=True)
class BtfMemberRef:
    """Where a member path lands: byte ``offset`` (of the byte holding the first bit for a bitfield),
    ``bit_offset`` from the start of the outer type, ``bitfield_size`` (0: not a bitfield) and the
    member's type (unresolved)."""

    path: str
    offset: int
    bit_offset: int
    bitfield_size: int
    type: BtfType


VOID_NAME = "void"


@dataclass(kw_only=True)
class Btf(Parsed):
    """One BTF blob: its header, an index of its types, and the queries.

    ``raw`` is the whole blob; ``fields`` the decoded ``struct btf_header``;
    ``count`` the number of types indexed (ids ``1..count``; id 0 is void).
    """

    kind: ClassVar[str] = "btf"

    version: int
    flags: int
    hdr_len: int
    type_off: int
    type_len: int
    str_off: int
    str_len: int
    count: int = 0
    _type_start: int = field(default=0, repr=False)
    _str_start: int = field(default=0, repr=False)
    _str_end: int = field(default=0, repr=False)
    _offs: array[int] = field(default_factory=lambda: array("I"), repr=False)
    _ends: int = field(default=0, repr=False)  # where the last indexed record ends (offset in raw)
    _name_offs: array[int] = field(default_factory=lambda: array("I"), repr=False)  # per type id - 1
    _names: set[int] | None = field(default=None, repr=False)
    _name_words: bytes = field(default=b"", repr=False)
    _found: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)
    _enumerators: dict[int, list[tuple[int, int]]] | None = field(default=None, repr=False)
    _cache: dict[int, BtfType] = field(default_factory=dict, repr=False)
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _dropped: int = field(default=0, repr=False)

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, address: int | None = None) -> Btf:
        """The blob ``data`` (at physical ``address`` if known); raises :class:`BtfError` if its header is unusable."""
        got = parse(data, address)
        if isinstance(got, Finding):
            raise BtfError(got)
        return got

    @property
    def title(self) -> str:
        return f"kernel BTF v{self.version}: {self.count} types"

    def _pa(self, offset: int) -> int | None:
        """Physical address of byte ``offset`` of the blob."""
        return None if self.address is None else self.address + offset

    def _finding(self, code: str, message: str, address: int | None, keep: bool = True) -> Finding:
        f = make(code, STRUCTURE, address, message)
        if keep and (code, message) not in self._seen:
            if len(self._seen) < MAX_FINDINGS:
                self._seen.add((code, message))
                self.findings.append(f)
            else:
                self._dropped += 1
                if self._dropped == 1:
                    self.findings.append(
                        make(TOO_MANY_FINDINGS, STRUCTURE, self.address, f"more than {MAX_FINDINGS} findings")
                    )
        return f

    def _fail(self, code: str, message: str, address: int | None, keep: bool = True) -> BtfError:
        return BtfError(self._finding(code, message, address, keep))

    def _index(self, type_end: int) -> None:
        """One pass over the type section: where each record starts (the one hot loop: ``struct`` only)."""
        data = self.raw
        pos = self._type_start
        offs = self._offs
        append = offs.append
        append_name = self._name_offs.append
        unpack = BTF_TYPE_FAST.unpack_from
        record, per_vlen = _RECORD, _PER_VLEN
        head = BTF_TYPE_SIZE
        kshift, kmask, vmask = BTF_INFO_KIND_SHIFT, BTF_INFO_KIND_MASK, BTF_INFO_VLEN_MASK
        cap = MAX_TYPES
        # at most one record per BTF_TYPE_SIZE bytes: a bounded for-loop needs no counter or cap test per record
        for _ in range(min(cap, max(0, type_end - pos) // head + 1)):
            if pos >= type_end:
                break
            if pos + head > len(data):  # (unpack_from would fail; the branch below reports it)
                size = head
            else:
                name_off, info, _ = unpack(data, pos)
                kind = (info >> kshift) & kmask
                size = head + record[kind] + (info & vmask) * per_vlen[kind]
            if pos + size > type_end:
                self._stop(pos, type_end, len(offs) + 1)
                break
            append(pos)
            append_name(name_off)
            pos += size
        else:
            if pos < type_end:
                self._finding(TOO_MANY_TYPES, f"more than {cap} types: the rest are not read", self._pa(pos))
        self.count = len(offs)
        self._ends = pos

    def _stop(self, pos: int, type_end: int, n: int) -> None:
        """The finding for record ``n`` at ``pos``, which does not fit in the type section (or is of no known kind)."""
        if pos + BTF_TYPE_SIZE > type_end:
            self._finding(TRUNCATED, f"type {n}: its btf_type runs past the type section", self._pa(pos))
            return
        info = BTF_TYPE_FAST.unpack_from(self.raw, pos)[1]
        kind, vlen = (info >> BTF_INFO_KIND_SHIFT) & BTF_INFO_KIND_MASK, info & BTF_INFO_VLEN_MASK
        known = _KINDS[kind]
        if known is None or KIND_RECORD[kind][0] < 0:
            self._finding(UNKNOWN_KIND, f"type {n} has kind {kind}: the types from it on are not read", self._pa(pos))
            return
        fixed, per = KIND_RECORD[kind]
        size = BTF_TYPE_SIZE + fixed + per * vlen
        self._finding(
            TRUNCATED,
            f"type {n} ({known.name}, vlen {vlen}) runs past the type section by {pos + size - type_end} bytes: "
            "the types from it on are not read",
            self._pa(pos),
        )

    # -- strings -------------------------------------------------------------------------
    def string(self, name_off: int, what: str = "name", where: int | None = None) -> str:
        """The string at ``name_off`` in the string section ("" for 0); a bad offset is a finding and gives ""."""
        if name_off == 0:
            return ""
        start = self._str_start + name_off
        where = self.address if where is None else where
        if name_off >= self._str_end - self._str_start:
            self._finding(
                BAD_STRING,
                f"{what}: name offset {name_off:#x} is past the string section ({self.str_len:#x} bytes)",
                where,
            )
            return ""
        stop = min(self._str_end, start + MAX_NAME_LEN + 1)
        end = self.raw.find(b"\0", start, stop)
        if end < 0:
            if stop < self._str_end:
                why, end = f"longer than {MAX_NAME_LEN} bytes", start + MAX_NAME_LEN
            else:
                why, end = "without a terminating NUL", min(self._str_end, start + MAX_NAME_LEN)
            self._finding(BAD_STRING, f"{what}: the name at {name_off:#x} is {why}", where)
        return self.raw[start:end].decode("utf-8", "backslashreplace")

    # -- types ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[BtfType]:
        """Every type, id 1 first (decoded as it is reached)."""
        for tid in range(1, self.count + 1):
            yield self.type_by_id(tid)

    def type_by_id(self, tid: int) -> BtfType:
        """Type ``tid`` (0 is void); raises :class:`BtfError` (``BTF-BAD-TYPE-ID``) past the last type."""
        hit = self._cache.get(tid)
        if hit is not None:
            return hit
        if tid == 0:
            t = BtfType(
                address=None, size=0, id=0, btf_kind=BtfKind.UNKN, name=VOID_NAME, name_off=0, kind_flag=False, vlen=0
            )
        elif 0 < tid <= self.count:
            t = self._decode(tid)
        else:
            raise self._fail(BAD_TYPE_ID, f"type id {tid} is past the last type ({self.count})", self.address)
        self._cache[tid] = t
        return t

    def _ref(self, tid: int, by: BtfType | None) -> BtfType:
        """Type ``tid`` as referred to by ``by`` (the finding names the referring record)."""
        if 0 <= tid <= self.count:
            return self.type_by_id(tid)
        if by is None:
            raise self._fail(BAD_TYPE_ID, f"type id {tid} is past the last type ({self.count})", self.address)
        raise self._fail(
            BAD_TYPE_ID, f"{by.title} refers to type id {tid}, past the last type ({self.count})", by.address
        )

    def _decode(self, tid: int) -> BtfType:
        data = self.raw
        pos = self._offs[tid - 1]
        name_off, info, word = BTF_TYPE_FAST.unpack_from(data, pos)
        kind = BtfKind((info >> BTF_INFO_KIND_SHIFT) & BTF_INFO_KIND_MASK)
        vlen = info & BTF_INFO_VLEN_MASK
        kflag = bool(info >> BTF_INFO_KFLAG_SHIFT)
        fixed, per = KIND_RECORD[kind]
        end = pos + BTF_TYPE_SIZE + fixed + per * vlen
        pa = self._pa(pos)
        where = f"type {tid}"
        extra: dict[str, object] = {}
        body = pos + BTF_TYPE_SIZE
        if kind in KINDS_WITH_SIZE:
            extra["type_size"] = word
        elif kind not in (BtfKind.FWD, BtfKind.ARRAY):  # an array's element type is in struct btf_array
            extra["ref"] = word
        if kind == BtfKind.INT:
            (d,) = BTF_INT_FAST.unpack_from(data, body)
            extra["int_info"] = BtfInt(
                (d >> BTF_INT_ENCODING_SHIFT) & BTF_INT_ENCODING_MASK,
                (d >> BTF_INT_OFFSET_SHIFT) & BTF_INT_OFFSET_MASK,
                d & BTF_INT_BITS_MASK,
            )
        elif kind == BtfKind.ARRAY:
            extra["array"] = BtfArray(*BTF_ARRAY_FAST.unpack_from(data, body))
        elif kind in COMPOSITES:
            members = []
            for m_name, m_type, m_off in BTF_MEMBER_FAST.iter_unpack(data[body:end]):
                if kflag:
                    bit, bits = m_off & BTF_MEMBER_BIT_OFFSET_MASK, m_off >> BTF_MEMBER_BITFIELD_SIZE_SHIFT
                else:
                    bit, bits = m_off, 0
                members.append(BtfMember(self.string(m_name, f"{where} member", pa), m_name, m_type, bit, bits))
            extra["members"] = tuple(members)
        elif kind == BtfKind.ENUM:
            extra["enumerators"] = tuple(
                BtfEnumerator(self.string(n, f"{where} enumerator", pa), n, v if kflag else v & _MASK32)
                for n, v in BTF_ENUM_FAST.iter_unpack(data[body:end])
            )
        elif kind == BtfKind.ENUM64:
            extra["enumerators"] = tuple(
                BtfEnumerator(self.string(n, f"{where} enumerator", pa), n, _enum64(lo, hi, kflag))
                for n, lo, hi in BTF_ENUM64_FAST.iter_unpack(data[body:end])
            )
        elif kind == BtfKind.FUNC_PROTO:
            extra["params"] = tuple(
                BtfParam(self.string(n, f"{where} parameter", pa), n, t)
                for n, t in BTF_PARAM_FAST.iter_unpack(data[body:end])
            )
        elif kind == BtfKind.VAR:
            (extra["linkage"],) = BTF_VAR_FAST.unpack_from(data, body)
        elif kind == BtfKind.DATASEC:
            extra["secinfos"] = tuple(BtfVarSecinfo(*s) for s in BTF_VAR_SECINFO_FAST.iter_unpack(data[body:end]))
        elif kind == BtfKind.DECL_TAG:
            (extra["component_idx"],) = BTF_DECL_TAG_FAST.unpack_from(data, body)
        return BtfType(
            address=pa,
            size=end - pos,
            raw=data[pos:end],
            fields={"name_off": name_off, "info": info, "size": word},
            schema=BTF_TYPE,
            id=tid,
            btf_kind=kind,
            name=self.string(name_off, where, pa),
            name_off=name_off,
            kind_flag=kflag,
            vlen=vlen,
            **extra,  # type: ignore[arg-type]
        )

    def _kind_of(self, tid: int) -> BtfKind:
        pos = self._offs[tid - 1]
        info = BTF_TYPE_FAST.unpack_from(self.raw, pos)[1]
        return BtfKind((info >> BTF_INFO_KIND_SHIFT) & BTF_INFO_KIND_MASK)

    # -- names ---------------------------------------------------------------------------
    def _name_set(self) -> set[int]:
        """Every name offset some type uses: the name index, built on the first lookup by name."""
        if self._names is None:
            self._names = set(self._name_offs)
            self._names.discard(0)
            self._name_words = self._name_offs.tobytes()
        return self._names

    def _offsets_of(self, name: str) -> list[int]:
        """Every name offset whose string is exactly ``name`` (a string, or the tail of a longer one).

        At most :data:`MAX_NAME_HITS` places are looked at (a finding says so): a hostile string
        section could spell a short name millions of times.
        """
        if not name:
            return []
        try:
            key = name.encode() + b"\0"
        except UnicodeEncodeError:
            return []
        if b"\0" in key[:-1]:
            return []
        data, base, end = self.raw, self._str_start, self._str_end
        out: list[int] = []
        at = data.find(key, base, end)
        while at >= 0:
            if len(out) >= MAX_NAME_HITS:
                self._finding(
                    BAD_STRING,
                    f"the string section spells {printable(name)!r} more than {MAX_NAME_HITS} times: "
                    "the rest are not looked at",
                    self.address,
                )
                break
            out.append(at - base)
            at = data.find(key, at + len(key), end)
        return out

    def _ids_named(self, name: str) -> tuple[int, ...]:
        """Ids of the types named ``name``, in id order (cached per name)."""
        hit = self._found.get(name)
        if hit is not None:
            return hit
        used = self._name_set()
        offsets = [off for off in self._offsets_of(name) if off in used]
        if len(offsets) > MAX_NAME_SEARCHES:  # (duplicated strings) one pass over every type instead
            wanted = set(offsets)
            ids = [tid for tid, off in enumerate(self._name_offs, 1) if off in wanted]
        else:
            ids = []
            words, step = self._name_words, self._name_offs.itemsize
            for off in offsets:
                key = self._name_offs[:0]
                key.append(off)
                pat = key.tobytes()
                at = words.find(pat)
                while at >= 0:
                    if at % step == 0:
                        ids.append(at // step + 1)
                    at = words.find(pat, at + 1)
        found = tuple(sorted(ids))
        if len(self._found) >= MAX_CACHED_NAMES:
            self._found.clear()
        self._found[name] = found
        return found

    def find_all(self, name: str, kind: str | BtfKind | None = None) -> list[BtfType]:
        """Every type named ``name`` (of ``kind``: a :data:`KIND_WORDS` word, a :class:`BtfKind`, or any), by id."""
        kinds = _kinds(kind)
        return [self.type_by_id(tid) for tid in self._ids_named(name) if kinds is None or self._kind_of(tid) in kinds]

    def find(self, name: str, kind: str | BtfKind | None = "struct") -> BtfType | None:
        """The first type (by id) named ``name`` of ``kind`` ("struct", "union", "typedef", "enum", "var",
        "datasec", ... or a :class:`BtfKind`; None: any kind), or None."""
        kinds = _kinds(kind)
        for tid in self._ids_named(name):
            if kinds is None or self._kind_of(tid) in kinds:
                return self.type_by_id(tid)
        return None

    def type_of(self, spec: str | int | BtfType) -> BtfType:
        """A type from a C-like spec: ``"struct efi"``, ``"union x"``, ``"enum y"``, a bare name (a struct,
        union, typedef or enum, first by id), an id or a :class:`BtfType`; raises :class:`BtfError`."""
        if isinstance(spec, BtfType):
            return spec
        if isinstance(spec, int):
            return self.type_by_id(spec)
        word, _, rest = spec.strip().partition(" ")
        if rest and word in KIND_WORDS:
            name, kinds = rest.strip(), KIND_WORDS[word]
        else:
            name, kinds = spec.strip(), PLAIN_NAME_KINDS
        for tid in self._ids_named(name):
            if self._kind_of(tid) in kinds:
                return self.type_by_id(tid)
        raise self._fail(NOT_FOUND, f"no type {printable(spec)!r}", self.address, keep=False)

    # -- resolution ----------------------------------------------------------------------
    def resolve(self, spec: str | int | BtfType) -> BtfType:
        """The type under any typedef/const/volatile/restrict/type_tag (loops and > MAX_CHAIN links raise)."""
        t = self.type_of(spec)
        seen = {t.id}
        start = t
        while t.btf_kind in MODIFIERS:
            if len(seen) > MAX_CHAIN:
                raise self._fail(
                    TYPE_LOOP, f"{start.title}: more than {MAX_CHAIN} typedef/modifier links", start.address
                )
            assert t.ref is not None
            nxt = self._ref(t.ref, t)
            if nxt.id in seen:
                raise self._fail(TYPE_LOOP, f"{start.title}: the chain comes back to type {nxt.id}", t.address)
            seen.add(nxt.id)
            t = nxt
        return t

    def sizeof(self, spec: str | int | BtfType) -> int:
        """``sizeof`` in bytes (libbpf ``btf__resolve_size``); raises :class:`BtfError` for a type without one."""
        t = self.resolve(spec)
        start = t
        nelems = 1
        seen: set[int] = set()
        while True:
            k = t.btf_kind
            if k in KINDS_WITH_SIZE:
                assert t.type_size is not None
                return nelems * t.type_size
            if k == BtfKind.PTR:
                return nelems * BTF_POINTER_SIZE
            if k in (BtfKind.ARRAY, BtfKind.VAR):
                if t.id in seen or len(seen) >= MAX_NESTING:
                    raise self._fail(TYPE_LOOP, f"{start.title}: arrays nest into a loop or too deep", t.address)
                seen.add(t.id)
                if t.array is not None:
                    nelems *= t.array.nelems
                    ref = t.array.type
                else:
                    assert t.ref is not None
                    ref = t.ref
                t = self.resolve(self._ref(ref, t))
                continue
            raise self._fail(NO_SIZE, f"{t.title} has no size", t.address)

    # -- members -------------------------------------------------------------------------
    def _legacy_bitfield(self, comp: BtfType, m: BtfMember) -> tuple[int, int]:
        """kind_flag 0: a bitfield is an INT member whose encoding gives the bits (kernel/bpf/btf.c)."""
        t = self.resolve(self._ref(m.type, comp))
        if t.btf_kind == BtfKind.INT and t.int_info is not None and t.type_size is not None:
            ii = t.int_info
            if ii.offset or ii.bits != 8 * t.type_size:
                return m.bit_offset + ii.offset, ii.bits
        return m.bit_offset, 0

    def _member_in(self, comp: BtfType, name: str) -> tuple[int, int, BtfMember] | None:
        """(bit offset, bitfield size, member) of ``name`` in ``comp``, through anonymous members as C does."""
        stack: list[tuple[BtfType, int, int]] = [(comp, 0, 0)]
        seen = {comp.id}
        while stack:
            cur, base, depth = stack.pop()
            for m in cur.members:
                if not m.anonymous and m.name == name:
                    bit, bits = (m.bit_offset, m.bitfield_size) if cur.kind_flag else self._legacy_bitfield(cur, m)
                    return base + bit, bits, m
            anon = []
            for m in cur.members:
                if m.anonymous:
                    inner = self.resolve(self._ref(m.type, cur))
                    if inner.btf_kind in COMPOSITES:
                        if inner.id in seen or depth >= MAX_NESTING:
                            raise self._fail(
                                TYPE_LOOP, f"{comp.title}: anonymous members nest into a loop or too deep", cur.address
                            )
                        seen.add(inner.id)
                        anon.append((inner, base + m.bit_offset, depth + 1))
            stack.extend(reversed(anon))  # member order, depth first, as C's name lookup
        return None

    def member(self, spec: str | int | BtfType, path: str) -> BtfMemberRef:
        """Where ``path`` (``"memmap.phys_map"``, ``"segment[1].mem"``) lies in ``spec``; anonymous struct
        and union members are searched transparently. Raises :class:`BtfError`."""
        outer = self.type_of(spec)
        cur = outer
        bit = 0
        bits = 0
        parts = path.split(".")
        for part in parts:
            m = _PATH_PART.fullmatch(part)
            if m is None:
                raise self._fail(
                    NOT_FOUND, f"{outer.title}: {printable(path)!r} is not a member path", outer.address, keep=False
                )
            name, indices = m.group(1), [int(i) for i in _INDEX.findall(m.group(2))]
            comp = self.resolve(cur)
            if comp.btf_kind not in COMPOSITES:
                raise self._fail(
                    NOT_COMPOSITE,
                    f"{outer.title}.{printable(path)}: {printable(name)!r} is looked up in {comp.title}, "
                    "not a struct or union",
                    comp.address,
                )
            hit = self._member_in(comp, name)
            if hit is None:
                raise self._fail(
                    NOT_FOUND,
                    f"{comp.title} has no member {printable(name)!r} ({outer.title}.{printable(path)})",
                    comp.address,
                    keep=False,
                )
            off, bits, mem = hit
            bit += off
            cur = self._ref(mem.type, comp)
            for idx in indices:
                arr = self.resolve(cur)
                if arr.btf_kind != BtfKind.ARRAY or arr.array is None:
                    raise self._fail(
                        NOT_COMPOSITE, f"{outer.title}.{printable(path)}: {arr.title} is not an array", arr.address
                    )
                if arr.array.nelems and idx >= arr.array.nelems:
                    raise self._fail(
                        NOT_FOUND,
                        f"{outer.title}.{printable(path)}: index {idx} past {arr.array.nelems} elements",
                        arr.address,
                        keep=False,
                    )
                elem = self._ref(arr.array.type, arr)
                bit += idx * self.sizeof(elem) * 8
                cur = elem
                bits = 0
        return BtfMemberRef(path, bit // 8, bit, bits, cur)

    def member_offset(self, spec: str | int | BtfType, path: str) -> int:
        """``offsetof(spec, path)`` in bytes (for a bitfield, the byte holding its first bit; see :meth:`member`)."""
        return self.member(spec, path).offset

    # -- enums and variables ---------------------------------------------------------------
    def enum_value(self, enumerator: str, enum: str | int | BtfType | None = None) -> int:
        """The value of ``enumerator`` (in ``enum``, a spec such as ``"enum efi_rts_ids"``, or in any enum)."""
        if enum is not None:
            t = self.type_of(enum) if not isinstance(enum, str) or " " in enum else self._enum_named(enum)
            t = self.resolve(t)
            if t.btf_kind not in (BtfKind.ENUM, BtfKind.ENUM64):
                raise self._fail(NOT_COMPOSITE, f"{t.title} is not an enum", t.address, keep=False)
            for e in t.enumerators:
                if e.name == enumerator:
                    return e.value
            raise self._fail(NOT_FOUND, f"{t.title} has no enumerator {printable(enumerator)!r}", t.address, keep=False)
        index = self._enumerator_index()
        for off in self._offsets_of(enumerator):
            for tid, i in index.get(off, ()):
                return self.type_by_id(tid).enumerators[i].value
        raise self._fail(NOT_FOUND, f"no enumerator {printable(enumerator)!r}", self.address, keep=False)

    def _enum_named(self, name: str) -> BtfType:
        for tid in self._ids_named(name):
            if self._kind_of(tid) in (BtfKind.ENUM, BtfKind.ENUM64, BtfKind.TYPEDEF):
                return self.type_by_id(tid)
        raise self._fail(NOT_FOUND, f"no enum {printable(name)!r}", self.address, keep=False)

    def _enumerator_index(self) -> dict[int, list[tuple[int, int]]]:
        """enumerator name_off -> [(enum type id, position)], built on first use."""
        if self._enumerators is None:
            index: dict[int, list[tuple[int, int]]] = {}
            unpack = BTF_TYPE_FAST.unpack_from
            data = self.raw
            for tid, pos in enumerate(self._offs, 1):
                info = unpack(data, pos)[1]
                kind = (info >> BTF_INFO_KIND_SHIFT) & BTF_INFO_KIND_MASK
                if kind == BtfKind.ENUM or kind == BtfKind.ENUM64:
                    fast = BTF_ENUM_FAST if kind == BtfKind.ENUM else BTF_ENUM64_FAST
                    body = pos + BTF_TYPE_SIZE
                    end = body + fast.size * (info & BTF_INFO_VLEN_MASK)
                    for i, rec in enumerate(fast.iter_unpack(data[body:end])):
                        index.setdefault(rec[0], []).append((tid, i))
            self._enumerators = index
        return self._enumerators

    def var(self, name: str) -> BtfType | None:
        """The ``BTF_KIND_VAR`` named ``name`` (per-CPU variables in a vmlinux BTF), or None."""
        return self.find(name, "var")

    def var_type(self, name: str) -> BtfType:
        """The type of variable ``name`` (unresolved: see :meth:`resolve`); raises :class:`BtfError`."""
        v = self.var(name)
        if v is None:
            raise self._fail(NOT_FOUND, f"no variable {printable(name)!r}", self.address, keep=False)
        assert v.ref is not None
        return self._ref(v.ref, v)


def _enum64(lo: int, hi: int, signed: bool) -> int:
    v = (hi << BTF_ENUM64_HI_SHIFT) | lo
    return v - (_SIGN64 << 1) if signed and v & _SIGN64 else v


def _kinds(kind: str | BtfKind | None) -> frozenset[BtfKind] | None:
    if kind is None:
        return None
    if isinstance(kind, BtfKind):
        return frozenset({kind})
    try:
        return KIND_WORDS[kind]
    except KeyError:
        raise ValueError(f"unknown BTF kind word {kind!r} (one of {', '.join(KIND_WORDS)})") from None


# -- entry points --------------------------------------------------------------------------
def parse(data: bytes, address: int | None = None) -> Btf | Finding:
    """A :class:`Btf` over ``data`` (the blob, at physical ``address`` if known), or the finding that stops it.

    The header is checked as libbpf's ``btf_parse_hdr`` does; bytes of a longer
    header than ``struct btf_header`` are skipped. Damage past the header (a
    section running past the blob, a bad record) is a finding on the result.
    """
    data = bytes(data)
    if len(data) < BTF_PREAMBLE_SIZE:
        return make(TRUNCATED, STRUCTURE, address, f"{len(data)} bytes: shorter than the BTF header")
    magic, version, flags, hdr_len = BTF_PREAMBLE_FAST.unpack_from(data)
    if magic == BTF_MAGIC_SWAPPED:
        return make(BYTE_SWAPPED, STRUCTURE, address, "magic 0x9feb: big-endian BTF, not an x86-64 kernel's")
    if magic != BTF_MAGIC:
        return make(BAD_HEADER, STRUCTURE, address, f"magic {magic:#06x}, not {BTF_MAGIC:#06x}")
    if version != BTF_VERSION:
        return make(BAD_HEADER, STRUCTURE, address, f"version {version}, not {BTF_VERSION}")
    if hdr_len < BTF_HEADER_SIZE:
        return make(BAD_HEADER, STRUCTURE, address, f"hdr_len {hdr_len} is shorter than struct btf_header")
    if hdr_len > len(data):
        return make(BAD_HEADER, STRUCTURE, address, f"hdr_len {hdr_len} is past the {len(data)} bytes of BTF")
    hdr = BTF_HEADER.parse(data[:BTF_HEADER_SIZE])
    if hdr.type_off % BTF_TYPE_ALIGN:
        return make(BAD_HEADER, STRUCTURE, address, f"type_off {hdr.type_off:#x} is not 4-byte aligned")
    if hdr.type_off + hdr.type_len > hdr.str_off:
        return make(
            BAD_HEADER,
            STRUCTURE,
            address,
            f"the type section ({hdr.type_off:#x}+{hdr.type_len:#x}) overlaps the string section at {hdr.str_off:#x}",
        )
    btf = Btf(
        address=address,
        size=len(data),
        raw=data,
        fields=hdr,
        schema=BTF_HEADER,
        version=version,
        flags=flags,
        hdr_len=hdr_len,
        type_off=hdr.type_off,
        type_len=hdr.type_len,
        str_off=hdr.str_off,
        str_len=hdr.str_len,
    )
    if flags:
        btf._finding(BAD_HEADER, f"flags {flags:#x}: none are defined (the kernel refuses them)", address)
    meta = len(data) - hdr_len
    type_end = hdr_len + min(hdr.type_off + hdr.type_len, meta)
    btf._type_start = hdr_len + min(hdr.type_off, meta)
    btf._str_start = hdr_len + min(hdr.str_off, meta)
    btf._str_end = hdr_len + min(hdr.str_off + hdr.str_len, meta)
    if hdr.type_off + hdr.type_len > meta:
        btf._finding(
            TRUNCATED,
            f"the type section ({hdr.type_off:#x}+{hdr.type_len:#x}) runs past the {meta:#x} bytes after the "
            "header: types past the end are lost",
            address,
        )
    if hdr.str_off + hdr.str_len > meta:
        btf._finding(
            TRUNCATED,
            f"the string section ({hdr.str_off:#x}+{hdr.str_len:#x}) runs past the {meta:#x} bytes after the "
            "header: names past the end are lost",
            address,
        )
    strings = data[btf._str_start : btf._str_end]
    if not strings or strings[0] != 0 or strings[-1] != 0 or hdr.str_len - 1 > BTF_MAX_NAME_OFFSET:
        btf._finding(
            BAD_STRING,
            f"the string section ({hdr.str_len:#x} bytes) does not start and end with NUL or is too long "
            "(libbpf btf_parse_str_sec)",
            address,
        )
    btf._index(type_end)
    return btf


def locate(mem: PhysicalMemory, ks: Kallsyms) -> tuple[int, int] | Finding:
    """Physical ``(start, size)`` of the kernel's BTF (``__start_BTF``, ``__stop_BTF``), or the finding."""
    pas = ks.lookup_physical(BTF_SYMBOLS)
    start, stop = pas.get(BTF_SYMBOLS[0]), pas.get(BTF_SYMBOLS[1])
    if start is None:
        why = ks.error or "kallsyms has no __start_BTF"
        return make(NO_SECTION, STRUCTURE, None, f"{why}: no kernel BTF")
    if stop is None:
        # the header says how long the blob is (a kernel symbol table without __stop_BTF)
        try:
            head = mem.read(start, BTF_HEADER_SIZE, STRUCTURE)
        except MemoryReadError as e:
            return make(READ_ERROR, STRUCTURE, start, e.reason)
        hdr = BTF_HEADER.parse(head)
        size = hdr.hdr_len + max(hdr.type_off + hdr.type_len, hdr.str_off + hdr.str_len)
    else:
        size = stop - start
    if size <= 0:
        return make(BAD_SECTION, STRUCTURE, start, f"__stop_BTF {stop:#x} is not after __start_BTF {start:#x}")
    if size > MAX_SECTION:
        return make(BAD_SECTION, STRUCTURE, start, f"{size:#x} bytes: more than the {MAX_SECTION:#x} efitables reads")
    return start, size


def load(mem: PhysicalMemory, ks: Kallsyms | None = None) -> Btf | Finding:
    """The kernel's BTF in ``mem``, located through kallsyms (``ks``, or the dump's own through VMCOREINFO).

    Returns the :class:`Btf` (with its findings) or the one finding that stops
    it (no section, bad bounds, bytes not in the dump, unusable header); never raises.
    """
    if ks is None:
        from efitables.kernel import kallsyms

        ks = kallsyms.load(mem, mem.vmcoreinfo, names=BTF_SYMBOLS)
    where = locate(mem, ks)
    if isinstance(where, Finding):
        return where
    start, size = where
    try:
        data = mem.read(start, size, STRUCTURE)
    except MemoryReadError as e:
        return make(READ_ERROR, STRUCTURE, start, e.reason)
    return parse(data, start)


__all__ = [
    "BTF_SYMBOLS",
    "Btf",
    "BtfArray",
    "BtfEnumerator",
    "BtfError",
    "BtfInt",
    "BtfKind",
    "BtfMember",
    "BtfMemberRef",
    "BtfParam",
    "BtfType",
    "BtfVarSecinfo",
    "load",
    "locate",
    "parse",
]
