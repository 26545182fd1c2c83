"""The kernel's log against the dump: the EFI configuration tables the kernel says it found.

When Linux parses the EFI configuration table array at boot
(torvalds/linux drivers/firmware/efi/efi.c@v6.1 ``efi_config_parse_tables``,
``match_config_table``) it logs one line: ``efi: `` and then, in the array's
order, ``NAME=0x<VendorTable> `` for every entry whose GUID it knows by a name
(``common_tables`` in the same file; x86 adds ``arch_tables`` from
arch/x86/platform/efi/efi.c@v6.1). Later kernels print a table they refuse as
``(NAME=0x... unusable)`` (drivers/firmware/efi/efi.c@v6.12,
``efi_config_table_is_usable``); v5.x and older printed ``efi:  ACPI=0x...``
with two spaces. The names differ by version and configuration
(:data:`LOGGED_NAMES`).

That line is the kernel's own record of where the tables were when it booted.
The check :func:`kernel_log_check` compares it with the configuration tables
in the dump (:attr:`efitables.dump.Dump.config_tables`):

* ``KLOG-EFI-MISMATCH`` (warning): the log says NAME=a, the array's entry with
  that GUID says b (a table moved or replaced after boot, or a forged array);
* ``KLOG-EFI-ONLY-LOG`` (info): the log names a table the dump's array does not
  have (one finding per table), or the array is not in the dump at all (one finding
  listing what the kernel logged: a kdump vmcore holds no firmware memory);
* ``KLOG-EFI-ONLY-TABLE`` (info): the array has a table every kernel since v4.6
  logs (:data:`ALWAYS_LOGGED`), but the log line does not name it (installed
  after the kernel parsed the array);
* ``KLOG-UNREADABLE`` (info): VMCOREINFO names a log, but it cannot be read
  (the reason is in the message; the ring's own findings come with it).

Like every check it reads only what the Dump parsed (:attr:`~efitables.dump.Dump.kernel_log`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from efitables.analysis.registry import check
from efitables.findings import Finding, Severity, make, register

if TYPE_CHECKING:
    from efitables.dump import Dump
    from efitables.efi.config_tables import ConfigTable
    from efitables.kernel.printk import KernelLog

KLOG_EFI_MISMATCH = register(
    "KLOG-EFI-MISMATCH",
    Severity.WARNING,
    "The kernel's log names an EFI configuration table at another address than the dump's array",
    "At boot the kernel logged 'efi: NAME=0x...' for each configuration table it knows; the entry with that "
    "GUID in the dump's EFI_CONFIGURATION_TABLE array holds another VendorTable. A table moved or was "
    "replaced after the kernel booted, or the array was changed.",
)
KLOG_EFI_ONLY_LOG = register(
    "KLOG-EFI-ONLY-LOG",
    Severity.INFO,
    "The kernel's log names an EFI configuration table the dump's array lacks",
    "The 'efi: NAME=0x...' line names a table whose GUID is not in the dump's configuration table array, or "
    "the array itself is not in the dump (no system table found, or its bytes are missing).",
)
KLOG_EFI_ONLY_TABLE = register(
    "KLOG-EFI-ONLY-TABLE",
    Severity.INFO,
    "The dump's array holds an EFI configuration table the kernel did not log",
    "Every kernel since v4.6 logs ACPI, ACPI 2.0, SMBIOS, SMBIOS 3.0, ESRT and MEMATTR when the array holds "
    "them; this one is in the array but not in the kernel's 'efi:' line: it was installed after the kernel "
    "parsed the array.",
)
KLOG_UNREADABLE = register(
    "KLOG-UNREADABLE",
    Severity.INFO,
    "The kernel's log is not readable",
    "VMCOREINFO names the printk buffer, but it could not be read (a pointer that does not translate, a "
    "header that is implausible, bytes not in the dump); the reason is in the message.",
)

STRUCTURE = "kernel log"

#: Names the kernel logs, and the GUID each stands for. drivers/firmware/efi/efi.c ``common_tables``
#: (v6.1: ACPI 2.0 .. RTPROP, MOKvar with CONFIG_LOAD_UEFI_KEYS, CocoSecret with CONFIG_EFI_COCO_SECRET;
#: v6.5+: Unaccepted with CONFIG_UNACCEPTED_MEMORY; v5.4 and before also MPS, HCDP, SALsystab, UGA, PROP),
#: arch/x86/platform/efi/efi.c ``arch_tables`` (PROP and UGA until they were dropped, UVsystab with
#: CONFIG_X86_UV). GUIDs as include/linux/efi.h@v6.1 defines them (efitables/data/config_table_guids.csv).
LOGGED_NAMES: dict[str, str] = {
    "ACPI 2.0": "8868e871-e4f1-11d3-bc22-0080c73c8881",  # ACPI_20_TABLE_GUID
    "ACPI": "eb9d2d30-2d88-11d3-9a16-0090273fc14d",  # ACPI_TABLE_GUID
    "SMBIOS": "eb9d2d31-2d88-11d3-9a16-0090273fc14d",  # SMBIOS_TABLE_GUID
    "SMBIOS 3.0": "f2fd1544-9794-4a2c-992e-e5bbcf20e394",  # SMBIOS3_TABLE_GUID
    "ESRT": "b122a263-3661-4f68-9929-78f8b0d62180",  # EFI_SYSTEM_RESOURCE_TABLE_GUID
    "MEMATTR": "dcfa911d-26eb-469f-a220-38b7dc461220",  # EFI_MEMORY_ATTRIBUTES_TABLE_GUID
    "RNG": "1ce1e5bc-7ceb-42f2-81e5-8aadf180f57b",  # LINUX_EFI_RANDOM_SEED_TABLE_GUID
    "TPMEventLog": "b7799cb0-eca2-4943-9667-1fae07b747fa",  # LINUX_EFI_TPM_EVENT_LOG_GUID
    "TPMFinalLog": "1e2ed096-30e2-4254-bd89-863bbef82325",  # LINUX_EFI_TPM_FINAL_LOG_GUID (= EFI_TCG2_FINAL_...)
    "MEMRESERVE": "888eb0c6-8ede-4ff5-a8f0-9aee5cb977c2",  # LINUX_EFI_MEMRESERVE_TABLE_GUID
    "INITRD": "5568e427-68fc-4f3d-ac74-ca555231cc68",  # LINUX_EFI_INITRD_MEDIA_GUID
    "RTPROP": "eb66918a-7eef-402a-842e-931d21c38ae9",  # EFI_RT_PROPERTIES_TABLE_GUID
    "MOKvar": "c451ed2b-9694-45d3-baba-ed9f8988a389",  # LINUX_EFI_MOK_VARIABLE_TABLE_GUID
    "CocoSecret": "adf956ad-e98c-484c-ae11-b51c7d336447",  # LINUX_EFI_COCO_SECRET_AREA_GUID
    "Unaccepted": "d5d1de3c-105c-44f9-9ea9-bcef98120031",  # LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID
    "PROP": "880aaca3-4adc-4a04-9079-b747340825e5",  # EFI_PROPERTIES_TABLE_GUID
    "UGA": "61a4d49e-6f68-4f1b-b922-a86eed0b07a2",  # UGA_IO_PROTOCOL_GUID
    "UVsystab": "3b13a7d4-633e-11dd-93ec-da2556d89593",  # UV_SYSTEM_TABLE_GUID
    "MPS": "eb9d2d2f-2d88-11d3-9a16-0090273fc14d",  # MPS_TABLE_GUID
    "HCDP": "f951938d-620b-42ef-8279-a84b79617898",  # HCDP_TABLE_GUID
    "SALsystab": "eb9d2d32-2d88-11d3-9a16-0090273fc14d",  # SAL_SYSTEM_TABLE_GUID
}
#: Names every kernel since v4.6 (MEMATTR's arrival) logs whenever the array holds the table,
#: whatever its configuration: their absence from the line means the table came later.
ALWAYS_LOGGED = ("ACPI 2.0", "ACPI", "SMBIOS", "SMBIOS 3.0", "ESRT", "MEMATTR")
ALWAYS_LOGGED_SINCE = (4, 6)

#: One ``NAME=0x...`` of the line, or ``(NAME=0x... unusable)``.
_ENTRY = re.compile(r"\s*(\()?([A-Za-z][A-Za-z0-9 ._]*?)=0x([0-9a-fA-F]{1,16})( unusable\))?")
_PREFIX = "efi:"
_RELEASE = re.compile(r"(\d+)\.(\d+)")


@dataclass
class LoggedTable:
    """One ``NAME=0x...`` of the kernel's line and what the dump's array says about it.

    ``verdict``: ``match``, ``mismatch``, ``only in log`` (no entry with that GUID,
    or no array), ``unknown name`` (a name efitables does not map to a GUID).
    """

    name: str
    logged: int
    unusable: bool = False
    guid: str | None = None
    table: int | None = None  # the array's VendorTable for that GUID (the matching one if several)
    verdict: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "logged": self.logged,
            "unusable": self.unusable,
            "guid": self.guid,
            "table": self.table,
            "verdict": self.verdict,
        }


@dataclass
class EfiLogCheck:
    """The kernel's ``efi:`` table line (``text`` is None when the log has none) compared with the array."""

    text: str | None = None
    seq: int | None = None
    ts_nsec: int | None = None
    tables: list[LoggedTable] = field(default_factory=list)
    unlogged: list[tuple[str, str, int]] = field(default_factory=list)  # (name, guid, VendorTable)
    array_in_dump: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "seq": self.seq,
            "ts_nsec": self.ts_nsec,
            "array_in_dump": self.array_in_dump,
            "tables": [t.to_dict() for t in self.tables],
            "unlogged": [{"name": n, "guid": g, "table": a} for n, g, a in self.unlogged],
        }


def parse_efi_tables_line(text: str) -> list[LoggedTable] | None:
    """The ``NAME=0x...`` entries of an ``efi:`` table line, or None if ``text`` is not such a line."""
    if not text.startswith(_PREFIX):
        return None
    rest = text[len(_PREFIX) :]
    out: list[LoggedTable] = []
    pos = 0
    while rest[pos:].strip():
        m = _ENTRY.match(rest, pos)
        if m is None or bool(m.group(1)) != bool(m.group(4)):
            return None
        name = m.group(2).strip()
        out.append(LoggedTable(name, int(m.group(3), 16), unusable=bool(m.group(4)), guid=LOGGED_NAMES.get(name)))
        pos = m.end()
    return out or None


def efi_log_check(
    log: KernelLog, config_tables: list[ConfigTable], array_in_dump: bool, release: str = ""
) -> EfiLogCheck:
    """Compare the first ``efi:`` table line of ``log`` with ``config_tables`` (see the module docstring)."""
    res = EfiLogCheck(array_in_dump=array_in_dump)
    for rec in log.records:
        parsed = parse_efi_tables_line(rec.text)
        if parsed is not None:
            res.text, res.seq, res.ts_nsec, res.tables = rec.text, rec.seq, rec.ts_nsec, parsed
            break
    if res.text is None:
        return res
    by_guid: dict[str, list[int]] = {}
    for t in config_tables:
        by_guid.setdefault(t.guid, []).append(t.table_address)
    for lt in res.tables:
        if lt.guid is None:
            lt.verdict = "unknown name"
            continue
        found = by_guid.get(lt.guid)
        if not found:
            lt.verdict = "only in log"
        elif lt.logged in found:
            lt.table, lt.verdict = lt.logged, "match"
        else:
            lt.table, lt.verdict = found[0], "mismatch"
    m = _RELEASE.match(release)
    if m and (int(m.group(1)), int(m.group(2))) >= ALWAYS_LOGGED_SINCE:
        logged = {lt.name for lt in res.tables}
        for name in ALWAYS_LOGGED:
            guid = LOGGED_NAMES[name]
            if name not in logged and guid in by_guid:
                res.unlogged.append((name, guid, by_guid[guid][0]))
    return res


@check("kernel log")
def kernel_log_check(d: Dump) -> list[Finding]:
    """KLOG-*: the kernel's 'efi:' line against the configuration tables; the log's own findings."""
    log = d.kernel_log
    out = list(log.findings)
    if not log.available:
        if log.format != "none":  # VMCOREINFO names a log that could not be read
            out.append(make(KLOG_UNREADABLE, STRUCTURE, log.address, log.error or "unreadable"))
        return out
    st = d.systab
    arr = st.config_table_array if st is not None else None
    in_dump = arr is not None and bool(arr.entries)
    res = efi_log_check(log, d.config_tables, in_dump, (d.memory.vmcoreinfo or {}).get("OSRELEASE", ""))
    if res.text is None:
        return out
    where = f"log record seq {res.seq}" if res.seq is not None else "log record"
    only_log = [lt for lt in res.tables if lt.verdict == "only in log"]
    if only_log and not in_dump:  # one finding: the whole array is missing, not each table
        named = ", ".join(f"{lt.name}={lt.logged:#x}" for lt in only_log)
        out.append(
            make(
                KLOG_EFI_ONLY_LOG,
                STRUCTURE,
                only_log[0].logged,
                f"{where}: the kernel logged {named}; the configuration table array is not in the dump",
            )
        )
    for lt in res.tables:
        if lt.verdict == "mismatch" and lt.table is not None:
            out.append(
                make(
                    KLOG_EFI_MISMATCH,
                    STRUCTURE,
                    lt.logged,
                    f"{where}: the kernel logged {lt.name}={lt.logged:#x}; the configuration table {lt.guid} "
                    f"holds {lt.table:#x}",
                )
            )
        elif lt.verdict == "only in log" and in_dump:
            out.append(
                make(
                    KLOG_EFI_ONLY_LOG,
                    STRUCTURE,
                    lt.logged,
                    f"{where}: the kernel logged {lt.name}={lt.logged:#x} ({lt.guid}); the configuration table "
                    "array has no entry with that GUID",
                )
            )
    for name, guid, addr in res.unlogged:
        out.append(
            make(
                KLOG_EFI_ONLY_TABLE,
                STRUCTURE,
                addr,
                f"the configuration table array holds {name} ({guid}) at {addr:#x}; the kernel's 'efi:' line "
                f"({where}) does not name it",
            )
        )
    return out
