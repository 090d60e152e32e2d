"""Quiet measurements: a report that measures this machine gets it to itself while it
measures, not for its whole run.

``workbench report`` renders reports side by side. A report that measures the machine
(the probe, a capture) must not share it with the others while it measures; before
this module such a report ran with nothing else for its whole run (``alone``), kernel
start, imports, tables, figures and page conversion included. Now the measuring calls
themselves (:func:`workbench.probe.run`, :class:`workbench.capture.Capture` from start
to the end of sampling) ask for the machine through :func:`measuring`, and everything
else of every report runs side by side.

The protocol: ``flock(2)`` locks on files in a folder the batch creates
(:class:`Batch`), whose path reaches each kernel in the environment variable
:data:`ENV`. A lock goes with the process that held it, so a kernel that dies or is
killed blocks nobody.

``machine``
    Held shared for every report's activity: by the batch on the report's behalf from
    before its kernel starts until its page is written, and by a kernel itself after
    it measured (until it exits). A measurement holds it exclusive: then no other
    kernel runs and the batch converts no page.
``turnstile``
    A measurement takes it exclusive before it waits for ``machine``; the batch takes
    it shared for a moment before it starts a report. So no report starts while a
    measurement waits or runs. A report whose kernel runs then is paused: the batch
    stops the kernel's process group (SIGSTOP: no CPU time, no memory traffic) and lets
    go of its shared lock, and continues it (SIGCONT) once the measurement is over. A
    measurement thus waits for pages being written and for kernels that measured
    before (they hold ``machine`` themselves), not for the other reports to finish.
``<report>.measuring``
    A kernel locks its report's file before it first measures: the batch then drops
    the shared lock it held on the kernel's behalf (the kernel's own wait would
    otherwise never end), and takes it again once the kernel has exited, to convert
    the page.

A kernel holds nothing while it waits for the turnstile (it drops its shared lock of
an earlier measurement first), so two kernels that both measure cannot wait for each
other. Outside ``workbench report`` (no :data:`ENV`), :func:`measuring` does nothing.
Linux and the other POSIX systems only (``fcntl``); elsewhere (:func:`available`)
``workbench report`` renders one report at a time.

Only the kernel takes part: jupyter_client starts it leading a session of its own,
and a process it starts (``workbench probe`` run from a notebook) inherits :data:`ENV`
but measures as outside a batch (waiting for the machine would wait for its own
parent, which may hold it). A paused kernel's cell keeps counting toward its timeout,
and its start or its outputs may reach the batch only when it goes on: the batch waits
for them as long as a cell may run (at least ``report.PAUSE_TIMEOUT`` seconds) and fails
the report rather than losing one.
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

__all__ = ["ENV", "Batch", "Hold", "acquire", "available", "measuring", "release"]

#: Environment variable naming a kernel's ``<report>.measuring`` file (its folder holds the others).
ENV = "WORKBENCH_QUIET"
_MACHINE = "machine"
_TURNSTILE = "turnstile"
#: Seconds between two looks at a lock the batch waits for (the batch's threads only;
#: a kernel blocks in ``flock``).
POLL = 0.02


def available() -> bool:
    """Whether this system has the ``flock`` locks the protocol needs."""
    return fcntl is not None


# --------------------------------------------------------------------------- kernel side

_lock = threading.Lock()
_depth = 0
_fds: dict[str, int] = {}


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)


def acquire() -> None:
    """Wait until this process may measure alone, then hold the machine (see the module
    docstring). Nested calls only count; :func:`release` ends the outermost."""
    global _depth
    with _lock:
        _depth += 1
        if _depth > 1:
            return
        handover = os.environ.get(ENV)
        if not handover or fcntl is None:
            return
        folder = Path(handover).parent
        if not (folder / _MACHINE).is_file():  # the batch is over (a kernel that outlived it)
            return
        if hasattr(os, "getsid") and os.getsid(0) != os.getpid():
            # Not the report's kernel (jupyter_client starts it leading a session of its
            # own) but a process it started, which inherited ENV: the kernel may hold the
            # machine already, and waiting for it would wait for our own parent.
            return
        try:
            if not _fds:
                _fds.update(handover=_open(Path(handover)), machine=_open(folder / _MACHINE),
                            turnstile=_open(folder / _TURNSTILE))
            fcntl.flock(_fds["handover"], fcntl.LOCK_EX)  # the batch lets go of its hold for us
            fcntl.flock(_fds["machine"], fcntl.LOCK_UN)  # hold nothing while waiting (see the docstring)
            fcntl.flock(_fds["turnstile"], fcntl.LOCK_EX)
            fcntl.flock(_fds["machine"], fcntl.LOCK_EX)
        except BaseException:  # interrupted while waiting: nothing held, nothing counted
            _depth -= 1
            for fd in _fds.values():
                fcntl.flock(fd, fcntl.LOCK_UN)
            raise


def release() -> None:
    """End the measurement :func:`acquire` began: this process keeps the machine shared
    (its figures and tables are activity too) until it exits."""
    global _depth
    with _lock:
        if _depth == 0:
            return
        _depth -= 1
        if _depth or not _fds:
            return
        # Exclusive to shared while still holding the turnstile: no measurement can
        # slip in between (flock converts by unlocking first).
        fcntl.flock(_fds["machine"], fcntl.LOCK_SH)
        fcntl.flock(_fds["turnstile"], fcntl.LOCK_UN)


@contextmanager
def measuring() -> Iterator[None]:
    """``with measuring():`` the block runs with no other report of the batch running."""
    acquire()
    try:
        yield
    finally:
        release()


# --------------------------------------------------------------------------- batch side


class Batch:
    """The lock folder of one ``workbench report`` batch; :meth:`hold` per report."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="workbench-quiet-"))
        for name in (_MACHINE, _TURNSTILE):
            (self.folder / name).touch(mode=0o600)
        self._count = 0
        self._count_lock = threading.Lock()

    def hold(self) -> Hold:
        """A new report's hold (not yet entered)."""
        with self._count_lock:
            self._count += 1
            number = self._count
        return Hold(self.folder, f"{number}.measuring")

    def close(self) -> None:
        """Remove the folder (kernels still alive then measure without the protocol)."""
        shutil.rmtree(self.folder, ignore_errors=True)


class Hold:
    """The batch's shared hold of the machine on behalf of one report."""

    def __init__(self, folder: Path, name: str) -> None:
        self.handover_path = folder / name
        self._folder = folder
        self._handover = _open(self.handover_path)
        self._machine = _open(folder / _MACHINE)
        self._turnstile = _open(folder / _TURNSTILE)
        self.held = False
        #: The report's kernel (a subprocess.Popen leading its own process group), once started.
        self.process = None
        self._watch: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def env(self) -> dict[str, str]:
        """What the report's kernel gets in its environment."""
        return {ENV: str(self.handover_path)}

    def enter(self, cancelled: Callable[[], bool]) -> bool:
        """Hold the machine shared, once no measurement waits or runs; False if
        `cancelled` became true while waiting."""
        while True:
            if cancelled():
                return False
            if self._enter_now():
                return True
            time.sleep(POLL)

    def watch(self) -> None:
        """While the report's kernel (:attr:`process`, once started) runs, in a thread: drop
        the hold for good as soon as the kernel asks to measure, and pause the kernel
        (SIGSTOP to its process group) while another report's measurement waits or runs,
        so that the measurement waits for no kernel to finish. A stopped process takes no
        CPU time and touches no memory; it goes on (SIGCONT) once the measurement is over."""
        def run() -> None:
            paused = None
            try:
                while not self._stop.wait(POLL):
                    if not _try(self._handover, fcntl.LOCK_SH):  # the kernel holds it: it wants to measure
                        self._let_go()
                        return
                    fcntl.flock(self._handover, fcntl.LOCK_UN)
                    if paused is not None:
                        if self._enter_now():  # the measurement is over
                            _signal(paused, signal.SIGCONT)
                            paused = None
                        continue
                    process = self.process
                    if not self.held or process is None or process.poll() is not None:
                        continue
                    if _try(self._turnstile, fcntl.LOCK_SH):
                        fcntl.flock(self._turnstile, fcntl.LOCK_UN)
                        continue
                    # A measurement waits (it holds the turnstile): stop the kernel, then let go.
                    if _signal(process, signal.SIGSTOP):
                        _wait_stopped(process)
                        paused = process
                    self._let_go()
            finally:
                if paused is not None:
                    _signal(paused, signal.SIGCONT)

        self._stop.clear()
        self._watch = threading.Thread(target=run, name="workbench-quiet", daemon=True)
        self._watch.start()

    def _enter_now(self) -> bool:
        """Hold the machine shared if no measurement waits or runs now; True if held."""
        if _try(self._turnstile, fcntl.LOCK_SH):
            try:
                if _try(self._machine, fcntl.LOCK_SH):
                    self.held = True
            finally:
                fcntl.flock(self._turnstile, fcntl.LOCK_UN)
        return self.held

    def unwatch(self) -> None:
        """Stop watching (the kernel has exited)."""
        self._stop.set()
        if self._watch is not None:
            self._watch.join()
            self._watch = None

    def _let_go(self) -> None:
        if self.held:
            fcntl.flock(self._machine, fcntl.LOCK_UN)
            self.held = False

    def close(self) -> None:
        """Let go of everything."""
        self.unwatch()
        for fd in (self._handover, self._machine, self._turnstile):
            os.close(fd)  # closing drops any lock held through it
        self.held = False


def _signal(process, signum: int) -> bool:
    """Send `signum` to the process group `process` leads; False if it is gone."""
    try:
        os.killpg(process.pid, signum)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _wait_stopped(process, limit: float = 1.0) -> None:
    """Wait (at most `limit` seconds) until `process` is stopped: a signal is delivered
    asynchronously, and the measurement must not begin while the kernel still runs."""
    stat = Path(f"/proc/{process.pid}/stat")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            state = stat.read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            return  # gone, or no /proc: nothing to wait for
        if state in ("T", "t") or process.poll() is not None:
            return
        time.sleep(0.001)


def _try(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
