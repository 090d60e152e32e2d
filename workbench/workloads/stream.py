"""Build and run McCalpin's STREAM (``stream.c`` 5.10, shipped beside this module).

:func:`command` compiles ``stream.c`` with gcc into a folder (once per source,
flags and array size: the binary's name carries a hash of all three) and
returns the command line to run it. Its output is read by the ``stream``
reader. The array size defaults to STREAM's rule: each array at least 4x the
sum of the last-level caches (from :mod:`workbench.machine`), and at least
10^6 elements. A smaller ``array_size`` is allowed (tests, quick looks) and is
recorded in the binary's name; such results are not STREAM-conformant.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import WorkbenchError
from ._build import compile_c

SOURCE = Path(__file__).resolve().parent / "stream.c"
_MIN_ELEMENTS = 1_000_000
_ELEMENT = 8  # STREAM_TYPE double


def rule_array_size() -> int:
    """Elements per array by STREAM's rule on this machine."""
    from ..machine import detect_caches, usable_cpus

    caches = detect_caches(usable_cpus())
    last = caches[-1]
    return max(_MIN_ELEMENTS, 4 * last.size * last.instances // _ELEMENT)


def command(folder: str | os.PathLike, *, array_size: int | None = None, ntimes: int = 10,
            openmp: bool = False, cflags: tuple[str, ...] | str = ("-O2",)) -> list[str]:
    """The command line of a STREAM binary built for these options (built when missing).

    Raises
    ------
    WorkbenchError
        gcc is missing, an option is out of range, or the build fails.
    """
    if isinstance(cflags, str):
        cflags = tuple(cflags.split())  # a plan may write "-O3 -march=native"
    if not isinstance(cflags, (tuple, list)) or not all(isinstance(f, str) for f in cflags):
        raise WorkbenchError(f"`cflags` must be a list of gcc flags, found {cflags!r}")
    size = rule_array_size() if array_size is None else array_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1000:
        raise WorkbenchError(f"`array_size` must be an integer of at least 1000 elements, found {size!r}")
    if isinstance(ntimes, bool) or not isinstance(ntimes, int) or ntimes < 2:
        raise WorkbenchError(f"`ntimes` must be an integer of at least 2, found {ntimes!r}")
    flags = [*cflags, f"-DSTREAM_ARRAY_SIZE={size}", f"-DNTIMES={ntimes}"]
    if 3 * size * _ELEMENT >= 2 ** 31:
        flags.append("-mcmodel=medium")  # static arrays beyond 2 GiB
    if openmp:
        flags.append("-fopenmp")
    exe = compile_c(SOURCE, flags, folder, f"stream-{size}", "STREAM")
    return [str(exe)]
