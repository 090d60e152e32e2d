"""Names every part of the probe shares: the source, metrics, modes, defaults, errors."""
from __future__ import annotations

from .. import schema
from ..errors import WorkbenchError, WorkbenchWarning

SOURCE = "workbench-probe"
# The Cache & Memory layout (schema.CACHE_MEMORY): read, write, copy, latency; levels
# here from the smallest working set to the largest.
METRICS = schema.CACHE_MEMORY.metrics
BANDWIDTH_METRICS = tuple(m for m in METRICS if schema.METRICS[m].unit == "bytes/s")
LEVELS = schema.CACHE_MEMORY.levels_by_size
SINGLE = "single-thread"
ALL_CORES = "all-cores"
WARM_UP = "warm-up"

#: Trials (including the warm-up) and seconds per measurement, by mode.
DEFAULT_TRIALS = 10
QUICK_TRIALS = 3
TARGET_SECONDS = 0.1
QUICK_TARGET_SECONDS = 0.01
#: Most trials (warm-up included) when repeating until a precision is reached.
PRECISION_MAX_TRIALS = 100

_ELEMENT = 8  # bytes per array element (uint64)
_STREAM_MIN_ELEMENTS = 1_000_000  # STREAM: arrays of at least 1e6 elements


class ProbeError(WorkbenchError):
    """An option of the probe is unusable (size, trial count, memory), or the OS
    does not say what the probe needs and no override was given."""


class ProbeWarning(WorkbenchWarning):
    """The probe ran, but a choice weakens what it measures (e.g. a DRAM array
    smaller than STREAM's rule)."""
