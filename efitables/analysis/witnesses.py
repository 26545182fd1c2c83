"""Three witnesses, one answer: the firmware's copy, the kernel's copy and the kernel's log, compared.

For each object the next kernel (and a forensic reader) cares about, three sources
may say where it is or what it holds:

* the **firmware's copy**: what the area parsers found in the dump (the EFI system
  table and its configuration table array, the EFI memory map named by
  ``efi_info``, the zero page, its command line and E820 table, the CC blob);
* the **kernel's copy**: what the running kernel kept in RAM
  (:attr:`efitables.dump.Dump.kernel`, :mod:`efitables.kernel.copies`);
* the **kernel's log**: what it printed while booting (:attr:`efitables.dump.Dump.kernel_log`):
  the ``efi:`` configuration-table line (drivers/firmware/efi/efi.c@v6.1.192
  ``efi_config_parse_tables``, parsed by :mod:`efitables.analysis.kernel_log`), the
  ``Command line:`` line (arch/x86/kernel/setup.c@v6.1.192 ``setup_arch``) and the
  ``BIOS-e820:`` lines (arch/x86/kernel/e820.c@v6.1.192 ``e820__print_table``).

Each comparison is a :class:`WitnessRow` (object, firmware, kernel, log, verdict);
two present witnesses that differ are ``WITNESS-DISAGREE`` (naming both addresses).

**Memory the container could not hold.** kdump vmcores, makedumpfile's output,
LiME and AVML captures hold System RAM only: firmware-reserved memory is not in
them, so a system table or memory map there is absent by construction, not
missing. :class:`CaptureScope` decides it from the container and the kernel's own
``e820_table``: an E820 type of which the dump holds no byte (reserved, ACPI, NVS)
was not captured, and an absent address in such a range is *uncapturable*. Then
one ``DUMP-SYSTEM-RAM-ONLY`` finding says so, the findings that would call those
structures missing (``EFI-SYSTAB-UNREADABLE``, ``DUMP-READ``, ``BOOT-XC-NOT-IN-DUMP``,
...) are withdrawn for those addresses (:func:`defer_uncapturable`), and the
witnesses answer from the kernel's copies.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from efitables.analysis.registry import check
from efitables.findings import Finding, Severity, make, register
from efitables.kernel.copies import KernelView
from efitables.model import Parsed, TableView
from efitables.schemas.boot_params import E820_TYPE_RAM, E820_TYPE_RESERVED_KERN, e820_type_name
from efitables.text import hexa, printable

if TYPE_CHECKING:
    from efitables.analysis import Report
    from efitables.dump import Dump
    from efitables.memory.base import PhysicalMemory

AGREE = "agree"
DISAGREE = "disagree"
ONE = "one witness"
STRUCTURE = "witnesses"

DISAGREES = register(
    "WITNESS-DISAGREE",
    Severity.WARNING,
    "The firmware's copy, the kernel's copy and the kernel's log disagree about an object",
    "Two of the three witnesses name another address or hold another value for the same object: a table "
    "moved or was replaced after boot, a copy was changed, or one of them is forged.",
)
RAM_ONLY = register(
    "DUMP-SYSTEM-RAM-ONLY",
    Severity.INFO,
    "The dump holds System RAM only: firmware-reserved memory is not capturable",
    "A kdump/LiME/AVML-style capture copies the memory the kernel manages and leaves out firmware-reserved "
    "ranges (E820 reserved, ACPI, NVS). Firmware structures there (the EFI system table, the configuration "
    "table array, the memory map the stub left in ACPI memory) are absent by construction; efitables answers "
    "from the kernel's own copies, and the findings that would call them missing are withdrawn.",
)

FILTERED_REF = register(
    "DUMP-FILTERED-REFERENCE",
    Severity.INFO,
    "A structure lies in System RAM the capture tool left out",
    "makedumpfile writes only the pages its dump level keeps (and drops pages a PT_LOAD boundary splits, "
    "even at -d 0); a pointer into such a page cannot be followed or checked, which is not a defect of the "
    "pointer. The findings that would call it dangling or missing are replaced by this one.",
)
#: Codes withdrawn (replaced by DUMP-FILTERED-REFERENCE) when their address is RAM the container filtered out.
FILTERED_CODES = frozenset({"SETUP-DATA-DANGLING", "DUMP-READ", "BOOT-XC-NOT-IN-DUMP"})
#: Container findings that say the capture left pages out on purpose.
FILTERING_CODES = frozenset({"KDUMP-FILTERED"})

#: Codes that say "this structure's bytes are not in the dump": withdrawn for uncapturable addresses.
ABSENCE_CODES = frozenset(
    {
        "DUMP-READ",
        "EFI-SYSTAB-UNREADABLE",
        "EFI-SYSTAB-NOT-FOUND",
        "EFI-CFGTAB-ARRAY-UNREADABLE",
        "EFI-CFGTAB-NOT-IN-DUMP",
        "EFI-FW-VENDOR-UNREADABLE",
        "EFI-RUNTIME-UNREADABLE",
        "BOOT-XC-NOT-IN-DUMP",
        "BOOT-PARAMS-RSDP",
    }
)
#: E820 types that are memory the kernel manages (captured by every RAM capture).
RAM_TYPES = frozenset({E820_TYPE_RAM, E820_TYPE_RESERVED_KERN})
#: Structures named in the one DUMP-SYSTEM-RAM-ONLY message.
MAX_NAMED = 8

# -- the log's lines ------------------------------------------------------------------------
#: ``BIOS-e820: [mem 0x...-0x...] usable`` (arch/x86/kernel/e820.c ``e820__print_table``, ``e820_print_type``).
_BIOS_E820 = re.compile(r"BIOS-e820: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\] (.+)$")
LOG_E820_TYPES = {
    "usable": 1,
    "reserved": 2,
    "ACPI data": 3,
    "ACPI NVS": 4,
    "unusable": 5,
    "soft reserved": 0xEFFFFFFF,
}
_TYPE_N = re.compile(r"(?:persistent \()?type (\d+)\)?")
_CMDLINE_PREFIX = "Command line: "


@dataclass(frozen=True)
class Witness:
    """What one source says: ``value`` (compared), ``text`` (shown), where that copy lies, and how it was read."""

    value: Any
    text: str
    address: int | None = None
    source: str = ""
    compared: bool = True  # False: shown only (a stale buffer, the same bytes as another witness)

    def to_dict(self) -> dict[str, Any]:
        v = self.value
        flat = isinstance(v, tuple) and len(v) <= 3 and all(isinstance(x, int) for x in v)
        value = v if isinstance(v, int | str) else (list(v) if flat else None)
        return {
            "value": value,
            "text": self.text,
            "address": self.address,
            "source": self.source,
            "compared": self.compared,
        }


@dataclass
class WitnessRow:
    object: str
    firmware: Witness | None = None
    kernel: Witness | None = None
    log: Witness | None = None
    verdict: str = ""
    detail: str = ""

    def witnesses(self) -> list[tuple[str, Witness]]:
        return [
            (n, w)
            for n, w in (("firmware", self.firmware), ("kernel", self.kernel), ("log", self.log))
            if w is not None
        ]

    def judge(self) -> None:
        compared = [(n, w) for n, w in self.witnesses() if w.compared]
        if len(compared) < 2:
            self.verdict = ONE
            return
        first = compared[0][1].value
        self.verdict = AGREE if all(w.value == first for _n, w in compared[1:]) else DISAGREE

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "firmware": self.firmware.to_dict() if self.firmware else None,
            "kernel": self.kernel.to_dict() if self.kernel else None,
            "log": self.log.to_dict() if self.log else None,
            "verdict": self.verdict,
            "detail": self.detail,
        }


@dataclass
class CaptureScope:
    """Which firmware memory the container could hold (see the module docstring)."""

    e820_source: str = ""
    #: E820 types of non-RAM memory the dump holds no byte of.
    uncaptured_types: frozenset[int] = frozenset()
    #: Non-RAM ranges of those types: (start, end, type).
    ranges: list[tuple[int, int, int]] = field(default_factory=list)
    #: True: the dump holds no non-RAM memory at all (a System-RAM-only capture).
    ram_only: bool = False

    def uncapturable(self, mem: PhysicalMemory, pa: int | None, size: int = 1) -> bool:
        """``pa`` is absent from the dump and lies in memory of a type the container never holds."""
        if pa is None or not self.ranges or mem.is_readable(pa, max(size, 1)):
            return False
        return any(s <= pa < e for s, e, _t in self.ranges)

    def describe(self) -> str:
        short = {v: k for k, v in LOG_E820_TYPES.items()}
        names = ", ".join(f"{short.get(t) or e820_type_name(t)} ({t})" for t in sorted(self.uncaptured_types))
        if self.ram_only:
            return f"this dump holds System RAM only (no byte of E820 {names} memory, per {self.e820_source})"
        return f"this dump holds no E820 {names} memory (per {self.e820_source})"


@dataclass(kw_only=True)
class Witnesses(Parsed):
    """Every comparison of one dump, and the capture scope it was judged under."""

    kind: ClassVar[str] = "witnesses"

    rows: list[WitnessRow] = field(default_factory=list)
    scope: CaptureScope = field(default_factory=CaptureScope)
    log_available: bool = False

    @property
    def title(self) -> str:
        bad = sum(1 for r in self.rows if r.verdict == DISAGREE)
        return f"three witnesses: {len(self.rows)} objects, {bad} disagreeing"

    def row(self, name: str) -> WitnessRow | None:
        return next((r for r in self.rows if r.object == name), None)

    def facts(self) -> list[tuple[str, str]]:
        return [
            ("objects", str(len(self.rows))),
            ("disagreeing", str(sum(1 for r in self.rows if r.verdict == DISAGREE))),
            ("capture", self.scope.describe() if self.scope.uncaptured_types else "firmware memory held"),
            ("kernel log", "read" if self.log_available else "not available"),
        ]

    def table_views(self) -> list[TableView]:
        def cell(w: Witness | None) -> str:
            if w is None:
                return "-"
            at = f" @ {w.address:#x}" if w.address is not None and hexa(w.address) not in w.text else ""
            mark = "" if w.compared else " (not compared)"
            return printable(w.text) + at + mark

        rows: list[tuple[str, ...]] = [
            (r.object, cell(r.firmware), cell(r.kernel), cell(r.log), r.verdict, printable(r.detail)) for r in self.rows
        ]
        return [TableView("witnesses", ("object", "firmware", "kernel", "log", "verdict", "detail"), rows)]

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": [r.to_dict() for r in self.rows],
            "scope": {
                "e820_source": self.scope.e820_source,
                "uncaptured_types": sorted(self.scope.uncaptured_types),
                "ram_only": self.scope.ram_only,
            },
            "log_available": self.log_available,
            "findings": [f.to_dict() for f in self.findings],
        }


# -- the capture scope ---------------------------------------------------------------------
def _e820_for_scope(d: Dump) -> tuple[list[tuple[int, int, int]], str]:
    kv = d.kernel
    for name in ("e820_table", "e820_table_firmware"):
        t = kv.e820.get(name) if kv.available else None
        if t is not None and t.table is not None and t.table.entries:
            return [(e.addr, e.end, e.type) for e in t.table.entries if e.length], f"the kernel's {name}"
    fw = d.e820
    if fw is not None and fw.entries:
        return [(e.addr, e.end, e.type) for e in fw.entries if e.length], "the boot_params E820 table"
    return [], ""


def capture_scope(d: Dump) -> CaptureScope:
    """Which E820 types of non-RAM memory the dump holds none of (see :class:`CaptureScope`)."""
    entries, source = _e820_for_scope(d)
    scope = CaptureScope(e820_source=source)
    if not entries:
        return scope
    mem = d.memory
    ram_end = max((e for s, e, t in entries if t in RAM_TYPES), default=0)
    held: dict[int, bool] = {}  # non-RAM type below the last RAM -> the dump holds some byte of it
    for s, e, t in entries:
        if t in RAM_TYPES or s >= ram_end:  # MMIO above the last RAM is in no dump; it decides nothing
            continue
        # nothing held of [s, e) exactly when its first gap is all of it (one bisection per entry)
        held[t] = held.get(t, False) or mem.first_gap(s, e - s) != (s, e)
    scope.uncaptured_types = frozenset(t for t, h in held.items() if not h)
    scope.ram_only = bool(held) and not any(held.values())
    scope.ranges = [(s, e, t) for s, e, t in entries if t in scope.uncaptured_types]
    return scope


# -- witnesses of each object ------------------------------------------------------------------
def _addr(pa: int | None, source: str, where: int | None = None, compared: bool = True) -> Witness | None:
    if pa is None:
        return None
    return Witness(pa, hexa(pa), where, source, compared)


def _log_lines(d: Dump) -> tuple[list[str], bool]:
    log = d.kernel_log  # a capture without a VMCOREINFO note: through the kernel's own VMCOREINFO page
    if not log.available:
        return [], False
    return [r.text for r in log.records], True


def _log_efi_tables(lines: list[str]) -> dict[str, tuple[str, int]]:
    """GUID -> (logged name, address) from the first ``efi:`` table line (the clean hook: empty without it)."""
    try:
        from efitables.analysis.kernel_log import parse_efi_tables_line
    except ImportError:  # pragma: no cover (the kernel-log module is another area's)
        return {}
    for text in lines:
        parsed = parse_efi_tables_line(text)
        if parsed is not None:
            return {t.guid: (t.name, t.logged) for t in parsed if t.guid is not None}
    return {}


def _log_e820(lines: list[str]) -> list[tuple[int, int, int]]:
    out = []
    for text in lines:
        m = _BIOS_E820.match(text)
        if m is None:
            continue
        word = m.group(3).strip()
        t = LOG_E820_TYPES.get(word)
        if t is None:
            n = _TYPE_N.fullmatch(word)
            t = int(n.group(1)) if n else -1
        out.append((int(m.group(1), 16), int(m.group(2), 16) + 1, t))
    return out


def _log_cmdline(lines: list[str]) -> str | None:
    return next((t[len(_CMDLINE_PREFIX) :] for t in lines if t.startswith(_CMDLINE_PREFIX)), None)


def _e820_text(entries: list[tuple[int, int, int]]) -> str:
    return f"{len(entries)} entries"


#: Entries normalised at most (a boot_params table holds 128, SETUP_E820_EXT adds more; capped upstream).
MAX_NORM_E820 = 4096


def _norm_e820(entries: list[tuple[int, int, int]]) -> tuple[tuple[int, int, int], ...]:
    """The table as the kernel's sanitiser leaves it, with RESERVED_KERN shown as RAM (the log prints both as
    "usable").

    ``e820__update_table`` (arch/x86/kernel/e820.c@v6.1.192) sorts the change points, gives every stretch the
    largest type of the entries covering it, drops empty entries and merges neighbours of one type; a zero page
    whose entries overlap or touch (a PVH boot appends the ISA range over the map's own 0xf0000 entry) says the
    same as the kernel's shorter table.
    """
    points: dict[int, list[tuple[int, int]]] = {}
    for i, (s, e, t) in enumerate(entries[:MAX_NORM_E820]):
        if e <= s:
            continue
        t = E820_TYPE_RAM if t == E820_TYPE_RESERVED_KERN else t
        points.setdefault(s, []).append((1, i))
        points.setdefault(e, []).append((-1, i))
    active: dict[int, int] = {}
    out: list[list[int]] = []
    prev: int | None = None
    for x in sorted(points):
        cur = max(active.values()) if active else None
        if prev is not None and cur is not None and x > prev:
            if out and out[-1][1] == prev and out[-1][2] == cur:
                out[-1][1] = x
            else:
                out.append([prev, x, cur])
        for delta, i in points[x]:
            if delta < 0:
                active.pop(i, None)
            else:
                t = entries[i][2]
                active[i] = E820_TYPE_RAM if t == E820_TYPE_RESERVED_KERN else t
        prev = x
    return tuple((s, e, t) for s, e, t in out)


def _firmware_zero_page(d: Dump, kv: KernelView) -> Any:
    """The zero page the dump's own discovery chose, unless it is the kernel's copy itself."""
    bp = d.boot_params
    if bp is None:
        return None
    if kv.boot_params is not None and bp.address == kv.boot_params.address:
        return None
    return bp


def _systab_rows(d: Dump, kv: KernelView, rows: list[WitnessRow], scope: CaptureScope) -> None:
    disc = d.systab_discovery
    st = d.systab
    fw: Witness | None = None
    if st is not None:
        fw = _addr(st.address, f"found by {st.found_by}", st.address)
    elif disc.address is not None:
        why = "not capturable" if scope.uncapturable(d.memory, disc.address) else "not in the dump"
        fw = Witness(disc.address, f"{disc.address:#x} ({why})", disc.address, f"found by {disc.route}", False)
    kern = _addr(kv.systab, "kernel boot_params.efi_info", kv.boot_params.address if kv.boot_params else None)
    if fw is not None or kern is not None:
        detail = fw.text.split("(", 1)[-1].rstrip(")") if fw is not None and not fw.compared else ""
        rows.append(WitnessRow("EFI system table", fw, kern, None, detail=detail))
    arr_fw = None
    if st is not None and st.config_table_address is not None:
        ptr = st.config_table_ptr
        arr_fw = _addr(
            st.config_table_address,
            f"system table ConfigurationTable ({ptr.route})",
            st.address,
            compared=ptr.route != "kallsyms",
        )
        km = kv.efi.memmap if kv.efi is not None else None
        if ptr.route == "kallsyms" and km is not None and km.descriptors is not None:
            # the firmware's own (virtual) pointer, through the runtime map's VirtualStart: independent of
            # the kernel's efi_config_table
            hit = km.descriptors.virt_to_phys(ptr.stored)
            if hit is not None:
                arr_fw = _addr(
                    hit[0], "system table ConfigurationTable (virtual, through the kernel's efi.memmap)", st.address
                )
    kv_ct = kv.efi_config_table.value if kv.efi_config_table is not None else None
    arr_k = _addr(
        kv_ct or None,
        "kernel efi_config_table",
        kv.efi_config_table.address if kv.efi_config_table is not None else None,
    )
    if arr_fw is not None or arr_k is not None:
        rows.append(WitnessRow("EFI configuration table array", arr_fw, arr_k, None))


def _config_rows(d: Dump, kv: KernelView, lines: list[str], rows: list[WitnessRow]) -> None:
    from efitables.guids import name_of

    fw: dict[str, tuple[int, int | None]] = {}
    for t in d.config_tables:
        fw.setdefault(t.guid, (t.table_address, t.address))
    kern = kv.config_tables()
    logged = _log_efi_tables(lines)
    order = list(dict.fromkeys([*fw, *kern, *logged]))
    for guid in order:
        name = name_of(guid) or guid
        f = fw.get(guid)
        row = WitnessRow(
            f"configuration table {name}",
            _addr(f[0], "configuration table array", f[1]) if f is not None else None,
            _addr(kern.get(guid), "kernel struct efi"),
            _addr(logged[guid][1], f"'efi:' line ({logged[guid][0]})") if guid in logged else None,
        )
        row.detail = guid
        rows.append(row)


def _memmap_row(d: Dump, kv: KernelView, rows: list[WitnessRow], scope: CaptureScope) -> None:
    mm = d.efi_memmap
    km = kv.efi.memmap if kv.efi is not None else None
    fw = None
    if mm is not None and mm.address is not None:
        n = len(mm.descriptors)
        if n:
            fw = Witness(
                (mm.address, n, mm.descriptor_size),
                f"{n} x {mm.descriptor_size} @ {mm.address:#x}",
                mm.address,
                "boot_params.efi_info",
            )
        else:
            why = "not capturable" if scope.uncapturable(d.memory, mm.address) else "not in the dump"
            fw = Witness(None, f"@ {mm.address:#x} ({why})", mm.address, "boot_params.efi_info", False)
    kern = None
    if km is not None and km.phys_map:
        kern = Witness(
            (km.phys_map, km.nr_map, km.desc_size),
            f"{km.nr_map} x {km.desc_size} @ {km.phys_map:#x}",
            km.phys_map,
            "kernel efi.memmap",
        )
    if fw is None and kern is None:
        return
    row = WitnessRow("EFI memory map", fw, kern, None)
    row.judge()
    if row.verdict == DISAGREE and mm is not None and km is not None and km.descriptors is not None:
        same, parts = _memmap_subset(mm, km.descriptors)
        kd = len(km.descriptors.descriptors)
        if kd and same + parts == kd:
            # After boot the kernel keeps a subset of the firmware's map (arch/x86/platform/efi/quirks.c@v6.1.192
            # efi_free_boot_services keeps the runtime descriptors; efi_arch_mem_reserve splits one to keep a
            # table it needs): every kernel descriptor is a firmware descriptor or a part of one of its type.
            row.verdict = AGREE
            split = f", {parts} a part of one (efi_mem_reserve)" if parts else ""
            row.detail = (
                f"the kernel keeps {kd} of the firmware's {len(mm.descriptors)} descriptors: "
                f"{same} equal to a firmware descriptor{split}"
            )
    elif fw is not None and not fw.compared and kern is not None:
        row.detail = fw.text.split("(", 1)[-1].rstrip(")")
    rows.append(row)


def _memmap_subset(fw: Any, kern: Any) -> tuple[int, int]:
    """(kernel descriptors equal to a firmware one, kernel descriptors inside a firmware one of their type)."""
    exact = {(x.type, x.physical_start, x.number_of_pages) for x in fw.descriptors}
    spans = sorted((x.physical_start, x.physical_end, x.type) for x in fw.descriptors if x.number_of_pages)
    starts = [s for s, _e, _t in spans]
    same = parts = 0
    for x in kern.descriptors:
        if (x.type, x.physical_start, x.number_of_pages) in exact:
            same += 1
            continue
        i = bisect.bisect_right(starts, x.physical_start) - 1
        if i >= 0 and x.physical_end <= spans[i][1] and spans[i][2] == x.type and x.number_of_pages:
            parts += 1
    return same, parts


def _boot_params_rows(d: Dump, kv: KernelView, rows: list[WitnessRow]) -> None:
    kbp = kv.boot_params
    fbp = _firmware_zero_page(d, kv)
    if kbp is None and fbp is None:
        return
    fields: list[tuple[str, Callable[[Any], Any]]] = [
        ("efi_info.efi_systab", lambda b: b.efi_systab),
        ("efi_info.efi_memmap", lambda b: b.efi_memmap),
        ("efi_info.efi_memmap_size", lambda b: b.efi_memmap_size),
        ("efi_info.efi_memdesc_size", lambda b: b.efi_memdesc_size),
        ("cc_blob_address", lambda b: b.cc_blob_address),
        ("hdr.setup_data", lambda b: b.setup_data_ptr),
        ("hdr.cmd_line_ptr", lambda b: b.cmd_line_ptr),
    ]
    if fbp is None:
        # no zero page but the kernel's own copy: one row says where it is
        assert kbp is not None
        detail = "the dump's zero page is the kernel's own copy" if d.boot_params is not None else ""
        rows.append(WitnessRow("boot_params", None, _addr(kbp.address, "kernel boot_params"), None, detail=detail))
        return
    for name, get in fields:
        fw = _addr(get(fbp), f"zero page ({fbp.found_by})", fbp.address)
        kern = _addr(get(kbp), "kernel boot_params", kbp.address) if kbp is not None else None
        rows.append(WitnessRow(f"boot_params.{name}", fw, kern, None))


def _cmdline_row(d: Dump, kv: KernelView, lines: list[str], rows: list[WitnessRow]) -> None:
    bp = d.boot_params
    fw = None
    if bp is not None and bp.command_line is not None:
        cl = bp.command_line
        stale = any(r.reused for r in d.regions.at(bp.cmd_line_ptr)) if bp.cmd_line_ptr else False
        src = f"boot_params.cmd_line_ptr ({bp.found_by})" + (", in memory freed after boot" if stale else "")
        fw = Witness(cl.text, cl.text or "(empty)", cl.address, src, compared=not stale)
    kern = None
    if kv.command_line is not None and kv.command_line.text is not None:
        kern = Witness(kv.command_line.text, kv.command_line.text, kv.command_line.address, "kernel saved_command_line")
    logged = _log_cmdline(lines)
    lw = Witness(logged, logged, None, "'Command line:' line") if logged is not None else None
    if fw is None and kern is None and lw is None:
        return
    rows.append(WitnessRow("command line", fw, kern, lw))


def _e820_row(d: Dump, kv: KernelView, lines: list[str], rows: list[WitnessRow]) -> None:
    fw = None
    t = d.e820
    if t is not None and t.entries:
        ents = [(e.addr, e.end, e.type) for e in t.entries if e.length]
        fw = Witness(_norm_e820(ents), _e820_text(ents), t.address, "boot_params e820_table (+ SETUP_E820_EXT)")
    kern = None
    kf = kv.e820.get("e820_table_firmware") if kv.available else None
    if kf is not None and kf.table is not None:
        ents = [(e.addr, e.end, e.type) for e in kf.table.entries if e.length]
        kern = Witness(_norm_e820(ents), _e820_text(ents), kf.address, "kernel e820_table_firmware")
    logged = _log_e820(lines)
    lw = Witness(_norm_e820(logged), _e820_text(logged), None, "'BIOS-e820:' lines") if logged else None
    if fw is None and kern is None and lw is None:
        return
    rows.append(WitnessRow("E820 table", fw, kern, lw))


def _cc_rows(d: Dump, kv: KernelView, rows: list[WitnessRow]) -> None:
    rep = d.cc_blob
    chosen = rep.kernel if rep.present else None
    fw = (
        _addr(chosen.blob_address, f"CC blob route {chosen.route}")
        if chosen is not None and chosen.blob_address
        else None
    )
    kaddr = kv.boot_params.cc_blob_address if kv.boot_params is not None else 0
    kern = _addr(kaddr or None, "kernel boot_params.cc_blob_address")
    if fw is not None or kern is not None:
        rows.append(WitnessRow("CC blob", fw, kern, None))
    blob = rep.blob_at(chosen.blob_address) if chosen is not None and chosen.blob_address else None
    sfw = (
        _addr(blob.secrets_phys, "CC blob secrets_phys", blob.address)
        if blob is not None and blob.secrets_phys
        else None
    )
    sev = kv.sev
    sk = _addr(sev.secrets_pa, f"kernel {sev.secrets_source}") if sev is not None and sev.secrets_pa else None
    if sfw is not None or sk is not None:
        rows.append(WitnessRow("SNP secrets page", sfw, sk, None))


def witnesses_of(d: Dump) -> Witnesses:
    """Every row for ``d`` (reads only what the Dump parsed)."""
    kv = d.kernel
    scope = capture_scope(d)
    lines, log_ok = _log_lines(d)
    out = Witnesses(address=None, size=0, scope=scope, log_available=log_ok)
    rows = out.rows
    _systab_rows(d, kv, rows, scope)
    _config_rows(d, kv, lines, rows)
    _memmap_row(d, kv, rows, scope)
    _boot_params_rows(d, kv, rows)
    _cmdline_row(d, kv, lines, rows)
    _e820_row(d, kv, lines, rows)
    _cc_rows(d, kv, rows)
    for r in rows:
        if not r.verdict:
            r.judge()
        if r.verdict == DISAGREE:
            out.findings.append(_disagreement(r))
    return out


def _disagreement(r: WitnessRow) -> Finding:
    parts = []
    for name, w in r.witnesses():
        if not w.compared:
            continue
        at = f" @ {w.address:#x}" if w.address is not None else ""
        parts.append(f"{name} copy{at} ({w.source}) says {printable(w.text)}")
    where = next((w.address for _n, w in r.witnesses() if w.address is not None), None)
    return make(DISAGREES, r.object, where, "; ".join(parts))


# -- the check and the deferral ----------------------------------------------------------------
@check("witnesses")
def witnesses_check(d: Dump) -> list[Finding]:
    """WITNESS-DISAGREE: firmware copy, kernel copy and log compared; the kernel view's own findings."""
    out = list(d.kernel.all_findings())
    out.extend(d.witnesses.findings)
    return out


def _uncapturable(d: Dump, f: Finding, scope: CaptureScope) -> bool:
    if f.code not in ABSENCE_CODES:
        return False
    if f.code == "EFI-SYSTAB-NOT-FOUND":
        return scope.uncapturable(d.memory, d.kernel.systab if d.kernel.available else None)
    if f.code == "BOOT-PARAMS-RSDP":  # its address is the field's; the RSDP is what is absent
        bp = d.boot_params
        return bp is not None and "not in the dump" in f.message and scope.uncapturable(d.memory, bp.acpi_rsdp_addr)
    return scope.uncapturable(d.memory, f.address)


def _absent_name(d: Dump, f: Finding) -> str:
    bp = d.boot_params
    if f.code == "BOOT-PARAMS-RSDP" and bp is not None:
        return f"ACPI RSDP @ {bp.acpi_rsdp_addr:#x}"
    if f.code == "EFI-SYSTAB-NOT-FOUND":
        return f"EFI system table @ {d.kernel.systab:#x}" if d.kernel.systab is not None else "EFI system table"
    if "system table" in f.structure.lower().replace("_", " "):
        return f"EFI system table @ {f.address:#x}" if f.address is not None else "EFI system table"
    return f"{f.structure} @ {f.address:#x}" if f.address is not None else f.structure


def _defer_filtered(d: Dump, rep: Report) -> Report:
    """Findings about RAM a filtering capture left out become ``DUMP-FILTERED-REFERENCE`` (info)."""
    if not any(f.code in FILTERING_CODES for f in d.container.findings):
        return rep
    entries, _source = _e820_for_scope(d)
    ram = [(s, e) for s, e, t in entries if t in RAM_TYPES]
    if not ram:
        return rep
    out: list[Finding] = []
    changed = False
    for f in rep.findings:
        pa = f.address
        if (
            f.code in FILTERED_CODES
            and pa is not None
            and not d.memory.is_readable(pa, 1)
            and any(s <= pa < e for s, e in ram)
        ):
            changed = True
            out.append(
                make(
                    FILTERED_REF,
                    f.structure,
                    pa,
                    f"{pa:#x} is System RAM the capture left out (the container reports KDUMP-FILTERED); "
                    f"not followed: {f.code}: {f.message}",
                )
            )
        else:
            out.append(f)
    if changed:
        from efitables.analysis import sort_key

        rep.findings = sorted(dict.fromkeys(out), key=sort_key)
    return rep


def defer_uncapturable(d: Dump, rep: Report) -> Report:
    """``rep`` without the "missing" findings about memory the container could not hold, plus the one
    ``DUMP-SYSTEM-RAM-ONLY`` finding that explains them (unchanged when nothing was withdrawn); findings
    about RAM a filtering capture (makedumpfile) left out become ``DUMP-FILTERED-REFERENCE``."""
    rep = _defer_filtered(d, rep)
    scope = d.witnesses.scope
    if not scope.ranges:
        return rep
    keep: list[Finding] = []
    gone: list[Finding] = []
    for f in rep.findings:
        (gone if _uncapturable(d, f, scope) else keep).append(f)
    if not gone:
        return rep
    named = list(dict.fromkeys(_absent_name(d, f) for f in gone))
    more = f" and {len(named) - MAX_NAMED} more" if len(named) > MAX_NAMED else ""
    kv = d.kernel
    answer = "answering from the kernel's copies" if kv.available else "the kernel's copies are not available"
    msg = (
        f"{scope.describe()}: firmware-reserved memory is not capturable; absent: "
        f"{', '.join(named[:MAX_NAMED])}{more}; {answer}"
    )
    keep.append(make(RAM_ONLY, "dump", None, msg))
    from efitables.analysis import sort_key

    rep.findings = sorted(dict.fromkeys(keep), key=sort_key)
    return rep
