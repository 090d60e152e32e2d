"""Notebooks are committed without outputs: the git ``clean`` filter behind ``make lab``.

Standard library only, runnable as a script (``python workbench/nbstrip.py``):
git calls it with the working-tree notebook on stdin and stores what it prints,
so a notebook saved from JupyterLab with outputs is committed stripped while
the file on disk keeps them. With file arguments it strips those files in place.

Stripped: outputs and execution counts of code cells; cell metadata the lab or
papermill adds (timing, collapsed/scrolled state); the notebook's papermill and
widget metadata and the machine-specific part of ``language_info`` (Python
version, CodeMirror mode). Kept: sources, cell ids, tags (the ``parameters``
cell), kernelspec. The output is formatted as nbformat writes (1-space
indent, sorted keys), so a clean notebook passes through unchanged.

Anything that is not a JSON notebook passes through untouched: a filter must
never lose what it was given.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

CELL_METADATA = frozenset({"execution", "ExecuteTime", "collapsed", "scrolled", "papermill"})
NOTEBOOK_METADATA = frozenset({"papermill", "widgets"})


def strip(text: str) -> str:
    """The notebook JSON `text` without outputs (see the module docstring);
    `text` unchanged if it is not a notebook."""
    try:
        nb = json.loads(text)
    except ValueError:
        return text
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return text
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            return text
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        meta = cell.get("metadata")
        if isinstance(meta, dict):
            for key in CELL_METADATA & meta.keys():
                del meta[key]
    meta = nb.get("metadata")
    if isinstance(meta, dict):
        for key in NOTEBOOK_METADATA & meta.keys():
            del meta[key]
        info = meta.get("language_info")
        if isinstance(info, dict) and "name" in info:
            meta["language_info"] = {"name": info["name"]}
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if not argv:  # git filter: stdin -> stdout, bytes in UTF-8
        data = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
        sys.stdout.buffer.write(strip(data).encode("utf-8", "surrogateescape"))
        return 0
    for name in argv:
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        stripped = strip(text)
        if stripped != text:
            tmp = path.with_name(f".{path.name}.nbstrip.tmp")
            tmp.write_text(stripped, encoding="utf-8")
            tmp.replace(path)
            print(f"stripped {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
