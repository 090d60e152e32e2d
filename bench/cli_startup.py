"""Start-up of the command line (issue 16): ``workbench --help`` and ``workbench COMMAND
--help`` against ``python -c pass`` in the same run (the interpreter's own start-up), and
``python -c "import polars"`` as what a heavy import would cost.

Each command is run 7 times in a fresh process; the medians are printed with the extra
seconds over ``python -c pass`` (target: +0.3 s at most). Asserts nothing.

Run: ``.venv/bin/python bench/cli_startup.py``.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time

ROUNDS = 7


def median_seconds(argv: list[str]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    py = sys.executable
    reference = median_seconds([py, "-c", "pass"])
    cases = {
        "workbench --help": [py, "-m", "workbench", "--help"],
        "workbench compare --help": [py, "-m", "workbench", "compare", "--help"],
        "workbench --version": [py, "-m", "workbench", "--version"],
        # what `workbench capture` loads before its first sample (issue 17: no polars)
        "import workbench.cli, workbench.capture": [py, "-c", "import workbench.cli, workbench.capture"],
        "python -c 'import polars' (for scale)": [py, "-c", "import polars"],
    }
    print(f"reference: python -c pass  {reference * 1e3:7.1f} ms (median of {ROUNDS})")
    print(f"{'command':<40} {'median':>9} {'extra':>9}  target +300 ms")
    for name, argv in cases.items():
        t = median_seconds(argv)
        extra = t - reference
        verdict = "" if "polars" in name else ("ok" if extra <= 0.3 else "MISS")
        print(f"{name:<40} {t * 1e3:7.1f} ms {extra * 1e3:+7.1f} ms  {verdict}")


if __name__ == "__main__":
    main()
