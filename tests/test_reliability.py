"""Each coefficient against a published worked example, to the precision it was published with."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from issp_research.errors import IsspError
from issp_research.reliability import (
    alpha_if_item_dropped,
    cohen_kappa,
    cronbach_alpha,
    fleiss_kappa,
    item_total_correlations,
    krippendorff_alpha,
)

NAN = np.nan


def published(value: float, decimals: int):
    """Equal to ``value`` once rounded to the ``decimals`` places it was published with."""
    return pytest.approx(value, abs=0.5 * 10**-decimals)


def expand(table: list[list[int]], categories: list[object]) -> tuple[list[object], list[object]]:
    """Raw label pairs behind a two-rater contingency table (rows rater A, columns rater B)."""
    rater_a: list[object] = []
    rater_b: list[object] = []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            rater_a += [categories[i]] * count
            rater_b += [categories[j]] * count
    return rater_a, rater_b


# --- Cronbach's alpha ------------------------------------------------------------------------

# Shrout & Fleiss (1979), "Intraclass correlations: uses in assessing rater reliability",
# Psychological Bulletin 86(2), 420-428, Table 2: 6 targets rated by 4 judges. Their Table 4
# gives ICC(3,k) = .91, and ICC(3,k) (consistency, average of k) is algebraically Cronbach's alpha
# with judges as items (McGraw & Wong 1996, Psychological Methods 1(1), 30-46).
SHROUT_FLEISS = pd.DataFrame(
    {
        "J1": [9, 6, 8, 7, 10, 6],
        "J2": [2, 1, 4, 1, 5, 2],
        "J3": [5, 3, 6, 2, 6, 4],
        "J4": [8, 2, 8, 6, 9, 7],
    }
)


def test_cronbach_alpha_matches_shrout_fleiss_1979_icc3k():
    assert cronbach_alpha(SHROUT_FLEISS) == published(0.91, 2)


def test_cronbach_alpha_recovers_population_alpha_of_parallel_items():
    # k parallel items, true-score variance 1 and error variance 7/3, so each item has
    # reliability rho = 0.3 and the population alpha is k*rho / (1 + (k-1)*rho) = 0.72 for k = 6.
    k, rho, n = 6, 0.3, 20_000
    rng = np.random.default_rng(20240611)
    true_score = rng.normal(size=(n, 1))
    errors = rng.normal(scale=math.sqrt((1 - rho) / rho), size=(n, k))
    items = pd.DataFrame(true_score + errors, columns=[f"item{i}" for i in range(k)])
    assert cronbach_alpha(items) == pytest.approx(k * rho / (1 + (k - 1) * rho), abs=0.01)


def test_cronbach_alpha_drops_incomplete_rows_listwise():
    with_gaps = pd.concat(
        [
            SHROUT_FLEISS,
            pd.DataFrame({"J1": [1.0, NAN], "J2": [NAN, 9.0], "J3": [3.0, 3.0], "J4": [NAN, 1.0]}),
        ],
        ignore_index=True,
    )
    assert cronbach_alpha(with_gaps) == cronbach_alpha(SHROUT_FLEISS)


def test_cronbach_alpha_is_nan_when_the_total_does_not_vary():
    assert math.isnan(cronbach_alpha(pd.DataFrame({"a": [1, 2, 3], "b": [3, 2, 1]})))


def test_alpha_if_item_dropped_uses_the_same_respondents_as_the_full_scale():
    # The extra respondent skipped J4: without J4 they would be complete, but alpha-if-dropped
    # must still describe the listwise sample of the full scale.
    extra = pd.DataFrame({"J1": [1.0], "J2": [9.0], "J3": [1.0], "J4": [NAN]})
    result = alpha_if_item_dropped(pd.concat([SHROUT_FLEISS, extra], ignore_index=True))
    assert list(result.index) == ["J1", "J2", "J3", "J4"]
    for item in SHROUT_FLEISS.columns:
        assert result[item] == pytest.approx(cronbach_alpha(SHROUT_FLEISS.drop(columns=item)))


def test_item_total_correlations_leave_the_item_out_of_the_total():
    result = item_total_correlations(SHROUT_FLEISS)
    assert list(result.index) == ["J1", "J2", "J3", "J4"]
    for item in SHROUT_FLEISS.columns:
        rest = SHROUT_FLEISS.drop(columns=item).sum(axis=1)
        assert result[item] == pytest.approx(np.corrcoef(SHROUT_FLEISS[item], rest)[0, 1])
        uncorrected = np.corrcoef(SHROUT_FLEISS[item], SHROUT_FLEISS.sum(axis=1))[0, 1]
        assert result[item] < uncorrected


# --- Cohen's kappa ---------------------------------------------------------------------------


def test_cohen_kappa_wikipedia_grant_proposals():
    # Wikipedia, "Cohen's kappa", simple worked example: 50 grant proposals, both yes 20,
    # A yes / B no 5, A no / B yes 10, both no 15; p_o = 0.7, p_e = 0.5, kappa = 0.4.
    rater_a, rater_b = expand([[20, 5], [10, 15]], ["yes", "no"])
    assert cohen_kappa(rater_a, rater_b) == published(0.40, 2)


def test_cohen_kappa_sas_skin_condition_agreement_study():
    # SAS/STAT User's Guide, PROC FREQ, Getting Started "Agreement Study" (Skin Condition
    # Data, two dermatologists, 4 ratings): simple kappa 0.3449.
    table = [[10, 4, 1, 0], [5, 10, 12, 2], [2, 4, 12, 5], [0, 2, 6, 13]]
    rater_a, rater_b = expand(table, ["terrible", "poor", "marginal", "clear"])
    assert cohen_kappa(rater_a, rater_b) == published(0.3449, 4)


def test_cohen_kappa_stata_xeromammograms():
    # Stata Base Reference Manual, [R] kappa, two radiologists (rada, radb) rating 85
    # xeromammograms (Boyd et al. 1982): kappa 0.4728; with wgt(w), linear weights 1-|i-j|/(k-1),
    # 0.5684.
    table = [[21, 12, 0, 0], [4, 17, 1, 0], [3, 9, 15, 2], [0, 0, 0, 1]]
    scale = ["normal", "benign", "suspected", "cancer"]
    codes_a, codes_b = expand(table, [0, 1, 2, 3])
    rater_a, rater_b = (
        pd.Categorical(labels, categories=scale, ordered=True) for labels in expand(table, scale)
    )
    assert cohen_kappa(rater_a, rater_b) == published(0.4728, 4)
    assert cohen_kappa(rater_a, rater_b, weights="linear") == published(0.5684, 4)
    assert cohen_kappa(codes_a, codes_b, weights="linear") == published(0.5684, 4)


def test_cohen_kappa_sas_printout_in_statsmodels_tests():
    # SAS PROC FREQ printout for the 3x3 table [[0,4,1],[0,8,0],[0,1,5]], quoted in statsmodels'
    # statsmodels/stats/tests/test_inter_rater.py (TestUnweightedCohens, TestWeightedCohens):
    # simple kappa 0.4842, weighted kappa (Cicchetti-Allison, i.e. linear, scores 0,1,2) 0.4701.
    rater_a, rater_b = expand([[0, 4, 1], [0, 8, 0], [0, 1, 5]], [0, 1, 2])
    assert cohen_kappa(rater_a, rater_b) == published(0.4842, 4)
    assert cohen_kappa(rater_a, rater_b, weights="linear") == published(0.4701, 4)


# R package irr, data set `anxiety` (20 subjects, 3 raters); raters 2 and 3, as quoted with the
# irr output in statsmodels' test_inter_rater.py::test_cohens_kappa_irr. Nobody used 5.
ANXIETY_RATER_2 = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
ANXIETY_RATER_3 = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]


@pytest.mark.parametrize(
    ("weights", "irr_weight", "value"),
    [
        (None, "unweighted", -0.006289308),
        ("linear", "equal", 0.1459075),
        ("quadratic", "squared", 0.2520325),
    ],
)
def test_cohen_kappa_r_irr_kappa2_anxiety(weights, irr_weight, value):
    # kappa2(anxiety[, 2:3], irr_weight); irr ranks the levels that occur (1, 2, 3, 4, 6), which
    # an ordered Categorical over exactly those levels reproduces.
    levels = [1, 2, 3, 4, 6]
    rater_2 = pd.Categorical(ANXIETY_RATER_2, categories=levels, ordered=True)
    rater_3 = pd.Categorical(ANXIETY_RATER_3, categories=levels, ordered=True)
    assert cohen_kappa(rater_2, rater_3, weights=weights) == published(value, 7)


@pytest.mark.parametrize("weights", ["linear", "quadratic"])
def test_numeric_labels_are_scored_by_their_values(weights):
    # 4 -> 6 is two steps on the 1..6 scale even though nobody used 5.
    full_scale = [1, 2, 3, 4, 5, 6]
    as_categories = cohen_kappa(
        pd.Categorical(ANXIETY_RATER_2, categories=full_scale, ordered=True),
        pd.Categorical(ANXIETY_RATER_3, categories=full_scale, ordered=True),
        weights=weights,
    )
    assert cohen_kappa(ANXIETY_RATER_2, ANXIETY_RATER_3, weights=weights) == pytest.approx(
        as_categories
    )


def test_cohen_kappa_table_spans_the_union_of_both_raters_categories():
    # "z" is used by rater B only. p_o = 2/3; p_e = 2/3*1/3 + 1/3*1/3 = 1/3; kappa = 1/2.
    assert cohen_kappa(["x", "x", "y"], ["x", "z", "y"]) == pytest.approx(0.5)


def test_cohen_kappa_drops_pairs_with_a_missing_label():
    rater_a, rater_b = expand([[20, 5], [10, 15]], ["yes", "no"])
    assert cohen_kappa([*rater_a, None, "yes"], [*rater_b, "no", NAN]) == pytest.approx(0.4)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_is_nan_when_both_raters_use_a_single_category(weights):
    assert math.isnan(cohen_kappa([3, 3, 3], [3, 3, 3], weights=weights))


@settings(max_examples=50, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=30),
    weights=st.sampled_from([None, "linear", "quadratic"]),
)
def test_cohen_kappa_does_not_depend_on_which_rater_is_first(pairs, weights):
    rater_a = [a for a, _ in pairs]
    rater_b = [b for _, b in pairs]
    np.testing.assert_allclose(
        cohen_kappa(rater_a, rater_b, weights=weights),
        cohen_kappa(rater_b, rater_a, weights=weights),
        atol=1e-12,
    )


# --- Fleiss' kappa ---------------------------------------------------------------------------

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories; kappa = 0.210.
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_worked_example():
    assert fleiss_kappa(WIKIPEDIA_FLEISS) == published(0.210, 3)
    assert fleiss_kappa(pd.DataFrame(WIKIPEDIA_FLEISS)) == published(0.210, 3)


def test_fleiss_kappa_fleiss_1971_psychiatric_diagnoses():
    # Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychological
    # Bulletin 76(5), 378-382: 30 patients, 6 psychiatrists, 5 diagnoses; overall kappa = .430.
    # Raw ratings as in R irr's `diagnoses` (1 depression, 2 personality disorder,
    # 3 schizophrenia, 4 neurosis, 5 other).
    diagnoses = np.array(
        [
            [4, 4, 4, 4, 4, 4],
            [2, 2, 2, 5, 5, 5],
            [2, 3, 3, 3, 3, 5],
            [5, 5, 5, 5, 5, 5],
            [2, 2, 2, 4, 4, 4],
            [1, 1, 3, 3, 3, 3],
            [3, 3, 3, 3, 5, 5],
            [1, 1, 3, 3, 3, 4],
            [1, 1, 4, 4, 4, 4],
            [5, 5, 5, 5, 5, 5],
            [1, 4, 4, 4, 4, 4],
            [1, 2, 4, 4, 4, 4],
            [2, 2, 2, 3, 3, 3],
            [1, 4, 4, 4, 4, 4],
            [2, 2, 4, 4, 4, 5],
            [3, 3, 3, 3, 3, 5],
            [1, 1, 1, 4, 5, 5],
            [1, 1, 1, 1, 1, 2],
            [2, 2, 4, 4, 4, 4],
            [1, 3, 3, 5, 5, 5],
            [5, 5, 5, 5, 5, 5],
            [2, 4, 4, 4, 4, 4],
            [2, 2, 4, 5, 5, 5],
            [1, 1, 4, 4, 4, 4],
            [1, 4, 4, 4, 4, 5],
            [2, 2, 2, 2, 2, 4],
            [1, 1, 1, 1, 5, 5],
            [2, 2, 4, 4, 4, 4],
            [1, 3, 3, 3, 3, 3],
            [5, 5, 5, 5, 5, 5],
        ]
    )
    counts = np.stack([(diagnoses == category).sum(axis=1) for category in range(1, 6)], axis=1)
    assert fleiss_kappa(counts) == published(0.430, 3)


def test_fleiss_kappa_names_the_ragged_row():
    counts = pd.DataFrame(WIKIPEDIA_FLEISS, index=[f"subject{i}" for i in range(1, 11)])
    counts.loc["subject4", 0] += 1
    with pytest.raises(IsspError, match="'counts'") as caught:
        fleiss_kappa(counts)
    assert caught.value.row == "subject4"


def test_fleiss_kappa_is_nan_when_every_rating_is_one_category():
    assert math.isnan(fleiss_kappa([[0, 3], [0, 3]]))


# --- Krippendorff's alpha --------------------------------------------------------------------

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", Annenberg School for
# Communication Departmental Papers 43 (https://repository.upenn.edu/asc_papers/43).


def test_krippendorff_alpha_2011_binary_two_coders():
    # Section A: binary data, two observers, no missing data; alpha = 0.095.
    data = [[0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]]
    assert krippendorff_alpha(data) == published(0.095, 3)


def test_krippendorff_alpha_2011_nominal_string_labels():
    # Section B: nominal data (letters a-e), two observers, no missing data; alpha = 0.692.
    data = [list("aabbdcccedda"), list("babbbccceddd")]
    assert krippendorff_alpha(data, "nominal") == published(0.692, 3)


# Sections C-F: 4 observers x 12 units with missing data.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


@pytest.mark.parametrize(
    ("level", "value"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_alpha_2011_four_coders_missing_data(level, value):
    assert krippendorff_alpha(KRIPPENDORFF_2011, level) == published(value, 3)
    assert krippendorff_alpha(pd.DataFrame(KRIPPENDORFF_2011), level) == published(value, 3)


def test_krippendorff_alpha_nominal_words_equal_their_codes():
    words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
    labelled = pd.DataFrame(KRIPPENDORFF_2011).apply(lambda unit: unit.map(words))
    assert krippendorff_alpha(labelled, "nominal") == published(0.743, 3)


def test_krippendorff_alpha_is_nan_when_every_pairable_value_is_the_same():
    assert math.isnan(krippendorff_alpha([[2, 2, 7], [2, 2, NAN]], "interval"))


# --- expected mistakes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: cronbach_alpha(SHROUT_FLEISS.to_numpy()), "items"),
        (lambda: cronbach_alpha(SHROUT_FLEISS[["J1"]]), "items"),
        (lambda: cronbach_alpha(SHROUT_FLEISS.head(1)), "items"),
        (lambda: cronbach_alpha(SHROUT_FLEISS.assign(J2=list("abcdef"))), "items"),
        (lambda: alpha_if_item_dropped(SHROUT_FLEISS[["J1", "J2"]]), "items"),
        (lambda: item_total_correlations(SHROUT_FLEISS[["J1"]]), "items"),
        (lambda: cohen_kappa([1, 2, 3], [1, 2]), "rater_b"),
        (lambda: cohen_kappa([1, 2], [1, 2], weights="squared"), "weights"),
        (lambda: cohen_kappa([[1, 2]], [[1, 2]]), "rater_a"),
        (lambda: cohen_kappa([None, "a"], ["b", None]), "rater_a"),
        (lambda: cohen_kappa(["low", "high"], ["high", "low"], weights="linear"), "rater_a"),
        (
            lambda: cohen_kappa(
                pd.Categorical(["lo", "hi"], categories=["lo", "hi"], ordered=True),
                pd.Categorical(["lo", "hi"], categories=["lo", "hi"]),
                weights="linear",
            ),
            "rater_b",
        ),
        (
            lambda: cohen_kappa(
                pd.Categorical(["lo", "hi"], categories=["lo", "hi"], ordered=True),
                pd.Categorical(["lo", "hi"], categories=["lo", "mid", "hi"], ordered=True),
                weights="quadratic",
            ),
            "rater_b",
        ),
        (lambda: fleiss_kappa([[3, 0], [2, 0]]), "counts"),
        (lambda: fleiss_kappa([1, 2, 3]), "counts"),
        (lambda: fleiss_kappa([[1, 0], [1, 0]]), "counts"),
        (lambda: fleiss_kappa([[4, -1], [2, 1]]), "counts"),
        (lambda: krippendorff_alpha(KRIPPENDORFF_2011, "categorical"), "level_of_measurement"),
        (lambda: krippendorff_alpha([["a", "b"], ["a", "c"]], "interval"), "reliability_data"),
        (lambda: krippendorff_alpha([[1, NAN], [NAN, 2]]), "reliability_data"),
        (lambda: krippendorff_alpha([1, 2, 3]), "reliability_data"),
    ],
)
def test_expected_mistakes_raise_one_isspError_naming_the_argument(call, argument):
    with pytest.raises(IsspError) as caught:
        call()
    assert f"'{argument}'" in caught.value.message
    assert caught.value.rule
    assert caught.value.fix
