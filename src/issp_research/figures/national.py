"""Figure 8: the national context, drawn from the ISC census figures as published.

These are the compendium's only real data, so the reader refuses anything it would have to guess
at: a blank stays missing, a year without a figure stays a gap in the plot, and every plotted
year's source is named in the caption.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from issp_research.errors import IsspError
from issp_research.figures.style import SECTOR_COLOURS, TEXT_WIDTH_IN
from issp_research.io import first_long_row

COLUMNS = ["census_year", "isc_schools", "isc_schools_in_partnership", "pct_in_partnership",
           "partnerships", "state_pupils_involved", "state_schools_per_isc_school",
           "state_pupils_per_isc_school", "source"]
PLOTTED = ["pct_in_partnership", "partnerships"]
FIGURE_HEIGHT_IN = 2.6


def read_isc_census(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The census table, one row per year, figures as float with NaN where none was published.

    Row numbers in errors count the header as row 1, as a spreadsheet shows them.
    """
    path = Path(path)
    if not path.is_file():
        raise IsspError("file not found", file=path,
                        fix="pass the path of isc_census_partnerships.csv (data/raw/)")
    try:
        # index_col=False: otherwise pandas reads rows one value longer than the header with the first
        # value as the index, and every value lands one column to the left without a word.
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], index_col=False)
    except (pd.errors.ParserWarning, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        long_row = None if isinstance(error, UnicodeDecodeError) else first_long_row(path)
        if isinstance(error, pd.errors.ParserWarning) or long_row is not None:
            # pandas warns (every row too long) or fails (some rows), naming no row
            raise IsspError("a row has more values than the header has columns", file=path, row=long_row,
                            rule="every row has one value per column",
                            fix="quote cells that contain a comma, or remove the extra values") from None
        raise IsspError(f"not a readable CSV table ({error})", file=path,
                        fix="save the table as UTF-8 CSV with a header row") from None
    for column in COLUMNS:
        if column not in raw.columns:
            unexpected = [c for c in raw.columns if c not in COLUMNS]
            raise IsspError(
                "required column is missing", file=path, column=column,
                rule=f"the census table has exactly the columns {', '.join(COLUMNS)}",
                fix=(f"rename {', '.join(repr(c) for c in unexpected)} to '{column}'" if unexpected
                     else f"add the column '{column}', blank where no figure is published"),
            )
    for column in raw.columns:
        if column not in COLUMNS:
            raise IsspError("unexpected column", file=path, column=column,
                            rule=f"the census table has exactly the columns {', '.join(COLUMNS)}",
                            fix="remove it, or add it to issp_research.figures.national.COLUMNS")

    census = pd.DataFrame({"census_year": _years(raw["census_year"], path)})
    for column in COLUMNS[1:-1]:
        census[column] = _figures(raw[column], path, column)
    census["source"] = raw["source"].str.strip()
    unsourced = census.index[census["source"].isna() | (census["source"] == "")]
    if len(unsourced):
        raise IsspError("no source given", file=path, row=unsourced[0] + 2, column="source",
                        rule="every published figure names where it was published",
                        fix="cite the publication (title, publisher, date, address)")
    return census.sort_values("census_year", ignore_index=True)


def _years(values: pd.Series, path: Path) -> pd.Series:
    years = pd.to_numeric(values.str.strip(), errors="coerce")
    for index in values.index:
        year = years[index]
        if not 1000 <= year <= 9999 or year != int(year):  # also NaN and inf, which int() cannot take
            shown = "blank" if pd.isna(values[index]) else repr(values[index])
            raise IsspError(f"census year is {shown}, not a year", file=path,
                            row=index + 2, column="census_year",
                            rule="every row is one census year, written as four digits",
                            fix="write the year, e.g. 2017")
    duplicated = years[years.duplicated()]
    if not duplicated.empty:
        index = duplicated.index[0]
        raise IsspError(f"census year {int(years[index])} appears twice", file=path,
                        row=index + 2, column="census_year",
                        rule="one row per census year",
                        fix="merge the two rows, keeping both sources in 'source'")
    return years.astype("int64")


def _figures(values: pd.Series, path: Path, column: str) -> pd.Series:
    """Thousands separators are allowed because published figures are printed with them."""
    numbers = pd.to_numeric(values.str.strip().str.replace(",", "", regex=False), errors="coerce")
    upper = 100 if column == "pct_in_partnership" else float("inf")
    for index in values.index:
        if pd.isna(values[index]):
            continue
        number = numbers[index]
        if not (0 <= number <= upper and math.isfinite(number)):  # NaN fails the comparison
            raise IsspError(
                f"{values[index]!r} is not a published figure", file=path, row=index + 2,
                column=column,
                rule=("a percentage from 0 to 100 without '%'" if upper == 100
                      else "a non-negative number"),
                fix="write the number as published, or leave the cell blank if none was",
            )
    return numbers.astype("float64")


def plot_national_context(census: pd.DataFrame) -> Figure:
    """Two panels over the same census years, so the share and the count can be read together.

    The years run without a break from the first to the last year with a plotted figure; a year
    without a figure is NaN, which matplotlib draws as a break in the line.
    """
    missing = [column for column in ["census_year", *PLOTTED] if column not in census.columns]
    if missing:
        raise IsspError("required column is missing", column=missing[0],
                        fix="read the table with read_isc_census()")
    series = _plotted_years(census)
    fig, (ax_pct, ax_n) = plt.subplots(1, 2, figsize=(TEXT_WIDTH_IN, FIGURE_HEIGHT_IN),
                                       sharex=True)
    _panel(ax_pct, series["pct_in_partnership"], "{:.0f}%")
    ax_pct.set_ylim(0, 100)
    ax_pct.set_ylabel("ISC schools in partnership (%)")
    ax_pct.set_title("(a) Share of ISC schools", loc="left")

    _panel(ax_n, series["partnerships"], "{:,.0f}")
    top = series["partnerships"].max()
    ax_n.set_ylim(0, 1.2 * top if pd.notna(top) else 1)
    ax_n.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax_n.set_ylabel("Partnerships")
    ax_n.set_title("(b) Number of partnerships", loc="left")

    for ax in (ax_pct, ax_n):
        ax.set_xticks(series.index)
        ax.set_xlim(series.index.min() - 0.5, series.index.max() + 0.5)
        ax.set_xlabel("ISC census year")
    return fig


def _plotted_years(census: pd.DataFrame) -> pd.DataFrame:
    has_figure = census[census[PLOTTED].notna().any(axis=1)]
    if has_figure.empty:
        raise IsspError("no year has a published share or number of partnerships",
                        column=", ".join(PLOTTED),
                        fix="add at least one published figure to the census table")
    years = range(int(has_figure["census_year"].min()), int(has_figure["census_year"].max()) + 1)
    return census.set_index("census_year")[PLOTTED].reindex(years)


def _panel(ax: Axes, values: pd.Series, label: str) -> None:
    ax.plot(values.index, values.to_numpy(dtype="float64"), marker="o",
            color=SECTOR_COLOURS["independent"])
    for year, value in values.dropna().items():
        ax.annotate(label.format(value), (year, value), xytext=(0, 5),
                    textcoords="offset points", ha="center", va="bottom", fontsize=8)


def national_context_caption(census: pd.DataFrame) -> str:
    """Names the source of every plotted year, because these are real published figures."""
    series = _plotted_years(census)
    plotted = census[census["census_year"].isin(series.dropna(how="all").index)]
    sources = [f"{year}: {source}" for year, source in
               zip(plotted["census_year"], plotted["source"], strict=True)]
    return "\n".join([
        f"National context: partnerships of Independent Schools Council (ISC) member schools with "
        f"state schools, ISC annual censuses {series.index.min()} to {series.index.max()}. "
        f"(a) Percentage of ISC schools in partnership with state schools; "
        f"(b) number of partnerships. Points are published figures; lines join consecutive "
        f"census years only, and years without a published figure are left as gaps, "
        f"not interpolated.",
        "Sources:",
        *sources,
    ])
