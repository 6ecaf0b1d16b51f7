"""Small-cell suppression and the CSV/LaTeX writer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from issp_research.errors import IsspError
from issp_research.tables import (
    _audit,
    disclosure,
    escape_latex,
    suppress_small_cells,
    suppression_note,
    write_table,
)


@pytest.fixture
def table():
    return pd.DataFrame({
        "role": ["senior_leader", "coordinator", "teacher", "governor", "all"],
        "n": [0, 1, 3, 4, 12],
        "pct": [0.0, 8.3, 25.0, 33.3, 100.0],
        "mean_worth": [np.nan, 1.5, -0.25, 0.75, 0.4],
        "n_interviewed": [0, 0, 2, 6, 8],
    })


def expected(**columns):
    return pd.DataFrame({name: pd.Series(values, dtype=object if name != "role" else None)
                         for name, values in columns.items()})


def test_k5_suppresses_counts_of_1_to_4_and_their_derived_cells(table):
    out = suppress_small_cells(table, ["n", "n_interviewed"], derived={"n": ["pct", "mean_worth"]})
    pd.testing.assert_frame_equal(out, expected(
        role=table["role"].tolist(),
        n=[0, "<5", "<5", "<5", 12],
        pct=[0.0, "[c]", "[c]", "[c]", 100.0],
        mean_worth=[np.nan, "[c]", "[c]", "[c]", 0.4],
        n_interviewed=[0, 0, "<5", 6, 8],
    ), check_dtype=False)


def test_k3_moves_the_threshold(table):
    out = suppress_small_cells(table, "n", k=3, derived={"n": ["pct"]})
    assert out["n"].tolist() == [0, "<3", 3, 4, 12]
    assert out["pct"].tolist() == [0.0, "[c]", 25.0, 33.3, 100.0]
    assert out["n_interviewed"].tolist() == [0, 0, 2, 6, 8]  # not a count column here


def test_zero_is_shown_not_suppressed(table):
    out = suppress_small_cells(table, ["n_interviewed"])
    assert out["n_interviewed"].tolist()[:2] == [0, 0]


def test_input_is_not_changed(table):
    before = table.copy(deep=True)
    suppress_small_cells(table, ["n", "n_interviewed"], derived={"n": ["pct", "mean_worth"]})
    pd.testing.assert_frame_equal(table, before)


def test_custom_markers_and_missing_counts():
    table = pd.DataFrame({"n": pd.array([2, None, 7], dtype="Int64"), "share": [0.2, 0.5, 0.3]})
    out = suppress_small_cells(table, ["n"], marker="c", derived={"n": ["share"]},
                               derived_marker="-")
    assert out["n"].tolist()[0] == "c" and pd.isna(out["n"][1]) and out["n"][2] == 7
    assert out["share"].tolist() == ["-", 0.5, 0.3]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"count_columns": ["missing"]}, "not in the table"),
    ({"count_columns": ["n"], "k": 0}, "threshold"),
    ({"count_columns": ["n"], "k": 2.5}, "threshold"),
    ({"count_columns": ["n"], "derived": {"pct": ["mean_worth"]}}, "not a count column"),
    ({"count_columns": ["n"], "derived": {"n": ["nope"]}}, "not in the table"),
    ({"count_columns": ["pct"]}, "not a count"),
])
def test_bad_arguments_raise_issp_error(table, kwargs, match):
    with pytest.raises(IsspError, match=match):
        suppress_small_cells(table, **kwargs)


def test_suppressing_twice_is_refused(table):
    once = suppress_small_cells(table, ["n"])
    with pytest.raises(IsspError, match="'<5' is not a count") as error:
        suppress_small_cells(once, ["n"])
    assert (error.value.row, error.value.column) == (1, "n")


def test_note_explains_the_markers():
    assert suppression_note(k=3) == (
        "Counts of people below 3, other than zero, are shown as <3, and values computed from "
        "them as [c], to protect participants.")


@pytest.fixture
def published(table):
    table = table.assign(role=["Senior leader", "Coordinator & head", "Teacher_1", "50% gov.",
                               "All"])
    return suppress_small_cells(table, ["n", "n_interviewed"],
                                derived={"n": ["pct", "mean_worth"]})


def test_csv_holds_the_printed_cells(published, tmp_path):
    csv, _ = write_table(published, tmp_path, "roles", "Roles.", float_format={"pct": ".1f"})
    assert csv.read_bytes().decode("utf-8") == (
        "role,n,pct,mean_worth,n_interviewed\n"
        "Senior leader,0,0.0,,0\n"
        "Coordinator & head,<5,[c],[c],0\n"
        "Teacher_1,<5,[c],[c],<5\n"
        "50% gov.,<5,[c],[c],6\n"
        "All,12,100.0,0.40,8\n"
    )


def test_tex_is_a_booktabs_table_with_escaped_text(published, tmp_path):
    _, tex = write_table(published, tmp_path, "roles", "Roles & worth (%) by role_code.",
                         float_format=".1f")
    text = tex.read_text(encoding="utf-8")
    assert text.startswith("\\begin{table}\n\\centering\n")
    assert "\\caption{Roles \\& worth (\\%) by role\\_code.}\n" in text
    assert "\\label{tab:roles}\n" in text
    assert "\\begin{tabular}{lrrrr}\n" in text
    assert text.count("\\toprule") == text.count("\\midrule") == text.count("\\bottomrule") == 1
    assert "role & n & pct & mean\\_worth & n\\_interviewed \\\\\n" in text
    assert "Coordinator \\& head & \\textless{}5 & {[}c{]} & {[}c{]} & 0 \\\\\n" in text
    assert "Teacher\\_1 &" in text and "50\\% gov. &" in text
    assert "All & 12 & 100.0 & 0.4 & 8 \\\\\n" in text
    assert text.endswith("\\end{table}\n") and "\r" not in text


def test_label_and_index_on_request(tmp_path):
    table = pd.DataFrame({"worth": [0.5]}, index=pd.Index(["state"], name="sector"))
    csv, tex = write_table(table, tmp_path, "t", "Caption.", label="tab:worth", index=True)
    assert csv.read_text() == "sector,worth\nstate,0.50\n"
    assert "\\label{tab:worth}" in tex.read_text()
    csv, _ = write_table(table, tmp_path, "t", "Caption.")
    assert csv.read_text() == "worth\n0.50\n"


def test_negative_zero_is_printed_as_zero(tmp_path):
    csv, _ = write_table(pd.DataFrame({"b": [-0.001, -0.01]}), tmp_path, "t", "C.")
    assert csv.read_text() == "b\n0.00\n-0.01\n"


def test_writing_twice_gives_identical_bytes(published, tmp_path):
    first = write_table(published, tmp_path / "a", "roles", "Roles.")
    second = write_table(published, tmp_path / "b", "roles", "Roles.")
    again = write_table(published, tmp_path / "a", "roles", "Roles.")
    for a, b, c in zip(first, second, again, strict=True):
        assert a.read_bytes() == b.read_bytes() == c.read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["roles.csv", "roles.tex"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "a/b"}, "plain file name"),
    ({"float_format": "q"}, "format spec"),
    ({"float_format": {"nope": ".1f"}}, "not in the table"),
])
def test_bad_write_arguments_raise_issp_error(published, tmp_path, kwargs, match):
    with pytest.raises(IsspError, match=match):
        write_table(published, tmp_path, **{"name": "t", "caption": "C.", **kwargs})
    assert not any(tmp_path.iterdir())


def test_escape_latex_covers_the_special_characters():
    assert escape_latex(r"a&b%c$d#e_f{g}h~i^j\k<l>m[n]") == (
        r"a\&b\%c\$d\#e\_f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"
        r"\textless{}l\textgreater{}m{[}n{]}")


def test_disclosure_hides_a_cell_that_subtraction_would_give_back():
    table = pd.DataFrame({"alone": [3, 0, 7, 9], "pair_of_ones": [1, 1, 6, 0], "large": [6, 7, 0, 0],
                          "two_small": [2, 3, 0, 0]})
    status = disclosure(table)
    # column totals (8 = 1 + 1 + 6) and row totals (13 = 7 + 6) are both known to the reader
    assert status["alone"].tolist() == ["small", "complementary", "complementary", "count"]
    assert status["pair_of_ones"].tolist() == ["small", "small", "complementary", "complementary"]
    assert status["large"].tolist() == ["complementary", "count", "zero", "zero"]
    assert status["two_small"].tolist() == ["small", "small", "zero", "zero"]  # 5 = 1+4 = 2+3 = ...
    assert _audit([table.to_numpy()], [status.to_numpy()], 5) == []


def test_disclosure_protects_against_the_published_people_of_each_type():
    """Notebook 03 prints each type's interviewees (worth by type): 6 narrators less 5 state ones is 1."""
    table = pd.DataFrame({"independent": [1, 3], "state": [5, 9]}, index=["narrators", "critics"])
    status = disclosure(table)  # the independent column (4) is too small to be published
    assert status["independent"].tolist() == ["small", "small"]
    assert status["state"].tolist() == ["complementary", "complementary"]
    assert _audit([table.to_numpy()], [np.where(table < 5, "small", "count").astype(object)], 5) == [
        (0, 0, 0), (0, 1, 0)]
