"""CI smoke run of the fuzz harnesses (fuzz/, issue 19), and checks of the harness itself.

* the seed machine (fuzz/machine.py) in every container holds every structure at the address it
  was built with, and its secrets are redacted in its own output (the search finds them with
  ``show_secrets``, so it can fail);
* every container efitables opens has a seed and an ``open-*`` entry point (a new container
  fails here until it is fuzzed);
* the structure-aware mutator writes a field where efitables reads it (in place or by
  rebuilding the container) and recomputes the EFI CRC32;
* the oracle turns each way of failing (an exception, a hang, a secret in an output, oversized
  JSON) into a failure with its reproducer saved;
* each entry point runs a bounded, deterministic number of executions (``run`` with a fixed
  seed) without a crash, a hang, a leak or oversized output; a failure names the signature, the
  message and the reproducer file. ``EFITABLES_FUZZ_SMOKE=10 pytest tests/test_fuzz_smoke.py``
  runs ten times as many;
* the atheris engine starts, instruments efitables and runs (skipped without atheris).

The long run is bench/fuzz_long.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from efitables.dump import Dump
from efitables.schemas.common import field_offset
from efitables.schemas.efi_tables import EFI_SYSTEM_TABLE_32, EFI_SYSTEM_TABLE_64, efi_crc32
from efitables.schemas.snp import VMPCK_KEY_LEN, VMPCK_OFFSET
from fuzz import containers as C
from fuzz import harness as H
from fuzz import machine as M
from fuzz import mutators as MU
from fuzz import oracle as O

ROOT = Path(__file__).resolve().parent.parent
SCALE = float(os.environ.get("EFITABLES_FUZZ_SMOKE", "1"))
#: Executions per entry point (seeds included), sized for ~1 minute in all on a loaded 2-core machine.
BUDGET = {
    "open-raw": 80, "open-elf": 80, "open-kdump": 100, "open-kdump-flat": 60, "open-lime": 60, "open-avml": 80,
    "open-vmware": 60, "show": 40, "validate": 120, "coverage": 80, "diff": 80,
}
SEARCH = O.SecretSearch(M.SECRETS_BYTES)


def _write(tmp_path: Path, c: C.Container, data: bytes) -> str:
    d = tmp_path / c.name
    d.mkdir(exist_ok=True)
    p = d / c.filename
    p.write_bytes(data)
    return str(p)


# -- the seeds ----------------------------------------------------------------------------------------
def test_every_container_has_a_seed_and_an_entry_point() -> None:
    from efitables.memory import FORMATS

    seeded = {c.format for c in C.CONTAINERS.values()}
    forced = {C.CONTAINERS[n].format for e in H.ENTRIES.values() if e.forced for n in e.containers}
    assert set(FORMATS) <= seeded, f"containers without a fuzz seed: {set(FORMATS) - seeded}"
    assert set(FORMATS) <= forced, f"containers without an open-* harness: {set(FORMATS) - forced}"
    for e in ("show", "validate", "coverage", "diff"):
        assert set(H.ENTRIES[e].containers) == set(C.CONTAINERS)


@pytest.mark.parametrize("name", sorted(C.CONTAINERS))
def test_seed_holds_every_structure(tmp_path: Path, name: str) -> None:
    c = C.CONTAINERS[name]
    data = c.seed()
    assert len(data) <= M.SIZE + 0x1000  # tens of KiB: an execution costs milliseconds, not a sweep of MiB
    assert C.sniff(data).format == c.format
    path = _write(tmp_path, c, data)
    with Dump.open(path) as d:
        assert d.memory.info.format == c.format
        st = d.systab
        assert st is not None and (st.address, st.bits, st.nr_tables) == (M.SYSTAB, c.bits, 17)
        assert st.crc_ok and st.firmware_vendor == "EDK II fuzz" and st.config_table_ptr.physical == M.CFG_ARRAY
        assert [t.table_address for t in d.config_tables][:3] == [M.RSDP, M.RSDP, M.SMBIOS3]
        assert d.efi_memmap is not None and d.efi_memmap.address == M.MEMMAP
        assert len(d.efi_memmap.descriptors) == len(M.EFI_REGIONS)
        assert d.boot_params is not None and d.boot_params.address == M.BOOT_PARAMS_PA
        assert d.setup_data is not None
        assert [n.address for n in d.setup_data.nodes] == [M.SETUP0 + off for off in
                                                            (0, 0x80, 0x100, 0x200, 0x300, 0x400, 0x600, 0x680,
                                                             0x700, 0x780, 0x800, 0x880)]
        assert [n.type for n in d.setup_data.nodes] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1 << 31, 0x77]
        assert d.snp_secrets is not None and (d.snp_secrets.address, d.snp_secrets.version) == (M.SECRETS, 3)
        assert d.snp_cpuid is not None and d.snp_cpuid.address == M.CPUID
        assert d.cc_blob.routes_agree
        spans = d.secret_spans()
        vmpck = (M.SECRETS + VMPCK_OFFSET, M.SECRETS + VMPCK_OFFSET + 4 * VMPCK_KEY_LEN)
        assert any(a <= vmpck[0] and vmpck[1] <= b for a, b in spans), spans
        assert not [f for f in d.findings if str(f.severity) == "error"]
        assert SEARCH.in_text(json.dumps(d.to_dict(raw=True))) is None
    with Dump.open(path, show_secrets=True) as d:  # the search sees the secrets when they are shown
        hit = SEARCH.in_text(json.dumps(d.to_dict(raw=True)))
        assert hit is not None and hit.split("[")[0] in M.SECRETS_BYTES


# -- the oracle ----------------------------------------------------------------------------------------
def test_secret_search_finds_every_encoding() -> None:
    key = M.VMPCKS[2]
    w = key[5:13]
    u64 = int.from_bytes(w, "little")
    from efitables.text import printable

    for text in (w.hex(), w.hex().upper(), " ".join(f"{b:02x}" for b in w), ":".join(f"{b:02X}" for b in w),
                 f"{u64:#x}", str(u64), json.dumps({"a": u64}), json.dumps(w.decode("latin-1")),
                 printable(w.decode("latin-1")), json.dumps(key[4:12].decode("utf-16-le", "surrogatepass")),
                 key[6:14].decode("utf-16-le", "surrogatepass"), str(int.from_bytes(key[9:13], "little"))):
        hit = SEARCH.in_text(f"before {text} after")
        assert hit is not None and hit.startswith("vmpck2["), text
    assert SEARCH.in_text("0x80d020 4096 " + "ab" * 40 + " EDK II 12345678901234") is None


def test_watchdog_stops_a_busy_loop_and_a_wait() -> None:
    with pytest.raises(O.Hang, match="CPU time"), O.watchdog(cpu=0.05, wall=30):
        while True:
            pass
    with pytest.raises(O.Hang, match="wall time"), O.watchdog(cpu=30, wall=0.05):
        time.sleep(5)
    with O.watchdog(cpu=0.05, wall=0.05):  # disarmed on exit: nothing fires later
        pass
    time.sleep(0.1)


def _entry(run: object) -> H.Entry:
    return H.Entry("validate", ("raw",), run)  # type: ignore[arg-type]


def test_each_failure_kind_is_counted_and_saved(tmp_path: Path) -> None:
    seed = C.CONTAINERS["raw"].seed()
    leak = M.VMPCKS[1][3:20].hex()

    def boom(h: H.Harness, path: str, c: C.Container, out: O.Outcome) -> list[tuple[str, str]]:
        raise ValueError("parser bug")

    def spin(h: H.Harness, path: str, c: C.Container, out: O.Outcome) -> list[tuple[str, str]]:
        while True:
            pass

    def leaks(h: H.Harness, path: str, c: C.Container, out: O.Outcome) -> list[tuple[str, str]]:
        return [("text", f"raw bytes {leak}")]

    def big(h: H.Harness, path: str, c: C.Container, out: O.Outcome) -> list[tuple[str, str]]:
        return [("json", H._json(out, ["x" * 1000] * 1100))]

    h = H.Harness("validate", crash_dir=tmp_path)
    try:
        for run, kind, sig in ((boom, "exception", "ValueError in"), (leaks, "secret", "vmpck1 in text"),
                               (big, "json", "JSON over 1 MiB")):
            h.entry = _entry(run)
            out = h.execute(seed)
            assert out.failure is not None and out.failure.kind == kind and out.failure.signature.startswith(sig)
        h.entry = _entry(spin)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(O, "HANG_SECONDS", 0.05)
            mp.setattr(H, "watchdog", lambda: O.watchdog(cpu=0.05))
            out = h.execute(seed)
        assert out.failure is not None and out.failure.kind == "hang"
        st = h.stats
        assert st.executions == 4 and st.crashes == 3 and st.hangs == 1
        saved = sorted(p.name for p in (tmp_path / "validate").iterdir() if p.suffix == ".raw")
        assert len(saved) == 4 and all((tmp_path / "validate" / (n + ".txt")).exists() for n in saved)
        assert (tmp_path / "validate" / saved[0]).read_bytes() == seed
        txt = next((tmp_path / "validate").glob("exception-*.txt")).read_text()
        assert "ValueError: parser bug" in txt and "signature: ValueError in" in txt
    finally:
        h.close()


def test_secret_copied_into_ordinary_memory_is_an_echo(tmp_path: Path) -> None:
    """Key bytes a mutation copied outside the secrets page are ordinary memory: printing that copy is
    an echo (counted, not a failure); printing the page's own bytes is a leak, whether or not a copy
    exists elsewhere (the copies are changed and the entry point run again to tell which was printed)."""
    seed = C.CONTAINERS["raw"].seed()
    copied = bytearray(seed)
    copied[0x500 : 0x520] = M.VMPCKS[0]  # page 0: nothing efitables knows as secret

    def reads(pa: int) -> object:
        def run(hh: H.Harness, path: str, c: C.Container, out: O.Outcome) -> list[tuple[str, str]]:
            with open(path, "rb") as fh:  # a raw image: file offset = physical address
                return [("text", fh.read()[pa : pa + 32].hex())]

        return run

    h = H.Harness("validate", crash_dir=tmp_path)
    try:
        h.entry = _entry(reads(0x500))
        assert h.execute(bytes(copied)).failure is None and h.stats.echoes == 1  # the copy printed
        h.entry = _entry(reads(M.VMPCK_PA))
        out = h.execute(seed)  # only the page holds the key
        assert out.failure is not None and (out.failure.kind, out.failure.signature) == ("secret", "vmpck0 in text")
        out = h.execute(bytes(copied))  # the page printed, a copy elsewhere does not excuse it
        assert out.failure is not None and (out.failure.kind, out.failure.signature) == ("secret", "vmpck0 in text")
        assert h.stats.echoes == 1
    finally:
        h.close()


# -- the mutator --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["raw", "elf64", "elf32", "lime", "kdump-zlib", "kdump-flat", "avml", "vmware"])
def test_physical_writes_land_where_efitables_reads(tmp_path: Path, name: str) -> None:
    c = C.CONTAINERS[name]
    view = MU.PhysView(c, c.seed())
    assert view.ok
    schema = EFI_SYSTEM_TABLE_64 if c.bits == 64 else EFI_SYSTEM_TABLE_32
    at = M.SYSTAB + field_offset(schema, "FirmwareRevision")
    assert view.write(at, (0x12345).to_bytes(4, "little"))
    M.build(c.bits).fixers["systab"](view.read, view.write)
    assert view.write(M.SETUP0 + 0x80, b"\xde\xad\xbe\xef")
    with Dump.open(_write(tmp_path, c, view.result())) as d:
        assert d.memory.read(M.SETUP0 + 0x80, 4) == b"\xde\xad\xbe\xef"
        assert d.systab is not None and d.systab.firmware_revision == 0x12345 and d.systab.crc_ok
        raw = d.memory.read(M.SYSTAB, d.systab.header_size)
        assert efi_crc32(raw) == d.systab.crc32


def test_hostile_values_fit_their_fields() -> None:
    import random

    rnd = random.Random(5)
    structures = list(M.structures().values())
    kinds = set()
    for f in M.fields():
        kinds.add(f.kind)
        for _ in range(20):
            v = MU.hostile_value(rnd, f, 0x1000, structures)
            assert 0 <= v < 1 << (8 * f.size), (f.name, v)
    assert kinds == {"ptr", "count", "len", "type", "magic", "guid"}
    names = {f.name for f in M.fields()}
    for must in ("systab.ConfigurationTable", "systab.NumberOfTableEntries", "boot_params.hdr.setup_data",
                 "setup_data[3].next", "cc_blob.secrets_phys", "memmap[2].NumberOfPages", "MEMRESERVE.next",
                 "SETUP_INDIRECT.addr", "RSDP.XsdtAddress", "cpuid.count"):
        assert must in names, must


def test_mutations_are_deterministic_and_bounded() -> None:
    import random

    for name in ("raw", "kdump-zlib"):
        c = C.CONTAINERS[name]
        a = [MU.mutate(c.seed(), H.MAX_SIZE, random.Random(i), container=c) for i in range(12)]
        b = [MU.mutate(c.seed(), H.MAX_SIZE, random.Random(i), container=c) for i in range(12)]
        assert a == b
        assert all(len(x) <= H.MAX_SIZE for _, x in a)
        assert {op for op, _ in a} <= {"field", "container", "copy", "truncate", "bytes"}
        assert sum(x != c.seed() for _, x in a) >= 10


# -- the smoke run --------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", sorted(H.ENTRIES))
def test_smoke(tmp_path: Path, entry: str) -> None:
    n = max(len(H.ENTRIES[entry].containers) + 5, int(BUDGET[entry] * SCALE))
    st = H.run(entry, executions=n, seed=19, crash_dir=tmp_path)
    assert st.executions == n
    assert st.opened >= len(H.ENTRIES[entry].containers)  # the seeds at least parse
    assert sum(v for k, v in st.operations.items() if k != "seed") == n - len(H.ENTRIES[entry].containers)
    report = "\n".join(f"{s.count}x {s.kind}: {s.signature}\n    {s.message}\n    {s.files}"
                       for s in st.failures.values())
    assert not st.failures, f"{entry}: {st.crashes} crashes, {st.hangs} hangs:\n{report}"
    assert st.largest_json <= O.JSON_LIMIT and st.peak_rss_added <= O.RSS_LIMIT - min(st.base_rss, H.OWN_RSS)


def test_atheris_engine(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    stats = tmp_path / "stats.json"
    r = subprocess.run(
        [sys.executable, "-m", "fuzz.harness", "open-raw", "--executions", "15", "--stats", str(stats),
         "--crashes", str(tmp_path / "crashes"), "--instrument", "efitables.efi", "--", "-seed=7"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(stats.read_text())
    assert doc["engine"] == "atheris" and doc["executions"] == 15 and doc["opened"] >= 1
    assert "INITED cov: " in r.stderr and "efitables.efi functions" in r.stderr
    assert doc["crashes"] == 0 and doc["hangs"] == 0, doc["failures"]
