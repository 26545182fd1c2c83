"""Names for EFI GUIDs.

The built-in registry is ``efitables/data/config_table_guids.csv``: the GUIDs of
configuration tables seen on Linux x86 systems, each checked against its
defining header, which the entry keeps as ``source`` (torvalds/linux
include/linux/efi.h@v6.12.117 or @v6.1.192, tianocore/edk2 MdePkg/MdePkg.dec,
MdeModulePkg/MdeModulePkg.dec or OvmfPkg/OvmfPkg.dec);
``tools/gen_config_table_guids.py`` regenerates it from a Markdown table.
Below it, at lower priority and loaded on first need, ``efitables/data/edk2_guids.csv``
names some twelve thousand firmware GUIDs (``tools/gen_edk2_guids.py``: EDK2 .dec
declarations, Linux's efi.h, and a public firmware GUID database; each row keeps
its ``source``). Further name lists (for example UEFITool's ``guids.csv``:
``GUID,Name``) can be added with :func:`load_guid_csv`. An unknown GUID is
reported as unknown, never hidden.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from importlib import resources


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


_REGISTRY: dict[str, KnownGuid] = {}


def canonical(guid: str) -> str:
    """Canonical lower-case text of a GUID given in any accepted text form."""
    return str(uuid.UUID(guid.strip().strip("{}")))


def register(entry: KnownGuid, override: bool = False) -> None:
    key = canonical(entry.guid)
    if override or key not in _REGISTRY:
        _REGISTRY[key] = KnownGuid(key, entry.linux_name, entry.edk2_name, entry.source, entry.note)


def _load_builtin() -> None:
    text = resources.files("efitables.data").joinpath("config_table_guids.csv").read_text()
    for row in csv.DictReader(io.StringIO(text)):
        register(KnownGuid(row["guid"], row["linux_name"], row["edk2_name"], row["source"], row["note"]))


_EDK2_LOADED = False


def _load_edk2() -> None:
    """Load the large firmware GUID list once, below the built-in names."""
    global _EDK2_LOADED
    if _EDK2_LOADED:
        return
    _EDK2_LOADED = True
    try:
        text = resources.files("efitables.data").joinpath("edk2_guids.csv").read_text()
    except FileNotFoundError:
        return
    for row in csv.DictReader(io.StringIO(text)):
        register(KnownGuid(row["guid"], row["linux_name"], row["edk2_name"], row["source"], row["note"]))


def lookup(guid: str) -> KnownGuid | None:
    try:
        key = canonical(guid)
    except ValueError:
        return None
    k = _REGISTRY.get(key)
    if k is None and not _EDK2_LOADED:
        _load_edk2()
        k = _REGISTRY.get(key)
    return k


def name_of(guid: str) -> str | None:
    """The best-known name of a GUID, or None if unknown."""
    k = lookup(guid)
    return k.name if k else None


def find_by_name(name: str) -> list[KnownGuid]:
    """Entries whose Linux or EDK2 name contains ``name`` (case-insensitive)."""
    _load_edk2()
    n = name.lower()
    return [k for k in _REGISTRY.values() if n in k.linux_name.lower() or n in k.edk2_name.lower()]


def load_guid_csv(path: str, source: str | None = None) -> int:
    """Load a user GUID list in the common ``GUID,Name`` CSV form; returns entries added.

    Rows that are not a GUID followed by a name are skipped. Built-in names
    (config tables, then the EDK2 list) win.
    """
    _load_edk2()
    added = 0
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        for row in csv.reader(fh):
            if len(row) < 2:
                continue
            try:
                key = canonical(row[0])
            except ValueError:
                continue
            if key not in _REGISTRY:
                register(KnownGuid(key, "", row[1].strip()[:200], source or path))
                added += 1
    return added


def all_known() -> list[KnownGuid]:
    _load_edk2()
    return sorted(_REGISTRY.values(), key=lambda k: k.name)


_load_builtin()
