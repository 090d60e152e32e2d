"""Property tests (issue 18): whatever the bytes, every reader returns a valid table without an
infinite value, or raises a WorkbenchError; never another exception.

Two families per format: arbitrary bytes (forced to that reader, and detected), and
mutations of every real sample under 64 kB (tests/fuzzing.py: numbers replaced by
``1e999``/``１２３``/5000 digits..., tokens inserted, truncation, bit flips, lines
duplicated, deleted or swapped). The number of examples is bounded for CI (the whole
module stays well under 30 s); ``bench/fuzz.py`` runs the long campaign.

Known defects that other branches fix are xfail here (only the failing examples):
the xen_rrd decoders and the AIDA64 CSV sensor-log reader are rewritten on the ``speed``
branch (inf from ``1e999``/``Infinity`` text, an int() over 4300 digits, an epoch over int64).
"""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench import readers

from .. import fuzzing

#: Formats whose decoders the speed branch rewrites (see the module docstring).
SPEED = {"xen-rrd-updates", "xen-rrd-dump", "xen-rrd2csv", "everest-csvlog"}
FORMATS = sorted(readers.formats())
SAMPLES = fuzzing.samples(64 * 1024)
CI = settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _assert_ok(outcome: fuzzing.Outcome, what: str, fmt: str) -> None:
    if outcome.kind not in ("table", "refused") and fmt in SPEED:
        pytest.xfail(f"speed branch: {fmt}: {outcome.kind}: {outcome.detail.splitlines()[0][:80]}")
    assert outcome.kind in ("table", "refused"), f"{what}: {outcome.kind}: {outcome.detail}"


@pytest.mark.parametrize("fmt", FORMATS)
@CI
@given(data=st.binary(max_size=3000))
def test_any_bytes_forced_to_a_reader(fmt, data):
    _assert_ok(fuzzing.judge(fmt, data, "fuzz.bin"), f"{fmt} on {data[:60]!r}", fmt)


@CI
@given(data=st.one_of(st.binary(max_size=2000),
                      st.sampled_from([s.path.read_bytes()[:512] for s in SAMPLES]).flatmap(
                          lambda head: st.binary(max_size=500).map(lambda tail: head + tail))))
def test_any_bytes_detected(data):
    outcome = fuzzing.judge(None, data, "fuzz.bin")
    fmt = readers._format("fuzz.bin", data, None).name if outcome.kind not in ("table", "refused") else ""
    _assert_ok(outcome, f"detected as {fmt}: {data[:60]!r}", fmt)


@pytest.mark.parametrize("sample", [pytest.param(s, id=s.source) for s in SAMPLES])
@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_mutations_of_every_real_sample(sample, seed):
    mutated, what = fuzzing.mutate(sample.path.read_bytes(), random.Random(seed))
    _assert_ok(fuzzing.judge(sample.format, mutated, sample.source), f"{sample.source} ({what})", sample.format)
