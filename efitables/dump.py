"""The :class:`Dump`: one opened memory dump and everything parsed from it.

Like drgn's ``Program``, it is the one object a user holds. Each area is a
lazily computed, cached property, so ``efitables.open(path).systab`` reads only
what the system table needs (a hint makes that a handful of reads; without one
a single streaming signature scan runs first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from efitables.analysis import AREAS, Report, report
from efitables.analysis.ccblob import cc_blob_report
from efitables.analysis.crosscheck import CrossChecks, crosscheck
from efitables.analysis.secrets import SecretScan, find_secrets
from efitables.analysis.witnesses import Witnesses, defer_uncapturable, witnesses_of
from efitables.boot import (
    BootParams,
    E820Table,
    SetupDataList,
    e820_of,
    efi_memmap_of,
    parse_boot_params,
    walk_setup_data,
)
from efitables.boot.discovery import BootParamsDiscovery, discover_boot_params, discovery_findings
from efitables.boot.pvh import PVH_BOOT, PvhReport, discover_pvh
from efitables.efi.discovery import SystabDiscovery, discover_systab
from efitables.efi.hits import KERNEL_COPY_ALIGN, ProgressFn, ScanHits
from efitables.efi.memmap import EfiMemoryMap, parse_memmap
from efitables.efi.systab import ConfigTable, SystemTable, parse_system_table
from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.kernel.copies import KernelView, read_kernel_view
from efitables.kernel.kallsyms import load
from efitables.kernel.printk import KernelLog, read_kernel_log
from efitables.memory import PhysicalMemory, open_memory
from efitables.memory.base import MAX_PHYS_ADDR
from efitables.memory.redact import RedactedMemory, SecretRange
from efitables.regions import RegionMap
from efitables.snp import CcBlobReport, SnpCpuidTable, SnpSecretsPage

if TYPE_CHECKING:
    from efitables.analysis.encryption import EncryptionReport
    from efitables.analysis.next_kernel import NextKernel
    from efitables.coverage import CoverageReport
    from efitables.measured.replay import MeasuredBoot
    from efitables.snp.ovmf_metadata import OvmfSevMetadata
    from efitables.snp.vmsa import VmsaReport

NO_SYSTAB = register(
    "EFI-SYSTAB-NOT-FOUND",
    Severity.WARNING,
    "No EFI system table was found",
    "No route (efi_info, a debug pointer, the signature scan or --systab) gave a system table: "
    "the dump is not of an EFI-booted machine, or the table is not in it.",
)
NOT_EFI_BOOT = register(
    "EFI-NOT-EFI-BOOT",
    Severity.INFO,
    "No EFI system table, and boot_params says the kernel was not booted through EFI",
    "The zero page's efi_info has no EL64/EL32 loader signature (a BIOS or other non-EFI boot) and "
    "no other route found a system table: nothing is missing.",
)
SYSTAB_UNPARSABLE = register("EFI-SYSTAB-UNREADABLE", Severity.ERROR, "The system table's address is not in the dump")

ScanMode = Literal["auto", "always", "never"]
#: Containers that hold System RAM only and never carry VMCOREINFO: the kernel's page is searched for.
RAM_CAPTURE_FORMATS = frozenset({"lime", "avml"})



def _guarded(func: Callable[[Dump], Any]) -> Callable[[Dump], Any]:
    """An area parser that lets a read error escape (a read the ranges promised but the container could not
    decode: a bad kdump page, a corrupt AVML chunk) gives ``None`` and a DUMP-READ finding naming the
    structure and address, never an exception out of a Dump attribute."""
    import functools

    @functools.wraps(func)
    def wrapper(self: Dump) -> Any:
        try:
            return func(self)
        except MemoryReadError as e:
            what = e.structure or func.__name__
            self._guard_findings.append(make(READ_ERROR, what, e.pa, f"{func.__name__}: {e}"))
            return None

    return wrapper


class Dump:
    """A memory dump opened read-only, with lazily parsed boot and EFI structures.

    Open one with :func:`efitables.open` (or :meth:`Dump.open`); every area is a cached property
    parsed on first access: :attr:`systab`, :attr:`config_tables` / :meth:`config_table`,
    :attr:`efi_memmap`, :attr:`boot_params`, :attr:`setup_data`, :attr:`e820`, :attr:`regions`,
    :attr:`cc_blob`, :attr:`snp_secrets`, :attr:`snp_cpuid`, :attr:`kernel`, :attr:`kernel_log`;
    :meth:`report` / :attr:`findings` run every check once.

    Attributes set when opened:

    * ``memory``: the physical memory every area reads (``memory.read(pa, size)``; a
      :class:`~efitables.memory.base.PhysicalMemory`; :class:`~efitables.errors.MemoryReadError` names a
      range the dump does not hold);
    * ``container``: the same memory unredacted (the file's container: raw, ELF, kdump, LiME...);
    * ``path``: the dump's path;
    * ``show_secrets``, ``scan_mode``, ``exhaustive``, ``user_systab``, ``user_boot_params``,
      ``progress``: the options it was opened with (:func:`efitables.open`);
    * ``secret_scan``: the secrets pre-pass's result (None until :attr:`memory` is first read).

    Unless ``show_secrets``, :attr:`memory` is a :class:`~efitables.memory.redact.RedactedMemory` of
    the container: every area reads through it, so the bytes of a secret (the SNP VMPCKs, an RNG seed,
    the CoCo secret area) read as zeros for every structure but the secret's own parser, whatever
    pointer led there (:mod:`efitables.analysis.secrets` finds them first).
    """

    #: Whether a Dump opened without show_secrets reads through a redacting view (the secrets
    #: pre-pass, which must see the bytes to find them, does not).
    redacts: bool = True

    def __init__(
        self,
        memory: PhysicalMemory,
        *,
        systab: int | None = None,
        boot_params: int | None = None,
        scan: ScanMode = "auto",
        exhaustive: bool = False,
        show_secrets: bool = False,
        progress: ProgressFn | None = None,
    ) -> None:
        #: The container, unredacted: only the secrets pre-pass and the one sweep read its bytes.
        self.container = memory
        #: What every area reads: the container with secret ranges withheld (the container itself
        #: with show_secrets).
        self.memory: PhysicalMemory = memory
        #: The secrets pre-pass's result (None until the first read of :attr:`memory`).
        self.secret_scan: SecretScan | None = None
        if self.redacts and not show_secrets:
            self.memory = RedactedMemory(memory, self._secret_ranges)
        self.path = memory.path
        self.user_systab = systab
        self.user_boot_params = boot_params
        self.scan_mode: ScanMode = scan
        self.exhaustive = exhaustive
        self.show_secrets = show_secrets
        self.progress = progress
        self._report: Report | None = None
        #: read errors an area parser let escape (:func:`_guarded`), reported as DUMP-READ findings
        self._guard_findings: list[Finding] = []

    # -- opening ---------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | Sequence[str],
        format: str | None = None,  # noqa: A002
        *,
        systab: int | None = None,
        boot_params: int | None = None,
        scan: ScanMode = "auto",
        exhaustive: bool = False,
        show_secrets: bool = False,
        progress: ProgressFn | None = None,
    ) -> Dump:
        """Open the dump at ``path`` read-only (the container is detected, or named by ``format``); a list of
        paths is the parts of one makedumpfile ``--split`` dump.

        ``format``: ``"raw"``, ``"elf"``, ``"kdump"``, ``"lime"``... (None: detect it);
        ``systab``: a known physical address of the EFI system table (skips the signature scan);
        ``boot_params``: a known physical address of the zero page;
        ``scan``: ``"auto"`` (sweep the dump only when no hint answers), ``"always"`` or ``"never"``;
        ``exhaustive``: let the sweep look at every page, not just the usual alignments;
        ``show_secrets``: read secrets (VMPCKs, RNG seeds, CoCo secrets) instead of zeros;
        ``progress``: called with ``(done, total)`` bytes while a sweep runs.
        """
        return cls(
            open_memory(path, format),
            systab=systab,
            boot_params=boot_params,
            scan=scan,
            exhaustive=exhaustive,
            show_secrets=show_secrets,
            progress=progress,
        )

    def close(self) -> None:
        """Close the dump file (the Dump is also a context manager)."""
        self.container.close()

    def __enter__(self) -> Dump:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Dump {self.path} ({self.memory.info.format})>"

    # -- secrets ----------------------------------------------------------
    def _secret_ranges(self) -> list[SecretRange]:
        """Where the secrets are: a throwaway parse of the container (run on the first read of :attr:`memory`)."""
        self.secret_scan = find_secrets(self)
        return self.secret_scan.ranges

    def secret_spans(self) -> list[tuple[int, int]]:
        """Physical ``[start, end)`` spans whose bytes every reader but their owner sees as zeros
        (empty with show_secrets): what a hex view marks as hidden."""
        return self.memory.secret_spans() if isinstance(self.memory, RedactedMemory) else []

    def is_secret(self, pa: int) -> bool:
        """Whether the byte at ``pa`` is withheld (see :meth:`secret_spans`)."""
        return isinstance(self.memory, RedactedMemory) and self.memory.is_secret(pa)

    # -- scanning --------------------------------------------------------
    @cached_property
    def scan_hits(self) -> ScanHits:
        """One streaming signature pass (system tables and zero pages); runs on first use.

        It sweeps the container itself: hits are only addresses (each candidate is then read and judged
        through :attr:`memory`), and the secrets pre-pass shares them.
        """
        from efitables.efi.scan import scan  # numpy: only when a sweep runs

        return scan(
            self.container, exhaustive=self.exhaustive, zero_page_align=KERNEL_COPY_ALIGN, progress=self.progress
        )

    def _hinted_boot_params(self) -> list[tuple[int, str]]:
        """Zero pages known without scanning, best first."""
        named = {"argument": "given with --boot-params"}
        return [(pa, named.get(how, how)) for pa, how in self.boot_params_discovery.ranked() if how != "scan"]

    def boot_params_candidates(self) -> list[tuple[int, str]]:
        """Candidate zero pages with how each was found, best first (scan hits last)."""
        out = self._hinted_boot_params()
        if self._should_scan(out):
            seen = {pa for pa, _how in out}
            hits = self.boot_params_discovery.ranked() + [(pa, "scan") for pa in self.scan_hits.zero_pages]
            for pa, how in hits:
                if pa not in seen:
                    seen.add(pa)
                    out.append((pa, how))
        return out

    def _should_scan(self, hinted: list[tuple[int, str]] | None = None) -> bool:
        if self.scan_mode == "always":
            return True
        if self.scan_mode == "never":
            return False
        if self.user_systab is not None:
            return False
        from efitables.efi.efi_info import read_efi_info

        for pa, _how in hinted if hinted is not None else self._hinted_boot_params():
            info = read_efi_info(self.memory, pa)
            if info is not None and not info.problems():
                return False
        return True

    # -- EFI ---------------------------------------------------------------
    @cached_property
    def systab_discovery(self) -> SystabDiscovery:
        """How the EFI system table was found: every route tried (efi_info, debug pointers, kallsyms,
        ``systab=``, the signature scan), its candidates, and the chosen address and route."""
        hinted = self._hinted_boot_params()
        do_scan = self._should_scan(hinted)
        return discover_systab(
            self.memory,
            user_systab=self.user_systab,
            boot_params=self.boot_params_candidates(),
            hits=self.scan_hits if do_scan else None,
        )

    @cached_property
    @_guarded
    def efi_memmap(self) -> EfiMemoryMap | None:
        """The EFI memory map named by the chosen zero page's efi_info."""
        info = self.systab_discovery.efi_info
        if info is None or info.memmap == 0:
            bp = self.boot_params
            return efi_memmap_of(self.memory, bp) if bp is not None else None
        return parse_memmap(self.memory, info.memmap, info.memmap_size, info.memdesc_size, info.memdesc_version)

    def _systab_physical_copies(self) -> dict[str, tuple[int, str]]:
        """Physical copies Linux kept of the system table's pointers (SETUP_EFI), by field name."""
        from efitables.boot.setup_data import SETUP_EFI, EfiSetupPayload

        out: dict[str, tuple[int, str]] = {}
        for node in (self.setup_data.of_type(SETUP_EFI) if self.setup_data is not None else [])[:1]:
            p = node.effective_payload
            if isinstance(p, EfiSetupPayload):
                if p.tables:
                    out["ConfigurationTable"] = (p.tables, "SETUP_EFI")
                if p.fw_vendor:
                    out["FirmwareVendor"] = (p.fw_vendor, "SETUP_EFI")
        for name, pa in self._kernel_efi_globals().items():
            out.setdefault(name, (pa, "kallsyms"))
        return out

    def _kernel_efi_globals(self) -> dict[str, int]:
        """The physical addresses the running kernel saved before SetVirtualAddressMap.

        x86 Linux keeps ``efi_config_table``, ``efi_fw_vendor`` and ``efi_runtime``
        (torvalds/linux arch/x86/platform/efi/efi.c; exported in /sys/firmware/efi);
        they are read through kallsyms when VMCOREINFO locates it.
        """
        ks = load(self.memory, self.memory.vmcoreinfo)
        out: dict[str, int] = {}
        if not ks.available:
            return out
        for field, sym in (("ConfigurationTable", "efi_config_table"), ("FirmwareVendor", "efi_fw_vendor"),
                           ("RuntimeServices", "efi_runtime")):
            spa = ks.physical(sym)
            if spa is None:
                continue
            try:
                value = self.memory.read_u64(spa, structure=sym)
            except MemoryReadError:
                continue
            if 0 < value < MAX_PHYS_ADDR:
                out[field] = value
        return out

    @cached_property
    @_guarded
    def systab(self) -> SystemTable | None:
        """The EFI system table (revision, firmware vendor, resolved pointers, configuration tables with
        decoded payloads), or None when no route found one (:attr:`systab_discovery` says why)."""
        d = self.systab_discovery
        if d.address is None:
            return None
        st = parse_system_table(
            self.memory,
            d.address,
            bits=d.bits,
            memmap=self.efi_memmap,
            physical_copies=self._systab_physical_copies,
            found_by=d.route or "",
        )
        self._decode_payloads(st)
        return st

    def _decode_payloads(self, st: SystemTable | None) -> None:
        """Fill each configuration table's ``payload`` (efitables.payloads; every decoder is bounded)
        and add overlaps between payloads to the configuration table array's findings."""
        from efitables.payloads import check_overlaps, decode_payload, link_payloads

        if st is None:
            return
        decoded = []
        for t in st.config_tables:
            if t.payload is None and t.readable:
                t.payload = decode_payload(
                    self.memory, t, show_secrets=self.show_secrets, memmap=self.efi_memmap, e820=lambda: self.e820
                )
            if t.payload is not None:
                decoded.append((t.name or t.guid, t.payload))
        link_payloads(self.memory, [p for _, p in decoded])
        if st.config_table_array is not None:
            st.config_table_array.findings.extend(check_overlaps(decoded))

    @property
    def config_tables(self) -> list[ConfigTable]:
        """The system table's configuration tables (GUID, name, address, decoded ``payload``), in order;
        empty without a system table."""
        return self.systab.config_tables if self.systab else []

    def config_table(self, name_or_guid: str) -> ConfigTable | None:
        """The first configuration table whose GUID matches ``name_or_guid``, or None.

        Any name of the GUID works, case-insensitively (:func:`efitables.guids.resolve`): the GUID text,
        the UEFI spec's name (``EFI_ACPI_20_TABLE_GUID``), Linux's (``ACPI_20_TABLE_GUID``), EDK2's
        (``gEfiAcpi20TableGuid``) or the name efitables shows.
        """
        from efitables.guids import resolve

        guid = resolve(name_or_guid)
        key = name_or_guid.strip().lower()
        for t in self.config_tables:
            if (guid is not None and t.guid == guid) or (t.name or "").lower() == key:
                return t
        return None

    # -- the kernel's log -----------------------------------------------------
    @cached_property
    def kernel_log(self) -> KernelLog:
        """The kernel's log (printk ring buffer), located through the container's VMCOREINFO note or, for a
        capture without one (LiME, AVML), the kernel's own VMCOREINFO page that :attr:`kernel` found in
        RAM; ``error`` says why there is none."""
        info = self._vmcoreinfo_for_symbols()
        if info:
            return read_kernel_log(self.memory, info)
        log = read_kernel_log(self.memory)
        if self.memory.info.format in RAM_CAPTURE_FORMATS or self.scan_mode == "always":
            log.error = f"{log.error}; {self.kernel.error}"  # the RAM search ran and found none
        return log

    # -- the running kernel's own copies (efitables.kernel.copies) -------------
    @cached_property
    def kernel(self) -> KernelView:
        """The running kernel's own copies of the EFI, boot and kexec structures, read out of RAM.

        Located through VMCOREINFO: the container's note, or, for a capture that carries none
        (LiME and AVML; any container with ``scan="always"``, never with ``scan="never"``), the
        kernel's own VMCOREINFO page found in memory (:mod:`efitables.kernel.locate`).
        ``kernel.available`` is False, with ``kernel.error`` saying why, when neither exists.
        """
        mem = self.memory
        if mem.vmcoreinfo or self.scan_mode == "never":
            return read_kernel_view(mem)
        if self.scan_mode == "auto" and mem.info.format not in RAM_CAPTURE_FORMATS:
            view = read_kernel_view(mem)
            view.error = f"{view.error}; not searched for in a {mem.info.format} dump (use --scan always)"
            return view
        from efitables.kernel.locate import find_vmcoreinfo

        found = find_vmcoreinfo(self.memory)
        if found is None:
            view = read_kernel_view(mem)
            view.error = "no VMCOREINFO note, and no VMCOREINFO page of the running kernel in memory"
            return view
        return read_kernel_view(mem, found.info, vmcoreinfo_source=found.source)

    @cached_property
    def witnesses(self) -> Witnesses:
        """The firmware's copy, the kernel's copy and the kernel's log of each object, compared
        (:mod:`efitables.analysis.witnesses`)."""
        return witnesses_of(self)

    # -- SEV-SNP -------------------------------------------------------------
    @cached_property
    def cc_blob(self) -> CcBlobReport:
        """Every route to the SEV-SNP CC blob, each boot stage's choice, the blob(s) and their pages.

        ``cc_blob.present`` is False (and there are no findings) for a dump that is not an SNP guest.
        """
        return cc_blob_report(self)

    @cached_property
    @_guarded
    def snp_secrets(self) -> SnpSecretsPage | None:
        """The SNP secrets page of the blob the kernel uses (VMPCKs redacted unless ``show_secrets``)."""
        return self.cc_blob.secrets_page

    @cached_property
    @_guarded
    def snp_cpuid(self) -> SnpCpuidTable | None:
        """The SNP CPUID table of the blob the kernel uses."""
        return self.cc_blob.cpuid_table

    @cached_property
    def snp_vmsa(self) -> VmsaReport:
        """The guest's VMSA pages, through the kernel's per-CPU ``sev_vmsa`` (:mod:`efitables.snp.vmsa`)."""
        from efitables.snp.vmsa import find_vmsa_pages

        kv = self.kernel
        return find_vmsa_pages(self.memory, kv.vmcoreinfo if kv.available else None)

    @cached_property
    def ovmf_metadata(self) -> OvmfSevMetadata:
        """The OVMF SEV metadata of the firmware volume below 4 GiB, if the dump holds it
        (:mod:`efitables.snp.ovmf_metadata`), cross-checked with the CC blob."""
        from efitables.snp.ovmf_metadata import find_ovmf_metadata

        blob = self.cc_blob.blob if self.cc_blob.present else None
        return find_ovmf_metadata(self.memory, blob)

    @cached_property
    def encryption(self) -> EncryptionReport:
        """Memory encryption: mode, C-bit / shared bit, how the next kernel reads each early object
        (:mod:`efitables.analysis.encryption`)."""
        from efitables.analysis.encryption import encryption_of

        return encryption_of(self)

    @cached_property
    def measured(self) -> MeasuredBoot:
        """The TCG2 and CC event logs replayed into PCR / RTMR values (:mod:`efitables.measured.replay`)."""
        from efitables.measured.replay import measured_boot

        return measured_boot(self.memory, [(t.guid, t.payload) for t in self.config_tables if t.payload is not None])

    # -- boot: boot_params, setup_data, E820 -------------------------------
    def _vmcoreinfo_for_symbols(self) -> dict[str, str] | None:
        """The container's VMCOREINFO, else the one :attr:`kernel` found in RAM (LiME, AVML: no note).

        Without it a RAM capture's zero page is found by a scan, which, with a kexec image loaded,
        also meets the next kernel's zero page in the image's pages (seen in a real dump) and may
        prefer it; the kernel's ``boot_params`` symbol says which one is the running kernel's.
        """
        info = self.memory.vmcoreinfo
        if info:
            return info
        kv = self.kernel  # its policy decides whether RAM is searched (a RAM capture, or scan="always")
        return (kv.vmcoreinfo or None) if kv.available else None

    @cached_property
    def boot_params_discovery(self) -> BootParamsDiscovery:
        """How the zero page was found: --boot-params, the kernel's ``boot_params`` (kallsyms), or a scan.

        Any hint means no sweep (``--scan auto``): a given system table is an answer, and sweeping a
        multi-GiB dump for a zero page it did not ask about would cost more than everything else.
        """
        mode = {"always": True, "never": False}.get(self.scan_mode)
        skip = None
        if mode is None and self.user_systab is not None:
            mode, skip = False, "not run (--systab was given; use --scan always to sweep)"
        return discover_boot_params(
            self.memory,
            given=self.user_boot_params,
            vmcoreinfo=self._vmcoreinfo_for_symbols(),
            scan=mode,
            positions=lambda: self.scan_hits.zero_pages,  # the one sweep, shared with the system-table search
            skip_reason=skip,
        )

    @cached_property
    @_guarded
    def boot_params(self) -> BootParams | None:
        """The zero page the discovery chose, parsed and checked (with its command line)."""
        d = self.boot_params_discovery
        if d.address is None:
            return None
        return parse_boot_params(self.memory, d.address, found_by=d.route or "")

    @cached_property
    @_guarded
    def setup_data(self) -> SetupDataList | None:
        """The setup_data list from ``boot_params.hdr.setup_data`` (iterable; RNG seeds redacted)."""
        bp = self.boot_params
        if bp is None:
            return None
        return walk_setup_data(self.memory, bp.setup_data_ptr, show_secrets=self.show_secrets)

    @cached_property
    @_guarded
    def e820(self) -> E820Table | None:
        """The E820 table: the zero page's entries, then SETUP_E820_EXT's."""
        bp = self.boot_params
        return e820_of(bp, self.setup_data) if bp is not None else None

    @cached_property
    def regions(self) -> RegionMap:
        """The EFI memory map and the E820 table as one lookup (:mod:`efitables.regions`)."""
        return RegionMap.of(self.efi_memmap, self.e820)

    @cached_property
    def boot_crosschecks(self) -> CrossChecks:
        """boot_params / setup_data / memory maps / EFI tables compared, and where each object lives."""
        return crosscheck(
            self.memory,
            boot_params=self.boot_params,
            setup_data=self.setup_data,
            efi_memmap=self.efi_memmap,
            e820=self.e820,
            systab=self.systab,
            systab_discovery=self.systab_discovery,
        )

    @cached_property
    def pvh(self) -> PvhReport:
        """The Xen PVH start info (:mod:`efitables.boot.pvh`): ``pvh.boot_path`` is ``"PVH"`` when the kernel
        came in through its PVH entry; ``pvh.present`` is False for a dump without a start info.

        Hinted first (the kernel's copy, the zero page it built); a sweep of the first MiB only when no
        hint answers (``--scan never``, or a --systab / --boot-params hint: none).
        """
        hinted = self.user_systab is not None or self.user_boot_params is not None
        mode = {"always": True, "never": False}.get(self.scan_mode, False if hinted else None)
        return discover_pvh(self.memory, vmcoreinfo=self.memory.vmcoreinfo, boot_params=self.boot_params, scan=mode)

    def boot_findings(self) -> list[Finding]:
        """The findings of the boot area: zero-page discovery, boot_params, setup_data, E820, cross-checks, PVH."""
        out: list[Finding] = []
        out.extend(discovery_findings(self.boot_params_discovery, self.boot_params is not None))
        if self.boot_params is not None:
            out.extend(self.boot_params.all_findings())
        for part in (self.setup_data, self.e820, self.boot_crosschecks, self.pvh):
            if part is not None:
                out.extend(part.all_findings())
        return list(dict.fromkeys(out))

    def boot_to_dict(self, raw: bool = False) -> dict[str, Any]:
        """The boot area as JSON (``"boot"`` of :meth:`to_dict`); ``raw`` adds each structure's bytes as hex."""
        return {
            "discovery": self.boot_params_discovery.to_dict(),
            "boot_params": self.boot_params.to_dict(raw) if self.boot_params else None,
            "setup_data": self.setup_data.to_dict(raw) if self.setup_data is not None else None,
            "e820": self.e820.to_dict(raw) if self.e820 else None,
            "pvh": self.pvh.to_dict(raw),
            "crosschecks": {
                "checks": [c.to_dict() for c in self.boot_crosschecks.checks],
                "regions": [r.to_dict() for r in self.boot_crosschecks.regions],
                "findings": [f.to_dict() for f in self.boot_crosschecks.findings],
            },
        }

    # -- identity-map coverage (efitables.coverage) ----------------------
    @cached_property
    def next_kernel(self) -> NextKernel | None:
        """What the kernel a loaded kexec image would start will be handed (its zero page, command line
        and setup_data, read out of the image: :mod:`efitables.analysis.next_kernel`), or None when the
        dump's kernel has no image loaded."""
        from efitables.analysis.next_kernel import next_kernel  # only coverage asks

        kv = self.kernel
        image = kv.kexec_loaded if kv.available else None
        return next_kernel(self, image) if image is not None and image.segments else None

    def coverage(
        self,
        model: Any = None,
        *,
        pgd: int | str | None = None,
        cbit: int | None = None,
        levels: int | None = None,
    ) -> CoverageReport:
        """Verdicts on what the next kernel reads before its #PF handler.

        ``model``: a preset name or ``NAME,key=value,...`` (``efitables.coverage.PRESETS``);
        ``pgd``: a page-table root to walk, ``"auto"`` (the dump's notes) or ``"scan"``.
        """
        from efitables.analysis.coverage import coverage  # the models and page walker: only when asked

        if cbit is None and self.encryption.c_bit is not None:
            cbit = self.encryption.c_bit  # the C-bit the dump's own encryption state gives, by default
        return coverage(self, model, pgd=pgd, cbit=cbit, levels=levels)

    # -- findings and output ---------------------------------------------
    def efi_findings(self) -> list[Finding]:
        """The findings of the EFI area: system-table discovery, the system table and its tables, the memory map."""
        out: list[Finding] = []
        d = self.systab_discovery
        if d.address is None:
            routes = "; ".join(f"{r.name}: {r.detail}" for r in d.routes)
            bp = self.boot_params
            if self.user_systab is None and self.pvh.boot_path == "PVH":
                si = self.pvh.start_info
                why = f"{si.title} ({si.found_by})" if si is not None else self.pvh.title
                out.append(make(PVH_BOOT, "EFI_SYSTEM_TABLE", None, f"{why}; {routes}"))
            elif bp is not None and bp.efi_bits is None and self.scan_mode != "never" and self.user_systab is None:
                why = f"boot_params @ {bp.address:#x} ({bp.found_by}) has no EFI loader signature; {routes}"
                out.append(make(NOT_EFI_BOOT, "EFI_SYSTEM_TABLE", None, why))
            else:
                out.append(make(NO_SYSTAB, "EFI_SYSTEM_TABLE", None, routes))
        elif self.systab is None:
            out.append(make(SYSTAB_UNPARSABLE, "EFI_SYSTEM_TABLE", d.address, f"found by {d.route}"))
        else:
            out.extend(self.systab.all_findings())
        if self.efi_memmap is not None:
            out.extend(self.efi_memmap.findings)
            for desc in self.efi_memmap.descriptors:
                out.extend(desc.findings)
        return out

    def report(self, on_stage: Callable[[str], None] | None = None) -> Report:
        """Every area parsed and every cross-structure check run, once: what every face prints.

        ``on_stage`` is told each stage's name before it runs (the first call only).
        """
        if self._report is None:
            # memory the container could not hold is not "missing" (efitables.analysis.witnesses)
            rep = report(self, on_stage)
            if self._guard_findings:
                from efitables.analysis import sort_key

                rep.findings = sorted(dict.fromkeys([*rep.findings, *self._guard_findings]), key=sort_key)
            self._report = defer_uncapturable(self, rep)
        return self._report

    @property
    def findings(self) -> list[Finding]:
        """Every finding of the dump (all areas and cross-structure checks), worst first."""
        return self.report().findings

    def areas(self) -> list[tuple[str, Any]]:
        """``(attribute, parsed object or None)`` for every area in :data:`efitables.analysis.AREAS`."""
        return [(a.attr, a.value(self)) for a in AREAS]

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        """The whole report as JSON (what ``show --json`` prints for one dump, inside the envelope); ``raw``
        adds bytes as hex. ``dump`` is the dump header every command's JSON carries (``path``, ``format``,
        ``size``: :func:`efitables.jsonout.dump_header`), then the container's ranges, details and VMCOREINFO."""
        from efitables.jsonout import dump_header

        mem = self.memory
        return {
            "dump": dump_header(
                self.path,
                mem.info.format,
                mem.info.file_size,
                ranges=[r.to_dict() for r in mem.ranges()],
                details={k: v for k, v in mem.info.details.items() if isinstance(v, str | int | list)},
                vmcoreinfo=mem.vmcoreinfo,
            ),
            "efi": {
                "discovery": self.systab_discovery.to_dict(),
                "system_table": self.systab.to_dict(raw) if self.systab else None,
                "memory_map": self.efi_memmap.to_dict(raw) if self.efi_memmap else None,
            },
            "boot": self.boot_to_dict(raw),
            "snp": self.cc_blob.to_dict(raw),
            "kernel": {"view": self.kernel.to_dict(raw), "witnesses": self.witnesses.to_dict(raw)},
            "findings": [f.to_dict() for f in self.findings],
        }


def open(  # noqa: A001
    path: str | Sequence[str],
    format: str | None = None,  # noqa: A002
    *,
    systab: int | None = None,
    boot_params: int | None = None,
    scan: ScanMode = "auto",
    exhaustive: bool = False,
    show_secrets: bool = False,
    progress: ProgressFn | None = None,
) -> Dump:
    """Open the dump at ``path`` read-only and return its :class:`Dump` (nothing is parsed yet).

    ``format``: the container (``"raw"``, ``"elf"``, ``"kdump"``, ``"lime"``...; None: detected);
    ``systab``: a known physical address of the EFI system table (no signature scan is needed);
    ``boot_params``: a known physical address of the zero page;
    ``scan``: ``"auto"`` (sweep the dump only when no hint answers), ``"always"`` or ``"never"``;
    ``exhaustive``: let the sweep look at every page, not just the usual alignments;
    ``show_secrets``: read secrets (SNP VMPCKs, RNG seeds, CoCo secrets) instead of zeros;
    ``progress``: called with ``(done, total)`` bytes while a sweep runs.

    Raises :class:`~efitables.errors.DumpOpenError` / :class:`~efitables.errors.DumpFormatError`.
    """
    return Dump.open(
        path,
        format=format,
        systab=systab,
        boot_params=boot_params,
        scan=scan,
        exhaustive=exhaustive,
        show_secrets=show_secrets,
        progress=progress,
    )
