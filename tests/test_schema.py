import math

import polars as pl
import pytest

from workbench import schema
from workbench.errors import SchemaError


def row(**kw):
    base = dict(experiment="e", condition="c", host="h", scope="host", run=1, aggregate="single",
                metric="mem_latency", component="memory", value=5.79e-8, source="test", source_file="f")
    base.update(kw)
    return base


def frame(**kw):
    return schema.from_rows([row(**kw)])


def test_valid_frame_passes_and_keeps_canonical_order():
    f = frame().select(list(reversed(schema.COLUMNS)))
    out = schema.validate(f)
    assert out.columns == list(schema.TABLE_COLUMNS)  # flag added (null) where a reader left it out
    assert out["flag"].to_list() == [None]
    assert out.schema["time"] == pl.Datetime("us", "UTC")
    assert out["unit"][0] == "seconds"  # filled from the vocabulary


def test_every_metric_has_a_canonical_unit_from_the_design():
    assert schema.METRICS["mem_read_bw"].unit == "bytes/s"
    assert schema.METRICS["mem_latency"].unit == "seconds"
    assert schema.METRICS["cpu_util"].unit == "percent"
    assert schema.METRICS["mem_used"].unit == "bytes"
    assert schema.METRICS["load_avg"].unit == "1"
    assert schema.METRICS["bench_score"].unit == "score"
    assert schema.METRICS["cpu_ready"].unit == "percent"  # VMware %RDY (issue 14)
    assert schema.METRICS["random_access_rate"].unit == "1/s"  # benchmark results (issue 14)
    assert schema.METRICS["flops"].unit == "flop/s"
    assert schema.METRICS["swap_in"].unit == "bytes/s"  # dstat paging (issue 14)
    # The lab's lmbench-style operations (issue 13): seconds, lower is better, shown in us.
    for name in ("syscall_latency", "fork_latency", "exec_latency", "ctxsw_latency", "pagefault_latency",
                 "mmap_latency"):
        assert (schema.METRICS[name].unit, schema.METRICS[name].direction, schema.METRICS[name].display_unit) == \
            ("seconds", schema.Direction.LOWER, "us")
    assert schema.METRICS["boot_time"].display_unit == "s"
    assert len(schema.METRICS) == 50


@pytest.mark.parametrize("change, column, message", [
    (lambda f: f.drop("unit"), "unit", "missing: unit"),
    (lambda f: f.with_columns(extra=pl.lit(1)), "extra", "an extra column"),
    (lambda f: f.with_columns(pl.col("run").cast(pl.Int64)), "run", "dtype Int64"),
    (lambda f: f.with_columns(pl.col("time").dt.replace_time_zone(None)), "time", "dtype Datetime"),
    (lambda f: f.with_columns(condition=pl.lit(None, pl.String)), "condition", "1 null"),
    (lambda f: f.with_columns(host=pl.lit(" ", dtype=pl.Categorical)), "host", "an empty string"),
    (lambda f: f.with_columns(scope=pl.lit("vm", dtype=pl.Categorical)), "scope", "'vm'"),
    (lambda f: f.with_columns(aggregate=pl.lit("avg", dtype=pl.Categorical)), "aggregate", "'avg'"),
    (lambda f: f.with_columns(metric=pl.lit("latency", dtype=pl.Categorical)), "metric", "'latency'"),
    (lambda f: f.with_columns(unit=pl.lit("ns", dtype=pl.Categorical)), "unit", "'seconds' for metric mem_latency"),
    (lambda f: f.with_columns(component=pl.lit("L4", dtype=pl.Categorical)), "component", "'L4'"),
    (lambda f: f.with_columns(run=pl.lit(-1, pl.Int32)), "run", "run >= 0"),
    (lambda f: f.with_columns(interval=pl.lit(0.0)), "interval", "positive"),
    (lambda f: f.with_columns(metric=pl.lit("cpu_util", dtype=pl.Categorical), component=pl.lit("cpu0", dtype=pl.Categorical),
                              unit=pl.lit("percent", dtype=pl.Categorical), value=pl.lit(140.0)), "value", "140.0"),
])
def test_validate_names_the_column_and_what_is_wrong(change, column, message):
    with pytest.raises(SchemaError, match=message) as info:
        schema.validate(change(frame()), source="broken.csv")
    assert info.value.column == column
    assert str(info.value).startswith("broken.csv: column")


def test_native_metric_is_kept_with_its_own_unit_and_nan_means_no_value():
    f = frame(metric="xen-rrd:memory_target", unit="KiB", component="total", value=math.nan)
    assert schema.validate(f)["metric"][0] == "xen-rrd:memory_target"
    # NaN in a bounded metric is "no value", not out of range
    schema.validate(frame(metric="cpu_util", component="cpu1", unit="percent", value=math.nan))


def test_display_units():
    f = schema.from_rows([row(), row(metric="mem_read_bw", value=7.284e9, unit=None)])
    shown = schema.to_display(f)
    assert shown["display_value"].to_list() == pytest.approx([57.9, 7284.0])
    assert shown["display_unit"].to_list() == ["ns", "MB/s"]


# Direction of every vocabulary metric as main's name rules gave it before the vocabulary
# declared it (stats.direction: *_bw and bench_score higher, mem_latency lower, usage by prefix).
_DIRECTIONS = {
    "higher-is-better": {"mem_read_bw", "mem_write_bw", "mem_copy_bw", "stream_copy_bw", "stream_scale_bw",
                         "stream_add_bw", "stream_triad_bw", "bench_score",
                         # benchmark results (issue 14)
                         "ops_rate", "mem_transfer_bw", "random_access_rate", "flops", "io_read_bw", "io_write_bw",
                         "io_read_iops", "io_write_iops", "net_throughput"},
    "lower-is-better": {"mem_latency", "bench_time", "op_latency", "io_read_latency", "io_write_latency",
                        "net_latency", "syscall_latency", "fork_latency", "exec_latency", "ctxsw_latency",
                        "pagefault_latency", "mmap_latency", "cpu_op_time", "boot_time"},
    "usage": {"cpu_util", "cpu_steal", "cpu_ready", "cpu_iowait", "mem_used", "mem_util", "load_avg", "net_rx", "net_tx",
              "disk_read", "disk_write", "swap_used", "swap_in", "swap_out", "proc_cpu_util", "proc_rss"},
    "neutral": {"mem_total", "mem_free", "swap_total"},
}


def test_every_metric_declares_its_meaning():
    assert set().union(*_DIRECTIONS.values()) == set(schema.METRICS)
    for direction, names in _DIRECTIONS.items():
        for name in names:
            m = schema.metric(name)
            assert m.direction is schema.Direction(direction), name
            assert m.aggregate in schema.AGGREGATES and m.label and m.display_unit is not None, name
    assert schema.metric("mem_latency").display_unit == "ns"
    assert schema.metric("stream_triad_bw").aggregate == "best"
    assert schema.metric("cpu_util").aggregate == "mean" and schema.metric("mem_used").aggregate == "last"
    with pytest.raises(ValueError, match="`aggregate` must be one of"):
        schema.Metric("x", "1", "total", "x", aggregate="median")


def test_outside_the_vocabulary_is_neutral_and_keeps_its_native_unit():
    m = schema.metric("everest-report-text:temperature", "°C")
    assert m.direction is schema.Direction.NEUTRAL and m.aggregate is None
    # Names are not read: a native "..._bw" is not a bandwidth to the vocabulary.
    assert schema.metric("stream:copy_bw", "MB/s").direction is schema.Direction.NEUTRAL
    assert schema.display_unit("everest-report-text:temperature", "°C") == ("°C", 1.0)
    # No conversion either: a native size in bytes stays in bytes.
    assert schema.display_unit("xen-rrd:memory_target", "bytes") == ("bytes", 1.0)
    f = schema.from_rows([row(), row(metric="xen-rrd:memory_target", unit="KiB", value=2048.0)])
    shown = schema.to_display(f)
    assert shown["display_unit"].to_list() == ["ns", "KiB"]
    assert shown["display_value"].to_list() == pytest.approx([57.9, 2048.0])


def test_cache_memory_layout_is_everest_window():
    cm = schema.CACHE_MEMORY
    assert cm.levels == ("memory", "L1", "L2", "L3") and cm.levels_by_size == ("L1", "L2", "L3", "memory")
    assert [cm.column_label(m, unit=True) for m in cm.metrics] == ["Read (MB/s)", "Write (MB/s)", "Copy (MB/s)",
                                                                   "Latency (ns)"]
    assert cm.row_label("L1") == "L1 Cache" and cm.component("L3 Cache") == "L3" and cm.metric("Copy") == "mem_copy_bw"
