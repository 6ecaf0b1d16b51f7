"""Models of perceived worth, all returning one tidy result shape that figures and tables read.

The main model is a linear mixed model with random intercepts for partnership and for school within
partnership (statsmodels MixedLM, schools as a variance component); the robustness check is OLS with
standard errors clustered by partnership. Beside them: a proportional-odds model per survey item,
estimated marginal means per sector x role cell, and the reciprocity of the exchange within each
partnership. Problems of a fit (no convergence, a variance estimated at zero) are recorded in the
result instead of leaking as warnings into notebook output.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
import statsmodels.formula.api as smf
from scipy import special, stats
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams, VCSpec
from statsmodels.tools.sm_exceptions import ModelWarning

from . import dictionary as dd
from .errors import IsspError

#: The main model's terms (STUDY.md): sector x role, phase, partnership model, years in role.
WORTH_TERMS = ("sector * role", "phase", "model", "years_in_role")
#: The item models' terms (STUDY.md: "per item by sector and role").
ITEM_TERMS = ("sector * role",)
FIXED_COLUMNS = ["term", "estimate", "std_error", "ci_low", "ci_high", "p"]
ITEM_COLUMNS = ["item", *FIXED_COLUMNS, "n", "converged", "po_chi2", "po_df", "po_p"]
#: A random-intercept SD below this fraction of the residual SD counts as zero (lme4's isSingular).
SINGULAR_TOLERANCE = 1e-4
_NOT_VARIABLES = {"C", "Treatment", "Sum", "np", "log", "exp", "sqrt", "center", "standardize", "I"}


@dataclass
class ModelResult:
    """Fixed effects, variance components and fit statistics of one fitted model."""

    name: str
    formula: str
    fixed: pd.DataFrame
    variance: pd.DataFrame
    fit: dict
    #: What went wrong or needs a reader's attention, in words (never raised as Python warnings).
    warnings: list[str] = field(default_factory=list)
    #: The statsmodels result, for marginal means and diagnostics.
    raw: object = field(default=None, repr=False)


# --- checks shared by every model -----------------------------------------------------------


def _variables(formula: str) -> list[str]:
    rhs = formula.split("~", 1)[1] if "~" in formula else formula
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"C\(([^)]*)\)", r"\1", rhs))
    return [name for name in dict.fromkeys(names) if name not in _NOT_VARIABLES]


def check_variables(data: pd.DataFrame, names: Sequence[str], where: str = "model terms") -> None:
    """An unknown variable name ends in one message that names it and lists the known ones."""
    for name in names:
        if name not in data.columns:
            raise IsspError(f"unknown variable '{name}'", column=name, rule=f"{where} name columns of the data",
                            fix=f"use one of: {', '.join(sorted(map(str, data.columns)))}")


def worth_formula(terms: Sequence[str] | str = WORTH_TERMS, outcome: str = "worth") -> str:
    terms = [terms] if isinstance(terms, str) else list(terms)
    if not terms:
        raise IsspError("no model terms given", column="model_terms", rule="at least one term",
                        fix='e.g. model_terms: ["sector * role", "phase", "model", "years_in_role"]')
    return f"{outcome} ~ " + " + ".join(terms)


def _tidy_fixed(params: pd.Series, bse: pd.Series, pvalues: pd.Series, conf: pd.DataFrame) -> pd.DataFrame:
    fixed = pd.DataFrame({"term": params.index, "estimate": params.to_numpy(), "std_error": bse.to_numpy(),
                          "ci_low": conf.iloc[:, 0].to_numpy(), "ci_high": conf.iloc[:, 1].to_numpy(),
                          "p": pvalues.to_numpy()})
    return fixed.reset_index(drop=True)


def _check_cells(data: pd.DataFrame, formula: str) -> None:
    """An empty cell of an interaction (e.g. sector x role) makes it inestimable: say which cell."""
    for a, b in re.findall(r"([A-Za-z_]\w*)\s*[*:]\s*([A-Za-z_]\w*)", formula):
        if isinstance(data[a].dtype, pd.CategoricalDtype) and isinstance(data[b].dtype, pd.CategoricalDtype):
            # every pair of categories, in their order (a tenth of pd.crosstab's time, run once per model)
            counts = data.groupby([a, b], observed=False).size()
            empty = list(counts.index[counts.to_numpy() == 0])
            if empty:
                raise IsspError(f"no respondents in the {a} x {b} cell {empty[0][0]} x {empty[0][1]}",
                                column=f"{a}:{b}", rule="every cell of an interaction has data",
                                fix=f"drop the interaction ({a} + {b} instead of {a} * {b}) or merge categories")


def _check_rank(design: pd.DataFrame) -> None:
    """A term that the other terms already determine has no estimate of its own: name it."""
    values = design.to_numpy(dtype=float)
    for position in range(1, values.shape[1] + 1):
        if np.linalg.matrix_rank(values[:, :position]) < position:
            term = design.columns[position - 1]
            raise IsspError(f"the term {term} is determined by the terms before it", column=str(term),
                            rule="every term carries information of its own (a full-rank design)",
                            fix="drop the term or a term it duplicates (e.g. a category that coincides with "
                                "another variable)")


def _prepare(data: pd.DataFrame, formula: str, extra: Sequence[str]) -> pd.DataFrame:
    outcome = formula.split("~", 1)[0].strip()
    names = [outcome, *_variables(formula), *extra]
    check_variables(data, names)
    used = data[list(dict.fromkeys(names))].dropna()
    if used.empty:
        raise IsspError("no complete rows for the model", rule="the model needs data",
                        fix="check that the outcome and terms have values")
    for column in used.columns:
        if isinstance(used[column].dtype, pd.CategoricalDtype):
            used[column] = used[column].cat.remove_unused_categories()
    _check_cells(used, formula)
    return used


def _check_grouping(used: pd.DataFrame, groups: str, variance_components: Mapping[str, str]) -> None:
    """Random intercepts need several groups, and each variance component nested in a group."""
    if used[groups].nunique() < 2:
        raise IsspError(f"the data have {used[groups].nunique()} {groups}", column=groups,
                        rule=f"a random intercept for {groups} needs at least two of them",
                        fix="fit the clustered OLS instead, or check the data")
    for label, column in variance_components.items():
        homes = used.groupby(column, observed=True)[groups].nunique()
        if (homes > 1).any():
            raise IsspError(f"{column} {homes.idxmax()} belongs to more than one {groups}", column=column,
                            rule=f"each {column} is nested in one {groups}", fix=f"check the {column} identifiers")
        if (used.groupby(groups, observed=True)[column].nunique() == 1).all():
            raise IsspError(f"every {groups} has a single {column}, so the {label} variance cannot be told "
                            f"apart from the {groups} variance", column=column,
                            rule=f"a {label} variance component needs {groups}s with several {column}s",
                            fix=f"leave out the {label} variance component")
        if (used.groupby(column, observed=True).size() == 1).all():
            raise IsspError(f"every {column} has a single respondent, so the {label} variance cannot be told "
                            "apart from the residual", column=column,
                            rule=f"a {label} variance component needs {column}s with several respondents",
                            fix=f"leave out the {label} variance component")


# --- the linear models of worth -------------------------------------------------------------


def _failed_to_converge(message: str) -> bool:
    return any(words in message for words in ("failed to converge", "optimization failed", "Retrying"))


#: Optimisers in the order tried, and whether each starts from the best fit so far.
_OPTIMISERS = (("bfgs", False), ("powell", False), ("bfgs", True), ("nm", True))


def moment_start(endog: np.ndarray, exog: np.ndarray, groups: np.ndarray,
                 nested: np.ndarray | None = None) -> MixedLMParams:
    """Where the mixed model's optimiser starts: variances of the OLS residuals, level by level.

    statsmodels starts every variance at the residual variance. Each likelihood evaluation loops
    over the groups (0.7 s for 3,000 partnerships at national scale), and BFGS needed 11 of them
    from there against 6 from here. The estimates are the analysis-of-variance ones for random
    intercepts, with unequal sizes averaged: the residual variance within the innermost units
    (``nested`` if given, else ``groups``), each level's variance of means less what the level
    below adds to it. They are close to the REML estimates when the design is not too unbalanced,
    and only a start: the optimiser finds the same optimum. Each variance is kept at 5% of the
    residual variance or more, because a zero standard deviation is a stationary point of
    statsmodels' parameterisation from which the optimiser cannot move.
    """
    beta = np.linalg.lstsq(exog, endog, rcond=None)[0]
    residual = pd.Series(endog - exog @ beta)
    outer = pd.Series(pd.factorize(groups)[0])
    inner = outer if nested is None else pd.Series(pd.factorize(nested)[0])
    units = residual.groupby(inner)
    within = float((residual - units.transform("mean")).pow(2).sum()) / max(len(residual) - units.ngroups, 1)
    within = within if within > 0 else float(residual.var()) or 1.0
    floor = 0.05 * within
    unit_mean, unit_size = units.mean(), units.size()
    unit_outer = outer.groupby(inner).first()
    components = []
    if nested is not None:  # the nested units' variance within groups
        spread = (unit_mean - unit_mean.groupby(unit_outer).transform("mean")).pow(2).sum()
        between = float(spread) / max(len(unit_mean) - unit_outer.nunique(), 1)
        components.append(max(between - within * float((1 / unit_size).mean()), floor))
    group_mean = unit_mean.groupby(unit_outer).mean()
    nested_variance = components[0] if components else 0.0
    units_per_group = unit_mean.groupby(unit_outer).size()
    people_per_group = unit_size.groupby(unit_outer).sum()
    group_variance = max(float(group_mean.var()) - nested_variance * float((1 / units_per_group).mean())
                         - within * float((1 / people_per_group).mean()), floor)
    # statsmodels holds the random-effect variances as ratios to the residual variance
    return MixedLMParams.from_components(fe_params=beta, cov_re=np.array([[group_variance / within]]),
                                         vcomp=np.array(components) / within)


def _optimise(model, reml: bool, initial: MixedLMParams | None = None) -> tuple[object, str, bool, list[str]]:
    """BFGS from ``initial``; if it fails, Powell polished by BFGS; Nelder-Mead as the last resort.

    statsmodels' default, L-BFGS, stops early or at a worse optimum when a variance is near zero: on
    simulated studies without partnership variance it failed in about half of the seeds, and in two
    of 40 ordinary seeds it claimed convergence about 5 log-likelihood units below the optimum. BFGS
    reached the optimum whenever it reported convergence; where it failed, derivative-free Powell
    found the optimum, and BFGS started there makes it precise. The converged fit with the highest
    (restricted) log-likelihood is kept, with the warnings it raised.
    """
    fits, notes = [], []
    for method, warm in _OPTIMISERS:
        best = max(fits, key=lambda fit: (fit[0], fit[1]), default=None)
        start = best[3].params_object if warm and best is not None else initial
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            try:
                result = model.fit(reml=reml, method=method, start_params=start)
            except (np.linalg.LinAlgError, ValueError) as error:
                notes.append(f"the {method} optimiser stopped: {error}")
                continue
        messages = [f"{r.category.__name__}: {r.message}" for r in records]
        converged = bool(result.converged) and not any(_failed_to_converge(m) for m in messages)
        fits.append((converged, float(result.llf), method, result, messages))
        if converged and method != "powell":
            break
    if not fits:
        raise IsspError("the mixed model could not be fitted: " + "; ".join(notes),
                        rule="the model's terms and groups leave something to estimate",
                        fix="simplify the model terms or check the data")
    converged, _, method, result, messages = max(fits, key=lambda fit: (fit[0], fit[1]))
    notes.extend(dict.fromkeys(messages))
    if not converged:
        notes.append("no optimiser converged (BFGS, Powell, Nelder-Mead): the estimates are those with the "
                     "highest likelihood reached and may not be the optimum")
    return result, method, converged, notes


def _indicator_components(used: pd.DataFrame, groups: str, variance_components: Mapping[str, str]) -> VCSpec:
    """The variance components that ``vc_formula={label: "0 + C(column)"}`` gives, built in one pass.

    smf.mixedlm evaluates a variance component's formula with patsy once per group: 12 s of the
    mixed model's 25 s at national scale (K=100, 3,000 partnerships), against 0.2 s here. The
    matrices are those of from_formula: components in sorted order of their labels, groups in sorted
    order, and per group the indicators of the levels present in it, sorted, with patsy's column
    names, in patsy's (Fortran) memory order so that the products sum in the same order and the fit
    is bit-identical. For a categorical column patsy would add all-zero columns for the categories
    absent from a group; they carry no data and leave the fit unchanged (to rounding error).
    """
    _, group_codes = np.unique(used[groups].to_numpy(), return_inverse=True)
    rows_by_group = np.split(np.argsort(group_codes, kind="stable"), np.cumsum(np.bincount(group_codes))[:-1])
    names, colnames, mats = [], [], []
    for label in sorted(variance_components):
        column = variance_components[label]
        codes, levels = pd.factorize(used[column], sort=True)
        names.append(label)
        colnames.append([])
        mats.append([])
        for rows in rows_by_group:
            present = np.unique(codes[rows])
            colnames[-1].append([f"C({column})[{levels[code]}]" for code in present])
            mats[-1].append((codes[rows][:, None] == present).astype(float, order="F"))
    return VCSpec(names, colnames, mats)


def fit_mixed(data: pd.DataFrame, formula: str, groups: str,
              variance_components: Mapping[str, str] | None = None, reml: bool = True,
              name: str = "mixed") -> ModelResult:
    """A linear mixed model with a random intercept for ``groups`` and optional variance components.

    ``variance_components`` maps a name to a grouping column nested in ``groups`` (e.g.
    ``{"school": "school"}``): each gets its own random intercept. REML by default (unbiased
    variances); ``reml=False`` gives ML, needed to compare models with different fixed effects.
    Confidence intervals are Wald intervals on the normal distribution, as statsmodels gives them.
    """
    variance_components = dict(variance_components or {})
    used = _prepare(data, formula, [groups, *variance_components.values()])
    _check_grouping(used, groups, variance_components)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        endog, exog = patsy.dmatrices(formula, used, return_type="dataframe")
        # The model smf.mixedlm(formula, used, groups=used[groups], re_formula="1", vc_formula=...) builds,
        # its random intercept named "Group" as there, with the variance components built faster.
        model = MixedLM(endog, exog, groups=used[groups].to_numpy(),
                        exog_re=pd.DataFrame({"Group": 1.0}, index=used.index),
                        exog_vc=_indicator_components(used, groups, variance_components))
        _check_rank(pd.DataFrame(model.exog, columns=model.exog_names))
        initial = (moment_start(model.endog, model.exog, used[groups].to_numpy(),
                                used[next(iter(variance_components.values()))].to_numpy()
                                if variance_components else None)
                   if len(variance_components) <= 1 else None)  # several components start where statsmodels does
        result, optimiser, converged, notes = _optimise(model, reml, initial)
        fe_names = model.exog_names
        fixed = _tidy_fixed(result.fe_params, result.bse_fe, result.pvalues[fe_names],
                            result.conf_int().loc[fe_names])
        hessian_ok = bool(np.isfinite(result.bse_fe).all())
    notes.extend(sorted({f"{r.category.__name__}: {r.message}" for r in records}))
    variance = pd.DataFrame({
        "component": [groups, *model.exog_vc.names, "residual"],
        "variance": [float(result.cov_re.iloc[0, 0]), *map(float, np.atleast_1d(result.vcomp)),
                     float(result.scale)],
    })
    variance["sd"] = np.sqrt(variance["variance"].clip(lower=0))
    variance["icc"] = variance["variance"] / variance["variance"].sum()
    variance.loc[variance["component"] == "residual", "icc"] = np.nan
    residual_sd = variance["sd"].iloc[-1]
    random = variance.iloc[:-1]
    zero = list(random.loc[random["sd"] < SINGULAR_TOLERANCE * residual_sd, "component"])
    for component in zero:
        notes.append(f"singular fit: the {component} variance is estimated at zero, so worth does not vary "
                     f"between {component}s beyond what the fixed effects explain; the fixed effects stand, "
                     f"and the model without the {component} intercept gives the same estimates")
    if not hessian_ok:
        notes.append("some standard errors could not be computed (the information matrix is singular)")
    fit = {"n": int(result.nobs), "groups": int(used[groups].nunique()),
           **{f"groups_{label}": int(used[column].nunique()) for label, column in variance_components.items()},
           "loglik": float(result.llf), "method": "REML" if reml else "ML", "optimiser": optimiser,
           "converged": converged, "singular": bool(zero)}
    return ModelResult(name, formula, fixed, variance, fit, notes, result)


def fit_worth_mixed(frame: pd.DataFrame, terms: Sequence[str] | str = WORTH_TERMS, reml: bool = True) -> ModelResult:
    """The main model of STUDY.md: partnership and school random intercepts."""
    return fit_mixed(frame, worth_formula(terms), groups="partnership",
                     variance_components={"school": "school"}, reml=reml, name="mixed")


def fit_clustered_ols(frame: pd.DataFrame, terms: Sequence[str] | str = WORTH_TERMS, cluster: str = "partnership",
                      name: str = "clustered_ols") -> ModelResult:
    """OLS with cluster-robust standard errors: the robustness check beside the mixed model.

    Inference uses the t distribution with (clusters - 1) degrees of freedom and the small-sample
    correction, as Cameron and Miller (2015) advise for a few dozen clusters.
    """
    formula = worth_formula(terms)
    used = _prepare(frame, formula, [cluster])
    clusters = pd.factorize(used[cluster])[0]
    if len(np.unique(clusters)) < 2:
        raise IsspError(f"the data have one {cluster}", column=cluster,
                        rule="clustered standard errors need several clusters", fix="check the data")
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        model = smf.ols(formula, used)
        _check_rank(pd.DataFrame(model.exog, columns=model.exog_names))
        result = model.fit(cov_type="cluster", cov_kwds={"groups": clusters}, use_t=True)
        fixed = _tidy_fixed(result.params, result.bse, result.pvalues, result.conf_int())
    notes = sorted({f"{r.category.__name__}: {r.message}" for r in records})
    fit = {"n": int(result.nobs), "groups": int(len(np.unique(clusters))), "loglik": float(result.llf),
           "method": "OLS, SE clustered by " + cluster, "optimiser": "least squares", "converged": True,
           "singular": False, "r_squared": float(result.rsquared)}
    variance = pd.DataFrame({"component": ["residual"], "variance": [float(result.scale)],
                             "sd": [float(np.sqrt(result.scale))], "icc": [np.nan]})
    return ModelResult(name, formula, fixed, variance, fit, notes, result)


def side_by_side(*results: ModelResult) -> pd.DataFrame:
    """Fixed effects of several models in one long table (model, term, estimate, CI...)."""
    return pd.concat([r.fixed.assign(model=r.name) for r in results], ignore_index=True)[["model", *FIXED_COLUMNS]]


def marginal_means(result: ModelResult, data: pd.DataFrame, by: Sequence[str] = ("sector", "role")) -> pd.DataFrame:
    """Estimated marginal means with 95% CIs for every cell of ``by``.

    As in emmeans: other factors are weighted equally over their levels and numeric covariates
    held at their mean. statsmodels has no emmeans, hence this short computation from the design.
    """
    by = list(by)
    used = _prepare(data, result.formula, [])
    for column in by:
        if column not in _variables(result.formula) or not isinstance(used[column].dtype, pd.CategoricalDtype):
            raise IsspError(f"'{column}' is not a factor of the model", column=column,
                            rule="marginal means are taken over the model's factors",
                            fix=f"choose from the factors in {result.formula}")
    fitted = result.raw
    model_data = fitted.model.data
    design_info = model_data.design_info if hasattr(model_data, "design_info") else model_data.orig_exog.design_info
    grid_axes = {}
    for column in _variables(result.formula):
        if isinstance(used[column].dtype, pd.CategoricalDtype):
            grid_axes[column] = list(used[column].cat.categories)
        else:
            grid_axes[column] = [float(used[column].mean())]
    grid = pd.MultiIndex.from_product(grid_axes.values(), names=grid_axes.keys()).to_frame(index=False)
    for column in grid.columns:
        if isinstance(used[column].dtype, pd.CategoricalDtype):
            grid[column] = pd.Categorical(grid[column], categories=used[column].cat.categories)
    (design,) = patsy.build_design_matrices([design_info], grid, return_type="dataframe")
    names = list(result.fixed["term"])
    beta = result.fixed.set_index("term")["estimate"].to_numpy()
    with warnings.catch_warnings():
        # The same covariance whose problems the fit already reported in its warnings: statsmodels'
        # model warnings (e.g. a Hessian that is not positive definite) and numpy's invalid values.
        warnings.simplefilter("ignore", ModelWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        cov = fitted.cov_params().loc[names, names].to_numpy()
    z = stats.norm.ppf(0.975)
    rows = []
    for keys, index in grid.groupby(by, observed=True).groups.items():
        weights = design.loc[index, names].mean(axis=0).to_numpy()
        estimate = float(weights @ beta)
        se = float(np.sqrt(weights @ cov @ weights))
        rows.append({**dict(zip(by, keys if isinstance(keys, tuple) else (keys,), strict=True)), "estimate": estimate,
                     "std_error": se, "ci_low": estimate - z * se, "ci_high": estimate + z * se})
    means = pd.DataFrame(rows)
    for column in by:
        means[column] = pd.Categorical(means[column], categories=used[column].cat.categories)
    return means.sort_values(by).reset_index(drop=True).assign(model=result.name)


def true_effects(worth_truths: Mapping) -> pd.Series:
    """The simulator's true effects (``worth:`` of config/simulation.yaml) named as the model's terms.

    Recovery tests and the coverage study compare estimates with these.
    """
    terms = {"Intercept": worth_truths["intercept"], "years_in_role": worth_truths["years_in_role"]}
    for factor in ("sector", "role", "phase", "model"):
        for level in dd.FACTORS[factor][1:]:
            terms[f"{factor}[T.{level}]"] = worth_truths[factor].get(level, 0.0)
    for state_sector in dd.SECTORS[1:]:
        for role in dd.ROLES[1:]:
            terms[f"sector[T.{state_sector}]:role[T.{role}]"] = \
                worth_truths["sector_x_role"].get(f"{state_sector}:{role}", 0.0)
    return pd.Series(terms, dtype="float64", name="truth")


# --- the items: proportional-odds models -------------------------------------------------------


class _OrderedLogit(OrderedModel):
    """statsmodels' proportional-odds model with the logistic cdf from scipy.special and an analytic score.

    The cdf is the same function as ``distr="logit"``, about four times faster: scipy.stats' generic
    cdf dominated the fit time of twenty items. statsmodels' OrderedModel has no score of its own, so
    the optimiser's gradient, the Hessian and the per-respondent scores of the cluster-robust
    covariance were all finite differences of the log-likelihood: about 39,000 evaluations of it for
    the twenty items at national scale (K=100), 70 s. The score and the Hessian are written out
    here (3 s with Newton's method).
    """

    def cdf(self, x):
        return special.expit(x)

    def pdf(self, x):
        p = special.expit(x)
        return p * (1 - p)

    def _score_parts(self, params):
        """What the score is made of: d log-likelihood / d bound of each respondent, d thresholds / d params.

        A respondent's likelihood is cdf(upp) - cdf(low), the bounds being the thresholds either side
        of the rating given less the linear predictor (``_bounds``), so each bound's derivative is
        pdf(bound) over that probability. The thresholds are (-inf, a_0, ..., a_k-1, inf) with a_i
        the first threshold parameter plus the exponentiated increments 1 to i
        (``transform_threshold_params``): row m of ``d_thresholds`` is the derivative of threshold m
        by the threshold parameters, and the infinite ends do not move.
        """
        params = np.asarray(params)
        low, upp = self._bounds(params)
        # cdf and pdf from one logistic each, as self.prob and self.pdf compute them (the same numbers)
        cdf_low, cdf_upp = self.cdf(low), self.cdf(upp)
        prob = (cdf_upp - cdf_low) + 1e-20  # as in loglikeobs, whose log this is
        return cdf_low * (1 - cdf_low) / prob, cdf_upp * (1 - cdf_upp) / prob, self._d_thresholds(params)

    def _d_thresholds(self, params) -> np.ndarray:
        """Row m: the derivative of threshold m (of -inf, a_0, ..., a_k-1, inf) by the threshold parameters."""
        k = self.k_levels - 1
        slopes = np.concatenate(([1.0], np.exp(np.asarray(params)[-k:][1:])))
        d_thresholds = np.zeros((k + 2, k))
        d_thresholds[1:-1] = np.tril(np.ones((k, k))) * slopes
        return d_thresholds

    def score_obs(self, params):
        low, upp, d_thresholds = self._score_parts(params)
        return np.column_stack((-(upp - low)[:, None] * self.exog,
                                upp[:, None] * d_thresholds[self.endog + 1] - low[:, None] * d_thresholds[self.endog]))

    def score(self, params):
        low, upp, d_thresholds = self._score_parts(params)
        by_threshold = (np.bincount(self.endog + 1, upp, minlength=len(d_thresholds))
                        - np.bincount(self.endog, low, minlength=len(d_thresholds)))
        return np.concatenate((-(self.exog.T @ (upp - low)), by_threshold @ d_thresholds))

    @functools.cached_property
    def _patterns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The distinct (design row, rating) pairs in order of first appearance, and how many have each."""
        codes, _ = pd.factorize(pd.MultiIndex.from_arrays([*np.asarray(self.exog).T, self.endog]))
        counts = np.bincount(codes)
        first = np.empty(len(counts), dtype=np.intp)
        first[codes[::-1]] = np.arange(len(codes))[::-1]
        return np.asarray(self.exog)[first], np.asarray(self.endog)[first], counts

    def _second_derivatives(self, params, slopes_by_threshold: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The score and the Hessian of the log-likelihood, analytically.

        With F the logistic cdf, f = F(1 - F) its density and f' = f(1 - 2F), a respondent's
        log-likelihood log(F(upp) - F(low)) has second derivative
        (f'(upp) J_upp J_upp' + f(upp) d2(upp) - f'(low) J_low J_low' - f(low) d2(low)) / prob - s s',
        J being a bound's gradient by the parameters (-x for the slopes, the threshold's row of
        ``d_thresholds`` for the threshold parameters), d2 its second derivative (exp(increment j) on
        the diagonal for the increments a threshold sums, zero elsewhere) and s the respondent's score.
        Respondents with the same rating and design row contribute the same terms, so each such
        pattern is computed once and counted (40 patterns for 50,000 respondents with sector x role).
        ``slopes_by_threshold`` gives them for the model with its own slopes at every threshold (the
        generalised ordered logit), at the point where those slopes are all ``params``' slopes: each
        bound's -x goes in its threshold's block of slopes.
        """
        params = np.asarray(params)
        exog, endog, counts = self._patterns
        thresholds = self.transform_threshold_params(params)
        linear = self._linpred(params, exog=exog, offset=0)
        low, upp = thresholds[endog] - linear, thresholds[endog + 1] - linear  # as self._bounds
        cdf_low, cdf_upp = self.cdf(low), self.cdf(upp)
        prob = (cdf_upp - cdf_low) + 1e-20
        k, p, n = self.k_levels - 1, exog.shape[1], len(endog)
        d_thresholds = self._d_thresholds(params)

        def jacobian(rows: np.ndarray) -> np.ndarray:
            if not slopes_by_threshold:
                return np.column_stack((-exog, d_thresholds[rows]))
            by_block = np.zeros((n, k * p))
            block = np.clip(rows - 1, 0, k - 1)  # an infinite bound has zero density: any block will do
            by_block[np.arange(n)[:, None], block[:, None] * p + np.arange(p)] = -exog
            return np.column_stack((by_block, d_thresholds[rows]))

        jacobian_low, jacobian_upp = jacobian(endog), jacobian(endog + 1)
        density_low, density_upp = cdf_low * (1 - cdf_low), cdf_upp * (1 - cdf_upp)
        curve_low = counts * density_low * (1 - 2 * cdf_low) / prob
        curve_upp = counts * density_upp * (1 - 2 * cdf_upp) / prob
        scores = (density_upp / prob)[:, None] * jacobian_upp - (density_low / prob)[:, None] * jacobian_low
        hessian = ((jacobian_upp * curve_upp[:, None]).T @ jacobian_upp
                   - (jacobian_low * curve_low[:, None]).T @ jacobian_low - (scores * counts[:, None]).T @ scores)
        second = d_thresholds.copy()
        second[:, 0] = 0  # the first threshold is its parameter itself: no curvature
        by_threshold = (np.bincount(endog + 1, counts * density_upp / prob, minlength=k + 2)
                        - np.bincount(endog, counts * density_low / prob, minlength=k + 2))
        hessian[-k:, -k:] += np.diag(by_threshold @ second)
        # the products are symmetric up to rounding; make it exact
        return counts @ scores, (hessian + hessian.T) / 2

    def hessian(self, params):
        return self._second_derivatives(params)[1]

    def proportional_odds_test(self, params) -> tuple[float, int]:
        """Score test of proportional odds at the fitted ``params``: (chi-square, degrees of freedom).

        The alternative is the same model with its own slopes at every threshold (the generalised
        ordered logit); the test is the score test SAS reports for it (Peterson and Harrell 1990),
        with slopes x (thresholds - 1) degrees of freedom. Nothing is refitted: the score and the
        information of the larger model at the fitted one. It treats respondents as independent, as
        the model-based standard errors do. Where a group has nobody at the two ratings either side
        of a threshold, nothing informs that group's slope there: the larger model's information is
        singular, and the test uses what it can estimate (a generalised inverse), with one degree of
        freedom fewer for each slope it cannot.
        """
        score, hessian = self._second_derivatives(params, slopes_by_threshold=True)
        values, vectors = np.linalg.eigh(-hessian)
        kept = values > _RELATIVE_RANK_TOLERANCE * values.max()
        along = vectors[:, kept].T @ score
        return float(along @ (along / values[kept])), int(kept.sum()) - len(score) + self.exog.shape[1] * (
            self.k_levels - 2)


#: Eigenvalues of an information matrix below this share of the largest count as zero: a slope no
#: respondent informs has an eigenvalue of zero up to rounding (about 1e-16 of the largest), while
#: one informed by a single respondent sits many orders of magnitude above this.
_RELATIVE_RANK_TOLERANCE = 1e-9

#: Newton's method with the analytic Hessian reaches the optimum in about five steps. BFGS, the
#: fallback, stops when the gradient of the mean log-likelihood is below 1e-5, which leaves the
#: estimates up to 0.002 from the optimum (a total gradient of 0.13 at K=100), and it needed about
#: 60 evaluations of the likelihood and of the score per item.
_ITEM_OPTIMISERS = (("newton", 100), ("bfgs", 500))


def fit_item_models(responses: pd.DataFrame, terms: Sequence[str] | str = ITEM_TERMS,
                    items: Sequence[str] = dd.ITEMS, cluster: str | None = "partnership") -> pd.DataFrame:
    """A proportional-odds (ordinal logistic) model of each Likert item on ``terms``.

    ``responses`` is :func:`issp_research.worth.item_responses`. Each item uses every response that
    answers it. A positive estimate (log-odds) means higher ratings than the reference group
    (independent-school senior leaders): more of that benefit, or more of that cost. Ratings nobody
    gave are left out of the item's scale (their threshold has nothing to estimate). Standard errors
    are clustered by ``cluster`` (respondents in one partnership are not independent); ``None`` gives
    the model-based ones. ``converged`` is False when the optimiser stopped early or a standard error
    could not be computed (e.g. a cell where everybody gave the same rating).
    """
    rows = []
    for item in items:
        formula = worth_formula(terms, outcome=item)
        try:
            used = _prepare(responses, formula, [cluster] if cluster else [])
        except IsspError as error:
            raise IsspError(f"item {item}: {error.message}", column=error.column, rule=error.rule,
                            fix=error.fix) from None
        ratings = np.sort(used[item].unique())
        if len(ratings) < 2:
            raise IsspError(f"every answer to item {item} is {ratings[0]:g}", column=item,
                            rule="an ordinal model needs at least two different ratings",
                            fix=f"leave {item} out of the items modelled")
        outcome = pd.Series(pd.Categorical(used[item], categories=ratings, ordered=True), index=used.index)
        design = patsy.dmatrix(formula.split("~", 1)[1], used, return_type="dataframe")
        _check_rank(design)
        design = design.drop(columns="Intercept")  # the thresholds take the intercept's place
        covariance = ({"cov_type": "cluster", "cov_kwds": {"groups": pd.factorize(used[cluster])[0]}}
                      if cluster else {})
        model = _OrderedLogit(outcome, design, distr="logit")
        for method, maxiter in _ITEM_OPTIMISERS:
            with warnings.catch_warnings(record=True) as records:
                warnings.simplefilter("always")
                result = model.fit(method=method, disp=False, maxiter=maxiter, **covariance)
            if result.mle_retvals["converged"] and np.isfinite(result.params).all():
                break
        with warnings.catch_warnings(record=True) as more:
            warnings.simplefilter("always")
            names = list(design.columns)
            fixed = _tidy_fixed(result.params[names], result.bse[names], result.pvalues[names],
                                result.conf_int().loc[names])
        converged = (bool(result.mle_retvals["converged"]) and fixed["std_error"].notna().all()
                     and not any(_failed_to_converge(str(r.message)) for r in [*records, *more]))
        chi2, df = model.proportional_odds_test(result.params) if model.k_levels > 2 else (np.nan, 0)
        rows.append(fixed.assign(item=item, n=len(used), converged=bool(converged), po_chi2=chi2 if df else np.nan,
                                 po_df=df, po_p=stats.chi2.sf(chi2, df) if df else np.nan))
    return pd.concat(rows, ignore_index=True)[ITEM_COLUMNS]


# --- reciprocity: is the exchange balanced within partnerships? -----------------------------


def reciprocity(frame: pd.DataFrame, score: str = "worth") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Independent side less state side of each partnership, and a paired test across partnerships.

    Each side's score is the mean over its respondents, and each partnership counts once: the
    question is whether partnerships are balanced, not people. Partnerships with respondents on one
    side only are left out and counted (``n_one_sided``). A negative mean difference means the
    state side perceives more ``score`` than the independent side. The summary has the mean
    difference with its t-based 95% CI, the paired t-test, the Wilcoxon signed-rank test (no
    normality assumed) and Cohen's d_z (mean difference / SD of the differences).
    """
    check_variables(frame, [score, "sector", "partnership"], where="reciprocity")
    answered = frame.dropna(subset=[score])
    sides = (answered.assign(sector=answered["sector"].astype("object"),
                             partnership=answered["partnership"].astype("object"))
             .groupby(["partnership", "sector"])[score].agg(["mean", "count"]).unstack("sector"))
    independent, state = dd.SECTORS
    sides = sides.reindex(columns=pd.MultiIndex.from_product([["mean", "count"], [independent, state]]))
    pairs = pd.DataFrame({
        "partnership": sides.index.astype("object"),
        f"{independent}_{score}": sides[("mean", independent)].to_numpy(dtype=float),
        f"{state}_{score}": sides[("mean", state)].to_numpy(dtype=float),
        f"n_{independent}": sides[("count", independent)].fillna(0).to_numpy(dtype="int64"),
        f"n_{state}": sides[("count", state)].fillna(0).to_numpy(dtype="int64"),
    })
    both = (pairs[f"n_{independent}"] > 0) & (pairs[f"n_{state}"] > 0)
    n_one_sided = int((~both).sum())
    pairs = pairs[both].reset_index(drop=True)
    pairs["difference"] = pairs[f"{independent}_{score}"] - pairs[f"{state}_{score}"]
    if len(pairs) < 2:
        raise IsspError(f"{len(pairs)} partnership(s) have respondents from both sectors", column="sector",
                        rule="a paired test across partnerships needs at least two with both sides",
                        fix="check the sectors of the schools; with real data, more partnerships")
    difference = pairs["difference"].to_numpy()
    n, mean, sd = len(difference), float(difference.mean()), float(difference.std(ddof=1))
    half_width = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    if sd > 0:
        test = stats.ttest_1samp(difference, 0.0)
        t, p_t, d_z = float(test.statistic), float(test.pvalue), mean / sd
    else:  # every partnership has the same difference: no spread to test against (0/0)
        t = p_t = d_z = float("nan")
    if np.any(difference != 0):
        wilcoxon = stats.wilcoxon(difference)
        w, p_w = float(wilcoxon.statistic), float(wilcoxon.pvalue)
    else:
        w = p_w = float("nan")
    summary = pd.DataFrame([{
        "score": score, "n_partnerships": n, "n_one_sided": n_one_sided, "mean_difference": mean,
        "ci_low": mean - half_width, "ci_high": mean + half_width, "t": t, "df": n - 1, "p_t": p_t,
        "wilcoxon_statistic": w, "wilcoxon_p": p_w, "d_z": d_z,
    }])
    return pairs, summary


# --- tables for reading ---------------------------------------------------------------------


def _interval(row: pd.Series) -> str:
    return f"{row['estimate']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def model_table_from(fixed: pd.DataFrame) -> pd.DataFrame:
    """Estimates with 95% CIs, one column per model, from side_by_side's long table."""
    fixed = fixed.assign(cell=fixed.apply(_interval, axis=1))
    terms, names = list(dict.fromkeys(fixed["term"])), list(dict.fromkeys(fixed["model"]))
    wide = fixed.pivot(index="term", columns="model", values="cell").reindex(index=terms, columns=names)
    wide.columns.name = None
    return wide.reset_index()


def model_table(*results_: ModelResult) -> pd.DataFrame:
    return model_table_from(side_by_side(*results_))


def variance_table(result: ModelResult) -> pd.DataFrame:
    """Variance components with SDs and ICCs (each component's share of the total variance)."""
    return result.variance.round({"variance": 3, "sd": 3, "icc": 2})


def fit_table(*results_: ModelResult) -> pd.DataFrame:
    """Fit statistics of several models, one row each, rounded as a thesis reports them."""
    rows = [{"model": r.name, "method": r.fit["method"], "n": r.fit["n"], "partnerships": r.fit["groups"],
             "log_likelihood": round(r.fit["loglik"], 1), "converged": r.fit["converged"],
             "singular": r.fit["singular"]} for r in results_]
    return pd.DataFrame(rows)


def item_model_table(item_models: pd.DataFrame) -> pd.DataFrame:
    """The item models for reading: one row per item, odds ratios [95% CI] per term, and the score
    test of proportional odds.

    An odds ratio above 1 means higher ratings of the item than independent-school senior leaders.
    """
    odds = item_models.assign(estimate=np.exp(item_models["estimate"]), ci_low=np.exp(item_models["ci_low"]),
                              ci_high=np.exp(item_models["ci_high"]))
    odds = odds.assign(cell=odds.apply(_interval, axis=1))
    terms = list(dict.fromkeys(odds["term"]))
    wide = odds.pivot(index="item", columns="term", values="cell")[terms]
    wide.columns.name = None
    wide = wide.reindex(list(dict.fromkeys(odds["item"]))).reset_index()
    wide.insert(1, "wording", wide["item"].map(dd.ITEM_WORDING))
    converged = odds.groupby("item", sort=False)["converged"].all()
    wide["converged"] = wide["item"].map(converged)
    if "po_p" in odds:
        tests = odds.groupby("item", sort=False)[["po_chi2", "po_df", "po_p"]].first()
        wide["proportional odds: chi2 (df), p"] = wide["item"].map(tests.apply(
            lambda test: "" if pd.isna(test["po_p"]) else
            f"{test['po_chi2']:.1f} ({int(test['po_df'])}), {_p_value(test['po_p'])}", axis=1))
    return wide


def _p_value(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def reciprocity_table(*summaries: pd.DataFrame) -> pd.DataFrame:
    """Reciprocity summaries (one per score) for reading, rounded as a thesis reports them."""
    summary = pd.concat(summaries, ignore_index=True)
    return pd.DataFrame({
        "score": summary["score"],
        "partnerships": summary["n_partnerships"],
        "left out (one side only)": summary["n_one_sided"],
        "independent - state [95% CI]": summary.apply(
            lambda row: f"{row['mean_difference']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]", axis=1),
        "t (df)": summary.apply(lambda row: f"{row['t']:.2f} ({row['df']})", axis=1),
        "p (paired t)": summary["p_t"].map(_p_value),
        "p (Wilcoxon)": summary["wilcoxon_p"].map(_p_value),
        "d_z": summary["d_z"].round(2),
    })
