"""Linux configuration tables that carry secrets or boot-trust material: the
RNG seed, shim's MOK variable table, and the confidential-computing secret area.

Layouts: :mod:`efitables.schemas.payloads.linux_tables` (torvalds/linux
include/linux/efi.h@v6.12.117 ``struct linux_efi_random_seed``, ``struct
efi_mokvar_table_entry``, ``struct linux_efi_coco_secret_area``). Writers and
readers the checks follow (all torvalds/linux @v6.12.117): the seed is written by
drivers/firmware/efi/libstub/random.c ``efi_random_get_seed()`` and consumed (at
most 1 KiB) by drivers/firmware/efi/efi.c; the MOK table is read as
drivers/firmware/efi/mokvar-table.c does (entries up to one with an empty name
and no data); the secret area as drivers/virt/coco/efi_secret/efi_secret.c does
(header GUID, ``len``, then GUID/len entries). The measured-boot log
(LINUX_EFI_TPM_EVENT_LOG) is in :mod:`efitables.payloads.tcg`.

Secrets (the RNG seed, CoCo secret entries) are summarised as length + short
SHA-256 unless the dump was opened with ``show_secrets``; their bytes are then
also kept out of ``raw``. Re-exported by :mod:`efitables.payloads.linux_tables`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from efitables.findings import Severity, make, register
from efitables.model import Rows
from efitables.payloads import register_decoder
from efitables.payloads.base import ACPI_RECLAIM, PAGE_SIZE, DecodeContext, Extent, Payload, text_field
from efitables.schemas.common import NULL_GUID
from efitables.schemas.payloads.linux_tables import (
    EFI_MOKVAR_TABLE_ENTRY,
    EFI_MOKVAR_TABLE_ENTRY_HEADER_SIZE,
    EFI_RANDOM_SEED_CONSUMED_MAX,
    EFI_SECRET_TABLE_ENTRY,
    EFI_SECRET_TABLE_HEADER,
    EFI_SECRET_TABLE_HEADER_GUID,
    LINUX_EFI_COCO_SECRET_AREA,
    LINUX_EFI_RANDOM_SEED,
    LINUX_EFI_RANDOM_SEED_HEADER_SIZE,
)
from efitables.secret import Secret
from efitables.text import printable

LINUX_EFI_RANDOM_SEED_TABLE_GUID = "1ce1e5bc-7ceb-42f2-81e5-8aadf180f57b"
LINUX_EFI_MOK_VARIABLE_TABLE_GUID = "c451ed2b-9694-45d3-baba-ed9f8988a389"
LINUX_EFI_COCO_SECRET_AREA_GUID = "adf956ad-e98c-484c-ae11-b51c7d336447"

#: The seed fits one page with its header; anything larger is not believed.
MAX_SEED_SIZE = PAGE_SIZE - LINUX_EFI_RANDOM_SEED_HEADER_SIZE
#: MOK variables: most entries, largest data.
MAX_MOKVAR_ENTRIES = 64
MAX_MOKVAR_DATA = 16 * 1024 * 1024
#: CoCo secret area: largest area read, most entries.
MAX_SECRET_AREA = 1024 * 1024
MAX_SECRET_ENTRIES = 64

SEED_SIZE = register(
    "LINUX-RNG-SEED-SIZE",
    Severity.ERROR,
    "Linux RNG seed size is larger than a page",
    "The stub writes 32 bytes plus the RandomSeed variable; a size past one page is corrupt. Only what "
    "Linux would consume (1 KiB) is summarised.",
)
SEED_LARGE = register("LINUX-RNG-SEED-LARGE", Severity.INFO, "Linux RNG seed is larger than the 1 KiB Linux consumes")
SEED_ZERO = register(
    "LINUX-RNG-SEED-CONSUMED",
    Severity.INFO,
    "Linux RNG seed bytes are zero (consumed by the kernel)",
)
MOK_TOO_MANY = register(
    "LINUX-MOKVAR-TOO-MANY", Severity.WARNING, "MOK variable table has more entries than efitables reads"
)
MOK_SIZE = register("LINUX-MOKVAR-SIZE", Severity.WARNING, "MOK variable entry data_size is implausible")
COCO_HEADER = register(
    "LINUX-COCO-SECRET-HEADER", Severity.WARNING, "CoCo secret area does not start with EFI_SECRET_TABLE_HEADER_GUID"
)
COCO_LEN = register("LINUX-COCO-SECRET-LEN", Severity.WARNING, "CoCo secret area or entry length is implausible")


# -- random seed ---------------------------------------------------------------
@dataclass(kw_only=True)
class RandomSeed(Payload):
    kind = "LINUX_EFI_RANDOM_SEED"

    seed_size: int
    seed: Secret | None = None
    redacted: bool = True

    def secret_ranges(self) -> list[tuple[int, int]]:
        """Physical bytes a viewer must hide while redacted: the declared seed (at most a page)."""
        if not self.redacted or self.address is None or self.seed_size == 0:
            return []
        start = self.address + LINUX_EFI_RANDOM_SEED_HEADER_SIZE
        return [(start, start + min(self.seed_size, MAX_SEED_SIZE))]

    @property
    def title(self) -> str:
        return f"Linux RNG seed ({self.seed_size} bytes)"

    def facts(self) -> Rows:
        """The declared size and the seed: a length and digest unless the dump was opened with show_secrets."""
        return [("size", str(self.seed_size)), ("seed", "-" if self.seed is None else printable(str(self.seed)))]


def decode_random_seed(ctx: DecodeContext) -> RandomSeed:
    pa, name = ctx.address, "LINUX_EFI_RANDOM_SEED"
    findings: list = []
    raw = ctx.read(pa, LINUX_EFI_RANDOM_SEED_HEADER_SIZE, name, findings)
    if raw is None:
        r = RandomSeed(address=pa, size=0, seed_size=0, redacted=not ctx.show_secrets)
        r.findings.extend(findings)
        return r
    h = LINUX_EFI_RANDOM_SEED.parse(raw)
    r = RandomSeed(
        redacted=not ctx.show_secrets,
        address=pa,
        size=LINUX_EFI_RANDOM_SEED_HEADER_SIZE,
        raw=raw,
        fields=h,
        schema=LINUX_EFI_RANDOM_SEED,
        seed_size=h["size"],
    )
    n = r.seed_size
    if n > MAX_SEED_SIZE:
        r.findings.append(make(SEED_SIZE, name, pa, f"size {n:#x} > {MAX_SEED_SIZE:#x}"))
    elif n > EFI_RANDOM_SEED_CONSUMED_MAX:
        r.findings.append(make(SEED_LARGE, name, pa, f"size {n}; Linux uses the first {EFI_RANDOM_SEED_CONSUMED_MAX}"))
    n = min(n, EFI_RANDOM_SEED_CONSUMED_MAX)
    bits = ctx.read(pa + LINUX_EFI_RANDOM_SEED_HEADER_SIZE, n, f"{name} bits", r.findings)
    if bits is None:
        return r
    r.size = LINUX_EFI_RANDOM_SEED_HEADER_SIZE + n
    r.seed = Secret.of(bits, ctx.show_secrets)
    if ctx.show_secrets:
        r.raw = raw + bits
    if n and r.seed.all_zero:
        r.findings.append(make(SEED_ZERO, name, pa, f"{n} bytes, all zero"))
    return r


# -- MOK variables ---------------------------------------------------------------
@dataclass(kw_only=True)
class MokVarTable(Payload):
    kind = "LINUX_EFI_MOK_VARIABLE_TABLE"

    entries: list[dict] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"MOK variables ({', '.join(e['name'] for e in self.entries[:4]) or 'none'})"


def decode_mokvar(ctx: DecodeContext) -> MokVarTable:
    name = "LINUX_EFI_MOK_VARIABLE_TABLE"
    t = MokVarTable(address=ctx.address, size=0)
    pa = ctx.address
    for _ in range(MAX_MOKVAR_ENTRIES):
        raw = ctx.read(pa, EFI_MOKVAR_TABLE_ENTRY_HEADER_SIZE, f"{name} entry [{len(t.entries)}]", t.findings)
        if raw is None:
            return t
        f = EFI_MOKVAR_TABLE_ENTRY.parse(raw)
        if not any(f["name"]) and f["data_size"] == 0:
            t.size = pa + EFI_MOKVAR_TABLE_ENTRY_HEADER_SIZE - ctx.address
            return t
        if f["data_size"] > MAX_MOKVAR_DATA:
            t.findings.append(make(MOK_SIZE, name, pa, f"data_size {f['data_size']:#x}"))
            return t
        t.entries.append(
            {
                "name": text_field(bytes(f["name"]).split(b"\0", 1)[0]),
                "data_size": f["data_size"],
                "data_address": pa + EFI_MOKVAR_TABLE_ENTRY_HEADER_SIZE,
            }
        )
        pa += EFI_MOKVAR_TABLE_ENTRY_HEADER_SIZE + f["data_size"]
        t.size = pa - ctx.address
    t.findings.append(make(MOK_TOO_MANY, name, pa, f"no terminator after {MAX_MOKVAR_ENTRIES} entries"))
    return t


# -- CoCo secret area --------------------------------------------------------------
@dataclass(kw_only=True)
class CocoSecretArea(Payload):
    kind = "LINUX_EFI_COCO_SECRET_AREA"

    base_pa: int
    area_size: int
    header_ok: bool | None = None
    area_len: int | None = None
    entries: list[dict] = field(default_factory=list)
    redacted: bool = True

    def secret_ranges(self) -> list[tuple[int, int]]:
        """Physical bytes a viewer must hide while redacted: the whole secret area."""
        if not self.redacted or not self.base_pa or not self.area_size:
            return []
        return [(self.base_pa, self.base_pa + min(self.area_size, MAX_SECRET_AREA))]

    @property
    def title(self) -> str:
        return f"CoCo secret area {self.base_pa:#x} +{self.area_size:#x} ({len(self.entries)} entries)"

    def extents(self) -> list[Extent]:
        out = super().extents()
        if self.base_pa and self.area_size:
            out.append(Extent("secret area", self.base_pa, min(self.area_size, MAX_SECRET_AREA)))
        return out


def decode_coco_secret(ctx: DecodeContext) -> CocoSecretArea:
    pa, name = ctx.address, "LINUX_EFI_COCO_SECRET_AREA"
    findings: list = []
    raw = ctx.read(pa, 16, name, findings)
    if raw is None:
        c = CocoSecretArea(address=pa, size=0, base_pa=0, area_size=0, redacted=not ctx.show_secrets)
        c.findings.extend(findings)
        return c
    f = LINUX_EFI_COCO_SECRET_AREA.parse(raw)
    c = CocoSecretArea(
        redacted=not ctx.show_secrets,
        address=pa,
        size=16,
        raw=raw,
        fields=f,
        schema=LINUX_EFI_COCO_SECRET_AREA,
        base_pa=f["base_pa"],
        area_size=f["size"],
    )
    if c.base_pa == 0 or c.area_size < EFI_SECRET_TABLE_HEADER.sizeof():
        c.findings.append(make(COCO_LEN, name, pa, f"base {c.base_pa:#x} size {c.area_size:#x}"))
        return c
    size = min(c.area_size, MAX_SECRET_AREA)
    area = ctx.read(c.base_pa, size, "CoCo secret area", c.findings)
    if area is None:
        return c
    hdr = EFI_SECRET_TABLE_HEADER.parse(area[:20])
    c.header_ok = hdr["guid"] == EFI_SECRET_TABLE_HEADER_GUID
    if not c.header_ok:
        c.findings.append(make(COCO_HEADER, "CoCo secret area", c.base_pa, f"header GUID {hdr['guid']}"))
        return c
    c.area_len = hdr["len"]
    if c.area_len > size or c.area_len < 20:
        c.findings.append(make(COCO_LEN, "CoCo secret area", c.base_pa, f"len {c.area_len:#x}, area {size:#x}"))
        return c
    off = 20
    while off + 20 <= c.area_len and len(c.entries) < MAX_SECRET_ENTRIES:
        e = EFI_SECRET_TABLE_ENTRY.parse(area[off : off + 20])
        if e["len"] < 20 or off + e["len"] > c.area_len:
            c.findings.append(make(COCO_LEN, "CoCo secret entry", c.base_pa + off, f"len {e['len']:#x}"))
            break
        data = area[off + 20 : off + e["len"]]
        c.entries.append(
            {
                "guid": e["guid"],
                "deleted": e["guid"] == NULL_GUID,
                "len": e["len"],
                "data": Secret.of(data, ctx.show_secrets),
            }
        )
        off += e["len"]
    return c


_RECLAIM = frozenset({ACPI_RECLAIM})
register_decoder(LINUX_EFI_RANDOM_SEED_TABLE_GUID, decode_random_seed, expected_types=_RECLAIM, kept=True)
register_decoder(LINUX_EFI_MOK_VARIABLE_TABLE_GUID, decode_mokvar, kept=True)
register_decoder(LINUX_EFI_COCO_SECRET_AREA_GUID, decode_coco_secret, kept=True)
