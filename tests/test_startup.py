"""Start-up laziness (issue 16): the CLI's --version and --help import no parser; the package API still works.

These test what gets imported, not how long it takes (bench/bench_startup.py times it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import efitables
from efitables.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parent.parent
#: The parsers, and the heavy dependencies only they need.
HEAVY = ("efitables.dump", "efitables.efi", "efitables.boot", "efitables.memory", "efitables.payloads", "numpy", "rich")
EXPECTED_COMMANDS = ["coverage", "diff", "dmesg", "export", "scan", "show", "tui", "validate"]


def run_py(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100", **env},
    )


def efitables_argv() -> list[str]:
    script = Path(sys.executable).with_name("efitables")
    return [str(script)] if script.exists() else [sys.executable, "-m", "efitables"]


def test_version_exits_0():
    r = subprocess.run([*efitables_argv(), "--version"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"efitables, version {efitables.__version__}"


def test_python_m_efitables_version():
    r = subprocess.run([sys.executable, "-m", "efitables", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and efitables.__version__ in r.stdout, r.stderr


def test_importing_the_cli_imports_no_parser():
    r = run_py('import efitables.cli, sys; assert "efitables.dump" not in sys.modules')
    assert r.returncode == 0, r.stderr
    code = "import efitables.cli, sys; print(sorted(m for m in sys.modules if m.startswith({!r})))"
    for heavy in HEAVY:
        r = run_py(code.format(heavy))
        assert r.returncode == 0 and r.stdout.strip() == "[]", (heavy, r.stdout, r.stderr)


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["-h"], []])
def test_version_and_help_import_no_parser(args):
    code = (
        "import sys\n"
        "from efitables.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        f"heavy = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))\n"
        "assert not heavy, heavy\n"
        "sys.exit(code)\n"
    )
    r = run_py(code)
    assert r.returncode in (0, 2), r.stderr  # click exits 2 when the command is missing (no args)
    assert "AssertionError" not in r.stderr, r.stderr


def test_import_efitables_is_light_and_api_loads_on_use():
    code = (
        "import sys, efitables\n"
        "assert 'efitables.dump' not in sys.modules and 'efitables.memory' not in sys.modules\n"
        "from efitables import open, Dump, PhysicalMemory, open_memory, Finding, Severity, EfitablesError\n"
        "import efitables.dump, efitables.memory\n"
        "assert open is efitables.dump.open and Dump is efitables.dump.Dump\n"
        "assert PhysicalMemory is efitables.memory.PhysicalMemory and open_memory is efitables.memory.open_memory\n"
        "assert efitables.open is open and efitables.Dump is Dump\n"
    )
    r = run_py(code)
    assert r.returncode == 0, r.stderr


def test_package_api_names():
    for name in efitables.__all__:
        assert getattr(efitables, name) is not None, name
        assert name in dir(efitables)
    from efitables import Dump, open

    assert open.__module__ == "efitables.dump" and Dump.__module__ == "efitables.dump"
    with pytest.raises(AttributeError):
        efitables.no_such_name  # noqa: B018
    with pytest.raises(ImportError):
        from efitables import no_such_name  # noqa: F401


def test_every_command_listed_in_help():
    r = subprocess.run([*efitables_argv(), "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    listed = [line.split()[0] for line in r.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == EXPECTED_COMMANDS
    assert sorted(COMMANDS) == EXPECTED_COMMANDS


def test_lazy_help_is_the_eager_help():
    """--help before any command is loaded reads exactly as after all are (the summaries are current)."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from efitables.cli import cli\n"
        "lazy = CliRunner().invoke(cli, ['--help'], terminal_width=WIDTH).output\n"
        "assert 'efitables.dump' not in sys.modules\n"
        "cli.load_all()\n"
        "assert 'efitables.dump' in sys.modules\n"
        "eager = CliRunner().invoke(cli, ['--help'], terminal_width=WIDTH).output\n"
        "assert lazy == eager, (lazy, eager)\n"
        "print(lazy)\n"
    )
    for width in (40, 80, 100, 200):
        r = run_py(code.replace("WIDTH", str(width)))
        assert r.returncode == 0, r.stderr
        assert "Commands:" in r.stdout


@pytest.mark.parametrize("name", EXPECTED_COMMANDS)
def test_summaries_match_the_commands(name):
    cmd = cli.get_command(click.Context(cli), name)
    assert cmd is not None and cmd.name == name and cmd.help
    assert " ".join(cmd.help.partition("\n\n")[0].split()) == " ".join(COMMANDS[name].summary.split())
    stand_in = click.Command(name, help=COMMANDS[name].summary)
    for limit in (10, 30, 45, 60, 94, 200):
        assert stand_in.get_short_help_str(limit) == cmd.get_short_help_str(limit)


@pytest.mark.parametrize("name", EXPECTED_COMMANDS)
def test_command_help_still_works(name):
    r = CliRunner().invoke(cli, [name, "--help"])
    assert r.exit_code == 0, r.output
    assert f"Usage: cli {name}" in r.output or f"Usage: efitables {name}" in r.output


def test_show_sections_all_register():
    """Loading 'show' also loads the modules that add its boot and SEV-SNP sections, in the old order."""
    code = (
        "import click\n"
        "import efitables.cli.show\n"  # the command's own module imported first, as a test might
        "from efitables.cli import cli\n"
        "cli.get_command(click.Context(cli), 'show')\n"
        "from efitables.cli.show import SECTIONS\n"
        "print(' '.join(f.__name__ for f in SECTIONS))\n"
    )
    r = run_py(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [
        "container_section",
        "efi_section",
        "payload_section",
        "memmap_section",
        "boot_section",
        "snp_section",
        "kernel_section",
    ]


def test_shell_completion_of_command_names():
    env = {**os.environ, "_EFITABLES_COMPLETE": "bash_complete", "COMP_WORDS": "efitables s", "COMP_CWORD": "1"}
    r = subprocess.run(efitables_argv(), capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["plain,scan", "plain,show"]


def test_shell_completion_of_command_options():
    env = {"_EFITABLES_COMPLETE": "bash_complete", "COMP_WORDS": "efitables show --boot", "COMP_CWORD": "2"}
    r = subprocess.run(efitables_argv(), capture_output=True, text=True, env={**os.environ, **env}, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["plain,--boot-params"]


def test_shell_completion_lists_commands_without_loading_them():
    code = (
        "import sys\n"
        "from click.shell_completion import ShellComplete\n"
        "from efitables.cli import cli\n"
        "items = ShellComplete(cli, {}, 'efitables', '_EFITABLES_COMPLETE').get_completions([], '')\n"
        "assert 'efitables.dump' not in sys.modules\n"
        "print(' '.join(i.value for i in items))\n"
    )
    r = run_py(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == EXPECTED_COMMANDS


def test_unknown_command():
    r = CliRunner().invoke(cli, ["nonesuch"])
    assert r.exit_code == 2 and "No such command" in r.output


def test_all_codes_complete_in_a_fresh_process():
    """all_codes() imports what registers the codes itself (the package no longer does on import)."""
    code = (
        "import sys\n"
        "from efitables.findings import all_codes\n"
        "assert 'efitables.dump' not in sys.modules\n"
        "codes = {c.code for c in all_codes()}\n"
        "assert 'efitables.dump' in sys.modules\n"
        "print(len(codes))\n"
    )
    r = run_py(code)
    assert r.returncode == 0, r.stderr
    from efitables.findings import all_codes

    assert int(r.stdout) == len(all_codes())


def test_a_hinted_report_never_imports_numpy():
    """numpy serves the signature sweep and the old-kernel kallsyms walk only: a hinted report needs neither."""
    code = (
        "import sys, efitables\n"
        "with efitables.open('dumps/samples/ovmf64.raw', boot_params=0x13000) as d:\n"
        "    d.to_dict()\n"
        "    assert d.systab is not None and 'scan_hits' not in d.__dict__\n"
        "print('numpy' in sys.modules)\n"
    )
    r = run_py(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
