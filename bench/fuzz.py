"""Long bad-input campaign over every reader (issue 18): counts per format and outcome.

Cases, drawn at random until the time is up (seeded, so a run can be repeated):

* 80 %: a real sample (tests/fixtures, data/) mutated by ``tests/fuzzing.mutate`` (numbers
  replaced by ``1e999``, ``１２３``, 5000 digits, ``Infinity``...; tokens inserted; truncation;
  bit flips; lines duplicated, deleted, swapped), read with the sample's format;
* 10 %: random bytes, forced to a random reader;
* 10 %: a mutated sample through the whole command, ``workbench ingest IN -o OUT``
  (in-process), in a fresh folder: the outcome, and any file left besides IN and OUT
  (a temporary, a half-written output) is counted as a leftover.

Outcomes (``tests/fuzzing.py``): table, refused (a one-line WorkbenchError), infinite (a
table holding inf), traceback (any other exception), hung (stopped after `--hang` seconds),
plus slow (a case over `--slow` seconds) and leftover files. Prints the table and the first example of each distinct
defect. Run: ``PYTHONPATH=. .venv/bin/python bench/fuzz.py --minutes 5``. Asserts nothing.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import io
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import fuzzing  # noqa: E402

OUTCOMES = ("table", "refused", "infinite", "traceback", "hung")


def ingest_case(sample: fuzzing.Sample, data: bytes) -> tuple[fuzzing.Outcome, int]:
    """``workbench ingest`` on `data` in a fresh folder: the outcome and the leftover files."""
    from workbench import cli

    with tempfile.TemporaryDirectory(prefix="workbench-fuzz-") as folder:
        src = Path(folder) / f"in{''.join(sample.path.suffixes[-2:]) or '.bin'}"
        src.write_bytes(data)
        out = Path(folder) / "out.parquet"
        err = io.StringIO()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                rc = cli.main(["ingest", str(src), "--format", sample.format, "-o", str(out), "-q"])
        except SystemExit as exc:  # argparse: a usage error is exit 2, not a defect
            rc = exc.code if isinstance(exc.code, int) else 2
        except Exception as exc:  # noqa: BLE001 - what the campaign exists to find
            return fuzzing.Outcome("traceback", f"ingest: {type(exc).__name__}: {str(exc)[:200]}"), 0
        expected = {src.name} | ({out.name} if rc == 0 else set())
        left = [p.name for p in Path(folder).iterdir() if p.name not in expected]
        if rc not in (0, 2):
            return fuzzing.Outcome("traceback", f"ingest exit {rc}: {err.getvalue()[:200]}"), len(left)
        errors = [line for line in err.getvalue().splitlines() if not line.startswith("workbench ingest: warning:")]
        if rc == 2 and len(errors) != 1:  # warnings first, then one error line
            return fuzzing.Outcome("traceback", f"ingest: not one line: {err.getvalue()[-300:]}"), len(left)
        if rc == 0:
            from workbench import storage

            table = storage.read_table(out)
            for column in ("value", "interval"):
                if table[column].is_infinite().fill_null(False).any():
                    return fuzzing.Outcome("infinite", f"ingest wrote inf in {column}"), len(left)
        return fuzzing.Outcome("table" if rc == 0 else "refused", ""), len(left)


class _Hung(BaseException):
    """Raised by SIGALRM in a case past --hang seconds (not an Exception: `judge` must not
    take it for the reader's own error)."""


def _alarm(signum, frame):
    raise _Hung


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--max-bytes", type=int, default=4 << 20, help="largest sample to mutate (default 4 MiB)")
    parser.add_argument("--slow", type=float, default=10.0, help="seconds above which a case counts as slow")
    parser.add_argument("--hang", type=float, default=60.0, help="seconds after which a case is stopped as hung")
    args = parser.parse_args()

    from workbench import readers

    rng = random.Random(args.seed)
    samples = fuzzing.samples(args.max_bytes)
    names = sorted(readers.formats())
    contents = {s: s.path.read_bytes() for s in samples}
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    examples: dict[str, tuple[str, str, str]] = {}
    slow: list[tuple[float, str, str]] = []
    cases = 0
    print(f"{len(samples)} samples in {len(set(s.format for s in samples))} formats; seed {args.seed}; "
          f"{args.minutes:g} min", flush=True)
    signal.signal(signal.SIGALRM, _alarm)
    deadline = time.monotonic() + args.minutes * 60
    while time.monotonic() < deadline:
        cases += 1
        roll = rng.random()
        if roll < 0.1:
            fmt = rng.choice(names)
            data = rng.randbytes(rng.randrange(4000))
            sample, label, what = None, f"{fmt} <- random bytes", f"{len(data)} random bytes"
        else:
            sample = rng.choice(samples)
            fmt = sample.format if roll >= 0.2 else f"{sample.format} (ingest)"
            data, what = fuzzing.mutate(contents[sample], rng)
            label = sample.source
        started = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, args.hang)
        try:
            if sample is None:
                outcome = fuzzing.judge(fmt, data, "fuzz.bin")
            elif roll < 0.2:
                outcome, left = ingest_case(sample, data)
                if left:
                    counts[fmt]["leftover"] += left
                    examples.setdefault(f"leftover {fmt}", (label, what, f"{left} file(s)"))
            else:
                outcome = fuzzing.judge(fmt, data, sample.source)
        except _Hung:
            outcome = fuzzing.Outcome("hung", f"stopped after {args.hang:g} s")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        seconds = time.monotonic() - started
        if seconds > args.slow:
            slow.append((seconds, label, what))
            counts[fmt]["slow"] += 1
        counts[fmt][outcome.kind] += 1
        if outcome.kind in ("infinite", "traceback", "hung"):
            key = f"{outcome.kind} {fmt}: {outcome.detail.splitlines()[0][:100]}"
            examples.setdefault(key, (label, what, outcome.detail))
        if cases % 500 == 0:
            print(f"... {cases} cases", file=sys.stderr, flush=True)

    columns = (*OUTCOMES, "slow", "leftover")
    print(f"\n{'format':<32}" + "".join(f"{c:>10}" for c in columns) + f"{'cases':>10}")
    totals: collections.Counter = collections.Counter()
    for fmt in sorted(counts):
        row = counts[fmt]
        totals.update(row)
        n = sum(row[c] for c in OUTCOMES)
        print(f"{fmt:<32}" + "".join(f"{row[c]:>10}" for c in columns) + f"{n:>10}")
    print(f"{'total':<32}" + "".join(f"{totals[c]:>10}" for c in columns) + f"{cases:>10}")
    print(f"\n{len(examples)} distinct defects" + (":" if examples else ""))
    for key, (label, what, detail) in sorted(examples.items()):
        print(f"- {key}\n    input: {label} ({what})\n    " + detail.replace("\n", "\n    ")[:900])
    for seconds, label, what in sorted(slow, reverse=True)[:10]:
        print(f"slow: {seconds:.1f} s {label} ({what})")


if __name__ == "__main__":
    main()
