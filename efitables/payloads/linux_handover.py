"""Linux configuration tables that hand boot-loader state to the kernel: the
initrd the stub loaded and the ``screen_info`` it filled from GOP.

Layouts: :mod:`efitables.schemas.payloads.linux_tables` (torvalds/linux
include/linux/efi.h@v6.12.117 ``struct linux_efi_initrd``;
include/uapi/linux/screen_info.h@v6.12.117 ``struct screen_info``). Writers and
readers the checks follow (all torvalds/linux @v6.12.117): the initrd table is
installed by drivers/firmware/efi/libstub/efi-stub-helper.c ``efi_load_initrd()``
and read by drivers/firmware/efi/efi.c; ``screen_info`` is allocated in
EfiACPIReclaimMemory by drivers/firmware/efi/libstub/screen_info.c and read
through ``screen_info_table`` in drivers/firmware/efi/efi.c; the frame buffer
base is composed as include/linux/screen_info.h ``__screen_info_lfb_base()`` does
(``ext_lfb_base`` only with ``VIDEO_CAPABILITY_64BIT_BASE``). Re-exported by
:mod:`efitables.payloads.linux_tables`.
"""

from __future__ import annotations

from dataclasses import dataclass

from efitables.findings import Severity, make, register
from efitables.payloads import register_decoder
from efitables.payloads.base import ACPI_RECLAIM, DecodeContext, Payload
from efitables.schemas.payloads.linux_tables import (
    LINUX_EFI_INITRD,
    SCREEN_INFO,
    SCREEN_INFO_SIZE,
    VIDEO_CAPABILITY_64BIT_BASE,
    VIDEO_TYPE_NAMES,
)

LINUX_EFI_INITRD_MEDIA_GUID = "5568e427-68fc-4f3d-ac74-ca555231cc68"
LINUX_EFI_SCREEN_INFO_TABLE_GUID = "e03fc20a-85dc-406e-b90e-4ab502371d95"

INITRD_RANGE = register("LINUX-INITRD-RANGE", Severity.WARNING, "LINUX_EFI_INITRD_MEDIA range is empty or overflows")


# -- initrd ------------------------------------------------------------------------
@dataclass(kw_only=True)
class InitrdMedia(Payload):
    kind = "LINUX_EFI_INITRD"

    base: int
    initrd_size: int
    in_dump: bool | None = None

    @property
    def title(self) -> str:
        return f"initrd {self.base:#x} +{self.initrd_size:#x}"


def decode_initrd(ctx: DecodeContext) -> InitrdMedia:
    pa, name = ctx.address, "LINUX_EFI_INITRD_MEDIA"
    findings: list = []
    raw = ctx.read(pa, 16, name, findings)
    if raw is None:
        i = InitrdMedia(address=pa, size=0, base=0, initrd_size=0)
        i.findings.extend(findings)
        return i
    f = LINUX_EFI_INITRD.parse(raw)
    i = InitrdMedia(
        address=pa, size=16, raw=raw, fields=f, schema=LINUX_EFI_INITRD, base=f["base"], initrd_size=f["size"]
    )
    if i.initrd_size == 0 or i.base == 0 or i.base + i.initrd_size > 1 << 64:
        i.findings.append(make(INITRD_RANGE, name, pa, f"base {i.base:#x} size {i.initrd_size:#x}"))
    else:
        i.in_dump = ctx.mem.is_readable(i.base, i.initrd_size)
    return i


# -- screen_info -------------------------------------------------------------------
@dataclass(kw_only=True)
class ScreenInfo(Payload):
    kind = "LINUX_EFI_SCREEN_INFO"

    video_type: str
    lfb_base: int
    lfb_size: int
    lfb_width: int
    lfb_height: int
    lfb_depth: int
    lfb_linelength: int

    @property
    def title(self) -> str:
        return f"screen_info {self.video_type} {self.lfb_width}x{self.lfb_height}x{self.lfb_depth} @ {self.lfb_base:#x}"


def decode_screen_info(ctx: DecodeContext) -> ScreenInfo:
    pa, name = ctx.address, "LINUX_EFI_SCREEN_INFO"
    findings: list = []
    raw = ctx.read(pa, SCREEN_INFO_SIZE, name, findings)
    if raw is None:
        s = ScreenInfo(
            address=pa,
            size=0,
            video_type="?",
            lfb_base=0,
            lfb_size=0,
            lfb_width=0,
            lfb_height=0,
            lfb_depth=0,
            lfb_linelength=0,
        )
        s.findings.extend(findings)
        return s
    f = SCREEN_INFO.parse(raw)
    base = f["lfb_base"]
    if f["capabilities"] & VIDEO_CAPABILITY_64BIT_BASE:
        base |= f["ext_lfb_base"] << 32
    t = f["orig_video_isVGA"]
    return ScreenInfo(
        address=pa,
        size=SCREEN_INFO_SIZE,
        raw=raw,
        fields=f,
        schema=SCREEN_INFO,
        video_type=VIDEO_TYPE_NAMES.get(t, f"{t:#x}"),
        lfb_base=base,
        lfb_size=f["lfb_size"],
        lfb_width=f["lfb_width"],
        lfb_height=f["lfb_height"],
        lfb_depth=f["lfb_depth"],
        lfb_linelength=f["lfb_linelength"],
    )


_RECLAIM = frozenset({ACPI_RECLAIM})
register_decoder(LINUX_EFI_INITRD_MEDIA_GUID, decode_initrd)
register_decoder(LINUX_EFI_SCREEN_INFO_TABLE_GUID, decode_screen_info, expected_types=_RECLAIM, kept=True)
