"""Readers for EVEREST (Lavalys, 2004-2010) and AIDA64 (FinalWire) exports.

Format knowledge: ``shared/formats/EVEREST_AIDA64.md`` (cited as §N); real files
with provenance in ``tests/fixtures/everest/``. One registered format per artefact,
each named as its ``source`` column value, each with a content sniffer; each
``parse`` also returns the file's metadata (what machine a number came from,
DESIGN.md §3 keeps no such column) from the same pass:

=========================  ===========================================  ===============
format / source            what                                         module
=========================  ===========================================  ===============
``everest-report-html``    HTML report: Memory, Sensor, benchmark pages  report_html
``everest-report-mhtml``   the same packed as MIME (``/MHTML``)         report_html
``everest-report-text``    text report: Memory and Sensor pages          report_text
``everest-csvlog``         hardware-monitoring CSV log, over time        csvlog
``everest-sensors``        shared-memory sensor XML snapshot            sensors
``everest-cachemem``       Cache & Memory Benchmark window text          cachemem
``everest-xml-report``     ``/XML`` report: detected and refused         (here)
=========================  ===========================================  ===============

Common metadata keys: ``product``, ``version``, ``computer``, ``os``, ``report_date``,
``cpu_type``, ``motherboard``, ``memory_type`` where the file states them.

Not supported yet, refused with a message saying so (no sample file exists, §9):
XML and CSV reports, the HTML sensor log, EVEREST-era HTML benchmark markup,
benchmark pages in text reports. Numbers are never guessed.
"""
from __future__ import annotations

import re

from ...errors import ParseError
from .. import Parsed
from . import cachemem, csvlog, report_html, report_text, sensors
from ._common import AssumptionWarning, NativeMetricWarning

XML_REPORT = "everest-xml-report"


def _sniff_xml_report(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \r\n\t")
    return start.startswith(b"<?xml") and bool(re.search(rb"AIDA64|EVEREST|Lavalys|FinalWire", head))


def _refuse_xml_report(data: bytes, *, source: str) -> Parsed:
    raise ParseError(source, 1, "a supported EVEREST/AIDA64 export: XML reports (aida64 /R /XML) are not "
                     "supported yet (no real XML report is known; one is needed to write the reader) - "
                     "export the report as HTML instead", repr(data[:60].decode("latin-1")))


__all__ = ["AssumptionWarning", "NativeMetricWarning", "cachemem", "csvlog", "report_html", "report_text",
           "sensors"]

# Registration last, as every reader module does. Order = detection order; the
# sniffers do not overlap (each checks the artefact's own first bytes, §7.1).
from .. import register_format  # noqa: E402

register_format(report_html.NAME, sniff=report_html.sniff, parse=report_html.parse,
                suffixes=(".htm", ".html"),
                description="EVEREST/AIDA64 HTML report (Memory, Sensor, benchmark pages)")
register_format(report_html.MHTML_NAME, sniff=report_html.sniff_mhtml, parse=report_html.parse_mhtml,
                suffixes=(".mht", ".mhtml"),
                description="EVEREST/AIDA64 MHTML report (the HTML report as MIME)")
register_format(report_text.NAME, sniff=report_text.sniff, parse=report_text.parse,
                suffixes=(".txt",),
                description="EVEREST/AIDA64 text report (Memory and Sensor pages)")
register_format(csvlog.NAME, sniff=csvlog.sniff, parse=csvlog.parse, pieces=csvlog.pieces,
                suffixes=(".csv",), description="AIDA64/EVEREST hardware-monitoring CSV log")
register_format(sensors.NAME, sniff=sensors.sniff, parse=sensors.parse,
                suffixes=(".xml",), description="AIDA64/EVEREST shared-memory sensor values (XML string)")
register_format(cachemem.NAME, sniff=cachemem.sniff, parse=cachemem.parse,
                suffixes=(".txt",), description="EVEREST/AIDA64 Cache & Memory Benchmark (window text)")
register_format(XML_REPORT, sniff=_sniff_xml_report, parse=_refuse_xml_report, suffixes=(".xml",),
                description="AIDA64/EVEREST XML report: recognised, not supported yet")
