"""BTF blobs built with the schemas (efitables.schemas.btf), with known types.

:class:`BtfBuilder` is a small encoder: strings are deduplicated into a string
section that starts with NUL, each ``add_*`` appends one type record (``struct
btf_type`` built by ``BTF_TYPE``, its ``info`` word by the ``BTF_TYPE_INFO``
bit layout, the trailing data by the kind's construct) and returns the new type
id, and :meth:`BtfBuilder.build` lays out header, type section and string
section, with knobs for hostile headers. :func:`kernel_like` builds the fixture
most tests use; its :data:`EXPECTED` facts are the values the tests assert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from efitables.schemas.btf import (
    BTF_ARRAY,
    BTF_DECL_TAG,
    BTF_ENUM,
    BTF_ENUM64,
    BTF_HEADER,
    BTF_HEADER_SIZE,
    BTF_INT,
    BTF_INT_BOOL,
    BTF_INT_CHAR,
    BTF_INT_SIGNED,
    BTF_MAGIC,
    BTF_MEMBER,
    BTF_MEMBER_OFFSET_KFLAG,
    BTF_PARAM,
    BTF_TYPE,
    BTF_TYPE_INFO,
    BTF_VAR,
    BTF_VAR_GLOBAL_ALLOCATED,
    BTF_VAR_SECINFO,
    BTF_VERSION,
    BtfKind,
)


def _word(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def info_word(kind: int, vlen: int = 0, kind_flag: bool = False) -> int:
    """``btf_type.info`` built by the schema's bit layout."""
    return _word(BTF_TYPE_INFO.build({"kind_flag": kind_flag, "kind": kind, "vlen": vlen}))


@dataclass
class Member:
    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0


@dataclass
class BtfBuilder:
    strings: bytearray = field(default_factory=lambda: bytearray(b"\0"))
    offsets: dict[str, int] = field(default_factory=lambda: {"": 0})
    records: list[bytes] = field(default_factory=list)

    # -- strings and records ----------------------------------------------------------
    def s(self, text: str) -> int:
        """Offset of ``text`` in the string section (added once)."""
        if text not in self.offsets:
            self.offsets[text] = len(self.strings)
            self.strings += text.encode() + b"\0"
        return self.offsets[text]

    def raw_string(self, raw: bytes) -> int:
        """Append bytes as they are (no NUL added, no dedup): for hostile strings."""
        off = len(self.strings)
        self.strings += raw
        return off

    @property
    def next_id(self) -> int:
        return len(self.records) + 1

    def record(
        self,
        kind: int,
        name: str | int = "",
        word: int = 0,
        trailer: bytes = b"",
        vlen: int = 0,
        kind_flag: bool = False,
    ) -> int:
        """Append one type record; ``name`` is text or a raw name offset. Returns its id."""
        name_off = name if isinstance(name, int) else self.s(name)
        head = BTF_TYPE.build({"name_off": name_off, "info": info_word(kind, vlen, kind_flag), "size": word})
        self.records.append(head + trailer)
        return len(self.records)

    # -- kinds ------------------------------------------------------------------------
    def int_(self, name: str, size: int, bits: int | None = None, encoding: int = 0, offset: int = 0) -> int:
        bits = 8 * size if bits is None else bits
        trailer = BTF_INT.build({"encoding": encoding, "offset": offset, "bits": bits})
        return self.record(BtfKind.INT, name, size, trailer)

    def ptr(self, to: int) -> int:
        return self.record(BtfKind.PTR, "", to)

    def array(self, elem: int, index_type: int, nelems: int) -> int:
        trailer = BTF_ARRAY.build({"type": elem, "index_type": index_type, "nelems": nelems})
        return self.record(BtfKind.ARRAY, "", 0, trailer)

    def composite(
        self,
        name: str,
        size: int,
        members: list[Member],
        *,
        union: bool = False,
        kind_flag: bool | None = None,
        vlen: int | None = None,
    ) -> int:
        """A STRUCT (or UNION); kind_flag defaults to "has a bitfield"."""
        kflag = any(m.bitfield_size for m in members) if kind_flag is None else kind_flag
        trailer = b""
        for m in members:
            if kflag:
                off = _word(
                    BTF_MEMBER_OFFSET_KFLAG.build({"bitfield_size": m.bitfield_size, "bit_offset": m.bit_offset})
                )
            else:
                off = m.bit_offset
            trailer += BTF_MEMBER.build({"name_off": self.s(m.name), "type": m.type, "offset": off})
        kind = BtfKind.UNION if union else BtfKind.STRUCT
        return self.record(kind, name, size, trailer, len(members) if vlen is None else vlen, kflag)

    def enum(self, name: str, size: int, values: list[tuple[str, int]], signed: bool = False) -> int:
        trailer = b"".join(
            BTF_ENUM.build({"name_off": self.s(n), "val": v if v < 1 << 31 else v - (1 << 32)}) for n, v in values
        )
        return self.record(BtfKind.ENUM, name, size, trailer, len(values), signed)

    def enum64(self, name: str, size: int, values: list[tuple[str, int]], signed: bool = False) -> int:
        trailer = b""
        for n, v in values:
            u = v & ((1 << 64) - 1)
            trailer += BTF_ENUM64.build({"name_off": self.s(n), "val_lo32": u & 0xFFFFFFFF, "val_hi32": u >> 32})
        return self.record(BtfKind.ENUM64, name, size, trailer, len(values), signed)

    def fwd(self, name: str, union: bool = False) -> int:
        return self.record(BtfKind.FWD, name, 0, b"", 0, union)

    def typedef(self, name: str, to: int) -> int:
        return self.record(BtfKind.TYPEDEF, name, to)

    def volatile(self, to: int) -> int:
        return self.record(BtfKind.VOLATILE, "", to)

    def const(self, to: int) -> int:
        return self.record(BtfKind.CONST, "", to)

    def restrict(self, to: int) -> int:
        return self.record(BtfKind.RESTRICT, "", to)

    def func(self, name: str, proto: int, linkage: int = 1) -> int:
        return self.record(BtfKind.FUNC, name, proto, b"", linkage)  # vlen holds the linkage (btf.rst 2.2.12)

    def func_proto(self, ret: int, params: list[tuple[str, int]]) -> int:
        trailer = b"".join(BTF_PARAM.build({"name_off": self.s(n), "type": t}) for n, t in params)
        return self.record(BtfKind.FUNC_PROTO, "", ret, trailer, len(params))

    def var(self, name: str, type_: int, linkage: int = BTF_VAR_GLOBAL_ALLOCATED) -> int:
        return self.record(BtfKind.VAR, name, type_, BTF_VAR.build({"linkage": linkage}))

    def datasec(self, name: str, size: int, secinfos: list[tuple[int, int, int]]) -> int:
        trailer = b"".join(BTF_VAR_SECINFO.build({"type": t, "offset": o, "size": z}) for t, o, z in secinfos)
        return self.record(BtfKind.DATASEC, name, size, trailer, len(secinfos))

    def float_(self, name: str, size: int) -> int:
        return self.record(BtfKind.FLOAT, name, size)

    def decl_tag(self, name: str, type_: int, component_idx: int) -> int:
        return self.record(BtfKind.DECL_TAG, name, type_, BTF_DECL_TAG.build({"component_idx": component_idx}))

    def type_tag(self, name: str, to: int) -> int:
        return self.record(BtfKind.TYPE_TAG, name, to)

    # -- the blob ---------------------------------------------------------------------
    def build(
        self,
        *,
        magic: int = BTF_MAGIC,
        version: int = BTF_VERSION,
        flags: int = 0,
        hdr_len: int = BTF_HEADER_SIZE,
        header_tail: bytes | None = None,
        type_off: int = 0,
        gap: int = 0,
        type_len: int | None = None,
        str_len: int | None = None,
        str_off: int | None = None,
        cut: int = 0,
    ) -> bytes:
        """Header + type section + ``gap`` bytes + string section; ``cut`` drops bytes off the end.

        Bytes of ``hdr_len`` past ``struct btf_header`` are ``header_tail`` (zeros by default); the
        section fields default to what was laid out and can be overridden to lie.
        """
        types = b"".join(self.records)
        strings = bytes(self.strings)
        t_len = len(types) if type_len is None else type_len
        s_off = type_off + len(types) + gap if str_off is None else str_off
        s_len = len(strings) if str_len is None else str_len
        head = BTF_HEADER.build(
            {
                "magic": magic,
                "version": version,
                "flags": flags,
                "hdr_len": hdr_len,
                "type_off": type_off,
                "type_len": t_len,
                "str_off": s_off,
                "str_len": s_len,
            }
        )
        tail = bytes(hdr_len - BTF_HEADER_SIZE) if header_tail is None else header_tail
        blob = head + tail + bytes(type_off) + types + bytes(gap) + strings
        return blob[: len(blob) - cut] if cut else blob


# -- the fixture most tests use -------------------------------------------------------------
@dataclass
class KernelLike:
    blob: bytes
    ids: dict[str, int]


#: Facts of :func:`kernel_like` the tests assert (offsets in bytes unless named bits).
EXPECTED: dict[str, Any] = {
    "sizeof": {
        "struct efi_memory_map": 56,
        "struct efi": 104,
        "struct kexec_segment": 32,
        "struct kimage": 24 + 16 * 32 + 8,
        "struct flags_kflag": 16,
        "struct flags_legacy": 8,
        "u64": 8,
        "phys_addr_t": 8,
        "struct e820_table": 4 + 20 * 128,
        "struct e820_entry": 20,
        "union anon_u": 8,
    },
    "offsetof": {
        ("struct efi", "runtime_version"): 0,
        ("struct efi", "acpi20"): 8,
        ("struct efi", "lo"): 16,  # anonymous union > anonymous struct
        ("struct efi", "hi"): 20,
        ("struct efi", "both"): 16,  # anonymous union
        ("struct efi", "memmap"): 24,
        ("struct efi", "memmap.phys_map"): 24,
        ("struct efi", "memmap.nr_map"): 48,
        ("struct efi", "memmap.flags"): 72,
        ("struct efi", "flags"): 80,
        ("struct efi", "reset_system"): 88,
        ("struct efi", "tail"): 96,
        ("struct kimage", "start"): 0,
        ("struct kimage", "nr_segments"): 8,
        ("struct kimage", "segment"): 16,
        ("struct kimage", "segment[0].mem"): 16 + 16,
        ("struct kimage", "segment[3].memsz"): 16 + 3 * 32 + 24,
        ("struct kimage", "control_page"): 16 + 16 * 32,
        ("struct e820_table", "entries[2].type"): 4 + 2 * 20 + 16,
        ("efi_t", "memmap.desc_size"): 24 + 40,
    },
    # (path, bit offset from the start, bitfield size)
    "bitfields": {
        ("struct flags_kflag", "type"): (32, 1),
        ("struct flags_kflag", "preserve_context"): (33, 1),
        ("struct flags_kflag", "file_mode"): (34, 3),
        ("struct flags_kflag", "after"): (64, 0),
        ("struct flags_legacy", "lo3"): (0, 3),
        ("struct flags_legacy", "mid5"): (3 + 2, 5),  # member offset 3 + BTF_INT_OFFSET 2
        ("struct flags_legacy", "whole"): (32, 0),
    },
    "enums": {
        ("efi_rts_ids", "EFI_NONE"): 0,
        ("efi_rts_ids", "EFI_GET_TIME"): 1,
        ("efi_rts_ids", "EFI_RESET_SYSTEM"): 13,
        ("signed_small", "NEG_ONE"): -1,
        ("unsigned_small", "ALL_ONES"): 0xFFFFFFFF,
        ("big_flags", "BIG_BIT40"): 1 << 40,
        ("big_flags", "BIG_TOP"): 0xFFFF_FFFF_0000_0001,
        ("signed_big", "SIGNED_MIN"): -(1 << 63),
        ("signed_big", "SIGNED_NEG5"): -5,
    },
}


def kernel_like() -> KernelLike:
    """Types shaped after the kernel's (struct efi, kimage, e820_table), with every kind and a typedef chain."""
    b = BtfBuilder()
    ids: dict[str, int] = {}
    ids["u32"] = b.int_("unsigned int", 4)
    ids["ulong"] = b.int_("long unsigned int", 8)
    ids["ullong"] = b.int_("long long unsigned int", 8)
    ids["int"] = b.int_("int", 4, encoding=BTF_INT_SIGNED)
    ids["char"] = b.int_("char", 1, encoding=BTF_INT_SIGNED | BTF_INT_CHAR)
    ids["bool"] = b.int_("_Bool", 1, bits=8, encoding=BTF_INT_BOOL)
    ids["u8"] = b.int_("unsigned char", 1)
    ids["void_ptr"] = b.ptr(0)
    # typedef chain: u64 -> __u64 -> long long unsigned int; phys_addr_t -> u64
    ids["__u64"] = b.typedef("__u64", ids["ullong"])
    ids["u64"] = b.typedef("u64", ids["__u64"])
    ids["phys_addr_t"] = b.typedef("phys_addr_t", ids["u64"])
    ids["memmap"] = b.composite(
        "efi_memory_map",
        56,
        [
            Member("phys_map", ids["phys_addr_t"], 0),
            Member("map", ids["void_ptr"], 64),
            Member("map_end", ids["void_ptr"], 128),
            Member("nr_map", ids["int"], 192),
            Member("desc_version", ids["ulong"], 256),
            Member("desc_size", ids["ulong"], 320),
            Member("flags", ids["ulong"], 384),
        ],
    )
    # struct { u32 lo; u32 hi; } inside union { struct {...}; u64 both; }, both anonymous
    ids["anon_s"] = b.composite("", 8, [Member("lo", ids["u32"], 0), Member("hi", ids["u32"], 32)])
    ids["anon_u"] = b.composite("anon_u", 8, [Member("", ids["anon_s"], 0), Member("both", ids["u64"], 0)], union=True)
    # const volatile unsigned long (a modifier chain under a member)
    ids["cv_ulong"] = b.const(b.volatile(ids["ulong"]))
    ids["reset_proto"] = b.func_proto(0, [("reset_type", ids["int"]), ("status", ids["ulong"]), ("", 0)])
    ids["reset_ptr"] = b.ptr(ids["reset_proto"])
    ids["efi"] = b.composite(
        "efi",
        104,
        [
            Member("runtime_version", ids["u32"], 0),
            Member("acpi20", ids["cv_ulong"], 64),
            Member("", ids["anon_u"], 128),
            Member("memmap", ids["memmap"], 192),
            Member("flags", ids["ulong"], 640),
            Member("reset_system", ids["reset_ptr"], 704),
            Member("tail", ids["u8"], 768),
        ],
    )
    # typedef struct efi efi_t, through const and a type tag: resolve() walks all of them
    ids["efi_tag"] = b.type_tag("user", ids["efi"])
    ids["efi_const"] = b.const(ids["efi_tag"])
    ids["efi_t"] = b.typedef("efi_t", ids["efi_const"])
    # arrays: struct kimage { unsigned long start, nr_segments; struct kexec_segment segment[16]; ...}
    ids["segment"] = b.composite(
        "kexec_segment",
        32,
        [
            Member("buf", ids["void_ptr"], 0),
            Member("bufsz", ids["ulong"], 64),
            Member("mem", ids["ulong"], 128),
            Member("memsz", ids["ulong"], 192),
        ],
    )
    ids["segments"] = b.array(ids["segment"], ids["int"], 16)
    ids["kimage"] = b.composite(
        "kimage",
        24 + 16 * 32 + 8,
        [
            Member("start", ids["ulong"], 0),
            Member("nr_segments", ids["ulong"], 64),
            Member("segment", ids["segments"], 128),
            Member("control_page", ids["ulong"], 128 + 16 * 32 * 8),
        ],
    )
    # packed struct e820_entry { u64 addr, size; u32 type; } and a table with a flexible count
    ids["e820_entry"] = b.composite(
        "e820_entry",
        20,
        [Member("addr", ids["u64"], 0), Member("size", ids["u64"], 64), Member("type", ids["u32"], 128)],
    )
    ids["e820_entries"] = b.array(ids["e820_entry"], ids["int"], 128)
    ids["e820_table"] = b.composite(
        "e820_table", 4 + 20 * 128, [Member("nr_entries", ids["u32"], 0), Member("entries", ids["e820_entries"], 32)]
    )
    # bitfields: kind_flag layout (as pahole writes them) and the older int-encoded one
    ids["flags_kflag"] = b.composite(
        "flags_kflag",
        16,
        [
            Member("control_page", ids["u32"], 0),
            Member("type", ids["u32"], 32, 1),
            Member("preserve_context", ids["u32"], 33, 1),
            Member("file_mode", ids["u32"], 34, 3),
            Member("after", ids["ulong"], 64),
        ],
    )
    ids["int3"] = b.int_("unsigned int", 4, bits=3)
    ids["int5_at2"] = b.int_("unsigned int", 4, bits=5, offset=2)
    ids["flags_legacy"] = b.composite(
        "flags_legacy",
        8,
        [Member("lo3", ids["int3"], 0), Member("mid5", ids["int5_at2"], 3), Member("whole", ids["u32"], 32)],
        kind_flag=False,
    )
    # enums: 32-bit unsigned and signed, 64-bit unsigned and signed
    ids["efi_rts_ids"] = b.enum("efi_rts_ids", 4, [("EFI_NONE", 0), ("EFI_GET_TIME", 1), ("EFI_RESET_SYSTEM", 13)])
    ids["signed_small"] = b.enum("signed_small", 4, [("NEG_ONE", -1 & 0xFFFFFFFF), ("POS", 7)], signed=True)
    ids["unsigned_small"] = b.enum("unsigned_small", 4, [("ALL_ONES", 0xFFFFFFFF)])
    ids["big_flags"] = b.enum64("big_flags", 8, [("BIG_BIT40", 1 << 40), ("BIG_TOP", 0xFFFF_FFFF_0000_0001)])
    ids["signed_big"] = b.enum64("signed_big", 8, [("SIGNED_MIN", -(1 << 63)), ("SIGNED_NEG5", -5)], signed=True)
    # the remaining kinds
    ids["fwd_struct"] = b.fwd("opaque")
    ids["fwd_union"] = b.fwd("opaque_u", union=True)
    ids["restrict_ptr"] = b.restrict(ids["void_ptr"])
    ids["efi_reset_func"] = b.func("efi_reset_system", ids["reset_proto"], linkage=1)
    ids["float"] = b.float_("double", 8)
    ids["var_efi"] = b.var("efi", ids["efi"])
    ids["var_cpu"] = b.var("cpu_number", ids["int"])
    ids["datasec"] = b.datasec(".data..percpu", 0x40, [(ids["var_cpu"], 0x10, 4)])
    ids["decl_tag"] = b.decl_tag("btf_decl_tag_member", ids["efi"], 3)
    return KernelLike(b.build(), ids)
