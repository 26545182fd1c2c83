#!/usr/bin/env python3
"""Generate the JSON Schemas (draft 2020-12) of efitables' JSON output: docs/schemas/<command>.schema.json.

One schema per command that prints JSON (show, scan, coverage, diff, validate). Each file
stands alone for its readers, so the shared parts (the envelope, the dump header, a
finding, the ``_hex`` rule: see :mod:`efitables.jsonout`) are copied into each one's
``$defs`` from :data:`COMMON` here. The schemas describe the envelope, the dump header and
the main shapes, not every leaf field; objects stay open (``additionalProperties`` allowed)
because adding keys is not a breaking change (``schema_version`` is bumped for those).
tests/test_json_schemas.py validates every command's real output against these files and
fails when they differ from what this script writes. Run from the repository root::

    python tools/gen_json_schemas.py          # rewrite docs/schemas/*.schema.json
    python tools/gen_json_schemas.py --check  # exit 1 if one is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "schemas"
#: name -> schema, filled by the schema() calls below.
SCHEMAS: dict[str, dict[str, Any]] = {}
BASE = "https://github.com/efitables/efitables/blob/main/docs/schemas/"

HEX = {
    "type": "string",
    "pattern": "^-?0x[0-9a-f]+$",
    "description": "An integer as Python's hex(): lower case, no padding.",
}
#: The $defs every schema file carries, identical in each (tests/test_json_schemas.py checks it).
COMMON = {
    "hex": HEX,
    "hexValue": {
        "description": (
            "The <key>_hex beside an integer <key>: a hex string, or a (nested) list of them and nulls for a list of "
            "integers."
        ),
        "anyOf": [{"$ref": "#/$defs/hex"}, {"type": "null"}, {"type": "array", "items": {"$ref": "#/$defs/hexValue"}}],
    },
    "address": {
        "description": "A physical or virtual address (an integer; its exact text is in <key>_hex).",
        "type": ["integer", "null"],
        "minimum": 0,
    },
    "tool": {
        "type": "object",
        "required": ["name", "version"],
        "properties": {"name": {"const": "efitables"}, "version": {"type": "string", "minLength": 1}},
    },
    "envelope": {
        "description": "What every document efitables prints starts with.",
        "type": "object",
        "required": ["schema_version", "tool", "command"],
        "properties": {
            "schema_version": {
                "const": 1,
                "description": "Bumped on every breaking change of a document's shape; added keys are not breaking.",
            },
            "tool": {"$ref": "#/$defs/tool"},
            "command": {
                "type": "string",
                "description": "The subcommand that printed the document; each schema fixes it.",
            },
            "stats": {
                "description": (
                    "--stats only: what each file or URL the command read cost (efitables.memory.source.SourceStats)."
                ),
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "remote", "size", "bytes_read", "requests", "reads", "bytes_served",
                                 "cache_hits"],
                    "properties": {
                        "path": {"type": "string", "description": "The file or URL."},
                        "remote": {"type": "boolean", "description": "Read through fsspec (a URL)."},
                        "size": {"type": "integer", "minimum": 0},
                        "bytes_read": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Bytes read from the storage: preads, mapped windows or range responses.",
                        },
                        "requests": {"type": "integer", "minimum": 0, "description": "Preads, or range requests."},
                        "reads": {"type": "integer", "minimum": 0, "description": "Reads the container made."},
                        "bytes_served": {"type": "integer", "minimum": 0},
                        "cache_hits": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Reads the block cache answered without a request (URLs).",
                        },
                    },
                },
            },
        },
    },
    "dumpHeader": {
        "description": (
            "One dump, the same object in every document: path, container format, file size in bytes (format and size "
            "null when the dump could not be opened)."
        ),
        "type": "object",
        "required": ["path", "format", "size"],
        "properties": {
            "path": {"type": "string"},
            "format": {"type": ["string", "null"], "description": "raw, elf, kdump, lime"},
            "size": {"type": ["integer", "null"], "minimum": 0},
        },
    },
    "finding": {
        "type": "object",
        "required": ["code", "severity", "structure", "address", "message"],
        "properties": {
            "code": {
                "type": "string",
                "pattern": "^[A-Z0-9]+(-[A-Z0-9]+)*$",
                "description": "Stable; listed in docs/findings.md.",
            },
            "severity": {"enum": ["info", "warning", "error"]},
            "structure": {"type": "string"},
            "address": {"$ref": "#/$defs/address"},
            "address_hex": {"$ref": "#/$defs/hex"},
            "message": {"type": "string"},
        },
    },
    "findings": {"type": "array", "items": {"$ref": "#/$defs/finding"}},
    "hexBeside": {
        "description": "Every <key>_hex member is a hex value (its integer twin <key> sits beside it).",
        "type": "object",
        "patternProperties": {"_hex$": {"$ref": "#/$defs/hexValue"}},
    },
}


def schema(name: str, title: str, description: str, body: dict[str, Any], defs: dict[str, Any]) -> None:
    """Add one schema (``docs/schemas/<name>.schema.json``) to :data:`SCHEMAS`: its own defs after the shared ones."""
    SCHEMAS[name] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE + f"{name}.schema.json",
        "title": title,
        "description": description,
        **body,
        "$defs": {**COMMON, **defs},
    }


def doc_of(command: str, extra_required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    """A document of ``command``: the envelope, the keys it requires, its properties."""
    return {
        "allOf": [{"$ref": "#/$defs/envelope"}],
        "type": "object",
        "required": ["schema_version", "tool", "command", *extra_required],
        "properties": {"command": {"const": command}, **props},
    }


PARSED = {
    "description": (
        "A parsed structure (efitables.model.Parsed.to_dict): kind, physical address, size, typed attributes, decoded "
        "fields (spec names), findings; --raw adds raw. The attributes are open: see each object's dataclass."
    ),
    "type": "object",
    "allOf": [{"$ref": "#/$defs/hexBeside"}],
    "required": ["kind"],
    "properties": {
        "kind": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "address_hex": {"$ref": "#/$defs/hex"},
        "size": {"type": "integer", "minimum": 0},
        "fields": {"type": ["object", "array", "null"]},
        "findings": {"$ref": "#/$defs/findings"},
        "raw": {"type": "string", "pattern": "^([0-9a-f]{2})*$"},
    },
}


def or_null(ref: str) -> dict[str, Any]:
    return {"anyOf": [{"$ref": ref}, {"type": "null"}]}


RANGE = {
    "type": "object",
    "required": ["start", "start_hex", "end", "end_hex"],
    "properties": {
        "start": {"$ref": "#/$defs/address"},
        "start_hex": {"$ref": "#/$defs/hex"},
        "end": {"$ref": "#/$defs/address"},
        "end_hex": {"$ref": "#/$defs/hex"},
        "size": {"type": "integer", "minimum": 0},
    },
}
ROUTE = {
    "type": "object",
    "allOf": [{"$ref": "#/$defs/hexBeside"}],
    "required": ["address", "status"],
    "properties": {"address": {"$ref": "#/$defs/address"}, "status": {"type": "string"}, "detail": {"type": "string"}},
}
show_defs = {
    "parsed": PARSED,
    "range": RANGE,
    "route": ROUTE,
    "showDumpHeader": {
        "allOf": [{"$ref": "#/$defs/dumpHeader"}],
        "required": ["ranges", "details", "vmcoreinfo"],
        "properties": {
            "ranges": {
                "type": "array",
                "items": {"$ref": "#/$defs/range"},
                "description": "Physical ranges the dump holds, sorted.",
            },
            "details": {
                "type": "object",
                "description": "Container details (ELF class, PT_LOAD count, kdump header fields, ...).",
            },
            "vmcoreinfo": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
        },
    },
    "discovery": {
        "type": "object",
        "allOf": [{"$ref": "#/$defs/hexBeside"}],
        "required": ["address", "route", "routes", "candidates"],
        "properties": {
            "address": {"$ref": "#/$defs/address"},
            "route": {"type": ["string", "null"]},
            "routes": {"type": "array", "items": {"$ref": "#/$defs/route"}},
            "candidates": {
                "type": "array",
                "items": {"type": "object", "allOf": [{"$ref": "#/$defs/hexBeside"}], "required": ["address"]},
            },
        },
    },
    "crosscheck": {
        "type": "object",
        "required": ["name", "status", "values"],
        "properties": {
            "name": {"type": "string"},
            "status": {"type": "string"},
            "values": {
                "description": (
                    "Source name -> the address it gives (null: not available); <source>_hex beside each integer."
                ),
                "type": "object",
                "allOf": [{"$ref": "#/$defs/hexBeside"}],
                "additionalProperties": {"anyOf": [{"$ref": "#/$defs/address"}, {"$ref": "#/$defs/hex"}]},
            },
            "detail": {"type": "string"},
        },
    },
    "report": {
        "description": "What show finds in one dump.",
        "type": "object",
        "required": ["dump", "efi", "boot", "snp", "findings"],
        "properties": {
            "dump": {"$ref": "#/$defs/showDumpHeader"},
            "efi": {
                "type": "object",
                "required": ["discovery", "system_table", "memory_map"],
                "properties": {
                    "discovery": {"$ref": "#/$defs/discovery"},
                    "system_table": or_null("#/$defs/parsed"),
                    "memory_map": or_null("#/$defs/parsed"),
                },
            },
            "boot": {
                "type": "object",
                "required": ["discovery", "boot_params", "setup_data", "e820", "crosschecks"],
                "properties": {
                    "discovery": {"$ref": "#/$defs/discovery"},
                    "boot_params": or_null("#/$defs/parsed"),
                    "setup_data": or_null("#/$defs/parsed"),
                    "e820": or_null("#/$defs/parsed"),
                    "crosschecks": {
                        "type": "object",
                        "required": ["checks", "findings"],
                        "properties": {
                            "checks": {"type": "array", "items": {"$ref": "#/$defs/crosscheck"}},
                            "regions": {"type": "array"},
                            "findings": {"$ref": "#/$defs/findings"},
                        },
                    },
                },
            },
            "snp": {"$ref": "#/$defs/parsed"},
            "findings": {"$ref": "#/$defs/findings", "description": "Every finding of the dump, worst first."},
        },
    },
    "failedReport": {
        "description": "A dump that could not be opened (exit code 2).",
        "type": "object",
        "required": ["dump", "error"],
        "properties": {"dump": {"$ref": "#/$defs/dumpHeader"}, "error": {"type": "string"}},
    },
    "anyReport": {"oneOf": [{"$ref": "#/$defs/report"}, {"$ref": "#/$defs/failedReport"}]},
}
schema(
    "show",
    "efitables show --json",
    (
        "One dump: the envelope and that dump's report in one object. Several dumps: the envelope and 'dumps', one "
        "report per dump in the order given. Addresses are integers with <key>_hex beside them (docs: "
        "efitables/jsonout.py)."
    ),
    {
        "oneOf": [
            {
                **doc_of("show", ["dump"], {}),
                "allOf": [{"$ref": "#/$defs/envelope"}, {"$ref": "#/$defs/anyReport"}],
            },
            doc_of(
                "show", ["dumps"], {"dumps": {"type": "array", "minItems": 2, "items": {"$ref": "#/$defs/anyReport"}}}
            ),
        ]
    },
    show_defs,
)

schema(
    "scan",
    "efitables scan --json",
    "The signature sweep alone: every 'IBI SYST' hit and zero-page candidate with its verdict.",
    doc_of(
        "scan",
        ["dump", "bytes_scanned", "seconds", "truncated", "system_tables", "zero_pages"],
        {
            "dump": {"$ref": "#/$defs/dumpHeader"},
            "bytes_scanned": {"type": "integer", "minimum": 0},
            "seconds": {"type": "number", "minimum": 0},
            "truncated": {"type": "boolean"},
            "system_tables": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["address", "address_hex", "kind", "accepted", "reason"],
                    "properties": {
                        "address": {"$ref": "#/$defs/address"},
                        "address_hex": {"$ref": "#/$defs/hex"},
                        "kind": {"type": "string"},
                        "accepted": {"type": "boolean"},
                        "reason": {"type": "string"},
                        "bits": {"enum": [32, 64, None]},
                    },
                },
            },
            "zero_pages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["address", "address_hex", "efi_info_problems", "efi_info"],
                    "properties": {
                        "address": {"$ref": "#/$defs/address"},
                        "address_hex": {"$ref": "#/$defs/hex"},
                        "efi_info_problems": {"type": "array", "items": {"type": "string"}},
                        "efi_info": {"type": ["object", "null"], "allOf": [{"$ref": "#/$defs/hexBeside"}]},
                    },
                },
            },
        },
    ),
    {},
)

VERDICT = {"enum": ["covered", "rounding-only", "not-covered"]}
schema(
    "coverage",
    "efitables coverage --json",
    (
        "Whether each object the next kernel reads before its own page tables is identity-mapped, under one model of "
        "the kexec map (and a walked page table with --pgd)."
    ),
    doc_of(
        "coverage",
        ["dump", "kind", "model", "ok", "rows", "rules", "page_table", "findings"],
        {
            "dump": {"$ref": "#/$defs/dumpHeader"},
            "kind": {"const": "identity_map_coverage"},
            "model": {
                "type": "object",
                "required": ["name", "description", "sources"],
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "sources": {"type": "array", "items": {"type": "string"}},
                },
            },
            "ok": {"type": "boolean", "description": "Every required object is mapped (exit code 0)."},
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "object",
                        "kind",
                        "map",
                        "start",
                        "start_hex",
                        "end",
                        "end_hex",
                        "verdict",
                        "required",
                    ],
                    "properties": {
                        "object": {"type": "string"},
                        "kind": {"type": "string"},
                        "map": {"enum": ["kexec", "decompressor", "page-table"]},
                        "start": {"$ref": "#/$defs/address"},
                        "start_hex": {"$ref": "#/$defs/hex"},
                        "end": {"$ref": "#/$defs/address"},
                        "end_hex": {"$ref": "#/$defs/hex"},
                        "verdict": VERDICT,
                        "rules": {"type": "array", "items": {"type": "string"}},
                        "detail": {"type": "string"},
                        "required": {"type": "boolean"},
                        "why": {"type": "string"},
                    },
                },
            },
            "rules": {
                "description": "Map name -> the ranges its rules map.",
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "start", "start_hex", "end", "end_hex"],
                        "properties": {
                            "name": {"type": "string"},
                            "start": {"$ref": "#/$defs/address"},
                            "start_hex": {"$ref": "#/$defs/hex"},
                            "end": {"$ref": "#/$defs/address"},
                            "end_hex": {"$ref": "#/$defs/hex"},
                            "assumed": {"type": "boolean"},
                        },
                    },
                },
            },
            "page_table": {
                "anyOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "allOf": [{"$ref": "#/$defs/hexBeside"}],
                        "required": ["root", "root_hex", "levels", "findings"],
                        "properties": {
                            "root": {"$ref": "#/$defs/address"},
                            "root_hex": {"$ref": "#/$defs/hex"},
                            "levels": {"enum": [4, 5]},
                            "identity": {
                                "type": "array",
                                "description": "[start, end) identity-mapped ranges; identity_hex beside.",
                            },
                            "findings": {"$ref": "#/$defs/findings"},
                        },
                    },
                ]
            },
            "image": {
                "description": "The kexec image the dump's kernel has loaded (kexec_image, else kexec_crash_image).",
                "anyOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "allOf": [{"$ref": "#/$defs/hexBeside"}],
                        "required": ["symbol", "address", "type", "start", "pgd", "segments", "inputs"],
                        "properties": {
                            "symbol": {"enum": ["kexec_image", "kexec_crash_image"]},
                            "address": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/address"}]},
                            "type": {"enum": ["default", "crash", ""]},
                            "start": {"type": "integer", "description": "struct kimage.start: the entry point."},
                            "pgd": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/address"}]},
                            "pgd_source": {"type": "string"},
                            "segments": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "allOf": [{"$ref": "#/$defs/hexBeside"}],
                                    "required": ["index", "mem", "end", "memsz", "bufsz", "verdict"],
                                    "properties": {
                                        "index": {"type": "integer", "minimum": 0},
                                        "mem": {"$ref": "#/$defs/address"},
                                        "end": {"$ref": "#/$defs/address"},
                                        "memsz": {"type": "integer", "minimum": 0},
                                        "bufsz": {"type": "integer", "minimum": 0},
                                        "verdict": {
                                            "enum": ["covered", "not-covered", "partly covered", "not walked"]
                                        },
                                        "detail": {"type": "string"},
                                    },
                                },
                            },
                            "inputs": {
                                "type": "string",
                                "description": "Whose zero page, command line and setup_data the rows judge.",
                            },
                        },
                    },
                ],
            },
            "findings": {"$ref": "#/$defs/findings"},
            "compare": {
                "description": "--compare: preset -> object -> kexec-map verdict.",
                "type": "object",
                "additionalProperties": {"type": "object", "additionalProperties": VERDICT},
            },
        },
    ),
    {},
)

schema(
    "diff",
    "efitables diff --json",
    (
        "What changed between dump A and dump B, structure by structure. 'a' and 'b' are the two dump headers (the "
        "arguments A and B)."
    ),
    doc_of(
        "diff",
        ["a", "b", "identical", "counts", "truncated", "changes", "findings"],
        {
            "a": {"$ref": "#/$defs/dumpHeader"},
            "b": {"$ref": "#/$defs/dumpHeader"},
            "identical": {"type": "boolean"},
            "counts": {
                "type": "object",
                "required": ["added", "removed", "moved", "changed", "findings_new", "findings_gone"],
                "additionalProperties": {"type": "integer", "minimum": 0},
            },
            "truncated": {"type": "boolean"},
            "changes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "allOf": [{"$ref": "#/$defs/hexBeside"}],
                    "required": ["change", "key", "kind", "old_address", "new_address", "fields", "stale"],
                    "properties": {
                        "change": {"enum": ["added", "removed", "moved", "changed"]},
                        "key": {"type": "string", "description": "The object's identity, stable across moves."},
                        "kind": {"type": "string"},
                        "old_address": {"$ref": "#/$defs/address"},
                        "new_address": {"$ref": "#/$defs/address"},
                        "fields": {
                            "description": (
                                "Dotted field path -> {old, new}; old_hex/new_hex beside an address or a value beyond "
                                "2**53."
                            ),
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "allOf": [{"$ref": "#/$defs/hexBeside"}],
                                "required": ["old", "new"],
                            },
                        },
                        "stale": {"type": "boolean"},
                    },
                },
            },
            "findings": {
                "type": "object",
                "required": ["new", "gone"],
                "properties": {"new": {"$ref": "#/$defs/findings"}, "gone": {"$ref": "#/$defs/findings"}},
            },
        },
    ),
    {},
)

COUNTS = {
    "type": "object",
    "required": ["error", "warning", "info"],
    "additionalProperties": {"type": "integer", "minimum": 0},
}
val_defs = {
    "counts": COUNTS,
    "verdict": {
        "description": "One dump's verdict.",
        "type": "object",
        "required": ["dump", "path", "opened", "status", "exit_code", "error", "fail_on", "counts", "findings"],
        "properties": {
            "dump": {"$ref": "#/$defs/dumpHeader"},
            "path": {"type": "string"},
            "opened": {"type": "boolean"},
            "format": {"type": ["string", "null"]},
            "file_size": {"type": ["integer", "null"]},
            "status": {"enum": ["ok", "fail", "error"]},
            "exit_code": {"enum": [0, 1, 2]},
            "error": {"type": ["string", "null"]},
            "stage": {"type": ["string", "null"]},
            "fail_on": {"enum": ["info", "warning", "error"]},
            "counts": {"$ref": "#/$defs/counts"},
            "ignored": {"type": "integer", "minimum": 0},
            "seconds": {"type": "number", "minimum": 0},
            "findings": {"$ref": "#/$defs/findings"},
        },
    },
}
schema(
    "validate",
    "efitables validate --json / --jsonl",
    (
        "--json: one document with a summary and a verdict per dump. --jsonl: one document per line, each a verdict in"
        " the envelope."
    ),
    {
        "oneOf": [
            doc_of(
                "validate",
                ["version", "fail_on", "ignore", "summary", "dumps"],
                {
                    "version": {"const": 1},
                    "fail_on": {"enum": ["warning", "error"]},
                    "ignore": {"type": "array", "items": {"type": "string"}},
                    "summary": {
                        "type": "object",
                        "required": ["dumps", "ok", "failed", "errors", "findings", "exit_code"],
                        "properties": {
                            "dumps": {"type": "integer", "minimum": 0},
                            "ok": {"type": "integer", "minimum": 0},
                            "failed": {"type": "integer", "minimum": 0},
                            "errors": {"type": "integer", "minimum": 0},
                            "findings": {"$ref": "#/$defs/counts"},
                            "exit_code": {"enum": [0, 1, 2]},
                        },
                    },
                    "dumps": {"type": "array", "items": {"$ref": "#/$defs/verdict"}},
                },
            ),
            {
                **doc_of("validate", [], {}),
                "description": "A --jsonl line.",
                "allOf": [{"$ref": "#/$defs/envelope"}, {"$ref": "#/$defs/verdict"}],
            },
        ]
    },
    val_defs,
)


def render(name: str) -> str:
    return json.dumps(SCHEMAS[name], indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a file differs from what would be written")
    a = ap.parse_args(argv)
    stale = []
    for name in SCHEMAS:
        path = OUT / f"{name}.schema.json"
        text = render(name)
        if a.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("stale: " + ", ".join(stale) + " (run python tools/gen_json_schemas.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
