"""Thesis tables: exact cells on hand-made inputs, small-cell suppression with its complements."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from issp_research import dictionary as dd
from issp_research import thesis_tables as tt
from issp_research.errors import IsspError
from issp_research.tables import write_table

# --- Sample characteristics ----------------------------------------------------------------------


def _frame(rows, columns):
    return pd.DataFrame(rows, columns=columns)


@pytest.fixture
def study():
    """Independent: 5 primary, 5 secondary schools. State: 8 primary, 2 secondary (all maintained).

    Participants: independent 6 senior leaders and 7 teachers; state 5 senior leaders, 6 teachers
    and 5 governors. Respondents: every independent participant and the 6 state teachers.
    """
    schools = ([("independent", None, "primary")] * 5 + [("independent", None, "secondary")] * 5
               + [("state", "maintained", "primary")] * 8 + [("state", "maintained", "secondary")] * 2)
    schools = pd.DataFrame({
        "school": [f"SC-{i:02d}" for i in range(len(schools))],
        "partnership": ["PN-a" if i % 2 else "PN-b" for i in range(len(schools))],
        "sector": pd.Categorical([s for s, _, _ in schools], categories=dd.SECTORS),
        "state_type": pd.Categorical([t for _, t, _ in schools], categories=dd.STATE_TYPES),
        "phase": pd.Categorical([p for _, _, p in schools], categories=dd.PHASES),
    })
    people = ([("SC-00", "senior_leader")] * 6 + [("SC-01", "teacher")] * 7
              + [("SC-10", "senior_leader")] * 5 + [("SC-11", "teacher")] * 6
              + [("SC-12", "governor")] * 5)
    participants = pd.DataFrame({
        "participant": [f"PT-{i:02d}" for i in range(len(people))],
        "school": [school for school, _ in people],
        "role": pd.Categorical([role for _, role in people], categories=dd.ROLES),
    })
    responded = [f"PT-{i:02d}" for i in [*range(13), *range(18, 24)]]
    return {
        "partnerships": pd.DataFrame({"partnership": ["PN-a", "PN-b"]}),
        "schools": schools,
        "participants": participants,
        "responses": pd.DataFrame({"participant": responded}),
    }


ROWS = [
    ("Partnerships", "All"),
    ("Schools", "All"),
    ("Schools by phase", "Primary"), ("Schools by phase", "Secondary"),
    ("Schools by phase", "All-through"),
    ("State schools by type", "LA maintained"), ("State schools by type", "Academy"),
    ("State schools by type", "Free school"),
    ("Participants", "All"),
    *(("Participants by role", role) for role in ["Senior leader", "Coordinator", "Teacher", "Governor"]),
    ("Survey respondents", "All"),
    *(("Survey respondents by role", role)
      for role in ["Senior leader", "Coordinator", "Teacher", "Governor"]),
]


def cells(table):
    return [[None if isinstance(v, float) and np.isnan(v) else v for v in row]
            for row in table[tt.COUNT_COLUMNS].itertuples(index=False)]


def test_sample_characteristics_without_suppression(study):
    table = tt.sample_characteristics(study, k=1)
    assert list(table.columns) == ["Characteristic", "Category", "Independent", "State", "Total"]
    assert list(zip(table["Characteristic"], table["Category"], strict=True)) == ROWS
    assert cells(table) == [
        [None, None, 2],
        [10, 10, 20],
        [5, 8, 13], [5, 2, 7], [0, 0, 0],
        [None, 10, 10], [None, 0, 0], [None, 0, 0],
        [13, 16, 29],
        [6, 5, 11], [0, 0, 0], [7, 6, 13], [0, 5, 5],
        [13, 6, 19],
        [6, 0, 6], [0, 0, 0], [7, 6, 13], [0, 0, 0],
    ]


def test_sample_characteristics_suppress_small_cells_and_their_complements(study):
    """The 2 state secondary schools are suppressed; so are a second cell of its row (5
    independent secondary) and of its column (8 state primary), and then a second cell of the
    independent column (5 independent primary). No printed sum now has a single unknown."""
    table = tt.sample_characteristics(study, k=5)
    assert cells(table)[2:5] == [["[c]", "[c]", 13], ["[c]", "<5", 7], [0, 0, 0]]
    assert cells(table)[:2] == [[None, None, 2], [10, 10, 20]]
    assert cells(table)[5:] == cells(tt.sample_characteristics(study, k=1))[5:]  # none below 5


def test_sample_characteristics_suppression_with_a_higher_threshold(study):
    """k=6 suppresses the state senior leaders (5), state governors (5) and their total (5).

    Then, sum by sum: the senior-leader row has one unknown, so its smaller other cell goes
    (6 independent); the independent column then has one, so its 7 teachers go; the teacher row
    then has one, so the 6 state teachers go; the total column has one (governors), so the
    smallest other total (11) goes. Every printed sum is then left with two unknowns or more.
    """
    table = tt.sample_characteristics(study, k=6)
    by_row = dict(zip(zip(table["Characteristic"], table["Category"], strict=True), cells(table),
                      strict=True))
    roles = [by_row[("Participants by role", role)]
             for role in ["Senior leader", "Coordinator", "Teacher", "Governor"]]
    assert roles == [["[c]", "<6", "[c]"], [0, 0, 0], ["[c]", "[c]", 13], [0, "<6", "<6"]]
    assert by_row[("Participants", "All")] == [13, 16, 29]


@pytest.mark.parametrize("k", [1, 3, 5, 6, 8, 12])
def test_no_small_count_printed_and_no_sum_with_one_unknown(study, k):
    counts, sums = tt.sample_counts(study)
    table = tt.sample_characteristics(study, k=k)
    people = table["Characteristic"] != "Partnerships"
    printed = table.loc[people, tt.COUNT_COLUMNS].stack()
    numbers = [value for value in printed if not isinstance(value, str)]
    assert not [n for n in numbers if 1 <= n < k]
    hidden = table[tt.COUNT_COLUMNS].isin([f"<{k}", "[c]"])
    for cells_of_sum in sums:
        assert sum(bool(hidden.at[cell]) for cell in cells_of_sum) != 1, cells_of_sum
    for row, column in zip(*np.nonzero((~hidden & table[tt.COUNT_COLUMNS].notna()).to_numpy()),
                           strict=True):
        assert table[tt.COUNT_COLUMNS].iat[row, column] == counts[tt.COUNT_COLUMNS].iat[row, column]


def test_sample_characteristics_caption_explains_markers(study):
    suppressed = tt.sample_characteristics(study, k=5)
    caption = tt.sample_characteristics_caption(suppressed, k=5)
    assert "shown as <5" in caption
    assert "[c]: withheld so that a suppressed count cannot be worked out from the totals" in caption
    plain = tt.sample_characteristics_caption(tt.sample_characteristics(study, k=1), k=1)
    assert "<" not in plain and "[c]" not in plain


def test_sample_characteristics_write_as_printed(study, tmp_path):
    table = tt.sample_characteristics(study, k=5)
    csv, tex = write_table(table, tmp_path, "sample", tt.sample_characteristics_caption(table))
    lines = csv.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "Characteristic,Category,Independent,State,Total"
    assert lines[1] == "Partnerships,All,,,2"
    assert lines[4] == "Schools by phase,Secondary,[c],<5,7"
    assert r"{[}c{]} & \textless{}5 & 7 \\" in tex.read_text(encoding="utf-8")


def test_sample_characteristics_need_the_processed_tables(study):
    del study["responses"]
    with pytest.raises(IsspError, match="responses"):
        tt.sample_characteristics(study)


# --- Scale reliability ---------------------------------------------------------------------------

def test_scale_reliability_table():
    scales = pd.DataFrame({"scale": ["benefit", "cost"], "items": [2, 1],
                           "complete_responses": [40, 42], "alpha": [0.812, 0.7]})
    items = pd.DataFrame({"scale": ["benefit", "benefit", "cost"], "item": ["B01", "B02", "C01"],
                          "wording": [dd.ITEM_WORDING[c] for c in ("B01", "B02", "C01")],
                          "tangible": [False, True, True], "alpha_if_dropped": [0.7, 0.75, np.nan],
                          "item_total_r": [0.5, 0.45, np.nan]})
    table = tt.scale_reliability_table(scales, items)
    assert list(table.columns) == ["Scale", "Item", "Wording", "Tangible", "Item-total r",
                                   "Alpha if item dropped", "Alpha"]
    rows = table.astype(object).where(table.notna(), None).values.tolist()
    assert rows == [
        ["Benefits", "All", "2 items, 40 complete responses", "", None, None, 0.812],
        ["Benefits", "B01", "access to shared expertise", "no", 0.5, 0.7, None],
        ["Benefits", "B02", "better use of available resources", "yes", 0.45, 0.75, None],
        ["Costs", "All", "1 items, 42 complete responses", "", None, None, 0.7],
        ["Costs", "C01", "staff time", "yes", None, None, None],
    ]
    caption = tt.scale_reliability_caption(scales)
    assert "Cronbach's alpha: benefits 0.81; costs 0.70" in caption


# --- Model results -------------------------------------------------------------------------------

@pytest.fixture
def fixed_effects():
    rows = [
        ("mixed", "Intercept", 0.5812, 0.2393, 0.9234),
        ("mixed", "sector[T.state]", 0.422, 0.2074, 0.6366),
        ("mixed", "sector[T.state]:role[T.teacher]", -0.004, -0.2, 0.19),
        ("clustered_ols", "Intercept", 0.5289, 0.2816, 0.7761),
        ("clustered_ols", "sector[T.state]", 0.4318, 0.2735, 0.5901),
        ("clustered_ols", "sector[T.state]:role[T.teacher]", 0.0906, -0.1652, 0.3464),
    ]
    return pd.DataFrame(rows, columns=["model", "term", "estimate", "ci_low", "ci_high"]).assign(
        std_error=0.1, p=0.05)


def test_model_results_side_by_side(fixed_effects):
    variance = pd.DataFrame({"component": ["partnership", "school", "residual"],
                             "variance": [0.10845, 0.05497, 0.24013], "sd": [0.33, 0.23, 0.49],
                             "icc": [0.2687, 0.1362, np.nan]})
    fit = pd.DataFrame({"model": ["mixed", "clustered_ols"], "method": ["REML", "OLS"],
                        "n": [508, 508], "partnerships": [30, 30],
                        "log_likelihood": [-420.12, -399.96], "converged": [True, True]})
    table = tt.model_results_table(fixed_effects, variance, fit)
    assert list(table.columns) == ["Term", "Linear mixed model", "OLS, SE clustered by partnership"]
    assert table.values.tolist() == [
        ["Fixed effects: estimate [95% CI]", "", ""],
        ["Intercept", "0.58 [0.24, 0.92]", "0.53 [0.28, 0.78]"],
        ["Sector: State", "0.42 [0.21, 0.64]", "0.43 [0.27, 0.59]"],
        ["State × Teacher", "0.00 [-0.20, 0.19]", "0.09 [-0.17, 0.35]"],
        ["Random effects: variance (ICC)", "", ""],
        ["Partnership", "0.108 (0.27)", ""],
        ["School (within partnership)", "0.055 (0.14)", ""],
        ["Residual", "0.240", ""],
        ["Fit", "", ""],
        ["Respondents (n)", "508", "508"],
        ["Partnerships", "30", "30"],
        ["Log-likelihood", "-420.1", "-400.0"],
        ["Estimation", "REML", "OLS"],
    ]
    caption = tt.model_results_caption(fixed_effects, variance, fit)
    assert "Reference levels: sector independent." in caption
    assert "REML" in caption and "intraclass correlation" in caption


def test_model_results_fixed_effects_only(fixed_effects):
    table = tt.model_results_table(fixed_effects)
    assert len(table) == 4
    assert "intraclass" not in tt.model_results_caption(fixed_effects)


def test_model_results_variance_needs_its_model(fixed_effects):
    variance = pd.DataFrame({"component": ["residual"], "variance": [0.2], "icc": [np.nan]})
    with pytest.raises(IsspError, match="variance components are for model 'mixed'"):
        tt.model_results_table(fixed_effects[fixed_effects["model"] != "mixed"], variance)


# --- Cleaning report -----------------------------------------------------------------------------

@pytest.fixture
def report():
    return pd.DataFrame({
        "rule": ["whitespace", "no_consent", "duplicate", "not_answered", "brand_new_rule"],
        "file": ["partnerships.csv", "participants.csv", "survey.csv", "survey.csv", "survey.csv"],
        "rows_affected": [2, 3, 33, 0, 7],
        "action": ["stray spaces trimmed", "dropped: did not consent", "dropped: earlier duplicates",
                   "-99 (not answered) set to missing", "something new"],
    })


def test_cleaning_report_readable_and_suppressed(report):
    table = tt.cleaning_report_table(report)
    assert list(table.columns) == ["Rule", "File", "Rows affected", "Action"]
    assert table["Rule"].tolist() == ["Stray spaces", "No consent", "Duplicate submission",
                                      "Item not answered (-99)", "Brand new rule"]
    # Rows of partnerships.csv are not people: shown. 3 participants: suppressed. Zero: shown.
    assert table["Rows affected"].tolist() == [2, "<5", 33, 0, 7]
    assert table["Action"].tolist() == report["action"].tolist()
    caption = tt.cleaning_report_caption(table)
    assert "below 5, other than zero, are shown as <5" in caption


def test_cleaning_report_unsuppressed(report):
    table = tt.cleaning_report_table(report, k=None)
    assert table["Rows affected"].tolist() == [2, 3, 33, 0, 7]
    assert "<" not in tt.cleaning_report_caption(table, k=None)
