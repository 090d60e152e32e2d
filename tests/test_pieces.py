"""Readers that give their table in pieces, and `workbench ingest` writing them as they
come (issue 17: peak memory follows the piece, not the file; issue 18 item 6).

Pieces are made small here (the bounds are module constants) so that the real fixtures
give many of them; the tables must be those of the one-piece readers, row for row.
"""
import warnings

import polars as pl
import pytest

from workbench import cli, experiment, readers, storage
from workbench.errors import ParseError, SchemaError, WorkbenchError
from workbench.readers import xen_rrd
from workbench.readers.everest import csvlog

from .conftest import DATA, FIXTURES

DUMP = FIXTURES / "xen-rrd" / "real_vm_rrd_dump_xs60_nova_full.xml"
UPDATES = FIXTURES / "xen-rrd" / "xs62writer_rrd_updates_host_and_vm_5s.xml"
CSVLOG = FIXTURES / "everest" / "aida64_v7.65_sensor_log_CSV__sample_quoted_in_TS_source.csv"
LOG_OPTIONS = {"timezone": "Europe/Madrid", "date_order": "MDY"}


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of about 40 table rows; AIDA64 logs parsed one line range at a time."""
    monkeypatch.setattr(readers, "PIECE_ROWS_MIN", 40)
    monkeypatch.setattr(readers, "PIECE_ROWS_MAX", 40)
    monkeypatch.setattr(csvlog, "RANGE_BYTES", (1, 1))


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def pieces(path, **kwargs):
    return quiet(lambda: list(readers.read_pieces(path, condition="x", **kwargs)))


@pytest.mark.parametrize("path, kind", [(DUMP, "dump"), (UPDATES, "updates")])
def test_an_rrd_in_pieces_is_the_whole_table(small_pieces, path, kind):
    """Whole series per piece, in the order of the one-piece table (to_frame with no bound)."""
    got = pieces(path)
    _, blocks = xen_rrd.decode(path.read_bytes(), source=str(path), kind=kind)
    whole = quiet(xen_rrd.to_frame, blocks, source_name=f"xen-rrd-{kind}", source=str(path))
    series = whole.select("guest", "host", "aggregate", "interval", "metric", "component").n_unique()
    assert len(got) >= series // 10 > 1
    joined = pl.concat([p.table for p in got])
    assert joined.height == whole.height
    given = ["guest", "time", "interval", "aggregate", "metric", "component", "value", "unit", "source"]
    assert joined.select(given).equals(whole.select(given))
    # a piece holds whole series: no series is cut between two pieces
    keys = ["guest", "host", "aggregate", "interval", "metric", "component"]
    owners = pl.concat([p.table.select(keys).unique().with_columns(piece=pl.lit(i)) for i, p in enumerate(got)])
    assert owners.group_by(keys).agg(pl.col("piece").n_unique()).get_column("piece").max() == 1


def test_a_sensor_log_in_pieces_is_the_whole_table(small_pieces):
    """One line range at a time through polars, one table row per (row, sensor)."""
    got = pieces(CSVLOG, options=LOG_OPTIONS)
    assert len(got) == 7  # 7 data rows, 5 sensors: 40 rows a piece -> one data row a piece
    assert {p.table.height for p in got} == {5}
    assert all(p.metadata["cpu_type"].startswith("2C+8c Intel Core i5-1335U") for p in got)
    wide, spec, *_ = quiet(csvlog._slow, CSVLOG.read_bytes(), source=str(CSVLOG), **LOG_OPTIONS)
    assert pl.concat([p.table for p in got])["value"].to_list() == [
        v for row in wide.select(list(spec)).iter_rows() for v in row]


def test_a_range_the_fast_reader_declines_is_read_line_by_line_from_there(small_pieces):
    """'5 ' (a trailing space) is a number to the line-by-line reader, not to polars: the
    ranges before it came from polars, the rest from the line-by-line reader, no row twice."""
    text = CSVLOG.read_text(encoding="utf-8").replace(",58,52,52,49,37", ",5 ,52,52,49,37")
    data = text.encode()
    got = quiet(lambda: list(csvlog.pieces(data, source="log.csv", rows=5, **LOG_OPTIONS)))
    wide, spec, *_ = quiet(csvlog._slow, data, source="log.csv", **LOG_OPTIONS)
    table = pl.concat([p.table for p in got])
    assert table.height == 7 * 5
    assert table.filter(pl.col("component") == "CPU")["value"].to_list() == [48, 54, 55, 48, 52, 5, 61]
    assert table.sort("time", "component", maintain_order=True)["time"].to_list() == \
        table.sort("time")["time"].to_list()


def test_ingest_writes_the_pieces_as_they_come_and_reads_back_the_same(small_pieces, tmp_path, capsys):
    out = tmp_path / "t.parquet"
    assert quiet(cli.main, ["ingest", str(DUMP), str(CSVLOG), "--label", "condition=x", "-o", str(out)]) == 0
    dump = quiet(readers.read, DUMP, condition="x")
    whole = pl.concat([dump, quiet(readers.read, CSVLOG, condition="x")])
    assert capsys.readouterr().out.startswith(f"2 file(s): {whole.height} rows, ")
    stored = storage.read_table(out)
    # the same rows; a log's rows come piece by piece (sensor after sensor within a
    # piece), not sensor after sensor over the whole log as the one-piece reader gives them
    key = ["source_file", "interval", "aggregate", "metric", "component", "time", "value"]
    assert stored.dtypes == whole.dtypes and stored.sort(key).equals(whole.sort(key))
    assert stored.head(dump.height).equals(dump)  # the dump's rows: in the same order
    sources = storage.read_metadata(out)["sources"]
    assert set(sources) == {str(CSVLOG)} and sources[str(CSVLOG)]["version"] == "AIDA64 v7.65.7400"


def test_an_error_in_a_late_piece_leaves_nothing(small_pieces, tmp_path, capsys):
    """The last row's CPU cell is no number: the pieces before it were already written to the
    temporary file, which goes; the error names the line (the line-by-line reader's)."""
    log = tmp_path / "log.csv"
    log.write_text(CSVLOG.read_text(encoding="utf-8").replace(",61,54,54,51,37", ",6x1,54,54,51,37"),
                   encoding="utf-8")
    out = tmp_path / "out" / "t.parquet"
    assert quiet(cli.main, ["ingest", str(log), "--option", "timezone=UTC", "-o", str(out)]) != 0
    assert f"{log}:15: expected a number in column 'CPU' (°C)" in capsys.readouterr().err
    assert not out.exists() and not any(out.parent.iterdir())
    # and through the library, the same error from the last piece
    with pytest.raises(ParseError, match=r"log.csv:15: expected a number in column 'CPU'"):
        pieces(log, options={"timezone": "UTC"})


def test_write_pieces_validates_each_piece_and_checks_the_document_at_the_end(tmp_path):
    good = quiet(readers.read, CSVLOG, condition="x", options=LOG_OPTIONS)
    out = tmp_path / "t.parquet"
    broken = good.with_columns(pl.lit(-1, dtype=pl.Int32).alias("run"))
    with pytest.raises(SchemaError, match="run >= 0"):
        storage.write_pieces(iter([good, broken]), out)
    with pytest.raises(WorkbenchError, match="metadata for 'elsewhere.csv', which is no source_file of the table"):
        storage.write_pieces(iter([good, good]), out, metadata=lambda: {"sources": {"elsewhere.csv": {"a": "b"}}})
    assert list(tmp_path.iterdir()) == []
    storage.write_pieces(iter([good.head(20), good.tail(15)]), out, metadata=lambda: {"producer": {"name": "t"}})
    assert storage.read_table(out).equals(good) and storage.read_metadata(out) == {"producer": {"name": "t"}}
    storage.write_pieces(iter([]), tmp_path / "empty.parquet")  # no piece: an empty table
    assert storage.read_table(tmp_path / "empty.parquet").height == 0


def test_piece_rows_follow_the_input_within_bounds():
    assert readers.piece_rows(0) == readers.PIECE_ROWS_MIN == 1 << 16
    assert readers.piece_rows(5 * readers.PIECE_BYTES_PER_ROW * (1 << 14)) == 5 << 14
    assert readers.piece_rows(1 << 40) == readers.PIECE_ROWS_MAX == 1 << 17


def test_a_manifest_is_ingested_in_pieces_as_read_whole(small_pieces, tmp_path, capsys):
    """xen-samples.toml (dumps and rrd_updates of the fixtures, [names], hypervisors): its
    pieces carry what the manifest adds, and together are Experiment.read's table."""
    manifest = DATA / "experiments" / "xen-samples.toml"
    exp = experiment.load(manifest)
    sources: dict = {}
    got = quiet(lambda: list(exp.pieces(sources)))
    whole, whole_sources = quiet(exp.read)
    assert len(got) > len(exp.inputs) and sources == whole_sources
    assert pl.concat(got).equals(whole)
    out = tmp_path / "x.parquet"
    assert quiet(cli.main, ["ingest", str(manifest), "-o", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"experiment 'xen-samples' ({len(exp.inputs)} inputs): {whole.height} rows")
    assert storage.read_table(out).equals(whole)
