"""The command line: exit codes and one-line errors, on real files."""
import subprocess
import sys

import polars as pl
import pytest

from workbench import cli, storage

from .conftest import DATA, FIXTURES, THESIS_DIR, THESIS_MANIFEST


def test_ingest_manifest(tmp_path, capsys):
    out = tmp_path / "thesis.parquet"
    assert cli.main(["ingest", str(THESIS_MANIFEST), "-o", str(out)]) == 0
    assert "experiment 'thesis-2015' (7 inputs): 77 rows, 9 metrics" in capsys.readouterr().out
    table = storage.read_table(out)
    lat = table.filter((pl.col("metric") == "mem_latency") & (pl.col("component") == "memory"))
    assert lat["value"].to_list() == pytest.approx([5.79e-08, 6.74e-08, 6.18e-08])


def test_ingest_files_with_labels(tmp_path, capsys):
    out = tmp_path / "cpu.parquet"
    rc = cli.main(["ingest", str(THESIS_DIR / "fig65_cpu_per_core.csv"), "--label", "condition=virtualized",
                   "--label", "run=2", "--label", "host=pc1", "-o", str(out)])
    assert rc == 0
    t = storage.read_table(out)
    assert t.height == 18
    assert t.select("condition", "run", "host", "experiment").unique().rows() == [("virtualized", 2, "pc1", "adhoc")]


def test_ingest_without_condition_says_so(tmp_path, capsys):
    assert cli.main(["ingest", str(THESIS_DIR / "fig65_cpu_per_core.csv"), "-o", str(tmp_path / "x.parquet")]) == 0
    assert "no --label condition" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["ingest", str(FIXTURES / "manifests" / "baseline_missing.toml"), "-o", "{out}"],
     "baseline_missing.toml: [experiment] baseline: baseline 'native' is not a declared condition"),
    (["ingest", str(FIXTURES / "manifests" / "missing_file.toml"), "-o", "{out}"],
     "missing_file.toml: input #2 (path = '../../../data/thesis/fig66_does_not_exist.csv'): file not found"),
    (["ingest", str(THESIS_DIR / "fig65_cpu_per_core.csv"), "--label", "colour=red", "-o", "{out}"],
     "unknown label 'colour'"),
    (["ingest", str(THESIS_DIR / "fig65_cpu_per_core.csv"), "--label", "run=first", "-o", "{out}"],
     "run must be an integer from 0 to 2147483647"),
    (["ingest", str(FIXTURES / "broken" / "fig65_bad_value.csv"), "-o", "{out}"],
     "fig65_bad_value.csv:3: expected a number (or nothing) in column 'value' (ASCII digits), found '5e3x'"),
    (["ingest", str(THESIS_DIR / "README.md"), "-o", "{out}"], "format not recognised"),
    (["ingest", str(DATA / "felter2014" / "vm.log"), "--option", "timezone=UTC", "-o", "{out}"],
     "format 'stream' takes no option 'timezone' (it takes none)"),
    (["ingest", str(DATA / "felter2014" / "vm.log"), "--option", "timezone", "-o", "{out}"],
     "--option 'timezone': expected KEY=VALUE"),
])
def test_errors_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "out.parquet"
    rc = cli.main([a.replace("{out}", str(out)) for a in args])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_audit_command(capsys):
    assert cli.main(["audit", "--thesis-dir", str(THESIS_DIR)]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("49 checks, 21 discrepancies")
    assert "found 2980 MB (difference -90 MB)" in out


def test_report_failure_exits_nonzero(tmp_path, capsys):
    cfg = tmp_path / "reports.toml"
    cfg.write_text(f'[[report]]\nname = "fails"\nnotebook = "{(FIXTURES / "notebooks" / "fails.ipynb").as_posix()}"\n')
    rc = cli.main(["report", "--config", str(cfg), "-o", str(tmp_path / "out"), "-q"])
    assert rc == 1
    captured = capsys.readouterr()
    assert "FAILED fails" in captured.out and "deliberate failure" in captured.err
    assert "FAILED" in (tmp_path / "out" / "index.html").read_text()


def test_console_script_runs_as_a_program(tmp_path):
    """The installed entry point, as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "workbench", "formats"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.splitlines()[0].split() == ["format", "suffixes", "reads"]
    lines = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()[1:]}
    from workbench import readers

    assert list(lines) == list(readers.formats())  # every format, in detection order
    assert lines["pdh-csv"][:2] == [".csv", ".blg.csv"] and lines["sysbench"][:3] == [".txt", ".log", ".res"]
    assert lines["sysstat"][:3] == [".csv", ".json", ".xml"] and lines["dstat"][0] == ".csv"
    proc = subprocess.run([sys.executable, "-m", "workbench", "ingest", str(FIXTURES / "manifests" / "no_id.toml"),
                           "-o", str(tmp_path / "o.parquet")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("workbench ingest: error: ") and "needs a non-empty string 'id'" in proc.stderr


def test_ingest_stores_file_metadata_and_prints_warnings_as_lines(tmp_path, capsys):
    out = tmp_path / "thesis.parquet"
    assert cli.main(["ingest", str(THESIS_MANIFEST), "-o", str(out)]) == 0
    assert "metadata of 1 file(s)" in capsys.readouterr().out
    meta = storage.read_metadata(out).get("sources", {})
    assert meta["thesis/fig69_everest_cache_memory.txt"]["motherboard"] == "Asus M2N32-SLI Deluxe"
    report = FIXTURES / "everest" / "aida64_v5.95_en_html_report_allpages_FULL.htm"
    assert cli.main(["ingest", str(report), "--label", "condition=native", "-o", str(tmp_path / "e.parquet")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("workbench ingest: warning: ") and "kept values outside the metric vocabulary" in err
    assert "Warning:" not in err  # no Python file:line prefix


def test_reingesting_a_stored_table_keeps_its_rows_sources_and_metadata(tmp_path, capsys):
    first = tmp_path / "thesis.parquet"
    assert cli.main(["ingest", str(THESIS_MANIFEST), "-o", str(first)]) == 0
    again = tmp_path / "again.parquet"
    assert cli.main(["ingest", str(first), "-o", str(again)]) == 0
    assert "note: no --label condition" not in capsys.readouterr().err  # the stored rows have theirs
    assert storage.read_table(again).equals(storage.read_table(first))
    assert storage.read_metadata(again).get("sources", {}) == storage.read_metadata(first).get("sources", {})



# --------------------------------------------------------------------------- conventions (issue 16)


def _commands():
    import argparse

    parser = cli._parser()

    def leaves(p, prefix=""):
        sub = next((a for a in p._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None:
            return {prefix.strip(): p}
        out = {}
        for name, child in sub.choices.items():
            out.update(leaves(child, f"{prefix} {name}"))
        return out

    return parser, leaves(parser)


def test_every_option_of_every_command_has_help_and_q_v():
    import argparse

    parser, commands = _commands()
    assert len(commands) >= 9
    for name, command in commands.items():
        options = {s for a in command._actions for s in a.option_strings}
        assert {"-q", "--quiet", "-v", "--verbose"} <= options, name
        for action in command._actions:
            assert action.help or isinstance(action, argparse._HelpAction), (name, action.dest)
        assert "130  interrupted" in command.format_help(), name
    assert "--no-progress" not in " ".join(parser.format_help() + c.format_help() for c in commands.values())


def test_version(capsys):
    from workbench import __version__

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"workbench {__version__}\n"


def test_help_imports_no_heavy_library():
    """`workbench --help` stays fast because it loads neither polars, numpy nor scipy (the
    time itself is measured in bench/cli_startup.py, not asserted)."""
    code = ("import sys, contextlib, io\nfrom workbench import cli\n"
            "for argv in sys.argv[1:]:\n"
            "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "        cli.main(argv.split())\n"
            "    print(argv, sorted(m for m in ('polars', 'numpy', 'scipy', 'pandas') if m in sys.modules))")
    _, commands = _commands()
    argvs = ["--help", "--version", *(f"{name} --help" for name in commands)]
    out = subprocess.run([sys.executable, "-c", code, *argvs], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [f"{argv} []" for argv in argvs]


@pytest.mark.parametrize("output, message", [
    ("-", "a Parquet table cannot go to standard output ('-'); give a file name"),
    ("", "expected a file name, found an empty string"),
])
def test_parquet_output_is_never_stdout_or_empty(capsys, output, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["ingest", str(THESIS_DIR / "fig65_cpu_per_core.csv"), "-o", output])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_ingest_reads_standard_input(tmp_path):
    out = tmp_path / "stdin.parquet"
    data = (THESIS_DIR / "fig65_cpu_per_core.csv").read_bytes()
    done = subprocess.run([sys.executable, "-m", "workbench", "ingest", "-", "--label", "condition=c", "-o", str(out),
                           "-v"], input=data, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert b"workbench ingest: read -: 18 rows in" in done.stderr
    t = storage.read_table(out)
    assert t.height == 18 and set(t["source_file"]) == {"stdin"}
    empty = subprocess.run([sys.executable, "-m", "workbench", "ingest", "-", "-o", str(out), "--force"], input="",
                           capture_output=True, text=True)
    assert empty.returncode == 2 and "standard input ('-') is empty" in empty.stderr


def test_progress_is_plain_lines_in_a_pipe_and_nothing_with_quiet():
    """Into a pipe, compare's progress is plain lines (no carriage returns); -q silences it."""
    manifest = str(DATA / "experiments" / "felter2014.toml")
    done = subprocess.run([sys.executable, "-m", "workbench", "compare", manifest, "--metric", "stream_copy_bw"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "\r" not in done.stderr
    assert done.stderr.splitlines()[0] == f"compare: reading {manifest}"
    quiet = subprocess.run([sys.executable, "-m", "workbench", "compare", manifest, "-q", "--metric",
                            "stream_copy_bw"], capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == done.stdout


@pytest.mark.parametrize("jobs, message", [
    ("0", "argument -j/--jobs: expected at least 1, found '0'"),
    ("two", "argument -j/--jobs: expected a whole number of reports such as 2, found 'two'"),
])
def test_report_jobs_must_be_a_positive_whole_number(capsys, jobs, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["report", "--jobs", jobs])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
