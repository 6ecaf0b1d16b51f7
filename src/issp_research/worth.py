"""Perceived worth of a partnership: perceived benefits less perceived costs (social exchange theory).

The default index is the mean of the answered benefit items less the mean of the answered cost items
(-4..+4), computed only where at least half of each scale is answered. The alternatives serve the
sensitivity analysis: a ratio, tangible-only and intangible-only differences, and an
importance-weighted difference with weights the researcher supplies.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from . import dictionary as dd
from .errors import IsspError

WORTH_DEFINITIONS = ("difference", "ratio", "weighted", "tangible", "intangible")
#: At least half of each scale must be answered for a worth score (documented minimum).
MIN_ANSWERED = {"benefit": 6, "cost": 4}


def _scale_mean(items: pd.DataFrame, minimum: int, weights: Mapping[str, float] | None = None) -> pd.Series:
    values = items.astype("float64")
    answered = values.notna().sum(axis=1)
    if weights is None:
        mean = values.mean(axis=1)
    else:
        w = pd.Series({column: float(weights[column]) for column in items.columns})
        mean = (values * w).sum(axis=1) / values.notna().mul(w).sum(axis=1)
    return mean.where(answered >= minimum)


def worth_index(responses: pd.DataFrame, definition: str = "difference",
                min_answered: Mapping[str, int] | None = None,
                weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Benefit mean, cost mean and worth per response under the chosen definition."""
    if definition not in WORTH_DEFINITIONS:
        raise IsspError(f"unknown worth definition '{definition}'", column="worth_definition",
                        rule=f"one of {', '.join(WORTH_DEFINITIONS)}", fix="choose one of those in analysis/params.yaml")
    minimum = {**MIN_ANSWERED, **(min_answered or {})}
    benefits, costs = list(dd.BENEFITS), list(dd.COSTS)
    if definition in ("tangible", "intangible"):
        keep = definition == "tangible"
        benefits = [item for item in benefits if dd.TANGIBLE[item] is keep]
        costs = [item for item in costs if dd.TANGIBLE[item] is keep]
        # Half of the items on the narrower scale, as for the full scales.
        minimum = {"benefit": (len(benefits) + 1) // 2, "cost": (len(costs) + 1) // 2}
    if definition == "weighted":
        if weights is None:
            raise IsspError("the weighted worth index needs item weights", column="item_weights",
                            rule="a positive weight for every item B01..C08",
                            fix="give item_weights in analysis/params.yaml")
        missing = [item for item in dd.ITEMS if item not in weights or not float(weights[item]) > 0]
        if missing:
            raise IsspError(f"no positive weight for item {missing[0]}", column="item_weights",
                            rule="a positive weight for every item B01..C08", fix="add it to item_weights")
    benefit = _scale_mean(responses[benefits], minimum["benefit"], weights if definition == "weighted" else None)
    cost = _scale_mean(responses[costs], minimum["cost"], weights if definition == "weighted" else None)
    worth = benefit / cost if definition == "ratio" else benefit - cost
    return pd.DataFrame({"benefit": benefit, "cost": cost, "worth": worth}, index=responses.index)


def analysis_frame(tables: Mapping[str, pd.DataFrame], definition: str = "difference",
                   survey_year: int = 2020, **options) -> pd.DataFrame:
    """One row per respondent with a worth score: who they are, where, in which partnership."""
    responses, participants = tables["responses"], tables["participants"]
    schools, partnerships = tables["schools"], tables["partnerships"]
    scores = worth_index(responses, definition, **options)
    frame = (responses[["participant"]].join(scores)
             .merge(participants, on="participant", how="inner", validate="one_to_one")
             .merge(schools, on="school", how="inner", validate="many_to_one")
             .merge(partnerships, on="partnership", how="inner", validate="many_to_one"))
    frame["partnership_age"] = (survey_year - frame["start_year"]).astype("float64")
    frame["years_in_role"] = frame["years_in_role"].astype("float64")
    frame = frame[frame["worth"].notna()].reset_index(drop=True)
    for factor, labels in dd.FACTORS.items():
        frame[factor] = pd.Categorical(frame[factor].astype("object"), categories=labels)
    return frame


def scale_reliability(responses: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cronbach's alpha per scale, and alpha-if-dropped and item-total correlation per item."""
    from .reliability import alpha_if_item_dropped, cronbach_alpha, item_total_correlations

    scales, items = [], []
    for scale, codes in (("benefit", dd.BENEFITS), ("cost", dd.COSTS)):
        data = responses[list(codes)].astype("float64")
        complete = int(data.notna().all(axis=1).sum())
        scales.append({"scale": scale, "items": len(codes), "complete_responses": complete,
                       "alpha": cronbach_alpha(data)})
        dropped, total = alpha_if_item_dropped(data), item_total_correlations(data)
        items.extend({"scale": scale, "item": code, "wording": dd.ITEM_WORDING[code],
                      "tangible": dd.TANGIBLE[code], "alpha_if_dropped": dropped[code],
                      "item_total_r": total[code]} for code in codes)
    return pd.DataFrame(scales), pd.DataFrame(items)


def cell_summary(frame: pd.DataFrame, by: tuple[str, ...] = ("sector", "role")) -> pd.DataFrame:
    """Respondents, mean and SD of worth per cell (observed, before any model)."""
    grouped = frame.groupby(list(by), observed=False)["worth"]
    summary = grouped.agg(n="count", mean="mean", sd="std").reset_index()
    summary["n"] = summary["n"].astype("int64")
    return summary.replace({np.inf: np.nan})


def respondent_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """What figures need of each respondent: pseudonyms, sector, role and the scores."""
    columns = ["participant", "school", "partnership", "sector", "state_type", "phase", "role",
               "benefit", "cost", "worth"]
    return frame[columns].sort_values("participant").reset_index(drop=True)
