"""Build and run ``vbench.c`` (beside this module): lmbench-style operations, memory
bandwidth and latency, a CPU kernel; its output is read by the ``vbench`` reader.

:func:`binary` compiles it with ``gcc -static -O2`` into a folder (once per source and
flags: the name carries their hash). Static, so the same binary runs natively and in
the lab's busybox initramfs (:mod:`workbench.lab`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..errors import WorkbenchError
from ._build import compile_c

SOURCE = Path(__file__).resolve().parent / "vbench.c"
FLAGS = ("-static", "-O2")
#: The benchmarks vbench knows, in the order it runs them.
BENCHMARKS = ("syscall", "fork", "exec", "ctxsw", "pagefault", "mmap", "copy", "triad", "chase", "cpu")


def binary(folder: str | os.PathLike) -> Path:
    """The static vbench binary in `folder` (built when missing).

    Raises
    ------
    WorkbenchError
        gcc (or the static C library, Debian package libc6-dev) is missing, or the build fails.
    """
    return compile_c(SOURCE, FLAGS, folder, "vbench", "vbench", packages="gcc libc6-dev")


def arguments(*, quick: bool = False, benchmarks: Sequence[str] = ()) -> list[str]:
    """vbench's arguments: ``-q`` for quick (short batches, 4 MiB arrays), then the benchmarks
    to run (all when empty)."""
    if not isinstance(quick, bool):
        raise WorkbenchError(f"`quick` must be true or false, found {quick!r}")
    if isinstance(benchmarks, str) or not all(isinstance(b, str) for b in benchmarks):
        raise WorkbenchError(f"`benchmarks` must be a list of names, found {benchmarks!r}")
    unknown = [b for b in benchmarks if b not in BENCHMARKS]
    if unknown:
        raise WorkbenchError(f"`benchmarks`: unknown benchmark {unknown[0]!r} (known: {', '.join(BENCHMARKS)})")
    return [*(["-q"] if quick else []), *benchmarks]


def command(folder: str | os.PathLike, *, quick: bool = False, benchmarks: Sequence[str] = ()) -> list[str]:
    """The command line running vbench natively (built into `folder` when missing)."""
    # Absolute: the runner starts workloads in the plan's folder, not where the binary was built.
    return [str(binary(folder).resolve()), *arguments(quick=quick, benchmarks=benchmarks)]
