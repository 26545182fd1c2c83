"""SARIF 2.1.0 output of ``efitables validate --sarif``.

One run; the driver's rules are the finding codes that occur (each with its
registered title, description and severity); one result per finding, located
in its dump (``artifactLocation``) at its physical address (SARIF's
``address.absoluteAddress``, kind ``data``), with the structure as a logical
location. A dump that could not be opened or read is a tool execution
notification of level ``error`` and makes the invocation unsuccessful.

Reference: OASIS SARIF 2.1.0 (errata 01), sections 3.14 (run), 3.27 (result),
3.29 (physicalLocation), 3.32 (address), 3.49 (reportingDescriptor).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from typing import Any
from urllib.parse import quote

from efitables import __version__
from efitables.findings import CodeInfo, Finding, Severity, all_codes
from efitables.validate import Verdict, overall_exit

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def artifact_uri(path: str) -> str:
    """A URI reference for a dump path: relative paths stay relative, absolute ones become file URIs."""
    posix = path.replace(os.sep, "/")
    if os.path.isabs(path):
        return "file://" + quote(posix)
    return quote(posix)


def _rule(info: CodeInfo) -> dict[str, Any]:
    anchor = info.code.lower()
    rule: dict[str, Any] = {
        "id": info.code,
        "name": "".join(p.capitalize() for p in info.code.split("-")),
        "shortDescription": {"text": info.title},
        "defaultConfiguration": {"level": _LEVEL[info.severity]},
        "properties": {"severity": str(info.severity), "docs": f"docs/findings.md#{anchor}"},
    }
    if info.description:
        rule["fullDescription"] = {"text": info.description}
        rule["help"] = {"text": info.description}
    return rule


def fingerprint(path: str, f: Finding, occurrence: int = 0) -> str:
    """Stable across runs and machines: dump name, code, structure, address, and the occurrence
    among findings sharing those (not the message wording, which may improve between versions)."""
    key = f"{os.path.basename(path)}\0{f.code}\0{f.structure}\0{f.address}\0{occurrence}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _result(f: Finding, rule_index: int, artifact_index: int, v: Verdict, occurrence: int) -> dict[str, Any]:
    path = v.path
    where = f" @ {f.address:#x}" if f.address is not None else ""
    phys: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(path), "index": artifact_index}}
    if f.address is not None:
        phys["address"] = {"absoluteAddress": f.address, "kind": "data", "name": f.structure}
        if v.format == "raw" and v.file_size is not None and f.address < v.file_size:
            phys["region"] = {"byteOffset": f.address}  # a raw image's file offset is the physical address
    return {
        "ruleId": f.code,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": _LEVEL[f.severity],
        "message": {"text": f"{f.structure}{where}: {f.message}"},
        "locations": [
            {
                "physicalLocation": phys,
                "logicalLocations": [
                    {"name": f.structure, "fullyQualifiedName": f"{f.structure}{where}", "kind": "object"}
                ],
            }
        ],
        "partialFingerprints": {"efitablesFinding/v1": fingerprint(path, f, occurrence)},
        "properties": {
            "severity": str(f.severity),
            "structure": f.structure,
            "physicalAddress": None if f.address is None else f"{f.address:#x}",
        },
    }


def sarif_log(verdicts: list[Verdict]) -> dict[str, Any]:
    """The SARIF log (a JSON-ready dict) for the verdicts of one ``validate`` run."""
    infos = {c.code: c for c in all_codes()}
    used = sorted({f.code for v in verdicts for f in v.findings})
    rules = [_rule(infos[c]) if c in infos else {"id": c} for c in used]
    rule_index = {c: i for i, c in enumerate(used)}
    artifacts: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for v in verdicts:
        ai = len(artifacts)
        art: dict[str, Any] = {"location": {"uri": artifact_uri(v.path)}, "roles": ["analysisTarget"]}
        if v.format:
            art["properties"] = {"format": v.format}
        if v.file_size is not None:
            art["length"] = v.file_size
        artifacts.append(art)
        seen: Counter[tuple[str, str, int | None]] = Counter()
        for f in v.findings:
            k = (f.code, f.structure, f.address)
            results.append(_result(f, rule_index[f.code], ai, v, seen[k]))
            seen[k] += 1
        if v.error is not None:
            notes.append(
                {
                    "level": "error",
                    "message": {"text": v.error},
                    "locations": [
                        {"physicalLocation": {"artifactLocation": {"uri": artifact_uri(v.path), "index": ai}}}
                    ],
                    "properties": {"stage": v.stage},
                }
            )
    invocation: dict[str, Any] = {
        "executionSuccessful": not notes,
        "exitCode": overall_exit(verdicts),
        "toolExecutionNotifications": notes,
    }
    if verdicts:
        invocation["properties"] = {"failOn": str(verdicts[0].fail_on)}
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "efitables",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "invocations": [invocation],
                "artifacts": artifacts,
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
