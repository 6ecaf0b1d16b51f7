"""The worth index, its alternatives and minimum rule, and the reliability of its two scales."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from issp_research import clean, io, pseudonym, simulate, worth
from issp_research import dictionary as dd
from issp_research.errors import IsspError


@pytest.fixture(scope="session")
def demo_tables(tmp_path_factory):
    """The thesis-scale demo export (seed 2021), cleaned in memory once for this file."""
    raw = tmp_path_factory.mktemp("worth_raw")
    simulate.write_raw(simulate.simulate(2021, 1), raw)
    return clean.clean_tables(io.read_raw_folder(raw), pseudonym.DEMO_KEY).tables


def responses(rows: list[dict[str, float]]) -> pd.DataFrame:
    """Survey responses with every item, blank unless given."""
    return pd.DataFrame([{item: row.get(item, np.nan) for item in dd.ITEMS} for row in rows], dtype="float64")


BENEFIT_4 = {item: 4.0 for item in dd.BENEFITS}
COST_2 = {item: 2.0 for item in dd.COSTS}


def test_difference_is_benefit_mean_less_cost_mean():
    row = {**{item: float(i % 5 + 1) for i, item in enumerate(dd.BENEFITS)}, **COST_2, "C01": 5.0}
    scores = worth.worth_index(responses([row]))
    benefit = np.mean([i % 5 + 1 for i in range(12)])  # 1..5 twice, then 1, 2: 2.75
    cost = (5 + 2 * 7) / 8
    assert scores.loc[0, "benefit"] == pytest.approx(benefit)
    assert scores.loc[0, "cost"] == pytest.approx(cost)
    assert scores.loc[0, "worth"] == pytest.approx(benefit - cost)


def test_minimum_rule_needs_half_of_each_scale():
    six_benefits = {item: 4.0 for item in dd.BENEFITS[:6]}
    five_benefits = {item: 4.0 for item in dd.BENEFITS[:5]}
    four_costs = {item: 2.0 for item in dd.COSTS[:4]}
    three_costs = {item: 2.0 for item in dd.COSTS[:3]}
    scores = worth.worth_index(responses([
        {**six_benefits, **four_costs}, {**five_benefits, **COST_2}, {**BENEFIT_4, **three_costs}]))
    assert worth.MIN_ANSWERED == {"benefit": 6, "cost": 4}
    assert scores["worth"].tolist()[0] == 2.0
    assert scores["worth"].iloc[1:].isna().all()
    assert np.isnan(scores.loc[1, "benefit"]) and scores.loc[1, "cost"] == 2.0


def test_min_answered_can_be_set_and_is_checked():
    five_benefits = {item: 4.0 for item in dd.BENEFITS[:5]}
    scores = worth.worth_index(responses([{**five_benefits, **COST_2}]), min_answered={"benefit": 5})
    assert scores.loc[0, "worth"] == 2.0
    with pytest.raises(IsspError, match="min_answered for the cost scale is 9") as error:
        worth.worth_index(responses([COST_2]), min_answered={"cost": 9})
    assert error.value.column == "min_answered"
    with pytest.raises(IsspError, match="names the scale 'costs'"):
        worth.worth_index(responses([COST_2]), min_answered={"costs": 2})


def test_ratio():
    scores = worth.worth_index(responses([{**BENEFIT_4, **COST_2}]), "ratio")
    assert scores.loc[0, "worth"] == 2.0


def test_tangible_and_intangible_use_their_items_and_half_of_them():
    row = {item: (5.0 if dd.TANGIBLE[item] else 1.0) for item in dd.ITEMS}
    tangible = worth.worth_index(responses([row]), "tangible")
    intangible = worth.worth_index(responses([row]), "intangible")
    assert tangible.loc[0, ["benefit", "cost", "worth"]].tolist() == [5.0, 5.0, 0.0]
    assert intangible.loc[0, ["benefit", "cost", "worth"]].tolist() == [1.0, 1.0, 0.0]
    # Six tangible benefits and four tangible costs: three and two of them are enough.
    tangible_benefits = [item for item in dd.BENEFITS if dd.TANGIBLE[item]]
    tangible_costs = [item for item in dd.COSTS if dd.TANGIBLE[item]]
    assert (len(tangible_benefits), len(tangible_costs)) == (6, 4)
    some = {**{item: 4.0 for item in tangible_benefits[:3]}, **{item: 1.0 for item in tangible_costs[:2]}}
    fewer = {**{item: 4.0 for item in tangible_benefits[:2]}, **{item: 1.0 for item in tangible_costs[:2]}}
    scores = worth.worth_index(responses([some, fewer]), "tangible")
    assert scores.loc[0, "worth"] == 3.0 and np.isnan(scores.loc[1, "worth"])


WEIGHTS = {item: 1.0 for item in dd.ITEMS}


def test_weighted_is_a_weighted_mean_within_each_scale():
    weights = {**WEIGHTS, "B01": 3.0, "C01": 4.0}
    row = {**BENEFIT_4, "B01": 1.0, **COST_2, "C01": 5.0, "C08": np.nan}
    scores = worth.worth_index(responses([row]), "weighted", item_weights=weights)
    benefit = (3 * 1 + 11 * 4) / 14
    cost = (4 * 5 + 6 * 2) / 10  # C08 not answered: its weight drops out
    assert scores.loc[0, "benefit"] == pytest.approx(benefit)
    assert scores.loc[0, "cost"] == pytest.approx(cost)
    assert scores.loc[0, "worth"] == pytest.approx(benefit - cost)


def test_weighted_with_equal_weights_is_the_difference(demo_tables):
    answers = demo_tables["responses"]
    weighted = worth.worth_index(answers, "weighted", item_weights={item: 2.5 for item in dd.ITEMS})
    pd.testing.assert_frame_equal(weighted, worth.worth_index(answers))


@pytest.mark.parametrize(("weights", "message"), [
    (None, "needs item weights"),
    ({item: 1.0 for item in dd.ITEMS[:-1]}, "no weight for item C08"),
    ({**WEIGHTS, "B05": 0}, "gives item B05 the weight 0"),
    ({**WEIGHTS, "C02": "high"}, "gives item C02 the weight 'high'"),
    ({**WEIGHTS, "B13": 1.0}, "names 'B13', which is not a survey item"),
])
def test_weighted_refuses_missing_or_bad_weights(weights, message):
    with pytest.raises(IsspError, match=message) as error:
        worth.worth_index(responses([{**BENEFIT_4, **COST_2}]), "weighted", item_weights=weights)
    assert error.value.column == "item_weights" and "item_weights" in error.value.fix


def test_weights_are_ignored_by_the_other_definitions():
    row = responses([{**BENEFIT_4, **COST_2}])
    assert worth.worth_index(row, "difference", item_weights={"B01": 0}).loc[0, "worth"] == 2.0


def test_unknown_definition_and_missing_items_are_named():
    with pytest.raises(IsspError, match="unknown worth definition 'net'") as error:
        worth.worth_index(responses([BENEFIT_4]), "net")
    assert "difference, ratio, weighted, tangible, intangible" in error.value.rule
    with pytest.raises(IsspError, match="no column for this survey item") as error:
        worth.worth_index(responses([BENEFIT_4]).drop(columns="C03"))
    assert error.value.column == "C03"


def test_analysis_frame_has_one_row_per_scored_respondent(demo_tables):
    frame = worth.analysis_frame(demo_tables)
    scores = worth.worth_index(demo_tables["responses"])
    assert len(frame) == scores["worth"].notna().sum()
    assert frame["participant"].is_unique
    assert frame["worth"].between(-4, 4).all()
    for factor in ("sector", "role", "phase", "model"):
        assert list(frame[factor].cat.categories) == list(dd.FACTORS[factor])
    assert (frame["partnership_age"] == 2020 - frame["start_year"]).all()
    by_participant = scores.assign(participant=demo_tables["responses"]["participant"]).set_index("participant")
    assert np.allclose(frame.set_index("participant")["worth"], by_participant.loc[frame["participant"], "worth"])


def test_analysis_frame_passes_the_definition_and_weights_on(demo_tables):
    weights = {**WEIGHTS, "B12": 5.0}
    frame = worth.analysis_frame(demo_tables, "weighted", item_weights=weights)
    expected = worth.worth_index(demo_tables["responses"], "weighted", item_weights=weights)
    expected = expected.assign(participant=demo_tables["responses"]["participant"]).dropna()
    assert np.allclose(frame.sort_values("participant")["worth"], expected.sort_values("participant")["worth"])


def test_item_responses_keep_every_response_with_sector_and_role(demo_tables):
    items = worth.item_responses(demo_tables)
    assert len(items) == len(demo_tables["responses"])
    assert items[list(dd.ITEMS)].dtypes.eq("float64").all()
    assert items[["sector", "role", "partnership"]].notna().all().all()
    answered = demo_tables["responses"].set_index("participant")["B01"].notna().sum()
    assert items["B01"].notna().sum() == answered


def cronbach(items: pd.DataFrame) -> float:
    complete = items.dropna()
    k = complete.shape[1]
    return k / (k - 1) * (1 - complete.var(ddof=1).sum() / complete.sum(axis=1).var(ddof=1))


def test_scale_reliability_of_both_scales(demo_tables):
    answers = demo_tables["responses"][list(dd.ITEMS)].astype("float64")
    scales, items = worth.scale_reliability(demo_tables["responses"])
    benefit, cost = scales.set_index("scale").loc["benefit"], scales.set_index("scale").loc["cost"]
    assert benefit["alpha"] == pytest.approx(cronbach(answers[list(dd.BENEFITS)]))
    assert cost["alpha"] == pytest.approx(cronbach(answers[list(dd.COSTS)]))
    assert benefit["complete_responses"] == answers[list(dd.BENEFITS)].notna().all(axis=1).sum()
    # The simulated items share one latent level per scale, so both scales are internally consistent.
    assert benefit["alpha"] > 0.8 and cost["alpha"] > 0.7
    assert len(items) == 20 and list(items["item"]) == list(dd.ITEMS)
    b01 = items.set_index("item").loc["B01"]
    complete = answers[list(dd.BENEFITS)].dropna()
    assert b01["alpha_if_dropped"] == pytest.approx(cronbach(complete.drop(columns="B01")))
    rest = complete.drop(columns="B01").sum(axis=1)
    assert b01["item_total_r"] == pytest.approx(complete["B01"].corr(rest))


def test_cell_summary_matches_the_observed_means(demo_tables):
    frame = worth.analysis_frame(demo_tables)
    summary = worth.cell_summary(frame)
    assert len(summary) == 8 and summary["n"].sum() == len(frame)
    cell = summary[(summary["sector"] == "state") & (summary["role"] == "teacher")].iloc[0]
    observed = frame.loc[(frame["sector"] == "state") & (frame["role"] == "teacher"), "worth"]
    assert cell["n"] == len(observed) and cell["mean"] == pytest.approx(observed.mean())
