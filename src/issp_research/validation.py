"""pandera schemas built from the data dictionary, so checks are defined once."""

from __future__ import annotations

from functools import cache

import pandas as pd
import pandera.pandas as pa

from . import dictionary as dd
from .errors import IsspError

#: The pandas dtype of each kind of column in processed tables.
DTYPES = {
    "id": "string", "label": "category", "int": "Int64", "float": "float64", "bool": "boolean",
    "datetime": "datetime64[ns, UTC]", "likert": "Int8",
}


def _checks(column: dd.Column) -> list[pa.Check]:
    checks = []
    if column.labels:
        checks.append(pa.Check.isin(column.labels))
    if column.minimum is not None:
        checks.append(pa.Check.ge(column.minimum))
    if column.maximum is not None:
        checks.append(pa.Check.le(column.maximum))
    return checks


@cache
def processed_schema(name: str) -> pa.DataFrameSchema:
    table = dd.PROCESSED_TABLES[name]
    columns = {
        column.name: pa.Column(
            DTYPES[column.kind], checks=_checks(column), nullable=column.nullable,
            unique=column.name == table.key, description=column.description,
        )
        for column in table.columns
    }
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name=name)


def validate_processed(name: str, frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check a processed table against the dictionary; one clear message on the first failure."""
    try:
        return processed_schema(name).validate(frame, lazy=False)
    except pa.errors.SchemaErrors as errors:  # column-set checks come bundled, even with lazy=False
        error = errors.schema_errors[0]
    except pa.errors.SchemaError as single:
        error = single
    raise _refusal(error, name, where)


_COLUMN_PROBLEMS = {
    "COLUMN_NOT_IN_SCHEMA": "column not in the data dictionary's {table} table",
    "COLUMN_NOT_IN_DATAFRAME": "missing column",
    "COLUMN_NOT_ORDERED": "column out of the data dictionary's order",
}
_FIX = ("rebuild the processed data (`make all` or `issp-research clean`); if this message comes back, a "
        "cleaning rule let a bad value through: report it with this message")


def _refusal(error: pa.errors.SchemaError, table: str, where: str) -> IsspError:
    reason = getattr(error.reason_code, "name", "")
    failure = error.failure_cases
    if reason in _COLUMN_PROBLEMS:
        return IsspError(_COLUMN_PROBLEMS[reason].format(table=table), file=where, column=str(failure),
                         rule=f"columns of the {table} table in the data dictionary", fix=_FIX)
    if isinstance(failure, pd.DataFrame) and len(failure):
        example = f" (e.g. {str(failure['failure_case'].iloc[0])[:40]})"
    else:
        example = "" if failure is None else f" (found {str(failure)[:40]})"
    check = getattr(error.check, "error", None) or str(error.check)
    return IsspError(f"fails the data dictionary's check {check}{example}", file=where,
                     column=getattr(error.schema, "name", None), rule=f"{reason.lower()} in the {table} table",
                     fix=_FIX)
