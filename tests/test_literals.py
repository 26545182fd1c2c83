"""tools/check_literals.py: no hand-written struct layout outside the schemas, except the allowlisted ones."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "check_literals.py"


@pytest.fixture(scope="module")
def checker():
    spec = importlib.util.spec_from_file_location("check_literals", TOOL)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["check_literals"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_repository_passes():
    """Every literal layout site outside schemas/ and memory/ is in tools/literal_allowlist.txt."""
    r = subprocess.run([sys.executable, str(TOOL)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_allowlist_entries_have_reasons(checker):
    entries, problems = checker.read_allowlist(ROOT / "tools" / "literal_allowlist.txt")
    assert not problems
    for key, reason in entries.items():
        path, _, func = key.partition(":")
        assert path.startswith("efitables/") and path.endswith(".py") and func, key
        assert len(reason) > 10, key


OFFENDING = """
import struct
from struct import unpack_from as uf
import struct as st

_HDR = struct.Struct("<QIIII")
FMT = "<QQ"


def check(raw, page, i):
    hsize = struct.unpack_from("<I", raw, 12)[0]
    a, b = struct.unpack_from(FMT, raw)
    c = uf("<H", page, 0x1FE)
    d = st.calcsize("<IH")
    sig = int.from_bytes(raw[0x1C0:0x1C4], "little")
    e = _HDR.unpack_from(page, 0x1C0)
    f = _HDR.unpack_from(page, BASE + 20 * i)
    g = _helper("<QII", page)
    fmt = "<Q" if i else "<I"
    h = struct.unpack_from(fmt, raw, 0)
    k = struct.unpack(f"<{i}i", raw)
    return hsize, a, b, c, d, sig, e, f, g, h, k


class Walker:
    def step(self, raw):
        return struct.iter_unpack("<II", raw[: len(raw) // 8 * 8])
"""

CLEAN = """
import struct

from efitables.schemas.efi_tables import EFI_TABLE_HEADER_FAST, HDR_HEADER_SIZE_OFF
from efitables.schemas.boot_params import BOOT_E820_ENTRY_STRUCT, E820_TABLE_OFFSET, BOOT_E820_ENTRY_SIZE

_E820 = struct.Struct(BOOT_E820_ENTRY_STRUCT)


def check(raw, page, i, fmt):
    a = EFI_TABLE_HEADER_FAST.unpack_from(raw)
    b = EFI_TABLE_HEADER_FAST.unpack_from(raw, 0)
    c = _E820.unpack_from(page, E820_TABLE_OFFSET + BOOT_E820_ENTRY_SIZE * i)
    d = struct.unpack_from(fmt, raw, HDR_HEADER_SIZE_OFF)
    e = int.from_bytes(raw, "little")
    f = int.from_bytes(raw[:HDR_HEADER_SIZE_OFF], "little")
    g = print("<not a format>", "<QQ is text here>")
    return a, b, c, d, e, f, g
"""


def _tree(tmp_path: Path, files: dict[str, str], allow: str = "") -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (tmp_path / "tools").mkdir(exist_ok=True)
    (tmp_path / "tools" / "literal_allowlist.txt").write_text(allow)
    return tmp_path


def test_flags_every_kind_of_site(checker):
    sites = checker.find_sites("efitables/x.py", OFFENDING)
    by_line = {s.line: s for s in sites}
    text = "\n".join(str(s) for s in sites)
    lines = OFFENDING.splitlines()

    def site_of(snippet: str):
        n = next(i for i, line in enumerate(lines, 1) if snippet in line)
        assert n in by_line, f"{snippet!r} not flagged:\n{text}"
        return by_line[n]

    assert "literal format" in str(site_of('_HDR = struct.Struct("<QIIII")'))
    s = site_of('struct.unpack_from("<I", raw, 12)')
    assert "literal format" in str(s) and "literal offset 12" in str(s) and s.function == "check"
    assert "FMT = " in str(site_of("struct.unpack_from(FMT, raw)"))  # a module-level name bound to a literal
    assert "literal offset 0x1FE" in str(site_of('uf("<H", page, 0x1FE)'))  # from struct import ... as
    assert "struct.calcsize" in str(site_of('st.calcsize("<IH")'))  # import struct as st
    assert "raw[0x1C0:0x1C4]" in str(site_of("int.from_bytes(raw[0x1C0:0x1C4]"))
    assert "literal offset 0x1C0" in str(site_of("_HDR.unpack_from(page, 0x1C0)"))
    assert "20 * i" in str(site_of("_HDR.unpack_from(page, BASE + 20 * i)"))
    assert "passed on" in str(site_of('_helper("<QII", page)'))
    assert "fmt = " in str(site_of("struct.unpack_from(fmt, raw, 0)"))  # a local bound to a literal
    assert 'literal format f"<{i}i"' in str(site_of('struct.unpack(f"<{i}i", raw)'))
    walker = site_of("struct.iter_unpack")
    assert walker.function == "Walker.step" and "literal slice" in str(walker)
    # the 'fmt' assignment itself and the return line are not sites
    assert len(sites) == 12, text


def test_passes_a_clean_file(checker):
    assert checker.find_sites("efitables/y.py", CLEAN) == []


def test_main_fails_on_new_site_and_passes_when_clean(checker, tmp_path, capsys):
    root = _tree(
        tmp_path,
        {
            "efitables/__init__.py": "",
            "efitables/bad.py": OFFENDING,
            "efitables/good.py": CLEAN,
            # the schemas and memory back-ends own layouts: never reported
            "efitables/schemas/own.py": 'import struct\nX = struct.Struct("<QQ")\n',
            "efitables/memory/own.py": 'import struct\nY = struct.unpack_from("<I", b"1234", 0)\n',
        },
    )
    assert checker.main(["--root", str(root)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out and all(line.startswith("efitables/bad.py:") for line in out)
    assert len(out) == 12
    # each line is path:line: ...
    for line in out:
        path, lineno, rest = line.split(":", 2)
        assert int(lineno) > 0 and rest.startswith(" ")

    # allowlisting the functions that hold them makes it pass
    allow = (
        "efitables/bad.py:<module>  module-level fixture format\n"
        "efitables/bad.py:check  legacy reader being converted\n"
        "efitables/bad.py:Walker.step  legacy walker\n"
    )
    (root / "tools" / "literal_allowlist.txt").write_text(allow)
    assert checker.main(["--root", str(root)]) == 0

    # a new site in another function fails again, listing only it
    (root / "efitables" / "bad.py").write_text(OFFENDING + '\n\ndef new(raw):\n    return struct.unpack("<Q", raw)\n')
    capsys.readouterr()
    assert checker.main(["--root", str(root)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("efitables/bad.py:") and "in new:" in out[0]

    # stale entries: reported, fatal only with --strict
    (root / "efitables" / "bad.py").write_text(CLEAN)
    capsys.readouterr()
    assert checker.main(["--root", str(root)]) == 0
    assert "matches no site" in capsys.readouterr().err
    assert checker.main(["--root", str(root), "--strict"]) == 1


def test_entry_without_reason_fails(checker, tmp_path, capsys):
    root = _tree(tmp_path, {"efitables/__init__.py": "", "efitables/good.py": CLEAN}, "efitables/good.py:check\n")
    assert checker.main(["--root", str(root)]) == 1
    assert "has no reason" in capsys.readouterr().err


def test_format_literal_recognition(checker):
    assert checker.is_format_literal("<QII") and checker.is_format_literal(">I") and checker.is_format_literal("<16s")
    assert not checker.is_format_literal("<module>") and not checker.is_format_literal("<")
    assert not checker.is_format_literal("QII") and not checker.is_format_literal(b"<I")
