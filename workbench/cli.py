"""Command line: parse arguments, call the library, print, exit.

The only module that prints or exits. Every :class:`~workbench.errors.WorkbenchError`
becomes one line on stderr and exit code 2; a failed report exits 1. Heavy imports
happen inside the command that needs them.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Sequence

from .errors import WorkbenchError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Library warnings (native metrics kept, a timezone assumed, a run excluded) are
    # shown as one line each, not with Python's file:line prefix.
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"workbench {args.command}: warning: {message}", file=sys.stderr)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        return args.func(args)
    except WorkbenchError as exc:
        print(f"workbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"workbench {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `workbench compare ... | head`: the reader left, as for any Unix tool
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        warnings.showwarning = previous


class _Registry:
    """``choices`` read from a library registry when argparse first needs them (a value
    given, or help), so that the choices follow the registry and ``workbench --help``
    does not import the statistics stack."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def _names(self) -> list[str]:
        import importlib

        return list(getattr(importlib.import_module(f".{self.module}", __package__), self.name))

    def __contains__(self, value: object) -> bool:
        return value in self._names()

    def __iter__(self):
        return iter(self._names())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="What a virtualization technique costs on "
                                     "your hardware: read measurements into one table, compare, report.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="read a manifest or files into one Parquet measurement table",
                       description="workbench ingest MANIFEST.toml -o OUT.parquet | "
                                   "workbench ingest FILE... --label key=value ... -o OUT.parquet")
    p.add_argument("inputs", nargs="+", metavar="MANIFEST_OR_FILE")
    p.add_argument("-o", "--output", required=True, type=Path, help="Parquet file to write")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                   help="label for every row of the FILEs (experiment, condition, host, guest, scope, stage, run)")
    p.add_argument("--format", help="skip content detection and use this reader")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="reader option for the FILEs, e.g. timezone=Europe/Madrid for an AIDA64 CSV log")
    p.set_defaults(func=_ingest)

    p = sub.add_parser("report", help="render the report notebooks into reports/")
    p.add_argument("--config", type=Path, help="the reports' configuration (default notebooks/reports.toml)")
    p.add_argument("-o", "--output-dir", type=Path, help="where the reports go (default reports/)")
    p.add_argument("--only", action="append", metavar="NAME", help="render only this report (repeatable)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_report)

    p = sub.add_parser("audit", help="check the thesis tables for internal consistency")
    p.add_argument("--thesis-dir", type=Path, default=Path("data/thesis"))
    p.add_argument("--all", action="store_true", help="list consistent checks too")
    p.set_defaults(func=_audit)

    # Commands of later issues go here, one block each (fetch-rrd, capture, probe, compare).

    p = sub.add_parser(
        "fetch-rrd", allow_abbrev=False,  # so that no --password* prefix is ever accepted
        help="download a XenServer/XCP-ng host's RRD data as XenCenter does (one host per run)",
        description="workbench fetch-rrd https://HOST -o DIR [--vm UUID]... [--every S] [--duration S]: logs in, "
                    "downloads the host's full RRD dump and the chosen VMs' (following redirects), then polls "
                    "rrd_updates for rows not seen yet until the duration ends or Ctrl-C. Raw responses go "
                    "unchanged to DIR/raw/, the normalized table to DIR/rrd.parquet, what was fetched to "
                    "DIR/fetch.json. The password comes from the environment variable named by --password-env, "
                    "else a prompt; never from the command line. A pool needs one run per host.")
    p.add_argument("url", help="the host, https://NAME[:PORT]")
    p.add_argument("-o", "--output-dir", required=True, type=Path, help="new (or empty) directory to write")
    p.add_argument("-u", "--user", default="root", help="xapi user (default root; a read-only role suffices)")
    p.add_argument("--password-env", default="WORKBENCH_XEN_PASSWORD", metavar="NAME",
                   help="environment variable holding the password (default WORKBENCH_XEN_PASSWORD); "
                        "when unset, the password is asked for")
    p.add_argument("--auth", choices=("session", "basic"), default="session",
                   help="xapi session login (default, as XenCenter) or HTTP Basic on every request")
    p.add_argument("--login-url", metavar="URL", help="pool master to log in at when HOST is a pool member")
    p.add_argument("--vm", action="append", default=[], metavar="UUID", help="also download this VM's dump")
    p.add_argument("--interval", type=int, default=5, help="rrd_updates resolution in seconds (default 5)")
    p.add_argument("--every", type=float, help="seconds between polls (default: --interval)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: Ctrl-C)")
    p.add_argument("--polls", type=int, help="stop after this many polls")
    p.add_argument("--cf", choices=_Registry("xen_fetch", "CF_CHOICES"),
                   help="consolidation function to ask for: AVERAGE (default, as XenCenter), MIN, MAX, LAST or all")
    p.add_argument("--format", choices=("xml", "json"), default="xml", help="rrd_updates form (default xml)")
    p.add_argument("--ca-file", type=Path, help="CA bundle or the host's certificate to verify TLS against")
    p.add_argument("--insecure", action="store_true",
                   help="do not verify the TLS certificate (XenServer ships a self-signed one)")
    p.add_argument("--retries", type=int, default=5, help="retries of a failing request (default 5)")
    p.set_defaults(func=_fetch_rrd)

    p = sub.add_parser(
        "probe", help="measure cache and memory bandwidth and latency (EVEREST's Cache & Memory, repeatable)",
        description="workbench probe -o OUT.parquet [--quick] [--trials N]: read, write and copy bandwidth "
                    "(single-thread and all-cores) and pointer-chase latency at working sets in L1, L2, L3 and "
                    "DRAM, in repeated trials (run 0 is the warm-up), as a measurement table with the "
                    "machine's description (CPU, clock, caches, OS, hypervisor) in the file's metadata.")
    p.add_argument("-o", "--output", required=True, type=Path, help="Parquet file to write")
    p.add_argument("--quick", action="store_true",
                   help="a few seconds: 3 trials of ~10 ms measurements (DRAM arrays still follow STREAM's rule)")
    p.add_argument("--trials", type=int, help="trials including the warm-up (default 10; 3 with --quick)")
    p.add_argument("--threads", type=int, help="threads of the all-cores figures (default: CPUs available)")
    p.add_argument("--single-thread-only", action="store_true", help="skip the all-cores bandwidth")
    for level in ("l1", "l2", "l3"):
        p.add_argument(f"--{level}", metavar="SIZE",
                       help=f"{level.upper()} {'data ' if level == 'l1' else ''}cache size (e.g. 48K, 2M), "
                            "overriding what the OS reports")
    p.add_argument("--memory-size", metavar="SIZE",
                   help="DRAM array size (default: STREAM's rule, 4x the last-level caches)")
    p.add_argument("--seed", type=int, default=0, help="seed of the pointer chase's random order")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                   help="label for every row (experiment, condition, hypervisor, host, guest, scope, stage); "
                        "host, scope and hypervisor default to this machine's")
    p.add_argument("--precision", metavar="PERCENT", type=_percent,
                   help="repeat trials until every median's 95 %% interval is within +-PERCENT (e.g. 2%%); "
                        "--trials is then the most (default 100)")
    p.add_argument("--budget", metavar="SECONDS", type=_seconds, help="start no new trial after this long (e.g. 60s)")
    p.add_argument("--no-progress", action="store_true", help="no progress line")
    p.set_defaults(func=_probe)

    p = sub.add_parser(
        "capture", help="record CPU, memory, swap, disk, network and processes live (psutil)",
        description="workbench capture -o OUT.parquet [--interval S] [--stage NAME=SECONDS]... [--process PATTERN]... "
                    "[-- COMMAND ARGS...]. Samples go to OUT.capture.jsonl as they are taken (flushed every "
                    "--flush seconds), and become OUT.parquet when the capture ends: after its timed stages, "
                    "when COMMAND exits, or on Ctrl-C/SIGTERM. Without COMMAND, each line typed on the terminal "
                    "starts a stage of that name. With COMMAND, exits with its exit status.")
    p.add_argument("-o", "--output", required=True, type=Path, help="Parquet file to write")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between samples, 0.1-10 (default 1)")
    p.add_argument("--flush", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between flushes to disk: what a crash can lose (default 1)")
    p.add_argument("--stage", action="append", default=[], metavar="NAME[=SECONDS]",
                   help="a timed stage, in order (repeatable); the last may omit SECONDS (runs until stopped)")
    p.add_argument("--process", action="append", default=[], metavar="PATTERN",
                   help="also record CPU and memory of processes whose name matches this regular expression "
                        "(repeatable), e.g. vmware-vmx, qemu-system, VBoxHeadless")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                   help="label for every row (condition, scope, guest, host, run, ...); host, scope and "
                        "hypervisor default to this machine's (a guest is detected), e.g. --label guest=NAME")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("argv", nargs="*", metavar="-- COMMAND", help="a command to run (and capture) as a stage")
    p.set_defaults(func=_capture)

    p = sub.add_parser("compare", help="compare conditions against a baseline (statistics, verdicts)")
    p.add_argument("table", metavar="TABLE_OR_MANIFEST", help="a Parquet table or an experiment manifest")
    p.add_argument("--baseline", help="baseline condition (default: the manifest's)")
    p.add_argument("--metric", action="append", metavar="M", help="restrict to this metric (repeatable)")
    p.add_argument("--by", help="comma-separated columns defining a cell (default: metric,component,"
                                "stage,aggregate,interval, plus scope,guest where a condition mixes them)")
    p.add_argument("--confidence-level", type=float, default=0.95)
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--test", default="welch_hsu", choices=_Registry("stats", "TESTS"),
                   help="two-sample test (workbench.stats.TESTS; more with stats.register_test)")
    p.add_argument("--format", default="text", choices=["text", "csv", "json"])
    p.add_argument("--include-flagged", action="store_true",
                   help="keep rows flagged as disturbed by the interference guards (left out by default)")
    p.set_defaults(func=_compare)

    p = sub.add_parser(
        "run", help="run a plan: every condition once per round, in a fresh random order (RMIT)",
        description="workbench run PLAN.toml -o FOLDER [--resume]: randomized multiple interleaved trials. "
                    "Writes FOLDER/table.parquet and FOLDER/manifest.toml (for `workbench compare`), the raw "
                    "outputs and a log; Ctrl-C keeps every finished trial, --resume finishes the run.")
    p.add_argument("plan", type=Path, metavar="PLAN.toml")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FOLDER", help="folder for the run's files")
    p.add_argument("--resume", action="store_true", help="continue the run in FOLDER (same plan, same orders)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_run)

    p = sub.add_parser(
        "lab", help="the virtualization lab: one benchmark natively, emulated (QEMU TCG), paravirtualized (UML) "
                    "and under KVM where it works",
        description="workbench lab status | run [PLAN] -o FOLDER | boot ENV -- PROGRAM [ARGS]. 'native' is this "
                    "machine as it is: when it is itself a virtual machine, the lab measures what each technique "
                    "adds on top of it.")
    labsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = labsub.add_parser("status", help="which environments can run here, and why not")
    q.add_argument("--no-probe", action="store_true", help="do not boot a probe guest under KVM")
    q.set_defaults(func=_lab_status)
    q = labsub.add_parser("run", help="run a lab plan (default data/plans/lab.toml) without the environments "
                                      "that cannot run here")
    q.add_argument("plan", type=Path, nargs="?", default=Path("data/plans/lab.toml"), metavar="PLAN.toml")
    q.add_argument("-o", "--output", required=True, type=Path, metavar="FOLDER", help="folder for the run's files")
    q.add_argument("--rounds", type=int, help="rounds instead of the plan's")
    q.add_argument("--resume", action="store_true", help="continue the run in FOLDER (same plan, same orders)")
    q.add_argument("--quiet", action="store_true", help="no progress lines")
    q.set_defaults(func=_lab_run)
    q = labsub.add_parser("ship", help="copy a finished lab run with its provenance into a data folder "
                                       "(e.g. data/lab/<id>) for reports that render without booting")
    q.add_argument("run", type=Path, metavar="RUN", help="the run's folder (workbench lab run -o RUN)")
    q.add_argument("-o", "--output", required=True, type=Path, metavar="FOLDER")
    q.add_argument("--plan", type=Path, default=Path("data/plans/lab.toml"), metavar="PLAN.toml",
                   help="the plan file the run used (copied beside it)")
    q.set_defaults(func=_lab_ship)
    q = labsub.add_parser("boot", help="boot PROGRAM (a static executable) in a guest; its console on stdout "
                                       "(what a lab plan's guest conditions run)")
    q.add_argument("environment", choices=("emulated", "paravirtualized", "hw-virtualized"))
    q.add_argument("--timeout", type=_seconds, default=150.0, metavar="SECONDS",
                   help="kill the guest after this long (default 150 s)")
    q.add_argument("argv", nargs="+", metavar="-- PROGRAM [ARGS]")
    q.set_defaults(func=_lab_boot)

    p = sub.add_parser("formats", help="list the input formats workbench can read")
    p.set_defaults(func=_formats)
    return parser


def _ingest(args: argparse.Namespace) -> int:
    from . import experiment, readers, storage
    from ._version import __version__

    manifests = [p for p in args.inputs if p.endswith(".toml")]
    if manifests:
        if len(args.inputs) > 1 or args.label or args.format or args.option:
            raise WorkbenchError("a manifest is ingested alone: labels, formats and options belong inside it")
        exp = experiment.load(manifests[0])
        table, sources = exp.read()
        what = f"experiment '{exp.id}' ({len(exp.inputs)} inputs)"
    else:
        labels = _labels(args.label)
        import polars as pl
        options = dict(_pair(o, "--option") for o in args.option)
        frames, sources = [], {}
        for p in args.inputs:
            parsed = readers.read_file(p, format=args.format, options=options, **labels)
            frames.append(parsed.table)
            sources.update(parsed.by_source())
        table = pl.concat(frames)
        what = f"{len(args.inputs)} file(s)"
        if "condition" not in labels and (table["condition"] == "unlabelled").any():
            print("workbench ingest: note: no --label condition=...; rows are labelled 'unlabelled'",
                  file=sys.stderr)
    out = storage.write_table(table, args.output, metadata={
        "sources": sources, "producer": {"name": "workbench ingest", "version": __version__}})
    described = f", metadata of {len(sources)} file(s)" if sources else ""
    print(f"{what}: {table.height} rows, {table['metric'].n_unique()} metrics{described} -> {out}")
    return 0


def _percent(text: str) -> float:
    """``2%`` or ``2`` -> 0.02."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 2%, found {text!r}") from None
    if not 0 < value < 100:
        raise argparse.ArgumentTypeError(f"expected a percentage between 0 and 100, found {text!r}")
    return value / 100


def _seconds(text: str) -> float:
    """``60s``, ``60`` or ``2m`` -> seconds."""
    t = text.strip().lower()
    factor = 60.0 if t.endswith("m") else 1.0
    try:
        value = float(t.removesuffix("m").removesuffix("s")) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds such as 60s or 2m, found {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration, found {text!r}")
    return value


def _pair(text: str, flag: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise WorkbenchError(f"{flag} {text!r}: expected KEY=VALUE")
    return key, value


def _labels(pairs: list[str]) -> dict[str, object]:
    from .schema import LABELS
    labels: dict[str, object] = {}
    for pair in pairs:
        key, value = _pair(pair, "--label")
        if key not in LABELS:
            raise WorkbenchError(f"--label {pair!r}: unknown label '{key}'; labels are: {', '.join(LABELS)}")
        if key == "run":
            if not value.isdigit():
                raise WorkbenchError(f"--label {pair!r}: run must be a non-negative integer")
            labels[key] = int(value)
        else:
            labels[key] = value
    return labels


def _report(args: argparse.Namespace) -> int:
    from . import report

    config = args.config or report.DEFAULT_CONFIG
    out_dir = args.output_dir or report.DEFAULT_OUT_DIR
    results = report.render_reports(config, out_dir, only=args.only, progress=not args.no_progress)
    for r in results:
        mark = "ok    " if r.ok else "FAILED"
        print(f"{mark} {r.entry.name:<20} {r.seconds:6.1f}s  {r.html or r.ipynb or ''}")
        if not r.ok:
            print(f"       {r.error}", file=sys.stderr)
    print(f"index: {Path(out_dir) / report.INDEX_NAME}")
    return 0 if all(r.ok for r in results) else 1


def _audit(args: argparse.Namespace) -> int:
    from . import thesis

    findings = thesis.audit(args.thesis_dir)
    shown = findings if args.all else [f for f in findings if not f.consistent]
    for f in shown:
        print(f.describe())
    bad = sum(not f.consistent for f in findings)
    print(f"{len(findings)} checks, {bad} discrepancies")
    return 0


def _formats(args: argparse.Namespace) -> int:
    from . import readers

    for name, fmt in readers.formats().items():
        print(f"{name:<22} {fmt.description}")
    return 0


# Handlers of later commands go here, one function each.


def _fetch_rrd(args: argparse.Namespace) -> int:
    import getpass
    import os
    import urllib.parse

    from . import xen_fetch

    options = xen_fetch.FetchOptions(
        url=args.url, user=args.user, auth=args.auth, login_url=args.login_url, vms=tuple(args.vm),
        interval=args.interval, every=args.every, duration=args.duration, max_polls=args.polls,
        cf=None if args.cf == "all" else (args.cf or xen_fetch.DEFAULT_CF), format=args.format, ca_file=args.ca_file,
        insecure=args.insecure, retries=args.retries)
    password = os.environ.get(args.password_env)
    if password is None:
        if not sys.stdin.isatty():
            raise WorkbenchError(f"no password: set the environment variable {args.password_env} "
                                 "or run on a terminal to be asked")
        host = urllib.parse.urlsplit(args.url).hostname or args.url
        password = getpass.getpass(f"password of {args.user} at {host}: ")
    result = xen_fetch.fetch(options, password, args.output_dir,
                             report=lambda line: print(f"fetch-rrd: {line}", file=sys.stderr, flush=True))
    what = "interrupted; every file is complete" if result.interrupted else "done"
    print(f"{what}: {len(result.files)} raw responses, {result.polls} polls, {result.rows} new rows, "
          f"{result.values} values -> {result.table or '(no table)'}")
    print(f"host {result.host_url} (uuid {result.host_uuid or 'not seen'}); {xen_fetch.POOL_NOTE}")
    for error in result.errors:
        print(f"workbench fetch-rrd: error: {error}", file=sys.stderr)
    return 0


def _probe(args: argparse.Namespace) -> int:
    from . import guards, machine, probe

    live = not args.no_progress
    tty = sys.stderr.isatty()

    def progress(trial: int, trials: int, level: str, elapsed: float) -> None:
        what = "warm-up" if trial == 0 else f"trial {trial}/{trials - 1}"
        if tty:
            print(f"\rprobe: {what:<12} level {level:<7} {elapsed:6.1f} s ", end="", file=sys.stderr, flush=True)
        elif level == "L1":  # one line per trial in logs
            print(f"probe: {what} {elapsed:.1f} s", file=sys.stderr)

    labels = _labels(args.label)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", probe.ProbeWarning)
        result = probe.run(trials=args.trials, quick=args.quick, threads=args.threads,
                           precision=args.precision, budget=args.budget,
                           l1=args.l1, l2=args.l2, l3=args.l3, memory=args.memory_size,
                           all_cores=not args.single_thread_only, seed=args.seed, labels=labels,
                           progress=progress if live else None)
    if live and tty:
        print(file=sys.stderr)
    for w in caught:
        print(f"workbench probe: warning: {w.message}", file=sys.stderr)
    out = probe.write(result, args.output)
    m = result.machine
    print(f"{m.cpu_model or 'unknown CPU'}, {m.logical_cpus} CPUs, {m.os}; "
          f"hypervisor: {machine.describe_virtualization(m.virtualization)}")
    print("working sets: " + ", ".join(f"{lv.name} {probe.format_size(lv.size)}" for lv in result.levels))
    huge = result.settings.get("huge_page_share", {})
    if any(v is not None for v in huge.values()):
        print("huge pages (THP) behind each set: " + ", ".join(
            f"{k} {'?' if v is None else f'{v:.0%}'}" for k, v in huge.items()))
    stages = [s for s in (probe.ALL_CORES, probe.SINGLE) if s in result.settings["modes"]]
    disturbed = probe.disturbance(result.table, guards.Thresholds(**result.settings["thresholds"]))
    if disturbed.message:
        print(f"\n{'!' * 78}\n{disturbed.message}\n{'!' * 78}")
    if disturbed.all_flagged:
        print("\nno undisturbed trial: no result to show.")
    else:
        for stage in stages:
            table = probe.cache_memory_table(result.table, bandwidth_stage=stage, stage=labels.get("stage"))
            print(f"\nbandwidth {stage}, latency single-thread; median of "
                  f"{disturbed.measured - len(disturbed.flagged)} trials "
                  "[95 % interval of the median; '-' = too few trials]")
            print(table.to_pandas().to_string(index=False))
    if args.precision is not None or args.budget is not None:
        worst = result.settings["worst_precision"]
        print(f"\nstopped: {result.settings['stopped']}; widest interval of a median: "
              + ("not yet computable (fewer than 6 undisturbed trials)" if worst is None else f"+-{worst:.1%}"))
    print(f"\n{result.table.height} rows, {result.settings['seconds']:.1f} s -> {out}")
    return 0


def _capture(args: argparse.Namespace) -> int:
    import signal
    import threading

    from . import capture

    cap = capture.Capture(args.output, interval=args.interval, flush_interval=args.flush, stages=args.stage,
                          command=args.argv or None, processes=args.process, labels=_labels(args.label),
                          history=1)
    live = sys.stderr.isatty() and not args.quiet

    def terminate(signum, frame):  # SIGTERM ends the capture as Ctrl-C does: finished, converted
        raise KeyboardInterrupt

    def read_marks():  # each line typed (or piped) starts a stage
        try:
            for line in sys.stdin:
                if line.strip():
                    cap.mark(line)
        except (OSError, ValueError, WorkbenchError):  # no stdin, or the capture ended
            pass

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        cap.start()
        if live:
            hint = "" if args.argv else "; type a stage name and Enter to start a stage"
            print(f"capturing every {cap.interval:g} s to {cap.path}{hint}; Ctrl-C stops", file=sys.stderr)
        if not args.argv and sys.stdin is not None:
            threading.Thread(target=read_marks, name="workbench-capture-marks", daemon=True).start()
        try:
            shown = None
            # Never an unbounded wait: a signal delivered to another thread (polars and
            # the sampler have their own) would not wake it, and Ctrl-C would hang.
            while not cap.wait(1.0 if live else 0.5):
                if not live:
                    continue
                s = cap.status()
                if s.stage != shown:
                    print(f"\r{s.elapsed:8.1f} s  stage: {s.stage}{' ' * 40}", file=sys.stderr)
                    shown = s.stage
                cpu = "  -  " if s.cpu_util is None else f"{s.cpu_util:5.1f}"
                mem = "  -  " if s.mem_util is None else f"{s.mem_util:5.1f}"
                missed = f"  {s.missed_ticks} ticks missed" if s.missed_ticks else ""
                print(f"\r{s.elapsed:8.1f} s  {s.samples} samples  CPU {cpu} %  memory {mem} %{missed}  ",
                      end="", file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            pass
        if live:
            print(file=sys.stderr)
        result = cap.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    p50, p99 = (q * 1e3 for q in result.lag_quantiles((0.5, 0.99)))
    print(f"{result.samples} samples, {result.missed_ticks} ticks missed, lag p50 {p50:.2f} ms p99 {p99:.2f} ms, "
          f"own CPU {result.overhead:.3f} % of one core ({result.reason}) -> {result.path}")
    if result.exit_status is None:
        return 0
    print(f"command exited with status {result.exit_status}")
    # Like `time` and `timeout`: the command's status; killed by signal N -> 128 + N.
    return result.exit_status if result.exit_status >= 0 else 128 - result.exit_status


def _compare(args: argparse.Namespace) -> int:
    from . import experiment, stats

    dataset = experiment.open(args.table)
    table = dataset.table
    baseline = args.baseline or dataset.baseline
    if not baseline:
        raise WorkbenchError("no baseline: give --baseline NAME (a Parquet table names none"
                             f"{'' if args.table.endswith('.parquet') else ', nor does this manifest'})")
    by = tuple(c.strip() for c in args.by.split(",")) if args.by else None
    result = stats.compare_all(table, baseline=baseline, metrics=args.metric, by=by,
                               confidence_level=args.confidence_level, alpha=args.alpha, test=args.test,
                               include_flagged=args.include_flagged)
    frame = result.to_frame()
    if args.format == "csv":
        sys.stdout.write(frame.write_csv())
    elif args.format == "json":
        sys.stdout.write(frame.write_json() + "\n")
    else:
        if not len(result):
            print(f"no cell has both '{baseline}' and another condition")
        for line in result.verdicts():
            print(f"- {line}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from . import runner

    plan = runner.load_plan(args.plan)
    progress = None if args.quiet else (lambda line: print(f"run: {line}", file=sys.stderr, flush=True))
    try:
        result = runner.run(plan, args.output, resume=args.resume, progress=progress)
    except runner.TrialFailed as exc:
        print(f"workbench run: trial failed: {exc}", file=sys.stderr)
        print(f"finished trials are in {args.output / runner.TABLE}; fix the cause and continue with --resume",
              file=sys.stderr)
        return 1
    except runner.RunInterrupted as exc:
        print(f"workbench run: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # a second Ctrl-C while the run was saving what it had
        print(f"workbench run: interrupted: finished trials are kept in {args.output}; continue with --resume",
              file=sys.stderr)
        return 130
    print(f"{result.trials} trials ({plan.rounds} rounds x {len(plan.all_conditions)} conditions, seed "
          f"{result.seed}); {result.flagged} flagged by the interference guards -> {result.table}")
    print("orders: " + " | ".join(",".join(order) for order in result.orders[:3])
          + (" | ..." if len(result.orders) > 3 else ""))
    _run_verdicts(plan, result)
    print(f"\nagain, or with other options: workbench compare {result.manifest}")
    return 0


def _lab_status(args: argparse.Namespace) -> int:
    from . import lab

    found = lab.detect(probe=not args.no_probe)
    for env in found.values():
        what = env.hypervisor or "this machine as it is"
        print(f"{env.name:16} {'available' if env.available else 'unavailable':12} {what}"
              + ("" if env.available else f": {env.reason}"))
    return 0


def _lab_ship(args: argparse.Namespace) -> int:
    from . import lab

    print(f"shipped -> {lab.ship(args.run, args.output, plan=args.plan)}")
    return 0


def _lab_boot(args: argparse.Namespace) -> int:
    from . import lab

    env = lab.detect(probe=False)[args.environment]
    if not env.available:
        raise WorkbenchError(f"{env.name} is not available here: {env.reason}")
    program, *rest = args.argv
    lab.guest_run(env, program, rest, sys.stdout.buffer, timeout=args.timeout)
    return 0


def _lab_run(args: argparse.Namespace) -> int:
    import time

    from . import lab, runner

    labplan = lab.lab_plan(args.plan, rounds=args.rounds)
    plan = labplan.plan
    for env in labplan.environments.values():
        state = "available" if env.available else f"unavailable: {env.reason}"
        print(f"lab: {env.name}: {env.hypervisor or 'this machine as it is'}: {state}", file=sys.stderr)
    for name, why in labplan.skipped.items():
        print(f"lab: condition {name} left out: {why}", file=sys.stderr)
    total = plan.rounds * len(plan.all_conditions)
    print(f"lab: {total} trials ({plan.rounds} rounds x {len(plan.all_conditions)} conditions), one guest at a "
          f"time; about {lab.estimate(plan) / 60:.0f} min", file=sys.stderr)
    started = time.monotonic()
    clock = lab.Progress(plan)

    def progress(line: str) -> None:
        now = time.monotonic()
        left = clock.started(line, now)
        more = "" if left is None else f", about {left / 60:.1f} min left"
        print(f"lab: {line} [{(now - started) / 60:.1f} min{more}]", file=sys.stderr, flush=True)

    try:
        result = runner.run(plan, args.output, resume=args.resume, progress=None if args.quiet else progress)
    except runner.TrialFailed as exc:
        print(f"workbench lab: trial failed: {exc}", file=sys.stderr)
        print(f"finished trials are in {args.output / runner.TABLE}; fix the cause and continue with --resume",
              file=sys.stderr)
        return 1
    except runner.RunInterrupted as exc:
        print(f"workbench lab: {exc}", file=sys.stderr)
        return 130
    print(f"{result.trials} trials in {(time.monotonic() - started) / 60:.1f} min (seed {result.seed}); "
          f"{result.flagged} flagged -> {result.table}")
    for name, why in labplan.skipped.items():
        print(f"left out: {name}: {why}")
    _run_verdicts(plan, result)
    return 0


def _run_verdicts(plan, result) -> None:
    """The run's verdicts against the baseline, and the A/A noise floor."""
    import polars as pl

    from . import runner, stats, storage

    table = storage.read_table(result.table)
    try:
        res = stats.compare_all(table, baseline=plan.baseline)
    except WorkbenchError as exc:
        print(f"no verdicts: {exc}")
        return
    print()
    for line in res.verdicts():
        print(f"- {line}")
    if not len(res):
        print(f"no cell has both '{plan.baseline}' and another condition (after leaving out disturbed trials)")
        return
    if not plan.aa:
        return
    aa = res.to_frame().filter(pl.col("condition") == f"{plan.baseline}{runner.AA_SUFFIX}")
    if aa.is_empty():
        return
    print(f"\nA/A noise floor ({plan.baseline} against itself, interleaved in the same rounds): "
          "what two identical conditions look like here")
    for row in aa.iter_rows(named=True):
        where = ", ".join(str(row[c]) for c in ("metric", "component", "stage") if row.get(c) not in (None, ""))
        low, high = row["ratio_low"], row["ratio_high"]
        span = ("" if low is None or high is None or low != low else
                f" [{(low - 1) * 100:+.1f} %, {(high - 1) * 100:+.1f} %]")
        print(f"  {where}: {(row['ratio'] - 1) * 100:+.1f} %{span}")
    bounds = [max(abs(r["ratio_low"] - 1), abs(r["ratio_high"] - 1)) for r in aa.iter_rows(named=True)
              if r["ratio_low"] is not None and r["ratio_low"] == r["ratio_low"]]
    if bounds:
        print(f"  widest A/A interval reaches {max(bounds) * 100:.1f} %: differences inside it are noise here")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
