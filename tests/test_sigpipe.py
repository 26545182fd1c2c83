"""A reader that closes standard output early (``efitables show DUMP | head -1``): efitables stops
quietly with 141 (128 + SIGPIPE, what the shell reports for a tool SIGPIPE ended), never 1 (the
code for "findings") nor a traceback.

Real pipes and real processes: through bash with ``pipefail`` and ``PIPESTATUS``, and through a
pipe whose read end is closed before efitables writes (every write fails, whatever the timing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from efitables.cli import EXIT_BROKEN_PIPE

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "dumps" / "samples"
SAMPLE = str(SAMPLES / "ovmf64-virt.elf")
ALL = [str(p) for p in sorted(SAMPLES.iterdir()) if p.suffix in (".raw", ".elf")]


def efitables_argv() -> list[str]:
    script = Path(sys.executable).with_name("efitables")
    return [str(script)] if script.exists() else [sys.executable, "-m", "efitables"]


def test_exit_code_is_128_plus_sigpipe():
    assert EXIT_BROKEN_PIPE == 141


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("head") is None, reason="needs bash and head")
@pytest.mark.parametrize(
    "args",
    [
        ["show", "--full", *ALL, *ALL, *ALL, *ALL],  # the text report of every sample, four times
        ["show", "--json", "--raw", *ALL],
    ],
    ids=["show", "show-json"],
)
def test_show_into_head_through_bash(args):
    """``efitables show ... | head -1`` under ``bash -o pipefail``: PIPESTATUS[0] is efitables' own status.

    The output is far larger than a pipe's buffer (64 KiB) plus what head reads, so efitables is
    still writing when head has quit.
    """
    full = subprocess.run([*efitables_argv(), *args], capture_output=True, cwd=ROOT)
    assert full.returncode == 0 and len(full.stdout) > 4 * 65536, (full.returncode, len(full.stdout))
    cmd = " ".join(f"'{a}'" for a in [*efitables_argv(), *args])
    script = f'{cmd} | head -1; status=("${{PIPESTATUS[@]}}"); echo "${{status[*]}}" >&2'
    r = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert r.stdout.splitlines() == [full.stdout.decode().splitlines()[0]]
    # efitables 141, head 0; and nothing else on stderr: no traceback, no message
    assert r.stderr == f"{EXIT_BROKEN_PIPE} 0\n", r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        ["show", "--help"],
        ["show", SAMPLE],
        ["show", "--json", SAMPLE],
        ["scan", SAMPLE],
        ["scan", "--json", SAMPLE],
        ["coverage", SAMPLE],
        ["coverage", "--json", SAMPLE],
        ["coverage", "--list-models"],
        ["diff", SAMPLE, str(SAMPLES / "ovmf64.raw")],
        ["diff", "--json", SAMPLE, str(SAMPLES / "ovmf64.raw")],
        ["validate", str(SAMPLES)],
        ["validate", "--json", str(SAMPLES)],
        ["validate", "--jsonl", str(SAMPLES)],
        ["validate", "--sarif", str(SAMPLES)],
        ["validate", "--jobs", "2", "--jsonl", str(SAMPLES)],
    ],
    ids=lambda a: " ".join(Path(x).name if "/" in x else x for x in a),
)
def test_every_command_into_a_closed_pipe(args):
    """The read end is closed before efitables starts: its first write meets EPIPE."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([*efitables_argv(), *args], stdout=w, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    finally:
        os.close(w)
    validate_summaries = [x for x in p.stderr.splitlines() if ": OK (" in x or ": FAIL (" in x]
    assert p.returncode == EXIT_BROKEN_PIPE, p.stderr
    # only validate's per-dump summary lines (its machine formats print them on stderr) may be there
    assert p.stderr.splitlines() == validate_summaries, p.stderr
    assert "Traceback" not in p.stderr and "BrokenPipeError" not in p.stderr
