"""Issue 18 item 9, readers: UTF-16 XML with a DOCTYPE, gzip members and trailing bytes, a
Cache & Memory row given twice. Each built from a real fixture, message pinned."""
from __future__ import annotations

import gzip
import re
from pathlib import Path

import polars as pl
import pytest

from workbench import readers
from workbench.errors import ParseError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DATA = Path(__file__).resolve().parents[2] / "data"
DUMP_GZ = FIXTURES / "xen-rrd" / "derived" / "vm_rrd_dump.xml.gz"
PYPERF = FIXTURES / "peers" / "pyperf_sorted_ascending.json"
CACHEMEM = DATA / "thesis" / "fig69_everest_cache_memory.txt"

pytestmark = pytest.mark.filterwarnings("ignore::workbench.errors.WorkbenchWarning")


def _utf16_with_doctype(source: Path, tmp_path: Path) -> Path:
    text = source.read_text(encoding="utf-8")
    decl, _, rest = text.partition("?>") if text.startswith("<?xml") else ('<?xml version="1.0"', "", text)
    decl = re.sub(r'encoding="[^"]*"', "", decl).rstrip() + ' encoding="UTF-16"?>'
    root = re.search(r"<([A-Za-z_][\w.-]*)", rest).group(1)  # the root, after comments
    out = tmp_path / f"utf16_{source.name}"
    out.write_bytes((decl + f'\n<!DOCTYPE {root} [<!ENTITY x "boom">]>' + rest).encode("utf-16"))
    return out


@pytest.mark.parametrize("name, fmt, message", [
    ("xen-rrd/xs62writer_rrd_updates_host_5s.xml", "xen-rrd-updates",
     r"utf16_xs62writer_rrd_updates_host_5s.xml: line 2, <!DOCTYPE>: expected no DOCTYPE with entity declarations "
     r"\(entity expansion and external entities are refused\), found <!ENTITY x \.\.\."),
    ("peers/phoronix_composite_constructed.xml", "phoronix",
     r"utf16_phoronix_composite_constructed.xml:2: expected a result file without a DOCTYPE \(entities are "
     r"refused; PTS writes none\), found a DOCTYPE/ENTITY"),
])
def test_a_utf16_doctype_is_refused_like_a_utf8_one(tmp_path, name, fmt, message):
    path = _utf16_with_doctype(FIXTURES / name, tmp_path)
    with pytest.raises(ParseError, match=message):
        readers.read(path, format=fmt)


def test_utf16_without_doctype_still_reads(tmp_path):
    source = FIXTURES / "xen-rrd" / "xs62writer_rrd_updates_host_5s.xml"
    text = source.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    path = tmp_path / "u16.xml"
    path.write_bytes(text.encode("utf-16"))
    assert readers.read(path, format="xen-rrd-updates", source_file="x").equals(readers.read(source, source_file="x"))


def test_a_two_member_gzip_is_read_whole(tmp_path):
    body = gzip.decompress(DUMP_GZ.read_bytes())
    cut = body.index(b"<rra>")
    two = tmp_path / "two.xml.gz"
    two.write_bytes(gzip.compress(body[:cut]) + gzip.compress(body[cut:]))  # as `cat a.gz b.gz` makes
    assert readers.read(two, source_file="x").equals(readers.read(DUMP_GZ, source_file="x"))
    packed = tmp_path / "asc.json.gz"
    raw = PYPERF.read_bytes()
    packed.write_bytes(gzip.compress(raw[:100]) + gzip.compress(raw[100:]))
    assert readers.read(packed, source_file="x").equals(readers.read(PYPERF, source_file="x"))


@pytest.mark.parametrize("source, fmt, suffix", [(DUMP_GZ, None, ".xml.gz"), (PYPERF, "pyperf", ".json.gz")])
def test_gzip_trailing_garbage_is_refused(tmp_path, source, fmt, suffix):
    packed = source.read_bytes() if source.suffix == ".gz" else gzip.compress(source.read_bytes())
    path = tmp_path / f"tail{suffix}"
    path.write_bytes(packed + b"garbage\n")
    with pytest.raises(ParseError, match=rf"tail{re.escape(suffix)}: byte {len(packed)}: expected another gzip member "
                                         r"or the end of the file after member 1, found 8 trailing byte\(s\) "
                                         r"b'garbage\\n'"):
        readers.read(path, format=fmt)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(packed[:-12])
    with pytest.raises(ParseError, match=r"cut.*: gzip member 1: expected complete .*, found a truncated gzip stream"):
        readers.read(cut, format=fmt)


@pytest.mark.parametrize("copy_line, line, label, first", [(2, 3, "Memory", 2), (5, 6, "L3 Cache", 5)])
def test_a_cache_memory_row_given_twice_is_refused_by_read_and_ingest(tmp_path, capsys, copy_line, line, label,
                                                                       first):
    from workbench import cli

    lines = CACHEMEM.read_text().splitlines(keepends=True)
    lines.insert(copy_line, lines[copy_line - 1])
    path = tmp_path / "twice.txt"
    path.write_text("".join(lines))
    message = (f"twice.txt:{line}: expected each of the rows memory, L1, L2, L3 once (rows are read by position), "
               f"found a second '{label}' row (the first is on line {first})")
    with pytest.raises(ParseError, match=re.escape(message)):
        readers.read(path)
    assert cli.main(["ingest", str(path), "-o", str(tmp_path / "o.parquet")]) == 2
    assert capsys.readouterr().err.strip().endswith(message)


def test_an_azure_noise_row_with_an_extra_field_is_located(tmp_path):
    good = sorted((FIXTURES / "azure-noise" / "good").rglob("*.csv"))[0]
    lines = good.read_bytes().split(b"\n")
    lines[2] += b",extra"
    bad = tmp_path / good.relative_to(FIXTURES / "azure-noise" / "good")
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\n".join(lines))
    with pytest.raises(ParseError, match=r"unit=ns.csv:3: expected 4 fields, as in the header, found 5 fields$"):
        readers.read(bad)


def test_a_carriage_return_in_a_pdh_header_is_no_traceback(tmp_path):
    """Was csv.Error 'new-line character seen in unquoted field' (found by the fuzzer)."""
    source = FIXTURES / "pdh-csv" / "esxtop_batch_constructed.csv"
    data = source.read_bytes()
    at = data.index(b'","') + 1
    path = tmp_path / "cr.csv"
    path.write_bytes(data[:at] + b"\r" + data[at:])  # a lone CR between two header cells
    assert readers.read(path, source_file="x").equals(readers.read(source, source_file="x"))


CSVLOG = FIXTURES / "everest" / "constructed" / "aida64_csvlog_utilization_layout.csv"


@pytest.mark.parametrize("old, new, message", [
    (b",2914,", b",1e999,", r"csvlog.csv:8: expected .*within the range of a double"),
    (b",2914,", b",1.8e308,", r"csvlog.csv:8: expected .*within the range of a double"),
    (b",2914,", ",２９１４,".encode(), r"csvlog.csv:8: expected .*ASCII digits"),  # was read as 2914 MiB
    (b"Version,AIDA64 v7.65.7400", b"Version,", None),  # was IndexError in the metadata
    # finite in MB, infinite in bytes: the polars path declines, the line-by-line one names it
    (b",2914,", b",1.7e308,", r"csvlog.csv:8: expected a number in column 'Used Memory' \(MB\) within a double's "
                              r"range once in bytes \(up to 1.7e\+302\), found '1.7e308'$"),
])
def test_aida64_csv_log_refuses_infinity_and_unicode_digits(tmp_path, old, new, message):
    path = tmp_path / "csvlog.csv"
    data = CSVLOG.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))
    if message is None:
        assert readers.read(path, format="everest-csvlog").height > 0
        return
    with pytest.raises(ParseError, match=message):
        readers.read(path, format="everest-csvlog")


def test_a_5000_digit_item_line_in_a_text_report_does_not_hang():
    """Found by bench/fuzz.py: split_item's reading pattern backtracked cubically on a long
    digit run (minutes for one line); now only the line's tail is searched."""
    from workbench.readers.everest.report_text import split_item

    key = "      A key that runs into its value"
    assert split_item(key + "9" * 5000 + " MB", 30) == (key[:30].strip(), (key + "9" * 5000 + " MB")[30:].strip())
    assert split_item("      CPU Core Temperature longer key42 °C  (108 °F)", 30) == (
        "CPU Core Temperature longer key", "42 °C  (108 °F)")


def test_a_parquet_file_that_makes_polars_panic_is_a_parse_error(tmp_path):
    """Found by bench/fuzz.py: a damaged row group makes polars' Rust code panic, and pyo3's
    PanicException is a BaseException (no `except Exception` stops it)."""
    import random

    from .. import fuzzing

    data = (DATA / "azure-vm-noise-2024" / "idle-latency.parquet").read_bytes()
    damaged, what = fuzzing.mutate(data, random.Random(973959363))
    assert what == "insert b'null' at 85006; duplicate line 998; delete line 734"
    path = tmp_path / "damaged.parquet"
    path.write_bytes(damaged)
    with pytest.raises(ParseError, match=r"damaged.parquet: Parquet data: expected a readable Parquet file, found "
                                         r"PanicException: "):
        readers.read(path)


def test_a_pdh_csv_that_makes_polars_panic_is_a_parse_error(tmp_path):
    """Found by bench/fuzz.py: a file cut inside a quoted cell made polars' CSV reader panic."""
    data = (FIXTURES / "pdh-csv" / "broken" / "duplicate_counter.csv").read_bytes()[:112]
    data = data[:52] + b";" + data[52:]
    data = data[:108] + b"NaN" + data[110:]
    path = tmp_path / "cut.csv"
    path.write_bytes(data)
    with pytest.raises(ParseError, match=r"cut.csv:2: expected 3 fields, as in the header, found 2 fields$"):
        readers.read(path)


def test_a_carriage_return_in_an_error_message_is_escaped(tmp_path):
    """An error is one line on a terminal: a CR from the input would overwrite it."""
    data = (FIXTURES / "pdh-csv" / "broken" / "bad_counter_path.csv").read_bytes()
    path = tmp_path / "cr.csv"
    path.write_bytes(data[:29] + b"\r" + data[29:])
    with pytest.raises(ParseError) as info:
        readers.read(path)
    assert "\r" not in str(info.value) and "\\r" in str(info.value)


def test_results_csv_with_a_cr_in_its_header_and_sysstat_with_an_infinite_interval(tmp_path):
    data = (FIXTURES / "benchmarks" / "broken" / "results_bad_value.csv").read_bytes()
    path = tmp_path / "results.csv"
    path.write_bytes(data[:18] + b"\r" + data[18:])
    with pytest.raises(ParseError, match=r"results.csv:1: expected columns of the measurement table"):
        readers.read(path, format="results-csv")
    text = (FIXTURES / "sysstat" / "expected.sadf-d").read_text()
    head, sep, rest = text.partition("\n")
    body = rest.split(";", 2)
    path = tmp_path / "inf.sadf-d"
    path.write_text(head + sep + body[0] + ";1e999;" + body[2])
    with pytest.raises(ParseError, match=r"inf.sadf-d.* expected a number for the interval within the range of a double "
                                         r"\(up to 1\.8e308\), found '1e999'"):
        readers.read(path)


def test_control_characters_from_the_input_are_escaped_in_messages(tmp_path):
    """Found by bench/fuzz.py: a bit flip made a ',' a form feed, which split the message."""
    data = (FIXTURES / "benchmarks" / "broken" / "results_wrong_unit.csv").read_bytes()
    at = data.index(b",")
    path = tmp_path / "ff.csv"
    path.write_bytes(data[:at] + b"\x0c" + data[at + 1:])
    with pytest.raises(ParseError) as info:
        readers.read(path, format="results-csv")
    assert len(str(info.value).splitlines()) == 1 and "\\x0c" in str(info.value)


def test_azure_noise_huge_runtime_and_a_padded_header(tmp_path):
    """Found by bench/fuzz.py: a runtime of 1e300 s overflowed the end time (a polars
    InvalidOperationError), and ' starttime' passed the header check but not polars."""
    good = sorted((FIXTURES / "azure-noise" / "good").rglob("*.csv"))[0]
    lines = good.read_text().split("\n")
    cells = lines[1].split(",")
    cells[1] = "1e300"
    bad = tmp_path / good.relative_to(FIXTURES / "azure-noise" / "good")
    bad.parent.mkdir(parents=True)
    bad.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]))
    with pytest.raises(ParseError, match=r"unit=ns.csv:2: expected a positive duration in seconds in column "
                                         r"'runtime', found '1e300'$"):
        readers.read(bad)
    bad.write_text("\n".join([lines[0].replace(",starttime", ", starttime"), *lines[1:]]))
    assert readers.read(bad, format="azure-noise").drop("source_file").equals(readers.read(good).drop("source_file"))


DSTAT_ALL = FIXTURES / "dstat" / "constructed_all_groups.csv"


@pytest.mark.parametrize("old, new, message", [
    # found by bench/fuzz.py: a file cut after '"Dstat ' (IndexError)
    (None, b'"Dstat "\n', 'cut.csv:1: expected "Dstat <version> CSV output" as the first line, found "Dstat "'),
    # found by bench/fuzz.py: an epoch beyond int64 microseconds (polars InvalidOperationError)
    (b"\n1425286805.0,", b"\n1e26,", "cut.csv:9: expected epoch seconds within the years 1 to 9999 (-62135596800 to "
                                    "253402300799), found '1e26'"),
    (b"\n1425286805.0,", "\n１425286805.0,".encode(), "cut.csv:9: expected epoch seconds in column 'epoch' (ASCII "
                                                     "digits), found '１425286805.0'"),
    # a one-year delay counted over the rows past the year 9999 (datetime OverflowError)
    (b"-n -N eth0 -l 5 3", b"-n -N eth0 -l 31536000 3", None),
])
def test_dstat_refuses_a_cut_banner_and_times_beyond_a_datetime(tmp_path, old, new, message):
    path = tmp_path / "cut.csv"
    data = DSTAT_ALL.read_bytes()
    if old is None:
        data = new
    else:
        assert old in data
        data = data.replace(old, new, 1)
    path.write_bytes(data)
    if message is None:  # 3 rows a year apart: well within the year 9999, so read
        assert readers.read(path, format="dstat").height > 0
        return
    with pytest.raises(ParseError, match=re.escape(message) + "$"):
        readers.read(path, format="dstat")


@pytest.mark.parametrize("name, old, new", [
    # found by bench/fuzz.py: int() of a 5000-digit row time in a dump's comment (ValueError)
    ("rrdtool_dump.xml", b"UTC / 1700000305 -->", b"UTC / " + b"9" * 5000 + b" -->"),
    # found by bench/fuzz.py: int() of a 5000-digit CPU number in a legend name (ValueError)
    ("derived/rrd_updates_dom0_5s.xml", b":cpu0</entry>", b":cpu" + b"9" * 5000 + b"</entry>"),
])
def test_xen_rrd_5000_digit_names_and_comments_are_no_traceback(tmp_path, name, old, new):
    data = (FIXTURES / "xen-rrd" / name).read_bytes()
    assert old in data
    path = tmp_path / Path(name).name
    path.write_bytes(data.replace(old, new, 1))
    table = readers.read(path, source_file="x")
    whole = readers.read(FIXTURES / "xen-rrd" / name, source_file="x")
    if b"cpu" in old:  # cpu<5000 digits> is no CPU number: a native name, and dom0 has no vCPU to average
        assert whole.filter(pl.col("metric") == "cpu_util").height == 12  # cpu0 and the total
        assert table.filter(pl.col("metric") == "cpu_util").is_empty()
        assert table.filter(pl.col("metric").cast(pl.String).str.starts_with("xen-rrd:cpu999")).height == 6
    else:  # a comment without a row time is not checked
        assert table.equals(whole)


def test_no_infinity_leaves_a_reader_even_from_a_finite_number(tmp_path):
    """readers.read_file's net: sadf's kbmemfree 1.7e308 kB is finite, its bytes are not
    (sysstat converts column-wise and names no line for it; the net names the series)."""
    source = FIXTURES / "sysstat" / "expected.sadf-d"
    text = source.read_text()
    old = "2019-04-18 13:20:19 UTC;1437740;4389516;"
    assert old in text
    path = tmp_path / "big.sadf-d"
    path.write_text(text.replace(old, "2019-04-18 13:20:19 UTC;1.7e308;4389516;", 1))
    with pytest.raises(ParseError, match=r"big.sadf-d: mem_free 'total' at 2019-04-18 13:20:19\+00:00: expected "
                                         r"values within a double's range in canonical units, found a number that "
                                         r"overflows once converted to bytes$"):
        readers.read(path, format="sysstat")


def test_a_sadf_dh_header_without_its_intr_key_does_not_loop(tmp_path):
    """Found by bench/fuzz.py (a bit flip in 'CPU', hung past 60 s): 'CPU*[...]' without the
    INTR before it is a repeated group that reads no token; it looped forever."""
    text = (FIXTURES / "sysstat" / "expected.sadf-dh").read_text()
    assert ";INTR;CPU*[...]" in text
    path = tmp_path / "nointr.sadf-dh"
    path.write_text(text.replace(";INTR;CPU*[...]", ";CPU*[...]", 1))
    with pytest.raises(ParseError, match=r"nointr.sadf-dh:2: expected 25 fields, as the header's groups describe, "
                                         r"found 157 fields$"):
        readers.read(path, format="sysstat")
