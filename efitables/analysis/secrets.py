"""Where a dump's secrets lie, found before anything else reads the dump; and who else reads them.

Redaction is by physical byte range (:mod:`efitables.memory.redact`): a Dump opened
without ``show_secrets`` reads through a :class:`~efitables.memory.redact.RedactedMemory`
whose ranges come from :func:`find_secrets`, a throwaway parse of the *unredacted*
container (:class:`SecretsPrepass`) that reads only what locates a secret:

* the zero page and the ``setup_data`` list (``SETUP_RNG_SEED`` payloads, a
  ``SETUP_INDIRECT`` one included: torvalds/linux arch/x86/include/uapi/asm/setup_data.h@v6.12.117);
* the EFI system table and its configuration table array, decoding only the payloads
  that hold a secret (:data:`SECRET_TABLE_GUIDS`: ``LINUX_EFI_RANDOM_SEED_TABLE_GUID``'s
  seed bytes and ``LINUX_EFI_COCO_SECRET_AREA_GUID``'s area, include/linux/efi.h@v6.12.117);
* the SEV-SNP CC blob by every route and each blob's secrets page: the four VMPCKs
  (``struct snp_secrets_page``, arch/x86/include/asm/sev.h@v6.12.117; the AMD SEV-SNP
  firmware ABI, publication 56860, "PAGE_TYPE_SECRETS", defines no other key in the page:
  the version, IMIEN, FMS, GOSVW, the guest OS area, the VMSA tweak bitmap, the SVSM
  fields and TSC_FACTOR are not secret).

Every parsed object's :meth:`~efitables.model.Parsed.secret_ranges` becomes a
:class:`~efitables.memory.redact.SecretRange` naming the read its owner makes (below), so
the Dump's own secrets page parser and seed decoders still see their bytes and summarise
them as :class:`~efitables.secret.Secret`; any other structure sees zeros. Nothing of the
pre-pass is kept but the ranges.

:func:`secret_references` (a registered check) turns each read of a secret range by
another structure into a ``SECRET-RANGE-REFERENCED`` finding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from efitables.analysis.registry import check
from efitables.boot.setup_payloads_kexec import MAX_SEED, RngSeedPayload
from efitables.findings import Finding, Severity, make, register
from efitables.memory.base import FindingCap
from efitables.memory.redact import RedactedMemory, SecretRange
from efitables.schemas.payloads.linux_tables import LINUX_EFI_RANDOM_SEED_HEADER_SIZE
from efitables.schemas.setup_data import SETUP_RNG_SEED, setup_type_name
from efitables.snp.secrets import SnpSecretsPage

if TYPE_CHECKING:
    from efitables.dump import Dump
    from efitables.efi.hits import ScanHits
    from efitables.efi.systab import SystemTable
    from efitables.model import Parsed

SECRET_REFERENCED = register(
    "SECRET-RANGE-REFERENCED",
    Severity.WARNING,
    "A structure reads the bytes of a secret it does not own",
    "A pointer of another structure (a SETUP_INDIRECT node, a configuration table, the EFI memory map, "
    "a CC blob route...) leads into a secret: the SNP secrets page's VMPCKs, a Linux RNG seed or the CoCo "
    "secret area. efitables withholds those bytes (they read as zeros) from every structure but the "
    "secret's owner unless the dump is opened with --show-secrets. A real firmware or kernel does not "
    "point there: the dump was altered, or the pointer is stale.",
)
SECRET_RANGES_INCOMPLETE = register(
    "SECRET-RANGES-INCOMPLETE",
    Severity.WARNING,
    "efitables could not locate every secret of the dump",
    "Parsing an area in search of its secrets failed (a bug in efitables); the secrets of that area are "
    "summarised by their owner as usual but are not withheld from other structures that point at them.",
)

#: Configuration tables whose payload holds a secret: the only payloads the pre-pass decodes
#: (efitables.payloads.linux_secrets LINUX_EFI_RANDOM_SEED_TABLE_GUID, LINUX_EFI_COCO_SECRET_AREA_GUID).
#: A new decoder whose payload reports secret_ranges() adds its GUID here.
SECRET_TABLE_GUIDS = frozenset({"1ce1e5bc-7ceb-42f2-81e5-8aadf180f57b", "adf956ad-e98c-484c-ae11-b51c7d336447"})

#: Largest secret range believed (efitables.payloads.linux_secrets.MAX_SECRET_AREA, the CoCo secret
#: area's own read cap): a dump-sized length must not withhold the rest of the dump.
MAX_SECRET_RANGE = 1024 * 1024
#: Parsed objects the pre-pass walks for secret ranges (the areas' own caps bound them far below).
MAX_OBJECTS = 1 << 16

#: The read each owner makes of its secret: ``structure=`` names from the parsers that read them
#: (efitables.snp.blob parse_cc_blob, efitables.payloads.linux_secrets, efitables.boot.setup_data).
SECRETS_PAGE_READ = "snp_secrets_page"
RANDOM_SEED_READ = "LINUX_EFI_RANDOM_SEED bits"
COCO_AREA_READ = "CoCo secret area"
#: A setup_data RNG seed is read as "setup_data node [i] (SETUP_RNG_SEED)" (or "... -> payload (SETUP_RNG_SEED)").
RNG_SEED_READ = f"*({setup_type_name(SETUP_RNG_SEED)})"


@dataclass
class SecretScan:
    """What the pre-pass found: the secret ranges, and findings when an area could not be searched."""

    ranges: list[SecretRange] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def secret_range_of(p: Parsed, start: int, end: int) -> SecretRange:
    """``[start, end)`` of ``p.secret_ranges()`` with its label and its owner's read (capped in size)."""
    from efitables.payloads.linux_secrets import CocoSecretArea, RandomSeed  # the payloads: when a dump is read

    end = min(end, start + MAX_SECRET_RANGE)
    if isinstance(p, SnpSecretsPage) and p.address is not None:
        return SecretRange(start, end, f"the VMPCKs (vmpck0-3) of the SNP secrets page @ {p.address:#x}",
                           p.address, SECRETS_PAGE_READ, summarised=True)
    if isinstance(p, RandomSeed) and p.address is not None:
        return SecretRange(start, end, f"the Linux RNG seed (LINUX_EFI_RANDOM_SEED @ {p.address:#x})",
                           p.address + LINUX_EFI_RANDOM_SEED_HEADER_SIZE, RANDOM_SEED_READ, summarised=True)
    if isinstance(p, RngSeedPayload) and p.address is not None:
        # What the decoder reads and summarises; a larger len is not believed (it could blank the dump).
        return SecretRange(start, min(end, start + MAX_SEED), f"the SETUP_RNG_SEED seed @ {p.address:#x}",
                           p.address, RNG_SEED_READ, summarised=True)
    if isinstance(p, CocoSecretArea):
        return SecretRange(start, end, f"the CoCo secret area @ {p.base_pa:#x}", p.base_pa, COCO_AREA_READ)
    where = "" if p.address is None else f" @ {p.address:#x}"
    return SecretRange(start, end, f"a secret of {p.kind}{where}")  # no known owner: nobody sees it


def ranges_in(root: Parsed | None, limit: int = MAX_OBJECTS) -> list[SecretRange]:
    """The secret ranges of ``root`` and every object below it (children, visited once, at most ``limit``)."""
    out: list[SecretRange] = []
    stack = [root] if root is not None else []
    seen: set[int] = set()
    while stack and len(seen) < limit:
        p = stack.pop()
        if id(p) in seen:
            continue
        seen.add(id(p))
        out.extend(secret_range_of(p, s, e) for s, e in p.secret_ranges() if 0 <= s < e)
        stack.extend(c for c in p.children() if c is not None)
    return out


@cache
def _prepass_type() -> Callable[[Dump], Dump]:
    """:class:`SecretsPrepass`, defined on first use (efitables.dump imports this module)."""
    from efitables.dump import Dump
    from efitables.payloads import decode_payload

    class SecretsPrepass(Dump):
        """A Dump of the unredacted container that parses only what locates a secret; thrown away after."""

        redacts = False

        def __init__(self, outer: Dump) -> None:
            super().__init__(
                outer.container,
                systab=outer.user_systab,
                boot_params=outer.user_boot_params,
                scan=outer.scan_mode,
                exhaustive=outer.exhaustive,
                show_secrets=False,
            )
            self._outer = outer

        @cached_property
        def scan_hits(self) -> ScanHits:
            return self._outer.scan_hits  # the one sweep (of the container) the Dump shares

        def _decode_payloads(self, st: SystemTable | None) -> None:
            for t in st.config_tables if st is not None else []:
                if t.payload is None and t.readable and t.guid in SECRET_TABLE_GUIDS:
                    t.payload = decode_payload(self.memory, t, memmap=self.efi_memmap, e820=lambda: self.e820)

    return SecretsPrepass


def find_secrets(d: Dump) -> SecretScan:
    """Every secret range of ``d``, from a throwaway parse of its unredacted container."""
    pre = _prepass_type()(d)
    out = SecretScan()
    areas: list[tuple[str, Callable[[], Any]]] = [
        ("setup_data", lambda: pre.setup_data),
        ("EFI configuration tables", lambda: pre.systab),
        ("SEV-SNP CC blob", lambda: pre.cc_blob),
    ]
    for name, get in areas:
        try:
            out.ranges.extend(ranges_in(get()))
        except Exception as e:  # noqa: BLE001 - a parser bug must not stop the dump; it is reported
            out.findings.append(make(SECRET_RANGES_INCOMPLETE, name, None, f"{type(e).__name__}: {e}"))
    return out


def reference_message(structure: str | None, address: int, size: int, label: str, withheld: bool) -> str:
    who = structure if structure is not None else "a read without a structure name"
    how = "withheld (--show-secrets shows them)" if withheld else "seen only as a digest by a secret's own parser"
    return f"{who} @ {address:#x}: reads {size:#x} bytes of {label}; {how}"


@check("secret ranges")
def secret_references(d: Dump) -> list[Finding]:
    """Reads of a secret's bytes by a structure other than its owner (SECRET-RANGE-REFERENCED)."""
    mem = d.memory
    if not isinstance(mem, RedactedMemory):
        return []
    mem.secrets  # noqa: B018 (the pre-pass runs if nothing has read the dump yet)
    out: list[Finding] = list(d.secret_scan.findings) if d.secret_scan is not None else []
    cap = FindingCap(out)
    for r in mem.references:
        who = r.structure if r.structure is not None else "memory read"
        cap.add(SECRET_REFERENCED, who, r.address,
                reference_message(r.structure, r.address, r.size, r.secret.label, r.withheld))
    if mem.references_dropped:
        cap.add(SECRET_REFERENCED, "memory reads", None,
                f"{mem.references_dropped} more reads of secret ranges not listed")
    return out
