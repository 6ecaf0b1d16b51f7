"""docs/data-dictionary.md, rendered from the data dictionary so the two can never disagree.

``python -m issp_research.datadoc docs/data-dictionary.md`` rewrites the file (atomically); a test
checks that the committed file equals :func:`render`.
"""

from __future__ import annotations

import sys

from . import atomic, clean, io, pseudonym, qda
from . import dictionary as dd
from .validation import DTYPES

_KINDS = {
    "id": "id", "text": "text", "free_text": "free text", "label": "label", "int": "whole number",
    "float": "number", "bool": "true/false", "datetime": "date and time", "likert": "score 1-5",
}
_BOOLEANS = "true/false (also 1/0, yes/no, y/n, any capitalisation)"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def _header(*names: str) -> list[str]:
    return [_row(*names), _row(*("---" for _ in names))]


def _allowed(column: dd.Column, raw: bool) -> str:
    if column.labels:
        return ", ".join(f"`{label}`" for label in column.labels)
    if column.kind == "bool":
        return _BOOLEANS if raw else "true, false"
    if column.kind == "datetime":
        return ", ".join(f"`{pattern}`" for pattern in dd.DATE_FORMATS) if raw else "UTC timestamp"
    if column.minimum is not None:
        return f"{column.minimum:g} to {column.maximum:g}"
    return ""


def _missing(column: dd.Column, raw: bool) -> str:
    codes = [f"`{code}` {meaning}" for code, meaning in column.missing_codes.items()]
    return "; ".join(([("blank" if raw else "NA")] if column.nullable else []) + codes) or "never"


def _note(column: dd.Column, raw: bool) -> str:
    """What happens to a raw column on its way to processed data."""
    if not raw:
        return ""
    if column.name in dd.PSEUDONYM_OF:
        return f" Becomes the pseudonym `{dd.PSEUDONYM_OF[column.name]}`."
    if column.identifier:
        return " **Direct identifier: never leaves data/raw.**"
    if not any(column.name in table.names for table in dd.PROCESSED_TABLES.values()):
        return " Not kept in processed data."
    return ""


def _table(table: dd.Table, type_of, raw: bool) -> list[str]:
    lines = [f"{table.description} Key: `{table.key}`.", ""]
    lines += _header("column", "type", "allowed values", "missing", "description")
    scales_shown = set()
    for column in table.columns:
        if column.kind != "likert":
            lines.append(_row(f"`{column.name}`", type_of(column), _allowed(column, raw), _missing(column, raw),
                              column.description + _note(column, raw)))
        elif column.scale not in scales_shown:
            scales_shown.add(column.scale)
            items = [c.name for c in table.columns if c.scale == column.scale]
            lines.append(_row(f"`{items[0]}`..`{items[-1]}` ({len(items)} items)", type_of(column),
                              _allowed(column, raw), _missing(column, raw),
                              f"{column.scale.capitalize()} items: see [Survey items](#survey-items)."
                              + ("" if raw else " NA where the export had a blank, -99 or 6.")))
    return lines + [""]


def _variants() -> list[str]:
    lines = _header("table", "column", "label", "spellings accepted")
    for table in dd.RAW_TABLES.values():
        for column in table.columns:
            for label, spellings in column.variants.items():
                lines.append(_row(dd.RAW_FILES[table.name], f"`{column.name}`", f"`{label}`",
                                  ", ".join(f'"{spelling}"' for spelling in spellings)))
    return lines + [""]


def _items() -> list[str]:
    lines = _header("item", "scale", "wording", "tangible")
    for scale, items in (("benefit", dd.BENEFIT_ITEMS), ("cost", dd.COST_ITEMS)):
        for code, wording, tangible in items:
            lines.append(_row(f"`{code}`", scale, wording, "tangible" if tangible else "intangible"))
    return lines + [""]


def render() -> str:
    """The whole data dictionary as Markdown."""
    lines = [
        "# Data dictionary",
        "",
        "<!-- Generated from src/issp_research/dictionary.py by "
        "`python -m issp_research.datadoc docs/data-dictionary.md`. Do not edit by hand. -->",
        "",
        "The one definition of every raw and processed table of the study. The simulator, the cleaning "
        "rules, the validation of processed data (pandera) and this page are all built from "
        "`issp_research.dictionary`, so a change of column, label or range is made there once.",
        "",
        "## Raw tables (`data/raw/`)",
        "",
        "What the instruments export, never edited by hand or by code. Files are UTF-8 CSV (a byte-order "
        "mark is fine) with a header row, checked against `SHA256SUMS` before anything is read. Every cell "
        f"is read as text and parsed by the rules below; a cell holds at most {io.MAX_CELL_CHARACTERS:,} "
        "characters, and blank lines are skipped. Row numbers in messages are the file's line numbers "
        "(the header is line 1).",
        "",
    ]
    for name, table in dd.RAW_TABLES.items():
        lines += [f"### `{dd.RAW_FILES[name]}`", ""] + _table(table, lambda column: _KINDS[column.kind], raw=True)
    lines += [
        "### Label variants accepted",
        "",
        "Labels are compared after trimming, lower-casing and collapsing runs of spaces, so `Sport`, "
        "`SPORT` and ` sport ` all mean `sport`. These other spellings are accepted too (rule "
        "`label_variant`); any other value stops cleaning with a message naming the file, row and column.",
        "",
        *_variants(),
        "## Survey items",
        "",
        f"Likert scale {dd.LIKERT_MIN} = not at all .. {dd.LIKERT_MAX} = a great deal. The codes "
        f"{dd.NOT_ANSWERED} (not answered) and {dd.DONT_KNOW} (don't know) are not scores: cleaning turns "
        "them into missing values. Each item is tagged tangible or intangible for the tangible-only and "
        "intangible-only worth indices.",
        "",
        *_items(),
        "## Processed tables (`data/processed/*.parquet`)",
        "",
        "Tidy, typed, pseudonymised tables built by `issp-research clean` (notebook `01_clean`), validated "
        "against this dictionary when written and again when read. Types are pandas dtypes; labels are "
        "categories whose first label is every model's reference level.",
        "",
    ]
    for name, table in dd.PROCESSED_TABLES.items():
        lines += [f"### `{name}.parquet`", ""] + _table(table, lambda column: f"`{DTYPES[column.kind]}`", raw=False)
    lines += [
        "## Cleaning rules",
        "",
        "Each rule handles one kind of dirt and adds one line per file to the cleaning report "
        "(`analysis/tables/cleaning_report.csv`: rule, file, rows affected, action). Nothing is dropped "
        "silently.",
        "",
        *_header("rule", "what it does"),
        *(_row(f"`{rule}`", action) for rule, action in clean.RULES.items()),
        "",
        "Cleaning stops with one message (file, row or column, rule, fix) and writes nothing when a raw "
        "file is missing, changed since its checksum, empty, not UTF-8, truncated or malformed; when a "
        "column is missing, renamed or unexpected; when a cell has the wrong type, is out of range, is an "
        "unknown label or code, or is blank where a value is required; when an id is repeated or "
        "points at no row; and when `state_type` is missing for a state school or given for an "
        "independent one.",
        "",
        "## Pseudonyms",
        "",
        "Processed tables carry no raw id. Each partnership, school and participant id becomes "
        f"`PREFIX` + the first {pseudonym.DIGITS} hex digits of HMAC-SHA256(key, `kind:id`), with prefixes "
        + ", ".join(f"`{prefix}` ({kind})" for kind, prefix in pseudonym.PREFIX.items())
        + ". The same id and key always give the same pseudonym, so tables join on them; nobody without "
        "the key can link them back to the raw files.",
        "",
        f"The key comes from `${pseudonym.KEY_VARIABLE}`, or from the file named by "
        f"`${pseudonym.KEY_FILE_VARIABLE}` (refused inside the repository); at least "
        f"{pseudonym.MIN_KEY_BYTES} bytes. Only raw folders whose `simulation.json` says they are synthetic "
        f'fall back to the published demo key `"{pseudonym.DEMO_KEY.decode()}"`; real data without a key '
        "stop with a message.",
        "",
        "## Names that differ from STUDY.md",
        "",
        *_header("where", "STUDY.md", "here", "why"),
        *(_row(*rename) for rename in dd.RENAMES),
        "",
        "## Interviews and codebook",
        "",
        "Coded interviews (REFI-QDA `.qdpx` exports, or a coded-segments CSV with columns "
        + ", ".join(f"`{name}`" for name in qda.SEGMENTS_CSV_COLUMNS)
        + ") and the codebook (columns " + ", ".join(f"`{name}`" for name in qda.CODEBOOK_COLUMNS)
        + ") are read and checked by `issp_research.qda`; its module documentation describes them.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m issp_research.datadoc OUT.md", file=sys.stderr)
        return 2
    atomic.write_text(argv[0], render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
