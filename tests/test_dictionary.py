"""The data dictionary is consistent, and the validation and docs built from it say what it says."""

from __future__ import annotations

import pandas as pd
import pytest

from issp_research import clean, datadoc
from issp_research import dictionary as dd
from issp_research.errors import IsspError
from issp_research.validation import processed_schema, validate_processed

TABLES = [*dd.RAW_TABLES.values(), *dd.PROCESSED_TABLES.values()]


@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
def test_each_table_has_unique_columns_and_its_key(table):
    assert len(set(table.names)) == len(table.names)
    assert table.key in table.names and not table.column(table.key).nullable


def test_label_spellings_are_unambiguous():
    for table in dd.RAW_TABLES.values():
        for column in table.columns:
            seen = {label: label for label in column.labels}
            for label, spellings in column.variants.items():
                assert label in column.labels
                for spelling in spellings:
                    assert seen.setdefault(dd.normal_spelling(spelling), label) == label, (column.name, spelling)
            assert column.spellings() == seen


def test_spellings_are_compared_in_one_normal_form():
    role = dd.RAW_TABLES["participants"].column("role")
    assert dd.normal_spelling("  Head /  deputy\thead ") == "head / deputy head"
    assert role.spellings()[dd.normal_spelling(" SLT ")] == "senior_leader"


def test_survey_items_and_their_tags():
    assert dd.ITEMS == tuple(f"B{i:02d}" for i in range(1, 13)) + tuple(f"C{i:02d}" for i in range(1, 9))
    assert [code for code in dd.BENEFITS if dd.TANGIBLE[code]] == ["B02", "B03", "B04", "B06", "B09", "B11"]
    assert [code for code in dd.COSTS if dd.TANGIBLE[code]] == ["C01", "C02", "C03", "C04"]
    survey = dd.RAW_TABLES["survey"]
    assert {survey.column(code).missing_codes.get(-99) for code in dd.ITEMS} == {"not answered"}
    assert all(dd.PROCESSED_TABLES["responses"].column(code).missing_codes == {} for code in dd.ITEMS)


def test_processed_tables_carry_no_identifier():
    raw_only = {c.name for t in dd.RAW_TABLES.values() for c in t.columns if c.identifier or c.kind == "id"}
    for table in dd.PROCESSED_TABLES.values():
        assert not raw_only & set(table.names), table.name
        assert not any(column.identifier for column in table.columns)
    assert set(dd.PSEUDONYM_OF) <= raw_only


def test_renames_are_written_down():
    text = " ".join(" ".join(rename) for rename in dd.RENAMES)
    for name in ("postcode", "responses", *dd.PSEUDONYM_OF, *dd.PSEUDONYM_OF.values()):
        assert name in text


def test_the_schema_is_built_from_the_dictionary():
    schema = processed_schema("schools")
    assert list(schema.columns) == dd.PROCESSED_TABLES["schools"].names
    assert str(schema.columns["sector"].dtype) == "category" and schema.columns["school"].unique


def partnerships_frame(start_year: int) -> pd.DataFrame:
    return pd.DataFrame({
        "partnership": pd.array(["PN-1"], dtype="string"),
        "model": pd.Categorical(["sport"], categories=dd.MODELS),
        "formality": pd.Categorical(["formal"], categories=dd.FORMALITY),
        "funding": pd.Categorical(["self"], categories=dd.FUNDING),
        "start_year": pd.array([start_year], dtype="Int64"),
        "region": pd.Categorical(["london"], categories=dd.REGIONS),
    })


def test_validation_names_the_column_that_breaks_the_dictionary():
    with pytest.raises(IsspError) as caught:
        validate_processed("partnerships", partnerships_frame(1990), "partnerships.parquet")
    assert (caught.value.file, caught.value.column, caught.value.message) == (
        "partnerships.parquet", "start_year", "fails the data dictionary's check greater_than_or_equal_to(1998) "
        "(e.g. 1990)")
    assert validate_processed("partnerships", partnerships_frame(1998), "partnerships.parquet") is not None


def test_validation_refuses_another_tables_columns():
    with pytest.raises(IsspError) as caught:
        validate_processed("participants", partnerships_frame(1998), "participants.parquet")
    assert (caught.value.column, caught.value.message) == (
        "partnership", "column not in the data dictionary's participants table")


def test_the_rendered_dictionary_covers_every_column_label_rule_and_item():
    text = datadoc.render()
    assert text == datadoc.render()
    for table in TABLES:
        for column in table.columns:
            if column.kind != "likert":
                assert f"| `{column.name}` |" in text
            for label, spellings in column.variants.items():
                assert f'| `{label}` | {", ".join(f"{chr(34)}{s}{chr(34)}" for s in spellings)} |' in text
    for rule in clean.RULES:
        assert f"| `{rule}` |" in text
    assert "| `B04` | benefit | purchasing power / economies of scale | tangible |" in text
    assert "| `B01`..`B12` (12 items) | score 1-5 | 1 to 5 | blank; `-99` not answered; `6` don't know" in text
    assert "HMAC-SHA256(key, `kind:id`)" in text and "ISSP_PSEUDONYM_KEY_FILE" in text


def test_datadoc_writes_the_file(tmp_path, capsys):
    assert datadoc.main([str(tmp_path / "docs" / "data-dictionary.md")]) == 0
    assert (tmp_path / "docs" / "data-dictionary.md").read_text(encoding="utf-8") == datadoc.render()
    assert datadoc.main([]) == 2
    assert capsys.readouterr().err == "usage: python -m issp_research.datadoc OUT.md\n"
