"""The thesis tables: each a function from tidy results to a table ready for ``tables.write_table``.

Each table has a caption function beside it, computed from the same inputs, so the numbers a
caption states are the numbers in the table. Labels are the figures' labels (one vocabulary), and
cells are plain text or numbers: ``write_table`` does the formatting and the LaTeX escaping.

Counts of people are suppressed as the ethics approval requires (``tables.suppress_small_cells``):
1..k-1 becomes "<k". The sample table also prints totals, from which a single suppressed cell could
be recovered by subtraction, so it suppresses a second cell wherever that would be possible
("[c]", complementary suppression).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from issp_research import dictionary as dd
from issp_research.errors import IsspError
from issp_research.figures.models import (
    model_description,
    model_name,
    parse_term,
    reference_level,
    term_group,
    term_label,
)
from issp_research.figures.style import label
from issp_research.tables import DERIVED_MARKER, suppress_small_cells

COUNT_COLUMNS = ["Independent", "State", "Total"]
SECONDARY_MARKER = DERIVED_MARKER


def _require(table: pd.DataFrame, columns: Sequence[str], what: str, fix: str) -> None:
    for column in columns:
        if column not in table.columns:
            raise IsspError(f"the {what} table has no column '{column}'", column=column,
                            rule=f"{what} as the library returns it", fix=fix)


# --- Sample characteristics ----------------------------------------------------------------------

def sample_counts(tables: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, list[list[tuple[int, str]]]]:
    """Unsuppressed counts, and the sums the table shows (each a list of cells, one the total).

    Rows: partnerships; schools, by phase and by type of state school; participants and survey
    respondents, by role. Columns: Characteristic, Category, Independent, State, Total.
    """
    for name, columns in (("partnerships", ["partnership"]),
                          ("schools", ["school", "partnership", "sector", "state_type", "phase"]),
                          ("participants", ["participant", "school", "role"]),
                          ("responses", ["participant"])):
        if name not in tables:
            raise IsspError(f"no '{name}' table", rule="the processed tables, as read",
                            fix="pass clean.read_processed(processed_dir)")
        _require(tables[name], columns, name, "pass clean.read_processed(processed_dir)")
    schools = tables["schools"].astype({"sector": "object", "state_type": "object", "phase": "object"})
    people = tables["participants"].merge(schools[["school", "sector"]], on="school", how="inner")
    people["role"] = people["role"].astype("object")
    respondents = people[people["participant"].isin(tables["responses"]["participant"])]

    rows: list[dict] = []
    sums: list[list[tuple[int, str]]] = []

    def add(characteristic: str, category: str, frame: pd.DataFrame,
            sectors: Sequence[str] = dd.SECTORS) -> int:
        counts = frame["sector"].value_counts()
        row = {"Characteristic": characteristic, "Category": category}
        for sector, column in zip(dd.SECTORS, COUNT_COLUMNS, strict=False):
            row[column] = int(counts.get(sector, 0)) if sector in sectors else np.nan
        row["Total"] = int(sum(counts.get(sector, 0) for sector in sectors))
        rows.append(row)
        index = len(rows) - 1
        shown = [column for sector, column in zip(dd.SECTORS, COUNT_COLUMNS, strict=False)
                 if sector in sectors]
        sums.append([(index, column) for column in [*shown, "Total"]])
        return index

    def block(characteristic: str, total: int, frame: pd.DataFrame, column: str,
              levels: Sequence[str], sectors: Sequence[str] = dd.SECTORS) -> None:
        members = [add(characteristic, label(level), frame[frame[column] == level], sectors)
                   for level in levels]
        sector_of = dict(zip(COUNT_COLUMNS[:-1], dd.SECTORS, strict=True))
        for count_column in COUNT_COLUMNS:
            if count_column == "Total" or sector_of[count_column] in sectors:
                sums.append([(total, count_column), *((m, count_column) for m in members)])

    rows.append({"Characteristic": "Partnerships", "Category": "All", "Independent": np.nan,
                 "State": np.nan, "Total": int(tables["partnerships"]["partnership"].nunique())})
    all_schools = add("Schools", "All", schools)
    block("Schools by phase", all_schools, schools, "phase", dd.PHASES)
    block("State schools by type", all_schools, schools[schools["sector"] == "state"], "state_type",
          dd.STATE_TYPES, sectors=("state",))
    all_people = add("Participants", "All", people)
    block("Participants by role", all_people, people, "role", dd.ROLES)
    all_respondents = add("Survey respondents", "All", respondents)
    block("Survey respondents by role", all_respondents, respondents, "role", dd.ROLES)

    counts = pd.DataFrame(rows, columns=["Characteristic", "Category", *COUNT_COLUMNS])
    # The "state schools by type" block sums to the state and total schools only if no state
    # school lacks a type; drop a sum that does not hold rather than protect a false one.
    sums = [cells for cells in sums if _holds(counts, cells)]
    return counts, sums


def _holds(counts: pd.DataFrame, cells: list[tuple[int, str]]) -> bool:
    """Whether the first cell of a column sum (or the last of a row sum) is the sum of the rest."""
    values = [counts.at[row, column] for row, column in cells]
    if cells[-1][1] == "Total" and len({row for row, _ in cells}) == 1:
        return values[-1] == sum(values[:-1])
    return values[0] == sum(values[1:])


def _secondary(counts: pd.DataFrame, hidden: pd.DataFrame, sums: list[list[tuple[int, str]]]) -> pd.DataFrame:
    """Hide a second cell of every sum that has exactly one hidden cell, until none has.

    The second cell is the smallest non-zero count of that sum (zeros are never hidden: a zero
    describes nobody). A standard, conservative heuristic: each printed sum then has two unknowns.
    """
    hidden = hidden.copy()
    changed = True
    while changed:
        changed = False
        for cells in sums:
            cells = [cell for cell in cells if pd.notna(counts.at[cell])]
            if sum(bool(hidden.at[cell]) for cell in cells) != 1:
                continue
            candidates = [cell for cell in cells if not hidden.at[cell] and counts.at[cell] > 0]
            if candidates:
                choice = min(candidates, key=lambda cell: (counts.at[cell], cell[1] == "Total"))
                hidden.at[choice] = True
                changed = True
    return hidden


def sample_characteristics(tables: Mapping[str, pd.DataFrame], k: int = 5) -> pd.DataFrame:
    """Partnerships, schools (by phase, by type of state school), participants and respondents
    (by role), by sector, with counts of 1..k-1 suppressed ("<k") and the complementary cells that
    would reveal them by subtraction withheld ("[c]").

    Counts of schools are suppressed like counts of people: in a sample this size a school in a
    small cell (the one free school) could be recognised, and its staff with it. The number of
    partnerships, the size of the study, is always shown.
    """
    counts, sums = sample_counts(tables)
    values = counts[COUNT_COLUMNS].astype("float64")
    # The number of partnerships is the size of the study, stated in every caption: not a cell.
    study_size = counts["Characteristic"] == "Partnerships"
    primary = (values >= 1) & (values < k) & ~study_size.to_numpy()[:, None]
    hidden = _secondary(values, primary, sums)
    table = suppress_small_cells(counts, COUNT_COLUMNS, k=k)
    for column in COUNT_COLUMNS:
        table[column] = table[column].mask(study_size, counts[column].astype("object"))
        table[column] = table[column].mask(hidden[column] & ~primary[column], SECONDARY_MARKER)
    return table


def sample_characteristics_caption(table: pd.DataFrame, k: int = 5) -> str:
    text = ("Sample characteristics: partnerships; schools by sector, phase and type of state "
            "school; consenting participants and survey respondents by role and the sector of "
            "their school.")
    cells = table[COUNT_COLUMNS].astype("object")
    if cells.isin([f"<{k}"]).any().any():
        text += f" Counts below {k}, other than zero, are shown as <{k}, to protect participants."
    if cells.isin([SECONDARY_MARKER]).any().any():
        text += (f" {SECONDARY_MARKER}: withheld so that a suppressed count cannot be worked out "
                 f"from the totals.")
    return text


# --- Scale reliability ---------------------------------------------------------------------------

RELIABILITY_COLUMNS = ["Scale", "Item", "Wording", "Tangible", "Item-total r",
                       "Alpha if item dropped", "Alpha"]
_SCALE_NAMES = {"benefit": "Benefits", "cost": "Costs"}


def scale_reliability_table(scales: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """One row per scale (Cronbach's alpha), then one per item (item-total r, alpha if dropped).

    ``scales`` and ``items`` are what ``worth.scale_reliability(responses)`` returns.
    """
    fix = "pass the two tables of worth.scale_reliability(responses)"
    _require(scales, ["scale", "items", "complete_responses", "alpha"], "scales", fix)
    _require(items, ["scale", "item", "wording", "tangible", "alpha_if_dropped", "item_total_r"],
             "items", fix)
    rows = []
    for scale in scales.itertuples(index=False):
        name = _SCALE_NAMES.get(scale.scale, label(scale.scale))
        rows.append({"Scale": name, "Item": "All",
                     "Wording": f"{scale.items} items, {scale.complete_responses} complete responses",
                     "Tangible": "", "Item-total r": np.nan, "Alpha if item dropped": np.nan,
                     "Alpha": float(scale.alpha)})
        for item in items[items["scale"] == scale.scale].itertuples(index=False):
            rows.append({"Scale": name, "Item": item.item, "Wording": item.wording,
                         "Tangible": "yes" if item.tangible else "no",
                         "Item-total r": float(item.item_total_r),
                         "Alpha if item dropped": float(item.alpha_if_dropped), "Alpha": np.nan})
    return pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)


def scale_reliability_caption(scales: pd.DataFrame) -> str:
    alphas = "; ".join(f"{_SCALE_NAMES.get(s.scale, label(s.scale)).lower()} {s.alpha:.2f}"
                       for s in scales.itertuples(index=False))
    return (f"Internal consistency of the benefit and cost scales (Cronbach's alpha: {alphas}), "
            f"computed over the responses that answered every item of the scale. For each item: "
            f"the corrected item-total correlation (with the sum of the scale's other items) and "
            f"the scale's alpha if the item were dropped.")


# --- Model results -------------------------------------------------------------------------------

def model_results_table(fixed_effects: pd.DataFrame, variance: pd.DataFrame | None = None,
                        fit: pd.DataFrame | None = None, variance_model: str = "mixed") -> pd.DataFrame:
    """Estimate [95% CI] per term, one column per model; then variance components and fit.

    ``fixed_effects`` is ``models.side_by_side(mixed, ols)`` (or the saved ``fixed_effects``
    result). ``variance`` is the mixed model's ``variance`` table (component, variance, icc),
    shown in the column of ``variance_model``; ``fit`` is ``models.fit_table(mixed, ols)``.
    Either may be left out.
    """
    _require(fixed_effects, ["model", "term", "estimate", "ci_low", "ci_high"], "fixed effects",
             "pass models.side_by_side(mixed, ols)")
    models = list(dict.fromkeys(fixed_effects["model"]))
    columns = ["Term", *(model_name(model) for model in models)]
    rows = [["Fixed effects: estimate [95% CI]", *[""] * len(models)]]
    for term in dict.fromkeys(fixed_effects["term"]):
        row = [term_label(term, with_variable=True)]
        for model in models:
            cell = fixed_effects[(fixed_effects["model"] == model) & (fixed_effects["term"] == term)]
            row.append(_interval(cell.iloc[0]) if len(cell) else "")
        rows.append(row)
    if variance is not None:
        _require(variance, ["component", "variance", "icc"], "variance components",
                 "pass the mixed model's variance table (ModelResult.variance)")
        if variance_model not in models:
            raise IsspError(f"variance components are for model '{variance_model}', which is not "
                            f"in the fixed effects", column="model",
                            fix=f"pass variance_model as one of {models}")
        rows.append(["Random effects: variance (ICC)", *[""] * len(models)])
        for component in variance.itertuples(index=False):
            cell = f"{component.variance:.3f}"
            if pd.notna(component.icc):
                cell += f" ({component.icc:.2f})"
            rows.append([_component_label(component.component),
                         *(cell if model == variance_model else "" for model in models)])
    if fit is not None:
        fit = fit.rename(columns={"groups": "partnerships", "loglik": "log_likelihood"})
        _require(fit, ["model", "n", "partnerships", "log_likelihood"], "fit",
                 "pass models.fit_table(mixed, ols)")
        by_model = fit.set_index("model")
        rows.append(["Fit", *[""] * len(models)])
        for name, column, fmt in (("Respondents (n)", "n", "{:.0f}"),
                                  ("Partnerships", "partnerships", "{:.0f}"),
                                  ("Log-likelihood", "log_likelihood", "{:.1f}"),
                                  ("Estimation", "method", "{}")):
            if column not in by_model.columns:
                continue
            rows.append([name, *(fmt.format(by_model.at[model, column]) if model in by_model.index
                                 else "" for model in models)])
    return pd.DataFrame(rows, columns=columns)


def _interval(row: pd.Series) -> str:
    return f"{_fixed(row['estimate'])} [{_fixed(row['ci_low'])}, {_fixed(row['ci_high'])}]"


def _fixed(value: float) -> str:
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def _component_label(component: str) -> str:
    return {"partnership": "Partnership", "school": "School (within partnership)",
            "residual": "Residual"}.get(component, label(component))


def model_results_caption(fixed_effects: pd.DataFrame, variance: pd.DataFrame | None = None,
                          fit: pd.DataFrame | None = None) -> str:
    """Names the models and the reference levels found in the terms."""
    models = list(dict.fromkeys(fixed_effects["model"]))
    references = []
    for term in fixed_effects["term"]:
        parts = parse_term(term)
        group = term_group(term)
        reference = reference_level(group)
        text = f"{label(group).lower()} {label(reference).lower()}" if reference else None
        if len(parts) == 1 and parts[0][1] is not None and text and text not in references:
            references.append(text)
    text = ("Fixed effects on perceived worth (benefits less costs, -4 to +4) from the "
            + " and ".join(model_description(model) for model in models)
            + ": estimate [95% confidence interval].")
    if references:
        text += " Reference levels: " + ", ".join(references) + "."
    if variance is not None:
        text += (" Random effects: variance of the random intercepts and, in brackets, the "
                 "intraclass correlation (ICC: share of the total variance) at each level.")
    if fit is not None and "method" in fit.columns and fit["method"].astype(str).str.contains("REML").any():
        text += (" The mixed model's log-likelihood is restricted (REML) and cannot be compared "
                 "with the OLS log-likelihood.")
    return text


# --- Cleaning report -----------------------------------------------------------------------------

#: Readable names of the cleaning rules of ``issp_research.clean``; a rule not listed here is
#: shown as its code in words, so a new rule never breaks the table.
RULE_NAMES = {
    "whitespace": "Stray spaces",
    "label_variant": "Label spelled differently",
    "non_iso_date": "Date not in ISO format",
    "unknown_participant": "Respondent not on the participant list",
    "no_consent": "No consent",
    "duplicate": "Duplicate submission",
    "not_answered": "Item not answered (-99)",
    "dont_know": "\"Don't know\" (6)",
    "partial": "Partly completed survey",
    "free_text": "Free-text comment",
}
CLEANING_COLUMNS = ["Rule", "File", "Rows affected", "Action"]
#: Raw files with one row per person (or per person's submission): their counts are of people.
PEOPLE_FILES = (dd.RAW_FILES["participants"], dd.RAW_FILES["survey"])


def cleaning_report_table(report: pd.DataFrame, k: int | None = 5) -> pd.DataFrame:
    """The cleaning report with readable rule names, rows-affected counts of people suppressed.

    ``report`` is ``clean.clean_folder(...).report`` (or the CSV it writes): rule, file,
    rows_affected, action. A count of 1..k-1 rows of a file whose rows are people (participants,
    survey) becomes "<k"; counts of partnerships' or schools' rows are shown. ``k=None`` shows
    every count (e.g. for an examiner's copy).
    """
    _require(report, ["rule", "file", "rows_affected", "action"], "cleaning report",
             "pass clean.clean_folder(...).report, or read the cleaning_report.csv it writes")
    table = pd.DataFrame({
        "Rule": [RULE_NAMES.get(rule, label(rule)) for rule in report["rule"]],
        "File": report["file"].astype("object").to_numpy(),
        "Rows affected": report["rows_affected"].to_numpy(),
        "Action": report["action"].astype("object").to_numpy(),
    }, columns=CLEANING_COLUMNS)
    if k is not None:
        people = table["File"].isin(PEOPLE_FILES)
        suppressed = suppress_small_cells(table[people], "Rows affected", k=k)
        table["Rows affected"] = table["Rows affected"].astype("object")
        table.loc[people, "Rows affected"] = suppressed["Rows affected"]
    return table


def cleaning_report_caption(table: pd.DataFrame, k: int | None = 5) -> str:
    text = ("Cleaning report: each rule applied to the raw survey export, the file it applies to, "
            "the number of that file's rows it affected, and what was done.")
    if k is not None and table["Rows affected"].astype("object").isin([f"<{k}"]).any():
        text += (f" Counts of people (rows of {' and '.join(sorted(PEOPLE_FILES))}) below {k}, "
                 f"other than zero, are shown as <{k}.")
    return text
