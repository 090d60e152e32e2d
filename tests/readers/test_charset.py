"""Declared charsets read as browsers read them (WHATWG Encoding Standard labels)."""
import warnings

import polars as pl
import pytest

from workbench import readers
from workbench.errors import NativeMetricWarning, ParseError
from workbench.readers import _charset

from ..conftest import FIXTURES

CS = FIXTURES / "charset"
EV = FIXTURES / "everest"
RU = EV / "aida64_v7.35_ru_cp1251_html_report_hardware_pages.htm"
PT = EV / "aida64_engineer_v5.75_pt-BR_iso8859-1_html_report_hardware_pages.htm"
RRD = FIXTURES / "xen-rrd" / "real_fixture_flip_flop_xapi-rrd_2019.xml"


@pytest.mark.parametrize("label, name, codec", [
    ("iso-8859-1", "windows-1252", "cp1252"), ("latin1", "windows-1252", "cp1252"),
    ("ascii", "windows-1252", "cp1252"), ("US-ASCII", "windows-1252", "cp1252"),
    ("gb2312", "GBK", "gb18030"), ("gbk", "GBK", "gb18030"), ("x-cp1251", "windows-1251", "cp1251"),
    (" Windows-1251\t", "windows-1251", "cp1251"), ("utf8", "UTF-8", "utf-8"), ("ks_c_5601-1987", "EUC-KR", "cp949"),
    ("sjis", "Shift_JIS", "cp932"), ("iso-8859-9", "windows-1254", "cp1254"), ("tis-620", "windows-874", "cp874"),
])
def test_labels_map_as_in_the_encoding_standard(label, name, codec):
    encoding = _charset.lookup(label)
    assert (encoding.name, encoding.codec) == (name, codec)


def test_unknown_labels_and_the_table_is_one_to_one():
    assert _charset.lookup("x-mac-klingon") is None
    assert _charset.lookup("utf-7") is None  # Python knows it, the standard does not
    assert len(_charset.LABELS) == sum(len(v) for v in _charset.ENCODINGS.values()) == 228
    assert set(_charset.CODECS) == set(_charset.ENCODINGS)


def test_bytes_python_refuses_but_browsers_decode():
    # windows-1252's 0x81 is U+0081 in the standard; gb2312 text may use GB18030's 4-byte forms.
    assert _charset.decode(b"\x80\x81", _charset.lookup("iso-8859-1"), source="x") == "\u20ac\x81"
    assert _charset.decode(b"\xb4\xa6\x81\x30\x86\x30", _charset.lookup("gb2312"), source="x") == "处\u00b8"
    assert _charset.decode(b"\xef\xbb\xbfok", _charset.lookup("windows-1251"), source="x") == "ok"  # BOM wins
    assert _charset.decode(b"\x81\xa1", _charset.lookup("tis-620"), source="x") == "\x81\u0e01"
    with pytest.raises(ParseError, match=r"found byte 0xdb, which windows-874 does not define"):
        _charset.decode(b"\xdb", _charset.lookup("windows-874"), source="x")


def test_undecodable_byte_names_line_and_byte():
    with pytest.raises(ParseError, match=r"^x:3: expected text in the declared charset cp1253 \(read as windows-1253\), "
                                         r"found byte 0xaa, which windows-1253 does not define$"):
        _charset.decode(b"a\nb\nc\xaa", _charset.lookup("cp1253"), source="x")
    with pytest.raises(ParseError, match=r"expected a charset that carries text: 'iso-2022-kr' is one the Encoding "
                                         r"Standard decodes to a single U\+FFFD"):
        _charset.decode(b"abc", _charset.lookup("iso-2022-kr"), source="x")


@pytest.mark.filterwarnings("ignore::workbench.errors.WorkbenchWarning")
def test_real_reports_read_with_their_declared_charsets():
    ru = readers.read_file(RU)  # CHARSET=Windows-1251
    pt = readers.read_file(PT)  # CHARSET=iso-8859-1, i.e. windows-1252
    assert ru.metadata["computer"] == "РОМАРИО"
    assert pt.metadata["memory_type"] == "DDR3-1600 DDR3 SDRAM"
    assert pt.metadata["os"].startswith("Microsoft Windows 10 Home Single Language")


def test_a_real_report_relabelled_x_cp1251_reads_the_same(tmp_path):
    relabelled = tmp_path / "ru_x-cp1251.htm"
    data = RU.read_bytes()
    assert data.count(b"CHARSET=Windows-1251") == 1
    relabelled.write_bytes(data.replace(b"CHARSET=Windows-1251", b"CHARSET=x-cp1251"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NativeMetricWarning)
        got = readers.read_file(relabelled, source_file="ru")
        want = readers.read_file(RU, source_file="ru")
    assert got.metadata == want.metadata
    assert got.table.equals(want.table)


@pytest.mark.filterwarnings("ignore::workbench.errors.WorkbenchWarning")
def test_xml_declarations_are_read_as_browsers_read_them():
    want = readers.read(RRD, source_file="rrd")
    for name in ("iso-8859-1_label_windows-1252_bytes.xml", "gb2312_label_gb18030_bytes.xml"):
        got = readers.read(CS / name, source_file="rrd")
        assert got.height == want.height == 300
        assert got.select(pl.exclude("value")).equals(want.select(pl.exclude("value")))
        assert got["value"].is_nan().sum() == want["value"].is_nan().sum()
    converted = _charset.xml_utf8((CS / "iso-8859-1_label_windows-1252_bytes.xml").read_bytes(), source="x")
    assert converted.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!-- price € 5, control \x81 -->'.encode())


@pytest.mark.parametrize("name, message", [
    ("broken_windows-1253_undefined_byte.xml",
     r"broken_windows-1253_undefined_byte.xml:2: expected text in the declared charset windows-1253, "
     r"found byte 0xaa, which windows-1253 does not define$"),
    ("broken_unknown_encoding_label.xml",
     r"broken_unknown_encoding_label.xml:1: expected an encoding the WHATWG Encoding Standard knows in the XML "
     r"declaration \(e.g. UTF-8, windows-1252\), found 'x-klingon'$"),
])
def test_broken_declarations_are_parse_errors(name, message):
    with pytest.raises(ParseError, match=message):
        readers.read(CS / name)
