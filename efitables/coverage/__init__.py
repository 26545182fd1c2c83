"""Identity-map coverage: can the next kernel read what it needs before it has page tables?

Two maps matter (shared/spec/kexec-identity-map.md): the old kernel's kexec
identity map, on which the next kernel's decompressor starts, and the
decompressor's own identity map, on which the decompressed kernel's first code
(``sme_enable``/``snp_init``) runs. For every early object
(:mod:`efitables.coverage.objects`) each map gets a verdict under a model of
the map (:mod:`efitables.coverage.models`), and, given a page-table root, a
verdict from walking the real table (:mod:`efitables.coverage.pagewalk`).

API::

    report = efitables.open(path).coverage(model="v5.3,gbpages=on", pgd="auto")
    report.ok, [r.to_dict() for r in report.rows]

or, without a dump, :func:`evaluate` over plain object and region lists.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from efitables.coverage.intervals import Range, normalize
from efitables.coverage.models import (
    DEFAULT_MODEL,
    PRESETS,
    MapInputs,
    Model,
    ModelError,
    Rule,
    decompressor_round,
    decompressor_rules,
    kexec_rules,
    parse_model,
)
from efitables.coverage.objects import DECOMPRESSOR, KEXEC, EarlyInputs, EarlyObject, collect
from efitables.coverage.pagewalk import WalkResult, walk
from efitables.coverage.ptscan import scan_identity_tables
from efitables.coverage.verdict import (
    COVERED,
    DISAGREE_CODE,
    NOT_COVERED,
    PAGE_TABLE,
    ROUNDING,
    Verdict,
    findings_for,
    judge,
    judge_table,
)
from efitables.findings import Finding, Severity, make, register
from efitables.memory.vmcoreinfo import symbol_to_phys, vmcoreinfo_int
from efitables.model import Parsed

__all__ = [
    "COVERED",
    "DEFAULT_MODEL",
    "NOT_COVERED",
    "PRESETS",
    "ROUNDING",
    "CoverageReport",
    "Model",
    "ModelError",
    "compare",
    "coverage",
    "evaluate",
    "find_roots",
    "parse_model",
]

NO_ROOT = register(
    "COVERAGE-NO-PGD",
    Severity.WARNING,
    "A page-table walk was asked for, but no root was given or found in the dump's notes",
)

SCANNED_ROOTS = register(
    "COVERAGE-PGD-SCANNED",
    Severity.INFO,
    "Identity-map page tables were found by scanning the dump (--pgd scan)",
    "Tables with kexec/decompressor flags (leaves 0x1E3 without NX, tables 0x063) that map VA == PA; "
    "the root with the most identity leaves is walked.",
)

#: QEMU's per-CPU "QEMU" ELF note (QEMUCPUState, qemu target/i386/arch_dump.c):
#: u32 version, u32 size, 18 u64 registers, 10 x 24-byte segments, then u64 cr[5].
QEMU_CR_OFFSET = 8 + 18 * 8 + 10 * 24
CR4_LA57 = 1 << 12


@dataclass(frozen=True)
class Root:
    address: int
    source: str
    levels: int | None = None


@dataclass(kw_only=True)
class CoverageReport(Parsed):
    kind = "identity_map_coverage"

    model: Model
    objects: list[EarlyObject] = field(default_factory=list, repr=False)
    rows: list[Verdict] = field(default_factory=list)
    rules: dict[str, list[Rule]] = field(default_factory=dict, repr=False)
    walk: WalkResult | None = None

    @property
    def title(self) -> str:
        return f"identity-map coverage under {self.model.name}"

    @property
    def ok(self) -> bool:
        """No required object is left unmapped."""
        return not any(r.fails for r in self.rows)

    def rows_for(self, map_name: str) -> list[Verdict]:
        return [r for r in self.rows if r.map == map_name]

    def to_dict(self, raw: bool = False) -> dict:
        return {
            "kind": self.kind,
            "model": self.model.to_dict(),
            "ok": self.ok,
            "rows": [r.to_dict() for r in self.rows],
            "rules": {k: [r.to_dict() for r in v] for k, v in self.rules.items()},
            "page_table": self.walk.to_dict() if self.walk else None,
            "findings": [f.to_dict() for f in self.findings],
        }


def _assumed_segments(objects: list[EarlyObject]) -> list[tuple[str, Range]]:
    out = []
    for o in objects:
        if o.kind in ("boot_params", "cmdline", "setup_data"):
            out.append((o.kind.replace("_", " ") if o.kind != "cmdline" else "command line", (o.start, o.end)))
    return out


def evaluate(
    objects: list[EarlyObject],
    map_inputs: MapInputs,
    model: Model | str | None = None,
    *,
    inputs: EarlyInputs | None = None,
    walk_result: WalkResult | None = None,
    decompressor_image: Range | None = None,
) -> CoverageReport:
    """Verdicts for ``objects`` under ``model`` (and a walked table); no dump needed."""
    m = parse_model(model)
    k_rules = kexec_rules(m, map_inputs, _assumed_segments(objects))
    inp = inputs or _inputs_from_objects(objects)
    d_rules = decompressor_rules(
        boot_params=inp.boot_params,
        cmdline=inp.cmdline,
        setup_nodes=[(n.address, 16 + n.len) for n in inp.setup_nodes],
        cc_blob=inp.cc_blob,
        cpuid=inp.cpuid,
        image=decompressor_image,
    )
    maps = {KEXEC: (k_rules, m.round), DECOMPRESSOR: (d_rules, decompressor_round)}
    rows: list[Verdict] = []
    for o in objects:
        for need in o.needs:
            rules, rounder = maps[need.map]
            v, names, detail = judge(need.range, rules, rounder)
            rows.append(
                Verdict(o.name, o.kind, need.map, need.start, need.end, v, names, detail, need.required, need.why)
            )
    findings = findings_for(rows)
    if walk_result is not None:
        pt_rows: list[Verdict] = []
        seen: set[tuple[str, int, int]] = set()
        for o in objects:
            for need in o.needs:
                key = (o.name, need.start, need.end)
                if key in seen:
                    continue
                seen.add(key)
                rules, rounder = maps[need.map]
                v, names, detail = judge_table(need.range, walk_result, rules, rounder)
                pt_rows.append(
                    Verdict(
                        o.name,
                        o.kind,
                        PAGE_TABLE,
                        need.start,
                        need.end,
                        v,
                        names,
                        detail,
                        need.required,
                        f"{need.why} ({need.map} map)",
                    )
                )
                model_v = next(
                    r.verdict
                    for r in rows
                    if r.object == o.name and r.map == need.map and (r.start, r.end) == (need.start, need.end)
                )
                if model_v != v and walk_result.identity:  # a table without identity map: one finding
                    findings.append(
                        make(
                            DISAGREE_CODE,
                            o.name,
                            need.start,
                            f"{need.map} model {m.name}: {model_v}; walked table: {v}",
                        )
                    )
        findings = walk_result.findings + findings + (findings_for(pt_rows) if walk_result.identity else [])
        rows.extend(pt_rows)
    return CoverageReport(
        address=None,
        size=0,
        model=m,
        objects=objects,
        rows=rows,
        rules={KEXEC: k_rules, DECOMPRESSOR: d_rules},
        walk=walk_result,
        findings=findings,
    )


def _inputs_from_objects(objects: list[EarlyObject]) -> EarlyInputs:
    """Decompressor-map inputs recovered from an object list (for :func:`evaluate` callers)."""
    from efitables.coverage.objects import SetupNode

    inp = EarlyInputs()
    for o in objects:
        if o.kind == "boot_params":
            inp.boot_params = o.start
        elif o.kind == "cmdline":
            inp.cmdline = o.start
        elif o.kind == "setup_data":
            inp.setup_nodes.append(SetupNode(o.start, 0, o.size - 16))
        elif o.kind == "cc_blob":
            inp.cc_blob = o.start
        elif o.kind == "snp_cpuid":
            inp.cpuid = (o.start, o.end)
    return inp


# -- page-table roots from the dump ---------------------------------------------------


def find_roots(dump: Any) -> list[Root]:
    """Page-table roots the dump's notes name, best first: QEMU CPU notes (CR3), then VMCOREINFO."""
    out: list[Root] = []
    mem = dump.memory
    for note in getattr(mem, "notes", []) or []:
        if note.name != "QEMU" or len(note.desc) < QEMU_CR_OFFSET + 40:
            continue
        _cr0, _cr1, _cr2, cr3, cr4 = struct.unpack_from("<5Q", note.desc, QEMU_CR_OFFSET)
        if cr3:
            out.append(Root(cr3, f"QEMU CPU note {len(out)} CR3", 5 if cr4 & CR4_LA57 else 4))
    info = mem.vmcoreinfo or {}
    pgt = symbol_to_phys(info, "init_top_pgt")
    if pgt is not None:
        l5 = vmcoreinfo_int(info, "NUMBER(pgtable_l5_enabled)")
        out.append(Root(pgt, "VMCOREINFO SYMBOL(init_top_pgt) + NUMBER(phys_base)", 5 if l5 == 1 else 4))
    return out


def _cbit_from_vmcoreinfo(dump: Any) -> int | None:
    mask = vmcoreinfo_int(dump.memory.vmcoreinfo or {}, "NUMBER(sme_mask)")
    if mask and mask > 0 and mask & (mask - 1) == 0:
        return mask.bit_length() - 1
    return None


def coverage(
    dump: Any,
    model: Model | str | None = None,
    *,
    pgd: int | str | None = None,
    cbit: int | None = None,
    levels: int | None = None,
) -> CoverageReport:
    """Collect the early objects of ``dump`` and judge them.

    ``pgd``: a root (CR3 value), ``"auto"`` (from the dump's notes), ``"scan"`` (search
    the dump for identity-map tables) or None (model only).
    """
    col = collect(dump)
    findings: list[Finding] = list(col.findings)
    walk_result = None
    if pgd is not None:
        root: Root | None
        if pgd == "auto":
            roots = find_roots(dump)
            root = roots[0] if roots else None
            if root is None:
                findings.append(make(NO_ROOT, "page table", None, "no QEMU CPU note with CR3 and no init_top_pgt"))
        elif pgd == "scan":
            bit = cbit if cbit is not None else (_cbit_from_vmcoreinfo(dump) or col.sme_mask_bit)
            sc = scan_identity_tables(dump.memory, bit)
            findings.extend(sc.findings)
            root = Root(sc.roots[0].address, "identity-table scan", sc.roots[0].levels) if sc.roots else None
            if root is None:
                findings.append(make(NO_ROOT, "page table", None, f"the scan found no identity-map root ({sc.tables})"))
            else:
                listed = ", ".join(f"{r.address:#x} ({r.levels}-level, {r.leaves} leaves)" for r in sc.roots[:8])
                findings.append(make(SCANNED_ROOTS, "page table", root.address, f"{len(sc.roots)} root(s): {listed}"))
        else:
            root = Root(int(pgd), "--pgd")
        if root is not None:
            bit = cbit if cbit is not None else (_cbit_from_vmcoreinfo(dump) or col.sme_mask_bit)
            lv = levels or root.levels or 4
            windows = normalize((n.start, n.end) for o in col.objects for n in o.needs)
            walk_result = walk(dump.memory, root.address, levels=lv, cbit=bit, windows=windows, root_source=root.source)
    rep = evaluate(col.objects, col.map_inputs, model, inputs=col.inputs, walk_result=walk_result)
    rep.findings = findings + rep.findings
    return rep


def compare(dump: Any, models: list[Model | str] | None = None) -> dict[str, CoverageReport]:
    """One report per model over one collection (default: every preset, without and with gbpages)."""
    col = collect(dump)
    specs: list[Model | str] = list(models) if models is not None else []
    if models is None:
        for name in PRESETS:
            specs += [name, f"{name},gbpages=on"]
    out: dict[str, CoverageReport] = {}
    for spec in specs:
        rep = evaluate(col.objects, col.map_inputs, spec, inputs=col.inputs)
        rep.findings = list(col.findings) + rep.findings
        out[rep.model.name] = rep
    return out


MODELS = PRESETS  # name -> Model, for UIs
