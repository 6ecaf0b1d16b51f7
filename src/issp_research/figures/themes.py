"""Figures 7 and 9: interview themes by sector with their co-occurrence, and policy-actor types.

Both are heatmaps of counts of people (one interview per person), so the study's disclosure rule
applies to every cell: a count from 1 to k-1 is neither printed nor coloured by its value. Such a
cell is a hatched grey square labelled "<k" where there is room for text. Zero is shown: it describes
nobody.

Figure 9 has one more rule, because the policy-actor types partition each group (every interviewee
has one dominant type), so a group's size or a type's head count, if known from elsewhere (the
method chapter, figure 7, notebook 03), could give back a suppressed cell by subtraction. Further
cells are hidden and marked "[c]" until none can (complementary suppression,
:func:`issp_research.tables.disclosure`). Group sizes are not printed on figure 9.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap, Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath

from issp_research import interviews, qda
from issp_research.errors import IsspError
from issp_research.figures.style import TEXT_WIDTH_IN, label
from issp_research.tables import DERIVED_MARKER, disclosure

KIND_TITLES = {"benefit": "Benefits", "cost": "Costs", "power": "Power relations",
               "enactment": "Policy enactment"}
#: Display names of codes where replacing underscores is not enough.
CODE_LABELS = {
    "cross_phase_learning": "Cross-phase learning",
    "travel_logistics": "Travel and logistics",
    "coordination_administration": "Coordination and administration",
    "understanding_other_schools": "Understanding other schools",
}
SUPPRESSED_COLOUR = "#d9d9d9"
SUPPRESSED_HATCH = "///"
SUPPRESSED_EDGE = "#a6a6a6"
_ROW_IN = 0.155
_FREQUENCY_COLUMNS = ["code", "kind", "segments", "interviews", "interviews_total", "share"]


def code_label(code: object) -> str:
    return CODE_LABELS.get(str(code), label(str(code)))


def _sequential(name: str, low: float = 0.18) -> LinearSegmentedColormap:
    """A single-hue colour map without its near-white end, so no coloured cell looks like a zero."""
    base = mpl.colormaps[name]
    return LinearSegmentedColormap.from_list(f"{name}_from_{low}", base(np.linspace(low, 1, 256)))


SHARE_CMAP = _sequential("Blues")
COUNT_CMAP = _sequential("Purples")


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str, fix: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise IsspError(f"the {what} table has no column '{column}'", column=column, fix=fix)


def _share_top(shares: pd.Series) -> float:
    """The top of a share colour scale: the largest shown share rounded up to 10 points (at least 10%)."""
    top = float(shares.max()) if len(shares) and pd.notna(shares.max()) else 1.0
    return min(1.0, max(0.1, np.ceil(top * 10 - 1e-9) / 10))


def _text_colour(rgba: Sequence[float]) -> str:
    red, green, blue = rgba[:3]
    return "white" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.55 else "black"


def _suppressed_cells(ax: Axes, cells: list[tuple[int, int]]) -> None:
    """Hatch a panel's small cells as one path: a patch per cell made matplotlib hatch each one
    separately, which was a third of the time of drawing figure 7 (hundreds of small cells)."""
    if cells:
        corners = np.array([(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5), (-0.5, -0.5)])
        vertices = np.concatenate([corners + (x, y) for x, y in cells])
        codes = np.tile([MplPath.MOVETO, *[MplPath.LINETO] * 3, MplPath.CLOSEPOLY], len(cells))
        ax.add_patch(PathPatch(MplPath(vertices, codes), facecolor=SUPPRESSED_COLOUR, edgecolor=SUPPRESSED_EDGE,
                               hatch=SUPPRESSED_HATCH, linewidth=0))


def _suppression_patch(k: int, what: str) -> Patch:
    return Patch(facecolor=SUPPRESSED_COLOUR, edgecolor=SUPPRESSED_EDGE, hatch=SUPPRESSED_HATCH, linewidth=0,
                 label=f"1 to {k - 1} {what} (not shown)")


# --------------------------------------------------------------------------------------------
# Figure 7: themes by sector, and code co-occurrence
# --------------------------------------------------------------------------------------------

def _group_columns(frequency: pd.DataFrame) -> list[str]:
    return [c for c in frequency.columns if c not in _FREQUENCY_COLUMNS]


def _rows(codes: Sequence[str], kinds: dict[str, str]) -> list[tuple[str, str | None]]:
    """Heatmap rows: a header row per kind, then its codes, in the codes' order."""
    rows: list[tuple[str, str | None]] = []
    for kind in qda.KINDS:
        of_kind = [c for c in codes if kinds[c] == kind]
        if of_kind:
            rows.append((kind, None))
            rows += [(kind, c) for c in of_kind]
    return rows


def _checked_frequency(frequency: pd.DataFrame) -> tuple[list[str], dict[str, str], list[str], list[tuple]]:
    _require(frequency, _FREQUENCY_COLUMNS, "theme frequency", "pass interviews.theme_frequency(segments)")
    codes = (list(frequency["code"].cat.categories) if isinstance(frequency["code"].dtype, pd.CategoricalDtype)
             else list(dict.fromkeys(frequency["code"])))
    codes = [c for c in codes if c in set(frequency["code"].astype("object"))]
    kinds = dict(zip(frequency["code"].astype("object"), frequency["kind"].astype("object"), strict=True))
    by = _group_columns(frequency)
    groups = list(dict.fromkeys(map(tuple, frequency[by].astype("object").to_numpy()))) if by else [()]
    return codes, kinds, by, groups


def plot_themes(frequency: pd.DataFrame, cooccurrence: pd.DataFrame | None = None, k: int = 5) -> Figure:
    """Figure 7: (a) share of interviews mentioning each code, by group; (b) co-occurrence of codes.

    ``frequency`` is :func:`issp_research.interviews.theme_frequency` (by sector, or any grouping);
    ``cooccurrence`` the long :func:`issp_research.interviews.code_cooccurrence`. Rows are the codes
    grouped by kind (benefits, costs, power relations, policy enactment) and numbered; panel (b)
    repeats the numbers on both axes and shows each pair once (lower triangle), coloured by the
    number of interviews in which both codes occur.
    """
    codes, kinds, by, groups = _checked_frequency(frequency)
    rows = _rows(codes, kinds)
    number = {code: i for i, code in enumerate(codes, start=1)}
    height = _ROW_IN * len(rows) + (2.3 if cooccurrence is not None else 1.6)
    fig = Figure(figsize=(TEXT_WIDTH_IN, height), layout="constrained")
    if cooccurrence is None:
        ax_share = fig.subplots(1, 1)
        ax_pairs = None
    else:
        ax_share, ax_pairs = fig.subplots(1, 2, gridspec_kw={"width_ratios": [max(1.2, 0.75 * len(groups)), 4.6]})
    _share_panel(ax_share, frequency, rows, by, groups, number, k)
    handles = [_suppression_patch(k, "interviews")]
    if ax_pairs is not None:
        _pairs_panel(fig, ax_pairs, cooccurrence, rows, number, k)
        ax_share.set_title("(a) Themes", loc="left")
        ax_pairs.set_title("(b) Co-occurrence", loc="left")
    else:
        ax_share.set_title("Themes", loc="left")
    fig.legend(handles=handles, loc="outside lower left", frameon=False, fontsize=7)
    fig.align_titles()
    return fig


def _share_panel(ax: Axes, frequency: pd.DataFrame, rows: list[tuple[str, str | None]], by: list[str],
                 groups: list[tuple], number: dict[str, int], k: int) -> None:
    table = frequency.assign(code=frequency["code"].astype("object"))
    keyed = {(r["code"], *(r[c] for c in by)): r for r in table.to_dict("records")}
    shown = table.loc[table["interviews"] >= k, "share"]
    norm = Normalize(0, _share_top(shown))
    image = np.ones((len(rows), len(groups), 4))
    image[..., 3] = 0
    texts, small = [], []
    for y, (_, code) in enumerate(rows):
        if code is None:
            continue
        for x, group in enumerate(groups):
            record = keyed.get((code, *group))
            count = 0 if record is None else int(record["interviews"])
            if count == 0:
                image[y, x] = to_rgba("white")
                texts.append((x, y, "0", "#555555"))
            elif count < k:
                small.append((x, y))
                texts.append((x, y, f"<{k}", "black"))
            else:
                colour = SHARE_CMAP(norm(record["share"]))
                image[y, x] = colour
                texts.append((x, y, f"{100 * record['share']:.0f}%", _text_colour(colour)))
    ax.imshow(image, aspect="auto", interpolation="nearest", extent=(-0.5, len(groups) - 0.5, len(rows) - 0.5, -0.5))
    _suppressed_cells(ax, small)
    for x, y, text, colour in texts:
        ax.text(x, y, text, ha="center", va="center", fontsize=6.5, color=colour)
    totals = {tuple(g): 0 for g in groups}
    for record in keyed.values():
        totals[tuple(record[c] for c in by)] = int(record["interviews_total"])
    ax.set_xticks(range(len(groups)), [
        "\n".join([*(label(str(v)) for v in group), f"({_n(totals[group], k)})"]) if group
        else f"All ({_n(totals[()], k)})"
        for group in groups], fontsize=7)
    ax.xaxis.tick_top()
    ax.tick_params(axis="x", length=0, pad=2)
    _code_axis(ax, rows, number, names=True)
    ax.set_xlim(-0.5, len(groups) - 0.5)
    fig = ax.get_figure()
    colourbar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=SHARE_CMAP), ax=ax, location="bottom",
                             fraction=0.025, aspect=12, pad=0.01)
    colourbar.ax.xaxis.set_major_formatter(mpl.ticker.PercentFormatter(1, decimals=0))
    colourbar.ax.tick_params(labelsize=6.5)
    colourbar.set_label("Share of the group's interviews", fontsize=7)


def _n(n: int, k: int, bare: bool = False) -> str:
    """A group's number of interviewees, or "<k" when it is a small count itself."""
    shown = f"<{k}" if 0 < n < k else str(n)
    return shown if bare else (f"n {shown}" if 0 < n < k else f"n = {shown}")


def _code_axis(ax: Axes, rows: list[tuple[str, str | None]], number: dict[str, int], names: bool) -> None:
    ticks, labels = [], []
    for y, (kind, code) in enumerate(rows):
        ticks.append(y)
        if code is None:
            labels.append(KIND_TITLES[kind] if names else "")
        else:
            labels.append(f"{code_label(code)}  {number[code]}" if names else str(number[code]))
    ax.set_yticks(ticks, labels, fontsize=6.5)
    ax.tick_params(axis="y", length=0, pad=2)
    if names:
        for tick, (_, code) in zip(ax.get_yticklabels(), rows, strict=True):
            if code is None:
                tick.set_fontweight("bold")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for y, (_, code) in enumerate(rows):
        if code is None and y:
            ax.axhline(y - 0.5, color="#7f7f7f", linewidth=0.6)


def _pairs_panel(fig: Figure, ax: Axes, cooccurrence: pd.DataFrame, rows: list[tuple[str, str | None]],
                 number: dict[str, int], k: int) -> None:
    _require(cooccurrence, ["code_a", "code_b", "interviews"], "code co-occurrence",
             "pass interviews.code_cooccurrence(segments) (the long form)")
    counts: dict[tuple[str, str], int] = {}
    for a, b, n in zip(cooccurrence["code_a"].astype("object"), cooccurrence["code_b"].astype("object"),
                       cooccurrence["interviews"], strict=True):
        counts[(a, b)] = counts[(b, a)] = int(n)
    shown = [int(n) for (a, b), n in counts.items() if a != b and n >= k and a in number and b in number]
    norm = Normalize(k, max([*shown, k + 1]))
    size = len(rows)
    image = np.ones((size, size, 4))
    image[..., 3] = 0
    small = []
    for y, (_, code_y) in enumerate(rows):
        for x, (_, code_x) in enumerate(rows[:y]):
            if code_x is None or code_y is None:
                continue
            n = counts.get((code_y, code_x), 0)
            if n == 0:
                image[y, x] = to_rgba("white")
            elif n < k:
                small.append((x, y))
            else:
                image[y, x] = COUNT_CMAP(norm(n))
    ax.imshow(image, aspect="auto", interpolation="nearest", extent=(-0.5, size - 0.5, size - 0.5, -0.5))
    _suppressed_cells(ax, small)
    _code_axis(ax, rows, number, names=False)
    codes_at = [(x, code) for x, (_, code) in enumerate(rows) if code is not None]
    ax.set_xticks([x for x, _ in codes_at], [str(number[c]) for _, c in codes_at], fontsize=6, rotation=90)
    ax.tick_params(axis="x", length=0, pad=1)
    for x, (_, code) in enumerate(rows):
        if code is None and x:
            ax.plot([x - 0.5, x - 0.5], [x - 0.5, size - 0.5], color="#7f7f7f", linewidth=0.6)
    ax.plot([-0.5, size - 0.5], [-0.5, size - 0.5], color="#bdbdbd", linewidth=0.5)  # the diagonal
    ax.set_xlim(-0.5, size - 0.5)
    colourbar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=COUNT_CMAP), ax=ax, location="bottom",
                             fraction=0.025, aspect=30, pad=0.01)
    colourbar.ax.tick_params(labelsize=6.5)
    colourbar.ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    colourbar.set_label("Interviews", fontsize=7)


def themes_caption(frequency: pd.DataFrame, cooccurrence: pd.DataFrame | None = None, k: int = 5) -> str:
    """Figure 7's caption: the interviews counted, the most frequent themes, the rule for small cells."""
    codes, kinds, by, groups = _checked_frequency(frequency)
    table = frequency.assign(code=frequency["code"].astype("object"))
    first = table.drop_duplicates(by or ["code"]) if by else table.iloc[:1]
    totals = {tuple(r[c] for c in by): int(r["interviews_total"]) for r in first.to_dict("records")}
    total = sum(totals.values())
    split = ", ".join(f"{_n(n, k, bare=True)} {' '.join(label(str(v)).lower() for v in g)}"
                      for g, n in totals.items()) if by else ""
    overall = table.groupby("code", sort=False)["interviews"].sum()
    small = table.groupby("code", sort=False)["interviews"].apply(lambda n: bool(((n > 0) & (n < k)).any()))
    highlights = []
    for kind in ("benefit", "cost"):
        of_kind = overall[[c for c in codes if kinds[c] == kind]]
        if len(of_kind) and of_kind.max() > 0:
            best = of_kind.idxmax()
            # the total would give back a hidden group cell by subtraction, so it is printed only when none is hidden
            count = "" if small[best] or of_kind.max() < k else f" ({of_kind.max()} of {total} interviews)"
            highlights.append(f"the most mentioned {kind} was {code_label(best).lower()}{count}")
    by_words = " and ".join(label(c).lower() for c in by)
    whose = f"each {by_words}'s" if len(by) == 1 else f"each {by_words} group's" if by else "the"
    text = (f"Interview themes in {total} interviews{f' ({split})' if split else ''}, one per interviewee, as "
            f"coded by coder {frequency.attrs.get('coder', 'A')}. ")
    if cooccurrence is not None:
        text += (f"(a) Share of {whose} interviews in which the code occurs at "
                 f"least once; (b) number of interviews in which both codes of a pair occur (each pair once; codes "
                 f"numbered as in (a)). ")
    else:
        text += f"Share of {whose} interviews in which the code occurs. "
    text += "Codes are grouped by kind: benefits and costs (social exchange), power relations, policy enactment. "
    if highlights:
        sentence = "; ".join(highlights)
        text += sentence[:1].upper() + sentence[1:] + ". "
    text += (f"Cells counting 1 to {k - 1} interviews are hatched grey and neither printed nor coloured by their "
             f"value, to protect participants; 0 is shown.")
    return text


# --------------------------------------------------------------------------------------------
# Figure 9: policy-actor types by sector and role
# --------------------------------------------------------------------------------------------

def plot_actor_types(counts: pd.DataFrame, panels: Sequence[str | Sequence[str]] = ("sector", "role"),
                     k: int = 5) -> Figure:
    """Figure 9: policy-actor types of the interviewees, one heatmap per grouping (default sector, role).

    ``counts`` is :func:`issp_research.interviews.actor_types_by` (people per group and type); each
    panel sums it over the other grouping (``("sector", "role")`` as one entry draws the joint cells).
    Cells print the number of people and are coloured by the share of the column's interviewees;
    small cells follow the module's rules. Column sizes are not printed.
    """
    tables = interviews.actor_types_panels(counts, panels)
    widths = [max(1.6, 0.55 * table.shape[1]) for _, table in tables]
    column_in = [(TEXT_WIDTH_IN - 1.1) * w / sum(widths) / table.shape[1] for w, (_, table) in zip(widths, tables,
                                                                                                strict=True)]
    fig = Figure(figsize=(TEXT_WIDTH_IN, 3.3), layout="constrained")
    axes = fig.subplots(1, len(tables), gridspec_kw={"width_ratios": widths}, squeeze=False)[0]
    statuses = disclosure([table for _, table in tables], k)
    shares = []
    for (_, table), status in zip(tables, statuses, strict=True):
        totals = table.sum(axis=0).replace(0, np.nan)
        shares += list((table / totals).to_numpy()[status.to_numpy() == "count"])
    norm = Normalize(0, _share_top(pd.Series(shares, dtype="float64")))
    letters = "abcdefgh"
    for index, (ax, (columns, table), status) in enumerate(zip(axes, tables, statuses, strict=True)):
        totals = table.sum(axis=0).replace(0, np.nan)
        image = np.ones((*table.shape, 4))
        small = []
        for y in range(table.shape[0]):
            for x in range(table.shape[1]):
                value, state = int(table.iat[y, x]), status.iat[y, x]
                if state == "count":
                    colour = SHARE_CMAP(norm(value / totals.iat[x]))
                    image[y, x] = colour
                    ax.text(x, y, str(value), ha="center", va="center", fontsize=7, color=_text_colour(colour))
                elif state == "zero":
                    ax.text(x, y, "0", ha="center", va="center", fontsize=7, color="#555555")
                else:
                    small.append((x, y))
                    ax.text(x, y, f"<{k}" if state == "small" else DERIVED_MARKER, ha="center", va="center",
                            fontsize=7)
        ax.imshow(image, aspect="auto", interpolation="nearest",
                  extent=(-0.5, table.shape[1] - 0.5, table.shape[0] - 0.5, -0.5))
        _suppressed_cells(ax, small)
        names = [textwrap.fill(" ".join(label(str(v)) for v in (c if isinstance(c, tuple) else (c,))), 11)
                 for c in table.columns]
        ax.set_xticks(range(table.shape[1]), names, fontsize=7, rotation=0 if column_in[index] >= 0.7 else 90)
        ax.xaxis.tick_top()
        ax.set_yticks(range(table.shape[0]), [label(str(t)) for t in table.index] if index == 0
                      else [""] * table.shape[0], fontsize=7)
        ax.tick_params(length=0, pad=2)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_title(f"({letters[index]}) By {' and '.join(label(c).lower() for c in columns)}", loc="left")
    colourbar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=SHARE_CMAP), ax=list(axes), location="bottom",
                             fraction=0.04, aspect=40, pad=0.02, shrink=0.6)
    colourbar.ax.xaxis.set_major_formatter(mpl.ticker.PercentFormatter(1, decimals=0))
    colourbar.ax.tick_params(labelsize=6.5)
    colourbar.set_label("Share of the column's interviewees", fontsize=7)
    handles = [_suppression_patch(k, "people")]
    if any((status == "complementary").to_numpy().any() for status in statuses):
        handles.append(Patch(facecolor=SUPPRESSED_COLOUR, edgecolor=SUPPRESSED_EDGE, hatch=SUPPRESSED_HATCH,
                             linewidth=0, label=f"{DERIVED_MARKER} hidden too, so no <{k} cell can be worked out"))
    fig.legend(handles=handles, loc="outside lower left", ncols=len(handles), frameon=False, fontsize=7)
    fig.align_titles()
    return fig


ROLE_PLURALS = {"senior_leader": "senior leaders", "coordinator": "coordinators", "teacher": "teachers",
                "governor": "governors"}


def _people(columns: Sequence[str], values: Sequence[object]) -> str:
    """A group of interviewees in words: "state-school staff", "governors", "independent senior leaders"."""
    named = dict(zip(columns, map(str, values), strict=True))
    words = [label(v).lower() for c, v in named.items() if c not in ("sector", "role")]
    if "role" in named:
        role = ROLE_PLURALS.get(named["role"], label(named["role"]).lower())
        return " ".join([*([named["sector"]] if "sector" in named else []), *words, role])
    if "sector" in named:
        return " ".join([f"{named['sector']}-school", *words, "staff"])
    return " ".join([*words, "interviewees"])


def actor_types_caption(counts: pd.DataFrame, panels: Sequence[str | Sequence[str]] = ("sector", "role"),
                        k: int = 5) -> str:
    """Figure 9's caption: who is counted, how the type is decided, what the markers mean."""
    tables = interviews.actor_types_panels(counts, panels)
    total = int(tables[0][1].to_numpy().sum())
    untyped = counts.attrs.get("untyped", 0)
    groupings = "; ".join(f"({'abcdefgh'[i]}) by {' and '.join(label(c).lower() for c in columns)}"
                          for i, (columns, _) in enumerate(tables))
    leaders = []
    for (columns, table), status in zip(tables, disclosure([table for _, table in tables], k), strict=True):
        for column in table.columns:
            printed = table[column][status[column] == "count"]
            if len(printed):
                values = column if isinstance(column, tuple) else (column,)
                leaders.append(f"{label(str(printed.idxmax())).lower()} among {_people(columns, values)} "
                               f"({printed.max()})")
    text = (f"Policy-actor types (Ball, Maguire and Braun 2012) of {total} interviewees{' ' if groupings else ''}"
            f"{groupings}. Each interviewee's type is the enactment code coder "
            f"{counts.attrs.get('coder', 'A')} applied most often in their interview; ties go to the type mentioned "
            f"first. Numbers are people; colour is the share of the column's interviewees. ")
    if untyped:
        text += f"{untyped} interviewees with no enactment code are not counted. "
    if leaders:
        text += "Most common shown type: " + "; ".join(leaders) + ". "
    text += (f"Counts from 1 to {k - 1} are hatched grey and marked <{k}, to protect participants; where such a "
             f"count could be worked out by subtraction, from a group's size or from the number of interviewees "
             f"of a type, a further cell is hidden too and marked {DERIVED_MARKER}. Group sizes are not shown, "
             f"for the same reason.")
    return text
