"""Charset labels read as browsers read them: the WHATWG Encoding Standard's label table.

A file that declares its charset (an HTML ``<META ... CHARSET=...>``, a MIME part's
``Content-Type``, an XML declaration's ``encoding=``) is decoded the way a browser
decodes it, not the way Python's codec registry reads the label: ``iso-8859-1``,
``latin1`` and ``us-ascii`` mean windows-1252 (AIDA64 labels cp1252 "iso-8859-1"),
``gb2312`` means GBK, whose decoder is gb18030's, ``x-cp1251`` means windows-1251.

:data:`ENCODINGS` is data from the standard, §4.2 "Names and labels"
(https://encoding.spec.whatwg.org/#names-and-labels, the Living Standard;
machine-readable as ``encodings.json`` in github.com/whatwg/encoding, checked against
commit 4a66751c0af3 plus the later additions: the ``replacement`` encoding's labels,
``unicode11utf8``/``unicode20utf8``/``x-unicode20utf8``, ``ms932``, ``koi8-ru``, and
the UTF-16LE labels ``csunicode``, ``iso-10646-ucs-2``, ``ucs-2``, ``unicode``,
``unicodefeff``). :data:`CODECS` names the Python codec that decodes each encoding as
the standard does, with the differences handled here:

* The standard's windows-874/125x indexes map the bytes 0x80-0x9F that Microsoft left
  undefined to the C1 control of the same value (checked in ``index-windows-1253.txt`` and
  ``index-windows-874.txt``: pointer 1 -> U+0081), where Python's cp874/cp125x codecs fail;
  a byte left undefined above 0x9F (cp1253's 0xAA, cp874's 0xDB) is undefined in both.
* ``replacement`` (ISO-2022-KR, HZ-GB-2312, ...) decodes to one U+FFFD in a browser:
  there is no text to read, so it is refused.
* ``x-user-defined`` maps 0x80-0xFF to U+F780-U+F7FF (standard §14.5).

A byte the mapped encoding cannot decode is a :class:`~workbench.errors.ParseError`
with the file, the line and the byte; a browser would show U+FFFD, a reader must not
read a number through it.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from ..errors import ParseError

#: WHATWG encoding name -> its labels (Encoding Standard §4.2), in the standard's order.
ENCODINGS: dict[str, tuple[str, ...]] = {
    "UTF-8": ("unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"),
    "IBM866": ("866", "cp866", "csibm866", "ibm866"),
    "ISO-8859-2": ("csisolatin2", "iso-8859-2", "iso-ir-101", "iso8859-2", "iso88592", "iso_8859-2",
                   "iso_8859-2:1987", "l2", "latin2"),
    "ISO-8859-3": ("csisolatin3", "iso-8859-3", "iso-ir-109", "iso8859-3", "iso88593", "iso_8859-3",
                   "iso_8859-3:1988", "l3", "latin3"),
    "ISO-8859-4": ("csisolatin4", "iso-8859-4", "iso-ir-110", "iso8859-4", "iso88594", "iso_8859-4",
                   "iso_8859-4:1988", "l4", "latin4"),
    "ISO-8859-5": ("csisolatincyrillic", "cyrillic", "iso-8859-5", "iso-ir-144", "iso8859-5", "iso88595",
                   "iso_8859-5", "iso_8859-5:1988"),
    "ISO-8859-6": ("arabic", "asmo-708", "csiso88596e", "csiso88596i", "csisolatinarabic", "ecma-114",
                   "iso-8859-6", "iso-8859-6-e", "iso-8859-6-i", "iso-ir-127", "iso8859-6", "iso88596",
                   "iso_8859-6", "iso_8859-6:1987"),
    "ISO-8859-7": ("csisolatingreek", "ecma-118", "elot_928", "greek", "greek8", "iso-8859-7", "iso-ir-126",
                   "iso8859-7", "iso88597", "iso_8859-7", "iso_8859-7:1987", "sun_eu_greek"),
    "ISO-8859-8": ("csiso88598e", "csisolatinhebrew", "hebrew", "iso-8859-8", "iso-8859-8-e", "iso-ir-138",
                   "iso8859-8", "iso88598", "iso_8859-8", "iso_8859-8:1988", "visual"),
    "ISO-8859-8-I": ("csiso88598i", "iso-8859-8-i", "logical"),
    "ISO-8859-10": ("csisolatin6", "iso-8859-10", "iso-ir-157", "iso8859-10", "iso885910", "l6", "latin6"),
    "ISO-8859-13": ("iso-8859-13", "iso8859-13", "iso885913"),
    "ISO-8859-14": ("iso-8859-14", "iso8859-14", "iso885914"),
    "ISO-8859-15": ("csisolatin9", "iso-8859-15", "iso8859-15", "iso885915", "iso_8859-15", "l9"),
    "ISO-8859-16": ("iso-8859-16",),
    "KOI8-R": ("cskoi8r", "koi", "koi8", "koi8-r", "koi8_r"),
    "KOI8-U": ("koi8-ru", "koi8-u"),
    "macintosh": ("csmacintosh", "mac", "macintosh", "x-mac-roman"),
    "windows-874": ("dos-874", "iso-8859-11", "iso8859-11", "iso885911", "tis-620", "windows-874"),
    "windows-1250": ("cp1250", "windows-1250", "x-cp1250"),
    "windows-1251": ("cp1251", "windows-1251", "x-cp1251"),
    "windows-1252": ("ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1",
                     "iso-ir-100", "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1", "latin1",
                     "us-ascii", "windows-1252", "x-cp1252"),
    "windows-1253": ("cp1253", "windows-1253", "x-cp1253"),
    "windows-1254": ("cp1254", "csisolatin5", "iso-8859-9", "iso-ir-148", "iso8859-9", "iso88599", "iso_8859-9",
                     "iso_8859-9:1989", "l5", "latin5", "windows-1254", "x-cp1254"),
    "windows-1255": ("cp1255", "windows-1255", "x-cp1255"),
    "windows-1256": ("cp1256", "windows-1256", "x-cp1256"),
    "windows-1257": ("cp1257", "windows-1257", "x-cp1257"),
    "windows-1258": ("cp1258", "windows-1258", "x-cp1258"),
    "x-mac-cyrillic": ("x-mac-cyrillic", "x-mac-ukrainian"),
    "GBK": ("chinese", "csgb2312", "csiso58gb231280", "gb2312", "gb_2312", "gb_2312-80", "gbk", "iso-ir-58",
            "x-gbk"),
    "gb18030": ("gb18030",),
    "Big5": ("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"),
    "EUC-JP": ("cseucpkdfmtjapanese", "euc-jp", "x-euc-jp"),
    "ISO-2022-JP": ("csiso2022jp", "iso-2022-jp"),
    "Shift_JIS": ("csshiftjis", "ms932", "ms_kanji", "shift-jis", "shift_jis", "sjis", "windows-31j", "x-sjis"),
    "EUC-KR": ("cseuckr", "csksc56011987", "euc-kr", "iso-ir-149", "korean", "ks_c_5601-1987", "ks_c_5601-1989",
               "ksc5601", "ksc_5601", "windows-949"),
    "replacement": ("csiso2022kr", "hz-gb-2312", "iso-2022-cn", "iso-2022-cn-ext", "iso-2022-kr", "replacement"),
    "UTF-16BE": ("unicodefffe", "utf-16be"),
    "UTF-16LE": ("csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16", "utf-16le"),
    "x-user-defined": ("x-user-defined",),
}

#: WHATWG encoding name -> the Python codec that decodes it as the standard does (None:
#: decoded here). GBK decodes with the gb18030 decoder (standard §10.1.1), Big5 is
#: Big5-HKSCS, EUC-KR is windows-949 (UHC), Shift_JIS is windows-31j.
CODECS: dict[str, str | None] = {
    "UTF-8": "utf-8", "IBM866": "cp866", "ISO-8859-2": "iso8859_2", "ISO-8859-3": "iso8859_3",
    "ISO-8859-4": "iso8859_4", "ISO-8859-5": "iso8859_5", "ISO-8859-6": "iso8859_6", "ISO-8859-7": "iso8859_7",
    "ISO-8859-8": "iso8859_8", "ISO-8859-8-I": "iso8859_8", "ISO-8859-10": "iso8859_10",
    "ISO-8859-13": "iso8859_13", "ISO-8859-14": "iso8859_14", "ISO-8859-15": "iso8859_15",
    "ISO-8859-16": "iso8859_16", "KOI8-R": "koi8_r", "KOI8-U": "koi8_u", "macintosh": "mac_roman",
    "windows-874": "cp874", **{f"windows-{n}": f"cp{n}" for n in range(1250, 1259)},
    "x-mac-cyrillic": "mac_cyrillic", "GBK": "gb18030", "gb18030": "gb18030", "Big5": "big5hkscs",
    "EUC-JP": "euc_jp", "ISO-2022-JP": "iso2022_jp", "Shift_JIS": "cp932", "EUC-KR": "cp949",
    "replacement": None, "UTF-16BE": "utf-16-be", "UTF-16LE": "utf-16-le", "x-user-defined": None,
}

#: Label (lower case) -> WHATWG encoding name.
LABELS: dict[str, str] = {label: name for name, labels in ENCODINGS.items() for label in labels}
# The standard's windows-* indexes: bytes 0x80-0x9F Microsoft left undefined are C1 controls.
_C1_AS_IS = frozenset(name for name in ENCODINGS if name.startswith("windows-"))
_BOMS = ((b"\xef\xbb\xbf", "UTF-8"), (b"\xfe\xff", "UTF-16BE"), (b"\xff\xfe", "UTF-16LE"))
_WHITESPACE = "\t\n\f\r "  # ASCII whitespace, stripped from a label (standard §4.2 "get an encoding")


@dataclass(frozen=True)
class Encoding:
    """What a declared label means: the WHATWG encoding and the Python codec decoding it."""

    label: str
    name: str
    codec: str | None


def lookup(label: str) -> Encoding | None:
    """The encoding a browser uses for `label` (``"ISO-8859-1"`` -> windows-1252), or None
    for a label the standard does not know (a browser then ignores the declaration)."""
    name = LABELS.get(label.strip(_WHITESPACE).lower())
    return None if name is None else Encoding(label, name, CODECS[name])


def _c1(exc: UnicodeDecodeError) -> tuple[str, int]:
    byte = exc.object[exc.start]
    if 0x80 <= byte <= 0x9F:
        return chr(byte), exc.start + 1
    raise exc


codecs.register_error("workbench-whatwg-c1", _c1)


def decode(data: bytes, encoding: Encoding, *, source: str, line_offset: int = 0) -> str:
    """Decode `data` as a browser decodes `encoding`; a byte it cannot decode is a
    :class:`ParseError` naming the line (counted in `data`, plus `line_offset`) and the byte.

    Raises
    ------
    ParseError
        For an undecodable byte, and for the ``replacement`` encoding (no text to read).
    """
    if encoding.name == "replacement":
        raise ParseError(source, None, f"a charset that carries text: {encoding.label!r} is one the Encoding "
                         "Standard decodes to a single U+FFFD (ISO-2022-KR, HZ-GB-2312, ...)",
                         f"charset {encoding.label!r}")
    if encoding.name == "x-user-defined":
        return "".join(chr(b) if b < 0x80 else chr(0xF780 + b - 0x80) for b in data)
    for mark, name in _BOMS:  # a byte-order mark wins over the declaration, as in browsers (standard §6 "decode")
        if data.startswith(mark):
            encoding, data = Encoding(f"{encoding.label} (byte-order mark: {name})", name, CODECS[name]), data[len(mark):]
            break
    errors = "workbench-whatwg-c1" if encoding.name in _C1_AS_IS else "strict"
    try:
        return data.decode(encoding.codec, errors=errors)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1 + line_offset
        read_as = "" if encoding.label.lower() == encoding.name.lower() else f" (read as {encoding.name})"
        raise ParseError(source, line, f"text in the declared charset {encoding.label}{read_as}",
                         f"byte {data[exc.start]:#04x}, which {encoding.name} does not define") from None


_XML_DECL = re.compile(rb"""\A(?:\xef\xbb\xbf)?<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


def xml_utf8(data: bytes, *, source: str) -> bytes:
    """An XML document as UTF-8 bytes for lxml, its declared ``encoding=`` read as a browser
    reads it (``iso-8859-1`` -> windows-1252), the declaration rewritten to UTF-8.

    A document without a declaration, or declaring UTF-8, is returned as is (no copy).
    A UTF-16 document (a BOM, or ``<?`` as UTF-16) is transcoded to UTF-8 too, so that
    the checks readers make on bytes (a DOCTYPE declaring entities) see its markup.

    Raises
    ------
    ParseError
        For a label the Encoding Standard does not know, and for a byte the encoding
        does not define (line and byte).
    """
    utf16 = _utf16(data[:4])
    if utf16 is not None:
        try:
            text = data.decode(utf16)
        except UnicodeDecodeError as exc:
            raise ParseError(source, None, f"{utf16.upper()} text (the document starts as UTF-16)",
                             f"bytes {data[exc.start:exc.start + 2]!r} at offset {exc.start}") from None
        text = text.removeprefix("\ufeff")
        decl = re.match(r"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']", text)
        if decl is not None:
            text = text[:decl.start(1)] + "UTF-8" + text[decl.end(1):]
        return text.encode("utf-8")
    m = _XML_DECL.match(data[:512])
    if m is None:
        return data
    label = m.group(1).decode("ascii", errors="replace")
    encoding = lookup(label)
    if encoding is None:
        raise ParseError(source, 1, "an encoding the WHATWG Encoding Standard knows in the XML declaration "
                         "(e.g. UTF-8, windows-1252)", repr(label[:40]))
    if encoding.name in ("UTF-8", "UTF-16LE", "UTF-16BE"):  # an ASCII declaration cannot be UTF-16's: lxml decides
        return data
    text = decode(data, encoding, source=source)
    if text.startswith("\ufeff"):
        text = text[1:]
    # The declaration is ASCII in every encoding the standard knows but UTF-16 (lxml reads a
    # UTF-16 document's BOM itself): replace its label in the decoded text.
    head, _, rest = text.partition(label)
    return (head + "UTF-8" + rest).encode("utf-8")


def _utf16(head: bytes) -> str | None:
    """The UTF-16 codec a document's first bytes show (a BOM, or ``<?`` in UTF-16), else None."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if head.startswith(b"<\x00?\x00"):
        return "utf-16-le"
    if head.startswith(b"\x00<\x00?"):
        return "utf-16-be"
    return None


__all__ = ["CODECS", "ENCODINGS", "LABELS", "Encoding", "decode", "lookup", "xml_utf8"]
