"""Names for EFI GUIDs.

The built-in registry is ``efitables/data/config_table_guids.csv``: the GUIDs of
configuration tables seen on Linux x86 systems, each checked against its
defining header, which the entry keeps as ``source`` (torvalds/linux
include/linux/efi.h@v6.12.117 or @v6.1.192, tianocore/edk2 MdePkg/MdePkg.dec,
MdeModulePkg/MdeModulePkg.dec or OvmfPkg/OvmfPkg.dec);
``tools/gen_config_table_guids.py`` regenerates it from a Markdown table.
Below it, at lower priority, ``efitables/data/edk2_guids.csv`` names some twelve
thousand firmware GUIDs (``tools/gen_edk2_guids.py``: EDK2 .dec declarations,
Linux's efi.h, and a public firmware GUID database; each row keeps its
``source``). That CSV is the source of truth; what is read at run time is its
prebuilt index ``efitables/data/edk2_guids.idx`` (``tools/gen_guid_index.py``,
rerun by ``gen_edk2_guids.py``; tests/test_guids.py fails when it is stale), loaded
on first need in a millisecond or two and searched by bisection instead of
parsing the CSV. Without the index (a broken install) the CSV is parsed as before.
Further name lists (for example UEFITool's ``guids.csv``: ``GUID,Name``) can be
added with :func:`load_guid_csv`. An unknown GUID is reported as unknown, never hidden.
"""

from __future__ import annotations

import csv
import io
import uuid
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

#: First word of the index's header line; the version follows it.
INDEX_MAGIC = "#efitables-guid-index"
INDEX_VERSION = 1
INDEX_FILE = "edk2_guids.idx"
EDK2_CSV = "edk2_guids.csv"


@dataclass(frozen=True)
class KnownGuid:
    guid: str
    linux_name: str
    edk2_name: str
    source: str
    note: str = ""

    @property
    def name(self) -> str:
        return self.linux_name or self.edk2_name or self.guid

    def to_dict(self) -> dict[str, str]:
        return {
            "guid": self.guid,
            "name": self.name,
            "linux_name": self.linux_name,
            "edk2_name": self.edk2_name,
            "source": self.source,
        }


#: Built-in configuration-table names and user lists; the EDK2 list sits below it (:class:`_Edk2Index`).
_REGISTRY: dict[str, KnownGuid] = {}


def canonical(guid: str) -> str:
    """Canonical lower-case text of a GUID given in any accepted text form."""
    return str(uuid.UUID(guid.strip().strip("{}")))


def register(entry: KnownGuid, override: bool = False) -> None:
    """Add a name; without ``override`` a GUID already named (built-in, EDK2 list or earlier) keeps its name."""
    key = canonical(entry.guid)
    global _NAME_INDEX
    if override or (key not in _REGISTRY and _edk2().get(key) is None):
        _REGISTRY[key] = KnownGuid(key, entry.linux_name, entry.edk2_name, entry.source, entry.note)
        _NAME_INDEX = None


def _load_builtin() -> None:
    text = resources.files("efitables.data").joinpath("config_table_guids.csv").read_text()
    for row in csv.DictReader(io.StringIO(text)):
        key = canonical(row["guid"])
        if key not in _REGISTRY:
            _REGISTRY[key] = KnownGuid(key, row["linux_name"], row["edk2_name"], row["source"], row["note"])


def parse_guid_csv_text(text: str) -> dict[str, KnownGuid]:
    """Rows of a ``guid,linux_name,edk2_name,source,note`` CSV by canonical GUID; the first row of a GUID wins.

    The slow path (and what the index must reproduce, tests/test_guids.py).
    """
    out: dict[str, KnownGuid] = {}
    for row in csv.DictReader(io.StringIO(text)):
        key = canonical(row["guid"])
        if key not in out:
            out[key] = KnownGuid(key, row["linux_name"], row["edk2_name"], row["source"], row["note"])
    return out


class _Edk2Index:
    """The EDK2 GUID list, read from the prebuilt index (or, failing that, parsed from the CSV).

    Index layout (UTF-8 text, ``\\n`` line ends, fields separated by tabs, no field holds a tab
    or a line end): a header ``#efitables-guid-index VERSION NSOURCES NENTRIES CSV_SHA256``,
    NSOURCES lines each one distinct ``source`` text, then NENTRIES lines
    ``guid linux_name edk2_name source_number note`` sorted by canonical GUID (every GUID
    36 characters, so sorting the lines sorts the GUIDs and a GUID is found by bisecting the lines).
    """

    def __init__(self, text: str | None, fallback: dict[str, KnownGuid] | None = None) -> None:
        self._lines: list[str] = []
        self._sources: list[str] = []
        self._lo = self._hi = 0
        self._dict = fallback
        if text is not None:
            self._lines = text.split("\n")
            head = self._lines[0].split(" ")
            if len(head) != 5 or head[0] != INDEX_MAGIC or head[1] != str(INDEX_VERSION):
                raise ValueError("not a GUID index of this version")
            ns, ne = int(head[2]), int(head[3])
            self._sources = self._lines[1 : 1 + ns]
            self._lo, self._hi = 1 + ns, 1 + ns + ne
            if len(self._lines) < self._hi:
                raise ValueError("truncated GUID index")

    def _entry(self, line: str) -> KnownGuid:
        guid, linux, edk2, src, note = line.split("\t")
        return KnownGuid(guid, linux, edk2, self._sources[int(src)], note)

    def get(self, key: str) -> KnownGuid | None:
        """The entry of a canonical GUID text, or None."""
        if self._dict is not None:
            return self._dict.get(key)
        i = bisect_left(self._lines, key, self._lo, self._hi)
        if i < self._hi and self._lines[i].startswith(key + "\t"):
            return self._entry(self._lines[i])
        return None

    def __iter__(self) -> Iterator[KnownGuid]:
        if self._dict is not None:
            yield from self._dict.values()
            return
        for i in range(self._lo, self._hi):
            yield self._entry(self._lines[i])

    def __len__(self) -> int:
        return len(self._dict) if self._dict is not None else self._hi - self._lo


_EDK2: _Edk2Index | None = None


def _load_edk2_csv() -> _Edk2Index:
    """The old way: parse edk2_guids.csv (some 80 ms); used only when the index is missing or unreadable."""
    try:
        text = resources.files("efitables.data").joinpath(EDK2_CSV).read_text(encoding="utf-8")
    except FileNotFoundError:
        return _Edk2Index(None, {})
    return _Edk2Index(None, parse_guid_csv_text(text))


def _load_edk2_index() -> _Edk2Index:
    try:
        text = resources.files("efitables.data").joinpath(INDEX_FILE).read_text(encoding="utf-8")
        return _Edk2Index(text)
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return _load_edk2_csv()


def _edk2() -> _Edk2Index:
    """The large firmware GUID list, loaded once per process (below the built-in names)."""
    global _EDK2
    if _EDK2 is None:
        _EDK2 = _load_edk2_index()
    return _EDK2


def lookup(guid: str) -> KnownGuid | None:
    try:
        key = canonical(guid)
    except ValueError:
        return None
    k = _REGISTRY.get(key)
    return k if k is not None else _edk2().get(key)


def name_of(guid: str) -> str | None:
    """The best-known name of a GUID, or None if unknown."""
    k = lookup(guid)
    return k.name if k else None


def _all_entries() -> Iterator[KnownGuid]:
    """Every known entry once: the registry's, then the EDK2 list's GUIDs the registry does not name."""
    yield from _REGISTRY.values()
    for k in _edk2():
        if k.guid not in _REGISTRY:
            yield k


def find_by_name(name: str) -> list[KnownGuid]:
    """Entries whose Linux or EDK2 name contains ``name`` (case-insensitive)."""
    n = name.lower()
    return [k for k in _all_entries() if n in k.linux_name.lower() or n in k.edk2_name.lower()]


#: UEFI specification names of configuration-table GUIDs (UEFI 2.10 §4.6.1 "Industry Standard
#: Configuration Tables" and §4.6.2 "Other Configuration Tables"; EFI_TCG2_FINAL_EVENTS_TABLE_GUID from the
#: TCG EFI Protocol Specification 1.22 §7). The spec gives two names to each ACPI GUID:
#: ``EFI_ACPI_TABLE_GUID`` and ``EFI_ACPI_20_TABLE_GUID`` are the ACPI 2.0+ RSDP, ``ACPI_TABLE_GUID`` and
#: ``ACPI_10_TABLE_GUID`` the ACPI 1.0 one.
SPEC_NAMES: dict[str, str] = {
    "EFI_ACPI_20_TABLE_GUID": "8868e871-e4f1-11d3-bc22-0080c73c8881",
    "EFI_ACPI_TABLE_GUID": "8868e871-e4f1-11d3-bc22-0080c73c8881",
    "ACPI_TABLE_GUID": "eb9d2d30-2d88-11d3-9a16-0090273fc14d",
    "ACPI_10_TABLE_GUID": "eb9d2d30-2d88-11d3-9a16-0090273fc14d",
    "SAL_SYSTEM_TABLE_GUID": "eb9d2d32-2d88-11d3-9a16-0090273fc14d",
    "SMBIOS_TABLE_GUID": "eb9d2d31-2d88-11d3-9a16-0090273fc14d",
    "SMBIOS3_TABLE_GUID": "f2fd1544-9794-4a2c-992e-e5bbcf20e394",
    "MPS_TABLE_GUID": "eb9d2d2f-2d88-11d3-9a16-0090273fc14d",
    "EFI_PROPERTIES_TABLE_GUID": "880aaca3-4adc-4a04-9079-b747340825e5",
    "EFI_MEMORY_ATTRIBUTES_TABLE_GUID": "dcfa911d-26eb-469f-a220-38b7dc461220",
    "EFI_RT_PROPERTIES_TABLE_GUID": "eb66918a-7eef-402a-842e-931d21c38ae9",
    "EFI_SYSTEM_RESOURCE_TABLE_GUID": "b122a263-3661-4f68-9929-78f8b0d62180",
    "EFI_DEBUG_IMAGE_INFO_TABLE_GUID": "49152e77-1ada-4764-b7a2-7afefed95e8b",
    "EFI_TCG2_FINAL_EVENTS_TABLE_GUID": "1e2ed096-30e2-4254-bd89-863bbef82325",
}

#: Name -> GUID indexes (exact lower-case, and loose), built on the first lookup by name.
_NAME_INDEX: tuple[dict[str, str], dict[str, str]] | None = None


def _loose(name: str) -> str:
    """A name with case and underscores ignored and an EDK2 ``g`` prefix dropped (``gEfiAcpi20TableGuid``
    and ``EFI_ACPI_20_TABLE_GUID`` are both ``efiacpi20tableguid``)."""
    n = name.strip()
    if len(n) > 1 and n[0] == "g" and n[1].isupper():
        n = n[1:]
    return n.replace("_", "").lower()


def _name_index() -> tuple[dict[str, str], dict[str, str]]:
    """The exact and loose name indexes, by the preference :func:`resolve` documents (first name wins)."""
    global _NAME_INDEX
    if _NAME_INDEX is None:
        exact: dict[str, str] = {}
        loose: dict[str, str] = {}

        def add(name: str, guid: str) -> None:
            if name:
                exact.setdefault(name.lower(), guid)
                loose.setdefault(_loose(name), guid)

        for name, guid in SPEC_NAMES.items():
            add(name, guid)
        tiers: list[list[KnownGuid]] = [list(_REGISTRY.values()), [k for k in _edk2() if k.guid not in _REGISTRY]]
        for tier in tiers:
            for k in tier:
                add(k.name, k.guid)
            for k in tier:
                add(k.linux_name, k.guid)
            for k in tier:
                add(k.edk2_name, k.guid)
        _NAME_INDEX = (exact, loose)
    return _NAME_INDEX


def resolve(name_or_guid: str) -> str | None:
    """The canonical GUID text a GUID or a name stands for, or None.

    Accepted, case-insensitively: GUID text (with or without braces), the UEFI specification's name
    (``EFI_ACPI_20_TABLE_GUID``, :data:`SPEC_NAMES`), the Linux name (``ACPI_20_TABLE_GUID``,
    ``LINUX_EFI_MEMRESERVE_TABLE_GUID``), the EDK2 name (``gEfiAcpi20TableGuid``, with or without the
    ``g``) and the short name efitables shows (``ConfigTable.name``, :attr:`KnownGuid.name`).

    A name two GUIDs share is resolved by preference: an exact (case-insensitive) match before a loose one
    (underscores ignored, EDK2 ``g`` dropped); then the UEFI specification's names, then the built-in and
    user registry, then the EDK2 list; within each, the shown name, then Linux's, then EDK2's. So
    ``EFI_ACPI_TABLE_GUID`` is the spec's ACPI 2.0 GUID and ``ACPI_TABLE_GUID`` Linux's (and the spec's)
    ACPI 1.0 one, although the EDK2 list calls the ACPI 2.0 GUID ``gEfiAcpiTableGuid``.
    """
    try:
        return canonical(name_or_guid)
    except ValueError:
        pass
    exact, loose = _name_index()
    hit = exact.get(name_or_guid.strip().lower())
    return hit if hit is not None else loose.get(_loose(name_or_guid))


def load_guid_csv(path: str, source: str | None = None) -> int:
    """Load a user GUID list in the common ``GUID,Name`` CSV form; returns entries added.

    Rows that are not a GUID followed by a name are skipped. Built-in names
    (config tables, then the EDK2 list) win.
    """
    edk2 = _edk2()
    added = 0
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        for row in csv.reader(fh):
            if len(row) < 2:
                continue
            try:
                key = canonical(row[0])
            except ValueError:
                continue
            if key not in _REGISTRY and edk2.get(key) is None:
                _REGISTRY[key] = KnownGuid(key, "", row[1].strip()[:200], source or path)
                added += 1
    if added:
        global _NAME_INDEX
        _NAME_INDEX = None
    return added


def all_known() -> list[KnownGuid]:
    return sorted(_all_entries(), key=lambda k: k.name)


_load_builtin()
