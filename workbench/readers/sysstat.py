"""Reader for sysstat's ``sadf`` exports: ``sadf -d``/``-dh`` (CSV), ``sadf -j`` (JSON), ``sadf -x`` (XML).

sysstat's collector ``sadc`` writes binary daily files (``/var/log/sysstat/saDD``);
``sadf`` exports them. The three exports carry the same values (checked against
sysstat 12.6 and its test suite's expected outputs, tests/fixtures/sysstat/):

``sadf -d`` (one block per activity)::

    # hostname;interval;timestamp;CPU;%usr;%nice;%sys;%iowait;%steal;%irq;%soft;%guest;%gnice;%idle
    vm;1;2026-11-30 14:51:48 UTC;-1;18.88;0.00;32.14;0.00;0.00;0.00;0.00;0.00;0.00;48.98
    vm;1;2026-11-30 14:51:48 UTC;0;25.00;0.00;41.67;0.00;0.00;0.00;0.00;0.00;0.00;33.33

``sadf -dh`` (every activity of a sample on one line): the header concatenates the
activities' fields; a group that repeats once per instance ends with ``[...]``
(``CPU;%usr;...;%idle[...]``) and ``CPU*`` stands for one value per CPU (interrupts).
The number of instances is not written: a ``[...]`` group repeats while the next
field is a new instance name (a CPU number for ``CPU``; never a number with a
decimal point, which is a value), and every line must be used up exactly.

``sadf -j`` / ``sadf -x``: ``sysstat.hosts[]`` / ``<host>`` with ``statistics`` of
``timestamp`` entries holding the activities (``cpu-load``, ``memory``, ``queue``,
``disk``, ``network/net-dev``, ...). XML is parsed with lxml, entities, DTDs and
network off.

Rules (all three forms):

* ``host`` is the file's host name. Time stamps are the end of the interval, in UTC
  (``... UTC``, ``"tz": "UTC"``, ``"utc": 1``); a file exported with ``sadf -t`` or
  ``-T`` (local times, with no zone or only an abbreviation such as ``CET``, which
  does not give the offset) needs ``timezone=`` (an IANA name), unless the JSON/XML
  file says its zone is UTC/GMT. ``sadf -U`` (seconds since the epoch) is read.
* Vocabulary: ``cpu_util`` = 100 - %idle - %iowait - %steal (busy time without the
  time the hypervisor took, as the capture counts it), ``cpu_steal``, ``cpu_iowait``
  per CPU (``-1``/``all`` -> ``total``, ``N`` -> ``cpuN``); ``mem_free``, ``mem_used``
  (``kbmemfree``, ``kbmemused``), ``mem_util`` (``%memused``); ``swap_used``,
  ``swap_total`` (= kbswpfree + kbswpused); ``disk_read``/``disk_write`` per device
  (``rkB/s``, ``wkB/s``); ``net_rx``/``net_tx`` per interface (``rxkB/s``, ``txkB/s``);
  ``load_avg`` (``ldavg-1``). sysstat's kB are KiB (it divides byte counts by 1024):
  x 1024 to bytes.
* Every other field is kept as ``sysstat:<name>`` with its sadf -d name (JSON/XML
  names are translated: ``memfree`` -> ``kbmemfree``, ``util-percent`` -> ``%util``,
  a per-second ``rxpck`` -> ``rxpck/s``) and its native unit (``percent``, ``kB``,
  ``kB/s``, ``1/s``, ``1``), component = the instance (device, interface, CPU).
  Interrupts are component ``<irq>:<cpu>``; sadf -d does not name the CPUs of its
  ``CPU*`` values, so there they are ``<irq>:all`` and ``<irq>:#1``, ``#2``, ... in
  the order printed.
* Restart records (``LINUX-RESTART``) and comments go to the metadata.

How: each activity becomes a *piece*, a wide frame (host, time, interval, component
and one column per field), checked column by column; :func:`_emit` stacks each
field's column with its metric, unit and aggregate as constants. A ``sadf -d`` block
is read by polars directly into its piece (no Python per line: 1 M lines in about
2x a bare ``read_csv``, bench/sysstat.py); ``-dh`` lines, JSON and XML go through
long rows first (their files are small).
"""
from __future__ import annotations

import io
import re
import warnings
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
from lxml import etree

from .. import schema
from ..errors import NativeMetricWarning, ParseError, WorkbenchError
from . import Parsed, _jsonload, _numbers
from .xen_rrd._xml import check_prolog

NAME = "sysstat"
PREFIX = f"{NAME}:"
_KIB = 1024.0

#: sadf -d field name -> (metric, factor to the canonical unit).
VOCABULARY: dict[str, tuple[str, float]] = {
    "%steal": ("cpu_steal", 1.0),
    "%iowait": ("cpu_iowait", 1.0),
    "kbmemfree": ("mem_free", _KIB),
    "kbmemused": ("mem_used", _KIB),
    "%memused": ("mem_util", 1.0),
    "kbswpused": ("swap_used", _KIB),
    "rkB/s": ("disk_read", _KIB),
    "wkB/s": ("disk_write", _KIB),
    "rxkB/s": ("net_rx", _KIB),
    "txkB/s": ("net_tx", _KIB),
    "ldavg-1": ("load_avg", 1.0),
}
#: Header fields that name the instance of the fields after them (sadf -d).
INSTANCE_KEYS = ("CPU", "DEV", "IFACE", "INTR", "TTY", "FCHOST", "FILESYSTEM", "MOUNTPOINT", "BUS", "DEVICE",
                 "TEMP", "FAN", "IN", "BAT")
# Levels (read at the sample's end), not means over the interval, among the percentages.
_LEVEL_PERCENTS = {"%memused", "%commit", "%swpused", "%swpcad", "%hugused", "%fsused", "%ufsused", "%Iused"}
_CPU_FIELDS = ("%idle", "%iowait", "%steal")

# JSON/XML -> sadf -d names. Activities whose values are per second (XML says per="second").
_PER_SECOND = {"process-and-context-switch", "swap-pages", "paging", "io", "io-reads", "io-writes", "io-discard",
               "disk", "disk-device", "net-dev", "net-edev", "net-nfs", "net-nfsd", "net-ip", "net-eip", "net-icmp",
               "net-eicmp", "net-tcp", "net-etcp", "net-udp", "net-ip6", "net-eip6", "net-icmp6", "net-eicmp6",
               "net-udp6", "serial", "tty", "softnet", "fchost", "fchosts"}
_NOT_PER_SECOND = {"tps", "rtps", "wtps", "dtps", "await", "areq-sz", "aqu-sz", "avgrq-sz", "avgqu-sz", "blg_len"}
_KB_ACTIVITIES = {"memory", "hugepages"}
_RENAMED = {"inactive": "kbinact", "shared": "kbshmem", "percent-capacity": "%cap", "variation": "cap/min", "frequency": "MHz"}
_CPU_ACTIVITIES = {"cpu-load", "cpu-load-all", "cpu"}
_CPU_NUMBERED = {"cpu-load", "cpu-load-all", "cpu", "cpu-frequency", "cpufreq"}
# Pressure stall information: psi-cpu's some_avg10 is sadf -d's %scpu-10, psi-io's full_avg is %fio.
_PSI = {"psi-cpu": "cpu", "psi-io": "io", "psi-mem": "mem"}
# USB devices are an inventory (vendor, product, maximum power), not measurements: not read.
_INVENTORIES = {"usb-devices", "usb"}
_INVENTORY_KEYS = {"BUS"}
# Words, not values (a battery's status, a USB device's maker): not read (sadf -j/-x alike).
_TEXT_FIELDS = {"status", "manufact", "product"}
#: Keys that name an item's instance in JSON/XML (the XML attribute where it differs).
_TREE_KEYS = ("cpu", "number", "intr", "iface", "disk-device", "dev", "line", "fchost", "filesystem", "fsname",
              "name", "bus", "device")
_TREE_META = {"per", "unit"}
_TIME = "%Y-%m-%d %H:%M:%S"
_INTEGER = re.compile(r"-?\d+")
_EPOCH_MAX = 253402300799  # 9999-12-31 23:59:59 UTC: the last second a datetime holds


def parse(data: bytes, *, source: str, timezone: str | None = None) -> Parsed:
    """The values of a ``sadf -d``/``-dh``, ``-j`` or ``-x`` export as measurement rows.

    Parameters
    ----------
    timezone : str, optional
        IANA name of the zone of a file exported with ``sadf -t`` (local times).
    """
    body = data.removeprefix(b"\xef\xbb\xbf").lstrip()
    zone = _zone(timezone, source)
    if body.startswith(b"{"):
        long, meta = _parse_json(data, source)
        pieces, form = _pieces(long, source, zone), "sadf -j"
    elif body.startswith(b"<"):
        long, meta = _parse_xml(data, source)
        pieces, form = _pieces(long, source, zone), "sadf -x"
    elif body.startswith(b"# hostname;"):
        pieces, meta = _parse_csv(data, source, zone)
        form = "sadf -d"
    else:
        raise ParseError(source, 1, "a sadf export: '# hostname;interval;timestamp;...' (sadf -d), "
                         "'{\"sysstat\": ...' (sadf -j) or '<sysstat>' (sadf -x)", body[:40].decode("latin-1"))
    table = _emit(pieces, source)
    hosts = dict.fromkeys(h for piece in pieces for h in piece["host"].unique(maintain_order=True).to_list())
    return Parsed(table, {"format": form, **meta, "hosts": ", ".join(hosts)})


# ------------------------------------------------------------------ sadf -d / -dh

def _groups(header: list[str]):
    """The header's groups: (key or None, fields, repeats, starred), in order."""
    groups = []
    key, fields = None, []
    for name in header:
        repeat = name.endswith("[...]")
        name = name.removesuffix("[...]")
        if name in INSTANCE_KEYS:
            if key is not None or fields:
                groups.append([key, fields, False, False])
            key, fields = name, []
        elif name == "CPU*":
            groups.append([key, ["intr/s"], repeat, True])
            key, fields = None, []
            continue
        else:
            fields.append(name)
        if repeat:
            groups.append([key, fields, True, False])
            key, fields = None, []
    if key is not None or fields:
        groups.append([key, fields, False, False])
    return [tuple(g) for g in groups if g[0] is not None or g[1]]


def _parse_csv(data: bytes, source: str, zone) -> tuple[list[pl.DataFrame], dict]:
    text_start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    starts = []
    pos = data.find(b"# hostname;", text_start)
    while pos >= 0:
        if pos == text_start or data[pos - 1:pos] == b"\n":
            starts.append(pos)
        pos = data.find(b"# hostname;", pos + 1)
    pieces: list[pl.DataFrame] = []
    restarts, comments = [], []
    header_line, counted = 1, 0
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        eol = data.find(b"\n", start, end)
        eol = end if eol < 0 else eol
        header_line += data.count(b"\n", counted, start)
        counted = start
        header = data[start + 2:eol].decode("utf-8", "replace").rstrip("\r").split(";")
        if header[:3] != ["hostname", "interval", "timestamp"] or len(header) < 4:
            raise ParseError(source, header_line, "a header '# hostname;interval;timestamp;<fields>'",
                             data[start:eol][:60].decode("utf-8", "replace"))
        groups = _groups(header[3:])
        block = data[eol + 1:end]
        if b"LINUX-RESTART" in block or b";COM " in block:
            block, restarts_here, comments_here = _records(block)
            restarts += restarts_here
            comments += comments_here
        if not block or block.isspace():
            continue
        pieces += _block(block, header, groups, source, header_line + 1, zone)
    meta: dict[str, str] = {}
    if restarts:
        meta["restarts"] = ", ".join(restarts)
    if comments:
        meta["comments"] = " | ".join(comments)
    return pieces, meta


def _records(block: bytes) -> tuple[bytes, list[str], list[str]]:
    """The block without its restart and comment records, and those records.

    Line numbers after a removed record would shift, so the record is replaced by
    an empty line (a row of nulls for polars, dropped there; the numbering stays the file's).
    """
    kept, restarts, comments = [], [], []
    for line in block.split(b"\n"):
        fields = line.split(b";", 3)
        if len(fields) == 4 and fields[1] == b"-1" and fields[3].startswith(b"LINUX-RESTART"):
            restarts.append(f"{fields[2].decode('utf-8', 'replace')} "
                            f"{fields[3][13:].strip().decode('utf-8', 'replace')}")
            kept.append(b"")
        elif len(fields) == 4 and fields[1] == b"-1" and fields[3].startswith(b"COM "):
            comments.append(f"{fields[2].decode('utf-8', 'replace')}: {fields[3][4:].decode('utf-8', 'replace')}")
            kept.append(b"")
        else:
            kept.append(line)
    return b"\n".join(kept), restarts, comments


def _block(block: bytes, header: list[str], groups, source: str, first_line: int, zone) -> list[pl.DataFrame]:
    """One header's lines as pieces (see :func:`_emit`)."""
    simple = all(not repeat and not star for _, _, repeat, star in groups)
    if simple:
        # First with the values typed (polars parses the numbers while reading: the fast
        # path for large files); on any trouble again as text, which names what is wrong.
        for schema_ in (_block_schema(header, groups), None):
            try:
                raw = pl.read_csv(io.BytesIO(block), separator=";", has_header=False, quote_char=None,
                                  schema=schema_, infer_schema=False,
                                  new_columns=None if schema_ else [f"c{i}" for i in range(len(header))])
            except pl.exceptions.PolarsError:
                continue
            if raw.width != len(header):
                break
            try:
                return _simple_block(raw, header, groups, source, first_line, zone)
            except ParseError:
                if schema_ is None:
                    raise
    return _pieces(_line_block(block, header, groups, source, first_line), source, zone)


def _block_schema(header: list[str], groups) -> pl.Schema:
    types = [pl.String, pl.Float64, pl.String]
    for key, fields, _, _ in groups:
        types += [pl.String] if key is not None else []
        types += [pl.String if f in _TEXT_FIELDS or key in _INVENTORY_KEYS else pl.Float64 for f in fields]
    return pl.Schema({f"c{i}": t for i, t in enumerate(types)})


def _simple_block(raw: pl.DataFrame, header: list[str], groups, source: str, first_line: int,
                  zone) -> list[pl.DataFrame]:
    """A block whose lines all have the header's fields (every sadf -d block but the
    interrupts'), read column-wise: numbers, times and components on the wide frame."""
    # polars keeps an empty line as a row of nulls (restart records are blanked, see
    # _records): the row index is the line's offset in the block.
    raw = raw.with_columns(pl.int_range(first_line, first_line + raw.height, dtype=pl.Int64).alias("line"))
    if raw["c0"].null_count() or raw["c0"].str.starts_with("\r").any():  # empty lines
        raw = raw.filter(pl.col("c0").is_not_null() & (pl.col("c0") != "\r"))
    short = raw[f"c{len(header) - 1}"].is_null()
    if short.any():
        row = int(short.arg_max())
        found = sum(value is not None for value in raw.drop("line").row(row))
        raise ParseError(source, int(raw["line"][row]), f"{len(header)} fields, as in the header", f"{found} fields")
    last = f"c{len(header) - 1}"
    if raw[last].dtype == pl.String and raw[last].str.ends_with("\r").any():  # CRLF line ends
        raw = raw.with_columns(pl.col(last).str.strip_suffix("\r"))
    base = pl.DataFrame({"host": raw["c0"], "interval": _intervals(raw["c1"], raw["line"], source),
                         "time": _times(raw["c2"], raw["line"], source, zone)})
    pieces = []
    column = 3
    for key, fields, _, _ in groups:
        key_col = None
        if key is not None:
            key_col = f"c{column}"
            column += 1
        cols = [f"c{column + j}" for j in range(len(fields))]
        column += len(fields)
        named = [(c, f) for c, f in zip(cols, fields) if f not in _TEXT_FIELDS]
        if not named or key in _INVENTORY_KEYS:
            continue
        instance = raw[key_col] if key_col else pl.repeat(None, raw.height, dtype=pl.String, eager=True)
        component = pl.select(_component(pl.lit(key, dtype=pl.String), instance.alias("instance"))).to_series()
        values = {f: _values(raw[c], raw["line"], f, source) for c, f in named}
        pieces.append(base.with_columns(component=component, **values))
    return pieces


# "line" says where a value was: the line number (CSV), "line N, <timestamp>" (XML) or
# the JSON path of its sample.
_LONG_COLUMNS = ["host", "interval", "stamp", "group", "key", "instance", "field", "text", "line"]


def _where(line) -> int | str:
    return int(line) if isinstance(line, int) or str(line).isdigit() else str(line)


def _line_block(block: bytes, header: list[str], groups, source: str, first_line: int) -> pl.DataFrame:
    """The general path (``sadf -dh`` with repeated groups, ``CPU*``): line by line."""
    rows: dict[str, list] = {c: [] for c in _LONG_COLUMNS}

    def add(group, host, interval, stamp, key, instance, field, text, number):
        for c, v in zip(_LONG_COLUMNS, (host, interval, stamp, str(group), key, instance, field, text, str(number))):
            rows[c].append(v)

    for offset, line in enumerate(block.decode("utf-8", "replace").split("\n")):
        line = line.rstrip("\r")
        if not line:
            continue
        number = first_line + offset
        tokens = line.split(";")
        if len(tokens) < 4:
            raise ParseError(source, number, "hostname;interval;timestamp;values", line[:60])
        host, interval, stamp = tokens[:3]
        pos = 3
        for g, (key, fields, repeat, star) in enumerate(groups):
            seen: set[str] = set()
            while True:
                before = pos
                instance = None
                if key is not None:
                    if pos >= len(tokens):
                        raise ParseError(source, number, f"a {key} name", "the end of the line")
                    instance = tokens[pos]
                    pos += 1
                    seen.add(instance)
                if star:  # one value for all CPUs, then one per CPU (unnamed)
                    k = 0
                    while pos < len(tokens) and "." in tokens[pos]:
                        add(g, host, interval, stamp, key, f"{instance}:{'all' if k == 0 else f'#{k}'}", "intr/s",
                            tokens[pos], number)
                        pos += 1
                        k += 1
                else:
                    if pos + len(fields) > len(tokens):
                        raise ParseError(source, number, f"{len(fields)} values after {key or 'the time stamp'}",
                                         f"{len(tokens) - pos}")
                    for field in fields:
                        if key not in _INVENTORY_KEYS and field not in _TEXT_FIELDS:
                            add(g, host, interval, stamp, key, instance, field, tokens[pos], number)
                        pos += 1
                if not repeat or pos >= len(tokens) or pos == before:
                    # pos == before: a repeated group that read nothing (a damaged header's
                    # 'CPU*[...]' without its INTR key: found by bench/fuzz.py, it looped forever)
                    break
                nxt = tokens[pos]
                if "." in nxt or nxt in seen or (key == "CPU" and not _INTEGER.fullmatch(nxt)):
                    break
        if pos != len(tokens):
            raise ParseError(source, number, f"{pos} fields, as the header's groups describe",
                             f"{len(tokens)} fields")
    return pl.DataFrame(rows, schema={c: pl.String for c in _LONG_COLUMNS})


# ------------------------------------------------------------------ sadf -j / -x

def _parse_json(data: bytes, source: str) -> tuple[pl.DataFrame, dict]:
    doc = _jsonload.loads(data, source=source, what="JSON")  # bounded: depth, size, finite numbers
    hosts = doc.get("sysstat", {}).get("hosts") if isinstance(doc, dict) and isinstance(doc.get("sysstat"), dict) \
        else None
    if not isinstance(hosts, list) or not hosts:
        inner = doc.get("sysstat") if isinstance(doc, dict) else None
        found = (f"keys {list(inner)[:4]}" if isinstance(inner, dict) else
                 f"keys {list(doc)[:4]}" if isinstance(doc, dict) else type(doc).__name__)
        raise ParseError(source, "sysstat.hosts", "a list of hosts under {\"sysstat\": {\"hosts\": [...]}}",
                         str(found))
    return _tree(hosts, source, "sysstat.hosts")


def _parse_xml(data: bytes, source: str) -> tuple[pl.DataFrame, dict]:
    check_prolog(data, source)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(source, exc.lineno, "well-formed XML", exc.msg) from None
    if etree.QName(root).localname != "sysstat":
        raise ParseError(source, f"line {root.sourceline}, <{etree.QName(root).localname}>",
                         "the root element <sysstat>", f"<{etree.QName(root).localname}>")
    hosts = []
    for host in root:
        if not isinstance(host.tag, str) or etree.QName(host).localname != "host":
            continue
        hosts.append(_element(host))
    if not hosts:
        raise ParseError(source, "<sysstat>", "one <host> element or more", "none")
    return _tree(hosts, source, "<host>")


def _element(el) -> dict:
    """An XML element as the JSON export's dict: attributes and text-only children as
    values, repeated children as lists (``<cpu-load><cpu .../>`` -> ``{"cpu": [...]}``)."""
    out: dict = dict(el.attrib)
    lists: set[str] = set()
    for child in el:
        if not isinstance(child.tag, str):
            continue
        tag = etree.QName(child).localname
        if len(child) == 0 and not child.attrib:
            value = (child.text or "").strip()
        else:
            value = _element(child)
            if tag == "timestamp":
                value["_line"] = child.sourceline
        if tag in lists:
            out[tag].append(value)
        elif tag in out:
            out[tag] = [out[tag], value]
            lists.add(tag)
        else:
            out[tag] = value
    return out


def _tree(hosts: list, source: str, where: str) -> tuple[pl.DataFrame, dict]:
    rows: dict[str, list] = {c: [] for c in _LONG_COLUMNS}
    meta: dict[str, str] = {}
    restarts, comments = [], []
    for h, host in enumerate(hosts):
        if not isinstance(host, dict) or "nodename" not in host:
            raise ParseError(source, f"{where}[{h}]", "a host with a 'nodename'", str(host)[:60])
        name = str(host["nodename"])
        for key in ("sysname", "release", "machine", "number-of-cpus", "file-date", "file-utc-time", "timezone"):
            if key in host:
                meta[key.replace("-", "_")] = str(host[key])
        stats = host.get("statistics", [])
        if isinstance(stats, dict):  # XML: <statistics><timestamp>...
            stats = stats.get("timestamp", [])
            stats = [{"timestamp": s} for s in (stats if isinstance(stats, list) else [stats])]
        if not isinstance(stats, list):
            raise ParseError(source, f"{where}[{h}].statistics", "a list of samples", type(stats).__name__)
        for r in _listed(host.get("restarts"), "boot"):
            r = r.get("boot", r)
            restarts.append(f"{r.get('date', '?')} {r.get('time', '?')} {r.get('tz', 'UTC' if r.get('utc') == 1 else '')} "
                            f"({r.get('cpu_count', '?')} CPU)".replace("  ", " "))
        for c in _listed(host.get("comments"), "comment"):
            c = c.get("comment", c)
            comments.append(f"{c.get('date', '?')} {c.get('time', '?')}: {c.get('com', '')}")
        for i, sample in enumerate(stats):
            stamp_node = sample.get("timestamp") if isinstance(sample, dict) else None
            here = f"{where}[{h}].statistics[{i}]"
            if not isinstance(stamp_node, dict) or "date" not in stamp_node or "time" not in stamp_node:
                raise ParseError(source, here, "a timestamp with date and time", str(sample)[:60])
            utc = stamp_node.get("utc")
            zone = "UTC" if str(utc) == "1" or stamp_node.get("tz") == "UTC" else (
                host.get("timezone", "") if str(utc) == "0" else stamp_node.get("tz", ""))
            stamp = f"{stamp_node['date']} {stamp_node['time']}" + (f" {zone}" if zone else "")
            interval = str(stamp_node.get("interval", ""))
            line = f"line {stamp_node['_line']}, <timestamp>" if "_line" in stamp_node else here
            items = stamp_node if "_line" in stamp_node else sample  # XML nests activities in <timestamp>
            for activity, node in items.items():
                if activity in ("timestamp", "date", "time", "utc", "tz", "interval", "_line"):
                    continue
                for group, key, instance, field, value in _walk(activity, node, None, None):
                    for c, v in zip(_LONG_COLUMNS, (name, interval, stamp, group, key, instance, field, value, line)):
                        rows[c].append(v)
    if restarts:
        meta["restarts"] = ", ".join(restarts)
    if comments:
        meta["comments"] = " | ".join(comments)
    frame = pl.DataFrame(rows, schema={c: pl.String for c in _LONG_COLUMNS})
    return frame, meta


def _listed(node, tag: str) -> list[dict]:
    if isinstance(node, dict):
        node = node.get(tag, [])
    if isinstance(node, dict):
        node = [node]
    return [n for n in node or [] if isinstance(n, dict)]


def _walk(activity: str, node, key: str | None, instance: str | None):
    """(activity, sadf -d instance key, instance, sadf -d field name, value text) of an activity's tree."""
    if isinstance(node, list):
        for item in node:
            yield from _walk(activity, item, key, instance)
        return
    if not isinstance(node, dict) or activity in _INVENTORIES:
        return
    if activity in ("interrupts", "int-global", "irq") and "intr" in node:
        for inst, field, value in _interrupts(node):
            yield activity, "INTR", inst, field, value
        return
    name = next((k for k in _TREE_KEYS if isinstance(node.get(k), (str, int)) and not isinstance(node[k], bool)),
                None)
    if name is not None:
        # A CPU's number is "cpu" (cpu-load in JSON, softnet) or "number" (cpu-load in XML, cpufreq).
        key = "CPU" if name == "cpu" or (name == "number" and activity in _CPU_NUMBERED) else name.upper()
        instance = str(node[name]) if instance is None else f"{instance}/{node[name]}"
    for field, value in node.items():
        if field == name or field in _TREE_META:
            continue
        if isinstance(value, (dict, list)):
            yield from _walk(field, value, key, instance)
        elif isinstance(value, bool) or value is None or field in _TEXT_FIELDS or field in _TREE_KEYS:
            continue
        else:  # a number (JSON) or its text (XML); anything else is refused where values are checked
            yield activity, key, instance, _field_name(activity, field), str(value)


def _interrupts(node: dict):
    intr = str(node["intr"])
    if "value" in node:  # XML: <irq intr="sum" cpu="all" value="..."/>
        cpu = str(node.get("cpu", "all"))
        yield f"{intr}:{cpu if cpu == 'all' else 'cpu' + cpu}", "intr/s", str(node["value"])
        return
    for name, value in node.items():  # JSON: {"intr": "sum", "all": ..., "CPU0": ...}
        if name != "intr":
            yield f"{intr}:{name.lower()}", "intr/s", str(value)


def _field_name(activity: str, name: str) -> str:
    """The sadf -d header name of a JSON/XML field."""
    if activity in _PSI and "_avg" in name:
        kind, window = name.split("_avg", 1)
        return f"%{kind[0]}{_PSI[activity]}" + (f"-{window}" if window else "")
    if activity in _CPU_ACTIVITIES:
        return "%" + name
    if name.endswith("-percent"):
        return "%" + name.removesuffix("-percent")
    if name in _RENAMED:
        return _RENAMED[name]
    if activity in _KB_ACTIVITIES:
        return "kb" + name
    if activity in _PER_SECOND and name not in _NOT_PER_SECOND:
        return name + "/s"
    return name


# ------------------------------------------------------------------ long rows -> table

def _native_unit(field: str) -> str:
    if field.startswith("%"):
        return "percent"
    if field.endswith("kB/s"):
        return "kB/s"
    if field.endswith("/s"):
        return "1/s"
    if field.startswith("kb"):
        return "kB"
    return "1"


def _zone(name: str | None, source: str) -> str | None:
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WorkbenchError(f"{source}: unknown timezone {name!r}; expected an IANA name such as 'Europe/Madrid'") \
            from None
    return name


def _values(text: pl.Series, lines: pl.Series, field: str | pl.Series, source: str) -> pl.Series:
    """`text` as finite Float64 by the one number rule (readers._numbers: ASCII digits, no
    NaN, no infinity, no overflow), vectorized; the first bad cell is named by
    :func:`_numbers.to_float`. A column polars parsed already (the typed fast read) is only
    checked: on an error the block is read again as text, whose message shows the cell."""
    if text.dtype == pl.Float64:
        values = text
        bad = values.is_null() | ~values.is_finite()
    else:
        stripped = text.str.strip_chars(" \t\r\n")
        values = stripped.cast(pl.Float64, strict=False)
        bad = (values.is_null() | ~values.is_finite() | ~stripped.str.contains(f"^{_numbers.FLOAT}$")).fill_null(True)
    if bad.any():
        row = int(bad.arg_max())
        name = field if isinstance(field, str) else field[row]
        where = _where(lines[row])
        if text.dtype == pl.String and text[row] is not None:
            _numbers.to_float(text[row], source=source, line=where, what=f"a number for {name}")
        raise ParseError(source, where, f"a finite number for {name}", repr(text[row]))
    return values


def _intervals(text: pl.Series, lines: pl.Series, source: str) -> pl.Series:
    seconds = _values(text, lines, "the interval", source)  # 1e999 or NaN is no interval
    bad = seconds <= 0
    if bad.any():
        row = int(bad.arg_max())
        raise ParseError(source, _where(lines[row]), "an interval in seconds > 0", repr(text[row]))
    return seconds


def _times(text: pl.Series, lines: pl.Series, source: str, zone: str | None) -> pl.Series:
    """UTC times of sadf's stamps: "YYYY-MM-DD HH:MM:SS UTC"; local ones (sadf -t, -T: no
    zone or an abbreviation such as "CET", which does not say the offset) in `zone`;
    epoch seconds (sadf -U)."""
    if text.str.ends_with(" UTC").all():  # the usual case, on every line of a large file
        parsed = text.str.to_datetime(_TIME + " UTC", strict=False, time_unit="us")
        if not parsed.is_null().any():
            return parsed.dt.replace_time_zone("UTC")
    abbreviation = text.str.extract(r" ([A-Za-z][A-Za-z0-9+:-]*)$")
    utc = abbreviation.is_in(["UTC", "GMT"]).fill_null(False)
    epoch = text.str.contains(r"^\d+$")
    local = ~utc & ~epoch
    if local.any() and zone is None:
        row = int(local.arg_max())
        raise ParseError(source, _where(lines[row]), "times in UTC ('... UTC', as sadf writes them without -t), "
                         "or the option timezone='Area/City' for local times (sadf -t/-T)", repr(text[row]))
    parsed = text.str.replace(r" [A-Za-z][A-Za-z0-9+:-]*$", "").str.to_datetime(_TIME, strict=False, time_unit="us")
    if epoch.any():
        # The number rule, and a time a datetime holds: 10^16 s would wrap the microseconds
        # silently (polars' from_epoch does not check).
        ints = text.cast(pl.Int64, strict=False)
        beyond = (epoch & (ints.is_null() | (ints > _EPOCH_MAX))).fill_null(False)
        if beyond.any():
            row = int(beyond.arg_max())
            _numbers.to_int(text[row], source=source, line=_where(lines[row]), what="epoch seconds (sadf -U)",
                            minimum=0, maximum=_EPOCH_MAX)
        seconds = pl.from_epoch(ints, time_unit="s").cast(pl.Datetime("us"))
        parsed = pl.select(pl.when(epoch).then(seconds).otherwise(parsed)).to_series()
    bad = parsed.is_null()
    if bad.any():
        row = int(bad.arg_max())
        raise ParseError(source, _where(lines[row]), "a time stamp YYYY-MM-DD HH:MM:SS [UTC]", repr(text[row]))
    out = parsed.dt.replace_time_zone("UTC")
    if local.any():
        try:
            converted = parsed.dt.replace_time_zone(zone, ambiguous="raise", non_existent="raise") \
                .dt.convert_time_zone("UTC")
        except pl.exceptions.ComputeError as exc:
            raise ParseError(source, None, f"local times that exist once in {zone}",
                             str(exc).splitlines()[0]) from None
        out = pl.select(pl.when(local).then(converted).otherwise(out)).to_series()
    return out.alias("time")


def _component(key: pl.Expr, instance: pl.Expr) -> pl.Expr:
    """A CPU number -1/all is the total, a CPU N is cpuN; other instances as named; none: total."""
    cpu = key == "CPU"
    return (pl.when(instance.is_null()).then(pl.lit("total"))
            .when(cpu & instance.is_in(["-1", "all"])).then(pl.lit("total"))
            .when(cpu & instance.str.contains(r"^\d+$")).then(pl.lit("cpu") + instance)
            .otherwise(instance)).alias("component")


def _pieces(long: pl.DataFrame, source: str, zone: str | None) -> list[pl.DataFrame]:
    """Long rows (JSON, XML, sadf -dh) as pieces: one wide frame per activity."""
    if long.is_empty():
        return []
    stamps = long.select("stamp", "line").unique("stamp", keep="first", maintain_order=True)
    times = pl.DataFrame({"stamp": stamps["stamp"], "time": _times(stamps["stamp"], stamps["line"], source, zone)})
    long = long.with_columns(value=_values(long["text"], long["line"], long["field"], source))
    long = long.with_columns(interval=_intervals(long["interval"], long["line"], source),
                             component=_component(pl.col("key"), pl.col("instance")))
    long = long.join(times, on="stamp", how="left", maintain_order="left")
    index = ["host", "time", "interval", "component"]
    pieces = []
    for (_,), part in long.group_by(["group"], maintain_order=True):
        duplicated = part.select(*index, "field").is_duplicated()
        if duplicated.any():
            row = part.row(int(duplicated.arg_max()), named=True)
            raise ParseError(source, _where(row["line"]), f"{row['field']} once per sample and {row['component']}",
                             "it twice")
        fields = part["field"].unique(maintain_order=True).to_list()
        pieces.append(part.pivot(on="field", index=index, values="value").select(*index, *fields))
    return pieces


def _emit(pieces: list[pl.DataFrame], source: str) -> pl.DataFrame:
    """The measurement table from pieces: wide frames with host, time, interval, component
    and one column per sadf -d field. Each field becomes rows of its metric (the factor,
    unit and aggregate written once per field); derived values come from the wide frame."""
    index = ("host", "time", "interval", "component")
    frames = []
    native: dict[str, str] = {}
    for piece in pieces:
        fields = [c for c in piece.columns if c not in index]
        derived = {}
        if "%idle" in fields:  # busy = 100 - idle - iowait - steal (the capture's rule)
            spent = sum((pl.col(f).fill_null(0.0) for f in _CPU_FIELDS[1:] if f in fields), pl.col("%idle"))
            derived["=cpu_util"] = (100.0 - spent).clip(0.0, 100.0)
        if "kbswpfree" in fields and "kbswpused" in fields:
            derived["=swap_total"] = pl.col("kbswpfree") + pl.col("kbswpused")
        if derived:
            piece = piece.with_columns(**derived)
        # encoded once per activity, shared by every field's rows below
        piece = piece.with_columns(pl.col("host", "component").cast(schema.LABEL))
        for field in [*fields, *derived]:
            metric, factor, unit, aggregate = _spec(field)
            if metric.startswith(PREFIX):
                native.setdefault(metric, unit)
            value = pl.col(field) * factor if factor != 1.0 else pl.col(field)
            if piece[field].null_count():  # a field missing from some samples (JSON, XML): no value
                value = value.fill_null(float("nan"))
            frames.append(piece.select(
                "host", "time", "component", value.alias("value"),
                interval=pl.col("interval") if aggregate == "mean" else pl.lit(None, dtype=pl.Float64),
                metric=pl.lit(metric, schema.LABEL), unit=pl.lit(unit, schema.LABEL),
                aggregate=pl.lit(aggregate, schema.LABEL)))
    if not frames:
        return schema.empty()
    if native:
        shown = ", ".join(f"{m} ({u})" for m, u in list(native.items())[:6])
        warnings.warn(f"{source}: {len(native)} field(s) outside the metric vocabulary kept as native metrics: "
                      f"{shown}{', ...' if len(native) > 6 else ''}", NativeMetricWarning, stacklevel=4)
    table = pl.concat(frames, how="vertical", rechunk=False)
    nulls = {c: pl.lit(None, dtype=schema.SCHEMA[c]) for c in ("experiment", "condition", "hypervisor", "guest",
                                                                "scope", "stage", "run")}
    return table.with_columns(**nulls, source=pl.lit(NAME, schema.LABEL),
                              source_file=pl.lit(source, schema.LABEL)) \
        .select(list(schema.COLUMNS)).cast(schema.SCHEMA)


def _spec(field: str) -> tuple[str, float, str, str]:
    """(metric, factor, unit, aggregate) of a sadf -d field (or a derived ``=metric``)."""
    if field.startswith("="):  # derived: cpu_util in percent, swap_total in kB
        metric = field[1:]
        return metric, _KIB if metric == "swap_total" else 1.0, schema.METRICS[metric].unit, \
            schema.METRICS[metric].aggregate
    if field in VOCABULARY:
        metric, factor = VOCABULARY[field]
        return metric, factor, schema.METRICS[metric].unit, schema.METRICS[metric].aggregate
    unit = _native_unit(field)
    mean = unit in ("1/s", "kB/s") or (unit == "percent" and field not in _LEVEL_PERCENTS)
    return f"{PREFIX}{field}", 1.0, unit, "mean" if mean else "last"


def _sniff(head: bytes) -> bool:
    body = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if body.startswith(b"# hostname;interval;timestamp;"):
        return True
    if body.startswith(b"{"):
        return re.match(rb'\{\s*"sysstat"\s*:', body) is not None
    if body.startswith(b"<"):
        return re.search(rb"<sysstat[\s>]", body[:2048]) is not None
    return False


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".csv", ".json", ".xml"),
                description="sysstat sadf -d/-dh (CSV), -j (JSON) and -x (XML) exports: CPU, memory, swap, "
                            "disk, network, load")
