"""Published tables: small-cell suppression, then CSV and LaTeX written the same way every run.

Suppression follows the study's ethics approval: a published cell that counts 1 to k-1 people is
replaced by a marker, and so is every value computed from that count (a percentage, a mean), since
the value could reveal the count or describe one or two identifiable people. A zero is shown: it
says that nobody is in the cell, which describes no one. :func:`suppress_small_cells` hides only
these primary cells; where printed or otherwise known totals would let a reader recover a hidden
cell by subtraction, :func:`disclosure` finds the further cells to hide.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from issp_research.atomic import atomic_path
from issp_research.errors import IsspError

#: Marker for a value derived from a suppressed count; "[c]" (confidential) as in ONS tables, so
#: a suppressed percentage is not misread as "less than 5 per cent".
DERIVED_MARKER = "[c]"

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",  # a bare "<" prints as an inverted "!" in LaTeX's default encoding
    ">": r"\textgreater{}",
    "[": "{[}",  # a cell starting with "[" would be read as the optional argument of "\\"
    "]": "{]}",
    "×": r"$\times$",  # interaction terms ("State × Teacher"); pdflatex has no glyph for U+00D7 by default
    "−": "-",  # a typographic minus from a label
}
_LATEX_PATTERN = re.compile("|".join(re.escape(char) for char in _LATEX_SPECIAL))


def suppress_small_cells(
    table: pd.DataFrame,
    count_columns: str | Sequence[str],
    k: int = 5,
    *,
    marker: str | None = None,
    derived: Mapping[str, Sequence[str]] | None = None,
    derived_marker: str = DERIVED_MARKER,
) -> pd.DataFrame:
    """A copy of ``table`` safe to publish: counts of 1..k-1 become ``marker`` (default "<k").

    ``derived`` maps a count column to the columns computed from it in the same row; those cells
    become ``derived_marker`` wherever the count is suppressed. Missing counts stay missing.
    Suppressed columns hold whole numbers and markers (object dtype), ready for
    :func:`write_table`.
    """
    if isinstance(count_columns, str):
        count_columns = [count_columns]
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise IsspError(f"threshold k={k!r} is not a whole number of people of at least 1",
                        rule="cells counting fewer than k people are suppressed",
                        fix="pass k=5 (the study's threshold) or another whole number >= 1")
    marker = f"<{k}" if marker is None else marker
    derived = dict(derived or {})
    for count_column in derived:
        if count_column not in count_columns:
            raise IsspError("derived cells are keyed by a column that is not a count column",
                            column=count_column,
                            fix=f"key 'derived' by one of {list(count_columns)}")
    for column in [*count_columns, *(c for cols in derived.values() for c in cols)]:
        if column not in table.columns:
            raise IsspError("column not in the table", column=column,
                            fix=f"choose from {list(table.columns)}")

    counts = {column: _counts(table[column], column) for column in count_columns}
    small = {column: (values >= 1) & (values < k) for column, values in counts.items()}
    out = table.copy()
    for column, values in counts.items():
        out[column] = pd.Series(
            [marker if is_small else (value if pd.isna(value) else int(value))
             for is_small, value in zip(small[column], values, strict=True)],
            index=table.index, dtype=object,
        )
    for count_column, columns in derived.items():
        for column in columns:
            out[column] = out[column].astype(object).mask(small[count_column], derived_marker)
    return out


def _counts(values: pd.Series, column: str) -> pd.Series:
    """Counts as float64, so a missing count is NaN whichever dtype the table used."""
    counts = pd.to_numeric(values, errors="coerce").astype("float64")
    bad = values.notna() & (counts.isna() | (counts < 0) | (counts % 1 != 0))
    if bad.any():
        row = bad[bad].index[0]
        raise IsspError(f"{values[row]!r} is not a count of people", row=row, column=column,
                        rule="count columns hold whole numbers >= 0, or are missing",
                        fix="suppress the table once, from its unsuppressed counts")
    return counts


def suppression_note(k: int = 5, *, marker: str | None = None,
                     derived_marker: str = DERIVED_MARKER) -> str:
    """The sentence a suppressed table's caption carries, so readers know what the markers mean."""
    marker = f"<{k}" if marker is None else marker
    return (f"Counts of people below {k}, other than zero, are shown as {marker}, and values "
            f"computed from them as {derived_marker}, to protect participants.")


# Complementary suppression: computed by hand because no library the project uses audits sums of
# hidden cells (pandas and statsmodels have no disclosure control).

def disclosure(counts: pd.DataFrame | Sequence[pd.DataFrame], k: int = 5) -> pd.DataFrame | list[pd.DataFrame]:
    """What each cell may show: 'count', 'zero', 'small' (1..k-1, "<k") or 'complementary' ("[c]").

    For counts of people whose rows partition every column: policy-actor types x groups (figure 9,
    :func:`issp_research.interviews.actor_types_table`). ``counts`` is one such table, or several
    (the panels of figure 9) with the same rows.

    The rows partition each column (every interviewee has one type), so a reader who knows a
    column's total (a group size: the method chapter, figure 7) knows the sum of its hidden cells;
    and the panels share each row's total (how many interviewees are of a type), which a reader may
    know too: notebook 03 prints the interviewees of each type beside their survey worth. The audit
    narrows the bounds of every hidden cell with these sums until nothing changes (a small cell
    holds 1..k-1, a complementary one anything; totals below k are never printed, so they count as
    unknown). While that pins down a small cell's value, one more cell of its column or row (or,
    when those are all hidden, of any panel) is hidden and marked complementary: the one that
    leaves the fewest small cells pinned, non-zero and smaller first.
    """
    tables = [counts] if isinstance(counts, pd.DataFrame) else list(counts)
    values = [table.to_numpy().astype("int64") for table in tables]
    rows = {v.shape[0] for v in values}
    if len(rows) != 1:
        raise IsspError("the panels have different numbers of rows", rule="panels share the policy-actor types",
                        fix="count every panel from the same actor_types_by() table")
    status = [np.where(v == 0, "zero", np.where(v < k, "small", "count")).astype(object) for v in values]
    while True:
        pinned = _audit(values, status, k)
        if not pinned:
            break
        panel, row, column = pinned[0]
        candidates = [(panel, i, column) for i in range(values[panel].shape[0])]
        candidates += [(q, row, j) for q in range(len(values)) for j in range(values[q].shape[1])]
        candidates = [c for c in dict.fromkeys(candidates) if status[c[0]][c[1], c[2]] in ("count", "zero")]
        if not candidates:  # its own lines are hidden already: the other panels' cells give it away
            candidates = [(q, int(i), int(j)) for q, st in enumerate(status)
                          for i, j in np.argwhere((st == "count") | (st == "zero"))]
        if not candidates:
            break

        def after(candidate: tuple[int, int, int]) -> tuple:
            q, i, j = candidate
            trial = [st.copy() for st in status]
            trial[q][i, j] = "complementary"
            value = values[q][i, j]
            return len(_audit(values, trial, k)), value == 0, value, candidate

        q, i, j = min(candidates, key=after)
        status[q][i, j] = "complementary"
    frames = [pd.DataFrame(st, index=table.index, columns=table.columns) for st, table in zip(status, tables,
                                                                                               strict=True)]
    return frames[0] if isinstance(counts, pd.DataFrame) else frames


def _audit(values: list[np.ndarray], status: list[np.ndarray], k: int) -> list[tuple[int, int, int]]:
    """The small cells (panel, row, column) whose value the known sums pin down."""
    low = [np.where(st == "small", 1.0, np.where(st == "complementary", 0.0, v.astype(float)))
           for v, st in zip(values, status, strict=True)]
    high = [np.where(st == "small", float(k - 1), np.where(st == "complementary", np.inf, v.astype(float)))
            for v, st in zip(values, status, strict=True)]
    n_rows = values[0].shape[0]
    row_total = values[0].sum(axis=1).astype(float)  # the panels share them
    row_low = np.where(row_total >= k, row_total, 0.0)
    row_high = np.where(row_total >= k, row_total, np.inf)

    def narrow(cells_low: np.ndarray, cells_high: np.ndarray, total_low: float, total_high: float) -> bool:
        """A cell lies between the total less the others' upper bounds and the total less their lower bounds."""
        finite = np.isfinite(cells_high)
        unbounded = int((~finite).sum())
        finite_sum = cells_high[finite].sum()
        others_high = np.where(finite, np.inf if unbounded else finite_sum - cells_high,
                               np.inf if unbounded > 1 else finite_sum)
        others_low = cells_low.sum() - cells_low
        new_low = np.maximum(cells_low, total_low - others_high)
        new_high = np.minimum(cells_high, total_high - others_low)
        changed = bool((new_low > cells_low).any() or (new_high < cells_high).any())
        cells_low[:], cells_high[:] = new_low, new_high
        return changed

    changed = True
    while changed:
        changed = False
        for v, lo, hi in zip(values, low, high, strict=True):
            for j in range(v.shape[1]):
                total = float(v[:, j].sum())
                if total >= k:  # a group size that may be printed elsewhere
                    changed |= narrow(lo[:, j], hi[:, j], total, total)
            for i in range(n_rows):
                new_low, new_high = max(row_low[i], lo[i, :].sum()), min(row_high[i], hi[i, :].sum())
                if new_low > row_low[i] or new_high < row_high[i]:
                    row_low[i], row_high[i] = new_low, new_high
                    changed = True
                changed |= narrow(lo[i, :], hi[i, :], row_low[i], row_high[i])
    return [(q, int(i), int(j)) for q, st in enumerate(status)
            for i, j in np.argwhere((st == "small") & (low[q] == high[q]))]


def write_table(
    table: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    name: str,
    caption: str,
    *,
    float_format: str | Mapping[str, str] = ".2f",
    label: str | None = None,
    index: bool = False,
    na_rep: str = "",
) -> list[Path]:
    """Write ``<name>.csv`` and ``<name>.tex`` (booktabs ``table``) holding the same printed cells.

    Every cell is turned into text here, once, so both files show the same digits and the bytes
    do not depend on pandas' display options. ``float_format`` is a format spec (".2f"), or a
    mapping of column to spec with ".2f" for the columns not named. Text (cells, headers,
    caption) is plain text and escaped for LaTeX; the label defaults to ``tab:<name>``.
    """
    if not name or Path(name).name != name or name in {".", ".."}:
        raise IsspError(f"table name {name!r} is not a plain file name",
                        rule="table names are file names without folders or suffixes",
                        fix="pass e.g. name='sample_characteristics' and the folder as out_dir")
    if index:
        table = table.reset_index()
    specs = {str(column): ".2f" for column in table.columns}
    if isinstance(float_format, Mapping):
        for column in float_format:
            if column not in specs:
                raise IsspError("float format given for a column not in the table",
                                column=column, fix=f"choose from {list(specs)}")
        specs.update(float_format)
    else:
        specs = dict.fromkeys(specs, float_format)
    for column, spec in specs.items():
        try:
            format(1.0, spec)
        except (TypeError, ValueError) as error:
            raise IsspError(f"float format {spec!r} is not a format spec ({error})",
                            column=column, fix="pass a spec such as '.2f' or '.3f'") from None

    cells = pd.DataFrame(
        {str(column): [_cell(value, specs[str(column)], na_rep) for value in table[column]]
         for column in table.columns},
        dtype=object,
    )
    csv = cells.to_csv(index=False, lineterminator="\n")
    escaped = cells.map(escape_latex)
    escaped.columns = [escape_latex(column) for column in cells.columns]
    tex = escaped.style.hide(axis="index").to_latex(
        hrules=True,
        caption=escape_latex(" ".join(caption.split())),
        label=f"tab:{name}" if label is None else label,
        position_float="centering",
        column_format="".join("r" if _numeric(table[column]) else "l"
                              for column in table.columns),
    )

    out_dir = Path(out_dir)
    paths = [out_dir / f"{name}.csv", out_dir / f"{name}.tex"]
    with contextlib.ExitStack() as stack:
        csv_tmp, tex_tmp = (stack.enter_context(atomic_path(path)) for path in paths)
        csv_tmp.write_bytes(csv.encode("utf-8"))
        tex_tmp.write_bytes(tex.encode("utf-8"))
    return paths


def escape_latex(text: str) -> str:
    """Plain text as LaTeX that prints it unchanged."""
    return _LATEX_PATTERN.sub(lambda match: _LATEX_SPECIAL[match.group()], text)


def _cell(value: object, spec: str, na_rep: str) -> str:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return na_rep
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    text = format(float(value), spec)
    # "-0.00" says a negative value was rounded away; print it as the zero it now is.
    return text[1:] if text.startswith("-") and not re.search("[1-9]|inf", text) else text


def _numeric(values: pd.Series) -> bool:
    """Right-align numbers, including count columns that also hold suppression markers."""
    return any(isinstance(value, numbers.Number) and not isinstance(value, bool)
               for value in values)
