"""Reliability coefficients: internal consistency of a scale and agreement between coders.

Each coefficient is computed by an established implementation (the classic closed form for
Cronbach's alpha, statsmodels for the kappas, the ``krippendorff`` package for alpha); this module
only checks the inputs and shapes them, so that a mistake reaches the user as one
:class:`~issp_research.errors.IsspError` instead of a NumPy traceback or, worse, a plausible number.

Two outcomes are kept apart on purpose:

* an input that cannot be right (unequal lengths, an unknown option, a ragged count table) raises
  :class:`IsspError`;
* data that are valid but show no variation at all (every coder used one category, the total score
  is constant) return ``nan``: every such coefficient is then 0/0, because agreement that could not
  have been otherwise says nothing about reliability. ``nan`` keeps a table of many coefficients
  buildable and is visibly not a number in it, where 1.0 would overstate and an error would stop
  the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import krippendorff
import numpy as np
import pandas as pd
from statsmodels.stats import inter_rater

from issp_research.errors import IsspError

__all__ = [
    "alpha_if_item_dropped",
    "cohen_kappa",
    "cronbach_alpha",
    "fleiss_kappa",
    "item_total_correlations",
    "krippendorff_alpha",
]

Labels = pd.Series | pd.Categorical | np.ndarray | Sequence[object]
KappaWeights = Literal["linear", "quadratic"] | None
Level = Literal["nominal", "ordinal", "interval", "ratio"]

KAPPA_WEIGHTS = (None, "linear", "quadratic")
LEVELS = ("nominal", "ordinal", "interval", "ratio")


# --- internal consistency -------------------------------------------------------------------


def cronbach_alpha(items: pd.DataFrame) -> float:
    """Cronbach's (1951) alpha of the summed scale; rows are respondents, columns items.

    Rows with any missing item are dropped (listwise deletion): the classic formula compares
    the item variances with the variance of the total, which is only meaningful when every
    variance is taken over the same respondents. Returns nan when the total score is constant.
    """
    return _alpha(_complete_items(items, "cronbach_alpha", min_items=2))


def alpha_if_item_dropped(items: pd.DataFrame) -> pd.Series:
    """Alpha of the scale without each item in turn, indexed by item name.

    Computed on the same listwise-complete respondents as :func:`cronbach_alpha`, so that a
    change from the full-scale alpha reflects the item and not a different sample.
    """
    complete = _complete_items(items, "alpha_if_item_dropped", min_items=3)
    return pd.Series(
        [_alpha(complete.drop(columns=item)) for item in complete.columns],
        index=complete.columns,
        name="alpha_if_item_dropped",
        dtype=float,
    )


def item_total_correlations(items: pd.DataFrame) -> pd.Series:
    """Corrected item-total correlation: each item against the sum of the *other* items.

    The item is left out of the total because otherwise it correlates with itself and every
    item looks better than it is, most of all in short scales. Listwise-complete rows only;
    a constant item gets nan.
    """
    complete = _complete_items(items, "item_total_correlations", min_items=2)
    total = complete.sum(axis=1)
    return pd.Series(
        [complete[item].corr(total - complete[item]) for item in complete.columns],
        index=complete.columns,
        name="corrected_item_total_correlation",
        dtype=float,
    )


def _complete_items(items: object, function: str, *, min_items: int) -> pd.DataFrame:
    if not isinstance(items, pd.DataFrame):
        raise IsspError(
            f"{function}: argument 'items' must be a pandas DataFrame, got {type(items).__name__}",
            rule="items is a table with one row per respondent and one column per item",
            fix="pass pandas.DataFrame(scores, columns=item_names)",
        )
    if items.shape[1] < min_items:
        raise IsspError(
            f"{function}: argument 'items' has {items.shape[1]} item column(s); "
            f"at least {min_items} are needed",
            rule=f"{function} needs at least {min_items} items",
            fix="pass all the items of the scale as columns",
        )
    duplicated = items.columns[items.columns.duplicated()]
    if len(duplicated):
        raise IsspError(
            f"{function}: argument 'items' has the item name {duplicated[0]!r} more than once",
            column=str(duplicated[0]),
            rule="item names are unique, because results are indexed by them",
            fix="rename the duplicated columns",
        )
    for item in items.columns:
        if not pd.api.types.is_numeric_dtype(items[item]):
            raise IsspError(
                f"{function}: item {item!r} in argument 'items' is not numeric "
                f"(dtype {items[item].dtype})",
                column=str(item),
                rule="item scores are numbers",
                fix="recode the responses to numeric scores before computing reliability",
            )
    complete = items.dropna(how="any").astype(float)
    if len(complete) < 2:
        raise IsspError(
            f"{function}: argument 'items' has {len(complete)} respondent(s) with every item "
            "answered; at least 2 are needed",
            rule="rows with any missing item are dropped (listwise deletion)",
            fix="check the missing-value coding, or drop items that few respondents answered",
        )
    return complete


def _alpha(complete: pd.DataFrame) -> float:
    k = complete.shape[1]
    total_variance = complete.sum(axis=1).var(ddof=1)
    if total_variance == 0:
        return float("nan")
    return float(k / (k - 1) * (1 - complete.var(ddof=1).sum() / total_variance))


# --- agreement between two coders ------------------------------------------------------------


def cohen_kappa(rater_a: Labels, rater_b: Labels, weights: KappaWeights = None) -> float:
    """Cohen's kappa for two raters who labelled the same subjects, matched by position.

    The contingency table spans the union of both raters' categories, so a category only one
    rater used still counts. Pairs with a missing label are dropped. With ``weights`` ("linear"
    or "quadratic", Cohen 1968) the labels must be ordered: numbers are used as scores, so their
    spacing counts (1, 2, 4 has a double step), and an ordered Categorical is scored by the rank
    of its declared categories, used or not. (sklearn and R's irr instead rank the labels that
    happen to occur, which differs when a level goes unused.)

    When both raters used one single category, kappa is 0/0 (chance agreement is already 1);
    nan is returned, as for every coefficient in this module with nothing to agree about.
    """
    if weights not in KAPPA_WEIGHTS:
        raise IsspError(
            f"cohen_kappa: argument 'weights' is {weights!r}",
            rule="weights is None (unweighted), 'linear' or 'quadratic'",
            fix="pass weights=None, weights='linear' or weights='quadratic'",
        )
    a = _labels(rater_a, "rater_a")
    b = _labels(rater_b, "rater_b")
    if len(a) != len(b):
        raise IsspError(
            f"cohen_kappa: argument 'rater_a' has {len(a)} labels but 'rater_b' has {len(b)}",
            rule="both raters label the same subjects, in the same order",
            fix="align the two raters' labels by subject and drop subjects only one rater saw",
        )
    both = (a.notna() & b.notna()).to_numpy()
    a, b = a[both], b[both]
    if a.empty:
        raise IsspError(
            "cohen_kappa: no subject has a label from both 'rater_a' and 'rater_b'",
            rule="kappa needs subjects rated by both raters",
            fix="check that missing labels are coded as missing only where a rating is absent",
        )
    if weights is None:
        values_a, values_b = a.astype(object), b.astype(object)
        categories, scores = pd.Index(pd.unique(pd.concat([values_a, values_b]))), None
    else:
        categories, scores, values_a, values_b = _ordered_scale(a, b, weights)
    if pd.concat([values_a, values_b]).nunique() < 2:
        return float("nan")
    table = _crosstab(categories, values_a, values_b)
    return float(inter_rater.cohens_kappa(table, weights=scores, wt=weights, return_results=False))


def _labels(values: object, name: str) -> pd.Series:
    if _ndim(values) != 1:
        raise IsspError(
            f"cohen_kappa: argument '{name}' must be a one-dimensional sequence of labels "
            f"(got {_ndim(values)} dimensions)",
            rule="each rater gives one label per subject",
            fix=f"pass {name} as a list, array, Series or Categorical of labels",
        )
    return pd.Series(values).reset_index(drop=True)


def _ordered_scale(
    a: pd.Series, b: pd.Series, weights: str
) -> tuple[pd.Index, np.ndarray, pd.Series, pd.Series]:
    if isinstance(a.dtype, pd.CategoricalDtype) or isinstance(b.dtype, pd.CategoricalDtype):
        for name, labels in (("rater_a", a), ("rater_b", b)):
            if not (isinstance(labels.dtype, pd.CategoricalDtype) and labels.dtype.ordered):
                raise IsspError(
                    f"cohen_kappa: weights={weights!r} needs ordered labels, but argument "
                    f"'{name}' is not an ordered Categorical",
                    rule="with Categorical labels, both raters use ordered Categoricals",
                    fix=f"make {name} pandas.Categorical(labels, categories=scale, ordered=True)",
                )
        if not a.cat.categories.equals(b.cat.categories):
            raise IsspError(
                f"cohen_kappa: arguments 'rater_a' and 'rater_b' declare different categories "
                f"({list(a.cat.categories)} vs {list(b.cat.categories)})",
                rule="weighted kappa scores both raters on one ordered scale",
                fix="give both Categoricals the same categories in the same order",
            )
        categories = a.cat.categories
        return (
            categories,
            np.arange(len(categories), dtype=float),
            a.astype(object),
            b.astype(object),
        )
    for name, labels in (("rater_a", a), ("rater_b", b)):
        if not pd.api.types.is_numeric_dtype(labels):
            raise IsspError(
                f"cohen_kappa: weights={weights!r} needs ordered labels, but argument '{name}' "
                f"holds {labels.dtype} values",
                rule="weighted kappa needs numbers or ordered pandas Categoricals",
                fix=f"recode {name} to numeric scores, or pass "
                "pandas.Categorical(labels, categories=scale, ordered=True)",
            )
    values_a, values_b = a.astype(float), b.astype(float)
    scores = np.union1d(values_a.to_numpy(), values_b.to_numpy())
    return pd.Index(scores), scores, values_a, values_b


def _ndim(values: object) -> int:
    """Dimensions as the user sees them; ragged nested lists count as one dimension, not a crash."""
    return np.asarray(values, dtype=object).ndim


def _crosstab(categories: pd.Index, values_a: pd.Series, values_b: pd.Series) -> np.ndarray:
    table = np.zeros((len(categories), len(categories)))
    np.add.at(table, (categories.get_indexer(values_a), categories.get_indexer(values_b)), 1)
    return table


# --- agreement between many coders -----------------------------------------------------------


def fleiss_kappa(counts: pd.DataFrame | np.ndarray | Sequence[Sequence[float]]) -> float:
    """Fleiss' (1971) kappa from a subjects x categories table of how many raters chose each.

    Fleiss' chance model assumes every subject was rated by the same number of raters, so a
    ragged table is refused rather than silently mis-weighted; use :func:`krippendorff_alpha`
    when ratings are missing. Returns nan when all ratings fall in one category.
    """
    if _ndim(counts) != 2:
        raise IsspError(
            f"fleiss_kappa: argument 'counts' must be a two-dimensional table (got {_ndim(counts)} "
            "dimensions)",
            rule="counts has one row per subject and one column per category",
            fix="aggregate raw ratings first, e.g. statsmodels.stats.inter_rater.aggregate_raters",
        )
    labels = counts.index if isinstance(counts, pd.DataFrame) else None
    try:
        table = np.asarray(counts, dtype=float)
    except (TypeError, ValueError) as error:
        raise IsspError(
            f"fleiss_kappa: argument 'counts' holds values that are not counts ({error})",
            rule="each cell is the number of raters who put the subject in the category",
            fix="pass a numeric table of counts",
        ) from None
    if table.shape[0] == 0:
        raise IsspError(
            "fleiss_kappa: argument 'counts' has no subjects",
            rule="counts has one row per subject",
            fix="pass at least one rated subject",
        )
    if not np.isfinite(table).all() or (table < 0).any():
        raise IsspError(
            "fleiss_kappa: argument 'counts' has missing, infinite or negative cells",
            rule="each cell is a count of raters, zero or more",
            fix="fill categories nobody chose with 0",
        )
    totals = table.sum(axis=1)
    ragged = np.flatnonzero(totals != totals[0])
    if ragged.size:
        first = int(ragged[0])
        raise IsspError(
            f"fleiss_kappa: argument 'counts' has {totals[first]:g} ratings in this row but "
            f"{totals[0]:g} in the first row",
            row=first if labels is None else labels[first],
            rule="every subject is rated by the same number of raters",
            fix="correct the counts, or use krippendorff_alpha, which allows missing ratings",
        )
    if totals[0] < 2:
        raise IsspError(
            f"fleiss_kappa: argument 'counts' has {totals[0]:g} rater(s) per subject",
            rule="agreement needs at least 2 raters per subject",
            fix="check that counts holds rater counts, not proportions",
        )
    if np.count_nonzero(table.sum(axis=0)) < 2:
        return float("nan")
    return float(inter_rater.fleiss_kappa(table, method="fleiss"))


def krippendorff_alpha(
    reliability_data: pd.DataFrame | np.ndarray | Sequence[Sequence[object]],
    level_of_measurement: Level = "nominal",
) -> float:
    """Krippendorff's alpha; rows are coders, columns units, NaN (or None) where a coder is silent.

    Alpha uses every pairable value, so unequal numbers of coders per unit are fine. Nominal
    labels may be strings: they are mapped to integer codes first, because only equality
    matters at that level. Other levels need numbers, since their distances come from the
    values. Returns nan when every pairable value is the same.
    """
    if level_of_measurement not in LEVELS:
        raise IsspError(
            f"krippendorff_alpha: argument 'level_of_measurement' is {level_of_measurement!r}",
            rule="level_of_measurement is 'nominal', 'ordinal', 'interval' or 'ratio'",
            fix="pass one of 'nominal', 'ordinal', 'interval', 'ratio'",
        )
    if _ndim(reliability_data) != 2:
        raise IsspError(
            "krippendorff_alpha: argument 'reliability_data' must be a two-dimensional table "
            f"(got {_ndim(reliability_data)} dimensions)",
            rule="reliability_data has one row per coder and one column per unit",
            fix="arrange the codes as a coders x units table with NaN for missing codes",
        )
    frame = pd.DataFrame(reliability_data)
    if all(pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes):
        data = frame.to_numpy(dtype=float, na_value=np.nan)
    elif level_of_measurement == "nominal":
        codes, _ = pd.factorize(pd.Series(frame.to_numpy(dtype=object).ravel()))
        data = np.where(codes < 0, np.nan, codes).astype(float).reshape(frame.shape)
    else:
        raise IsspError(
            f"krippendorff_alpha: argument 'reliability_data' holds non-numeric labels, which "
            f"have no distances at level_of_measurement={level_of_measurement!r}",
            rule="only nominal data may be labels; other levels need numeric values",
            fix="map the labels to numbers that keep their order (ordinal) or their "
            "distances (interval, ratio), or use level_of_measurement='nominal'",
        )
    coded = ~np.isnan(data)
    pairable = coded.sum(axis=0) >= 2
    if not pairable.any():
        raise IsspError(
            "krippendorff_alpha: no unit in argument 'reliability_data' has codes from "
            "two or more coders",
            rule="alpha compares codes given to the same unit; rows are coders, columns units",
            fix="check the orientation (transpose a units x coders table) and the missing codes",
        )
    if np.unique(data[:, pairable][coded[:, pairable]]).size < 2:
        return float("nan")
    return float(
        krippendorff.alpha(reliability_data=data, level_of_measurement=level_of_measurement)
    )
