"""Identity-map coverage: can the next kernel read what it needs before it has page tables?

Two maps matter (torvalds/linux v6.12 arch/x86/kernel/machine_kexec_64.c ``init_pgtable``
and arch/x86/boot/compressed/ident_map_64.c ``initialize_identity_maps``): the old kernel's kexec
identity map, on which the next kernel's decompressor starts, and the
decompressor's own identity map, on which the decompressed kernel's first code
(``sme_enable``/``snp_init``) runs. For every early object
(:mod:`efitables.coverage.objects`) each map gets a verdict under a model of
the map (:mod:`efitables.coverage.models`), and, given a page-table root, a
verdict from walking the real table (:mod:`efitables.coverage.pagewalk`).

API::

    report = efitables.open(path).coverage(model="v5.3,gbpages=on", pgd="auto")
    report.ok, [r.to_dict() for r in report.rows]

or, without a dump, :func:`evaluate` over plain object and region lists. What a
Dump contributes (the objects, the memory maps, page-table roots) is gathered
by :mod:`efitables.analysis.coverage`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from efitables.coverage.image import ImageSummary
from efitables.coverage.intervals import Range
from efitables.coverage.models import (
    AUTO_MODEL,
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
from efitables.coverage.objects import DECOMPRESSOR, KEXEC, EarlyInputs, EarlyObject
from efitables.coverage.pagewalk import WalkResult
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
from efitables.findings import make
from efitables.model import Parsed

__all__ = [
    "AUTO_MODEL",
    "COVERED",
    "DEFAULT_MODEL",
    "NOT_COVERED",
    "PRESETS",
    "ROUNDING",
    "CoverageReport",
    "Model",
    "ModelError",
    "evaluate",
    "parse_model",
]


@dataclass(kw_only=True)
class CoverageReport(Parsed):
    kind = "identity_map_coverage"

    model: Model
    objects: list[EarlyObject] = field(default_factory=list, repr=False)
    rows: list[Verdict] = field(default_factory=list)
    rules: dict[str, list[Rule]] = field(default_factory=dict, repr=False)
    walk: WalkResult | None = None
    #: How the model was chosen (``--model auto``: from the dump's kernel version), or "" when given.
    model_choice: str = ""
    #: Where the kexec segments came from: the loaded image (``kexec_image``), or "" (assumed).
    segments_source: str = ""
    #: The loaded kexec image (segments, entry, map root) when the dump's kernel has one.
    image: ImageSummary | None = None

    @property
    def title(self) -> str:
        return f"identity-map coverage under {self.model.name}"

    @property
    def ok(self) -> bool:
        """No required object, and no segment of a loaded image, is left unmapped."""
        return not any(r.fails for r in self.rows) and not (self.image is not None and self.image.unmapped)

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
            "model_choice": self.model_choice,
            "segments_source": self.segments_source,
            "image": self.image.to_dict() if self.image is not None else None,
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
    table_rows: bool = True,
) -> CoverageReport:
    """Verdicts for ``objects`` under ``model`` (and a walked table); no dump needed.

    ``table_rows`` False keeps ``walk_result`` in the report without judging objects against it
    (a table that is not an identity map at all, such as a running kernel's own).
    """
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
    if walk_result is not None and not table_rows:
        findings = walk_result.findings + findings
    elif walk_result is not None:
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


MODELS = PRESETS  # name -> Model, for UIs
