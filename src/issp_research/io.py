"""Reading raw files: checksums first, then each CSV as text against the data dictionary.

Raw files are only ever opened for reading. Every expected mistake (missing file, changed file,
empty file, wrong encoding, a truncated row, a missing or renamed column) ends in an IsspError
that names the file and says how to fix it.
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


def read_checksums(folder: Path) -> dict[str, str]:
    path = folder / CHECKSUMS
    if not path.is_file():
        raise IsspError("no SHA256SUMS file beside the raw data", file=path, rule="raw data are checksummed",
                        fix=f"after checking the files, record them with: cd {folder} && sha256sum *.csv > SHA256SUMS")
    sums = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise IsspError("not a line of 'sha256sum' output", file=path, row=number, rule="sha256sum format",
                            fix="regenerate the file with sha256sum")
        sums[name.lstrip("*")] = digest.lower()
    return sums


def verify_checksums(folder: str | Path, names: list[str]) -> None:
    """Refuse to read a raw file that changed since its checksum was recorded."""
    folder = Path(folder)
    sums = read_checksums(folder)
    for name in names:
        path = folder / name
        if not path.is_file():
            raise IsspError("raw file not found", file=path, rule="every raw file of the study is present",
                            fix="put the instrument's export in the raw data folder, or point raw_dir at the right folder")
        if name not in sums:
            raise IsspError(f"{name} is not listed in SHA256SUMS", file=folder / CHECKSUMS,
                            rule="raw data are checksummed", fix=f"add it with: sha256sum {name} >> SHA256SUMS")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sums[name]:
            raise IsspError("the file changed after its checksum was recorded", file=path,
                            rule="raw data are never modified",
                            fix="restore the original export; if the new file is a new export, check it and "
                                "record its checksum again with sha256sum")


def read_raw_table(path: str | Path, table: dd.Table) -> pd.DataFrame:
    """The file's cells as text (cleaning parses them), with the dictionary's columns checked."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IsspError("raw file not found", file=path, fix="check the raw data folder") from None
    except OSError as error:
        raise IsspError(f"cannot read the file: {error.strerror}", file=path, fix="check its permissions") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise IsspError(f"not UTF-8 text (byte 0x{data[error.start]:02x})", file=path, row=line,
                        rule="raw files are UTF-8", fix="export the file again as UTF-8 (CSV UTF-8)") from None
    if not text.strip():
        raise IsspError("the file is empty", file=path, rule="a raw file has a header and rows",
                        fix="export the data again")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True,
                            on_bad_lines="error", engine="c")
    except (pd.errors.ParserError, csv.Error) as error:
        raise IsspError(f"the CSV is malformed: {error}", file=path, rule="one value per column on every row",
                        fix="the file may be truncated or hand-edited: export it again") from None
    _check_columns(frame, table, path)
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")  # the file's line numbers, for messages
    return frame


def _check_columns(frame: pd.DataFrame, table: dd.Table, path: Path) -> None:
    expected = table.names
    missing = [name for name in expected if name not in frame.columns]
    unexpected = [name for name in frame.columns if name not in expected]
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
    if frame.empty:
        raise IsspError("the file has a header but no rows", file=path, rule="a raw file has a header and rows",
                        fix="export the data again")


def read_raw_folder(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Every raw table of the study, checksums verified before anything is read."""
    folder = Path(folder)
    verify_checksums(folder, list(dd.RAW_FILES.values()))
    return {name: read_raw_table(folder / file, dd.RAW_TABLES[name]) for name, file in dd.RAW_FILES.items()}
