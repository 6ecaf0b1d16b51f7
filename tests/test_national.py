"""Figure 8: the ISC census figures are read exactly, gaps stay gaps, sources are named."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from issp_research.errors import IsspError
from issp_research.figures import save_figure
from issp_research.figures.national import (
    COLUMNS,
    national_context_caption,
    plot_national_context,
    read_isc_census,
)

CENSUS = Path(__file__).resolve().parents[1] / "data" / "raw" / "isc_census_partnerships.csv"
HEADER = ",".join(COLUMNS)


pytestmark = pytest.mark.usefixtures("thesis_figures")


@pytest.fixture
def census():
    return read_isc_census(CENSUS)


def write_csv(tmp_path, text):
    path = tmp_path / "census.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_published_figures_are_read_exactly(census):
    assert list(census.columns) == COLUMNS
    assert census["census_year"].tolist() == [2016, 2017, 2018, 2019, 2020, 2022]
    y = census.set_index("census_year")
    assert y.loc[2016, "pct_in_partnership"] == 87
    assert y.loc[2017, "pct_in_partnership"] == 88
    assert y.loc[2017, "partnerships"] == 10_000
    assert y.loc[2017, "state_pupils_involved"] == 175_000
    assert y.loc[2017, "isc_schools"] == 1301
    assert y.loc[2019, "partnerships"] == 11_466
    assert y.loc[2020, "isc_schools_in_partnership"] == 1169
    assert y.loc[2020, "pct_in_partnership"] == 85
    assert y.loc[2020, "state_schools_per_isc_school"] == 11
    assert y.loc[2020, "state_pupils_per_isc_school"] == 212
    assert y.loc[2022, "isc_schools"] == 1388


def test_blanks_stay_missing(census):
    y = census.set_index("census_year")
    assert math.isnan(y.loc[2019, "pct_in_partnership"])
    assert math.isnan(y.loc[2018, "partnerships"])
    assert y["pct_in_partnership"].isna().sum() == 3
    assert y["partnerships"].notna().sum() == 2
    assert y["source"].notna().all()


def line_data(ax):
    (line,) = ax.get_lines()
    return np.asarray(line.get_xdata()), np.asarray(line.get_ydata(), dtype=float)


def test_missing_years_break_the_lines(census):
    pct_ax, n_ax = plot_national_context(census).axes
    x, y = line_data(pct_ax)
    assert x.tolist() == [2016, 2017, 2018, 2019, 2020]
    np.testing.assert_array_equal(y, [87, 88, np.nan, np.nan, 85])
    x, y = line_data(n_ax)
    assert x.tolist() == [2016, 2017, 2018, 2019, 2020]
    np.testing.assert_array_equal(y, [np.nan, 10_000, np.nan, 11_466, np.nan])


def test_a_year_absent_from_the_table_is_a_gap_too(tmp_path):
    """2020 and 2022 are not consecutive: no line may join them across the missing 2021."""
    path = write_csv(tmp_path, f"{HEADER}\n2020,,,85,,,,,A\n2022,,,86,,,,,B\n")
    pct_ax, _ = plot_national_context(read_isc_census(path)).axes
    x, y = line_data(pct_ax)
    assert x.tolist() == [2020, 2021, 2022]
    np.testing.assert_array_equal(y, [85, np.nan, 86])


def test_caption_names_the_source_of_every_plotted_year(census):
    caption = national_context_caption(census)
    sources = census.set_index("census_year")["source"]
    for year in (2016, 2017, 2019, 2020):
        assert f"{year}: {sources[year]}" in caption.splitlines()
    for year in (2018, 2022):  # no plotted figure, so no source to cite
        assert sources[year] not in caption
    assert "2016 to 2020" in caption
    assert "not interpolated" in caption


def test_figure_saves(census, tmp_path):
    paths = save_figure(plot_national_context(census), tmp_path, "national_context",
                        national_context_caption(census))
    assert all(path.stat().st_size > 0 for path in paths)


def test_renamed_column_names_file_and_column(tmp_path):
    path = write_csv(tmp_path, HEADER.replace("pct_in_partnership", "pct_partnered")
                     + "\n2017,,,88,,,,,S\n")
    with pytest.raises(IsspError) as error:
        read_isc_census(path)
    assert error.value.column == "pct_in_partnership"
    assert error.value.file == str(path)
    assert "pct_partnered" in error.value.fix
    assert str(path) in str(error.value) and "pct_in_partnership" in str(error.value)


def test_missing_column_is_an_error(tmp_path):
    path = write_csv(tmp_path, HEADER.replace(",partnerships", "") + "\n2017,,,88,,,,S\n")
    with pytest.raises(IsspError) as error:
        read_isc_census(path)
    assert error.value.column == "partnerships"


def test_extra_column_is_an_error(tmp_path):
    path = write_csv(tmp_path, HEADER + ",notes\n2017,,,88,,,,,S,x\n")
    with pytest.raises(IsspError) as error:
        read_isc_census(path)
    assert error.value.column == "notes"


@pytest.mark.parametrize(("rows", "row"), [
    ("2016,,,87,,,,,S\n2017,,,88,,,,,S, survey\n", 3),  # one row too long: pandas fails
    ("2016,,,87,,,,,S,x\n2017,,,88,,,,,S, survey\n", 2),  # every row: pandas would only warn
], ids=["one_row", "every_row"])
def test_row_longer_than_the_header_is_named(tmp_path, rows, row):
    path = write_csv(tmp_path, f"{HEADER}\n{rows}")
    with pytest.raises(IsspError, match="more values than the header") as error:
        read_isc_census(path)
    assert error.value.row == row and error.value.file == str(path)


@pytest.mark.parametrize(("row", "column", "match"), [
    ("2017,,,88%,,,,,S", "pct_in_partnership", "'88%'"),
    ("2017,,,120,,,,,S", "pct_in_partnership", "'120'"),
    ("2017,,,,-5,,,,S", "partnerships", "'-5'"),
    (",,,88,,,,,S", "census_year", "blank"),
    ("2017,,,88,,,,,", "source", "no source"),
])
def test_bad_values_name_row_and_column(tmp_path, row, column, match):
    path = write_csv(tmp_path, f"{HEADER}\n2016,,,87,,,,,S\n{row}\n")
    with pytest.raises(IsspError, match=match) as error:
        read_isc_census(path)
    assert (error.value.row, error.value.column) == (3, column)


def test_duplicate_year_is_an_error(tmp_path):
    path = write_csv(tmp_path, f"{HEADER}\n2017,,,88,,,,,S\n2017,,,87,,,,,T\n")
    with pytest.raises(IsspError, match="twice"):
        read_isc_census(path)


def test_thousands_separators_are_read(tmp_path):
    path = write_csv(tmp_path, f'{HEADER}\n2019,,,,"11,466",,,,S\n')
    assert read_isc_census(path)["partnerships"].tolist() == [11_466]


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(IsspError, match="not found"):
        read_isc_census(tmp_path / "nope.csv")


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(IsspError, match="not a readable CSV"):
        read_isc_census(write_csv(tmp_path, ""))
