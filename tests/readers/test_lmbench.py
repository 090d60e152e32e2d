"""lmbench3 results files and lat_mem_rd output: the real PKB Azure results file and a
lat_mem_rd file laid out as lmbench prints it, read to concrete values; broken files pinned."""
from __future__ import annotations

import warnings

import polars as pl
import pytest

from workbench import readers, schema
from workbench.errors import AssumptionWarning, NativeMetricWarning, ParseError

from ..conftest import FIXTURES

BENCH = FIXTURES / "benchmarks"


def read(name, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parsed = readers.read_file(BENCH / name, options=options or None)
    return parsed, [type(w.message) for w in caught]


def at(t, metric, component):
    rows = t.filter((pl.col("metric") == metric) & (pl.col("component") == component))
    assert rows.height == 1, rows
    return rows["value"][0]


def test_lat_mem_rd_latency_at_l1_l2_l3_and_memory_with_the_cache_sizes():
    parsed, warned = read("lat_mem_rd_constructed.txt", caches="L1=32K,L2=1M,L3=32M")
    t = parsed.table
    assert readers.detect(BENCH / "lat_mem_rd_constructed.txt").name == "lmbench"
    # the probe's working sets: half of L1 (16K), min(half L2, 4x L1) = 128K, min(half L3, 4x L2) = 4M,
    # memory at the largest size (256M >= 4x L3); the smallest stride (128)
    latency = dict(t.filter(pl.col("metric") == "mem_latency").select("component", "value").iter_rows())
    assert latency == pytest.approx({"L1": 1.212e-9, "L2": 4.05e-9, "L3": 14.8e-9, "memory": 88.3e-9})
    assert set(t.filter(pl.col("metric") == "mem_latency")["unit"]) == {"seconds"}
    # the whole curve stays, per stride, sizes from MiB ("0.00049" is 512 bytes)
    assert at(t, "lmbench:lat_mem_rd stride=128", "512B") == pytest.approx(1.212e-9)
    assert at(t, "lmbench:lat_mem_rd stride=512", "1.5M") == pytest.approx(14.356e-9)
    assert t.filter(pl.col("metric") == "lmbench:lat_mem_rd stride=128").height == 37
    assert NativeMetricWarning in warned


def test_without_cache_sizes_the_curves_stay_native_with_a_warning():
    parsed, warned = read("lat_mem_rd_constructed.txt")
    assert "mem_latency" not in set(parsed.table["metric"]) and AssumptionWarning in warned


def test_pkb_azure_results_file():
    parsed, warned = read("lmbench3_summary_pkb_azure.txt", caches="L1=32K,L2=256K,L3=50M")
    t = parsed.table
    assert set(t["host"]) == {"pkb-72796bca-0"}
    assert parsed.metadata["mhz"] == "3034 MHz, 0.3296 nanosec clock"
    assert parsed.metadata["lmbench_version"] == "lmbench-3alpha4"
    assert at(t, "lmbench:Simple syscall", "total") == pytest.approx(0.2345e-6)
    assert at(t, "lmbench:Pipe bandwidth", "total") == pytest.approx(2648.95e6)
    assert at(t, "lmbench:File /var/tmp/XXX write bandwidth", "total") == 84049 * 1024
    # bw_mem sizes print in 10^6 bytes: "1.05" is 1 MiB; MB/s is 10^6 bytes/s
    assert at(t, "lmbench:Memory read bandwidth", "1M") == pytest.approx(15676.45e6)
    assert at(t, "lmbench:Memory read bandwidth", "512B") == pytest.approx(16553.45e6)
    assert at(t, "lmbench:lat_ctx size=0k", "2 processes") == pytest.approx(11.57e-6)
    assert at(t, "lmbench:lat_ctx overhead", "size=64k") == pytest.approx(3.16e-6)
    assert at(t, "lmbench:File system creations", "10K") == 73454
    assert at(t, "lmbench:Socket bandwidth using localhost", "10M") == pytest.approx(4676.97e6)
    # with the caches: L1 at 16K (half of L1), L2 at 128K (half of L2), L3 at 1M (min(half of L3,
    # 4x L2)); no memory row: the largest size, 8M, is below 4x L3
    read_bw = dict(t.filter(pl.col("metric") == "mem_read_bw").select("component", "value").iter_rows())
    assert read_bw == pytest.approx({"L1": 17156.50e6, "L2": 16419.46e6, "L3": 15676.45e6})
    assert at(t, "mem_write_bw", "L1") == pytest.approx(12033.24e6)
    assert AssumptionWarning in warned  # no memory value: 8M < 4x 50M
    assert parsed.metadata["lines_not_read"] == "9"
    assert schema.metric("mem_read_bw").unit == "bytes/s"


def test_standalone_bw_mem_output_with_the_curve_option():
    path = BENCH / "bw_mem_rd_pkb_azure.txt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NativeMetricWarning)
        with pytest.warns(AssumptionWarning, match=r"the largest working set \(8M\) is below 4x the last-level "
                                                   r"cache \(50M\): no memory value"):
            t = readers.read(path, format="lmbench",  # untitled numbers: no sniffer can know them
                             options={"curve": "Memory read bandwidth", "caches": "L1=32K,L2=256K,L3=50M"})
    assert at(t, "lmbench:Memory read bandwidth", "8M") == pytest.approx(15689.91e6)
    assert at(t, "mem_read_bw", "L1") == pytest.approx(17156.50e6)
    with pytest.raises(ParseError, match=r"bw_mem_rd_pkb_azure.txt:1: expected an lmbench3 results header"):
        readers.read(path, format="lmbench")  # without the option: untitled numbers are not guessed


@pytest.mark.parametrize("name, options, message", [
    ("lmbench_not_lmbench.txt", None, r"lmbench_not_lmbench.txt:1: expected an lmbench3 results header"),
    ("lmbench_header_only.txt", None, r"lmbench_header_only.txt:41: expected lmbench results .*found none"),
    ("lat_mem_rd_bad_pair.txt", None, r"lat_mem_rd_bad_pair.txt:5: expected '<size> <value>' pairs in the curve "
                                      r"'stride=128', found 0.00293 1.2x2"),
    ("lat_mem_rd_twice.txt", None, r"lat_mem_rd_twice.txt:12: expected each curve once \('stride=128'\), "
                                   r"found a second one"),
])
def test_broken_files_name_line_and_expectation(name, options, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ParseError, match=message):
            readers.read(BENCH / "broken" / name, format="lmbench", options=options)


def test_a_bad_cache_option_is_named():
    with pytest.raises(ParseError, match=r"option caches: expected 'L1=32K,L2=1M,L3=32M'.*found L1=big"):
        readers.read(BENCH / "lat_mem_rd_constructed.txt", options={"caches": "L1=big"})
