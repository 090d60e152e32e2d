"""Azure VM Noise Dataset 2024 reader: real rows (Hive paths kept) and one broken file per
failure mode, messages pinned (fixtures: tests/fixtures/azure-noise/PROVENANCE.md)."""
import warnings
from datetime import datetime, timezone

import polars as pl
import pytest

from workbench import readers
from workbench.errors import NativeMetricWarning, ParseError, WorkbenchError
from workbench.readers import azure_noise

from ..conftest import FIXTURES

GOOD = FIXTURES / "azure-noise" / "good"
BROKEN = FIXTURES / "azure-noise" / "broken"
IDLE_LONG = (GOOD / "test_suite=Intel_Memory_Latency_Checker" / "test_name=Test:_Idle_Latency" / "vm_lifespan=long"
             / "vm_region=eastus" / "vm_sku=D8s_v5" / "unit=ns.csv")
PARTS = {"test_name": "Test:_Idle_Latency", "vm_lifespan": "long", "vm_region": "eastus", "vm_sku": "D8s_v5",
         "unit": "ns"}


def test_detected_and_mapped_from_the_path():
    assert readers.detect(IDLE_LONG).name == "azure-noise"
    t = readers.read(IDLE_LONG)
    assert t.height == 6
    first = t.row(0, named=True)
    # "91.0,8.2,2023-06-23 15:44:06.120,0": ns -> s, the VM as guest, end time = start + runtime
    assert first["value"] == pytest.approx(91.0e-9)
    assert (first["metric"], first["unit"], first["component"], first["aggregate"]) == (
        "mem_latency", "seconds", "memory", "single")
    assert (first["condition"], first["host"], first["guest"], first["scope"], first["run"]) == (
        "D8s_v5", "azure-eastus", "D8s_v5/eastus/long/0", "guest", 1)
    assert first["time"] == datetime(2023, 6, 23, 15, 44, 14, 320000, tzinfo=timezone.utc)
    assert first["interval"] == 8.2
    assert first["hypervisor"] == "Microsoft Azure"


def test_runs_count_repetitions_within_each_vm_in_time_order():
    t = readers.read(IDLE_LONG)
    runs = t.group_by("guest", maintain_order=True).agg(pl.col("run")).sort("guest")
    assert runs.rows() == [("D8s_v5/eastus/long/0", [1, 2, 3]), ("D8s_v5/eastus/long/1", [1, 2, 3])]


def test_metadata_holds_the_partitions():
    parsed = readers.read_file(IDLE_LONG)
    assert parsed.metadata["partition.vm_sku"] == "D8s_v5"
    assert parsed.metadata["partition.test_suite"] == "Intel_Memory_Latency_Checker"


def test_options_override_the_path():
    data = IDLE_LONG.read_bytes()
    parsed = azure_noise.parse(data, source="latency.csv", **PARTS)
    assert parsed.table["condition"].unique().to_list() == ["D8s_v5"]


def test_native_test_kept_with_its_unit_and_a_warning():
    path = next(GOOD.glob("test_suite=OSBench/**/*.csv"))
    with pytest.warns(NativeMetricWarning, match="'Test:_Create_Files' is outside the metric vocabulary; "
                                                 "kept as azure-noise:Create_Files in us Per Event"):
        t = readers.read(path)
    assert t["metric"].unique().to_list() == ["azure-noise:Create_Files"]
    assert t["value"][0] == pytest.approx(32.299402)


def test_read_partitioned_reads_the_tree_with_a_filter():
    t = azure_noise.read_partitioned(GOOD, test_name="Test:_Idle_Latency")
    assert t.height == 10
    assert sorted(t["condition"].unique()) == ["B8ms", "D8s_v5"]
    # short-lived VMs: one row each, so each is its own guest with run 1
    short = t.filter(pl.col("guest").cast(pl.String).str.contains("/short/"))
    assert short["guest"].n_unique() == 4 and short["run"].to_list() == [1, 1, 1, 1]
    assert short["source_file"][0].startswith("test_suite=Intel_Memory_Latency_Checker/test_name=Test:_Idle")


def test_read_partitioned_refuses_an_unknown_partition_and_no_match():
    with pytest.raises(WorkbenchError, match="`sku` is not a partition of the dataset; partitions: test_suite"):
        azure_noise.read_partitioned(GOOD, sku="B8ms")
    with pytest.raises(WorkbenchError, match=r"no CSV file of the Azure VM noise layout matches \(vm_sku=F2\)"):
        azure_noise.read_partitioned(GOOD, vm_sku="F2")


@pytest.mark.parametrize("name, message", [
    ("bad_header.csv", r"bad_header.csv:1: expected the header 'value,runtime,starttime,VM_id', "
                       r"found value,runtime,start,VM_id"),
    ("bad_value.csv", r"bad_value.csv:3: expected a number in column 'value' \(ASCII digits\), found 'n/a'"),
    ("bad_time.csv", r"bad_time.csv:3: expected a time 'YYYY-MM-DD HH:MM:SS.fff' in column 'starttime', "
                     r"found '23/06/2023 18:13'"),
    ("bad_vm.csv", r"bad_vm.csv:3: expected an integer VM id in column 'VM_id', found 'vm-0'"),
    ("zero_runtime.csv", r"zero_runtime.csv:3: expected a positive duration in seconds in column 'runtime', "
                         r"found '0'"),
    ("header_only.csv", r"header_only.csv:2: expected measurement rows after the header, found none"),
])
def test_broken_files(name, message):
    with pytest.raises(ParseError, match=message):
        readers.read(BROKEN / name, format="azure-noise", options=PARTS)


def test_a_path_without_partitions_and_no_options():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ParseError, match=r"latency.csv: expected a Hive-style path with 'test_name=...' "
                                             r"\(test_name=/vm_lifespan=/vm_region=/vm_sku=/unit=<unit>.csv\) "
                                             r"or the option test_name, found a path without it"):
            azure_noise.parse(IDLE_LONG.read_bytes(), source="latency.csv")


def test_a_wrong_header_is_not_detected_as_this_format():
    with pytest.raises(WorkbenchError, match="format not recognised"):
        readers.read(BROKEN / "bad_header.csv")


def test_every_mlc_bandwidth_test_is_mem_read_bw_with_its_mix_as_the_stage():
    fleet = FIXTURES / "fleet" / "azure" / "test_suite=Intel_Memory_Latency_Checker"
    tail = "vm_lifespan=long/vm_region=eastus/vm_sku=D8s_v5/unit=MiB_s.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no native metric left among them
        mixed = readers.read(fleet / "test_name=Test:_Max_Bandwidth_-_2:1_Reads-Writes" / tail)
        triad = readers.read(fleet / "test_name=Test:_Peak_Injection_Bandwidth_-_Stream-Triad_Like" / tail)
        reads = readers.read(fleet / "test_name=Test:_Max_Bandwidth_-_All_Reads" / tail)
    assert (mixed["metric"].unique().to_list(), mixed["component"].unique().to_list()) == (["mem_read_bw"], ["memory"])
    assert mixed["stage"].unique().to_list() == ["Max Bandwidth: 2:1 Reads-Writes"]
    assert triad["stage"].unique().to_list() == ["Peak Injection Bandwidth: Stream-Triad Like"]
    assert reads["stage"].unique().to_list() == ["Max Bandwidth: All Reads"]
    # "71528.61,149.05,2023-06-23 16:23:24.600,0": MiB/s -> bytes/s
    assert mixed.row(0, named=True)["value"] == pytest.approx(71528.61 * 1024 * 1024)
    assert len(azure_noise.BANDWIDTH) == 10  # 2 kinds x 5 mixes, as in the dataset's folders
