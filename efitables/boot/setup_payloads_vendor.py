"""Decoders of the platform-specific SETUP_* payloads: Apple device properties and Jailhouse.

* SETUP_APPLE_PROPERTIES: the blob the EFI stub copies from Apple's device
  properties protocol on Macs. Layout and Linux's checks (``properties_header``
  version 1 and ``len`` equal to the node's, ``dev_header`` and key/value
  lengths) from ``unmarshal_devices`` / ``map_properties`` in torvalds/linux
  drivers/firmware/efi/apple-properties.c@v6.12.117, which also sets the node's
  ``len`` to 0 once consumed. Device paths are EFI device path nodes (UEFI 2.10
  §10.3, ``EFI_DEVICE_PATH_PROTOCOL``), listed as ``type/subtype``.
* SETUP_JAILHOUSE: ``struct jailhouse_setup_data`` (torvalds/linux
  arch/x86/include/uapi/asm/setup_data.h@v6.12.117), v1 (280 bytes) or v2 (284,
  adds ``flags``); ``hdr.version`` must be at least 1 (``jailhouse_init_platform``
  in arch/x86/kernel/jailhouse.c@v6.12.117 rejects 0).

Every count and length is bounded (:data:`MAX_APPLE_BYTES` and the limits
below); a malformed blob gives findings, never an exception. Registered in
:data:`efitables.boot.setup_payloads.DECODERS`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from efitables.boot.setup_payload_base import (
    SETUP_SHORT,
    DecodeCtx,
    SetupPayload,
    common,
    gap_finding,
    read_need,
    read_prefix,
    short_payload,
)
from efitables.caps import cap_findings, count_cap
from efitables.findings import Finding, Severity, make, register
from efitables.model import Rows, TableView
from efitables.schemas.setup_data import (
    APPLE_PROPERTIES_HEADER,
    JAILHOUSE_SETUP_DATA,
    JAILHOUSE_SETUP_DATA_V1,
    JAILHOUSE_SETUP_REQUIRED_VERSION,
)
from efitables.text import printable

#: Apple properties: bytes read, devices decoded, properties decoded in all devices together, device
#: path nodes per device. A Mac's blob lists a handful of devices (GPU, Thunderbolt, ...) with at most
#: a few dozen properties each and device paths of a few nodes.
MAX_APPLE_BYTES = 1 << 20
MAX_APPLE_DEVICES = 64
MAX_APPLE_PROPS = 256
MAX_DEVPATH_NODES = 64

SETUP_APPLE_BAD = register(
    "SETUP-APPLE-PROPERTIES", Severity.WARNING, "SETUP_APPLE_PROPERTIES blob is malformed (Linux would reject it)"
)
SETUP_JAILHOUSE_BAD = register(
    "SETUP-JAILHOUSE", Severity.WARNING, "SETUP_JAILHOUSE data has an unsupported version or is too short"
)


# -- results -------------------------------------------------------------------
@dataclass(kw_only=True)
class AppleDevice:
    offset: int
    length: int
    prop_count: int
    device_path: list[str]
    properties: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "length": self.length,
            "prop_count": self.prop_count,
            "device_path": self.device_path,
            "properties": self.properties,
        }

    @property
    def path_text(self) -> str:
        return "/".join(self.device_path) or "-"

    @property
    def properties_text(self) -> str:
        """``name (n bytes), ...`` with every name made printable."""
        return ", ".join(f"{printable(str(x['name']))} ({x['value_length']} bytes)" for x in self.properties)


@dataclass(kw_only=True)
class ApplePropertiesPayload(SetupPayload):
    kind = "SETUP_APPLE_PROPERTIES"
    properties_len: int
    version: int
    dev_count: int
    devices: list[AppleDevice] = field(default_factory=list)

    def summary(self) -> str:
        props = sum(len(d.properties) for d in self.devices)
        return f"version {self.version}, {self.dev_count} devices, {props} properties"

    def payload_rows(self) -> Rows:
        return [
            ("properties len", str(self.properties_len)),
            ("version", str(self.version)),
            ("devices", f"{self.dev_count} declared, {len(self.devices)} decoded"),
        ]

    def table_views(self) -> list[TableView]:
        if not self.devices:
            return []
        rows: list[tuple[str, ...]] = [(f"+{d.offset:#x}", d.path_text, d.properties_text) for d in self.devices]
        return [TableView("devices", ("offset", "device path", "properties"), rows)]


@dataclass(kw_only=True)
class JailhousePayload(SetupPayload):
    kind = "SETUP_JAILHOUSE"
    version: int
    compatible_version: int
    pm_timer_address: int
    num_cpus: int
    pci_mmconfig_base: int
    tsc_khz: int
    apic_khz: int
    standard_ioapic: int
    cpu_ids: list[int]
    flags: int | None  # v2 only

    def summary(self) -> str:
        v2 = f", flags {self.flags:#x}" if self.flags is not None else ""
        return (
            f"version {self.version} (compatible {self.compatible_version}), {self.num_cpus} CPUs, "
            f"MMCONFIG {self.pci_mmconfig_base:#x}, TSC {self.tsc_khz} kHz, APIC {self.apic_khz} kHz{v2}"
        )

    def payload_rows(self) -> Rows:
        rows = [
            ("version", f"{self.version} (compatible {self.compatible_version})"),
            ("pm_timer_address", f"{self.pm_timer_address:#x}"),
            ("num_cpus", str(self.num_cpus)),
            ("cpu_ids", " ".join(str(c) for c in self.cpu_ids) or "-"),
            ("pci_mmconfig_base", f"{self.pci_mmconfig_base:#x}"),
            ("tsc_khz", str(self.tsc_khz)),
            ("apic_khz", str(self.apic_khz)),
            ("standard_ioapic", str(self.standard_ioapic)),
        ]
        if self.flags is not None:
            rows.append(("flags", f"{self.flags:#x}"))
        return rows


# -- decoders ----------------------------------------------------------------------
def decode_apple_properties(ctx: DecodeCtx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    data, findings = read_need(ctx, t, pa, length, min(length, MAX_APPLE_BYTES), name)
    if length < 12 or len(data) < 12:
        if length < 12:
            findings.append(make(SETUP_SHORT, name, pa, f"len {length} < 12-byte properties header"))
        return short_payload(t, pa, length, data, findings)
    plen, version, dev_count = struct.unpack_from("<III", data)
    if version != 1:
        findings.append(make(SETUP_APPLE_BAD, name, pa, f"version {version}, Linux accepts only 1"))
    if plen != length:
        findings.append(make(SETUP_APPLE_BAD, name, pa, f"properties len {plen} != setup_data len {length}"))
    devices: list[AppleDevice] = []
    props_left, props_declared = MAX_APPLE_PROPS, 0
    end = min(plen, len(data))
    off = 12
    while off + 8 < end and len(devices) < MAX_APPLE_DEVICES:
        dlen, nprops = struct.unpack_from("<II", data, off)
        if dlen <= 8 or off + dlen > end:
            findings.append(make(SETUP_APPLE_BAD, name, pa + off, f"device header len {dlen} at +{off:#x} is invalid"))
            break
        dev_end = off + dlen
        ptr = off + 8
        path: list[str] = []
        while ptr + 4 <= dev_end and len(path) < MAX_DEVPATH_NODES:
            ntype, nsub, nlen = struct.unpack_from("<BBH", data, ptr)
            if nlen < 4 or ptr + nlen > dev_end:
                findings.append(make(SETUP_APPLE_BAD, name, pa + ptr, f"device path node length {nlen} is invalid"))
                ptr = dev_end
                break
            ptr += nlen
            if ntype == 0x7F and nsub == 0xFF:
                break
            path.append(f"{ntype:02x}/{nsub:02x}")
        props: list[dict[str, Any]] = []
        take = min(nprops, props_left)
        props_declared += nprops
        for _ in range(take):
            if ptr + 4 > dev_end:
                break
            klen = struct.unpack_from("<I", data, ptr)[0]
            if klen < 6 or ptr + klen + 4 > dev_end:
                findings.append(make(SETUP_APPLE_BAD, name, pa + ptr, f"property name len {klen} is invalid"))
                break
            key = data[ptr + 4 : ptr + klen].decode("utf-16-le", "replace").rstrip("\0")
            vlen = struct.unpack_from("<I", data, ptr + klen)[0]
            if vlen < 4 or ptr + klen + vlen > dev_end:
                findings.append(make(SETUP_APPLE_BAD, name, pa + ptr, f"property value len {vlen} is invalid"))
                break
            props.append({"name": key, "value_length": vlen - 4})
            ptr += klen + vlen
        props_left -= len(props)
        if len(props) != take:
            findings.append(
                make(SETUP_APPLE_BAD, name, pa + off, f"device at +{off:#x}: {len(props)} of {nprops} properties read")
            )
        devices.append(AppleDevice(offset=off, length=dlen, prop_count=nprops, device_path=path, properties=props))
        off = dev_end
    if len(devices) != dev_count:
        findings.append(make(SETUP_APPLE_BAD, name, pa, f"dev_count {dev_count}, {len(devices)} devices decoded"))
    _n, too_many = count_cap(
        props_declared, MAX_APPLE_PROPS, SETUP_APPLE_BAD, name, pa, "prop_count of the devices read", "properties"
    )
    if too_many is not None:
        findings.append(too_many)
    findings.extend(cap_findings([findings], name, pa))
    return ApplePropertiesPayload(
        **common(t, pa, length, data[:12], findings, APPLE_PROPERTIES_HEADER, APPLE_PROPERTIES_HEADER.parse(data[:12])),
        properties_len=plen,
        version=version,
        dev_count=dev_count,
        devices=devices,
    )


def decode_jailhouse(ctx: DecodeCtx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    v1size = JAILHOUSE_SETUP_DATA_V1.sizeof()
    findings: list[Finding] = []
    data, gap = read_prefix(ctx.mem, pa, min(length, JAILHOUSE_SETUP_DATA.sizeof()), name)
    if gap is not None:
        findings.append(gap_finding(name, pa, gap))
    if length < v1size:
        findings.append(make(SETUP_JAILHOUSE_BAD, name, pa, f"len {length} < {v1size} (v1 layout)"))
    if len(data) < v1size:
        return short_payload(t, pa, length, data, findings)
    v2 = len(data) >= JAILHOUSE_SETUP_DATA.sizeof()
    schema = JAILHOUSE_SETUP_DATA if v2 else JAILHOUSE_SETUP_DATA_V1
    f = schema.parse(data[: schema.sizeof()])
    if f.hdr.version < JAILHOUSE_SETUP_REQUIRED_VERSION:
        findings.append(make(SETUP_JAILHOUSE_BAD, name, pa, f"version {f.hdr.version} < 1"))
    ncpu = min(f.v1.num_cpus, 255)
    return JailhousePayload(
        **common(t, pa, length, data, findings, schema, f),
        version=f.hdr.version,
        compatible_version=f.hdr.compatible_version,
        pm_timer_address=f.v1.pm_timer_address,
        num_cpus=f.v1.num_cpus,
        pci_mmconfig_base=f.v1.pci_mmconfig_base,
        tsc_khz=f.v1.tsc_khz,
        apic_khz=f.v1.apic_khz,
        standard_ioapic=f.v1.standard_ioapic,
        cpu_ids=list(f.v1.cpu_ids[:ncpu]),
        flags=f.v2.flags if v2 else None,
    )
