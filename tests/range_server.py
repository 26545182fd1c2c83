"""A small HTTP server on 127.0.0.1 for the remote-dump tests and bench/bench_fleet.py.

It serves named local files with aiohttp's ``web.FileResponse``, which honours
``Range`` (RFC 9110 section 14: ``206 Partial Content`` with ``Content-Range``) and
answers ``HEAD`` with the size: what an object store or a CDN does. With
``ranges=False`` it plays a server that ignores ``Range`` and streams the whole
file with ``200`` (``Accept-Ranges: none`` is *not* sent, as many such servers do
not), counting the bytes it managed to send before the client hung up: a
client that refuses such a server must not have downloaded the file.

Every request is counted (:attr:`RangeServer.requests`, :attr:`RangeServer.bytes_sent`),
so a test can check what went over the wire, not only what the client says.

Sources: aio-libs/aiohttp aiohttp/web_fileresponse.py@v3.14.5 (``FileResponse``:
``Range``, ``If-Range``, ``HEAD``), aiohttp/web_runner.py@v3.14.5 (``AppRunner``,
``TCPSite``).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from aiohttp import web

#: Bytes written per chunk by the server that ignores ranges.
STREAM_CHUNK = 64 * 1024


class RangeServer:
    """``http://127.0.0.1:PORT/<name>`` for each ``name -> path`` of ``files``; a thread runs its loop."""

    def __init__(self, files: dict[str, Path], *, ranges: bool = True) -> None:
        self.files = dict(files)
        self.ranges = ranges
        self.requests = 0
        self.range_requests = 0
        self.bytes_sent = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="range-server", daemon=True)
        self._lock = threading.Lock()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def reset(self) -> None:
        with self._lock:
            self.requests = self.range_requests = self.bytes_sent = 0

    # -- serving ------------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = self.files.get(request.match_info["name"])
        with self._lock:
            self.requests += 1
            if "Range" in request.headers:
                self.range_requests += 1
        if path is None:
            raise web.HTTPNotFound()
        if self.ranges:
            resp = web.FileResponse(path)
            return resp
        size = path.stat().st_size
        resp = web.StreamResponse(status=200, headers={"Content-Length": str(size),
                                                       "Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        if request.method == "HEAD":
            return resp
        with open(path, "rb") as fh:
            while chunk := fh.read(STREAM_CHUNK):
                try:
                    await resp.write(chunk)
                except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
                    break
                with self._lock:
                    self.bytes_sent += len(chunk)
        return resp

    async def _count(self, request: web.Request, response: web.StreamResponse) -> None:
        if self.ranges and request.method == "GET" and response.content_length:
            with self._lock:
                self.bytes_sent += response.content_length

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{name:.+}", self._handle)
        app.router.add_route("HEAD", "/{name:.+}", self._handle)
        app.on_response_prepare.append(self._count)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # the asyncio server: its socket has the port the system chose
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def start(self) -> RangeServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    def __enter__(self) -> RangeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
