"""sysstat sadf exports (-d, -dh, -j, -x): the sysstat test suite's expected outputs read
to concrete values, the three forms agreeing with each other, files made here with
sadc/sadf read alike, and every broken file with its message pinned."""
from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from workbench import readers, schema
from workbench.errors import NativeMetricWarning, ParseError, WorkbenchError

from ..conftest import FIXTURES

SYSSTAT = FIXTURES / "sysstat"
T4 = datetime(2019, 4, 18, 13, 20, 49, tzinfo=timezone.utc)  # the sample with steal
T1 = datetime(2019, 4, 18, 13, 20, 19, tzinfo=timezone.utc)


def read(name, **options):
    with pytest.warns(NativeMetricWarning):
        return readers.read_file(SYSSTAT / name, options=options or None)


def value(table, metric, component="total", time=T1):
    rows = table.filter((pl.col("metric") == metric) & (pl.col("component") == component) & (pl.col("time") == time))
    assert rows.height == 1, (metric, component, rows)
    return rows.row(0, named=True)


@pytest.fixture(scope="module")
def tables():
    return {name: read(f"expected.sadf-{name}") for name in ("j", "x", "d", "dh")}


def test_sadf_j_reads_the_cpus_memory_swap_disks_networks_and_load(tables):
    parsed = tables["j"]
    t = parsed.table
    assert set(t["host"]) == {"SYSSTAT.TEST"} and set(t["source"]) == {"sysstat"}
    assert parsed.metadata["format"] == "sadf -j" and parsed.metadata["number_of_cpus"] == "9"
    assert parsed.metadata["restarts"] == "2019-04-18 13:37:29 UTC (9 CPU), 2019-04-18 13:54:09 UTC (10 CPU)"
    assert parsed.metadata["comments"] == "2019-04-18 13:39:09: Testing sysstat!"
    # "cpu": "all" at 13:20:49: "steal": 0.39, "iowait": 0.49, "idle": 75.90; cpu 8 steal 4.50
    steal = value(t, "cpu_steal", time=T4)
    assert (steal["value"], steal["unit"], steal["aggregate"], steal["interval"]) == (0.39, "percent", "mean", 22.0)
    assert value(t, "cpu_steal", "cpu8", T4)["value"] == 4.5
    assert value(t, "cpu_iowait", time=T4)["value"] == 0.49
    assert value(t, "cpu_util", time=T4)["value"] == pytest.approx(100 - 75.90 - 0.49 - 0.39)
    # "memory": {"memfree": 1437740, "memused": 3755444, "memused-percent": 46.11, "swpfree": 16777212, "swpused": 0}
    assert value(t, "mem_free")["value"] == 1437740 * 1024
    assert value(t, "mem_used")["value"] == 3755444 * 1024 and value(t, "mem_used")["aggregate"] == "last"
    assert value(t, "mem_util")["value"] == 46.11
    assert (value(t, "swap_used")["value"], value(t, "swap_total")["value"]) == (0.0, 16777212 * 1024)
    # "queue": {"ldavg-1": 3.16, "ldavg-5": 3.24}
    assert value(t, "load_avg")["value"] == 3.16
    assert value(t, "sysstat:ldavg-5")["value"] == 3.24
    # disk sdq "rkB": 7.86 -> bytes/s; network virbr0-1 "txkB": 0.13
    assert value(t, "disk_read", "sdq")["value"] == pytest.approx(7.86 * 1024)
    assert value(t, "net_tx", "virbr0-1")["value"] == pytest.approx(0.13 * 1024)
    # outside the vocabulary: kept with the sadf -d name and the native unit
    cached = value(t, "sysstat:kbcached")
    assert (cached["value"], cached["unit"]) == (2821596.0, "kB")
    assert value(t, "sysstat:%usr")["value"] == 2.15
    assert value(t, "sysstat:intr/s", "sum:all")["value"] == 31915.30


def test_sadf_x_reads_exactly_what_sadf_j_reads(tables):
    j, x = (tables[k].table.drop("source_file") for k in ("j", "x"))
    assert x.equals(j)
    assert tables["x"].metadata["restarts"] == tables["j"].metadata["restarts"]


def test_sadf_d_reads_the_same_vocabulary_values_as_sadf_j(tables):
    keys = ["time", "metric", "component"]
    known = pl.col("metric").is_in(list(schema.METRICS))
    j = tables["j"].table.filter(known).select(*keys, "value", "interval", "aggregate")
    d = tables["d"].table.filter(known).select(*keys, "value", "interval", "aggregate")
    assert d.height == j.height == 409
    assert d.sort(keys).equals(j.sort(keys))
    assert tables["d"].metadata["restarts"] == "2019-04-18 13:37:29 UTC (9 CPU), 2019-04-18 13:54:09 UTC (10 CPU)"
    assert tables["d"].metadata["comments"] == "2019-04-18 13:39:09 UTC: Testing sysstat!"


def test_sadf_dh_one_line_per_sample_with_repeated_groups(tables):
    t = tables["dh"].table
    # "-Iu ALL -P all,3": CPU -1 (all) and 3 per line, then the interrupts with one value per CPU
    assert set(t.filter(pl.col("metric") == "cpu_steal")["component"]) == {"total", "cpu3"}
    assert value(t, "cpu_steal", time=T4)["value"] == 0.39
    assert value(t, "sysstat:%nice", "cpu3")["value"] == 99.55
    # INTR;CPU*: "sum;31915.30;1027.05": all CPUs, then CPU 3 (sadf -d does not name it)
    assert value(t, "sysstat:intr/s", "sum:all")["value"] == 31915.30
    assert value(t, "sysstat:intr/s", "sum:#1")["value"] == 1027.05
    assert t["time"].n_unique() == 5


def test_local_times_need_the_zone_and_are_then_utc():
    with pytest.raises(ParseError, match=r"expected\.sadf-d-t-tz:2: expected times in UTC .* or the option "
                                         r"timezone='Area/City' for local times \(sadf -t/-T\), found "
                                         r"'2019-04-18 15:20:19 CET'"):
        readers.read(SYSSTAT / "expected.sadf-d-t-tz")
    t = read("expected.sadf-d-t-tz", timezone="Europe/Paris").table  # CEST in April: UTC+2
    assert t["time"].min() == T1
    with pytest.warns(NativeMetricWarning, match="sysstat:runq-sz"):
        json = readers.read(SYSSTAT / "broken" / "local_time.sadf-j", options={"timezone": "Europe/Madrid"})
    assert json["time"].to_list() == [datetime(2024, 1, 1, 0, 0, 10, tzinfo=timezone.utc)] * 2
    with pytest.raises(WorkbenchError, match=r"unknown timezone 'Mars/Olympus'; expected an IANA name"):
        readers.read(SYSSTAT / "expected.sadf-d-t-tz", options={"timezone": "Mars/Olympus"})


def test_detected_and_listed():
    for name in ("j", "x", "d", "dh", "d-qu"):
        assert readers.detect(SYSSTAT / f"expected.sadf-{name}").name == "sysstat"
    assert "sysstat" in readers.formats()


def _sadc() -> str | None:
    for path in ("/usr/lib/sysstat/sadc", "/usr/lib64/sa/sadc", "/usr/libexec/sysstat/sadc", "/usr/lib/sa/sadc"):
        if Path(path).exists():
            return path
    return shutil.which("sadc")


@pytest.mark.skipif(_sadc() is None or shutil.which("sadf") is None, reason="sysstat (sadc, sadf) not installed")
def test_files_made_here_by_sadc_read_alike_in_every_form(tmp_path):
    sa = tmp_path / "sa.bin"
    subprocess.run([_sadc(), "-S", "XDISK", "1", "2", str(sa)], check=True, capture_output=True, timeout=30)
    tables = {}
    for flag in ("-d", "-j", "-x"):
        out = tmp_path / f"sa{flag}"
        out.write_bytes(subprocess.run(["sadf", flag, str(sa), "--", "-u", "ALL", "-P", "ALL", "-r", "-S", "-q",
                                        "-d", "-n", "DEV"], check=True, capture_output=True, timeout=30).stdout)
        with pytest.warns(NativeMetricWarning):
            tables[flag] = readers.read(out).filter(pl.col("metric").is_in(list(schema.METRICS)))
    keys = ["host", "time", "metric", "component"]
    d = tables["-d"].select(*keys, "value").sort(keys)
    assert {"cpu_util", "cpu_steal", "mem_free", "swap_total", "load_avg"} <= set(d["metric"])
    assert d.equals(tables["-j"].select(*keys, "value").sort(keys))
    assert d.equals(tables["-x"].select(*keys, "value").sort(keys))
    assert d.filter(pl.col("metric") == "cpu_util")["value"].is_between(0, 100).all()


@pytest.mark.parametrize("name, message", [
    ("bad_header.sadf-d", r"bad_header\.sadf-d:1: expected a sadf export: '# hostname;interval;timestamp;\.\.\.' "
                          r"\(sadf -d\), .* found # host;interval"),
    ("bad_number.sadf-d", r"bad_number\.sadf-d:3: expected a number for %system \(ASCII digits\), found '1,5'"),
    ("short_line.sadf-d", r"short_line\.sadf-d:3: expected 10 fields, as in the header, found 7 fields"),
    ("bad_timestamp.sadf-d", r"bad_timestamp\.sadf-d:3: expected a time stamp YYYY-MM-DD HH:MM:SS \[UTC\], "
                             r"found '01/01/2024 00:00:20 UTC'"),
    ("zero_interval.sadf-d", r"zero_interval\.sadf-d:2: expected an interval in seconds > 0, found '0'"),
    ("infinite.sadf-d", r"infinite\.sadf-d:2: expected a number for ldavg-1 within the range of a double "
                         r"\(up to 1\.8e308\), found '1e999'"),
    ("extra_fields.sadf-dh", r"extra_fields\.sadf-dh:2: expected 27 fields, as the header's groups describe, "
                             r"found 28 fields"),
    ("truncated.sadf-j", r"truncated\.sadf-j:28: expected JSON \(Expecting ',' delimiter\), found the end of the text"),
    ("no_hosts.sadf-j", r"no_hosts\.sadf-j: sysstat\.hosts: expected a list of hosts under .*, found keys "
                        r"\['sysdata-version', 'host'\]"),
    ("truncated.sadf-x", r"truncated\.sadf-x:51: expected well-formed XML, found Premature end of data"),
    ("entities.sadf-x", r"entities\.sadf-x: line 2, <!DOCTYPE>: expected no DOCTYPE with entity declarations"),
    ("wrong_root.sadf-x", r"wrong_root\.sadf-x: line 2, <sysdata>: expected the root element <sysstat>, "
                          r"found <sysdata>"),
    ("bad_value.sadf-j", r"bad_value\.sadf-j: sysstat\.hosts\[0\]\.statistics\[1\]: expected a number for "
                         r"%steal \(ASCII digits\), found 'n/a'"),
    ("bad_value.sadf-x", r"bad_value\.sadf-x: line 6, <timestamp>: expected a number for %steal \(ASCII digits\), "
                         r"found 'x'"),
    ("local_time.sadf-j", r"local_time\.sadf-j: sysstat\.hosts\[0\]\.statistics\[0\]: expected times in UTC .*, "
                          r"found '2024-01-01 01:00:10 CET'"),
])
def test_broken_files_name_the_line_what_was_expected_and_found(name, message):
    with pytest.raises(ParseError, match=message):
        readers.read(SYSSTAT / "broken" / name, format="sysstat")
