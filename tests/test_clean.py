"""Cleaning rules: each one on hand-made cases, on the simulator's dirt, and on random dirty inputs."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from test_io import edit, set_cell

from issp_research import clean, io, pseudonym, simulate
from issp_research import dictionary as dd
from issp_research.errors import IsspError
from issp_research.validation import validate_processed

KEY = pseudonym.DEMO_KEY


def report_counts(report: pd.DataFrame) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for row in report.itertuples():
        counts.setdefault(row.rule, {})[row.file.removesuffix(".csv")] = row.rows_affected
    return counts


@pytest.mark.parametrize("scale", [0.5, 1, 3])
@pytest.mark.parametrize("seed", [1, 4242])
def test_report_counts_equal_the_injected_dirt(tmp_path, seed, scale):
    simulation = simulate.simulate(seed, scale)
    simulate.write_raw(simulation, tmp_path)
    cleaned = clean.clean_tables(io.read_raw_folder(tmp_path), KEY)
    assert report_counts(cleaned.report) == simulation.injected
    assert list(dict.fromkeys(cleaned.report["rule"])) == list(clean.RULES)


def test_demo_report_accounts_for_every_row(demo_raw):
    cleaned = clean.clean_tables(io.read_raw_folder(demo_raw), KEY)
    counts = report_counts(cleaned.report)
    injected = json.loads((demo_raw / "simulation.json").read_text())["injected"]
    assert counts == injected
    assert counts["duplicate"] == {"survey": 33} and counts["non_iso_date"] == {"survey": 180}
    assert 587 == counts["unknown_participant"]["survey"] + counts["no_consent"]["survey"] \
        + counts["duplicate"]["survey"] + len(cleaned.tables["responses"])
    assert 629 == counts["no_consent"]["participants"] + len(cleaned.tables["participants"])
    assert clean.table_sizes(cleaned.tables)["rows"].tolist() == [30, 129, 610, 533]


def test_processed_tables_join_on_pseudonyms(demo_raw, tmp_path):
    clean.clean_folder(demo_raw, tmp_path)
    tables = clean.read_processed(tmp_path)
    assert tables["schools"]["partnership"].isin(tables["partnerships"]["partnership"]).all()
    assert tables["participants"]["school"].isin(tables["schools"]["school"]).all()
    assert tables["responses"]["participant"].isin(tables["participants"]["participant"]).all()
    assert tables["responses"]["participant"].str.fullmatch(r"PT-[0-9a-f]{12}").all()


# Hand-made exports -------------------------------------------------------------------------------

PARTNERSHIPS = """partnership_id,name,model,formality,funding,start_year,region
P1,Test Partnership,SPORT,formal,self,2005,london
"""
SCHOOLS = """\
school_id,partnership_id,name,urn,postcode,sector,state_type,phase,pupils,fsm_pct,selective,boarding,lead_school
S1,P1,A School,100001,AB1 2CD,independent,,secondary,500,,False,True,True
S2,P1,B Academy,100002,AB1 3CD,State  -  academy,academy,primary,300,20.5,no,N,0
"""
PARTICIPANTS = """participant_id,school_id,name,email,role,years_in_role,involvement,interviewed,consent
T1,S1,Ann A,a@example.org,SLT,3,4,True,yes
T2,S2,Ben B,b@example.org,teacher,1,2,False,agreed
T3,S2,Cat C,c@example.org,governor,10,5,False,Y
T4,S1,Dan D,d@example.org,coordinator,0,1,False,yes
T5,S2,Eve E,e@example.org,teacher,2,3,False,declined
"""


def survey_csv(rows: list[tuple[str, str, str, bool]]) -> str:
    """Rows of (participant, submitted_at, B01, complete); other items 3, the last four blank if partial."""
    lines = [",".join(["response_id", "participant_id", "submitted_at", *dd.ITEMS, "comment"])]
    for number, (person, when, first, complete) in enumerate(rows, start=1):
        items = [first] + ["3"] * (len(dd.ITEMS) - 1)
        if not complete:
            items[-4:] = [""] * 4
        lines.append(",".join([f"R{number}", person, when, *items, ""]))
    return "\n".join(lines) + "\n"


def tiny_raw(survey_rows, **texts: str) -> dict[str, pd.DataFrame]:
    texts = {"partnerships": PARTNERSHIPS, "schools": SCHOOLS, "participants": PARTICIPANTS,
             "survey": survey_csv(survey_rows), **texts}
    return {name: io.read_raw_table(dd.RAW_FILES[name], dd.RAW_TABLES[name], texts[name].encode())
            for name in dd.RAW_FILES}


SUBMISSIONS = [
    ("T1", "2020-02-03 08:00:00", "1", True),
    ("T1", "2020-02-05 08:00:00", "2", True),   # T1's latest complete one: kept
    ("T1", "2020-02-06 08:00:00", "3", False),
    ("T2", "2020-02-03T09:00:00Z", "4", False),
    ("T2", "04/02/2020 09:00", "5", False),     # T2 has no complete one: the latest partial is kept
    ("T3", "2020-02-03 08:00:59", "1", True),
    ("T3", "03/02/2020 08:00", "4", True),      # later in the file, but DD/MM has no seconds: 08:00 is earlier
    ("T4", "2020-02-04 10:00:00", "-99", True),  # -99 is an answer code: complete, kept, set to missing
    ("T4", "2020-02-07 10:00:00", "6", False),
    ("T5", "2020-02-04 10:00:00", "5", True),   # did not consent: dropped
    ("T9", "2020-02-04 10:00:00", "5", True),   # not on the participant list: dropped
]


def test_duplicates_keep_the_latest_complete_submission():
    cleaned = clean.clean_tables(tiny_raw(SUBMISSIONS), KEY)
    responses = cleaned.tables["responses"]
    kept = responses.set_index("participant")
    ids = pseudonym.pseudonymise(pd.Series(["T1", "T2", "T3", "T4"]), "participant", KEY)
    assert kept.loc[ids, "B01"].tolist() == [2, 5, 1, pd.NA]
    assert kept.loc[ids, "submitted_at"].tolist() == [pd.Timestamp(t, tz="UTC") for t in (
        "2020-02-05 08:00:00", "2020-02-04 09:00:00", "2020-02-03 08:00:59", "2020-02-04 10:00:00")]
    assert kept.loc[ids[1], "C08"] is pd.NA and kept.loc[ids[0], "C08"] == 3
    counts = report_counts(cleaned.report)
    assert (counts["duplicate"], counts["unknown_participant"], counts["no_consent"]) == (
        {"survey": 5}, {"survey": 1}, {"participants": 1, "survey": 1})
    assert (counts["non_iso_date"], counts["not_answered"], counts["dont_know"], counts["partial"]) == (
        {"survey": 3}, {"survey": 1}, {"survey": 0}, {"survey": 1})


def test_a_tie_in_time_goes_to_the_row_further_down():
    rows = [("T1", "2020-02-03 08:00:00", "1", True), ("T1", "03/02/2020 08:00", "4", True)]
    responses = clean.clean_tables(tiny_raw(rows), KEY).tables["responses"]
    assert responses["B01"].tolist() == [4]


def test_labels_in_any_spelling_and_booleans_in_any_form():
    cleaned = clean.clean_tables(tiny_raw(SUBMISSIONS), KEY)
    schools, people = cleaned.tables["schools"], cleaned.tables["participants"]
    assert cleaned.tables["partnerships"]["model"].tolist() == ["sport"]
    assert sorted(schools["sector"]) == ["independent", "state"]
    assert schools.set_index("sector").loc["state", ["selective", "boarding", "lead_school"]].tolist() == [
        False, False, False]
    assert sorted(people["role"]) == ["coordinator", "governor", "senior_leader", "teacher"]
    counts = report_counts(cleaned.report)
    assert counts["label_variant"] == {"partnerships": 1, "schools": 1, "participants": 4}


def test_dates_in_each_format_are_read_as_utc():
    text = pd.Series(["2020-02-03 08:09:44", "2020-02-03T08:09:44Z", "03/02/2020 08:09"], index=[2, 3, 4])
    parsed, non_iso = clean._submission_times(text, "survey.csv")
    assert parsed.tolist() == [pd.Timestamp("2020-02-03 08:09:44", tz="UTC")] * 2 + [
        pd.Timestamp("2020-02-03 08:09", tz="UTC")]
    assert non_iso == 2


@pytest.mark.parametrize("value", ["2020-02-30 10:00:00", "02/30/2020 10:00", "2020-02-03", "yesterday"])
def test_a_date_in_no_known_format_is_refused(value):
    with pytest.raises(IsspError) as caught:
        clean._submission_times(pd.Series(["2020-02-03 08:09:44", value], index=[2, 3]), "survey.csv")
    assert (caught.value.message, caught.value.row, caught.value.column) == (
        f"'{value}' is not a date and time in a known format", 3, "submitted_at")


@settings(max_examples=30, deadline=None)
@given(st.datetimes(min_value=pd.Timestamp("2000-01-01").to_pydatetime(),
                    max_value=pd.Timestamp("2030-12-31").to_pydatetime()), st.sampled_from(dd.DATE_FORMATS))
def test_every_date_format_gives_back_the_time_written(moment, pattern):
    written = pd.Series([moment.strftime(pattern)], index=[2])
    parsed, _ = clean._submission_times(written, "survey.csv")
    precision = "s" if "%S" in pattern else "min"
    assert parsed[2] == pd.Timestamp(moment).floor(precision).tz_localize("UTC")


@pytest.mark.parametrize("table, column, value, message", [
    ("participants", "years_in_role", "1.5", "'1.5' is not a whole number from 0 to 45"),
    ("participants", "years_in_role", "1e30", "'1e30' is not a whole number from 0 to 45"),
    ("schools", "fsm_pct", "nan", "'nan' is not a number from 0 to 100"),
    ("schools", "boarding", "maybe", "'maybe' is not true or false"),
    ("partnerships", "start_year", "1997", "'1997' is not a whole number from 1998 to 2030"),
    ("participants", "consent", "", "a value is required"),
    ("participants", "participant_id", "", "a value is required"),
    ("survey", "B03", "7", "unknown code '7'"),
    ("survey", "C01", "2.5", "unknown code '2.5'"),
    ("schools", "state_type", "", "a state school with no state_type"),
    ("participants", "school_id", "S99", "'S99' is not in schools.csv"),
])
def test_values_no_rule_explains_are_refused(table, column, value, message):
    raw = tiny_raw(SUBMISSIONS)
    line = raw[table].index[-1]
    raw[table].loc[line, column] = value
    with pytest.raises(IsspError) as caught:
        clean.clean_tables(raw, KEY, "export")
    assert (caught.value.message, caught.value.row, caught.value.column) == (message, line, column)
    assert caught.value.file == f"export/{dd.RAW_FILES[table]}"


def test_long_values_are_cut_in_messages():
    raw = tiny_raw(SUBMISSIONS)
    raw["participants"].loc[2, "role"] = "x" * 5000
    with pytest.raises(IsspError) as caught:
        clean.clean_tables(raw, KEY)
    assert caught.value.message == f"unknown label '{'x' * 37}...'"


# Bad values in a raw folder, through the library and the command line ----------------------------

@pytest.mark.parametrize("file, line, column, value, message, rule", [
    ("participants.csv", 12, "years_in_role", "five", "'five' is not a whole number from 0 to 45",
     "type of years_in_role in the data dictionary"),
    ("participants.csv", 30, "role", "Headteacher", "unknown label 'Headteacher'",
     "labels of the data dictionary: senior_leader, coordinator, teacher, governor"),
    ("schools.csv", 9, "school_id", "S00002", "duplicate id 'S00002'", "ids are unique"),
    ("survey.csv", 40, "submitted_at", "40/02/2020 10:00",
     "'40/02/2020 10:00' is not a date and time in a known format",
     "dates as YYYY-MM-DD HH:MM:SS, YYYY-MM-DDTHH:MM:SSZ or DD/MM/YYYY HH:MM"),
])
def test_bad_values_are_refused_with_file_row_column_rule(raw_copy, refused, file, line, column, value, message, rule):
    edit(raw_copy / file, lambda text: set_cell(text, line, column, value))
    error = refused(raw_copy)
    assert (error.file, error.row, error.column, error.message, error.rule) == (
        str(raw_copy / file), line, column, message, rule)


def test_output_into_the_raw_folder_is_refused(raw_copy):
    with pytest.raises(IsspError, match="an output would be written into the raw data folder"):
        clean.clean_folder(raw_copy, raw_copy)


# Random dirt -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_raw(tmp_path_factory) -> dict[str, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("small")
    simulate.write_raw(simulate.simulate(5, 0.2), folder)
    return io.read_raw_folder(folder)


def _normal(value: str) -> str:
    return " ".join(value.lower().split())


YES = {_normal(v) for v in ("yes", *dd.CONSENT_VARIANTS["yes"])}
CELLS = [(name, column.name) for name, table in dd.RAW_TABLES.items() for column in table.columns]
DIRTY = sorted({"", " ", "-99", "6", "7", "0", "1.5", "nan", "inf", "-1", "1e400", "yes", " No ", "declined",
                "agreed", "N", "True", "maybe", "T000001", "T000002", "S00001", "P0001", "R000001",
                "2020-02-30 10:00:00", "03/02/2020 08:38", "2020-02-03T08:09:44Z", "\x00",
                *(v for variants in (dd.SECTOR_VARIANTS, dd.ROLE_VARIANTS, dd.PHASE_VARIANTS)
                  for spellings in variants.values() for v in spellings)})
MUTATION = st.tuples(st.sampled_from(CELLS), st.floats(0, 1, exclude_max=True),
                     st.one_of(st.sampled_from(DIRTY), st.text(max_size=6), st.integers(-200, 200).map(str)))


@settings(max_examples=25, deadline=None)
@given(st.lists(MUTATION, max_size=8))
def test_random_dirt_is_cleaned_or_refused_never_crashes(small_raw, mutations):
    raw = mutated(small_raw, mutations)
    try:
        cleaned = clean.clean_tables(raw, KEY)
    except IsspError as error:
        assert error.file in dd.RAW_FILES.values() and (error.row is not None or error.column is not None)
        event(f"refused: {error.rule}")
        return
    event("cleaned")
    check_invariants(raw, cleaned)


def _spelled(values) -> st.SearchStrategy[str]:
    """A value as an export might write it: any case, stray spaces."""
    return st.tuples(st.sampled_from(sorted(values)), st.sampled_from([str, str.upper, str.title]),
                     st.sampled_from(["{}", " {}", "{}  ", "  {} "])).map(lambda t: t[2].format(t[1](t[0])))


CONSENT = [v for spellings in dd.CONSENT_VARIANTS.values() for v in spellings] + list(dd.CONSENT)
EXPORT_DIRT = st.one_of(
    st.tuples(st.just(("participants", "consent")), st.floats(0, 1, exclude_max=True), _spelled(CONSENT)),
    st.tuples(st.just(("survey", "participant_id")), st.floats(0, 1, exclude_max=True),
              st.integers(1, 130).map(lambda i: f"T{i:06d}")),  # the small study has 119 people
    st.tuples(st.just(("survey", "submitted_at")), st.floats(0, 1, exclude_max=True),
              st.tuples(st.datetimes(min_value=pd.Timestamp("2020-01-01").to_pydatetime(),
                                     max_value=pd.Timestamp("2020-06-30").to_pydatetime()),
                        st.sampled_from(dd.DATE_FORMATS)).map(lambda t: t[0].strftime(t[1]))),
    st.tuples(st.sampled_from([("survey", item) for item in dd.ITEMS]), st.floats(0, 1, exclude_max=True),
              st.sampled_from(["", "-99", "6", "1", "5", " 3 "])),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(EXPORT_DIRT, max_size=25))
def test_export_dirt_is_always_cleaned_by_the_rules(small_raw, mutations):
    """Reassigned submissions, refused consent, dates and codes: cleaned, never refused, rules hold."""
    raw = mutated(small_raw, mutations)
    cleaned = clean.clean_tables(raw, KEY)
    check_invariants(raw, cleaned)
    survey = raw["survey"].assign(person=raw["survey"]["participant_id"].str.strip())
    survey["when"] = [written_at(value.strip()) for value in survey["submitted_at"]]
    survey["complete"] = (survey[list(dd.ITEMS)].apply(lambda column: column.str.strip()) != "").all(axis=1)
    expected = survey.sort_values(["complete", "when"], kind="stable").groupby("person").tail(1)
    kept = cleaned.tables["responses"].set_index("participant")["submitted_at"].dt.tz_localize(None)
    expected = expected.set_index(pseudonym.pseudonymise(expected["person"], "participant", KEY))["when"]
    assert (kept == expected.reindex(kept.index)).all()


def written_at(text: str) -> datetime:
    for pattern in dd.DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise AssertionError(text)


def mutated(raw: dict[str, pd.DataFrame], mutations) -> dict[str, pd.DataFrame]:
    raw = {name: frame.copy() for name, frame in raw.items()}
    for (name, column), where, value in mutations:
        raw[name].iloc[int(where * len(raw[name])), raw[name].columns.get_loc(column)] = value
    return raw


def check_invariants(raw: dict[str, pd.DataFrame], cleaned: clean.Cleaned) -> None:
    """Valid tables; no row invented; nobody who refused consent; every dropped row counted."""
    tables = cleaned.tables
    for name, frame in tables.items():
        validate_processed(name, frame, name)
    people = raw["participants"]
    person = people["participant_id"].str.strip()
    consenting = set(person[people["consent"].map(_normal).isin(YES)])
    refusing = pseudonym.pseudonymise(person[~person.isin(consenting)], "participant", KEY)
    assert not tables["participants"]["participant"].isin(refusing).any()
    assert not tables["responses"]["participant"].isin(refusing).any()
    assert len(tables["partnerships"]) == len(raw["partnerships"]) and len(tables["schools"]) == len(raw["schools"])
    assert len(tables["participants"]) == len(consenting)
    respondents = set(raw["survey"]["participant_id"].str.strip()) & consenting
    assert set(tables["responses"]["participant"]) == set(
        pseudonym.pseudonymise(pd.Series(sorted(respondents)), "participant", KEY))
    counts = report_counts(cleaned.report)
    assert len(raw["survey"]) == counts["unknown_participant"]["survey"] + counts["no_consent"]["survey"] \
        + counts["duplicate"]["survey"] + len(tables["responses"])
    assert len(people) == counts["no_consent"]["participants"] + len(tables["participants"])
