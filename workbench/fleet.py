"""Fleet scale: the aggregations that reduce a store to what the statistics need, lazily
(polars) or on a cluster (Dask), and where a value stands in a fleet.

Which step runs where, and why
------------------------------
1. **Scan and filter** (:func:`workbench.store.scan`): polars ``scan_parquet`` over the
   store's part files; a ``--where`` on partition columns skips folders, other filters
   and the columns used are pushed into the Parquet reader.
2. **Reduce** (this module): the per-run aggregation that feeds ``compare``
   (:func:`run_table`: one row per run and label set, with its sample count), the
   per-VM summary (:func:`vm_summary`) and the VM-as-replicate table
   (:func:`per_guest`). This is where the data's size is: with ``engine="polars"`` it
   is a lazy ``group_by`` collected by the streaming engine, so memory follows the
   result (runs, VMs), not the rows. A per-VM summary of a store goes further, since
   polars' streaming group-by alone keeps partial states whose size grows with the rows
   when the groups number hundreds of thousands (bench/fleet.py): it runs partition by
   partition where the store is partitioned by VM keys (such as ``condition,metric``;
   the results are disjoint), reads each partition's files in batches of
   :data:`BATCH_ROWS` rows, and merges each batch's per-VM states (count, sum, squared
   deviations, extremes) into the running ones (Chan et al.'s formula: the standard
   deviation is as exact as one pass over the rows), with the keys dictionary-encoded
   (Categorical) while it reduces; with ``engine="dask"`` the same aggregation runs
   as a ``dask.dataframe`` group-by over the same part files (each read and filtered by
   polars on a worker), on a ``distributed`` scheduler at any address, so the rows
   never leave the workers.
3. **Statistics** (:mod:`workbench.stats`, :mod:`workbench.levels`): always local, on
   the reduced table. They need every run's value together (intervals, tests, Holm
   across all cells, bootstrap), the reduced table is small (one row per run or VM),
   and one code path keeps the verdicts identical whatever the engine.

Equivalence with the in-memory path
-----------------------------------
:func:`run_table` keeps, per run, the mean of its values (or the best of them for
``aggregate = best``) and the number of samples; :func:`workbench.stats.run_values`
weights by that count, so each run's value is the one it computes from the raw rows
(to rounding). Rows it must see one by one stay raw: bounds, and the runs of a cell and
condition that has only one run (its interval comes from the samples' autocorrelation).
Two things are coarser than on raw rows: the guest ``cpu_steal`` shown beside
``cpu_util`` is the median of run means, and the "run combines several files" warning
is not given.

Layer: imports :mod:`schema`, :mod:`store` and :mod:`errors`; Dask only when asked.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from . import schema, store
from .errors import WorkbenchError

ENGINES = ("polars", "dask")
#: Columns that identify a run and its labels (everything but time, value and source_file).
RUN_KEYS = tuple(c for c in schema.TABLE_COLUMNS if c not in ("time", "value", "source_file"))
#: A per-VM summary's keys.
VM_KEYS = ("condition", "host", "guest", "metric", "component", "stage", "unit")


def _source(source: str | Any, where: str | None) -> pl.LazyFrame:
    if isinstance(source, pl.LazyFrame):
        return source if where is None else store.filtered(source, where)
    if isinstance(source, pl.DataFrame):
        lf = source.lazy()
        return lf if where is None else store.filtered(lf, where)
    return store.scan(source, where)


def _higher() -> pl.Expr:
    return pl.col("metric").is_in([n for n, m in schema.METRICS.items() if m.direction is schema.Direction.HIGHER])


# --------------------------------------------------------------------------- the per-run aggregation


def run_table(source: Any, *, where: str | None = None, engine: str = "polars",
              scheduler: str | None = None) -> pl.DataFrame:
    """The table ``compare`` needs from a store (or a table, or a LazyFrame): one row per
    run and label set with its mean (or best) and a ``samples`` count, plus the rows
    that must stay raw (module docstring). :func:`workbench.stats.compare_all` on it
    gives what it gives on the rows.

    Parameters
    ----------
    source : store folder, polars.DataFrame or polars.LazyFrame
    where : str, optional
        SQL condition (:func:`workbench.store.filtered`).
    engine : "polars" or "dask"
        Where the reduction runs; see the module docstring.
    scheduler : str, optional
        A Dask scheduler address (``tcp://host:8786``), or a ``distributed.Client``;
        default: Dask's current client or its local scheduler.
    """
    _check_engine(engine, source)
    if engine == "dask":
        partial = _dask_partials(source, where, scheduler)
    else:
        partial = _partials(_source(source, where)).collect(engine="streaming")
    reduced = _finish(partial)
    # Cells where a condition has one run: its samples are the data (one-run intervals).
    keys = [k for k in RUN_KEYS if k != "run"]
    single = (reduced.filter(pl.col("run").n_unique().over(keys) == 1)
              .filter((pl.col("timed") > 1) & pl.col("bound").is_null()))
    keep = [c for c in schema.TABLE_COLUMNS]
    out = [reduced.filter(pl.col("bound").is_null()).join(single.select(keys + ["run"]), on=keys + ["run"],
                                                            how="anti", nulls_equal=True)
           .select(*keep, "samples")]
    if single.height or reduced["bound"].is_not_null().any():
        # Few rows (bounds, one-run cells): read here, whatever the engine.
        raw = _source(source, where).select(schema.TABLE_COLUMNS)
        bounds = raw.filter(pl.col("bound").is_not_null())
        chosen = raw.join(single.lazy().select(keys + ["run"]), on=keys + ["run"], how="semi", nulls_equal=True)
        extra = pl.concat([bounds, chosen]).collect(engine="streaming")
        out.append(extra.with_columns(samples=pl.lit(1, pl.UInt32)))
    return pl.concat(out, how="vertical_relaxed")


def _partials(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Per run and label set: count, sum, min and max of the non-NaN values, times."""
    ok = pl.col("value").is_not_nan()
    return (lf.select(*RUN_KEYS, "time", "value", "source_file")
            .group_by(RUN_KEYS)
            .agg(n=ok.sum().cast(pl.Int64), total=pl.col("value").filter(ok).sum(),
                 low=pl.col("value").filter(ok).min(), high=pl.col("value").filter(ok).max(),
                 timed=pl.col("time").is_not_null().sum().cast(pl.Int64), time=pl.col("time").max(),
                 source_file=pl.col("source_file").min()))


def _finish(partial: pl.DataFrame) -> pl.DataFrame:
    best = pl.when(_higher()).then(pl.col("high")).otherwise(pl.col("low"))
    mean = pl.when(pl.col("n") > 0).then(pl.col("total") / pl.col("n")).otherwise(float("nan"))
    return (partial.with_columns(value=pl.when(pl.col("n") == 0).then(float("nan"))  # kept: "no value" is data
                                 .when(pl.col("aggregate") == "best").then(best).otherwise(mean),
                                 samples=pl.col("n").cast(pl.UInt32))
            .sort(list(RUN_KEYS), nulls_last=True))


# --------------------------------------------------------------------------- per VM


def vm_summary(source: Any, *, where: str | None = None, engine: str = "polars",
               scheduler: str | None = None) -> pl.DataFrame:
    """Per VM (condition, host, guest, metric, component, stage, unit): runs, mean, std
    (n - 1), min, max, first and last time, in canonical units; rows with a guest only,
    NaN values and bounds left out. Sorted by the keys (as text); the keys keep the
    source's types (String or Categorical)."""
    _check_engine(engine, source)
    if isinstance(source, (pl.DataFrame, pl.LazyFrame)):
        lf = _source(source, where)
        dtypes = lf.collect_schema()
        part = _vm_partials(lf).collect(engine="streaming")
    elif engine == "dask":
        dtypes = store.scan(source).collect_schema()
        part = _dask_vm_partials(source, where, scheduler)
    else:
        cat = store.catalogue(source)
        dtypes = store.scan(source, cat=cat).collect_schema()
        part = pl.concat([_vm_group(source, where, files, cat) for files in store.groups(source, VM_KEYS, cat=cat)]
                         or [_vm_partials(store.scan(source, where, cat=cat)).collect(engine="streaming")])
    return _vm_finish(part, dtypes)


#: Rows a per-VM summary of a store reads in one streaming query: what bounds its memory.
BATCH_ROWS = 4_000_000


def _vm_group(root: Any, where: str | None, files: list[Path], cat: store.Catalogue) -> pl.DataFrame:
    """The per-VM partial states of one group of part files (:func:`workbench.store.groups`):
    the files read in batches of about :data:`BATCH_ROWS` rows, each batch reduced by a
    streaming query and merged into the states so far. Polars' streaming group-by alone
    keeps partial states that grow with the rows when the groups number hundreds of
    thousands (bench/fleet.py); this way memory follows the groups and one batch."""
    import pyarrow.parquet as pq

    batches: list[list[Path]] = [[]]
    rows = 0
    for f in files:
        n = pq.read_metadata(f).num_rows  # the footer only
        if batches[-1] and rows + n > BATCH_ROWS:
            batches.append([])
            rows = 0
        batches[-1].append(f)
        rows += n
    done = None
    for batch in batches:
        part = _vm_partials(store.scan(root, where, files=batch, cat=cat)).collect(engine="streaming")
        done = part if done is None else _vm_merge(pl.concat([done, part]))
    return done


def _vm_partials(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Per VM: runs, sum, sum of squared deviations from the VM's mean (``m2``), min, max,
    first and last time. The keys are dictionary-encoded (Categorical; a no-op for a store
    that holds them so): their hash table and the states stay small however many VMs."""
    v = pl.col("value")
    return (lf.filter(pl.col("guest").is_not_null() & v.is_not_nan() & pl.col("bound").is_null())
            .select(*(pl.col(k).cast(pl.Categorical) for k in VM_KEYS), "value", "time")
            .group_by(VM_KEYS)
            .agg(runs=pl.len().cast(pl.Int64), total=v.sum(), m2=v.var(ddof=0) * pl.len(), low=v.min(), high=v.max(),
                 first=pl.col("time").min(), last=pl.col("time").max()))


def _vm_merge(parts: pl.DataFrame) -> pl.DataFrame:
    """Partial states of the same VMs from different rows merged into one per VM: counts,
    sums, extremes add up; the squared deviations by Chan et al.'s pairwise formula (each
    part's m2 plus its count times its mean's squared distance from the merged mean), as
    exact as one pass over all the rows."""
    n, total = pl.col("runs"), pl.col("total")
    centre = total.sum() / n.sum()
    return parts.group_by(VM_KEYS).agg(
        runs=n.sum(), total=total.sum(), m2=pl.col("m2").sum() + (n * (total / n - centre) ** 2).sum(),
        low=pl.col("low").min(), high=pl.col("high").max(), first=pl.col("first").min(), last=pl.col("last").max())


def _vm_finish(part: pl.DataFrame, dtypes: Any) -> pl.DataFrame:
    n = pl.col("runs")
    if "m2" in part.columns:  # polars
        part = part.with_columns(std=(pl.col("m2") / (n - 1)).sqrt())
    else:  # Dask: from sums of the values shifted by their metric's mean
        d = pl.col("shifted")
        var = ((pl.col("squares") - d * d / n) / (n - 1)).clip(lower_bound=0.0)
        part = part.with_columns(std=var.sqrt())
    keys = [pl.col(k).cast(dtypes.get(k, schema.TABLE_SCHEMA[k])) for k in VM_KEYS]
    return (part.with_columns(mean=pl.col("total") / n, std=pl.when(n > 1).then(pl.col("std")).otherwise(None))
            .select(*keys, "runs", "mean", "std", "low", "high", "first", "last")
            .sort([pl.col(k).cast(pl.String) for k in VM_KEYS], nulls_last=True))


def per_guest(source: Any, *, where: str | None = None, engine: str = "polars",
              scheduler: str | None = None) -> pl.DataFrame:
    """A measurement table with the VM as the replicate: one row per VM (and metric,
    component, stage), its value the mean of its runs, ``run`` the VM's number within
    its condition and host (1, 2, ... in guest order), ``guest``, ``time`` and
    ``interval`` null (the VM is the run: a comparison pools the VMs of a condition
    instead of comparing VM with VM), ``aggregate`` single, ``samples`` the VM's runs.
    For a fleet whose VMs, not their repetitions, are the independent units (the Azure
    VM noise dataset)."""
    s = vm_summary(source, where=where, engine=engine, scheduler=scheduler)
    lf = _source(source, where) if engine == "polars" else None
    labels = (lf.select("condition", "host", "guest", "experiment", "hypervisor", "scope", "source")
              .unique(subset=["condition", "host", "guest"], keep="any").collect(engine="streaming")
              if lf is not None else _dask_labels(source, where, scheduler))
    s = s.join(labels, on=["condition", "host", "guest"], how="left", nulls_equal=True)
    out = (s.sort("condition", "host", "guest")
           .with_columns(run=pl.col("guest").rank("dense").over("condition", "host").cast(pl.Int32))
           .select(experiment=pl.col("experiment"), condition=pl.col("condition"), hypervisor=pl.col("hypervisor"),
                   host=pl.col("host"), guest=pl.lit(None, pl.String), scope=pl.col("scope"), stage=pl.col("stage"),
                   run=pl.col("run"), time=pl.lit(None, schema.UTC_TIME), interval=pl.lit(None, pl.Float64),
                   aggregate=pl.lit("single"), metric=pl.col("metric"), component=pl.col("component"),
                   value=pl.col("mean"), unit=pl.col("unit"), source=pl.col("source"),
                   source_file=pl.lit("per-guest means"), samples=pl.col("runs").cast(pl.UInt32)))
    return out


def differences(a: pl.DataFrame, b: pl.DataFrame, *, rel: float = 1e-9) -> list[str]:
    """What differs between two results of the same query (say, polars and Dask): keys
    and counts exactly, floats to `rel` (a ``std`` to `rel` of its ``mean``, which
    sums of squares cannot beat for a VM whose values hardly vary). Empty when the same."""
    if a.columns != b.columns or a.height != b.height:
        return [f"shapes {a.shape} and {b.shape}, columns {a.columns} and {b.columns}"]
    out = []
    for c in a.columns:
        x, y = a[c], b[c]
        if x.dtype == pl.Float64:
            scale = a["mean"].abs() if c == "std" and "mean" in a.columns else x.abs()
            bad = ((x - y).abs() > rel * scale) | (x.is_null() != y.is_null())
            if bad.fill_null(False).any():
                i = int(bad.fill_null(False).arg_max())
                out.append(f"{c}: row {i}: {x[i]!r} and {y[i]!r}")
        elif not x.equals(y):
            out.append(f"{c}: differs")
    return out


def standing(value: float, fleet: pl.DataFrame) -> dict[str, float]:
    """Where `value` stands among a fleet's per-VM means (:func:`vm_summary` rows of one
    metric): its percentile (share of VMs below it, ties half), the VMs' median, the
    spread between VMs (standard deviation of their means) and within a VM (root mean
    of the VMs' variances, VMs with 2 or more runs)."""
    means = fleet["mean"].drop_nulls()
    if means.is_empty():
        raise WorkbenchError("no VM in the fleet to compare with")
    below = float((means < value).sum()) + 0.5 * float((means == value).sum())
    within = fleet.filter(pl.col("runs") > 1)["std"]
    return {"percentile": 100.0 * below / means.len(), "vms": float(means.len()), "median": float(means.median()),
            "between_sd": float(means.std()) if means.len() > 1 else float("nan"),
            "within_sd": float((within ** 2).mean() ** 0.5) if within.len() else float("nan")}


# --------------------------------------------------------------------------- Dask


def _check_engine(engine: str, source: Any) -> None:
    if engine not in ENGINES:
        raise WorkbenchError(f"engine must be one of {', '.join(ENGINES)}, found {engine!r}")
    if engine == "dask" and not (isinstance(source, (str, bytes)) or hasattr(source, "__fspath__")):
        raise WorkbenchError("--engine dask reads a store (a folder `workbench store add` made), not a table in memory")


def _client(scheduler: Any):
    try:
        import dask.dataframe  # noqa: F401
        from distributed import Client, default_client
    except ImportError:
        raise WorkbenchError("--engine dask needs dask[dataframe] and distributed: "
                             "pip install 'dask[dataframe]' distributed") from None
    if scheduler is None:
        try:
            return default_client()
        except ValueError:
            return None  # Dask's local threaded scheduler
    if isinstance(scheduler, str):
        try:
            return Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise WorkbenchError(f"--scheduler {scheduler}: cannot reach a Dask scheduler ({exc})") from None
    return scheduler


def _read_part(path: str, partitioning: tuple[str, ...], where: str | None, columns: list[str]):
    """One part file as pandas (on a worker): read and filtered by polars, as the local path does."""
    lf = pl.scan_parquet(path, hive_partitioning=True, hive_schema=store.hive_schema(partitioning))
    extra = [p for p in partitioning if p not in schema.TABLE_SCHEMA]
    lf = lf.select(*schema.TABLE_COLUMNS, *extra)
    if where is not None:
        lf = store.filtered(lf, where)
    # labels go to pandas as plain strings: pandas' categoricals differ per partition
    return lf.select(columns).with_columns(pl.col(pl.Categorical).cast(pl.String)).collect().to_pandas()


def _frame(source: Any, where: str | None, columns: list[str]):
    import dask.dataframe as dd

    if where is not None:
        store.filtered(store.scan(source), where)  # refused here, before any worker runs it
    cat = store.catalogue(source)
    files = [str(p) for p in cat.files(Path(source))]
    meta = pl.DataFrame(schema=schema.TABLE_SCHEMA).select(columns).with_columns(
        pl.col(pl.Categorical).cast(pl.String)).to_pandas()
    if not files:
        return dd.from_pandas(meta, npartitions=1)
    return dd.from_map(_read_part, files, partitioning=cat.partitioning, where=where, columns=columns, meta=meta,
                       enforce_metadata=False)


def _compute(client, *collections):
    import dask

    if client is None:
        return dask.compute(*collections)
    return client.compute(list(collections), sync=True)


def _dask_partials(source: Any, where: str | None, scheduler: Any) -> pl.DataFrame:
    client = _client(scheduler)
    df = _frame(source, where, [*RUN_KEYS, "time", "value", "source_file"])
    ok = ~df["value"].isna()
    df = df.assign(n=ok.astype("int64"), v=df["value"].where(ok), timed=(~df["time"].isna()).astype("int64"))
    agg = df.groupby(list(RUN_KEYS), dropna=False).agg(
        {"n": "sum", "v": ["sum", "min", "max"], "timed": "sum", "time": "max", "source_file": "min"},
        split_out=1)  # a tree reduction: the result (one row per run) fits one partition
    (pdf,) = _compute(client, agg)
    pdf.columns = ["n", "total", "low", "high", "timed", "time", "source_file"]
    out = pl.from_pandas(pdf.reset_index())
    return _typed(out, {"n": pl.Int64, "timed": pl.Int64, "total": pl.Float64, "low": pl.Float64,
                        "high": pl.Float64, "time": schema.UTC_TIME, "source_file": schema.LABEL})


def _dask_vm_partials(source: Any, where: str | None, scheduler: Any) -> pl.DataFrame:
    client = _client(scheduler)
    df = _frame(source, where, [*VM_KEYS, "value", "time", "bound"])
    df = df[(~df["guest"].isna()) & (~df["value"].isna()) & df["bound"].isna()]
    # One pass of sums cannot give a standard deviation without cancellation (latencies
    # of ~1e-7 s varying by 1e-9): the values are shifted by their metric's mean first
    # (a first, tiny aggregation), which leaves the error at rounding.
    (centre,) = _compute(client, df.groupby("metric")["value"].mean(split_out=1))
    meta = df._meta.assign(shifted=pl.Series([], dtype=pl.Float64).to_numpy(), squares=[])
    df = df.map_partitions(_shifted, {str(k): float(v) for k, v in centre.items()}, meta=meta.astype(
        {"shifted": "float64", "squares": "float64"}))
    agg = df.groupby(list(VM_KEYS), dropna=False).agg(
        {"value": ["count", "sum", "min", "max"], "shifted": "sum", "squares": "sum", "time": ["min", "max"]},
        split_out=1)
    (pdf,) = _compute(client, agg)
    pdf.columns = ["runs", "total", "low", "high", "shifted", "squares", "first", "last"]
    out = pl.from_pandas(pdf.reset_index())
    return _typed(out, {"runs": pl.Int64, "total": pl.Float64, "shifted": pl.Float64, "squares": pl.Float64,
                        "low": pl.Float64, "high": pl.Float64, "first": schema.UTC_TIME, "last": schema.UTC_TIME})


def _shifted(pdf, centre: dict[str, float]):
    """A pandas partition with ``shifted`` (value - its metric's centre) and its square."""
    import numpy as np

    shift = np.array([centre.get(str(m), 0.0) for m in pdf["metric"]], dtype=float)
    d = pdf["value"].to_numpy(dtype=float) - shift
    return pdf.assign(shifted=d, squares=d * d)


def _dask_labels(source: Any, where: str | None, scheduler: Any) -> pl.DataFrame:
    client = _client(scheduler)
    cols = ["condition", "host", "guest", "experiment", "hypervisor", "scope", "source"]
    df = _frame(source, where, cols)
    (pdf,) = _compute(client, df.drop_duplicates(subset=["condition", "host", "guest"], split_out=1))
    return _typed(pl.from_pandas(pdf), {})


def _typed(frame: pl.DataFrame, extra: dict[str, pl.DataType]) -> pl.DataFrame:
    """pandas' dtypes back to the table's (a null key comes back as None or NaN: null)."""
    exprs = []
    for name, src in frame.schema.items():
        dtype = extra.get(name, schema.TABLE_SCHEMA.get(name))
        col = pl.col(name)
        if dtype is None:
            exprs.append(col)
            continue
        if dtype == schema.UTC_TIME and isinstance(src, pl.Datetime) and src.time_zone is None:
            col = col.dt.replace_time_zone("UTC")
        exprs.append(col.cast(dtype).alias(name))
    return frame.select(exprs)


def summary_columns(summary: pl.DataFrame, display: bool = True) -> pl.DataFrame:
    """A :func:`vm_summary` in display units (ns, MB/s, ...) for printing."""
    if not display or summary.is_empty():
        return summary
    factors = {m: schema.display_unit(m, u) for m, u in summary.select("metric", "unit").unique().iter_rows()}
    f = pl.col("metric").replace_strict({m: v[1] for m, v in factors.items()}, return_dtype=pl.Float64)
    shown = pl.col("metric").replace_strict({m: v[0] for m, v in factors.items()}, return_dtype=pl.String)
    return summary.with_columns(*(pl.col(c) * f for c in ("mean", "std", "low", "high")), display_unit=shown)


__all__ = ["ENGINES", "RUN_KEYS", "differences", "per_guest", "run_table", "standing", "summary_columns", "vm_summary"]

