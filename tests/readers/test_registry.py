"""The reader contract: one parse gives the table and the file's metadata (DESIGN.md §6)."""
import dataclasses
import inspect
import warnings

import pytest

from workbench import cli, experiment, readers, storage
from workbench.readers.everest import report_html

from ..conftest import DATA, FIXTURES, THESIS_DIR, THESIS_MANIFEST

EV = FIXTURES / "everest"
XEN = FIXTURES / "xen-rrd"
EN_FULL = EV / "aida64_v5.95_en_html_report_allpages_FULL.htm"

# One real file per registered format that reads (the XML report is refused by design),
# with a metadata value the file states, or None for formats that state nothing.
FILES = [
    (THESIS_DIR / "fig65_cpu_per_core.csv", "thesis", None),
    (FIXTURES / "capture" / "good.capture.jsonl", "capture", ("machine.cpu_model", "Intel(R) Xeon(R) Processor")),
    (EN_FULL, "everest-report-html", ("computer", "DESKTOP-CPLKED3")),
    (EV / "constructed" / "aida64_v5.75_pt-BR_mini_report.mht", "everest-report-mhtml",
     ("computer", "LAPTOP-1FJM50LV")),
    (EV / "aida64_v5.98_en_text_report_hardware_pages.txt", "everest-report-text", ("computer", "DESKTOP-OS1JTF2")),
    (EV / "aida64_v7.65_sensor_log_CSV__sample_quoted_in_TS_source.csv", "everest-csvlog",
     ("motherboard", "Acer Aspire A514-56P")),
    (EV / "aida64_shared_memory_AIDA64_SensorValues_xml_sample_2011__lcdhost.xml", "everest-sensors",
     ("uptime", "03:25:30")),
    (THESIS_DIR / "fig69_everest_cache_memory.txt", "everest-cachemem", ("motherboard", "Asus M2N32-SLI Deluxe")),
    (XEN / "xs62writer_rrd_updates_host_5s.xml", "xen-rrd-updates", None),
    (XEN / "xs62writer_vm_rrd_dump.xml", "xen-rrd-dump", None),
    (XEN / "emulated_rrd2csv_output_from_xs62writer.csv", "xen-rrd2csv", None),
    (DATA / "felter2014" / "vm.log", "stream", None),
    (FIXTURES / "vbench" / "emulated_quick_console.out", "vbench", ("environment", "emulated")),
    (FIXTURES / "pdh-csv" / "perfmon_win_desktop_head40.csv", "pdh-csv", ("time_zone", "Sri Lanka Standard Time")),
    (next((FIXTURES / "azure-noise" / "good").rglob("unit=ns.csv")), "azure-noise", ("partition.unit", "ns")),
    (FIXTURES / "peers" / "hyperfine_sort_vs_gzip.json", "hyperfine", ("command.2", "gzip -c")),
    (FIXTURES / "peers" / "pyperf_sorted_ascending.json", "pyperf", ("pyperf.perf_version", "2.11.0")),
    (FIXTURES / "peers" / "phoronix_composite_constructed.xml", "phoronix", ("systems", "native, kvm")),
    (FIXTURES / "benchmarks" / "sysbench_memory_pkb.txt", "sysbench", ("sysbench_version", "1.0.11")),
    (FIXTURES / "benchmarks" / "lmbench3_summary_pkb_azure.txt", "lmbench", ("hostname", "pkb-72796bca-0")),
    (DATA / "felter2014" / "randomaccess" / "native.one-socket.log", "gups", ("updates", "1000000000")),
    (DATA / "felter2014" / "linpack" / "docker.log", "linpack", ("cores", "16")),
    (FIXTURES / "benchmarks" / "fio-3.33_json_here.json", "fio", ("fio_version", "fio-3.33")),
    (DATA / "felter2014" / "network" / "network.csv", "results-csv", None),
    (FIXTURES / "benchmarks" / "mlc-3.10_kuleuven_icelake.txt", "mlc", ("version", "v3.10")),
    (FIXTURES / "sysstat" / "expected.sadf-j", "sysstat", ("release", "1.2.3-TEST")),
    (FIXTURES / "dstat" / "felter_kvm_head40.csv", "dstat", ("session1.host", "arldcn24")),
]


@pytest.fixture
def counted(monkeypatch):
    """Each registered format's parse (and pieces, for a reader that has them) wrapped to
    count its calls, by format name."""
    calls: dict[str, int] = {}
    for name, fmt in readers.formats().items():
        def parse(data, *, _parse=fmt.parse, _name=name, **kw):
            calls[_name] = calls.get(_name, 0) + 1
            return _parse(data, **kw)
        parse.__signature__ = inspect.signature(fmt.parse)  # options are checked against it
        pieces = None
        if fmt.pieces is not None:
            def pieces(data, *, _pieces=fmt.pieces, _name=name, **kw):
                calls[_name] = calls.get(_name, 0) + 1
                return _pieces(data, **kw)
        monkeypatch.setitem(readers._FORMATS, name, dataclasses.replace(fmt, parse=parse, pieces=pieces))
    return calls


def test_every_format_in_the_list_is_a_registered_one():
    assert {name for _, name, _ in FILES} == set(readers.formats()) - {"workbench-table", "everest-xml-report"}


@pytest.mark.parametrize("path, name, stated", FILES, ids=[n for _, n, _ in FILES])
def test_read_file_parses_once_and_gives_table_and_metadata(counted, path, name, stated):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = readers.read_file(path)
        assert counted == {name: 1}
        assert parsed.table.equals(readers.read(path))
    assert isinstance(parsed, readers.Parsed)
    if stated is None:
        assert parsed.metadata == {}
    else:
        assert parsed.metadata[stated[0]] == stated[1]


def test_the_html_report_is_read_once_not_again_for_its_metadata(monkeypatch):
    modes = []
    real = report_html.read

    def read(data, **kw):
        modes.append(kw.get("strict", True))
        return real(data, **kw)

    monkeypatch.setattr(report_html, "read", read)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = readers.read_file(EN_FULL)
    assert modes == [True]
    # the same metadata the separate metadata function (now read_header) gives
    assert parsed.metadata == report_html.read_header(EN_FULL.read_bytes(), source=str(EN_FULL))


def test_ingest_and_manifests_parse_each_file_once(counted, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["ingest", str(EN_FULL), "--label", "condition=native", "-o", str(tmp_path / "e.parquet")]) == 0
    assert counted == {"everest-report-html": 1}
    assert storage.read_metadata(tmp_path / "e.parquet")["sources"][str(EN_FULL)]["computer"] == "DESKTOP-CPLKED3"
    counted.clear()
    exp = experiment.load(THESIS_MANIFEST)
    exp.read()
    assert sum(counted.values()) == len(exp.inputs) == 7


def test_a_reader_that_returns_a_bare_table_is_named(monkeypatch):
    fmt = readers.formats()["thesis"]
    monkeypatch.setitem(readers._FORMATS, "thesis", dataclasses.replace(
        fmt, parse=lambda data, *, source: fmt.parse(data, source=source).table))
    with pytest.raises(TypeError, match=r"reader 'thesis': parse\(\) must return readers.Parsed\(table, metadata\), "
                                        r"returned DataFrame"):
        readers.read(THESIS_DIR / "fig65_cpu_per_core.csv")
