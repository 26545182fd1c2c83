"""The JSON documents efitables prints: one envelope, one dump header, a hex string beside every address.

Every document (``show``, ``scan``, ``coverage``, ``diff`` and ``validate`` ``--json``,
and each line of ``validate --jsonl``) is an object that starts with::

    {"schema_version": 1,
     "tool": {"name": "efitables", "version": "0.1.0"},
     "command": "show",
     ...}

``schema_version`` is an integer bumped on every breaking change of a document's
shape (a key removed, renamed or given another type); adding keys is not
breaking. With ``--stats`` the envelope also has ``stats``: one object per file
or URL read (``path``, ``remote``, ``size``, ``bytes_read``, ``requests``,
``reads``, ``bytes_served``, ``cache_hits``). The shapes are published as JSON Schema (draft 2020-12) in
``docs/schemas/<command>.schema.json`` (written by ``tools/gen_json_schemas.py``);
tests/test_json_schemas.py validates the real output of every command against them.

A dump is described by one object everywhere, the **dump header**
(:func:`dump_header`): ``{"path", "format", "size"}`` (``size``: the file's
size in bytes; ``format`` and ``size`` are null when the file could not be
opened), plus, in ``show``, the physical ``ranges``, container ``details`` and
``vmcoreinfo``. It is ``dump`` in ``show``, ``scan``, ``coverage`` and in every
verdict of ``validate``, and ``a`` / ``b`` in ``diff``. ``show`` of several
dumps prints one document whose ``dumps`` array holds one report per dump.

**Addresses.** Integers stay JSON integers (existing consumers read them), and
beside each address key ``k`` holding an integer, or a list of them, sits
``k_hex``: the same value as a ``"0x..."`` string (Python's ``hex()``), so that
a consumer whose numbers are doubles (JavaScript, jq 1.6) still gets the exact
value of a 64-bit address such as ``0x800000000000000f``. Any integer beyond
2**53 (what a double cannot hold exactly: signatures, attribute masks) gets a
``_hex`` too, whatever its key. An address whose value is null gets no ``_hex``.

Which keys are addresses is decided by name, by the rules of :func:`is_address_key`:
the parsed objects' typed attributes and the spec field names of the schemas
carry no "this is a pointer" mark (both declare plain ``int`` / ``Int64ul``), so
the vocabulary is listed here, once, from the names efitables' results and
schemas use (``efitables/schemas/``: EDK2's ``VendorTable``, ``RsdtAddress``,
the runtime-services function pointers; Linux's ``cmd_line_ptr``,
``efi_systab``; efitables' own ``address``, ``table_address``, ``stored``,
``physical``, ``start``/``end``, ...). Keys of a dict annotated as a whole
(:data:`ADDRESS_MAPS`: the cross-checks' ``values``, source -> address) and the
``old``/``new`` pair of a diff field change whose field is an address are
addresses too; a few keys are addresses only in one kind of object
(:data:`ADDRESS_KEYS_BY_KIND`: an ACPI RSDT/XSDT's ``entries``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from efitables import __version__

if TYPE_CHECKING:
    from efitables.dump import Dump

#: Bumped on every breaking change of a document's shape (docs/schemas/*.schema.json say which).
SCHEMA_VERSION = 1
TOOL_NAME = "efitables"
#: Integers at or beyond this magnitude lose precision as IEEE doubles: they always get a ``_hex``.
SAFE_INTEGER = 1 << 53
HEX_SUFFIX = "_hex"

#: Key names that hold a physical or virtual address (or an EFI pointer), matched exactly.
ADDRESS_KEYS: frozenset[str] = frozenset(
    {
        # efitables' typed attributes and result objects
        "address",
        "addr",
        "pa",
        "va",
        "start",
        "end",
        "base",
        "stored",
        "physical",
        "virtual",
        "pointer",
        "phys_addr",
        "virt_addr",
        "paddr",
        "next",
        "head",
        "root",
        "pgd",  # struct kimage_arch.pgd: a page-table root (include/linux/kexec.h, arch/x86/include/asm/kexec.h)
        "mem",  # struct kexec_segment.mem: a segment's physical destination
        "systab",
        "user_systab",
        "memmap",
        "secrets",
        "cc_blob",
        "cmdline",
        "config_array",
        "boot_params",
        "covered_start",
        "covered_end",
        "phys_base",
        "rel_base",
        "identity",
        "physical_start",
        "virtual_start",
        "memory_top",
        "memory_bottom",
        "free_memory_top",
        "free_memory_bottom",
        "end_of_hob_list",
        "boot_services",
        # Linux boot protocol and setup_data payload fields: torvalds/linux
        # arch/x86/include/uapi/asm/bootparam.h and setup_data.h, arch/x86/include/asm/efi.h
        # (efi_setup_data, the kexec SETUP_EFI payload), all at v6.12.117
        "efi_systab",
        "efi_memmap",
        "ramdisk_image",
        "code32_start",
        "initrd_addr_max",
        "hardware_subarch_data",
        "setup_data",
        "lfb_base",
        "smbios",
        "runtime",
        "tables",
        "fw_vendor",
        "pci_mmconfig_base",
        "irq_desc_table",  # olpc_ofw_header
        "cif_handler",
        # SEV-SNP: torvalds/linux arch/x86/include/asm/sev.h@v6.12.117 (cc_blob_sev_info, snp_secrets_page)
        "secrets_phys",
        "cpuid_phys",
        "svsm_base",
        "svsm_caa",
        "ApJumpTablePa",  # the secrets page's name (efitables/schemas/snp.py)
        # EDK2 spec field names: tianocore/edk2 MdePkg/Include/Uefi/UefiSpec.h, Pi/PiHob.h,
        # Guid/DebugImageInfoTable.h@c5aa7e7d94c0 (the revision efitables/schemas/ follow)
        "FirmwareVendor",
        "ConsoleInHandle",
        "ConIn",
        "ConsoleOutHandle",
        "ConOut",
        "StandardErrorHandle",
        "StdErr",
        "RuntimeServices",
        "BootServices",
        "ConfigurationTable",
        "VendorTable",
        "PhysicalStart",
        "VirtualStart",
        "EfiMemoryTop",
        "EfiMemoryBottom",
        "EfiFreeMemoryTop",
        "EfiFreeMemoryBottom",
        "EfiEndOfHobList",
        "EfiSystemTableBase",
        "EfiDebugImageInfoTable",
        # EFI_RUNTIME_SERVICES function pointers (the same UefiSpec.h)
        "GetTime",
        "SetTime",
        "GetWakeupTime",
        "SetWakeupTime",
        "SetVirtualAddressMap",
        "ConvertPointer",
        "GetVariable",
        "GetNextVariableName",
        "SetVariable",
        "GetNextHighMonotonicCount",
        "ResetSystem",
        "UpdateCapsule",
        "QueryCapsuleCapabilities",
        "QueryVariableInfo",
    }
)
#: Name endings that mark an address (``cc_blob_address``, ``acpi_rsdp_addr``, ``cmd_line_ptr``,
#: ``seqs_pa``, ``cpuid_phys``, ``RsdtAddress``, ``TableAddress``).
ADDRESS_SUFFIXES: tuple[str, ...] = (
    "_address", "_addr", "_paddr", "_ptr", "_pa", "_phys", "Address", "Addr", "Pointer",
)
#: Names an address rule would match that hold something else: the high halves of split
#: addresses (``ext_*``, ``*_hi``) and the setup header's 16-bit heap offset.
NOT_ADDRESS_KEYS: frozenset[str] = frozenset({"ext_cmd_line_ptr", "ext_ramdisk_image", "ext_lfb_base", "heap_end_ptr"})
#: Dicts whose every integer member is an address (cross-checks: source name -> address).
ADDRESS_MAPS: frozenset[str] = frozenset({"values"})
#: Keys that are addresses only in objects of one ``kind``.
ADDRESS_KEYS_BY_KIND: Mapping[str, frozenset[str]] = {"ACPI_SDT": frozenset({"entries"})}


def is_address_key(key: str) -> bool:
    """Whether a JSON key names an address (a dotted diff path is judged by its last part)."""
    name = key.rsplit(".", 1)[-1]
    if name in NOT_ADDRESS_KEYS or name.endswith("_hi"):
        return False
    return name in ADDRESS_KEYS or name.endswith(ADDRESS_SUFFIXES)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _big(v: Any) -> bool:
    if _is_int(v):
        return bool(abs(v) >= SAFE_INTEGER)
    if isinstance(v, list):
        return any(_big(x) for x in v)
    return False


def _int_tree(v: Any) -> bool:
    """An integer, or a (nested) list of integers and nulls with at least one integer."""
    if _is_int(v):
        return True
    if isinstance(v, list) and v:
        return all(x is None or _int_tree(x) or (isinstance(x, list) and not x) for x in v) and any(
            _int_tree(x) for x in v
        )
    return False


def _hex(v: Any) -> Any:
    if _is_int(v):
        return hex(v)
    if isinstance(v, list):
        return [_hex(x) for x in v]
    return None


def annotate(obj: Any, *, addresses: bool = False) -> Any:
    """A copy of a JSON-ready value with ``<key>_hex`` beside every address and every integer beyond 2**53.

    ``addresses``: every key of this dict is an address (set for :data:`ADDRESS_MAPS`
    and for the ``{old, new}`` pair of an address field in a diff).
    """
    if isinstance(obj, list):
        return [annotate(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    kind = obj.get("kind")
    extra = ADDRESS_KEYS_BY_KIND.get(kind, frozenset()) if isinstance(kind, str) else frozenset()
    out: dict[str, Any] = {}
    for key, value in obj.items():
        addr = addresses or is_address_key(key) or key in extra
        inner = isinstance(value, dict) and (key in ADDRESS_MAPS or (addr and {"old", "new"} <= value.keys()))
        out[key] = annotate(value, addresses=inner)
        hex_key = key + HEX_SUFFIX
        if hex_key in obj or not _int_tree(value) or not (addr or _big(value)):
            continue
        out[hex_key] = _hex(value)
    return out


def tool() -> dict[str, str]:
    return {"name": TOOL_NAME, "version": __version__}


def envelope(doc: Mapping[str, Any], command: str, stats: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``doc`` as a published document: schema version, tool, command, then ``doc`` with hex addresses.

    ``stats`` (``--stats``): what each file or URL read, one object per source
    (:meth:`efitables.memory.source.SourceStats.to_dict`); by default, when ``--stats`` is on,
    every source this process opened (:func:`run_stats`).
    """
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "tool": tool(), "command": command}
    if stats is None:
        stats = run_stats()
    if stats is not None:
        out["stats"] = stats
    out.update(annotate(dict(doc)))
    return out


def run_stats() -> list[dict[str, Any]] | None:
    """Every source's counters when ``--stats`` is on in this process, else None.

    Nothing is imported for it: with no source module loaded there is no source to count.
    """
    source = sys.modules.get("efitables.memory.source")
    if source is None or not source.tracking():
        return None
    return [st.to_dict() for st in source.tracked()]


def dump_header(path: str, fmt: str | None = None, size: int | None = None, **extra: Any) -> dict[str, Any]:
    """The one description of a dump in every document: ``{path, format, size, ...}`` (``size``: file bytes)."""
    return {"path": path, "format": fmt, "size": size, **extra}


def header_of(d: Dump) -> dict[str, Any]:
    """The dump header of an opened :class:`~efitables.dump.Dump`."""
    info = d.memory.info
    return dump_header(d.path, info.format, info.file_size)


def validate_document(doc: Mapping[str, Any], stats: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``validate --json``: the envelope, and a dump header in every verdict of ``dumps``."""
    out = dict(doc)
    if isinstance(out.get("dumps"), list):
        out["dumps"] = [_with_header(v) for v in out["dumps"]]
    return envelope(out, "validate", stats)


def verdict_line(verdict: Mapping[str, Any], stats: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One line of ``validate --jsonl``: a verdict with its dump header, in the envelope (with ``stats``:
    what that dump's files read)."""
    return envelope(_with_header(verdict), "validate", stats)


def _with_header(v: Any) -> Any:
    if not isinstance(v, Mapping) or "dump" in v:
        return v
    return {"dump": dump_header(str(v.get("path")), v.get("format"), v.get("file_size")), **v}


def write(doc: Mapping[str, Any], command: str, stream: IO[str]) -> None:
    """Print ``doc`` in the envelope, indented, with a final newline."""
    json.dump(envelope(doc, command), stream, indent=2)
    stream.write("\n")
