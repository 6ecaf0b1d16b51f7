"""Figures 4 and 5: the model's coefficients, and its estimated marginal means by sector and role.

Both read the tidy results that :mod:`issp_research.models` returns and the models notebook saves
(``side_by_side`` and ``marginal_means``), so they can be redrawn without refitting anything. Term
names are patsy's (``sector[T.state]:role[T.teacher]``); :func:`term_label` turns them into the
words a reader expects ("State × Teacher"), and the tables use the same function.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from issp_research import dictionary as dd
from issp_research.errors import IsspError
from issp_research.figures.style import LABELS, SECTOR_COLOURS, TEXT_WIDTH_IN, label

#: Display names of the fitted models (``ModelResult.name``).
MODEL_NAMES = {"mixed": "Linear mixed model", "clustered_ols": "OLS, SE clustered by partnership"}
#: How captions describe them.
MODEL_DESCRIPTIONS = {
    "mixed": "linear mixed model (random intercepts for partnership and for school)",
    "clustered_ols": "ordinary least squares (OLS) with standard errors clustered by partnership",
}
#: One look per model, in black and grey so they never read as the sector colours.
_MODEL_STYLE = (
    {"marker": "o", "color": "black", "markerfacecolor": "black"},
    {"marker": "s", "color": "0.45", "markerfacecolor": "white"},
    {"marker": "D", "color": "0.3", "markerfacecolor": "0.7"},
)
_SECTOR_MARKERS = {"independent": "o", "state": "s"}
_TERM = re.compile(r"^(?:C\((?P<cvar>\w+)[^)]*\)|(?P<var>\w+))\[T\.(?P<level>.+)\]$")
FIXED_COLUMNS = ["model", "term", "estimate", "ci_low", "ci_high"]
MEANS_COLUMNS = ["sector", "role", "estimate", "ci_low", "ci_high"]


def model_name(code: str) -> str:
    return MODEL_NAMES.get(code, label(code))


def model_description(code: str) -> str:
    return MODEL_DESCRIPTIONS.get(code, model_name(code))


def parse_term(term: str) -> list[tuple[str, str | None]]:
    """``sector[T.state]:role[T.teacher]`` -> ``[("sector", "state"), ("role", "teacher")]``.

    A numeric covariate has no level (``[("years_in_role", None)]``).
    """
    parts = []
    for part in term.split(":"):
        match = _TERM.match(part)
        if match:
            parts.append((match["cvar"] or match["var"], match["level"]))
        else:
            parts.append((part, None))
    return parts


def term_group(term: str) -> str:
    """The variable (or interaction of variables) a term belongs to, e.g. ``sector:role``."""
    return ":".join(variable for variable, _ in parse_term(term))


def term_label(term: str, *, with_variable: bool = False) -> str:
    """Readable words for a patsy term: "State × Teacher", "Coordinator", "Years in role".

    ``with_variable`` names the variable of a main effect ("Role: Coordinator"), for tables where
    no heading row says it.
    """
    if term == "Intercept":
        return "Intercept"
    parts = parse_term(term)
    words = " × ".join(label(level) if level is not None else label(variable)
                       for variable, level in parts)
    if with_variable and len(parts) == 1 and parts[0][1] is not None:
        return f"{label(parts[0][0])}: {words}"
    return words


def group_heading(group: str) -> str:
    """A factor's name ("Role"); an interaction is named by its variables ("Sector × role")."""
    variables = group.split(":")
    return " × ".join([label(variables[0]), *(label(v).lower() for v in variables[1:])])


def reference_level(group: str) -> str | None:
    """The reference level of a factor of the data dictionary (its first label); None otherwise."""
    return dd.FACTORS[group][0] if group in dd.FACTORS else None


def _check(table: pd.DataFrame, columns: list[str], what: str, fix: str) -> None:
    for column in columns:
        if column not in table.columns:
            raise IsspError(f"the {what} table has no column '{column}'", column=column,
                            rule=f"{what} as the models notebook saves them", fix=fix)
    if table.empty:
        raise IsspError(f"the {what} table is empty", rule="a figure needs at least one estimate",
                        fix=fix)


def coefficient_rows(fixed_effects: pd.DataFrame, include_intercept: bool = False) -> pd.DataFrame:
    """The rows drawn, top to bottom, with their ``kind``.

    A factor gets a ``heading`` row, a ``reference`` row naming the level its effects are compared
    with, then a ``term`` row per level; a numeric covariate is one ``term`` row.
    """
    terms = [term for term in dict.fromkeys(fixed_effects["term"])
             if include_intercept or term != "Intercept"]
    rows = []
    for group in dict.fromkeys(term_group(term) for term in terms):
        members = [term for term in terms if term_group(term) == group]
        if not (len(members) == 1 and parse_term(members[0])[0][1] is None):
            rows.append({"term": None, "label": group_heading(group), "kind": "heading"})
            reference = reference_level(group)
            if reference is not None:
                rows.append({"term": None, "label": f"{label(reference)} (ref.)", "kind": "reference"})
        rows.extend({"term": term, "label": term_label(term), "kind": "term"} for term in members)
    return pd.DataFrame(rows, columns=["term", "label", "kind"])


def plot_coefficients(fixed_effects: pd.DataFrame, include_intercept: bool = False) -> Figure:
    """Each term's estimate and 95% CI, one marker per model, dodged vertically."""
    _check(fixed_effects, FIXED_COLUMNS, "fixed effects",
           "pass models.side_by_side(mixed, ols), or results.load(..., 'fixed_effects')")
    rows = coefficient_rows(fixed_effects, include_intercept)
    models = list(dict.fromkeys(fixed_effects["model"]))
    if len(models) > len(_MODEL_STYLE):
        raise IsspError(f"{len(models)} models to compare; the figure draws up to {len(_MODEL_STYLE)}",
                        column="model", fix="pass the mixed model and the clustered OLS only")
    height = 0.9 + 0.18 * len(rows)
    fig = Figure(figsize=(TEXT_WIDTH_IN, height), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))
    dodge = 0.4 / (len(models) - 1) if len(models) > 1 else 0.0  # the outer markers 0.4 rows apart
    offsets = (np.arange(len(models)) - (len(models) - 1) / 2) * dodge
    for offset, model, style in zip(offsets, models, _MODEL_STYLE, strict=False):
        estimates = fixed_effects[fixed_effects["model"] == model].set_index("term")
        drawn = rows[rows["kind"] == "term"]
        cells = estimates.reindex(drawn["term"])
        ys = y[drawn.index] + offset
        estimate, low, high = (cells[c].to_numpy(dtype="float64") for c in ("estimate", "ci_low", "ci_high"))
        ax.errorbar(estimate, ys, xerr=[estimate - low, high - estimate],
                    fmt=style["marker"], color=style["color"], markerfacecolor=style["markerfacecolor"],
                    markeredgecolor=style["color"], markersize=4.5, elinewidth=1, capsize=0,
                    label=model_name(model))
    ax.axvline(0, color="0.5", linewidth=0.6, linestyle="--", zorder=0)
    ax.set_yticks(y, rows["label"])
    for text, kind in zip(ax.get_yticklabels(), rows["kind"], strict=True):
        if kind == "heading":
            text.set_fontweight("bold")
        elif kind == "reference":
            text.set_color("0.4")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="y", color="0.92", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("Effect on perceived worth (−4 to +4 scale), 95% CI")
    fig.legend(loc="outside upper center", ncols=len(models), frameon=False)
    return fig


def coefficients_caption(fixed_effects: pd.DataFrame, include_intercept: bool = False) -> str:
    """Names the models and reference levels, and counts the terms drawn."""
    rows = coefficient_rows(fixed_effects, include_intercept)
    models = list(dict.fromkeys(fixed_effects["model"]))
    terms = rows.loc[rows["kind"] == "term", "term"]
    covariates = [label(term) for term in terms if parse_term(term) == [(term, None)]]
    below = {}
    for model in models:
        cells = fixed_effects[(fixed_effects["model"] == model) & fixed_effects["term"].isin(terms)]
        below[model] = int(((cells["ci_high"] < 0) | (cells["ci_low"] > 0)).sum())
    names = " and ".join(model_description(model) for model in models)
    return (
        f"Fixed effects on perceived worth (benefits less costs) from the {names}: estimates with "
        f"95% confidence intervals for {len(terms)} terms"
        + ("" if include_intercept else " (intercepts not shown)")
        + ". Each factor's effects are differences from its reference level (ref.); the "
        "interaction terms are the further difference for that combination of sector and role"
        + (f"; {', '.join(covariates).lower()}: effect of a one-unit increase" if covariates else "")
        + ". "
        "Intervals excluding zero: "
        + "; ".join(f"{below[model]} of {len(terms)} ({model_name(model)})" for model in models)
        + "."
    )


def plot_marginal_means(means: pd.DataFrame) -> Figure:
    """Role on the x axis, one line of markers per sector in its colour, with 95% CIs."""
    _check(means, MEANS_COLUMNS, "marginal means",
           "pass models.marginal_means(mixed, frame), or results.load(..., 'marginal_means')")
    fig = Figure(figsize=(TEXT_WIDTH_IN, 3.0), layout="constrained")
    ax = fig.subplots()
    roles = [role for role in dd.ROLES if role in set(means["role"].astype("object"))]
    sectors = [sector for sector in dd.SECTORS if sector in set(means["sector"].astype("object"))]
    x = np.arange(len(roles))
    offsets = (np.arange(len(sectors)) - (len(sectors) - 1) / 2) * 0.12
    for offset, sector in zip(offsets, sectors, strict=True):
        cells = (means[means["sector"].astype("object") == sector]
                 .assign(role=lambda t: t["role"].astype("object")).set_index("role").reindex(roles))
        estimate, low, high = (cells[c].to_numpy(dtype="float64") for c in ("estimate", "ci_low", "ci_high"))
        ax.errorbar(x + offset, estimate, yerr=[estimate - low, high - estimate],
                    color=SECTOR_COLOURS[sector], marker=_SECTOR_MARKERS.get(sector, "o"),
                    markersize=5.5, linewidth=1.4, elinewidth=1.1, capsize=3,
                    label=LABELS.get(sector, label(sector)))
    ax.set_xticks(x, [label(role) for role in roles])
    ax.set_xlim(-0.5, len(roles) - 0.5)
    ax.set_xlabel("Role")
    ax.set_ylabel("Estimated worth\n(benefits − costs)")
    low, high = float(means["ci_low"].min()), float(means["ci_high"].max())
    pad = 0.1 * (high - low or 1)
    ax.set_ylim(min(low - pad, 0), high + pad)
    if low - pad < 0:
        ax.axhline(0, color="0.5", linewidth=0.6, linestyle="--", zorder=0)
    fig.legend(loc="outside upper center", ncols=len(sectors), frameon=False)
    return fig


def marginal_means_caption(means: pd.DataFrame) -> str:
    """The model named from the data, and the highest and lowest cells with their estimates."""
    model = str(means["model"].iloc[0]) if "model" in means.columns else "mixed"
    ordered = means.sort_values("estimate")
    def cell(row: pd.Series) -> str:
        return (f"{label(str(row['sector'])).lower()} {label(str(row['role'])).lower()}s "
                f"({_number(row['estimate'])}, 95% CI {_number(row['ci_low'])} to "
                f"{_number(row['ci_high'])})")
    return (
        f"Estimated marginal means of perceived worth (benefits less costs, −4 to +4) for the "
        f"{len(means)} combinations of sector and role, from the {model_description(model)}, with "
        f"95% confidence intervals. The model's other factors are weighted equally over their levels "
        f"and its numeric covariates held at their means. Highest: {cell(ordered.iloc[-1])}; lowest: "
        f"{cell(ordered.iloc[0])}. Lines join the roles of one sector to show the interaction; "
        f"the roles are not ordered."
    )


def _number(value: float) -> str:
    """Two decimals with a typographic minus, as in the figures' tick labels."""
    text = f"{value:.2f}"
    if text == "-0.00":
        text = "0.00"
    return text.replace("-", "\u2212")
