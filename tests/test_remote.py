"""Dumps read by range through fsspec (issue 17): an HTTP server on 127.0.0.1 serves the bundled samples and
the decompressed real corpus; everything efitables says about a URL must be what it says about the local file,
and what went over the wire must be what the parsers need, not the file.

The server (tests/range_server.py) is aiohttp's FileResponse, which honours ``Range``; its own count of the
bytes it sent is compared with the source's counter, so the counter cannot flatter itself. A second server
that ignores ``Range`` must be refused at open, without the file being downloaded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

pytest.importorskip("fsspec")
pytest.importorskip("aiohttp")

import test_real_dumps as R  # noqa: E402
from range_server import RangeServer  # noqa: E402
from test_real_dumps import corpus  # noqa: E402,F401 (the session fixture: the real corpus, decompressed)

import efitables  # noqa: E402
from efitables.cli import cli  # noqa: E402
from efitables.errors import DumpOpenError, MemoryReadError  # noqa: E402
from efitables.memory import open_memory, source  # noqa: E402
from efitables.memory.source import LARGE_READ, FsspecSource, LocalSource, collect_stats  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "dumps" / "samples"
SAMPLE_NAMES = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".raw", ".elf"))
SCHEMAS = ROOT / "docs" / "schemas"
MIB = 1 << 20
#: The real guest whose containers are served (ELF, QEMU's flattened kdump, the plain diskdump, LiME).
REAL = "ovmf64"
REAL_CONTAINERS = ("elf", "kdump-zlib", "kdump-zlib-plain")
#: What a hinted parse of boot_params, setup_data, E820 and the EFI memory map may fetch from the 272 MiB ELF.
HINTED_BOOT_BUDGET = 2 * MIB
#: What a hinted ``show`` (the whole report, the kernel's view included: over a network it uses the offsets
#: verified for the release instead of fetching the 4.2 MiB BTF) may fetch from it (issue 17: under 2 MiB).
HINTED_SHOW_BUDGET = 2 * MIB


@pytest.fixture(scope="module")
def served(corpus: dict[str, dict[str, Path]]) -> dict[str, Path]:  # noqa: F811
    files = {name: SAMPLES / name for name in SAMPLE_NAMES}
    if REAL in corpus:
        for c in REAL_CONTAINERS:
            if c in corpus[REAL]:
                files[f"{REAL}.{c}"] = corpus[REAL][c]
    return files


@pytest.fixture(scope="module")
def server(served: dict[str, Path]) -> Any:
    with RangeServer(served) as srv:
        yield srv


def real(server: RangeServer, container: str) -> tuple[str, Path]:
    name = f"{REAL}.{container}"
    if name not in server.files:
        pytest.skip(f"no {name} in the real corpus")
    return server.url(name), server.files[name]


def boot_params_pa() -> int:
    return int(R.truth(REAL)["boot_params"]["phys"])


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def show_json(target: str, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run("show", "--json", *extra, target)
    assert code in (0, 1), (code, err, out[-2000:])
    return code, json.loads(out)


def same_doc(remote: str, local: Path, *extra: str) -> None:
    """``show --json`` of the URL is the local file's, with the URL where the path was."""
    code_r, doc_r = show_json(remote, *extra)
    code_l, doc_l = show_json(str(local), *extra)
    assert code_r == code_l
    assert doc_r["dump"]["path"] == remote and doc_l["dump"]["path"] == str(local)
    # Over a network the kernel's view reads its release's verified offsets, not the 4 MiB BTF: the values
    # are the same, only where each layout came from differs.
    got, want = _no_layout_source(json.loads(json.dumps(doc_r).replace(remote, str(local)))), _no_layout_source(doc_l)
    assert got == want, _diff_paths(got, want)[:10]


def _diff_paths(x: Any, y: Any, p: str = "") -> list[str]:
    if isinstance(x, dict) and isinstance(y, dict):
        return [d for k in sorted(set(x) | set(y)) for d in _diff_paths(x.get(k), y.get(k), f"{p}.{k}")]
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        return [d for i, (u, v) in enumerate(zip(x, y, strict=True)) for d in _diff_paths(u, v, f"{p}[{i}]")]
    return [] if x == y else [f"{p}: {str(x)[:120]} != {str(y)[:120]}"]


#: Where the kernel view's layouts came from (BTF locally, the release's verified offsets over a network).
LAYOUT_KEYS = frozenset({"layout_source", "layout", "btf_types", "btf_address", "btf_address_hex"})


def _no_layout_source(o: Any) -> Any:
    if isinstance(o, dict):
        return {k: _no_layout_source(v) for k, v in o.items() if k not in LAYOUT_KEYS}
    if isinstance(o, list):
        return [_no_layout_source(v) for v in o]
    return o


# -- the same answers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_show_json_of_a_url_is_the_local_files(server: RangeServer, name: str) -> None:
    same_doc(server.url(name), server.files[name])


@pytest.mark.parametrize("container", REAL_CONTAINERS)
def test_show_json_of_the_real_dump_over_http(server: RangeServer, container: str) -> None:
    url, path = real(server, container)
    same_doc(url, path)
    same_doc(url, path, "--boot-params", hex(boot_params_pa()))


def test_every_byte_of_the_real_elf_reads_the_same(server: RangeServer) -> None:
    """Physical memory itself: a whole sweep of the URL equals one of the file, window by window."""
    url, path = real(server, "elf")
    with open_memory(url) as remote, open_memory(str(path)) as local:
        assert remote.info.format == local.info.format == "elf"
        assert remote.ranges() == local.ranges()
        assert remote.vmcoreinfo == local.vmcoreinfo
        got = {pa: bytes(data) for pa, data in remote.chunks(chunk_size=8 * MIB)}
        want = {pa: bytes(data) for pa, data in local.chunks(chunk_size=8 * MIB)}
        assert got.keys() == want.keys() and len(got) > 1
        for pa in want:
            assert got[pa] == want[pa], hex(pa)


def test_validate_urls_gives_the_local_verdicts(server: RangeServer) -> None:
    names = [n for n in SAMPLE_NAMES]
    code_r, out_r, _ = run("validate", "--jsonl", "--no-progress", *[server.url(n) for n in names])
    code_l, out_l, _ = run("validate", "--jsonl", "--no-progress", *[str(server.files[n]) for n in names])
    assert code_r == code_l

    def key(line: str) -> dict[str, Any]:
        d = json.loads(line)
        d.pop("seconds")
        d["dump"].pop("path")
        d.pop("path")
        return d

    lines_r, lines_l = out_r.splitlines(), out_l.splitlines()
    assert len(lines_r) == len(names)
    assert [json.loads(x)["path"] for x in lines_r] == [server.url(n) for n in names]
    assert [key(x) for x in lines_r] == [key(x) for x in lines_l]


# -- what goes over the wire -----------------------------------------------------------------------------
def test_a_hinted_parse_of_the_real_elf_fetches_under_2_mib(server: RangeServer) -> None:
    url, path = real(server, "elf")
    size = path.stat().st_size
    assert size > 256 * MIB
    server.reset()
    with collect_stats() as got:
        with efitables.open(url, boot_params=boot_params_pa()) as d:
            assert d.boot_params is not None and d.boot_params.address == boot_params_pa()
            assert d.setup_data is not None and d.e820 is not None and d.efi_memmap is not None
            with efitables.open(str(path), boot_params=boot_params_pa()) as local:
                assert d.boot_params.to_dict() == local.boot_params.to_dict()
                assert d.e820.to_dict() == local.e820.to_dict()
                assert d.efi_memmap.to_dict() == local.efi_memmap.to_dict()
    remote = [s for s in got if s.remote]
    assert [s.name for s in remote] == [url]
    st = remote[0]
    assert st.size == size
    assert 0 < st.bytes_read < HINTED_BOOT_BUDGET, st
    assert st.bytes_read == server.bytes_sent  # the server sent exactly what the counter says
    assert st.requests == server.range_requests
    assert st.cache_hits > 0 and st.reads > st.requests


def test_a_hinted_show_fetches_a_small_part_of_the_real_elf(server: RangeServer) -> None:
    url, path = real(server, "elf")
    server.reset()
    code, out, err = run("show", "--json", "--stats", "--boot-params", hex(boot_params_pa()), url)
    assert code in (0, 1), err
    doc = json.loads(out)
    (st,) = doc["stats"]
    assert st["path"] == url and st["remote"] is True and st["size"] == path.stat().st_size
    assert 0 < st["bytes_read"] < HINTED_SHOW_BUDGET, st
    assert doc["kernel"]["view"]["layout_source"].endswith("(a remote dump: the kernel's BTF is not fetched)")
    assert st["bytes_read"] == server.bytes_sent and st["requests"] == server.range_requests
    assert f"stats: {url}: " in err and "cache hits" in err
    assert not source.tracking()  # --stats ends with the command
    errors = list(Draft202012Validator(json.loads((SCHEMAS / "show.schema.json").read_text())).iter_errors(doc))
    assert not errors, errors[:3]


def test_a_full_sweep_over_http_reads_each_byte_once(server: RangeServer) -> None:
    """No hint and ``--scan always`` on a sample: the sweep's windows are single range requests, and what
    the parsers read again afterwards comes from the caches: the file crosses the wire about once."""
    name = "ovmf64.raw"
    size = server.files[name].stat().st_size
    server.reset()
    code, out, _ = run("show", "--json", "--stats", "--scan", "always", server.url(name))
    (st,) = json.loads(out)["stats"]
    assert size <= st["bytes_read"] <= size + 2 * MIB, st
    assert st["bytes_read"] == server.bytes_sent


# -- refusals and failures -------------------------------------------------------------------------------
def test_a_server_without_ranges_is_refused_without_a_download(served: dict[str, Path]) -> None:
    name = f"{REAL}.elf" if f"{REAL}.elf" in served else "ovmf64.raw"
    path = served[name]
    with RangeServer({name: path}, ranges=False) as srv:
        with pytest.raises(DumpOpenError, match="ignores HTTP Range requests") as e:
            open_memory(srv.url(name))
        assert "download it first" in e.value.reason
        code, out, err = run("show", "--json", srv.url(name))
        assert code == 2 and "ignores HTTP Range requests" in err
        assert json.loads(out)["error"].endswith("download it first")
        assert srv.requests >= 2
        assert srv.bytes_sent < min(path.stat().st_size // 2, 64 * MIB)  # not a download of the file


def test_url_errors_are_one_line_reasons(server: RangeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DumpOpenError, match="no such file"):
        open_memory(server.url("nonesuch.raw"))
    with pytest.raises(DumpOpenError, match="Protocol not known"):
        open_memory("nosuchprotocol://bucket/vmcore")
    code, _out, err = run("show", server.url("nonesuch.raw"))
    assert code == 2 and err.startswith("efitables: http://127.0.0.1:") and "no such file" in err
    monkeypatch.setitem(sys.modules, "fsspec", None)  # fsspec not installed
    with pytest.raises(DumpOpenError, match=r"install 'efitables\[remote\]'"):
        open_memory(server.url(SAMPLE_NAMES[0]))


def test_a_server_that_goes_away_is_a_read_error(served: dict[str, Path]) -> None:
    """A read that fails after opening (the server stopped) is a MemoryReadError naming the range."""
    path = served["ovmf64.raw"]
    srv = RangeServer({"x.raw": path}).start()
    mem = open_memory(srv.url("x.raw"))
    try:
        assert mem.read(0, 16) == path.read_bytes()[:16]
        srv.stop()
        with pytest.raises(MemoryReadError) as e:
            mem.read(0x7E0000, 0x100, structure="probe")
        assert e.value.structure == "probe" and "x.raw" in str(e.value)
        assert mem.read(0, 16) == path.read_bytes()[:16]  # what the cache holds still reads
        sweep = list(mem.chunks(chunk_size=4 * MIB))  # a sweep goes on and reports the blocks it lost
        assert sweep and mem.findings and {f.code for f in mem.findings} == {"DUMP-UNREADABLE"}
    finally:
        mem.close()


def test_file_urls_are_local_files(tmp_path: Path) -> None:
    p = SAMPLES / "seabios.raw"
    with open_memory(p.as_uri()) as mem:
        assert isinstance(mem._src, LocalSource) and mem.path == str(p)  # type: ignore[attr-defined]
        assert mem.read(0x400, 16) == p.read_bytes()[0x400:0x410]
    with pytest.raises(DumpOpenError, match="not of 'otherhost'"):
        open_memory("file://otherhost/tmp/x.raw")


# -- the counters ----------------------------------------------------------------------------------------
def test_local_counters_and_stats_option(tmp_path: Path) -> None:
    p = tmp_path / "dense.raw"
    data = bytes(range(256)) * (4 * MIB // 256)  # no sparse hole: the sweep maps every window
    p.write_bytes(data)
    with collect_stats() as got:
        with open_memory(str(p)) as mem:
            assert mem.read(0x1000, 0x200) == data[0x1000:0x1200]
            assert mem.read(0x2000, 0x10) == data[0x2000:0x2010]
            seen = sum(len(d) for _pa, d in mem.chunks(chunk_size=MIB))
    assert seen == len(data)
    (st,) = got
    # the sniffing read, two preads, then four mapped 1 MiB windows
    assert (st.reads, st.requests) == (3 + 4, 3 + 4)
    assert st.bytes_read == 4096 + 0x200 + 0x10 + len(data) and st.cache_hits == 0 and not st.remote
    p = SAMPLES / "ovmf64.raw"
    code, out, err = run("show", "--json", "--stats", "--boot-params", "0x13000", str(p))
    (d,) = json.loads(out)["stats"]
    assert d["path"] == str(p) and d["remote"] is False and d["requests"] == d["reads"] > 0
    assert err.startswith(f"stats: {p}: ") and "cache hits" not in err
    code, out, _ = run("show", "--json", "--boot-params", "0x13000", str(p))
    assert "stats" not in json.loads(out)


def test_remote_source_block_cache(server: RangeServer) -> None:
    src = FsspecSource(server.url("ovmf64.raw"), block_size=4096)
    try:
        data = (SAMPLES / "ovmf64.raw").read_bytes()
        assert src.size == len(data) and src.stats.requests == 1  # the one-byte range check
        assert src.pread(16, 0x1008) == data[0x1008:0x1018]
        assert src.pread(16, 0x1010) == data[0x1010:0x1020]  # the same block: no request
        assert (src.stats.requests, src.stats.cache_hits) == (2, 1)
        assert src.pread(0x3000, 0x1800) == data[0x1800:0x4800]  # blocks 1 (cached), 2, 3, 4
        assert src.stats.requests == 5
        big = src.pread(LARGE_READ, 0x100000)  # a large read: one request of its own, kept whole
        assert big == data[0x100000 : 0x100000 + LARGE_READ] and src.stats.requests == 6
        assert src.pread(LARGE_READ, 0x100000) == big and src.stats.requests == 6
        assert src.pread(100, len(data) - 10) == data[-10:] and src.pread(10, len(data)) == b""
        assert src.stats.bytes_read == 1 + 4 * 4096 + LARGE_READ + 4096
    finally:
        src.close()


def test_validate_expands_url_globs_and_listings() -> None:
    """``s3://bucket/dumps/*.elf`` and ``s3://bucket/dumps/`` as fsspec expands them (memory:// here: the same
    glob and find every filesystem has); each dump's verdict is the local file's."""
    import fsspec

    fs = fsspec.filesystem("memory")
    try:
        fs.pipe("/fleet/a/ovmf64.raw", (SAMPLES / "ovmf64.raw").read_bytes())
        fs.pipe("/fleet/b/seabios.raw", (SAMPLES / "seabios.raw").read_bytes())
        fs.pipe("/fleet/notes.txt", b"not a dump")
        want = ["memory:///fleet/a/ovmf64.raw", "memory:///fleet/b/seabios.raw"]
        local = {json.loads(x)["path"].rsplit("/", 1)[-1]: json.loads(x) for x in run(
            "validate", "--jsonl", "--no-progress", str(SAMPLES / "ovmf64.raw"), str(SAMPLES / "seabios.raw"))[1]
            .splitlines()}
        for arg in ("memory://fleet/", "memory://fleet/*/*.raw"):
            code, out, err = run("validate", "--jsonl", "--no-progress", arg)
            docs = [json.loads(x) for x in out.splitlines()]
            assert code == 0 and [d["path"] for d in docs] == want, (arg, err)
            for d in docs:
                ref = local[d["path"].rsplit("/", 1)[-1]]
                assert (d["status"], d["counts"], d["findings"]) == (ref["status"], ref["counts"], ref["findings"])
            assert ("1 file skipped (not dumps)" in err) is arg.endswith("/")
        code, out, _ = run("validate", "--jsonl", "--no-progress", "memory://fleet/nothing*")
        assert code == 2 and json.loads(out)["error"] == "memory://fleet/nothing*: no object matches"
    finally:
        fs.rm("/fleet", recursive=True)
