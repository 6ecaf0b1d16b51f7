"""Perceived worth of a partnership: perceived benefits less perceived costs (social exchange theory).

The default index is the mean of the answered benefit items less the mean of the answered cost items
(-4..+4), computed only where at least half of the items of each scale are answered: a mean over two
or three items says more about which items a respondent skipped than about the partnership.

The alternatives serve the sensitivity analysis (``worth_definition`` in analysis/params.yaml):

``ratio``
    benefit mean / cost mean (0.2..5; 1 is a balanced exchange).
``tangible``, ``intangible``
    the difference over the items tagged tangible (or intangible) in the data dictionary only, with
    the same half-of-the-items minimum on the narrower scales.
``weighted``
    the difference of importance-weighted means. The survey asks no importance ratings, so the
    weights cannot come from the data and no default is invented: the researcher gives one positive
    weight per item (``item_weights`` in analysis/params.yaml, e.g. from what interviewees said
    matters), and the index refuses to run without them. Weights act within a scale (a weighted
    mean), so only their ratios matter and the range stays -4..+4; equal weights give ``difference``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from . import dictionary as dd
from .errors import IsspError

WORTH_DEFINITIONS = ("difference", "ratio", "weighted", "tangible", "intangible")
SCALES = {"benefit": dd.BENEFITS, "cost": dd.COSTS}


def _half(items: tuple[str, ...] | list[str]) -> int:
    return (len(items) + 1) // 2


#: The documented minimum: at least half of each scale's items answered (6 of 12, 4 of 8).
MIN_ANSWERED = {scale: _half(items) for scale, items in SCALES.items()}


def _scale_mean(items: pd.DataFrame, minimum: int, weights: pd.Series | None) -> pd.Series:
    values = items.astype("float64")
    answered = values.notna()
    if weights is None:
        mean = values.mean(axis=1)
    else:
        w = weights[items.columns]
        mean = values.mul(w).sum(axis=1) / answered.mul(w).sum(axis=1)
    return mean.where(answered.sum(axis=1) >= minimum)


def _checked_weights(item_weights: Mapping[str, float] | pd.Series | None) -> pd.Series:
    rule = "one positive number per item B01..C08"
    if item_weights is None:
        raise IsspError("the weighted worth index needs item weights, and the survey has no importance ratings",
                        column="item_weights", rule=rule,
                        fix="give item_weights in analysis/params.yaml (e.g. item_weights: {B01: 2, B02: 1, ...}) "
                            "or choose another worth_definition")
    given = dict(item_weights)
    unknown = [item for item in given if item not in dd.ITEMS]
    if unknown:
        raise IsspError(f"item_weights names '{unknown[0]}', which is not a survey item", column="item_weights",
                        rule=rule, fix="use the item codes B01..B12 and C01..C08 in item_weights")
    weights = {}
    for item in dd.ITEMS:
        if item not in given:
            raise IsspError(f"item_weights has no weight for item {item}", column="item_weights", rule=rule,
                            fix=f"add {item} to item_weights in analysis/params.yaml")
        try:
            weight = float(given[item])
        except (TypeError, ValueError):
            weight = float("nan")
        if not (np.isfinite(weight) and weight > 0):
            raise IsspError(f"item_weights gives item {item} the weight {given[item]!r}", column="item_weights",
                            rule=rule, fix=f"give {item} a positive weight in item_weights (to leave items out, "
                                           "use the tangible or intangible definition, not a zero weight)")
        weights[item] = weight
    return pd.Series(weights)


def _checked_minimum(min_answered: Mapping[str, int] | None, scales: dict[str, list[str]]) -> dict[str, int]:
    minimum = {scale: _half(items) for scale, items in scales.items()}
    for scale, value in (min_answered or {}).items():
        if scale not in scales:
            raise IsspError(f"min_answered names the scale '{scale}'", column="min_answered",
                            rule="scales are 'benefit' and 'cost'", fix="use benefit and cost as keys")
        if not (isinstance(value, (int, np.integer)) and 1 <= value <= len(scales[scale])):
            raise IsspError(f"min_answered for the {scale} scale is {value!r}", column="min_answered",
                            rule=f"a whole number from 1 to the {len(scales[scale])} {scale} items used",
                            fix="the documented default is half of the scale's items")
        minimum[scale] = int(value)
    return minimum


def worth_index(responses: pd.DataFrame, definition: str = "difference",
                min_answered: Mapping[str, int] | None = None,
                item_weights: Mapping[str, float] | pd.Series | None = None) -> pd.DataFrame:
    """Benefit score, cost score and worth per response under the chosen definition.

    ``min_answered`` overrides the half-of-the-items minimum per scale (``{"benefit": 8}``);
    ``item_weights`` is used by the ``weighted`` definition only.
    """
    if definition not in WORTH_DEFINITIONS:
        raise IsspError(f"unknown worth definition '{definition}'", column="worth_definition",
                        rule=f"one of {', '.join(WORTH_DEFINITIONS)}",
                        fix="choose one of those as worth_definition in analysis/params.yaml")
    missing = [item for item in dd.ITEMS if item not in responses.columns]
    if missing:
        raise IsspError("the responses have no column for this survey item", column=missing[0],
                        rule="responses carry items B01..C08", fix="pass the processed responses table")
    scales = {scale: list(items) for scale, items in SCALES.items()}
    if definition in ("tangible", "intangible"):
        keep = definition == "tangible"
        scales = {scale: [item for item in items if dd.TANGIBLE[item] is keep] for scale, items in scales.items()}
    minimum = _checked_minimum(min_answered, scales)
    weights = _checked_weights(item_weights) if definition == "weighted" else None
    benefit = _scale_mean(responses[scales["benefit"]], minimum["benefit"], weights)
    cost = _scale_mean(responses[scales["cost"]], minimum["cost"], weights)
    worth = benefit / cost if definition == "ratio" else benefit - cost
    return pd.DataFrame({"benefit": benefit, "cost": cost, "worth": worth}, index=responses.index)


def _with_respondents(frame: pd.DataFrame, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Who answered, in which school and partnership; factors in the dictionary's order."""
    joined = (frame.merge(tables["participants"], on="participant", how="inner", validate="one_to_one")
              .merge(tables["schools"], on="school", how="inner", validate="many_to_one")
              .merge(tables["partnerships"], on="partnership", how="inner", validate="many_to_one"))
    for factor, labels in dd.FACTORS.items():
        joined[factor] = pd.Categorical(joined[factor].astype("object"), categories=labels)
    joined["years_in_role"] = joined["years_in_role"].astype("float64")
    return joined


def analysis_frame(tables: Mapping[str, pd.DataFrame], definition: str = "difference", survey_year: int = 2020,
                   min_answered: Mapping[str, int] | None = None,
                   item_weights: Mapping[str, float] | pd.Series | None = None) -> pd.DataFrame:
    """One row per respondent with a worth score: who they are, where, in which partnership."""
    responses = tables["responses"]
    scores = worth_index(responses, definition, min_answered=min_answered, item_weights=item_weights)
    frame = _with_respondents(responses[["participant"]].join(scores), tables)
    frame["partnership_age"] = (survey_year - frame["start_year"]).astype("float64")
    return frame[frame["worth"].notna()].reset_index(drop=True)


def item_responses(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every response's item scores with the respondent's sector, role, school and partnership.

    The item models use each item wherever it is answered, so no worth minimum applies here.
    """
    items = tables["responses"][["participant", *dd.ITEMS]]
    frame = _with_respondents(items.astype({item: "float64" for item in dd.ITEMS}), tables)
    columns = ["participant", "school", "partnership", "sector", "state_type", "phase", "role", *dd.ITEMS]
    return frame[columns].sort_values("participant").reset_index(drop=True)


def scale_reliability(responses: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cronbach's alpha per scale, and alpha-if-dropped and item-total correlation per item.

    Computed on each scale's complete responses (listwise), as :mod:`issp_research.reliability`
    explains; the count of those responses is reported beside alpha.
    """
    from .reliability import alpha_if_item_dropped, cronbach_alpha, item_total_correlations

    scales, items = [], []
    for scale, codes in SCALES.items():
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
