"""Manifests: the thesis experiment, and every error path with a broken manifest."""
from pathlib import Path

import polars as pl
import pytest

from workbench import experiment, schema
from workbench.errors import ManifestError

from .conftest import FIXTURES, THESIS_MANIFEST

BROKEN = FIXTURES / "manifests"


def test_thesis_manifest(thesis_table):
    exp = experiment.load(THESIS_MANIFEST)
    assert (exp.id, exp.baseline) == ("thesis-2015", "virtualized")
    assert len(exp.inputs) == 7
    t = thesis_table
    assert t.height == 77
    assert t["experiment"].unique().to_list() == ["thesis-2015"]
    assert t["host"].unique().to_list() == ["Athlon 64 X2 5200+"]
    assert t["run"].unique().to_list() == [1]
    hyper = dict(t.select("condition", "hypervisor").unique().iter_rows())
    assert hyper == {"virtualized": "VMware Workstation 10.0.3", "paravirtualized": "Citrix XenServer 6.2"}
    # labels from the file win over [defaults]: figure 74's guests row stays a guest row
    guests = t.filter(pl.col("scope") == "guest")
    assert guests["guest"].to_list() == ["Windows Server 2003 + TrixBox CE"]
    assert guests["value"].to_list() == [350 * 1024 ** 2]


def test_names_map_identities(tmp_path):
    text = THESIS_MANIFEST.read_text().replace("../thesis/", str(THESIS_MANIFEST.parent.parent / "thesis") + "/")
    text += '\n[names]\n"Athlon 64 X2 5200+" = "thesis-pc"\n'
    m = tmp_path / "named.toml"
    m.write_text(text)
    t = experiment.load(m).table()
    assert t["host"].unique().to_list() == ["thesis-pc"]
    assert t["source_file"][0] == "fig65_cpu_per_core.csv"  # outside data/: the file name


@pytest.mark.parametrize("name, entry, message", [
    ("missing_file.toml", "input #2 (path = '../../../data/thesis/fig66_does_not_exist.csv')", "file not found"),
    ("unknown_column.toml", "input #1", "unknown column 'stagee'"),
    ("condition_without_inputs.toml", "[conditions.native]", "condition has no inputs"),
    ("baseline_missing.toml", "[experiment] baseline", "baseline 'native' is not a declared condition"),
    ("undeclared_condition.toml", "input #1", "condition 'kvm' is not declared in \\[conditions\\]"),
    ("file_rows_of_undeclared_condition.toml", "input #1",
     "rows of condition 'paravirtualized', which \\[conditions\\] does not declare"),
    ("bad_run.toml", "input #1", "'run' must be a non-negative integer, found 'one'"),
    ("unknown_format.toml", "input #1", "format 'everest-html' is not registered"),
    ("broken_input.toml", "input #1",
     "fig65_bad_value.csv:3: expected a number .or nothing. in column 'value' .ASCII digits., found '5e3x'"),
    ("not_toml.toml", "manifest", "not valid TOML"),
    ("no_id.toml", "[experiment]", "needs a non-empty string 'id'"),
    ("inputs_not_tables.toml", "[[inputs]]", "must be an array of tables"),
    ("names_not_a_table.toml", "[names]", "maps identifiers to names"),
])
def test_broken_manifest_one_line_naming_manifest_and_entry(name, entry, message):
    with pytest.raises(ManifestError, match=message) as info:
        experiment.load(BROKEN / name).table()
    err = info.value
    assert err.manifest.endswith(name)
    assert err.entry.startswith(entry)
    assert "\n" not in str(err)


def test_missing_manifest():
    with pytest.raises(ManifestError, match="no such file"):
        experiment.load(BROKEN / "nope.toml")


def test_empty_table_is_valid():
    assert schema.validate(schema.empty()).is_empty()


def test_reader_options_from_the_manifest():
    """An AIDA64 CSV log's local times are converted with the timezone the manifest gives."""
    import warnings
    from datetime import datetime, timezone

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = experiment.load(BROKEN / "csvlog_with_timezone.toml").table()
    assert not [w for w in caught if "timezone" in str(w.message)]
    # "6/15/2025,4:36:36 PM" in Madrid (CEST, UTC+2) is 14:36:36 UTC
    assert t.sort("time")["time"][0] == datetime(2025, 6, 15, 14, 36, 36, tzinfo=timezone.utc)


def test_unknown_reader_option():
    with pytest.raises(ManifestError, match="input #1 .*format 'everest-csvlog' takes no option 'tz' "
                                            ".its options: timezone, date_order."):
        experiment.load(BROKEN / "unknown_option.toml").table()



def test_run_label_over_a_multi_run_file_warns():
    from workbench import readers

    from .conftest import DATA

    with pytest.warns(UserWarning, match="run = 1 overrides the file's runs 1..20: they become one run"):
        t = readers.read(DATA / "felter2014" / "vm.log", run=1)
    assert t["run"].unique().to_list() == [1]


def test_reader_options_are_recorded_with_the_file_metadata():
    _, meta = experiment.load(BROKEN / "csvlog_with_timezone.toml").read()
    [(name, entry)] = meta.items()
    assert name == "aida64_csvlog_utilization_layout.csv" and entry["option.timezone"] == "Europe/Madrid"


AZURE_MANIFEST = Path(__file__).resolve().parents[1] / "data" / "experiments" / "azure-vm-noise.toml"


def test_levels_declared_in_a_manifest():
    exp = experiment.load(AZURE_MANIFEST)
    assert exp.levels == ("guest", "run")
    assert exp.level_costs == {"guest": 300.0, "run": 8.25}
    dataset = experiment.open(AZURE_MANIFEST)
    assert dataset.levels == ("guest", "run") and dataset.level_costs["guest"] == 300.0
    assert experiment.load(THESIS_MANIFEST).levels == ()  # optional: manifests without it are unchanged


@pytest.mark.parametrize("levels, entry, message", [
    ('order = ["run"]', "[levels] order", "must list at least two label columns"),
    ('order = "guest, run"', "[levels] order", "must list at least two label columns"),
    ('order = ["vm", "run"]', "[levels] order", "'vm' is not a label column that can be a level "
                                                 r"\(hypervisor, host, guest, scope, stage, run\)"),
    ('order = ["guest", "guest", "run"]', "[levels] order", "names a level twice"),
    ('order = ["run", "guest"]', "[levels] order", "must end with 'run' .levels are declared above the run., "
                                                    "found 'guest'"),
    ('order = ["guest", "run"]\ncosts = { host = 1.0 }', "[levels] costs", r"'host' is not in \[levels\] order"),
    ('order = ["guest", "run"]\ncosts = { run = -1.0 }', "[levels] costs",
     "the cost of 'run' must be a non-negative number of seconds, found -1.0"),
    ('order = ["guest", "run"]\ncosts = { run = "6 s" }', "[levels] costs",
     "the cost of 'run' must be a non-negative number of seconds, found '6 s'"),
    ('order = ["guest", "run"]\nweights = 1', "[levels]", "unknown key 'weights'"),
])
def test_broken_levels(tmp_path, levels, entry, message):
    text = AZURE_MANIFEST.read_text().split("[levels]")[0].replace(
        "../azure-vm-noise-2024/", (AZURE_MANIFEST.parent.parent / "azure-vm-noise-2024").as_posix() + "/")
    manifest = tmp_path / "levels.toml"
    manifest.write_text(text + "[levels]\n" + levels + "\n")
    with pytest.raises(ManifestError, match=message) as info:
        experiment.load(manifest)
    assert info.value.entry == entry
