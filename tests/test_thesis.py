"""The audit of the thesis tables: what it finds, with sizes."""
import shutil

import polars as pl
import pytest

from workbench import thesis
from workbench.errors import WorkbenchError

from .conftest import SEED, THESIS_DIR

SEED_TEXT = " ".join(SEED.read_text(encoding="utf-8").split())  # whitespace as in one line


@pytest.fixture(scope="module")
def findings():
    return {(f.check, f.description): f for f in thesis.audit(THESIS_DIR)}


def find(findings, check, text):
    hits = [f for (c, d), f in findings.items() if c == check and text in d]
    assert len(hits) == 1, (check, text, hits)
    return hits[0]


def test_audit_counts(findings):
    assert len(findings) == 49
    bad = sorted(f.check for f in findings.values() if not f.consistent)
    assert bad == sorted([
        "fig67-percent", "fig67-sum", "text-4.2.1-bw", "text-4.2.1-latency2", "text-4.3.2-cpu",
        # from the read of §2 and §3.2-5.4 against figures 63-79 (issue 13)
        "spec-memory-speed", "spec-cores", "spec-host-nic", "def-para-devices", "text-3.3-xp-memory",
        "text-5.4-mem-para-sum", "fig73-74-guest-memory", "text-5.4-cpu-order",
        "host-os", "def-para-guest", "def-para-hw", "def-para-hw-5.5", "def-full-virt", "conclusion-io",
        "fig-35-twice", "fig-57-58"])


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


def test_host_hardware_across_sections(findings):
    speed = find(findings, "spec-memory-speed", "DDR2-800")
    assert (speed.expected, speed.found, speed.difference, speed.unit) == (800, 653, -147, "MT/s")
    assert "Dual Channel DDR2-653 SDRAM" in speed.description and not speed.consistent
    # EVEREST agrees with itself: DDR2-653 = 2 x 326.5 MHz
    assert find(findings, "spec-memory-type", "2 x memory bus").consistent
    ram = find(findings, "spec-ram-3.2", "3072 MB")
    assert (ram.expected, ram.found, ram.consistent) == (3072, 3070, True)
    cores = find(findings, "spec-cores", "more than two cores")
    assert (cores.expected, cores.found, cores.relation, cores.consistent) == (2, 2, ">", False)
    nic = find(findings, "spec-host-nic", "same host")
    assert (nic.relation, nic.against, nic.expected, nic.difference) == ("≠", "PCnet32 LANCE", None, None)
    assert "NVIDIA nForce Networking" in nic.description and "nForce 590 SLI" in nic.quote
    devices = find(findings, "def-para-devices", "I/O rings")
    assert "MT PRO/1000 de Intel, 1394 Net Adapter" in devices.description


def test_memory_claims_against_the_figures(findings):
    xp = find(findings, "text-3.3-xp-memory", "350 MB")
    assert (xp.expected, xp.found, xp.difference, xp.tolerance) == (350, 556, 206, 50)
    both = find(findings, "text-5.4-mem-para-sum", "on top")
    assert (both.expected, both.found, both.consistent) == (40, pytest.approx(40.69), False)
    given = find(findings, "fig73-74-guest-memory", "1 GB each")
    assert (given.expected, given.found, given.difference, given.consistent) == (2048, 900, -1148, False)


def test_cpu_claims_against_figure_65(findings):
    order = find(findings, "text-5.4-cpu-order", "handles the CPU better")
    assert (order.expected, order.found, order.relation, order.consistent) == (13, 25, "<", False)
    peak = find(findings, "text-4.2.2-peak", "at times exceeds 50")
    assert (peak.expected, peak.found, peak.consistent) == (50, 51, True)


def test_contradictions_quote_both_passages_with_pages(findings):
    para = find(findings, "def-para-guest", "Windows Server 2003")
    assert para.quote.startswith("El código fuente del kernel invitado debe modificarse")
    assert para.pages == "pp. 35, 76" and not para.consistent
    assert "«Los pasos para la instalación de ambos sistemas" in para.describe()
    assert find(findings, "host-os", "Windows XP").pages == "pp. 50, 70"
    assert find(findings, "conclusion-io", "I/O").section == "7, 5.4"
    numbering = find(findings, "fig-57-58", "numbered 58")
    assert (numbering.quote, numbering.against, numbering.pages) == (
        "En la figura 57 observamos que para la configuración de la red", "Figura 58: Elección de red.", "p. 73")


def test_every_quote_is_in_the_thesis(findings):
    """Quotes are data about the text: each is found verbatim (whitespace aside), and
    each number a claim states is printed in its quote."""
    quotes = [c.quote for c in thesis.CLAIMS] + [q for f in findings.values() for q in (f.quote, f.against) if q]
    missing = [q for q in quotes if " ".join(q.split()) not in SEED_TEXT and q != "PCnet32 LANCE"]
    assert missing == []
    for claim in thesis.CLAIMS:
        for _, number in claim.values:
            assert f"{number:g}" in claim.quote or {2: " dos "}.get(number, "-") in claim.quote, claim
    assert len({c.key for c in thesis.CLAIMS}) == len(thesis.CLAIMS)


def test_pages_from_the_table_of_contents():
    assert thesis.pages("4.2.1") == "p. 80"
    assert thesis.pages("4.3, 4.3.1") == "p. 85"
    assert thesis.pages("9.9") == ""
    assert thesis.CLAIM["final"].pages == "p. 95"


def test_findings_frame_keeps_quotes_and_empty_sizes(findings):
    frame = thesis.findings_frame(list(findings.values()))
    assert frame.height == 49
    quoted = frame.filter(pl.col("relation") == "≠")
    assert quoted.height == 10
    assert quoted["expected"].null_count() == 10 and quoted["quote"].str.len_chars().min() > 10


def test_audit_names_a_memory_type_without_speed(tmp_path):
    copy = tmp_path / "thesis"
    shutil.copytree(THESIS_DIR, copy)
    f69 = copy / thesis.FILES[69]
    f69.write_text(f69.read_text(encoding="utf-8").replace("DDR2-653 SDRAM", "DDR2 SDRAM"), encoding="utf-8")
    with pytest.raises(WorkbenchError, match=r"fig. 69 Memory Type 'Dual Channel DDR2 SDRAM \(5-5-5-15 CR2\)' "
                                             r"names no DDR2-NNN speed"):
        thesis.audit(copy)
