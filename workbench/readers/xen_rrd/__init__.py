"""Reader for XenServer / XCP-ng performance data (xapi RRDs) and plain rrdtool output.

Forms read (format facts: ``formats/XEN_RRD.md`` beside DESIGN.md):

``xen-rrd-updates``
    ``/rrd_updates`` XML (``<xport>``) in the XenServer 6.2 byte layout (one line, rows
    newest first, ``%0.4f``) and later ones (``%0.15g`` numbers, indented variants with
    comments); ``/rrd_updates?json`` in its three generations (6.2 JSON with unquoted
    keys and bare ``NaN``; 2023-24 ``data`` nested in ``meta``; 2024+ numbers as
    strings); ``rrdtool xport`` XML and JSON, with or without ``--showtime`` (rows
    oldest first, NaN as ``null``). Row times come from each row's ``<t>``/``t``,
    never from ``meta.start``; without them (rrdtool) row ``i`` is at ``start + i*step``.
``xen-rrd-dump``
    Full dumps (``/host_rrd``, ``/vm_rrd``, the gzipped archives under
    ``/var/xapi/blobs/rrds``, ``rrdtool dump``), XML or JSON: every archive, each
    row timed ``floor(lastupdate/span)*span - (N-1-r)*span`` with ``span = step x
    pdp_per_row``, which is also the row's ``interval``.
``xen-rrd2csv``
    Output of dom0's ``rrd2csv`` (5 s rows, ISO 8601 UTC times, ``N/A`` for NaN).

Emits (DESIGN.md §3-4), one row per value: ``cpu_util`` (percent; ``cpuN`` per core,
``total`` from a host's ``cpu_avg`` or the mean of a VM's vCPUs), ``mem_total``,
``mem_free`` and the derived ``mem_used`` (bytes: host ``memory_total_kib - memory_free_kib``,
VM ``memory - memory_internal_free``, both as XenCenter shows them, AVERAGE/LAST only),
``load_avg`` (dom0's, scope ``control-domain``), ``net_rx``/``net_tx`` per ``pif``
device (``total`` for ``pif_aggr``) or ``vifN``, ``disk_read``/``disk_write`` per VBD
device. Every other data source is kept as ``xen-rrd:<name>`` in its native unit, with
a warning naming it. ``aggregate`` is the consolidation function (AVERAGE -> mean, MIN,
MAX, LAST), ``scope`` is ``host`` or ``guest`` from the legend's object type (inferred
from the data-source names for dumps), ``host``/``guest`` are the legend's uuids; an
experiment manifest's ``[names]`` maps them to names, and a VM named
``Control domain on host: ...`` (xapi's name for dom0) becomes ``control-domain``.
Values that look like xapi's +2^32 counter-wrap correction are kept and reported by a
:class:`CounterWrapWarning` (:func:`counter_wrap_suspects` lists them).
"""
from __future__ import annotations

import re
import zlib
from collections.abc import Iterator

from ...errors import ParseError
from .. import Parsed, joined
from .._charset import xml_utf8
from .._gzip import gunzip
from . import _csv, _json, _xml
from ._model import CFS, Block, Column
from ._table import NATIVE_PREFIX, RULES, CounterWrapWarning, XenRrdWarning, counter_wrap_suspects, to_frame, to_pieces

NAME_UPDATES = "xen-rrd-updates"
NAME_DUMP = "xen-rrd-dump"
NAME_RRD2CSV = "xen-rrd2csv"

#: Largest uncompressed size accepted from a gzipped dump (a decompression bomb guard;
#: a 6.2 host RRD with a hundred data sources is a few MB).
GZIP_LIMIT = 1 << 30

_PROLOG = re.compile(rb"(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)*<([A-Za-z_][\w.:-]*)", re.S)


def decode(data: bytes | str, *, source: str, kind: str | None = None,
           fast: bool | None = None) -> tuple[str, list[Block]]:
    """Decode any form into raw blocks (values as written, before unit conversion).

    Parameters
    ----------
    data : bytes or str
        The document.
    source : str
        Named in error messages.
    kind : {"updates", "dump", "rrd2csv"}, optional
        Restrict to one family (what the registered formats do); detected when None.
    fast : bool, optional
        Passed to the XML decoders (``_xml.parse_xport``, ``_xml.parse_dump_xml``).

    Returns
    -------
    (str, list of Block)
        The family and its blocks (one per archive for dumps, one otherwise).
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if kind in (None, "dump") and data[:2] == b"\x1f\x8b":
        data = _gunzip(data, source)
        kind = "dump"
    body = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if kind is None:
        kind = _kind(data, source)
    if kind == "rrd2csv":
        return kind, [_csv.parse(data, source)]
    if body[:1] == b"{":
        doc = _json.load(data, source)
        if kind == "updates":
            return kind, [_json.parse_updates(doc, source)]
        return kind, _json.parse_dump(doc, source)
    if not body:
        raise ParseError(source, None, "an RRD document (XML or JSON)", "an empty file")
    data = xml_utf8(data, source=source)  # a declared encoding read as browsers read it
    if kind == "updates":
        return kind, [_xml.parse_xport(data, source, fast=fast)]
    return kind, _xml.parse_dump_xml(data, source, fast=fast)


# The parsers return no file metadata: what an RRD says besides its values (host and VM
# UUIDs, step, archives) is in the table's columns already.

def parse(data: bytes | str, *, source: str) -> Parsed:
    """Any form of this family -> measurement table (labels the file lacks left null)."""
    kind, blocks = decode(data, source=source)
    return Parsed(to_frame(blocks, source_name=_NAMES[kind], source=source))


def parse_updates(data: bytes | str, *, source: str, fast: bool | None = None) -> Parsed:
    """``rrd_updates`` / ``rrdtool xport``, XML or JSON -> measurement table."""
    return joined(pieces_updates(data, source=source, rows=None, fast=fast))


def parse_dump(data: bytes | str, *, source: str, fast: bool | None = None) -> Parsed:
    """Full RRD dump (xapi or ``rrdtool dump``; XML, JSON, gzip) -> measurement table."""
    return joined(pieces_dump(data, source=source, rows=None, fast=fast))


def parse_rrd2csv(data: bytes | str, *, source: str) -> Parsed:
    """rrd2csv output -> measurement table."""
    return joined(pieces_rrd2csv(data, source=source, rows=None))


def pieces_updates(data: bytes | str, *, source: str, rows: int | None,
                   fast: bool | None = None) -> Iterator[Parsed]:
    """:func:`parse_updates` in pieces of whole series, about `rows` rows (None: one per block)."""
    return _pieces(data, source, "updates", rows, fast)


def pieces_dump(data: bytes | str, *, source: str, rows: int | None, fast: bool | None = None) -> Iterator[Parsed]:
    """:func:`parse_dump` in pieces of whole series of one archive, about `rows` rows."""
    return _pieces(data, source, "dump", rows, fast)


def pieces_rrd2csv(data: bytes | str, *, source: str, rows: int | None) -> Iterator[Parsed]:
    """:func:`parse_rrd2csv` in pieces of whole series, about `rows` rows."""
    return _pieces(data, source, "rrd2csv", rows, None)


def _pieces(data: bytes | str, source: str, kind: str, rows: int | None, fast: bool | None) -> Iterator[Parsed]:
    _, blocks = decode(data, source=source, kind=kind, fast=fast)
    del data  # the blocks hold the numbers: the document's bytes can go once the caller lets them
    for frame in to_pieces(blocks, source_name=_NAMES[kind], source=source, rows=rows):
        yield Parsed(frame)


_NAMES = {"updates": NAME_UPDATES, "dump": NAME_DUMP, "rrd2csv": NAME_RRD2CSV}


def _kind(data: bytes, source: str) -> str:
    head = data[:8192]
    if _sniff_updates(head):
        return "updates"
    if _sniff_dump(head):
        return "dump"
    if _sniff_rrd2csv(head):
        return "rrd2csv"
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] == b"{":
        return "updates"  # the JSON decoder says what is missing
    if body[:1] == b"<":
        m = _PROLOG.match(body)
        raise ParseError(source, "root element", "<xport> (rrd_updates, rrdtool xport) or <rrd> (a dump)",
                         f"<{m.group(1).decode('utf-8', 'replace')}> (an XML document that is not an RRD)"
                         if m else repr(body[:40]))
    raise ParseError(source, 1, "an RRD document: XML, JSON or rrd2csv output",
                     repr(body[:40]) if body else "an empty file")


def _gunzip(data: bytes, source: str) -> bytes:
    return gunzip(data, source=source, limit=GZIP_LIMIT, what="gzip data")


def _xml_root(head: bytes) -> bytes | None:
    m = _PROLOG.match(head.lstrip(b"\xef\xbb\xbf"))
    return m.group(1) if m else None


def _sniff_updates(head: bytes) -> bool:
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] == b"{":
        return re.match(rb'\{\s*"?(meta|about)"?\s*:', body) is not None
    return _xml_root(body) == b"xport"


def _sniff_dump(head: bytes) -> bool:
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 8192)
        except zlib.error:
            return False
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] == b"{":
        return re.match(rb'\{\s*"?version"?\s*:', body) is not None
    return _xml_root(body) == b"rrd"


def _sniff_rrd2csv(head: bytes) -> bool:
    text = head.decode("utf-8", "replace")
    index = _csv.header_line(text)
    if index is None:
        return False
    line = text.splitlines()[index]
    return re.search(r"^timestamp,\s*\"?(AVERAGE|MIN|MAX|LAST):(host|vm|sr):", line) is not None


__all__ = ["Block", "CFS", "Column", "CounterWrapWarning", "NAME_DUMP", "NAME_RRD2CSV", "NAME_UPDATES",
           "NATIVE_PREFIX", "RULES", "XenRrdWarning", "counter_wrap_suspects", "decode", "parse",
           "parse_dump", "parse_rrd2csv", "parse_updates", "pieces_dump", "pieces_rrd2csv", "pieces_updates"]

# Registration last, as every reader module does. The three families have disjoint
# signatures (root element / first JSON key / rrd2csv header), so their order is free.
from .. import register_format  # noqa: E402

register_format(NAME_UPDATES, sniff=_sniff_updates, parse=parse_updates, pieces=pieces_updates, suffixes=(".xml", ".json"),
                description="XenServer/XCP-ng rrd_updates (xport) XML or JSON, rrdtool xport")
register_format(NAME_DUMP, sniff=_sniff_dump, parse=parse_dump, pieces=pieces_dump, suffixes=(".xml", ".json", ".gz"),
                description="XenServer/XCP-ng full RRD dump (/host_rrd, /vm_rrd, .gz), rrdtool dump")
register_format(NAME_RRD2CSV, sniff=_sniff_rrd2csv, parse=parse_rrd2csv, pieces=pieces_rrd2csv, suffixes=(".csv",),
                description="XenServer dom0 rrd2csv output")
