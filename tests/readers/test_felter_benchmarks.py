"""RandomAccess (gups, HPCC), Intel LINPACK, fio (JSON and text), Intel MLC and results CSV:
the Felter et al. 2014 logs bundled in data/felter2014, fio's own output, real HPCC and MLC
files read to concrete values; every broken file with its message pinned."""
from __future__ import annotations

import math
import warnings

import polars as pl
import pytest

from workbench import readers, schema
from workbench.errors import ExcludedDataWarning, NativeMetricWarning, ParseError, SchemaError

from ..conftest import DATA, FIXTURES

FELTER = DATA / "felter2014"
BENCH = FIXTURES / "benchmarks"
BROKEN = BENCH / "broken"


def quiet_read(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return readers.read_file(path, **kw)


def test_randomaccess_runs_in_updates_per_second():
    parsed = readers.read_file(FELTER / "randomaccess" / "native.two-socket.log")
    t = parsed.table
    assert readers.detect(FELTER / "randomaccess" / "kvm.one-socket.log").name == "gups"
    assert t.height == 10 and set(t["metric"]) == {"random_access_rate"} and set(t["component"]) == {"memory"}
    # "0.012675061 Billion(10^9) Updates    per second [GUP/s]", the first run
    assert t.filter(pl.col("run") == 1)["value"][0] == pytest.approx(0.012675061e9)
    assert t["run"].to_list() == list(range(1, 11))
    assert parsed.metadata["numactl"] == "--physcpubind=0-31 --interleave=0,1"
    assert parsed.metadata["table_size"] == "2^33 = 8589934592"
    # the KVM log has apt's lines between the runs' header and results
    kvm = readers.read(FELTER / "randomaccess" / "kvm.one-socket.log")
    assert kvm.height == 10 and kvm["value"][0] == pytest.approx(0.040221930e9)
    assert schema.metric("random_access_rate").display_unit == "GUP/s"


def test_a_run_that_failed_verification_is_excluded():
    with pytest.warns(ExcludedDataWarning, match=r"run 1 \(line 8\) failed RandomAccess's verification"):
        t = readers.read(BROKEN / "gups_failed.txt")
    assert t["run"].to_list() == [2]


def test_hpcc_output_is_read_from_its_summary_section():
    path = BENCH / "hpcc-1.5_archer_nodes2ppn1_hpccoutf.txt"
    assert readers.detect(path).name == "gups"  # before stream: HPCC prints a STREAM table too
    with pytest.warns(ExcludedDataWarning, match=r"only its RandomAccess results are read"):
        parsed = readers.read_file(path)
    t = parsed.table
    rates = dict(t.select("component", "value").iter_rows())
    # "SingleRandomAccess_GUPs=0.103314", "StarRandomAccess_GUPs=0.101438" (the average over processes, not
    # rank 0's 0.102517073 of the section), "MPIRandomAccess_GUPs=0.0194329"
    assert rates == pytest.approx({"SingleRandomAccess": 0.103314e9, "StarRandomAccess": 0.101438e9,
                                   "MPIRandomAccess": 0.0194329e9, "SingleRandomAccess_LCG": 0.0969233e9,
                                   "StarRandomAccess_LCG": 0.100566e9, "MPIRandomAccess_LCG": 0.0193886e9})
    assert set(t["host"]) == {"nid00031"} and parsed.metadata["hpcc_version"] == "1.5.0"


def test_an_hpcc_variant_with_too_many_errors_is_excluded():
    with pytest.warns(ExcludedDataWarning) as caught:
        t = readers.read(BROKEN / "hpcc_errors_fraction.txt")
    assert any("hpcc_errors_fraction.txt:519: MPIRandomAccess has 5.00% of its table in error" in str(w.message)
               for w in caught)
    assert "MPIRandomAccess" not in set(t["component"]) and t.height == 5


def test_linpack_trials_are_runs_in_flop_per_second():
    parsed = readers.read_file(FELTER / "linpack" / "native.log")
    t = parsed.table
    assert readers.detect(FELTER / "linpack" / "native.log").name == "linpack"
    assert t.height == 10 and set(t["component"]) == {"N=45000"} and set(t["unit"]) == {"flop/s"}
    assert t["value"][0] == pytest.approx(291.5018e9) and t["value"][9] == pytest.approx(292.3367e9)
    assert parsed.metadata == {"cpu_frequency": "3.098 GHz", "cpus": "2", "cores": "16", "threads": "32"}
    tuned = readers.read(FELTER / "linpack" / "kvm-tuned.log")
    assert tuned.height == 16 and tuned["value"].max() == pytest.approx(286.1081e9)
    untuned = readers.read(FELTER / "linpack" / "kvm-untuned.log")
    assert untuned["value"].min() == pytest.approx(108.7559e9)


def test_a_linpack_trial_that_failed_its_check_is_excluded():
    with pytest.warns(ExcludedDataWarning, match=r"trial at line 29 failed LINPACK's residual check"):
        t = readers.read(BROKEN / "linpack_failed_trial.txt")
    assert t.height == 9 and 2 not in t["run"].to_list()


def test_fio_2_text_log_of_the_study():
    t = readers.read(FELTER / "fio" / "native.log")
    assert readers.detect(FELTER / "fio" / "kvm.log").name == "fio"

    def at(metric, job):
        return t.filter((pl.col("metric") == metric) & (pl.col("component") == job))["value"].item()
    # "read : io=16384MB, bw=511875KB/s, iops=499 , runt= 32776msec" (KB = 1024 bytes in fio 2.x)
    assert at("io_read_bw", "seq-read-1") == 511875 * 1024
    assert at("io_read_iops", "seq-read-1") == 499
    assert at("io_read_latency", "seq-read-1") == pytest.approx(1993.81e-6)  # "lat (usec): ... avg=1993.81"
    assert at("io_write_iops", "random-write-16") == 72807
    assert at("io_read_iops", "mixed-random-rw-32x8") == 73177 and at("io_write_iops", "mixed-random-rw-32x8") == 31376
    assert at("io_write_latency", "sequential-fill") == pytest.approx(21.81e-3)  # "lat (msec): ... avg=21.81"
    assert t.height == 27 and set(t["run"]) == {1}


def test_fio_3_json_and_text_of_the_same_job_file():
    parsed = readers.read_file(BENCH / "fio-3.33_json_here.json")
    j = parsed.table
    assert parsed.metadata["fio_version"] == "fio-3.33"

    def at(t, metric, job):
        return t.filter((pl.col("metric") == metric) & (pl.col("component") == job))["value"].item()
    assert at(j, "io_read_bw", "seq-read") == 1862216558  # "bw_bytes"
    assert at(j, "io_read_iops", "seq-read") == pytest.approx(1775.948104)
    assert at(j, "io_write_iops", "random-rw") == pytest.approx(7884.557721)
    assert "io_write_bw" not in set(j.filter(pl.col("component") == "seq-read")["metric"])  # no data written
    t = readers.read(BENCH / "fio-3.33_text_here.txt")
    # "read: IOPS=18.4k, BW=72.0MiB/s (75.5MB/s)": the IEC value, the k suffix
    assert at(t, "io_read_iops", "random-rw") == 18400 and at(t, "io_read_bw", "random-rw") == 72.0 * schema.MIB
    assert at(t, "io_write_latency", "random-rw") == pytest.approx(3864.61e-9)  # "lat (nsec): ... avg=3864.61"
    assert at(t, "io_read_latency", "seq-read") == pytest.approx(631.63e-6)


def test_a_fio_job_with_an_error_is_excluded():
    with pytest.warns(ExcludedDataWarning, match=r"fio_job_error.txt:37: job 'seq-read-1' reports err=5"):
        t = readers.read(BROKEN / "fio_job_error.txt")
    assert "seq-read-1" not in set(t["component"]) and "seq-read-2" in set(t["component"])


def test_mlc_default_run_of_a_two_socket_node():
    with pytest.warns(NativeMetricWarning, match=r"mlc:idle_latency"):
        parsed = readers.read_file(BENCH / "mlc-3.10_kuleuven_icelake.txt")
    t = parsed.table
    assert readers.detect(BENCH / "mlc-3.10_kuleuven_icelake.txt").name == "mlc"
    assert parsed.metadata["version"] == "v3.10"

    def at(metric, component):
        return t.filter((pl.col("metric") == metric) & (pl.col("component") == component))["value"].item()
    # idle latency, node 0's CPUs to node 0's memory: "0  89.2  142.7"
    assert at("mem_latency", "memory") == pytest.approx(89.2e-9)
    assert at("mlc:idle_latency", "node0->node1") == pytest.approx(142.7e-9)
    # "ALL Reads : 351762.1" MB/s, MB = 10^6 bytes as MLC states
    assert at("mem_read_bw", "memory") == pytest.approx(351762.1e6)
    assert at("mlc:peak_injection_bw", "3:1 reads-writes") == pytest.approx(313084.7e6)
    assert at("mlc:bandwidth_matrix", "node1->node0") == pytest.approx(55692.3e6)
    assert at("mlc:loaded_latency", "delay 20000") == pytest.approx(91.23e-9)
    assert at("mlc:loaded_bw", "delay 0") == pytest.approx(351871.6e6)
    assert at("mlc:c2c_latency", "local L2->L2 HITM") == pytest.approx(64.2e-9)
    assert at("mlc:c2c_latency", "remote HITM writer-homed node1->node0") == pytest.approx(127.2e-9)
    assert math.isnan(at("mlc:c2c_latency", "remote HITM reader-homed node0->node0"))  # printed "-"


def test_results_csv_transcription_of_the_network_spreadsheets():
    t = readers.read(FELTER / "network" / "network.csv")
    assert readers.detect(FELTER / "network" / "network.csv").name == "results-csv"
    rtt = t.filter((pl.col("metric") == "net_latency") & (pl.col("condition") == "kvm")
                   & (pl.col("component") == "TCP_RR")).row(0, named=True)
    assert rtt["value"] == pytest.approx(1 / 14718.59) and rtt["aggregate"] == "mean"
    tp = t.filter((pl.col("metric") == "net_throughput") & (pl.col("condition") == "docker-nat")
                  & (pl.col("component") == "nuttcp client->server"))["value"].item()
    assert tp == pytest.approx(9329.8451e6 / 8)
    assert set(t["source"]) == {"results-csv"} and t.height == 14


@pytest.mark.parametrize("name, fmt, message", [
    ("gups_no_rate.txt", "gups", r"gups_no_rate.txt:7: expected a '<rate> Billion\(10\^9\) Updates per second "
                                 r"\[GUP/s\]' line, found none"),
    ("gups_bad_rate.txt", "gups", r"gups_bad_rate.txt:8: expected a rate before 'Billion\(10\^9\) Updates per "
                                  r"second' \(ASCII digits\), found '0.01267x061'"),
    ("gups_found_without_rate.txt", "gups", r"gups_found_without_rate.txt:18: expected a '\[GUP/s\]' rate before "
                                            r"the verification line"),
    ("hpcc_no_randomaccess.txt", "gups", r"hpcc_no_randomaccess.txt:404: expected '<name>RandomAccess_GUPs=<value>' "
                                         r"lines in HPCC's summary section, found none \(RandomAccess was not run\)"),
    ("hpcc_nan_gups.txt", "gups", r"hpcc_nan_gups.txt:527: expected a number after "
                                  r"'SingleRandomAccess_GUPs=' \(ASCII digits\), found 'nan'"),
    ("linpack_bad_gflops.txt", "linpack", r"linpack_bad_gflops.txt:28: expected GFlops \(the fifth column\) "
                                          r"\(ASCII digits\), found '29O.9670'"),
    ("linpack_short_row.txt", "linpack", r"linpack_short_row.txt:30: expected a trial line 'Size LDA Align. "
                                         r"Time\(s\) GFlops Residual Residual\(norm\) Check', found 45000"),
    ("linpack_interrupted.txt", "linpack", r"linpack_interrupted.txt:55: expected a LINPACK timing table .* "
                                           r"found none \(not LINPACK output, or every run was interrupted\)"),
    ("fio_truncated.json", "fio", r"fio_truncated.json:\d+: expected a JSON document \(fio --output-format=json\)"),
    ("fio_no_jobs.json", "fio", r"fio_no_jobs.json: jobs: expected a non-empty 'jobs' list, found \[\]"),
    ("fio_bad_bandwidth.txt", "fio", r"fio_bad_bandwidth.txt:20: expected a bandwidth such as 291231KB/s or "
                                     r"72.0MiB/s, found 750994KB/h"),
    ("fio_no_results.txt", "fio", r"fio_no_results.txt:17: expected fio job results"),
    ("mlc_no_banner.txt", "mlc", r"mlc_no_banner.txt:1: expected the banner 'Intel\(R\) Memory Latency Checker - "
                                 r"v<version>', found \*\*\* Unable to modify prefetchers"),
    ("mlc_short_row.txt", "mlc", r"mlc_short_row.txt:7: expected 2 values \(one per node: 0 1\), found 1: 0"),
    ("mlc_bad_latency.txt", "mlc", r"mlc_bad_latency.txt:35: expected a latency in ns \(second column\) "
                                   r"\(ASCII digits\), found '264.O4'"),
    ("mlc_banner_only.txt", "mlc", r"mlc_banner_only.txt:3: expected MLC results .*found none"),
    ("results_unknown_column.csv", "results-csv", r"results_unknown_column.csv:1: expected columns of the "
                                                  r"measurement table .* found a column 'remark'"),
    ("results_no_unit.csv", "results-csv", r"results_no_unit.csv:1: expected the columns metric, component, "
                                           r"value, unit, found no column 'component'"),
    ("results_bad_value.csv", "results-csv", r"results_bad_value.csv:2: expected a number in 'value' \(ASCII "
                                             r"digits\), found 'fast'"),
    ("results_short_row.csv", "results-csv", r"results_short_row.csv:2: expected 5 cells as in the header, found 4"),
])
def test_broken_files_name_line_and_expectation(name, fmt, message):
    with pytest.raises(ParseError, match=message):
        quiet_read(BROKEN / name, format=fmt)


def test_results_csv_in_a_wrong_unit_is_refused_by_the_table_gate():
    with pytest.raises(SchemaError, match=r"results_wrong_unit.csv: column 'unit': expected 'seconds' for metric "
                                          r"net_latency, found 'us'"):
        readers.read(BROKEN / "results_wrong_unit.csv")
