"""Peak memory of one case, measured in a fresh child process (Linux), for the benches.

Linux's VmHWM (the peak RSS of this process image) is reset through
``/proc/self/clear_refs`` after the imports and the warm-up, so the peak covers the
case and nothing before. (``ru_maxrss`` would not do: Linux carries the parent's peak
across fork+exec.)

    with peak() as measured:
        run_the_case()
    print(json.dumps(measured))        # {"peak_bytes": ...}
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def status(key: str) -> int:
    """A ``/proc/self/status`` size (``VmRSS``, ``VmHWM``) in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


@contextmanager
def peak() -> Iterator[dict[str, int]]:
    """Reset the peak, run the block, and put its peak RSS above the RSS at the start
    into the yielded dict as ``peak_bytes``."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    measured: dict[str, int] = {}
    base = status("VmRSS")
    yield measured
    measured["peak_bytes"] = max(status("VmHWM") - base, 0)
