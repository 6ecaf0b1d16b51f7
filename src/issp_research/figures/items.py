"""Figure 2: the benefit and cost items, as diverging stacked bars by sector.

Each bar splits one sector's answers to one item over the five points of the scale, centred on the
midpoint 3: half of the 3s lie left of zero and half right, so the bar's position shows at a glance
whether the item leans towards "a great deal" (right) or "not at all" (left). Shares are of the
people who answered the item; "not answered" and "don't know" are missing in the processed data and
so are left out of the denominator, as the caption says.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from issp_research import dictionary as dd
from issp_research.errors import IsspError
from issp_research.figures.style import LABELS, SECTOR_COLOURS, TEXT_WIDTH_IN

SCORES = tuple(range(dd.LIKERT_MIN, dd.LIKERT_MAX + 1))
#: ColorBrewer PRGn (purple-green, colour-blind safe), with a grey midpoint that shows on white
#: paper. Neither hue is a sector colour, so the bars cannot be read as sectors.
SCORE_COLOURS = {1: "#7B3294", 2: "#C2A5CF", 3: "#D9D9D9", 4: "#A6DBA0", 5: "#008837"}
SCORE_LABELS = {1: "1 Not at all", 2: "2", 3: "3", 4: "4", 5: "5 A great deal"}
TANGIBLE_MARK = "\u2020"  # dagger
_WRAP = 36
_BAR = 0.38
_ROW_HEIGHT_IN = 0.27  # per item: two bars and a two-line label at 8 pt


def respondent_sectors(participants: pd.DataFrame, schools: pd.DataFrame) -> pd.DataFrame:
    """Each participant's sector (that of their school): the ``respondents`` argument below."""
    sectors = participants[["participant", "school"]].merge(
        schools[["school", "sector"]], on="school", how="inner", validate="many_to_one")
    return sectors[["participant", "sector"]]


def item_shares(responses: pd.DataFrame, respondents: pd.DataFrame) -> pd.DataFrame:
    """One row per sector, item and score: how many answered it so, of how many answering the item.

    ``respondents`` is any table with ``participant`` and ``sector`` columns (the ``worth`` result,
    or :func:`respondent_sectors`); responses of people not in it are left out.
    """
    long = _long_answers(responses, respondents)
    answered = long.dropna(subset=["score"])
    counts = (answered.groupby(["sector", "item", "score"]).size()
              .reindex(pd.MultiIndex.from_product([dd.SECTORS, dd.ITEMS, SCORES],
                                                  names=["sector", "item", "score"]), fill_value=0)
              .rename("n").reset_index())
    totals = counts.groupby(["sector", "item"])["n"].transform("sum")
    counts["answered"] = totals.astype("int64")
    counts["share"] = (counts["n"] / totals.where(totals > 0)).astype("float64")
    counts["n"] = counts["n"].astype("int64")
    return counts


def _long_answers(responses: pd.DataFrame, respondents: pd.DataFrame) -> pd.DataFrame:
    for name, table, columns in (("responses", responses, ["participant", *dd.ITEMS]),
                                 ("respondents", respondents, ["participant", "sector"])):
        for column in columns:
            if column not in table.columns:
                raise IsspError(f"the {name} table has no column '{column}'", column=column,
                                rule="responses as processed; respondents with participant and sector",
                                fix="pass tables['responses'] and respondent_sectors(participants, schools)")
    merged = responses[["participant", *dd.ITEMS]].merge(
        respondents[["participant", "sector"]], on="participant", how="inner", validate="one_to_one")
    if merged.empty:
        raise IsspError("no response belongs to a listed respondent", column="participant",
                        rule="responses and respondents share participant pseudonyms",
                        fix="pass tables from the same processed folder")
    merged["sector"] = merged["sector"].astype("object")
    long = merged.melt(id_vars=["participant", "sector"], value_vars=list(dd.ITEMS),
                       var_name="item", value_name="score")
    long["score"] = pd.to_numeric(long["score"], errors="coerce").astype("float64")
    return long


def item_label(item: str, width: int = _WRAP) -> str:
    """``B02† better use of available resources``, wrapped; the dagger marks a tangible item."""
    mark = TANGIBLE_MARK if dd.TANGIBLE[item] else ""
    return textwrap.fill(f"{item}{mark} {dd.ITEM_WORDING[item]}", width=width)


def plot_item_responses(responses: pd.DataFrame, respondents: pd.DataFrame) -> Figure:
    """Benefits above, costs below; for each item an independent and a state bar."""
    shares = item_shares(responses, respondents)
    scales = (("(a) Benefits", dd.BENEFITS), ("(b) Costs", dd.COSTS))
    height = 0.9 + _ROW_HEIGHT_IN * len(dd.ITEMS) * 1.08
    fig = Figure(figsize=(TEXT_WIDTH_IN, height), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True,
                        gridspec_kw={"height_ratios": [len(items) + 0.6 for _, items in scales]})
    for ax, (title, items) in zip(axes, scales, strict=True):
        _diverging_panel(ax, shares, items)
        ax.set_title(title, loc="left")
    axes[-1].set_xlabel("Share of answers (%)")
    axes[-1].xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{abs(value):.0f}"))
    handles = [Patch(facecolor=SCORE_COLOURS[score], label=SCORE_LABELS[score]) for score in SCORES]
    fig.legend(handles=handles, loc="outside upper center", ncols=len(SCORES), frameon=False,
               handlelength=1.2, columnspacing=1.2)
    return fig


def _diverging_panel(ax: Axes, shares: pd.DataFrame, items: tuple[str, ...]) -> None:
    table = shares.pivot_table(index=["item", "sector"], columns="score", values="share",
                               dropna=False, observed=False)
    rows, tick_labels = [], []
    for position, item in enumerate(items):
        for offset, sector in zip((-_BAR / 2 - 0.02, _BAR / 2 + 0.02), dd.SECTORS, strict=True):
            rows.append((position + offset, item, sector))
            tick_labels.append(LABELS[sector])
    for y, item, sector in rows:
        values = table.loc[(item, sector)].reindex(SCORES).to_numpy(dtype="float64") * 100
        if np.isnan(values).all():
            continue
        left = -(values[0] + values[1] + values[2] / 2)
        for score, width in zip(SCORES, values, strict=True):
            (segment,) = ax.barh(y, width, _BAR, left=left, color=SCORE_COLOURS[score], linewidth=0)
            segment.set_label(f"{item} {sector} {score}")  # names the segment for tests and tools
            left += width
        ax.plot([-104], [y], marker="s", markersize=4, color=SECTOR_COLOURS[sector],
                clip_on=False, linestyle="none")
    ax.set_yticks([y for y, _, _ in rows], tick_labels)
    ax.tick_params(axis="y", length=0, pad=9)
    for position, item in enumerate(items):
        ax.annotate(item_label(item), (0, position), xycoords=("axes fraction", "data"),
                    xytext=(-70, 0), textcoords="offset points", ha="right", va="center",
                    fontsize=8, linespacing=1.0)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_xlim(-104, 100)
    ax.set_xticks([-100, -50, 0, 50, 100])
    ax.set_ylim(len(items) - 0.5, -0.5)
    ax.spines["left"].set_visible(False)


def item_responses_caption(responses: pd.DataFrame, respondents: pd.DataFrame) -> str:
    """Respondents per sector and the range answering an item, computed from the data."""
    shares = item_shares(responses, respondents)
    long = _long_answers(responses, respondents)
    people = long.groupby("sector")["participant"].nunique().reindex(dd.SECTORS, fill_value=0)
    answered = shares.drop_duplicates(["sector", "item"])["answered"]
    return (
        f"Perceived benefits (a) and costs (b) of the partnership: answers to the "
        f"{len(dd.BENEFITS)} benefit and {len(dd.COSTS)} cost items by sector, from 1 (not at all) "
        f"to 5 (a great deal). Each bar shows the percentage of a sector's respondents giving each "
        f"answer, centred on the midpoint 3: answers 1 and 2 and half of the 3s lie left of zero, "
        f"half of the 3s and answers 4 and 5 right of it. Respondents: "
        + ", ".join(f"{people[sector]} {sector}" for sector in dd.SECTORS)
        + f"; percentages are of those who answered the item ({answered.min()} to "
        f"{answered.max()} per sector and item), leaving out \"not answered\" and \"don't know\". "
        f"{TANGIBLE_MARK} tangible benefit or cost; the others are intangible."
    )
