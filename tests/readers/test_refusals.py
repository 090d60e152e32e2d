"""Refusals that help (issue 14 item 8): what the file looks like, the closest formats, how to force one."""
import re

import pytest

from workbench import readers
from workbench.errors import ParseError, UnknownFormatError
from workbench.readers import _describe

from ..conftest import FIXTURES

REF = FIXTURES / "refusals"
FORCE = r"if it is one of them, force it with --format NAME \(format = \"NAME\" in a manifest\)"


@pytest.mark.parametrize("name, looks, closest", [
    ("perfmon_header_unquoted.csv",
     # the first line as repr shows it: its backslashes doubled, cut at 60 characters
     "a CSV-like text file whose first line is "
     + repr('(PDH-CSV 4.0) (Sri Lanka Standard Time)(-330)","\\\\DESKTOP-FU...'),
     ["pdh-csv", "thesis", "azure-noise"]),
    ("xmlrpc_response.xml", "XML with root <methodResponse>", ["everest-sensors", "everest-xml-report", "xen-rrd-updates"]),
    ("json_array_of_records.json", "a JSON array of 2 item(s), objects with keys 'cmd', 'secs'",
     ["xen-rrd-updates", "xen-rrd-dump", "hyperfine"]),
])
def test_unknown_files_are_described_with_the_closest_formats(name, looks, closest):
    with pytest.raises(UnknownFormatError, match=rf"{name}: format not recognised \({re.escape(looks)}\); closest "
                                                 rf"formats: {closest[0]} \(.*{FORCE}.*; known formats: thesis, ") as info:
        readers.read(REF / name)
    assert list(info.value.closest) == closest
    assert info.value.closest[closest[0]] == readers.formats()[closest[0]].description


def test_a_phoronix_test_profile_is_described_by_its_root():
    with pytest.raises(UnknownFormatError, match=r"\(XML with root <PhoronixTestSuite>\); closest formats: phoronix "
                                                 r"\(Phoronix Test Suite composite.xml"):
        readers.read(FIXTURES / "peers" / "broken" / "phoronix_test_definition.xml")


def test_descriptions_of_kinds_of_content():
    assert _describe.describe(b"") == "the file is empty"
    assert _describe.describe(b"\x1f\x8b\x08\x00") == "a gzip-compressed file"
    assert _describe.describe(b"PAR1\x00\x15") == "a binary file starting with b'PAR1\\x00\\x15'"
    assert _describe.describe(b'<?xml version="1.0"?>\n<!-- c -->\n<!DOCTYPE x>\n<x a="1"/>') == "XML with root <x>"
    assert _describe.describe(b"<!DOCTYPE html><html><body>") == "HTML with root <html>"
    assert _describe.describe(b'{"ds": [], "rra": 1}') == "a JSON object with keys 'ds', 'rra'"
    assert _describe.describe(b'{"a": 1, "b": [1, 2') == "JSON (cut short or invalid) with keys 'a', 'b'"
    # untrusted text: one line, repr'd, shortened
    line = _describe.describe(b"<script>alert(1)</script>" * 9 + b"\nsecond line")
    assert line.startswith("markup starting '<script>") or line == "XML with root <script>"
    text = _describe.describe(b"hello\x1b[31m world " + b"x" * 200 + b"\nnext")
    assert text == "a text file whose first line is 'hello\\x1b[31m world " + "x" * 43 + "...'"


def test_a_json_dump_with_ds_but_no_rra_is_told_exactly_that():
    with pytest.raises(ParseError, match=r"host_rrd_json_ds_without_rra.json: top level: expected an object with 'ds' "
                                         r"and 'rra' \(a full RRD dump\), found no 'rra' in an object with keys "
                                         r"'version', 'step', 'lastupdate', 'ds'$"):
        readers.read(REF / "host_rrd_json_ds_without_rra.json")
