"""The workbench's own Parquet tables, read back like any input (manifests included)."""
import pytest

from workbench import experiment, readers, storage
from workbench.errors import ParseError, WorkbenchError


def test_a_written_table_is_read_back_with_labels_overriding(tmp_path, thesis_table):
    out = storage.write_table(thesis_table, tmp_path / "t.parquet",
                              metadata={"producer": {"name": "workbench-test"}, "machine": {"cpu": "Athlon"},
                                        "settings": {"trials": 3}})
    assert readers.detect(out).name == "workbench-table"
    back = readers.read(out, condition="native", run=3)
    assert back.height == thesis_table.height
    assert back.select("condition", "run").unique().rows() == [("native", 3)]
    assert back["hypervisor"].drop_nulls().unique().sort().to_list() == ["Citrix XenServer 6.2", "VMware Workstation 10.0.3"]
    # what the table says about itself, flattened as every reader's metadata is (one parse)
    parsed = readers.read_file(out)
    assert parsed.metadata == {"machine.cpu": "Athlon", "test.trials": "3"} and parsed.sources == {}
    assert parsed.table.equals(readers.read(out))
    import os
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # the user's umask, not mkstemp's 0600


def test_a_table_in_a_manifest(tmp_path, thesis_table):
    storage.write_table(thesis_table, tmp_path / "t.parquet")
    (tmp_path / "m.toml").write_text('[experiment]\nid = "again"\n\n[conditions.virtualized]\n\n[conditions.paravirtualized]\n\n'
                                     '[[inputs]]\npath = "t.parquet"\n')
    t = experiment.load(tmp_path / "m.toml").table()
    assert t.height == 77 and t["experiment"].unique().to_list() == ["again"]


def test_truncated_and_foreign_parquet(tmp_path, thesis_table):
    out = storage.write_table(thesis_table, tmp_path / "t.parquet")
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(out.read_bytes()[:-100])
    with pytest.raises(ParseError, match="Parquet footer: expected a complete Parquet file"):
        readers.read(cut)
    import polars as pl
    other = tmp_path / "other.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(other)
    with pytest.raises(ParseError, match="Parquet schema: expected the measurement-table columns, found missing experiment"):
        readers.read(other)


def test_unwritable_output_is_one_line(tmp_path, thesis_table):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkbenchError, match="cannot write .*file/t.parquet: a file stands where a folder of its path should be"):
        storage.write_table(thesis_table, tmp_path / "file" / "t.parquet")
