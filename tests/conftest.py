from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "dumps" / "samples"


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def real_files(tmp_path_factory: pytest.TempPathFactory):
    """The real-dump corpus, each file unpacked (sparse) once per session however many modules read it."""
    from real_files import RealFiles

    return RealFiles(tmp_path_factory.mktemp("real-corpus"))


@pytest.fixture(scope="session")
def expected() -> dict:
    return json.loads((SAMPLES / "expected.json").read_text())


@pytest.fixture(autouse=True)
def _guid_names_restored():
    """A test that loads a user GUID list (``--guid-db`` through the CLI in-process) leaves the process-wide
    name registry as it found it, so later tests see the built-in names only."""
    import efitables.guids as guids

    saved = dict(guids._REGISTRY)
    yield
    if guids._REGISTRY != saved:
        guids._REGISTRY.clear()
        guids._REGISTRY.update(saved)
        guids._NAME_INDEX = None
