"""kallsyms lookups on demand (efitables.kernel.kallsyms) on tables laid out as the kernel lays them out.

The builder below writes what scripts/kallsyms.c ``write_src`` emits (torvalds/linux):
names with one- or two-byte lengths over a 256-token table (a greedy encoder with
multi-character tokens, so that names expand from several tokens), a marker per 256
names, ``kallsyms_seqs_of_names`` (three bytes, most significant first, names in
``strcmp`` order, duplicates by address) and every table ``.balign 8``, in the three
orders the kernel has used: v6.0/v6.1 (no sequence numbers), v6.2/v6.3 and v6.4+.
VMCOREINFO gets only the six ``SYMBOL()`` keys kernel/vmcore_info.c exports.
Every answer is checked against :func:`kallsyms.full_decode`, the one-pass decode.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

import pytest

from efitables.kernel import kallsyms
from efitables.memory.base import BytesMemory
from efitables.memory.vmcoreinfo import KERNEL_MAP_BASE

PHYS_BASE = 0x100000
BASE_PA = 0x200000
TEXT = 0xFFFFFFFF81000000
#: Multi-character tokens (as the kernel's compressor would pick); the encoder is greedy.
EXTRA_TOKENS = [b"efi_", b"_table", b"boot", b"_param", b"config", b"fw_", b"vendor", b"run", b"time",
                b"Tsys_", b"t__", b"d__", b"kallsyms", b"ll", b"_", b"e", b"ar", b"in", b"Tx86_", b"__f"]
REPORT = kallsyms.REPORT_SYMBOLS


@dataclass
class Image:
    mem: BytesMemory
    info: dict[str, str]
    pa: dict[str, int]  # every table's physical address, markers and seqs included
    symbols: list[tuple[str, str, int]]
    tokens: list[bytes]


def make_tokens(symbols: list[tuple[str, str, int]], extra: list[bytes]) -> list[bytes]:
    used = {c for t, n, _ in symbols for c in (t + n).encode()}
    table = [bytes([c]) if c in used else b"" for c in range(256)]
    free = [i for i in range(255, -1, -1) if not table[i]]  # the kernel fills free codes from 255 down
    for tok, slot in zip(extra, free, strict=False):
        table[slot] = tok
    return table


def encode(text: bytes, tokens: list[bytes]) -> bytes:
    by = {}
    for i, tok in enumerate(tokens):
        if tok:
            by.setdefault(tok, i)
    longest = max(map(len, by))
    out, i = [], 0
    while i < len(text):
        for n in range(min(longest, len(text) - i), 0, -1):
            if text[i : i + n] in by:
                out.append(by[text[i : i + n]])
                i += n
                break
        else:
            raise AssertionError(f"no token for {text[i:i+1]!r}")
    return bytes(out)


def align(v: int) -> int:
    return (v + 7) & ~7


def build(
    symbols: list[tuple[str, str, int]],
    *,
    order: str = "v6.2",
    extra: list[bytes] | None = None,
    sort_key=None,
    patch=None,
) -> Image:
    """Write the tables at BASE_PA; ``patch(parts)`` may change a table's bytes before they are placed."""
    tokens = make_tokens(symbols, EXTRA_TOKENS if extra is None else extra)
    names = bytearray()
    markers = []
    for i, (t, n, _v) in enumerate(symbols):
        if i % 256 == 0:
            markers.append(len(names))
        enc = encode((t + n).encode(), tokens)
        ln = len(enc)
        names += (bytes([ln]) if ln < 0x80 else bytes([ln & 0x7F | 0x80, ln >> 7])) + enc
    rel_base = min(v for _t, _n, v in symbols)
    key = sort_key or (lambda name: name)
    by_name = sorted(range(len(symbols)), key=lambda i: (key(symbols[i][1].encode()), symbols[i][2], i))
    table, index = b"", []
    for tok in tokens:
        index.append(len(table))
        table += tok + b"\0"
    parts = {
        "kallsyms_offsets": struct.pack(f"<{len(symbols)}i", *(v - rel_base for _t, _n, v in symbols)),
        "kallsyms_relative_base": struct.pack("<Q", rel_base),
        "kallsyms_num_syms": struct.pack("<I", len(symbols)),
        "kallsyms_names": bytes(names),
        "kallsyms_markers": struct.pack(f"<{len(markers)}I", *markers),
        "kallsyms_seqs_of_names": b"".join(i.to_bytes(3, "big") for i in by_name),
        "kallsyms_token_table": table,
        "kallsyms_token_index": struct.pack("<256H", *index),
    }
    if patch:
        patch(parts)
    keys = {
        "v6.1": ["kallsyms_offsets", "kallsyms_relative_base", "kallsyms_num_syms", "kallsyms_names",
                 "kallsyms_markers", "kallsyms_token_table", "kallsyms_token_index"],
        "v6.2": ["kallsyms_offsets", "kallsyms_relative_base", "kallsyms_num_syms", "kallsyms_names",
                 "kallsyms_markers", "kallsyms_seqs_of_names", "kallsyms_token_table", "kallsyms_token_index"],
        "v6.4": ["kallsyms_num_syms", "kallsyms_names", "kallsyms_markers", "kallsyms_token_table",
                 "kallsyms_token_index", "kallsyms_offsets", "kallsyms_relative_base", "kallsyms_seqs_of_names"],
    }[order]
    blob = bytearray()
    pa = {}
    for k in keys:
        blob += bytes(align(len(blob)) - len(blob))
        pa[k] = BASE_PA + len(blob)
        blob += parts[k]
    mem = BytesMemory({BASE_PA: bytes(blob) + bytes(64)})
    info = {"NUMBER(phys_base)": str(PHYS_BASE)}
    for k in kallsyms.KEYS:  # what kernel/vmcore_info.c exports
        info[f"SYMBOL({k})"] = f"{pa[k] - PHYS_BASE + KERNEL_MAP_BASE:x}"
    return Image(mem, info, pa, symbols, tokens)


def kernel_symbols(n: int = 700, seed: int = 1) -> list[tuple[str, str, int]]:
    """``n`` symbols in address order: the report's four among them, static duplicates, a long name."""
    rnd = random.Random(seed)
    words = ["sys", "efi", "boot", "param", "config", "table", "vendor", "run", "time", "x86", "init", "dev",
             "read", "write", "lock", "irq", "page", "map", "kallsyms", "fw"]
    names = set()
    while len(names) < n - 12:
        names.add("_".join(rnd.choice(words) for _ in range(rnd.randint(1, 4))) + str(rnd.randint(0, 99)))
    pool = sorted(names)
    rnd.shuffle(pool)
    out = [("t" if i % 3 else "T", s, 0) for i, s in enumerate(pool)]
    out[5:5] = [("T", "_text", 0)]
    out[40:40] = [("t", "cleanup", 0)]  # a static name twice: the first wins
    out[300:300] = [("t", "cleanup", 0), ("T", "x" * 200, 0)]  # a name of 201 tokens: two length bytes
    out[500:500] = [("B", "boot_params", 0), ("d", "cleanup", 0)]
    out[600:600] = [("B", "efi_config_table", 0), ("B", "efi_fw_vendor", 0), ("b", "efi_runtime", 0)]
    out[620:620] = [("b", "efi_runtime.llvm.77", 0), ("t", "efi_runtime_init.cold", 0)]
    return [(t, name, TEXT + 0x40 * i) for i, (t, name, _v) in enumerate(out)]


SYMBOLS = kernel_symbols()
POS = {}
for _i, (_t, _n, _v) in enumerate(SYMBOLS):
    POS.setdefault(_n, _i)  # the first of duplicate names


def table_answers(ks: kallsyms.Kallsyms, names: list[str]) -> dict[str, tuple]:
    return {n: (ks.virtual(n), ks.kind(n), ks.index(n), ks.physical(n)) for n in names}


class CountingMemory(BytesMemory):
    def __init__(self, inner: BytesMemory) -> None:
        super().__init__({r.start: inner.read(r.start, r.size) for r in inner.ranges()})
        self.reads = 0
        self.bytes_read = 0

    def _read(self, pa: int, size: int) -> bytes:
        self.reads += 1
        self.bytes_read += size
        return super()._read(pa, size)


# -- the three table orders -------------------------------------------------------------------------
@pytest.mark.parametrize("order,method", [("v6.1", "markers"), ("v6.2", "seqs_of_names"), ("v6.4", "seqs_of_names")])
def test_every_name_as_the_one_pass_decode_gives_it(order, method):
    img = build(SYMBOLS, order=order)
    whole = kallsyms.full_decode(img.mem, img.info)
    assert whole.available and whole.count == len(SYMBOLS) and whole.method == "full decode"
    ks = kallsyms.load(img.mem, img.info)
    assert ks.available and ks.method == method and not ks.notes and ks.count == len(SYMBOLS)
    names = sorted({n for _t, n, _v in SYMBOLS}) + ["absent", "efi_runtim", "efi_runtime_"]
    assert table_answers(ks, names) == table_answers(whole, names)
    # the report's symbols, the duplicate (first by position), the two-byte length, dotted names
    assert ks.index("boot_params") == POS["boot_params"] and ks.kind("efi_runtime") == "b"
    assert ks.index("cleanup") == POS["cleanup"] == 40 and ks.kind("cleanup") == "t"
    assert ks.virtual("x" * 200) == TEXT + 0x40 * POS["x" * 200]
    assert ks.physical("boot_params") == TEXT + 0x40 * POS["boot_params"] - KERNEL_MAP_BASE + PHYS_BASE
    assert ks.virtual("efi_runtime.llvm.77") is not None and ks.virtual("absent") is None


@pytest.mark.parametrize("order", ["v6.1", "v6.2", "v6.4"])
def test_lookup_batches_and_caches(order):
    img = build(SYMBOLS, order=order)
    mem = CountingMemory(img.mem)
    ks = kallsyms.load(mem, img.info, names=())
    got = ks.lookup([*REPORT, "absent", "_text"])
    whole = kallsyms.full_decode(img.mem, img.info)
    assert got == {n: whole.virtual(n) for n in [*REPORT, "_text"]}
    assert ks.lookup_physical(REPORT) == {n: whole.physical(n) for n in REPORT}
    reads = mem.reads
    assert ks.lookup([*REPORT, "absent"]) == {n: whole.virtual(n) for n in REPORT}
    assert ks.physical("efi_runtime") == whole.physical("efi_runtime") and ks.virtual("absent") is None
    assert mem.reads == reads  # answered from the cache
    assert kallsyms.load(mem, img.info) is ks and mem.reads == reads


def test_seqs_of_names_reads_a_few_blocks_only():
    symbols = kernel_symbols(6000, seed=2)
    img = build(symbols, order="v6.2")
    ks = kallsyms.load(img.mem, img.info)
    assert ks.method == "seqs_of_names" and ks.lookup(REPORT).keys() == set(REPORT)
    finder = ks._finder
    assert isinstance(finder, kallsyms._SeqsFinder)
    # the kernel's binary search: ~log2(6000) = 13 names per symbol, the four sharing the first probes
    assert len(finder._expanded) <= 4 * 14
    assert ks.lookup(REPORT) == {n: kallsyms.full_decode(img.mem, img.info).virtual(n) for n in REPORT}


def test_lto_suffixes_sorted_as_the_kernel_did():
    """CONFIG_LTO_CLANG kernels (v6.2-v6.9) sorted names with ``.llvm.<n>`` cut off: a plain name among
    its suffixed namesakes is still found, and only the exact spelling answers."""
    base = kernel_symbols(300, seed=3)
    extra = [("t", f"efi_runtime.llvm.{i}", 0) for i in range(40)]
    syms = base[:100] + extra[:20] + base[100:200] + [("b", "efi_runtime_x", 0)] + extra[20:] + base[200:]
    syms = [(t, n, TEXT + 0x40 * i) for i, (t, n, _v) in enumerate(syms)]
    img = build(syms, sort_key=lambda name: name.split(b".llvm.")[0])
    ks = kallsyms.load(img.mem, img.info)
    whole = kallsyms.full_decode(img.mem, img.info)
    names = ["efi_runtime", "efi_runtime_x", "efi_runtime.llvm.3", "efi_runtime.llvm.39", "efi_runtim"]
    assert table_answers(ks, names) == table_answers(whole, names)
    assert ks.method == "seqs_of_names" and not ks.notes


def test_many_names_at_once_expand_every_name_once():
    img = build(SYMBOLS, order="v6.1")
    ks = kallsyms.load(img.mem, img.info, names=())
    names = [n for _t, n, _v in SYMBOLS] * 3
    whole = kallsyms.full_decode(img.mem, img.info)
    assert ks.lookup(names) == {n: whole.virtual(n) for n in names}


# -- VMCOREINFO first -------------------------------------------------------------------------------
def test_vmcoreinfo_symbols_need_no_table():
    img = build(SYMBOLS)
    info = {**img.info, "SYMBOL(boot_params)": f"{TEXT + 0x123000:x}", "SYMBOL(mem_section)": "ffff888004000000",
            "SYMBOL(init_top_pgt)": f"{TEXT + 0x2000000:x}", "SYMBOL(low)": "1000"}
    mem = CountingMemory(img.mem)
    ks = kallsyms.load(mem, info, names=())
    reads = mem.reads
    assert ks.lookup(["boot_params", "init_top_pgt"]) == {"boot_params": TEXT + 0x123000,
                                                          "init_top_pgt": TEXT + 0x2000000}
    assert mem.reads == reads and ks.source("init_top_pgt") == "VMCOREINFO"
    assert ks.physical("init_top_pgt") == TEXT + 0x2000000 - KERNEL_MAP_BASE + PHYS_BASE
    # the kallsyms tables' own addresses (kallsyms leaves them out of itself)
    assert ks.physical("kallsyms_names") == img.pa["kallsyms_names"]
    # a value, not an address (VMCOREINFO_SYMBOL_ARRAY of a pointer), or not a kernel-image one: the table
    assert ks.virtual("mem_section") is None and ks.virtual("low") is None
    assert ks.kind("boot_params") == "B" and ks.source("efi_runtime") == "kallsyms"
    # no tables at all: VMCOREINFO still answers; error says why there is no table
    bare_mem = BytesMemory({0: bytes(16)})
    bare = kallsyms.load(bare_mem, {"NUMBER(phys_base)": "0x2000000", "SYMBOL(prb)": f"{TEXT:x}"})
    assert bare.error and bare.error.startswith("VMCOREINFO lacks") and bare.virtual("prb") == TEXT
    assert bare.physical("prb") == TEXT - KERNEL_MAP_BASE + 0x2000000
    assert kallsyms.load(bare_mem, {"SYMBOL(prb)": f"{TEXT:x}"}).virtual("prb") is None  # no phys_base
    assert kallsyms.load(bare_mem, None).virtual("prb") is None
    # another VMCOREINFO for the same dump is not answered from the first one's cache
    other = kallsyms.load(img.mem, {**info, "SYMBOL(boot_params)": f"{TEXT + 0x8000:x}"})
    assert other is not kallsyms.load(img.mem, info) and other.virtual("boot_params") == TEXT + 0x8000


# -- hostile tables -------------------------------------------------------------------------------------
def _seq_patch(fn):
    def patch(parts):
        raw = parts["kallsyms_seqs_of_names"]
        seqs = [int.from_bytes(raw[i : i + 3], "big") for i in range(0, len(raw), 3)]
        parts["kallsyms_seqs_of_names"] = b"".join(s.to_bytes(3, "big") for s in fn(seqs))

    return patch


def _at(i, value):
    return lambda seqs: seqs[:i] + [value] + seqs[i + 1 :]


@pytest.mark.parametrize(
    "fn,note",
    [
        (_at((len(SYMBOLS) - 1) // 2, 0xFFFFFF), "is past the"),  # the first probe: an index past the count
        (_at((len(SYMBOLS) - 1) // 2, len(SYMBOLS)), "is past the"),
        (lambda s: s[::-1], "not in name order"),
        (lambda s: sorted(s), "not in name order"),  # address order, not name order
        (lambda s: [0] * len(s), "repeats"),  # not a permutation (every probe sees the same name)
    ],
)
def test_hostile_seqs_of_names_fall_back_to_the_markers(fn, note):
    img = build(SYMBOLS, patch=_seq_patch(fn))
    ks = kallsyms.load(img.mem, img.info)
    assert ks.available and ks.method == "markers", ks.notes
    assert len(ks.notes) == 1 and note in ks.notes[0] and ks.notes[0].endswith("names looked up by markers")
    whole = kallsyms.full_decode(img.mem, img.info)
    names = [*REPORT, "cleanup", "_text", "absent"]
    assert table_answers(ks, names) == table_answers(whole, names)


def test_seqs_of_names_that_do_not_fit_are_not_used():
    """A first or last sequence number past the count, or a table that does not fill its place: not trusted."""
    for fn in (_at(0, 0xFFFFFF), _at(len(SYMBOLS) - 1, len(SYMBOLS))):
        ks = kallsyms.load(build(SYMBOLS, patch=_seq_patch(fn)).mem, build(SYMBOLS).info)
        assert ks.method == "markers" and not ks.notes and ks.index("boot_params") == POS["boot_params"]

    def longer(parts):
        parts["kallsyms_seqs_of_names"] += bytes(24)

    img = build(SYMBOLS, patch=longer)
    ks = kallsyms.load(img.mem, img.info)
    assert ks.method in ("markers", "full decode") and ks.index("boot_params") == POS["boot_params"]


def _names_patch(offset_of, data):
    def patch(parts):
        names = bytearray(parts["kallsyms_names"])
        at = offset_of(parts)
        names[at : at + len(data)] = data
        parts["kallsyms_names"] = bytes(names)

    return patch


def _entry_offset(index):
    def offset_of(parts):
        names, off = parts["kallsyms_names"], 0
        for _ in range(index):
            n = names[off]
            off += 1 + n if n < 0x80 else 2 + ((n & 0x7F) | names[off + 1] << 7)
        return off

    return offset_of


@pytest.mark.parametrize("order", ["v6.1", "v6.2"])
def test_an_overlong_entry_gives_the_one_pass_verdict(order):
    """Length 600 (> KSYM_NAME_LEN) in the block a lookup reads: the decode of the whole table speaks."""
    too_long = bytes([600 & 0x7F | 0x80, 600 >> 7])
    img = build(SYMBOLS, order=order, patch=_names_patch(_entry_offset(POS["boot_params"] + 2), too_long))
    whole = kallsyms.full_decode(img.mem, img.info)
    assert whole.error == f"kallsyms_names entry {POS['boot_params'] + 2} has length 600: not a kallsyms table"
    ks = kallsyms.load(img.mem, img.info)
    assert ks.error == whole.error and ks.method == "full decode" and not ks.available
    assert ks.virtual("boot_params") is None and ks.count == 0
    assert ks.notes[-1].endswith("names looked up by a decode of the whole table")


def test_a_block_that_misses_its_marker_is_caught():
    """A marker moved by two bytes (still a plausible block size): the names walked from it do not end
    at the next marker; the one-pass decode (which needs no markers) then gives every answer."""

    def patch(parts):
        m = list(struct.unpack(f"<{len(parts['kallsyms_markers']) // 4}I", parts["kallsyms_markers"]))
        m[1] += 2
        parts["kallsyms_markers"] = struct.pack(f"<{len(m)}I", *m)

    img = build(SYMBOLS, patch=patch)
    ks = kallsyms.load(img.mem, img.info, names=())
    whole = kallsyms.full_decode(img.mem, img.info)
    names = sorted({n for _t, n, _v in SYMBOLS})
    assert table_answers(ks, names) == table_answers(whole, names)
    assert ks.method == "full decode" and ks.available
    assert len(ks.notes) == 2 and ks.notes[0].startswith("kallsyms_names ")  # block 1, walked from its marker
    assert ks.notes[-1].endswith("names looked up by a decode of the whole table")


@pytest.mark.parametrize(
    "patch,error",
    [
        # more names claimed than there are: the one-pass decode runs into the next table
        ({"kallsyms_num_syms": struct.pack("<I", len(SYMBOLS) + 300)}, "kallsyms_names "),
        ({"kallsyms_num_syms": struct.pack("<I", 100_000)}, "kallsyms tables not in the dump"),
        ({"kallsyms_num_syms": struct.pack("<I", 0)}, "kallsyms_num_syms 0 is implausible"),
        ({"kallsyms_num_syms": struct.pack("<I", 1 << 24)}, "kallsyms_num_syms 16777216 is implausible"),
        ({"kallsyms_markers": bytes(16)}, None),  # markers that cannot be: the one-pass decode, which is fine
    ],
)
@pytest.mark.parametrize("order", ["v6.1", "v6.2", "v6.4"])
def test_hostile_headers_as_the_one_pass_decode_says(order, patch, error):
    img = build(SYMBOLS, order=order, patch=lambda parts: parts.update(
        {k: v + parts[k][len(v) :] for k, v in patch.items()}))
    whole = kallsyms.full_decode(img.mem, img.info)
    ks = kallsyms.load(img.mem, img.info)
    assert ks.error == whole.error
    if error is None:
        assert ks.available and ks.method == "full decode" and ks.index("boot_params") == POS["boot_params"]
    else:
        assert ks.error.startswith(error)


def test_tables_out_of_the_dump():
    img = build(SYMBOLS)
    cut = BytesMemory({BASE_PA: img.mem.read(BASE_PA, img.pa["kallsyms_names"] + 64 - BASE_PA)})
    ks = kallsyms.load(cut, img.info)
    assert ks.error == kallsyms.full_decode(cut, img.info).error
    assert ks.error.startswith("kallsyms tables not in the dump") or ks.error.startswith("kallsyms_names ends")


def test_random_damage_never_gives_a_wrong_answer():
    """Bytes of markers, sequence numbers and names flipped: never an exception, and a name found is
    where the one-pass decode puts it whenever that decode accepts the table."""
    img = build(SYMBOLS)
    base = img.mem.read(BASE_PA, img.mem.ranges()[0].size)
    spans = [(img.pa[k], 0x20) for k in ("kallsyms_markers", "kallsyms_num_syms")]
    spans += [(img.pa[k], 0x400) for k in ("kallsyms_seqs_of_names", "kallsyms_names")]
    spans.append((img.pa["kallsyms_names"] + 0x1000, 0x1000))
    rnd = random.Random(16)
    names = [*REPORT, "cleanup", "_text", "x" * 200]
    for _ in range(150):
        raw = bytearray(base)
        for _ in range(rnd.choice([1, 2, 4, 16])):
            a, size = rnd.choice(spans)
            raw[a - BASE_PA + rnd.randrange(size)] = rnd.choice([0, 0xFF, 0x80, 0x7F, rnd.randrange(256)])
        mem = BytesMemory({BASE_PA: bytes(raw)})
        ks = kallsyms.load(mem, img.info)
        whole = kallsyms.full_decode(mem, img.info)
        got = table_answers(ks, names)
        if whole.available:
            ref = table_answers(whole, names)
            for n in names:
                assert got[n][0] is None or got[n] == ref[n], (n, ks.notes)
