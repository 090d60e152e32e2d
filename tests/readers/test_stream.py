"""STREAM reader on the real Felter et al. (2014) logs, and its error paths."""
import polars as pl
import pytest

from workbench import readers
from workbench.errors import ParseError

from ..conftest import DATA, FIXTURES

LOGS = DATA / "felter2014"
BROKEN = FIXTURES / "stream"


def test_first_kvm_run_copy_rate():
    t = readers.read(LOGS / "vm.log", condition="kvm")
    first = t.filter((pl.col("run") == 1) & (pl.col("metric") == "stream_copy_bw"))
    assert first["value"].to_list() == [40.0956e9]  # "Copy:  40.0956" GB/s, best of 10
    assert first.select("stage", "aggregate", "component", "unit", "source").row(0) == (
        "32 threads", "best", "memory", "bytes/s", "stream")


@pytest.mark.parametrize("log, triad_last", [("linux.log", 25.1348e9), ("vm.log", None), ("docker.log", None)])
def test_twenty_runs_ten_per_thread_count(log, triad_last):
    t = readers.read(LOGS / log)
    assert t.height == 80
    assert t["run"].n_unique() == 20
    per_stage = dict(t.group_by("stage").agg(pl.col("run").n_unique()).iter_rows())
    assert per_stage == {"32 threads": 10, "16 threads": 10}
    assert t.filter(pl.col("run") == 11)["stage"].unique().to_list() == ["16 threads"]
    if triad_last:
        last = t.filter((pl.col("run") == 20) & (pl.col("metric") == "stream_triad_bw"))["value"][0]
        assert last == pytest.approx(triad_last)


def test_native_log_values():
    t = readers.read(LOGS / "linux.log")
    copy = t.filter(pl.col("metric") == "stream_copy_bw").sort("run")["value"].to_list()
    assert copy[:2] == [41.2869e9, 41.1755e9]


def test_stream_510_layout_threads_counted_and_failed_validation():
    with pytest.warns(UserWarning, match="run 2 .line 35. failed STREAM's validation; its rates are excluded"):
        t = readers.read(BROKEN / "stream510_failed_validation.log")
    assert t.height == 4
    assert t["stage"].unique().to_list() == ["2 threads"]
    assert t.filter(pl.col("metric") == "stream_copy_bw")["value"].to_list() == [15522.7e6]  # MB/s = 10^6


def test_detected_by_content():
    assert readers.detect(LOGS / "docker.log").name == "stream"
    assert readers.detect(BROKEN / "stream510_failed_validation.log").name == "stream"


@pytest.mark.parametrize("name, line, message", [
    ("truncated_run.log", 31, "expected results for Copy, Scale, Add, Triad in the run starting at line 1, "
                              "found no 'Add:' line .truncated run.."),
    ("bad_number.log", 30, "expected a rate and three times after 'Copy:', found 40.O956"),
    ("no_header.log", 24, "expected the 'Function ... Rate' table header before results"),
    ("cut_in_last_run.log", 60, "expected STREAM results for the run starting at line 42, found none "
                                r"\(the log ends inside that run: truncated\?\)"),
    ("cut_before_validation.log", 33, r"expected 'Solution Validates' \(or 'Failed Validation'\) after the "
                                      r"results of the run starting at line 1, as this stream.c prints, found none"),
])
def test_broken_logs(name, line, message):
    with pytest.raises(ParseError, match=message) as info:
        readers.read(BROKEN / name, format="stream")
    assert info.value.line == line
    assert info.value.path.endswith(name)


def test_no_results():
    with pytest.raises(ParseError, match="not a STREAM log, or truncated before its results"):
        readers.read(BROKEN / "no_results.log", format="stream")
