"""Models of perceived worth, all returning one tidy result shape that figures and tables read.

The main model is a linear mixed model with random intercepts for partnership and for school within
partnership (statsmodels MixedLM, schools as a variance component); the robustness check is OLS with
standard errors clustered by partnership. Convergence problems are recorded in the result instead of
leaking as warnings into notebook output.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
import statsmodels.formula.api as smf
from scipy import stats

from .errors import IsspError

#: The main model's terms (STUDY.md): sector x role, phase, partnership model, years in role.
WORTH_TERMS = ("sector * role", "phase", "model", "years_in_role")
FIXED_COLUMNS = ["term", "estimate", "std_error", "ci_low", "ci_high", "p"]


@dataclass
class ModelResult:
    """Fixed effects, variance components and fit statistics of one fitted model."""

    name: str
    formula: str
    fixed: pd.DataFrame
    variance: pd.DataFrame
    fit: dict
    warnings: list[str] = field(default_factory=list)
    #: The statsmodels result, for marginal means and diagnostics.
    raw: object = field(default=None, repr=False)


def _variables(formula: str) -> list[str]:
    rhs = formula.split("~", 1)[1] if "~" in formula else formula
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"C\(([^)]*)\)", r"\1", rhs))
    return [name for name in dict.fromkeys(names) if name not in {"C", "Treatment", "Sum", "np", "log"}]


def check_variables(data: pd.DataFrame, names: Sequence[str], where: str = "model terms") -> None:
    for name in names:
        if name not in data.columns:
            raise IsspError(f"unknown variable '{name}'", column=name, rule=f"{where} name columns of the data",
                            fix=f"use one of: {', '.join(sorted(map(str, data.columns)))}")


def worth_formula(terms: Sequence[str] = WORTH_TERMS, outcome: str = "worth") -> str:
    return f"{outcome} ~ " + " + ".join(terms)


def _tidy_fixed(params: pd.Series, bse: pd.Series, pvalues: pd.Series, conf: pd.DataFrame) -> pd.DataFrame:
    fixed = pd.DataFrame({"term": params.index, "estimate": params.to_numpy(), "std_error": bse.to_numpy(),
                          "ci_low": conf.iloc[:, 0].to_numpy(), "ci_high": conf.iloc[:, 1].to_numpy(),
                          "p": pvalues.to_numpy()})
    return fixed.reset_index(drop=True)


def _check_cells(data: pd.DataFrame, formula: str) -> None:
    """An empty sector x role cell makes the interaction inestimable: say which cell."""
    for a, b in re.findall(r"([A-Za-z_]\w*)\s*\*\s*([A-Za-z_]\w*)", formula):
        if isinstance(data[a].dtype, pd.CategoricalDtype) and isinstance(data[b].dtype, pd.CategoricalDtype):
            counts = pd.crosstab(data[a], data[b], dropna=False)
            counts = counts.reindex(index=data[a].cat.categories, columns=data[b].cat.categories, fill_value=0)
            used = counts.loc[counts.sum(axis=1) > 0, counts.sum(axis=0) > 0]
            empty = [(i, j) for i in used.index for j in used.columns if used.at[i, j] == 0]
            if empty:
                raise IsspError(f"no respondents in the {a} x {b} cell {empty[0][0]} x {empty[0][1]}",
                                column=f"{a}:{b}", rule="every cell of an interaction has data",
                                fix=f"drop the interaction ({a} + {b} instead of {a} * {b}) or merge categories")


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


def fit_mixed(data: pd.DataFrame, formula: str, groups: str,
              variance_components: dict[str, str] | None = None, reml: bool = True,
              name: str = "mixed") -> ModelResult:
    """A linear mixed model with a random intercept for ``groups`` and optional variance components.

    ``variance_components`` maps a name to a grouping column nested in ``groups`` (e.g.
    ``{"school": "school"}``): each gets its own random intercept.
    """
    variance_components = variance_components or {}
    used = _prepare(data, formula, [groups, *variance_components.values()])
    vc_formula = {label: f"0 + C({column})" for label, column in variance_components.items()}
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        model = smf.mixedlm(formula, used, groups=used[groups], re_formula="1",
                            vc_formula=vc_formula or None)
        result = model.fit(reml=reml, method=["lbfgs", "powell"])
        caught = sorted({f"{record.category.__name__}: {record.message}" for record in records})
    fe_names = model.exog_names
    conf = result.conf_int().loc[fe_names]
    fixed = _tidy_fixed(result.fe_params, result.bse_fe, result.pvalues[fe_names], conf)
    variance = pd.DataFrame({
        "component": [groups, *variance_components, "residual"],
        "variance": [float(result.cov_re.iloc[0, 0]), *map(float, np.atleast_1d(result.vcomp)), float(result.scale)],
    })
    variance["sd"] = np.sqrt(variance["variance"].clip(lower=0))
    variance["icc"] = variance["variance"] / variance["variance"].sum()
    variance.loc[variance["component"] == "residual", "icc"] = np.nan
    singular = bool((variance["variance"].iloc[:-1] < 1e-8).any())
    fit = {"n": int(result.nobs), "groups": int(used[groups].nunique()),
           **{f"groups_{label}": int(used[column].nunique()) for label, column in variance_components.items()},
           "loglik": float(result.llf), "method": "REML" if reml else "ML",
           "converged": bool(result.converged) and not any("ConvergenceWarning" in w for w in caught),
           "singular": singular}
    return ModelResult(name, formula, fixed, variance, fit, caught, result)


def fit_worth_mixed(frame: pd.DataFrame, terms: Sequence[str] = WORTH_TERMS, reml: bool = True) -> ModelResult:
    """The main model of STUDY.md: partnership and school random intercepts."""
    return fit_mixed(frame, worth_formula(terms), groups="partnership",
                     variance_components={"school": "school"}, reml=reml, name="mixed")


def fit_clustered_ols(frame: pd.DataFrame, terms: Sequence[str] = WORTH_TERMS, cluster: str = "partnership",
                      name: str = "clustered_ols") -> ModelResult:
    """OLS with cluster-robust standard errors: the robustness check beside the mixed model."""
    formula = worth_formula(terms)
    used = _prepare(frame, formula, [cluster])
    clusters = pd.factorize(used[cluster])[0]
    result = smf.ols(formula, used).fit(cov_type="cluster", cov_kwds={"groups": clusters})
    fixed = _tidy_fixed(result.params, result.bse, result.pvalues, result.conf_int())
    fit = {"n": int(result.nobs), "groups": int(len(np.unique(clusters))), "loglik": float(result.llf),
           "method": "OLS, SE clustered by " + cluster, "converged": True, "singular": False,
           "r_squared": float(result.rsquared)}
    variance = pd.DataFrame({"component": ["residual"], "variance": [float(result.scale)],
                             "sd": [float(np.sqrt(result.scale))], "icc": [np.nan]})
    return ModelResult(name, formula, fixed, variance, fit, [], result)


def side_by_side(*results: ModelResult) -> pd.DataFrame:
    """Fixed effects of several models in one long table (model, term, estimate, CI...)."""
    return pd.concat([r.fixed.assign(model=r.name) for r in results], ignore_index=True)[["model", *FIXED_COLUMNS]]


def marginal_means(result: ModelResult, data: pd.DataFrame, by: Sequence[str] = ("sector", "role")) -> pd.DataFrame:
    """Estimated marginal means with 95% CIs for every cell of ``by``.

    As in emmeans: other factors are weighted equally over their levels and numeric covariates
    held at their mean. statsmodels has no emmeans, hence this short computation from the design.
    """
    fitted = result.raw
    model_data = fitted.model.data
    design_info = model_data.design_info if hasattr(model_data, "design_info") else model_data.orig_exog.design_info
    used = _prepare(data, result.formula, [])
    grid_axes = {}
    for column in _variables(result.formula):
        if isinstance(used[column].dtype, pd.CategoricalDtype):
            grid_axes[column] = list(used[column].cat.categories)
        else:
            grid_axes[column] = [float(used[column].mean())]
    grid = pd.MultiIndex.from_product(grid_axes.values(), names=grid_axes.keys()).to_frame(index=False)
    for column in grid.columns:
        if column in used and isinstance(used[column].dtype, pd.CategoricalDtype):
            grid[column] = pd.Categorical(grid[column], categories=used[column].cat.categories)
    (design,) = patsy.build_design_matrices([design_info], grid, return_type="dataframe")
    names = list(result.fixed["term"])
    beta = result.fixed.set_index("term")["estimate"].to_numpy()
    cov = fitted.cov_params().loc[names, names].to_numpy()
    rows = []
    z = stats.norm.ppf(0.975)
    for keys, index in grid.groupby(list(by), observed=True).groups.items():
        weights = design.loc[index, names].mean(axis=0).to_numpy()
        estimate = float(weights @ beta)
        se = float(np.sqrt(weights @ cov @ weights))
        rows.append({**dict(zip(by, keys if isinstance(keys, tuple) else (keys,))), "estimate": estimate,
                     "std_error": se, "ci_low": estimate - z * se, "ci_high": estimate + z * se})
    means = pd.DataFrame(rows)
    for column in by:
        means[column] = pd.Categorical(means[column], categories=used[column].cat.categories)
    return means.sort_values(list(by)).reset_index(drop=True).assign(model=result.name)


def _interval(row: pd.Series) -> str:
    return f"{row['estimate']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def model_table_from(fixed: pd.DataFrame) -> pd.DataFrame:
    """Estimates with 95% CIs, one column per model, from side_by_side's long table."""
    fixed = fixed.assign(cell=fixed.apply(_interval, axis=1))
    terms = list(dict.fromkeys(fixed["term"]))
    wide = fixed.pivot(index="term", columns="model", values="cell").reindex(terms)
    wide.columns.name = None
    return wide.reset_index()


def model_table(*results_: ModelResult) -> pd.DataFrame:
    return model_table_from(side_by_side(*results_))


def variance_table(result: ModelResult) -> pd.DataFrame:
    return result.variance


def fit_table(*results_: ModelResult) -> pd.DataFrame:
    """Fit statistics of several models, one row each, rounded as a thesis reports them."""
    rows = [{"model": r.name, "method": r.fit["method"], "n": r.fit["n"], "partnerships": r.fit["groups"],
             "log_likelihood": round(r.fit["loglik"], 1), "converged": r.fit["converged"]} for r in results_]
    return pd.DataFrame(rows)
