"""workbench.quiet outside a batch, and a batch's holds among themselves (the kernels'
side runs for real in tests/test_report.py::test_measurements_have_the_machine_and_the_rest_runs_beside)."""
from __future__ import annotations

import pytest

from workbench import quiet

fcntl = pytest.importorskip("fcntl")

pytestmark = pytest.mark.skipif(not quiet.available(), reason="no flock here")


def test_outside_a_batch_measuring_waits_for_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv(quiet.ENV, raising=False)
    with quiet.measuring(), quiet.measuring():  # nested: counted, nothing to wait for
        pass
    monkeypatch.setenv(quiet.ENV, str(tmp_path / "gone" / "1.measuring"))  # a batch that is over
    with quiet.measuring():
        pass
    assert list(tmp_path.iterdir()) == []


def test_holds_share_the_machine_and_the_turnstile_stops_new_ones():
    batch = quiet.Batch()
    try:
        first, second = batch.hold(), batch.hold()
        assert first.enter(lambda: False) and second.enter(lambda: False)  # shared with each other
        assert first.env == {quiet.ENV: str(first.handover_path)} and first.handover_path.parent == batch.folder
        measurement = batch.hold()  # stands in for a kernel: takes the turnstile, waits for the machine
        fcntl.flock(measurement._turnstile, fcntl.LOCK_EX)
        late, looks = batch.hold(), iter(range(5))
        assert not late.enter(lambda: next(looks, None) is None)  # no new report starts meanwhile
        fcntl.flock(measurement._turnstile, fcntl.LOCK_UN)
        assert late.enter(lambda: False)  # and starts once the measurement is over
        for hold in (first, second, measurement, late):
            hold.close()
    finally:
        batch.close()
    assert not batch.folder.exists()
