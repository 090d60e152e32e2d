"""Bad-input fuzzing shared by the property tests (tests/readers/test_fuzz.py) and the long
campaign (bench/fuzz.py): which real files to mutate, how, and how to judge the outcome.

An outcome is one of:

``table``
    the reader returned a table that passes ``schema.validate`` with no infinite value;
``refused``
    a :class:`~workbench.errors.WorkbenchError` (one line for the user);
``infinite``
    a table holding ``inf`` in ``value`` or ``interval`` (a defect);
``traceback``
    any other exception (a defect).
"""
from __future__ import annotations

import random
import re
import traceback
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Where the real samples are (their copies in the repo).
SAMPLE_DIRS = (ROOT / "tests" / "fixtures", ROOT / "data")
#: Not inputs: provenance notes, generators, notebooks.
_SKIP_SUFFIXES = (".md", ".py", ".tsv", ".toml", ".ipynb", ".json.schema")

#: Text that readers have mistaken for numbers or structure (issue 18).
TOKENS = (b"1e999", b"-1e999", b"1.8e308", b"Infinity", b"-Infinity", b"NaN", b"inf", b"nan",
          "１２３".encode(), "٣".encode(), b"1_0", b"9" * 5000, b"[" * 3000, b"{" * 3000, b"<" * 50,
          b'"', b"'", b"<", b">", b"&", b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf",
          b"\r", b",", b";", b"\t", b"\n", b"-", b"0", b"-0", b"99999999999", b"2147483648", b"1e-400", b"",
          b"\x1f\x8b", b"null", b"true", b"[]", b"{}", b"</", b"]]>", b"\xc3", b"%", b" ")
_NUMBER = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_NUMERIC_TOKENS = (b"1e999", b"-1e999", b"1.8e308", b"Infinity", b"NaN", "１２３".encode(), b"1_0", b"9" * 5000,
                   b"-1", b"0", b"2147483648", b"99999999999999999999", b"", b"1e-400", b"4.2e1", b"0x10", b"1,5")


@dataclass(frozen=True)
class Sample:
    """A real file and the format its content is detected as."""

    path: Path
    format: str

    @property
    def source(self) -> str:
        # The path as the reader sees it (azure-noise reads its partitions from it).
        return self.path.relative_to(ROOT).as_posix()


@lru_cache(maxsize=None)
def samples(max_bytes: int | None = None) -> tuple[Sample, ...]:
    """Every real sample file whose format is detected, smallest first (at most `max_bytes`)."""
    from workbench import readers
    from workbench.errors import WorkbenchError

    found = []
    for folder in SAMPLE_DIRS:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.name.endswith(_SKIP_SUFFIXES) or "notebooks" in path.parts:
                continue
            size = path.stat().st_size
            if size == 0 or (max_bytes is not None and size > max_bytes):
                continue
            try:
                fmt = readers.detect(path)
            except WorkbenchError:
                continue
            found.append((size, Sample(path, fmt.name)))
    return tuple(s for _, s in sorted(found, key=lambda item: (item[0], str(item[1].path))))


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One to three random mutations of `data`; returns the result and what was done."""
    done = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        data, what = _one(data, rng)
        done.append(what)
    return data, "; ".join(done)


def _one(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    kind = rng.choice(("number", "number", "number", "token", "token", "truncate", "flip", "line", "line"))
    n = len(data)
    if kind == "number":
        spots = [m.span() for m in _NUMBER.finditer(data, rng.randrange(max(n, 1)) if n else 0)][:50]
        if spots:
            start, end = rng.choice(spots)
            token = rng.choice(_NUMERIC_TOKENS)
            return data[:start] + token + data[end:], f"number at {start} -> {token[:12]!r}"
        kind = "token"
    if kind == "token":
        at = rng.randrange(n + 1)
        token = rng.choice(TOKENS)
        return data[:at] + token + data[at:], f"insert {token[:12]!r} at {at}"
    if kind == "truncate":
        at = rng.randrange(n + 1)
        return data[:at], f"truncate at {at}"
    if kind == "flip" and n:
        at = rng.randrange(n)
        return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:], f"flip a bit at {at}"
    lines = data.split(b"\n")
    if len(lines) < 2:
        return data + data, "doubled"
    i = rng.randrange(len(lines))
    op = rng.choice(("duplicate", "delete", "swap"))
    if op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "delete":
        del lines[i]
    else:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines), f"{op} line {i + 1}"


@dataclass(frozen=True)
class Outcome:
    kind: str          #: table, refused, infinite, traceback
    detail: str = ""   #: the error's type and message, or the traceback's last lines


def judge(fmt_name: str | None, data: bytes, source: str) -> Outcome:
    """Read `data` as `fmt_name` (detected from the bytes when None), as ``readers.read_file``
    does, and classify what happens."""
    from workbench import readers
    from workbench.errors import WorkbenchError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fmt = readers._format(source, data, fmt_name)
            parsed = fmt.parse(data, source=source)
            table = readers.validate_labelled(parsed.table, {}, {}, source=source)
            dict(parsed.metadata)  # metadata must be a mapping (the reader's own contract)
    except WorkbenchError as exc:
        text = str(exc)
        if "\n" in text:
            return Outcome("traceback", f"multi-line {type(exc).__name__}: {text[:200]}")
        return Outcome("refused", f"{type(exc).__name__}: {text[:200]}")
    except RecursionError as exc:  # listed apart: its traceback is thousands of lines
        return Outcome("traceback", f"RecursionError: {exc}")
    except Exception as exc:  # noqa: BLE001 - what the fuzzer exists to find
        tail = "".join(traceback.format_exception(exc)[-3:])
        return Outcome("traceback", f"{type(exc).__name__}: {str(exc)[:200]}\n{tail[-600:]}")
    except BaseException as exc:  # a Rust panic in polars (pyo3's PanicException) is no Exception
        if type(exc).__name__ != "PanicException":
            raise
        tail = "".join(traceback.format_exception(exc)[-3:])
        return Outcome("traceback", f"PanicException: {str(exc)[:200]}\n{tail[-600:]}")
    for column in ("value", "interval"):
        infinite = table[column].is_infinite().fill_null(False)
        if infinite.any():
            row = int(infinite.arg_max())
            return Outcome("infinite", f"{column} = {table[column][row]} (metric {table['metric'][row]})")
    return Outcome("table", f"{table.height} rows")
