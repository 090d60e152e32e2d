"""EVEREST / AIDA64 reader: one deliberately broken file per failure mode, message pinned.

The files are in tests/fixtures/everest/broken/ (each a real sample with one edit,
see make_derived.py there). Every error names the file, the line (or element),
what was expected and what was found.
"""
import warnings

import pytest

from workbench import readers
from workbench.errors import ParseError, UnknownFormatError
from workbench.readers.everest import NativeMetricWarning, csvlog

from ..conftest import FIXTURES

BROKEN = FIXTURES / "everest" / "broken"


@pytest.mark.parametrize("name, format, line, message", [
    # truncated files
    ("text_report_truncated.txt", None, 138,
     r"expected the report's closing line of 120 '-' and the trademark notice \(the file ends early: truncated\?\), "
     r"found 'Free {46}3930 MB'"),
    ("cachemem_truncated.txt", None, 4, r"expected the L2 row .* found end of file \(truncated\?\)"),
    ("cachemem_short_row.txt", None, 4, r"expected four TAB-separated cells .* in the L2 row, found 3 cell\(s\)"),
    ("csvlog_preamble_only.csv", None, 5, r"expected a header row of sensor labels starting 'Date,Time,' \(a CSV "
     r"report, aida64 /R /CSV, is a different file: not supported yet.*found 5 line\(s\) starting 'Version,AIDA64"),
    ("sensors_truncated.xml", None, 1, r"expected well-formed <sys>/<temp>/... elements \(a snapshot cut short by "
     r"the 4096-byte shared-memory limit is truncated\), found Opening and ending tag mismatch"),
    # not EVEREST/AIDA64, or from another program (explicit format: detection would not pick them)
    ("text_not_everest.txt", "everest-report-text", 1,
     r"expected an EVEREST/AIDA64 text report starting with '--------\[ <product> \]---', found '\s+total\s+used"),
    ("text_not_everest.txt", "everest-cachemem", 1, r"expected the Cache & Memory header: four column labels"),
    ("html_other_program.htm", "everest-report-html", 4,
     r"expected an AIDA64 or EVEREST HTML report .*found generator 'Microsoft Word 15'"),
    ("text_report_bad_header_date.txt", None, 10,
     r"expected the report header with report_date matching .*, found '01/10/2018'"),
    # charset
    ("html_declares_utf8_but_is_cp1251.htm", None, 115,
     r"expected text in the declared charset UTF-8, found byte 0xce, which UTF-8 does not define"),
    ("html_without_charset.htm", None, 1, r"expected a <META ... CHARSET=...> declaration .*found none"),
    ("html_reencoded_to_utf8.htm", None, 5,
     r"expected text in the declared charset Windows-1251, found UTF-8 text \(re-encoded after it was written\?\)"),
    ("html_unknown_charset.htm", None, 5,
     r"expected a known charset in the META declaration \(a WHATWG Encoding Standard label\), found 'x-mac-klingon'"),
    # benchmark pages
    ("html_empty_benchmark_page.htm", None, 244,
     r"expected result rows on the benchmark page 'memory read', found an empty page"),
    ("html_two_this_system_rows.htm", None, 306,
     r"expected one this-system row \(CLASS=\"bar a\"\) on the benchmark page 'memory read', found 2 such rows among 65"),
    # unparseable numbers and units
    ("html_unparseable_score.htm", None, 347,
     r"expected the score on the benchmark page 'memory latency': a number and a unit \(ns, нс\), found '82.2.1 ns'"),
    ("html_latency_in_unknown_unit.htm", None, 347,
     r"in one of the units ns, нс, found unit 'µs' in '82.2 µs'"),
    ("html_memory_unknown_unit.htm", None, 269,
     r"expected physical memory 'Свободно' in one of the units MB, МБ, found unit 'XB' in '10189 XB'"),
    ("cachemem_unparseable_number.txt", None, 2, r"expected a bandwidth: a number and a unit .*found '73\?0 MB/s'"),
    ("cachemem_mixed_decimal_separators.txt", None, 3,
     r"expected one decimal separator in the whole block \(',' on line 2\), found '1.1 ns'"),
    ("cachemem_digit_grouping.txt", None, 3,
     r"expected a bandwidth without digit grouping .*found '41.730 MB/s': is '.' a thousands separator here\?"),
    ("csvlog_unparseable_number.csv", None, 13, r"expected a number in column 'CPU' \(°C\) \(ASCII digits\), found '5x2'"),
    # CSV rows with the wrong number of fields, inconsistent dates
    ("csvlog_row_missing_a_field.csv", None, 12,
     r"expected 8 fields \(as the header on line 6\), found 7 fields in '6/5/2025,4:36:40 PM,05:04:46,48,47,46,47'"),
    ("csvlog_two_date_orders.csv", None, 15, r"expected one date order in the whole log \(line 9 has a day first\)"),
    # XML safety
    ("sensors_with_entity.xml", "everest-sensors", 1,
     r"expected sensor elements without a DOCTYPE \(entities are refused\), found a DOCTYPE/ENTITY"),
    # variants detected and refused: not supported yet, and what would be needed
    ("xml_report_standin.xml", None, 1, r"XML reports \(aida64 /R /XML\) are not supported yet \(no real XML report "
     r"is known; one is needed to write the reader\) - export the report as HTML instead"),
    ("html_aida64_without_pages.htm", None, 1, r"such as the hardware-monitoring HTML log, is not supported yet "
     r"\(its layout is unknown; a sample file is needed\), found no page title"),
    ("html_everest_era_benchmark_markup.htm", None, 246, r"benchmark pages without that markup \(EVEREST-era "
     r"reports\) are not supported yet \(a sample EVEREST HTML report with benchmark pages is needed\), "
     r"found 65 rows without it"),
    ("text_report_with_benchmark_page.txt", None, 159, r"benchmark pages in text reports are not supported yet .* "
     r"export the report as HTML instead, found the benchmark page 'Memory Read'"),
])
def test_broken_file_names_file_line_expected_found(name, format, line, message):
    path = BROKEN / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NativeMetricWarning)
        with pytest.raises(ParseError, match=message) as info:
            readers.read(path, format=format)
    assert info.value.path == str(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: expected ")


@pytest.mark.parametrize("name", ["text_not_everest.txt", "html_other_program.htm"])
def test_foreign_files_are_not_detected_as_everest(name):
    with pytest.raises(UnknownFormatError, match="format not recognised.*known formats: .*everest-report-html"):
        readers.read(BROKEN / name)


def test_mhtml_errors_point_into_its_html_part(tmp_path):
    mht = (FIXTURES / "everest" / "constructed" / "aida64_v5.75_pt-BR_mini_report.mht").read_bytes()
    cut = tmp_path / "cut.mht"
    cut.write_bytes(mht[: mht.index(b"</HTML>")])
    with pytest.raises(ParseError, match=r"cut.mht: text/html part, line \d+: expected the closing </HTML> tag"):
        readers.read(cut)
    bare = tmp_path / "bare.mht"
    bare.write_bytes(b"MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=x\r\n\r\n--x\r\n"
                     b"Content-Type: image/png\r\n\r\nAIDA64\r\n--x--\r\n")
    with pytest.raises(ParseError, match=r"bare.mht: MIME parts: expected a text/html part .*found parts: "
                                         r"multipart/related, image/png"):
        readers.read(bare)


def test_csv_log_local_time_repeated_at_dst_change_is_refused():
    data = ("Date,Time,UpTime,CPU Utilization\n,,,%\n"
            "10/26/2025,2:30:00 AM,01:00:00,12\n").encode()
    with pytest.raises(ParseError, match=r"log.csv:3: expected a local time that exists once in Europe/Madrid, "
                                         r"found 10/26/2025,2:30:00 AM: repeated or skipped"):
        csvlog.parse(data, source="log.csv", timezone="Europe/Madrid")


def test_csv_log_bad_options_are_usage_errors():
    data = (FIXTURES / "everest" / "aida64_v7.65_sensor_log_CSV__sample_quoted_in_TS_source.csv").read_bytes()
    with pytest.raises(readers.WorkbenchError, match="unknown timezone 'Mars/Olympus'"):
        csvlog.parse(data, source="log.csv", timezone="Mars/Olympus")
    with pytest.raises(readers.WorkbenchError, match="`date_order` must be one of MDY, DMY, YMD, found 'DYM'"):
        csvlog.parse(data, source="log.csv", timezone="UTC", date_order="DYM")
