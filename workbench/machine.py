"""One description of the machine the workbench runs on: CPU, caches, OS,
hypervisor, container, and the default labels every producer gives its rows.

The capture and the probe both ask this module (DESIGN.md §2), so a capture and
a probe taken on the same machine carry the same ``host``, ``scope`` and
``hypervisor`` labels (:func:`default_labels`).

What is detected, and from where
--------------------------------
:func:`detect_virtualization` (Linux; every path is read under `root`, so tests
point it at a recorded folder):

==========================================  ==========================================
evidence                                     what it tells
==========================================  ==========================================
``/proc/cpuinfo`` flag ``hypervisor``        the CPUID "running under a hypervisor" bit
``lscpu`` "Hypervisor vendor",               the hypervisor's CPUID signature (KVM,
"Virtualization type"                        VMware, Xen, Microsoft, ...); full / para
``systemd-detect-virt --vm``                 systemd's verdict (``kvm``, ``vmware``,
                                             ``xen``, ... or ``none``); dom0 is ``none``
``/sys/hypervisor/type``                     ``xen`` under Xen (domU and dom0)
``/proc/xen/capabilities``                   ``control_d`` in Xen's dom0: scope
                                             ``control-domain``; empty in a domU
``/sys/class/dmi/id/sys_vendor``,            the firmware's maker (``QEMU``, ``VMware,
``product_name``                             Inc.``, ``Xen`` / ``HVM domU``); on bare
                                             metal the board maker, which names no
                                             hypervisor (:data:`DMI_HYPERVISORS`)
``systemd-detect-virt --container``,         a container (``docker``, ``podman``,
``/run/systemd/container``, ``/.dockerenv``, ``lxc``, ...): recorded, but a container
``/run/.containerenv``, ``/proc/1/cgroup``,  is not a VM, so it leaves the scope alone
``/proc/self/mountinfo``
==========================================  ==========================================

The vendor is taken from the first source that names one, in the order lscpu,
systemd-detect-virt, ``/sys/hypervisor/type``, DMI (a KVM guest's DMI says
``QEMU``, the board KVM emulates; CPUID says ``KVM``). The scope is
``control-domain`` in Xen's dom0, ``guest`` when any source shows a hypervisor,
``host`` otherwise. Every reading that was made is kept in
:attr:`Virtualization.evidence`, so a label can be checked against what it was
decided from. The commands are run only on the live system (``root="/"``) and
only where they are installed; a missing command is no error.

Windows: the CPU model and the firmware's manufacturer come from the registry
(a known hypervisor's name there makes the scope ``guest``). Not run on Windows
yet. Elsewhere (macOS) no hypervisor detection: the scope is ``host``.

Caches (:func:`detect_caches`): Linux sysfs (``cpuN/cache/index*``), Windows
``GetLogicalProcessorInformation``. sysfs is what is used. Where glibc's
``getconf`` (which asks CPUID on x86) reports another size for a level, both are
recorded in :attr:`Machine.notes` (:func:`compare_caches`): on AMD, CPUID can
give the whole package's L3 where sysfs gives the per-CCX slice a core sees.

CPU model: ``/proc/cpuinfo`` (``model name``; ARM kernels write ``Processor``,
``Hardware`` or ``Model``), the registry on Windows, ``sysctl`` on macOS.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import ParseError, WorkbenchError

#: Cache line size assumed where the OS does not say.
DEFAULT_LINE = 64

_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


class MachineError(WorkbenchError):
    """The OS does not describe what was asked (no cache description, no cache
    detection on this platform)."""


# --------------------------------------------------------------------------- descriptions

@dataclass(frozen=True)
class Cache:
    """One data (or unified) cache level as the OS reports it.

    Attributes
    ----------
    level : str
        ``L1``, ``L2`` or ``L3`` (L1 means the L1 data cache).
    size : int
        Bytes per instance.
    shared : bool
        True when one instance serves several of the CPUs counted.
    instances : int
        Distinct instances among those CPUs (STREAM's rule sums the last level).
    line : int
        Cache line size in bytes.
    source : str
        Where the numbers came from (``sysfs``, ``GetLogicalProcessorInformation``,
        ``override``).
    """

    level: str
    size: int
    shared: bool
    instances: int = 1
    line: int = DEFAULT_LINE
    source: str = "sysfs"


@dataclass(frozen=True)
class Virtualization:
    """Whether the machine is a VM, a Xen control domain or a container, and why.

    Attributes
    ----------
    scope : str
        ``host``, ``guest`` or ``control-domain`` (the ``scope`` label).
    hypervisor : str or None
        The hypervisor's name (``KVM``, ``VMware``, ``Xen``, ``Microsoft``, ...);
        None on bare metal. In dom0 it is ``Xen``.
    virtualization_type : str or None
        lscpu's "Virtualization type" (``full``, ``para``, ``none``).
    container : str or None
        The container runtime (``docker``, ``podman``, ``lxc``, ...) or None.
    hypervisor_flag : bool or None
        The CPUID hypervisor bit; None where ``/proc/cpuinfo`` has no flags.
    control_domain : bool
        Xen dom0 (``/proc/xen/capabilities`` says ``control_d``).
    evidence : tuple of str
        Every reading made, as ``"source: value"``.
    """

    scope: str
    hypervisor: str | None = None
    virtualization_type: str | None = None
    container: str | None = None
    hypervisor_flag: bool | None = None
    control_domain: bool = False
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Machine:
    """The machine a capture or probe ran on.

    Attributes
    ----------
    cpu_model : str or None
        As the OS names it (``/proc/cpuinfo`` ``model name``; the registry on Windows).
    clock_hz : float or None
        psutil's maximum clock, else its current one (`clock_kind` says which).
    clock_kind : str or None
        ``max`` or ``current``.
    logical_cpus : int
        CPUs the process may run on.
    os : str
        ``platform.platform()``.
    hostname : str
    virtualization : Virtualization
    caches : tuple of Cache
    notes : tuple of str
        What the detection wants on record: disagreeing sources (sysfs against
        CPUID), a cache description that could not be read.
    """

    cpu_model: str | None
    clock_hz: float | None
    clock_kind: str | None
    logical_cpus: int
    os: str
    hostname: str
    virtualization: Virtualization
    caches: tuple[Cache, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def scope(self) -> str:
        """The ``scope`` label rows get unless the user gives one."""
        return self.virtualization.scope

    @property
    def hypervisor(self) -> str | None:
        """The ``hypervisor`` label rows get unless the user gives one."""
        return self.virtualization.hypervisor

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (:meth:`from_dict` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Machine:
        """The machine from :meth:`to_dict`'s dict, or from the flat form the probe
        wrote before this module existed (``hypervisor_flag``, ``hypervisor_vendor``,
        ``virtualization_type``, ``control_domain`` beside the CPU fields)."""
        if "virtualization" in d:
            virt = Virtualization(**{**d["virtualization"],
                                     "evidence": tuple(d["virtualization"].get("evidence", ()))})
        else:
            vendor, flag, dom0 = d.get("hypervisor_vendor"), d.get("hypervisor_flag"), bool(d.get("control_domain"))
            virt = Virtualization("control-domain" if dom0 else "guest" if flag or vendor else "host", vendor,
                                  d.get("virtualization_type"), None, flag, dom0)
        return cls(cpu_model=d.get("cpu_model"), clock_hz=d.get("clock_hz"), clock_kind=d.get("clock_kind"),
                   logical_cpus=d["logical_cpus"], os=d["os"], hostname=d["hostname"], virtualization=virt,
                   caches=tuple(Cache(**c) for c in d.get("caches", ())), notes=tuple(d.get("notes", ())))


# --------------------------------------------------------------------------- labels and metadata

def default_labels(machine: Machine | None = None) -> dict[str, Any]:
    """The labels a producer gives its rows unless the user gives others.

    Returns
    -------
    dict
        ``host`` (the host name), ``scope`` (``host``, ``guest`` or
        ``control-domain``) and ``hypervisor`` (a name, or None), from `machine`,
        or detected now (without the caches) when it is None.
    """
    if machine is None:
        return {"host": socket.gethostname(), **_labels_of(detect_virtualization())}
    return {"host": machine.hostname, **_labels_of(machine.virtualization)}


def _labels_of(virt: Virtualization) -> dict[str, Any]:
    return {"scope": virt.scope, "hypervisor": virt.hypervisor}


def describe_virtualization(virt: Virtualization) -> str:
    """One line for people: ``KVM (full virtualization); container: docker``."""
    text = virt.hypervisor or ("reported, vendor unknown" if virt.scope == "guest" else "none reported")
    if virt.virtualization_type and virt.virtualization_type not in ("none", "container"):
        text += f" ({virt.virtualization_type} virtualization)"
    if virt.control_domain:
        text += ", Xen control domain (dom0)"
    if virt.container:
        text += f"; container: {virt.container}"
    return text


def machine_metadata(machine: Machine | None = None) -> dict[str, Any]:
    """What a capture records about the machine (its header's ``meta``; the
    ``machine.*`` keys of the metadata :func:`workbench.readers.read_file` gives).

    The keys earlier captures wrote stay (``hostname``, ``os``, ``os_release``,
    ``os_version``, ``platform``, ``machine``, ``cpu_model``, ``cpu_count``,
    ``cpu_count_physical``, ``mem_total``, ``boot_time``, ``cpu_time_fields``,
    ``psutil``, ``python``, ``cpu_hypervisor_flag``, ``dmi_*``,
    ``xen_hypervisor_type``); ``scope`` and ``hypervisor`` are the default
    labels (:func:`default_labels`), beside ``container``,
    ``virtualization_type``, ``virtualization_evidence``, ``caches`` and
    ``notes``.
    """
    import psutil

    machine = detect_machine() if machine is None else machine
    virt = machine.virtualization
    out: dict[str, Any] = {
        "hostname": machine.hostname,
        "os": platform.system(),
        "os_release": platform.release(),
        "os_version": platform.version(),
        "platform": machine.os,
        "machine": platform.machine(),
        "cpu_model": machine.cpu_model,
        "cpu_count": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "mem_total": psutil.virtual_memory().total,
        "boot_time": psutil.boot_time(),
        "cpu_time_fields": list(psutil.cpu_times()._fields),
        "psutil": psutil.__version__,
        "python": platform.python_version(),
        "scope": virt.scope,
        "hypervisor": virt.hypervisor,
        "container": virt.container,
        "virtualization_type": virt.virtualization_type,
        "virtualization_evidence": list(virt.evidence),
        "caches": [asdict(c) for c in machine.caches],
        "notes": list(machine.notes),
    }
    if virt.hypervisor_flag is not None:
        out["cpu_hypervisor_flag"] = virt.hypervisor_flag
    # The raw readings under the keys captures have always used.
    for key, source in (("dmi_sys_vendor", "sys_vendor"), ("dmi_product_name", "product_name"),
                        ("xen_hypervisor_type", "/sys/hypervisor/type")):
        for line in virt.evidence:
            name, _, value = line.partition(": ")
            if name.endswith(source):
                out[key] = value
    return out


# --------------------------------------------------------------------------- the machine

def detect_machine(caches: Sequence[Cache] | None = None, *, cpus: Sequence[int] | None = None) -> Machine:
    """Describe this machine: CPU, clock, OS, hypervisor, caches (see :class:`Machine`).

    Parameters
    ----------
    caches : sequence of Cache, optional
        Given: not detected (overrides, or no OS support). None: detected; when
        the OS does not describe them, the machine has none and a note says why
        (only the probe needs caches, and it detects them first).
    cpus : sequence of int, optional
        The CPUs counted (default: :func:`usable_cpus`).
    """
    import psutil

    cpus = usable_cpus() if cpus is None else list(cpus)
    notes: list[str] = []
    info: dict[str, Any] = {"cpu_model": None, "mhz": None}
    lscpu: dict[str, str] = {}
    if sys.platform.startswith("linux"):
        info = _read_cpuinfo(Path("/"))
        lscpu = _lscpu()
    elif sys.platform == "win32":  # pragma: no cover
        info["cpu_model"] = _windows_registry()[0]
    elif sys.platform == "darwin":  # pragma: no cover
        info["cpu_model"] = _run(["sysctl", "-n", "machdep.cpu.brand_string"]) or None
    virt = detect_virtualization(lscpu=lscpu)
    if caches is None:
        try:
            caches = detect_caches(cpus)
        except MachineError as exc:
            caches = ()
            notes.append(f"caches: {exc}")
    notes += compare_caches(caches, cpuid_cache_sizes())
    clock, kind = None, None
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, AttributeError):
        freq = None
    if freq is not None and freq.max:
        clock, kind = freq.max * 1e6, "max"
    elif freq is not None and freq.current:
        clock, kind = freq.current * 1e6, "current"
    elif info["mhz"]:
        clock, kind = info["mhz"] * 1e6, "current"
    return Machine(cpu_model=info["cpu_model"] or platform.processor() or None, clock_hz=clock, clock_kind=kind,
                   logical_cpus=len(cpus), os=platform.platform(), hostname=socket.gethostname(),
                   virtualization=virt, caches=tuple(caches), notes=tuple(notes))


def usable_cpus() -> list[int]:
    """CPUs this process may run on (its affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """Model name, MHz and the hypervisor flag from ``/proc/cpuinfo`` text.

    Fields come from the first processor's block; the model falls back to the
    lines ARM kernels write after the processor blocks (``Hardware``, ``Model``).
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())  # the first processor's value wins
    flags = fields.get("flags", fields.get("Features", "")).split()
    mhz = fields.get("cpu MHz")
    # x86 writes "model name"; MIPS "cpu model"; old ARM kernels "Processor"; others only
    # name the SoC ("Hardware") or the board ("Model", e.g. a Raspberry Pi).
    model = next((fields[k] for k in ("model name", "cpu model", "Processor", "Hardware", "Model")
                  if fields.get(k)), None)
    return {"cpu_model": model,
            "mhz": float(mhz) if mhz and re.fullmatch(r"\d+(\.\d+)?", mhz) else None,
            "hypervisor_flag": ("hypervisor" in flags) if "flags" in fields else None}


def _read_cpuinfo(root: Path) -> dict[str, Any]:
    try:
        return parse_cpuinfo((root / "proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {"cpu_model": None, "mhz": None, "hypervisor_flag": None}


def parse_lscpu(text: str) -> dict[str, str]:
    """``Key: value`` pairs of ``lscpu`` output (run with ``LC_ALL=C``)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out.setdefault(key.strip(), value.strip())
    return out


def _run(argv: Sequence[str], *, ok: Sequence[int] = (0,)) -> str | None:
    """A command's standard output, or None where it is not installed or fails."""
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=10,
                              stdin=subprocess.DEVNULL, env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode in ok else None


def _lscpu() -> dict[str, str]:
    text = _run(["lscpu"])
    return parse_lscpu(text) if text else {}


def systemd_detect_virt() -> dict[str, str]:
    """``systemd-detect-virt --vm`` and ``--container`` answers (``kvm``, ``docker``,
    ``none``, ...) under keys ``vm`` and ``container``; empty where it is not installed."""
    out = {}
    for key in ("vm", "container"):
        # It prints "none" and exits 1 when it finds nothing: an answer, not a failure.
        text = _run(["systemd-detect-virt", f"--{key}"], ok=(0, 1))
        if text and text.strip():
            out[key] = text.strip()
    return out


def _windows_registry() -> tuple[str | None, str | None]:  # pragma: no cover - Windows only
    # Not run on Windows yet. The firmware's manufacturer names the hypervisor in
    # common guests ("VMware, Inc.", "Xen", "Microsoft Corporation" for Hyper-V,
    # "QEMU"); on bare metal it names the board maker, so it is only a hint.
    import winreg
    model = vendor = None
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE,
                            r"HARDWARE\DESCRIPTION\System\CentralProcessor\0") as key:
            model = str(winreg.QueryValueEx(key, "ProcessorNameString")[0]).strip()
    except OSError:
        pass
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\BIOS") as key:
            vendor = str(winreg.QueryValueEx(key, "SystemManufacturer")[0]).strip()
    except OSError:
        pass
    return model, vendor


# --------------------------------------------------------------------------- hypervisor and container

#: systemd-detect-virt's VM identifiers -> the names lscpu (util-linux) gives the
#: same hypervisors, so that both sources label rows alike.
SYSTEMD_VMS = {
    "kvm": "KVM", "qemu": "QEMU", "vmware": "VMware", "xen": "Xen", "microsoft": "Microsoft",
    "oracle": "Oracle", "parallels": "Parallels", "bochs": "Bochs", "bhyve": "bhyve", "zvm": "IBM z/VM",
    "powervm": "PowerVM", "uml": "User-mode Linux", "amazon": "Amazon", "google": "Google",
    "acrn": "ACRN", "qnx": "QNX", "apple": "Apple", "sre": "SRE", "vm-other": None,
}

#: DMI strings that name a hypervisor: (sys_vendor prefix, product_name prefix, name);
#: None matches anything. After systemd's detect-virt table (src/basic/virt.c). A
#: board maker (bare metal) matches none; "Microsoft Corporation" alone is a Surface.
DMI_HYPERVISORS = (
    ("QEMU", None, "QEMU"), (None, "KVM", "KVM"), ("OpenStack", None, "KVM"), ("KubeVirt", None, "KVM"),
    ("VMware", None, "VMware"), (None, "VMware", "VMware"), ("innotek GmbH", None, "Oracle"),
    (None, "VirtualBox", "Oracle"), ("Xen", None, "Xen"), ("Bochs", None, "Bochs"),
    ("Parallels", None, "Parallels"), ("BHYVE", None, "bhyve"),
    ("Microsoft Corporation", "Virtual Machine", "Microsoft"), (None, "Google Compute Engine", "Google"),
    ("Apple Virtualization", None, "Apple"),
)

#: Hints of a container in /proc/1/cgroup (cgroup paths of the container's init).
_CGROUP_CONTAINERS = (("/docker", "docker"), ("/libpod-", "podman"), ("/lxc/", "lxc"),
                      ("kubepods", "kubernetes"))


def dmi_hypervisor(sys_vendor: str | None, product_name: str | None) -> str | None:
    """The hypervisor that DMI strings name (:data:`DMI_HYPERVISORS`), or None."""
    for vendor, product, name in DMI_HYPERVISORS:
        if ((vendor is None or (sys_vendor or "").startswith(vendor))
                and (product is None or (product_name or "").startswith(product))):
            return name
    return None


def detect_virtualization(root: str | os.PathLike = "/", *, lscpu: Mapping[str, str] | None = None,
                          detect_virt: Mapping[str, str] | None = None) -> Virtualization:
    """Whether this machine is a VM, a Xen control domain or a container (see the module
    docstring for the sources and their order).

    Parameters
    ----------
    root : path
        The file system root the ``/proc`` and ``/sys`` files are read under
        (tests pass a recorded folder).
    lscpu : mapping, optional
        :func:`parse_lscpu` output. None: run ``lscpu`` when `root` is ``/``.
    detect_virt : mapping, optional
        :func:`systemd_detect_virt` output (``vm``, ``container``). None: run
        ``systemd-detect-virt`` when `root` is ``/``.
    """
    root = Path(root)
    live = root.resolve() == Path("/")
    if sys.platform == "win32" and live:  # pragma: no cover - Windows only
        vendor = _windows_registry()[1]
        name = dmi_hypervisor(vendor, None)
        return Virtualization("guest" if name else "host", name,
                              evidence=(f"registry SystemManufacturer: {vendor}",) if vendor else ())
    if lscpu is None:
        lscpu = _lscpu() if live else {}
    if detect_virt is None:
        detect_virt = systemd_detect_virt() if live else {}
    evidence: list[str] = []
    flag = _read_cpuinfo(root)["hypervisor_flag"]
    if flag is not None:
        evidence.append(f"/proc/cpuinfo flags: {'hypervisor' if flag else 'no hypervisor flag'}")
    lscpu_vendor, kind = lscpu.get("Hypervisor vendor"), lscpu.get("Virtualization type")
    for key in ("Hypervisor vendor", "Virtualization type"):
        if lscpu.get(key):
            evidence.append(f"lscpu {key}: {lscpu[key]}")
    sd_vm, sd_container = detect_virt.get("vm"), detect_virt.get("container")
    for key in ("vm", "container"):
        if detect_virt.get(key):
            evidence.append(f"systemd-detect-virt --{key}: {detect_virt[key]}")
    hv_type = _read(root, "sys/hypervisor/type", evidence)
    xen_caps = _read(root, "proc/xen/capabilities", evidence)
    dmi_vendor = _read(root, "sys/class/dmi/id/sys_vendor", evidence)
    dmi_product = _read(root, "sys/class/dmi/id/product_name", evidence)
    dom0 = xen_caps is not None and "control_d" in xen_caps.split(",")

    # lscpu reports WSL 1 and Linux-VServer as vendor + type "container": not VMs.
    vm_by_lscpu = bool(lscpu_vendor) and kind != "container"
    sd_name = SYSTEMD_VMS.get(sd_vm, sd_vm) if sd_vm and sd_vm != "none" else None
    vendor = next(filter(None, (
        lscpu_vendor if vm_by_lscpu else None,
        sd_name,
        {"xen": "Xen"}.get(hv_type, hv_type) if hv_type else None,
        "Xen" if xen_caps is not None else None,
        dmi_hypervisor(dmi_vendor, dmi_product))), None)
    if dom0:
        scope = "control-domain"
    elif flag or vm_by_lscpu or (sd_vm and sd_vm != "none") or hv_type or xen_caps is not None \
            or dmi_hypervisor(dmi_vendor, dmi_product):
        scope = "guest"
    else:
        scope = "host"
    container = _container(root, sd_container, evidence, kind_container=lscpu_vendor if kind == "container" else None)
    return Virtualization(scope, vendor, kind, container, flag, dom0, tuple(evidence))


def _read(root: Path, name: str, evidence: list[str]) -> str | None:
    """A small text file's stripped content (None if absent), noted in `evidence`
    under its path on the live system (``/`` + `name`)."""
    try:
        text = (root / name).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    evidence.append(f"/{name}: {text}")
    return text


def _container(root: Path, systemd: str | None, evidence: list[str], *, kind_container: str | None) -> str | None:
    """The container runtime: every hint is noted in `evidence`; the first that names
    one wins (systemd-detect-virt, /run/systemd/container, marker files, cgroups, mounts)."""
    found = [systemd] if systemd and systemd != "none" else []
    found.append(_read(root, "run/systemd/container", evidence))
    for name, runtime in ((".dockerenv", "docker"), ("run/.containerenv", "podman")):
        if (root / name).exists():
            evidence.append(f"/{name}: present")
            found.append(runtime)
    try:
        cgroup = (root / "proc/1/cgroup").read_text(encoding="utf-8", errors="replace")
    except OSError:
        cgroup = ""
    for hint, runtime in _CGROUP_CONTAINERS:
        if hint in cgroup:
            evidence.append(f"/proc/1/cgroup: {hint}")
            found.append(runtime)
            break
    try:
        mountinfo = (root / "proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        mountinfo = ""
    for line in mountinfo.splitlines():
        # "36 35 98:0 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/..." (proc(5)):
        # the fifth field is the mount point; after " - " come type, source, options.
        fields, _, tail = line.partition(" - ")
        parts, fs = fields.split(), tail.split()
        if len(parts) >= 5 and parts[4] == "/" and fs and fs[0] == "overlay":
            options = " ".join(fs[2:])
            for hint, runtime in (("/docker/", "docker"), ("containers/storage", "podman"),
                                  ("containerd", "containerd")):
                if hint in options:
                    evidence.append(f"/proc/self/mountinfo: / on overlay from {hint}")
                    found.append(runtime)
                    break
    found.append(kind_container)
    return next(filter(None, found), None)


# --------------------------------------------------------------------------- caches

def linux_caches(root: str | os.PathLike = "/sys/devices/system/cpu",
                 cpus: Sequence[int] | None = None) -> tuple[Cache, ...]:
    """Data and unified caches from Linux sysfs (``cpuN/cache/index*/``).

    Parameters
    ----------
    root : path
        The ``/sys/devices/system/cpu`` directory (tests pass a copy).
    cpus : sequence of int, optional
        The CPUs counted (default: those with a ``cache`` folder). Sharing and
        instance counts are counted among them.

    Raises
    ------
    ParseError
        Naming the sysfs file that does not hold what it should.
    MachineError
        When the folder holds no cache description.
    """
    root = Path(root)
    if cpus is None:
        cpus = sorted(int(p.name[3:]) for p in root.glob("cpu[0-9]*") if (p / "cache").is_dir())
    used = set(cpus)
    found: dict[int, dict[str, Any]] = {}
    for cpu in cpus:
        for index in sorted((root / f"cpu{cpu}" / "cache").glob("index[0-9]*")):
            kind = _sysfs(index / "type")
            if kind not in ("Data", "Unified"):
                continue  # instruction caches hold no data
            level = _sysfs_int(index / "level")
            size = _sysfs_size(index / "size")
            shared_with = _cpu_list(index / "shared_cpu_list") & used
            line_file = index / "coherency_line_size"
            line = _sysfs_int(line_file) if line_file.exists() else DEFAULT_LINE
            entry = found.setdefault(level, {"size": size, "line": line, "instances": set(), "shared": False})
            entry["instances"].add(frozenset(shared_with or {cpu}))
            entry["shared"] |= len(shared_with) > 1
    if not found:
        raise MachineError(f"{root}: no cache description in sysfs; give the sizes (--l1, --l2, --l3)")
    return tuple(Cache(f"L{level}", e["size"], e["shared"], len(e["instances"]), e["line"], "sysfs")
                 for level, e in sorted(found.items()) if level <= 3)


def _sysfs(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(path, None, "a readable sysfs attribute", type(exc).__name__) from None


def _sysfs_int(path: Path) -> int:
    text = _sysfs(path)
    if not text.isdigit():
        raise ParseError(path, 1, "a non-negative integer", repr(text))
    return int(text)


def _sysfs_size(path: Path) -> int:
    # sysfs writes cache sizes as "48K", "2048K", "307200K" (kernel's cacheinfo, KiB).
    text = _sysfs(path)
    m = re.fullmatch(r"(\d+)([KMG]?)", text)
    if not m or int(m.group(1)) == 0:
        raise ParseError(path, 1, "a cache size such as 48K", repr(text))
    return int(m.group(1)) * _UNITS[m.group(2)]


def _cpu_list(path: Path) -> set[int]:
    # "0-1", "0,2,4-7": the kernel's cpulist format.
    text = _sysfs(path)
    cpus: set[int] = set()
    for part in filter(None, text.split(",")):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ParseError(path, 1, "a CPU list such as 0-1 or 0,2,4-7", repr(text))
        low, high = int(m.group(1)), int(m.group(2) or m.group(1))
        cpus.update(range(low, high + 1))
    return cpus


def windows_caches() -> tuple[Cache, ...]:  # pragma: no cover - Windows only
    """Data and unified caches from ``GetLogicalProcessorInformation`` (ctypes, no dependency).

    Written against the Win32 documentation and not run on Windows yet: on a
    failure the message asks for the sizes (``--l1``/``--l2``/``--l3``).
    """
    import ctypes
    from ctypes import wintypes

    class CacheDescriptor(ctypes.Structure):
        _fields_ = [("Level", ctypes.c_ubyte), ("Associativity", ctypes.c_ubyte),
                    ("LineSize", wintypes.WORD), ("Size", wintypes.DWORD), ("Type", ctypes.c_int)]

    class Union(ctypes.Union):
        _fields_ = [("Cache", CacheDescriptor), ("Reserved", ctypes.c_ulonglong * 2)]

    class Info(ctypes.Structure):
        _fields_ = [("ProcessorMask", ctypes.c_size_t), ("Relationship", ctypes.c_int), ("u", Union)]

    relation_cache, cache_instruction = 2, 1
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    length = wintypes.DWORD(0)
    kernel32.GetLogicalProcessorInformation(None, ctypes.byref(length))
    count = length.value // ctypes.sizeof(Info)
    buffer = (Info * count)()
    if not kernel32.GetLogicalProcessorInformation(buffer, ctypes.byref(length)):
        raise MachineError("GetLogicalProcessorInformation failed; give the sizes (--l1, --l2, --l3)")
    found: dict[int, dict[str, Any]] = {}
    for info in buffer:
        if info.Relationship != relation_cache or info.u.Cache.Type == cache_instruction:
            continue
        c = info.u.Cache
        entry = found.setdefault(c.Level, {"size": c.Size, "line": c.LineSize or DEFAULT_LINE,
                                           "instances": 0, "shared": False})
        entry["instances"] += 1
        entry["shared"] |= bin(info.ProcessorMask).count("1") > 1
    return tuple(Cache(f"L{lv}", e["size"], e["shared"], e["instances"], e["line"],
                       "GetLogicalProcessorInformation") for lv, e in sorted(found.items()) if lv <= 3)


def detect_caches(cpus: Sequence[int] | None = None) -> tuple[Cache, ...]:
    """The cache levels of this machine, from the OS.

    Linux: sysfs. Windows: ``GetLogicalProcessorInformation`` through ctypes
    (py-cpuinfo is not a dependency). Elsewhere, or when the OS says nothing,
    :class:`MachineError` asks for ``--l1``/``--l2``/``--l3``.
    """
    if sys.platform.startswith("linux"):
        return linux_caches(cpus=cpus)
    if sys.platform == "win32":  # pragma: no cover
        try:
            return windows_caches()
        except (OSError, AttributeError, ValueError) as exc:
            raise MachineError(f"cache sizes not readable ({exc}); give them (--l1, --l2, --l3)") from None
    raise MachineError(f"cache detection is not implemented on {sys.platform}; "
                       "give the sizes (--l1, --l2, --l3)")


#: glibc's sysconf names per level (``getconf`` prints them; on x86 glibc asks CPUID).
GETCONF_NAMES = {"L1": "LEVEL1_DCACHE_SIZE", "L2": "LEVEL2_CACHE_SIZE", "L3": "LEVEL3_CACHE_SIZE"}


def parse_getconf(text: str) -> dict[str, int]:
    """Cache bytes per level from ``getconf -a`` output (levels it leaves 0 or empty are absent)."""
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    return {level: values[name] for level, name in GETCONF_NAMES.items() if values.get(name)}


def cpuid_cache_sizes() -> dict[str, int]:
    """Cache bytes per level as glibc reports them (``getconf -a``); empty where
    getconf is missing (musl, Windows, macOS) or fails."""
    text = _run(["getconf", "-a"])
    return parse_getconf(text) if text else {}


def compare_caches(caches: Sequence[Cache], cpuid: Mapping[str, int]) -> tuple[str, ...]:
    """Notes for each sysfs cache level whose size CPUID (through getconf) gives otherwise.

    Parameters
    ----------
    caches : sequence of Cache
        The caches in use (only those read from sysfs are compared).
    cpuid : mapping
        Bytes per level (``L1``, ``L2``, ``L3``), e.g. :func:`cpuid_cache_sizes`.

    Returns
    -------
    tuple of str
        One note per disagreement, naming both sizes and the one used (sysfs).
    """
    notes = []
    for c in caches:
        other = cpuid.get(c.level)
        if c.source == "sysfs" and other and other != c.size:
            notes.append(f"{c.level}: sysfs says {format_size(c.size)} per instance, CPUID (getconf "
                         f"{GETCONF_NAMES[c.level]}) says {format_size(other)}; using sysfs")
    return tuple(notes)


def format_size(n: float) -> str:
    """A byte count in binary units for messages and tables: ``48 KiB``, ``1.17 GiB``."""
    for unit, factor in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{int(n)} B"
