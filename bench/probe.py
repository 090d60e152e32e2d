"""Benchmark: the memory probe against a C reference built here, in the same run.

Builds a small C program at run time (gcc -O2 -march=native, into a temporary
folder): a STREAM-like copy loop and a dependent pointer chase over a random
cyclic permutation of cache lines, with the same working-set sizes, the same
calibration rule (repetitions for about `target` seconds), the same warm-up
trial and the same huge-page request as the probe. Then it alternates
C and probe rounds (C, probe, C, probe, ...) so that drift and neighbours'
load fall on both, and prints, per level, the medians and the ratio
probe / C for single-thread copy bandwidth and latency.

Targets (issues 6 and 12): DRAM copy bandwidth >= 90 % of C; DRAM latency within
+-10 % of C at the same page size (the share of each array on transparent huge
pages is read from /proc/self/smaps on both sides and printed); the whole
comparison is repeated (``--repeat``, default 3) and the ratios' spread printed.
L1/L2/L3 ratios are printed for information.

``-march=native`` because numba compiles for the host CPU too: without it
gcc would be limited to SSE2 and the cache-level ratios would compare
instruction sets rather than code.

Usage::

    .venv/bin/python bench/probe.py            # 7 trials x 2 rounds, 0.1 s per measurement
    .venv/bin/python bench/probe.py --quick    # 3 trials x 2 rounds, 0.01 s
    .venv/bin/python bench/probe.py --cflags "-O3 -march=native"

gcc 12 at -O2 leaves the copy loop scalar (its "very cheap" vectorizer cost
model; checked with objdump), numba's LLVM vectorizes it: that, not memory,
is why the L1/L2 copy ratios are far above 1.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench import machine, probe  # noqa: E402

C_SOURCE = r"""
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t *alloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, (size_t)2 << 20, bytes)) { perror("posix_memalign"); exit(3); }
#ifdef MADV_HUGEPAGE
    /* numpy asks for transparent huge pages on arrays of 4 MiB and more; so do we. */
    if (bytes >= ((size_t)4 << 20)) madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

/* STREAM's copy: c[j] = a[j]. The empty asm keeps the passes apart. */
__attribute__((noinline)) static void copy(uint64_t *restrict dst, const uint64_t *restrict src,
                                           size_t n, long reps) {
    for (long r = 0; r < reps; r++) {
        for (size_t i = 0; i < n; i++) dst[i] = src[i];
        __asm__ volatile("" ::: "memory");
    }
}

__attribute__((noinline)) static uint64_t chase(const uint64_t *chain, long steps) {
    uint64_t i = 0;
    for (long s = 0; s < steps; s++) i = chain[i];
    return i;
}

static void fill(uint64_t *a, size_t n, uint64_t v) { for (size_t i = 0; i < n; i++) a[i] = v; }

/* Share of [p, p + bytes) resident on transparent huge pages, from /proc/self/smaps
   (as workbench.probe.huge_page_share reads it); -1 where unknown. */
static double huge_share(const void *p, size_t bytes) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    unsigned long lo, hi, start = (unsigned long)p, end = start + bytes;
    long rss = 0, huge = 0, kb;
    int inside = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, ':') > strchr(line, ' ')) {
            inside = lo < end && hi > start;
        } else if (inside && sscanf(line, "Rss: %ld kB", &kb) == 1) {
            rss += kb;
        } else if (inside && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) {
            huge += kb;
        }
    }
    fclose(f);
    return rss ? (double)huge / rss : -1;
}

/* Fisher-Yates driven by splitmix64, then closed into one cycle (as the probe). */
static void build_chain(uint64_t *chain, size_t lines, size_t stride, uint64_t seed) {
    uint32_t *order = malloc(lines * sizeof *order);
    for (size_t i = 0; i < lines; i++) order[i] = (uint32_t)i;
    uint64_t x = seed;
    for (size_t i = lines - 1; i > 0; i--) {
        x += 0x9E3779B97F4A7C15ull;
        uint64_t z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        uint64_t j = ((z >> 32) * (uint64_t)(i + 1)) >> 32;
        uint32_t t = order[i]; order[i] = order[j]; order[j] = t;
    }
    for (size_t k = 0; k + 1 < lines; k++) chain[(size_t)order[k] * stride] = (uint64_t)order[k + 1] * stride;
    chain[(size_t)order[lines - 1] * stride] = (uint64_t)order[0] * stride;
    free(order);
}

static volatile uint64_t sink;

static double time_copy(uint64_t *dst, uint64_t *src, size_t n, long reps) {
    double t0 = now(); copy(dst, src, n, reps); return now() - t0;
}
static double time_chase(uint64_t *chain, long steps) {
    double t0 = now(); sink = chase(chain, steps); return now() - t0;
}

/* The probe's rule: grow until a quarter of the target, then scale. */
static long calibrate_copy(uint64_t *dst, uint64_t *src, size_t n, double target) {
    long reps = 1;
    for (;;) {
        double dt = time_copy(dst, src, n, reps);
        if (dt >= target / 4) { long r = (long)(reps * target / dt + 0.999999); return r < 1 ? 1 : r; }
        reps *= dt < target / 64 ? 8 : 2;
    }
}
static long calibrate_chase(uint64_t *chain, double target) {
    long steps = 1024;
    for (;;) {
        double dt = time_chase(chain, steps);
        if (dt >= target / 4) { long r = (long)(steps * target / dt + 0.999999); return r < 1 ? 1 : r; }
        steps *= dt < target / 64 ? 8 : 2;
    }
}

/* usage: ref TARGET_SECONDS TRIALS SEED NAME:BYTES:HALVES ... ; prints
   "NAME TRIAL copy_bytes_per_s latency_s" per level and trial (trial 0 = warm-up). */
int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s TARGET TRIALS SEED NAME:BYTES:HALVES...\n", argv[0]); return 2; }
    double target = atof(argv[1]);
    int trials = atoi(argv[2]);
    uint64_t seed = strtoull(argv[3], NULL, 10);
    int nlev = argc - 4;
    char names[16][16]; size_t n[16]; int halves[16]; uint64_t *a[16], *b[16];
    long copy_reps[16], chase_steps[16];
    for (int l = 0; l < nlev; l++) {
        size_t bytes;
        if (sscanf(argv[4 + l], "%15[^:]:%zu:%d", names[l], &bytes, &halves[l]) != 3) return 2;
        n[l] = bytes / 8;
        a[l] = alloc(bytes); b[l] = alloc(bytes);
        fill(a[l], n[l], 1); fill(b[l], n[l], 1);  /* first touch, outside the timing */
        build_chain(a[l], bytes / 64, 8, seed + (uint64_t)l);
        printf("pages %s %.4f\n", names[l], huge_share(a[l], bytes));
    }
    for (int t = 0; t < trials; t++) {
        for (int l = 0; l < nlev; l++) {
            size_t m = halves[l] ? n[l] / 2 : n[l];
            if (t == 0) {
                copy_reps[l] = calibrate_copy(b[l], a[l], m, target);
                chase_steps[l] = calibrate_chase(a[l], target);
            }
            double dc = time_copy(b[l], a[l], m, copy_reps[l]);
            double dl = time_chase(a[l], chase_steps[l]);
            printf("%s %d %.6e %.6e\n", names[l], t, 2.0 * 8 * m * copy_reps[l] / dc, dl / chase_steps[l]);
            fflush(stdout);
        }
    }
    return 0;
}
"""

FLAGS = ["-O2", "-march=native"]


def build(folder: Path, flags: list[str]) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        sys.exit("bench/probe.py: gcc not found (apt-get install gcc)")
    src = folder / "probe_ref.c"
    src.write_text(C_SOURCE, encoding="utf-8")
    exe = folder / "probe_ref"
    subprocess.run([gcc, *flags, "-o", str(exe), str(src)], check=True)
    return exe


def run_c(exe: Path, levels, trials: int, target: float, seed: int) -> dict[str, dict[str, list[float]]]:
    specs = [f"{lv.name}:{lv.size}:{int(lv.copy_halves)}" for lv in levels]
    out = subprocess.run([str(exe), repr(target), str(trials), str(seed), *specs],
                         check=True, capture_output=True, text=True).stdout
    values: dict[str, dict[str, list[float]]] = {lv.name: {"copy": [], "latency": [], "huge": []} for lv in levels}
    for line in out.splitlines():
        if line.startswith("pages "):
            _, name, share = line.split()
            values[name]["huge"].append(float(share))
            continue
        name, trial, copy_bw, latency = line.split()
        if int(trial) > 0:  # trial 0 is the warm-up, as in the probe
            values[name]["copy"].append(float(copy_bw))
            values[name]["latency"].append(float(latency))
    return values


def run_probe(trials: int, target: float, seed: int) -> dict[str, dict[str, list[float]]]:
    result = probe.run(trials=trials, target_seconds=target, all_cores=False, seed=seed)
    data = probe.measured(result.table)
    values: dict[str, dict[str, list[float]]] = {}
    for lv in result.levels:
        rows = data.filter(pl.col("component") == lv.name)
        share = result.settings["huge_page_share"].get(lv.name)
        values[lv.name] = {
            "copy": rows.filter(pl.col("metric") == "mem_copy_bw")["value"].to_list(),
            "latency": rows.filter(pl.col("metric") == "mem_latency")["value"].to_list(),
            "huge": [-1.0 if share is None else share]}
    return values


def compare_once(exe: Path, levels, trials: int, target: float, rounds: int, seed: int):
    """One comparison: `rounds` alternating C/probe rounds; per level the medians."""
    c = {lv.name: {"copy": [], "latency": [], "huge": []} for lv in levels}
    p = {lv.name: {"copy": [], "latency": [], "huge": []} for lv in levels}
    for r in range(rounds):
        for name, got in run_c(exe, levels, trials, target, seed + r).items():
            for k in got:
                c[name][k] += got[k]
        for name, got in run_probe(trials, target, seed + r).items():
            for k in got:
                p[name][k] += got[k]
    return p, c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 trials, 0.01 s per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternating C/probe rounds (default 2)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="whole comparisons, to show the spread of the ratios (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cflags", default=" ".join(FLAGS),
                        help=f"gcc flags of the reference (default {' '.join(FLAGS)!r}; try '-O3 -march=native')")
    args = parser.parse_args()
    flags = args.cflags.split()
    trials, target = (3, 0.01) if args.quick else (7, 0.1)

    caches = machine.detect_caches(machine.usable_cpus())
    levels = probe.plan(caches)
    print("levels: " + ", ".join(f"{lv.name} {probe.format_size(lv.size)}" for lv in levels))
    print(f"trials {trials} (first = warm-up, dropped) x {args.rounds} rounds x {args.repeat} repeats, "
          f"{target} s per measurement, single thread; C: gcc {' '.join(flags)}")
    t0 = time.perf_counter()
    ratios: dict[str, list[float]] = {"copy": [], "latency": []}
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as tmp:
        exe = build(Path(tmp), flags)
        for rep in range(args.repeat):
            p, c = compare_once(exe, levels, trials, target, args.rounds, args.seed + 100 * rep)
            print(f"\nrepeat {rep + 1}/{args.repeat}")
            print(f"{'level':<7} {'copy probe':>12} {'copy C':>12} {'ratio':>6}   "
                  f"{'lat probe':>10} {'lat C':>10} {'ratio':>6}   {'THP probe/C':>12}   (medians; MB/s, ns)")
            for lv in levels:
                pc, cc = statistics.median(p[lv.name]["copy"]), statistics.median(c[lv.name]["copy"])
                pl_, cl = statistics.median(p[lv.name]["latency"]), statistics.median(c[lv.name]["latency"])
                ph, ch = min(p[lv.name]["huge"]), min(c[lv.name]["huge"])
                pages = f"{ph:.0%}/{ch:.0%}" if ph >= 0 and ch >= 0 else "?"
                print(f"{lv.name:<7} {pc / 1e6:12.0f} {cc / 1e6:12.0f} {pc / cc:6.3f}   "
                      f"{pl_ * 1e9:10.2f} {cl * 1e9:10.2f} {pl_ / cl:6.3f}   {pages:>12}")
                if lv.name == "memory":
                    ratios["copy"].append(pc / cc)
                    ratios["latency"].append(pl_ / cl)
                    if ph >= 0 and ch >= 0 and abs(ph - ch) > 0.1:
                        print(f"        pages differ: probe {ph:.0%} vs C {ch:.0%} on huge pages: "
                              "the latencies are not comparable")
    print(f"\nelapsed {time.perf_counter() - t0:.1f} s\n")
    cr, lr = ratios["copy"], ratios["latency"]
    print(f"DRAM copy ratio probe/C over {len(cr)} repeats: median {statistics.median(cr):.3f}, "
          f"spread {min(cr):.3f}-{max(cr):.3f}")
    print(f"DRAM latency ratio probe/C over {len(lr)} repeats: median {statistics.median(lr):.3f}, "
          f"spread {min(lr):.3f}-{max(lr):.3f}")
    for what, ok, value in (("DRAM copy >= 90 % of C", statistics.median(cr) >= 0.90, statistics.median(cr)),
                            ("DRAM latency within +-10 % of C", 0.90 <= statistics.median(lr) <= 1.10,
                             statistics.median(lr))):
        print(f"{'met   ' if ok else 'MISSED'} {what}: median ratio {value:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
