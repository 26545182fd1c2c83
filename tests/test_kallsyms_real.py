"""kallsyms lookups on demand on the real QEMU dumps (dumps/real/corpus): Debian 6.1 kernels, whose
tables carry ``kallsyms_seqs_of_names`` (backported), against the guest's own words (truth.json) and
against the one-pass decode, symbol by symbol."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import test_real_dumps as R

from efitables.kernel import kallsyms
from efitables.memory import open_memory

CONTAINERS = [(v, "elf") for v in R.VARIANTS] + [(v, "kdump-zlib") for v in R.VARIANTS if v == "ovmf64"]

pytestmark = pytest.mark.skipif(not R.VARIANTS, reason="no real-dump corpus in dumps/real/corpus")


@pytest.fixture(scope="module")
def real(real_files):
    def get(variant: str, name: str) -> Path:
        return real_files.get(f"{variant}.{name}")

    return get


def _answers(ks: kallsyms.Kallsyms, names: list[str]) -> dict[str, tuple]:
    return {n: (ks.virtual(n), ks.kind(n), ks.index(n), ks.physical(n)) for n in names}


@pytest.mark.parametrize("variant,container", CONTAINERS)
def test_report_symbols_by_binary_search(real, variant: str, container: str) -> None:
    mem = open_memory(str(real(variant, container)))
    ks = kallsyms.load(mem, mem.vmcoreinfo)  # resolves the report's symbols
    assert ks.available and ks.method == "seqs_of_names" and not ks.notes
    # a few hundred bytes of kallsyms_names per symbol, not the 1.2 MB table
    finder = ks._finder
    assert isinstance(finder, kallsyms._SeqsFinder)
    assert len(finder._blocks) < 50 and len(finder._expanded) < 80
    # what the guest printed about itself
    truth = R.truth(variant)["kernel"]["kallsyms"]
    assert ks.lookup(truth) == truth
    # what the one-pass decode says, kind and position included
    whole = kallsyms.full_decode(open_memory(str(real(variant, container))), mem.vmcoreinfo)
    names = [*kallsyms.REPORT_SYMBOLS, *truth]
    assert _answers(ks, names) == _answers(whole, names)


@pytest.mark.parametrize("variant", [v for v, c in CONTAINERS if c == "elf"])
def test_markers_pass_as_for_a_kernel_without_seqs_of_names(real, variant: str) -> None:
    """The v6.0/v6.1 way (markers only), forced on the same tables, gives the same answers."""
    path = str(real(variant, "elf"))
    mem = open_memory(path)
    t = kallsyms._tables(mem, mem.vmcoreinfo)
    assert isinstance(t, kallsyms._Tables)
    layout = kallsyms._locate(t)
    assert layout is not None and layout.seqs_pa is not None
    finder = kallsyms._MarkersFinder(t, layout)
    whole = kallsyms.full_decode(open_memory(path), mem.vmcoreinfo)
    keys = [n.encode() for n in kallsyms.REPORT_SYMBOLS]
    assert finder.find(keys) == {k: whole._addr[k] for k in keys}
    sample = random.Random(variant).sample(sorted(whole._addr), 300)
    for i in range(0, len(sample), 30):  # the trie, a batch at a time
        batch = sample[i : i + 30]
        assert finder.find(batch) == {k: whole._addr[k] for k in batch}
    assert finder.find(sample * 20) == {k: whole._addr[k] for k in sample}  # many at once: every name expanded


def test_every_symbol_as_the_one_pass_decode_gives_it(real) -> None:
    """All ~88,600 names of one kernel, through the public interface: the same virtual and physical
    addresses as the one-pass decode (kind and position too where kallsyms answers)."""
    variant = "ovmf64" if "ovmf64" in R.VARIANTS else R.VARIANTS[0]
    path = str(real(variant, "elf"))
    mem = open_memory(path)
    whole = kallsyms.full_decode(open_memory(path), mem.vmcoreinfo)
    ks = kallsyms.load(mem, mem.vmcoreinfo)
    names = [k.decode() for k in whole._addr]
    got = ks.lookup(names)
    assert got == {n: whole.virtual(n) for n in names}
    assert {n: ks.physical(n) for n in names} == {n: whole.physical(n) for n in names}
    sample = random.Random(1).sample(names, 2000)
    assert {n: (ks.kind(n), ks.index(n)) for n in sample} == {n: (whole.kind(n), whole.index(n)) for n in sample}
    assert ks.method == "seqs_of_names" and not ks.notes


def test_damaged_real_tables_never_give_a_wrong_answer(real) -> None:
    """Bytes of the real markers, sequence numbers, names blocks the search reads and offsets flipped:
    never an exception; a symbol found is where the one-pass decode puts it whenever that decode
    accepts the damaged table."""
    variant = "ovmf64" if "ovmf64" in R.VARIANTS else R.VARIANTS[0]
    base = open_memory(str(real(variant, "elf")))
    info = base.vmcoreinfo
    t = kallsyms._tables(base, info)
    assert isinstance(t, kallsyms._Tables)
    layout = kallsyms._locate(t)
    assert layout is not None and layout.seqs_pa is not None
    ks0 = kallsyms.load(base, info)
    finder = ks0._finder
    assert isinstance(finder, kallsyms._SeqsFinder)
    names_pa = t.pa["kallsyms_names"]
    targets = [(layout.markers_pa, 4 * len(layout.markers)), (t.pa["kallsyms_offsets"] + 4 * 90900, 0x800)]
    targets += [(layout.seqs_pa + 3 * pos, 3) for pos in finder._seqs]  # the probes' sequence numbers
    targets += [(names_pa + layout.markers[k], 0x100) for k in finder._blocks if k + 1 < len(layout.markers)]
    rnd = random.Random(4)
    for _ in range(int(os.environ.get("EFITABLES_FUZZ_EXAMPLES", "25"))):
        patches = {}
        for _ in range(rnd.choice([1, 2, 4, 8])):
            a, size = rnd.choice(targets)
            patches[a + rnd.randrange(size)] = rnd.choice([0, 0xFF, 0x80, 0x7F, rnd.randrange(256)])
        mem = R._Patched(base, patches)
        ks = kallsyms.load(mem, info)
        whole = kallsyms.full_decode(R._Patched(base, patches), info)
        got = _answers(ks, list(kallsyms.REPORT_SYMBOLS))
        if whole.available:
            ref = _answers(whole, list(kallsyms.REPORT_SYMBOLS))
            for n, answer in got.items():
                assert answer[0] is None or answer == ref[n], (n, ks.notes, sorted(patches.items()))
        else:
            assert ks.error == whole.error or ks.available, (ks.error, whole.error)


@pytest.mark.parametrize("variant", [v for v, c in CONTAINERS if c == "elf"])
def test_zero_based_per_cpu_symbols_are_absolute(real, variant: str) -> None:
    """x86-64 SMP links the per-CPU section at 0 (arch/x86/kernel/vmlinux.lds.S@v6.1 ``PERCPU_VADDR(..., 0,
    :percpu)``) and Debian 6.1 builds kallsyms with CONFIG_KALLSYMS_ABSOLUTE_PERCPU: such a symbol's offset is
    its absolute value (kernel/kallsyms.c ``kallsyms_sym_address``), not ``relative_base`` plus it."""
    mem = open_memory(str(real(variant, "elf")))
    names = ("__per_cpu_start", "fixed_percpu_data", "sev_vmsa", "__per_cpu_end")
    ks = kallsyms.load(mem, mem.vmcoreinfo, names)
    assert ks.virtual("__per_cpu_start") == 0 and ks.kind("__per_cpu_start") == "A"
    assert ks.virtual("fixed_percpu_data") == 0
    end = ks.virtual("__per_cpu_end")
    assert end is not None and 0 < ks.virtual("sev_vmsa") < end < 1 << 24  # inside the zero-based section
    whole = kallsyms.full_decode(open_memory(str(real(variant, "elf"))), mem.vmcoreinfo)
    assert _answers(ks, list(names)) == _answers(whole, list(names))
