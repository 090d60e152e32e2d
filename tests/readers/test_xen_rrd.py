"""The xen_rrd reader on every sample, against rrdtool as an independent oracle, and on bad input."""
from __future__ import annotations

import gzip
import shutil
import subprocess
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from workbench import readers, schema
from workbench.errors import ParseError, UnknownFormatError
from workbench.readers import xen_rrd
from workbench.readers.xen_rrd import _xml

from ..conftest import FIXTURES

XEN = FIXTURES / "xen-rrd"
BROKEN = XEN / "broken"
DERIVED = XEN / "derived"
HOST = "6ae8c3e4-5f3a-4b0e-9d62-1c2b3a4d5e6f"
VM = "0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011"
KIB = 1024

pytestmark = pytest.mark.filterwarnings("ignore::workbench.readers.xen_rrd.XenRrdWarning")


def read(name: str | Path, **kw) -> pl.DataFrame:
    path = name if isinstance(name, Path) else XEN / name
    return readers.read(path, **kw)


def at(frame: pl.DataFrame, t: int, **eq) -> float:
    """The one value at epoch `t` matching `eq`."""
    hit = frame.filter(pl.col("time") == datetime.fromtimestamp(t, timezone.utc))
    for k, v in eq.items():
        hit = hit.filter(pl.col(k) == v)
    assert hit.height == 1, (t, eq, hit)
    return hit["value"][0]


def values_only(frame: pl.DataFrame) -> pl.DataFrame:
    """The table without the columns naming the reader and the file, in a stable order."""
    keys = ["host", "guest", "scope", "metric", "component", "aggregate", "interval", "time"]
    return frame.drop("source", "source_file").sort(keys)


# ------------------------------------------------------------------ samples

SAMPLES = {
    "real_vm_rrd_dump_xs60_nova_full.xml": "xen-rrd-dump",
    "real_vm_rrd_dump_xs60_nova_trimmed.xml": "xen-rrd-dump",
    "real_fixture_flip_flop_xapi-rrd_2019.xml": "xen-rrd-dump",
    "xs62writer_vm_rrd_dump.xml": "xen-rrd-dump",
    "xs62writer_vm_rrd_dump.json": "xen-rrd-dump",
    "xs62writer_host_rrd_dump_synthetic.xml": "xen-rrd-dump",
    "xs62writer_host_rrd_dump_synthetic.json": "xen-rrd-dump",
    "xs62writer_rrd_updates_host_5s.xml": "xen-rrd-updates",
    "xs62writer_rrd_updates_vm_5s.xml": "xen-rrd-updates",
    "xs62writer_rrd_updates_host_and_vm_5s.xml": "xen-rrd-updates",
    "xs62writer_rrd_updates_host_and_vm_5s.json": "xen-rrd-updates",
    "xs62writer_rrd_updates_host_and_vm_60s.xml": "xen-rrd-updates",
    "xs62writer_rrd_updates_host_and_vm_60s.json": "xen-rrd-updates",
    "emulated_rrd2csv_output_from_xs62writer.csv": "xen-rrd2csv",
    "doc_derived_xport_xen-api_perfmon_test.xml": "xen-rrd-updates",
    "rrdtool_dump.xml": "xen-rrd-dump",
    "rrdtool_xport.xml": "xen-rrd-updates",
    "rrdtool_xport.json": "xen-rrd-updates",
    "rrdtool_xport_showtime.xml": "xen-rrd-updates",
    "rrdtool_xport_showtime.json": "xen-rrd-updates",
}


def test_every_sample_is_here_and_detected():
    shared = {p.name for p in XEN.iterdir() if p.is_file() and p.suffix in (".xml", ".json", ".csv")}
    assert shared == set(SAMPLES)
    for name, fmt in SAMPLES.items():
        assert readers.detect(XEN / name).name == fmt, name


def test_nova_full_dump_newest_5s_row_converted():
    """The real capture: its newest 5 s row is nova's expected diagnostics, in canonical units."""
    t = read("real_vm_rrd_dump_xs60_nova_full.xml")
    newest = 1328795565  # floor(lastupdate 1328795567 / 5) * 5
    five = t.filter(pl.col("interval") == 5.0)
    assert at(five, newest, metric="cpu_util", component="cpu0") == pytest.approx(0.42)
    assert at(five, newest, metric="cpu_util", component="total") == pytest.approx(0.42)  # one vCPU
    assert at(five, newest, metric="mem_total") == 4294967296.0
    assert at(five, newest, metric="mem_free") == 1415564.0 * KIB  # KiB although 6.2 labels it B
    assert at(five, newest, metric="mem_used") == 4294967296.0 - 1415564.0 * KIB
    assert at(five, newest, metric="net_tx", component="vif0") == 287.4134
    assert at(five, newest, metric="net_rx", component="vif0") == 1816.0144
    assert at(five, newest, metric="disk_read", component="xvda") == 0.0
    assert at(five, newest, metric="xen-rrd:memory_target") == 4294967296.0
    assert set(t["scope"].unique()) == {"guest"}  # the VM DS set says so: dumps carry no object
    assert t["host"].unique().to_list() == ["unknown-host"]  # read()'s default: a dump names no host
    assert t["guest"].null_count() == t.height
    assert set(t["aggregate"].unique()) == {"mean"}
    # every archive, timed from lastupdate: 120 x 5 s, 120 x 1 min, 168 x 1 h, 366 x 1 day
    per = t.filter(pl.col("metric") == "mem_total").group_by("interval").agg(
        n=pl.len(), first=pl.col("time").min(), last=pl.col("time").max()).sort("interval")
    assert per["n"].to_list() == [120, 120, 168, 366]
    assert [d.timestamp() for d in per["last"]] == [1328795565, 1328795520, 1328792400, 1328745600]
    assert per["first"][3].timestamp() == 1328745600 - 365 * 86400


def test_counter_reset_in_the_real_capture_is_kept_not_mislabelled():
    """vbd_xvda_write of the nova capture goes negative in the hour of a counter reset: no
    value for disk_write there (xapi >= 2019 does the same), the raw value kept natively."""
    with pytest.warns(xen_rrd.XenRrdWarning, match=r"AVERAGE:vbd_xvda_write in <rra> 3: 1 value"):
        t = xen_rrd.parse(XEN.joinpath("real_vm_rrd_dump_xs60_nova_full.xml").read_bytes(), source="nova").table
    hour = t.filter(pl.col("interval") == 3600.0)
    assert np.isnan(at(hour, 1328630400, metric="disk_write", component="xvda"))
    assert at(hour, 1328630400, metric="xen-rrd:vbd_xvda_write") == pytest.approx(-33361214.0)
    native = t.filter(pl.col("metric") == "xen-rrd:vbd_xvda_write")
    assert native.height == 2 and native["unit"].unique().to_list() == ["bytes/s"]
    schema.validate(readers.validate_labelled(t, {}, {}, source="nova"))


def test_counter_wrap_spikes_are_kept_and_flagged():
    path = DERIVED / "rrd_updates_vm_5s_counter_wrap.xml"
    with pytest.warns(xen_rrd.CounterWrapWarning, match=r"1 value\(s\) look like xapi's \+2\^32 counter-wrap.*"
                                                         r"net_rx vif0 at 2012-02-09 13:52:45Z = 8.5899"):
        t = xen_rrd.parse(path.read_bytes(), source=str(path)).table
    spike = (2 ** 32 + 1816.0144 * 5) / 5
    assert at(t, 1328795565, metric="net_rx", component="vif0") == pytest.approx(spike, abs=1e-4)
    suspects = xen_rrd.counter_wrap_suspects(t)
    assert suspects.select("metric", "component").rows() == [("net_rx", "vif0")]
    assert suspects["time"][0].timestamp() == 1328795565
    # the unmodified file has no suspect
    assert xen_rrd.counter_wrap_suspects(read("xs62writer_rrd_updates_vm_5s.xml")).is_empty()


def test_counter_wrap_rule_frame_and_reader_agree_on_the_real_capture():
    with pytest.warns(xen_rrd.CounterWrapWarning, match=r"^.*: 6 value\(s\)"):
        t = xen_rrd.parse(XEN.joinpath("real_vm_rrd_dump_xs60_nova_full.xml").read_bytes(), source="nova").table
    suspects = xen_rrd.counter_wrap_suspects(t)
    assert suspects.height == 6
    assert sorted(set(zip(suspects["metric"], suspects["interval"]))) == [
        ("disk_read", 3600.0), ("disk_read", 86400.0), ("net_tx", 3600.0), ("net_tx", 86400.0)]


def test_trimmed_capture_keeps_its_structure_and_newest_rows():
    t = read("real_vm_rrd_dump_xs60_nova_trimmed.xml")
    counts = t.filter(pl.col("metric") == "mem_total").group_by("interval").len().sort("interval")
    assert counts["len"].to_list() == [26, 9, 4, 7]
    # the newest 12 five-second rows survived the trim unchanged
    full = read("real_vm_rrd_dump_xs60_nova_full.xml")
    for t0 in range(1328795510, 1328795566, 5):
        for metric, comp in (("cpu_util", "cpu0"), ("net_tx", "vif0"), ("mem_used", "total")):
            assert at(t.filter(pl.col("interval") == 5.0), t0, metric=metric, component=comp) == \
                at(full.filter(pl.col("interval") == 5.0), t0, metric=metric, component=comp)


@pytest.mark.parametrize("other", ["xs62writer_vm_rrd_dump.xml", "xs62writer_vm_rrd_dump.json",
                                   "derived/vm_rrd_dump.xml.gz"])
def test_6_2_writer_dumps_hold_the_real_capture(other):
    """The 6.2 writer re-rendered the nova capture (XML, its non-JSON JSON, the .gz archive form)."""
    assert values_only(read(other)).equals(values_only(read("real_vm_rrd_dump_xs60_nova_full.xml")))


def test_host_dump_every_archive_and_cf():
    t = read("xs62writer_host_rrd_dump_synthetic.xml")
    assert t.equals(read("xs62writer_host_rrd_dump_synthetic.json").with_columns(
        source_file=pl.lit(str(XEN / "xs62writer_host_rrd_dump_synthetic.xml"))))
    kinds = t.filter(pl.col("metric") == "mem_free").group_by("interval", "aggregate").len().sort(
        "interval", "aggregate").rows()
    assert kinds == [(5.0, "mean", 120), (60.0, "max", 120), (60.0, "mean", 120), (60.0, "min", 120),
                     (3600.0, "max", 168), (3600.0, "mean", 168), (3600.0, "min", 168),
                     (86400.0, "max", 366), (86400.0, "mean", 366), (86400.0, "min", 366)]
    # derived used memory only where it is computable: AVERAGE archives
    assert t.filter(pl.col("metric") == "mem_used")["aggregate"].unique().to_list() == ["mean"]
    newest = 1328795565
    assert at(t, newest, interval=5.0, metric="cpu_util", component="total") == pytest.approx(12.10)
    assert at(t, newest, interval=5.0, metric="cpu_util", component="cpu3") == pytest.approx(10.76)
    assert at(t, newest, interval=5.0, metric="mem_total") == 8387224 * KIB
    assert at(t, newest, interval=5.0, metric="mem_used") == (8387224 - 3013932) * KIB
    assert at(t, newest, interval=5.0, metric="net_rx", component="eth0") == 155109.0781
    assert at(t, newest, interval=5.0, metric="net_tx", component="total") == 46909.0391
    assert at(t, newest, interval=5.0, metric="load_avg") == 0.2236
    assert t.filter(pl.col("metric") == "load_avg")["scope"].unique().to_list() == ["control-domain"]
    assert set(t.filter(pl.col("metric") != "load_avg")["scope"].unique()) == {"host"}
    # a MIN never exceeds the MAX of the same bucket
    mm = t.filter((pl.col("metric") == "cpu_util") & pl.col("aggregate").is_in(["min", "max"])).pivot(
        "aggregate", index=["time", "interval", "component"], values="value").drop_nans()
    assert mm.height > 0 and (mm["min"] <= mm["max"]).all()


def test_host_updates_match_the_host_dump():
    """Two xapi documents of the same RRD agree at the same times (rows newest first vs oldest first)."""
    upd = read("xs62writer_rrd_updates_host_5s.xml")
    dump = read("xs62writer_host_rrd_dump_synthetic.xml").filter(pl.col("interval") == 5.0)
    joined = upd.join(dump, on=["metric", "component", "aggregate", "time"], suffix="_dump")
    assert joined.height == upd.height == 12 * 15  # 12 rows x (14 DS + derived mem_used)
    assert (joined["value"] == joined["value_dump"]).all()
    assert set(upd["host"].unique()) == {HOST} and upd["guest"].null_count() == upd.height


def test_vm_updates_newest_row_matches_nova():
    t = read("xs62writer_rrd_updates_vm_5s.xml")
    assert t["time"].max().timestamp() == 1328795565
    assert at(t, 1328795565, metric="cpu_util", component="cpu0") == pytest.approx(0.42)
    assert at(t, 1328795565, metric="net_tx", component="vif0") == 287.4134
    assert set(t["guest"].unique()) == {VM} and set(t["scope"].unique()) == {"guest"}
    assert t["host"].unique().to_list() == ["unknown-host"]  # no host object in a VM-only xport
    nova = read("real_vm_rrd_dump_xs60_nova_full.xml").filter(pl.col("interval") == 5.0)
    joined = t.join(nova, on=["metric", "component", "aggregate", "time"], suffix="_dump")
    assert joined.height == t.height and (joined["value"] == joined["value_dump"]).all()


@pytest.mark.parametrize("xml, other", [
    ("xs62writer_rrd_updates_host_and_vm_5s.xml", "xs62writer_rrd_updates_host_and_vm_5s.json"),
    ("xs62writer_rrd_updates_host_and_vm_60s.xml", "xs62writer_rrd_updates_host_and_vm_60s.json"),
    ("xs62writer_rrd_updates_host_and_vm_5s.xml", "derived/rrd_updates_2023_data_in_meta.json"),
    ("xs62writer_rrd_updates_host_and_vm_5s.xml", "derived/rrd_updates_2024_strings.json"),
    ("xs62writer_rrd_updates_host_and_vm_5s.xml", "derived/rrd_updates_2025_g15.xml"),
    ("xs62writer_rrd_updates_host_and_vm_5s.xml", "emulated_rrd2csv_output_from_xs62writer.csv"),
    ("xs62writer_rrd_updates_host_and_vm_5s.xml", "derived/rrd2csv_with_warning.csv"),
])
def test_every_generation_reads_to_the_same_table(xml, other):
    """JSON of 6.2 (unquoted keys), 2023 (data in meta), 2024 (strings), %.15g numbers and
    rrd2csv's %f all carry the same values as the 6.2 XML."""
    assert values_only(read(other)).equals(values_only(read(xml)))


def test_multi_object_xport_scopes_hosts_and_guests():
    t = read("xs62writer_rrd_updates_host_and_vm_60s.xml")
    assert t["interval"].unique().to_list() == [60.0]
    assert t["time"].max().timestamp() == 1328795520 and t["time"].min().timestamp() == 1328794980
    by_scope = t.group_by("scope").agg(pl.col("guest").unique(), pl.col("host").unique()).sort("scope")
    assert by_scope.rows() == [("control-domain", [None], [HOST]), ("guest", [VM], [HOST]), ("host", [None], [HOST])]
    assert at(t, 1328795520, metric="cpu_util", component="total", scope="host") == pytest.approx(11.32)
    assert at(t, 1328795520, metric="mem_free", scope="host") == 3008171.25 * KIB


def test_consolidation_functions_are_kept_apart():
    """The pretty-printed perfmon example: AVERAGE/MIN/MAX/LAST legends, stray text in rows."""
    t = read("doc_derived_xport_xen-api_perfmon_test.xml")
    assert t["interval"].unique().to_list() == [3600.0]
    assert sorted(d.timestamp() for d in t["time"].unique()) == [1213616600, 1213617600]
    got = {a: at(t, 1213617600, metric="cpu_util", component="cpu0", aggregate=a)
           for a in ("mean", "min", "max", "last")}
    assert got == pytest.approx({"mean": 2.82, "min": 2.01, "max": 4.45, "last": 2.43})
    assert at(t, 1213617600, metric="mem_total", aggregate="min") == 209715200.0
    # VM totals are derived for AVERAGE and LAST only
    assert sorted(t.filter((pl.col("component") == "total") & (pl.col("metric") == "cpu_util"))[
        "aggregate"].unique()) == ["last", "mean"]


def test_indented_xport_with_dom0_and_comments():
    t = read(DERIVED / "rrd_updates_indented_with_dom0.xml")
    dom0 = t.filter(pl.col("guest") == "5c1d7b9e-2f4a-4c3b-8e6d-0a1b2c3d4e5f")
    assert set(dom0["metric"].unique()) == {"cpu_util", "mem_total"}
    assert set(dom0["scope"].unique()) == {"guest"}  # the file cannot say it is dom0; the manifest can
    assert at(dom0, 1328795565, metric="mem_total") == 788529152.0
    assert at(dom0, 1328795565, metric="cpu_util", component="cpu0") == pytest.approx(11.94)


def test_rrdtool_outputs():
    xml, js = read("rrdtool_xport.xml"), read("rrdtool_xport.json")
    assert values_only(xml).equals(values_only(js))
    assert xml["time"].min().timestamp() == 1700000605 and xml["time"].max().timestamp() == 1700000900
    assert at(xml, 1700000605, metric="cpu_util", component="cpu0") == pytest.approx(17.68922)
    assert at(xml, 1700000900, metric="mem_free") == 3000844.0 * KIB
    assert set(xml["host"].unique()) == {"11111111-2222-3333-4444-555555555555"}
    st_xml, st_js = read("rrdtool_xport_showtime.xml"), read("rrdtool_xport_showtime.json")
    assert st_xml.height == 60 and st_js.height == 12
    assert at(st_js, 1700000660, metric="cpu_util", component="cpu0") == pytest.approx(23.1154)
    assert values_only(st_js).equals(values_only(st_xml).filter(pl.col("time") <= datetime.fromtimestamp(
        1700000660, timezone.utc)))
    dump = read("rrdtool_dump.xml")  # cpu0 here is microseconds per second: not a CPU fraction
    assert set(dump["metric"].unique()) == {"xen-rrd:cpu0", "mem_free"}
    assert at(dump, 1700000900, interval=5.0, metric="xen-rrd:cpu0") == 241211.8
    assert at(dump, 1700000880, interval=60.0, metric="mem_free") == 3000353.0 * KIB


def test_flip_flop_fixture_bare_integers_and_infinity():
    t = read("real_fixture_flip_flop_xapi-rrd_2019.xml")
    assert t.group_by("aggregate").len().sort("aggregate").rows() == [("max", 100), ("mean", 100), ("min", 100)]
    assert t["metric"].unique().to_list() == ["xen-rrd:flip_flop"] and t["unit"].unique().to_list() == ["unknown"]
    finite = t.filter(pl.col("value").is_not_nan())
    assert finite.group_by("aggregate").len()["len"].to_list() == [20, 20, 20]
    assert sorted(set(finite["value"].to_list())) == [-19.0 + 2 * i for i in range(9)] + [0.0] + [
        1.0 + 2 * i for i in range(10)]
    assert t["time"].max().timestamp() == 100


def test_unknown_data_sources_are_kept_and_named_in_a_warning():
    with pytest.warns(xen_rrd.XenRrdWarning, match=r"2 data source\(s\) outside the metric vocabulary kept as "
                                                    r"'xen-rrd:<name>' with native units: xapi_free_memory_kib, "
                                                    r"xapi_memory_usage_kib"):
        t = xen_rrd.parse(XEN.joinpath("xs62writer_rrd_updates_host_5s.xml").read_bytes(), source="h").table
    native = t.filter(pl.col("metric").cast(pl.String).str.starts_with("xen-rrd:"))
    assert native.select("metric", "unit").unique().sort("metric").rows() == [
        ("xen-rrd:xapi_free_memory_kib", "KiB"), ("xen-rrd:xapi_memory_usage_kib", "KiB")]
    assert at(t, 1328795565, metric="xen-rrd:xapi_memory_usage_kib") == 60000.0


# ------------------------------------------------------------------ fast path

XPORT_XML = [n for n, f in SAMPLES.items() if f == "xen-rrd-updates" and n.endswith(".xml")] + [
    "derived/rrd_updates_2025_g15.xml", "derived/rrd_updates_indented_with_dom0.xml"]


@pytest.mark.parametrize("name", XPORT_XML)
def test_fast_path_equals_general_path(name):
    data = (XEN / name).read_bytes()
    _, (fast,) = xen_rrd.decode(data, source=name, kind="updates", fast=True)
    _, (slow,) = xen_rrd.decode(data, source=name, kind="updates", fast=False)
    assert slow.decoder == "general"
    # the compiled scanner takes exactly xapi's one-line layout, anything else falls back
    assert fast.decoder == ("fast" if name.startswith(("xs62writer", "derived/rrd_updates_2025")) else "general")
    assert fast.columns == slow.columns and fast.interval == slow.interval
    assert np.array_equal(fast.times, slow.times)
    assert np.array_equal(fast.values, slow.values, equal_nan=True)


@pytest.mark.parametrize("name", XPORT_XML)
def test_small_documents_take_the_replace_path_with_the_same_values(name):
    """Under FAST_MIN_BYTES the 6.2 layout is read without numba (three bytes.replace +
    polars' CSV parser), by default; anything else goes to the event loop."""
    data = (XEN / name).read_bytes()
    _, (auto,) = xen_rrd.decode(data, source=name, kind="updates")
    _, (slow,) = xen_rrd.decode(data, source=name, kind="updates", fast=False)
    assert auto.decoder == ("fast" if name.startswith(("xs62writer", "derived/rrd_updates_2025")) else "general")
    assert auto.columns == slow.columns and np.array_equal(auto.times, slow.times)
    assert np.array_equal(auto.values.view(np.int64), np.ascontiguousarray(slow.values).view(np.int64))


TOKENS = ["0.0042", "4294967296.0000", "0.0", "NaN", "Infinity", "-Infinity", "1.5e-05", "4.29e+09",
          "0", "-3", "+3", ".5", "5.", "nan", "inf", "1e", "e5", "1.2.3", "0x10", "1_0", "--1", "NAN ",
          " 7", "infinit"]


@pytest.mark.parametrize("token", TOKENS)
def test_both_paths_accept_the_same_numbers(token):
    """The fast path's CSV parser and the general path's grammar agree on every spelling."""
    doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n<xport><meta><start>0</start><step>5</step>'
           f"<end>10</end><rows>2</rows><columns>1</columns><legend><entry>AVERAGE:vm:{VM}:cpu0</entry>"
           f"</legend></meta><data><row><t>10</t><v>{token}</v></row><row><t>5</t><v>1</v></row></data>"
           f"</xport>").encode()
    try:
        _, (slow,) = xen_rrd.decode(doc, source="t", kind="updates", fast=False)
    except ParseError as exc:
        assert "expected a number" in str(exc)
        with pytest.raises(ParseError, match="expected a number"):
            xen_rrd.decode(doc, source="t", kind="updates", fast=True)
        return
    _, (fast,) = xen_rrd.decode(doc, source="t", kind="updates", fast=True)
    _, (small,) = xen_rrd.decode(doc, source="t", kind="updates")  # the bytes.replace path
    assert np.array_equal(fast.values, slow.values, equal_nan=True)
    assert np.array_equal(small.values, slow.values, equal_nan=True)
    # xapi writes Infinity where it has no data (XenCenter draws a gap): a missing value
    no_data = token.strip().lower().lstrip("+-") in ("inf", "infinity")
    assert slow.values[0, 0] == pytest.approx(float("nan") if no_data else float(token), nan_ok=True)


DUMP_XML = [n for n, f in SAMPLES.items() if f == "xen-rrd-dump" and n.endswith(".xml")] + ["derived/vm_rrd_dump.xml.gz"]


@pytest.mark.parametrize("name", DUMP_XML)
def test_dump_fast_path_equals_general_path(name):
    """Full dumps (one-line xapi, indented xapi, rrdtool with row comments) through the
    compiled scanner: the same blocks as the event loop, bit for bit."""
    data = (XEN / name).read_bytes()
    _, fast = xen_rrd.decode(data, source=name, kind="dump", fast=True)
    _, slow = xen_rrd.decode(data, source=name, kind="dump", fast=False)
    assert {b.decoder for b in fast} == {"fast"} and {b.decoder for b in slow} == {"general"}
    assert len(fast) == len(slow)
    for f, s in zip(fast, slow):
        assert f.columns == s.columns and f.interval == s.interval and f.dstypes == s.dstypes
        assert np.array_equal(f.times, s.times)
        assert np.array_equal(f.values.view(np.int64), np.ascontiguousarray(s.values).view(np.int64))


@pytest.mark.parametrize("token", TOKENS + ["１２３", "1e999", " 1.0", "1.0 "])
def test_dump_paths_accept_the_same_numbers(token):
    doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n<rrd><version>0003</version><step>5</step>'
           f"<lastupdate>10</lastupdate><ds><name>cpu0</name><type>GAUGE</type></ds><rra><cf>AVERAGE</cf>"
           f"<pdp_per_row>1</pdp_per_row><database><row><v>1</v></row>\n  <!-- x / 10 --> <row>"
           f"<v>{token}</v></row></database></rra></rrd>").encode()
    try:
        _, (slow,) = xen_rrd.decode(doc, source="t", kind="dump", fast=False)
    except ParseError as exc:
        assert "expected a number" in str(exc)
        with pytest.raises(ParseError, match="expected a number"):
            xen_rrd.decode(doc, source="t", kind="dump", fast=True)
        return
    _, (fast,) = xen_rrd.decode(doc, source="t", kind="dump", fast=True)
    assert np.array_equal(fast.values, slow.values, equal_nan=True) and fast.times.tolist() == [5, 10]


def test_large_document_takes_the_fast_path_by_default():
    """Above FAST_MIN_BYTES the scanner runs without being asked, with identical results."""
    src = (XEN / "xs62writer_rrd_updates_vm_5s.xml").read_bytes().decode()
    head, rest = src.split("<data>")
    rows, tail = rest.split("</data>")
    first = rows.split("</row>")[0] + "</row>"
    t0 = 1328795565
    n = _xml.FAST_MIN_BYTES // len(first) + 10
    body = "".join(first.replace(f"<t>{t0}</t>", f"<t>{t0 + 5 * i}</t>") for i in range(n, 0, -1))
    head = head.replace("<rows>12</rows>", f"<rows>{n}</rows>")
    doc = (head + "<data>" + body + "</data>" + tail).encode()
    _, (auto,) = xen_rrd.decode(doc, source="big", kind="updates")
    _, (slow,) = xen_rrd.decode(doc, source="big", kind="updates", fast=False)
    assert auto.decoder == "fast" and auto.values.shape == (n, 12)
    assert np.array_equal(auto.values, slow.values) and np.array_equal(auto.times, slow.times)


# ------------------------------------------------------------------ rrdtool oracle

def rrdtool(*args: str, cwd: Path) -> str:
    if shutil.which("rrdtool") is None:
        pytest.fail("Debian's rrdtool is needed as the reference (make test installs it: apt-get install rrdtool)")
    return subprocess.run(["rrdtool", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def fetch(rrd: str, cf: str, resolution: int, start: int, end: int, cwd: Path) -> dict[int, list[float]]:
    """``rrdtool fetch`` as {end of bucket: values}: its timestamps are bucket ends, like xapi's t."""
    out = rrdtool("fetch", rrd, cf, "-r", str(resolution), "-s", str(start), "-e", str(end), cwd=cwd)
    rows = {}
    for line in out.splitlines()[2:]:
        t, _, vals = line.partition(":")
        rows[int(t)] = [float(v) for v in vals.split()]
    return rows


def compare(block, reference: dict[int, list[float]], columns: list[int]) -> int:
    times = {int(t): i for i, t in enumerate(block.times)}
    common = sorted(set(times) & set(reference))
    for t in common:
        got = block.values[times[t], columns]
        np.testing.assert_array_equal(got, np.asarray(reference[t]), err_msg=f"t={t}")
    return len(common)


@pytest.fixture(scope="module")
def demo_rrd(tmp_path_factory):
    """An RRD built by rrdtool from the sample's 180 updates, with MIN/MAX archives too."""
    d = tmp_path_factory.mktemp("rrd")
    rrdtool("create", "demo.rrd", "--start", "1700000000", "--step", "5", "DS:cpu0:DERIVE:300:0:U",
            "DS:memory_free_kib:GAUGE:300:0:U", "RRA:AVERAGE:0.5:1:120", "RRA:AVERAGE:0.5:12:120",
            "RRA:MIN:0.5:12:120", "RRA:MAX:0.5:12:120", cwd=d)
    updates = (XEN / "rrdtool_demo_updates_input.txt").read_text().split()
    rrdtool("update", "demo.rrd", *updates, cwd=d)
    return d


def test_oracle_rrdtool_dump_equals_fetch(demo_rrd):
    dump = rrdtool("dump", "demo.rrd", cwd=demo_rrd).encode()
    _, blocks = xen_rrd.decode(dump, source="dump", kind="dump")
    assert [(b.columns[0].cf, b.interval, len(b.times)) for b in blocks] == [
        ("AVERAGE", 5.0, 120), ("AVERAGE", 60.0, 120), ("MIN", 60.0, 120), ("MAX", 60.0, 120)]
    compared = 0
    for block in blocks:
        span = int(block.interval)
        ref = fetch("demo.rrd", block.columns[0].cf, span, int(block.times[0]) - span, int(block.times[-1]),
                    demo_rrd)
        compared += compare(block, ref, [0, 1])
    assert compared >= 120 + 3 * 110  # every 5 s row; the minute archives' covered range
    # and through the table: memory_free_kib in bytes
    t = xen_rrd.parse_dump(dump, source="dump").table
    five = fetch("demo.rrd", "AVERAGE", 5, 1700000800, 1700000900, demo_rrd)
    assert at(t, 1700000900, interval=5.0, metric="mem_free") == five[1700000900][1] * KIB


@pytest.mark.parametrize("flags", [(), ("--showtime",), ("--json",), ("--json", "--showtime")])
def test_oracle_rrdtool_xport_equals_fetch(demo_rrd, flags):
    legend = "\\:host\\:11111111-2222-3333-4444-555555555555\\:"
    out = rrdtool("xport", *flags, "--start", "1700000600", "--end", "1700000900", "--step", "5",
                  "DEF:a=demo.rrd:cpu0:AVERAGE", "DEF:b=demo.rrd:memory_free_kib:AVERAGE",
                  f"XPORT:a:AVERAGE{legend}cpu0", f"XPORT:b:AVERAGE{legend}memory_free_kib", cwd=demo_rrd)
    _, (block,) = xen_rrd.decode(out.encode(), source="xport", kind="updates")
    assert [c.name for c in block.columns] == ["cpu0", "memory_free_kib"]
    ref = fetch("demo.rrd", "AVERAGE", 5, 1700000600, 1700000900, demo_rrd)
    assert compare(block, ref, [0, 1]) == 60


def test_oracle_rrdtool_xport_min_max(demo_rrd):
    legend = "\\:host\\:11111111-2222-3333-4444-555555555555\\:memory_free_kib"
    out = rrdtool("xport", "--start", "1699993800", "--end", "1700000880", "--step", "60",
                  "DEF:lo=demo.rrd:memory_free_kib:MIN", "DEF:hi=demo.rrd:memory_free_kib:MAX",
                  f"XPORT:lo:MIN{legend}", f"XPORT:hi:MAX{legend}", cwd=demo_rrd)
    t = xen_rrd.parse_updates(out.encode(), source="xport").table
    lo = fetch("demo.rrd", "MIN", 60, 1699993800, 1700000880, demo_rrd)
    hi = fetch("demo.rrd", "MAX", 60, 1699993800, 1700000880, demo_rrd)
    assert at(t, 1700000880, aggregate="min", metric="mem_free") == lo[1700000880][1] * KIB
    assert at(t, 1700000880, aggregate="max", metric="mem_free") == hi[1700000880][1] * KIB
    assert lo[1700000880][1] < hi[1700000880][1]


def test_oracle_real_xapi_dump_restored_by_rrdtool(tmp_path):
    """rrdtool restores the real nova dump once its 20-char DS name is shortened (XEN_RRD.md §5);
    its fetch then gives the reader's values at the reader's reconstructed times, every archive."""
    text = (XEN / "real_vm_rrd_dump_xs60_nova_full.xml").read_text()
    (tmp_path / "nova.xml").write_text(text.replace("<name>memory_internal_free</name>",
                                                    "<name>memory_int_free</name>"))
    rrdtool("restore", "nova.xml", "nova.rrd", cwd=tmp_path)
    _, blocks = xen_rrd.decode(text.encode(), source="nova", kind="dump")
    lastupdate = 1328795567
    for block in blocks:
        span = int(block.interval)
        ref = fetch("nova.rrd", "AVERAGE", span, lastupdate - span * len(block.times), lastupdate, tmp_path)
        assert compare(block, ref, list(range(12))) == len(block.times), span


# ------------------------------------------------------------------ bad input

BAD = [
    ("truncated.xml", r"truncated\.xml: line 2, column 1962: expected well-formed XML, "
                      r"found Premature end of data in tag v line 2"),
    ("truncated.json", r"truncated\.json:1: expected complete JSON \(Unterminated string starting at\), "
                       r"found '\"AVERAGE:vm:0f1e2d3c"),
    ("legend_columns_mismatch.xml", r"line 2, <legend>: expected 12 <entry> elements, as <columns> declares, "
                                    r"found 11 entries"),
    ("row_too_few_values.xml", r"line 2, <row> 3 \(t=1328795555\): expected 12 <v> values, one per legend "
                               r"entry, found 11 <v> values"),
    ("row_too_many_values.xml", r"line 2, <row> 2 \(t=1328795560\): expected 12 <v> values, one per legend "
                                r"entry, found 13 <v> values"),
    ("unparseable_number.xml", r"line 2, <row> 5 \(t=1328795545\), <v> 2 \(AVERAGE:vm:0f1e2d3c-4b5a-6978-"
                               r"8a9b-acbdcedf0011:memory\): expected a number, found '4294967296,0000'"),
    ("rows_mismatch.xml", r"<data>: expected 12 <row> elements, as <rows> declares, found 11 rows"),
    ("dump_archive_length.xml", r"line 58, <rra> 1 \(AVERAGE, pdp_per_row 1\), <row> 1: expected t=1700000310 "
                                r"for this row of an archive of 119 rows ending at lastupdate \(1700000900\), "
                                r"found t=1700000305 in the dump's comment \(rows missing or added\)"),
    ("dump_row_too_few_values.xml", r"line 2, <rra> 1 \(AVERAGE, pdp_per_row 1\), <row> 1: expected 12 <v> "
                                    r"values, one per <ds>, found 11 <v> values"),
    ("doctype_entities.xml", r"line 2, <!DOCTYPE>: expected no DOCTYPE with entity declarations \(entity "
                             r"expansion and external entities are refused\), found <!ENTITY lol \.\.\."),
    ("doctype_external_entity.xml", r"line 2, <!DOCTYPE>: expected no DOCTYPE with entity declarations .*"
                                    r"found <!ENTITY xxe \.\.\."),
    ("undefined_entity.xml", r"line 2, column 1056: expected well-formed XML, found Entity 'zero' not defined"),
    ("json_row_too_few_values.json", r"data\[0\] \(t=1328795565\): expected 26 values, one per legend entry, "
                                     r"found 25 values"),
    ("json_2024_bad_number.json", r"data\[0\]\.values\[1\] \(AVERAGE:host:6ae8c3e4-5f3a-4b0e-9d62-"
                                  r"1c2b3a4d5e6f:cpu0\): expected a number, found '0.11 94'"),
    ("rrd2csv_short_line.csv", r"rrd2csv_short_line\.csv:4: expected 27 fields as the header has, found 26"),
    ("dump_json_bad_cf.json", r"rra\[0\]\.cf: expected one of AVERAGE, MIN, MAX, LAST, found 'MEDIAN'"),
    # times beyond int64 or a datetime were OverflowError tracebacks (issue 18)
    ("json_time_beyond_int64.json", r"json_time_beyond_int64\.json: data\[0\]\.t: expected an epoch time within the "
                                    r"years 1 to 9999 \(-62135596800 to 253402300799 s\), found 99999999999999999999$"),
    ("json_start_beyond_datetime.json", r"json_start_beyond_datetime\.json: meta\.start: expected an epoch time within "
                                        r"the years 1 to 9999 \(-62135596800 to 253402300799 s\), found 9999999999999$"),
    ("time_beyond_datetime.xml", r"time_beyond_datetime\.xml: line 2, <row> 2, <t>: expected an integer epoch time in "
                                 r"<t> within the years 1 to 9999 \(-62135596800 to 253402300799 s\), "
                                 r"found 9999999999999$"),
    ("dump_json_lastupdate_beyond_int64.json", r"dump_json_lastupdate_beyond_int64\.json: lastupdate: expected an "
                                               r"epoch time within the years 1 to 9999 \(-62135596800 to 253402300799 "
                                               r"s\), found 1e\+20$"),
    ("dump_lastupdate_beyond_datetime.xml", r"dump_lastupdate_beyond_datetime\.xml: line 2, <lastupdate>: expected an "
                                            r"epoch time within the years 1 to 9999 \(-62135596800 to 253402300799 "
                                            r"s\), found 253402300800$"),
]


@pytest.mark.parametrize("name, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_parse_error_naming_file_place_expected_found(name, message):
    path = BROKEN / name
    with pytest.raises(ParseError, match=message) as info:
        readers.read(path)
    assert info.value.path == str(path)
    for fast in (True, False):  # the fast path never decides differently
        if name.endswith(".xml") and name != "not_rrd.xml":
            with pytest.raises(ParseError, match=message):
                xen_rrd.decode(path.read_bytes(), source=str(path), kind="dump" if "dump" in name else "updates",
                               fast=fast)


def test_every_broken_fixture_is_tested():
    assert {p.name for p in BROKEN.iterdir()} == {b[0] for b in BAD} | {"not_rrd.xml"}


def test_xml_that_is_not_an_rrd():
    path = BROKEN / "not_rrd.xml"
    for parse, root in ((xen_rrd.parse_updates, "<xport>"), (xen_rrd.parse_dump, "<rrd>")):
        with pytest.raises(ParseError, match=rf"not_rrd\.xml: line 2, root element: expected root element "
                                             rf"{root}.*found <methodResponse> \(an XML document that is not an RRD\)"):
            parse(path.read_bytes(), source=str(path))
    with pytest.raises(ParseError, match=r"expected <xport> \(rrd_updates, rrdtool xport\) or <rrd> \(a dump\), "
                                         r"found <methodResponse>"):
        xen_rrd.parse(path.read_bytes(), source=str(path))
    with pytest.raises(UnknownFormatError, match="known formats: .*xen-rrd-updates, xen-rrd-dump, xen-rrd2csv"):
        readers.read(path)
    with pytest.raises(ParseError, match=r"expected root element <rrd> \(a full RRD dump\), found <xport> "
                                         r"\(the other RRD family: rrd_updates\)"):
        readers.read(XEN / "xs62writer_rrd_updates_vm_5s.xml", format="xen-rrd-dump")


def test_entity_expansion_never_happens():
    """Even without the DOCTYPE check, lxml as configured would not expand or fetch entities."""
    data = (BROKEN / "doctype_external_entity.xml").read_bytes()
    root = _xml.etree.fromstring(data, _xml.etree.XMLParser(**_xml._PARSER_OPTIONS))
    entry = root.find("meta/legend/entry")
    assert "root:" not in _xml.etree.tostring(entry, encoding="unicode")  # /etc/passwd not inlined


def test_gzip_archive_truncated():
    data = gzip.compress((XEN / "xs62writer_vm_rrd_dump.xml").read_bytes(), mtime=0)[:4000]
    with pytest.raises(ParseError, match=r"expected complete gzip data, found a truncated gzip stream"):
        xen_rrd.parse_dump(data, source="x.gz")


@pytest.mark.parametrize("name, old, new, message", [
    ("rrdtool_xport.json", '"step": 5', '"step": 1000000000000000000',
     r"x\.json: meta\.start: expected row times meta\.start \+ i x meta\.step \(1000000000000000000 s, 60 rows\) "
     r"within the years 1 to 9999 \(-62135596800 to 253402300799 s\), found 1700000605 \+ 59 x 1000000000000000000 s$"),
    ("xs62writer_vm_rrd_dump.xml", "<pdp_per_row>1</pdp_per_row>", "<pdp_per_row>100000000000</pdp_per_row>",
     r"x\.xml: line 2, <rra> 1: expected row times of 120 rows every 500000000000 s ending at lastupdate "
     r"\(1328795567\) within the years 1 to 9999 .*, found -59500000000000 \+ 119 x 500000000000 s$"),
])
def test_row_times_counted_past_a_datetime_are_refused(tmp_path, name, old, new, message):
    """A step (x pdp_per_row) so large that the counted row times leave the years 1-9999:
    numpy's int64 would wrap (10^18 x 59) or overflow; a ParseError names the field."""
    text = (XEN / name).read_text()
    assert old in text
    path = tmp_path / f"x{Path(name).suffix}"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ParseError, match=message):
        readers.read(path)


def test_duplicate_row_times_are_refused():
    src = (XEN / "xs62writer_rrd_updates_vm_5s.xml").read_text().replace("<t>1328795560</t>", "<t>1328795565</t>")
    with pytest.raises(ParseError, match=r"dup: <data>: expected one row per time, found 2 rows at t=1328795565"):
        xen_rrd.parse_updates(src.encode(), source="dup")


def test_schema_contract_holds_for_every_sample():
    for name in SAMPLES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = read(name, condition="paravirtualized")
        assert frame.schema == schema.TABLE_SCHEMA, name
        assert frame.height > 0 and frame["interval"].null_count() == 0


# ------------------------------------------------------------------ manifest

def test_ingest_manifest_mixing_a_host_dump_and_vm_updates(tmp_path, capsys):
    from workbench import cli, storage

    from ..conftest import DATA
    out = tmp_path / "xen.parquet"
    assert cli.main(["ingest", str(DATA / "experiments" / "xen-samples.toml"), "-o", str(out)]) == 0
    assert "experiment 'xen-samples' (3 inputs): 30108 rows" in capsys.readouterr().out
    t = storage.read_table(out)
    assert t.group_by("scope", "host", "guest").len().sort("scope", "guest", nulls_last=True).rows() == [
        ("control-domain", "xs62-host", "Control domain on host: xs62-host", 18),  # dom0 via [names]
        ("control-domain", "xs62-host", None, 2082),  # loadavg: dom0's load, on the host object
        ("guest", "xs62-host", "nova-instance", 168),
        ("host", "xs62-host", None, 27840),
    ]
    assert set(t["hypervisor"].unique()) == {"Citrix XenServer 6.2"}
    assert set(t["experiment"].unique()) == {"xen-samples"}
    newest = 1328795565
    assert at(t, newest, guest="nova-instance", metric="mem_used") == 4294967296.0 - 1415564.0 * KIB
    assert at(t, newest, scope="host", interval=5.0, metric="cpu_util", component="total") == pytest.approx(12.10)
    assert at(t, newest, guest="Control domain on host: xs62-host", metric="mem_total") == 788529152.0
    # the host's 5 s rows and the VM's rows share their times: one table, comparable
    assert {d.timestamp() for d in t.filter(pl.col("scope") == "guest")["time"]} <= {
        d.timestamp() for d in t.filter((pl.col("scope") == "host") & (pl.col("interval") == 5.0))["time"]}
