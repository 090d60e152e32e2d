"""Memory probe: EVEREST's Cache & Memory benchmark, open and repeatable (DESIGN.md §8).

Measures read, write and copy bandwidth and load-to-use latency at working-set
sizes that fall in L1, L2, L3 and DRAM, in repeated trials, and returns the
measurement table in the shape the EVEREST Cache & Memory reader produces
(metrics ``mem_read_bw``, ``mem_write_bw``, ``mem_copy_bw``, ``mem_latency``;
components ``L1``, ``L2``, ``L3``, ``memory``), so a guest on any hypervisor
and EVEREST's numbers land in one table.

What a row is
-------------
* ``source = workbench-probe``; ``run`` is the trial. **Run 0 is the warm-up**
  (it also calibrates the repetition counts; where a single pass outlasts the
  measurement's target, as a DRAM pass does in a quick run, the calibrating pass
  is the warm-up's value rather than a second pass); its rows carry the stage suffix
  ``warm-up`` (e.g. ``all-cores warm-up``) so that a comparison grouping by
  stage never mixes it with measured trials. Measured trials are runs 1..N-1.
* ``stage`` says how many threads ran: ``single-thread`` or ``all-cores``
  (one thread per CPU the process may use; private levels give each thread its
  own working set, shared ones split it). Latency is single-thread only, as in
  AIDA64, whose latency page names one core where the bandwidth pages name all.
  A user stage label ("idle", "both guests running") is prefixed:
  ``idle: all-cores``.
* ``aggregate = single``, ``time`` and ``interval`` null: each value is a
  one-shot benchmark result (bytes moved, or loads done, over the measurement's
  wall time), exactly as the EVEREST Cache & Memory reader emits its values, so
  a comparison grouping by aggregate and interval puts both in one cell. When
  each trial ran is in the metadata (``settings["trial_times"]``).
* Bandwidth counts bytes read plus bytes written, as STREAM does (copy moves
  2 x 8 bytes per element). EVEREST's copy values sit next to its read and
  write values (thesis figure 69: 7284, 7426, 7216 MB/s), which fits the same
  convention; its documentation does not say.

Working sets
------------
Cache sizes come from the OS (:func:`workbench.machine.detect_caches`: Linux
sysfs, Windows ``GetLogicalProcessorInformation`` through ctypes) and can be
overridden; the machine's description (:mod:`workbench.machine`) is stored with
the table. Each
level's array size is chosen deep inside the level (:func:`plan`); the DRAM
arrays follow STREAM's rule: each at least 4x the last-level caches in use and
at least one million elements. Read, write and latency walk one array of the
level's size. In the caches, copy moves the first half of that array into the
first half of a second one, so its footprint is the level's size too; for DRAM
it copies two whole arrays (STREAM's rule is per array).

Kernels are compiled with numba (``nogil`` so that Python threads run them in
parallel for the all-cores figures; ``cache=True`` so later runs skip the
compile). Latency is a dependent pointer chase over a random cyclic
permutation of the working set's cache lines, which defeats the prefetchers.
Arrays of a few MiB and more come from numpy, which asks Linux for transparent
huge pages (``madvise``), so DRAM latency includes fewer page walks than with
4 KiB pages; ``bench/probe.py``'s C reference does the same.

The library never prints: progress goes to a callback, and the CLI
(``workbench probe``) draws the progress line.

Parts
-----
``_common`` (names, errors), ``_plan`` (working sets), ``_kernels`` (numba),
``_run`` (buffers, timing, trials and their guards), ``_summary`` (medians,
layouts, disturbed trials), ``_files`` (the Parquet file and its metadata).
Importing the package does not import numba: :func:`run` and the kernels load
on first use, so a notebook or figure that only reads probe files stays light.
"""
from __future__ import annotations

import importlib
from typing import Any

from ..machine import Cache, Machine, format_size
from ._common import (
    ALL_CORES,
    BANDWIDTH_METRICS,
    DEFAULT_TRIALS,
    LEVELS,
    METRICS,
    PRECISION_MAX_TRIALS,
    QUICK_TARGET_SECONDS,
    QUICK_TRIALS,
    SINGLE,
    SOURCE,
    TARGET_SECONDS,
    WARM_UP,
    ProbeError,
    ProbeWarning,
)
from ._files import read_metadata, write
from ._plan import Level, parse_size, plan, required_bytes
from ._summary import (
    Disturbance,
    cache_memory_table,
    cache_sizes,
    describe,
    disturbance,
    flagged_trials,
    headline,
    level_sizes,
    measured,
    per_trial,
    stage_name,
    summary,
    summary_of_one,
    worst_precision,
)

#: Names that live in the parts importing numba, loaded on first use (PEP 562).
_LAZY = {"run": "_run", "ProbeResult": "_run", "sanity": "_run", "huge_page_share": "_run",
         "build_chain": "_kernels", "compile_kernels": "_kernels", "cycle_length": "_kernels"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ALL_CORES", "BANDWIDTH_METRICS", "Cache", "DEFAULT_TRIALS", "Disturbance", "LEVELS", "Level", "METRICS",
           "Machine", "PRECISION_MAX_TRIALS", "ProbeError", "ProbeResult", "ProbeWarning", "QUICK_TARGET_SECONDS",
           "QUICK_TRIALS", "SINGLE", "SOURCE", "TARGET_SECONDS", "WARM_UP", "build_chain", "cache_memory_table",
           "cache_sizes", "compile_kernels", "cycle_length", "describe", "disturbance", "flagged_trials",
           "format_size", "headline", "huge_page_share", "level_sizes", "measured", "parse_size", "per_trial", "plan",
           "read_metadata", "required_bytes", "run", "sanity", "stage_name", "summary", "summary_of_one", "worst_precision",
           "write"]
