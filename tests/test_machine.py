"""The one machine description (issue 10): hypervisor and container detection on
recorded roots of several machine kinds, caches from recorded sysfs, the sysfs
against CPUID comparison, and on this machine: agreement with lscpu and
systemd-detect-virt, and the same labels from a real capture and a real probe.

Nothing here encodes the machine the tests run on: what this machine must be is
read from lscpu and systemd-detect-virt, the independent readers."""
from __future__ import annotations

import ast
import os
import shutil
import socket
import subprocess
import warnings

import pytest

from workbench import capture, machine, probe, readers
from workbench.errors import ParseError, WorkbenchError

from .conftest import FIXTURES, ROOT

HERE = FIXTURES / "machine"
ROOTS = HERE / "roots"
PROBE = FIXTURES / "probe"
KIB, MIB = 1024, 1024 ** 2
RECORDED_LSCPU = machine.parse_lscpu((PROBE / "lscpu-kvm.txt").read_text(encoding="utf-8"))


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "LC_ALL": "C"})


# --------------------------------------------------------------------------- recorded roots


@pytest.mark.parametrize("root, scope, hypervisor, container, control_domain, flag", [
    ("bare-metal", "host", None, None, False, False),
    # files only: the DMI names the board QEMU emulates; CPUID (lscpu) names KVM (below)
    ("kvm-guest", "guest", "QEMU", None, False, True),
    ("vmware-guest", "guest", "VMware", None, False, True),
    ("xen-dom0", "control-domain", "Xen", None, True, True),
    ("xen-domu-pv", "guest", "Xen", None, False, True),
    # a container is not a VM: the scope stays host
    ("docker-on-bare-metal", "host", None, "docker", False, False),
    ("kvm-guest-in-docker", "guest", None, "docker", False, True),
])
def test_detection_on_recorded_roots(root, scope, hypervisor, container, control_domain, flag):
    v = machine.detect_virtualization(ROOTS / root)
    assert (v.scope, v.hypervisor, v.container, v.control_domain, v.hypervisor_flag) == \
        (scope, hypervisor, container, control_domain, flag)
    assert v.virtualization_type is None  # lscpu was not asked about a recorded root
    labels = machine.default_labels(machine.Machine(None, None, None, 1, "Linux", "h", v))
    assert labels == {"host": "h", "scope": scope, "hypervisor": hypervisor}


def test_every_reading_is_evidence():
    dom0 = machine.detect_virtualization(ROOTS / "xen-dom0")
    assert dom0.evidence == ("/proc/cpuinfo flags: hypervisor", "/sys/hypervisor/type: xen",
                             "/proc/xen/capabilities: control_d", "/sys/class/dmi/id/sys_vendor: Dell Inc.",
                             "/sys/class/dmi/id/product_name: PowerEdge R730")
    docker = machine.detect_virtualization(ROOTS / "docker-on-bare-metal")
    assert docker.evidence[-3:] == ("/.dockerenv: present", "/proc/1/cgroup: /docker",
                                    "/proc/self/mountinfo: / on overlay from /docker/")
    assert "/proc/cpuinfo flags: no hypervisor flag" in docker.evidence


def test_cpuid_vendor_wins_over_dmi():
    # the recorded lscpu and systemd-detect-virt of the KVM guest the kvm-guest root copies
    v = machine.detect_virtualization(ROOTS / "kvm-guest", lscpu=RECORDED_LSCPU,
                                      detect_virt={"vm": "kvm", "container": "none"})
    assert (v.scope, v.hypervisor, v.virtualization_type, v.container) == ("guest", "KVM", "full", None)
    assert v.evidence[:5] == ("/proc/cpuinfo flags: hypervisor", "lscpu Hypervisor vendor: KVM",
                              "lscpu Virtualization type: full", "systemd-detect-virt --vm: kvm",
                              "systemd-detect-virt --container: none")
    # systemd-detect-virt alone names it as lscpu does
    assert machine.detect_virtualization(ROOTS / "kvm-guest", detect_virt={"vm": "kvm"}).hypervisor == "KVM"
    # this machine: a KVM guest running the tests in a Docker container
    here = machine.detect_virtualization(ROOTS / "kvm-guest-in-docker", lscpu=RECORDED_LSCPU,
                                         detect_virt={"vm": "kvm", "container": "docker"})
    assert (here.scope, here.hypervisor, here.container) == ("guest", "KVM", "docker")


def test_dom0_is_the_control_domain_whatever_lscpu_says():
    # util-linux reports dom0 as vendor Xen, type none; systemd-detect-virt --vm says none there
    v = machine.detect_virtualization(ROOTS / "xen-dom0", lscpu={"Hypervisor vendor": "Xen",
                                                                 "Virtualization type": "none"},
                                      detect_virt={"vm": "none", "container": "none"})
    assert (v.scope, v.hypervisor) == ("control-domain", "Xen")
    assert machine.describe_virtualization(v) == "Xen, Xen control domain (dom0)"


def test_an_empty_root_is_a_host(tmp_path):
    v = machine.detect_virtualization(tmp_path)
    assert v == machine.Virtualization("host")
    assert machine.describe_virtualization(v) == "none reported"


@pytest.mark.parametrize("vendor, product, name", [
    ("QEMU", "Standard PC (i440FX + PIIX, 1996)", "QEMU"),
    ("VMware, Inc.", "VMware7,1", "VMware"),
    ("Xen", "HVM domU", "Xen"),
    ("innotek GmbH", "VirtualBox", "Oracle"),
    ("Microsoft Corporation", "Virtual Machine", "Microsoft"),
    ("Microsoft Corporation", "Surface Laptop 4", None),  # a Microsoft laptop is bare metal
    ("Dell Inc.", "PowerEdge R730", None),
    (None, None, None),
])
def test_dmi_names(vendor, product, name):
    assert machine.dmi_hypervisor(vendor, product) == name


# --------------------------------------------------------------------------- caches


def test_linux_caches_from_a_copy_of_a_kvm_guests_sysfs():
    caches = machine.linux_caches(PROBE / "sysfs-kvm")
    assert caches == (machine.Cache("L1", 48 * KIB, False, 2, 64, "sysfs"),
                      machine.Cache("L2", 2048 * KIB, False, 2, 64, "sysfs"),
                      machine.Cache("L3", 307200 * KIB, True, 1, 64, "sysfs"))
    # on one CPU only, nothing is shared
    assert [c.shared for c in machine.linux_caches(PROBE / "sysfs-kvm", cpus=[1])] == [False, False, False]


@pytest.mark.parametrize("folder, message", [
    ("sysfs-broken-size", r"sysfs-broken-size/cpu0/cache/index0/size:1: expected a cache size such as 48K, "
                          r"found '48Q'"),
    ("sysfs-broken-level", r"index0/level:1: expected a non-negative integer, found 'one'"),
    ("sysfs-broken-cpulist", r"index0/shared_cpu_list:1: expected a CPU list such as 0-1 or 0,2,4-7, "
                             r"found '0-x'"),
    ("sysfs-broken-missing-type", r"index0/type: expected a readable sysfs attribute, found FileNotFoundError"),
])
def test_broken_sysfs_is_a_parse_error(folder, message):
    with pytest.raises(ParseError, match=message):
        machine.linux_caches(PROBE / folder)


def test_sysfs_without_caches(tmp_path):
    with pytest.raises(machine.MachineError, match=r"no cache description in sysfs; give the sizes \(--l1, --l2, --l3\)"):
        machine.linux_caches(tmp_path)
    assert issubclass(machine.MachineError, WorkbenchError)


def test_sysfs_against_cpuid_is_recorded():
    # AMD EPYC 7B13 (Zen 3): sysfs gives the CCX's 32 MiB L3; CPUID through glibc the package's 256 MiB
    caches = machine.linux_caches(PROBE / "layouts" / "amd-epyc-7b13-kvm-2vcpu")
    notes = machine.compare_caches(caches, {"L1": 32 * KIB, "L2": 512 * KIB, "L3": 256 * MIB})
    assert notes == ("L3: sysfs says 32 MiB per instance, CPUID (getconf LEVEL3_CACHE_SIZE) says 256 MiB; "
                     "using sysfs",)
    assert machine.compare_caches(caches, {"L1": 32 * KIB, "L2": 512 * KIB, "L3": 32 * MIB}) == ()
    assert machine.compare_caches(caches, {}) == ()  # no getconf: nothing to compare
    overridden = [machine.Cache("L3", 8 * MIB, True, 1, 64, "override")]
    assert machine.compare_caches(overridden, {"L3": 256 * MIB}) == ()  # only what sysfs said is compared


def test_getconf_output_of_this_kvm_guest():
    sizes = machine.parse_getconf((HERE / "getconf-kvm.txt").read_text(encoding="utf-8"))
    assert sizes == {"L1": 48 * KIB, "L2": 2 * MIB, "L3": 300 * MIB}
    # sysfs of the same guest agrees
    assert machine.compare_caches(machine.linux_caches(PROBE / "sysfs-kvm"), sizes) == ()


def test_no_getconf_is_no_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: getconf is not installed
    assert machine.cpuid_cache_sizes() == {}
    m = machine.detect_machine()
    assert not any("CPUID" in note for note in m.notes)


def test_cpuinfo_and_lscpu_of_the_recorded_kvm_guest():
    info = machine.parse_cpuinfo((PROBE / "cpuinfo-kvm.txt").read_text(encoding="utf-8"))
    assert info == {"cpu_model": "Intel(R) Xeon(R) Processor", "mhz": 2100.0, "hypervisor_flag": True}
    assert (RECORDED_LSCPU["Hypervisor vendor"], RECORDED_LSCPU["Virtualization type"],
            RECORDED_LSCPU["L3 cache"]) == ("KVM", "full", "300 MiB (1 instance)")


def test_cpuinfo_of_an_arm_board():
    # ARM kernels name the SoC after the processor blocks and write "Features", not "flags"
    text = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd crc32\n\nHardware\t: BCM2835\n" \
           "Model\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
    assert machine.parse_cpuinfo(text) == {"cpu_model": "BCM2835", "mhz": None, "hypervisor_flag": None}


# --------------------------------------------------------------------------- descriptions


def test_machine_round_trips_and_reads_the_earlier_flat_form():
    m = machine.detect_machine(caches=(machine.Cache("L1", 48 * KIB, False, 2),))
    assert machine.Machine.from_dict(m.to_dict()) == m
    # what `workbench probe` stored before workbench.machine existed
    flat = {"cpu_model": "Intel(R) Xeon(R) Processor", "clock_hz": 2.1e9, "clock_kind": "current",
            "logical_cpus": 2, "os": "Linux-6.1", "hostname": "vm", "hypervisor_flag": True,
            "hypervisor_vendor": "KVM", "virtualization_type": "full", "control_domain": False,
            "caches": [{"level": "L1", "size": 49152, "shared": False, "instances": 2, "line": 64,
                        "source": "sysfs"}]}
    old = machine.Machine.from_dict(flat)
    assert (old.scope, old.hypervisor, old.virtualization.virtualization_type) == ("guest", "KVM", "full")
    assert old.caches == (machine.Cache("L1", 49152, False, 2, 64, "sysfs"),)


def test_machine_imports_only_lower_layers():
    tree = ast.parse((ROOT / "workbench" / "machine.py").read_text(encoding="utf-8"))
    local = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    assert local <= {"errors", "schema"}


# --------------------------------------------------------------------------- this machine


@pytest.mark.skipif(shutil.which("lscpu") is None, reason="util-linux lscpu not installed")
def test_this_machine_agrees_with_lscpu():
    info = machine.parse_lscpu(run(["lscpu"]).stdout)
    v = machine.detect_virtualization()
    vendor, kind = info.get("Hypervisor vendor"), info.get("Virtualization type")
    if kind != "container":
        assert v.hypervisor == vendor or (vendor is None and v.hypervisor is not None)
    assert v.virtualization_type == kind
    if vendor and kind not in ("none", "container"):
        assert v.scope == "guest"


@pytest.mark.skipif(shutil.which("systemd-detect-virt") is None, reason="systemd-detect-virt not installed")
def test_this_machine_agrees_with_systemd_detect_virt():
    vm = run(["systemd-detect-virt", "--vm"]).stdout.strip()
    container = run(["systemd-detect-virt", "--container"]).stdout.strip()
    v = machine.detect_virtualization()
    if vm == "none":
        assert v.scope in ("host", "control-domain")  # systemd calls dom0 "none" too
    else:
        assert v.scope == "guest"
        assert v.hypervisor is not None
        if machine.SYSTEMD_VMS.get(vm):
            assert v.hypervisor.lower() == machine.SYSTEMD_VMS[vm].lower()
    assert v.container == (None if container == "none" else container)
    assert f"systemd-detect-virt --vm: {vm}" in v.evidence


def test_capture_and_probe_label_rows_alike(tmp_path):
    with capture.Capture(tmp_path / "c.parquet", interval=0.1, stages=["idle=0.5"]) as cap:
        cap.wait(30)
    captured = readers.read(tmp_path / "c.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", probe.ProbeWarning)  # a DRAM array below STREAM's rule: fast
        probed = probe.run(trials=2, l1="16K", l2="64K", l3="256K", memory="2M", all_cores=False,
                           target_seconds=0.001).table
    labels = ["host", "scope", "hypervisor"]
    assert captured.select(labels).unique().rows() == probed.select(labels).unique().rows()
    assert captured.select(labels).unique().row(0, named=True) == machine.default_labels()
    assert captured["host"][0] == socket.gethostname()
    # user labels still win over the machine's
    with capture.Capture(tmp_path / "d.parquet", interval=0.1, stages=["idle=0.3"],
                         labels={"scope": "host", "hypervisor": "none of them"}) as cap:
        cap.wait(30)
    assert readers.read(tmp_path / "d.parquet").select("scope", "hypervisor").unique().rows() == \
        [("host", "none of them")]


def test_no_caches_is_a_note_not_an_error(monkeypatch):
    def nothing(cpus=None):
        raise machine.MachineError("no cache description in sysfs")
    monkeypatch.setattr(machine, "detect_caches", nothing)  # a machine whose OS says nothing
    m = machine.detect_machine()
    assert m.caches == () and m.notes[0] == "caches: no cache description in sysfs"
    # the probe, which cannot run without them, keeps its own error for it
    from workbench.probe import _run  # where the probe looks its caches up

    monkeypatch.setattr(_run, "detect_caches", nothing)
    with pytest.raises(probe.ProbeError, match="no cache description in sysfs"):
        probe.run(quick=True)
