"""Validating many dumps on many machines: one picklable function per dump, and a Dask runner.

A fleet's crash dumps sit in object storage; efitables reads each one by range
where it lies (:mod:`efitables.memory.source`), so a verdict costs the blocks its
structures are in, not a download. This module is the piece an engine runs:

* :func:`validate_one` ``(url, options) -> Verdict``: one dump (a path, a URL, or
  the parts of a kdump ``--split`` set) to one
  :class:`~efitables.validate.Verdict`, never raising for a bad dump or a parser
  bug (an error verdict, exit code 2). A module-level function of plain,
  picklable arguments (:class:`ValidateOptions` is a frozen dataclass), so any
  engine ships it to its workers: a Dask bag's ``map``, ``client.submit``,
  ``ray.remote``, a ``multiprocessing`` pool. What it returns is a
  :class:`FleetVerdict`: the verdict, which worker made it, and (``stats=True``)
  what each file or URL read.
* :func:`run_dask`: every dump as one task on a ``dask.distributed`` cluster
  (a running scheduler's address, or a ``LocalCluster`` of worker processes on
  this machine), verdicts yielded as they complete
  (``distributed.as_completed``). A task that fails on its worker (an exception
  outside the guard, a worker that died and was retried until the scheduler gave
  up: ``KilledWorker``) is an error verdict for that dump; the batch goes on.

``efitables validate --executor dask [--scheduler ADDRESS]`` is :func:`run_dask`
with the command line's options; ``--jobs N`` stays the one-machine runner
(:func:`efitables.cli.validate.run_validation`, which calls :func:`validate_one`
in forked processes). Dask is optional (``pip install 'efitables[dask]'``) and
imported only by :func:`run_dask`.

Paths travel to the workers as they were given: a relative path is resolved in
each worker's working directory (a ``LocalCluster``'s is this process's); on a
remote cluster give URLs, or paths every worker sees.

Sources: dask/distributed distributed/client.py@2026.8.0 (``Client.submit``,
``as_completed``, ``Future.result`` re-raising the task's exception),
distributed/deploy/local.py@2026.8.0 (``LocalCluster``),
distributed/scheduler.py@2026.8.0 (``KilledWorker`` after
``distributed.scheduler.allowed-failures`` worker deaths).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

from efitables.findings import Severity
from efitables.validate import DumpPath, InternalError, Verdict, path_text, validate_path

#: What to install for :func:`run_dask`.
DASK_EXTRA = "pip install 'efitables[dask]'"
#: Worker processes of the LocalCluster :func:`run_dask` starts without a scheduler address.
LOCAL_WORKERS = 2
#: Seconds to wait for a scheduler given by address.
CONNECT_TIMEOUT = 30
#: Where a LocalCluster's scheduler serves HTTP (health, metrics; no dashboard): a free loopback port.
LOOPBACK_ANY_PORT = "127.0.0.1:0"


class FleetError(Exception):
    """The cluster could not be used (Dask missing, no scheduler at the address)."""


@dataclass(frozen=True)
class ValidateOptions:
    """What :func:`validate_one` does with each dump: ``efitables validate``'s options, picklable."""

    fail_on: Severity = Severity.ERROR
    #: Finding codes or patterns dropped (checked by :func:`efitables.validate.ignore_matcher`).
    ignore: tuple[str, ...] = ()
    format: str | None = None
    systab: int | None = None
    boot_params: int | None = None
    scan: str = "auto"
    exhaustive: bool = False
    #: Count what each file or URL read (:class:`efitables.memory.source.SourceStats`) into the verdict.
    stats: bool = False
    #: ``--guid-db`` CSV files, loaded once per worker process (paths every worker can read).
    guid_db: tuple[str, ...] = ()

    def open_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`efitables.validate.validate_path`'s ``open_kwargs``."""
        return {
            "format": self.format,
            "systab": self.systab,
            "boot_params": self.boot_params,
            "scan": self.scan,
            "exhaustive": self.exhaustive,
        }

    @classmethod
    def from_open_kwargs(
        cls,
        open_kwargs: dict[str, Any] | None,
        *,
        fail_on: Severity = Severity.ERROR,
        ignore: tuple[str, ...] = (),
        stats: bool = False,
        guid_db: tuple[str, ...] = (),
    ) -> ValidateOptions:
        kw = open_kwargs or {}
        return cls(
            fail_on=fail_on,
            ignore=tuple(ignore),
            format=kw.get("format"),
            systab=kw.get("systab"),
            boot_params=kw.get("boot_params"),
            scan=kw.get("scan") or "auto",
            exhaustive=bool(kw.get("exhaustive", False)),
            stats=stats,
            guid_db=tuple(guid_db),
        )


@dataclass
class FleetVerdict(Verdict):
    """A :class:`~efitables.validate.Verdict` and where it was made.

    ``stats``: one :meth:`~efitables.memory.source.SourceStats.to_dict` per file or URL the dump
    read (``ValidateOptions.stats``), else None. ``worker``: ``host:pid`` of the process that ran it.
    """

    stats: list[dict[str, Any]] | None = None
    worker: str | None = None

    @classmethod
    def of(cls, v: Verdict, **extra: Any) -> FleetVerdict:
        base = {f.name: getattr(v, f.name) for f in fields(Verdict)}
        return cls(**base, **extra)


def guarded_validate(
    path: DumpPath, fail_on: Severity, ignore: tuple[str, ...], open_kwargs: dict[str, Any]
) -> Verdict:
    """:func:`~efitables.validate.validate_path` with a last-resort guard: a parser bug fails this dump
    (exit 2), not the whole run. The fuzz tests call validate_path directly, so such a bug still fails them.
    """
    try:
        return validate_path(path, fail_on=fail_on, ignore=ignore, open_kwargs=open_kwargs)
    except InternalError as e:
        return Verdict(path=path_text(path), opened=True, fail_on=fail_on, error=str(e), stage=e.stage)
    except Exception as e:  # noqa: BLE001  (last resort; reported, never silent)
        return Verdict(
            path=path_text(path), opened=False, fail_on=fail_on, error=f"internal error: {e!r}", stage="unknown"
        )


_loaded_guid_dbs: set[str] = set()
_guid_lock = threading.Lock()


def _load_guid_dbs(paths: tuple[str, ...]) -> None:
    """Load ``--guid-db`` files once per process (a worker process starts without them)."""
    if not paths:
        return
    from efitables import guids

    with _guid_lock:
        for p in paths:
            if p not in _loaded_guid_dbs:
                guids.load_guid_csv(p)
                _loaded_guid_dbs.add(p)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def validate_one(url: DumpPath, options: ValidateOptions | None = None) -> FleetVerdict:
    """Validate one dump (a path, a URL fsspec reads, or a list of kdump ``--split`` parts).

    Never raises for a dump: an unreadable one, a bad ``--guid-db`` or a parser bug is an error
    verdict (exit code 2). Picklable (module-level, plain arguments): ship it to any engine's workers.
    """
    opts = options or ValidateOptions()
    try:
        _load_guid_dbs(opts.guid_db)
    except OSError as e:
        v = Verdict(
            path=path_text(url), opened=False, fail_on=opts.fail_on, error=f"--guid-db: {e.strerror or e}", stage="open"
        )
        return FleetVerdict.of(v, worker=worker_name())
    if not opts.stats:
        v = guarded_validate(url, opts.fail_on, opts.ignore, opts.open_kwargs())
        return FleetVerdict.of(v, worker=worker_name())
    from efitables.memory.source import collect_stats

    with collect_stats() as got:
        v = guarded_validate(url, opts.fail_on, opts.ignore, opts.open_kwargs())
    return FleetVerdict.of(v, stats=[s.to_dict() for s in got], worker=worker_name())


def failed_verdict(url: DumpPath, options: ValidateOptions, error: BaseException) -> FleetVerdict:
    """The verdict of a dump whose task failed on the cluster (exit code 2, stage ``worker``)."""
    v = Verdict(
        path=path_text(url),
        opened=False,
        fail_on=options.fail_on,
        error=f"worker failed: {type(error).__name__}: {error}",
        stage="worker",
    )
    return FleetVerdict.of(v)


Task = Callable[[Any, ValidateOptions], Verdict]


@dataclass
class DaskRun:
    """What :func:`run_dask` reports besides the verdicts: the cluster it used (filled as it starts)."""

    scheduler: str | None = None
    workers: int = 0
    submitted: int = 0
    local: bool = False


def run_dask(
    urls: Iterable[DumpPath],
    options: ValidateOptions | None = None,
    scheduler: str | None = None,
    workers: int = LOCAL_WORKERS,
    *,
    task: Task = validate_one,
    run: DaskRun | None = None,
    on_submitted: Callable[[int], None] | None = None,
) -> Iterator[Verdict]:
    """Validate every dump as one task on a Dask cluster; yield verdicts in completion order.

    ``scheduler``: the address of a running scheduler (``tcp://host:8786``), or None to start a
    ``LocalCluster`` of ``workers`` processes (one thread each) on 127.0.0.1, closed when the
    iteration ends. ``task`` is what runs per dump (:func:`validate_one`; any picklable function of
    ``(url, options)``). A task that fails on the cluster is an error verdict for its dump
    (:func:`failed_verdict`); nothing stops the batch. ``on_submitted(n)`` runs once every task is
    submitted (a progress bar's total); ``run`` is filled with the cluster's address and size.

    Raises :class:`FleetError` when Dask is not installed or the scheduler cannot be reached.
    """
    opts = options or ValidateOptions()
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as e:
        raise FleetError(f"--executor dask needs dask.distributed ({e}): {DASK_EXTRA}") from None
    run = run if run is not None else DaskRun()
    cluster: Any = None
    client: Any = None
    try:
        if scheduler is None:
            cluster = local_cluster(workers, LocalCluster)
            client = Client(cluster)
            run.local = True
        else:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except OSError as e:  # a scheduler that does not answer: distributed raises OSError (TimeoutError)
        _close(client, cluster)
        raise FleetError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    except Exception as e:  # noqa: BLE001 (LocalCluster start-up failures)
        _close(client, cluster)
        raise FleetError(f"cannot start a Dask cluster: {type(e).__name__}: {e}") from None
    try:
        run.scheduler = client.scheduler.address
        run.workers = len(client.scheduler_info().get("workers", {}))
        tag = uuid.uuid4().hex[:12]
        futures: dict[Any, DumpPath] = {}
        for i, url in enumerate(urls):
            fut = client.submit(task, url, opts, key=f"efitables-validate-{tag}-{i}", pure=False)
            futures[fut] = url
        run.submitted = len(futures)
        if on_submitted is not None:
            on_submitted(len(futures))
        for fut in as_completed(list(futures)):
            url = futures.pop(fut)
            try:
                v = fut.result()
            except Exception as e:  # noqa: BLE001 (the task's own exception, KilledWorker, CancelledError)
                v = failed_verdict(url, opts, e)
            fut.release()
            yield v
    finally:
        _close(client, cluster)


def local_cluster(workers: int = LOCAL_WORKERS, cls: Any = None) -> Any:
    """A ``distributed.LocalCluster`` for validating: ``workers`` processes of one thread each (the parsers
    hold the GIL), everything on 127.0.0.1, no dashboard (the scheduler's own HTTP server on a free
    loopback port). The caller closes it."""
    import dask

    if cls is None:
        from distributed import LocalCluster as cls
    # The workers' statistical profiler feeds the dashboard only; its 10 ms stack samples take the GIL
    # from the parsers (bench/bench_fleet.py rounds: 31-41 dumps/s with it, 44-47 without).
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        return cls(
            n_workers=workers,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": LOOPBACK_ANY_PORT},
        )


def _close(client: Any, cluster: Any) -> None:
    for thing in (client, cluster):
        if thing is not None:
            try:
                thing.close()
            except Exception:  # noqa: BLE001 (closing: nothing more to report)
                pass


def validate_many(urls: Sequence[DumpPath], options: ValidateOptions | None = None) -> list[FleetVerdict]:
    """:func:`validate_one` over ``urls`` in this process, in order (the reference a cluster's verdicts
    are compared with)."""
    return [validate_one(u, options) for u in urls]
