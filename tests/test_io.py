"""Reading raw files: checksums, encodings, malformed CSV, and that raw files are never written."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from issp_research import clean, cli, io, pseudonym, simulate
from issp_research import dictionary as dd
from issp_research.errors import IsspError


def edit(path: Path, change, *, record: bool = True) -> None:
    """Change a raw file's text; record its new checksum unless the test is about checksums."""
    path.write_bytes(change(path.read_bytes().decode("utf-8")).encode("utf-8"))
    if record:
        simulate.write_checksums(path.parent)


def set_cell(text: str, line: int, column: str, value: str) -> str:
    lines = text.split("\n")
    cells = lines[line - 1].split(",")
    cells[lines[0].split(",").index(column)] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines)


def drop_column(text: str, column: str) -> str:
    index = text.split("\n", 1)[0].split(",").index(column)
    return "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != index) if line else line
                     for line in text.split("\n"))


@pytest.fixture(scope="module")
def reference(demo_raw):
    return clean.clean_tables(io.read_raw_folder(demo_raw), pseudonym.DEMO_KEY)


def test_missing_file(raw_copy, refused):
    (raw_copy / "participants.csv").unlink()
    error = refused(raw_copy)
    assert (error.message, error.file) == ("raw file not found", str(raw_copy / "participants.csv"))


def test_missing_checksum_file(raw_copy, refused):
    (raw_copy / "SHA256SUMS").unlink()
    error = refused(raw_copy)
    assert (error.message, error.file) == ("no SHA256SUMS file beside the raw data", str(raw_copy / "SHA256SUMS"))


def test_file_not_listed_in_checksums(raw_copy, refused):
    sums = raw_copy / "SHA256SUMS"
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines() if "survey.csv" not in line))
    assert refused(raw_copy).message == "survey.csv is not listed in SHA256SUMS"


def test_checksum_mismatch(raw_copy, refused):
    edit(raw_copy / "survey.csv", lambda text: set_cell(text, 3, "B02", "5"), record=False)
    error = refused(raw_copy)
    assert (error.message, error.file, error.rule) == (
        "the file changed after its checksum was recorded", str(raw_copy / "survey.csv"), "raw data are never modified")


def test_empty_file(raw_copy, refused):
    edit(raw_copy / "partnerships.csv", lambda text: "")
    error = refused(raw_copy)
    assert (error.message, error.file) == ("the file is empty", str(raw_copy / "partnerships.csv"))


def test_header_without_rows(raw_copy, refused):
    edit(raw_copy / "schools.csv", lambda text: text.split("\n", 1)[0] + "\n")
    assert refused(raw_copy).message == "the file has a header but no rows"


def test_missing_column(raw_copy, refused):
    edit(raw_copy / "participants.csv", lambda text: drop_column(text, "role"))
    error = refused(raw_copy)
    assert (error.message, error.column, error.file) == ("missing column", "role", str(raw_copy / "participants.csv"))
    assert "participant_id, school_id, name, email, role" in error.fix


def test_renamed_column(raw_copy, refused):
    edit(raw_copy / "participants.csv", lambda text: text.replace(",consent\n", ",consent_given\n", 1))
    error = refused(raw_copy)
    assert (error.message, error.column) == ("missing column; 'consent_given' looks like it was renamed from it",
                                             "consent")


def test_unexpected_column(raw_copy, refused):
    edit(raw_copy / "partnerships.csv", lambda text: text.replace("\n", ",\n").replace(",\n", ",notes\n", 1))
    error = refused(raw_copy)
    assert (error.message, error.column) == ("column not in the data dictionary", "notes")


def test_column_twice_in_header(raw_copy, refused):
    edit(raw_copy / "partnerships.csv", lambda text: text.replace("\n", ",x\n").replace(",x\n", ",region\n", 1))
    error = refused(raw_copy)
    assert (error.message, error.column) == ("the column appears twice in the header", "region")


def test_truncated_file(raw_copy, refused):
    edit(raw_copy / "survey.csv", lambda text: text[:-80])
    error = refused(raw_copy)
    lines = (raw_copy / "survey.csv").read_text().split("\n")
    assert error.message == f"{len(lines[-1].split(','))} values for 24 columns"
    assert (error.file, error.row) == (str(raw_copy / "survey.csv"), len(lines))


def test_unclosed_quote(raw_copy, refused):
    edit(raw_copy / "participants.csv", lambda text: set_cell(text, 7, "name", '"Ivy Smith'))
    error = refused(raw_copy)
    assert (error.message, error.row) == ("the CSV is malformed (unexpected end of data)", 7)


def test_cp1252_file(raw_copy, refused):
    path = raw_copy / "participants.csv"
    path.write_bytes(set_cell(path.read_text(encoding="utf-8"), 5, "name", "Zoë Brown").encode("cp1252"))
    simulate.write_checksums(raw_copy)
    error = refused(raw_copy)
    assert (error.message, error.row, error.rule) == ("not UTF-8 text (byte 0xeb)", 5, "raw files are UTF-8")


@pytest.mark.parametrize("size", [10_000_000, io.MAX_CELL_CHARACTERS + 1])
def test_oversized_cell(raw_copy, refused, size):
    """10 MB passes Python's own csv limit check; just over ours is caught by the length check."""
    edit(raw_copy / "survey.csv", lambda text: set_cell(text, 10, "comment", "x" * size))
    error = refused(raw_copy)
    assert (error.message, error.row) == ("a cell longer than 100,000 characters", 10)
    assert len(str(error)) < 300


def test_byte_order_mark_is_accepted(raw_copy, reference, tmp_path):
    for name in dd.RAW_FILES.values():
        (raw_copy / name).write_bytes(b"\xef\xbb\xbf" + (raw_copy / name).read_bytes())
    simulate.write_checksums(raw_copy)
    assert_same_cleaning(raw_copy, reference, tmp_path / "out")


def test_blank_lines_and_crlf_are_accepted(raw_copy, reference, tmp_path):
    edit(raw_copy / "survey.csv", lambda text: text.replace("\n", "\n\n", 3).replace("\n", "\r\n") + "\r\n,,,\r\n")
    edit(raw_copy / "schools.csv", lambda text: "\n" + text + "\n\n")
    assert_same_cleaning(raw_copy, reference, tmp_path / "out")


def assert_same_cleaning(raw: Path, reference: clean.Cleaned, out: Path) -> None:
    """The library and the command line both clean the file as if it were the plain demo export."""
    cleaned = clean.clean_tables(io.read_raw_folder(raw), pseudonym.DEMO_KEY)
    assert cli.main(["clean", "--raw", str(raw), "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(cleaned.report, reference.report)
    pd.testing.assert_frame_equal(pd.read_csv(out / "cleaning_report.csv"), reference.report)
    written = clean.read_processed(out)
    for name, table in reference.tables.items():
        pd.testing.assert_frame_equal(cleaned.tables[name], table)
        pd.testing.assert_frame_equal(written[name], table)


def test_row_numbers_are_the_files_line_numbers(raw_copy):
    """Blank lines and a cell spanning two lines count, as in an editor."""
    def change(text: str) -> str:
        text = set_cell(text, 20, "years_in_role", "five")
        text = set_cell(text, 4, "name", '"Omar\nBrown"')
        return text.replace("\n", "\n\n\n", 1)

    edit(raw_copy / "participants.csv", change)
    with pytest.raises(IsspError) as caught:
        clean.clean_tables(io.read_raw_folder(raw_copy), pseudonym.DEMO_KEY, raw_copy)
    assert (caught.value.row, caught.value.column) == (20 + 2 + 1, "years_in_role")
    assert caught.value.file == str(raw_copy / "participants.csv")


def test_raw_files_are_only_read(raw_copy, tmp_path):
    """Cleaning a read-only copy works, changes no byte or mtime, and never opens a raw file to write."""
    before = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in raw_copy.iterdir()}
    for path in raw_copy.iterdir():
        path.chmod(stat.S_IRUSR | stat.S_IRGRP)
    raw_copy.chmod(stat.S_IRUSR | stat.S_IXUSR)
    writes, reads = [], set()

    def audit(event: str, args: tuple) -> None:  # as root, the read-only modes alone would prove nothing
        if not _WATCHING or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        if Path(os.fsdecode(args[0])).parent != raw_copy:
            return
        if event == "open":
            mode, flags = args[1] or "", args[2] or 0
            if set(mode) & set("wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC):
                writes.append((event, args))
            else:
                reads.add(Path(os.fsdecode(args[0])).name)
        elif event in ("os.remove", "os.rename", "os.truncate", "os.chmod", "os.utime"):
            writes.append((event, args))

    _WATCHING.append(True)
    sys.addaudithook(audit)
    try:
        cleaned = clean.clean_folder(raw_copy, tmp_path / "processed", tmp_path / "report.csv")
    finally:
        _WATCHING.clear()
        raw_copy.chmod(stat.S_IRWXU)
    assert writes == []
    assert reads == {"SHA256SUMS", "simulation.json", *dd.RAW_FILES.values()}
    assert len(cleaned.tables["responses"]) == 533
    assert {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in raw_copy.iterdir()} == before


_WATCHING: list[bool] = []


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.lists(st.sampled_from(["partnership_id", "name", ",", "\n", "\r\n", '"', "P0001", " ", "\ufeff",
                                           "x" * 50, "\x00", "é"]), max_size=40).map(lambda parts: "".join(parts)
                                                                                      .encode("utf-8"))))
def test_any_bytes_give_a_table_or_a_clear_refusal(data):
    table = dd.RAW_TABLES["partnerships"]
    try:
        frame = io.read_raw_table("partnerships.csv", table, data)
    except IsspError as error:
        assert error.file == "partnerships.csv"
    else:
        assert list(frame.columns) == table.names and len(frame) > 0
