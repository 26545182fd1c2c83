"""Memory encryption across kexec: the mode, the C-bit or shared bit, and how the next kernel reads each object.

Inputs (all already parsed by the Dump; nothing here reads the dump's bytes):

* the running kernel's ``sev_status`` (``MSR_AMD64_SEV``), ``sme_me_mask`` and ``cc_mask``,
  read by :mod:`efitables.kernel.copies` (``Dump.kernel.sev``);
* VMCOREINFO ``NUMBER(sme_mask)`` (arch/x86/kernel/machine_kexec_64.c ``arch_crash_save_vmcoreinfo``);
* the SNP CPUID table's C-bit (CPUID 0x8000001F EBX[5:0], ``Dump.snp_cpuid``).

The mode (bits: :mod:`efitables.schemas.coco`): ``sev_status`` bit 2 SEV-SNP, else bit 1 SEV-ES,
else bit 0 SEV; else a non-zero ``sme_me_mask`` is SME (host memory encryption); else a non-zero
``cc_mask`` with ``sme_me_mask`` zero is TDX, whose ``cc_mask`` is the *shared* bit; else none.
On AMD the C-bit marks a page *private* (encrypted); on TDX the shared bit marks it *shared*.
The page-table walker strips either bit from every entry (``Dump.coverage`` takes it by default).

How the next kernel reads each object it reads early (the rules, per mode):

* SEV / SEV-ES / SEV-SNP guest: firmware ran with the C-bit set, so everything it wrote is
  private; the kernel maps setup_data and EFI data encrypted (torvalds/linux
  arch/x86/mm/ioremap.c@v6.12 ``memremap_should_map_decrypted``: ``memremap_is_setup_data`` /
  ``memremap_is_efi_data`` -> not decrypted; E820 reserved/ACPI/NVS are "encrypted for SEV"),
  boot_params and the command line too (arch/x86/mm/mem_encrypt_amd.c@v6.12 ``sme_map_bootdata``
  returns early for a guest); the SNP secrets and CPUID pages are private pages the firmware
  validated at launch (the OVMF SEV metadata's SNP_SECRETS / CPUID sections) and the kernel maps
  them encrypted (arch/x86/coco/sev/core.c ``snp_init`` / ``setup_cpuid_table`` through the
  identity map). Before a kexec, an SNP kernel (v6.11+) converts its shared pages back to
  private (``snp_kexec_finish``); what it does not is read as ciphertext by the next kernel.
* SME host: ``sme_map_bootdata`` maps boot_params and the command line *decrypted* (the boot
  loader wrote them before encryption was on); setup_data and EFI data are mapped encrypted by
  ``memremap_should_map_decrypted``; firmware memory that E820 marks reserved/ACPI/NVS is mapped
  decrypted; the initrd is encrypted in place by ``sme_encrypt_kernel``
  (arch/x86/mm/mem_encrypt_identity.c). What a given firmware did with SME on is not in the dump:
  the EFI tables are given as "encrypted (per memremap_is_efi_data; firmware-dependent)".
* TDX guest: TDVF accepts all memory private; everything listed is private (not shared).

Where a rule is not established it is said so (``rule`` ends in "unsure"), never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from efitables.analysis.registry import check
from efitables.findings import Finding, Severity, make, register
from efitables.memory.vmcoreinfo import vmcoreinfo_int
from efitables.model import Parsed, TableView
from efitables.schemas.coco import (
    MAX_ENC_BIT,
    MSR_AMD64_SEV_BITS,
    MSR_AMD64_SEV_ENABLED,
    MSR_AMD64_SEV_ES_ENABLED,
    MSR_AMD64_SEV_SNP_ENABLED,
)
from efitables.text import hexa

if TYPE_CHECKING:
    from efitables.dump import Dump

MASK_ODD = register(
    "ENC-MASK",
    Severity.WARNING,
    "The kernel's encryption mask is not a single address bit",
    "sme_me_mask (or TDX's cc_mask) must be one bit below bit 52; another value cannot be a C-bit or shared bit.",
)
CBIT_DISAGREE = register(
    "ENC-CBIT-DISAGREE",
    Severity.WARNING,
    "The sources of the C-bit disagree (kernel sme_me_mask, VMCOREINFO sme_mask, SNP CPUID 0x8000001F)",
)
STATUS_ODD = register(
    "ENC-SEV-STATUS",
    Severity.WARNING,
    "sev_status has SEV-ES or SNP set without the bits below it, or SEV on with no sme_me_mask",
)


@dataclass(frozen=True)
class EarlyObject:
    """One object the next kernel reads early, and how it reads it."""

    name: str
    address: int | None
    access: str  # "encrypted", "shared", "plain" (no encryption) or "unsure"
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "access": self.access, "rule": self.rule}


@dataclass(kw_only=True)
class EncryptionReport(Parsed):
    """The dump's memory-encryption state and what it implies for the next kernel's reads."""

    kind: ClassVar[str] = "memory_encryption"
    _repr_fields = ("mode", "c_bit", "shared_bit")

    mode: str  # "none", "SME", "SEV", "SEV-ES", "SEV-SNP", "TDX" or "unknown"
    source: str = ""
    sev_status: int | None = None
    sev_features: list[str] = field(default_factory=list)
    sme_me_mask: int | None = None
    cc_mask: int | None = None
    vmcoreinfo_sme_mask: int | None = None
    cpuid_c_bit: int | None = None
    #: The AMD C-bit position (set: private), or None.
    c_bit: int | None = None
    #: The TDX shared-bit position (set: shared), or None.
    shared_bit: int | None = None
    objects: list[EarlyObject] = field(default_factory=list)

    @property
    def encrypted(self) -> bool:
        return self.mode not in ("none", "unknown")

    @property
    def strip_mask(self) -> int:
        """Address bits a page-table walk must clear from every entry."""
        out = 0
        for b in (self.c_bit, self.shared_bit):
            if b is not None:
                out |= 1 << b
        return out

    @property
    def title(self) -> str:
        if self.mode == "unknown":
            return f"memory encryption: unknown ({self.source})"
        bit = ""
        if self.c_bit is not None:
            bit = f", C-bit {self.c_bit}"
        elif self.shared_bit is not None:
            bit = f", shared bit {self.shared_bit}"
        return f"memory encryption: {self.mode}{bit}"

    def table_views(self) -> list[TableView]:
        rows: list[tuple[str, ...]] = [(o.name, hexa(o.address), o.access, o.rule) for o in self.objects]
        return [TableView("how the next kernel reads its early objects", ("object", "address", "read", "rule"), rows)]

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        d = super().to_dict(raw)
        d["objects"] = [o.to_dict() for o in self.objects]
        return d


def _single_bit(mask: int | None) -> int | None:
    if not mask or mask & (mask - 1):
        return None
    b = mask.bit_length() - 1
    return b if b <= MAX_ENC_BIT else None


def mode_of(sev_status: int | None, sme_me_mask: int | None, cc_mask: int | None) -> str:
    """The mode the kernel's variables say (see the module docstring)."""
    s = sev_status or 0
    if s & MSR_AMD64_SEV_SNP_ENABLED:
        return "SEV-SNP"
    if s & MSR_AMD64_SEV_ES_ENABLED:
        return "SEV-ES"
    if s & MSR_AMD64_SEV_ENABLED:
        return "SEV"
    if sme_me_mask:
        return "SME"
    if cc_mask:
        return "TDX"
    return "none"


_GUEST_RULE = "private: firmware wrote it with the C-bit set; ioremap.c memremap_should_map_decrypted maps it encrypted"
_RULES: dict[str, dict[str, tuple[str, str]]] = {
    "SME": {
        "EFI system table": ("encrypted", "memremap_is_efi_data: mapped encrypted (firmware-dependent: unsure)"),
        "EFI configuration table array": (
            "encrypted",
            "memremap_is_efi_data: mapped encrypted (firmware-dependent: unsure)",
        ),
        "boot_params": ("shared", "mem_encrypt_amd.c sme_map_bootdata: mapped decrypted"),
        "setup_data": ("encrypted", "ioremap.c memremap_is_setup_data: mapped encrypted"),
        "initrd": ("encrypted", "mem_encrypt_identity.c sme_encrypt_kernel encrypts it in place"),
    },
}


def _objects(d: Dump, mode: str) -> list[EarlyObject]:
    items: list[tuple[str, int | None]] = []
    st = d.systab
    if st is not None:
        items.append(("EFI system table", st.address))
        arr = st.config_table_array
        if arr is not None:
            items.append(("EFI configuration table array", arr.address))
    bp = d.boot_params
    if bp is not None:
        items.append(("boot_params", bp.address))
        if bp.ramdisk_image:
            items.append(("initrd", bp.ramdisk_image))
    if d.setup_data is not None:
        for n in d.setup_data.nodes:
            items.append(("setup_data", n.address))
    blob = d.cc_blob.blob if d.cc_blob.present else None
    if blob is not None:
        items.append(("CC blob", blob.address))
        if blob.secrets_phys:
            items.append(("SNP secrets page", blob.secrets_phys))
        if blob.cpuid_phys:
            items.append(("SNP CPUID page", blob.cpuid_phys))
    out = []
    for name, pa in items:
        if mode == "none":
            access, rule = "plain", "no memory encryption"
        elif mode in ("SEV", "SEV-ES", "SEV-SNP"):
            access, rule = "encrypted", _GUEST_RULE
            if name in ("SNP secrets page", "SNP CPUID page"):
                rule = "private page validated at launch (OVMF SEV metadata SNP_SECRETS / CPUID section)"
        elif mode == "TDX":
            access, rule = "encrypted", "private: TDVF accepts guest memory private; the shared bit is clear"
        elif mode == "SME":
            access, rule = _RULES["SME"].get(name, ("unsure", "no rule established for this object under SME: unsure"))
        else:
            access, rule = "unsure", "the encryption state is unknown"
        out.append(EarlyObject(name, pa, access, rule))
    return out


def encryption_of(d: Dump) -> EncryptionReport:
    """The encryption report of ``d`` (see the module docstring); never raises on dump data."""
    kv = d.kernel
    sev = kv.sev if kv.available else None
    vmci = vmcoreinfo_int(d.memory.vmcoreinfo or {}, "NUMBER(sme_mask)")
    table = d.snp_cpuid if d.cc_blob.present else None
    cpuid_bit = table.c_bit if table is not None else None
    findings: list[Finding] = []
    if sev is not None:
        status, sme, cc = sev.sev_status, sev.sme_me_mask, sev.cc_mask
        source = "the kernel's sev_status, sme_me_mask and cc_mask (kallsyms)"
        mode = mode_of(status, sme, cc)
    elif vmci is not None:
        status, sme, cc = None, vmci, None
        source = "VMCOREINFO NUMBER(sme_mask) (no kernel view: SME/SEV not told apart)"
        mode = "SEV or SME" if vmci else "none"
    elif cpuid_bit is not None:
        status, sme, cc = None, 1 << cpuid_bit, None
        source = "the SNP CPUID table of the CC blob (no kernel view)"
        mode = "SEV-SNP"
    else:
        r = EncryptionReport(address=None, size=0, mode="unknown", source="no kernel view, VMCOREINFO or CC blob")
        return r
    r = EncryptionReport(
        address=sev.address if sev is not None else None,
        size=0,
        mode=mode,
        source=source,
        sev_status=status,
        sev_features=[n for b, n in MSR_AMD64_SEV_BITS.items() if (status or 0) >> b & 1],
        sme_me_mask=sme,
        cc_mask=cc,
        vmcoreinfo_sme_mask=vmci,
        cpuid_c_bit=cpuid_bit,
    )
    where = "kernel memory encryption"
    if mode == "TDX":
        r.shared_bit = _single_bit(cc)
        if r.shared_bit is None:
            findings.append(make(MASK_ODD, where, r.address, f"cc_mask {hexa(cc)}"))
    elif sme:
        r.c_bit = _single_bit(sme)
        if r.c_bit is None:
            findings.append(make(MASK_ODD, where, r.address, f"sme_me_mask {sme:#x}"))
        if cc and cc != sme:
            findings.append(make(CBIT_DISAGREE, where, r.address, f"cc_mask {cc:#x} != sme_me_mask {sme:#x}"))
    s = status or 0
    if (s & MSR_AMD64_SEV_SNP_ENABLED and not s & MSR_AMD64_SEV_ES_ENABLED) or (
        s & MSR_AMD64_SEV_ES_ENABLED and not s & MSR_AMD64_SEV_ENABLED
    ):
        findings.append(make(STATUS_ODD, where, r.address, f"sev_status {s:#x}"))
    elif s & MSR_AMD64_SEV_ENABLED and not sme:
        findings.append(make(STATUS_ODD, where, r.address, f"sev_status {s:#x} but sme_me_mask 0"))
    sources = {
        "kernel sme_me_mask": _single_bit(sme) if sev is not None else None,
        "VMCOREINFO sme_mask": _single_bit(vmci),
        "SNP CPUID 0x8000001F": cpuid_bit,
    }
    known = {k: v for k, v in sources.items() if v is not None}
    if len(set(known.values())) > 1:
        findings.append(make(CBIT_DISAGREE, where, r.address, ", ".join(f"{k}: bit {v}" for k, v in known.items())))
    if r.c_bit is None and mode != "TDX" and known:
        r.c_bit = next(iter(known.values()))
    r.objects = _objects(d, mode if "or" not in mode else "unknown")
    r.findings = findings
    return r


@check("encryption")
def encryption_check(d: Dump) -> list[Finding]:
    """The encryption state's own findings (masks that are not one bit, sources that disagree)."""
    return list(d.encryption.findings)
