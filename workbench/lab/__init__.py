"""A virtualization lab on this machine: the same benchmark natively, under full-system
emulation (QEMU TCG), under a paravirtualized kernel (User-mode Linux) and under KVM
where it works, as the conditions of a ``workbench run`` plan.

* :mod:`workbench.lab.images` builds the guest image (an initramfs with the workload)
  from the project's own files and Debian's packages, cached by a hash of its inputs;
* :mod:`workbench.lab.environments` detects which environments run here (and why not)
  and boots one guest, bounded by a timeout, killed by process group;
* :func:`guest_run` is what a plan's guest condition runs (``workbench lab boot ENV --
  PROGRAM ARGS``): the guest's console on stdout, framed by lines the ``vbench`` reader
  reads (boot time, the host's measure of the run);
* :func:`lab_plan` loads a lab plan (``data/plans/lab.toml``) and keeps the conditions
  whose environment is available, labelled with the hypervisor and guest found here.

"native" is this machine as it is; when it is itself a virtual machine, each
technique's numbers say what it adds on top of that machine, not what it costs
against bare hardware.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Mapping, Sequence

from ..errors import WorkbenchError
from . import environments, images
from .environments import ENVIRONMENTS, GUESTS, Boot, Environment, detect

#: A guest condition's wrap in a plan: ``["{python}", "-m", "workbench", "lab", "boot", ENV, "--"]``.
BOOT_WORDS = ("lab", "boot")
DEFAULT_TIMEOUT = 150.0


def guest_run(env: Environment, program: str | os.PathLike, args: Sequence[str], out: BinaryIO, *,
              timeout: float = DEFAULT_TIMEOUT, cache: str | os.PathLike | None = None) -> Boot:
    """Boot `program` with `args` in `env`, writing the console to `out` between the lab's
    own first and last lines (see :mod:`workbench.readers.vbench`).

    Raises
    ------
    WorkbenchError
        The environment is not available, the image cannot be built, or the guest did not
        give a result (timeout, crash, the workload failed); the console is written first.
    """
    image = images.initramfs(program, args, folder=cache)
    out.write(f"workbench-lab 1 boot environment={env.name}\n".encode())
    out.flush()
    result = environments.boot(env, image, out, timeout=timeout)
    problem = result.problem()
    if problem is None:
        out.write(f"\nworkbench-lab 1 done boot={result.started:.3f} s "
                  f"workload={result.finished - result.started:.3f} s\n".encode())
    else:
        out.write(f"\nworkbench-lab 1 failed: {problem}\n".encode())
    out.flush()
    if problem is not None:
        raise WorkbenchError(f"{env.name}: {problem}")
    return result


@dataclass(frozen=True)
class LabPlan:
    """A lab plan with the conditions that can run here."""

    plan: object  #: the :class:`workbench.runner.Plan` to run
    environments: Mapping[str, Environment]
    skipped: Mapping[str, str]  #: condition -> why it cannot run here


def condition_environment(wrap: Sequence[str]) -> str:
    """The environment a condition runs in, from its wrap (``native`` without one)."""
    words = list(wrap)
    for i in range(len(words) - 2):
        if tuple(words[i:i + 2]) == BOOT_WORDS:
            return words[i + 2]
    return "native"


def lab_plan(path: str | os.PathLike, *, rounds: int | None = None, probe: bool = True,
             found: Mapping[str, Environment] | None = None) -> LabPlan:
    """Load a lab plan, drop the conditions whose environment is unavailable here (with the
    reason), label the rest with what was detected (hypervisor, guest kernel, scope).

    Raises
    ------
    WorkbenchError
        The plan is invalid, names an unknown environment, or the baseline cannot run.
    """
    from .. import runner

    plan = runner.load_plan(path)
    found = dict(found) if found is not None else detect(probe=probe)
    keep, skipped = [], {}
    for cond in plan.conditions:
        name = condition_environment(cond.wrap)
        if name not in ENVIRONMENTS:
            raise runner.PlanError(plan.path, f"[conditions.{cond.name}] wrap",
                                   f"an environment of {', '.join(ENVIRONMENTS)}, found {name!r}")
        env = found[name]
        if not env.available:
            skipped[cond.name] = env.reason
            continue
        labels = dict(cond.labels)
        if name in GUESTS:
            labels.setdefault("hypervisor", env.hypervisor)
            labels.setdefault("guest", env.guest)
            labels.setdefault("scope", "guest")
        keep.append(dataclasses.replace(cond, labels=labels))
    if plan.baseline in skipped:
        raise WorkbenchError(f"{plan.path}: the baseline {plan.baseline!r} cannot run here: {skipped[plan.baseline]}")
    if len(keep) + plan.aa < 2:
        raise WorkbenchError(f"{plan.path}: fewer than two conditions can run here ({', '.join(skipped)} cannot)")
    rounds = plan.rounds if rounds is None else rounds
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 2 <= rounds <= 10_000:
        raise WorkbenchError(f"`rounds` must be an integer from 2 to 10000, found {rounds!r}")
    # What runs is the file, the rounds and the conditions kept with their labels: a resume
    # must find all of them unchanged.
    key = repr((plan.digest, rounds, [(c.name, sorted(c.labels.items())) for c in keep]))
    digest = hashlib.sha256(key.encode()).hexdigest()
    return LabPlan(dataclasses.replace(plan, conditions=tuple(keep), rounds=rounds, digest=digest), found, skipped)


#: Seconds one trial takes here, roughly, before any has run (for the first estimate).
PRIOR_SECONDS = {"native": 4.0, "emulated": 20.0, "paravirtualized": 10.0, "hw-virtualized": 10.0}


def estimate(plan) -> float:
    """Seconds a lab plan should take here, from :data:`PRIOR_SECONDS` per trial."""
    return sum(PRIOR_SECONDS.get(condition_environment(c.wrap), 10.0) for c in plan.all_conditions) * plan.rounds


class Progress:
    """Time left in a lab run: each environment's trials so far (or :data:`PRIOR_SECONDS`
    before its first) times the trials of it still to run. Feed it the runner's progress
    lines (``... : <condition> (<n>/<total>)``) as they come, with the time."""

    _LINE = re.compile(r": (\S+) \((\d+)/(\d+)\)$")

    def __init__(self, plan) -> None:
        self.env = {c.name: condition_environment(c.wrap) for c in plan.all_conditions}
        self.left = {name: plan.rounds for name in self.env}
        self.took: dict[str, list[float]] = {}
        self.current: tuple[str, float] | None = None

    def started(self, line: str, now: float) -> float | None:
        """Seconds left (this trial included) when the trial of `line` starts; None if unreadable."""
        self.finished(now)
        m = self._LINE.search(line)
        if m is None or m.group(1) not in self.env:
            return None
        name = m.group(1)
        self.left[name] = max(self.left[name] - 1, 0)
        self.current = (name, now)
        return sum((n + (name == cond)) * self.per_trial(cond) for cond, n in self.left.items())

    def finished(self, now: float) -> None:
        if self.current is not None:
            name, began = self.current
            self.took.setdefault(self.env[name], []).append(now - began)
            self.current = None

    def per_trial(self, condition: str) -> float:
        env = self.env[condition]
        seen = self.took.get(env)
        return sum(seen) / len(seen) if seen else PRIOR_SECONDS.get(env, 10.0)


def ship(run_folder: str | os.PathLike, dest: str | os.PathLike, *, plan: str | os.PathLike | None = None,
         found: Mapping[str, Environment] | None = None, note: str = "") -> Path:
    """Copy a finished lab run into `dest` (``data/lab/<id>``) with its provenance, so a report
    renders it without booting anything: the table (compressed Parquet), the manifest, the
    run log, the plan as run, every trial's raw output (the guests' consoles) and
    ``provenance.toml`` (machine, environments and their versions, plan, seed, date).

    Raises
    ------
    WorkbenchError
        `run_folder` holds no finished run, or `dest` exists and is not empty.
    """
    import json
    import platform
    import shutil
    import subprocess
    from datetime import datetime, timezone

    from .. import machine, storage
    from .. import runner as runner_module
    from .._version import __version__

    run_folder, dest = Path(run_folder), Path(dest)
    table_path, log = run_folder / runner_module.TABLE, run_folder / runner_module.LOG
    if not table_path.is_file() or not log.is_file():
        raise WorkbenchError(f"{run_folder}: no finished run here (no {runner_module.TABLE} and {runner_module.LOG})")
    if dest.exists() and any(dest.iterdir()):
        raise WorkbenchError(f"{dest}: exists and is not empty; ship into a new folder")
    header = json.loads(log.read_text(encoding="utf-8").splitlines()[0])
    table, meta = storage.read_table_and_metadata(table_path)
    found = dict(found) if found is not None else detect(probe=True)
    info = machine.machine_metadata()
    gcc = subprocess.run(["gcc", "-dumpfullversion"], capture_output=True, text=True).stdout.strip()
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    storage.write_table(table, tmp / runner_module.TABLE, metadata=meta)
    for name in (runner_module.LOG, runner_module.MANIFEST):
        shutil.copy2(run_folder / name, tmp / name)
    shutil.copytree(run_folder / "raw", tmp / "raw")
    plan_sha = None
    if plan is not None:
        plan_sha = hashlib.sha256(Path(plan).read_bytes()).hexdigest()
        shutil.copy2(plan, tmp / Path(plan).name)
    toml = _toml({
        "shipped": {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "workbench": __version__,
                    "note": note or ("'native' is this machine as it is; when it is itself a virtual machine, "
                                     "each technique's numbers say what it adds on top of it")},
        "plan": {"file": header.get("plan"), "file_sha256": plan_sha, "run_sha256": header.get("plan_sha256"),
                 "id": header.get("id"), "seed": header.get("seed"), "rounds": len(header.get("orders", [])),
                 "started": header.get("started"),
                 "trials": table.select("condition", "run").unique().height if table.height else 0},
        "machine": {"cpu_model": info.get("cpu_model"), "cpu_count": info.get("cpu_count"),
                    "mem_total": info.get("mem_total"), "kernel": info.get("os_release"),
                    "platform": platform.platform(), "scope": info.get("scope"),
                    "hypervisor": info.get("hypervisor"), "virtualization_type": info.get("virtualization_type"),
                    "container": info.get("container"), "gcc": gcc},
        **{f"environments.{name}": {"available": env.available, "reason": env.reason,
                                    "hypervisor": env.hypervisor, "guest": env.guest,
                                    "command": " ".join(env.argv)}
           for name, env in found.items()},
    })
    (tmp / "provenance.toml").write_text(toml, encoding="utf-8")
    if dest.exists():
        dest.rmdir()
    os.replace(tmp, dest)
    return dest


def _toml(doc: dict) -> str:
    """A small TOML writer for the provenance (strings, numbers, booleans; None left out)."""
    import json

    lines = []
    for section, values in doc.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, (int, float)):
                lines.append(f"{key} = {value}")
            else:
                lines.append(f"{key} = {json.dumps(str(value), ensure_ascii=False)}")
        lines.append("")
    return "\n".join(lines)


__all__ = ["Boot", "ENVIRONMENTS", "Environment", "LabPlan", "condition_environment", "detect", "estimate",
           "guest_run", "lab_plan", "Progress", "ship"]
