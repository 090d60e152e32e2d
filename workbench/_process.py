"""Child processes that do not outlive the workbench (Linux ``PR_SET_PDEATHSIG``).

A background load or a booted guest must die with the process that started it, even
when that process is killed with SIGKILL (no ``finally`` block runs then).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _libc_prctl():
    # Resolved once, in the parent: a dlopen between fork and exec could deadlock on the
    # loader's lock held by another thread (a notebook's, the capture's).
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


def die_with_parent(signum: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` for :class:`subprocess.Popen` that has the child receive `signum`
    when its parent dies (a parent that died before the call is checked after), or None
    where ``prctl`` is not available."""
    if _PRCTL is None:
        return None
    prctl = _PRCTL

    def child() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() == 1:
            os._exit(1)

    return child
