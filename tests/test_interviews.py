"""Interviews (question 6): the synthetic demo project, the tidy analysis tables, figures 7 and 9."""

from __future__ import annotations

import copy
import importlib.util
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from issp_research import clean, interviews, io, pseudonym, qda, simulate, tables, worth
from issp_research import dictionary as dd
from issp_research.errors import IsspError
from issp_research.figures import save_figure, themes

KEY = pseudonym.DEMO_KEY
XSD = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "refi-qda" / "schema" / "Project-mrt2019.xsd"


pytestmark = pytest.mark.usefixtures("thesis_figures")


@pytest.fixture(scope="module")
def raw(demo_raw) -> dict[str, pd.DataFrame]:
    """The demo raw tables as read from the CSV files: labels as the platform spells them."""
    return io.read_raw_folder(demo_raw)


@pytest.fixture(scope="module")
def processed(raw) -> dict[str, pd.DataFrame]:
    return clean.clean_tables(raw, KEY).tables


@pytest.fixture(scope="module")
def demo(raw):
    return interviews.simulate_interviews(raw["participants"], raw["schools"], 2021, survey=raw["survey"])


@pytest.fixture(scope="module")
def demo_qdpx(demo, tmp_path_factory) -> Path:
    return interviews.write_interviews(demo, tmp_path_factory.mktemp("interviews"))


@pytest.fixture(scope="module")
def segments(demo_qdpx, processed) -> pd.DataFrame:
    return interviews.coded_segments(qda.read_qdpx(demo_qdpx), processed["participants"], KEY,
                                     schools=processed["schools"])


def pseudonyms(raw_ids) -> dict[str, str]:
    ids = pd.Series(list(raw_ids), dtype=object)
    return dict(zip(ids, pseudonym.pseudonymise(ids, "participant", KEY), strict=True))


# --------------------------------------------------------------------------------------------
# The synthetic project
# --------------------------------------------------------------------------------------------

def test_simulation_gives_identical_bytes_and_depends_on_the_seed(raw, demo_qdpx, tmp_path):
    again = interviews.simulate_interviews(raw["participants"], raw["schools"], 2021, survey=raw["survey"])
    assert interviews.write_interviews(again, tmp_path / "again.qdpx").read_bytes() == demo_qdpx.read_bytes()
    other = interviews.simulate_interviews(raw["participants"], raw["schools"], 2022, survey=raw["survey"])
    assert interviews.write_interviews(other, tmp_path / "other.qdpx").read_bytes() != demo_qdpx.read_bytes()
    assert demo_qdpx.name == "interviews.qdpx"


def test_simulated_tables_and_csv_tables_give_the_same_interviews(raw, demo):
    """simulate() hands over typed tables, the CSV reader strings: the interviews are the same."""
    tables = simulate.simulate(2021, 1).tables
    direct = interviews.simulate_interviews(tables["participants"], tables["schools"], 2021, survey=tables["survey"])
    assert direct["sources"] == demo["sources"] and direct["codings"] == demo["codings"]
    assert direct["truths"] == demo["truths"]


def test_thesis_scale_interviews_everyone_interviewed_who_consented(raw, demo):
    people = raw["participants"]
    consent = people["consent"].str.strip().str.lower().isin(["yes", "y", "agreed"])
    expected = sorted(people.loc[(people["interviewed"].str.lower() == "true") & consent, "participant_id"].str.strip())
    truths = demo["truths"]
    assert 30 <= truths["interviews"] <= 50 and [case for _, _, case in demo["sources"]] == expected
    assert len(truths["double_coded"]) == round(truths["interviews"] / 5)
    assert truths["agreement"] == 0.85 and truths["coders"] == ["A", "B"]
    coded_by_b = {c["source"] for c in demo["codings"] if c["coder"] == "B"}
    assert coded_by_b == set(truths["double_coded"])
    assert {c["source"] for c in demo["codings"] if c["coder"] == "A"} == {name for name, _, _ in demo["sources"]}
    for values in demo["cases"].values():
        assert values["sector"] in dd.SECTORS and values["role"] in dd.ROLES
    for _, text, _ in demo["sources"]:
        assert text.startswith(interviews.SYNTHETIC_NOTICE)
    texts = "\n".join(text for _, text, _ in demo["sources"])
    assert pseudonym.identifiers_in(texts, pseudonym.raw_identifiers(raw)) == []


@pytest.mark.skipif(not XSD.is_file() or importlib.util.find_spec("lxml") is None,
                    reason="the REFI-QDA schema (shared/testdata) or lxml is missing")
def test_written_project_validates_against_the_refi_qda_schema(demo_qdpx):
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    schema = etree.XMLSchema(etree.parse(str(XSD), parser))
    with zipfile.ZipFile(demo_qdpx) as archive:
        document = etree.fromstring(archive.read("project.qde"), parser)
    assert schema.validate(document), schema.error_log


def test_project_round_trips_losslessly(demo, demo_qdpx):
    project = qda.read_qdpx(demo_qdpx)
    assert project.warnings == () and project.position_unit == "codepoint"
    assert project.sources[["name", "text"]].values.tolist() == [[n, t] for n, t, _ in demo["sources"]]
    texts = {name: text for name, text, _ in demo["sources"]}
    case_of = {name: case for name, _, case in demo["sources"]}
    got = sorted((r.source, r.start, r.end, r.code, r.coder, r.case, r.text) for r in project.segments.itertuples())
    assert got == sorted((c["source"], c["start"], c["end"], c["code"], c["coder"], case_of[c["source"]],
                          texts[c["source"]][c["start"]:c["end"]]) for c in demo["codings"])
    assert sorted(project.cases["name"]) == sorted(demo["cases"])
    variables = {(r.case, r.variable): r.value for r in project.variables.itertuples()}
    assert variables == {(case, name): value for case, values in demo["cases"].items()
                         for name, value in values.items()}
    assert project.users["name"].tolist() == ["A", "B"]


# --------------------------------------------------------------------------------------------
# Truths recovered
# --------------------------------------------------------------------------------------------

def test_recovered_agreement_matches_the_configured_rate(demo, demo_qdpx, segments):
    per_code, overall = interviews.coder_agreement(qda.read_qdpx(demo_qdpx))
    truths = demo["truths"]
    assert overall["n_interviews"] == len(truths["double_coded"])
    assert overall["n_units"] == overall["n_units_both_coded"] == truths["double_coded_segments"]
    assert overall["percent_agreement"] == pytest.approx(truths["observed_agreement"])
    assert abs(overall["percent_agreement"] - truths["agreement"]) < 0.1
    assert overall["krippendorff_alpha"] > 0.7 and per_code["kappa"].median() > 0.7
    assert "double-coded" in overall["unit"] and per_code.attrs["unit"] == overall["unit"]
    # the pseudonymised segments give the same numbers
    from_segments = interviews.coder_agreement(segments)
    pd.testing.assert_frame_equal(from_segments[0], per_code)
    assert from_segments[1] == overall


@pytest.mark.parametrize("rate", [0.5, 1.0])
def test_agreement_follows_the_configured_rate(raw, rate):
    config = copy.deepcopy(interviews.load_config())
    config["coding"].update(agreement=rate, double_coded_share=1.0)
    result = interviews.simulate_interviews(raw["participants"], raw["schools"], 7, config)
    frame = pd.DataFrame(result["codings"]).rename(columns={"source": "interview"})
    per_code, overall = interviews.coder_agreement(frame)
    assert overall["n_interviews"] == result["truths"]["interviews"]
    if rate == 1.0:
        assert overall["percent_agreement"] == 1 and overall["krippendorff_alpha"] == 1
        assert (per_code["kappa"] == 1).all()
    else:
        assert abs(overall["percent_agreement"] - rate) < 0.06  # ~500 units: SE about 0.02
        assert 0.3 < overall["krippendorff_alpha"] < 0.7 and per_code["kappa"].median() < 0.75


def test_dominant_actor_types_are_recovered_exactly(demo, segments):
    types = interviews.policy_actor_types(segments)
    truth = {pseudonyms([person])[person]: kind for person, kind in demo["truths"]["actor_types"].items()}
    assert len(types) == len(truth)
    assert dict(zip(types["participant"], types["actor_type"].astype(str), strict=True)) == truth
    assert not types["tied"].any()  # the simulator gives the dominant type a strict majority


def test_actor_types_depend_on_sector_and_role_as_configured():
    tables = simulate.simulate(2021, 6).tables
    result = interviews.simulate_interviews(tables["participants"], tables["schools"], 2021)
    people = tables["participants"].assign(participant_id=lambda t: t["participant_id"].str.strip())
    cases = pd.DataFrame([{"participant_id": p, **v} for p, v in result["cases"].items()])
    cases["actor_type"] = cases["participant_id"].map(result["truths"]["actor_types"])
    assert len(cases) == len(set(people["participant_id"]) & set(cases["participant_id"])) > 150

    def share(rows, kinds):
        return rows["actor_type"].isin(kinds).mean()

    coordinators = cases["role"] == "coordinator"
    assert share(cases[coordinators], ["entrepreneurs", "enthusiasts"]) > 2 * share(cases[~coordinators],
                                                                                    ["entrepreneurs", "enthusiasts"])
    governors = cases["role"] == "governor"
    assert share(cases[governors], ["receivers"]) > 2 * share(cases[~governors], ["receivers"])
    leaders = (cases["role"] == "senior_leader") & (cases["sector"] == "independent")
    assert share(cases[leaders], ["narrators"]) > 2 * share(cases[~leaders], ["narrators"])
    truth = interviews.actor_type_probabilities()
    cell = truth[(truth["sector"] == "independent") & (truth["role"] == "senior_leader")]
    assert cell.set_index("actor_type")["probability"].idxmax() == "narrators"
    assert truth.groupby(["sector", "role"])["probability"].sum().round(12).eq(1).all()


def test_interview_worth_agrees_with_survey_worth(segments, processed):
    per_person = interviews.interview_worth(segments)
    survey = worth.respondent_scores(worth.analysis_frame(processed))
    joined, result = interviews.compare_with_survey(per_person, survey)
    assert result["n"] == len(joined) >= 25
    assert result["pearson_r"] > 0.3 and result["spearman_rho"] > 0.3
    assert result["interviewees_without_survey_worth"] == len(per_person) - result["n"]
    assert list(joined.columns) == ["participant", "sector", "role", "interview_balance", "survey_worth"]


def test_themes_differ_by_sector_as_configured(segments):
    frequency = interviews.theme_frequency(segments).set_index(["code", "sector"])["share"]
    assert frequency[("access_to_facilities", "state")] > frequency[("access_to_facilities", "independent")]


# --------------------------------------------------------------------------------------------
# Exact counts on a hand-made project
# --------------------------------------------------------------------------------------------

HAND_TEXT = "aaaa bbbb cccc dddd eeee"  # five four-letter spans at 0, 5, 10, 15, 20


def span(index: int) -> tuple[int, int]:
    return 5 * index, 5 * index + 4


def hand_codings() -> list[dict]:
    a1 = ["staff_time", "access_to_facilities", "critics", "critics", "receivers"]
    b1 = ["staff_time", "new_funding", "critics", "receivers", "receivers"]
    a2 = ["staff_time", "gift", "receivers", "narrators"]
    codings = []
    for source, coder, codes in (("INT-1", "A", a1), ("INT-1", "B", b1), ("INT-2", "A", a2)):
        for index, code in enumerate(codes):
            start, end = span(index)
            codings.append({"source": source, "start": start, "end": end, "code": code, "coder": coder})
    return codings


@pytest.fixture
def hand(tmp_path):
    """Two interviews: T000001 (state teacher, coded by A and B) and T000002 (independent governor, A only)."""
    path = qda.write_qdpx(tmp_path / "hand.qdpx", codebook=qda.load_codebook(),
                          sources=[("INT-1", HAND_TEXT, "T000001"), ("INT-2", HAND_TEXT, "T000002")],
                          cases={"T000001": {"sector": "state", "role": "teacher"},
                                 "T000002": {"sector": "independent", "role": "governor"}},
                          users=["A", "B"], codings=hand_codings())
    ids = pseudonyms(["T000001", "T000002", "T000003"])
    participants = pd.DataFrame({"participant": list(ids.values()), "school": ["SC-s", "SC-i", "SC-i"],
                                 "role": ["teacher", "governor", "coordinator"]})
    schools = pd.DataFrame({"school": ["SC-s", "SC-i"], "sector": ["state", "independent"]})
    project = qda.read_qdpx(path)
    return project, interviews.coded_segments(project, participants, KEY, schools=schools), ids


def test_hand_made_segments(hand):
    _, segments, ids = hand
    assert list(segments.columns) == interviews.SEGMENT_COLUMNS
    assert len(segments) == 14 and set(segments["participant"]) == {ids["T000001"], ids["T000002"]}
    first = segments[(segments["participant"] == ids["T000001"]) & (segments["coder"] == "A")]
    assert first["code"].astype(str).tolist() == ["staff_time", "access_to_facilities", "critics", "critics",
                                                  "receivers"]
    assert first["kind"].astype(str).tolist() == ["cost", "benefit", "enactment", "enactment", "enactment"]
    assert first["tangible"].tolist()[:2] == [True, True] and first["item"].tolist()[:2] == ["C01", "B11"]
    assert set(segments["sector"].astype(str)) == {"state", "independent"}
    assert segments["interview"].str.fullmatch(r"IV-[0-9a-f]{12}").all()


def test_hand_made_theme_frequency(hand):
    _, segments, _ = hand
    frequency = interviews.theme_frequency(segments).set_index(["code", "sector"])
    assert frequency.loc[("staff_time", "state")].tolist()[1:] == [1, 1, 1, 1.0]
    assert frequency.loc[("staff_time", "independent")].tolist()[1:] == [1, 1, 1, 1.0]
    assert frequency.loc[("access_to_facilities", "independent")].tolist()[1:] == [0, 0, 1, 0.0]
    assert frequency.loc[("critics", "state")].tolist()[1:] == [2, 1, 1, 1.0]  # 2 segments, 1 interview
    assert frequency.loc[("new_funding", "state"), "segments"] == 0  # coder B's code is not counted
    overall = interviews.theme_frequency(segments, by=()).set_index("code")
    assert overall.loc["receivers", ["segments", "interviews", "interviews_total", "share"]].tolist() == [2, 2, 2, 1.0]
    assert "interview" in frequency.attrs["unit"]
    # every theme code appears, unused ones with zeros; grouping codes nobody applied do not
    assert len(overall) == len(interviews._leaf_codes(qda.load_codebook())) and "benefits" not in overall.index
    by_role = interviews.theme_frequency(segments, by=("sector", "role"))
    assert len(by_role) == len(overall) * len(dd.SECTORS) * len(dd.ROLES)


def test_hand_made_cooccurrence(hand):
    _, segments, _ = hand
    pairs = interviews.code_cooccurrence(segments)
    count = {(a, b): n for a, b, n in zip(pairs["code_a"].astype(str), pairs["code_b"].astype(str),
                                          pairs["interviews"], strict=True)}
    assert count[("staff_time", "staff_time")] == 2
    assert count[("access_to_facilities", "staff_time")] == 1  # benefits come before costs
    assert count[("staff_time", "receivers")] == 2
    assert count[("critics", "receivers")] == 1 and count[("narrators", "receivers")] == 1
    assert count[("access_to_facilities", "gift")] == 0
    square = interviews.code_cooccurrence(segments, square=True)
    assert (square.to_numpy() == square.to_numpy().T).all() and square.loc["gift", "narrators"] == 1


def test_hand_made_worth_and_actor_types(hand):
    _, segments, ids = hand
    per_person = interviews.interview_worth(segments).set_index("participant")
    assert per_person.loc[ids["T000001"], ["benefit_segments", "cost_segments", "segments", "worth"]].tolist() == [
        1, 1, 5, 0]
    assert per_person.loc[ids["T000002"], ["worth", "worth_per_segment", "balance"]].tolist() == [-1, -0.25, -1.0]
    types = interviews.policy_actor_types(segments).set_index("participant")
    assert types.loc[ids["T000001"], ["actor_type", "type_segments", "enactment_segments", "tied"]].tolist() == [
        "critics", 2, 3, False]
    # receivers and narrators once each: the tie goes to the one mentioned first (receivers, at 10)
    assert types.loc[ids["T000002"], ["actor_type", "tied"]].tolist() == ["receivers", True]
    counts = interviews.actor_types_by(types.reset_index())
    assert len(counts) == len(dd.SECTORS) * len(dd.ROLES) * 8 and counts["people"].sum() == 2
    state_teachers = counts[(counts["sector"] == "state") & (counts["role"] == "teacher")]
    assert state_teachers.set_index("actor_type")["people"].to_dict()["critics"] == 1


def test_hand_made_agreement(hand):
    project, segments, _ = hand
    per_code, overall = interviews.coder_agreement(project)
    kappa = per_code.set_index("code")["kappa"]
    # 5 spans; A and B agree on staff_time everywhere, disagree on span 2 and span 4
    assert kappa["staff_time"] == 1.0
    assert kappa["access_to_facilities"] == pytest.approx(0.0) and kappa["new_funding"] == pytest.approx(0.0)
    assert kappa["critics"] == pytest.approx((0.8 - 0.56) / 0.44)
    assert kappa["receivers"] == pytest.approx((0.8 - 0.56) / 0.44)
    assert set(per_code["n_units"]) == {5}
    assert per_code.set_index("code").loc["critics", ["coder_A", "coder_B", "both"]].tolist() == [2, 1, 1]
    assert overall["n_interviews"] == 1 and overall["n_units"] == 5
    assert overall["percent_agreement"] == pytest.approx(0.6)
    assert overall["krippendorff_alpha"] == pytest.approx(10 / 19)  # 1 - (n-1) D_o / D_e = 1 - 9 * 4 / 76
    table = interviews.agreement_table(per_code, overall)
    assert table.iloc[-1].tolist() == ["All codes", "", 5, 5, 5, 60.0, pytest.approx(10 / 19)]
    assert "Krippendorff" in interviews.agreement_caption(per_code, overall)


def test_unknown_code_names_the_code_and_the_interview(tmp_path):
    book = qda.load_codebook()
    extra = pd.DataFrame([{"code": "made_up_theme", "parent": "benefits", "kind": "benefit", "tangible": None,
                           "item": None, "definition": "Not in the study codebook."}])
    path = qda.write_qdpx(tmp_path / "p.qdpx", codebook=pd.concat([book, extra], ignore_index=True),
                          sources=[("INT-9", HAND_TEXT, "T000001")], cases={"T000001": {}}, users=["A"],
                          codings=[{"source": "INT-9", "start": 0, "end": 4, "code": "made_up_theme", "coder": "A"}])
    participants = pd.DataFrame({"participant": list(pseudonyms(["T000001"]).values()), "role": ["teacher"],
                                 "sector": ["state"]})
    with pytest.raises(IsspError, match="unknown code 'made_up_theme' in interview 'INT-9'"):
        interviews.coded_segments(qda.read_qdpx(path), participants, KEY)
    with pytest.raises(IsspError, match="made_up_theme"):
        interviews.coder_agreement(qda.read_qdpx(path))


def test_a_case_who_is_not_a_consenting_participant_is_refused(hand):
    project, _, _ = hand
    participants = pd.DataFrame({"participant": list(pseudonyms(["T000001"]).values()), "role": ["teacher"],
                                 "sector": ["state"]})
    with pytest.raises(IsspError, match="INT-2.*not a consenting participant"):
        interviews.coded_segments(project, participants, KEY)
    with pytest.raises(IsspError, match="no 'sector'"):
        interviews.coded_segments(project, participants.drop(columns="sector"), KEY)


def test_analysis_refuses_an_absent_coder(hand):
    _, segments, ids = hand
    with pytest.raises(IsspError, match="no segments by coder 'C'"):
        interviews.theme_frequency(segments, coder="C")
    by_a = segments[segments["coder"] == "A"]
    apart = by_a.assign(coder=np.where(by_a["participant"] == ids["T000002"], "B", "A"))
    with pytest.raises(IsspError, match="no interview was coded by both"):
        interviews.coder_agreement(apart)


def test_config_mistakes_are_refused():
    config = copy.deepcopy(interviews.load_config())
    del config["sentences"]["gift"]
    with pytest.raises(IsspError, match="no sentences for code 'gift'"):
        interviews._check_config(config, qda.load_codebook(), "config")
    config = copy.deepcopy(interviews.load_config())
    config["actor_types"]["role"]["governor"]["recievers"] = 2
    with pytest.raises(IsspError, match="recievers"):
        interviews._check_config(config, qda.load_codebook(), "config")


# --------------------------------------------------------------------------------------------
# No raw ids; figures and captions
# --------------------------------------------------------------------------------------------

def test_no_raw_identifier_or_source_name_in_any_output(raw, segments, processed, demo_qdpx):
    frequency = interviews.theme_frequency(segments)
    pairs = interviews.code_cooccurrence(segments)
    per_person = interviews.interview_worth(segments)
    types = interviews.policy_actor_types(segments)
    counts = interviews.actor_types_by(types)
    per_code, overall = interviews.coder_agreement(qda.read_qdpx(demo_qdpx))
    joined, _ = interviews.compare_with_survey(per_person, worth.respondent_scores(worth.analysis_frame(processed)))
    outputs = [segments, frequency, pairs, per_person, types, counts, per_code, joined,
               interviews.agreement_table(per_code, overall)]
    text = "\n".join(frame.to_csv() for frame in outputs) + str(overall)
    text += themes.themes_caption(frequency, pairs) + themes.actor_types_caption(counts)
    assert pseudonym.identifiers_in(text, pseudonym.raw_identifiers(raw)) == []
    assert not re.search(r"INT-\d", text)
    assert set(segments["participant"]) <= set(processed["participants"]["participant"])


def test_figure_7_never_prints_a_small_count(hand, tmp_path):
    _, segments, _ = hand
    frequency, pairs = interviews.theme_frequency(segments), interviews.code_cooccurrence(segments)
    fig = themes.plot_themes(frequency, pairs)
    share_axis = fig.axes[0]
    printed = {t.get_text() for t in share_axis.texts}
    assert printed <= {"<5", "0"}  # every count here is 0 or 1
    caption = themes.themes_caption(frequency, pairs)
    assert "2 interviews (1 independent, 1 state)" not in caption and "<5 independent" in caption
    assert "1 to 4 interviews" in caption and not re.search(r"\(\d of \d", caption)
    written = save_figure(fig, tmp_path, "themes", caption)
    assert written[-1].read_text(encoding="utf-8") == caption + "\n"


def hatched_cells(ax) -> set[tuple[float, float]]:
    """Centres of the unit cells the axes hatch (the suppressed cells are one path of squares)."""
    centres = set()
    for patch in ax.patches:
        if patch.get_hatch():
            squares = patch.get_path().vertices.reshape(-1, 5, 2)
            centres |= {tuple(square[:4].mean(axis=0)) for square in squares}
    return centres


def test_figure_7_prints_shares_of_large_cells():
    rows = []
    for code, kind, n in (("shared_expertise", "benefit", 12), ("staff_time", "cost", 3), ("gift", "power", 0)):
        for sector, total in (("independent", 20), ("state", 30)):
            rows.append({"code": code, "kind": kind, "sector": sector, "segments": n, "interviews": n,
                         "interviews_total": total, "share": n / total})
    frequency = pd.DataFrame(rows)
    share_axis = themes.plot_themes(frequency).axes[0]
    printed = [t.get_text() for t in share_axis.texts]
    assert printed == ["60%", "40%", "<5", "<5", "0", "0"]
    assert hatched_cells(share_axis) == {t.get_position() for t in share_axis.texts if t.get_text() == "<5"}
    assert len(hatched_cells(share_axis)) == 2
    caption = themes.themes_caption(frequency)
    assert "50 interviews (20 independent, 30 state)" in caption
    assert "shared expertise (24 of 50 interviews)" in caption and "staff time (" not in caption


def counts_table(cells: dict[tuple[str, str], dict[str, int]]) -> pd.DataFrame:
    types = interviews._actor_types(qda.load_codebook())
    rows = [{"sector": s, "role": r, "actor_type": t, "people": cells.get((s, r), {}).get(t, 0)}
            for s in dd.SECTORS for r in dd.ROLES for t in types]
    frame = pd.DataFrame(rows)
    for column, levels in (("sector", dd.SECTORS), ("role", dd.ROLES), ("actor_type", types)):
        frame[column] = pd.Categorical(frame[column], categories=list(levels))
    return frame


@pytest.mark.parametrize("cells", [
    {("independent", "senior_leader"): {"narrators": 9, "transactors": 2},
     ("state", "governor"): {"receivers": 8, "outsiders": 1},
     ("state", "teacher"): {"critics": 6, "translators": 7, "receivers": 5}},
    {("independent", "senior_leader"): {"narrators": 12, "transactors": 6, "critics": 3},
     ("independent", "coordinator"): {"entrepreneurs": 7, "enthusiasts": 6},
     ("state", "senior_leader"): {"narrators": 6, "critics": 5, "transactors": 2},
     ("state", "teacher"): {"critics": 9, "translators": 7, "receivers": 5, "enthusiasts": 3},
     ("state", "governor"): {"receivers": 8, "outsiders": 1, "transactors": 5}},
])
def test_figure_9_never_prints_or_gives_back_a_small_count(cells, tmp_path):
    counts = counts_table(cells)
    total = sum(sum(types.values()) for types in cells.values())
    panels = [table for _, table in interviews.actor_types_panels(counts, ("sector", "role"))]
    statuses = tables.disclosure(panels)
    values = [table.to_numpy() for table in panels]
    assert tables._audit(values, [status.to_numpy() for status in statuses], 5) == []
    fig = themes.plot_actor_types(counts)
    printed = [text.get_text() for ax in fig.axes[:2] for text in ax.texts]
    assert all(value in {"<5", "[c]", "0"} or int(value) >= 5 for value in printed), printed
    assert printed.count("<5") == sum(int((s == "small").to_numpy().sum()) for s in statuses) > 0
    for ax in fig.axes[:2]:  # hatched: exactly the cells marked <5 or [c]
        assert hatched_cells(ax) == {t.get_position() for t in ax.texts if t.get_text() in {"<5", "[c]"}}
    table = interviews.actor_types_table(counts)  # what notebook 03 shows: the figure's numbers
    assert list(table.columns.get_level_values(0).unique()) == ["sector", "role"]
    for ax, panel in zip(fig.axes[:2], ("sector", "role"), strict=True):
        assert [str(value) for value in table[panel].to_numpy().ravel()] == [t.get_text() for t in ax.texts]
    caption = themes.actor_types_caption(counts)
    assert f"{total} interviewees" in caption
    assert all(int(n) >= 5 for n in re.findall(r"\((\d+)\)", caption))
    if len(cells) == 3:  # same counts, same bytes (once is enough: rendering takes seconds)
        first = save_figure(fig, tmp_path / "a", "actor_types", caption)
        second = save_figure(themes.plot_actor_types(counts), tmp_path / "b", "actor_types", caption)
        assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_figure_9_refuses_nested_panels():
    with pytest.raises(IsspError, match="nest"):
        themes.plot_actor_types(counts_table({}), panels=("sector", ("sector", "role")))


# --------------------------------------------------------------------------------------------
# The two routes in, and worth by policy-actor type
# --------------------------------------------------------------------------------------------

def test_segments_typed_into_a_csv_give_the_same_analysis_as_the_qdpx(demo_qdpx, processed, segments, tmp_path):
    """A researcher without REFI-QDA export can type the segments into a spreadsheet: same results."""
    raw = qda.read_qdpx(demo_qdpx).segments
    csv = tmp_path / "segments.csv"
    raw.rename(columns={"source": "interview", "case": "participant"})[
        ["interview", "participant", "code", "coder", "start", "end", "text"]].to_csv(csv, index=False)
    simulate.write_checksums(tmp_path)
    typed = interviews.coded_segments(interviews.read_coded(csv), processed["participants"], KEY,
                                      schools=processed["schools"])
    key = ["interview", "coder", "start", "end", "code"]
    # check_dtype=False: positions typed into a CSV may be blank, so they are read as Int64
    pd.testing.assert_frame_equal(typed.sort_values(key).reset_index(drop=True),
                                  segments.sort_values(key).reset_index(drop=True), check_dtype=False)
    simulate.write_checksums(demo_qdpx.parent)
    assert interviews.read_coded(demo_qdpx).segments.equals(raw)


def test_coded_interviews_changed_after_their_checksum_are_refused(tmp_path):
    csv = tmp_path / "segments.csv"
    csv.write_text("interview,participant,code,coder,start,end,text\nINT-01,P-001,gift,A,0,5,hello\n")
    with pytest.raises(IsspError, match="no SHA256SUMS"):
        interviews.read_coded(csv)
    simulate.write_checksums(tmp_path)
    assert len(interviews.read_coded(csv).segments) == 1
    csv.write_text(csv.read_text().replace("gift", "dependence"))
    with pytest.raises(IsspError, match="changed after its checksum was recorded"):
        interviews.read_coded(csv)


def test_worth_by_actor_type_counts_people_and_averages_their_survey_worth():
    types = pd.DataFrame({"participant": ["PT-1", "PT-2", "PT-3", "PT-4", "PT-5"],
                          "actor_type": pd.Categorical(["critics", "critics", "narrators", None, "critics"],
                                                       categories=["narrators", "critics", "receivers"])})
    survey = pd.DataFrame({"participant": ["PT-1", "PT-2", "PT-3", "PT-4", "PT-9"],
                           "worth": [1.0, 2.0, -1.0, 5.0, 9.0]})
    by_type = interviews.worth_by_actor_type(types, survey)
    assert by_type["actor_type"].tolist() == ["narrators", "critics", "receivers"]
    assert by_type["people"].tolist() == [1, 2, 0]  # PT-4 has no type, PT-5 no survey worth
    assert by_type["mean_worth"].tolist()[:2] == [-1.0, 1.5] and np.isnan(by_type["mean_worth"].iloc[2])
    assert by_type["sd_worth"].iloc[1] == pytest.approx(np.std([1.0, 2.0], ddof=1))
    with pytest.raises(IsspError, match="survey worth lacks|worth"):
        interviews.worth_by_actor_type(types, survey.drop(columns="worth"))
