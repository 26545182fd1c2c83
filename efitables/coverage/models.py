"""Models of the two identity maps the next kernel starts on.

Sources: torvalds/linux arch/x86/kernel/machine_kexec_64.c (``init_pgtable``),
arch/x86/mm/ident_map.c (``kernel_ident_mapping_init``), arch/x86/mm/init.c
(``pfn_mapped``, ``direct_gbpages``) and arch/x86/boot/compressed/ident_map_64.c
(``initialize_identity_maps``, ``kernel_add_identity_map``) at v6.12.117 and
v6.1.192; for the history, the upstream commits each preset lists in ``sources``
(6bbeb276b71f and 5a949b38839e: system table, ACPI and NVS; cc31744a2945 "x86/mm/ident_map:
Use gbpages only where full GB page should be mapped" and 5760929f6545 "x86/kexec: Add
EFI config table identity mapping for kexec kernel", both v6.12-rc1) and, for
the stable 6.1 releases, Debian's linux-source-6.1 changelog.

**The old kernel's kexec identity map** (``init_pgtable``), in call order:

1. ``pfn_mapped``: every range of the first kernel's direct map - memblock RAM
   (E820 types 1 and 128) and the ISA range 0-1 MiB (always);
2. every kexec segment ``[mem, mem + memsz)``;
3. ``map_efi_systab``: the EFI System Table (120 or 72 bytes), v5.3+;
   3b. the configuration table array (``nr_tables`` x 24 or 20), v6.12 and
   stable backports (6.1.113, ...);
4. ``map_acpi_tables``: E820 ACPI (3) and NVS (4) resources, v5.3+ (v6.1 passes
   ``start + size - 1`` as the exclusive end: one byte short);
5. ``map_mmio_serial``: the pages of a 32-bit MMIO 8250 UART (mainline after v6.12,
   only when ``kexec_debug_8250_mmio32`` is set).

Each range goes through ``kernel_ident_mapping_init``: 2 MiB leaves over
``[round_down(start, 2M), round_up(end, 2M))``. With ``direct_gbpages`` the old
PUD code (before v6.8-rc, between the revert and v6.12, and stable trees without
the backport) maps the **whole aligned GiB** of every PUD slot the range touches;
the new code uses a 1 GiB leaf only where the range covers the whole GiB, so the
covered set is the 2 MiB-rounded one.

**The decompressor's identity map** (``initialize_identity_maps``), always
2 MiB-granular (``kernel_add_identity_map`` rounds to 2 MiB; no gbpages): the
image ``[_head, _end)``, boot_params (4096), the command line
(``COMMAND_LINE_SIZE`` = 2048), every setup_data node (16 + len, not the target
of a SETUP_INDIRECT node) and, for SNP, the CC blob (40) and the CPUID page
(``cpuid_len``). Ranges it faults in later (#PF handler) are not modelled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from efitables.coverage.intervals import GIB, MIB2, Range, round_down, round_up
from efitables.regions import E820, Region, efi_type_to_e820

__all__ = ["Region", "efi_type_to_e820"]

# E820 types (torvalds/linux arch/x86/include/asm/e820/types.h@v6.12.117).
E820_RAM, E820_RESERVED, E820_ACPI, E820_NVS, E820_UNUSABLE = 1, 2, 3, 4, 5
E820_PMEM, E820_PRAM, E820_RESERVED_KERN, E820_SOFT_RESERVED = 7, 12, 128, 0xEFFFFFFF

ISA_END = 0x100000
EFI_SYSTAB_SIZE = {64: 120, 32: 72}
EFI_CONFIG_ENTRY_SIZE = {64: 24, 32: 20}
COMMAND_LINE_SIZE = 2048
BOOT_PARAMS_SIZE = 4096
SETUP_DATA_HEADER = 16
CC_BLOB_SIZE = 40


@dataclass
class MapInputs:
    """What the kexec map is built from, as plain values (from a dump or a test)."""

    regions: list[Region] = field(default_factory=list)
    systab: Range | None = None  # [address, address + 120 or 72)
    config_array: Range | None = None  # [address, address + nr_tables * entry size)
    segments: list[Range] | None = None  # kexec segments when known
    segments_source: str = ""  # where they came from ("kexec_image", ...): named in the rules


@dataclass(frozen=True)
class Rule:
    """One range a map-building function asks to be identity-mapped."""

    name: str  # e.g. "RAM (E820 type 1)", "EFI system table"
    start: int
    end: int
    assumed: bool = False  # stands for ranges not in the dump (kexec segments); never rounded

    @property
    def range(self) -> Range:
        return (self.start, self.end)

    def to_dict(self) -> dict:
        return {"name": self.name, "start": self.start, "end": self.end, "assumed": self.assumed}


GBPAGE_WHOLE = "whole"  # old: every touched GiB becomes a 1 GiB leaf
GBPAGE_FULL = "full"  # new: 1 GiB leaves only for fully requested GiBs


@dataclass(frozen=True)
class Model:
    """Parameters of one kernel behaviour's kexec identity map."""

    name: str
    description: str
    sources: tuple[str, ...] = ()
    ram_types: frozenset[int] = frozenset({E820_RAM, E820_RESERVED_KERN})
    isa: bool = True
    efi_systab: bool = True
    efi_config_array: bool = True
    acpi_types: frozenset[int] = frozenset({E820_ACPI, E820_NVS})
    acpi_end_short: bool = False
    serial: int | None = None
    segments: tuple[Range, ...] | None = None
    gbpages: bool = False  # direct_gbpages (CONFIG_X86_DIRECT_GBPAGES and a CPU with pdpe1gb)
    gbpage_rule: str = GBPAGE_FULL

    def granularity(self) -> int:
        return GIB if self.gbpages and self.gbpage_rule == GBPAGE_WHOLE else MIB2

    def round(self, start: int, end: int) -> Range:
        """What ``kernel_ident_mapping_init`` maps for ``[start, end)`` under this model."""
        unit = self.granularity()
        return (round_down(start, unit), round_up(end, unit))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "sources": list(self.sources),
            "ram_types": sorted(self.ram_types),
            "isa": self.isa,
            "efi_systab": self.efi_systab,
            "efi_config_array": self.efi_config_array,
            "acpi_types": sorted(self.acpi_types),
            "acpi_end_short": self.acpi_end_short,
            "serial": self.serial,
            "segments": [list(s) for s in self.segments] if self.segments is not None else None,
            "gbpages": self.gbpages,
            "gbpage_rule": self.gbpage_rule,
            "granularity": self.granularity(),
        }


_NO_ACPI: frozenset[int] = frozenset()
_BASE = "torvalds/linux arch/x86/kernel/machine_kexec_64.c"

#: Named presets, oldest first. ``gbpages`` is off in every preset (QEMU's default
#: CPU models lack pdpe1gb); add ``,gbpages=on`` for hardware with 1 GiB pages.
PRESETS: dict[str, Model] = {
    m.name: m
    for m in [
        Model(
            "v4.x",
            "v4.x-v5.2: RAM and kexec segments only; System Table and ACPI reachable only by rounding",
            (f"{_BASE}@a9dbe7782a69",),
            efi_systab=False,
            efi_config_array=False,
            acpi_types=_NO_ACPI,
            acpi_end_short=True,
            gbpage_rule=GBPAGE_WHOLE,
        ),
        Model(
            "v5.3",
            "v5.3-v6.7: + EFI System Table, ACPI and ACPI NVS; not the configuration table array",
            ("6bbeb276b71f", "5a949b38839e", f"{_BASE}@v6.1.192"),
            efi_config_array=False,
            acpi_end_short=True,
            gbpage_rule=GBPAGE_WHOLE,
        ),
        Model(
            "v6.8",
            "v6.8-rc1..v6.9-rc1: gbpages only for fully requested GiBs, array still unmapped (the regression)",
            ("d794734c9bbf",),
            efi_config_array=False,
            acpi_end_short=True,
            gbpage_rule=GBPAGE_FULL,
        ),
        Model(
            "v6.9",
            "v6.9-v6.11: the gbpage restriction reverted; same map as v5.3",
            ("c567f2948f57",),
            efi_config_array=False,
            acpi_end_short=True,
            gbpage_rule=GBPAGE_WHOLE,
        ),
        Model(
            "v6.12",
            "v6.12+: + EFI configuration table array, gbpages only for fully requested GiBs",
            ("5760929f6545", "cc31744a2945", f"{_BASE}@v6.12.117", "torvalds/linux arch/x86/mm/ident_map.c@v6.12.117"),
            gbpage_rule=GBPAGE_FULL,
        ),
        Model(
            "mainline",
            "after v6.12: as v6.12, plus the MMIO 8250 UART pages when kexec_debug_8250_mmio32 is set (serial=ADDR)",
            ("David Woodhouse, [PATCH v9 2/4] x86/kexec: Add 8250 MMIO serial port output (Mar 2025)",),
            gbpage_rule=GBPAGE_FULL,
        ),
        Model(
            "v6.1.79",
            "stable 6.1.79-6.1.84: gbpage restriction backported without the array mapping",
            ("Debian linux-source-6.1 changelog",),
            efi_config_array=False,
            acpi_end_short=True,
            gbpage_rule=GBPAGE_FULL,
        ),
        Model(
            "v6.1.85",
            "stable 6.1.85-6.1.112: restriction reverted; same map as v5.3",
            ("Debian linux-source-6.1 changelog",),
            efi_config_array=False,
            acpi_end_short=True,
            gbpage_rule=GBPAGE_WHOLE,
        ),
        Model(
            "v6.1.113",
            "stable 6.1.113-6.1.187: configuration table array mapped, old gbpage behaviour",
            ("Debian linux-source-6.1 changelog",),
            acpi_end_short=True,
            gbpage_rule=GBPAGE_WHOLE,
        ),
        Model(
            "v6.1.188",
            "stable 6.1.188+: array mapped and gbpage restriction re-applied (CVE-2024-50017)",
            (
                "Debian linux-source-6.1 changelog",
                f"{_BASE}@v6.1.192",
                "torvalds/linux arch/x86/mm/ident_map.c@v6.1.192",
            ),
            acpi_end_short=True,
            gbpage_rule=GBPAGE_FULL,
        ),
    ]
}
DEFAULT_MODEL = "v6.12"
#: What ``--model`` defaults to: the preset of the dump's own kernel (:func:`model_for_version`).
AUTO_MODEL = "auto"

#: Release names that are another preset's map (mainline releases between presets, and the
#: stable 6.1.y ranges by their first release): ``--model v6.1`` is the v6.1.0 release's map.
ALIASES: dict[str, str] = {
    **{f"v5.{n}": "v5.3" for n in range(4, 20)},
    **{f"v6.{n}": "v5.3" for n in range(0, 8)},
    "v6.1.0": "v5.3",
    "v6.10": "v6.9",
    "v6.11": "v6.9",
    **{f"v6.{n}": "v6.12" for n in range(13, 20)},
}

#: Stable 6.1.y ranges and their presets, newest first (Debian linux-source-6.1 changelog; see the presets).
_STABLE_6_1 = ((188, "v6.1.188"), (113, "v6.1.113"), (85, "v6.1.85"), (79, "v6.1.79"), (0, "v5.3"))


def model_for_version(major: int, minor: int, sublevel: int | None) -> tuple[str, str]:
    """The preset of Linux ``major.minor[.sublevel]`` and why (for the report's ``model_choice``).

    6.1.y uses the stable ranges when the sub-level is known (a Debian kernel's ``linux_banner``
    states it); a 6.1 kernel without one gets the v6.1.0 release's map (v5.3), and the reason
    says the stable backports are unknown.
    """
    v = (major, minor)
    if v < (5, 3):
        return "v4.x", f"{major}.{minor} is before v5.3"
    if v == (6, 1):
        if sublevel is None:
            return "v5.3", "6.1 without its stable sub-level: the v6.1.0 map (stable backports unknown)"
        name = next(p for floor, p in _STABLE_6_1 if sublevel >= floor)
        return name, f"6.1.{sublevel} is in the stable range of preset {name}"
    if v < (6, 8):
        return "v5.3", f"{major}.{minor} is in v5.3-v6.7"
    if v == (6, 8):
        return "v6.8", "6.8"
    if v < (6, 12):
        return "v6.9", f"{major}.{minor} is in v6.9-v6.11"
    return "v6.12", f"{major}.{minor} is v6.12 or later"


class ModelError(ValueError):
    """A model specification that cannot be understood."""


def _bool(key: str, v: str) -> bool:
    t = v.strip().lower()
    if t in ("1", "on", "yes", "true", "y"):
        return True
    if t in ("0", "off", "no", "false", "n"):
        return False
    raise ModelError(f"{key}={v!r}: expected on or off")


def _int(key: str, v: str) -> int:
    try:
        n = int(v.strip().replace("_", ""), 0)
    except ValueError:
        raise ModelError(f"{key}={v!r}: expected a number (0x... for hex)") from None
    if not 0 <= n < 1 << 64:
        raise ModelError(f"{key}={v!r}: out of range")
    return n


def _types(key: str, v: str) -> frozenset[int]:
    if v.strip().lower() in ("off", "none", ""):
        return frozenset()
    return frozenset(_int(key, t) for t in v.replace("+", " ").replace("/", " ").split())


def _range(key: str, v: str) -> Range:
    if "+" in v:
        a, b = v.split("+", 1)
        s = _int(key, a)
        e = s + _int(key, b)
    elif "-" in v:
        a, b = v.split("-", 1)
        s, e = _int(key, a), _int(key, b)
    else:
        raise ModelError(f"{key}={v!r}: expected START-END or START+SIZE")
    if e <= s:
        raise ModelError(f"{key}={v!r}: empty range")
    return (s, e)


MODEL_KEYS = {
    "gbpages": "on/off: direct_gbpages (1 GiB pages)",
    "gbrule": "whole (old: any touched GiB) or full (new: fully requested GiBs only)",
    "systab": "on/off: map_efi_systab maps the System Table",
    "config": "on/off: map_efi_systab maps the configuration table array",
    "acpi": "E820 types map_acpi_tables maps, e.g. 3+4, or off",
    "acpi-end-short": "on/off: v6.1's one-byte-short ACPI range end",
    "ram": "E820 types in pfn_mapped, e.g. 1+128",
    "isa": "on/off: 0-1 MiB always mapped",
    "serial": "MMIO UART address (map_mmio_serial), or off",
    "segment": "a kexec segment START-END or START+SIZE (repeatable); segment=none: no segments",
}


def parse_model(spec: str | Model | None) -> Model:
    """``NAME[,key=value...]``: a preset, optionally changed by :data:`MODEL_KEYS`.

    ``custom,...`` starts from :data:`DEFAULT_MODEL`. Examples: ``v5.3,gbpages=on``,
    ``custom,config=off,segment=0x1000000+0x2000000``.
    """
    if isinstance(spec, Model):
        return spec
    text = (spec or DEFAULT_MODEL).strip()
    name, *pairs = [p.strip() for p in text.split(",")]
    base_name = DEFAULT_MODEL if name.lower() == "custom" else name
    base_name = ALIASES.get(base_name.lower(), base_name)
    base = PRESETS.get(base_name) or PRESETS.get(base_name.lower())
    if base is None:
        raise ModelError(f"unknown model {name!r}; presets: {', '.join(PRESETS)} (or custom,...; aliases such as v6.1)")
    if name.lower() in ALIASES and not pairs:
        return dataclasses.replace(base, name=f"{name} ({base.name})")
    changes: dict[str, object] = {}
    segments: list[Range] | None = list(base.segments) if base.segments is not None else None
    for pair in pairs:
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        key = key.strip().lower()
        if not sep:
            raise ModelError(f"{pair!r}: expected key=value; keys: {', '.join(MODEL_KEYS)}")
        if key == "gbpages":
            changes["gbpages"] = _bool(key, value)
        elif key == "gbrule":
            v = value.strip().lower()
            if v not in (GBPAGE_WHOLE, GBPAGE_FULL):
                raise ModelError(f"gbrule={value!r}: expected whole or full")
            changes["gbpage_rule"] = v
        elif key == "systab":
            changes["efi_systab"] = _bool(key, value)
        elif key == "config":
            changes["efi_config_array"] = _bool(key, value)
        elif key == "acpi":
            changes["acpi_types"] = _types(key, value)
        elif key == "acpi-end-short":
            changes["acpi_end_short"] = _bool(key, value)
        elif key == "ram":
            changes["ram_types"] = _types(key, value)
        elif key == "isa":
            changes["isa"] = _bool(key, value)
        elif key == "serial":
            changes["serial"] = None if value.strip().lower() in ("off", "none") else _int(key, value)
        elif key == "segment":
            if value.strip().lower() == "none":
                segments = []
            else:
                segments = (segments or []) + [_range(key, value)]
        else:
            raise ModelError(f"unknown model key {key!r}; keys: {', '.join(MODEL_KEYS)}")
    if segments is not None:
        changes["segments"] = tuple(segments)
    if not pairs and name.lower() != "custom":
        return base
    return dataclasses.replace(base, name=text, **changes)  # type: ignore[arg-type]


def kexec_rules(model: Model, inputs: MapInputs, assumed: list[tuple[str, Range]] | None = None) -> list[Rule]:
    """The ranges ``init_pgtable`` asks for under ``model``, in call order.

    ``assumed`` are objects kexec would place in a segment (boot_params, command
    line, setup_data) when the model does not list the segments.
    """
    rules: list[Rule] = []
    if model.isa:
        rules.append(Rule("ISA range (pfn_mapped)", 0, ISA_END))
    for r in inputs.regions:
        e = r.as_e820()
        if e is not None and e.type in model.ram_types:
            src = "E820" if r.source == E820 else "EFI memory map"
            rules.append(Rule(f"RAM (E820 type {e.type}, {src})", r.start, r.end))
    segments = model.segments if model.segments is not None else inputs.segments
    if segments is not None:
        for i, (seg_start, seg_end) in enumerate(segments):
            src = f" ({inputs.segments_source})" if inputs.segments_source and model.segments is None else ""
            rules.append(Rule(f"kexec segment {i}{src}", seg_start, seg_end))
    elif assumed:
        for what, (seg_start, seg_end) in assumed:
            rules.append(
                Rule(f"kexec segment (assumed: kexec puts the {what} in one)", seg_start, seg_end, assumed=True)
            )
    if model.efi_systab and inputs.systab is not None:
        rules.append(Rule("EFI system table (map_efi_systab)", *inputs.systab))
    if model.efi_config_array and inputs.config_array is not None:
        rules.append(Rule("EFI configuration table array (map_efi_systab)", *inputs.config_array))
    for r in inputs.regions:
        e = r.as_e820()
        if e is not None and e.type in model.acpi_types:
            end = r.end - 1 if model.acpi_end_short else r.end
            rules.append(Rule(f"ACPI (E820 type {e.type}, map_acpi_tables)", r.start, end))
    if model.serial is not None:
        uart_start = model.serial & ~0xFFF
        uart_end = (model.serial + 4096 + 23) & ~0xFFF
        rules.append(Rule("MMIO UART (map_mmio_serial)", uart_start, uart_end))
    return [r for r in rules if r.end > r.start]


def decompressor_rules(
    *,
    boot_params: int | None,
    cmdline: int | None,
    setup_nodes: list[tuple[int, int]],
    cc_blob: int | None = None,
    cpuid: Range | None = None,
    image: Range | None = None,
) -> list[Rule]:
    """What ``initialize_identity_maps`` maps explicitly (2 MiB-granular).

    ``setup_nodes`` are ``(address, 16 + len)``; ``cc_blob``/``cpuid`` only for SNP guests.
    """
    rules: list[Rule] = []
    if image is not None:
        rules.append(Rule("decompressor image [_head, _end)", *image))
    if boot_params is not None:
        rules.append(Rule("boot_params", boot_params, boot_params + BOOT_PARAMS_SIZE))
    if cmdline:
        rules.append(Rule("command line (COMMAND_LINE_SIZE)", cmdline, cmdline + COMMAND_LINE_SIZE))
    for i, (pa, size) in enumerate(setup_nodes):
        rules.append(Rule(f"setup_data node {i} (16 + len)", pa, pa + size))
    if cc_blob:
        rules.append(Rule("CC blob (sev_prep_identity_maps)", cc_blob, cc_blob + CC_BLOB_SIZE))
    if cpuid is not None:
        rules.append(Rule("SNP CPUID page (sev_prep_identity_maps)", *cpuid))
    return [r for r in rules if r.end > r.start]


def decompressor_round(start: int, end: int) -> Range:
    """``kernel_add_identity_map`` rounds to 2 MiB; the decompressor never uses gbpages."""
    return (round_down(start, MIB2), round_up(end, MIB2))
