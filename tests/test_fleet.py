"""Fleet scale: the per-run reduction gives compare what the rows give; per-VM summaries
and the VM as replicate, from a store with a filter; the same on Dask (a real 2-worker
LocalCluster). Inputs: tests/fixtures/fleet (Azure VM Noise 2024 rows, SOURCES.tsv) and
data/experiments/xen-samples.toml."""
import shutil
import warnings

import numpy as np
import polars as pl
import polars.testing as pt
import pytest

from workbench import experiment, fleet, stats, store
from workbench.cli import main
from workbench.errors import WorkbenchError

from .conftest import DATA, FIXTURES

AZURE = FIXTURES / "fleet" / "azure"
LATENCY = "metric = 'mem_latency'"


@pytest.fixture(scope="module")
def azure_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet") / "store"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Stream-Triad-like test is a native metric (reader's tests)
        store.add(root, [AZURE], labels={"experiment": "fleet"}, partition_by=["condition", "metric"])
    return root


def _same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """Equal frames up to row order and float rounding."""
    keys = [c for c, t in a.schema.items() if t != pl.Float64 and not isinstance(t, pl.List)]
    a, b = a.sort(keys, nulls_last=True), b.sort(keys, nulls_last=True)
    assert a.select(keys).equals(b.select(keys))
    for c in a.columns:
        if a.schema[c] == pl.Float64:
            assert np.allclose(a[c].to_numpy(), b[c].to_numpy(), rtol=1e-9, equal_nan=True), c


def test_compare_on_the_reduced_runs_is_compare_on_the_rows():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # native xen-rrd metrics (the reader's tests)
        t = experiment.open(DATA / "experiments" / "xen-samples.toml").table
    # a second condition with two runs (10 % and 20 % higher); the baseline keeps its single run
    t = pl.concat([t, t.with_columns(condition=pl.lit("other", dtype=pl.Categorical), value=pl.col("value") * 1.1),
                   t.with_columns(condition=pl.lit("other", dtype=pl.Categorical), run=pl.col("run") + 1,
                                  value=pl.col("value") * 1.2)])
    reduced = fleet.run_table(t)
    # 'other' becomes one row per run and label set; the baseline's one run stays raw (its
    # interval comes from its samples' autocorrelation)
    assert reduced.filter(pl.col("condition") == "other").height == 2 * t.filter(
        pl.col("condition") == "paravirtualized").select(fleet.RUN_KEYS).unique().height
    assert reduced.filter(pl.col("condition") == "paravirtualized").height == 30108
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = stats.compare_all(t, baseline="paravirtualized")
        runs = stats.compare_all(reduced, baseline="paravirtualized")
    assert len(rows) == len(runs) == 109
    _same(rows.to_frame(), runs.to_frame())
    _same(rows.summaries, runs.summaries)
    _same(rows.not_compared, runs.not_compared)


def test_the_store_path_is_the_table_path(azure_store):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = store.read(azure_store)
    pt.assert_frame_equal(fleet.run_table(azure_store, where=LATENCY),
                          fleet.run_table(table.filter(pl.col("metric") == "mem_latency")))
    pt.assert_frame_equal(fleet.vm_summary(azure_store), fleet.vm_summary(table))


def test_vm_summary_values(azure_store):
    s = fleet.vm_summary(azure_store, where=LATENCY + " and guest like '%/long/%'")
    assert s.height == 6 and s["runs"].to_list() == [20] * 6
    first = s.row(0, named=True)  # B8ms/eastus/long/0: its first 20 rows in the fixture
    assert first["guest"] == "B8ms/eastus/long/0"
    assert first["mean"] == pytest.approx(100.115e-9)
    assert first["std"] == pytest.approx(0.7909e-9, rel=1e-3)
    assert (first["low"], first["high"]) == (pytest.approx(98.4e-9), pytest.approx(101.4e-9))


def test_compare_a_store_with_the_vm_as_replicate(azure_store, capsys):
    assert main(["compare", str(azure_store), "--baseline", "D8s_v5", "--where", LATENCY, "--replicate", "guest",
                 "--format", "text-verbose", "-q"]) == 0
    assert capsys.readouterr().out == (
        "- mem_latency, memory: B8ms is 10.7 % slower than D8s_v5: change of the mean +10.7 % [+4.0 %, +17.8 %] "
        "(95 % CI; Welch's t with Hsu's df (two-sided), p = 0.0026, Hedges' g +0.79, 33 vs 33 runs)\n")


def test_cli_errors_of_the_fleet_options(azure_store, capsys):
    assert main(["compare", str(azure_store), "--baseline", "D8s_v5", "--where", "sku = 'x'"]) == 2
    assert "workbench compare: error: --where \"sku = 'x'\": unknown column" in capsys.readouterr().err
    assert main(["compare", str(azure_store), "--where", LATENCY]) == 2
    assert "error: no baseline: give --baseline NAME (a Parquet table or a store names none)" in capsys.readouterr().err
    assert main(["compare", str(azure_store), "--baseline", "D8s_v5", "--where", "metric = 'none'"]) == 2
    assert f"error: {azure_store}: no rows where metric = 'none'" in capsys.readouterr().err
    assert main(["vm-summary", str(DATA / "experiments" / "thesis.toml"), "--engine", "dask"]) == 2
    assert "error: --engine dask reads a store;" in capsys.readouterr().err


def test_standing_in_a_fleet():
    fleet_vms = pl.DataFrame({"mean": [1.0, 2.0, 3.0, 4.0], "std": [0.1, 0.1, None, 0.1], "runs": [2, 2, 1, 2]})
    s = fleet.standing(2.0, fleet_vms)
    assert s["percentile"] == 37.5  # one VM below, one tied (half)
    assert s["median"] == 2.5 and s["vms"] == 4
    assert s["between_sd"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert s["within_sd"] == pytest.approx(0.1)
    with pytest.raises(WorkbenchError, match="no VM in the fleet"):
        fleet.standing(1.0, fleet_vms.clear())


def test_dask_on_a_two_worker_cluster_gives_the_polars_results(azure_store, capsys):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pt.assert_frame_equal(fleet.run_table(azure_store, engine="dask", scheduler=client),
                              fleet.run_table(azure_store), check_exact=False, rel_tol=1e-12)
        assert fleet.differences(fleet.vm_summary(azure_store, engine="dask", scheduler=client),
                                 fleet.vm_summary(azure_store)) == []
        pt.assert_frame_equal(fleet.per_guest(azure_store, engine="dask", scheduler=client),
                              fleet.per_guest(azure_store), check_exact=False, rel_tol=1e-12)
        args = ["compare", str(azure_store), "--baseline", "D8s_v5", "--where", LATENCY, "--replicate", "guest"]
        assert main(args) == 0
        local = capsys.readouterr().out
        assert main([*args, "--engine", "dask", "--scheduler", cluster.scheduler_address]) == 0
        assert capsys.readouterr().out == local


def test_a_summary_partition_by_partition_is_the_summary_at_once(azure_store):
    groups = store.groups(azure_store, fleet.VM_KEYS)  # the store is partitioned by condition, metric
    assert len(groups) == 3 and sum(len(g) for g in groups) == 7  # B8ms and D8s_v5 latency, D8s_v5 bandwidth
    assert len(store.groups(azure_store, ["guest"])) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fleet.differences(fleet.vm_summary(azure_store), fleet.vm_summary(store.read(azure_store))) == []


LABELS = [c for c, t in store.schema.TABLE_SCHEMA.items() if t == pl.String]


@pytest.fixture(scope="module")
def twice_store(tmp_path_factory):
    """The fixture (experiment a) and a copy of it whose values are 25 % higher
    (experiment b): every VM's rows in two part files of its partition, with different
    means, so the batches' states must be merged."""
    tmp = tmp_path_factory.mktemp("fleet")
    higher = tmp / "azure"
    shutil.copytree(AZURE, higher)
    for csv in higher.rglob("*.csv"):
        head, *lines = csv.read_text().splitlines()
        csv.write_text("\n".join([head, *(f"{float(v) * 1.25!r},{rest}" for v, rest in
                                          (line.split(",", 1) for line in lines))]) + "\n")
    root = tmp / "twice"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e, folder in (("a", AZURE), ("b", higher)):
            store.add(root, [folder], labels={"experiment": e}, partition_by=["experiment", "condition", "metric"])
    return root


def test_a_summary_read_in_batches_is_the_summary_of_the_rows(twice_store, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = store.read(twice_store)
    assert table.height == 2 * 225
    v = pl.col("value")
    rows = (table.filter(pl.col("guest").is_not_null() & v.is_not_nan() & pl.col("bound").is_null())
            .group_by(fleet.VM_KEYS)
            .agg(runs=pl.len().cast(pl.Int64), mean=v.mean(), std=v.std(), low=v.min(), high=v.max(),
                 first=pl.col("time").min(), last=pl.col("time").max()))
    monkeypatch.setattr(fleet, "BATCH_ROWS", 1)  # a batch per part file: every VM merged from two
    batched = fleet.vm_summary(twice_store)
    assert batched.height == 75 and batched["runs"].sum() == 2 * 225
    assert fleet.differences(batched, rows.sort(list(fleet.VM_KEYS), nulls_last=True)) == []
    vm = batched.row(0, named=True)  # B8ms/eastus/long/0 (test_vm_summary_values): its 20 rows, then 25 % higher
    assert (vm["guest"], vm["runs"], vm["mean"]) == ("B8ms/eastus/long/0", 40, pytest.approx(1.125 * 100.115e-9))
    assert (vm["low"], vm["high"]) == (pytest.approx(98.4e-9), pytest.approx(1.25 * 101.4e-9))
    assert vm["std"] == pytest.approx(12.70457e-9, rel=1e-6)  # numpy on the 40 values; mostly the two means apart
    monkeypatch.setattr(fleet, "BATCH_ROWS", 10**9)  # one batch per partition
    assert fleet.differences(fleet.vm_summary(twice_store), batched) == []


def test_a_summary_of_categorical_labels_is_the_summary_of_strings(twice_store, tmp_path):
    """A store (or table) whose label columns are Categorical: the same summary, its keys Categorical."""
    root = tmp_path / "categorical"
    shutil.copytree(twice_store, root)
    for part in store.catalogue(root).files(root):
        pl.read_parquet(part).with_columns(pl.col(c).cast(pl.Categorical) for c in LABELS
                                           if c in pl.read_parquet_schema(part)).write_parquet(part)
    assert store.scan(root).collect_schema()["guest"] == pl.Categorical
    strings = fleet.vm_summary(twice_store, where=LATENCY)
    cat = fleet.vm_summary(root, where=LATENCY)
    assert cat.schema["guest"] == cat.schema["host"] == cat.schema["condition"] == pl.Categorical
    assert fleet.differences(cat.with_columns(pl.col(pl.Categorical).cast(pl.String)), strings) == []
    pytest.importorskip("distributed")
    assert fleet.differences(fleet.vm_summary(root, where=LATENCY, engine="dask"), cat) == []  # local threads
    table = store.read(twice_store).filter(pl.col("metric") == "mem_latency")
    in_memory = fleet.vm_summary(table.with_columns(pl.col(LABELS).cast(pl.Categorical)))
    assert in_memory.schema["metric"] == pl.Categorical
    assert fleet.differences(in_memory.with_columns(pl.col(pl.Categorical).cast(pl.String)), strings) == []
