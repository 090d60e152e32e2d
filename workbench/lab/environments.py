"""The lab's environments: where a workload runs, and whether it can run there.

=================  ==========================================  ============================
environment        technique                                   what runs the image
=================  ==========================================  ============================
``native``         none: the workload runs on this machine     -
``emulated``       full-system emulation, dynamic binary       ``qemu-system-x86_64 -accel
                   translation (QEMU's TCG)                    tcg`` + a Debian kernel
``paravirtualized`` a Linux kernel ported to run as a user     ``linux.uml`` (User-mode
                   process (Barham et al.'s UML)               Linux)
``hw-virtualized`` hardware-assisted virtualization (KVM)      ``qemu-system-x86_64 -accel
                                                               kvm`` + a Debian kernel
=================  ==========================================  ============================

"native" is whatever this machine is: when it is itself a virtual machine (a cloud
VM, a microVM), every number says what a technique adds *on top of* it.

:func:`detect` says which environments can run here and why not, without waiting
for a guest to fail: KVM is unavailable when ``/dev/kvm`` is missing or cannot be
opened, and when it is the ``kvm_pvm`` module (software nested virtualization,
used where the CPU shows no ``vmx``/``svm`` flag), which stops a stock Debian
kernel with "KVM internal error ... emulation failure" after about two minutes;
otherwise a short boot probe decides.

:func:`boot` runs one guest: in its own process group (killed as a whole when the
timeout expires or the caller dies), console to a file object, and the times of
the markers the image's ``/init`` prints (:mod:`workbench.lab.images`).
"""
from __future__ import annotations

import dataclasses
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Sequence

from .._process import die_with_parent
from ..errors import WorkbenchError
from . import images

ENVIRONMENTS = ("native", "emulated", "paravirtualized", "hw-virtualized")
GUESTS = ENVIRONMENTS[1:]
QEMU = "qemu-system-x86_64"
UML = "linux.uml"
#: Guest memory: the benchmark's arrays (3 x 32 MiB) and the initramfs with room to spare.
MEMORY_MIB = 512
#: The emulated CPU model: QEMU's "max" enables every feature TCG can emulate (software
#: that probes for SSE4/AVX runs, as on a real CPU); the default "qemu64" is a 2003 CPU.
TCG_CPU = "max"
KVM_PROBE_TIMEOUT = 30.0
_KERNEL_ARGS = "console=ttyS0 loglevel=1 panic=-1 rdinit=/init"
_UML_ARGS = ("con=null", "con0=null,fd:1", "ssl=null", "loglevel=1", "panic=-1", "rdinit=/init")


@dataclass(frozen=True)
class Environment:
    """One environment and whether it can run here.

    Attributes
    ----------
    name
        One of :data:`ENVIRONMENTS`.
    available, reason
        Whether it runs here; `reason` says why not (or what was checked).
    hypervisor
        The label of its rows: program, version, accelerator (None for native).
    guest
        What runs inside (the guest kernel), None for native.
    argv
        The command before the image (guests only), see :func:`guest_command`.
    """

    name: str
    available: bool
    reason: str = ""
    hypervisor: str | None = None
    guest: str | None = None
    argv: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Boot:
    """What one guest boot did (times in seconds since the guest process started)."""

    environment: str
    pid: int  #: of the hypervisor process, the leader of the guest's process group
    returncode: int | None  #: of the hypervisor process; None when killed on timeout
    timed_out: bool
    started: float | None  #: when /init printed its start marker (the boot time)
    finished: float | None  #: when /init printed the workload's exit status
    workload_status: int | None
    elapsed: float

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.workload_status == 0

    def problem(self) -> str | None:
        """Why the boot did not give a result, or None."""
        if self.timed_out:
            stage = "before /init started" if self.started is None else "while the workload ran"
            return f"the guest ran over its time limit ({self.elapsed:.0f} s) {stage} and was killed"
        if self.started is None:
            return f"the guest stopped (status {self.returncode}) before /init started"
        if self.workload_status is None:
            return f"the guest stopped (status {self.returncode}) before the workload finished"
        if self.workload_status != 0:
            return f"the workload exited with status {self.workload_status} in the guest"
        return None


# --------------------------------------------------------------------------- detection


def qemu_version(qemu: str) -> str | None:
    """"7.2.22" from ``qemu-system-x86_64 --version``."""
    out = _output([qemu, "--version"])
    m = re.search(r"version (\d+\.\d+(?:\.\d+)?)", out or "")
    return m.group(1) if m else None


def uml_version(uml: str) -> str | None:
    """"6.1.176" from ``linux.uml --version``."""
    out = _output([uml, "--version"])
    m = re.match(r"\s*(\d+\.\d+(?:\.\d+)?)", out or "")
    return m.group(1) if m else None


def debian_kernel(boot: str | os.PathLike = "/boot") -> Path | None:
    """The newest ``vmlinuz-*`` in `boot` (Debian's ``linux-image-amd64``), or None."""
    found = [Path(p) for p in glob.glob(os.path.join(boot, "vmlinuz-*"))]
    if not found:
        return None

    def key(path: Path) -> list:
        return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", path.name)]

    return max(found, key=key)


def cpu_flags(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> set[str]:
    """The CPU flags the kernel shows (of the first CPU)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return set()
    m = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
    return set(m.group(1).split()) if m else set()


def kvm_facts(*, dev: str = "/dev/kvm", cpuinfo: str = "/proc/cpuinfo", modules: str = "/sys/module") -> dict:
    """What decides whether KVM can be used: the device, the CPU flags, the KVM modules."""
    flags = cpu_flags(cpuinfo)
    present = os.path.exists(dev)
    openable = False
    if present:
        try:
            os.close(os.open(dev, os.O_RDWR | os.O_CLOEXEC))
            openable = True
        except OSError:
            openable = False
    loaded = sorted(m for m in ("kvm", "kvm_intel", "kvm_amd", "kvm_pvm") if os.path.isdir(os.path.join(modules, m)))
    return {"device": present, "openable": openable, "vmx_svm": sorted(flags & {"vmx", "svm"}),
            "hypervisor_flag": "hypervisor" in flags, "modules": loaded}


def kvm_verdict(facts: dict) -> tuple[bool | None, str]:
    """From :func:`kvm_facts`: (False, why) when KVM cannot serve, (None, what) when only
    a boot probe can tell."""
    if not facts["device"]:
        return False, "no /dev/kvm (no KVM module loaded)"
    if not facts["openable"]:
        return False, "/dev/kvm cannot be opened read-write by this user"
    if "kvm_pvm" in facts["modules"] and not facts["vmx_svm"]:
        where = "this machine is itself a virtual machine" if facts["hypervisor_flag"] else "the CPU"
        return False, ("/dev/kvm is the kvm_pvm module (software nested virtualization) and the CPU shows no "
                       f"vmx/svm flag ({where}): a stock Debian kernel stops under it with 'KVM internal error "
                       "... emulation failure' after about two minutes")
    if not facts["vmx_svm"]:
        return None, "/dev/kvm without a vmx/svm CPU flag: a boot probe decides"
    return None, f"/dev/kvm with the CPU flag {facts['vmx_svm'][0]}: a boot probe decides"


def detect(*, probe: bool = True, cache: str | os.PathLike | None = None) -> dict[str, Environment]:
    """Every environment of :data:`ENVIRONMENTS` with its availability here.

    `probe` boots a tiny image under KVM (at most :data:`KVM_PROBE_TIMEOUT` s) when the
    device looks usable; without it such a KVM is reported available unprobed.
    """
    out = {"native": Environment("native", True, "this machine, as it is (itself possibly a virtual machine)")}
    qemu = shutil.which(QEMU)
    kernel = debian_kernel()
    qver = qemu_version(qemu) if qemu else None
    guest = f"Debian kernel {kernel.name.removeprefix('vmlinuz-')}" if kernel else None
    missing = None
    if qemu is None:
        missing = f"{QEMU} is not installed (Debian package qemu-system-x86)"
    elif kernel is None:
        missing = "no /boot/vmlinuz-* to boot (Debian package linux-image-amd64)"
    elif not os.access(kernel, os.R_OK):
        missing = f"{kernel} is not readable by this user"
    base = (qemu or QEMU, "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
            "-monitor", "none", "-no-reboot", "-smp", "1", "-m", f"{MEMORY_MIB}M", "-kernel", str(kernel),
            "-append", _KERNEL_ARGS)
    tcg = ("-accel", "tcg", "-cpu", TCG_CPU)
    out["emulated"] = Environment("emulated", missing is None, missing or "QEMU TCG",
                                  f"QEMU {qver} TCG (-cpu {TCG_CPU})", guest, (*base, *tcg),
                                  {"accelerator": "tcg", "cpu": TCG_CPU})
    uml = shutil.which(UML)
    if uml is None:
        out["paravirtualized"] = Environment("paravirtualized", False,
                                             f"{UML} is not installed (Debian package user-mode-linux)")
    else:
        uver = uml_version(uml)
        try:
            shim = str(images.uml_shim(cache))
        except WorkbenchError as exc:
            out["paravirtualized"] = Environment("paravirtualized", False, str(exc))
        else:
            out["paravirtualized"] = Environment(
                "paravirtualized", True, "User-mode Linux", f"User-mode Linux {uver} (+ XSTATE ptrace shim)",
                f"User-mode Linux kernel {uver}", (uml, f"mem={MEMORY_MIB}M", *_UML_ARGS),
                {"uml": uver, "preload": shim})
    facts = kvm_facts()
    ok, reason = kvm_verdict(facts)
    kvm = Environment("hw-virtualized", False, reason, f"QEMU {qver} KVM (-cpu host)", guest,
                      (*base, "-accel", "kvm", "-cpu", "host"), {"accelerator": "kvm", "cpu": "host", **facts})
    if ok is None and missing is not None:
        ok, reason = False, missing
    if ok is None:
        if probe:
            ok, reason = _probe_kvm(kvm, cache)
        else:
            ok, reason = True, f"{reason} (not probed)"
    out["hw-virtualized"] = Environment(kvm.name, bool(ok), reason, kvm.hypervisor, kvm.guest, kvm.argv, kvm.details)
    return out


def _probe_kvm(env: Environment, cache, timeout: float = KVM_PROBE_TIMEOUT) -> tuple[bool, str]:
    from ..workloads import vbench

    folder = Path(cache) if cache else images.cache_folder()
    image = images.initramfs(vbench.binary(folder), vbench.arguments(quick=True, benchmarks=["syscall"]), folder=folder)
    with tempfile.TemporaryFile() as console:
        result = boot(dataclasses.replace(env, available=True), image, console, timeout=timeout)
        if result.ok:
            return True, f"a probe boot under KVM reached /init in {result.started:.1f} s"
        console.seek(0)
        tail = [line for line in console.read().decode("utf-8", "replace").splitlines() if line.strip()][-1:]
    return False, f"a probe boot under KVM failed: {result.problem()}" + (f" (last line: {tail[0][:160]!r})"
                                                                           if tail else "")


def _output(argv: Sequence[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout + done.stderr


# --------------------------------------------------------------------------- booting


def guest_command(env: Environment, image: str | os.PathLike, jail: str | os.PathLike) -> list[str]:
    """The full command booting `image` in `env`. `jail` is an empty folder: UML's hostfs
    (built into linux.uml, mountable by anything in the guest, read-write by default) is
    confined to it, so a guest cannot reach the host's files."""
    if env.name == "paravirtualized":
        return [*env.argv, f"initrd={image}", f"hostfs={jail}"]
    return [*env.argv, "-initrd", str(image)]


def boot(env: Environment, image: str | os.PathLike, console: BinaryIO, *, timeout: float) -> Boot:
    """Boot `image` in `env`, copying its console to `console`, within `timeout` seconds.

    The guest runs in a process group of its own, killed as a whole (SIGKILL) when the
    timeout expires; it also dies with the calling process (PR_SET_PDEATHSIG).
    """
    if not env.available:
        raise WorkbenchError(f"environment {env.name} is not available here: {env.reason}")
    if env.name not in GUESTS:
        raise WorkbenchError(f"environment {env.name} is not a guest")
    # UML keeps the guest's memory in a file in TMPDIR: on tmpfs (/dev/shm) it is memory,
    # elsewhere a disk file (UML warns "tempdir ... is not on tmpfs").
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK | os.X_OK) else None
    with tempfile.TemporaryDirectory(prefix="workbench-lab-", dir=shm) as scratch:
        jail = Path(scratch) / "hostfs"
        jail.mkdir(mode=0o500)
        argv = guest_command(env, image, jail)
        child_env = {**os.environ, "TMPDIR": scratch}
        if "preload" in env.details:
            child_env["LD_PRELOAD"] = env.details["preload"]
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=child_env, cwd=scratch,
                                    preexec_fn=die_with_parent(signal.SIGKILL))  # the guest dies with its caller
        except OSError as exc:
            raise WorkbenchError(f"{env.name}: cannot start {argv[0]} ({exc.strerror})") from None
        marks: dict[str, float | int] = {}
        pump = threading.Thread(target=_pump, args=(proc.stdout, console, marks, t0), daemon=True)
        pump.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc)
            pump.join(timeout=10)
        elapsed = time.monotonic() - t0
        if any(jail.iterdir()):  # the guest mounted hostfs and wrote: into the jail, but refuse the run
            raise WorkbenchError(f"{env.name}: the guest wrote into its hostfs folder {jail}; results discarded")
    return Boot(env.name, proc.pid, None if timed_out else proc.returncode, timed_out, marks.get("started"),
                marks.get("finished"), marks.get("status"), elapsed)


_STATUS = re.compile(re.escape(images.EXIT_STATUS.encode()) + rb" (\d+)")


def _pump(stream, console: BinaryIO, marks: dict, t0: float) -> None:
    """Copy the guest's console line by line, noting when the init's markers pass."""
    for line in iter(stream.readline, b""):
        now = time.monotonic() - t0
        console.write(line)
        if "started" not in marks and images.STARTED.encode() in line:
            marks["started"] = now
        elif (m := _STATUS.search(line)) and "status" not in marks:
            marks["finished"], marks["status"] = now, int(m.group(1))
    console.flush()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL not delivered
        pass


