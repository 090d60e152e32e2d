"""Peers' result files: hyperfine, pyperf, Phoronix Test Suite; values asserted, verdicts given."""
import gzip
import warnings

import polars as pl
import pytest

from workbench import readers, stats
from workbench.errors import ExcludedDataWarning, NativeMetricWarning, ParseError, UnknownFormatError

from ..conftest import FIXTURES

PEERS = FIXTURES / "peers"
BROKEN = PEERS / "broken"
HF = PEERS / "hyperfine_sort_vs_gzip.json"
HF_PARAM = PEERS / "hyperfine_seq_param.json"
PP_ASC = PEERS / "pyperf_sorted_ascending.json"
PP_SHUF = PEERS / "pyperf_sorted_shuffled.json"
PP_SUITE = PEERS / "pyperf_suite_two_benchmarks.json"
PTS = PEERS / "phoronix_composite_constructed.xml"


@pytest.mark.parametrize("path, name", [(HF, "hyperfine"), (HF_PARAM, "hyperfine"), (PP_ASC, "pyperf"),
                                        (PP_SUITE, "pyperf"), (PTS, "phoronix")])
def test_detected_from_content(path, name):
    assert readers.detect(path).name == name


def test_hyperfine_each_run_is_a_run():
    parsed = readers.read_file(HF, source_file="hf.json")
    t = parsed.table
    assert t.height == 20
    assert set(t["metric"]) == {"bench_time"} and set(t["unit"]) == {"seconds"}
    sort = t.filter(pl.col("component") == "sort").sort("run")
    assert sort["run"].to_list() == list(range(1, 11))
    assert sort["value"][0] == 0.0010073690000000001 and sort["value"][9] == 0.0008494100000000001
    assert t.filter(pl.col("component") == "gzip -c")["value"].max() == 0.001269294
    assert set(t["aggregate"]) == {"single"} and t["time"].null_count() == 20
    assert parsed.metadata["command.2"] == "gzip -c" and parsed.metadata["command.1.mean"] == "0.0009027985000000001"
    params = readers.read_file(HF_PARAM)
    assert params.metadata["command.2.parameter.n"] == "10000"
    assert params.table.filter(pl.col("component") == "seq 1000")["value"][0] == 0.001233664


def test_hyperfine_commands_compared_with_our_verdict():
    t = readers.read(HF, options={"command_as_condition": True})
    assert set(t["condition"]) == {"sort", "gzip -c"} and set(t["component"]) == {"hyperfine"}
    result = stats.compare_all(t, baseline="sort")
    (c,) = result.comparisons
    assert c.status is stats.Status.TESTED
    assert c.verdict.startswith("gzip -c is 32.0 % slower than sort: change of the mean +32.0 % [+26.0 %, +38.5 %]")
    assert "10 vs 10 runs" in c.verdict


def test_hyperfine_failed_runs_are_excluded_by_name():
    with pytest.warns(ExcludedDataWarning, match=r"2 run\(s\) with a non-zero exit code excluded: 'gzip -c' run 4 "
                                                r"\(exit code 1\); 'gzip -c' run 8 \(killed by a signal\)$"):
        t = readers.read(BROKEN / "hyperfine_one_failed_run.json")
    assert sorted(t.filter(pl.col("component") == "gzip -c")["run"]) == [1, 2, 3, 5, 6, 7, 9, 10]


def test_pyperf_processes_are_runs_values_are_samples():
    parsed = readers.read_file(PP_ASC)
    t = parsed.table
    assert t.height == 20 and t["run"].n_unique() == 10  # 11 processes, the first calibrates only
    assert set(t["component"]) == {"sorted_1000"} and set(t["metric"]) == {"bench_time"}
    first = t.filter(pl.col("run") == 1)["value"].to_list()
    assert len(first) == 2 and first[0] == pytest.approx(7.1e-06, rel=0.05)
    assert parsed.metadata["pyperf.perf_version"] == "2.11.0" and parsed.metadata["benchmarks"] == "sorted_1000"
    suite = readers.read(PP_SUITE)
    assert suite.group_by("component").len().sort("component").rows() == [("sorted_1000", 20), ("str_join", 20)]


def test_pyperf_gzip_reads_the_same(tmp_path):
    packed = tmp_path / "asc.json.gz"
    packed.write_bytes(gzip.compress(PP_ASC.read_bytes()))
    assert readers.detect(packed).name == "pyperf"
    assert readers.read(packed, source_file="x").equals(readers.read(PP_ASC, source_file="x"))


def test_pyperf_two_files_two_conditions_verdict():
    t = pl.concat([readers.read(PP_ASC, condition="ascending"), readers.read(PP_SHUF, condition="shuffled")])
    (c,) = stats.compare_all(t, baseline="ascending").comparisons
    assert c.status is stats.Status.TESTED
    assert c.verdict.startswith("shuffled is 964.6 % slower than ascending")
    assert "10 vs 10 runs" in c.verdict


def test_phoronix_passes_are_runs_systems_are_conditions():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parsed = readers.read_file(PTS)
    messages = [str(w.message) for w in caught]
    assert any("2 result(s) excluded: result 'Timed Linux Kernel Compilation' (line 78), system 'kvm': every pass "
               "failed (empty Value); result 'CPU Temperature Monitor' (line 101): DisplayFormat LINE_GRAPH" in m
               for m in messages)
    assert any("phoronix:RAMspeed SMP (MB/s)" in m for m in messages)
    t = parsed.table
    cray = t.filter(pl.col("component") == "C-Ray: Total Time - 4K, 16 Rays Per Pixel")
    assert cray["metric"].unique().to_list() == ["bench_time"]
    assert cray.filter(pl.col("condition") == "kvm").sort("run")["value"].to_list() == [
        33.112, 32.987, 33.064, 33.125, 32.962]
    ram = t.filter(pl.col("metric") == "phoronix:RAMspeed SMP")
    assert ram["unit"].unique().to_list() == ["MB/s"] and ram["component"][0] == "Type: Copy - Benchmark: Integer"
    assert ram.filter(pl.col("condition") == "native")["value"].to_list() == [18466.5, 18490.22, 18460.39]
    kernel = t.filter(pl.col("component").cast(pl.String).str.starts_with("Timed Linux"))
    assert kernel["condition"].unique().to_list() == ["native"] and kernel.height == 2
    assert parsed.metadata["system.kvm.software"].endswith("System Layer: KVM")
    assert parsed.metadata["result.RAMspeed SMP: Type: Copy - Benchmark: Integer.proportion"] == "HIB"


@pytest.mark.filterwarnings("ignore::workbench.errors.WorkbenchWarning")
def test_phoronix_verdicts_and_refusal_to_claim():
    result = stats.compare_all(readers.read(PTS), baseline="native")
    by_component = {dict(c.cell)["component"]: c
                    for c in result.comparisons}
    cray = by_component["C-Ray: Total Time - 4K, 16 Rays Per Pixel"]
    assert cray.verdict.startswith("kvm is 4.52 % slower than native")
    ram = by_component["Type: Copy - Benchmark: Integer"]
    assert ram.status is stats.Status.INSUFFICIENT_DATA
    assert "3 run(s) of kvm and 3 of native; at least 4 per condition are needed" in ram.verdict


@pytest.mark.parametrize("name, fmt, message", [
    ("hyperfine_without_times.json", None,
     r'results\[0\]: expected per-run "times" \(what hyperfine --export-json writes\), found keys command, mean, '
     r"stddev, median, user, system, min, max$"),
    ("hyperfine_time_as_text.json", None,
     r"results\[0\]\.\"times\"\[2\]: expected a run's wall-clock time in seconds: a number, found '0.9 ms'$"),
    ("hyperfine_negative_time.json", None,
     r"results\[1\]\.\"times\"\[0\]: expected a run's wall-clock time in seconds: a finite number >= 0, found -0.0011$"),
    ("hyperfine_exit_codes_short.json", None,
     r'results\[1\]\."exit_codes": expected one exit code per run \(10\), found 9 exit codes$'),
    ("hyperfine_truncated.json", None,
     r"hyperfine_truncated.json:32: expected a hyperfine --export-json document \(Expecting value\), found the end of the text"),
    ("pyperf_format_version_2.json", None, r"\"version\": expected pyperf's JSON format version 1.0, found '2.0'$"),
    ("pyperf_calibration_only.json", None,
     r"benchmarks\[0\]\.\"runs\": expected runs with values for benchmark 'sorted_1000', found 1 run\(s\) with "
     r"warmups only$"),
    ("pyperf_unknown_unit.json", None,
     r"benchmarks\[0\] metadata \"unit\": expected one of pyperf's units second, byte, integer, found 'parsec'$"),
    ("phoronix_pass_not_a_number.xml", None,
     r"phoronix_pass_not_a_number.xml:46: expected pass 2 of system 'native' in the result 'C-Ray' \(line 32\): "
     r"a number, found '31.7O2'$"),
    ("phoronix_system_twice.xml", None,
     r"phoronix_system_twice.xml:48: expected one entry per system and result \(C-Ray: Total Time - 4K, 16 Rays "
     r"Per Pixel\), found a second entry for system 'native'$"),
    ("phoronix_truncated.xml", None,
     r"phoronix_truncated.xml:53: expected well-formed XML \(a Phoronix Test Suite result file\), found "),
    ("phoronix_with_entity.xml", None,
     r"phoronix_with_entity.xml:3: expected a result file without a DOCTYPE \(entities are refused; PTS writes "
     r"none\), found a DOCTYPE/ENTITY$"),
    ("phoronix_test_definition.xml", "phoronix",
     r"phoronix_test_definition.xml:2: expected <Result> elements: this is a test profile's definition "
     r"\(test-definition.xml\), not a result file \(composite.xml\), found children <TestInformation>, <TestProfile>$"),
])
def test_broken_files_are_refused_with_a_pinned_message(name, fmt, message):
    with pytest.raises(ParseError, match=message) as info:
        readers.read(BROKEN / name, format=fmt)
    assert info.value.path.endswith(name)


def test_a_test_definition_is_not_taken_for_results():
    with pytest.raises(UnknownFormatError):
        readers.detect(BROKEN / "phoronix_test_definition.xml")


def test_native_warning_names_ramspeed():
    with pytest.warns(NativeMetricWarning, match=r"phoronix:RAMspeed SMP \(MB/s\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExcludedDataWarning)
            readers.read(PTS)
