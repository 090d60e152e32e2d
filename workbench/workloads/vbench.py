"""Build and run ``vbench.c`` (beside this module): lmbench-style operations, memory
bandwidth and latency, a CPU kernel; its output is read by the ``vbench`` reader.

:func:`binary` compiles it with ``gcc -static -O2`` into a folder (once per source and
flags: the name carries their hash). Static, so the same binary runs natively and in
the lab's busybox initramfs (:mod:`workbench.lab`).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from ..errors import WorkbenchError

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
    gcc = shutil.which("gcc")
    if gcc is None:
        raise WorkbenchError("the vbench workload needs gcc (apt-get install gcc libc6-dev)")
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode()).hexdigest()[:12]
    folder = Path(folder)
    exe = folder / f"vbench-{digest}"
    if not exe.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{exe.name}.{os.getpid()}.tmp"
        done = subprocess.run([gcc, *FLAGS, "-o", str(tmp), str(SOURCE)], capture_output=True, text=True)
        if done.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise WorkbenchError(f"building vbench failed: gcc {' '.join(FLAGS)}: "
                                 f"{(done.stderr.strip().splitlines() or [''])[-1][:200]}")
        os.replace(tmp, exe)
    return exe


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
