"""VMCOREINFO text: ``KEY=VALUE`` lines the Linux kernel exports for dump tools.

One ``KEY=VALUE`` per line, newline-terminated ASCII, in a page-sized buffer
(``VMCOREINFO_BYTES`` = PAGE_SIZE) that dumps carry as the descriptor of an ELF
note named ``VMCOREINFO`` (type 0). The value's encoding depends on the macro
that wrote the key: ``SYMBOL(name)`` ``%lx`` (hex without ``0x``), ``SIZE(...)``,
``OFFSET(...)`` and ``LENGTH(...)`` ``%lu``, ``NUMBER(name)`` ``%ld`` (signed
decimal), ``PAGESIZE`` ``%ld``; x86-64 adds ``KERNELOFFSET`` as ``%lx``, and a
few keys print hex with a ``0x`` prefix (``NUMBER(VMALLOC_START)``).
``__START_KERNEL_map`` is where the x86-64 kernel image is mapped.

Sources: torvalds/linux include/linux/vmcore_info.h@v6.12.117 (``VMCOREINFO_*``
macros, ``VMCOREINFO_BYTES``, ``VMCOREINFO_NOTE_NAME``), kernel/vmcore_info.c@v6.12.117
(``crash_save_vmcoreinfo_init``, ``vmcoreinfo_append_str``),
arch/x86/kernel/vmcore_info_64.c@v6.12.117 (``arch_crash_save_vmcoreinfo``:
``NUMBER(phys_base)``, ``SYMBOL(init_top_pgt)``, ``KERNELOFFSET``) and
arch/x86/include/asm/page_64_types.h@v6.12.117 (``__START_KERNEL_map``). In
v6.1 the same code is in kernel/crash_core.c and arch/x86/kernel/crash_core_64.c.
"""

from __future__ import annotations

#: A VMCOREINFO page is PAGE_SIZE in the kernel; anything longer is not one.
MAX_VMCOREINFO = 64 * 1024

KERNEL_MAP_BASE = 0xFFFFFFFF80000000  # __START_KERNEL_map


def parse_vmcoreinfo(data: bytes) -> dict[str, str]:
    """Parse the text into an ordered dict; non-ASCII bytes are escaped, bad lines skipped."""
    text = data[:MAX_VMCOREINFO].split(b"\0", 1)[0].decode("ascii", "backslashreplace")
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key:
            out[key] = value
    return out


def vmcoreinfo_int(info: dict[str, str], key: str) -> int | None:
    """A value as an integer using the encoding of its key family (see the module docstring)."""
    value = info.get(key)
    if value is None:
        return None
    try:
        if key.startswith("SYMBOL(") or key == "KERNELOFFSET":
            return int(value, 16)
        if value.lower().startswith(("0x", "-0x")):
            return int(value, 16)
        return int(value, 10)
    except ValueError:
        return None


def symbol_to_phys(info: dict[str, str], name: str) -> int | None:
    """Physical address of a kernel-image symbol: ``virt - __START_KERNEL_map + phys_base``."""
    virt = vmcoreinfo_int(info, f"SYMBOL({name})")
    phys_base = vmcoreinfo_int(info, "NUMBER(phys_base)")
    if virt is None or phys_base is None or virt < KERNEL_MAP_BASE:
        return None
    return (virt - KERNEL_MAP_BASE + phys_base) & 0xFFFFFFFFFFFFFFFF
