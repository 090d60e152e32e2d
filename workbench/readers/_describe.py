"""What a file no reader recognises looks like, and which registered formats come closest.

Used by :func:`workbench.readers.detect` to refuse helpfully: "XML with root
<methodResponse>", "a JSON object with keys 'a', 'b'", "a text file whose first line is
'...'", then the closest formats (by the file's kind and suffix and the words of its
head) and how to force one. Everything shown from the file is untrusted: repr'd and
shortened, never more than a line.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import PurePath
from typing import Iterable

LIMIT = 60  # characters of the file shown in a message
_XML_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_GENERIC = {"report", "html", "mhtml", "csv", "xml", "json", "table", "text", "log", "updates", "dump", "rrd2csv",
            "noise", "workbench"}
#: Suffix -> the kind of content a format with that suffix reads.
_KINDS = {".xml": "xml", ".json": "json", ".gz": "gzip", ".htm": "html", ".html": "html", ".mht": "html",
          ".mhtml": "html", ".csv": "csv", ".txt": "text", ".log": "text", ".parquet": "binary",
          ".jsonl": "json"}


def shown(text: str | bytes, limit: int = LIMIT) -> str:
    """Untrusted input for a message: one line, repr'd, at most `limit` characters of it."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text.splitlines()[0] if text.strip() else text
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def kind(head: bytes) -> str:
    """``empty``, ``gzip``, ``binary``, ``xml``, ``html``, ``json``, ``csv`` or ``text``."""
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not body:
        return "empty"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text"
    if b"\x00" in head[:4096] or head[:4] == b"PAR1":
        return "binary"
    if body[:1] == b"<":
        low = body[:512].lower()
        return "html" if low.startswith((b"<!doctype html", b"<html")) or b"<html" in low else "xml"
    if body[:1] in (b"{", b"["):
        return "json"
    first = body.split(b"\n", 1)[0]
    return "csv" if first.count(b",") >= 2 or first.count(b";") >= 2 else "text"


def describe(head: bytes, data: bytes | None = None) -> str:
    """One phrase saying what the file looks like (its first bytes, or the whole `data`
    for a JSON document small enough to parse)."""
    k = kind(head)
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if k == "empty":
        return "the file is empty"
    if k == "gzip":
        return "a gzip-compressed file"
    if k == "binary":
        return f"a binary file starting with {head[:16]!r}"
    if k in ("xml", "html"):
        root = _root(body)
        return f"{'HTML' if k == 'html' else 'XML'} with root <{root}>" if root else f"markup starting {shown(body)}"
    if k == "json":
        return _json(data if data is not None and len(data) <= 16 << 20 else head)
    first = body.split(b"\n", 1)[0].rstrip(b"\r")
    what = "a CSV-like text file" if k == "csv" else "a text file"
    return f"{what} whose first line is {shown(first)}"


def _root(body: bytes) -> str | None:
    pos = 0
    while True:  # skip the prolog: <?xml ...?>, comments, <!DOCTYPE ...>
        m = re.compile(rb"\s*(<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)", re.S).match(body, pos)
        if m is None:
            break
        pos = m.end()
    m = _XML_ROOT.match(body.lstrip(), 0) if pos == 0 else _XML_ROOT.search(body, pos)
    if m is None:
        return None
    name = m.group(1).decode("ascii", errors="replace")
    return name if len(name) <= 40 else name[:40] + "..."


def _json(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    try:
        doc, _ = json.JSONDecoder().raw_decode(text)
    except ValueError:
        keys = re.findall(r'"([^"\\]{1,40})"\s*:', text[:2000])[:6]
        return ("JSON (cut short or invalid) " + (f"with keys {_names(keys)}" if keys else f"starting {shown(text)}"))
    if isinstance(doc, dict):
        return f"a JSON object with keys {_names(doc)}" if doc else "an empty JSON object"
    if isinstance(doc, list):
        inner = next((x for x in doc if isinstance(x, dict)), None)
        return f"a JSON array of {len(doc)} item(s)" + (f", objects with keys {_names(inner)}" if inner else "")
    return f"a JSON {type(doc).__name__}"


def _names(keys: Iterable[str]) -> str:
    keys = list(keys)
    out = ", ".join(repr(k[:30]) for k in keys[:6])
    return out + (f", ... ({len(keys)} keys)" if len(keys) > 6 else "")


def closest(path: str | os.PathLike, head: bytes, formats: dict) -> list[str]:
    """Up to three registered format names, best first: those reading the file's kind of
    content (by their suffixes), its suffix, and whose name's words occur in its head."""
    name_of_file = PurePath(str(path)).name.lower()
    k = kind(head)
    low = head[:8192].lower()
    scored = []
    for order, (name, fmt) in enumerate(formats.items()):
        kinds = {_KINDS.get("." + s.rsplit(".", 1)[-1], "") for s in fmt.suffixes}
        score = 2 * (k in kinds) + any(name_of_file.endswith(s) for s in fmt.suffixes)
        words = [w for w in re.split(r"[-_]", name) if len(w) >= 3 and w not in _GENERIC]
        score += 3 * sum(w.encode() in low for w in words)
        if score:
            scored.append((-score, order, name))
    return [name for _, _, name in sorted(scored)[:3]]
