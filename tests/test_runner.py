"""`workbench run`: randomized interleaved rounds of a real benchmark (McCalpin's
stream.c, built here with gcc, small arrays so a round takes a fraction of a
second), Ctrl-C and --resume through the real command line, a failing trial,
and every broken plan with its message pinned. No assertion on a measured speed."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from workbench import cli, experiment, runner, storage

from .conftest import FIXTURES

PLANS = FIXTURES / "runner"
SMALL = PLANS / "stream_small.toml"
WORKBENCH = [sys.executable, "-m", "workbench"]


def log(folder: Path) -> tuple[dict, list[dict]]:
    lines = [json.loads(line) for line in (folder / runner.LOG).read_text().splitlines()]
    return lines[0], lines[1:]


def test_orders_are_seeded_permutations_of_every_condition():
    plan = runner.load_plan(SMALL)
    assert [c.name for c in plan.all_conditions] == ["alone", "busy", "alone-aa"]
    orders = plan.orders(7)
    assert orders == plan.orders(7) and orders != plan.orders(8)
    assert len(orders) == 3 and all(sorted(o) == ["alone", "alone-aa", "busy"] for o in orders)


def test_a_run_writes_table_manifest_log_and_raw_outputs(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["run", str(SMALL), "-o", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "9 trials (3 rounds x 3 conditions, seed 7)" in printed
    header, trials = log(out)
    assert header["seed"] == 7 and header["orders"] == runner.load_plan(SMALL).orders(7)
    # the log follows the recorded orders, round by round
    assert [t["condition"] for t in trials] == [c for order in header["orders"] for c in order]
    assert {t["status"] for t in trials} == {"ok"}
    table = storage.read_table(out / runner.TABLE)
    # runs are rounds; every condition once per round
    assert table.group_by("condition").agg(pl.col("run").unique().sort()).sort("condition").rows() == [
        ("alone", [1, 2, 3]), ("alone-aa", [1, 2, 3]), ("busy", [1, 2, 3])]
    stream = table.filter(pl.col("source") == "stream")
    assert sorted(stream["metric"].unique()) == ["stream_add_bw", "stream_copy_bw", "stream_scale_bw",
                                                "stream_triad_bw"]
    assert stream.height == 9 * 4 and set(stream["experiment"]) == {"stream-small"}
    assert (out / "raw" / f"r001-01-{header['orders'][0][0]}.out").read_text().count("Solution Validates") == 1
    # a flag is exactly the guards' reasons of its trial
    flags = {(t["round"], t["condition"]): t["flag"] for t in trials}
    for (rnd, cond), flag in flags.items():
        assert set(table.filter((pl.col("run") == rnd) & (pl.col("condition") == cond))["flag"]) == {flag}
    # the manifest is what `workbench compare` takes
    exp = experiment.load(out / runner.MANIFEST)
    assert (exp.baseline, sorted(exp.conditions)) == ("alone", ["alone", "alone-aa", "busy"])
    assert exp.table().height == table.height


def test_ctrl_c_keeps_finished_trials_and_resume_finishes_the_run(tmp_path):
    out = tmp_path / "run"
    plan = PLANS / "stream_slow.toml"
    proc = subprocess.Popen([*WORKBENCH, "run", str(plan), "-o", str(out)], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait for two finished trials
            if (out / runner.LOG).exists() and sum(
                    '"status": "ok"' in line for line in (out / runner.LOG).read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "continue with --resume" in err
    header, trials = log(out)
    finished = [t for t in trials if t["status"] == "ok"]
    assert 2 <= len(finished) < 12, err
    kept = storage.read_table(out / runner.TABLE)  # readable, with exactly the finished trials
    assert sorted(set(zip(kept["run"], kept["condition"]))) == sorted((t["round"], t["condition"]) for t in finished)
    # refused without --resume; finished with it
    done = subprocess.run([*WORKBENCH, "run", str(plan), "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 2 and "exists and is not an empty folder; give a new folder, or --resume" in done.stderr
    done = subprocess.run([*WORKBENCH, "run", str(plan), "-o", str(out), "--resume", "--quiet"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    header2, trials2 = log(out)
    assert header2 == header  # same seed, same orders
    ok = [(t["round"], t["condition"]) for t in trials2 if t["status"] == "ok"]
    assert sorted(ok) == sorted((r, c) for r, order in enumerate(header["orders"], 1) for c in order)
    table = storage.read_table(out / runner.TABLE)
    assert table.select("run", "condition").unique().height == 12


def test_background_load_dies_with_a_killed_runner(tmp_path):
    # SIGKILL leaves the runner no chance to stop its condition's background load:
    # the kernel must (PR_SET_PDEATHSIG), or a busy loop would outlive the run.
    import psutil

    out = tmp_path / "run"
    proc = subprocess.Popen([*WORKBENCH, "run", str(PLANS / "stream_slow.toml"), "-o", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    loads = []
    def cmdline(p):
        try:
            return " ".join(p.cmdline())
        except psutil.Error:  # exited (a zombie) meanwhile
            return ""

    while time.monotonic() < deadline and not loads and proc.poll() is None:
        loads = [c for c in psutil.Process(proc.pid).children(recursive=True) if "while True" in cmdline(c)]
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    assert loads, "the busy condition's background load never started"
    gone, alive = psutil.wait_procs(loads, timeout=10)
    for p in alive:
        p.kill()
    assert not alive


def test_a_failing_trial_stops_the_run_keeps_the_rest_and_resume_retries_it(tmp_path, capsys):
    plan = PLANS / "failing.toml"  # its command reads a file relative to the plan's folder
    out = tmp_path / "run"
    assert cli.main(["run", str(plan), "-o", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "trial failed: broken: workload" in err and "exited with status 3" in err
    _, trials = log(out)
    assert trials[-1]["status"] == "failed" and trials[-1]["condition"] == "broken"
    assert all(t["status"] == "ok" for t in trials[:-1])
    kept = storage.read_table(out / runner.TABLE)
    assert set(kept["condition"]) <= {"fine"}


@pytest.mark.parametrize("name, message", [
    ("no_conditions", r"no_conditions\.toml: \[conditions\]: missing"),
    ("bad_baseline", r"bad_baseline\.toml: \[plan\] baseline: one of the conditions \(a, b\), found 'c'"),
    ("one_round", r"one_round\.toml: \[plan\] rounds: an integer from 2 to 10000, found 1"),
    ("shell_string", r"shell_string\.toml: \[conditions\.b\] background\[0\]: a command as a list of strings "
                     r"\(no shell\), found 'yes > /dev/null'"),
    ("bad_name", r"bad_name\.toml: \[conditions\.a b\]: a condition name is letters, digits"),
    ("aa_name", r"aa_name\.toml: \[conditions\.x-aa\]: .*kept for the A/A repeat"),
    ("both_workloads", r"both_workloads\.toml: \[workload\]: give either `builtin` or `command`"),
    ("unknown_key", r"unknown_key\.toml: \[plan\]: unknown key 'round' \(allowed: aa, baseline"),
    ("not_toml", r"not_toml\.toml: TOML: not a readable TOML file"),
])
def test_broken_plans_name_the_entry(name, message):
    with pytest.raises(runner.PlanError, match=message):
        runner.load_plan(PLANS / "broken" / f"{name}.toml")


def test_cli_refuses_a_broken_plan_in_one_line(tmp_path, capsys):
    assert cli.main(["run", str(PLANS / "broken" / "one_round.toml"), "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench run: error: ") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_resume_of_another_plan_is_refused(tmp_path):
    out = tmp_path / "run"
    runner.run(runner.load_plan(SMALL), out)
    other = tmp_path / "other.toml"
    other.write_text(SMALL.read_text().replace("rounds = 3", "rounds = 4"))
    with pytest.raises(runner.WorkbenchError, match="was run with another plan"):
        runner.run(runner.load_plan(other), out, resume=True)
    with pytest.raises(runner.WorkbenchError, match="nothing to resume"):
        runner.run(runner.load_plan(SMALL), tmp_path / "empty", resume=True)


def test_example_plan_in_data_is_valid():
    for path in sorted((Path(__file__).resolve().parents[1] / "data" / "plans").glob("*.toml")):
        plan = runner.load_plan(path)
        assert plan.rounds >= 10 and plan.aa, path.name


def test_resume_after_a_torn_log_line(tmp_path):
    # A kill mid-write leaves half a record: resume cuts it and continues on a clean line.
    out = tmp_path / "run"
    runner.run(runner.load_plan(SMALL), out)
    lines = (out / runner.LOG).read_text().splitlines(keepends=True)
    (out / runner.LOG).write_text("".join(lines[:3]) + '{"type": "trial", "round": 2, "posi')
    result = runner.run(runner.load_plan(SMALL), out, resume=True)
    assert result.trials == 9
    header, trials = log(out)  # every line is JSON again
    assert sum(t["status"] == "ok" for t in trials) == 9


def test_a_failed_start_stops_what_started_and_runs_the_teardown(tmp_path):
    import psutil

    marker = tmp_path / "torn-down"
    plan = tmp_path / "plan.toml"
    plan.write_text(f"""
[plan]
id = "leak"
baseline = "a"
rounds = 2
[workload]
builtin = "stream"
options = {{ array_size = 100000, ntimes = 2 }}
[conditions.a]
[conditions.b]
background = [["sh", "-c", "sleep 777 & exit 0"], ["no-such-program-xyz"]]
teardown = [["touch", "{marker}"]]
""")
    before = {p.pid for p in psutil.process_iter() if "sleep 777" in " ".join(_cmdline(p))}
    # FileNotFoundError, or PermissionError when PATH holds a folder this user may not search
    with pytest.raises(runner.TrialFailed, match="no-such-program-xyz: (no such program|cannot start)"):
        runner.run(runner.load_plan(plan), tmp_path / "run")
    time.sleep(0.3)
    left = {p.pid for p in psutil.process_iter() if "sleep 777" in " ".join(_cmdline(p))} - before
    assert left == set()  # the forked grandchild went with its process group
    assert marker.exists()  # and the teardown ran


def _cmdline(p):
    import psutil
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def test_a_builtins_unknown_option_is_a_plan_error(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL.read_text().replace("ntimes = 5", "ntimes = 5, bogus = 1"))
    with pytest.raises(runner.PlanError, match=r"\[workload\] options: builtin 'stream' takes no option 'bogus' "
                                               r"\(its options: array_size, ntimes, openmp, cflags\)"):
        runner.load_plan(plan)


def test_one_run_at_a_time_in_a_folder(tmp_path):
    import fcntl

    out = tmp_path / "run"
    runner.run(runner.load_plan(SMALL), out)
    with open(out / ".lock", "a") as held:  # another process's run, as far as flock can tell
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = subprocess.run([*WORKBENCH, "run", str(SMALL), "-o", str(out), "--resume"], capture_output=True,
                              text=True)
    assert done.returncode == 2 and "another `workbench run` is using this folder" in done.stderr
