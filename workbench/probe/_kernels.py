"""The compiled kernels (numba): read, write, copy and the pointer chase."""
from __future__ import annotations

import numpy as np
from numba import njit

from ._common import _ELEMENT, ProbeError

# All arrays are uint64: an unsigned index spares numba's negative-index
# wrap-around test inside the dependent chain of the pointer chase.

@njit(nogil=True, cache=True)
def _read(a, reps):
    s = np.uint64(0)
    for r in range(reps):
        for i in range(a.size):
            s += a[i]
        # Depends on r so that no pass can be treated as a repeat of the last.
        s ^= np.uint64(r)
    return s


@njit(nogil=True, cache=True)
def _write(a, reps):
    for r in range(reps):
        v = np.uint64(r + 1)  # a value known only at run time: no memset idiom, no dead stores
        for i in range(a.size):
            a[i] = v
    return a[0]


@njit(nogil=True, cache=True)
def _copy(src, dst, reps):
    for _ in range(reps):
        for i in range(src.size):
            dst[i] = src[i]
    return dst[0]


@njit(nogil=True, cache=True)
def _chase(chain, steps):
    i = np.uint64(0)
    for _ in range(steps):
        i = chain[i]
    return i


@njit(nogil=True, cache=True)
def _link(chain, order, stride):
    # chain[line k * stride] = index of the line after k in `order`: one cycle.
    n = order.size
    for k in range(n - 1):
        chain[order[k] * stride] = order[k + 1] * stride
    chain[order[n - 1] * stride] = order[0] * stride
    return n


@njit(nogil=True, cache=True)
def _shuffle(order, seed):
    # Fisher-Yates driven by splitmix64. numpy's Generator.permutation does the
    # same job but took 0.65-0.85 s for the 19.7 M lines of a 1.2 GiB array
    # here, this 0.21 s: it decides whether --quick stays a few seconds.
    x = np.uint64(seed)
    for i in range(order.size - 1, 0, -1):
        x += np.uint64(0x9E3779B97F4A7C15)
        z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
        # Lemire's multiply-shift maps 32 random bits onto 0..i (i < 2**32).
        j = ((z >> np.uint64(32)) * np.uint64(i + 1)) >> np.uint64(32)
        t = order[i]
        order[i] = order[j]
        order[j] = t
    return order.size


def build_chain(chain: np.ndarray, line_bytes: int, seed: int) -> int:
    """Write a random cyclic permutation of the cache lines of `chain` into it.

    Every line's first element holds the index of the next line's first
    element; following it from index 0 visits every line once before
    returning (a uniformly random cyclic permutation: a random order, closed).

    Parameters
    ----------
    chain : numpy.ndarray of uint64
        The array to link; its length must be a multiple of the line.
    line_bytes : int
        Cache line size (the chase touches one element per line).
    seed : int
        Seed of the random order.

    Returns
    -------
    int
        The number of lines in the cycle.
    """
    stride = max(1, line_bytes // _ELEMENT)
    lines = chain.size // stride
    if lines < 2:
        raise ProbeError(f"a pointer chase needs at least 2 cache lines, got {chain.nbytes} bytes")
    if lines >= 1 << 32:
        raise ProbeError(f"a pointer chase over {lines} cache lines is beyond the probe's 2**32")
    order = np.arange(lines, dtype=np.uint32)
    _shuffle(order, np.uint64(seed % (1 << 64)))
    return int(_link(chain, order, np.uint64(stride)))


def compile_kernels() -> None:
    """Compile (or load from numba's cache) every kernel, so no timing includes it."""
    a = np.zeros(16, dtype=np.uint64)
    b = np.zeros(16, dtype=np.uint64)
    _read(a, 1)
    _write(b, 1)
    _copy(a, b, 1)
    order = np.arange(2, dtype=np.uint32)
    _shuffle(order, np.uint64(1))
    _link(a, order, np.uint64(8))
    _chase(a, 1)


def cycle_length(chain: np.ndarray, limit: int) -> int:
    """Steps the chase takes from index 0 back to 0 (at most `limit`); for tests."""
    return int(_cycle_length(chain, limit))


@njit(cache=True)
def _cycle_length(chain, limit):
    i = chain[0]
    n = 1
    while i != 0 and n < limit:
        i = chain[i]
        n += 1
    return n
