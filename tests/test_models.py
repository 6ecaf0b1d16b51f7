"""The worth models: tidy results, hand-checked computations, edge cases, and recovery of known truths.

Recovery uses one fixed seed (2021, the demo's) at four times thesis scale (120 partnerships, about
2,000 respondents), so that tolerances can be tight; scripts/coverage_study.py checks the 95% CIs
over 200 seeds (docs/coverage.md).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import patsy
import pytest
import statsmodels.formula.api as smf
from scipy import special, stats
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.tools import numdiff

from issp_research import clean, io, models, pseudonym, results, simulate, worth
from issp_research import dictionary as dd
from issp_research.errors import IsspError

MAIN_TERMS = ["Intercept", "sector[T.state]", "role[T.coordinator]", "role[T.teacher]", "role[T.governor]",
              "sector[T.state]:role[T.coordinator]", "sector[T.state]:role[T.teacher]",
              "sector[T.state]:role[T.governor]", "phase[T.secondary]", "phase[T.all_through]", "years_in_role"]


def cleaned_tables(folder, seed: int, scale: float, config: dict | None = None) -> dict[str, pd.DataFrame]:
    simulate.write_raw(simulate.simulate(seed, scale, config=config), folder)
    return clean.clean_tables(io.read_raw_folder(folder), pseudonym.DEMO_KEY).tables


@pytest.fixture(scope="session")
def config():
    return simulate.load_config()


@pytest.fixture(scope="session")
def demo_tables(tmp_path_factory):
    return cleaned_tables(tmp_path_factory.mktemp("models_demo"), 2021, 1)


@pytest.fixture(scope="session")
def demo_frame(demo_tables):
    return worth.analysis_frame(demo_tables)


@pytest.fixture(scope="session")
def demo_mixed(demo_frame):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return models.fit_worth_mixed(demo_frame)


@pytest.fixture(scope="session")
def large_frame(tmp_path_factory):
    """Four times thesis scale, for recovery with tight tolerances."""
    return worth.analysis_frame(cleaned_tables(tmp_path_factory.mktemp("models_large"), 2021, 4))


@pytest.fixture(scope="session")
def large_fits(large_frame):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return models.fit_worth_mixed(large_frame), models.fit_clustered_ols(large_frame)


@pytest.fixture(scope="session")
def demo_items(demo_tables):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return models.fit_item_models(worth.item_responses(demo_tables))


def fit_quietly(fit, *args, **kwargs):
    """Any warning escaping a fit fails the test: notebook output must stay clean."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fit(*args, **kwargs)


# --- the mixed model and the clustered OLS ----------------------------------------------------


def test_mixed_model_result_shape(demo_mixed, demo_frame):
    assert list(demo_mixed.fixed.columns) == models.FIXED_COLUMNS
    assert list(demo_mixed.fixed["term"]) == list(demo_mixed.raw.model.exog_names)
    assert set(MAIN_TERMS) <= set(demo_mixed.fixed["term"])
    assert list(demo_mixed.variance["component"]) == ["partnership", "school", "residual"]
    variance = demo_mixed.variance.set_index("component")["variance"]
    assert demo_mixed.variance.set_index("component").loc["partnership", "icc"] == pytest.approx(
        variance["partnership"] / variance.sum())
    assert demo_mixed.fit["n"] == len(demo_frame)
    assert demo_mixed.fit["groups"] == demo_frame["partnership"].nunique()
    assert demo_mixed.fit["groups_school"] == demo_frame["school"].nunique()
    assert demo_mixed.fit["method"] == "REML"
    assert demo_mixed.fit["converged"] and not demo_mixed.fit["singular"]
    assert demo_mixed.warnings == []
    fixed = demo_mixed.fixed
    assert (fixed["ci_low"] < fixed["estimate"]).all() and (fixed["estimate"] < fixed["ci_high"]).all()
    assert np.allclose(fixed["ci_high"] - fixed["estimate"], stats.norm.ppf(0.975) * fixed["std_error"])


def test_ml_on_request(demo_mixed, demo_frame):
    ml = fit_quietly(models.fit_worth_mixed, demo_frame, reml=False)
    assert ml.fit["method"] == "ML" and ml.fit["converged"]
    # ML does not allow for the fixed effects it estimates, so its variances are smaller.
    for component in ("partnership", "residual"):
        assert (ml.variance.set_index("component").loc[component, "variance"]
                < demo_mixed.variance.set_index("component").loc[component, "variance"])
    assert ml.fit["loglik"] != pytest.approx(demo_mixed.fit["loglik"])


@pytest.mark.parametrize("school", ["string", "category", None], ids=["school", "categorical_school", "no_school"])
def test_mixed_model_is_the_one_statsmodels_builds_from_formulas(demo_frame, school):
    """fit_mixed builds the variance components itself (patsy per partnership is slow): the same model.

    For a categorical column from_formula adds all-zero columns for the schools of other
    partnerships, which change nothing but rounding.
    """
    frame = demo_frame.assign(school=demo_frame["school"].astype(school or "string"))
    components = {"school": "school"} if school else {}
    ours = fit_quietly(models.fit_mixed, frame, models.worth_formula(), "partnership", components).raw
    used = models._prepare(frame, models.worth_formula(), ["partnership", "school"])  # the rows fit_mixed uses
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = smf.mixedlm(models.worth_formula(), used, groups=used["partnership"], re_formula="1",
                            vc_formula={"school": "0 + C(school)"} if school else None)
        start = models.moment_start(model.endog, model.exog, used["partnership"].to_numpy(),
                                    used["school"].to_numpy() if school else None)
        reference = model.fit(method="bfgs", start_params=start)
    if school != "category":
        assert ours.model.exog_vc.names == model.exog_vc.names
        assert ours.model.exog_vc.colnames == model.exog_vc.colnames
        for a, b in zip(ours.model.exog_vc.mats, model.exog_vc.mats, strict=True):
            assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert list(ours.params.index) == list(reference.params.index)
    assert np.allclose(ours.params, reference.params, rtol=1e-10, atol=0)
    assert np.allclose(ours.bse, reference.bse, rtol=1e-10, atol=0)
    assert ours.llf == pytest.approx(reference.llf, rel=1e-12)


def test_moment_start_recovers_known_variances():
    """Simulated partnerships > schools > people with known effects, residual variance 0.5, slope 2."""
    rng = np.random.default_rng(7)
    partnership = np.repeat(np.arange(300), 40)
    school = partnership * 4 + np.tile(np.repeat(np.arange(4), 10), 300)
    x = rng.normal(size=len(partnership))
    partnership_effect, school_effect = rng.normal(0, np.sqrt(0.3), 300), rng.normal(0, np.sqrt(0.1), 1200)
    y = 1 + 2 * x + partnership_effect[partnership] + school_effect[school] + rng.normal(0, np.sqrt(0.5), len(x))
    exog = np.column_stack([np.ones_like(x), x])
    start = models.moment_start(y, exog, partnership, school)
    np.testing.assert_allclose(start.fe_params, [1, 2], atol=0.05)
    # statsmodels' parameters are ratios to the residual variance (0.5)
    assert start.cov_re[0, 0] * 0.5 == pytest.approx(partnership_effect.var(), abs=0.04)
    assert start.vcomp[0] * 0.5 == pytest.approx(school_effect.var(), abs=0.02)
    # without the school level, a quarter of its variance goes to partnerships, the rest to the residual
    without = models.moment_start(y, exog, partnership)
    assert without.vcomp.size == 0
    assert without.cov_re[0, 0] == pytest.approx((partnership_effect.var() + school_effect.var() / 4)
                                                  / (0.5 + 0.75 * school_effect.var()), abs=0.1)
    flat = models.moment_start(1 + 2 * x + rng.normal(size=len(x)), exog, partnership, school)
    assert flat.cov_re[0, 0] == pytest.approx(0.05) and flat.vcomp[0] == pytest.approx(0.05)  # kept off zero


def test_mixed_model_reaches_the_optimum_of_statsmodels_default_start(demo_frame):
    """The moment start changes where BFGS begins, not where it ends."""
    ours = fit_quietly(models.fit_worth_mixed, demo_frame).raw
    cold = fit_quietly(ours.model.fit, reml=True, method="bfgs")
    assert ours.llf == pytest.approx(cold.llf, abs=1e-6)
    np.testing.assert_allclose(ours.fe_params, cold.fe_params, atol=1e-4)
    np.testing.assert_allclose(ours.bse_fe, cold.bse_fe, rtol=1e-3)


def test_clustered_ols_is_the_cr1_sandwich_by_hand(demo_frame):
    ols = fit_quietly(models.fit_clustered_ols, demo_frame)
    y, x = patsy.dmatrices(models.worth_formula(), demo_frame, return_type="dataframe")
    x = x.loc[:, x.any()]  # categories nobody is in have no column in the fitted model
    beta, *_ = np.linalg.lstsq(x.to_numpy(), y.to_numpy().ravel(), rcond=None)
    residual = y.to_numpy().ravel() - x.to_numpy() @ beta
    bread = np.linalg.inv(x.T.to_numpy() @ x.to_numpy())
    clusters = demo_frame["partnership"].to_numpy()
    meat = sum(np.outer(s, s) for s in (x.to_numpy()[clusters == g].T @ residual[clusters == g]
                                         for g in np.unique(clusters)))
    n, k, g = len(y), x.shape[1], len(np.unique(clusters))
    se = np.sqrt(np.diag(bread @ meat @ bread) * g / (g - 1) * (n - 1) / (n - k))
    fixed = ols.fixed.set_index("term").loc[x.columns]
    assert np.allclose(fixed["estimate"], beta)
    assert np.allclose(fixed["std_error"], se)
    assert np.allclose(fixed["ci_high"], beta + stats.t.ppf(0.975, g - 1) * se)
    assert ols.fit["groups"] == g and ols.fit["method"] == "OLS, SE clustered by partnership"


def test_models_side_by_side(demo_mixed, demo_frame):
    ols = models.fit_clustered_ols(demo_frame)
    long = models.side_by_side(demo_mixed, ols)
    assert list(long.columns) == ["model", *models.FIXED_COLUMNS]
    assert len(long) == len(demo_mixed.fixed) + len(ols.fixed)
    wide = models.model_table(demo_mixed, ols)
    assert list(wide.columns) == ["term", "mixed", "clustered_ols"]
    sector = demo_mixed.fixed.set_index("term").loc["sector[T.state]"]
    assert wide.set_index("term").loc["sector[T.state]", "mixed"] == (
        f"{sector['estimate']:.2f} [{sector['ci_low']:.2f}, {sector['ci_high']:.2f}]")
    fits = models.fit_table(demo_mixed, ols)
    assert list(fits["model"]) == ["mixed", "clustered_ols"] and fits["converged"].all()


def emm_weights(frame: pd.DataFrame, terms: list[str], sector: str, role: str) -> np.ndarray:
    """The marginal mean's contrast, written out: phase and model averaged equally, years at the mean."""
    phases = [level for level in dd.PHASES if (frame["phase"] == level).any()]
    kinds = [level for level in dd.MODELS if (frame["model"] == level).any()]
    weights = {"Intercept": 1.0, "years_in_role": frame["years_in_role"].mean()}
    weights.update({f"phase[T.{level}]": 1 / len(phases) for level in phases[1:]})
    weights.update({f"model[T.{level}]": 1 / len(kinds) for level in kinds[1:]})
    if sector == "state":
        weights["sector[T.state]"] = 1.0
    if role != "senior_leader":
        weights[f"role[T.{role}]"] = 1.0
        if sector == "state":
            weights[f"sector[T.state]:role[T.{role}]"] = 1.0
    return np.array([weights.get(term, 0.0) for term in terms])


def test_marginal_means_by_hand(demo_mixed, demo_frame):
    means = models.marginal_means(demo_mixed, demo_frame)
    assert len(means) == 8 and list(means.columns) == ["sector", "role", "estimate", "std_error", "ci_low",
                                                       "ci_high", "model"]
    terms = list(demo_mixed.fixed["term"])
    beta = demo_mixed.fixed["estimate"].to_numpy()
    cov = demo_mixed.raw.cov_params().loc[terms, terms].to_numpy()
    for row in means.itertuples():
        weights = emm_weights(demo_frame, terms, row.sector, row.role)
        assert row.estimate == pytest.approx(weights @ beta)
        assert row.std_error == pytest.approx(np.sqrt(weights @ cov @ weights))
        assert row.ci_low == pytest.approx(row.estimate - 1.959964 * row.std_error)


def test_marginal_means_need_factors_of_the_model(demo_mixed, demo_frame):
    with pytest.raises(IsspError, match="'region' is not a factor of the model"):
        models.marginal_means(demo_mixed, demo_frame, by=("sector", "region"))


# --- mistakes and edge cases ------------------------------------------------------------------


def test_unknown_variable_is_named(demo_frame):
    with pytest.raises(IsspError, match="unknown variable 'rol'") as error:
        models.fit_worth_mixed(demo_frame, ["sector * rol", "phase"])
    assert error.value.column == "rol" and "role" in error.value.fix
    with pytest.raises(IsspError, match="unknown variable 'years'"):
        models.fit_clustered_ols(demo_frame, ["sector", "years"])


def test_terms_may_be_one_string_but_not_none(demo_frame):
    assert models.worth_formula("sector * role") == "worth ~ sector * role"
    with pytest.raises(IsspError, match="no model terms"):
        models.worth_formula([])


def test_empty_sector_by_role_cell_is_named(demo_frame):
    no_state_governors = demo_frame[~((demo_frame["sector"] == "state") & (demo_frame["role"] == "governor"))]
    for fit in (models.fit_worth_mixed, models.fit_clustered_ols):
        with pytest.raises(IsspError, match="no respondents in the sector x role cell state x governor") as error:
            fit(no_state_governors)
        assert "sector + role" in error.value.fix


def test_a_partnership_with_one_school_is_fitted(demo_frame):
    first = demo_frame["partnership"].iloc[0]
    schools = demo_frame.loc[demo_frame["partnership"] == first, "school"].unique()
    frame = demo_frame[(demo_frame["partnership"] != first) | (demo_frame["school"] == schools[0])]
    mixed = fit_quietly(models.fit_worth_mixed, frame)
    assert mixed.fit["converged"] and mixed.fit["groups"] == demo_frame["partnership"].nunique()
    assert mixed.fit["groups_school"] == demo_frame["school"].nunique() - (len(schools) - 1)


def test_every_partnership_with_one_school_is_refused(demo_frame):
    first_schools = demo_frame.groupby("partnership")["school"].transform("first")
    with pytest.raises(IsspError, match="every partnership has a single school") as error:
        models.fit_worth_mixed(demo_frame[demo_frame["school"] == first_schools])
    assert "leave out the school variance component" in error.value.fix


def test_a_school_in_two_partnerships_is_refused(demo_frame):
    frame = demo_frame.copy()
    school = frame["school"].iloc[0]
    other = frame.loc[frame["partnership"] != frame["partnership"].iloc[0], "partnership"].iloc[0]
    frame.loc[frame.index[frame["school"] == school][0], "partnership"] = other
    with pytest.raises(IsspError, match=f"school {school} belongs to more than one partnership"):
        models.fit_worth_mixed(frame)


def test_one_partnership_is_refused(demo_frame):
    one = demo_frame[demo_frame["partnership"] == demo_frame["partnership"].iloc[0]]
    with pytest.raises(IsspError, match="the data have 1 partnership"):
        models.fit_mixed(one, "worth ~ role", groups="partnership")


def test_a_term_the_others_determine_is_named(demo_frame):
    frame = demo_frame.assign(months_in_role=demo_frame["years_in_role"] * 12)
    with pytest.raises(IsspError, match="the term months_in_role is determined by the terms before it"):
        models.fit_worth_mixed(frame, [*models.WORTH_TERMS, "months_in_role"])
    with pytest.raises(IsspError, match="months_in_role"):
        models.fit_clustered_ols(frame, [*models.WORTH_TERMS, "months_in_role"])


def test_singular_fit_is_reported_not_raised(demo_frame):
    """Worth centred within each partnership leaves no partnership variance: the fit sits on the boundary."""
    partnership_mean = demo_frame.groupby("partnership")["worth"].transform("mean")
    centred = demo_frame.assign(worth=demo_frame["worth"] - partnership_mean)
    mixed = fit_quietly(models.fit_worth_mixed, centred)
    assert mixed.fit["singular"] and mixed.fit["converged"]
    variance = mixed.variance.set_index("component")
    assert variance.loc["partnership", "sd"] < models.SINGULAR_TOLERANCE * variance.loc["residual", "sd"]
    assert variance.loc["school", "sd"] > 0.1
    assert any("singular fit: the partnership variance is estimated at zero" in note for note in mixed.warnings)
    assert np.isfinite(mixed.fixed[["estimate", "std_error"]]).all().all()


def test_no_partnership_variance_in_the_simulation(tmp_path, config):
    """Partnerships simulated alike: the fit converges without a warning and finds little variance."""
    alike = copy.deepcopy(config)
    alike["worth"]["sd_partnership"] = 0
    frame = worth.analysis_frame(cleaned_tables(tmp_path, 2021, 1, alike))
    mixed = fit_quietly(models.fit_worth_mixed, frame)
    variance = mixed.variance.set_index("component")
    assert mixed.fit["converged"]
    assert variance.loc["partnership", "sd"] < 0.2 < config["worth"]["sd_partnership"]
    assert mixed.fit["singular"] == (variance.loc["partnership", "sd"]
                                     < models.SINGULAR_TOLERANCE * variance.loc["residual", "sd"])


# --- recovery of the simulator's truths ---------------------------------------------------------


def test_true_effects_are_named_as_the_model_terms(config, large_fits):
    truths = models.true_effects(config["worth"])
    assert set(truths.index) == set(large_fits[0].fixed["term"])
    assert truths["sector[T.state]"] == config["worth"]["sector"]["state"]
    assert truths["sector[T.state]:role[T.teacher]"] == config["worth"]["sector_x_role"]["state:teacher"]
    assert truths["model[T.governance_sponsorship]"] == config["worth"]["model"]["governance_sponsorship"]


@pytest.mark.parametrize("which", [0, 1], ids=["mixed", "clustered_ols"])
def test_fixed_effects_recover_the_truths(large_fits, config, which):
    fixed = large_fits[which].fixed.set_index("term")
    truths = models.true_effects(config["worth"])[fixed.index]
    # Every effect within 3 standard errors of its truth ...
    z = (fixed["estimate"] - truths) / fixed["std_error"]
    assert (z.abs() < 3).all(), z[z.abs() >= 3]
    # ... and the 95% CIs of the study's questions (sector, role, their interaction; phase, years) cover it.
    main = fixed.loc[MAIN_TERMS]
    covered = (main["ci_low"] <= truths[MAIN_TERMS]) & (truths[MAIN_TERMS] <= main["ci_high"])
    assert covered.all(), main[~covered]


def test_variance_components_recover_the_truths(large_fits, config):
    """Partnership and school SDs near their truths; the residual SD as the items make it.

    Tolerances are three times the spread of each SD estimate over 200 seeds at thesis scale
    (0.068 partnership, 0.044 school, 0.019 residual; docs/coverage.md), halved for four times the
    partnerships. The observed worth index carries item-level noise beyond sd_residual: the mean of
    12 (8) items, each with noise SD noise_sd and rounded to whole points (variance 1/12), so the
    expected residual variance is sd_residual^2 + (noise_sd^2 + 1/12) * (1/12 + 1/8); response style
    cancels because benefit and cost loadings both average 1. Clipping at 1 and 5 shrinks it by
    about 0.01 (the coverage study's mean, 0.522 against 0.532), which the tolerance adds.
    """
    truth, items = config["worth"], config["items"]
    sd = large_fits[0].variance.set_index("component")["sd"]
    assert sd["partnership"] == pytest.approx(truth["sd_partnership"], abs=3 * 0.068 / 2)
    assert sd["school"] == pytest.approx(truth["sd_school"], abs=3 * 0.044 / 2)
    item_noise = (items["noise_sd"] ** 2 + 1 / 12) * (1 / len(dd.BENEFITS) + 1 / len(dd.COSTS))
    expected_residual = np.sqrt(truth["sd_residual"] ** 2 + item_noise)
    assert sd["residual"] == pytest.approx(expected_residual, abs=3 * 0.019 / 2 + 0.01)
    assert sd["residual"] > truth["sd_residual"]


def test_marginal_means_recover_the_truths(large_fits, large_frame, config):
    mixed = large_fits[0]
    terms = list(mixed.fixed["term"])
    truths = models.true_effects(config["worth"])[terms].to_numpy()
    means = models.marginal_means(mixed, large_frame)
    for row in means.itertuples():
        truth = emm_weights(large_frame, terms, row.sector, row.role) @ truths
        assert abs(row.estimate - truth) < 3 * row.std_error, (row.sector, row.role, row.estimate, truth)


# --- item models ----------------------------------------------------------------------------------


def test_item_models_one_row_per_item_and_term(demo_items, demo_tables):
    assert list(demo_items.columns) == models.ITEM_COLUMNS
    assert list(dict.fromkeys(demo_items["item"])) == list(dd.ITEMS)
    assert (demo_items.groupby("item").size() == 7).all()
    assert demo_items["converged"].all()
    answered = demo_tables["responses"][list(dd.ITEMS)].notna().sum()
    assert (demo_items.groupby("item")["n"].first() == answered).all()


def test_item_models_see_the_simulated_sector_gap(demo_items):
    """State senior leaders simulated with more worth: more benefit and less cost on the items."""
    sector = demo_items[demo_items["term"] == "sector[T.state]"].set_index("item")["estimate"]
    assert sector[list(dd.BENEFITS)].mean() > 0.3
    assert sector[list(dd.COSTS)].mean() < -0.3


def test_item_model_is_statsmodels_ordered_logit(demo_tables):
    answers = worth.item_responses(demo_tables)
    ours = models.fit_item_models(answers, items=["C02"], cluster=None).set_index("term")
    used = answers[["C02", "sector", "role"]].dropna()
    design = patsy.dmatrix("sector * role", used, return_type="dataframe").drop(columns="Intercept")
    outcome = pd.Series(pd.Categorical(used["C02"], ordered=True), index=used.index)
    # statsmodels stops BFGS at a gradient of 1e-5 per respondent (estimates ~1e-3 from the optimum): tighter here
    reference = OrderedModel(outcome, design, distr="logit").fit(method="bfgs", disp=False, gtol=1e-9, maxiter=2000)
    assert np.allclose(ours["estimate"], reference.params[design.columns], atol=1e-4)
    assert np.allclose(ours["std_error"], reference.bse[design.columns], atol=1e-4)
    clustered = models.fit_item_models(answers, items=["C02"]).set_index("term")
    assert np.allclose(clustered["estimate"], ours["estimate"])
    assert not np.allclose(clustered["std_error"], ours["std_error"])
    groups = pd.factorize(answers.loc[used.index, "partnership"])[0]
    reference = OrderedModel(outcome, design, distr="logit").fit(method="bfgs", disp=False, gtol=1e-9, maxiter=2000,
                                                                 cov_type="cluster",
                                                                 cov_kwds={"groups": groups})
    assert np.allclose(clustered["std_error"], reference.bse[design.columns], atol=1e-4)


def test_item_model_falls_back_to_bfgs_when_newton_stops_early(demo_tables, monkeypatch):
    answers = worth.item_responses(demo_tables)
    newton = models.fit_item_models(answers, items=["C02"]).set_index("term")
    monkeypatch.setattr(models, "_ITEM_OPTIMISERS", (("newton", 1), ("bfgs", 500)))  # one step cannot converge
    fallback = fit_quietly(models.fit_item_models, answers, items=["C02"]).set_index("term")
    assert fallback["converged"].all()
    np.testing.assert_allclose(fallback["estimate"], newton["estimate"], atol=5e-3)  # BFGS's own tolerance
    monkeypatch.setattr(models, "_ITEM_OPTIMISERS", (("newton", 1),))
    assert not fit_quietly(models.fit_item_models, answers, items=["C02"])["converged"].any()


@pytest.mark.parametrize(("recode", "ratings"), [
    (None, None),  # as fit_item_models builds it: the ratings given (1 to 4)
    ({3.0: 2.0}, [1, 2, 3, 4]),  # nobody gives 3
    (None, [0, 1, 2, 3, 4, 5, 6]),  # nobody gives 0, 5 or 6
    ({1.0: 0.0, 2.0: 0.0, 3.0: 1.0, 4.0: 1.0}, [0, 1]),  # two ratings, one threshold
], ids=["as_fitted", "unused_middle", "unused_ends", "binary"])
def test_item_model_score_is_the_derivative_of_the_likelihood(demo_tables, recode, ratings):
    """The hand-written score against finite differences, also where a rating nobody gave is in the scale."""
    used = worth.item_responses(demo_tables)[["C02", "sector", "role"]].dropna()
    rating = used["C02"].replace(recode) if recode else used["C02"]
    ratings = np.sort(rating.unique()) if ratings is None else ratings
    design = patsy.dmatrix("sector * role", used, return_type="dataframe").drop(columns="Intercept")
    outcome = pd.Series(pd.Categorical(rating, categories=ratings, ordered=True), index=used.index)
    model = models._OrderedLogit(outcome, design, distr="logit")
    k = model.k_levels - 1
    rng = np.random.default_rng(2021)
    params = np.concatenate((rng.normal(0, 0.5, design.shape[1]), [-1.5], np.log(rng.uniform(0.3, 1.2, k - 1))))
    assert np.allclose(model.score(params), numdiff.approx_fprime(params, model.loglike, centered=True),
                       rtol=1e-6, atol=1e-6)
    assert np.allclose(model.score_obs(params), numdiff.approx_fprime(params, model.loglikeobs, centered=True),
                       rtol=1e-6, atol=1e-6)
    second = numdiff.approx_hess(params, model.loglike)
    assert np.allclose(model.hessian(params), second, rtol=1e-4, atol=1e-4 * np.abs(second).max())
    of_score = numdiff.approx_fprime(params, model.score, centered=True)  # more precise than from the likelihood
    assert np.allclose(model.hessian(params), of_score, rtol=1e-6, atol=1e-6 * np.abs(of_score).max())
    assert np.array_equal(model.hessian(params), model.hessian(params).T)


def _ordinal_sample(seed: int, slopes_by_threshold: list[list[float]], n: int = 3000):
    """Ratings 0..4 from cumulative logits P(y <= m) = F(a_m - x b_m): proportional odds when every b_m is equal."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n)]).astype(float)
    cuts = np.array([-1.5, -0.5, 0.4, 1.3])
    below = special.expit(cuts[None, :] - x @ np.array(slopes_by_threshold).T)  # n x thresholds
    rating = (rng.random(n)[:, None] > below).sum(axis=1)
    outcome = pd.Series(pd.Categorical(rating, categories=range(5), ordered=True))
    return models._OrderedLogit(outcome, pd.DataFrame(x, columns=["x", "group"]), distr="logit")


def test_proportional_odds_test_is_the_score_of_the_generalised_model():
    model = _ordinal_sample(3, [[0.8, -0.5]] * 4)
    params = model.fit(method="newton", disp=False).params.to_numpy()
    k, p = 4, 2

    def generalised(theta):  # written out independently: slopes b_m per threshold, thresholds as the model's
        b = theta[:k * p].reshape(k, p)
        cuts = model.transform_threshold_params(theta[k * p:])  # -inf, a_0, ..., a_3, inf
        below = np.column_stack([np.zeros(len(model.endog)), special.expit(cuts[1:-1][None, :] - model.exog @ b.T),
                                 np.ones(len(model.endog))])
        rows = np.arange(len(model.endog))
        return np.log(below[rows, model.endog + 1] - below[rows, model.endog]).sum()

    theta = np.concatenate([np.tile(params[:p], k), params[p:]])
    score, hessian = model._second_derivatives(params, slopes_by_threshold=True)
    np.testing.assert_allclose(score, numdiff.approx_fprime(theta, generalised, centered=True), atol=1e-5)
    np.testing.assert_allclose(hessian, numdiff.approx_hess(theta, generalised), rtol=1e-4,
                               atol=1e-4 * np.abs(hessian).max())
    assert np.abs(score[:k * p].reshape(k, p).sum(axis=0)).max() < 1e-6  # the fitted slopes: a zero score


def test_proportional_odds_test_keeps_true_and_rejects_false_proportional_odds():
    holds = _ordinal_sample(5, [[0.8, -0.5]] * 4)
    chi2, df = holds.proportional_odds_test(holds.fit(method="newton", disp=False).params)
    assert df == 6 and stats.chi2.sf(chi2, df) > 0.05
    fails = _ordinal_sample(5, [[1.2, -0.5], [0.8, -0.5], [0.4, -0.5], [0.0, -0.5]])  # x matters less higher up
    chi2, df = fails.proportional_odds_test(fails.fit(method="newton", disp=False).params)
    assert stats.chi2.sf(chi2, df) < 1e-6


def test_proportional_odds_test_drops_a_slope_the_data_cannot_estimate():
    model = _ordinal_sample(5, [[0.8, -0.5]] * 4)
    rating = model.endog.copy()
    # nobody in the group gives either rating beside the top threshold (3 or 4), so no one in it tells
    # where that threshold lies for them: the larger model's group slope there has no information
    rating[(model.exog[:, 1] == 1) & (rating >= 3)] = 2
    sparse = models._OrderedLogit(pd.Series(pd.Categorical(rating, categories=range(5), ordered=True)),
                                  pd.DataFrame(model.exog, columns=["x", "group"]), distr="logit")
    params = fit_quietly(sparse.fit, method="newton", disp=False).params
    chi2, df = sparse.proportional_odds_test(params)
    assert df == 5 and np.isfinite(chi2)  # the group's slope at the top threshold is left out


def test_item_models_report_the_proportional_odds_test(demo_items):
    per_item = demo_items.groupby("item", sort=False)[["po_chi2", "po_df", "po_p"]].agg(["min", "max"])
    for column in ("po_chi2", "po_df", "po_p"):  # one test per item, repeated on its rows
        assert (per_item[(column, "min")] == per_item[(column, "max")]).all()
    # seven slopes and up to four thresholds: at most 7 x 3 degrees of freedom, fewer where a sparse
    # sector x role cell leaves a slope of the larger model unestimable
    assert per_item[("po_df", "min")].between(7, 21).all() and (per_item[("po_df", "min")] == 21).any()
    assert per_item[("po_p", "min")].between(0, 1).all()
    assert 0.5 < (per_item[("po_p", "min")] > 0.05).mean()  # the simulator's items have proportional odds


def test_item_with_a_single_rating_is_refused(demo_tables):
    answers = worth.item_responses(demo_tables).assign(B01=3.0)
    with pytest.raises(IsspError, match="every answer to item B01 is 3"):
        models.fit_item_models(answers, items=["B01"])


def test_item_model_names_the_item_with_an_empty_cell(demo_tables):
    answers = worth.item_responses(demo_tables)
    state_governors = (answers["sector"] == "state") & (answers["role"] == "governor")
    answers.loc[state_governors, "C04"] = np.nan
    with pytest.raises(IsspError, match="item C04: no respondents in the sector x role cell state x governor"):
        models.fit_item_models(answers, items=["B01", "C04"])


def test_item_model_table(demo_items):
    table = models.item_model_table(demo_items)
    assert list(table["item"]) == list(dd.ITEMS) and table["wording"].iloc[0] == dd.ITEM_WORDING["B01"]
    b01 = demo_items[(demo_items["item"] == "B01") & (demo_items["term"] == "sector[T.state]")].iloc[0]
    assert table.loc[0, "sector[T.state]"] == (
        f"{np.exp(b01['estimate']):.2f} [{np.exp(b01['ci_low']):.2f}, {np.exp(b01['ci_high']):.2f}]")
    p_value = b01["po_p"]
    assert table.loc[0, "proportional odds: chi2 (df), p"] == (
        f"{b01['po_chi2']:.1f} ({int(b01['po_df'])}), {'< 0.001' if p_value < 0.001 else f'{p_value:.3f}'}")


# --- reciprocity ----------------------------------------------------------------------------------


def small_study() -> pd.DataFrame:
    rows = [("P1", "independent", 1.0), ("P1", "independent", 2.0), ("P1", "state", 0.0),
            ("P2", "independent", 1.0), ("P2", "state", 1.0), ("P2", "state", 2.0),
            ("P3", "independent", 2.0), ("P3", "state", 0.5),
            ("P4", "state", 1.0),
            ("P5", "independent", 0.0), ("P5", "state", 1.0)]
    frame = pd.DataFrame(rows, columns=["partnership", "sector", "worth"])
    return frame.assign(sector=pd.Categorical(frame["sector"], categories=dd.SECTORS))


def test_reciprocity_by_hand():
    pairs, summary = models.reciprocity(small_study())
    assert list(pairs.columns) == ["partnership", "independent_worth", "state_worth", "n_independent", "n_state",
                                   "difference"]
    assert list(pairs["partnership"]) == ["P1", "P2", "P3", "P5"]
    assert list(pairs["difference"]) == [1.5, -0.5, 1.5, -1.0]
    assert list(pairs["n_independent"]) == [2, 1, 1, 1] and list(pairs["n_state"]) == [1, 2, 1, 1]
    row = summary.iloc[0]
    difference = np.array([1.5, -0.5, 1.5, -1.0])
    sd = difference.std(ddof=1)
    assert row["n_partnerships"] == 4 and row["n_one_sided"] == 1
    assert row["mean_difference"] == pytest.approx(0.375)
    assert row["t"] == pytest.approx(0.375 / (sd / 2))
    assert row["p_t"] == pytest.approx(stats.ttest_rel(pairs["independent_worth"], pairs["state_worth"]).pvalue)
    assert row["ci_high"] == pytest.approx(0.375 + stats.t.ppf(0.975, 3) * sd / 2)
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(pairs["independent_worth"], pairs["state_worth"]).pvalue)
    assert row["d_z"] == pytest.approx(0.375 / sd)


def test_reciprocity_of_another_score_and_its_table():
    frame = small_study().assign(benefit=lambda f: f["worth"] + 2)
    pairs, summary = models.reciprocity(frame, score="benefit")
    assert "independent_benefit" in pairs.columns and summary.at[0, "score"] == "benefit"
    table = models.reciprocity_table(models.reciprocity(frame)[1], summary)
    assert list(table["score"]) == ["worth", "benefit"]
    assert table.loc[0, "independent - state [95% CI]"].startswith("0.38 [")
    assert table.loc[0, "t (df)"].endswith("(3)")
    assert table.loc[0, "p (paired t)"] == f"{summary.at[0, 'p_t']:.3f}"


def test_reciprocity_needs_two_partnerships_with_both_sides():
    with pytest.raises(IsspError, match="1 partnership\\(s\\) have respondents from both sectors"):
        models.reciprocity(small_study().query("partnership in ['P1', 'P4']"))


def test_reciprocity_recovers_the_simulated_imbalance(large_frame, config):
    """The truth is the difference the true fixed effects give for these respondents."""
    truths = models.true_effects(config["worth"])
    design = patsy.dmatrix(models.worth_formula().split("~", 1)[1], large_frame, return_type="dataframe")
    _, expected = models.reciprocity(large_frame.assign(worth=design[truths.index].to_numpy() @ truths.to_numpy()))
    pairs, summary = models.reciprocity(large_frame)
    assert summary.at[0, "n_one_sided"] == 0 and len(pairs) == large_frame["partnership"].nunique()
    assert summary.at[0, "ci_low"] <= expected.at[0, "mean_difference"] <= summary.at[0, "ci_high"]
    assert summary.at[0, "mean_difference"] < 0 and summary.at[0, "wilcoxon_p"] < 0.001
    assert models.reciprocity_table(summary).at[0, "p (Wilcoxon)"] == "< 0.001"


def test_results_round_trip(tmp_path, demo_items, demo_frame):
    pairs, summary = models.reciprocity(demo_frame)
    results.save(tmp_path, item_models=demo_items, reciprocity_pairs=pairs, reciprocity=summary)
    loaded = results.load(tmp_path, "item_models", "reciprocity_pairs", "reciprocity")
    pd.testing.assert_frame_equal(loaded["item_models"], demo_items.round(results.DECIMALS))
    pd.testing.assert_frame_equal(loaded["reciprocity"], summary.round(results.DECIMALS))
    assert len(loaded["reciprocity_pairs"]) == len(pairs)


def test_reciprocity_with_no_spread_in_the_differences():
    """Every partnership differs by exactly 1: the t statistic and d_z are 0/0, reported as nan."""
    frame = pd.DataFrame({"partnership": ["P1", "P1", "P2", "P2", "P3", "P3"],
                          "sector": pd.Categorical(["independent", "state"] * 3, categories=dd.SECTORS),
                          "worth": [2.0, 1.0, 1.5, 0.5, 0.0, -1.0]})
    _, summary = models.reciprocity(frame)
    row = summary.iloc[0]
    assert row["mean_difference"] == 1.0 and row["ci_low"] == row["ci_high"] == 1.0
    assert np.isnan(row["t"]) and np.isnan(row["p_t"]) and np.isnan(row["d_z"])
    assert row["wilcoxon_p"] == pytest.approx(0.25)
