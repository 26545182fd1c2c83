"""efitables: the EFI, boot_params, setup_data and SEV-SNP structures an x86-64
Linux kernel receives, read from memory dumps.

    >>> import efitables
    >>> d = efitables.open("dumps/samples/ovmf64.raw")
    >>> d.systab.firmware_vendor
    'EDK II'
    >>> d.config_table("EFI_ACPI_20_TABLE_GUID").index   # spec, Linux, EDK2 name or GUID
    0

Public names: :func:`open` (a :class:`Dump`), :class:`Dump`, :class:`PhysicalMemory` and
:func:`open_memory` (memory only, no parsing), :mod:`efitables.guids` (GUID names:
``efitables.guids.resolve("gEfiAcpi20TableGuid")``), the errors (:class:`EfitablesError`,
:class:`DumpOpenError`, :class:`DumpFormatError`, :class:`MemoryReadError`) and the findings' types
(:class:`Finding`, :class:`Severity`).

The parsers load on first use: ``efitables.open``, ``efitables.Dump`` (and
``PhysicalMemory``, ``open_memory``) import :mod:`efitables.dump` (or
:mod:`efitables.memory`) when first touched (PEP 562 module ``__getattr__``), so
``import efitables`` and the command line's ``--version`` and ``--help`` stay cheap.
The errors and the finding types are light and imported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from efitables.errors import DumpFormatError, DumpOpenError, EfitablesError, MemoryReadError
from efitables.findings import Finding, Severity

if TYPE_CHECKING:
    from efitables import guids
    from efitables.dump import Dump, open
    from efitables.memory import PhysicalMemory, open_memory

__version__ = "0.1.0"

__all__ = [
    "Dump",
    "DumpFormatError",
    "DumpOpenError",
    "EfitablesError",
    "Finding",
    "MemoryReadError",
    "PhysicalMemory",
    "Severity",
    "guids",
    "open",
    "open_memory",
]

#: Public names loaded on first access, and the module each comes from.
_LAZY = {
    "Dump": "efitables.dump",
    "open": "efitables.dump",
    "PhysicalMemory": "efitables.memory",
    "open_memory": "efitables.memory",
}
#: Submodules reachable as attributes without importing them first (``efitables.guids.resolve(...)``).
_SUBMODULES = {"guids"}


def __getattr__(name: str) -> Any:
    """The lazily imported public names (:data:`_LAZY`) and submodules (:data:`_SUBMODULES`)."""
    if name in _SUBMODULES:
        mod = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = mod
        return mod
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
