"""The lab: images built from the project's files, real boots under QEMU TCG and User-mode
Linux, KVM detection from this machine's facts (read here, at test time), lab plans."""
from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import tomllib
from pathlib import Path

import polars as pl
import pytest

from workbench import lab, readers, runner
from workbench.errors import WorkbenchError
from workbench.lab import barham, environments, images
from workbench.readers import vbench as vbench_reader
from workbench.workloads import vbench

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("lab-cache")


@pytest.fixture(scope="module")
def found(cache):
    return environments.detect(probe=False, cache=cache)


def _need(found, name):
    env = found[name]
    if not env.available:
        pytest.skip(f"{name} cannot run here: {env.reason} (Debian packages qemu-system-x86, user-mode-linux, "
                    "linux-image-amd64; `make test` installs them as root)")
    return env


# --------------------------------------------------------------------------- images


def _entries(archive: bytes) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, data) of a newc cpio archive, read independently of the writer."""
    out, pos = {}, 0
    while True:
        assert archive[pos:pos + 6] == b"070701"
        fields = [int(archive[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize, mode = fields[11], fields[6], fields[1]
        name = archive[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        data = archive[pos:pos + filesize]
        pos += filesize
        pos += -pos % 4
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, data)


def test_the_image_holds_init_workload_and_arguments_and_is_rebuilt_only_when_they_change(cache):
    exe = vbench.binary(cache)
    image = images.initramfs(exe, ["-q", "syscall"], folder=cache)
    entries = _entries(image.read_bytes())
    assert set(entries) == {"bin", "dev", "etc", "proc", "sys", "tmp", "dev/console", "dev/null", "init",
                            "bin/workload", "etc/workload-args"}
    assert entries["bin/workload"][1] == exe.read_bytes()
    assert entries["etc/workload-args"][1] == b"-q\0syscall\0"
    assert stat.S_ISCHR(entries["dev/console"][0]) and entries["init"][0] & 0o111
    again = images.initramfs(exe, ["-q", "syscall"], folder=cache)
    assert again == image and again.stat().st_mtime_ns == image.stat().st_mtime_ns  # reused, not rebuilt
    other = images.initramfs(exe, ["-q", "fork"], folder=cache)
    assert other != image and _entries(other.read_bytes())["etc/workload-args"][1] == b"-q\0fork\0"


def test_a_workload_that_cannot_start_in_the_image_is_refused_by_name(cache, tmp_path):
    text = tmp_path / "script.sh"
    text.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(WorkbenchError, match=r"script.sh: the workload must be a static x86-64 executable; it "
                                             r"starts with b'#!/b', not an ELF header"):
        images.initramfs(text, folder=cache)
    (tmp_path / "hello.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-O2", "-o", str(tmp_path / "dynamic"), str(tmp_path / "hello.c")], check=True)
    with pytest.raises(WorkbenchError, match=r"dynamic: the workload must be a static x86-64 executable; it is "
                                             r"dynamically linked \(it names a program interpreter\)"):
        images.initramfs(tmp_path / "dynamic", folder=cache)
    with pytest.raises(WorkbenchError, match=r"missing.bin: the workload is missing"):
        images.initramfs(tmp_path / "missing.bin", folder=cache)
    with pytest.raises(WorkbenchError, match=r"without NUL"):
        images.initramfs(vbench.binary(cache), ["a\0b"], folder=cache)


def test_vbench_options_are_checked_by_name():
    assert vbench.arguments(quick=True, benchmarks=["fork", "cpu"]) == ["-q", "fork", "cpu"]
    with pytest.raises(WorkbenchError, match=r"`benchmarks`: unknown benchmark 'futex' \(known: syscall, fork"):
        vbench.arguments(benchmarks=["futex"])
    with pytest.raises(WorkbenchError, match=r"`quick` must be true or false, found 'yes'"):
        vbench.arguments(quick="yes")


# --------------------------------------------------------------------------- KVM


def test_kvm_facts_are_this_machines():
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    facts = environments.kvm_facts()
    assert facts["device"] == os.path.exists("/dev/kvm")
    assert facts["vmx_svm"] == sorted(flags & {"vmx", "svm"})
    assert facts["hypervisor_flag"] == ("hypervisor" in flags)
    assert ("kvm_pvm" in facts["modules"]) == os.path.isdir("/sys/module/kvm_pvm")
    ok, reason = environments.kvm_verdict(facts)
    if not facts["device"]:
        assert (ok, reason) == (False, "no /dev/kvm (no KVM module loaded)")
    elif "kvm_pvm" in facts["modules"] and not facts["vmx_svm"]:
        assert ok is False and reason.startswith("/dev/kvm is the kvm_pvm module (software nested virtualization)")


@pytest.mark.parametrize("facts, ok, reason", [
    (dict(device=False, openable=False, vmx_svm=[], hypervisor_flag=True, modules=[]), False,
     "no /dev/kvm (no KVM module loaded)"),
    (dict(device=True, openable=False, vmx_svm=["vmx"], hypervisor_flag=False, modules=["kvm", "kvm_intel"]), False,
     "/dev/kvm cannot be opened read-write by this user"),
    (dict(device=True, openable=True, vmx_svm=[], hypervisor_flag=True, modules=["kvm", "kvm_pvm"]), False,
     "/dev/kvm is the kvm_pvm module (software nested virtualization) and the CPU shows no vmx/svm flag (this "
     "machine is itself a virtual machine): a stock Debian kernel stops under it with 'KVM internal error ... "
     "emulation failure' after about two minutes"),
    (dict(device=True, openable=True, vmx_svm=["svm"], hypervisor_flag=False, modules=["kvm", "kvm_amd"]), None,
     "/dev/kvm with the CPU flag svm: a boot probe decides"),
])
def test_kvm_verdict_from_facts(facts, ok, reason):
    assert environments.kvm_verdict(facts) == (ok, reason)


def test_detect_reports_every_environment_and_why_not(found):
    assert list(found) == list(lab.ENVIRONMENTS)
    assert found["native"].available
    for env in found.values():
        assert env.available or env.reason  # never unavailable without a reason
    kvm = found["hw-virtualized"]
    verdict, why = environments.kvm_verdict(kvm.details)
    if verdict is False:
        assert not kvm.available and kvm.reason == why


# --------------------------------------------------------------------------- booting


def test_vbench_boots_under_tcg_and_uml_and_reads(found, cache):
    """One real boot under each (bounded: TCG ~10-25 s, UML ~2 s here)."""
    exe = vbench.binary(cache)
    for name in ("emulated", "paravirtualized"):
        env = _need(found, name)
        out = io.BytesIO()
        result = lab.guest_run(env, exe, vbench.arguments(quick=True, benchmarks=["syscall", "cpu"]), out,
                               timeout=120, cache=cache)
        assert result.ok and result.workload_status == 0 and 0 < result.started < result.finished
        parsed = vbench_reader.parse(out.getvalue(), source=f"{name}.out")
        metrics = dict(zip(parsed.table["metric"], parsed.table["value"]))
        assert set(metrics) == {"syscall_latency", "cpu_op_time", "boot_time"}
        assert parsed.metadata["environment"] == name
        assert metrics["boot_time"] == pytest.approx(float(f"{result.started:.3f}"))
        assert parsed.table["flag"].null_count() == parsed.table.height  # the guest's clock agrees with the host's
        with pytest.raises(ProcessLookupError):
            os.killpg(result.pid, 0)  # the guest's whole process group is gone


def test_a_guest_over_its_time_limit_is_killed_with_its_process_group(found, cache):
    env = _need(found, "paravirtualized")
    out = io.BytesIO()
    with pytest.raises(WorkbenchError, match=r"paravirtualized: the guest ran over its time limit \(\d+ s\) before "
                                             r"/init started and was killed"):
        lab.guest_run(env, vbench.binary(cache), ["-q", "syscall"], out, timeout=0.3, cache=cache)
    assert out.getvalue().splitlines()[-1].startswith(b"workbench-lab 1 failed: the guest ran over its time limit")


def test_a_uml_guest_cannot_write_the_hosts_files(found, cache, tmp_path):
    """hostfs is built into linux.uml and anything in the guest may mount it: the lab
    confines it to an empty folder and refuses a run that wrote there."""
    env = _need(found, "paravirtualized")
    source = tmp_path / "escape.c"
    source.write_text(r'''
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
int main(void) {
    mkdir("/tmp/host", 0755);
    int m = mount("none", "/tmp/host", "hostfs", 0, "/");
    FILE *f = fopen("/tmp/host/escaped", "w");
    printf("mount %d, write %s\n", m, f ? "done" : "refused");
    if (f) fclose(f);
    return 0;
}
''')
    exe = tmp_path / "escape"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(exe), str(source)], check=True)
    out = io.BytesIO()
    with pytest.raises(WorkbenchError, match=r"paravirtualized: the guest wrote into its hostfs folder .*; results "
                                             r"discarded"):
        lab.guest_run(env, exe, [], out, timeout=60, cache=cache)
    assert b"mount 0, write done" in out.getvalue()  # it did write: into the empty folder, not the host's root
    assert not Path("/escaped").exists()


# --------------------------------------------------------------------------- plans


def _envs(kvm_ok: bool) -> dict:
    e = environments.Environment
    return {"native": e("native", True, "here"),
            "emulated": e("emulated", True, "QEMU TCG", "QEMU 9.9 TCG (-cpu max)", "Debian kernel 9.9"),
            "paravirtualized": e("paravirtualized", True, "UML", "User-mode Linux 9.9", "User-mode Linux kernel 9.9"),
            "hw-virtualized": e("hw-virtualized", kvm_ok, "" if kvm_ok else "no /dev/kvm (no KVM module loaded)",
                                "QEMU 9.9 KVM (-cpu host)", "Debian kernel 9.9")}


def test_the_lab_plan_runs_without_what_is_unavailable_and_labels_the_rest():
    plan_file = ROOT / "data" / "plans" / "lab.toml"
    lp = lab.lab_plan(plan_file, found=_envs(kvm_ok=False))
    assert lp.skipped == {"hw-virtualized": "no /dev/kvm (no KVM module loaded)"}
    conds = {c.name: c for c in lp.plan.conditions}
    assert list(conds) == ["native", "emulated", "paravirtualized"]
    assert dict(conds["emulated"].labels) == {"hypervisor": "QEMU 9.9 TCG (-cpu max)", "guest": "Debian kernel 9.9",
                                              "scope": "guest"}
    assert dict(conds["native"].labels) == {}
    assert lp.plan.rounds == 10 and lp.plan.aa and lp.plan.baseline == "native"
    with_kvm = lab.lab_plan(plan_file, found=_envs(kvm_ok=True), rounds=3)
    assert [c.name for c in with_kvm.plan.conditions][-1] == "hw-virtualized" and with_kvm.plan.rounds == 3
    assert len({lp.plan.digest, with_kvm.plan.digest, runner.load_plan(plan_file).digest}) == 3  # resume tells them apart
    assert lab.estimate(lp.plan) == 10 * (4.0 + 20.0 + 10.0 + 4.0)


def test_a_lab_plan_with_an_unknown_environment_or_no_baseline_is_refused(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[plan]\nid = "x"\nbaseline = "native"\nrounds = 2\n[workload]\nbuiltin = "vbench"\n'
                   '[conditions.native]\n[conditions.xen]\nwrap = ["{python}", "-m", "workbench", "lab", "boot", '
                   '"xen", "--"]\n')
    with pytest.raises(runner.PlanError, match=r"bad.toml: \[conditions.xen\] wrap: an environment of native, "
                                               r"emulated, paravirtualized, hw-virtualized, found 'xen'"):
        lab.lab_plan(bad, found=_envs(kvm_ok=False))
    kvm_only = tmp_path / "kvm.toml"
    kvm_only.write_text('[plan]\nid = "x"\nbaseline = "kvm"\nrounds = 2\n[workload]\nbuiltin = "vbench"\n'
                        '[conditions.native]\n[conditions.kvm]\nwrap = ["{python}", "-m", "workbench", "lab", '
                        '"boot", "hw-virtualized", "--"]\n')
    with pytest.raises(WorkbenchError, match=r"kvm.toml: the baseline 'kvm' cannot run here: no /dev/kvm"):
        lab.lab_plan(kvm_only, found=_envs(kvm_ok=False))


def test_the_runner_checks_vbench_options(tmp_path):
    plan = tmp_path / "p.toml"
    plan.write_text('[plan]\nid = "x"\nbaseline = "a"\nrounds = 2\n[workload]\nbuiltin = "vbench"\n'
                    'options = { fast = true }\n[conditions.a]\n[conditions.b]\n')
    with pytest.raises(runner.PlanError, match=re.escape("builtin 'vbench' takes no option 'fast' (its options: "
                                                         "quick, benchmarks)")):
        runner.load_plan(plan)


def test_a_short_lab_run_end_to_end(found, cache, tmp_path, monkeypatch):
    """The runner with the vbench builtin: native and one guest (UML: the fastest), 2 rounds."""
    _need(found, "paravirtualized")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    plan = tmp_path / "short.toml"
    plan.write_text('[plan]\nid = "short"\nbaseline = "native"\nrounds = 2\nseed = 7\nsettle = 0\n'
                    '[workload]\nbuiltin = "vbench"\noptions = { quick = true, benchmarks = ["syscall"] }\n'
                    '[conditions.native]\n[conditions.uml]\nwrap = ["{python}", "-m", "workbench", "lab", "boot", '
                    '"paravirtualized", "--"]\n')
    lp = lab.lab_plan(plan, found=found)
    result = runner.run(lp.plan, tmp_path / "run")
    table = readers.read(result.table)
    assert result.trials == 4 and set(table["condition"]) == {"native", "uml"}
    uml = table.filter(table["condition"] == "uml")
    assert set(uml["metric"]) == {"syscall_latency", "boot_time"} and set(uml["scope"]) == {"guest"}
    assert set(uml["hypervisor"]) == {found["paravirtualized"].hypervisor}
    raw = sorted((tmp_path / "run" / "raw").glob("*-uml.out"))
    assert len(raw) == 2 and raw[0].read_bytes().startswith(b"workbench-lab 1 boot environment=paravirtualized\n")
    # shipped with its provenance: a report reads it without booting anything
    shipped = lab.ship(tmp_path / "run", tmp_path / "data" / "short", plan=plan, found=found)
    prov = tomllib.loads((shipped / "provenance.toml").read_text())
    assert prov["plan"]["seed"] == 7 and prov["plan"]["rounds"] == 2 and prov["plan"]["trials"] == 4
    assert prov["plan"]["file"] == "short.toml" and (shipped / "short.toml").read_bytes() == plan.read_bytes()
    assert prov["environments"]["paravirtualized"]["hypervisor"] == found["paravirtualized"].hypervisor
    assert readers.read(shipped / "table.parquet").equals(table)
    assert sorted(p.name for p in (shipped / "raw").iterdir()) == sorted(p.name for p in (tmp_path / "run" / "raw")
                                                                         .iterdir())
    with pytest.raises(WorkbenchError, match=r"short: exists and is not empty; ship into a new folder"):
        lab.ship(tmp_path / "run", shipped, found=found)
    with pytest.raises(WorkbenchError, match=r"nothing: no finished run here"):
        lab.ship(tmp_path / "nothing", tmp_path / "data" / "other", found=found)


def test_progress_estimates_time_left_from_each_environments_trials():
    lp = lab.lab_plan(ROOT / "data" / "plans" / "lab.toml", found=_envs(kvm_ok=False), rounds=2)
    clock = lab.Progress(lp.plan)  # native, emulated, paravirtualized, native-aa; 2 rounds: 8 trials
    assert clock.started("round 1/2, 1/4: emulated (1/8)", 0.0) == 2 * (4.0 + 20.0 + 10.0 + 4.0)
    # emulated took 30 s: the one left is now expected to take 30 s, the others their prior
    assert clock.started("round 1/2, 2/4: native (2/8)", 30.0) == 30.0 + 2 * 4.0 + 2 * 10.0 + 2 * 4.0
    # native took 2 s: native-aa runs natively too
    assert clock.started("round 1/2, 3/4: native-aa (3/8)", 32.0) == 30.0 + 2.0 + 2 * 10.0 + 2 * 2.0
    assert clock.started("something else", 33.0) is None


# --------------------------------------------------------------------------- Barham et al. 2003


def test_barhams_numbers_read_as_relative_performance():
    theirs = barham.reference(ROOT / "data" / "barham2003")
    rel = {(r["metric"], r["system"]): r["relative"] for r in theirs.iter_rows(named=True)}
    assert rel[("syscall_latency", "L")] == 1.0
    assert rel[("syscall_latency", "VMW")] == pytest.approx(0.45 / 0.73)  # Table 3, null call, L-UP / VMW
    assert rel[("syscall_latency", "UML")] == pytest.approx(0.45 / 24.7)
    assert rel[("fork_latency", "UML")] == pytest.approx(110 / 21000)
    assert rel[("ctxsw_latency", "VMW")] == pytest.approx(0.77 / 18.1)  # Table 4, 2p/0K
    assert rel[("pagefault_latency", "Xen")] == pytest.approx(1.42 / 2.73)  # Table 5
    assert rel[("cpu_op_time", "VMW")] == pytest.approx(554 / 567)  # Figure 3, SPEC INT2000 (higher is better)
    assert theirs.height == len(barham.MATCHES) * 4


def test_they_found_we_find_says_where_the_order_differs():
    theirs = barham.reference(ROOT / "data" / "barham2003")
    ratios = pl.DataFrame({"condition": ["emulated", "paravirtualized", "emulated", "paravirtualized"],
                           "metric": ["syscall_latency", "syscall_latency", "cpu_op_time", "cpu_op_time"],
                           "ratio": [4.0, 60.0, 4.0, 1.0], "ratio_low": [3.0, 50.0, 3.5, 0.9],
                           "ratio_high": [5.0, 70.0, 4.5, 1.1]})
    ours = barham.relative_performance(ratios)
    row = ours.row(0, named=True)
    assert (row["benchmark"], row["environment"], row["relative"], row["low"], row["high"]) == \
        ("null syscall", "emulated", 0.25, 0.2, pytest.approx(1 / 3))
    table = barham.they_found_we_find(ours, theirs)
    by = {r["benchmark"]: r for r in table.iter_rows(named=True)}
    assert by["null syscall"]["order"] == "same"  # UML slower then and now
    assert by["null syscall"]["we find slower"] == "paravirtualized (15.0x slower than emulated)"
    assert by["CPU-bound"]["order"] == "differs"  # they: UML a little slower; we: emulation 4x slower
    assert by["fork"]["order"] is None  # not measured here
    assert barham.order_notes(table) == [
        "CPU-bound: they found UML (1 % slower than VMware) (VMware 0.977, UML 0.97 of native); we find emulated "
        "(4.0x slower than paravirtualized) (emulated 0.25, paravirtualized 1 of native)"]


def test_the_figure_draws_one_bar_per_environment_and_benchmark():
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    from workbench import figures

    theirs = barham.reference(ROOT / "data" / "barham2003")
    frame = (theirs.filter(pl.col("system") != "L").with_columns(environment=pl.col("system"))
             .select("benchmark", "environment", "relative"))
    fig, ax = plt.subplots()
    figures.relative_performance(frame, ax=ax, title="Barham et al. 2003")
    assert len(ax.patches) == len(barham.MATCHES) * 3 and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["null syscall", "fork"]
    assert ax.get_ylim()[0] <= (110 / 21000) / 2  # UML's fork (0.0052 of native) is inside the axes
    plt.close(fig)


def test_a_kvm_probe_that_does_not_reach_init_in_time_reports_why(found, cache):
    """The probe's mechanics, with QEMU's TCG standing in for a KVM that hangs: it is
    killed at its limit and the reason names the stage it stopped in."""
    env = _need(found, "emulated")
    ok, reason = environments._probe_kvm(env, cache, timeout=0.5)
    assert ok is False
    assert re.match(r"a probe boot under KVM failed: the guest ran over its time limit \(\d+ s\) before /init "
                    r"started and was killed", reason)


def test_a_hypervisor_that_cannot_start_is_an_error_not_a_traceback(found, cache, tmp_path):
    import dataclasses

    env = dataclasses.replace(found["emulated"], available=True, argv=(str(tmp_path / "no-such-qemu"),))
    with pytest.raises(WorkbenchError, match=r"emulated: cannot start .*no-such-qemu \(No such file or directory\)"):
        environments.boot(env, tmp_path / "image.cpio", io.BytesIO(), timeout=5)


def test_the_cli_reports_availability_with_reasons(found, capsys):
    from workbench import cli

    assert cli.main(["lab", "status", "--no-probe"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == list(lab.ENVIRONMENTS)
    assert out[0].startswith("native") and "available" in out[0]
    kvm = found["hw-virtualized"]
    if not kvm.available:
        assert out[3].endswith(f": {kvm.reason}") and " unavailable " in out[3]
        assert cli.main(["lab", "boot", "hw-virtualized", "--", "/bin/true"]) == 2
        assert capsys.readouterr().err == (f"workbench lab: error: hw-virtualized is not available here: "
                                           f"{kvm.reason}\n")
