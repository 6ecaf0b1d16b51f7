"""Figures 1, 2, 4, 5 and 6: what is drawn, in which colours, what the captions say, same bytes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.patches import Rectangle

from issp_research import dictionary as dd
from issp_research import simulate
from issp_research.clean import clean_folder
from issp_research.errors import IsspError
from issp_research.figures import SECTOR_COLOURS, TEXT_WIDTH_IN, save_figure
from issp_research.figures import items as fig_items
from issp_research.figures import models as fig_models
from issp_research.figures import reciprocity as fig_reciprocity
from issp_research.figures import sample as fig_sample

pytestmark = pytest.mark.usefixtures("thesis_figures")


def texts(ax):
    return [text.get_text() for text in ax.texts]


def hexes(colours):
    return {to_hex(colour) for colour in colours}


# --- Figure 1: sample composition ------------------------------------------------------------------

@pytest.fixture
def schools():
    """2 partnerships; independent: 1 primary, 6 secondary; state: 5 primary, 0 secondary, 3 all-through."""
    rows = ([("independent", "primary")] + [("independent", "secondary")] * 6
            + [("state", "primary")] * 5 + [("state", "all_through")] * 3)
    return pd.DataFrame({
        "school": [f"SC-{i:02d}" for i in range(len(rows))],
        "partnership": ["PN-a" if i % 2 else "PN-b" for i in range(len(rows))],
        "sector": pd.Categorical([sector for sector, _ in rows], categories=dd.SECTORS),
        "phase": pd.Categorical([phase for _, phase in rows], categories=dd.PHASES),
    })


@pytest.fixture
def participants():
    """Independent (school SC-01): 7 teachers, 2 governors; state (SC-07): 5 senior leaders."""
    rows = [("SC-01", "teacher")] * 7 + [("SC-01", "governor")] * 2 + [("SC-07", "senior_leader")] * 5
    return pd.DataFrame({
        "participant": [f"PT-{i:02d}" for i in range(len(rows))],
        "school": [school for school, _ in rows],
        "role": pd.Categorical([role for _, role in rows], categories=dd.ROLES),
    })


def filled_bars(ax):
    return [patch for patch in ax.patches if patch.get_fill()]


def test_sample_counts_cover_every_label(schools, participants):
    counts = fig_sample.sample_counts(schools, participants)
    assert counts["schools"].to_dict("index") == {
        "primary": {"independent": 1, "state": 5},
        "secondary": {"independent": 6, "state": 0},
        "all_through": {"independent": 0, "state": 3},
    }
    assert counts["participants"].loc["teacher"].tolist() == [7, 0]
    assert counts["participants"].loc["coordinator"].tolist() == [0, 0]


def test_sample_composition_draws_counts_in_sector_colours(schools, participants):
    fig = fig_sample.plot_sample_composition(schools, participants)
    ax_schools, ax_people = fig.axes
    assert fig.get_size_inches()[0] == pytest.approx(TEXT_WIDTH_IN)
    # 3 phases x 2 sectors and 4 roles x 2 sectors, in the order phase-by-phase per sector.
    heights = [bar.get_height() for bar in filled_bars(ax_schools)]
    assert heights == [0, 6, 0, 5, 0, 0]  # independent primary (1) and state all-through (3) hidden
    assert hexes(bar.get_facecolor() for bar in filled_bars(ax_schools)[:3]) == {SECTOR_COLOURS["independent"].lower()}
    assert hexes(bar.get_facecolor() for bar in filled_bars(ax_schools)[3:]) == {SECTOR_COLOURS["state"].lower()}
    assert [bar.get_height() for bar in filled_bars(ax_people)] == [0, 0, 7, 0, 5, 0, 0, 0]
    assert [t.get_text() for t in ax_people.get_xticklabels()] == [
        "Senior\nleader", "Coordinator", "Teacher", "Governor"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Independent", "State"]


def test_sample_composition_never_prints_a_small_count(schools, participants):
    fig = fig_sample.plot_sample_composition(schools, participants)
    ax_schools, ax_people = fig.axes
    assert texts(ax_schools) == ["<5", "6", "0", "5", "0", "<5"]
    assert texts(ax_people) == ["0", "0", "7", "<5", "5", "0", "0", "0"]
    hatched = [patch for patch in ax_schools.patches if not patch.get_fill()]
    assert [(patch.get_height(), patch.get_hatch()) for patch in hatched] == [(5, "///"), (5, "///")]
    fig = fig_sample.plot_sample_composition(schools, participants, k=1)
    assert texts(fig.axes[0]) == ["1", "6", "0", "5", "0", "3"]


def test_sample_composition_caption_counts(schools, participants):
    caption = fig_sample.sample_composition_caption(schools, participants)
    assert "The 15 schools in 2 partnerships" in caption
    assert "(7 independent, 8 state)" in caption
    assert "the 14 consenting participants" in caption
    assert "(9 independent, 5 state)" in caption
    assert "Counts from 1 to 4 are not shown" in caption
    caption = fig_sample.sample_composition_caption(schools, participants, k=6)
    assert "(7 independent, 8 state)" in caption
    assert "the 14 consenting participants by role and the sector of their school. Numbers" in caption
    assert "(9 independent, 5 state)" not in caption  # 5 < 6 would be shown, and 14 - 5 gives 9


def test_sample_composition_names_a_missing_school(schools, participants):
    orphan = participants.assign(school="SC-99")
    with pytest.raises(IsspError, match="SC-99"):
        fig_sample.plot_sample_composition(schools, orphan)


# --- Figure 2: item responses ----------------------------------------------------------------------

@pytest.fixture
def answers():
    """Two independent and two state respondents; B01 and C01 are set, the rest all 3."""
    responses = pd.DataFrame({"participant": ["PT-1", "PT-2", "PT-3", "PT-4"]})
    for item in dd.ITEMS:
        responses[item] = pd.array([3, 3, 3, 3], dtype="Int8")
    responses["B01"] = pd.array([1, 5, 4, 4], dtype="Int8")
    responses["C01"] = pd.array([2, pd.NA, 5, 5], dtype="Int8")  # PT-2 said "don't know"
    respondents = pd.DataFrame({"participant": ["PT-1", "PT-2", "PT-3", "PT-4", "PT-9"],
                                "sector": ["independent", "independent", "state", "state", "state"]})
    return responses, respondents


def segments(fig, item, sector):
    """(left, width) of the five segments of one bar, found by their labels."""
    found = [patch for ax in fig.axes for patch in ax.patches
             if patch.get_label().startswith(f"{item} {sector} ")]
    return [(round(patch.get_x(), 6), round(patch.get_width(), 6)) for patch in found]


def test_item_shares_leave_unanswered_out(answers):
    shares = fig_items.item_shares(*answers).set_index(["sector", "item", "score"])
    assert shares.loc[("independent", "C01", 2), ["n", "answered", "share"]].tolist() == [1, 1, 1.0]
    assert shares.loc[("state", "B01", 4), "share"] == 1.0
    assert shares.loc[("independent", "B01", 1), "share"] == 0.5
    assert len(shares) == len(dd.SECTORS) * len(dd.ITEMS) * 5


def test_item_responses_diverge_around_the_midpoint(answers):
    fig = fig_items.plot_item_responses(*answers)
    benefits, costs = fig.axes
    assert len(benefits.patches) == len(dd.BENEFITS) * 2 * 5
    assert len(costs.patches) == len(dd.COSTS) * 2 * 5
    # Independent B01: half 1s (left of zero), half 5s (right).
    assert segments(fig, "B01", "independent") == [(-50, 50), (0, 0), (0, 0), (0, 0), (0, 50)]
    # All 3s: centred, half on each side.
    assert segments(fig, "B02", "state") == [(-50, 0), (-50, 0), (-50, 100), (50, 0), (50, 0)]
    assert segments(fig, "C01", "independent")[1] == (-100, 100)
    colours = [to_hex(p.get_facecolor()) for p in benefits.patches[:5]]
    assert colours == [fig_items.SCORE_COLOURS[score].lower() for score in fig_items.SCORES]
    markers = [line for line in benefits.lines if line.get_marker() == "s"]
    assert [to_hex(line.get_color()) for line in markers[:2]] == [
        SECTOR_COLOURS["independent"].lower(), SECTOR_COLOURS["state"].lower()]
    assert [t.get_text() for t in benefits.get_yticklabels()][:2] == ["Independent", "State"]
    labels = texts(benefits)
    assert labels[0] == "B01 access to shared expertise"
    assert labels[1].startswith("B02\u2020 better use of")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "1 Not at all", "2", "3", "4", "5 A great deal"]


def test_item_responses_caption_counts(answers):
    caption = fig_items.item_responses_caption(*answers)
    assert "Respondents: 2 independent, 2 state;" in caption  # PT-9 gave no response
    assert "(1 to 2 per sector and item)" in caption
    assert "12 benefit and 8 cost items" in caption


def test_item_responses_need_sectors(answers):
    responses, respondents = answers
    with pytest.raises(IsspError, match="sector"):
        fig_items.plot_item_responses(responses, respondents.drop(columns="sector"))


# --- Figure 4: coefficients ------------------------------------------------------------------------

TERMS = ["Intercept", "sector[T.state]", "role[T.teacher]", "sector[T.state]:role[T.teacher]",
         "years_in_role"]


@pytest.fixture
def fixed_effects():
    rows = []
    for model, shift in (("mixed", 0.0), ("clustered_ols", 0.05)):
        for term, estimate in zip(TERMS, [0.5, 0.4, -0.3, 0.1, 0.02], strict=True):
            rows.append({"model": model, "term": term, "estimate": estimate + shift,
                         "std_error": 0.1, "ci_low": estimate + shift - 0.2,
                         "ci_high": estimate + shift + 0.2, "p": 0.05})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("term", "words"), [
    ("sector[T.state]:role[T.teacher]", "State × Teacher"),
    ("role[T.senior_leader]", "Senior leader"),
    ("phase[T.all_through]", "All-through"),
    ("model[T.music_performing_arts]", "Music and performing arts"),
    ("C(region)[T.north_east]", "North east"),
    ("years_in_role", "Years in role"),
    ("Intercept", "Intercept"),
])
def test_term_labels(term, words):
    assert fig_models.term_label(term) == words


def test_term_label_can_name_the_variable():
    assert fig_models.term_label("role[T.teacher]", with_variable=True) == "Role: Teacher"
    assert fig_models.term_label("years_in_role", with_variable=True) == "Years in role"


def test_coefficients_drawn_per_model_in_row_order(fixed_effects):
    fig = fig_models.plot_coefficients(fixed_effects)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "Sector", "Independent (ref.)", "State", "Role", "Senior leader (ref.)", "Teacher",
        "Sector × role", "State × Teacher", "Years in role"]
    points = [line for line in ax.lines if line.get_marker() in ("o", "s")]
    assert len(points) == 2
    mixed, ols = points
    np.testing.assert_allclose(mixed.get_xdata(), [0.4, -0.3, 0.1, 0.02])
    np.testing.assert_allclose(ols.get_xdata(), [0.45, -0.25, 0.15, 0.07])
    np.testing.assert_allclose(mixed.get_ydata(), np.array([2, 5, 7, 8]) - 0.2)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "Linear mixed model", "OLS, SE clustered by partnership"]
    sector_colours = {c.lower() for c in SECTOR_COLOURS.values()}
    assert not hexes(line.get_color() for line in points) & sector_colours


def test_coefficients_caption_counts(fixed_effects):
    caption = fig_models.coefficients_caption(fixed_effects)
    assert "for 4 terms (intercepts not shown)" in caption
    # Intervals are estimate +/- 0.2: excluding zero are 0.4, -0.3 (mixed); 0.45, -0.25 (OLS).
    assert "2 of 4 (Linear mixed model); 2 of 4 (OLS, SE clustered by partnership)" in caption
    assert "years in role: effect of a one-unit increase" in caption


# --- Figure 5: marginal means ----------------------------------------------------------------------

@pytest.fixture
def means():
    estimates = {"independent": [0.7, 1.0, 0.5, 0.2], "state": [1.1, 1.2, 0.9, -0.05]}
    rows = [{"sector": sector, "role": role, "estimate": value, "std_error": 0.1,
             "ci_low": value - 0.2, "ci_high": value + 0.2, "model": "mixed"}
            for sector, values in estimates.items() for role, value in zip(dd.ROLES, values, strict=True)]
    return pd.DataFrame(rows)


def test_marginal_means_one_line_per_sector_in_its_colour(means):
    fig = fig_models.plot_marginal_means(means)
    (ax,) = fig.axes
    lines = [line for line in ax.lines if line.get_marker() in ("o", "s")]
    assert len(lines) == 2
    for line, sector in zip(lines, dd.SECTORS, strict=True):
        assert to_hex(line.get_color()) == SECTOR_COLOURS[sector].lower()
        np.testing.assert_allclose(line.get_ydata(), means.loc[means["sector"] == sector, "estimate"])
    np.testing.assert_allclose(lines[0].get_xdata(), np.arange(4) - 0.06)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Senior leader", "Coordinator", "Teacher", "Governor"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Independent", "State"]
    assert ax.get_ylim()[0] < -0.25  # the lowest interval is inside the axes


def test_marginal_means_caption_names_extremes(means):
    caption = fig_models.marginal_means_caption(means)
    assert "for the 8 combinations of sector and role" in caption
    assert "Highest: state coordinators (1.20, 95% CI 1.00 to 1.40)" in caption
    assert "lowest: state governors (\u22120.05, 95% CI \u22120.25 to 0.15)" in caption


# --- Figure 6: reciprocity -------------------------------------------------------------------------

@pytest.fixture
def per_partnership():
    """Three partnerships whose state side sees more worth, one whose independent side does, one
    with no state respondents."""
    table = pd.DataFrame({
        "partnership": ["PN-a", "PN-b", "PN-c", "PN-d", "PN-e"],
        "independent_worth": [0.2, 0.5, 1.0, 1.5, 0.8],
        "state_worth": [0.9, 1.0, 1.3, 0.6, np.nan],
        "n_independent": [2, 4, 6, 3, 5],
        "n_state": [10, 12, 9, 14, 0],
    })
    return table.assign(difference=table["independent_worth"] - table["state_worth"])


def test_reciprocity_draws_partnerships_on_equal_axes(per_partnership):
    fig = fig_reciprocity.plot_reciprocity(per_partnership)
    (ax,) = fig.axes
    (points,) = ax.collections[2:]  # after the two tinted halves
    np.testing.assert_allclose(points.get_offsets(), [[0.2, 0.9], [0.5, 1.0], [1.0, 1.3], [1.5, 0.6]])
    assert ax.get_xlim() == ax.get_ylim()
    assert ax.get_aspect() == 1.0
    (identity,) = ax.lines
    np.testing.assert_allclose(identity.get_xdata(), identity.get_ydata())
    np.testing.assert_allclose(identity.get_xdata(), ax.get_xlim())
    above, below = ax.collections[:2]
    assert to_hex(above.get_facecolor()[0][:3]) == SECTOR_COLOURS["state"].lower()
    assert to_hex(below.get_facecolor()[0][:3]) == SECTOR_COLOURS["independent"].lower()


def test_reciprocity_caption_counts(per_partnership):
    caption = fig_reciprocity.reciprocity_caption(per_partnership)
    assert "one of the 4 partnerships with respondents in both sectors" in caption
    assert "saw more worth (3 of 4)" in caption
    assert "those whose independent side did (1)" in caption
    assert "0.15 points above" in caption  # mean of 0.7, 0.5, 0.3, -0.9
    assert "median of 3.5 independent-school and 11 state-school respondents" in caption
    assert "1 partnership with respondents on one side only is not shown" in caption


def test_reciprocity_refuses_a_table_without_both_sides(per_partnership):
    with pytest.raises(IsspError, match="state_worth"):
        fig_reciprocity.plot_reciprocity(per_partnership.drop(columns="state_worth"))
    with pytest.raises(IsspError, match="both sides"):
        fig_reciprocity.plot_reciprocity(per_partnership.assign(state_worth=np.nan))


# --- All figures: same inputs, same bytes; and on simulated study data -----------------------------

FIGURES = ["sample", "items", "coefficients", "marginal_means", "reciprocity"]


@pytest.mark.parametrize("name", FIGURES)
def test_figure_saves_identical_bytes_twice(request, tmp_path, name):
    """Drawing is deterministic (fixed orders, no randomness), so save_figure's bytes repeat."""
    get = request.getfixturevalue
    build = {
        "sample": lambda: fig_sample.plot_sample_composition(get("schools"), get("participants")),
        "items": lambda: fig_items.plot_item_responses(*get("answers")),
        "coefficients": lambda: fig_models.plot_coefficients(get("fixed_effects")),
        "marginal_means": lambda: fig_models.plot_marginal_means(get("means")),
        "reciprocity": lambda: fig_reciprocity.plot_reciprocity(get("per_partnership")),
    }[name]
    first = save_figure(build(), tmp_path / "a", name, "Caption.")
    second = save_figure(build(), tmp_path / "b", name, "Caption.")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    simulate.write_raw(simulate.simulate(11, 0.2), folder / "raw")
    return clean_folder(folder / "raw", folder / "processed").tables


def test_figures_draw_simulated_study_data(simulated):
    """A whole simulated sample: printed counts match the bars, and every item bar spans 100%."""
    schools, participants = simulated["schools"], simulated["participants"]
    fig = fig_sample.plot_sample_composition(schools, participants)
    for ax, total in zip(fig.axes, (len(schools), len(participants)), strict=True):
        printed = texts(ax)
        heights = [bar.get_height() for bar in filled_bars(ax)]
        assert all(text == "<5" or int(text.replace(",", "")) in (0, *range(5, total + 1))
                   for text in printed)
        assert [h for h, t in zip(heights, printed, strict=True) if t != "<5"] == [
            int(t.replace(",", "")) for t in printed if t != "<5"]
        assert sum(heights) <= total
    respondents = fig_items.respondent_sectors(participants, schools)
    fig = fig_items.plot_item_responses(simulated["responses"], respondents)
    widths = {}
    for ax in fig.axes:
        for patch in ax.patches:
            assert isinstance(patch, Rectangle)
            item, sector, _ = patch.get_label().split()
            widths[(item, sector)] = widths.get((item, sector), 0) + patch.get_width()
    assert len(widths) == len(dd.ITEMS) * 2
    np.testing.assert_allclose(list(widths.values()), 100)
