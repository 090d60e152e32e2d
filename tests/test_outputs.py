"""The output guard and the command-line defects of issue 18 (items 3, 5, 9): each with its
minimal input and pinned message. No command writes over an input or an existing result
(unless --force), none leaves a temporary file, none ends in a traceback."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import cli, storage
from workbench.errors import WorkbenchError

from .conftest import DATA, FIXTURES, ROOT, THESIS_DIR

CSV = THESIS_DIR / "fig65_cpu_per_core.csv"
CAPTURE = FIXTURES / "capture" / "good.capture.jsonl"


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".part")) or ".tmp." in p.name)


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody can write into: chmod 555 for a user; for root (who ignores modes), a
    read-only tmpfs mounted for the test (skipped where the container may not mount)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if shutil.which("mount") is None:
        pytest.skip("root without mount(8): no read-only folder to test with")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"root cannot mount a read-only tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


# --------------------------------------------------------------------------- the guard itself

def test_guard_refuses_an_input_an_existing_file_a_directory_and_an_empty_name(tmp_path):
    data = tmp_path / "log.csv"
    data.write_text("x")
    with pytest.raises(WorkbenchError, match=r"log.csv: is an input of this command \(.*log.csv\); refusing to write "
                                             r"over it$"):
        storage.check_output(data, inputs=[data], force=True)
    with pytest.raises(WorkbenchError, match=r"log.csv: exists already; pass --force to replace it$"):
        storage.check_output(data)
    assert storage.check_output(data, force=True) == data
    with pytest.raises(WorkbenchError, match=r": is a directory, expected a file name$"):
        storage.check_output(tmp_path)
    with pytest.raises(WorkbenchError, match=r"^expected an output name, found an empty string$"):
        storage.check_output("")
    with pytest.raises(WorkbenchError, match=r"log.csv/x.parquet: .*log.csv is not a directory$"):
        storage.check_output(data / "x.parquet")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a").write_text("a")
    with pytest.raises(WorkbenchError, match=r"full: is not empty; expected a new or empty directory$"):
        storage.check_output(tmp_path / "full", directory=True)
    assert data.read_text() == "x"


def test_guard_refuses_a_read_only_folder_before_any_work(read_only):
    with pytest.raises(WorkbenchError, match=r"cannot write .*ro/sub/x.parquet: .*ro is not writable"):
        storage.check_output(read_only / "sub" / "x.parquet")


# --------------------------------------------------------------------------- commands

def test_ingest_never_replaces_its_input(tmp_path, capsys):
    log = tmp_path / "log.csv"
    shutil.copy(CSV, log)
    rc, _, err = run_cli(capsys, "ingest", log, "-o", log, "--force")
    assert rc == 2 and err == f"workbench ingest: error: {log}: is an input of this command ({log}); refusing to " \
                              "write over it\n"
    assert log.read_bytes() == CSV.read_bytes()


def test_ingest_and_capture_keep_an_existing_result_unless_force(tmp_path, capsys):
    old = tmp_path / "old.parquet"
    old.write_bytes(b"an earlier result")
    for args in (["ingest", CSV], ["capture", "--stage", "a=0.2", "--interval", "0.1"]):
        rc, _, err = run_cli(capsys, *args, "-o", old)
        assert rc == 2 and err.endswith(f"error: {old}: exists already; pass --force to replace it\n")
        assert old.read_bytes() == b"an earlier result"
    assert run_cli(capsys, "ingest", CSV, "-o", old, "--force")[0] == 0
    assert storage.read_table(old).height == 18
    assert leftovers(tmp_path) == []


def test_a_read_only_output_folder_is_one_line_before_any_work(read_only, capsys, monkeypatch):
    monkeypatch.setenv("WORKBENCH_XEN_PASSWORD", "x")
    for args in (["ingest", CSV, "-o", read_only / "x.parquet"],
                 ["capture", "-o", read_only / "c.parquet", "--stage", "a=0.2"],
                 ["probe", "--quick", "-o", read_only / "p.parquet"],
                 ["fetch-rrd", "http://127.0.0.1:9", "-o", read_only / "f"]):
        rc, out, err = run_cli(capsys, *args)
        assert rc == 2, err
        assert err.startswith(f"workbench {args[0]}: error: cannot write {read_only}/") and err.count("\n") == 1, err
        assert "is not writable" in err and "warm-up" not in err
    assert list(read_only.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["ingest", CSV, "--label", "run=2147483648", "-o", "{out}"],
     "workbench ingest: error: --label 'run=2147483648': run must be an integer from 0 to 2147483647\n"),
    (["ingest", CSV, "--label", "run=\uff11", "-o", "{out}"],
     "workbench ingest: error: --label 'run=１': run must be an integer from 0 to 2147483647\n"),
    (["ingest", CSV, "--label", "scope=moon", "-o", "{out}"],
     "workbench ingest: error: --label 'scope=moon': column 'scope': expected one of host, guest, control-domain, "
     "found 'moon'\n"),
    (["capture", "--label", "scope=moon", "-o", "{out}", "--stage", "a=5"],
     "workbench capture: error: --label 'scope=moon': column 'scope': expected one of host, guest, control-domain, "
     "found 'moon'\n"),
    (["probe", "--label", "condition= ", "-o", "{out}", "--quick"],
     "workbench probe: error: --label 'condition= ': column 'condition': expected a non-empty string, found ' '\n"),
    (["ingest", "{dir}.toml", "-o", "{out}"],
     "workbench ingest: error: {dir}.toml: manifest: is a directory, expected a TOML file\n"),
    (["compare", "{dir}.toml", "-q"], "workbench compare: error: {dir}.toml: manifest: is a directory, expected a "
                                      "TOML file\n"),
    (["audit", "--thesis-dir", CSV], f"workbench audit: error: {CSV}: is not a directory; expected the folder of "
                                     "the thesis transcription (data/thesis)\n"),
    (["fetch-rrd", "http://127.0.0.1:9", "-o", CSV], f"workbench fetch-rrd: error: {CSV}: exists and is not a "
                                                     "directory; expected a new or empty directory\n"),
    (["compare", DATA / "experiments" / "felter2014.toml", "--metric", "nope", "-q"],
     "workbench compare: error: `metrics`: 'nope' is not a metric of this table; its metrics: stream_copy_bw, "
     "stream_scale_bw, stream_add_bw, stream_triad_bw\n"),
])
def test_bad_arguments_are_one_line_and_exit_2_before_any_work(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.setenv("WORKBENCH_XEN_PASSWORD", "x")
    (tmp_path / "m.toml").mkdir()
    fill = {"{out}": str(tmp_path / "out.parquet"), "{dir}": str(tmp_path / "m")}

    def filled(text: str) -> str:
        for key, value in fill.items():
            text = text.replace(key, value)
        return text

    rc, out, err = run_cli(capsys, *(filled(str(a)) for a in args))
    assert (rc, err) == (2, filled(message))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.toml"]  # nothing written, nothing started


def test_a_closed_output_ends_quietly_with_141():
    """`workbench compare ... | head -1`: the reader leaves early; no BrokenPipeError traceback."""
    manifest = DATA / "experiments" / "felter2014.toml"
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "compare", str(manifest), "-q", "--format",
                             "text-verbose"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()  # read nothing: every write fails
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err and "BrokenPipe" not in err


def test_a_table_whose_metadata_is_nested_100000_deep_is_one_line(tmp_path, thesis_table):
    import polars as pl

    path = tmp_path / "deep.parquet"
    thesis_table.write_parquet(path, metadata={"workbench": "[" * 100_000})
    with pytest.raises(WorkbenchError, match=r"deep.parquet: Parquet metadata 'workbench': expected a JSON document, "
                                             r"found maximum recursion depth exceeded"):
        storage.read_table_and_metadata(path)
    assert pl.read_parquet(path).height == thesis_table.height
