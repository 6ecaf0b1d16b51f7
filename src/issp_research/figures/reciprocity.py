"""Figure 6: reciprocity. Does each side of a partnership see the same worth in it?

One point per partnership: the mean worth among its independent-school respondents (x) against the
mean among its state-school respondents (y), on equal axes, with the line of equal worth. The area
above the line (the state side sees more worth) is tinted in the state colour, the area below in
the independent colour, so the sector colours mean the same here as in every other figure.

The input is the per-partnership table of ``models.reciprocity(frame)``: columns ``partnership``,
``independent_worth``, ``state_worth``, ``n_independent``, ``n_state`` (and ``difference``, which
this figure does not need: it compares the two means directly, so no sign convention is assumed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from issp_research.errors import IsspError
from issp_research.figures.style import LABELS, SECTOR_COLOURS, TEXT_WIDTH_IN

COLUMNS = ["partnership", "independent_worth", "state_worth", "n_independent", "n_state"]
FIGURE_HEIGHT_IN = 3.4
_POINT_COLOUR = "0.15"
_TINT_ALPHA = 0.14


def _checked(per_partnership: pd.DataFrame) -> pd.DataFrame:
    for column in COLUMNS:
        if column not in per_partnership.columns:
            raise IsspError(f"the reciprocity table has no column '{column}'", column=column,
                            rule=f"one row per partnership with {', '.join(COLUMNS)}",
                            fix="pass models.reciprocity(frame)")
    duplicated = per_partnership["partnership"].duplicated()
    if duplicated.any():
        row = duplicated.idxmax()
        raise IsspError(f"partnership '{per_partnership.at[row, 'partnership']}' appears twice",
                        row=row, column="partnership", rule="one row per partnership",
                        fix="pass models.reciprocity(frame)")
    return per_partnership


def both_sides(per_partnership: pd.DataFrame) -> pd.DataFrame:
    """The partnerships that can be drawn: a mean worth on both sides."""
    table = _checked(per_partnership)
    return table[table["independent_worth"].notna() & table["state_worth"].notna()]


def plot_reciprocity(per_partnership: pd.DataFrame) -> Figure:
    """Independent side (x) against state side (y), equal axes, identity line, tinted halves."""
    drawn = both_sides(per_partnership)
    if drawn.empty:
        raise IsspError("no partnership has respondents on both sides",
                        column="independent_worth, state_worth",
                        rule="reciprocity compares the two sides of a partnership",
                        fix="check that both sectors' respondents have worth scores")
    x = drawn["independent_worth"].to_numpy(dtype="float64")
    y = drawn["state_worth"].to_numpy(dtype="float64")
    low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    pad = 0.08 * (high - low) if high > low else 0.5
    low, high = low - pad, high + pad

    fig = Figure(figsize=(TEXT_WIDTH_IN, FIGURE_HEIGHT_IN), layout="constrained")
    ax = fig.subplots()
    corners = np.array([low, high])
    ax.fill_between(corners, corners, high, color=SECTOR_COLOURS["state"], alpha=_TINT_ALPHA,
                    linewidth=0, zorder=0)
    ax.fill_between(corners, low, corners, color=SECTOR_COLOURS["independent"], alpha=_TINT_ALPHA,
                    linewidth=0, zorder=0)
    ax.plot(corners, corners, color="0.35", linewidth=0.9, linestyle="--", zorder=1)
    ax.scatter(x, y, s=22, color=_POINT_COLOUR, edgecolors="white", linewidths=0.5, zorder=2)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"{LABELS['independent']} side: mean worth")
    ax.set_ylabel(f"{LABELS['state']} side: mean worth")
    handles = [
        Line2D([], [], marker="o", linestyle="none", color=_POINT_COLOUR, markersize=5,
               label="One partnership"),
        Line2D([], [], color="0.35", linewidth=0.9, linestyle="--", label="Equal worth"),
        Patch(facecolor=SECTOR_COLOURS["state"], alpha=_TINT_ALPHA * 2.5,
              label="State side sees\nmore worth"),
        Patch(facecolor=SECTOR_COLOURS["independent"], alpha=_TINT_ALPHA * 2.5,
              label="Independent side\nsees more worth"),
    ]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.04, 0.5), frameon=False,
              labelspacing=1.0, borderaxespad=0)
    return fig


def reciprocity_caption(per_partnership: pd.DataFrame) -> str:
    """Every number computed from the table: partnerships drawn, above/below the line, sizes."""
    table = _checked(per_partnership)
    drawn = both_sides(table)
    state_more = int((drawn["state_worth"] > drawn["independent_worth"]).sum())
    independent_more = int((drawn["state_worth"] < drawn["independent_worth"]).sum())
    equal = len(drawn) - state_more - independent_more
    gap = (drawn["state_worth"] - drawn["independent_worth"]).mean()
    text = (
        f"Reciprocity of perceived worth. Each point is one of the {len(drawn)} partnerships with "
        f"respondents in both sectors: the mean worth (benefits less costs, −4 to +4) among its "
        f"independent-school respondents against the mean among its state-school respondents. "
        f"Points above the dashed line of equal worth are partnerships whose state side saw more "
        f"worth ({state_more} of {len(drawn)}), points below it those whose independent side did "
        f"({independent_more})"
        + (f"; {equal} lie on the line" if equal else "")
        + f". On average the state side's mean was {_signed(gap)} points "
        f"{'above' if gap >= 0 else 'below'} the independent side's. Each side's mean is over a "
        f"median of {_median(drawn['n_independent'])} independent-school and "
        f"{_median(drawn['n_state'])} state-school respondents per partnership."
    )
    left_out = len(table) - len(drawn)
    if left_out:
        text += (f" {left_out} partnership{'s' if left_out != 1 else ''} with respondents on one "
                 f"side only {'are' if left_out != 1 else 'is'} not shown.")
    return text


def _signed(value: float) -> str:
    return f"{abs(value):.2f}"


def _median(counts: pd.Series) -> str:
    median = float(counts.median())
    return f"{median:.0f}" if median == int(median) else f"{median:.1f}"
