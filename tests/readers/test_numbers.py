"""The one number parser and the bounded JSON loader (issue 18 items 2-4), and the readers
that go through them: minimal broken inputs, pinned messages."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from workbench import readers
from workbench.errors import ParseError
from workbench.readers import _jsonload, _numbers, xen_rrd
from workbench.readers import capture as capture_reader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RRD = FIXTURES / "xen-rrd"


# --------------------------------------------------------------------------- the parser itself

@pytest.mark.parametrize("text, value", [("12", 12.0), (" 12.5\t", 12.5), ("-.5", -0.5), ("1.7e308", 1.7e308),
                                         ("1e-400", 0.0), ("+3.", 3.0)])
def test_to_float_reads_ascii_decimals(text, value):
    assert _numbers.to_float(text, source="f", line=1) == value


@pytest.mark.parametrize("text, message", [
    ("\uff11\uff12\uff13", r"f:7: expected a number \(ASCII digits\), found '１２３'"),
    ("1_0", r"f:7: expected a number \(ASCII digits\), found '1_0'"),
    ("0x10", r"\(ASCII digits\), found '0x10'"),
    ("", r"\(ASCII digits\), found ''"),
    ("1e999", r"f:7: expected a number within the range of a double \(up to 1.8e308\), found '1e999'"),
    ("1.8e308", r"within the range of a double"),
    ("9" * 5000, r"expected a number of at most 4300 characters, found a number of 5000 characters"),
    ("Infinity", r"f:7: expected a number \(a finite number; infinity is no measurement\), found 'Infinity'"),
    ("-inf", r"infinity is no measurement"),
    ("nan", r"\(ASCII digits\), found 'nan'"),
])
def test_to_float_refuses(text, message):
    with pytest.raises(ParseError, match=message):
        _numbers.to_float(text, source="f", line=7)


def test_to_float_missing_spellings():
    assert math.isnan(_numbers.to_float("N/A", source="f", line=1, nan=("n/a",)))
    assert math.isnan(_numbers.to_float("-Infinity", source="f", line=1, infinity="nan"))
    with pytest.raises(ParseError, match="within the range of a double"):  # a wrong number, not a missing one
        _numbers.to_float("1e999", source="f", line=1, infinity="nan")


@pytest.mark.parametrize("text, message", [
    ("\uff11", r"expected an integer \(ASCII digits\), found '１'"),
    ("1_000", r"found '1_000'"),
    ("1" * 4301, "expected an integer of at most 4300 digits, found a number of 4301 characters"),
    ("2147483648", "expected an integer from -2147483648 up to 2147483647, found 2147483648"),
])
def test_to_int_refuses(text, message):
    with pytest.raises(ParseError, match=message):
        _numbers.to_int(text, source="f", line=1, minimum=_numbers.INT32[0], maximum=_numbers.INT32[1])


def test_finite_refuses_bools_and_huge_ints():
    assert _numbers.finite(3, source="f", line="x") == 3.0
    with pytest.raises(ParseError, match="f: x: expected a number, found True"):
        _numbers.finite(True, source="f", line="x")
    with pytest.raises(ParseError, match="within the range of a double .* found an integer of 1329 bits"):
        _numbers.finite(10 ** 400, source="f", line="x")


# --------------------------------------------------------------------------- the bounded JSON loader

@pytest.mark.parametrize("text, message", [
    ("[" * 100_000, r"f.json:1: expected JSON nested at most 64 deep, found more than 64 levels"),
    ('{"a":\n' + '{"b":' * 70 + "1" + "}" * 71, r"f.json:2: expected JSON nested at most 64 deep"),
    ('{"v": 1e999}', r"f.json:1: expected a number within the range of a double \(up to 1.8e308\), found 1e999"),
    ('{"v":\n' + "9" * 5000 + "}", "f.json:2: expected a number within the range of a double .* found a number "
                                   "of 5000 characters"),
    ('{"v": 1' + "0" * 400 + "}", "found a number of 401 characters"),
    ('{"v": Infinity}', r"f.json:1: expected a finite JSON number \(NaN and Infinity are not JSON\), found Infinity"),
    ('{"v": NaN}', "found NaN"),
    ('{"v": 1', r"f.json:1: expected JSON \(Expecting ',' delimiter\), found the end of the text"),
])
def test_bounded_json_refuses(text, message):
    with pytest.raises(ParseError, match=message):
        _jsonload.loads(text, source="f.json")


def test_bounded_json_keeps_brackets_in_strings_and_reads_constants_as_nan_when_asked():
    assert _jsonload.loads('{"s": "' + "[" * 500 + '"}', source="f") == {"s": "[" * 500}
    doc = _jsonload.loads("[NaN, Infinity, -Infinity, 1]", source="f", constants="nan")
    assert [math.isnan(v) for v in doc] == [True, True, True, False]


def test_bounded_json_size_limit(monkeypatch):
    monkeypatch.setattr(_jsonload, "MAX_BYTES", 1 << 20)
    with pytest.raises(ParseError, match=r"f.json: expected JSON of at most 1 MiB, found 2 MiB"):
        _jsonload.loads(b"[" + b"1," * (1 << 20) + b"1]", source="f.json")


# --------------------------------------------------------------------------- readers through them

def _capture_lines(tmp_path: Path, *, header: dict | None = None, sample: str | None = None) -> Path:
    lines = (FIXTURES / "capture" / "good.capture.jsonl").read_text().splitlines()
    if header is not None:
        lines[0] = json.dumps({**json.loads(lines[0]), **header})
    if sample is not None:
        lines[1] = sample
    out = tmp_path / "x.capture.jsonl"
    out.write_text("\n".join(lines) + "\n")
    return out


def test_capture_jsonl_nested_100000_deep_is_a_parse_error(tmp_path):
    path = _capture_lines(tmp_path, sample="[" * 100_000)
    with pytest.raises(ParseError, match=r"x.capture.jsonl:2: expected a JSON object nested at most 64 deep"):
        capture_reader.load(path)


def test_capture_infinite_or_huge_start_is_a_parse_error(tmp_path):
    with pytest.raises(ParseError, match=r"x.capture.jsonl: line 1 'start': expected a positive number of seconds "
                                         r"before the year 10000, found 1e\+300"):
        capture_reader.load(_capture_lines(tmp_path, header={"start": 1e300}))
    path = _capture_lines(tmp_path)
    path.write_text(path.read_text().replace('"start": 1795715031.3820407', '"start": 1e999', 1))
    with pytest.raises(ParseError, match=r"x.capture.jsonl:1: expected a number within the range of a double"):
        capture_reader.load(path)


def test_capture_sample_time_out_of_range_is_a_parse_error(tmp_path):
    first = json.loads((FIXTURES / "capture" / "good.capture.jsonl").read_text().splitlines()[1])
    path = _capture_lines(tmp_path, sample=json.dumps({**first, "t": 1e200}))
    with pytest.raises(ParseError, match=r"x.capture.jsonl:2: expected 't': seconds since the start, found 1e\+200"):
        capture_reader.load(path)


def _xport(tmp_path: Path, name: str, edit) -> Path:
    doc = json.loads((RRD / name).read_text())
    edit(doc)
    out = tmp_path / name
    out.write_text(json.dumps(doc))
    return out


def test_rrdtool_xport_json_with_a_row_deleted_or_duplicated_is_refused(tmp_path):
    gone = _xport(tmp_path, "rrdtool_xport.json", lambda d: d["data"].pop(10))
    with pytest.raises(ParseError, match=r"rrdtool_xport.json: data: expected 60 rows, as meta.start 1700000605 .. "
                                         r"meta.end 1700000900 every 5 s declare, found 59 rows \(a row deleted or "
                                         r"duplicated\?\)"):
        readers.read(gone)
    twice = _xport(tmp_path, "rrdtool_xport.json", lambda d: d["data"].insert(3, d["data"][3]))
    with pytest.raises(ParseError, match="found 61 rows"):
        readers.read(twice)
    off = _xport(tmp_path, "rrdtool_xport.json", lambda d: d["meta"].update(end=1700000903))
    with pytest.raises(ParseError, match=r"meta.end: expected a time start \+ k x step \(1700000605 \+ k x 5\), "
                                         "found 1700000903"):
        readers.read(off)


def test_rrd_json_rows_with_times_out_of_order_are_refused(tmp_path):
    twice = _xport(tmp_path, "rrdtool_xport_showtime.json", lambda d: d["data"].insert(3, d["data"][3]))
    with pytest.raises(ParseError, match=r"data\[4\]: expected row times in one order, each once \(oldest first, as "
                                         r"the rows before\), found t=1700000620 after t=1700000620"):
        readers.read(twice)


def test_rrd_json_nested_deep_is_a_parse_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"meta": ' + "[" * 100_000)
    with pytest.raises(ParseError, match="deep.json:1: expected complete JSON nested at most 64 deep"):
        xen_rrd.parse_updates(path.read_bytes(), source=str(path))


def test_xapi_62_json_infinity_is_a_missing_value_and_1e999_an_error(tmp_path):
    text = (RRD / "xs62writer_rrd_updates_host_and_vm_5s.json").read_text()
    head, sep, rest = text.partition("values:[")
    first, comma, tail = rest.partition(",")
    gap = tmp_path / "gap.json"
    gap.write_text(head + sep + "Infinity" + comma + tail)
    table = readers.read(gap)
    assert not table["value"].is_infinite().any()
    assert table["value"].is_nan().sum() > 0
    huge = tmp_path / "huge.json"
    huge.write_text(head + sep + "1e999" + comma + tail)
    with pytest.raises(ParseError, match=r"huge.json:1: expected a number within the range of a double \(up to "
                                         r"1.8e308\), found 1e999"):
        readers.read(huge)


@pytest.mark.parametrize("name, before, after", [("derived/rrd_updates_2024_strings.json", '"values":["', '"'),
                                                 ("xs62writer_rrd_updates_host_5s.xml", "<v>", "</v>")])
def test_xapi_infinity_text_is_a_missing_value(tmp_path, name, before, after):
    head, sep, rest = (RRD / name).read_text().partition(before)
    assert sep, name
    _, close, tail = rest.partition(after)
    text = head + sep + "Infinity" + close + tail
    path = tmp_path / Path(name).name
    path.write_text(text)
    table = readers.read(path)
    assert not table["value"].is_infinite().any()


def test_peer_json_with_an_integer_over_4300_digits_is_a_parse_error(tmp_path):
    text = (FIXTURES / "peers" / "hyperfine_seq_param.json").read_text()
    path = tmp_path / "big.json"
    path.write_text(text.replace('"exit_codes": [', '"exit_codes": [' + "1" * 5000 + ",", 1))
    with pytest.raises(ParseError, match="big.json:[0-9]+: expected a hyperfine --export-json document nested|"
                                         "within the range of a double .* found a number of 5000 characters"):
        readers.read(path)


def test_everest_cache_memory_refuses_unicode_digits_and_overflow(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "data" / "thesis" / "fig69_everest_cache_memory.txt").read_text()
    wide = tmp_path / "wide.txt"
    wide.write_text(text.replace("7284 MB/s", "\uff17\uff12\uff18\uff14 MB/s"))
    with pytest.raises(ParseError, match=r"wide.txt:2: expected a bandwidth: a number and a unit"):
        readers.read(wide, format="everest-cachemem")
    huge = tmp_path / "huge.txt"
    huge.write_text(text.replace("7284 MB/s", "9" * 400 + " MB/s"))
    with pytest.raises(ParseError, match=r"huge.txt:2: expected a bandwidth within the range of a double"):
        readers.read(huge, format="everest-cachemem")


def test_stream_refuses_unicode_digits_and_overflow(tmp_path):
    log = (Path(__file__).resolve().parents[2] / "data" / "felter2014" / "vm.log").read_text()
    run = "\n".join(log.splitlines()[:39]) + "\n"
    huge = tmp_path / "huge.log"
    huge.write_text(run.replace("40.0956", "4" + "0" * 400, 1))
    with pytest.raises(ParseError, match=r"huge.log:30: expected the Copy rate within the range of a double"):
        readers.read(huge, format="stream")
    wide = tmp_path / "wide.log"
    wide.write_text(run.replace("Number of Threads requested = 32", "Number of Threads requested = \uff13\uff12"))
    assert readers.read(wide, format="stream")["stage"].unique().to_list() == [None]  # not a thread count line


@pytest.mark.parametrize("before, after, replacement, message", [
    ("<v>", "</v>", "1e999", "expected a number within the range of a double (up to 1.8e308), found '1e999'"),
    ("<t>", "</t>", "1" * 5000, "of at most 4300 digits, found an integer of 5000 digits"),
])
def test_xen_rrd_overflow_and_huge_integers_are_parse_errors(tmp_path, before, after, replacement, message):
    """1e999 is a wrong number (not xapi's Infinity, a missing one); an integer past Python's
    digit limit was a ValueError traceback (bench/fuzz.py)."""
    head, sep, rest = (RRD / "xs62writer_rrd_updates_host_5s.xml").read_text().partition(before)
    _, close, tail = rest.partition(after)
    path = tmp_path / "broken.xml"
    path.write_text(head + sep + replacement + close + tail)
    with pytest.raises(ParseError) as err:
        readers.read(path)
    assert message in str(err.value)
