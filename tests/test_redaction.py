"""Secrets redacted by physical range, in every output (issue 19).

The fixtures are 16 MiB raw images of an OVMF SEV-SNP guest built with the schemas
(tests/builders_snp.py, dumps/builder.py): a secrets page with four known VMPCKs, a Linux
RNG seed in setup_data and in a configuration table, a CoCo secret area. The hostile
variants point another structure at the VMPCKs: a SETUP_INDIRECT node of an unknown type,
configuration tables (an unknown GUID, ACPI 1.0, the RNG seed and CoCo tables), SETUP_E820_EXT
and SETUP_RNG_SEED nodes over the page, the EFI memory map pointer, the FirmwareVendor pointer,
a second CC blob route, and VMPCKs that look like a zero page to the sweep.

Every face (the API's to_dict(raw=True), ``show``, ``show --json --raw``, ``validate --json``,
``validate --sarif``, ``diff`` against the healthy image, ``scan``) is searched for every 8-byte
window of every VMPCK in every encoding a face could print bytes in (:func:`leaks`); the
finding naming the structure must be there; and with ``--show-secrets`` the keys must be found
(so the search can fail).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner

from dumps.builder import Image, config_tables, runtime_services, system_table, ucs2, zero_page
from efitables.analysis import secrets as sec
from efitables.boot.setup_payloads_kexec import MAX_SEED
from efitables.dump import Dump
from efitables.findings import Finding
from efitables.memory.base import BytesMemory
from efitables.memory.elf import ElfMemory
from efitables.memory.redact import RedactedMemory, SecretRange
from efitables.payloads.linux_secrets import (
    LINUX_EFI_COCO_SECRET_AREA_GUID,
    LINUX_EFI_RANDOM_SEED_TABLE_GUID,
    MAX_SECRET_AREA,
)
from efitables.schemas.common import guid_to_bytes
from efitables.schemas.efi_memmap import EFI_MEMORY_DESCRIPTOR
from efitables.schemas.payloads.linux_tables import (
    EFI_SECRET_TABLE_HEADER_GUID,
    LINUX_EFI_COCO_SECRET_AREA,
    LINUX_EFI_RANDOM_SEED,
)
from efitables.schemas.setup_data import (
    SETUP_CC_BLOB,
    SETUP_DATA,
    SETUP_E820_EXT,
    SETUP_INDIRECT,
    SETUP_RNG_SEED,
    STRUCT_SETUP_INDIRECT,
)
from efitables.schemas.snp import EFI_CC_BLOB_GUID, VMPCK_KEY_LEN, VMPCK_OFFSET
from efitables.text import printable
from tests.builders_snp import (
    CPUID_PA,
    RAW_BLOB,
    RAW_BOOT_PARAMS,
    RAW_CFG_ARRAY,
    RAW_MEMMAP,
    RAW_RUNTIME,
    RAW_SETUP_NODE,
    RAW_SIZE,
    RAW_SYSTAB,
    RAW_VENDOR,
    SECRETS_PA,
    VMPCKS,
    _acpi_rsdp_xsdt,
    blob_bytes,
    cpuid_bytes,
    secrets_bytes,
    setup_node,
)

VMPCK0 = SECRETS_PA + VMPCK_OFFSET
VMPCK_END = VMPCK0 + 4 * VMPCK_KEY_LEN
ACPI_20 = "8868e871-e4f1-11d3-bc22-0080c73c8881"
ACPI_10 = "eb9d2d30-2d88-11d3-9a16-0090273fc14d"
UNKNOWN_GUID = "0badc0de-1234-5678-9abc-def012345678"

# The healthy image's other secrets, with known bytes.
RNG_NODE = 0x102000  # SETUP_RNG_SEED node (EFI_LOADER_DATA)
RNG_SETUP_SEED = hashlib.sha256(b"setup_data seed").digest()
RNG_TABLE = 0x900400  # LINUX_EFI_RANDOM_SEED (EFI_ACPI_RECLAIM_MEMORY)
RNG_TABLE_SEED = hashlib.sha256(b"efi table seed").digest()
COCO_TABLE = 0x900500  # LINUX_EFI_COCO_SECRET_AREA -> the area at COCO_AREA
COCO_AREA = 0x900600
COCO_ENTRY_GUID = "736869e5-84f0-4973-92ec-06879ce3da0b"
COCO_SECRET = b"coco-launch-secret-0123456789abcdef"
HOSTILE = 0x103000  # extra setup_data nodes go here, 0x100 apart

EFI_REGIONS = [
    ("EFI_CONVENTIONAL_MEMORY", 0x0, 0x9F),
    ("EFI_LOADER_DATA", 0x100000, 0x100),
    ("EFI_CONVENTIONAL_MEMORY", 0x200000, 0x5E0),
    ("EFI_RUNTIME_SERVICES_DATA", 0x7E0000, 0x10),
    ("EFI_RUNTIME_SERVICES_CODE", 0x7F0000, 0x10),
    ("EFI_CONVENTIONAL_MEMORY", 0x800000, 0xD),
    ("EFI_RESERVED_TYPE", SECRETS_PA, 3),
    ("EFI_CONVENTIONAL_MEMORY", 0x810000, 0xF0),
    ("EFI_ACPI_RECLAIM_MEMORY", 0x900000, 1),
    ("EFI_CONVENTIONAL_MEMORY", 0x901000, 0x6FF),
]
E820 = [(0, 0x9F000, 1), (0x100000, 0x6E0000, 1), (0x7E0000, 0x20000, 2), (0x800000, 0xD000, 1),
        (SECRETS_PA, 0x3000, 2), (0x810000, 0xF0000, 1), (0x900000, 0x1000, 3), (0x901000, 0x6FF000, 1)]


def node(typ: int, payload: bytes, next_pa: int = 0, length: int | None = None) -> bytes:
    """A setup_data node: the schema's header, then the payload."""
    n = len(payload) if length is None else length
    return SETUP_DATA.build({"next": next_pa, "type": typ, "len": n}) + payload


def indirect(typ: int, addr: int, length: int) -> bytes:
    return STRUCT_SETUP_INDIRECT.build({"type": typ, "reserved": 0, "len": length, "addr": addr})


def snp_image(
    path: Path,
    *,
    vmpcks: list[bytes] | None = None,
    nodes: Sequence[tuple[int, int, bytes, int | None]] = (),
    tables: Sequence[tuple[str, int]] = (),
    memmap: tuple[int, int] | None = None,
    vendor: int = RAW_VENDOR,
    puts: Sequence[tuple[int, bytes]] = (),
) -> Path:
    """The healthy SNP guest (the raw image of tests/builders_snp.write_snp_guest_raw with an RNG seed in
    setup_data and in a configuration table, and a CoCo secret area), and whatever a test adds:
    ``nodes`` (pa, type, payload, len or None) chained after the guest's own, configuration ``tables``,
    another efi_info ``memmap`` (address, size), a FirmwareVendor pointer, raw ``puts`` (written last)."""
    img = Image()
    img.add_region(0, RAW_SIZE)
    rt, wb = 1 << 63, 0x8
    mm = b"".join(
        EFI_MEMORY_DESCRIPTOR.build({"Type": t, "pad": 0, "PhysicalStart": s, "VirtualStart": 0, "NumberOfPages": n,
                                     "Attribute": (rt | wb) if "RUNTIME" in t else wb}) + bytes(8)
        for t, s, n in EFI_REGIONS
    )
    # a table whose GUID the guest has already replaces that entry (a GUID repeated is not decoded again)
    entries = [(ACPI_20, 0x900100), (EFI_CC_BLOB_GUID, RAW_BLOB), (LINUX_EFI_RANDOM_SEED_TABLE_GUID, RNG_TABLE),
               (LINUX_EFI_COCO_SECRET_AREA_GUID, COCO_TABLE)]
    for guid, pa in tables:
        same = [i for i, (g, _) in enumerate(entries) if g == guid]
        if same:
            entries[same[0]] = (guid, pa)
        else:
            entries.append((guid, pa))
    assert len(entries) * 24 <= RAW_VENDOR - RAW_CFG_ARRAY
    img.put(RAW_SYSTAB, system_table(64, vendor=vendor, revision=0x00020046, fw_revision=0x10000, runtime=RAW_RUNTIME,
                                     nr_tables=len(entries), tables=RAW_CFG_ARRAY))
    img.put(RAW_CFG_ARRAY, config_tables(64, entries))
    img.put(RAW_VENDOR, ucs2("EDK II"))
    img.put(RAW_RUNTIME, runtime_services(64, 0x00020046, 0x7F0000))
    img.put(RAW_MEMMAP, mm)
    img.put(0x900100, _acpi_rsdp_xsdt(0x900100, 0x900200))
    img.put(RNG_TABLE, LINUX_EFI_RANDOM_SEED.build({"size": len(RNG_TABLE_SEED)}) + RNG_TABLE_SEED)
    img.put(COCO_TABLE, LINUX_EFI_COCO_SECRET_AREA.build({"base_pa": COCO_AREA, "size": 0x100}))
    entry = guid_to_bytes(COCO_ENTRY_GUID) + (20 + len(COCO_SECRET)).to_bytes(4, "little") + COCO_SECRET
    area = guid_to_bytes(EFI_SECRET_TABLE_HEADER_GUID) + (20 + len(entry)).to_bytes(4, "little") + entry
    img.put(COCO_AREA, area)
    img.put(RAW_BLOB, blob_bytes())
    img.put(SECRETS_PA, secrets_bytes(vmpcks=vmpcks))
    img.put(CPUID_PA, cpuid_bytes())
    chain = [(RNG_NODE, SETUP_RNG_SEED, RNG_SETUP_SEED, None), *nodes]
    img.put(RAW_SETUP_NODE, setup_node(RAW_BLOB, next_pa=chain[0][0]))
    for i, (pa, typ, payload, length) in enumerate(chain):
        nxt = chain[i + 1][0] if i + 1 < len(chain) else 0
        img.put(pa, node(typ, payload, nxt, length))
    mm_pa, mm_size = memmap if memmap is not None else (RAW_MEMMAP, len(mm))
    zp = bytearray(zero_page(
        efi={"efi_loader_signature": "EL64", "efi_systab": RAW_SYSTAB, "efi_memdesc_size": 48,
             "efi_memdesc_version": 1, "efi_memmap": mm_pa, "efi_memmap_size": mm_size, "efi_systab_hi": 0,
             "efi_memmap_hi": 0},
        e820=E820, hdrs=True))
    zp[0x13C:0x140] = RAW_BLOB.to_bytes(4, "little")  # boot_params.cc_blob_address (BOOT_PARAMS_CC_BLOB_ADDRESS_OFFSET)
    zp[0x250:0x258] = RAW_SETUP_NODE.to_bytes(8, "little")  # hdr.setup_data
    img.put(RAW_BOOT_PARAMS, bytes(zp))
    for pa, data in puts:
        img.put(pa, data)
    img.write_raw(str(path))
    return path


# -- looking for the keys in every encoding ---------------------------------------------------------


# Each encoding is (kind, value): "sub" a substring of the lower-cased output; "num" a whole decimal number in
# it; "hex" a whole hex number (0x prefix and leading zeros aside); "seq" consecutive decimal numbers (whatever
# separates them: a JSON list, two fields); "hexes" hex numbers that all appear.
Encoding = tuple[str, str, object]


def _encodings(key: bytes) -> list[Encoding]:
    """What a face could print of an 8-byte window of ``key``: (name, kind, value)."""
    out: list[Encoding] = []
    for s in range(len(key) - 7):
        w = key[s : s + 8]
        u64 = int.from_bytes(w, "little")
        ucs2 = w.decode("utf-16-le", "surrogatepass")  # as a UCS-2 string (FirmwareVendor): text, JSON, escaped
        out += [
            ("hex", "sub", w.hex()),
            ("hex with spaces", "sub", " ".join(f"{b:02x}" for b in w)),
            ("escaped text", "sub", printable(w.decode("latin-1")).lower()),
            ("utf-8 backslash", "sub", w.decode("utf-8", "backslashreplace").lower()),
            # as the first or the last half of an EFI_GUID's text form (Data1-3 little-endian, Data4 in order)
            ("guid head", "sub", f"{w[3::-1].hex()}-{w[5:3:-1].hex()}-{w[7:5:-1].hex()}"),
            ("guid tail", "sub", f"{w[:2].hex()}-{w[2:].hex()}"),
            ("ucs-2", "sub", ucs2.lower()),
            ("ucs-2 json", "sub", json.dumps(ucs2)[1:-1].lower()),
            ("ucs-2 escaped", "sub", printable(ucs2).lower()),
            ("u64 hex", "sub", w[::-1].hex()),
            ("u64 hex", "hex", f"{u64:x}"),
            ("u64 decimal", "num", str(u64)),
            ("u64 big-endian decimal", "num", str(int.from_bytes(w, "big"))),
            ("u32 words", "seq", tuple(str(int.from_bytes(w[i : i + 4], "little")) for i in (0, 4))),
            ("u16 words", "seq", tuple(str(int.from_bytes(w[i : i + 2], "little")) for i in range(0, 8, 2))),
            ("u32 hex words", "hexes", tuple(f"{int.from_bytes(w[i : i + 4], 'little'):x}" for i in (0, 4))),
        ]
        if s + 9 <= len(key):  # base64 of any 9 bytes (whatever the alignment in a longer blob) is 12 characters
            out.append(("base64", "sub", base64.b64encode(key[s : s + 9]).decode().lower()))
    return out


ENCODINGS = {bytes(k): _encodings(k) for k in VMPCKS}


def leaks(output: str | bytes, keys: list[bytes] = VMPCKS) -> list[str]:
    """Which VMPCK windows appear in ``output``, and how ("vmpck2 hex", ...)."""
    raw = output if isinstance(output, bytes) else output.encode("utf-8", "surrogateescape")
    text = raw.decode("utf-8", "replace").lower()
    nums = re.findall(r"[0-9]+", text)
    numset = set(nums)
    seqs = {t for n in (2, 4) for t in zip(*(nums[i:] for i in range(n)), strict=False)}
    hexes = {h.lstrip("0") or "0" for h in re.findall(r"[0-9a-f]+", text)}
    found = []
    for i, k in enumerate(keys):
        if any(k[s : s + 8] in raw for s in range(len(k) - 7)):
            found.append(f"vmpck{i} raw bytes")
        encs = ENCODINGS.get(bytes(k)) or _encodings(k)
        for name, kind, value in encs:
            if kind == "sub":
                hit = value in text
            elif kind == "num":
                hit = value in numset
            elif kind == "hex":
                hit = value in hexes
            elif kind == "seq":
                hit = value in seqs
            else:
                hit = all(v in hexes for v in value)  # type: ignore[attr-defined]
            if hit:
                found.append(f"vmpck{i} {name}")
    return sorted(set(found))


def test_the_search_finds_every_encoding() -> None:
    """The detector itself: each encoding of a window of VMPCK1 is found, and none in unrelated text."""
    k = VMPCKS[1]
    w = k[5:13]
    u64 = int.from_bytes(w, "little")
    for text in (w.hex(), w.hex().upper(), " ".join(f"{b:02X}" for b in w), base64.b64encode(k[5:14]).decode(),
                 base64.b64encode(b"xx" + k).decode(), str(u64), f"{u64:#x}", printable(w.decode("latin-1")),
                 ", ".join(str(int.from_bytes(w[i : i + 2], "little")) for i in range(0, 8, 2)),
                 str(UUID(bytes_le=k[5:21])), str(UUID(bytes_le=k[:16])), json.dumps(k[4:12].decode("utf-16-le")),
                 k[6:14].decode("utf-16-le"), printable(k[6:14].decode("utf-16-le")),
                 '"a": {}, "b": {}'.format(*(int.from_bytes(w[i : i + 4], "little") for i in (0, 4)))):
        assert "vmpck1" in " ".join(leaks(f"before {text} after")), text
    assert "vmpck1 raw bytes" in leaks(w)
    assert leaks("0x80d020 4096 " + hashlib.sha256(b"other").hexdigest()) == []


# -- the faces --------------------------------------------------------------------------------------

RUNNER = CliRunner(env={"COLUMNS": "4000"})  # wide: rich never folds a hex string across lines


def cli(*args: str) -> tuple[int, str, bytes]:
    """Exit code, standard output, and everything written (standard error too) as bytes."""
    from efitables.cli import cli as group

    r = RUNNER.invoke(group, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.output_bytes


def faces(path: Path, healthy: Path, *extra: str) -> dict[str, str | bytes]:
    """Every output of ``path``: API, show (text, JSON with raw bytes), validate (JSON, SARIF), diff, scan."""
    show = "--show-secrets" in extra
    out: dict[str, str | bytes] = {}
    with Dump.open(str(path), show_secrets=show) as d:
        out["api to_dict(raw=True)"] = json.dumps(d.to_dict(raw=True), default=str)
        out["api repr of every area"] = repr(d.areas())
    for name, args in {
        "show": ("show", str(path)),
        "show --full": ("show", "--full", str(path)),
        "show --json --raw": ("show", "--json", "--raw", str(path)),
        "validate --json": ("validate", "--json", str(path)),
        "validate --sarif": ("validate", "--sarif", str(path)),
        "diff": ("diff", str(healthy), str(path)),
        "diff --json": ("diff", "--json", str(healthy), str(path)),
        "scan": ("scan", str(path)),
        "scan --json": ("scan", "--json", str(path)),
    }.items():
        code, text, raw = cli(*args[:1], *extra, *args[1:])
        assert code in (0, 1), (name, raw)  # done, with or without findings at the threshold
        out[name], out[name + " (bytes)"] = text, raw
    return out


def referenced(path: Path) -> list[Finding]:
    with Dump.open(str(path)) as d:
        return [f for f in d.findings if f.code == sec.SECRET_REFERENCED]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return snp_image(tmp_path_factory.mktemp("redaction") / "healthy.raw")


# -- the healthy guest: owners see their secrets, nobody else reads them -----------------------------


def test_healthy_owners_summarise_their_secrets_through_the_view(healthy: Path) -> None:
    with Dump.open(str(healthy)) as d:
        assert isinstance(d.memory, RedactedMemory) and d.container is d.memory.inner
        page = d.snp_secrets
        assert page is not None
        # the secrets page parser read the real keys (their digests), not the zeros everyone else reads
        assert [k.sha256_prefix for k in page.vmpck] == [hashlib.sha256(k).hexdigest()[:16] for k in VMPCKS]
        assert all(k.value is None and not k.all_zero for k in page.vmpck)
        rng = d.setup_data.of_type(SETUP_RNG_SEED)[0].payload
        assert rng.seed.sha256_prefix == hashlib.sha256(RNG_SETUP_SEED).hexdigest()[:16] and rng.raw == b""
        seed = d.config_table(LINUX_EFI_RANDOM_SEED_TABLE_GUID).payload
        assert seed.seed.sha256_prefix == hashlib.sha256(RNG_TABLE_SEED).hexdigest()[:16]
        coco = d.config_table(LINUX_EFI_COCO_SECRET_AREA_GUID).payload
        assert coco.header_ok and coco.entries[0]["guid"] == COCO_ENTRY_GUID
        assert coco.entries[0]["data"].sha256_prefix == hashlib.sha256(COCO_SECRET).hexdigest()[:16]
        # every secret range, with its owner's read
        spans = sorted((r.start, r.end, r.owner_pa, r.owner_structure) for r in d.memory.secrets)
        assert spans == [
            (RNG_NODE + 16, RNG_NODE + 16 + 32, RNG_NODE + 16, sec.RNG_SEED_READ),
            (VMPCK0, VMPCK_END, SECRETS_PA, "snp_secrets_page"),
            (RNG_TABLE + 4, RNG_TABLE + 4 + 32, RNG_TABLE + 4, "LINUX_EFI_RANDOM_SEED bits"),
            (COCO_AREA, COCO_AREA + 0x100, COCO_AREA, "CoCo secret area"),
        ]
        assert d.secret_spans() == [(s, e) for s, e, _, _ in spans]
        assert d.is_secret(VMPCK0) and d.is_secret(VMPCK_END - 1) and not d.is_secret(VMPCK_END)
        # anyone else reading those bytes gets zeros, and is remembered
        assert d.memory.read(VMPCK0 - 8, 16, structure="probe") == d.container.read(VMPCK0 - 8, 8) + bytes(8)
        assert d.memory.read_u64(VMPCK0 + 8, structure="probe") == 0
        # one reference per (structure, secret): where it first read, the most bytes any of its reads covered
        assert [(r.structure, r.address, r.size, r.withheld) for r in d.memory.references] == [
            ("probe", VMPCK0 - 8, 8, True)]
        # and the sweep's windows are zeroed there too
        (pa, window), = [(pa, bytes(w)) for pa, w in d.memory.chunks(0x1000, start=SECRETS_PA, end=SECRETS_PA + 0x1000)]
        assert pa == SECRETS_PA and window[VMPCK_OFFSET : VMPCK_OFFSET + 128] == bytes(128)
        assert window[:VMPCK_OFFSET] == d.container.read(SECRETS_PA, VMPCK_OFFSET)


def test_healthy_has_no_reference_and_no_leak(healthy: Path) -> None:
    assert referenced(healthy) == []
    outs = faces(healthy, healthy)
    assert {name: leaks(text) for name, text in outs.items() if leaks(text)} == {}


def test_show_secrets_reads_the_container(healthy: Path) -> None:
    with Dump.open(str(healthy), show_secrets=True) as d:
        assert d.memory is d.container and d.secret_spans() == [] and not d.is_secret(VMPCK0)
        assert [k.value for k in d.snp_secrets.vmpck] == VMPCKS
        assert d.secret_scan is None


# -- hostile dumps: another structure's pointer lands on the VMPCKs -----------------------------------

CASES: dict[str, dict] = {
    # (a) a SETUP_INDIRECT node of an unknown type whose payload is VMPCK0..VMPCK1
    "setup_indirect unknown type": dict(nodes=[(HOSTILE, SETUP_INDIRECT, indirect(SETUP_INDIRECT | 0x77, VMPCK0, 64),
                                                None)]),
    # (b) configuration tables: an unknown GUID, ACPI 1.0 (RSDP decoder), the RNG seed and CoCo tables
    "config table unknown guid": dict(tables=[(UNKNOWN_GUID, VMPCK0)]),
    "config table ACPI 1.0": dict(tables=[(ACPI_10, VMPCK0 + 0x20)]),
    "config table RNG seed": dict(tables=[(LINUX_EFI_RANDOM_SEED_TABLE_GUID, VMPCK0 - 4)]),
    "config table CoCo area": dict(tables=[(LINUX_EFI_COCO_SECRET_AREA_GUID, 0x900700)],
                                   puts=[(0x900700, LINUX_EFI_COCO_SECRET_AREA.build({"base_pa": VMPCK0,
                                                                                      "size": 0x80}))]),
    # (c) SETUP_E820_EXT and SETUP_RNG_SEED nodes whose payload is the VMPCKs (the header over GOSVW)
    "setup_e820_ext over the page": dict(nodes=[(VMPCK0 - 16, SETUP_E820_EXT, b"", 0x78)]),
    "setup_rng_seed over the page": dict(nodes=[(VMPCK0 - 16, SETUP_RNG_SEED, b"", 0x80)]),
    "setup_indirect rng_seed": dict(nodes=[(HOSTILE, SETUP_INDIRECT, indirect(SETUP_INDIRECT | SETUP_RNG_SEED,
                                                                              VMPCK0 + 0x20, 0x40), None)]),
    # (d) the EFI memory map pointer
    "efi memmap pointer": dict(memmap=(VMPCK0, 0x60)),
    # and: FirmwareVendor (a UCS-2 string, read without a structure name), a CC blob route
    "firmware vendor pointer": dict(vendor=VMPCK0 + 0x40),
    "second setup_cc_blob": dict(nodes=[(HOSTILE, SETUP_CC_BLOB, (VMPCK0 + 0x10).to_bytes(4, "little") + bytes(4),
                                         None)]),
}
#: Part of each case's JSON (show --json --raw) that holds the hostile structure (the keys show there
#: with --show-secrets: the path really reads them).
HOSTILE_PART: dict[str, Callable[[dict], object]] = {
    "setup_indirect unknown type": lambda j: j["boot"]["setup_data"]["nodes"][2],
    "config table unknown guid": lambda j: None,  # no decoder: nothing is read, before or after
    "config table ACPI 1.0": lambda j: j["efi"]["system_table"]["config_table_array"]["entries"][4],
    "config table RNG seed": lambda j: j["efi"]["system_table"]["config_table_array"]["entries"][2],
    "config table CoCo area": lambda j: j["efi"]["system_table"]["config_table_array"]["entries"][3],
    "setup_e820_ext over the page": lambda j: j["boot"]["setup_data"]["nodes"][2],
    "setup_rng_seed over the page": lambda j: j["boot"]["setup_data"]["nodes"][2],
    "setup_indirect rng_seed": lambda j: j["boot"]["setup_data"]["nodes"][2],
    "efi memmap pointer": lambda j: j["efi"]["memory_map"],
    "firmware vendor pointer": lambda j: j["efi"]["system_table"]["firmware_vendor"],
    "second setup_cc_blob": lambda j: j["snp"]["blobs"],
}
#: The structure each case's SECRET-RANGE-REFERENCED finding names (None: no structure reads the keys).
READER = {
    "setup_indirect unknown type": "setup_data node [2] (SETUP_INDIRECT) -> payload (UNKNOWN(0x77))",
    "config table unknown guid": None,
    "config table ACPI 1.0": "ACPI RSDP",
    "config table RNG seed": "LINUX_EFI_RANDOM_SEED bits",
    "config table CoCo area": "CoCo secret area",
    "setup_e820_ext over the page": "setup_data node [2] (SETUP_E820_EXT)",
    "setup_rng_seed over the page": "setup_data node [2] (SETUP_RNG_SEED)",
    "setup_indirect rng_seed": "setup_data node [2] (SETUP_INDIRECT) -> payload (SETUP_RNG_SEED)",
    "efi memmap pointer": "EFI memory map (efi_info)",
    "firmware vendor pointer": "memory read",
    "second setup_cc_blob": "cc_blob_sev_info",
}


@pytest.fixture(scope="module", params=sorted(CASES))
def hostile(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    name = request.param
    return name, snp_image(tmp_path_factory.mktemp("hostile") / (name.replace(" ", "_") + ".raw"), **CASES[name])


def test_hostile_no_vmpck_byte_in_any_output(hostile: tuple[str, Path], healthy: Path) -> None:
    name, path = hostile
    outs = faces(path, healthy)
    assert {face: leaks(text) for face, text in outs.items() if leaks(text)} == {}


def test_hostile_reference_is_reported(hostile: tuple[str, Path]) -> None:
    name, path = hostile
    found = referenced(path)
    want = READER[name]
    if want is None:
        assert found == []
        return
    assert found, name
    assert want in {f.structure for f in found}, [f.to_dict() for f in found]
    f = next(f for f in found if f.structure == want)
    assert f.severity.name == "WARNING"
    assert "of the VMPCKs (vmpck0-3) of the SNP secrets page @ 0x80d000" in f.message
    # the finding reaches every face that lists findings
    _code, text, _raw = cli("validate", "--json", str(path))
    codes = {g["code"] for v in json.loads(text)["dumps"] for g in v["findings"]}
    assert sec.SECRET_REFERENCED in codes
    _code, text, _raw = cli("validate", "--sarif", str(path))
    assert sec.SECRET_REFERENCED in text


def test_hostile_keys_show_with_show_secrets(hostile: tuple[str, Path], healthy: Path) -> None:
    """With --show-secrets the search finds the keys (so the tests above can fail), also in the hostile structure."""
    name, path = hostile
    outs = faces(path, healthy, "--show-secrets")
    for face in ("api to_dict(raw=True)", "show --full", "show --json --raw"):
        assert leaks(outs[face]), face
    doc = json.loads(outs["show --json --raw"])
    part = HOSTILE_PART[name](doc)
    if READER[name] is not None:
        assert leaks(json.dumps(part)), f"{name}: the hostile structure does not read the keys"
    # and without it, that structure sees zeros where the keys are
    _code, text, _raw = cli("show", "--json", "--raw", str(path))
    assert leaks(json.dumps(HOSTILE_PART[name](json.loads(text)))) == []


def test_hostile_owner_still_summarises_the_keys(hostile: tuple[str, Path]) -> None:
    """Whatever else points at them, the secrets page parser reads the real keys (their digests are right),
    except where another secret's owner that parses its bytes (not only summarises them) overlaps them."""
    name, path = hostile
    with Dump.open(str(path)) as d:
        page = d.snp_secrets
        assert page is not None
        digests = [k.sha256_prefix for k in page.vmpck]
    assert digests == [hashlib.sha256(k).hexdigest()[:16] for k in VMPCKS], name


def test_rng_seed_over_the_vmpcks_is_a_digest_only(tmp_path: Path) -> None:
    """A SETUP_RNG_SEED node whose seed is VMPCK0-3: its parser summarises them (no bytes), not withheld."""
    path = snp_image(tmp_path / "rng.raw", **CASES["setup_rng_seed over the page"])
    with Dump.open(str(path)) as d:
        rng = d.setup_data[2].payload
        assert rng.raw == b"" and rng.seed.sha256_prefix == hashlib.sha256(b"".join(VMPCKS)).hexdigest()[:16]
        # each secret's owner reads the other's bytes (both only summarise them): two findings, nothing withheld
        msgs = sorted(f.message for f in d.findings if f.code == sec.SECRET_REFERENCED)
        assert msgs == [
            f"setup_data node [2] (SETUP_RNG_SEED) @ {VMPCK0:#x}: reads 0x80 bytes of the VMPCKs (vmpck0-3) of the "
            f"SNP secrets page @ {SECRETS_PA:#x}; seen only as a digest by a secret's own parser",
            f"snp_secrets_page @ {SECRETS_PA:#x}: reads 0x80 bytes of the SETUP_RNG_SEED seed @ {VMPCK0:#x}; "
            "seen only as a digest by a secret's own parser",
        ]


def test_coco_area_over_the_vmpcks_sees_zeros(tmp_path: Path) -> None:
    """The CoCo area's parser prints GUIDs and lengths: over the VMPCKs it sees zeros (its own range or not)."""
    path = snp_image(tmp_path / "coco.raw", **CASES["config table CoCo area"])
    with Dump.open(str(path)) as d:
        coco = d.config_tables[3].payload
        assert coco.base_pa == VMPCK0 and coco.header_ok is False
        assert [f.message for f in coco.findings if f.code == "LINUX-COCO-SECRET-HEADER"] == [
            "header GUID 00000000-0000-0000-0000-000000000000"]


def test_secrets_page_over_an_rng_seed_hides_the_seed(tmp_path: Path) -> None:
    """Two secrets overlapping: the page's own fields over the seed read as zeros, its VMPCKs are still summarised."""
    path = snp_image(tmp_path / "over.raw", nodes=[(SECRETS_PA - 16, SETUP_RNG_SEED, b"", 0x20)])
    with Dump.open(str(path)) as d:
        page = d.snp_secrets
        assert page.version == 0 and page.fms == 0  # the seed's bytes, withheld from the page
        assert [k.sha256_prefix for k in page.vmpck] == [hashlib.sha256(k).hexdigest()[:16] for k in VMPCKS]
        msgs = [f.message for f in d.findings if f.code == sec.SECRET_REFERENCED]
        assert any(m.startswith(f"snp_secrets_page @ {SECRETS_PA:#x}: reads 0x20 bytes of the SETUP_RNG_SEED seed")
                   for m in msgs), msgs


# -- the sweep: VMPCKs that look like a zero page ------------------------------------------------------


def test_scan_candidate_inside_the_vmpcks(tmp_path: Path, healthy: Path) -> None:
    """VMPCK1 starts with "EL64": the sweep sees a zero page whose efi_info is VMPCK1; scan and show judge it
    on zeros (the hit's address is not a secret), with --show-secrets on the key."""
    keys = [VMPCKS[0], b"EL64" + VMPCKS[1][4:], VMPCKS[2], VMPCKS[3]]
    path = snp_image(tmp_path / "el64.raw", vmpcks=keys)
    fake = VMPCK0 + VMPCK_KEY_LEN - 0x1C0  # efi_info is at 0x1c0 of a zero page
    code, text, _raw = cli("scan", "--json", str(path))
    doc = json.loads(text)
    page = next(p for p in doc["zero_pages"] if p["address"] == fake)
    assert page["efi_info"] is None or page["efi_info"]["efi_loader_signature"] != "EL64"
    assert leaks(text, keys) == []
    _code, shown, _raw = cli("scan", "--json", "--show-secrets", str(path))
    assert leaks(shown, keys) and next(p for p in json.loads(shown)["zero_pages"] if p["address"] == fake)["efi_info"]
    for args in (("show", "--full", "--scan", "always", str(path)),
                 ("show", "--json", "--raw", "--scan", "always", str(path))):
        _code, text, raw = cli(*args)
        assert leaks(text, keys) == [] and leaks(raw, keys) == []


# -- the view itself --------------------------------------------------------------------------------


def _view(ranges: list[SecretRange], data: bytes = bytes(range(256)) * 16) -> RedactedMemory:
    return RedactedMemory(BytesMemory({0x1000: data}), lambda: ranges)


def test_view_owner_rules() -> None:
    page = SecretRange(0x1020, 0x10A0, "keys", 0x1000, "page", summarised=True)
    area = SecretRange(0x1090, 0x10C0, "area", 0x1090, "area")
    seed = SecretRange(0x1000, 0x1010, "seed", 0x1000, "*(SEED)", summarised=True)
    v = _view([page, area, seed])
    raw = v.inner.read(0x1000, 0x100)
    # the page's owner: its keys (even where the area overlaps them: it only summarises), not the seed's bytes
    got = v.read(0x1000, 0x100, "page")
    assert got[:0x10] == bytes(0x10) and got[0x20:0xA0] == raw[0x20:0xA0] and got[0xA0:0xC0] == bytes(0x20)
    # the area's owner parses its bytes: where the keys overlap it, zeros
    got = v.read(0x1090, 0x30, "area")
    assert got[:0x10] == bytes(0x10) and got[0x10:] == raw[0xA0:0xC0]
    # a suffix-named owner; the same name elsewhere is not the owner
    assert v.read(0x1000, 0x10, "node [3] (SEED)") == raw[:0x10]
    assert v.read(0x1008, 0x8, "node [3] (SEED)") == bytes(8)
    assert v.read(0x1000, 0x10, "node [3] (SEED) x") == bytes(0x10)
    refs = {(r.structure, r.secret.label): (r.address, r.size, r.withheld) for r in v.references}
    assert refs == {
        ("page", "seed"): (0x1000, 0x10, True),
        ("page", "area"): (0x1000, 0x30, True),  # 0x10 seen as the page's own keys, 0x20 withheld
        ("area", "keys"): (0x1090, 0x10, True),
        ("node [3] (SEED)", "seed"): (0x1008, 0x8, True),
        ("node [3] (SEED) x", "seed"): (0x1000, 0x10, True),
    }


def test_view_delegates_the_container() -> None:
    v = _view([SecretRange(0x1020, 0x1040, "k")])
    assert isinstance(v, BytesMemory) and isinstance(v, RedactedMemory) and not isinstance(v, ElfMemory)
    assert v.ranges() == v.inner.ranges() and v.info is v.inner.info and v.findings is v.inner.findings
    assert v.is_readable(0x1000, 0x1000) and not v.is_readable(0x1000, 0x1001) and v.first_gap(0x1f00, 0x200)
    with pytest.raises(AttributeError):
        v._segments  # noqa: B018 (private container state is not forwarded)
    assert v.touches_secret(0x1000, 0x21) and not v.touches_secret(0x1000, 0x20) and not v.touches_secret(0x1040, 9)
    assert v.secret_spans() == [(0x1020, 0x1040)]


def test_view_ranges_found_once_and_not_through_itself() -> None:
    calls: list[int] = []
    box: list[RedactedMemory] = []

    def fn() -> list[SecretRange]:
        calls.append(1)
        if len(calls) == 1:
            box[0].read(0, 1)  # a pre-pass that reads the view is a bug, said loudly
        return []

    v = RedactedMemory(BytesMemory({0: bytes(16)}), fn)
    box.append(v)
    with pytest.raises(RuntimeError):
        v.read(0, 4)
    v2 = RedactedMemory(BytesMemory({0: bytes(16)}), lambda: calls.append(2) or [])  # type: ignore[func-returns-value]
    v2.read(0, 4)
    v2.read(4, 4)
    assert calls.count(2) == 1


def test_caps_and_constants() -> None:
    assert sec.MAX_SECRET_RANGE == MAX_SECRET_AREA
    assert sec.SECRET_TABLE_GUIDS == {LINUX_EFI_RANDOM_SEED_TABLE_GUID, LINUX_EFI_COCO_SECRET_AREA_GUID}
    from efitables.boot.setup_payloads_kexec import RngSeedPayload

    huge = RngSeedPayload(address=0x2000, size=0, setup_type=SETUP_RNG_SEED, type_name="SETUP_RNG_SEED",
                          length=0xFFFFFFFF)
    (r,) = sec.ranges_in(huge)
    assert (r.start, r.end) == (0x2000, 0x2000 + MAX_SEED)  # a dump-sized len does not blank the dump


def test_references_are_capped(tmp_path: Path) -> None:
    v = _view([SecretRange(0x1020, 0x1040, "k")])
    for i in range(40):
        v.read(0x1020, 4, f"s{i}")
    out = v.references
    assert len(out) == 40
    from efitables.memory import redact

    old = redact.MAX_REFERENCES
    redact.MAX_REFERENCES = 5
    try:
        w = _view([SecretRange(0x1020, 0x1040, "k")])
        for i in range(8):
            w.read(0x1020, 4, f"s{i}")
        assert len(w.references) == 5 and w.references_dropped == 3
    finally:
        redact.MAX_REFERENCES = old


def test_a_copy_of_a_secret_elsewhere_is_withheld_too() -> None:
    """A container can show a secret page at a second address (kdump page descriptors sharing one data
    offset: the fuzzer's case); the secret's bytes are withheld there as well, by content."""
    key = bytes.fromhex("8f3a9c11d2e47b65a0c3f1e29d8b7a6c5e4f30211b0a99887766554433221100")
    data = bytearray(0x1000)
    data[0x20:0x40] = key  # the secret, at its own address 0x1020
    data[0x800:0x820] = key  # the same bytes at 0x1800 (an alias)
    data[0x900:0x910] = key[:16]  # a partial copy is not the secret
    page = SecretRange(0x1020, 0x1040, "vmpck0", 0x1000, "page", summarised=True)
    v = RedactedMemory(BytesMemory({0x1000: bytes(data)}), lambda: [page])
    assert v.read(0x1000, 0x1000, "page")[0x20:0x40] == key  # the owner sees its key at its address
    assert v.read(0x1000, 0x1000, "page")[0x800:0x820] == bytes(32)  # ... not its copy
    got = v.read(0x17F0, 0x40, "setup_data node [0]")
    assert got == bytes(0x40)
    assert v.read(0x1900, 0x10, "x") == key[:16]
    refs = {(r.structure, r.address, r.size, r.withheld) for r in v.references}
    assert refs == {("page", 0x1800, 32, True), ("setup_data node [0]", 0x1800, 32, True)}


def test_a_secret_too_plain_to_search_for_is_withheld_by_range_only() -> None:
    """An all-zero key (never provisioned) is not searched for: zeros elsewhere are ordinary data."""
    page = SecretRange(0x1020, 0x1040, "vmpck1", 0x1000, "page", summarised=True)
    v = RedactedMemory(BytesMemory({0x1000: bytes(0x1000)}), lambda: [page])
    assert v.read(0x1800, 0x20, "x") == bytes(0x20) and v.references == []
    assert v.read(0x1010, 0x40, "x") == bytes(0x40)
    assert [(r.structure, r.address, r.size) for r in v.references] == [("x", 0x1010, 0x20)]


def test_a_kdump_page_descriptor_pointing_at_the_secrets_page(tmp_path: Path) -> None:
    """The fuzzer's case: a kdump file whose descriptor for another page names the secrets page's data.
    The keys read there are withheld (by content), named as a reference, and never reach the JSON."""
    from tests.builders_hostile import desc_offset, kdump_of_raw
    from tests.builders_snp import SECRETS_PA, write_snp_guest_raw
    from tests.test_kdump import PAGE

    raw_path = tmp_path / "snp.raw"
    write_snp_guest_raw(str(raw_path))
    raw = raw_path.read_bytes()
    n = len(raw) // PAGE
    kd = bytearray(kdump_of_raw(raw, compression=0))
    victim = 0x300000  # a page of the image the secrets page is not at
    src, dst = desc_offset(SECRETS_PA // PAGE, n), desc_offset(victim // PAGE, n)
    kd[dst : dst + 24] = kd[src : src + 24]
    path = tmp_path / "snp.kdump"
    path.write_bytes(bytes(kd))
    keys = b"".join(VMPCKS)
    with Dump.open(str(path)) as d:
        assert d.container.read(victim + VMPCK_OFFSET, 4 * VMPCK_KEY_LEN) == keys  # the file shows them there
        assert d.memory.read(victim, PAGE, "a reader of that page")[VMPCK_OFFSET : VMPCK_OFFSET + 128] == bytes(128)
        assert d.snp_secrets is not None  # the real page is still parsed, its keys summarised
        refs = {(r.structure, r.address) for r in d.memory.references}
        assert ("a reader of that page", victim + VMPCK_OFFSET) in refs
    from efitables.cli import cli as group

    r = CliRunner().invoke(group, ["show", str(path), "--json", "--raw"])
    assert r.exit_code in (0, 1)
    for k in VMPCKS:
        assert k.hex() not in r.stdout and base64.b64encode(k).decode() not in r.stdout
