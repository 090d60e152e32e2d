"""Text from input files, escaped for the context it lands in.

Labels (conditions, hosts, stages, components, titles, file names) come from
files and are untrusted. Each output context needs its own escaping:

* :func:`md` -- Markdown (``IPython.display.Markdown``, nbconvert, JupyterLab):
  Markdown passes raw HTML through *and* has its own active syntax (links
  ``[x](javascript:...)``, images ``![p](http://host/pixel.png)`` that the page
  would fetch, autolinks, emphasis, code, ``$...$`` math). Every character with
  a meaning in inline Markdown (CommonMark, GitHub's extensions, math) is
  backslash-escaped -- CommonMark renders ``\\c`` as the character itself, and
  ``\\<`` as ``&lt;`` -- and line breaks become spaces, so a label can neither
  start a block (heading, list, table) nor end the one it is in; a leading
  ``-``, ``+`` or ``1.`` is escaped too, in case the label starts a line.
* :func:`mpl` -- matplotlib text (titles, axis labels, tick labels, legends,
  annotations): an even number of ``$`` switches to mathtext, where ``$\\foo$``
  raises and fails the whole figure. ``$`` becomes ``\\$``, which matplotlib
  draws as a plain ``$``.

HTML written by hand uses :func:`html.escape`; pandas escapes the cells and
labels of the tables it renders.
"""
from __future__ import annotations

import re

__all__ = ["md", "mpl"]

#: Inline-active in CommonMark/GFM/math; ':' and '@' start autolinks (www., http:, a@b.c).
_MD_ACTIVE = "\\`*_{}[]()<>#!|$~&:@"
_MD = str.maketrans({c: "\\" + c for c in _MD_ACTIVE})
_BLOCK_START = re.compile(r"^([-+]|\d+(?=\.))")


def md(text: object) -> str:
    """`text` (anything, shown with ``str``) as literal Markdown inline text.

    >>> print(md("[x](javascript:alert(1))"))
    \\[x\\]\\(javascript\\:alert\\(1\\)\\)
    >>> print(md("1. a-b"))
    1\\. a-b
    """
    escaped = " ".join(str(text).split()).translate(_MD)
    match = _BLOCK_START.match(escaped)
    if match is None:
        return escaped
    if match.group(1) in "-+":
        return "\\" + escaped
    return escaped[:match.end()] + "\\" + escaped[match.end():]


def mpl(text: object) -> str:
    """`text` (anything, shown with ``str``) as literal matplotlib text (no mathtext).

    >>> print(mpl("$\\\\foo$"))
    \\$\\foo\\$
    """
    return str(text).replace("$", r"\$")
