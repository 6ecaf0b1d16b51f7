"""pandera schemas built from the data dictionary, so checks are defined once."""

from __future__ import annotations

from functools import cache

import pandas as pd
import pandera.pandas as pa

from . import dictionary as dd
from .errors import IsspError

_DTYPES = {
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
            _DTYPES[column.kind], checks=_checks(column), nullable=column.nullable,
            unique=column.name == table.key, description=column.description,
        )
        for column in table.columns
    }
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name=name)


def validate_processed(name: str, frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check a processed table against the dictionary; one clear message on the first failure."""
    try:
        return processed_schema(name).validate(frame, lazy=False)
    except (pa.errors.SchemaError, pa.errors.SchemaErrors) as error:
        failure = getattr(error, "failure_cases", None)
        example = "" if failure is None or len(failure) == 0 else f" (e.g. {failure.iloc[0].to_dict()})"
        raise IsspError(f"fails the data dictionary's check: {error.reason_code}{example}", file=where,
                        column=getattr(error.schema, "name", None), rule=str(getattr(error, "check", "")),
                        fix="a cleaning rule let a bad value through: report it with this message") from None
