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
from dataclasses import dataclass
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
PRIOR_SECONDS = {"native": 4.0, "emulated": 45.0, "paravirtualized": 12.0, "hw-virtualized": 15.0}


def estimate(plan, environments_of: Mapping[str, str] | None = None) -> float:
    """Seconds a lab plan should take here, from :data:`PRIOR_SECONDS` per trial."""
    per_round = 0.0
    for cond in plan.all_conditions:
        per_round += PRIOR_SECONDS.get(condition_environment(cond.wrap), 10.0)
    return per_round * plan.rounds


__all__ = ["Boot", "ENVIRONMENTS", "Environment", "LabPlan", "condition_environment", "detect", "estimate",
           "guest_run", "lab_plan"]
