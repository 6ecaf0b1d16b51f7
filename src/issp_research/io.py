"""Reading raw files: checksums first, then each CSV as text against the data dictionary.

Raw files are only ever opened for reading, and each is read once: the bytes whose checksum was
verified are the bytes that are parsed. Every expected mistake (missing file, changed file, empty
file, wrong encoding, a truncated row, an oversized cell, a missing or renamed column) ends in an
IsspError that names the file and says how to fix it. Row numbers in messages are the file's line
numbers (the header is line 1), as a text editor or spreadsheet shows them.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
from pathlib import Path

import pandas as pd

from . import dictionary as dd
from .errors import IsspError

CHECKSUMS = "SHA256SUMS"
#: The longest cell a survey platform exports; a longer one means a broken export (often an
#: unclosed quote that swallowed the rest of the file).
MAX_CELL_CHARACTERS = 100_000
_REEXPORT = "the file may be truncated or hand-edited: export it again from the instrument"


def read_checksums(folder: Path) -> dict[str, str]:
    path = folder / CHECKSUMS
    if not path.is_file():
        raise IsspError("no SHA256SUMS file beside the raw data", file=path, rule="raw data are checksummed",
                        fix=f"after checking the files, record them with: cd {folder} && sha256sum *.csv > SHA256SUMS")
    sums = {}
    for number, line in enumerate(_read_bytes(path).decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise IsspError("not a line of 'sha256sum' output", file=path, row=number, rule="sha256sum format",
                            fix="regenerate the file with sha256sum")
        sums[name.lstrip("*")] = digest.lower()
    return sums


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise IsspError("raw file not found", file=path, rule="every raw file of the study is present",
                        fix="put the instrument's export in the raw data folder, or point raw_dir at the right "
                            "folder") from None
    except OSError as error:
        raise IsspError(f"cannot read the file: {error.strerror}", file=path, fix="check its permissions") from None


def read_verified(folder: Path, name: str, sums: dict[str, str]) -> bytes:
    """The file's bytes, refused if they differ from the checksum recorded for them."""
    path = folder / name
    data = _read_bytes(path)
    if name not in sums:
        raise IsspError(f"{name} is not listed in SHA256SUMS", file=folder / CHECKSUMS,
                        rule="raw data are checksummed", fix=f"add it with: sha256sum {name} >> SHA256SUMS")
    if hashlib.sha256(data).hexdigest() != sums[name]:
        raise IsspError("the file changed after its checksum was recorded", file=path,
                        rule="raw data are never modified",
                        fix="restore the original export; if the new file is a new export, check it and "
                            "record its checksum again with sha256sum")
    return data


def read_raw_table(path: str | Path, table: dd.Table, data: bytes | None = None) -> pd.DataFrame:
    """The file's cells as text (cleaning parses them), indexed by line number, columns checked."""
    path = Path(path)
    data = _read_bytes(path) if data is None else data
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise IsspError(f"not UTF-8 text (byte 0x{data[error.start]:02x})", file=path, row=line,
                        rule="raw files are UTF-8", fix="export the file again as UTF-8 (CSV UTF-8)") from None
    if not text.strip():
        raise IsspError("the file is empty", file=path, rule="a raw file has a header and rows",
                        fix="export the data again")
    header, lines, records = _records(text, path)
    _check_columns(header, table, path)
    if not records:
        raise IsspError("the file has a header but no rows", file=path, rule="a raw file has a header and rows",
                        fix="export the data again")
    return pd.DataFrame(records, columns=header, index=pd.Index(lines, name="line"), dtype="str")


def _records(text: str, path: Path) -> tuple[list[str], list[int], list[list[str]]]:
    """Header, first line number of each row, and rows; blank lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    lines, records = [], []
    line = 1
    try:
        for record in reader:
            if record and any(cell.strip() for cell in record):
                if header is None:
                    header = record
                else:
                    _check_record(record, header, line, path)
                    lines.append(line)
                    records.append(record)
            line = reader.line_num + 1
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            _too_long(path, line)
        raise IsspError(f"the CSV is malformed ({error})", file=path, row=line,
                        rule="one value per column on every row", fix=_REEXPORT) from None
    return header or [], lines, records


def first_long_row(path: str | Path, encoding: str = "utf-8-sig") -> int | None:
    """The line of the first row with more values than the header, or None.

    For readers that parse with pandas: its warning about such a row does not say which row it is.
    Lines count as in :func:`read_raw_table` (the header is line 1; a row's first line).
    """
    try:
        with open(path, encoding=encoding, newline="") as handle:
            reader = csv.reader(handle)
            header, line = None, 1
            for record in reader:
                if record and any(cell.strip() for cell in record):
                    if header is None:
                        header = record
                    elif len(record) > len(header):
                        return line
                line = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error):
        return None  # the caller's own error says what is wrong; this only adds the row
    return None


def _check_record(record: list[str], header: list[str], line: int, path: Path) -> None:
    if len(record) != len(header):
        raise IsspError(f"{len(record)} values for {len(header)} columns", file=path, row=line,
                        rule="one value per column on every row", fix=_REEXPORT)
    for cell, column in zip(record, header, strict=True):
        if len(cell) > MAX_CELL_CHARACTERS:
            _too_long(path, line, column)


def _too_long(path: Path, line: int, column: str | None = None) -> None:
    raise IsspError(f"a cell longer than {MAX_CELL_CHARACTERS:,} characters", file=path, row=line, column=column,
                    rule=f"cells hold at most {MAX_CELL_CHARACTERS:,} characters",
                    fix="look for an unclosed quote (\") on this row, or export the data again")


def _check_columns(header: list[str], table: dd.Table, path: Path) -> None:
    expected = table.names
    repeated = [name for number, name in enumerate(header) if name in header[:number]]
    if repeated:
        raise IsspError("the column appears twice in the header", file=path, column=repeated[0],
                        rule="columns of the data dictionary", fix="export the data again")
    missing = [name for name in expected if name not in header]
    unexpected = [name for name in header if name not in expected]
    if missing:
        name = missing[0]
        guess = difflib.get_close_matches(name, unexpected, n=1)
        hint = f"; '{guess[0]}' looks like it was renamed from it" if guess else ""
        raise IsspError(f"missing column{hint}", file=path, column=name, rule="columns of the data dictionary",
                        fix=f"the {table.name} table needs columns {', '.join(expected)}")
    if unexpected:
        raise IsspError("column not in the data dictionary", file=path, column=unexpected[0],
                        rule="columns of the data dictionary",
                        fix="remove it from the export, or add it to issp_research.dictionary")


def read_raw_folder(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Every raw table of the study, each file's checksum verified on the bytes that are parsed."""
    folder = Path(folder)
    sums = read_checksums(folder)
    return {name: read_raw_table(folder / file, dd.RAW_TABLES[name], read_verified(folder, file, sums))
            for name, file in dd.RAW_FILES.items()}
