"""Packaging: the wheel and sdist (their files, PEP 639 license metadata, no setuptools deprecation
warning while building), ``--version`` (efitables, Python and the libraries, none of them imported),
and shell completion as the README documents it.

The distributions are those CI built (``EFITABLES_DIST``: a directory with the wheel, the sdist and
``build.log``, the output of ``python -m build``; see .ci/run), else built here into a temporary
directory with ``python -m build`` (an isolated build: it fetches setuptools>=77 like pip does).
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

import efitables
from efitables.cli import VERSION_DISTRIBUTIONS, installed_versions, version_text

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NAME = f"efitables-{efitables.__version__}"
#: Files the wheel must carry besides modules: the data the parsers load, the TUI's stylesheet.
DATA_FILES = sorted(
    [f"efitables/data/{p.name}" for p in (ROOT / "efitables" / "data").iterdir() if p.suffix in (".csv", ".idx")]
    + [f"efitables_tui/{p.name}" for p in (ROOT / "tui" / "efitables_tui").glob("*.tcss")]
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("EFITABLES_DIST")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], capture_output=True, text=True, cwd=ROOT
    )
    (out / "build.log").write_text(r.stdout + r.stderr)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return out


def one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


def test_the_data_files_exist_in_the_tree():
    assert any(f.endswith(".idx") for f in DATA_FILES) and any(f.endswith(".csv") for f in DATA_FILES)
    assert any(f.endswith(".tcss") for f in DATA_FILES)


def test_wheel_files(dist):
    wheel = one(dist, "efitables-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        missing = [f for f in DATA_FILES if f not in names]
        assert not missing, missing
        assert z.read(f"{NAME}.dist-info/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        assert {"efitables/cli/__init__.py", "efitables/jsonout.py", "efitables_tui/app.py"} <= names
        assert z.read("efitables/data/edk2_guids.idx") == (ROOT / "efitables" / "data" / "edk2_guids.idx").read_bytes()
        meta = email.parser.Parser().parsestr(z.read(f"{NAME}.dist-info/METADATA").decode())
        entry_points = z.read(f"{NAME}.dist-info/entry_points.txt").decode()
    assert "efitables = efitables.cli:main" in entry_points
    assert meta["Name"] == "efitables" and meta["Version"] == efitables.__version__
    # PEP 639: an SPDX expression and the license file; no License :: classifier beside them
    assert meta["License-Expression"] == "MIT" and meta.get_all("License-File") == ["LICENSE"]
    assert meta["License"] is None
    classifiers = meta.get_all("Classifier")
    assert classifiers == PYPROJECT["project"]["classifiers"]
    assert not [c for c in classifiers if c.startswith("License ::")]
    for c in (
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Operating System :: POSIX :: Linux",
        "Topic :: System :: Recovery Tools",
        "Topic :: Security",
        "Environment :: Console :: Curses",
    ):
        assert c in classifiers, c
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Source", "Issues", "Documentation"}
    assert all(u.startswith("https://github.com/efitables/efitables") for u in urls.values())
    assert meta["Requires-Python"] == ">=3.11" and "forensics" in meta["Keywords"].split(",")
    assert meta["Description-Content-Type"] == "text/markdown"


def test_sdist_files(dist):
    sdist = one(dist, "efitables-*.tar.gz")
    with tarfile.open(sdist) as t:
        names = {n.removeprefix(f"{NAME}/") for n in t.getnames()}
        lic = t.extractfile(f"{NAME}/LICENSE")
        assert lic is not None and lic.read() == (ROOT / "LICENSE").read_bytes()
    assert {"LICENSE", "README.md", "pyproject.toml", "PKG-INFO"} <= names
    missing = [f for f in DATA_FILES if f not in names and f"tui/{f}" not in names]
    assert not missing, missing


def test_build_prints_no_deprecation_warning(dist):
    log = (dist / "build.log").read_text()
    assert "Successfully built" in log
    for bad in ("SetuptoolsDeprecationWarning", "project.license` as a TOML table", "License classifiers"):
        assert bad not in log, bad


def test_twine_check(dist):
    files = [str(one(dist, "efitables-*.whl")), str(one(dist, "efitables-*.tar.gz"))]
    r = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("PASSED") == 2


def test_pyproject_license_and_build_floor():
    assert PYPROJECT["project"]["license"] == "MIT" and PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"]
    head = (ROOT / "LICENSE").read_text().splitlines()[:3]
    assert head == ["MIT License", "", "Copyright (c) 2026 the efitables authors"]
    test_extra = " ".join(PYPROJECT["project"]["optional-dependencies"]["test"])
    assert "build" in test_extra and "twine" in test_extra


# -- --version -----------------------------------------------------------------------------------


def test_version_names_every_library_as_importlib_metadata_does():
    names = [d.split(">")[0].split("=")[0].split("<")[0].strip() for d in PYPROJECT["project"]["dependencies"]]
    assert list(VERSION_DISTRIBUTIONS) == names  # every runtime dependency, in pyproject's order
    found = installed_versions()
    for name in VERSION_DISTRIBUTIONS:
        assert found[name] == importlib.metadata.version(name), name
    assert installed_versions(("no-such-distribution-efitables",)) == {"no-such-distribution-efitables": None}


def test_version_output():
    r = subprocess.run([sys.executable, "-m", "efitables", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines == version_text().splitlines()
    assert lines[0] == f"efitables, version {efitables.__version__}"  # click's first line, as before
    assert lines[1].startswith(f"Python {sys.version.split()[0]} (")
    assert lines[2:] == [f"{n} {importlib.metadata.version(n)}" for n in VERSION_DISTRIBUTIONS]


def test_version_imports_none_of_the_libraries():
    code = (
        "import sys\n"
        "from efitables.cli import main\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "mods = ('construct', 'elftools', 'rich', 'numpy', 'textual', 'cramjam', 'lzokay', 'importlib.metadata')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in mods or m == 'importlib.metadata'))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "[]"


# -- shell completion (README: "Shell completion") -----------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script(shell):
    env = {**os.environ, "_EFITABLES_COMPLETE": f"{shell}_source"}
    r = subprocess.run([sys.executable, "-m", "efitables"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr
    assert "_EFITABLES_COMPLETE" in r.stdout and f"{shell}_complete" in r.stdout
    if shell == "bash":
        assert "complete -o nosort -F _efitables_completion efitables" in r.stdout


def test_completion_answers_commands_and_options():
    env = {**os.environ, "_EFITABLES_COMPLETE": "bash_complete", "COMP_WORDS": "efitables sh", "COMP_CWORD": "1"}
    r = subprocess.run([sys.executable, "-m", "efitables"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0 and r.stdout.splitlines() == ["plain,show"], r.stdout + r.stderr
    env.update(COMP_WORDS="efitables show --js", COMP_CWORD="2")
    r = subprocess.run([sys.executable, "-m", "efitables"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0 and r.stdout.splitlines() == ["plain,--json"], r.stdout + r.stderr
