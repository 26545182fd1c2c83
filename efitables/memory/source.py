"""Where a container's bytes come from: a local file, or a URL read by range through fsspec.

Every container (:mod:`efitables.memory`) reads its file through one
:class:`ByteSource`: ``pread(size, offset) -> bytes`` (short only at the end of
the file, as ``os.pread``), ``size``, ``name``, ``close()`` and the counters of
:class:`SourceStats`. :func:`open_source` picks the source:

* a path, or a ``file://`` URL: :class:`LocalSource` (``os.pread`` on a
  read-only descriptor; the raw container maps windows of it for sweeps);
* any other URL (``s3://bucket/vmcore``, ``https://host/vmcore``, ``gs://``,
  ``simplecache::s3://...``: any protocol an installed fsspec implementation
  knows): :class:`FsspecSource`, an fsspec file opened read-only with a block
  cache (:data:`CACHE_TYPE`, :data:`BLOCK_SIZE`, :data:`CACHE_BLOCKS`), so a
  container reads only the blocks that hold what it parses and a hinted ``show``
  of a multi-GiB dump fetches a few blocks. fsspec is an optional dependency
  (``pip install 'efitables[remote]'``) imported only here, only for a URL.

A remote source refuses, at open, a server that does not serve byte ranges (an
HTTP server answering ``Range`` with the whole file): reading a dump by range is
the point, and the alternative would be a download of the whole object per
read. Its check is one request for one byte (:meth:`FsspecSource._check_ranges`).
A read that fails later (the network, the server) raises :class:`SourceError`,
an ``OSError``: while a container opens that is a
:class:`~efitables.errors.DumpOpenError`, and afterwards
:class:`~efitables.memory.base.PhysicalMemory` turns it into a
:class:`~efitables.errors.MemoryReadError` naming the physical range (a
finding, never a traceback).

**Counters** (``efitables ... --stats``): each source counts the bytes it read
from its storage and the requests that took (``bytes_read``, ``requests``: a
``pread`` or a mapped window of a local file, a range request of a URL), the
reads the container made and the bytes it got (``reads``, ``bytes_served``),
and, for a URL, how many of those reads the block cache answered without a
request (``cache_hits``). :func:`collect_stats` gathers the counters of every
source opened inside it (one per file: a kdump ``--split`` set or a ``.vmem``
with its ``.vmss`` has several).

Sources: fsspec/filesystem_spec fsspec/core.py@2026.9.0 (``url_to_fs``,
``strip_protocol``), fsspec/caching.py@2026.9.0 (``BlockCache``,
``ReadAheadCache``: a cache calls its ``fetcher(start, end)`` once per request),
fsspec/implementations/http.py@2026.9.0 (``HTTPFile.async_fetch_range``: a
response that is not a range is refused past offset 0; ``HTTPFileSystem._open``
returns a streaming file when the size is unknown or ``Accept-Ranges: none``);
RFC 9110 section 14 (range requests).
"""

from __future__ import annotations

import io
import os
import re
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from efitables.errors import DumpOpenError

#: Bytes one range request fetches (one block of the cache); ``EFITABLES_REMOTE_BLOCK_SIZE`` overrides it.
#: Chosen by measuring (bench/bench_fleet.py, README "Dumps in object storage and fleets") on the real
#: 272 MiB ELF: its boot_params alone (kallsyms' binary search: scattered small reads) fetches 0.8, 1.2, 1.8
#: and 2.5 MiB with blocks of 16, 32, 64 and 128 KiB; a whole hinted report, the kernel's view read with its
#: release's verified offsets (no BTF over a network), fetches 3.0 MiB with 32 KiB blocks, 2.3 MiB with 16 KiB
#: and under 2 MiB with 8 KiB (issue 17's bound), at more requests, each a few milliseconds on a LAN.
BLOCK_SIZE = 8 * 1024
#: Blocks kept per open remote file (least recently used dropped): BLOCK_SIZE * CACHE_BLOCKS bytes at most.
CACHE_BLOCKS = 512
#: fsspec cache kind: "blockcache" keeps the blocks a parser comes back to (headers, page descriptors,
#: page tables) where "readahead" keeps one window; bench/bench_fleet.py measures both.
CACHE_TYPE = "blockcache"
#: A read of this many bytes or more is one range request of its own (not one per block), kept whole
#: in a small cache of its own (:data:`LARGE_CACHE_BYTES`): a kernel's BTF blob, a payload table, a sweep's
#: window. (The real ELF's report: 91 requests instead of 349 at 32 KiB blocks.)
LARGE_READ = 512 * 1024
#: Bytes of large reads kept (least recently used dropped; a read larger than this is not kept).
LARGE_CACHE_BYTES = 16 * 1024 * 1024
#: What to install for URLs.
REMOTE_EXTRA = "pip install 'efitables[remote]'"

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*(://|::)")


class SourceError(OSError):
    """A read of a remote source failed (network, server); the message names the source and the bytes."""


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL (``scheme://...``, or an fsspec chain ``cache::scheme://...``)."""
    return bool(_URL.match(path))


def is_remote(path: str) -> bool:
    """A URL other than ``file://``: read through fsspec."""
    return is_url(path) and not path.lower().startswith("file://")


def local_path(path: str) -> str:
    """``path`` itself, or the file a ``file://`` URL names (``file:///tmp/x`` -> ``/tmp/x``)."""
    if path.lower().startswith("file://"):
        parts = urlsplit(path)
        if parts.netloc not in ("", "localhost"):
            raise DumpOpenError(path, f"a file:// URL names a file of this machine, not of {parts.netloc!r}")
        return unquote(parts.path)
    return path


@dataclass
class SourceStats:
    """What one source read: the numbers ``--stats`` prints."""

    name: str
    remote: bool
    size: int = 0
    #: Bytes read from the storage (a local file's preads and mapped windows; a URL's range responses).
    bytes_read: int = 0
    #: Reads from the storage: preads and mapped windows, or range requests.
    requests: int = 0
    #: Reads the container made, and the bytes they returned.
    reads: int = 0
    bytes_served: int = 0
    #: Container reads the block cache answered without a request (URLs only).
    cache_hits: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.name, **{k: v for k, v in asdict(self).items() if k != "name"}}

    def line(self) -> str:
        """``PATH: 1.2 MiB read in 20 requests (size 272 MiB); 480 reads, 460 cache hits``."""
        text = (
            f"{self.name}: {_size_text(self.bytes_read)} read in {self.requests} "
            f"request{'s' if self.requests != 1 else ''} (file {_size_text(self.size)}); {self.reads} reads"
        )
        if self.remote:
            text += f", {self.cache_hits} cache hits"
        return text


def _size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} B"


# -- who is counting --------------------------------------------------------------------------------------
_tracked: list[SourceStats] | None = None
_tracked_lock = threading.Lock()


def start_tracking() -> None:
    """Keep the counters of every source opened from now on in this process (``--stats``)."""
    global _tracked
    with _tracked_lock:
        if _tracked is None:
            _tracked = []


def tracking() -> bool:
    return _tracked is not None


def stop_tracking() -> None:
    """Forget the counters kept since :func:`start_tracking` and keep no more."""
    global _tracked
    with _tracked_lock:
        _tracked = None


def tracked() -> list[SourceStats]:
    """The counters of the sources opened since :func:`start_tracking` (live: they grow as sources read)."""
    return list(_tracked or ())


@contextmanager
def collect_stats() -> Iterator[list[SourceStats]]:
    """The counters of the sources opened inside the ``with`` block (also kept by an outer tracker)."""
    global _tracked
    mine: list[SourceStats] = []
    with _tracked_lock:
        outer, _tracked = _tracked, mine
    try:
        yield mine
    finally:
        with _tracked_lock:
            _tracked = outer
            if outer is not None:
                outer.extend(mine)


def _track(stats: SourceStats) -> None:
    if _tracked is not None:
        with _tracked_lock:
            if _tracked is not None:
                _tracked.append(stats)


# -- sources ----------------------------------------------------------------------------------------------
class ByteSource(ABC):
    """Read-only bytes of one file or object."""

    #: Whether the bytes are fetched from elsewhere (fsspec) rather than read from a local file.
    remote: bool = False

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.stats = SourceStats(name, self.remote, size)
        self.closed = False
        _track(self.stats)

    @abstractmethod
    def pread(self, size: int, offset: int) -> bytes:
        """``size`` bytes at ``offset`` (fewer only past the end of the file)."""

    @abstractmethod
    def size_now(self) -> int:
        """The file's size as it is now (for the message of a read that came back short)."""

    def close(self) -> None:
        self.closed = True

    @property
    def bytes_read(self) -> int:
        return self.stats.bytes_read

    def fileobj(self) -> SourceFile:
        """A read-only, seekable binary file object over the source (what pyelftools reads)."""
        return SourceFile(self)

    def __enter__(self) -> ByteSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class LocalSource(ByteSource):
    """A local file, read with ``os.pread`` on a read-only descriptor (:attr:`fd`, for mappings)."""

    def __init__(self, path: str) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 (kept open for lazy reads; closed by close())
        self.fd = self._fh.fileno()
        try:
            size = os.fstat(self.fd).st_size
        except BaseException:
            self._fh.close()
            raise
        super().__init__(path, size)

    def pread(self, size: int, offset: int) -> bytes:
        data = os.pread(self.fd, size, offset)
        st = self.stats
        st.reads += 1
        st.requests += 1
        st.bytes_read += len(data)
        st.bytes_served += len(data)
        return data

    def count_mapped(self, size: int) -> None:
        """Count a window the raw container mapped instead of reading (a sweep)."""
        st = self.stats
        st.requests += 1
        st.reads += 1
        st.bytes_read += size
        st.bytes_served += size

    def size_now(self) -> int:
        return os.fstat(self.fd).st_size

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._fh.close()


class FsspecSource(ByteSource):
    """A URL read by range through an fsspec file and its block cache; reads are serialised by a lock."""

    remote = True

    def __init__(
        self,
        url: str,
        *,
        block_size: int | None = None,
        cache_type: str | None = None,
        cache_blocks: int | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        block_size = block_size or _env_int("EFITABLES_REMOTE_BLOCK_SIZE") or BLOCK_SIZE
        cache_type = cache_type or CACHE_TYPE
        cache_blocks = cache_blocks or CACHE_BLOCKS
        try:
            import fsspec
        except ImportError:
            raise DumpOpenError(url, f"reading a URL needs fsspec: {REMOTE_EXTRA}") from None
        self.url = url
        self._lock = threading.Lock()
        try:
            fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        except ImportError as e:  # the protocol's implementation (s3fs, gcsfs, aiohttp) is not installed
            raise DumpOpenError(
                url, f"{e} ({REMOTE_EXTRA} covers http(s); other protocols need their fsspec package)"
            ) from None
        except ValueError as e:  # "Protocol not known"
            raise DumpOpenError(url, str(e)) from None
        self.fs, self.path = fs, path
        cache_options = {"maxblocks": cache_blocks} if cache_type == "blockcache" else None
        try:
            f = fs.open(path, "rb", block_size=block_size, cache_type=cache_type, cache_options=cache_options)
        except FileNotFoundError:
            raise DumpOpenError(url, "no such file") from None
        except IsADirectoryError:
            raise DumpOpenError(url, "is a directory") from None
        except Exception as e:  # noqa: BLE001 (aiohttp, botocore, ...: anything the protocol raises)
            raise DumpOpenError(url, _reason(e)) from None
        self._f = f
        size = getattr(f, "size", None)
        if not isinstance(size, int):
            try:
                size = int(fs.size(path))
            except Exception:  # noqa: BLE001
                size = None
        streaming = type(f).__name__.endswith("StreamFile") or not f.seekable()
        if not isinstance(size, int) or streaming:
            f.close()
            raise DumpOpenError(
                url,
                "the server does not give the file's size or does not serve byte ranges "
                "(Accept-Ranges: none); efitables reads dumps by range: download it first",
            )
        super().__init__(url, size)
        self.block_size = block_size
        self._large_min = max(LARGE_READ, 2 * block_size)
        self._large: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._large_bytes = 0
        # fsspec's buffered files fetch through their cache's fetcher: counted there, one call per request.
        # Others (memory://, an archive member) read in place: each read is counted as a request.
        cache = getattr(f, "cache", None)
        fetcher = getattr(cache, "fetcher", None)
        self._fetch: Any = fetcher if callable(fetcher) else self._direct_fetch
        self._counts_reads = not callable(fetcher)
        if callable(fetcher):
            cache.fetcher = self._counted_fetch  # type: ignore[union-attr]
        try:
            self._check_ranges(block_size)
        except BaseException:
            self.close()
            raise

    def _direct_fetch(self, start: int, end: int) -> bytes:
        self._f.seek(start)
        data: bytes = self._f.read(end - start)
        return data

    def _counted_fetch(self, start: int, end: int) -> bytes:
        data: bytes = self._fetch(start, end)
        self.stats.requests += 1
        self.stats.bytes_read += len(data)
        return data

    def _check_ranges(self, block_size: int) -> None:
        """One byte past the first block, asked by range: a server that answers with the whole file
        is refused here (the answer is not read past its first bytes), not on the first read past block 0."""
        if self.size <= block_size or self._counts_reads:
            return  # one block is the whole file (read from its start, which any server does), or no HTTP
        try:
            got = self._counted_fetch(self.size - 1, self.size)
        except ValueError:  # fsspec's HTTPFile: the answer to a Range request past offset 0 was not a range
            raise DumpOpenError(
                self.url,
                "the server ignores HTTP Range requests (it answered a request for "
                "one byte with the whole file); efitables reads dumps by range: serve "
                "the dump from a server that honours Range, or download it first",
            ) from None
        except Exception as e:  # noqa: BLE001
            raise DumpOpenError(self.url, _reason(e)) from None
        if len(got) != 1:
            raise DumpOpenError(
                self.url,
                f"a range request for the last byte returned {len(got)} bytes; the server does not serve byte ranges",
            )

    def pread(self, size: int, offset: int) -> bytes:
        if size <= 0 or offset >= self.size:
            return b""
        st = self.stats
        with self._lock:
            before = st.requests
            try:
                if self._counts_reads:
                    data = self._counted_fetch(offset, min(self.size, offset + size))
                elif size >= self._large_min:
                    data = self._large_read(size, offset)
                else:
                    self._f.seek(offset)
                    data = self._f.read(size)
            except Exception as e:  # noqa: BLE001 (aiohttp, botocore, ValueError, OSError, timeouts)
                raise SourceError(f"{self.name}: reading {size:#x} bytes at offset {offset:#x}: {_reason(e)}") from e
            st.reads += 1
            st.bytes_served += len(data)
            if st.requests == before:
                st.cache_hits += 1
        return data

    def _large_read(self, size: int, offset: int) -> bytes:
        """One range request for a read of many blocks; a read inside one already made is served from memory."""
        end = min(self.size, offset + size)
        for key, kept in self._large.items():  # a handful of entries
            if key[0] <= offset and end <= key[0] + len(kept):
                self._large.move_to_end(key)
                return kept if (key[0], len(kept)) == (offset, end - offset) else kept[offset - key[0] : end - key[0]]
        key = (offset, size)
        data = self._counted_fetch(offset, end)
        if len(data) <= LARGE_CACHE_BYTES:
            self._large[key] = data
            self._large_bytes += len(data)
            while self._large_bytes > LARGE_CACHE_BYTES:
                _k, old = self._large.popitem(last=False)
                self._large_bytes -= len(old)
        return data

    def size_now(self) -> int:
        try:
            self.fs.invalidate_cache(self.path)
            return int(self.fs.size(self.path))
        except Exception as e:  # noqa: BLE001
            raise SourceError(f"{self.name}: {_reason(e)}") from e

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._f.close()
            except Exception:  # noqa: BLE001 (closing a read-only remote file: nothing to lose)
                pass


def _env_int(name: str) -> int | None:
    """A positive integer from the environment (``64k``, ``1m`` allowed), or None."""
    text = os.environ.get(name, "").strip().lower()
    if not text:
        return None
    mult = {"k": 1 << 10, "m": 1 << 20}.get(text[-1], 1)
    try:
        n = int(text[:-1] if mult > 1 else text, 0) * mult
    except ValueError:
        return None
    return n if n > 0 else None


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def open_source(path: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None) -> ByteSource:
    """A :class:`LocalSource` for a path or ``file://`` URL, a :class:`FsspecSource` for any other URL.

    A local file that cannot be opened raises the ``OSError`` (the caller words it); a URL
    raises :class:`DumpOpenError` with the reason (including a missing fsspec).
    """
    path = os.fspath(path)
    if is_remote(path):
        return FsspecSource(path, storage_options=storage_options)
    return LocalSource(local_path(path))


def source_exists(path: str) -> bool:
    """Whether ``path`` (a file or a URL) names an existing file; False when it cannot be asked."""
    if not is_remote(path):
        return os.path.isfile(local_path(path))
    try:
        import fsspec

        fs, p = fsspec.core.url_to_fs(path)
        return bool(fs.isfile(p))
    except Exception:  # noqa: BLE001 (no fsspec, unknown protocol, network: not there for us)
        return False


class SourceFile(io.RawIOBase):
    """A seekable, read-only binary file over a :class:`ByteSource` (closing it closes the source)."""

    mode = "rb"

    def __init__(self, source: ByteSource) -> None:
        super().__init__()
        self.source = source
        self.name = source.name
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.source.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.source.pread(len(view), self._pos)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self.source.size - self._pos)
        data = self.source.pread(size, self._pos)
        self._pos += len(data)
        return data

    def close(self) -> None:
        if not self.closed:
            self.source.close()
        super().close()
