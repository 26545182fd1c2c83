"""Validating on Dask (issue 17): a LocalCluster of two worker processes on 127.0.0.1 validates the bundled
samples and the real corpus and must reach the verdicts ``--jobs 1`` reaches; a task that fails on its
worker is that dump's error verdict and the batch goes on; verdicts come in completion order and the JSONL
lines parse; the pipeline entry (:func:`efitables.fleet.validate_one`) is picklable and runs in a Dask bag.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

from test_real_dumps import corpus  # noqa: E402,F401 (the session fixture: the real corpus, decompressed)

import efitables.cli.validate as cli_validate  # noqa: E402
from efitables.cli import cli  # noqa: E402
from efitables.findings import Severity  # noqa: E402
from efitables.fleet import (  # noqa: E402
    DaskRun,
    FleetVerdict,
    ValidateOptions,
    local_cluster,
    run_dask,
    validate_one,
)
from efitables.jsonout import verdict_line  # noqa: E402
from efitables.validate import Verdict  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "dumps" / "samples"
SCHEMAS = ROOT / "docs" / "schemas"
#: Tasks defined here run on the workers: pickle them by value (the workers cannot import this module).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster() -> Any:
    """Two worker processes, one thread each, on 127.0.0.1, no dashboard: shared by the tests here."""
    lc = local_cluster(2)  # LocalCluster(n_workers=2, processes=True, threads_per_worker=1) on 127.0.0.1
    assert len(lc.workers) == 2 and lc.scheduler_address.startswith("tcp://127.0.0.1:")
    try:
        yield lc
    finally:
        lc.close()


@pytest.fixture(scope="module")
def dumps(corpus: dict[str, dict[str, Path]]) -> list[str]:  # noqa: F811
    """The samples, every real container, a file that is not there and a directory's worth of nothing."""
    out = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".raw", ".elf"))
    for variant in sorted(corpus):
        out += [str(p) for _name, p in sorted(corpus[variant].items())]
    return out + [str(SAMPLES / "no-such-dump.raw")]


def comparable(v: Verdict | dict[str, Any]) -> dict[str, Any]:
    """A verdict as ``validate --jsonl`` prints it, less what differs between runs (seconds, the envelope)."""
    d = dict(v) if isinstance(v, dict) else verdict_line(v.to_dict())
    for k in ("seconds", "schema_version", "tool", "command", "dump", "stats"):
        d.pop(k, None)
    return d


def efitables_argv() -> list[str]:
    exe = Path(sys.executable).with_name("efitables")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "efitables"]


@pytest.fixture(scope="module")
def reference(dumps: list[str]) -> dict[str, dict[str, Any]]:
    """``efitables validate --jsonl --jobs 1`` of every dump, in a process of its own (this one has run other
    tests, which may have loaded GUID names or patched modules: its verdicts are not the reference)."""
    r = subprocess.run([*efitables_argv(), "validate", "--jsonl", "--no-progress", "--jobs", "1", *dumps],
                       capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert r.returncode == 2, r.stderr[-2000:]  # the missing file
    docs = [json.loads(x) for x in r.stdout.splitlines()]
    assert [d["path"] for d in docs] == dumps
    return {d["path"]: d for d in docs}


def test_dask_verdicts_are_the_jobs_1_verdicts(cluster: Any, dumps: list[str], reference: dict[str, Any]) -> None:
    opts = ValidateOptions()
    run = DaskRun()
    got = list(run_dask(dumps, opts, scheduler=cluster.scheduler_address, run=run))
    assert run.workers == 2 and run.submitted == len(dumps) and not run.local
    assert sorted(v.path for v in got) == sorted(dumps)
    for v in got:
        assert comparable(v) == comparable(reference[v.path]), v.path
    assert {v.status for v in got} >= {"ok", "error"}  # the missing file is an error verdict, not a crash
    workers = {v.worker for v in got if isinstance(v, FleetVerdict)}
    assert len(workers) == 2 and os.getpid() not in {int(str(w).rsplit(":", 1)[1]) for w in workers}


def raise_for_seabios(url: Any, options: ValidateOptions) -> Verdict:
    """A task that blows up on one dump (as a worker-side bug or an out-of-memory kill would)."""
    if str(url).endswith("seabios.raw"):
        raise RuntimeError("boom in the worker")
    return validate_one(url, options)


def test_a_task_that_raises_is_an_error_verdict_and_the_batch_goes_on(cluster: Any) -> None:
    urls = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".raw", ".elf"))
    got = {v.path: v for v in run_dask(urls, scheduler=cluster.scheduler_address, task=raise_for_seabios)}
    assert sorted(got) == urls
    bad = got[str(SAMPLES / "seabios.raw")]
    assert bad.exit_code == 2 and bad.stage == "worker" and "RuntimeError: boom in the worker" in (bad.error or "")
    assert all(v.status == "ok" for p, v in got.items() if p != bad.path)


def wait_for_marker(url: Any, options: ValidateOptions) -> Verdict:
    """The first dump's task waits until the test has received every other verdict (a marker file)."""
    marker = Path(str(url)).with_name("release")
    if str(url).endswith("first.raw"):
        from distributed import secede

        secede()  # leave the worker's thread pool: a task queued behind this one on its worker runs meanwhile
        for _ in range(1200):
            if marker.exists():
                break
            time.sleep(0.05)
    return validate_one(url, options)


def test_verdicts_come_in_completion_order(cluster: Any, tmp_path: Path) -> None:
    names = ["first.raw", "b.raw", "c.raw", "d.raw"]
    for n in names:
        os.link(SAMPLES / "seabios.raw", tmp_path / n)
    urls = [str(tmp_path / n) for n in names]
    seen: list[str] = []
    for v in run_dask(urls, scheduler=cluster.scheduler_address, task=wait_for_marker):
        seen.append(Path(v.path).name)
        if len(seen) == len(names) - 1:
            (tmp_path / "release").touch()  # only now can the first dump's task finish
    assert seen[-1] == "first.raw" and sorted(seen) == sorted(names)


def test_validate_one_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: Any, **_k: Any) -> Verdict:
        raise ZeroDivisionError("a parser bug")

    monkeypatch.setattr("efitables.fleet.validate_path", broken)
    v = validate_one(str(SAMPLES / "seabios.raw"))
    assert v.exit_code == 2 and v.stage == "unknown" and "ZeroDivisionError" in (v.error or "")
    v = validate_one(str(SAMPLES / "seabios.raw"), ValidateOptions(guid_db=("/no/such/guids.csv",)))
    assert v.exit_code == 2 and (v.error or "").startswith("--guid-db")


def test_verdicts_and_options_pickle() -> None:
    opts = ValidateOptions(fail_on=Severity.WARNING, ignore=("EFI-CFGTAB-*",), boot_params=0x13000, stats=True)
    assert pickle.loads(pickle.dumps(opts)) == opts
    v = validate_one(str(SAMPLES / "ovmf64.raw"), opts)
    assert isinstance(v, FleetVerdict) and isinstance(v, Verdict) and v.stats
    back = pickle.loads(pickle.dumps(v))
    assert back == v and back.to_dict() == v.to_dict() and back.exit_code == v.exit_code
    (st,) = v.stats
    assert st["path"] == str(SAMPLES / "ovmf64.raw") and st["bytes_read"] > 0 and st["remote"] is False


def test_the_dask_bag_recipe(cluster: Any, reference: dict[str, Any]) -> None:
    """README's recipe: a bag of URLs mapped through validate_one, on the cluster's client."""
    import dask.bag as db

    urls = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".raw", ".elf"))
    with distributed.Client(cluster):
        verdicts = db.from_sequence(urls, npartitions=2).map(validate_one, options=ValidateOptions()).compute()
    assert [comparable(v) for v in verdicts] == [comparable(reference[u]) for u in urls]
    # the options travel: --fail-on warning as a ValidateOptions field
    strict = ValidateOptions(fail_on=Severity.WARNING)
    with distributed.Client(cluster):
        again = db.from_sequence(urls, npartitions=2).map(validate_one, options=strict).compute()
    assert [v.fail_on for v in again] == [Severity.WARNING] * len(urls)
    assert [v.findings for v in again] == [v.findings for v in verdicts]


def run_cli(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_cli_dask_jsonl_is_jobs_1(cluster: Any, dumps: list[str]) -> None:
    samples = [d for d in dumps if d.startswith(str(SAMPLES))]
    r = subprocess.run([*efitables_argv(), "validate", "--jsonl", "--no-progress", "--stats", *samples],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    code_l, out_l = r.returncode, r.stdout
    code_d, out_d, err_d = run_cli("validate", "--jsonl", "--no-progress", "--stats", "--executor", "dask",
                                   "--scheduler", cluster.scheduler_address, *samples)
    assert code_d == code_l == 2  # the missing file
    schema = Draft202012Validator(json.loads((SCHEMAS / "validate.schema.json").read_text()))

    def lines(out: str) -> dict[str, dict[str, Any]]:
        docs = [json.loads(x) for x in out.splitlines()]
        for d in docs:
            assert not list(schema.iter_errors(d))
        return {d["path"]: d for d in docs}

    local, dask = lines(out_l), lines(out_d)
    assert sorted(dask) == sorted(samples)
    for path, d in dask.items():
        want = local[path]
        for k in ("status", "exit_code", "counts", "findings", "error"):
            assert d[k] == want[k], (path, k)
        assert d["stats"] == want["stats"]  # the same reads, made on a worker
        assert [s["path"] for s in d["stats"]] == ([path] if want["status"] != "error" else [])
    assert err_d.count("stats: ") == len(samples) - 1


def test_cli_streams_jsonl_as_verdicts_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each JSONL line is written when its verdict arrives, before the next one is waited for."""
    urls = [str(SAMPLES / "seabios.raw"), str(SAMPLES / "ovmf64.raw")]
    written: list[int] = []

    def fake_run_dask(paths: list[Any], options: ValidateOptions, *_a: Any, **_k: Any) -> Any:
        for p in reversed(paths):  # completion order is not argument order
            sys.stdout.flush()
            written.append(len(sys.stdout.buffer.getvalue().splitlines()))  # type: ignore[attr-defined]
            yield validate_one(p, options)

    monkeypatch.setattr(cli_validate, "run_dask", fake_run_dask)
    code, out, _ = run_cli("validate", "--jsonl", "--no-progress", "--executor", "dask", *urls)
    assert code == 0
    assert written == [0, 1]  # the first line was out before the second verdict was asked for
    assert [json.loads(x)["path"] for x in out.splitlines()] == list(reversed(urls))


def test_cli_dask_local_cluster_text(tmp_path: Path) -> None:
    """--executor dask without --scheduler starts (and stops) a LocalCluster of --workers processes."""
    argv = efitables_argv()
    urls = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".raw", ".elf"))
    r = subprocess.run([*argv, "validate", "--executor", "dask", "--workers", "2", "-q", *urls],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sorted(x.split(":")[0] for x in lines[:-1]) == urls
    assert lines[-1].startswith(f"{len(urls)} dumps: {len(urls)} ok")


def test_cli_bad_scheduler_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("efitables.fleet.CONNECT_TIMEOUT", 2)
    code, _out, err = run_cli("validate", "--scheduler", "tcp://127.0.0.1:9", "--no-progress",
                              str(SAMPLES / "seabios.raw"))
    assert code == 2 and "cannot reach the Dask scheduler" in err
    code, _out, err = run_cli("validate", "--executor", "local", "--scheduler", "tcp://127.0.0.1:9",
                              str(SAMPLES / "seabios.raw"))
    assert code == 2 and "--executor dask" in err


def test_cli_dask_workers_load_the_guid_db(cluster: Any, tmp_path: Path) -> None:
    """--guid-db files travel in the options; each worker process loads them before its first dump."""
    from dumps.make_samples import UNKNOWN_GUID

    csv = tmp_path / "names.csv"
    csv.write_text(f"{UNKNOWN_GUID},SampleVendorTable\n")
    urls = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".raw", ".elf"))
    plain = [json.loads(x) for x in run_cli("validate", "--jsonl", "--no-progress", "--executor", "dask",
                                            "--scheduler", cluster.scheduler_address, *urls)[1].splitlines()]
    assert "EFI-CFGTAB-UNKNOWN-GUID" in {f["code"] for d in plain for f in d["findings"]}
    named = [json.loads(x) for x in run_cli("validate", "--jsonl", "--no-progress", "--executor", "dask",
                                            "--scheduler", cluster.scheduler_address, "--guid-db", str(csv),
                                            *urls)[1].splitlines()]
    assert sorted(d["path"] for d in named) == urls and all(d["status"] == "ok" for d in named)
    assert "EFI-CFGTAB-UNKNOWN-GUID" not in {f["code"] for d in named for f in d["findings"]}


def test_local_runs_import_neither_fsspec_nor_dask() -> None:
    """The extras load only when used: a local dump's report and the validate command's module need neither."""
    code = (
        "import sys, efitables\n"
        "import efitables.cli.validate\n"
        "with efitables.open('dumps/samples/ovmf64.raw') as d:\n"
        "    d.report()\n"
        "print(sorted(m for m in ('fsspec', 'aiohttp', 'dask', 'distributed') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
