"""Confidential-computing state bits: ``MSR_AMD64_SEV`` (the kernel's ``sev_status``) and the C-bit / shared bit.

Sources: torvalds/linux arch/x86/include/asm/msr-index.h@v6.12 (``MSR_AMD64_SEV_ENABLED_BIT`` 0,
``MSR_AMD64_SEV_ES_ENABLED_BIT`` 1, ``MSR_AMD64_SEV_SNP_ENABLED_BIT`` 2, and the SNP feature bits
``MSR_AMD64_SNP_VTOM_BIT`` 3 ... ``MSR_AMD64_SNP_SECURE_TSC_BIT`` 11, ``MSR_AMD64_SNP_VMSA_REG_PROT_BIT``
16, ``MSR_AMD64_SNP_SMT_PROT_BIT`` 17); arch/x86/mm/mem_encrypt_identity.c@v6.12 (``sme_me_mask``:
``1 << (CPUID 0x8000001F EBX[5:0])`` when SME or SEV is active); arch/x86/coco/core.c@v6.12
(``cc_mask``: ``cc_set_mask(sme_me_mask)`` on AMD; on TDX ``cc_set_mask(BIT_ULL(gpa_width - 1))``,
the shared bit, in arch/x86/coco/tdx/tdx.c@v6.12 ``tdx_early_init``).
"""

from __future__ import annotations

MSR_AMD64_SEV_ENABLED = 1 << 0
MSR_AMD64_SEV_ES_ENABLED = 1 << 1
MSR_AMD64_SEV_SNP_ENABLED = 1 << 2

#: ``sev_status`` bit -> name (msr-index.h).
MSR_AMD64_SEV_BITS: dict[int, str] = {
    0: "SEV_ENABLED",
    1: "SEV_ES_ENABLED",
    2: "SNP_ENABLED",
    3: "SNP_VTOM",
    4: "SNP_REFLECT_VC",
    5: "SNP_RESTRICTED_INJ",
    6: "SNP_ALT_INJ",
    7: "SNP_DEBUG_SWAP",
    8: "SNP_PREVENT_HOST_IBS",
    9: "SNP_BTB_ISOLATION",
    10: "SNP_VMPL_SSS",
    11: "SNP_SECURE_TSC",
    16: "SNP_VMSA_REG_PROT",
    17: "SNP_SMT_PROT",
}
#: Highest address bit a C-bit or shared bit can be (52-bit physical addresses).
MAX_ENC_BIT = 51
