"""Working-set sizes from the caches (STREAM's rule for DRAM), and size options."""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..machine import Cache, format_size
from ._common import _ELEMENT, _STREAM_MIN_ELEMENTS, ProbeError, ProbeWarning

_SIZE = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def parse_size(text: str | int, *, name: str = "size") -> int:
    """Bytes from ``49152``, ``48K``, ``48KiB``, ``2M``, ``1.5G`` (binary units, as sysfs).

    Raises
    ------
    ProbeError
        Naming the option (`name`) and what was found.
    """
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        value = int(text)
    else:
        m = _SIZE.fullmatch(str(text))
        if not m:
            raise ProbeError(f"`{name}`: expected a size such as 48K, 2M or 1G (binary units), found {text!r}")
        value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value <= 0:
        raise ProbeError(f"`{name}` must be a positive number of bytes, found {text!r}")
    return value


# --------------------------------------------------------------------------- the plan

@dataclass(frozen=True)
class Level:
    """One working-set size of the probe.

    Attributes
    ----------
    name : str
        The ``component``: ``L1``, ``L2``, ``L3`` or ``memory``.
    size : int
        Bytes of the array that read, write and the chase walk (one thread).
    shared : bool
        Whether the level is shared by the all-cores threads (then they split
        `size`); private levels give each thread its own array of `size`.
    copy_halves : bool
        Copy moves the first half of the array into the second array's first
        half (caches), or whole arrays (DRAM, STREAM's rule is per array).
    rule : str
        How `size` was chosen, in words.
    """

    name: str
    size: int
    shared: bool
    copy_halves: bool
    rule: str


def plan(caches: Sequence[Cache], *, memory: int | None = None) -> tuple[Level, ...]:
    """Choose the working set of each level from the cache sizes.

    * L1: half of the L1 data cache.
    * L2, L3: half of the level, but no more than 4x the level above, so the
      set is well past the upper level yet far from the edge of this one (a
      shared L3 in a guest also holds the neighbours' data).
    * memory: STREAM's rule: 4x the summed last-level caches in use, at
      least 10^6 elements; `memory` overrides it (with a :class:`ProbeWarning`
      when smaller).

    Absent levels (no L3 on the thesis's Athlon 64 X2) are left out, as
    EVEREST leaves their rows empty.
    """
    by_level = {c.level: c for c in caches}
    levels: list[Level] = []
    above: Cache | None = None
    for name in ("L1", "L2", "L3"):
        cache = by_level.get(name)
        if cache is None:
            continue
        if above is None:
            size, rule = cache.size // 2, f"half of the {name} data cache"
        else:
            size = min(cache.size // 2, 4 * above.size)
            rule = (f"half of {name}" if size == cache.size // 2
                    else f"4x {above.level}, below half of {name}")
            if size <= above.size:
                raise ProbeError(f"`{name.lower()}` ({format_size(cache.size)}) must be larger than twice "
                                 f"`{above.level.lower()}` ({format_size(above.size)})")
        levels.append(Level(name, _lines(size, cache.line), cache.shared, True, rule))
        above = cache
    if above is None:
        raise ProbeError("no cache level known; give the sizes (--l1, --l2, --l3)")
    llc_total = above.size * above.instances
    stream = max(4 * llc_total, _STREAM_MIN_ELEMENTS * _ELEMENT)
    if memory is None:
        size, rule = stream, f"STREAM's rule: 4x the last-level caches ({above.instances} x {format_size(above.size)})"
    else:
        size, rule = memory, "given"
        if memory < stream:
            warnings.warn(f"DRAM array of {format_size(memory)} is below STREAM's rule ({format_size(stream)}: 4x the "
                          "last-level caches); part of it may be served from cache", ProbeWarning, stacklevel=2)
    levels.append(Level("memory", _lines(size, above.line), True, False, rule))
    return tuple(levels)


def _lines(size: int, line: int) -> int:
    return max(2 * line, size // line * line)


def required_bytes(levels: Sequence[Level], threads: int, *, bandwidth: bool = True) -> int:
    """Memory the probe allocates for `levels` (two arrays per level, one without
    `bandwidth`, plus the chase's temporary order), for the memory check before
    anything is allocated."""
    total = 0
    for lv in levels:
        per_array = lv.size if lv.shared else lv.size * threads
        total += (2 if bandwidth else 1) * per_array + lv.size // 8
    return total
