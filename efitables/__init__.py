"""efitables: the EFI, boot_params, setup_data and SEV-SNP structures an x86-64
Linux kernel receives, read from memory dumps.

    >>> import efitables
    >>> d = efitables.open("dumps/samples/ovmf64.raw")
    >>> d.systab.firmware_vendor
    'EDK II'
"""

from efitables.dump import Dump, open
from efitables.errors import DumpFormatError, DumpOpenError, EfitablesError, MemoryReadError
from efitables.findings import Finding, Severity
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
