"""LINUX_EFI_TPM_EVENT_LOG, the TCG2/CC final events table header, and the TCG
event-log records needed to read the log's first (Spec ID) event.

Sources: torvalds/linux include/linux/efi.h@v6.12.117 (``struct
linux_efi_tpm_eventlog``, ``struct efi_tcg2_final_events_table``),
include/linux/tpm_eventlog.h@v6.12.117 (``tcg_pcr_event``, ``tcg_efi_specid_event_head``,
``tcg_pcr_event2_head``); drivers/firmware/efi/tpm.c@v6.12.117;
tianocore/edk2 MdePkg/Include/Protocol/Tcg2Protocol.h@c5aa7e7d94c0; TCG PC Client Platform
Firmware Profile (``TCG_EfiSpecIDEvent``, ``TCG_PCR_EVENT2``) and TCG EFI Protocol Specification
(``EFI_TCG2_FINAL_EVENTS_TABLE``).
"""

from __future__ import annotations

import construct as cs

#: ``struct linux_efi_tpm_eventlog``: natural sizeof is 12, but the log bytes start at +9.
LINUX_EFI_TPM_EVENTLOG_HEADER_SIZE = 9
LINUX_EFI_TPM_EVENTLOG_SIZEOF = 12
EFI_TCG2_EVENT_LOG_FORMAT_TCG_1_2 = 1
EFI_TCG2_EVENT_LOG_FORMAT_TCG_2 = 2

LINUX_EFI_TPM_EVENTLOG = cs.Struct(
    "size" / cs.Int32ul,
    "final_events_preboot_size" / cs.Int32ul,
    "version" / cs.Int8ul,
)
assert LINUX_EFI_TPM_EVENTLOG.sizeof() == LINUX_EFI_TPM_EVENTLOG_HEADER_SIZE

EFI_TCG2_FINAL_EVENTS_TABLE_VERSION = 1
EFI_TCG2_FINAL_EVENTS_TABLE = cs.Struct("Version" / cs.Int64ul, "NumberOfEvents" / cs.Int64ul)
assert EFI_TCG2_FINAL_EVENTS_TABLE.sizeof() == 16

EV_NO_ACTION = 3
TCG_SPECID_SIG = b"Spec ID Event03\0"

#: TCG 1.2 style record (SHA-1 only): the first record of every log.
TCG_PCR_EVENT = cs.Struct(
    "pcr_idx" / cs.Int32ul,
    "event_type" / cs.Int32ul,
    "digest" / cs.Bytes(20),
    "event_size" / cs.Int32ul,
)
assert TCG_PCR_EVENT.sizeof() == 32

TCG_EFI_SPECID_EVENT_HEAD = cs.Struct(
    "signature" / cs.Bytes(16),
    "platform_class" / cs.Int32ul,
    "spec_version_minor" / cs.Int8ul,
    "spec_version_major" / cs.Int8ul,
    "spec_errata" / cs.Int8ul,
    "uintnsize" / cs.Int8ul,
    "num_algs" / cs.Int32ul,
)
assert TCG_EFI_SPECID_EVENT_HEAD.sizeof() == 28

TCG_EFI_SPECID_EVENT_ALGS = cs.Struct("alg_id" / cs.Int16ul, "digest_size" / cs.Int16ul)

#: Head of a crypto-agile record; DigestCount x {u16 alg, digest} and u32 EventSize follow.
TCG_PCR_EVENT2_HEAD = cs.Struct("pcr_idx" / cs.Int32ul, "event_type" / cs.Int32ul, "count" / cs.Int32ul)

TPM_ALG_NAMES = {0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512", 0x0012: "sm3_256"}
