"""In-tree fuzzing of efitables (issue 19): coverage-guided atheris harnesses, one per entry point.

Layout:

* :mod:`fuzz.machine`: the seed machine, a 64 KiB physical image built with the project's builders
  (dumps/builder.py, tests/builders_*.py) holding every structure efitables reads: EFI system table,
  configuration-table array and payloads, memory map, boot_params with E820, command line and a
  setup_data chain of every type, SEV-SNP CC blob with its secrets and CPUID pages, identity page
  tables; and the catalogue of its pointer, count and length fields (offsets from the schemas).
* :mod:`fuzz.containers`: that image as each container (raw, ELF64, ELF32, kdump zlib/lzo/snappy/
  zstd, flattened kdump, LiME, AVML, VMware checkpoint), and the physical view of a (mutated) file
  the structure-aware mutator writes through.
* :mod:`fuzz.mutators`: the structure-aware mutator (hostile pointers, counts, cycles, checksums
  recomputed) and a plain byte mutator.
* :mod:`fuzz.oracle`: what counts as a crash: an escaping exception, a secret (VMPCK, RNG seed, CoCo
  secret) in an output, JSON over 1 MiB, a run over 2 s of CPU time (SIGPROF watchdog; SIGALRM
  stops one after 20 s of wall time), a peak RSS over 256 MiB, a process that keeps memory.
* :mod:`fuzz.minimize`: the fewest byte changes to the seed that still fail the same way.
* :mod:`fuzz.harness`: the entry points (``open-<container>``, ``show``, ``validate``, ``coverage``,
  ``diff``), a deterministic in-process driver (the CI smoke run, tests/test_fuzz_smoke.py) and the
  atheris main (``python -m fuzz.harness ENTRY [libFuzzer options]``); bench/fuzz_long.py runs them
  at volume.

Why ``fuzz/`` at the repository root rather than ``tests/fuzz/``: the harnesses are programs that
libFuzzer drives (and that bench/fuzz_long.py starts), not pytest tests; under ``tests/`` pytest
would collect them and their reproducers would sit among fixtures. ``fuzz/crashes/`` (git-ignored)
holds the reproducers the runs save.
"""
