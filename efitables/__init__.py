"""efitables: the EFI, boot_params, setup_data and SEV-SNP structures an x86-64
Linux kernel receives, read from memory dumps.

    >>> import efitables
    >>> d = efitables.open("dumps/samples/ovmf64.raw")
    >>> d.systab.firmware_vendor
    'EDK II'

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
