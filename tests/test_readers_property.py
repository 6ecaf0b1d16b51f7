"""Every reader of a file a person hands the project either reads it or raises IsspError.

Property-based (hypothesis): random bytes, and random CSV/YAML/XML/zip shapes built near the real
formats so the fuzzing gets past the first check. Anything but IsspError (a KeyError, an
OverflowError, a TypeError from pandas) would reach the user as a traceback instead of a message that
says where the mistake is and how to fix it. Specific bad inputs (unknown labels, renamed columns,
hostile QDA files) have their own example tests in test_io.py, test_clean.py and test_qda.py (and
test_io.py fuzzes the bytes of one raw table); this file checks the contract for every reader, through
files, on inputs nobody thought of.

Runs are derandomized (the same examples on every run, for CI) and write only to temporary folders.
Each bug the fuzzing found is kept as an `@example` of its property and as a plain example test below.
"""

from __future__ import annotations

import csv
import io as stdio
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from issp_research import build, clean, io, qda, results, simulate
from issp_research import dictionary as dd
from issp_research.errors import IsspError
from issp_research.figures import national

FUZZ = settings(derandomize=True, deadline=None, max_examples=60, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ------------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------------

#: Characters that break parsers: separators, quotes, line ends, NUL, a BOM, a non-breaking space,
#: a right-to-left mark, an astral character, digits that are not ASCII, a lone surrogate's neighbour.
NASTY = list(',;"\'\n\r\t \x00\ufeff\u00a0\u200f\U0001f600\u0661\u00b2\u00e9\\{}[]:-#&<>!*|%')
CELLS = st.one_of(
    st.sampled_from(["", " ", "NA", "nan", "NaN", "inf", "-inf", "1e400", "-0", "0", "1", "-1", "2017", "1,234",
                     "99999999999999999999999", "2021-13-45 25:61:61", "31/02/2021 10:00", "true", "yes", "-99",
                     "6", "independent", "INDEPENDENT ", "state", "P-0001", "null", "~", "\u0661\u0662", "\u00b2"]),
    st.text(alphabet=st.sampled_from(NASTY) | st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def _header(columns: list[str]) -> st.SearchStrategy[list[str]]:
    """The expected header, or one with a column dropped, renamed, repeated, added, re-cased or shuffled."""
    def mutate(draw_columns: list[str], how: str, index: int, extra: str) -> list[str]:
        header = list(draw_columns)
        index %= len(header)
        if how == "drop":
            del header[index]
        elif how == "rename":
            header[index] = header[index][:-1] + "x"
        elif how == "repeat":
            header.append(header[index])
        elif how == "add":
            header.insert(index, extra)
        elif how == "case":
            header[index] = f" {header[index].upper()} "
        elif how == "reverse":
            header.reverse()
        return header

    return st.builds(mutate, st.just(columns),
                     st.sampled_from(["same", "same", "same", "drop", "rename", "repeat", "add", "case", "reverse"]),
                     st.integers(0, 100), CELLS)


@st.composite
def csv_bytes(draw, columns: list[str]) -> bytes:
    """A CSV near the expected one: a (maybe mutated) header, rows of the right length or one off."""
    header = draw(_header(columns))
    rows = draw(st.lists(st.integers(-1, 1).flatmap(
        lambda off: st.lists(CELLS, min_size=max(len(header) + off, 0), max_size=max(len(header) + off, 0))),
        max_size=6))
    if draw(st.booleans()):
        rows = [[*row, ""] for row in rows]  # every row one value longer than the header: pandas' index trap
    buffer = stdio.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONE]))
    if quoting == csv.QUOTE_NONE:  # written naively: separators and quotes in cells change the shape
        text = "\n".join(",".join(row) for row in [header, *rows])
    else:
        csv.writer(buffer, quoting=quoting, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"]))).writerows(
            [header, *rows])
        text = buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]  # truncated export
    return data


def any_bytes(columns: list[str] | None = None) -> st.SearchStrategy[bytes]:
    shapes = [st.binary(max_size=400)]
    if columns is not None:
        shapes.append(csv_bytes(columns))
    return st.one_of(*shapes)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def reads_or_refuses(read, *args):
    """The contract: a result, or an IsspError; anything else propagates and fails the test."""
    try:
        return read(*args)
    except IsspError as error:
        assert str(error).strip(), "an IsspError without a message"
        return None


# ------------------------------------------------------------------------------------------------
# Raw survey export and its checksums (io)
# ------------------------------------------------------------------------------------------------

@FUZZ
@given(table=st.sampled_from(sorted(dd.RAW_TABLES)), data=st.data())
def test_read_raw_table_reads_or_refuses(table, data):
    spec = dd.RAW_TABLES[table]
    raw = data.draw(any_bytes(spec.names), label="bytes")
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), dd.RAW_FILES[table], raw)
        frame = reads_or_refuses(io.read_raw_table, path, spec)
        if frame is not None:
            assert sorted(frame.columns) == sorted(spec.names)
        # the same bytes handed in as already read (the checksum path) behave the same
        again = reads_or_refuses(io.read_raw_table, path, spec, raw)
        assert (frame is None) == (again is None)


def _sums_line(digest: str, name: str, sep: str) -> str:
    return f"{digest}{sep}{name}"


SUMS_TEXT = st.lists(st.builds(_sums_line, st.sampled_from(["a" * 64, "A" * 64, "g" * 64, "a" * 63, "", "a" * 65]),
                               st.sampled_from(["survey.csv", "*survey.csv", "", " ", "a  b.csv", "\u00e9.csv"]),
                               st.sampled_from(["  ", " ", "\t", " *", ""])), max_size=5).map(
    lambda lines: "\n".join(lines).encode("utf-8"))


@FUZZ
@given(raw=st.one_of(st.binary(max_size=400), SUMS_TEXT))
def test_read_checksums_reads_or_refuses(raw):
    with tempfile.TemporaryDirectory() as folder:
        _write(Path(folder), io.CHECKSUMS, raw)
        sums = reads_or_refuses(io.read_checksums, Path(folder))
        if sums is not None:
            assert all(isinstance(k, str) and len(v) == 64 for k, v in sums.items())


# ------------------------------------------------------------------------------------------------
# Coded interviews (qda): .qdpx, .qde, segments CSV
# ------------------------------------------------------------------------------------------------

def _zip(members: dict[str, bytes]) -> bytes:
    buffer = stdio.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


POSITIONS = st.sampled_from(["0", "1", "3", "5", "-1", "", "x", " 2", "+1", "\u00b2", "\u0661", "9" * 30, "9" * 5000,
                             "1.5"])
GUIDS = st.sampled_from(["", "a", "{A}", "8f1c", "8F1C", "  "])


@st.composite
def qde_xml(draw) -> bytes:
    """A REFI-QDA project with random users, codes, a source with selections, cases and variables."""
    ns = draw(st.sampled_from(['xmlns="urn:QDA-XML:project:1.0"', "", 'xmlns="urn:other"']))
    origin = draw(st.sampled_from(["qc 1.3.2", "NVivo 14", "MAXQDA 2022", ""]))
    text = draw(st.text(alphabet=st.sampled_from(list("ab \n\r\U0001f600\u00e9")), max_size=8))
    text_xml = text.replace("\r", "&#13;")
    selections = "".join(
        f'<PlainTextSelection guid="{draw(GUIDS)}" startPosition="{draw(POSITIONS)}" endPosition="{draw(POSITIONS)}"'
        f' creatingUser="{draw(GUIDS)}"><Coding guid="c{i}"><CodeRef targetGUID="{draw(GUIDS)}"/></Coding>'
        f"</PlainTextSelection>" for i in range(draw(st.integers(0, 3))))
    content = draw(st.sampled_from([f"<PlainTextContent>{text_xml}</PlainTextContent>", "",
                                    "<PlainTextContent/>"]))
    path = draw(st.sampled_from(["", ' plainTextPath="internal://a.txt"', ' plainTextPath="a.txt"',
                                 ' plainTextPath="relative://nowhere.txt"', ' plainTextPath="ftp://x"',
                                 ' plainTextPath="internal://"']))
    source = draw(st.sampled_from(["TextSource", "PDFSource", "AudioSource"]))
    codes = "".join(f'<Code guid="{draw(GUIDS)}" name="k{i}" isCodable="{draw(st.sampled_from(["true", "0", "x"]))}">'
                    f"<Description>d</Description></Code>" for i in range(draw(st.integers(0, 2))))
    value = draw(st.sampled_from(["<IntegerValue>1</IntegerValue>", "<IntegerValue>" + "9" * 5000 + "</IntegerValue>",
                                  "<FloatValue>x</FloatValue>", "<BooleanValue>1</BooleanValue>",
                                  "<TextValue/>", ""]))
    cases = (f'<Cases><Case guid="{draw(GUIDS)}" name="P1"><SourceRef targetGUID="{draw(GUIDS)}"/>'
             f'<VariableValue><VariableRef targetGUID="{draw(GUIDS)}"/>{value}</VariableValue></Case></Cases>')
    xml = (f'<?xml version="1.0" encoding="utf-8"?><Project {ns} name="p" origin="{origin}">'
           f'<Users><User guid="{draw(GUIDS)}" name="coder_a"/></Users>'
           f"<CodeBook><Codes>{codes}</Codes></CodeBook>"
           f'<Variables><Variable guid="{draw(GUIDS)}" name="role" typeOfVariable="Text"/></Variables>'
           f'<Sources><{source} guid="{draw(GUIDS)}" name="INT-01"{path}>{content}{selections}</{source}></Sources>'
           f"{cases}<Notes><Note guid='n'/></Notes></Project>")
    data = xml.encode("utf-8")
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    return data


@st.composite
def qdpx_zip(draw) -> bytes:
    """A .qdpx zip holding a random project and source texts, maybe with bytes overwritten."""
    members = {draw(st.sampled_from(["project.qde", "PROJECT.QDE", "other.qde"])): draw(qde_xml())}
    members.update({f"{draw(st.sampled_from(['sources', 'Sources']))}/a.txt":
                    draw(st.binary(max_size=20) | st.text(max_size=10).map(str.encode))})
    data = bytearray(_zip(members))
    for _ in range(draw(st.integers(0, 3))):  # damage: overwrite bytes anywhere (headers, sizes, offsets)
        at = draw(st.integers(0, len(data) - 1))
        data[at:at + 4] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


QDA_BYTES = st.one_of(
    st.binary(max_size=400),
    st.binary(max_size=200).map(lambda tail: b"PK\x03\x04" + tail),
    st.binary(max_size=200).map(lambda tail: b"<" + tail),
    qde_xml(),
    qdpx_zip(),
)


def _qdpx_with(change) -> bytes:
    qde = (b'<Project name="p"><Sources><TextSource guid="s" name="A" plainTextPath="internal://a.txt"/></Sources>'
           b"</Project>")
    return change(_zip({"project.qde": qde, "sources/a.txt": b"hello world " * 20}))


def _zip_version_64(data: bytes) -> bytes:
    """Claim 'version needed to extract: 6.4' in the central directory (zipfile supports up to 6.3)."""
    at = data.index(b"PK\x01\x02") + 6
    return data[:at] + (64).to_bytes(2, "little") + data[at + 2:]


def _bad_deflate_block(data: bytes) -> bytes:
    """Make project.qde's first deflate block the reserved type 3 (its data start at byte 30 + 11)."""
    return data[:41] + b"\x07" + data[42:]


SUPERSCRIPT_POSITION = ('<Project origin="qc"><Sources><TextSource guid="s"><PlainTextContent>\U0001f600'
                        '</PlainTextContent><PlainTextSelection guid="x" startPosition="0" endPosition="\u00b2"/>'
                        "</TextSource></Sources></Project>").encode()


@FUZZ
@given(raw=QDA_BYTES, suffix=st.sampled_from([".qdpx", ".qde"]))
@example(raw=SUPERSCRIPT_POSITION, suffix=".qde")
@example(raw=_qdpx_with(_zip_version_64), suffix=".qdpx")
@example(raw=_qdpx_with(_bad_deflate_block), suffix=".qdpx")
def test_read_qdpx_reads_or_refuses(raw, suffix):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "sources").mkdir()
        reads_or_refuses(qda.read_qdpx, _write(Path(folder), "interviews" + suffix, raw))


@pytest.fixture(scope="module")
def codebook() -> pd.DataFrame:
    return qda.load_codebook()


@FUZZ
@given(raw=any_bytes(qda.SEGMENTS_CSV_COLUMNS), with_codebook=st.booleans())
@example(raw=b"interview,participant,code,coder,start,end,text\nINT-1,P1,staff_time,coder_a,1,99999999999999999999999,t\n",
         with_codebook=False)
def test_read_segments_csv_reads_or_refuses(codebook, raw, with_codebook):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), "segments.csv", raw)
        project = reads_or_refuses(qda.read_segments_csv, path, codebook if with_codebook else None)
        if project is not None:
            assert list(project.segments.columns) == qda.SEGMENT_COLUMNS


# ------------------------------------------------------------------------------------------------
# The ISC census table (figures.national)
# ------------------------------------------------------------------------------------------------

CENSUS_HEADER = ",".join(national.COLUMNS)


@FUZZ
@given(raw=any_bytes(national.COLUMNS))
@example(raw=f"{CENSUS_HEADER}\ninf,1,1,1,1,1,1,1,src\n".encode())
@example(raw=f"{CENSUS_HEADER}\n2017,1,1,1,1,1,1,1,src,extra\n".encode())
def test_read_isc_census_reads_or_refuses(raw):
    with tempfile.TemporaryDirectory() as folder:
        census = reads_or_refuses(national.read_isc_census, _write(Path(folder), "census.csv", raw))
        if census is not None:
            assert list(census.columns) == national.COLUMNS


# ------------------------------------------------------------------------------------------------
# The parameters file (build)
# ------------------------------------------------------------------------------------------------

PARAM_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), CELLS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(CELLS, inner, max_size=3), max_leaves=8)


@st.composite
def yaml_bytes(draw) -> bytes:
    """A YAML parameters file: real sections with random values, then maybe damaged."""
    sections = draw(st.dictionaries(st.sampled_from(["01_clean", "02_worth_models", "03_interviews", "04_figures",
                                                     "sensitivity", "99_none"]) | CELLS,
                                    st.none() | st.dictionaries(CELLS, PARAM_VALUES, max_size=3) | PARAM_VALUES,
                                    max_size=4))
    text = yaml.safe_dump(sections, allow_unicode=draw(st.booleans()))
    for _ in range(draw(st.integers(0, 2))):  # damage: insert a YAML-significant character anywhere
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(list(":-[]{}&*!|>'\"%@`#\t\n "))) + text[at:]
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"])), errors="replace")


@FUZZ
@given(raw=st.one_of(st.binary(max_size=300), yaml_bytes()))
@example(raw=b"02_worth_models:\n  reml: \xff\n")
@example(raw=b"[" * 1000)
def test_load_params_reads_or_refuses(raw):
    with tempfile.TemporaryDirectory() as folder:
        params = reads_or_refuses(build.load_params, _write(Path(folder), "params.yaml", raw))
        if params is not None:
            assert isinstance(params, dict)
            assert all(isinstance(section, (dict, type(None))) for section in params.values())


@FUZZ
@given(sections=st.dictionaries(st.sampled_from(["01_clean", "02_worth_models", "03_interviews", "04_figures",
                                                 "sensitivity"]),
                                st.dictionaries(st.sampled_from(["raw_dir", "reml", "model_terms", "survey_year",
                                                                 "worth_definitions", "model_specifications",
                                                                 "notebook", "min_cell_count", "unknown"]),
                                                PARAM_VALUES, max_size=3), max_size=3))
def test_check_params_file_accepts_or_refuses_any_yaml_mapping(sections):
    """Past the YAML layer, the section checks see every kind of value and still only say IsspError."""
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), "params.yaml", yaml.safe_dump(sections).encode())
        reads_or_refuses(build.check_params_file, path)


# ------------------------------------------------------------------------------------------------
# Parquet handed between notebooks (results, clean.read_processed)
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good_processed(tmp_path_factory) -> Path:
    """Processed tables made by cleaning the simulated demo data (not read from the shared work tree)."""
    base = tmp_path_factory.mktemp("processed")
    simulate.write_raw(simulate.simulate(2021, 1), base / "raw")
    clean.clean_folder(base / "raw", base / "processed")
    return base / "processed"


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = stdio.BytesIO()
    frame.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


FRAMES = st.lists(st.sampled_from(["participant_id", "school_id", "sector", "B01", "x"]), min_size=1, max_size=3,
                  unique=True).flatmap(lambda names: st.fixed_dictionaries(
                      {name: st.lists(st.one_of(st.integers(-5, 9), st.text(max_size=3), st.none()), min_size=2,
                                      max_size=2).map(lambda v: pd.Series(v, dtype="object").astype(str))
                       for name in names})).map(pd.DataFrame)


def _damaged(good: bytes, draw) -> bytes:
    """Good Parquet truncated or overwritten somewhere (the footer holds the schema)."""
    data = bytearray(good)
    if draw(st.booleans()):
        return bytes(data[:draw(st.integers(0, len(data)))])
    at = draw(st.integers(0, len(data) - 1))
    data[at:at + 8] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@FUZZ
@given(kind=st.sampled_from(["random bytes", "damaged", "good"]), data=st.data())
def test_results_load_reads_or_refuses(kind, data):
    good = _parquet_bytes(pd.DataFrame({"term": ["a", "b"], "estimate": [0.5, 1.5]}))
    raw = {"random bytes": lambda: data.draw(st.binary(max_size=300), label="bytes"),
           "damaged": lambda: _damaged(good, data.draw), "good": lambda: good}[kind]()
    with tempfile.TemporaryDirectory() as folder:
        _write(Path(folder), "fixed_effects.parquet", raw)
        frames = reads_or_refuses(results.load, Path(folder), "fixed_effects")
        if kind == "good":
            assert frames is not None and list(frames["fixed_effects"].columns) == ["term", "estimate"]


def _processed_folder(folder: Path, good_processed: Path, table: str, raw: bytes) -> Path:
    """Good processed tables, but `table` replaced by `raw`."""
    for name in dd.PROCESSED_TABLES:
        (folder / f"{name}.parquet").write_bytes((good_processed / f"{name}.parquet").read_bytes())
    _write(folder, f"{table}.parquet", raw)
    return folder


@FUZZ
@given(table=st.sampled_from(sorted(dd.PROCESSED_TABLES)), kind=st.sampled_from(["random bytes", "damaged"]),
       data=st.data())
def test_read_processed_refuses_one_bad_file_among_good_ones(good_processed, table, kind, data):
    good = (good_processed / f"{table}.parquet").read_bytes()
    raw = data.draw(st.binary(max_size=300), label="bytes") if kind == "random bytes" else _damaged(good, data.draw)
    with tempfile.TemporaryDirectory() as folder:
        tables = reads_or_refuses(clean.read_processed, _processed_folder(Path(folder), good_processed, table, raw))
        if kind == "random bytes":
            assert tables is None, f"random bytes in {table}.parquet were read as processed data"
        elif tables is not None:  # a damaged byte in padding or statistics can be harmless
            assert set(tables) == set(dd.PROCESSED_TABLES)


@FUZZ
@given(table=st.sampled_from(sorted(dd.PROCESSED_TABLES)),
       source=st.one_of(st.sampled_from(sorted(dd.PROCESSED_TABLES)), FRAMES))
@example(table="participants", source="partnerships")
def test_read_processed_refuses_valid_parquet_of_the_wrong_shape(good_processed, table, source):
    """Readable Parquet that is not this table: another processed table, or any small frame."""
    if isinstance(source, str):
        assume(source != table)
        raw = (good_processed / f"{source}.parquet").read_bytes()
    else:
        raw = _parquet_bytes(source)
    with tempfile.TemporaryDirectory() as folder:
        tables = reads_or_refuses(clean.read_processed, _processed_folder(Path(folder), good_processed, table, raw))
        assert tables is None, f"data that are not the {table} table were read as {table}"


# ------------------------------------------------------------------------------------------------
# The bugs the properties found, one plain example each (the same cases as the @example above)
# ------------------------------------------------------------------------------------------------

def _refused(read, *args) -> IsspError:
    with pytest.raises(IsspError) as caught:
        read(*args)
    return caught.value


def test_parameters_file_that_is_not_utf8(tmp_path):
    path = _write(tmp_path, "params.yaml", "02_worth_models:\n  worth_definition: différence\n".encode("latin-1"))
    assert "UTF-8" in str(_refused(build.load_params, path))


def test_parameters_file_nested_too_deep(tmp_path):
    _refused(build.load_params, _write(tmp_path, "params.yaml", b"01_clean: " + b"[" * 1000))


def test_parameters_file_with_a_repeated_key(tmp_path):
    path = _write(tmp_path, "params.yaml", b"02_worth_models:\n  reml: true\n  reml: false\n")
    assert "reml" in str(_refused(build.load_params, path))


def test_census_year_that_is_infinite(tmp_path):
    _refused(national.read_isc_census, _write(tmp_path, "c.csv", f"{CENSUS_HEADER}\ninf,1,1,1,1,1,1,1,s\n".encode()))


def test_census_row_with_one_value_too_many(tmp_path):
    path = _write(tmp_path, "c.csv", f"{CENSUS_HEADER}\n2017,1,1,1,1,1,1,1,source,extra\n".encode())
    assert "value" in str(_refused(national.read_isc_census, path))


def test_census_figure_that_is_infinite(tmp_path):
    _refused(national.read_isc_census, _write(tmp_path, "c.csv", f"{CENSUS_HEADER}\n2017,1,1,1,inf,1,1,1,s\n".encode()))


def test_segments_csv_position_beyond_int64(tmp_path):
    path = _write(tmp_path, "s.csv", b"interview,participant,code,coder,start,end,text\n"
                                     b"INT-1,P1,staff_time,coder_a,1,99999999999999999999999,t\n")
    _refused(qda.read_segments_csv, path)


def test_segments_csv_row_with_one_value_too_many(tmp_path):
    path = _write(tmp_path, "s.csv", b"interview,participant,code,coder,start,end,text\n"
                                     b"INT-1,P1,staff_time,coder_a,0,9,we shared, and gained\n")
    # today: "column 'end': end is 'we shared'", a cell that is not wrong; the mistake is the row's length
    assert "value" in str(_refused(qda.read_segments_csv, path)).lower()


def test_processed_table_with_another_tables_columns(good_processed, tmp_path):
    folder = _processed_folder(tmp_path, good_processed, "participants",
                               (good_processed / "partnerships.parquet").read_bytes())
    assert "participants.parquet" in str(_refused(clean.read_processed, folder))


def test_qde_position_with_a_superscript_digit(tmp_path):
    _refused(qda.read_qdpx, _write(tmp_path, "p.qde", SUPERSCRIPT_POSITION))


def test_qdpx_with_an_unsupported_zip_version(tmp_path):
    _refused(qda.read_qdpx, _write(tmp_path, "p.qdpx", _qdpx_with(_zip_version_64)))


def test_qdpx_with_a_damaged_deflate_stream(tmp_path):
    assert "project.qde" in str(_refused(qda.read_qdpx, _write(tmp_path, "p.qdpx", _qdpx_with(_bad_deflate_block))))
