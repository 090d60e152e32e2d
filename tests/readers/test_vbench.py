"""vbench (the lab's benchmark): its native output and the real consoles of a QEMU TCG and a
User-mode Linux guest read to concrete values; every broken file with its message pinned."""
from __future__ import annotations

import polars as pl
import pytest

from workbench import readers
from workbench.errors import NativeMetricWarning, ParseError
from workbench.readers import vbench

from ..conftest import FIXTURES

VB = FIXTURES / "vbench"


def values(table: pl.DataFrame) -> dict[str, float]:
    return dict(zip(table["metric"], table["value"]))


def test_native_output_reads_to_every_metric_in_canonical_units():
    parsed = readers.read_file(VB / "native_quick.out")
    t = parsed.table
    assert readers.detect(VB / "native_quick.out").name == "vbench"
    v = values(t)
    assert v["syscall_latency"] == pytest.approx(131.66e-9)
    assert v["fork_latency"] == pytest.approx(57996.1e-9)
    assert v["exec_latency"] == pytest.approx(270745e-9)
    assert v["ctxsw_latency"] == pytest.approx(1357.51e-9)
    assert v["pagefault_latency"] == pytest.approx(3992.6e-9)
    assert v["mmap_latency"] == pytest.approx(73029.4e-9)
    assert v["stream_copy_bw"] == pytest.approx(23854.9e6)
    assert v["stream_triad_bw"] == pytest.approx(12450.6e6)
    assert v["mem_latency"] == pytest.approx(80.8657e-9)
    assert v["cpu_op_time"] == pytest.approx(271.554e-9)
    assert t.height == 10 and "boot_time" not in v  # natively there is no boot
    assert set(t["aggregate"]) == {"best"} and set(t["source"]) == {"vbench"}
    assert dict(zip(t["metric"], t["component"]))["syscall_latency"] == "getppid"
    assert t["flag"].null_count() == t.height
    assert parsed.metadata == {}


def test_qemu_tcg_console_reads_with_boot_time_and_clock_check():
    parsed = readers.read_file(VB / "emulated_quick_console.out")
    v = values(parsed.table)
    assert readers.detect(VB / "emulated_quick_console.out").name == "vbench"
    assert v["syscall_latency"] == pytest.approx(787.041e-9)
    assert v["fork_latency"] == pytest.approx(2.41548e-3)
    assert v["boot_time"] == pytest.approx(16.929)
    assert parsed.metadata == {"environment": "emulated", "boot_seconds": "16.929", "guest_clock_span": "0.644756",
                               "host_clock_span": "0.712"}
    assert parsed.table["flag"].null_count() == parsed.table.height  # 0.64 s against 0.71 s: the clocks agree


def test_uml_console_with_crlf_and_startup_lines_reads():
    parsed = readers.read_file(VB / "paravirtualized_quick_console.out")
    v = values(parsed.table)
    assert v["syscall_latency"] == pytest.approx(9007.75e-9)
    assert v["pagefault_latency"] == pytest.approx(28648e-9)
    assert v["boot_time"] == pytest.approx(2.043)
    assert parsed.metadata["environment"] == "paravirtualized"
    assert parsed.table.height == 11


def test_a_guest_clock_that_disagrees_with_the_host_flags_every_row():
    text = (VB / "emulated_quick_console.out").read_bytes().replace(b"workload=0.712 s", b"workload=3.000 s")
    table = vbench.parse(text, source="slow-clock.out").table
    assert set(table["flag"]) == {"guest clock: the run took 0.64 s by the guest's clock and 3.00 s by the host's"}


def test_an_unknown_benchmark_is_kept_under_the_readers_name():
    text = b"vbench 1 begin\nvbench: futex 120.5 ns ops=10 batches=3\nvbench 1 end 0.1 s\n"
    with pytest.warns(NativeMetricWarning, match="x: 1 benchmark.s. outside the metric vocabulary kept as "
                                                 "native metrics: vbench:futex"):
        table = readers.validate_labelled(vbench.parse(text, source="x").table, {}, {}, source="x")
    assert table.row(0, named=True)["metric"] == "vbench:futex" and table["value"][0] == pytest.approx(120.5e-9)


@pytest.mark.parametrize("name, message", [
    ("truncated_console.out", r"truncated_console.out:8: expected 'vbench 1 end' after the results, found the end "
                              r"of the file \(a run cut short: the guest stopped or was killed\)"),
    ("error_line.out", r"error_line.out:3: expected a benchmark result, found vbench's error: fork: Resource "
                       r"temporarily unavailable"),
    ("bad_value.out", r"bad_value.out:2: expected 'vbench: <name> <value> <unit> ops=<n> batches=<n>', found "
                      r"vbench: syscall 131,66 ns"),
    ("bad_unit.out", r"bad_unit.out:2: expected a unit of ns, ns/op, MB/s, found us"),
    ("repeated.out", r"repeated.out:12: expected one 'cpu' result, found a second one \(first at line 11\)"),
    ("version2.out", r"version2.out:1: expected vbench output version 1, found version 2"),
    ("zero_value.out", r"zero_value.out:3: expected a positive fork value, found 0"),
    ("infinite_value.out", r"infinite_value.out:8: expected the copy value as a finite non-negative number, "
                           r"found inf"),
    ("panic_console.out", r"panic_console.out: expected vbench output \('vbench 1 begin'\), found none \(the "
                          r"workload did not start, or this is not vbench's output\)"),
    ("after_end.out", r"after_end.out:13: expected vbench lines between 'vbench 1 begin' and 'vbench 1 end', "
                      r"found vbench: syscall"),
    ("no_results.out", r"no_results.out:2: expected at least one result before 'vbench 1 end', found none"),
])
def test_broken_files_name_the_line_and_what_is_wrong(name, message):
    with pytest.raises(ParseError, match=message):
        readers.read_file(VB / "broken" / name, format="vbench")
