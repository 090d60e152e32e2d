"""Phoronix Test Suite result files (``~/.phoronix-test-suite/test-results/<name>/composite.xml``).

Format (``pts-core/definitions/result-file.xsd`` in phoronix-test-suite/phoronix-test-suite,
commit 49fe6ad4bb3a)::

    <PhoronixTestSuite>
      <Generated><Title/><Description/><LastModified/><TestClient/>...</Generated>
      <System><Identifier>native</Identifier><Hardware/><Software/><User/><TimeStamp/>...</System>  (1..n)
      <Result>                                                                                       (1..n)
        <Identifier>pts/c-ray-1.2.0</Identifier><Title>C-Ray</Title><Arguments/><Description/>
        <Scale>Seconds</Scale><Proportion>LIB</Proportion><DisplayFormat>BAR_GRAPH</DisplayFormat>
        <Data><Entry><Identifier>native</Identifier><Value>31.62</Value>
                     <RawString>31.581:31.702:...</RawString></Entry> ...</Data>
      </Result>
    </PhoronixTestSuite>

A composite file compares systems: each ``Entry`` is one system's result, ``Value`` the mean
PTS shows and ``RawString`` the colon-separated value of each pass (each run of the test).
Each pass becomes a ``run`` (1..N) of its system, and the system's identifier becomes the
``condition`` (a manifest's ``condition =`` label would merge the systems: label files that
hold one system each, or leave it to the file). Without a ``RawString`` the ``Value`` is one run.

Metrics: a lower-is-better (``LIB``) result in a time scale (Seconds, Milliseconds,
Microseconds, Nanoseconds) is ``bench_time`` in seconds; every other result is kept as the
native metric ``phoronix:<Title>`` with its scale as the unit (``MB/s``, ``FPS``, ...) and its
proportion (HIB/LIB) in the metadata. The component is the result's description (what PTS
prints under the title; its arguments when there is none), prefixed with the title for
``bench_time``. Results that are not one number per pass (``DisplayFormat`` other than
``BAR_GRAPH``: line graphs of the system monitor, pass/fail, image comparisons) and entries
whose every pass failed (empty ``Value``) are excluded with a warning naming them.

Parsed with lxml, entities and network off; a DOCTYPE is refused (PTS writes none).
"""
from __future__ import annotations

import re
import warnings

from lxml import etree

from ... import schema
from ...errors import ExcludedDataWarning, NativeMetricWarning, ParseError
from .. import Parsed
from .._charset import xml_utf8
from ._common import shown, timing_row

NAME = "phoronix"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True)
#: Scale (lower case) -> seconds per unit, for LIB results.
TIME_SCALES = {"seconds": 1.0, "second": 1.0, "sec": 1.0, "s": 1.0, "milliseconds": 1e-3, "ms": 1e-3,
               "microseconds": 1e-6, "us": 1e-6, "µs": 1e-6, "nanoseconds": 1e-9, "ns": 1e-9}
NUMERIC_FORMATS = ("", "BAR_GRAPH")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", re.ASCII)  # '１２' is no number (issue 18)


def sniff(head: bytes) -> bool:
    return b"<PhoronixTestSuite>" in head and (b"<Result>" in head or b"<Generated>" in head or b"<System>" in head)


def _text(el, tag: str) -> str:
    return (el.findtext(tag) or "").strip()


def _number(text: str, source: str, line: int | None, what: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise ParseError(source, line, f"{what}: a number", shown(text))
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ParseError(source, line, f"{what}: a finite number", shown(text))
    return value


def parse(data: bytes, *, source: str) -> Parsed:
    """Every numeric result of a composite.xml, one run per pass (see the module docstring)."""
    data = xml_utf8(data, source=source)  # first: a UTF-16 DOCTYPE is seen in its UTF-8 bytes
    if re.search(rb"<!DOCTYPE|<!ENTITY", data[:4096]):
        raise ParseError(source, data.count(b"\n", 0, re.search(rb"<!DOCTYPE|<!ENTITY", data).start()) + 1,
                         "a result file without a DOCTYPE (entities are refused; PTS writes none)", "a DOCTYPE/ENTITY")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ParseError(source, exc.lineno, "well-formed XML (a Phoronix Test Suite result file)", exc.msg) from None
    if root.tag != "PhoronixTestSuite":
        raise ParseError(source, root.sourceline, "the root element <PhoronixTestSuite>", f"<{shown(str(root.tag))[1:-1]}>")
    results = root.findall("Result")
    if not results:
        kinds = sorted({c.tag for c in root if isinstance(c.tag, str)})
        found = f"children <{'>, <'.join(kinds)}>" if kinds else "no children"
        what = ("<Result> elements: this is a test profile's definition (test-definition.xml), not a result "
                "file (composite.xml)" if "TestInformation" in kinds else "<Result> elements (a composite.xml result file)")
        raise ParseError(source, root.sourceline, what, found)
    meta = {f"generated.{k.lower()}": _text(root.find("Generated"), k) for k in ("Title", "Description",
            "LastModified", "TestClient") if root.find("Generated") is not None and _text(root.find("Generated"), k)}
    systems = []
    for system in root.findall("System"):
        ident = _text(system, "Identifier")
        systems.append(ident)
        for key in ("Hardware", "Software", "User", "TimeStamp", "TestClientVersion"):
            if _text(system, key):
                meta[f"system.{ident}.{key.lower()}"] = _text(system, key)
    meta["systems"] = ", ".join(systems)
    rows, excluded, native, seen = [], [], {}, set()
    for result in results:
        ident, title = _text(result, "Identifier"), _text(result, "Title")
        label = f"result {shown(title or ident)} (line {result.sourceline})"
        if not title:
            raise ParseError(source, result.sourceline, "a <Title> in each <Result>", f"none in {shown(ident)}")
        display = _text(result, "DisplayFormat")
        if display not in NUMERIC_FORMATS:
            excluded.append(f"{label}: DisplayFormat {display} is not one number per pass")
            continue
        scale, proportion = _text(result, "Scale"), _text(result, "Proportion")
        detail = _text(result, "Description") or _text(result, "Arguments") or "default"
        factor = TIME_SCALES.get(scale.lower()) if proportion == "LIB" else None
        if factor is not None:
            metric, unit, component = "bench_time", None, f"{title}: {detail}"
        else:
            metric, unit, component = f"{NAME}:{title}", scale or "1", detail
            native[metric] = unit
        named = f"result.{title}: {detail}"
        meta.update({f"{named}.identifier": ident, f"{named}.proportion": proportion, f"{named}.scale": scale})
        entries = result.findall("Data/Entry")
        if not entries:
            raise ParseError(source, result.sourceline, f"<Data><Entry> elements in the {label}", "none")
        for entry in entries:
            system = _text(entry, "Identifier")
            if not system:
                raise ParseError(source, entry.sourceline, "the system's <Identifier> in each <Entry>", "none")
            key = (metric, component, system)
            if key in seen:
                raise ParseError(source, entry.sourceline, f"one entry per system and result ({component})",
                                 f"a second entry for system {shown(system)}")
            seen.add(key)
            value, raw = _text(entry, "Value"), _text(entry, "RawString")
            if not value and not raw:
                excluded.append(f"{label}, system {shown(system)}: every pass failed (empty Value)")
                continue
            passes = raw.split(":") if raw else [value]
            line = entry.find("RawString" if raw else "Value").sourceline
            for run, text in enumerate(passes, 1):
                x = _number(text.strip(), source, line, f"pass {run} of system {shown(system)} in the {label}")
                rows.append(timing_row(metric=metric, unit=unit, component=component, condition=system,
                                       value=x * (factor or 1.0), run=run, source_name=NAME, source=source))
    if excluded:
        warnings.warn(f"{source}: {len(excluded)} result(s) excluded: {'; '.join(excluded[:4])}"
                      f"{'; ...' if len(excluded) > 4 else ''}", ExcludedDataWarning, stacklevel=3)
    if native:
        warnings.warn(f"{source}: results outside the metric vocabulary kept as native metrics: "
                      + ", ".join(f"{m} ({u})" for m, u in native.items()), NativeMetricWarning, stacklevel=3)
    return Parsed(schema.from_rows(rows), meta)
