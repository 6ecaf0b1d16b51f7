"""Ethics: no raw identifier leaves data/raw, and a response without consent never reaches processed data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from issp_research import clean, io, paths, pseudonym
from issp_research import dictionary as dd
from issp_research.errors import IsspError

TEXT_SUFFIXES = {".txt", ".md", ".csv", ".tex", ".json", ".ipynb", ".yaml", ".yml"}


def committed_outputs() -> list[Path]:
    """Every processed table and every text or Parquet file under analysis/, as committed."""
    files = sorted(paths.PROCESSED.glob("*.parquet")) + sorted(
        path for path in paths.ANALYSIS.rglob("*") if path.is_file() and path.suffix in TEXT_SUFFIXES | {".parquet"})
    return files


def as_text(path: Path) -> str:
    if path.suffix == ".parquet":
        return pd.read_parquet(path).to_csv(index=False)
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def committed_raw() -> dict[str, pd.DataFrame]:
    return io.read_raw_folder(paths.RAW)


def test_no_raw_identifier_in_processed_data_or_analysis(committed_raw):
    identifiers = pseudonym.raw_identifiers(committed_raw)
    assert {"Chloe Robinson", "chloe.robinson000001@s00001.example.org", "T000001", "S00001", "P0001",
            "R000001"} <= identifiers
    files = committed_outputs()
    assert {path.name for path in files} >= {f"{name}.parquet" for name in dd.PROCESSED_TABLES} | {
        "cleaning_report.csv", "params.yaml"}
    found = {paths.relative(path): hits for path in files if (hits := pseudonym.identifiers_in(as_text(path),
                                                                                                identifiers))}
    assert found == {}


def test_no_respondent_without_consent_in_committed_processed_data(committed_raw):
    people = committed_raw["participants"]
    refused = people.loc[people["consent"].str.strip().str.lower().isin(["no", "n", "declined"]), "participant_id"]
    assert len(refused) == 19
    pseudonyms = set(pseudonym.pseudonymise(refused.str.strip(), "participant", pseudonym.DEMO_KEY))
    tables = clean.read_processed(paths.PROCESSED)
    assert not pseudonyms & set(tables["participants"]["participant"])
    assert not pseudonyms & set(tables["responses"]["participant"])


def test_submissions_of_people_who_did_not_consent_are_dropped(demo_raw):
    raw = io.read_raw_folder(demo_raw)
    survey, people = raw["survey"], raw["participants"]
    refused = people.loc[people["consent"].str.strip().str.lower().isin(["no", "n", "declined"]), "participant_id"]
    submitted = survey["participant_id"].str.strip().isin(refused.str.strip())
    assert submitted.sum() == 16
    responses = clean.clean_tables(raw, pseudonym.DEMO_KEY).tables["responses"]
    refused_pseudonyms = pseudonym.pseudonymise(refused.str.strip(), "participant", pseudonym.DEMO_KEY)
    assert not responses["participant"].isin(refused_pseudonyms).any()


def test_identifiers_are_found_as_whole_words_in_any_case():
    ids = {"Grace Hall", "425328", "S00001", "ann@s00001.example.org"}
    assert pseudonym.identifiers_in("Interview with GRACE\nhall at S00001.", ids) == ["grace hall", "s00001"]
    assert pseudonym.identifiers_in("p = 0.4253281, digest 9a425328b, 1425328", ids) == []
    assert pseudonym.identifiers_in('"contact": "ann@s00001.example.org"', ids) == ["ann@s00001.example.org"]
    assert pseudonym.identifiers_in("Grace Hallam, SC-00001", ids) == []


def test_a_planted_identifier_in_an_output_is_found(committed_raw):
    """The scan over committed outputs would see a leak: a name put into a processed table."""
    identifiers = pseudonym.raw_identifiers(committed_raw)
    schools = pd.read_parquet(paths.PROCESSED / "schools.parquet")
    name = committed_raw["schools"]["name"].iloc[3]
    leaked = schools.assign(note=name).to_csv(index=False)
    assert pseudonym.identifiers_in(leaked, identifiers) == [name.lower()]


def test_demo_data_use_the_published_demo_key(demo_raw, monkeypatch):
    monkeypatch.delenv(pseudonym.KEY_VARIABLE, raising=False)
    monkeypatch.delenv(pseudonym.KEY_FILE_VARIABLE, raising=False)
    assert pseudonym.load_key(demo_raw) == pseudonym.DEMO_KEY
    pseudonyms = pseudonym.pseudonymise(pd.Series(["T000001", "T000001", None]), "participant", pseudonym.DEMO_KEY)
    assert pseudonyms.iloc[0] == pseudonyms.iloc[1] and pd.isna(pseudonyms.iloc[2])
    assert pseudonyms.iloc[0].startswith("PT-") and len(pseudonyms.iloc[0]) == 3 + pseudonym.DIGITS


def test_real_data_need_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv(pseudonym.KEY_VARIABLE, raising=False)
    monkeypatch.delenv(pseudonym.KEY_FILE_VARIABLE, raising=False)
    with pytest.raises(IsspError, match="real data need a pseudonym key"):
        pseudonym.load_key(tmp_path)
    key_file = tmp_path / "key"
    key_file.write_text("a-secret-key-of-more-than-16-bytes\n")
    monkeypatch.setenv(pseudonym.KEY_FILE_VARIABLE, str(key_file))
    assert pseudonym.load_key(tmp_path) == b"a-secret-key-of-more-than-16-bytes"
    keyed = pseudonym.pseudonymise(pd.Series(["T000001"]), "participant", pseudonym.load_key(tmp_path))
    assert keyed.iloc[0] != pseudonym.pseudonymise(pd.Series(["T000001"]), "participant", pseudonym.DEMO_KEY).iloc[0]


def test_a_key_must_be_long_and_kept_outside_the_repository(tmp_path, monkeypatch):
    monkeypatch.setenv(pseudonym.KEY_VARIABLE, "short")
    with pytest.raises(IsspError, match="shorter than 16 bytes"):
        pseudonym.load_key(tmp_path)
    monkeypatch.setenv(pseudonym.KEY_VARIABLE, "x" * 16)
    assert pseudonym.load_key(tmp_path) == b"x" * 16
    monkeypatch.delenv(pseudonym.KEY_VARIABLE)
    monkeypatch.setenv(pseudonym.KEY_FILE_VARIABLE, str(paths.ROOT / "README.md"))
    with pytest.raises(IsspError, match="the pseudonym key file is inside the repository"):
        pseudonym.load_key(tmp_path)
