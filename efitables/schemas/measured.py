"""Measured boot: what a replay of a TCG2 or CC event log needs beyond :mod:`efitables.schemas.payloads.tcg`.

Sources:

* TCG PC Client Platform Firmware Profile Specification (PFP) Family 2.0, Level 00 Version 1.05
  Revision 23: ``TCG_PCR_EVENT2`` (section 10.2.2: PCRIndex, EventType, ``TPML_DIGEST_VALUES``
  {count, {hashAlg, digest}...}, EventSize, Event), the extend ``PCR[i] = H(PCR[i] || digest)``,
  ``TCG_EfiStartupLocalityEvent`` (the "Startup Locality Event": an ``EV_NO_ACTION`` event in
  PCR 0 with the signature ``"StartupLocality\\0"`` and one byte, the locality; PCR 0 then starts
  as zeros with that locality in its last byte instead of all zeros: the PFP's "PCR[0]" startup
  rules), event types; TPM 2.0 Library Part 2 ``TPM_ALG_ID`` values;
* tianocore/edk2 MdePkg/Include/IndustryStandard/UefiTcgPlatform.h@edk2-stable202405
  (``TCG_EfiStartupLocalityEvent``, ``TCG_EfiStartupLocalityEvent.StartupLocality``) and
  MdePkg/Include/Protocol/CcMeasurement.h@edk2-stable202405 (``CC_EVENT``: ``MrIndex`` in place of
  the PCR index; TDX MR index 0 is MRTD, 1-4 are RTMR[0..3]);
* the CCEL ACPI table: ACPI Specification 6.5 section 5.2.34 "Confidential Computing Event Log
  Table", as torvalds/linux include/acpi/actbl2.h@v6.12 ``struct acpi_table_ccel`` declares it
  (header, ``cc_type``, ``cc_sub_type``, ``reserved``, ``log_area_minimum_length``,
  ``log_area_start_address``).
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.payloads.tcg import (
    TCG_EFI_SPECID_EVENT_ALGS,
    TCG_EFI_SPECID_EVENT_HEAD,
    TCG_PCR_EVENT,
    TCG_PCR_EVENT2_HEAD,
)

#: The extend's hash for each TPM_ALG_ID (TPM 2.0 Library Part 2, table "TPM_ALG_ID"): hashlib name, digest size.
TPM_ALG_HASHES: dict[int, tuple[str, int]] = {
    0x0004: ("sha1", 20),
    0x000B: ("sha256", 32),
    0x000C: ("sha384", 48),
    0x000D: ("sha512", 64),
}
TPM_ALG_SHA384 = 0x000C

#: ``TPMI_ALG_HASH`` (u16) and the ``EventSize`` (u32) inside a TCG_PCR_EVENT2 record.
TPMI_ALG_HASH = cs.Int16ul
EVENT_SIZE_FIELD = cs.Int32ul
TPMI_ALG_HASH_SIZE = TPMI_ALG_HASH.sizeof()
EVENT_SIZE_FIELD_SIZE = EVENT_SIZE_FIELD.sizeof()

#: Head of a crypto-agile record (the PCR index is the MR index in a CC event log), compiled once.
TCG_PCR_EVENT2_HEAD_COMPILED = TCG_PCR_EVENT2_HEAD.compile()
TCG_PCR_EVENT2_HEAD_SIZE = TCG_PCR_EVENT2_HEAD.sizeof()
#: The TCG 1.2 first record (``TCG_PCR_EVENT``) that carries the Spec ID event.
TCG_PCR_EVENT_SIZE = TCG_PCR_EVENT.sizeof()
TCG_PCR_EVENT_COMPILED = TCG_PCR_EVENT.compile()
TCG_EFI_SPECID_EVENT_HEAD_SIZE = TCG_EFI_SPECID_EVENT_HEAD.sizeof()
TCG_EFI_SPECID_EVENT_ALGS_SIZE = TCG_EFI_SPECID_EVENT_ALGS.sizeof()

#: ``TCG_EfiStartupLocalityEvent``: the locality the platform started in (PFP "Startup Locality Event").
STARTUP_LOCALITY_SIG = b"StartupLocality\0"
TCG_EFI_STARTUP_LOCALITY_EVENT = cs.Struct("Signature" / cs.Bytes(16), "StartupLocality" / cs.Int8ul)

#: PCRs a TPM 2.0 PC Client platform has (PFP section 2.3.4: PCR 0-23).
PCR_COUNT = 24
#: TDX measurement registers a CC event log extends: MR index 1..4 are RTMR[0..3] (MR index 0 is MRTD).
CC_MR_RTMR_FIRST = 1
RTMR_COUNT = 4

# -- the CCEL ACPI table ----------------------------------------------------------------------
CCEL_SIGNATURE = "CCEL"
ACPI_TABLE_HEADER_SIZE = 36
ACPI_TABLE_CCEL = cs.Struct(
    "header" / cs.Bytes(ACPI_TABLE_HEADER_SIZE),
    "cc_type" / cs.Int8ul,
    "cc_sub_type" / cs.Int8ul,
    "reserved" / cs.Int16ul,
    "log_area_minimum_length" / cs.Int64ul,
    "log_area_start_address" / cs.Int64ul,
)
assert ACPI_TABLE_CCEL.sizeof() == 56
#: ``cc_type`` values (ACPI 6.5 table 5.186): 1 AMD SEV, 2 Intel TDX.
CCEL_CC_TYPES = {0: "reserved", 1: "SEV", 2: "TDX"}
