"""Every number the text readers read goes through readers._numbers (issue 18: one rule):
a number in other scripts' digits and one that overflows a double are refused with the
rule's message, naming the file and line. Each case is a real sample with one number
replaced (the replaced text is asserted present, so a changed sample fails loudly)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench import readers
from workbench.errors import ParseError

from ..conftest import FIXTURES

DATA = Path(__file__).resolve().parents[2] / "data"
DSTAT = FIXTURES / "dstat" / "felter_kvm_head40.csv"
GUPS = DATA / "felter2014" / "randomaccess" / "native.one-socket.log"
LINPACK = DATA / "felter2014" / "linpack" / "native.log"
LMBENCH = FIXTURES / "benchmarks" / "lmbench3_summary_pkb_azure.txt"
LAT_MEM_RD = FIXTURES / "benchmarks" / "lat_mem_rd_constructed.txt"
RESULTS = DATA / "felter2014" / "network" / "network.csv"
SADF = FIXTURES / "sysstat" / "expected.sadf-d"
VBENCH = FIXTURES / "vbench" / "native_quick.out"
FIO = FIXTURES / "benchmarks" / "fio-3.33_text_here.txt"
PHORONIX = FIXTURES / "peers" / "phoronix_composite_constructed.xml"

DIGITS = "within the range of a double (up to 1.8e308)"
CASES = [
    # dstat: a cell, the epoch column's absence aside (cells are read column-wise)
    (DSTAT, "dstat", "\n0.0,0.0,100.0,0.0,0.0,0.0,581.0,", "\n0.0,0.0,１００.0,0.0,0.0,0.0,581.0,",
     "felter_kvm_head40.csv:9: expected a number in column 'total cpu usage:idl' (ASCII digits), found '１００.0'"),
    (DSTAT, "dstat", "\n0.0,0.0,100.0,0.0,0.0,0.0,581.0,", "\n0.0,0.0,1e999,0.0,0.0,0.0,581.0,",
     f"felter_kvm_head40.csv:9: expected a number in column 'total cpu usage:idl' {DIGITS}, found '1e999'"),
    (DSTAT, "dstat", "-cndy --net-packets", "-cndy --net-packets ５",
     "felter_kvm_head40.csv:4: expected a delay in seconds on the Cmdline (ASCII digits), found '５'"),
    # gups: the rate, and the counts of its verification line
    (GUPS, "gups", "0.045309703 Billion", "０.045309703 Billion",
     "native.one-socket.log:8: expected a rate before 'Billion(10^9) Updates per second' (ASCII digits), "
     "found '０.045309703'"),
    (GUPS, "gups", "0.045309703 Billion", "1e999 Billion",
     f"native.one-socket.log:8: expected a rate before 'Billion(10^9) Updates per second' {DIGITS}, found '1e999'"),
    (GUPS, "gups", "Found 1 errors", "Found １ errors",
     "native.one-socket.log:9: expected an error count after 'Found' (ASCII digits), found '１'"),
    (GUPS, "gups", "Found 1 errors", "Found " + "9" * 5000 + " errors",
     "native.one-socket.log:9: expected an error count after 'Found' of at most 4300 digits, "
     "found a number of 5000 characters"),
    # linpack: the size (component N=...) and the GFlops
    (LINPACK, "linpack", "45000  45000  1      208.417    291.5018", "４5000  45000  1      208.417    291.5018",
     "native.log:28: expected a problem size (first column) (ASCII digits), found '４5000'"),
    (LINPACK, "linpack", "45000  45000  1      208.417    291.5018", "45000  45000  1      208.417    1e999",
     f"native.log:28: expected GFlops (the fifth column) {DIGITS}, found '1e999'"),
    # lmbench: a 'name: value unit' line, a curve's pair, a file-system row, a stride
    (LMBENCH, "lmbench", "Simple syscall: 0.2345 microseconds", "Simple syscall: ０.2345 microseconds",
     "lmbench3_summary_pkb_azure.txt:94: expected a number after 'Simple syscall:' (ASCII digits), found '０.2345'"),
    (LMBENCH, "lmbench", "Simple syscall: 0.2345 microseconds", "Simple syscall: 1e999 microseconds",
     f"lmbench3_summary_pkb_azure.txt:94: expected a number after 'Simple syscall:' {DIGITS}, found '1e999'"),
    (LMBENCH, "lmbench", "0k\t18774\t171147", "0k\t18774\t１71147",
     "lmbench3_summary_pkb_azure.txt:127: expected creations per second (third column) (ASCII digits), "
     "found '１71147'"),
    (LAT_MEM_RD, "lmbench", "0.00049 1.212", "0.00049 １.212",
     "lat_mem_rd_constructed.txt:2: expected a value of 'stride=128' (ASCII digits), found '１.212'"),
    (LAT_MEM_RD, "lmbench", "0.00049 1.212", "0.00049 1e307",
     "lat_mem_rd_constructed.txt:2: expected a value of 'stride=128' that stays within a double's range in "
     "canonical units (up to 1.7e+302), found '1e307'"),
    (LAT_MEM_RD, "lmbench", '"stride=128', '"stride=１２８',
     "lat_mem_rd_constructed.txt:1: expected a stride in bytes (ASCII digits), found '１２８'"),
    # results-csv: the value and the run
    (RESULTS, "results-csv", ",3.758206042894661e-05,", ",３.758206042894661e-05,",
     "network.csv:2: expected a number in 'value' (ASCII digits), found '３.758206042894661e-05'"),
    (RESULTS, "results-csv", ",3.758206042894661e-05,", ",3.758206042894661e+999,",
     f"network.csv:2: expected a number in 'value' {DIGITS}, found '3.758206042894661e+999'"),
    # sysstat (sadf -d): a value and the interval
    (SADF, "sysstat", ";-1;2.15;12.50;", ";-1;２.15;12.50;",
     "expected.sadf-d:2: expected a number for %usr (ASCII digits), found '２.15'"),
    (SADF, "sysstat", ";-1;2.15;12.50;", ";-1;2.15e999;12.50;",
     f"expected.sadf-d:2: expected a number for %usr {DIGITS}, found '2.15e999'"),
    (SADF, "sysstat", "SYSSTAT.TEST;31;2019-04-18 13:20:19 UTC;-1;", "SYSSTAT.TEST;３1;2019-04-18 13:20:19 UTC;-1;",
     "expected.sadf-d:2: expected a number for the interval (ASCII digits), found '３1'"),
    # sysstat (sadf -U): epoch seconds (10^16 s wrapped the microseconds silently)
    (SADF, "sysstat", "SYSSTAT.TEST;31;2019-04-18 13:20:19 UTC;-1;", "SYSSTAT.TEST;31;9999999999999999;-1;",
     "expected.sadf-d:2: expected epoch seconds (sadf -U) from 0 up to 253402300799, found 9999999999999999"),
    (SADF, "sysstat", "SYSSTAT.TEST;31;2019-04-18 13:20:19 UTC;-1;", "SYSSTAT.TEST;31;１５５５５９３６１９;-1;",
     "expected.sadf-d:2: expected epoch seconds (sadf -U) (ASCII digits), found '１５５５５９３６１９'"),
    # vbench: finite in MB/s, infinite in bytes/s
    (VBENCH, "vbench", "vbench: copy 23854.9 MB/s", "vbench: copy 1e305 MB/s",
     "native_quick.out:8: expected the copy value within a double's range in bytes/s, found 1e305"),
    # fio: a job's error number (was int(): '１' read as 1, 5000 digits a ValueError)
    (FIO, "fio", "(groupid=0, jobs=1): err= 0:", "(groupid=0, jobs=1): err= １:",
     "fio-3.33_text_here.txt:6: expected an error number after 'err=' (ASCII digits), found '１'"),
    (FIO, "fio", "(groupid=0, jobs=1): err= 0:", "(groupid=0, jobs=1): err= " + "1" * 5000 + ":",
     "fio-3.33_text_here.txt:6: expected an error number after 'err=' of at most 4300 digits, "
     "found a number of 5000 characters"),
]


@pytest.mark.parametrize("sample, fmt, old, new, message", CASES,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_a_number_outside_the_rule_is_named(tmp_path, sample, fmt, old, new, message):
    text = sample.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / sample.name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ParseError, match=re.escape(message) + "$"):
        readers.read(path, format=fmt)


def test_phoronix_refuses_other_scripts_digits(tmp_path):
    text = PHORONIX.read_text(encoding="utf-8")
    assert "<RawString>31.581:" in text
    path = tmp_path / PHORONIX.name
    path.write_text(text.replace("<RawString>31.581:", "<RawString>３1.581:", 1), encoding="utf-8")
    with pytest.raises(ParseError, match=re.escape("phoronix_composite_constructed.xml:46: expected pass 1 of system "
                                                   "'native' in the result 'C-Ray' (line 32): a number, found "
                                                   "'３1.581'") + "$"):
        readers.read(path, format="phoronix")


def test_a_results_csv_run_is_an_ascii_int32(tmp_path):
    lines = RESULTS.read_text(encoding="utf-8").splitlines()
    lines[0] += ",run"
    for i in range(1, len(lines)):
        lines[i] += ",1"
    path = tmp_path / "network.csv"
    for run, message in [("１", "(ASCII digits), found '１'"), ("9" * 5000, "of at most 4300 digits, found a number "
                                                                          "of 5000 characters"),
                         ("2147483648", "from 0 up to 2147483647, found 2147483648")]:
        lines[2] = lines[2].rsplit(",", 1)[0] + f",{run}"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(ParseError, match=re.escape(f"network.csv:3: expected a non-negative integer in 'run' "
                                                       f"{message}") + "$"):
            readers.read(path, format="results-csv")
    lines[2] = lines[2].rsplit(",", 1)[0] + ",2147483647"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert readers.read(path, format="results-csv")["run"].max() == 2147483647
