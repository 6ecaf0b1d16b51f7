"""Figure 1: who took part. Schools by sector and phase; participants by role and sector.

Bars are annotated with their counts, so the reader need not estimate them from the axis; a count
from 1 to k-1 is not drawn at its height nor printed (the study's disclosure rule): its bar is an
empty hatched outline up to k, the upper bound of what it could be, labelled "<k".
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from issp_research import dictionary as dd
from issp_research.errors import IsspError
from issp_research.figures.style import LABELS, SECTOR_COLOURS, TEXT_WIDTH_IN, label

FIGURE_HEIGHT_IN = 2.8
_BAR_WIDTH = 0.38


def sample_counts(schools: pd.DataFrame, participants: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The two cross-tabulations drawn: schools (phase x sector), participants (role x sector).

    Every label of the data dictionary is a row or column, with zero where nobody is, so the same
    bars are drawn whatever the sample holds.
    """
    _require(schools, ["school", "sector", "phase"], "schools")
    _require(participants, ["participant", "school"], "participants")
    people = participants.merge(schools[["school", "sector"]], on="school", how="left")
    if people["sector"].isna().any():
        row = people.index[people["sector"].isna()][0]
        raise IsspError(f"participant's school '{people.at[row, 'school']}' is not in the schools table",
                        row=row, column="school", rule="every participant belongs to a listed school",
                        fix="pass the schools and participants of the same processed folder")
    return {
        "schools": _crosstab(schools["phase"], schools["sector"], dd.PHASES),
        "participants": _crosstab(people["role"], people["sector"], dd.ROLES),
    }


def _crosstab(rows: pd.Series, sectors: pd.Series, labels: tuple[str, ...]) -> pd.DataFrame:
    counts = pd.crosstab(rows.astype("object"), sectors.astype("object"))
    counts = counts.reindex(index=list(labels), columns=list(dd.SECTORS), fill_value=0)
    counts.index.name, counts.columns.name = rows.name, "sector"
    return counts.astype("int64")


def _require(table: pd.DataFrame, columns: list[str], name: str) -> None:
    for column in columns:
        if column not in table.columns:
            raise IsspError(f"the {name} table has no column '{column}'", column=column,
                            rule=f"the processed {name} table is passed as read",
                            fix="pass clean.read_processed(...)['" + name + "']")


def plot_sample_composition(schools: pd.DataFrame, participants: pd.DataFrame, k: int = 5) -> Figure:
    """Two panels of grouped bars, one bar per sector, in the sector colours."""
    counts = sample_counts(schools, participants)
    fig = Figure(figsize=(TEXT_WIDTH_IN, FIGURE_HEIGHT_IN), layout="constrained")
    ax_schools, ax_people = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 4]})
    _grouped_bars(ax_schools, counts["schools"], k)
    ax_schools.set_title("(a) Schools by phase", loc="left")
    ax_schools.set_ylabel("Schools")
    bars = _grouped_bars(ax_people, counts["participants"], k)
    ax_people.set_title("(b) Participants by role", loc="left")
    ax_people.set_ylabel("Participants")
    fig.legend(list(bars.values()), [LABELS[sector] for sector in bars], loc="outside upper center",
               ncols=len(bars), frameon=False)
    return fig


def _grouped_bars(ax: Axes, counts: pd.DataFrame, k: int) -> dict[str, BarContainer]:
    """One bar per row and sector; returns each sector's bars (for the legend)."""
    drawn = {}
    x = np.arange(len(counts.index))
    offsets = (np.arange(len(dd.SECTORS)) - (len(dd.SECTORS) - 1) / 2) * _BAR_WIDTH
    for offset, sector in zip(offsets, dd.SECTORS, strict=True):
        values = counts[sector].to_numpy()
        small = (values >= 1) & (values < k)
        colour = SECTOR_COLOURS[sector]
        drawn[sector] = ax.bar(x + offset, np.where(small, 0, values), _BAR_WIDTH, color=colour,
                               label=LABELS[sector])
        for xi in x[small] + offset:
            ax.bar(xi, k, _BAR_WIDTH, fill=False, edgecolor=colour, hatch="///",
                   linewidth=0.8, label="_suppressed")
        labels = [f"<{k}" if is_small else f"{value:,}" for value, is_small in zip(values, small, strict=True)]
        heights = np.where(small, k, values)
        for xi, height, text in zip(x + offset, heights, labels, strict=True):
            ax.annotate(text, (xi, height), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [textwrap.fill(label(code), 12) for code in counts.index])
    top = max(float(counts.to_numpy().max()), k)
    ax.set_ylim(0, top * 1.15)
    ax.margins(x=0.04)
    return drawn


def sample_composition_caption(schools: pd.DataFrame, participants: pd.DataFrame, k: int = 5) -> str:
    """States the totals shown, computed from the tables, and the suppression rule if it applied."""
    counts = sample_counts(schools, participants)
    partnerships = schools["partnership"].nunique() if "partnership" in schools.columns else None
    in_partnerships = f" in {partnerships} partnerships" if partnerships is not None else ""
    school_totals = counts["schools"].sum()
    people_totals = counts["participants"].sum()
    text = (
        f"Sample composition. (a) The {school_totals.sum()} schools{in_partnerships} by phase and "
        f"sector{_split(school_totals, k)}; (b) the {people_totals.sum()} consenting participants "
        f"by role and the sector of their school{_split(people_totals, k)}. Numbers above the bars "
        f"are counts."
    )
    small = any(((table >= 1) & (table < k)).to_numpy().any() for table in counts.values())
    if small:
        text += (f" Counts from 1 to {k - 1} are not shown, to protect participants: their bars are "
                 f"hatched outlines drawn up to {k} and labelled <{k}.")
    return text


def _split(totals: pd.Series, k: int) -> str:
    """The split by sector for a caption; left out if either is a small count (it would show it)."""
    if ((totals >= 1) & (totals < k)).any():
        return ""
    return " (" + ", ".join(f"{totals[sector]} {sector}" for sector in dd.SECTORS) + ")"
