"""AIDA64 / EVEREST sensor snapshots: the shared-memory XML string (§4.4).

``AIDA64_SensorValues`` (EVEREST: ``EVEREST_SensorValues``) is one string of
concatenated elements with no root and no units (2011 sample from LCDHost)::

    <sys><id>SCPUUTI</id> <label>CPU Utilization</label><value>23</value></sys>
    <temp><id>TCPU</id> <label>CPU</label><value>50</value></temp>...

Mapped by sensor ID: ``SCPUUTI`` -> ``cpu_util``/total, ``SCPUnUTI`` -> cpu(n-1),
``SMEMUTI`` -> ``mem_util``, ``SUSEDMEM``/``SFREEMEM`` (MB = MiB, §4.4) ->
``mem_used``/``mem_free``. Other numbers are native metrics: ``<temp>``, ``<fan>``,
``<duty>``, ``<volt>``, ``<curr>``, ``<pwr>`` -> ``everest-sensors:<kind>`` with the
label as component and the unit AIDA64 uses by default (°C, RPM, %, V, A, W: the
string carries none); other ``<sys>`` numbers -> ``everest-sensors:<ID>``. Text
values (``SDATE``, ``STIME``, ``SMEMSPEED`` ...) are metadata. One-time readings:
``aggregate = single``, ``time`` null (``SDATE``/``STIME`` are local, in the OS
short-date format, with no timezone: kept as printed in the metadata).
"""
from __future__ import annotations

import re

from lxml import etree

from ... import schema
from ...errors import ParseError
from .. import Parsed, _numbers
from ._common import frame, snake, warn_native

NAME = "everest-sensors"
ELEMENTS = {"sys": ("", ""), "temp": ("temperature", "°C"), "fan": ("fan", "RPM"), "duty": ("duty", "%"),
            "volt": ("voltage", "V"), "curr": ("current", "A"), "pwr": ("power", "W")}
_IDS = {"SCPUUTI": ("cpu_util", "total", 1.0), "SMEMUTI": ("mem_util", "total", 1.0),
        "SUSEDMEM": ("mem_used", "total", schema.MIB), "SFREEMEM": ("mem_free", "total", schema.MIB)}
#: Units of other <sys> IDs where the ID says it (CLK = MHz, UTI = %, §4.4).
_SYS_UNITS = ((re.compile(r"S\w*CLK"), "MHz"), (re.compile(r"S\w*UTI"), "%"), (re.compile(r"SCPUFSB"), "MHz"),
              (re.compile(r"SCPUMUL"), "x"))
# What AIDA64 writes as a number (anything else is text, kept as metadata).
_NUMERIC = re.compile(_numbers.FLOAT)
_CPU_N = re.compile(r"SCPU([0-9]{1,6})UTI")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def sniff(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \r\n\t")
    return bool(re.match(rb"<(sys|temp|fan|duty|volt|curr|pwr)>\s*<id>", start))


def _elements(data: bytes, source: str):
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ParseError(source, 1, "sensor elements without a DOCTYPE (entities are refused)", "a DOCTYPE/ENTITY")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:  # "one ANSI/UTF-8 string" (§4.4)
        text = data.decode("cp1252", errors="replace")
    # No root element in the shared-memory string: wrap it to parse it as XML.
    try:
        root = etree.fromstring(f"<AIDA64_SensorValues>{text}</AIDA64_SensorValues>".encode(), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ParseError(source, exc.lineno, "well-formed <sys>/<temp>/... elements (a snapshot cut short "
                         "by the 4096-byte shared-memory limit is truncated)", exc.msg) from None
    out = []
    for n, el in enumerate(root, 1):
        where = f"element {n} <{el.tag}>"
        if el.tag not in ELEMENTS:
            raise ParseError(source, where, f"one of <{'>, <'.join(ELEMENTS)}>", f"<{el.tag}>")
        ident, label, value = (el.findtext(t) for t in ("id", "label", "value"))
        if ident is None or value is None:
            raise ParseError(source, where, "<id> and <value> children", etree.tostring(el, encoding="unicode"))
        out.append((where, el.tag, ident.strip(), (label or "").strip(), value.strip()))
    if not out:
        raise ParseError(source, 1, "at least one sensor element", "none")
    return out


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse a sensor snapshot into measurement rows (labels left to the caller) and
    its text values as metadata (:func:`_metadata`)."""
    rows = []
    elements = _elements(data, source)
    for _where, tag, ident, label, value in elements:
        if not _NUMERIC.fullmatch(value.strip()):
            continue  # text: SDATE, SMEMSPEED "DDR3-1524", SBATT "No Battery" -> metadata
        number = _numbers.to_float(value, source=source, line=_where, what=f"the value of <{tag}> {ident}")
        if ident in _IDS:
            metric, component, factor = _IDS[ident]
            rows.append(dict(metric=metric, component=component, value=number * factor))
        elif m := _CPU_N.fullmatch(ident):
            rows.append(dict(metric="cpu_util", component=f"cpu{int(m.group(1)) - 1}", value=number))
        elif tag == "sys":
            unit = next((u for pattern, u in _SYS_UNITS if pattern.fullmatch(ident)), "")
            rows.append(dict(metric=f"{NAME}:{ident}", component="total", value=number, unit=unit))
        else:
            kind, unit = ELEMENTS[tag]
            rows.append(dict(metric=f"{NAME}:{kind}", component=label or ident, value=number, unit=unit))
    table = frame([{**r, "aggregate": "single"} for r in rows], source_name=NAME, source=source)
    warn_native(table, source=source)
    return Parsed(table, _metadata(elements))


def _metadata(elements: list[tuple[str, str, str, str, str]]) -> dict[str, str]:
    """Text values by label (``date``, ``time``, ``memory_speed``, ``memory_timings``, ...)
    plus ``uptime``; ``memory_type`` from ``SMEMSPEED``."""
    meta = {}
    for _, _, ident, label, value in elements:
        if ident == "SUPTIME" or not _NUMERIC.fullmatch(value.strip()):
            meta[snake(label or ident)] = value
    if "memory_speed" in meta:
        meta["memory_type"] = meta["memory_speed"]
    return meta
