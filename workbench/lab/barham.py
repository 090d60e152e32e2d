"""The lab's results next to Barham et al., "Xen and the Art of Virtualization" (SOSP 2003).

Barham et al. measured native Linux 2.4 (L), XenoLinux (X), VMware Workstation 3.2 (V)
and User-mode Linux (U) on one 2.4 GHz Xeon: macro benchmarks as relative performance
(Figure 3) and lmbench operations in microseconds (Tables 3-5). Their numbers are
shipped in ``data/barham2003/`` (copied with provenance).

The matches are by operation, not by program: vbench times the operation lmbench
times (a null syscall, fork, fork+exec, a 2-process context switch, a page fault, an
mmap), and its CPU kernel stands where SPEC INT2000 stands (CPU-bound user code). The
techniques are matched by kind, and the match is loose: our ``emulated`` is QEMU's TCG,
which translates every guest instruction, while VMware Workstation 3.2 ran guest user
code directly and translated only the guest kernel; our ``paravirtualized`` is
User-mode Linux 6.1 on ptrace (SKAS0), theirs UML 2.4 with the skas3 host patch.
``hw-virtualized`` (KVM) has no counterpart in 2003 (no VT-x yet); Xen is shown for
reference.

Relative performance is native over the environment for times and the environment
over native for rates and scores, as in their Figure 3: 1 is native speed, 0.1 is
ten times slower.
"""
from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from ..errors import WorkbenchError

#: Our metric -> (their table, their row, label); their table "fig3" is Figure 3, "lmbench" Tables 3-5.
MATCHES: dict[str, tuple[str, str, str]] = {
    "syscall_latency": ("lmbench", "null call", "null syscall"),
    "fork_latency": ("lmbench", "fork proc", "fork"),
    "exec_latency": ("lmbench", "exec proc", "fork+exec"),
    "ctxsw_latency": ("lmbench", "2p/0K", "context switch"),
    "pagefault_latency": ("lmbench", "page fault", "page fault"),
    "mmap_latency": ("lmbench", "mmap lat", "mmap"),
    "cpu_op_time": ("fig3", "SPEC INT2000", "CPU-bound"),
}
#: Metrics of ours without a counterpart in the paper (shown on our side only).
OURS_ONLY = {"stream_copy_bw": "memory copy", "stream_triad_bw": "memory triad", "mem_latency": "memory latency"}
#: Our environment -> their system (column) of the same kind.
TECHNIQUES = {"emulated": "VMW", "paravirtualized": "UML", "hw-virtualized": None}
THEIR_NAMES = {"L": "native Linux", "Xen": "Xen", "VMW": "VMware Workstation 3.2", "UML": "User-mode Linux"}
_FIG3_COLUMNS = {"L": "L", "X": "Xen", "V": "VMW", "U": "UML"}
_LOWER = {"syscall_latency", "fork_latency", "exec_latency", "ctxsw_latency", "pagefault_latency", "mmap_latency",
          "cpu_op_time", "mem_latency"}


def reference(folder: str | os.PathLike) -> pl.DataFrame:
    """Their relative performance: benchmark, system (L, Xen, VMW, UML), relative, value, unit.

    Raises
    ------
    WorkbenchError
        A file is missing or lacks a row or column the matches need.
    """
    folder = Path(folder)
    rows = []
    try:
        lm = pl.read_csv(folder / "barham2003_lmbench.csv", comment_prefix="#")
        fig3 = pl.read_csv(folder / "barham2003_fig3_relative_performance.csv", comment_prefix="#")
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise WorkbenchError(f"{folder}: Barham et al.'s tables cannot be read ({exc})") from None
    for metric, (table, row, label) in MATCHES.items():
        if table == "lmbench":
            found = lm.filter(pl.col("metric") == row)
            systems = {"L": "L-UP", "Xen": "Xen", "VMW": "VMW", "UML": "UML"}
            unit, higher = "us", False
        else:
            found = fig3.filter(pl.col("benchmark") == row)
            systems = {v: k for k, v in _FIG3_COLUMNS.items()}
            unit = found["unit"][0] if found.height else ""
            higher = bool(found["higher_is_better"][0]) if found.height else True
        if found.height != 1:
            raise WorkbenchError(f"{folder}: expected one row '{row}' in Barham et al.'s {table} table, "
                                 f"found {found.height}")
        native = float(found[systems["L"]][0])
        for system, column in systems.items():
            value = float(found[column][0])
            relative = value / native if higher else native / value
            rows.append(dict(benchmark=label, metric=metric, system=system, value=value, unit=unit,
                             relative=relative))
    return pl.DataFrame(rows)


def relative_performance(ratios: pl.DataFrame) -> pl.DataFrame:
    """Ours, from a comparison against native (``stats.compare_all(...).to_frame()``):
    benchmark, metric, environment, relative, low, high (the interval turned the same way)."""
    out = []
    labels = {m: v[2] for m, v in MATCHES.items()} | OURS_ONLY
    for row in ratios.iter_rows(named=True):
        metric = row["metric"]
        if metric not in labels or row["condition"] not in TECHNIQUES:
            continue
        ratio, low, high = row["ratio"], row.get("ratio_low"), row.get("ratio_high")
        if metric in _LOWER:
            rel = 1 / ratio if ratio else None
            lo, hi = (1 / high if high else None), (1 / low if low else None)
        else:
            rel, lo, hi = ratio, low, high
        out.append(dict(benchmark=labels[metric], metric=metric, environment=row["condition"], relative=rel,
                        low=lo, high=hi))
    order = {m: i for i, m in enumerate([*MATCHES, *OURS_ONLY])}
    frame = pl.DataFrame(out, schema={"benchmark": pl.String, "metric": pl.String, "environment": pl.String,
                                      "relative": pl.Float64, "low": pl.Float64, "high": pl.Float64})
    return frame.with_columns(pl.col("metric").replace_strict(order, default=99).alias("_o")).sort(
        "_o", "environment").drop("_o")


def they_found_we_find(ours: pl.DataFrame, theirs: pl.DataFrame) -> pl.DataFrame:
    """Per matched benchmark: their relative performance of VMware and UML, ours of emulated
    and paravirtualized, which of the two is slower in each, and whether the order agrees."""
    rows = []
    for metric, (_, _, label) in MATCHES.items():
        t = {r["system"]: r["relative"] for r in theirs.filter(pl.col("metric") == metric).iter_rows(named=True)}
        o = {r["environment"]: r["relative"] for r in ours.filter(pl.col("metric") == metric).iter_rows(named=True)}
        em, pv = o.get("emulated"), o.get("paravirtualized")
        their_order = _slower("VMware", t.get("VMW"), "UML", t.get("UML"))
        our_order = _slower("emulated", em, "paravirtualized", pv)
        same = None
        if their_order and our_order:
            same = their_order.startswith("VMware") == our_order.startswith("emulated")
        rows.append({"benchmark": label, "they: VMware": t.get("VMW"), "they: UML": t.get("UML"),
                     "they: Xen": t.get("Xen"), "we: emulated": em, "we: paravirtualized": pv,
                     "we: hw-virtualized": o.get("hw-virtualized"), "they found slower": their_order,
                     "we find slower": our_order,
                     "order": None if same is None else ("same" if same else "differs")})
    return pl.DataFrame(rows, schema_overrides={k: pl.Float64 for k in ("they: VMware", "they: UML", "they: Xen",
                                                                        "we: emulated", "we: paravirtualized",
                                                                        "we: hw-virtualized")})


def _slower(a: str, ra: float | None, b: str, rb: float | None) -> str | None:
    if ra is None or rb is None:
        return None
    if ra == rb:
        return "neither"
    slow, fast, rs, rf = (a, b, ra, rb) if ra < rb else (b, a, rb, ra)
    times = rf / rs
    return f"{slow} ({(times - 1) * 100:.0f} % slower than {fast})" if times < 1.5 else \
        f"{slow} ({times:.1f}x slower than {fast})"


def order_notes(table: pl.DataFrame) -> list[str]:
    """One sentence per matched benchmark where our order of emulation and paravirtualization
    differs from theirs of VMware and UML (from :func:`they_found_we_find`)."""
    notes = []
    for row in table.iter_rows(named=True):
        if row["order"] != "differs":
            continue
        notes.append(f"{row['benchmark']}: they found {row['they found slower']} (VMware {row['they: VMware']:.3g}, "
                     f"UML {row['they: UML']:.3g} of native); we find {row['we find slower']} (emulated "
                     f"{row['we: emulated']:.3g}, paravirtualized {row['we: paravirtualized']:.3g} of native)")
    return notes
