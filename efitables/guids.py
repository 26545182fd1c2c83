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
    if override or (key not in _REGISTRY and _edk2().get(key) is None):
        _REGISTRY[key] = KnownGuid(key, entry.linux_name, entry.edk2_name, entry.source, entry.note)


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
    return added


def all_known() -> list[KnownGuid]:
    return sorted(_all_entries(), key=lambda k: k.name)


_load_builtin()
