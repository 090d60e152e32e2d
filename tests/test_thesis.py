"""The audit of the thesis tables: what it finds, with sizes."""
import shutil

import pytest

from workbench import thesis
from workbench.errors import WorkbenchError

from .conftest import THESIS_DIR


@pytest.fixture(scope="module")
def findings():
    return {(f.check, f.description): f for f in thesis.audit(THESIS_DIR)}


def find(findings, check, text):
    hits = [f for (c, d), f in findings.items() if c == check and text in d]
    assert len(hits) == 1, (check, text, hits)
    return hits[0]


def test_audit_counts(findings):
    assert len(findings) == 30
    bad = sorted(f.check for f in findings.values() if not f.consistent)
    assert bad == ["fig67-percent", "fig67-sum", "text-4.2.1-bw", "text-4.2.1-latency2", "text-4.3.2-cpu"]


def test_fig67_trixbox_used_plus_free_is_90_mb_short(findings):
    f = find(findings, "fig67-sum", "TrixBox")
    assert (f.expected, f.found, f.difference) == (3070, 2980, -90)
    assert not f.consistent
    # the other three cases add up within the 1 MB rounding of the printed values
    assert find(findings, "fig67-sum", "both guests").difference == 1


def test_fig67_printed_51_percent_is_50_23(findings):
    f = find(findings, "fig67-percent", "both guests")
    assert f.expected == pytest.approx(50.23)
    assert f.found == 51
    assert f.difference == pytest.approx(0.77)


def test_text_claims_on_bandwidth_and_latency(findings):
    write = find(findings, "text-4.2.1-bw", "write")
    assert (write.found, write.consistent) == (25, False)
    read = find(findings, "text-4.2.1-bw", "read")
    assert (read.found, read.consistent) == (76, True)
    latency = find(findings, "text-4.2.1-latency", "first guest")
    assert latency.found == pytest.approx(9.5) and latency.consistent
    vs70 = find(findings, "text-4.2.1-latency2", "fig. 70")
    assert vs70.found == pytest.approx(-5.6) and not vs70.consistent
    vs69 = find(findings, "text-4.2.1-latency2", "fig. 69")
    assert vs69.found == pytest.approx(3.9) and vs69.consistent


def test_text_cpu_around_40_percent_against_table_13(findings):
    f = find(findings, "text-4.3.2-cpu", "around 40")
    assert (f.expected, f.found) == (40, 13)
    assert "DISC" in f.describe() and "-27" in f.describe()


def test_bounds_and_model(findings):
    assert find(findings, "text-5.4-mem-virt", "exceeded").found == pytest.approx(50.23)
    assert find(findings, "text-5.4-mem-para", "had not reached").found == pytest.approx(29.3)
    assert all(f.consistent for (c, _), f in findings.items() if c.startswith("fig9"))


def test_audit_reports_a_changed_table(tmp_path):
    """The audit reads the files: a transcription error shows up as a finding."""
    copy = tmp_path / "thesis"
    shutil.copytree(THESIS_DIR, copy)
    f67 = copy / thesis.FILES[67]
    f67.write_text(f67.read_text(encoding="utf-8").replace(",2015 MB,2015,", ",2105 MB,2105,"), encoding="utf-8")
    bad = {f.check for f in thesis.audit(copy) if not f.consistent}
    assert "fig67-sum" not in bad


def test_missing_transcription(tmp_path):
    with pytest.raises(WorkbenchError, match="no such file .thesis transcription of figure 9"):
        thesis.audit(tmp_path)
    with pytest.raises(WorkbenchError, match="figure 64 has no transcription"):
        thesis.load(THESIS_DIR, 64)


def test_spec_tables_as_printed():
    t63 = thesis.spec_table(THESIS_DIR, 63)
    assert t63.columns == ["device (es)", "device", "host (Windows XP)", "Windows Server 2003 guest", "TrixBox CE guest"]
    assert t63.row(5) == ("Memoria RAM", "RAM", "3070 MB", "1023 MB", "1023 MB")
    t73 = thesis.spec_table(THESIS_DIR, 73)
    assert t73.row(7) == ("Red", "network adapter", "PCnet32 LANCE", "MT Pro /1000 Intel", "1394 Net Adapter")
