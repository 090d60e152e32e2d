"""The thesis transcription: equal to the printed text, read into canonical units."""
import re

import pytest

from workbench import readers, thesis
from workbench.errors import ParseError, UnknownFormatError
from workbench.readers.thesis import HEADER, parse

from ..conftest import SEED, THESIS_DIR

SEED_LINES = SEED.read_text(encoding="utf-8").splitlines()


def block(figure: int) -> list[str]:
    """Lines of the seed from the caption before `figure` down to its own caption
    (for 74 and 79, whose values are in the prose after/before, the next one)."""
    caption = [i for i, l in enumerate(SEED_LINES) if re.match(rf"Figura {figure}:", l)][0]
    start = max(i for i, l in enumerate(SEED_LINES[:caption]) if re.match(r"Figura \d+:", l))
    end = caption
    if figure == 74:
        end = [i for i, l in enumerate(SEED_LINES) if l.startswith("Figura 75:")][0]
    if figure == 79:
        start = [i for i, l in enumerate(SEED_LINES) if l.startswith("Figura 75:")][0]
    return SEED_LINES[start:end]


@pytest.mark.parametrize("figure", sorted(thesis.FILES))
def test_every_transcribed_cell_is_printed_in_the_thesis(figure):
    cells = thesis.load(THESIS_DIR, figure)
    lines = block(figure)
    text = "\n".join(lines)
    for cell in cells.iter_rows(named=True):
        if cell["approximate"]:
            assert cell["printed"] in text, cell
            continue
        if cell["printed"] == "":  # the empty L3 rows of EVEREST's tables
            assert any(l.split("\t")[0] == cell["row_es"] and not l.strip("\t").replace(cell["row_es"], "").strip()
                       for l in lines), cell
            continue
        fields = [l.split("\t") for l in lines if cell["row_es"] in l or l == cell["printed"]]
        assert any(cell["printed"] in f or cell["printed"] == "\t".join(f) for f in fields), cell


@pytest.mark.parametrize("figure", sorted(thesis.FILES))
def test_value_is_the_number_printed(figure):
    for cell in thesis.load(THESIS_DIR, figure).iter_rows(named=True):
        if cell["value"] is None:
            continue
        numbers = [float(n.replace(",", ".")) for n in re.findall(r"\d+(?:[.,]\d+)?", cell["printed"])]
        assert cell["value"] in numbers, cell


def test_seed_figures_65_67_69_71_in_canonical_units(thesis_table):
    t = thesis_table
    def one(**eq):
        hit = t
        for k, v in eq.items():
            hit = hit.filter(hit[k] == v)
        assert hit.height == 1, eq
        return hit["value"][0]
    assert one(metric="mem_latency", component="memory", stage="host just booted") == pytest.approx(5.79e-08)
    assert one(metric="mem_latency", component="memory", stage="Windows Server 2003 guest running") == pytest.approx(6.74e-08)
    assert one(metric="mem_read_bw", component="L1", stage="both guests running") == 41512e6
    assert one(metric="cpu_util", component="cpu0", stage="Windows Server 2003 guest boot") == 90.0
    assert one(metric="cpu_util", component="cpu1", stage="access to guest services") == 48.0
    assert one(metric="mem_used", stage="both guests running", source="thesis-table") == 1542 * 1024 ** 2
    assert one(metric="mem_util", stage="TrixBox CE guest running") == 31.0
    # every number of 65 (18), 67 (16) and 69-71 (3 x 12, L3 absent) is there, once;
    # 69-71 come through the EVEREST reader from the blocks laid out as printed
    assert t.filter(t["source"] == "thesis-table").height == 18 + 16
    assert t.filter(t["source"] == "everest-cachemem").height == 36
    assert t.filter(t["component"] == "L3").is_empty()


def test_approximate_values_are_marked_by_their_source(thesis_table):
    text = thesis_table.filter(thesis_table["source"] == "thesis-text")
    assert sorted(text["source_file"].unique().to_list()) == [
        "thesis/fig74_xencenter_memory.csv", "thesis/fig79_cpu_memory_both_methods.csv"]
    para_cpu = text.filter((text["condition"] == "paravirtualized") & (text["metric"] == "cpu_util"))
    assert para_cpu["value"].to_list() == [25.0]
    assert para_cpu["hypervisor"].to_list() == ["Citrix XenServer 6.2"]


def test_detected_by_content():
    assert readers.detect(THESIS_DIR / "fig65_cpu_per_core.csv").name == "thesis"


def good_line():
    return "65,4.2,1,a,b,c,core 1,45%,45,%,false,,\n"


@pytest.mark.parametrize("text, line, message", [
    ("figure,section\n1,2\n", 1, "expected the header figure,section,row"),
    (",".join(HEADER) + "\n65,4.2,1,a,b\n", 2, "expected 13 fields, found 5 fields"),
    (",".join(HEADER) + "\nsixty,4.2,1,a,b,c,d,e,1,%,false,,\n", 2, "an integer in column 'figure'"),
    (",".join(HEADER) + "\n" + good_line() + "65,4.2,1,a,b,c,core 2,45%,4five,%,false,,\n", 3,
     "a number .or nothing. in column 'value'"),
    (",".join(HEADER) + "\n65,4.2,1,a,b,c,core 1,45%,45,%,yes,,\n", 2, "true or false"),
    (",".join(HEADER) + "\n65,4.2,1,a,b,c,core 1,45%,45,%,false,above,\n", 2, "'lower' or 'upper'"),
    (",".join(HEADER) + "\n65,4.2,1,a,b,c,core 1,45 furlongs,45,furlongs,false,,\n", 2, "a unit among"),
    (",".join(HEADER) + "\n", 2, "at least one transcribed cell"),
    # issue 18: labels a figure does not have (were KeyError/ValueError), a cut quoted field,
    # numbers Python reads but no transcription holds, infinity
    (",".join(HEADER) + "\n67,4.2,1,a,nope,c,host OS boot,45%,45,%,false,,\n", 2,
     "expected a row and column label of figure 67 .as data/thesis transcribes it., found row_en 'nope', "
     "column_en 'host OS boot'"),
    (",".join(HEADER) + "\n65,4.2,1,a,b,c,core one,45%,45,%,false,,\n", 2, "column_en 'core one'"),
    (",".join(HEADER) + "\n69,4.2,1,a,L9 Cache,c,Read,45%,45,%,false,,\n", 2, "row_en 'L9 Cache'"),
    (",".join(HEADER) + "\n65,4.2,1,a,b,c,core 1,45%,45,%,false,,\"cut here\n", 2,
     r"expected complete CSV \(every quoted field closed\), found unexpected end of data"),
    (",".join(HEADER) + "\n65,4.2,1,a,b,c,core 1,45%,1e999,%,false,,\n", 2,
     r"within the range of a double \(up to 1.8e308\), found '1e999'"),
    (",".join(HEADER) + "\n65,4.2,1,a,b,c,core 1,45%,inf,%,false,,\n", 2, "infinity is no measurement"),
    (",".join(HEADER) + "\n65,4.2,1,a,b,c,core 1,45%,\uff14\uff15,%,false,,\n", 2, r"\(ASCII digits\), found '４５'"),
    (",".join(HEADER) + "\n65,4.2,1,a,b,c,core 1,45%,4_5,%,false,,\n", 2, r"\(ASCII digits\), found '4_5'"),
    (",".join(HEADER) + "\n65,4.2,1,a,b,c,core 1,45%," + "9" * 5000 + ",%,false,,\n", 2,
     "of at most 4300 characters, found a number of 5000 characters"),
    (",".join(HEADER) + "\n\uff16\uff15,4.2,1,a,b,c,core 1,45%,45,%,false,,\n", 2, "an integer in column 'figure'"),
])
def test_broken_transcription_names_file_line_expected_found(text, line, message):
    with pytest.raises(ParseError, match=message) as info:
        parse(text.encode(), source="broken.csv")
    assert info.value.path == "broken.csv"
    assert info.value.line == line


def test_not_utf8(tmp_path):
    bad = tmp_path / "latin1.csv"
    bad.write_bytes((",".join(HEADER) + "\n65,4.2,1,N\xfacleo,b,c,core 1,45%,45,%,false,,\n").encode("latin-1"))
    with pytest.raises(ParseError, match="expected UTF-8 text, found byte 0xfa"):
        readers.read(bad)


def test_unknown_format_lists_known_formats(tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("time,cpu\n1,2\n")
    with pytest.raises(UnknownFormatError, match="known formats: thesis") as info:
        readers.read(other)
    assert "time,cpu" in str(info.value)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UnknownFormatError, match="the file is empty"):
        readers.read(empty)
