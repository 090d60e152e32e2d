"""The benchmark-output readers read numbers with the one grammar of readers._numbers:
ASCII digits only, no digit grouping, no integer past Python's digit limit (found by
bench/fuzz.py: a 5000-digit field gave a ValueError traceback in mlc and sysbench)."""
from __future__ import annotations

import re

import pytest

from workbench import readers
from workbench.errors import ParseError
from workbench.readers import _bench

from ..conftest import FIXTURES

BENCH = FIXTURES / "benchmarks"


@pytest.mark.parametrize("text, message", [
    ("１２３", "f.txt:3: expected a rate (ASCII digits), found '１２３'"),
    ("1_0", "f.txt:3: expected a rate (ASCII digits), found '1_0'"),
    ("nan", "f.txt:3: expected a rate (ASCII digits), found 'nan'"),
    ("inf", "f.txt:3: expected a rate (a finite number; infinity is no measurement), found 'inf'"),
    ("1e999", "f.txt:3: expected a rate within the range of a double (up to 1.8e308), found '1e999'"),
])
def test_bench_number_grammar(text, message):
    """_bench.number is readers._numbers.to_float: one rule, one set of messages."""
    with pytest.raises(ParseError, match=re.escape(message)):
        _bench.number(text, "f.txt", 3, "a rate")
    assert _bench.number(" 12.5e3 ", "f.txt", 3, "a rate") == 12500.0


@pytest.mark.parametrize("name, old, new, message", [
    ("sysbench_memory_pkb.txt", "Number of threads: 1", "Number of threads: " + "9" * 5000,
     ":4: expected a thread count of at most"),
    ("mlc-3.10_kuleuven_icelake.txt", " 00000\t264.04", " " + "1" * 5000 + "\t264.04",
     ":35: expected a delay in cycles (first column) of at most"),
])
def test_a_5000_digit_field_is_a_parse_error(tmp_path, name, old, new, message):
    text = (BENCH / name).read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / name
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ParseError) as err:
        readers.read(broken)
    assert message in str(err.value)
