"""Decoders of configuration-table payloads, reached through one registry.

A decoder is a function ``(DecodeContext) -> Parsed | None``; adding one is a
schema in :mod:`efitables.schemas.payloads` plus one line::

    register_decoder(SOME_TABLE_GUID, decode_some_table, expected_types=ACPI_TYPES, kept=False)

:func:`decode_payload` looks the entry's GUID up, runs the decoder with every
exception turned into a finding, and adds the memory-map checks (type of the
region, fit; a payload in boot-time memory that Linux does not keep is "possibly
stale" and its findings become INFO). :func:`link_payloads` runs the steps that
need two tables; :func:`check_overlaps` compares the payloads' byte ranges.
A GUID without a decoder gives None: the table is still listed by name and
address. Each decoder module names the headers and specification sections it follows.
"""

from __future__ import annotations

from typing import Any

from efitables.findings import make
from efitables.guids import canonical as _canonical
from efitables.memory.base import PhysicalMemory
from efitables.model import Parsed
from efitables.payloads.base import (
    PAYLOAD_DECODE,
    DecodeContext,
    Decoder,
    DecoderInfo,
    Extent,
    Payload,
    check_overlaps,
    check_region,
    downgrade_stale,
)
from efitables.secret import Secret

DECODERS: dict[str, DecoderInfo] = {}


def register_decoder(
    guid: str,
    decoder: Decoder,
    *,
    expected_types: frozenset[int] | None = None,
    kept: bool = False,
) -> None:
    """Register ``decoder`` for configuration tables with ``guid`` (canonical text, any case).

    ``expected_types``: EFI memory types the payload is allocated in; ``kept``: Linux reserves
    the payload, so finding it in boot-time memory does not make it stale.
    """
    key = _canonical(guid)
    DECODERS[key] = DecoderInfo(key, decoder, expected_types, kept)


def decoder_for(guid: str) -> DecoderInfo | None:
    try:
        return DECODERS.get(_canonical(guid))
    except ValueError:
        return None


def decode_payload(
    mem: PhysicalMemory,
    config_table_entry: Any,
    *,
    show_secrets: bool = False,
    region_type: int | None = None,
    memmap: Any = None,
    e820: Any = None,
) -> Parsed | None:
    """Decode what a configuration table entry points to.

    ``config_table_entry`` needs ``.guid`` and ``.table_address`` (physical);
    ``.name`` is used in findings when present. ``region_type`` is the EFI
    memory type of the descriptor holding the address (or pass ``memmap``, an
    :class:`~efitables.efi.memmap.EfiMemoryMap`, to look it up and to check
    sub-structures; ``e820``, an :class:`~efitables.boot.e820.E820Table`, tells what a
    runtime-only map leaves out). Returns None when no decoder is registered for the
    GUID, the pointer is NULL, or the entry repeats a GUID an earlier entry of the array
    has (``.duplicate_of`` set by :mod:`efitables.efi.config_tables`): a GUID appears once
    in a real array, and an array repeating one hundreds of times must not multiply every
    decoder's bounded cost.
    """
    guid = str(config_table_entry.guid)
    info = decoder_for(guid)
    if info is None or getattr(config_table_entry, "duplicate_of", None) is not None:
        return None
    address = int(config_table_entry.table_address)
    name = getattr(config_table_entry, "name", "") or guid
    # A 20-byte EFI_CONFIGURATION_TABLE entry means 32-bit firmware (UEFI 2.10 §4.6; efi_config_table_32_t,
    # torvalds/linux include/linux/efi.h@v6.12.117).
    bits = 32 if getattr(config_table_entry, "size", 24) == 20 else 64
    ctx = DecodeContext(
        mem=mem,
        guid=info.guid,
        address=address,
        name=str(name),
        show_secrets=show_secrets,
        region_type=region_type,
        memmap=memmap,
        e820=e820,
        bits=bits,
    )
    if address == 0:
        return None  # the configuration table entry reports the NULL pointer itself
    try:
        result = info.func(ctx)
    except Exception as e:  # noqa: BLE001 - a decoder bug must not stop the dump
        p = Payload(address=address, size=0)
        p.findings.append(make(PAYLOAD_DECODE, ctx.name, address, f"{type(e).__name__}: {e}"))
        return p
    if result is not None and check_region(ctx, result, info.expected_types, info.kept):
        downgrade_stale(result)
    return result


def link_payloads(mem: PhysicalMemory, payloads: list[Parsed]) -> None:
    """Steps that need more than one table: size the TCG final events with the TPM log's digest sizes."""
    from efitables.payloads.tcg import link_tcg

    link_tcg(mem, payloads)


# Import the decoder modules: each registers its GUIDs.
from efitables.payloads import (  # noqa: E402,F401
    acpi,
    edk2,
    esrt,
    fdt,
    linux_handover,
    linux_memory,
    linux_secrets,
    linux_tables,
    memattr,
    smbios,
    tcg,
)

__all__ = [
    "DECODERS",
    "DecodeContext",
    "DecoderInfo",
    "Extent",
    "Payload",
    "Secret",
    "check_overlaps",
    "decode_payload",
    "decoder_for",
    "link_payloads",
    "register_decoder",
]
