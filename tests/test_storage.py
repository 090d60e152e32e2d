"""The workbench's own Parquet: one metadata document, atomic writes, clear errors,
and files written by the previous version (one key per producer) still read."""
import json
import os

import polars as pl
import pyarrow.parquet as pq
import pytest

import workbench
from workbench import capture, experiment, probe, readers, schema, storage
from workbench.errors import ParseError, SchemaError, WorkbenchError
from workbench.readers import capture as fmt

from .conftest import FIXTURES, THESIS_MANIFEST

FIG69 = "thesis/fig69_everest_cache_memory.txt"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_round_trip_with_every_section(tmp_path, thesis_table):
    document = {"sources": {FIG69: {"cpu_type": "Athlon", "stepping": 2}},
                "producer": {"name": "workbench-test", "version": "0.1.0"},
                "machine": {"hostname": "h", "caches": [{"level": "L1", "size": 65536}]},
                "settings": {"trials": 3, "quick": True},
                "events": [{"type": "stage", "t": 0.0, "stage": "idle"}]}
    out = storage.write_table(thesis_table, tmp_path / "sub" / "t.parquet", metadata=document)
    assert out == tmp_path / "sub" / "t.parquet"
    assert [p.name for p in out.parent.iterdir()] == ["t.parquet"]  # no temporary left
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()  # the user's umask, not mkstemp's 0600
    assert storage.read_table(out).equals(thesis_table)
    back = storage.read_metadata(out)
    assert back == {**document, "sources": {FIG69: {"cpu_type": "Athlon", "stepping": "2"}}}  # sources: strings
    # one key in the file, whatever the sections
    assert set((pq.read_metadata(out).metadata or {})) == {b"workbench", b"ARROW:schema"}
    assert list(back) == list(storage.SECTIONS)  # written in a fixed order


def test_write_table_is_atomic_and_round_trips(tmp_path, thesis_table):
    out = storage.write_table(thesis_table, tmp_path / "sub" / "thesis.parquet")
    assert sorted(p.name for p in out.parent.iterdir()) == ["thesis.parquet"]  # no temporary left
    back = storage.read_table(out)
    assert back.equals(thesis_table)


def test_text_columns_are_dictionary_pages_on_disk_and_strings_in_memory(tmp_path, thesis_table):
    out = storage.write_table(thesis_table, tmp_path / "t.parquet", validated=True)
    meta = pq.read_metadata(out)
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    metric = meta.row_group(0).column(names.index("metric"))
    assert "RLE_DICTIONARY" in metric.encodings and metric.has_dictionary_page
    back = storage.read_table(out)
    assert back.schema == schema.TABLE_SCHEMA and back.equals(thesis_table)


def test_write_table_refuses_an_invalid_frame_and_leaves_nothing(tmp_path, thesis_table):
    bad = thesis_table.with_columns(unit=pl.lit("MB", dtype=pl.Categorical))
    with pytest.raises(SchemaError, match="column 'unit'"):
        storage.write_table(bad, tmp_path / "bad.parquet")
    assert list(tmp_path.iterdir()) == []


def test_read_table_on_a_file_that_is_not_parquet_quotes_it(tmp_path):
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(ParseError, match=r"junk.parquet:1: expected a Parquet measurement table "
                                         r"\(starting with b'PAR1'\), found b'not parquet'"):
        storage.read_table(junk)


def test_the_optional_flag_column_is_kept(tmp_path, thesis_table):
    flagged = thesis_table.with_columns(flag=pl.lit("steal 12 % > 5 %", dtype=pl.Categorical))
    out = storage.write_table(flagged, tmp_path / "flagged.parquet")
    back = storage.read_table(out)
    assert back.equals(schema.validate(flagged)) and set(back["flag"]) == {"steal 12 % > 5 %"}
    assert readers.read(out)["flag"].to_list() == back["flag"].to_list()


def test_a_table_without_metadata_has_an_empty_document(tmp_path, thesis_table):
    out = storage.write_table(thesis_table, tmp_path / "t.parquet")
    assert storage.read_metadata(out) == {}
    assert b"workbench" not in (pq.read_metadata(out).metadata or {})


@pytest.mark.parametrize("metadata, message", [
    ({"colour": {}}, "metadata section 'colour' is not one of sources, producer, machine, settings, events"),
    ({"sources": {"elsewhere.txt": {"a": "b"}}}, "metadata for 'elsewhere.txt', which is no source_file of the table"),
    ({"machine": ["x"]}, "metadata section 'machine' must be a dict, found list"),
    ({"settings": {"when": object()}}, "metadata cannot be stored as JSON"),
])
def test_malformed_metadata_is_refused_before_anything_is_written(tmp_path, thesis_table, metadata, message):
    with pytest.raises(WorkbenchError, match=message):
        storage.write_table(thesis_table, tmp_path / "t.parquet", metadata=metadata)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_text_and_bytes(tmp_path):
    assert storage.atomic_write(tmp_path / "a" / "x.txt", "é\n").read_bytes() == "é\n".encode()
    storage.atomic_write(tmp_path / "a" / "x.txt", b"\x00\x01")  # replaces
    assert (tmp_path / "a" / "x.txt").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.txt"]


def test_a_failed_write_is_one_line_and_leaves_no_temporary(tmp_path, thesis_table, monkeypatch):
    # the parent is a file: the folder cannot be created
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkbenchError, match=r"^cannot write .*file/t\.parquet: a file stands where a folder of its "
                                              r"path should be$"):
        storage.write_table(thesis_table, tmp_path / "file" / "t.parquet")
    # the rename fails after the temporary file was written (e.g. a full disk, EXDEV)
    def refuse(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(WorkbenchError, match=r"^cannot write .*t\.parquet: No space left on device$") as info:
        storage.write_table(thesis_table, tmp_path / "out" / "t.parquet")
    assert "\n" not in str(info.value)
    assert list((tmp_path / "out").iterdir()) == []  # the temporary is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "out"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder(tmp_path, thesis_table):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(WorkbenchError, match=r"cannot write .*ro/t\.parquet: Permission denied"):
            storage.write_table(thesis_table, folder / "t.parquet")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_reading_what_is_not_a_workbench_table_is_one_line_naming_the_file(tmp_path, thesis_table):
    with pytest.raises(WorkbenchError, match=r"^.*missing\.parquet: no such file$"):
        storage.read_table(tmp_path / "missing.parquet")
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    for read in (storage.read_table, storage.read_metadata):
        with pytest.raises(ParseError, match=r"junk\.parquet:1: expected a Parquet measurement table "
                                             r"\(starting with b'PAR1'\), found b'not parquet'"):
            read(junk)
    good = storage.write_table(thesis_table, tmp_path / "t.parquet")
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-100])
    for read in (storage.read_table, storage.read_metadata):
        with pytest.raises(ParseError, match=r"cut\.parquet: Parquet footer: expected a complete Parquet file ending "
                                             r"in b'PAR1', found .* \(truncated or still being written\?\)$"):
            read(cut)
    other = tmp_path / "other.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(other)
    with pytest.raises(ParseError, match=r"other\.parquet: Parquet schema: expected the measurement-table columns, "
                                         r"found missing experiment"):
        storage.read_table(other)
    damaged = tmp_path / "damaged.parquet"
    data = bytearray(good.read_bytes())
    data[-8:-4] = b"\xff\xff\xff\x7f"  # footer length past the file's start
    damaged.write_bytes(bytes(data))
    with pytest.raises(ParseError, match=r"damaged\.parquet: Parquet (data|footer): expected a readable Parquet file"):
        storage.read_table(damaged)


# --------------------------------------------------------------------------- previous version

def _write_old(table: pl.DataFrame, path, keys: dict[str, str]):
    """A file as the previous version wrote it: one Parquet key per producer."""
    arrow = table.to_arrow()
    pq.write_table(arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), **keys}), path)
    return path


def test_files_of_the_previous_version_still_read(tmp_path, thesis_table):
    sources = {FIG69: {"cpu_type": "DualCore AMD Athlon 64 X2 5200+"}}
    ingested = _write_old(thesis_table, tmp_path / "ingest.parquet", {"workbench.sources": json.dumps(sources)})
    assert storage.read_metadata(ingested) == {"sources": sources}
    parsed = readers.read_file(ingested)
    assert parsed.table.height == 77 and parsed.sources == sources and parsed.metadata == {}
    assert parsed.by_source() == sources

    probe_doc = {"format": "workbench-probe", "version": 1, "machine": {"hostname": "h", "caches": []},
                 "levels": [{"name": "L1", "size": 16384, "rule": "half of L1"}],
                 "settings": {"trials": 3, "threads": 2}}
    old_probe = _write_old(thesis_table, tmp_path / "probe.parquet", {"workbench-probe": json.dumps(probe_doc)})
    assert storage.read_metadata(old_probe) == {
        "producer": {"name": "workbench-probe", "version": 1}, "machine": probe_doc["machine"],
        "settings": {"trials": 3, "threads": 2, "levels": probe_doc["levels"]}}
    assert probe.read_metadata(old_probe) == probe_doc
    assert readers.read_file(old_probe).metadata == {"machine.hostname": "h", "machine.caches": "[]",
                                                     "probe.trials": "3", "probe.threads": "2",
                                                     "probe.levels": json.dumps(probe_doc["levels"])}

    now = capture.convert(FIXTURES / "capture" / "good.capture.jsonl", tmp_path / "new_capture.parquet")
    captured = fmt.load(now)
    old = {"header": captured.header, "events": captured.events}
    old_capture = _write_old(storage.read_table(now), tmp_path / "capture.parquet",
                             {"workbench-capture": json.dumps(old)})
    again = fmt.load(old_capture)
    assert (again.header, again.events) == (captured.header, captured.events)
    assert again.table.equals(captured.table)
    assert readers.read_file(old_capture).metadata == readers.read_file(now).metadata
    assert readers.read_file(old_capture).metadata["machine.cpu_model"] == "Intel(R) Xeon(R) Processor"
    assert storage.read_metadata(old_capture) == storage.read_metadata(now)  # the same document


def test_the_collected_table_of_workbench_run_before_this_layer_reads(tmp_path, thesis_table):
    run = {"plan": "p.toml", "seed": 7, "orders": [["a", "b"]], "trials": [{"round": 1, "condition": "a"}]}
    out = _write_old(thesis_table, tmp_path / "run.parquet", {"workbench-run": json.dumps(run)})
    assert storage.read_metadata(out) == {"producer": {"name": "workbench-run"},
                                          "settings": {"plan": "p.toml", "seed": 7, "orders": [["a", "b"]]},
                                          "events": [{"round": 1, "condition": "a"}]}


def test_free_form_keys_of_the_previous_version_become_settings(tmp_path, thesis_table):
    out = _write_old(thesis_table, tmp_path / "t.parquet", {"producer": "test"})
    assert storage.read_metadata(out) == {"settings": {"producer": "test"}}


def test_a_damaged_legacy_key_names_the_file(tmp_path, thesis_table):
    out = _write_old(thesis_table, tmp_path / "bad.parquet", {"workbench-probe": "{not json"})
    with pytest.raises(ParseError, match=r"bad\.parquet: Parquet metadata: expected the JSON a previous workbench "
                                         r"version wrote"):
        storage.read_metadata(out)


# --------------------------------------------------------------------------- one way to open

def test_open_a_manifest_or_a_stored_table(tmp_path):
    from_manifest = workbench.open(THESIS_MANIFEST)
    assert (from_manifest.baseline, from_manifest.title) == ("virtualized", experiment.load(THESIS_MANIFEST).title)
    assert from_manifest.table.height == 77
    assert list(from_manifest.metadata["sources"]) == [FIG69]
    out = storage.write_table(from_manifest.table, tmp_path / "thesis.parquet", metadata=from_manifest.metadata)
    stored = workbench.open(out)
    assert (stored.baseline, stored.title) == (None, "thesis")
    assert stored.table.equals(from_manifest.table) and stored.metadata == from_manifest.metadata
    with pytest.raises(WorkbenchError, match="nothing.parquet: no such file"):
        workbench.open(tmp_path / "nothing.parquet")


def test_top_level_names():
    assert workbench.read_table is storage.read_table and workbench.write_table is storage.write_table
    assert workbench.read is readers.read and workbench.read_file is readers.read_file
    assert workbench.open is experiment.open and "open" not in workbench.__all__  # no shadowed builtin


def test_storage_imports_only_the_layers_below_it():
    # DESIGN.md §2: errors -> schema -> storage / readers -> experiment -> ...
    import ast
    import sys

    tree = ast.parse(open(storage.__file__, encoding="utf-8").read())
    own, outside = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            own |= {node.module} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            outside.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            outside |= {a.name.split(".")[0] for a in node.names}
    assert own <= {"errors", "schema"}
    assert outside - set(sys.stdlib_module_names) <= {"polars", "pyarrow"}


def test_files_are_replaced_atomically_in_one_place():
    # Every file the workbench writes whole goes through storage.atomic_write. The two
    # other renames write what cannot be held in memory first: a download streamed to
    # disk while hashed (xen_fetch), gcc's output (workloads/_build.py for STREAM and vbench,
    # lab/images.py), and a whole folder put in place at once (lab/__init__.py: a shipped run).
    from pathlib import Path

    package = Path(storage.__file__).parent
    renaming = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py")
                      if "os.replace(" in p.read_text(encoding="utf-8"))
    assert renaming == ["lab/__init__.py", "lab/images.py", "storage.py", "workloads/_build.py", "xen_fetch.py"]


def test_a_section_of_the_wrong_type_names_the_file_and_section(tmp_path, thesis_table):
    out = _write_old(thesis_table, tmp_path / "typed.parquet", {"workbench": json.dumps({"producer": "x"})})
    with pytest.raises(ParseError, match=r"typed\.parquet: Parquet metadata 'workbench', section 'producer': "
                                         r"expected a JSON object, found 'x'"):
        storage.read_metadata(out)


def test_table_and_metadata_come_from_one_read(tmp_path, thesis_table):
    out = storage.write_table(thesis_table, tmp_path / "t.parquet", metadata={"settings": {"k": "v"}})
    table, metadata = storage.read_table_and_metadata(out)
    assert table.equals(storage.read_table(out)) and metadata == storage.read_metadata(out) == {"settings": {"k": "v"}}
    with pytest.raises(WorkbenchError, match=r"gone\.parquet: no such file"):
        storage.read_table_and_metadata(tmp_path / "gone.parquet")
