"""Cleaning: each kind of dirt in the survey export is handled by a named rule and counted.

Nothing is dropped silently: every rule adds a line to the cleaning report (rule, file, rows
affected, what was done). A value that no rule can explain (an unknown label, a number out of
range, a blank id) stops cleaning with one message that names the file, row and column. The raw
tables are parsed against the data dictionary, pseudonymised, validated, and only then written, so
a bad input leaves the output folder untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import atomic, io, pseudonym
from . import dictionary as dd
from .errors import IsspError
from .validation import validate_processed

REPORT_COLUMNS = ["rule", "file", "rows_affected", "action"]

#: Every cleaning rule, in the order it runs, with what it does (listed in docs/data-dictionary.md).
RULES = {
    "whitespace": "Stray spaces before or after any cell are trimmed (every file).",
    "label_variant": "Label spellings the export uses (the variants listed above, any capitalisation, runs "
                     "of spaces) are mapped to the dictionary's labels; an unknown spelling stops cleaning.",
    "non_iso_date": "Submission times written DD/MM/YYYY HH:MM or YYYY-MM-DDTHH:MM:SSZ are parsed like "
                    "the usual YYYY-MM-DD HH:MM:SS; all are UTC. Any other format stops cleaning.",
    "unknown_participant": "Submissions whose participant_id is not in participants.csv are dropped.",
    "no_consent": "People who did not consent are dropped from participants, and their submissions from "
                  "the survey: a response without consent never reaches processed data.",
    "duplicate": "Of several submissions by one person, the latest complete one is kept (the latest "
                 "partial one if none is complete); the others are dropped.",
    "not_answered": f"{dd.NOT_ANSWERED} (not answered) cells are set to missing.",
    "dont_know": f"{dd.DONT_KNOW} (don't know) cells are set to missing: it is not a point on the scale.",
    "partial": "Responses with blank items are kept; the worth index needs a documented minimum of "
               "answered items.",
    "free_text": "Comments are not kept: free text may identify people.",
}
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}
_SHOWN = 40


@dataclass
class Cleaned:
    tables: dict[str, pd.DataFrame]
    report: pd.DataFrame


class _Report:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, rule: str, table: str, rows: int, action: str) -> None:
        self.rows.append({"rule": rule, "file": dd.RAW_FILES[table], "rows_affected": int(rows), "action": action})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=REPORT_COLUMNS).astype({"rows_affected": "int64"})


def _shown(value: object) -> str:
    """A cell as quoted in a message: long cells are cut so the message stays one line."""
    text = str(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def _trim(table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    stripped = table.apply(lambda column: column.str.strip())
    return stripped, int((stripped != table).any(axis=1).sum())


def _labels(frame: pd.DataFrame, table: dd.Table, file: object) -> tuple[pd.DataFrame, int]:
    frame = frame.copy()
    varied = pd.Series(False, index=frame.index)
    for column in table.columns:
        if column.kind != "label":
            continue
        values = frame[column.name]
        blank = values == ""
        mapped = values.map(dd.normal_spelling).map(column.spellings())
        unknown = mapped.isna() & ~(blank & column.nullable)
        if unknown.any():
            line = unknown.idxmax()
            message = "a value is required" if blank[line] else f"unknown label '{_shown(values[line])}'"
            raise IsspError(message, file=file, row=line, column=column.name,
                            rule=f"labels of the data dictionary: {', '.join(column.labels)}",
                            fix="correct the value, or add this spelling to the label's variants in "
                                "issp_research.dictionary")
        varied |= ~blank & (mapped != values)
        frame[column.name] = pd.Categorical(mapped.where(~blank), categories=column.labels)
    return frame, int(varied.sum())


def _required(frame: pd.DataFrame, table: dd.Table, file: object) -> None:
    """Ids, texts and dates the dictionary does not allow to be blank."""
    for column in table.columns:
        if column.kind in ("id", "text", "datetime") and not column.nullable:
            blank = frame[column.name] == ""
            if blank.any():
                raise IsspError("a value is required", file=file, row=blank.idxmax(), column=column.name,
                                rule=f"{column.name} is never blank", fix="fill in the value in a new export")


def _parse_values(frame: pd.DataFrame, table: dd.Table, file: object) -> pd.DataFrame:
    """Numbers and booleans from text, with the first bad cell named."""
    frame = frame.copy()
    for column in table.columns:
        if column.kind not in ("int", "float", "bool"):
            continue
        text = frame[column.name]
        blank = text == ""
        if column.kind == "bool":
            lowered = text.str.lower()
            values = pd.Series(pd.NA, index=text.index, dtype="boolean")
            values[lowered.isin(_TRUE)] = True
            values[lowered.isin(_FALSE)] = False
            bad = values.isna() & ~(blank & column.nullable)
            expected = "true or false"
        else:
            values = pd.to_numeric(text.where(~blank), errors="coerce").astype("float64")
            bad = (values.isna() & ~blank) | (blank & ~column.nullable)
            expected = "a whole number" if column.kind == "int" else "a number"
            if column.kind == "int":
                bad |= values.notna() & (values != values.round())
            if column.minimum is not None:
                bad |= values.notna() & ((values < column.minimum) | (values > column.maximum))
                expected += f" from {column.minimum:g} to {column.maximum:g}"
        if bad.any():
            line = bad.idxmax()
            raise IsspError(f"'{_shown(text[line])}' is not {expected}", file=file, row=line, column=column.name,
                            rule=f"type of {column.name} in the data dictionary",
                            fix="correct the value in a new export")
        frame[column.name] = values.astype("Int64") if column.kind == "int" else values
    return frame


def _unique_key(frame: pd.DataFrame, table: dd.Table, file: object) -> None:
    duplicated = frame[table.key].duplicated()
    if duplicated.any():
        line = duplicated.idxmax()
        raise IsspError(f"duplicate id '{_shown(frame.at[line, table.key])}'", file=file, row=line,
                        column=table.key, rule="ids are unique", fix="give each row its own id")


def _known(frame: pd.DataFrame, column: str, file: object, parent: pd.DataFrame, parent_table: str) -> None:
    unknown = ~frame[column].isin(parent[column])
    if unknown.any():
        line = unknown.idxmax()
        raise IsspError(f"'{_shown(frame.at[line, column])}' is not in {dd.RAW_FILES[parent_table]}", file=file,
                        row=line, column=column, rule="every reference points at an existing row",
                        fix=f"correct the id or add the row to {dd.RAW_FILES[parent_table]}")


def _state_types(schools: pd.DataFrame, file: object) -> None:
    """A state school says which kind it is; an independent school has no state type."""
    wrong = (schools["sector"] == "state") != schools["state_type"].notna()
    if wrong.any():
        line = wrong.idxmax()
        given = "no state_type" if pd.isna(schools.at[line, "state_type"]) else "a state_type"
        raise IsspError(f"a {schools.at[line, 'sector']} school with {given}", file=file, row=line,
                        column="state_type", rule="state_type is given for state schools and only for them",
                        fix="correct sector or state_type in a new export")


def _submission_times(text: pd.Series, file: object) -> tuple[pd.Series, int]:
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    usual, *others = dd.DATE_FORMATS
    non_iso = pd.Series(False, index=text.index)
    for pattern in (usual, *others):
        todo = parsed.isna()
        attempt = pd.to_datetime(text[todo], format=pattern, errors="coerce", utc=True)
        parsed[todo] = attempt
        if pattern != usual:
            non_iso[todo] = attempt.notna()
    if parsed.isna().any():
        line = parsed.isna().idxmax()
        raise IsspError(f"'{_shown(text[line])}' is not a date and time in a known format", file=file,
                        row=line, column="submitted_at", rule="dates as YYYY-MM-DD HH:MM:SS, "
                        "YYYY-MM-DDTHH:MM:SSZ or DD/MM/YYYY HH:MM",
                        fix="correct the value, or add its format to DATE_FORMATS in issp_research.dictionary")
    return parsed, int(non_iso.sum())


def _scores(survey: pd.DataFrame, file: object) -> pd.DataFrame:
    """Likert cells as numbers; blank stays blank; anything but 1..5, -99 and 6 is refused."""
    items = survey[list(dd.ITEMS)]
    numbers = items.apply(lambda column: pd.to_numeric(column.where(column != ""), errors="coerce"))
    allowed = numbers.isin([*range(dd.LIKERT_MIN, dd.LIKERT_MAX + 1), *dd.MISSING_CODES])
    bad = ~allowed & (items != "")
    if bad.any().any():
        line = bad.any(axis=1).idxmax()
        column = bad.loc[line].idxmax()
        raise IsspError(f"unknown code '{_shown(items.at[line, column])}'", file=file, row=line,
                        column=column, rule=f"scores {dd.LIKERT_MIN}-{dd.LIKERT_MAX}, {dd.NOT_ANSWERED} not answered, "
                        f"{dd.DONT_KNOW} don't know, or blank",
                        fix="check the survey platform's coding and export again")
    return numbers.astype("Int64")


def clean_tables(raw: dict[str, pd.DataFrame], key: bytes, raw_dir: str | Path | None = None) -> Cleaned:
    """Processed tables and the cleaning report from the raw tables (as read by io.read_raw_folder).

    ``raw_dir`` only makes messages name the files with their folder.
    """
    files = {name: Path(raw_dir) / file if raw_dir is not None else file for name, file in dd.RAW_FILES.items()}
    report = _Report()
    parsed = {}
    for name, frame in raw.items():
        table = dd.RAW_TABLES[name]
        frame, trimmed = _trim(frame)
        report.add("whitespace", name, trimmed, "stray spaces trimmed")
        _required(frame, table, files[name])
        if any(column.kind == "label" for column in table.columns):
            frame, varied = _labels(frame, table, files[name])
            report.add("label_variant", name, varied, "label spellings mapped to the data dictionary's labels")
        _unique_key(frame, table, files[name])
        parsed[name] = _parse_values(frame, table, files[name])
    partnerships, schools, participants, survey = (
        parsed["partnerships"], parsed["schools"], parsed["participants"], parsed["survey"])
    _known(schools, "partnership_id", files["schools"], partnerships, "partnerships")
    _known(participants, "school_id", files["participants"], schools, "schools")
    _state_types(schools, files["schools"])

    survey = survey.copy()
    survey["submitted_at"], non_iso = _submission_times(survey["submitted_at"], files["survey"])
    report.add("non_iso_date", "survey", non_iso, "dates in other formats parsed; all stored as UTC")
    scores = _scores(survey, files["survey"])

    known = survey["participant_id"].isin(participants["participant_id"])
    report.add("unknown_participant", "survey", (~known).sum(), "dropped: not on the participant list")
    consenting = participants.loc[participants["consent"] == "yes", "participant_id"]
    report.add("no_consent", "participants", len(participants) - len(consenting), "dropped: did not consent")
    consented = survey["participant_id"].isin(consenting)
    report.add("no_consent", "survey", (known & ~consented).sum(), "dropped: the respondent did not consent")
    survey, scores = survey[known & consented], scores[known & consented]

    # Keep the latest complete submission of each person; the latest partial one if none is complete.
    # Ties in time (DD/MM/YYYY HH:MM has no seconds) go to the row further down the export.
    complete = scores.notna().all(axis=1)
    order = pd.DataFrame({"participant_id": survey["participant_id"], "complete": complete,
                          "submitted_at": survey["submitted_at"], "row": survey.index})
    keep = order.sort_values(["participant_id", "complete", "submitted_at", "row"]).groupby(
        "participant_id", sort=False).tail(1).index
    report.add("duplicate", "survey", len(survey) - len(keep),
               "dropped: earlier or incomplete duplicates; kept the latest complete submission")
    survey, scores = survey.loc[sorted(keep)], scores.loc[sorted(keep)]

    for rule, code, action in (
            ("not_answered", dd.NOT_ANSWERED, f"{dd.NOT_ANSWERED} (not answered) set to missing"),
            ("dont_know", dd.DONT_KNOW, f"{dd.DONT_KNOW} (don't know) set to missing: not a score")):
        report.add(rule, "survey", (scores == code).any(axis=1).sum(), action)
    report.add("partial", "survey", scores.isna().any(axis=1).sum(),
               "kept; worth is computed only where enough items are answered")
    report.add("free_text", "survey", (survey["comment"] != "").sum(), "comments not kept: free text may identify")
    scores = scores.mask(scores.isin(list(dd.MISSING_CODES))).astype("Int8")

    participants = participants[participants["consent"] == "yes"]
    tables = _pseudonymised(partnerships, schools, participants, survey, scores, key)
    return Cleaned(tables=tables, report=report.frame())


def _pseudonymised(partnerships, schools, participants, survey, scores, key) -> dict[str, pd.DataFrame]:
    """The processed tables: raw ids replaced by keyed pseudonyms, only the dictionary's columns kept."""
    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{kind: pseudonym.pseudonymise(frame[raw], kind, key).astype("string")
                               for raw, kind in dd.PSEUDONYM_OF.items() if raw in frame.columns})

    out = {
        "partnerships": keyed(partnerships),
        "schools": keyed(schools),
        "participants": keyed(participants),
        "responses": keyed(pd.concat([survey[["participant_id", "submitted_at"]], scores], axis=1)),
    }
    tables = {}
    for name, frame in out.items():
        table = dd.PROCESSED_TABLES[name]
        frame = frame[table.names].sort_values(table.key).reset_index(drop=True)
        tables[name] = frame.astype({c.name: "float64" for c in table.columns if c.kind == "float"})
    return tables


def write_processed(cleaned: Cleaned, out_dir: str | Path, report_path: str | Path | None = None) -> list[Path]:
    """Validate every table, then write them all (Parquet) and the report (CSV)."""
    out_dir = Path(out_dir)
    for name, frame in cleaned.tables.items():
        validate_processed(name, frame, str(out_dir / f"{name}.parquet"))
    written = []
    for name, frame in cleaned.tables.items():
        path = out_dir / f"{name}.parquet"
        with atomic.atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
        written.append(path)
    if report_path is not None:
        atomic.write_text(report_path, cleaned.report.to_csv(index=False, lineterminator="\n"))
        written.append(Path(report_path))
    return written


def clean_folder(raw_dir: str | Path, out_dir: str | Path, report_path: str | Path | None = None) -> Cleaned:
    """The whole cleaning step: verify, read, clean, validate, write."""
    for target in (out_dir, None if report_path is None else Path(report_path).parent):
        if target is not None and Path(target).resolve() == Path(raw_dir).resolve():
            raise IsspError("an output would be written into the raw data folder", file=target,
                            rule="raw data are never modified", fix="write processed data and the report elsewhere")
    raw = io.read_raw_folder(raw_dir)
    cleaned = clean_tables(raw, pseudonym.load_key(raw_dir), raw_dir)
    write_processed(cleaned, out_dir, report_path)
    return cleaned


def read_processed(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The processed tables, checked against the dictionary on the way in."""
    folder = Path(folder)
    tables = {}
    for name in dd.PROCESSED_TABLES:
        path = folder / f"{name}.parquet"
        try:
            frame = pd.read_parquet(path, engine="pyarrow")
        except FileNotFoundError:
            raise IsspError("processed table not found", file=path, rule="cleaning runs first",
                            fix="run `make all` (or `issp-research clean`) to build the processed data") from None
        except Exception as error:  # pyarrow raises several unrelated types for a damaged file
            raise IsspError(f"not a readable Parquet file ({type(error).__name__})", file=path,
                            rule="processed data are rebuilt, never edited",
                            fix="delete it and run `make all`") from None
        tables[name] = validate_processed(name, frame, str(path))
    return tables


def table_sizes(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows per processed table, as shown at the end of cleaning."""
    return pd.DataFrame({"table": list(tables), "rows": [len(frame) for frame in tables.values()]})
