"""The SEV-ES / SEV-SNP VM save area (VMSA): ``struct sev_es_save_area`` and ``struct vmcb_seg``.

Source: torvalds/linux arch/x86/include/asm/svm.h@01f492e1817e858d1712f2489d0afbaa552f417b
(mainline; ``EXPECTED_SEV_ES_SAVE_AREA_SIZE`` 1648 and the ``BUILD_BUG_RESERVED_OFFSET`` checks
of ``reserved_0xc8``, ``_0xcc``, ``_0xd8``, ``_0x1c0``, ``_0x248``, ``_0x298``, ``_0x300``,
``_0x320``, ``_0x380``, ``_0x3f0`` are asserted below), and the ``SVM_SEV_FEAT_*`` bits of the
same header (``SNP_ACTIVE`` bit 0, ``RESTRICTED_INJECTION`` 3, ``ALTERNATE_INJECTION`` 4,
``DEBUG_SWAP`` 5, ``SECURE_TSC`` 9). The guest's own per-CPU pointers to its VMSA pages are
``static DEFINE_PER_CPU(struct sev_es_save_area *, sev_vmsa);`` (arch/x86/coco/sev/core.c; before
v6.10 arch/x86/kernel/sev.c). A VMSA page is one 4 KiB page (``snp_alloc_vmsa_page``).
Little-endian, packed.
"""

from __future__ import annotations

import construct as cs

from efitables.schemas.common import field_offset

VMSA_PAGE_SIZE = 4096

VMCB_SEG = cs.Struct(
    "selector" / cs.Int16ul,
    "attrib" / cs.Int16ul,
    "limit" / cs.Int32ul,
    "base" / cs.Int64ul,
)
assert VMCB_SEG.sizeof() == 16

_SEGMENTS = ("es", "cs", "ss", "ds", "fs", "gs", "gdtr", "ldtr", "idtr", "tr")
_U64 = cs.Int64ul

SEV_ES_SAVE_AREA = cs.Struct(
    *[name / VMCB_SEG for name in _SEGMENTS],
    "pl0_ssp" / _U64,
    "pl1_ssp" / _U64,
    "pl2_ssp" / _U64,
    "pl3_ssp" / _U64,
    "u_cet" / _U64,
    "reserved_0xc8" / cs.Bytes(2),
    "vmpl" / cs.Int8ul,
    "cpl" / cs.Int8ul,
    "reserved_0xcc" / cs.Bytes(4),
    "efer" / _U64,
    "reserved_0xd8" / cs.Bytes(104),
    "xss" / _U64,
    "cr4" / _U64,
    "cr3" / _U64,
    "cr0" / _U64,
    "dr7" / _U64,
    "dr6" / _U64,
    "rflags" / _U64,
    "rip" / _U64,
    "dr0" / _U64,
    "dr1" / _U64,
    "dr2" / _U64,
    "dr3" / _U64,
    "dr0_addr_mask" / _U64,
    "dr1_addr_mask" / _U64,
    "dr2_addr_mask" / _U64,
    "dr3_addr_mask" / _U64,
    "reserved_0x1c0" / cs.Bytes(24),
    "rsp" / _U64,
    "s_cet" / _U64,
    "ssp" / _U64,
    "isst_addr" / _U64,
    "rax" / _U64,
    "star" / _U64,
    "lstar" / _U64,
    "cstar" / _U64,
    "sfmask" / _U64,
    "kernel_gs_base" / _U64,
    "sysenter_cs" / _U64,
    "sysenter_esp" / _U64,
    "sysenter_eip" / _U64,
    "cr2" / _U64,
    "reserved_0x248" / cs.Bytes(32),
    "g_pat" / _U64,
    "dbgctl" / _U64,
    "br_from" / _U64,
    "br_to" / _U64,
    "last_excp_from" / _U64,
    "last_excp_to" / _U64,
    "reserved_0x298" / cs.Bytes(80),
    "pkru" / cs.Int32ul,
    "tsc_aux" / cs.Int32ul,
    "tsc_scale" / _U64,
    "tsc_offset" / _U64,
    "reserved_0x300" / cs.Bytes(8),
    "rcx" / _U64,
    "rdx" / _U64,
    "rbx" / _U64,
    "reserved_0x320" / _U64,
    "rbp" / _U64,
    "rsi" / _U64,
    "rdi" / _U64,
    "r8" / _U64,
    "r9" / _U64,
    "r10" / _U64,
    "r11" / _U64,
    "r12" / _U64,
    "r13" / _U64,
    "r14" / _U64,
    "r15" / _U64,
    "reserved_0x380" / cs.Bytes(16),
    "guest_exit_info_1" / _U64,
    "guest_exit_info_2" / _U64,
    "guest_exit_int_info" / _U64,
    "guest_nrip" / _U64,
    "sev_features" / _U64,
    "vintr_ctrl" / _U64,
    "guest_exit_code" / _U64,
    "virtual_tom" / _U64,
    "tlb_id" / _U64,
    "pcpu_id" / _U64,
    "event_inj" / _U64,
    "xcr0" / _U64,
    "reserved_0x3f0" / cs.Bytes(16),
    "x87_dp" / _U64,
    "mxcsr" / cs.Int32ul,
    "x87_ftw" / cs.Int16ul,
    "x87_fsw" / cs.Int16ul,
    "x87_fcw" / cs.Int16ul,
    "x87_fop" / cs.Int16ul,
    "x87_ds" / cs.Int16ul,
    "x87_cs" / cs.Int16ul,
    "x87_rip" / _U64,
    "fpreg_x87" / cs.Bytes(80),
    "fpreg_xmm" / cs.Bytes(256),
    "fpreg_ymm" / cs.Bytes(256),
)
#: EXPECTED_SEV_ES_SAVE_AREA_SIZE
SEV_ES_SAVE_AREA_SIZE = 1648
assert SEV_ES_SAVE_AREA.sizeof() == SEV_ES_SAVE_AREA_SIZE
for _off in (0xC8, 0xCC, 0xD8, 0x1C0, 0x248, 0x298, 0x300, 0x320, 0x380, 0x3F0):
    assert field_offset(SEV_ES_SAVE_AREA, f"reserved_{_off:#x}") == _off, _off

#: The identifying fields a report shows (the rest stay in ``fields``).
VMSA_SUMMARY_FIELDS = (
    "vmpl",
    "cpl",
    "efer",
    "cr0",
    "cr3",
    "cr4",
    "rflags",
    "rip",
    "rsp",
    "sev_features",
    "xcr0",
    "tsc_scale",
    "tsc_offset",
)

SVM_SEV_FEAT_SNP_ACTIVE = 1 << 0
SVM_SEV_FEATURES = {
    0: "SNP_ACTIVE",
    3: "RESTRICTED_INJECTION",
    4: "ALTERNATE_INJECTION",
    5: "DEBUG_SWAP",
    9: "SECURE_TSC",
}
#: EFER.SVME (AMD APM vol. 2): set in every SEV-ES/SNP guest VMSA.
EFER_SVME = 1 << 12
