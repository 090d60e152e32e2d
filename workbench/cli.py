"""Command line: parse arguments, call the library, print, exit.

The only module that prints or exits. Every :class:`~workbench.errors.WorkbenchError`
becomes one line on stderr and exit code 2; a failed report exits 1 (:data:`EXIT_CODES`).
Heavy imports happen inside the command that needs them, so ``workbench --help`` loads
no polars, numpy or scipy. Every command takes ``-q``/``--quiet`` (no progress) and
``-v``/``--verbose`` (what was read and how long it took); progress is drawn in place on
a terminal and written as plain lines, at most every few seconds, into pipes and logs.
"""
from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path
from typing import Sequence

from .errors import WorkbenchError

EXIT_CODES = """exit status:
  0    done
  1    the work failed (a report did not render, a trial failed)
  2    bad usage or bad input (the message names the file, line and what was expected)
  130  interrupted (Ctrl-C); what was finished is kept
  141  the output was closed early (e.g. `| head`)"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    _refuse_secrets(argv)
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


def _refuse_secrets(argv: list[str]) -> None:
    """A password on the command line (``--password=x``, ``--pass x``) ends here, before
    argparse could echo it back in "unrecognized arguments: ..." (shell history and ps
    show it already: say so, never repeat it)."""
    for arg in argv:
        if arg == "--":
            return
        name = arg.split("=", 1)[0]
        if name.startswith("--pass") and name != "--password-env":
            print(f"workbench: error: {name}: passwords are never taken on the command line (it stays in the "
                  "shell history); use --password-env NAME, or the prompt", file=sys.stderr)
            raise SystemExit(2)


class _Registry:
    """An option's ``type`` that accepts the names of a library registry, read when a
    value is given: the choices follow the registry, and ``--help`` (which argparse
    formats by iterating any ``choices``) imports no statistics stack."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name
        self.__name__ = name  # argparse names a type in its messages

    def _names(self) -> list[str]:
        import importlib

        return list(getattr(importlib.import_module(f".{self.module}", __package__), self.name))

    def __call__(self, value: str) -> str:
        names = self._names()
        if value not in names:
            raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from "
                                             f"{', '.join(repr(n) for n in names)})")
        return value


class Progress:
    """Progress on stderr: redrawn in place on a terminal; in a pipe or log, a plain line
    at most every `every` seconds (and the last one); nothing with ``--quiet``."""

    def __init__(self, args: argparse.Namespace, name: str, every: float = 5.0) -> None:
        import time

        self.name, self.every, self._clock = name, every, time.monotonic
        self.quiet = bool(getattr(args, "quiet", False))
        self.tty = sys.stderr.isatty()
        self._last = -math.inf
        self._drawn = False

    def __call__(self, text: str, *, force: bool = False) -> None:
        if self.quiet:
            return
        if self.tty:
            print(f"\r{self.name}: {text:<70}", end="", file=sys.stderr, flush=True)
            self._drawn = True
            return
        now = self._clock()
        if force or now - self._last >= self.every:
            print(f"{self.name}: {text}", file=sys.stderr, flush=True)
            self._last = now

    def close(self) -> None:
        if self._drawn:
            print(file=sys.stderr)
            self._drawn = False


def _verbose(args: argparse.Namespace, text: str) -> None:
    if getattr(args, "verbose", False):
        print(f"workbench {args.command}: {text}", file=sys.stderr)


def _common_options(parser: argparse.ArgumentParser) -> None:
    """-q/-v on a (sub)command, and its exit codes in the help."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    group.add_argument("-v", "--verbose", action="store_true", help="also say what was read and how long it took")
    parser.epilog = EXIT_CODES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def _parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(prog="workbench", description="What a virtualization technique costs on "
                                     "your hardware: read measurements into one table, compare, report.",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"workbench {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="read a manifest or files into one Parquet measurement table",
                       description="workbench ingest MANIFEST.toml -o OUT.parquet | "
                                   "workbench ingest FILE... --label key=value ... -o OUT.parquet")
    p.add_argument("inputs", nargs="+", metavar="MANIFEST_OR_FILE",
                   help="an experiment manifest (.toml), or input files ('-' reads standard input)")
    p.add_argument("-o", "--output", required=True, type=_parquet_out, help="Parquet file to write")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists (never an input)")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                   help="label for every row of the FILEs (experiment, condition, host, guest, scope, stage, run)")
    p.add_argument("--format", metavar="NAME", help="skip content detection and use this reader "
                                                     "(`workbench formats` lists them)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="reader option for the FILEs, e.g. timezone=Europe/Madrid for an AIDA64 CSV log")
    p.set_defaults(func=_ingest)

    p = sub.add_parser("report", help="render the default reports, or the comparison report of your own data",
                       description="workbench report [-o DIR]: the default reports (notebooks/reports.toml) into "
                                   "reports/. workbench report SOURCE [-o DIR]: the comparison report of a manifest "
                                   "(.toml) or a table (.parquet), paths as given from the current directory.")
    p.add_argument("source", nargs="?", metavar="SOURCE",
                   help="an experiment manifest or a measurement table to report on (default: the default reports)")
    p.add_argument("--baseline", metavar="NAME", help="with SOURCE: the baseline condition (a table names none; "
                                                       "default: the manifest's)")
    p.add_argument("--config", type=Path, help="the reports' configuration (default notebooks/reports.toml)")
    p.add_argument("-o", "--output-dir", type=Path, help="where the reports go (default reports/)")
    p.add_argument("--only", action="append", metavar="NAME", help="render only this report (repeatable)")
    p.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                   help="longest a notebook cell may run before the report fails (default 600 s)")
    p.add_argument("-j", "--jobs", type=_jobs, metavar="N",
                   help="render up to N reports at once (default: the CPUs this process may use; 1: one by one)")
    p.set_defaults(func=_report)

    p = sub.add_parser("audit", help="check the thesis tables for internal consistency")
    p.add_argument("--thesis-dir", type=Path, default=Path("data/thesis"),
                   help="folder of the thesis transcription (default data/thesis)")
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
    p.add_argument("--cf", type=_Registry("xen_fetch", "CF_CHOICES"), metavar="CF",
                   help="consolidation function to ask for: AVERAGE (default, as XenCenter), MIN, MAX, LAST or all")
    p.add_argument("--format", choices=("xml", "json"), default="xml", help="rrd_updates form (default xml)")
    p.add_argument("--ca-file", type=Path, help="CA bundle or the host's certificate to verify TLS against")
    p.add_argument("--insecure", action="store_true",
                   help="do not verify the TLS certificate (XenServer ships a self-signed one)")
    p.add_argument("--retries", type=int, default=5, help="retries of a failing request (default 5)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="seconds to wait for a silent server, per request (default 30)")
    p.set_defaults(func=_fetch_rrd)

    p = sub.add_parser(
        "probe", help="measure cache and memory bandwidth and latency (EVEREST's Cache & Memory, repeatable)",
        description="workbench probe -o OUT.parquet [--quick] [--trials N]: read, write and copy bandwidth "
                    "(single-thread and all-cores) and pointer-chase latency at working sets in L1, L2, L3 and "
                    "DRAM, in repeated trials (run 0 is the warm-up), as a measurement table with the "
                    "machine's description (CPU, clock, caches, OS, hypervisor) in the file's metadata.")
    p.add_argument("-o", "--output", required=True, type=_parquet_out, help="Parquet file to write")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists (never an input)")
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
    p.set_defaults(func=_probe)

    p = sub.add_parser(
        "capture", help="record CPU, memory, swap, disk, network and processes live (psutil)",
        description="workbench capture -o OUT.parquet [--interval S] [--stage NAME=SECONDS]... [--process PATTERN]... "
                    "[-- COMMAND ARGS...]. Samples go to OUT.capture.jsonl as they are taken (flushed every "
                    "--flush seconds), and become OUT.parquet when the capture ends: after its timed stages, "
                    "when COMMAND exits, or on Ctrl-C/SIGTERM. Without COMMAND, each line typed on the terminal "
                    "starts a stage of that name. With COMMAND, exits with its exit status.")
    p.add_argument("-o", "--output", required=True, type=_parquet_out, help="Parquet file to write")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists (never an input)")
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
    p.add_argument("argv", nargs="*", metavar="-- COMMAND", help="a command to run (and capture) as a stage")
    p.set_defaults(func=_capture)

    p = sub.add_parser("compare", help="compare conditions against a baseline (statistics, verdicts)")
    p.add_argument("table", metavar="TABLE_OR_MANIFEST_OR_STORE",
                   help="a Parquet table, an experiment manifest or a store folder (`workbench store`)")
    p.add_argument("--baseline", help="baseline condition (default: the manifest's)")
    p.add_argument("--metric", action="append", metavar="M", help="restrict to this metric (repeatable)")
    p.add_argument("--by", help="comma-separated columns defining a cell (default: metric,component,"
                                "stage,aggregate,interval, plus scope,guest where a condition mixes them)")
    p.add_argument("--confidence-level", type=float, default=0.95, metavar="LEVEL",
                   help="of every interval (default 0.95)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="family-wise error rate of the tests, Holm over all comparisons (default 0.05)")
    p.add_argument("--test", default="welch_hsu", type=_Registry("stats", "TESTS"), metavar="TEST",
                   help="two-sample test: welch_hsu (default), welch, mannwhitneyu, brunnermunzel, or one added "
                        "with workbench.stats.register_test")
    p.add_argument("--format", default="text", choices=["text", "text-verbose", "csv", "json"],
                   help="text: a table per condition (benchstat-like); text-verbose: every verdict in words; "
                        "csv/json: every column at full precision, cells not compared included")
    p.add_argument("--include-flagged", action="store_true",
                   help="keep rows flagged as disturbed by the interference guards (left out by default)")
    _fleet_options(p)
    p.add_argument("--replicate", choices=("run", "guest"), default="run",
                   help="the independent unit: run (default), or guest (each VM's runs averaged first: for a fleet "
                        "whose VMs are the replicates, e.g. the Azure VM noise dataset)")
    p.set_defaults(func=_compare)

    p = sub.add_parser("vm-summary", help="per VM: runs, mean, std, min, max of each metric (lazy; Dask on request)",
                       description="workbench vm-summary STORE_OR_TABLE [--where COND] [--engine dask --scheduler ADDR]")
    p.add_argument("table", metavar="STORE_OR_TABLE", help="a store folder, a Parquet table or a manifest")
    _fleet_options(p)
    p.add_argument("--format", default="text", choices=["text", "csv"], help="text: a table (default); csv: every "
                                                                            "column at full precision")
    p.set_defaults(func=_vm_summary)

    p = sub.add_parser(
        "run", help="run a plan: every condition once per round, in a fresh random order (RMIT)",
        description="workbench run PLAN.toml -o FOLDER [--resume]: randomized multiple interleaved trials. "
                    "Writes FOLDER/table.parquet and FOLDER/manifest.toml (for `workbench compare`), the raw "
                    "outputs and a log; Ctrl-C keeps every finished trial, --resume finishes the run.")
    p.add_argument("plan", type=Path, metavar="PLAN.toml", help="the plan: conditions, workloads, rounds")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FOLDER", help="folder for the run's files")
    p.add_argument("--resume", action="store_true", help="continue the run in FOLDER (same plan, same orders)")
    p.set_defaults(func=_run)

    p = sub.add_parser(
        "store", help="a partitioned Parquet store of many inputs: add, ls, rm",
        description="workbench store add STORE FILE_OR_FOLDER_OR_MANIFEST... | store ls STORE | store rm STORE INPUT...: "
                    "a Hive-partitioned Parquet dataset that `compare STORE --where ...` reads lazily. Adding an "
                    "input already in the store (same content, same labels) changes nothing; an interrupted add "
                    "leaves the previous state readable, and running it again completes it.")
    ssub = p.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    q = ssub.add_parser("add", help="add files, folders (every file a reader takes) or manifests")
    q.add_argument("store", type=Path, metavar="STORE", help="the store's folder (created when new)")
    q.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER_OR_MANIFEST",
                   help="input files, folders (every file a reader takes) or experiment manifests")
    q.add_argument("--partition-by", metavar="COLS",
                   help="comma-separated partition columns of a new store (default experiment,source,date; "
                        "any of the labels, metric, component, unit, source, date, month)")
    q.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="label for every row of the FILEs")
    q.add_argument("--format", help="skip content detection and use this reader")
    q.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="reader option for the FILEs")
    q.set_defaults(func=_store_add)
    q = ssub.add_parser("ls", help="list the inputs of a store")
    q.add_argument("store", type=Path, metavar="STORE", help="the store's folder")
    q.set_defaults(func=_store_ls)
    q = ssub.add_parser("rm", help="remove inputs (by the name `ls` shows, or 8+ digits of their key)")
    q.add_argument("store", type=Path, metavar="STORE", help="the store's folder")
    q.add_argument("inputs", nargs="+", metavar="INPUT_OR_KEY", help="what to remove, as `store ls` names it")
    q.set_defaults(func=_store_rm)

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
    q.add_argument("plan", type=Path, nargs="?", default=Path("data/plans/lab.toml"), metavar="PLAN.toml",
                   help="the lab plan (default data/plans/lab.toml)")
    q.add_argument("-o", "--output", required=True, type=Path, metavar="FOLDER", help="folder for the run's files")
    q.add_argument("--rounds", type=int, help="rounds instead of the plan's")
    q.add_argument("--resume", action="store_true", help="continue the run in FOLDER (same plan, same orders)")
    q.set_defaults(func=_lab_run)
    q = labsub.add_parser("ship", help="copy a finished lab run with its provenance into a data folder "
                                       "(e.g. data/lab/<id>) for reports that render without booting")
    q.add_argument("run", type=Path, metavar="RUN", help="the run's folder (workbench lab run -o RUN)")
    q.add_argument("-o", "--output", required=True, type=Path, metavar="FOLDER", help="the data folder to write")
    q.add_argument("--plan", type=Path, default=Path("data/plans/lab.toml"), metavar="PLAN.toml",
                   help="the plan file the run used (copied beside it)")
    q.set_defaults(func=_lab_ship)
    q = labsub.add_parser("boot", help="boot PROGRAM (a static executable) in a guest; its console on stdout "
                                       "(what a lab plan's guest conditions run)")
    q.add_argument("environment", choices=("emulated", "paravirtualized", "hw-virtualized"),
                   help="QEMU TCG (emulated), User-mode Linux (paravirtualized) or QEMU KVM (hw-virtualized)")
    q.add_argument("--timeout", type=_seconds, default=150.0, metavar="SECONDS",
                   help="kill the guest after this long (default 150 s)")
    q.add_argument("argv", nargs="+", metavar="-- PROGRAM [ARGS]", help="the static program to run in the guest")
    q.set_defaults(func=_lab_boot)

    p = sub.add_parser("formats", help="list the input formats workbench can read")
    p.set_defaults(func=_formats)

    def common(parsers) -> None:  # every command and sub-command, including those added above later
        for command in parsers:
            nested = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
            if nested:
                common(nested[0].choices.values())
            else:
                _common_options(command)

    common(sub.choices.values())
    return parser


def _stdin_pieces(readers, args: argparse.Namespace, options: dict, labels: dict):
    """Standard input as one input file, recorded as source_file 'stdin'."""
    import tempfile

    data = sys.stdin.buffer.read()
    if not data:
        raise WorkbenchError("standard input ('-') is empty")
    with tempfile.TemporaryDirectory(prefix="workbench-stdin-") as folder:
        path = Path(folder) / "stdin"
        path.write_bytes(data)
        del data
        yield from readers.read_pieces(path, format=args.format, options=options, source_file="stdin", **labels)


def _ingest(args: argparse.Namespace) -> int:
    import time

    from . import experiment, readers, storage
    from ._version import __version__

    manifests = [p for p in args.inputs if p.endswith(".toml")]
    labels: dict = {}
    sources: dict = {}
    if manifests:
        if len(args.inputs) > 1 or args.label or args.format or args.option:
            raise WorkbenchError("a manifest is ingested alone: labels, formats and options belong inside it")
        exp = experiment.load(manifests[0])
        storage.check_output(args.output, inputs=[manifests[0], *(i.path for i in exp.inputs)], force=args.force)
        what = f"experiment '{exp.id}' ({len(exp.inputs)} inputs)"
        inputs = [("", (readers.Parsed(piece) for piece in exp.pieces(sources)))]  # it fills `sources`
    else:
        labels = _labels(args.label)
        options = dict(_pair(o, "--option") for o in args.option)
        storage.check_output(args.output, inputs=args.inputs, force=args.force)
        what = f"{len(args.inputs)} file(s)"
        # Each input read when its turn comes, its pieces written as they come: neither
        # the inputs together nor one long table are ever whole in memory (issue 17).
        inputs = ((p, _stdin_pieces(readers, args, options, labels) if p == "-" else
                   readers.read_pieces(p, format=args.format, options=options, **labels)) for p in args.inputs)
    metrics: set = set()
    counts = {"rows": 0, "unlabelled": False}

    def pieces():
        for name, parsed_pieces in inputs:
            started, rows = time.perf_counter(), counts["rows"]
            for parsed in parsed_pieces:
                yield parsed.table
                counts["rows"] += parsed.table.height
                if name:
                    sources.update(parsed.by_source())
                metrics.update(parsed.table["metric"].cast(str).unique().to_list())
                counts["unlabelled"] = counts["unlabelled"] or bool((parsed.table["condition"] == "unlabelled").any())
            if name:
                _verbose(args, f"read {name}: {counts['rows'] - rows} rows in {time.perf_counter() - started:.2f} s")

    out = storage.write_pieces(pieces(), args.output, validated=True, metadata=lambda: {  # read_pieces validated them
        "sources": sources, "producer": {"name": "workbench ingest", "version": __version__}})
    if not manifests and "condition" not in labels and counts["unlabelled"]:
        print("workbench ingest: note: no --label condition=...; rows are labelled 'unlabelled'", file=sys.stderr)
    described = f", metadata of {len(sources)} file(s)" if sources else ""
    print(f"{what}: {counts['rows']} rows, {len(metrics)} metrics{described} -> {out}")
    return 0


def _parquet_out(text: str) -> Path:
    """An output path for a Parquet file: not empty, not '-' (a binary table has no place
    on standard output; text, CSV and JSON outputs go there instead)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file name, found an empty string")
    if text == "-":
        raise argparse.ArgumentTypeError("a Parquet table cannot go to standard output ('-'); give a file name")
    return Path(text)


def _percent(text: str) -> float:
    """``2%`` or ``2`` -> 0.02."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 2%, found {text!r}") from None
    if not 0 < value < 100:
        raise argparse.ArgumentTypeError(f"expected a percentage between 0 and 100, found {text!r}")
    return value / 100


def _jobs(text: str) -> int:
    """``4`` -> 4, a positive whole number."""
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of reports such as 2, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, found {text!r}")
    return value


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
    """``--label KEY=VALUE`` pairs, checked by the one label validator before any work."""
    import re

    from .vocabulary import LABELS, RUN_MAX, check_labels
    labels: dict[str, object] = {}
    for pair in pairs:
        key, value = _pair(pair, "--label")
        if key not in LABELS:
            raise WorkbenchError(f"--label {pair!r}: unknown label '{key}'; labels are: {', '.join(LABELS)}")
        if key == "run":
            if not re.fullmatch("[0-9]{1,10}", value) or int(value) > RUN_MAX:
                raise WorkbenchError(f"--label {pair[:40]!r}: run must be an integer from 0 to {RUN_MAX}")
            labels[key] = int(value)
        else:
            labels[key] = value
        try:
            check_labels({key: labels[key]}, source=None)
        except WorkbenchError as exc:
            raise WorkbenchError(f"--label {pair[:60]!r}: {exc}") from None
    return labels


def _report(args: argparse.Namespace) -> int:
    from . import report

    config = args.config or report.DEFAULT_CONFIG
    out_dir = args.output_dir or report.DEFAULT_OUT_DIR
    if args.source is None and args.baseline:
        raise WorkbenchError("--baseline goes with SOURCE (the default reports name their own)")
    if args.source is not None:
        if args.config or args.only:
            raise WorkbenchError("SOURCE renders one comparison report: --config and --only are for the default set")
        Progress(args, "report", every=0.0)(f"rendering the comparison report of {args.source}")
        results = [report.render_source(args.source, out_dir, baseline=args.baseline,
                                        timeout=args.timeout or report.DEFAULT_CELL_TIMEOUT)]
    else:
        results = report.render_reports(config, out_dir, only=args.only,
                                        progress=not args.quiet and sys.stderr.isatty(),
                                        timeout=args.timeout or report.DEFAULT_CELL_TIMEOUT, jobs=args.jobs)
    for r in results:
        mark = "ok    " if r.ok else "FAILED"
        print(f"{mark} {r.entry.name:<20} {r.seconds:6.1f}s  {r.html or r.ipynb or ''}")
        if r.headline:
            print(f"       {r.headline}")
        if not r.ok:
            print(f"       {r.error}", file=sys.stderr)
        if r.stderr and args.verbose:
            print(f"       the kernel wrote: {r.stderr}", file=sys.stderr)
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

    rows = [(name, " ".join(fmt.suffixes) or "-", fmt.description) for name, fmt in readers.formats().items()]
    width = max(len(r[1]) for r in rows)
    print(f"{'format':<22} {'suffixes':<{width}} reads")
    for name, suffixes, description in rows:
        print(f"{name:<22} {suffixes:<{width}} {description}")
    return 0


# Handlers of later commands go here, one function each.


def _fetch_rrd(args: argparse.Namespace) -> int:
    import getpass
    import os
    import urllib.parse

    from . import storage, xen_fetch

    storage.check_output(args.output_dir, directory=True)  # before asking for a password
    options = xen_fetch.FetchOptions(
        url=args.url, user=args.user, auth=args.auth, login_url=args.login_url, vms=tuple(args.vm),
        interval=args.interval, every=args.every, duration=args.duration, max_polls=args.polls,
        cf=None if args.cf == "all" else (args.cf or xen_fetch.DEFAULT_CF), format=args.format, ca_file=args.ca_file,
        insecure=args.insecure, retries=args.retries, timeout=args.timeout)
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
    return 1 if result.errors else 0  # a response kept but not read is a failed fetch


def _probe(args: argparse.Namespace) -> int:
    from . import guards, machine, probe, storage

    live = not args.quiet
    line = Progress(args, "probe")

    def progress(trial: int, trials: int, level: str, elapsed: float) -> None:
        what = "warm-up" if trial == 0 else f"trial {trial}/{trials - 1}"
        if line.tty:
            line(f"{what:<12} level {level:<7} {elapsed:6.1f} s")
        elif level == "L1":  # in a pipe or log: one line per trial
            line(f"{what} {elapsed:.1f} s", force=True)

    labels = _labels(args.label)
    storage.check_output(args.output, force=args.force)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", probe.ProbeWarning)
        result = probe.run(trials=args.trials, quick=args.quick, threads=args.threads,
                           precision=args.precision, budget=args.budget,
                           l1=args.l1, l2=args.l2, l3=args.l3, memory=args.memory_size,
                           all_cores=not args.single_thread_only, seed=args.seed, labels=labels,
                           progress=progress if live else None)
    line.close()
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

    from . import capture, storage

    labels = _labels(args.label)
    storage.check_output(args.output, force=args.force)
    cap = capture.Capture(args.output, interval=args.interval, flush_interval=args.flush, stages=args.stage,
                          command=args.argv or None, processes=args.process, labels=labels,
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


def _fleet_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--where", metavar="CONDITION",
                   help="only rows where this SQL condition holds, e.g. \"host = 'x' and time >= '2024-01-01'\"")
    p.add_argument("--engine", choices=("polars", "dask"), default="polars",
                   help="where the per-run (or per-VM) aggregation runs: polars, lazily (default), or Dask over a "
                        "store's files (statistics always run here)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://10.0.0.1:8786 "
                                                          "(default: Dask's local scheduler)")


def _source(args: argparse.Namespace):
    """``(what the fleet functions read, baseline)``: a store folder as it is, else the
    opened table (a manifest's baseline kept)."""
    from . import experiment, store

    if store.is_store(args.table):
        return args.table, None
    if args.engine == "dask":
        raise WorkbenchError(f"--engine dask reads a store; {args.table} is not one (make one with "
                             "`workbench store add STORE FILE...`)")
    dataset = experiment.open(args.table)
    return dataset.table, dataset.baseline


def _compare(args: argparse.Namespace) -> int:
    from . import fleet, stats

    line = Progress(args, "compare", every=0.0)
    line(f"reading {args.table}")
    source, manifest_baseline = _source(args)
    if args.replicate == "guest":
        table = fleet.per_guest(source, where=args.where, engine=args.engine, scheduler=args.scheduler)
    elif isinstance(source, str) or args.where is not None:
        table = fleet.run_table(source, where=args.where, engine=args.engine, scheduler=args.scheduler)
    else:
        table = source
    baseline = args.baseline or manifest_baseline
    if not baseline:
        raise WorkbenchError("no baseline: give --baseline NAME (a Parquet table or a store names none"
                             f"{'' if not args.table.endswith('.toml') else ', nor does this manifest'})")
    if table.is_empty():
        raise WorkbenchError(f"{args.table}: no rows{' where ' + args.where if args.where else ''}")
    line(f"comparing {table.height} rows")
    _verbose(args, f"read {args.table}: {table.height} rows, {table['condition'].n_unique()} conditions")
    by = tuple(c.strip() for c in args.by.split(",")) if args.by else None
    result = stats.compare_all(table, baseline=baseline, metrics=args.metric, by=by,
                               confidence_level=args.confidence_level, alpha=args.alpha, test=args.test,
                               include_flagged=args.include_flagged)
    line.close()
    if args.format == "csv":
        sys.stdout.write(result.to_frame().write_csv())
    elif args.format == "json":
        sys.stdout.write(result.to_frame().write_json() + "\n")
    elif args.format == "text":
        sys.stdout.write(result.to_text())
    else:
        if not len(result):
            print(f"no cell has both '{baseline}' and another condition")
        for line in result.verdicts():
            print(f"- {line}")
    return 0


def _store_add(args: argparse.Namespace) -> int:
    from . import store

    parts = [c.strip() for c in args.partition_by.split(",")] if args.partition_by else None
    options = dict(_pair(o, "--option") for o in args.option)
    say = None if args.quiet else (lambda line: print(f"store: {line}", file=sys.stderr, flush=True))
    result = store.add(args.store, args.inputs, partition_by=parts, labels=_labels(args.label), format=args.format,
                       options=options, progress=say)
    rows = sum(e.rows for e in result.added)
    print(f"{len(result.added)} input(s) added ({rows} rows), {len(result.skipped)} already in the store -> {args.store}")
    return 0


def _store_ls(args: argparse.Namespace) -> int:
    from . import store

    cat = store.catalogue(args.store)
    listing = store.entries(args.store)
    print(f"{args.store}: partitioned by {','.join(cat.partitioning)}; {listing.height} input(s), "
          f"{int(listing['rows'].sum() or 0)} rows")
    for row in listing.iter_rows(named=True):
        print(f"{row['key']}  {row['rows']:>9}  {row['partitions']:>5}  {row['added']}  {row['input']}")
    return 0


def _store_rm(args: argparse.Namespace) -> int:
    from . import store

    gone = store.remove(args.store, args.inputs)
    print(f"{len(gone)} input(s) removed ({sum(e.rows for e in gone)} rows): "
          + ", ".join(e.input for e in gone))
    return 0


def _vm_summary(args: argparse.Namespace) -> int:
    from . import fleet

    source, _ = _source(args)
    summary = fleet.vm_summary(source, where=args.where, engine=args.engine, scheduler=args.scheduler)
    if args.format == "csv":
        sys.stdout.write(summary.write_csv())
        return 0
    import polars as pl

    shown = fleet.summary_columns(summary)
    with pl.Config(tbl_rows=50, tbl_cols=-1, tbl_width_chars=160, tbl_hide_dataframe_shape=True,
                   float_precision=4):
        print(shown.drop("first", "last"))
    print(f"{summary.height} VM x metric rows; values in display units (column display_unit)")
    return 0


def _run_trials(command: str, plan, args: argparse.Namespace, progress):
    """``runner.run`` for `workbench run` and `workbench lab run`: the run's result, or the
    exit status after saying what happened (a failed trial 1, an interruption 130; the
    finished trials are kept either way)."""
    from . import runner

    try:
        return runner.run(plan, args.output, resume=args.resume, progress=progress)
    except runner.TrialFailed as exc:
        print(f"workbench {command}: trial failed: {exc}", file=sys.stderr)
        print(f"finished trials are in {args.output / runner.TABLE}; fix the cause and continue with --resume",
              file=sys.stderr)
        return 1
    except runner.RunInterrupted as exc:
        print(f"workbench {command}: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # a second Ctrl-C while the run was saving what it had
        print(f"workbench {command}: interrupted: finished trials are kept in {args.output}; continue with --resume",
              file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from . import runner, storage

    if not args.resume and not args.output.exists():  # an existing folder: the runner says how to resume it
        storage.check_output(args.output, inputs=[args.plan], directory=True)
    plan = runner.load_plan(args.plan)
    progress = None if args.quiet else (lambda line: print(f"run: {line}", file=sys.stderr, flush=True))
    result = _run_trials("run", plan, args, progress)
    if isinstance(result, int):
        return result
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

    from . import lab

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

    result = _run_trials("lab", plan, args, None if args.quiet else progress)
    if isinstance(result, int):
        return result
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
