"""EVEREST / AIDA64 reader: every real sample read, values asserted in canonical units."""
import hashlib
import math
import re
import warnings

import polars as pl
import pytest

from workbench import experiment, readers, schema, storage
from workbench.errors import ParseError, UnknownFormatError, WorkbenchError
from workbench.readers import everest
from workbench.readers.everest import AssumptionWarning, NativeMetricWarning, report_html
from workbench.readers.thesis import parse as parse_transcription

from ..conftest import DATA, FIXTURES, SEED, THESIS_DIR

EV = FIXTURES / "everest"
EN_FULL = EV / "aida64_v5.95_en_html_report_allpages_FULL.htm"
EN_HEAD = EV / "aida64_v5.95_en_html_report_allpages__HEAD_lines1-231.htm"
EN_BENCH = EV / "aida64_v5.95_en_html_report_allpages__BENCHMARK_PAGES_lines16072-17106.htm"
EN_TAIL = EV / "aida64_v5.95_en_html_report_allpages__TAIL_lines17607-17615.htm"
RU = EV / "aida64_v7.35_ru_cp1251_html_report_hardware_pages.htm"
PT = EV / "aida64_engineer_v5.75_pt-BR_iso8859-1_html_report_hardware_pages.htm"
TEXT = EV / "aida64_v5.98_en_text_report_hardware_pages.txt"
CSVLOG = EV / "aida64_v7.65_sensor_log_CSV__sample_quoted_in_TS_source.csv"
XML = EV / "aida64_shared_memory_AIDA64_SensorValues_xml_sample_2011__lcdhost.xml"
EV220 = EV / "everest_v2.20_home_en_text_report_header_summary__EXCERPT_from_forum_post.txt"
EV460 = EV / "everest_v4.60_es_text_report_header_summary__EXCERPT_from_forum_post.txt"
MHT = EV / "constructed" / "aida64_v5.75_pt-BR_mini_report.mht"
UTIL_LOG = EV / "constructed" / "aida64_csvlog_utilization_layout.csv"
MB_S, NS, MIB = schema.MB_PER_S, schema.NS, schema.MIB


def one(table: pl.DataFrame, **eq) -> float:
    hit = table
    for k, v in eq.items():
        hit = hit.filter(pl.col(k) == v)
    assert hit.height == 1, (eq, hit)
    return hit["value"][0]


def read(path, **kw) -> pl.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NativeMetricWarning)
        return readers.read(path, **kw)


def metadata(path, **kw) -> dict[str, str]:
    """What the file says about its origin: the metadata of the one parse that reads its table."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (NativeMetricWarning, AssumptionWarning))
        return readers.read_file(path, **kw).metadata


# --- provenance -----------------------------------------------------------------------------

def test_samples_are_byte_exact_copies():
    listed = dict(re.findall(r"\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|", (EV / "PROVENANCE.md").read_text()))
    assert len(listed) == 11
    for name, digest in listed.items():
        assert hashlib.sha256((EV / name).read_bytes()).hexdigest() == digest, name
        assert digest in (EV / "SOURCES.tsv").read_text(encoding="utf-8")


@pytest.mark.parametrize("path, name", [
    (EN_FULL, "everest-report-html"), (RU, "everest-report-html"), (PT, "everest-report-html"),
    (EN_HEAD, "everest-report-html"), (MHT, "everest-report-mhtml"), (TEXT, "everest-report-text"),
    (EV220, "everest-report-text"), (EV460, "everest-report-text"), (CSVLOG, "everest-csvlog"),
    (XML, "everest-sensors"), (THESIS_DIR / "fig69_everest_cache_memory.txt", "everest-cachemem"),
    (THESIS_DIR / "fig70_everest_cache_memory.txt", "everest-cachemem"),
])
def test_detected_by_content(path, name):
    assert readers.detect(path).name == name


# --- HTML reports -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def en_full():
    # 3 Memory values and 2 sensor readings masked by the trial build: all NaN rows
    with pytest.warns(NativeMetricWarning, match=r"temperature \(°C, 9 values\).*5 value\(s\) withheld by the trial "
                                                r"version \(\[ TRIAL VERSION \]\) are missing \(NaN\)"):
        return readers.read(EN_FULL)


def test_en_report_benchmark_pages_in_canonical_units(en_full):
    t = en_full
    assert one(t, metric="mem_read_bw", component="memory") == 22423 * MB_S
    assert one(t, metric="mem_write_bw", component="memory") == 23207 * MB_S
    assert one(t, metric="mem_copy_bw", component="memory") == 20942 * MB_S
    assert one(t, metric="mem_latency", component="memory") == pytest.approx(82.2e-9, rel=1e-12)
    scores = {r["component"]: r["value"] for r in t.filter(pl.col("metric") == "bench_score").iter_rows(named=True)}
    assert scores == {"cpu_queen": 18383, "cpu_photoworxx": 12803, "cpu_zlib": 120.3, "cpu_aes": 6140,
                      "cpu_hash": 1542, "fpu_vp8": 3128, "fpu_julia": 11430, "fpu_mandel": 6155,
                      "fpu_sinjulia": 1622, "fp32_ray_trace": 2430, "fp64_ray_trace": 1370}
    assert set(t["source"]) == {"everest-report-html"}
    assert t["time"].null_count() == t.height and set(t["aggregate"]) == {"single"}


def test_en_report_memory_page_trial_values_are_nan(en_full):
    assert math.isnan(one(en_full, metric="mem_total"))  # "[ TRIAL VERSION ]"
    # masked on the Sensor page too, named by the group the reading is in
    assert math.isnan(one(en_full, metric="everest-report-html:temperature", component="Samsung SSD 850 EVO 250GB"))
    assert math.isnan(one(en_full, metric="everest-report-html:power", component="CPU GT Cores"))
    assert set(en_full["host"]) == {"DESKTOP-CPLKED3"}  # the report's computer name
    assert math.isnan(one(en_full, metric="mem_util"))
    assert one(en_full, metric="mem_free") == 5354 * MIB
    assert one(en_full, metric="everest-report-html:temperature", component="CPU #1 / Core #1") == 54
    assert one(en_full, metric="everest-report-html:voltage", component="Battery") == 17.183


def test_en_report_metadata_names_the_machine_and_each_benchmark_row():
    meta = metadata(EN_FULL)
    assert {k: meta[k] for k in ("product", "version", "computer", "os", "report_date", "report_time",
                                 "cpu_type", "motherboard", "memory_type")} == {
        "product": "AIDA64 Extreme", "version": "AIDA64 v5.95.4500", "computer": "DESKTOP-CPLKED3",
        "os": "Microsoft Windows 10 Pro 10.0.16299.125 (Win10 RS3)", "report_date": "2018-01-11",
        "report_time": "10:47", "cpu_type": "DualCore Intel Core i5-6200U, 2800 MHz (28 x 100)",
        "motherboard": "Dell Inspiron 3459", "memory_type": "Dual DDR3-1600"}
    # Memory Latency runs single-threaded: its row shows another CPU and clock (§2.4)
    assert meta["bench.memory_read.cpu"] == "2x Core i5-6200U HT"
    assert meta["bench.memory_read.cpu_clock"] == "2700 MHz"
    assert meta["bench.memory_latency.cpu"] == "Core i5-6200U"
    assert meta["bench.memory_latency.cpu_clock"] == "2300 MHz"
    assert "bench.memory_read.motherboard" not in meta  # "[ TRIAL VERSION ]"
    assert meta["bench.cpu_photoworxx.unit"] == "MPixel/s" and meta["bench.cpu_queen.unit"] == ""
    assert meta["bench.memory_latency.timings"] == "11-11-11-28 CR1"


def test_slices_are_the_full_report_and_read_the_same():
    full = EN_FULL.read_bytes().splitlines(keepends=True)
    assert len(full) == 17615
    assert EN_HEAD.read_bytes() == b"".join(full[:231])
    assert EN_BENCH.read_bytes() == b"".join(full[16071:17106])
    assert EN_TAIL.read_bytes() == b"".join(full[17606:])
    # the benchmark slice has no document head: read its pages directly
    pages = report_html.split_pages(EN_BENCH.read_bytes().decode("cp1252"))
    assert [p.anchor for p in pages] == [
        "memory read", "memory write", "memory copy", "memory latency", "cpu queen", "cpu photoworxx",
        "cpu zlib", "cpu aes", "cpu hash", "fpu vp8", "fpu julia", "fpu mandel", "fpu sinjulia",
        "fp32 ray-trace", "fp64 ray-trace"]
    row, meta = report_html.benchmark(pages[3], source=EN_BENCH.name)
    assert row["value"] == pytest.approx(82.2e-9) and meta["bench.memory_latency.cpu"] == "Core i5-6200U"
    assert len([r for r in pages[0].rows() if r.bar]) == 65
    tail = report_html.split_pages(EN_TAIL.read_bytes().decode("cp1252"))
    assert [(p.anchor, p.title) for p in tail] == [(None, "Debug - Unknown")]
    assert tail[0].groups() == [("", [(1 + 1, "BIOS", "Unknown")])]
    # header of a truncated file (whose table is refused)
    assert report_html.read_header(EN_HEAD.read_bytes(), source="head.htm")["computer"] == "DESKTOP-CPLKED3"


def test_ru_report_cp1251_memory_page_and_localized_units():
    with pytest.warns(NativeMetricWarning, match=r"fan \(RPM, 2 values\).*5 value\(s\) withheld"):
        t = readers.read(RU)
    assert one(t, metric="mem_free") == 10189 * MIB  # printed "10189 МБ"
    assert math.isnan(one(t, metric="mem_total"))
    # localized sensor labels are the English report's components ("ЦП 1 / Ядро 3", "Шасси 2", "ЦП")
    assert one(t, metric="everest-report-html:temperature", component="CPU #1 / Core #3") == 37
    assert one(t, metric="everest-report-html:fan", component="Chassis #2") == 786
    assert one(t, metric="everest-report-html:fan", component="CPU") == 1221
    assert one(t, metric="everest-report-html:temperature", component="Motherboard") == 44
    assert one(t, metric="everest-report-html:voltage", component="CPU Core") == 0.722
    assert math.isnan(one(t, metric="everest-report-html:voltage", component="+12 V"))  # masked
    assert math.isnan(one(t, metric="everest-report-html:temperature", component="T-FORCE TM8FFE001T"))
    assert set(t["host"]) == {"РОМАРИО"}
    meta = metadata(RU)
    assert meta["version"] == "AIDA64 v7.35.7000/ru" and meta["computer"] == "РОМАРИО"
    assert meta["cpu_type"] == "HexaCore Intel Core i5-12400F, 4200 MHz (42 x 100)"
    assert meta["report_date"] == "2026-06-02"


def test_pt_br_report_has_all_four_memory_values():
    t = read(PT)
    assert one(t, metric="mem_total") == 4011 * MIB
    assert one(t, metric="mem_used") == 2262 * MIB
    assert one(t, metric="mem_free") == 1749 * MIB
    assert one(t, metric="mem_util") == 56.0
    assert one(t, metric="everest-report-html:power", component="Battery Charge Rate") == 9.56  # "Taxa de carga ..."
    assert one(t, metric="everest-report-html:temperature", component="CPU") == 39  # "Processador"
    assert one(t, metric="everest-report-html:temperature", component="CPU #1 / Core #2") == 37  # "CPU 1 / Núcleo 2"
    assert one(t, metric="everest-report-html:voltage", component="Battery") == 16.663  # "Bateria"
    assert set(t["host"]) == {"LAPTOP-1FJM50LV"}
    meta = metadata(PT)
    assert meta["memory_type"] == "DDR3-1600 DDR3 SDRAM" and meta["motherboard"] == "Acer Aspire E5-573"
    assert meta["version"] == "AIDA64 v5.75.3900/br" and meta["product"] == "AIDA64 Engineer"


def test_mhtml_reads_its_html_part_like_the_html():
    t = read(MHT)
    assert set(t["source"]) == {"everest-report-mhtml"}
    html = read(PT).drop("source", "source_file").with_columns(
        metric=pl.col("metric").cast(pl.String).str.replace("everest-report-html:", "everest-report-mhtml:").cast(pl.Categorical))
    assert t.drop("source", "source_file").equals(html)
    assert metadata(MHT)["computer"] == "LAPTOP-1FJM50LV"


# --- text reports -------------------------------------------------------------------------------

def test_text_report_memory_and_sensor_pages():
    with pytest.warns(NativeMetricWarning, match=r"everest-report-text:percent \(%, 1 values\).*temperature \(°C, "
                                                r"10 values\).*7 value\(s\) withheld"):
        t = readers.read(TEXT)
    assert math.isnan(one(t, metric="everest-report-text:percent", component="GPU TDP%"))  # masked among power values
    assert set(t["host"]) == {"DESKTOP-OS1JTF2"}
    assert one(t, metric="mem_free") == 3930 * MIB
    assert math.isnan(one(t, metric="mem_used"))
    assert one(t, metric="everest-report-text:temperature", component="CPU") == 70  # "70 °C  (158 °F)", cp1252
    assert one(t, metric="everest-report-text:power", component="CPU Package") == 3.80
    meta = metadata(TEXT)
    assert (meta["computer"], meta["report_date"], meta["report_time"]) == ("DESKTOP-OS1JTF2", "2018-10-01", "20:55")
    assert meta["cpu_type"] == "QuadCore Intel Core i7-8550U, 4000 MHz (40 x 100)"
    assert meta["motherboard"] == "Asus VivoBook 15 X510UQR"


def test_everest_excerpts_are_truncated_but_their_header_reads():
    # The forum excerpts end with an "[[ EXCERPT ENDS ... ]]" marker, not the report's closing line.
    for path, line in ((EV220, 67), (EV460, 74)):
        with pytest.raises(ParseError, match="closing line of 120 '-'.*truncated.*EXCERPT ENDS") as info:
            readers.read(path)
        assert info.value.line == line
    m220 = everest.report_text.read_header(EV220.read_bytes(), source=EV220.name)
    assert {k: m220[k] for k in ("product", "version", "computer", "os", "report_date", "cpu_type",
                                 "motherboard", "memory_type")} == {
        "product": "EVEREST Home Edition (c) 2003-2005 Lavalys, Inc.", "version": "EVEREST v2.20.405",
        "computer": "INT", "os": "Microsoft Windows XP Professional 5.1.2600 (WinXP Retail)",
        "report_date": "2009-09-15", "cpu_type": "Intel Pentium 4 530, 3000 MHz (15 x 200)",
        "motherboard": "Unknown", "memory_type": "PC3200 DDR SDRAM"}
    m460 = everest.report_text.read_header(EV460.read_bytes(), source=EV460.name)  # Spanish keys: read by position
    assert (m460["version"], m460["computer"], m460["report_time"]) == ("EVEREST v4.60.1500/es", "SADOCMONSALVE1",
                                                                        "17:48")
    assert m460["cpu_type"] == "Mobile DualCore Intel Core 2 Duo P8400, 2250 MHz (8.5 x 265)"
    assert m460["motherboard"] == "Asus M50Vc Series Notebook"


# --- CSV log and sensor snapshot --------------------------------------------------------------

def test_csv_log_sample_times_temperatures_and_stated_assumptions():
    with pytest.warns(AssumptionWarning) as record:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NativeMetricWarning)
            t = readers.read(CSVLOG)
    messages = " ".join(str(w.message) for w in record)
    assert "no timezone was given: read as UTC" in messages
    assert "'6/5/2025' do not show their order; read as month/day/year" in messages
    at = pl.datetime(2025, 6, 5, 16, 36, 42, time_zone="UTC")
    cpu = t.filter((pl.col("time") == at) & (pl.col("component") == "CPU"))
    assert cpu["value"].to_list() == [58.0] and cpu["metric"].to_list() == ["everest-csvlog:temperature"]
    assert t.height == 7 * 5 and t["time"].n_unique() == 7  # the event line is not a row
    assert set(t["aggregate"]) == {"last"}
    meta = metadata(CSVLOG)
    assert meta["cpu_type"] == "2C+8c Intel Core i5-1335U, 4300 MHz (43 x 100)"  # unquoted commas kept
    assert meta["motherboard"] == "Acer Aspire A514-56P" and meta["log_started"] == "6/5/2025 4:35:19 PM"


def test_csv_log_timezone_and_date_order_given():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NativeMetricWarning)
        t = everest.csvlog.parse(CSVLOG.read_bytes(), source="log.csv", timezone="Europe/Madrid", date_order="DMY").table
    # 6 May 2025, 16:36:36 in Madrid (CEST, UTC+2) = 14:36:36 UTC
    assert t["time"].min().isoformat() == "2025-05-06T14:36:36+00:00"
    assert t["time"].max().isoformat() == "2025-05-06T14:36:43+00:00"


def test_csv_log_per_core_utilization_and_memory_constructed_layout():
    with warnings.catch_warnings():
        warnings.simplefilter("error", AssumptionWarning)  # timezone given, day 15 shows the order
        warnings.simplefilter("ignore", NativeMetricWarning)
        t = everest.csvlog.parse(UTIL_LOG.read_bytes(), source="util.csv", timezone="UTC").table
    at = pl.datetime(2025, 6, 15, 16, 36, 37, time_zone="UTC")  # day 15: the order shows
    at_t = t.filter(pl.col("time") == at)
    assert one(at_t, metric="cpu_util", component="cpu0") == 55
    assert one(at_t, metric="cpu_util", component="cpu1") == 25
    assert one(at_t, metric="cpu_util", component="total") == 40
    assert one(at_t, metric="mem_used") == 2950 * MIB
    assert one(at_t, metric="mem_util") == 72


def _variants():
    """The real sample and layouts derived from it, each with what the fast reader does."""
    sample = CSVLOG.read_text(encoding="utf-8")
    head, rows = sample.split("* Processes stopped: dllhost.exe\n")
    dmy = "".join(line.replace("6/5/2025", "13.06.2025").replace(" PM", "").replace("4:", "16:", 1)
                  for line in rows.splitlines(keepends=True))
    timings = head.replace("HDD1\n,,,°C,°C,°C,°C,°C", "HDD1,Memory Timings\n,,,°C,°C,°C,°C,°C,") + "".join(
        line.rstrip("\n") + ",16-18-18-38 (CL-RCD-RP-RAS)\n" for line in rows.splitlines(keepends=True))
    return {
        "sample": (sample, True),
        "utilization": (UTIL_LOG.read_text(encoding="utf-8"), True),
        "crlf, blank line, event lines": (sample.replace("\n", "\r\n").replace(
            "6/5/2025,4:36:40", "\r\n* Hardware monitoring stopped\r\n6/5/2025,4:36:40"), True),
        "day first, 24 h": (head + dmy, True),
        "text column dropped": (timings, True),
        "quoted field": (sample.replace(",48,46,", ',"48",46,', 1), False),
        "DST-repeated local time": (sample.replace("6/5/2025", "10/26/2025").replace("4:36", "2:36")
                                    .replace(" PM", " AM"), True),
    }


@pytest.mark.parametrize("name", list(_variants()))
def test_csv_log_polars_reader_equals_the_line_by_line_one(name):
    """The fast reader (polars CSV, vectorized times) gives the line-by-line reader's table,
    value for value; what it declines (quotes, DST), it leaves to that reader."""
    text, fast_reads_it = _variants()[name]
    data = text.encode("utf-8")
    for tz in (None, "Europe/Madrid"):
        fast = everest.csvlog._fast(data, source="log.csv", timezone=tz, date_order=None)
        try:
            slow = everest.csvlog._slow(data, source="log.csv", timezone=tz, date_order=None)
        except ParseError:
            assert tz is not None and fast is None and "DST" in name  # repeated 2:36 in Madrid
            continue
        if not fast_reads_it:
            assert fast is None
            continue
        assert fast is not None and fast[0].equals(slow[0]) and fast[1:] == slow[1:]


@pytest.mark.parametrize("cell, expected", [
    ("１２", "(ASCII digits)"), ("1_0", "(ASCII digits)"), ("0x10", "(ASCII digits)"), ("nan", "(ASCII digits)"),
    ("1e999", "within the range of a double (up to 1.8e308)"), ("-1e999", "within the range of a double (up to 1.8e308)"),
    ("inf", "(a finite number; infinity is no measurement)"),
    ("Infinity", "(a finite number; infinity is no measurement)")])
def test_csv_log_numbers_are_ascii_decimal_and_finite(cell, expected):
    """The one number rule (readers._numbers): the polars path declines, the line-by-line
    path names the cell with _numbers' message."""
    data = CSVLOG.read_text(encoding="utf-8").replace(",48,46,46,46,36", f",{cell},46,46,46,36").encode()
    with pytest.raises(ParseError, match=re.escape(f"log.csv:9: expected a number in column 'CPU' (°C) {expected}, "
                                                   f"found '{cell}'")):
        everest.csvlog.parse(data, source="log.csv", timezone="UTC", date_order="MDY")


@pytest.mark.parametrize("cell, value, fast_reads_it", [
    ("+.5", 0.5, True), ("5.", 5.0, True), (" 5", 5.0, True), ("1E+1", 10.0, True), ("1e-400", 0.0, True),
    ("5 ", 5.0, False)])
def test_csv_log_numbers_polars_and_python_read_alike(cell, value, fast_reads_it):
    """Spellings in the grammar that polars' CSV parser (fast reader) and _numbers (line by
    line) might read differently: they read the same value, or the fast reader declines."""
    data = CSVLOG.read_text(encoding="utf-8").replace(",48,46,46,46,36", f",{cell},46,46,46,36").encode()
    options = dict(source="log.csv", timezone="UTC", date_order="MDY")
    fast, slow = everest.csvlog._fast(data, **options), everest.csvlog._slow(data, **options)
    column = next(k for k, s in slow[1].items() if s[1] == "CPU")
    assert slow[0][column][0] == value
    assert (fast is not None) == fast_reads_it
    if fast is not None:
        assert fast[0].equals(slow[0])


def test_sensor_snapshot_utilization_and_memory():
    with pytest.warns(NativeMetricWarning, match=r"everest-sensors:temperature \(°C, 13 values\)"):
        t = readers.read(XML)
    assert one(t, metric="cpu_util", component="total") == 23
    assert [one(t, metric="cpu_util", component=f"cpu{i}") for i in range(4)] == [10, 26, 34, 26]
    assert one(t, metric="mem_util") == 71
    assert one(t, metric="mem_used") == 2914 * MIB and one(t, metric="mem_free") == 1172 * MIB
    assert one(t, metric="everest-sensors:voltage", component="CPU Core") == 1.4
    assert one(t, metric="everest-sensors:SCPUCLK") == 3810
    meta = metadata(XML)
    assert (meta["date"], meta["time"], meta["memory_type"]) == ("11/01/2011", "17:35:28", "DDR3-1524")


# --- Cache & Memory and the thesis ---------------------------------------------------------------

def test_thesis_blocks_are_laid_out_as_printed():
    seed = SEED.read_text(encoding="utf-8")
    for fig in (69, 70, 71):
        block = (THESIS_DIR / f"fig{fig}_everest_cache_memory.txt").read_text(encoding="utf-8")
        assert block.startswith("\tRead\tWrite\tCopy\tLatency\n")
        # contiguous in the seed, right before the figure's caption
        assert block + "\n" + f"Figura {fig}:" in seed


@pytest.mark.parametrize("fig", [69, 70, 71])
def test_thesis_cache_memory_equals_the_transcription(fig):
    block = (THESIS_DIR / f"fig{fig}_everest_cache_memory.txt").read_bytes()
    csv = (THESIS_DIR / f"fig{fig}_everest_cache_memory.csv").read_bytes()
    mine = everest.cachemem.parse(block, source="b").table.select("metric", "component", "value").sort("metric", "component")
    theirs = parse_transcription(csv, source="c").table.select("metric", "component", "value").sort("metric", "component")
    assert mine.height == 12 and mine.equals(theirs)


def test_thesis_experiment_reads_69_71_through_this_reader(thesis_table):
    t = thesis_table.filter(pl.col("source") == "everest-cachemem")
    assert sorted(t["source_file"].unique()) == [f"thesis/fig{f}_everest_cache_memory.txt" for f in (69, 70, 71)]
    assert one(t, metric="mem_latency", stage="Windows Server 2003 guest running", component="memory") \
        == pytest.approx(67.4e-9)  # printed "67,4 ns"
    assert one(t, metric="mem_read_bw", stage="both guests running", component="L1") == 41512 * MB_S
    assert t.filter(pl.col("component") == "L3").is_empty()  # the empty L3 row: no L3 cache


def test_cache_memory_system_block_is_metadata():
    meta = metadata(THESIS_DIR / "fig69_everest_cache_memory.txt")
    assert meta["cpu_type"] == "DualCore AMD Athlon 64 X2 5200+ (Windsor, Socket AM2)"
    assert meta["cpu_stepping"] == "JH-F2"  # the second pair on its line
    assert meta["memory_type"] == "Dual Channel DDR2-653 SDRAM (5-5-5-15 CR2)"
    assert meta["motherboard"] == "Asus M2N32-SLI Deluxe"
    assert meta["version"] == "EVEREST v5.50.2100 / BenchDLL 2.5.292.0" and meta["product"] == "EVEREST"
    assert metadata(THESIS_DIR / "fig70_everest_cache_memory.txt") == {}


def test_cache_memory_space_separated():
    text = ("       Read        Write       Copy        Latency\n"
            "Memory    7284 MB/s   7426 MB/s   7216 MB/s   57.9 ns\n"
            "L1 Cache  41729 MB/s  20895 MB/s  35978 MB/s  1.1 ns\n"
            "L2 Cache  11912 MB/s  10295 MB/s  11945 MB/s  4.6 ns\n"
            "L3 Cache\n")
    tab = (THESIS_DIR / "fig69_everest_cache_memory.txt").read_bytes()
    assert everest.cachemem.parse(text.encode(), source="s").table.equals(
        everest.cachemem.parse(tab, source="s").table)


# --- metadata kept with the data ----------------------------------------------------------------

def test_sources_metadata_round_trips_through_parquet(tmp_path):
    exp = experiment.load(DATA / "experiments" / "thesis.toml")
    table, sources = exp.read()
    assert list(sources) == ["thesis/fig69_everest_cache_memory.txt"]  # the other inputs state nothing
    out = storage.write_table(table, tmp_path / "t.parquet", metadata={"sources": sources})
    assert storage.read_metadata(out)["sources"] == sources
    assert storage.read_metadata(out)["sources"]["thesis/fig69_everest_cache_memory.txt"]["cpu_type"].startswith(
        "DualCore")
    assert storage.read_table(out).height == 77
    plain = storage.write_table(exp.table(), tmp_path / "plain.parquet")
    assert "sources" not in storage.read_metadata(plain)


def test_sources_metadata_must_name_a_source_file_of_the_table(tmp_path):
    table = read(THESIS_DIR / "fig70_everest_cache_memory.txt")
    with pytest.raises(WorkbenchError, match="metadata for 'elsewhere.txt', which is no source_file"):
        storage.write_table(table, tmp_path / "t.parquet", metadata={"sources": {"elsewhere.txt": {"a": "b"}}})
    assert not list(tmp_path.iterdir())


def test_formats_without_metadata_give_none():
    assert metadata(THESIS_DIR / "fig65_cpu_per_core.csv") == {}


# --- localization and layout quirks ------------------------------------------------------------

def test_localized_benchmark_unit_maps_to_the_canonical_unit():
    text = EN_BENCH.read_bytes().decode("cp1252").replace("22423&nbsp;MB/s", "22423&nbsp;МБ/с")
    row, meta = report_html.benchmark(report_html.split_pages(text)[0], source="ru.htm")
    assert row == {"metric": "mem_read_bw", "component": "memory", "value": 22423 * MB_S, "aggregate": "single"}
    assert meta["bench.memory_read.unit"] == "МБ/с"


def test_localized_text_report_with_unknown_titles_says_so(tmp_path):
    # The ES excerpt made complete with AIDA64's closing lines: a valid report whose
    # pages ("Resumen" only) include no Memory or Sensor page with a known title.
    complete = tmp_path / "es.txt"
    complete.write_bytes(EV460.read_bytes().split(b"    [[ EXCERPT ENDS")[0] + b"-" * 120 + b"\n\nThe names of "
                         b"actual companies and products mentioned herein may be the trademarks of their owners.\n")
    with pytest.warns(AssumptionWarning, match=r"no Memory or Sensor page with a known title in this localized "
                                               r"report \(EVEREST v4.60.1500/es\)"):
        t = readers.read(complete)
    assert t.is_empty()


def test_text_item_running_into_its_value():
    # A key longer than its column runs into the value (v5.98 sample, CPUID page).
    line = "      IA AVX-512 4x Neural Network Instructions (AVX512_4VNNIW)Not Supported"
    assert everest.report_text.split_item(line, 56) == (line[:56].strip(), line[56:].strip())
    sensor = "      Intel Corporation Very Long Temperature Sensor Name #1234 70 °C  (158 °F)"
    assert everest.report_text.split_item(sensor, 56) == (
        "Intel Corporation Very Long Temperature Sensor Name #1234", "70 °C  (158 °F)")


def test_read_file_unknown_format_lists_known_ones():
    with pytest.raises(UnknownFormatError, match=r"format 'nope' is not registered\); known formats: .*everest"):
        metadata(XML, format="nope")
    assert metadata(XML, format="everest-sensors")["uptime"] == "03:25:30"


def test_a_callers_host_overrides_the_reports_computer_name():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NativeMetricWarning)
        assert set(readers.read(RU, host="lab-pc-3")["host"]) == {"lab-pc-3"}
        assert set(readers.read(RU, defaults={"host": "fallback"})["host"]) == {"РОМАРИО"}  # the file says
        assert set(readers.read(CSVLOG, defaults={"host": "fallback"})["host"]) == {"fallback"}  # the log does not
