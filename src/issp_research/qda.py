"""Coded interviews in and out of qualitative-analysis software (question 6).

Interviews are coded in NVivo, ATLAS.ti, MAXQDA, QualCoder or qc and exported as REFI-QDA
(``.qdpx``: a zip holding ``project.qde`` and ``sources/``; or a bare ``.qde``). :func:`read_qdpx`
turns any of them into one :class:`QdaProject` of tidy tables, so agreement and theme counts never
depend on which program a coder used. :func:`write_qdc` hands the study codebook to that software;
:func:`write_qdpx` writes a coded project (the synthetic demo interviews) that it can open.

Exports are treated as untrusted input: XML is parsed without DTDs or entities, zip members are read
in memory by name and never extracted, and archives whose declared sizes could exhaust memory are
refused before anything is decompressed.

Segments CSV (for researchers without QDA software)
---------------------------------------------------
:func:`read_segments_csv` reads a UTF-8 CSV (a BOM is fine), one row per coded segment, with a
header row naming these columns (in any order; case and surrounding spaces are ignored; extra
columns are ignored):

=============  ==========================================================================
interview      the interview (source) the segment comes from, e.g. ``INT-07``; required
participant    the person speaking (the case), e.g. ``P-0412``; may be blank
code           a code name from the codebook, e.g. ``staff_time``; required
coder          who applied the code, e.g. ``coder_a``; required
start, end     character positions in the interview transcript, counted in Unicode code
               points from 0, end exclusive (``transcript[start:end]`` in Python); both blank
               when the transcript is not at hand
text           the coded passage as quoted by the coder
=============  ==========================================================================

Spreadsheet row numbers in error messages count the header as row 1.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import hashlib
import io
import lzma
import os
import re
import uuid
import warnings
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Self

import defusedxml
import defusedxml.ElementTree as SafeET
import pandas as pd

from issp_research import __version__, atomic
from issp_research.errors import IsspError
from issp_research.io import first_long_row

PROJECT_NAMESPACE = "urn:QDA-XML:project:1.0"
CODEBOOK_NAMESPACE = "urn:QDA-XML:codebook:1.0"
ORIGIN = f"issp-research {__version__}"
CODEBOOK_PATH = Path(__file__).parent / "config" / "codebook.yaml"

#: Kinds of code in the study codebook: the two sides of social exchange, power relations, and
#: Ball, Maguire and Braun's policy-actor types.
KINDS = ("benefit", "cost", "power", "enactment")
CODEBOOK_COLUMNS = ["code", "parent", "kind", "tangible", "item", "definition"]
SEGMENTS_CSV_COLUMNS = ["interview", "participant", "code", "coder", "start", "end", "text"]

USER_COLUMNS = ["guid", "name"]
CODE_COLUMNS = ["guid", "name", "parent", "depth", "definition", "colour", "codable"]
SOURCE_COLUMNS = ["guid", "name", "kind", "path", "text"]
SEGMENT_COLUMNS = [
    "source_guid", "source", "case", "selection_guid", "code_guid", "code", "coder", "start", "end", "text",
]
CASE_COLUMNS = ["guid", "name", "sources"]
VARIABLE_COLUMNS = ["case", "variable", "value"]

#: Limits that stop a hostile archive before it is decompressed: real exports are a few MB.
MAX_TOTAL_BYTES = 1 << 30
MAX_COMPRESSION_RATIO = 1000

# GUIDs we write derive from names, so the same codebook or project gives the same file every run
# and QDA software recognises a re-imported code as the same code.
_GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:issp-research:qda")
_GUID_NAMESPACE_BYTES = _GUID_NAMESPACE.bytes
_UTF8_BOM = b"\xef\xbb\xbf"
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_ITEM = {"benefit": re.compile(r"^B\d\d$"), "cost": re.compile(r"^C\d\d$")}
_REEXPORT = "export the project again from the QDA software as a REFI-QDA project (.qdpx)"


@dataclass(frozen=True)
class QdaProject:
    """One coded interview project as tidy tables, whatever software wrote it.

    ``start``/``end`` in ``segments`` are code-point positions in the source's ``text`` (Python
    slices), whatever unit the exporting software counted in (``position_unit``). ``warnings`` lists
    what the file held that the tables leave out (dangling references, missing texts, media
    selections), so nothing is dropped silently.
    """

    users: pd.DataFrame
    codes: pd.DataFrame
    sources: pd.DataFrame
    segments: pd.DataFrame
    cases: pd.DataFrame
    variables: pd.DataFrame
    origin: str
    namespace: str
    position_unit: str = "codepoint"
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# Reading REFI-QDA
# --------------------------------------------------------------------------------------------

def read_qdpx(path: str | os.PathLike[str]) -> QdaProject:
    """Read a REFI-QDA project (``.qdpx`` zip or bare ``.qde``) into tidy tables."""
    path = Path(path)
    if not path.is_file():
        raise IsspError("no such file", file=path, rule="the interview export must exist",
                        fix="check the path; export the project from the QDA software as REFI-QDA (.qdpx)")
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        with _Archive(path) as archive:
            qde = archive.read_project()
            return _project_from_xml(qde, f"{path}!project.qde", _SourceFiles(path, archive))
    if _looks_like_xml(head):
        if path.stat().st_size > MAX_TOTAL_BYTES:
            raise IsspError(f"the file is {path.stat().st_size} bytes", file=path,
                            rule=f"a project file is at most {MAX_TOTAL_BYTES} bytes", fix=_REEXPORT)
        return _project_from_xml(path.read_bytes(), str(path), _SourceFiles(path, None))
    raise IsspError("the file is neither a zip (.qdpx) nor XML (.qde)", file=path,
                    rule="REFI-QDA projects are .qdpx zips or .qde XML files", fix=_REEXPORT)


def _looks_like_xml(head: bytes) -> bool:
    for bom in (_UTF8_BOM, b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            return True
    return head.lstrip().startswith(b"<")


class _Archive:
    """A .qdpx opened for reading members in memory by name; nothing is extracted to disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, NotImplementedError, EOFError, ValueError) as exc:
            raise IsspError(f"not a readable zip: {exc}", file=path, rule="a .qdpx is a zip archive",
                            fix=_REEXPORT) from None
        self.members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in self.zip.infolist():
            self._refuse_unsafe(info)
            total += info.file_size
            self.members.setdefault(info.filename.lower(), info)
        if total > MAX_TOTAL_BYTES:
            self.zip.close()
            raise IsspError(f"the members declare {total} bytes in all", file=path,
                            rule=f"a .qdpx unpacks to at most {MAX_TOTAL_BYTES} bytes (zip bomb guard)",
                            fix="do not open this file; " + _REEXPORT)

    def _refuse_unsafe(self, info: zipfile.ZipInfo) -> None:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in name.split("/") or "\0" in name:
            self.zip.close()
            raise IsspError(f"zip member '{info.filename}' points outside the archive", file=self.path,
                            rule="zip member names are relative and never contain '..'",
                            fix="do not open this file; " + _REEXPORT)
        if info.file_size > MAX_COMPRESSION_RATIO * info.compress_size:
            self.zip.close()
            raise IsspError(
                f"zip member '{info.filename}' declares {info.file_size} bytes from {info.compress_size}",
                file=self.path, rule=f"compression ratio at most {MAX_COMPRESSION_RATIO} (zip bomb guard)",
                fix="do not open this file; " + _REEXPORT)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zip.close()

    def read_project(self) -> bytes:
        info = self.members.get("project.qde")
        if info is None:
            names = ", ".join(sorted(i.filename for i in self.members.values())[:10])
            raise IsspError(f"no project.qde in the zip (it holds: {names})", file=self.path,
                            rule="a .qdpx holds project.qde at its root", fix=_REEXPORT)
        return self.read(info)

    def read(self, info: zipfile.ZipInfo) -> bytes:
        where = f"{self.path}!{info.filename}"
        try:
            with self.zip.open(info) as fh:
                data = fh.read(info.file_size + 1)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError, ValueError, zlib.error,
                lzma.LZMAError) as exc:
            raise IsspError(f"cannot read the zip member: {exc}", file=where,
                            rule="members are stored or deflated, unencrypted and intact",
                            fix="zip the project again without a password, or " + _REEXPORT) from None
        if len(data) != info.file_size:
            raise IsspError(f"the member's size differs from the {info.file_size} bytes it declares", file=where,
                            rule="zip members match their declared size", fix=_REEXPORT)
        return data


class _SourceFiles:
    """Finds the plain text a ``plainTextPath`` names: in the zip, or on disk beside a bare .qde."""

    def __init__(self, project_file: Path, archive: _Archive | None) -> None:
        self.project_file = project_file
        self.archive = archive
        self.base_path = ""

    def fetch(self, plain_text_path: str) -> tuple[bytes | None, str]:
        """The file's bytes (None when it is missing) and where they were looked for."""
        scheme, sep, rest = plain_text_path.partition("://")
        if not sep:  # qc writes a bare file name meaning a member of sources/
            scheme, rest = "internal", plain_text_path
        scheme = scheme.lower()
        if scheme == "internal":
            return self._internal(rest)
        if scheme == "relative":
            base = Path(self.base_path) if self.base_path else self.project_file.parent
            if not base.is_absolute():
                base = self.project_file.parent / base
            return self._disk(base / rest)
        if scheme == "absolute":
            return self._disk(Path(rest))
        return None, plain_text_path

    def _internal(self, name: str) -> tuple[bytes | None, str]:
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise IsspError(f"plainTextPath 'internal://{name}' is not a plain file name",
                            file=self.project_file, rule="internal:// names a file directly inside sources/",
                            fix="do not open this file; " + _REEXPORT)
        if self.archive is not None:
            # Match case-insensitively: NVivo for Windows names the folder Sources/.
            info = self.archive.members.get(f"sources/{name.lower()}")
            where = f"{self.project_file}!sources/{name}"
            return (None if info is None else self.archive.read(info)), where
        folder = self.project_file.parent
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and p.name.lower() == "sources"):
            for candidate in sorted(sub.iterdir()):
                if candidate.name.lower() == name.lower() and candidate.is_file():
                    return self._disk(candidate)
        return None, str(folder / "sources" / name)

    @staticmethod
    def _disk(path: Path) -> tuple[bytes | None, str]:
        if not path.is_file():
            return None, str(path)
        if path.stat().st_size > MAX_TOTAL_BYTES:
            raise IsspError(f"the source text is {path.stat().st_size} bytes", file=path,
                            rule=f"a source text is at most {MAX_TOTAL_BYTES} bytes", fix=_REEXPORT)
        return path.read_bytes(), str(path)


def _parse_xml(data: bytes, where: str) -> ET.Element:
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise IsspError(f"the XML declares a DTD or entities ({type(exc).__name__})", file=where,
                        rule="QDA-XML carries no DTD or entities (they can expand without bound or read other files)",
                        fix="do not open this file; " + _REEXPORT) from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise IsspError(f"malformed XML at line {line}, column {column + 1}: {exc}", file=where,
                        rule="a project is well-formed XML", fix=_REEXPORT) from None


def _local(element: ET.Element) -> str:
    return element.tag.rpartition("}")[2] if isinstance(element.tag, str) else ""


def _children(element: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if element is None else [child for child in element if _local(child) == name]


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _target(element: ET.Element, name: str) -> str | None:
    """The normalised targetGUID of a reference child such as CodeRef (None when absent)."""
    reference = _child(element, name)
    return None if reference is None else _guid(reference.get("targetGUID"))


def _guid(value: str | None) -> str | None:
    """GUIDs come lower-case (NVivo), upper-case (ATLAS.ti, MAXQDA) and in braces: join on one form."""
    if value is None or not value.strip():
        return None
    return value.strip().strip("{}").upper()


def _required_guid(element: ET.Element, where: str) -> str:
    guid = _guid(element.get("guid"))
    if guid is None:
        raise IsspError(f"a <{_local(element)}> element has no guid", file=where,
                        rule=f"every {_local(element)} has a guid attribute", fix=_REEXPORT)
    return guid


def _position(selection: ET.Element, attribute: str, where: str) -> int:
    value = selection.get(attribute)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise IsspError(f"selection {selection.get('guid')} has {attribute}={value!r}", file=where,
                        rule="startPosition and endPosition are whole numbers", fix=_REEXPORT) from None


def _decode_text(data: bytes, where: str) -> str:
    """A leading BOM is not part of the text: NVivo for Windows writes one and does not count it."""
    try:
        return data.removeprefix(_UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IsspError(f"the source text is not UTF-8 (bad byte at offset {exc.start})", file=where,
                        rule="REFI-QDA plain text is UTF-8",
                        fix="save the transcript as UTF-8 and export again") from None


class _Utf16Positions:
    """Turns UTF-16 code-unit offsets into code-point offsets: each astral character adds one unit."""

    def __init__(self, text: str) -> None:
        self.astral_starts = [m.start() + i for i, m in enumerate(_ASTRAL.finditer(text))]
        self.length = len(text) + len(self.astral_starts)

    def __call__(self, offset: int) -> int:
        return offset - bisect.bisect_left(self.astral_starts, offset)


@dataclass
class _Text:
    guid: str
    name: str
    text: str
    found: bool
    element: ET.Element


def _project_from_xml(data: bytes, where: str, files: _SourceFiles) -> QdaProject:
    root = _parse_xml(data, where)
    if _local(root) != "Project":
        raise IsspError(f"the root element is <{_local(root)}>, not <Project>", file=where,
                        rule="a REFI-QDA project's root element is Project",
                        fix="give a .qdpx or .qde project (a .qdc holds only a codebook)")
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    origin = root.get("origin", "")
    files.base_path = root.get("basePath", "")
    warnings: list[str] = []

    users = {(_required_guid(u, where)): u.get("name") for u in _children(_child(root, "Users"), "User")}
    codes = _read_codes(root, where, warnings)
    code_names = {row["guid"]: row["name"] for row in codes}
    variables = {_required_guid(v, where): v.get("name") or v.get("guid")
                 for v in _children(_child(root, "Variables"), "Variable")}

    texts: list[_Text] = []
    sources: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    sources_element = _child(root, "Sources")
    for element in [] if sources_element is None else list(sources_element):
        kind = _local(element)
        guid = _required_guid(element, where)
        text_element = element if kind == "TextSource" else _child(element, "Representation")
        path = "" if text_element is None else text_element.get("plainTextPath") or ""
        # qc writes no name; its file name (board_2017.txt) says more than the GUID.
        name = element.get("name") or PurePosixPath(path.partition("://")[2] or path).stem or guid
        text, found = "", False
        if text_element is not None:
            text, found = _source_text(text_element, name, files, warnings)
            texts.append(_Text(guid, name, text, found, text_element))
        for media in ("PDFSelection", "PictureSelection", "AudioSelection", "VideoSelection", "Transcript"):
            skipped[media] = skipped.get(media, 0) + len(_children(element, media))
        sources.append({"guid": guid, "name": name, "kind": kind, "path": path, "text": text})
    warnings += [f"{n} {media} element(s) not imported: only text selections are"
                 for media, n in skipped.items() if n]

    case_rows, case_of_source, case_of_selection, variable_rows = _read_cases(root, variables, where, warnings)
    unit = _position_unit(origin, texts)
    segments: list[dict[str, Any]] = []
    for source in texts:
        convert = _Utf16Positions(source.text) if unit == "utf16" else None
        length = convert.length if convert else len(source.text)
        for selection in _children(source.element, "PlainTextSelection"):
            selection_guid = _required_guid(selection, where)
            start, end = _position(selection, "startPosition", where), _position(selection, "endPosition", where)
            if not 0 <= start <= end or (source.found and end > length):
                raise IsspError(
                    f"selection {selection_guid} in source '{source.name}' runs from {start} to {end}, "
                    f"but the text is {length} {unit} units long", file=where,
                    rule="0 <= startPosition <= endPosition <= length of the source text",
                    fix="check the transcript was not edited after coding; " + _REEXPORT)
            if convert:
                start, end = convert(start), convert(end)
            case = case_of_selection.get(selection_guid, case_of_source.get(source.guid))
            for coding in _children(selection, "Coding"):
                segments.append(_segment(coding, selection, source, case, start, end, users, code_names, warnings))
        for coding in _children(source.element, "Coding"):  # codes applied to the whole source
            segments.append(_segment(coding, None, source, case_of_source.get(source.guid), 0, len(source.text),
                                     users, code_names, warnings))
    for container in ("Notes", "Links", "Sets", "Graphs"):
        if len(_children(_child(root, container), container[:-1])):
            warnings.append(f"<{container}> not imported")

    return QdaProject(
        users=_frame([{"guid": g, "name": n} for g, n in users.items()], USER_COLUMNS),
        codes=_frame(codes, CODE_COLUMNS),
        sources=_frame(sources, SOURCE_COLUMNS),
        segments=_frame(segments, SEGMENT_COLUMNS),
        cases=_frame(case_rows, CASE_COLUMNS),
        variables=_frame(variable_rows, VARIABLE_COLUMNS),
        origin=origin, namespace=namespace, position_unit=unit, warnings=tuple(warnings),
    )


def _read_codes(root: ET.Element, where: str, warnings: list[str]) -> list[dict[str, Any]]:
    """Codes in document order, walked with a stack so a deep tree cannot exhaust the recursion limit."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    top = _children(_child(_child(root, "CodeBook"), "Codes"), "Code")
    stack: list[tuple[ET.Element, str | None, int]] = [(code, None, 0) for code in reversed(top)]
    while stack:
        element, parent, depth = stack.pop()
        guid = _required_guid(element, where)
        if guid in seen:
            warnings.append(f"code GUID {guid} occurs more than once; the first is kept for joins")
        seen.add(guid)
        description = _child(element, "Description")
        rows.append({
            "guid": guid, "name": element.get("name") or guid, "parent": parent, "depth": depth,
            "definition": (description.text or "") if description is not None else "",
            "colour": element.get("color"),
            "codable": element.get("isCodable", "true").strip().lower() in ("true", "1"),
        })
        stack.extend((child, guid, depth + 1) for child in reversed(_children(element, "Code")))
    return rows


def _source_text(element: ET.Element, name: str, files: _SourceFiles, warnings: list[str]) -> tuple[str, bool]:
    """The source's plain text and whether it was found (a missing text leaves segment texts empty)."""
    inline = _child(element, "PlainTextContent")
    if inline is not None:
        return inline.text or "", True
    plain_text_path = element.get("plainTextPath") or ""
    if not plain_text_path:
        warnings.append(f"source '{name}' has neither PlainTextContent nor plainTextPath: its text is empty")
        return "", False
    data, looked = files.fetch(plain_text_path)
    if data is None:
        warnings.append(f"source '{name}': text {plain_text_path} not found (looked for {looked}); "
                        "its segments have empty text")
        return "", False
    return _decode_text(data, looked), True


def _position_unit(origin: str, texts: list[_Text]) -> str:
    """Which unit the file's positions count, decided once per file.

    The spec counts Unicode code points, and so do qc, QualCoder, MAXQDA and our own writer. NVivo
    (Windows 12.6, Mac 12.7 and 15) counts UTF-16 code units, so each emoji adds one extra unit;
    ``origin`` names NVivo, so we read its positions as UTF-16. A file from other software is read
    as UTF-16 only when a selection ends past a text's code-point length but within its UTF-16
    length, which no code-point reading can explain. For texts without astral characters the two
    readings agree. Line ends are never folded (NVivo for Windows counts CRLF as two, as the .txt
    holds it) and a leading BOM is dropped before counting (NVivo does not count it).
    """
    if "nvivo" in origin.lower():
        return "utf16"
    for source in texts:
        if not source.found or not _ASTRAL.search(source.text):
            continue
        utf16_length = _Utf16Positions(source.text).length
        for selection in _children(source.element, "PlainTextSelection"):
            try:
                end = int(selection.get("endPosition", ""))
            except ValueError:  # not a position ('x', or digits int() refuses: '\u00b2', over 4300 of them)
                continue  # _position refuses it with the file and the selection named
            if len(source.text) < end <= utf16_length:
                return "utf16"
    return "codepoint"


def _read_cases(root: ET.Element, variables: dict[str, str | None], where: str, warnings: list[str],
                ) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, str], list[dict[str, Any]]]:
    """Cases, the case each source and selection belongs to, and the cases' variable values."""
    case_rows: list[dict[str, Any]] = []
    of_source: dict[str, str] = {}
    of_selection: dict[str, str] = {}
    variable_rows: list[dict[str, Any]] = []
    for case in _children(_child(root, "Cases"), "Case"):
        guid = _required_guid(case, where)
        name = case.get("name") or guid
        source_guids = tuple(g for g in (_guid(r.get("targetGUID")) for r in _children(case, "SourceRef")) if g)
        for source_guid in source_guids:
            if of_source.setdefault(source_guid, name) != name:
                warnings.append(f"source {source_guid} belongs to cases '{of_source[source_guid]}' and '{name}'; "
                                "its segments go to the first")
        for ref in _children(case, "SelectionRef"):
            if selection_guid := _guid(ref.get("targetGUID")):
                of_selection.setdefault(selection_guid, name)
        case_rows.append({"guid": guid, "name": name, "sources": source_guids})
        for value in _children(case, "VariableValue"):
            ref = _target(value, "VariableRef")
            if ref not in variables:
                warnings.append(f"case '{name}' has a value for unknown variable {ref}; not imported")
                continue
            typed = next((child for child in value if _local(child) != "VariableRef"), None)
            if typed is not None:
                variable_rows.append({"case": name, "variable": variables[ref], "value": _typed_value(typed)})
    return case_rows, of_source, of_selection, variable_rows


def _typed_value(element: ET.Element) -> object:
    text = (element.text or "").strip()
    kind = _local(element)
    try:
        if kind == "BooleanValue":
            return text.lower() in ("true", "1")
        if kind == "IntegerValue":
            return int(text)
        if kind == "FloatValue":
            return float(text)
    except ValueError:
        return text
    return element.text or ""


def _segment(coding: ET.Element, selection: ET.Element | None, source: _Text, case: str | None,
             start: int, end: int, users: dict[str, str | None], code_names: dict[str, str],
             warnings: list[str]) -> dict[str, Any]:
    code_guid = _target(coding, "CodeRef")
    if code_guid not in code_names:
        warnings.append(f"a coding in source '{source.name}' refers to unknown code {code_guid}")
    # The coder is the Coding's creatingUser; some exporters put it on the selection only.
    coder_guid = _guid(coding.get("creatingUser"))
    if coder_guid is None and selection is not None:
        coder_guid = _guid(selection.get("creatingUser"))
    return {
        "source_guid": source.guid, "source": source.name, "case": case,
        "selection_guid": None if selection is None else _guid(selection.get("guid")),
        "code_guid": code_guid, "code": code_names.get(code_guid),  # type: ignore[arg-type]
        "coder": users.get(coder_guid) or coder_guid,  # type: ignore[arg-type]
        "start": start, "end": end, "text": source.text[start:end],
    }


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("start", "end", "depth"):
        if column in frame and len(frame) == 0:
            frame[column] = frame[column].astype("int64")
    return frame


# --------------------------------------------------------------------------------------------
# Plain CSV route
# --------------------------------------------------------------------------------------------

def read_segments_csv(path: str | os.PathLike[str], codebook: pd.DataFrame | None = None) -> QdaProject:
    """Read coded segments typed into a spreadsheet (format in the module docstring).

    Given a codebook, every code must be one of its codes, so a typo cannot become a new theme.
    """
    path = Path(path)
    if not path.is_file():
        raise IsspError("no such file", file=path, rule="the segments CSV must exist", fix="check the path")
    try:
        # index_col=False: otherwise pandas reads rows one value longer than the header (an unquoted
        # comma in text) with the first value as the index, and every cell lands in the wrong column.
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=False)
    except UnicodeDecodeError as exc:
        raise IsspError(f"not UTF-8 text (bad byte at offset {exc.start})", file=path, rule="the CSV is UTF-8",
                        fix="save it as 'CSV UTF-8' from the spreadsheet") from None
    except (pd.errors.ParserWarning, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        long_row = first_long_row(path)  # pandas warns (every row too long) or fails (some), naming no row
        if isinstance(exc, pd.errors.ParserWarning) or long_row is not None:
            raise IsspError("a row has more values than the header has columns", file=path, row=long_row,
                            rule="one value per column in every row",
                            fix="quote text that contains a comma (save the sheet as CSV UTF-8), or remove the "
                                "extra values") from None
        raise IsspError(f"not a readable CSV: {exc}", file=path, rule="one header row, then one row per segment",
                        fix="save the sheet as CSV UTF-8 with the columns "
                            + ", ".join(SEGMENTS_CSV_COLUMNS)) from None
    header = {str(column).strip().lower(): column for column in raw.columns}
    for column in SEGMENTS_CSV_COLUMNS:
        if column not in header:
            raise IsspError(f"no column '{column}' (found: {', '.join(map(str, raw.columns))})", file=path,
                            column=column, rule="segments CSV columns: " + ", ".join(SEGMENTS_CSV_COLUMNS),
                            fix=f"add or rename a column to '{column}'")
    table = raw[[header[c] for c in SEGMENTS_CSV_COLUMNS]].set_axis(SEGMENTS_CSV_COLUMNS, axis=1)
    known = None if codebook is None else list(_validated_codebook(codebook, "codebook")["code"])

    rows: list[dict[str, Any]] = []
    for index, record in enumerate(table.to_dict("records")):
        row = index + 2
        for column in ("interview", "code", "coder"):
            if not record[column].strip():
                raise IsspError("empty cell", file=path, row=row, column=column,
                                rule=f"every segment names its {column}", fix=f"fill in the {column}")
        code = record["code"].strip()
        if known is not None and code not in known:
            close = difflib.get_close_matches(code, known, n=1)
            raise IsspError(f"unknown code '{code}'", file=path, row=row, column="code",
                            rule="codes come from the codebook",
                            fix=(f"did you mean '{close[0]}'? " if close else "") + "use a codebook code or add it")
        start, end = _csv_positions(record, path, row)
        rows.append({"interview": record["interview"].strip(), "participant": record["participant"].strip() or None,
                     "code": code, "coder": record["coder"].strip(), "start": start, "end": end,
                     "text": record["text"]})

    code_rows = (_codes_table(codebook) if codebook is not None else
                 [_code_row(name, None, 0, "") for name in dict.fromkeys(r["code"] for r in rows)])
    code_guids = {row["name"]: row["guid"] for row in code_rows}
    interviews = list(dict.fromkeys(r["interview"] for r in rows))
    participants: dict[str, list[str]] = {}
    for r in rows:
        if r["participant"] is not None:
            participants.setdefault(r["participant"], [])
            if r["interview"] not in participants[r["participant"]]:
                participants[r["participant"]].append(r["interview"])
    segments = [{
        "source_guid": _name_guid("source", r["interview"]), "source": r["interview"], "case": r["participant"],
        "selection_guid": None, "code_guid": code_guids[r["code"]], "code": r["code"], "coder": r["coder"],
        "start": r["start"], "end": r["end"], "text": r["text"],
    } for r in rows]
    frame = _frame(segments, SEGMENT_COLUMNS)
    frame[["start", "end"]] = frame[["start", "end"]].astype("Int64")
    return QdaProject(
        users=_frame([{"guid": _name_guid("user", c), "name": c} for c in dict.fromkeys(r["coder"] for r in rows)],
                     USER_COLUMNS),
        codes=_frame(code_rows, CODE_COLUMNS),
        sources=_frame([{"guid": _name_guid("source", i), "name": i, "kind": "TextSource", "path": "", "text": ""}
                        for i in interviews], SOURCE_COLUMNS),
        segments=frame,
        cases=_frame([{"guid": _name_guid("case", p), "name": p,
                       "sources": tuple(_name_guid("source", i) for i in its)} for p, its in participants.items()],
                     CASE_COLUMNS),
        variables=_frame([], VARIABLE_COLUMNS),
        origin="segments CSV", namespace="",
    )


def _csv_positions(record: dict[str, str], path: Path, row: int) -> tuple[int | None, int | None]:
    cells = {c: record[c].strip() for c in ("start", "end")}
    if not cells["start"] and not cells["end"]:
        return None, None
    values: dict[str, int] = {}
    for column, cell in cells.items():
        if not re.fullmatch(r"[0-9]{1,18}", cell):  # 19 digits can pass int64, which the segments table holds
            raise IsspError(f"{column} is {cell!r}", file=path, row=row, column=column,
                            rule="start and end are both whole numbers from 0, or both blank",
                            fix="give the character positions, or leave both cells blank")
        values[column] = int(cell)
    if values["end"] < values["start"]:
        raise IsspError(f"end {values['end']} comes before start {values['start']}", file=path, row=row,
                        column="end", rule="start <= end", fix="swap or correct the positions")
    return values["start"], values["end"]


# --------------------------------------------------------------------------------------------
# Codebook
# --------------------------------------------------------------------------------------------

def load_codebook(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The study codebook (columns code, parent, kind, tangible, item, definition), checked.

    Without a path, the codebook shipped with the package, which the demo data and the thesis use.
    """
    import yaml

    path = CODEBOOK_PATH if path is None else Path(path)
    if not path.is_file():
        raise IsspError("no such file", file=path, rule="the codebook must exist",
                        fix="give the path of a codebook YAML file, or none for the shipped one")
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise IsspError(f"not UTF-8 text (bad byte at offset {exc.start})", file=path, rule="the codebook is UTF-8",
                        fix="save the file as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise IsspError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=path,
                        row=None if mark is None else mark.line + 1, rule="the codebook is YAML",
                        fix="fix the YAML syntax at that line") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise IsspError("the codebook is not a list of codes", file=path,
                        rule="a YAML list with one mapping per code", fix="start each code with '- code: ...'")
    for number, entry in enumerate(entries, start=1):
        missing = [key for key in CODEBOOK_COLUMNS if key not in entry]
        extra = [str(key) for key in entry if key not in CODEBOOK_COLUMNS]
        if missing or extra:
            raise IsspError(f"code {entry.get('code', '?')!r} " + ("lacks " + ", ".join(missing) if missing
                            else "has unknown keys " + ", ".join(extra)), file=path, row=f"entry {number}",
                            rule="each code has exactly: " + ", ".join(CODEBOOK_COLUMNS),
                            fix="add the missing keys (null where they do not apply) or remove the others")
    return _validated_codebook(pd.DataFrame(entries, columns=CODEBOOK_COLUMNS), path)


def _validated_codebook(codebook: pd.DataFrame, where: object) -> pd.DataFrame:
    """The rules a codebook keeps wherever it comes from, so analysis can join on code names."""
    missing = [c for c in CODEBOOK_COLUMNS if c not in codebook.columns]
    if missing:
        raise IsspError(f"the codebook lacks columns {', '.join(missing)}", file=where, column=missing[0],
                        rule="codebook columns: " + ", ".join(CODEBOOK_COLUMNS), fix="use load_codebook()")
    records = codebook[CODEBOOK_COLUMNS].astype(object).where(codebook[CODEBOOK_COLUMNS].notna(), None)
    records = records.to_dict("records")
    codes = [r["code"] for r in records]
    kinds = {r["code"]: r["kind"] for r in records}
    items: dict[str, str] = {}
    for number, r in enumerate(records, start=1):
        problem = _code_problem(r, codes, kinds, items)
        if problem:
            column, message, rule, fix = problem
            raise IsspError(f"code {r['code']!r}: {message}", file=where, row=f"entry {number}", column=column,
                            rule=rule, fix=fix)
        if r["item"] is not None:
            items[r["item"]] = r["code"]
    for code in codes:  # a parent chain must end at a top-level code
        seen, current = set(), code
        while current is not None:
            if current in seen:
                raise IsspError(f"code {code!r} is its own ancestor", file=where, column="parent",
                                rule="parents form a tree", fix="break the cycle of parents")
            seen.add(current)
            current = next(r["parent"] for r in records if r["code"] == current)
    frame = pd.DataFrame(records, columns=CODEBOOK_COLUMNS)
    frame["tangible"] = frame["tangible"].astype("boolean")
    return frame


def _code_problem(r: dict[str, Any], codes: list[str], kinds: dict[str, str],
                  items: dict[str, str]) -> tuple[str, str, str, str] | None:
    """The first rule one codebook entry breaks, as (column, message, rule, fix)."""
    code, parent, kind, tangible, item = r["code"], r["parent"], r["kind"], r["tangible"], r["item"]
    if not isinstance(code, str) or not _SNAKE.match(code):
        return "code", "not a snake_case name", "code names are snake_case (a-z, 0-9, _)", "rename it"
    if codes.count(code) > 1:
        return "code", "appears more than once", "code names are unique", "merge or rename the duplicates"
    if kind not in KINDS:
        return "kind", f"unknown kind {kind!r}", "kind is one of " + ", ".join(KINDS), "correct the kind"
    if parent is not None and parent not in kinds:
        return "parent", f"unknown parent {parent!r}", "a parent is a code of the codebook", "add it or correct it"
    if parent is not None and kinds[parent] != kind:
        return "kind", f"is a {kind} code under a {kinds[parent]} code", "a code has its parent's kind", "move it"
    if not isinstance(r["definition"], str) or not r["definition"].strip():
        return "definition", "has no definition", "every code has a definition", "write a one-line definition"
    if kind in ("power", "enactment") and (tangible is not None or item is not None):
        return ("tangible", "has tangible or item set", "power and enactment codes have tangible and item null",
                "set tangible: null and item: null")
    if tangible is not None and not isinstance(tangible, bool):
        return "tangible", f"tangible is {tangible!r}", "tangible is true, false or null", "write true or false"
    if item is None:
        return None
    if not (isinstance(item, str) and _ITEM[kind].match(item)):
        return ("item", f"item {item!r} does not fit its kind",
                "benefit codes match items B01..B12, cost codes C01..C08", "correct the item")
    if item in items:
        return "item", f"item {item} is already matched by {items[item]!r}", "one code per survey item", "keep one"
    if not isinstance(tangible, bool):
        return ("tangible", "matches a survey item but has no tangible tag",
                "codes matching survey items are tangible or intangible", "set tangible: true or false")
    return None


@functools.lru_cache(maxsize=1024)  # codes, coders and variables are referred to again and again
def _name_guid(kind: str, name: str) -> str:
    """``str(uuid.uuid5(_GUID_NAMESPACE, kind/name)).upper()``, computed from the SHA-1 directly.

    uuid.uuid5 builds a UUID object through an integer for every call: 3.3 s of the 170,000 GUIDs
    (one per selection and coding) of the interviews at national scale, against 0.6 s here. The
    steps are RFC 4122's for version 5 (tests check equality with uuid.uuid5).
    """
    digest = bytearray(hashlib.sha1(_GUID_NAMESPACE_BYTES + f"{kind}/{name}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    hexa = digest.hex().upper()
    return f"{hexa[:8]}-{hexa[8:12]}-{hexa[12:16]}-{hexa[16:20]}-{hexa[20:]}"


def _code_row(name: str, parent: str | None, depth: int, definition: str) -> dict[str, Any]:
    return {"guid": _name_guid("code", name), "name": name,
            "parent": None if parent is None else _name_guid("code", parent),
            "depth": depth, "definition": definition, "colour": None, "codable": True}


def _codes_table(codebook: pd.DataFrame) -> list[dict[str, Any]]:
    """The codebook in the shape of ``QdaProject.codes``, parents before children."""
    book = _validated_codebook(codebook, "codebook")
    children: dict[str | None, list[dict[str, Any]]] = {}
    for r in book.astype(object).where(book.notna(), None).to_dict("records"):
        children.setdefault(r["parent"], []).append(r)
    rows: list[dict[str, Any]] = []
    stack = [(r, 0) for r in reversed(children.get(None, []))]
    while stack:
        r, depth = stack.pop()
        rows.append(_code_row(r["code"], r["parent"], depth, r["definition"]))
        stack.extend((child, depth + 1) for child in reversed(children.get(r["code"], [])))
    return rows


# --------------------------------------------------------------------------------------------
# Writing REFI-QDA
# --------------------------------------------------------------------------------------------

def _safe(value: object, what: str) -> str:
    text = str(value)
    if _XML_ILLEGAL.search(text):
        raise IsspError(f"{what} {text[:40]!r} holds a control character XML cannot carry",
                        rule="names and definitions are printable text", fix="remove the control character")
    return text


def _codes_element(codebook: pd.DataFrame) -> ET.Element:
    codes = ET.Element("Codes")
    parents = {row["guid"]: row for row in _codes_table(codebook)}
    elements: dict[str | None, ET.Element] = {}
    for guid, row in parents.items():  # parents come before their children
        element = ET.SubElement(elements.get(row["parent"], codes), "Code",
                                {"guid": guid, "name": _safe(row["name"], "code"), "isCodable": "true"})
        if row["definition"]:
            ET.SubElement(element, "Description").text = _safe(row["definition"], "definition")
        elements[guid] = element
    return codes


def _xml_bytes(root: ET.Element) -> bytes:
    """The document as ``ET.tostring(root, encoding="utf-8", xml_declaration=True)`` writes it.

    Serialised to text and encoded once: with encoding="utf-8", ElementTree sends each of its
    1.7 million small pieces (at national scale) through a text encoder, a third of writing the file.
    """
    ET.indent(root, space="  ")
    return ("<?xml version='1.0' encoding='utf-8'?>\n" + ET.tostring(root, encoding="unicode") + "\n").encode("utf-8")


def write_qdc(codebook: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the codebook as a REFI-QDA ``.qdc`` that NVivo, ATLAS.ti, MAXQDA or QualCoder import.

    The output is byte-identical run to run, and each code's GUID derives from its name, so
    re-importing an edited codebook updates codes rather than duplicating them.
    """
    if not len(codebook):
        raise IsspError("the codebook has no codes", file=path, rule="a REFI-QDA codebook holds at least one code",
                        fix="give the study codebook, load_codebook()")
    root = ET.Element("CodeBook", {"xmlns": CODEBOOK_NAMESPACE, "origin": ORIGIN})
    root.append(_codes_element(codebook))
    atomic.write_bytes(path, _xml_bytes(root))
    return Path(path)


def export_codebook(qdc_path: str | os.PathLike[str]) -> Path:
    """Write the shipped study codebook as a ``.qdc`` (``issp-research codebook --qdc OUT``)."""
    return write_qdc(load_codebook(), qdc_path)


def _variable_type(values: list[object]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "Boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "Integer"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "Float"
    return "Text"


def _variable_text(value: object, kind: str) -> str:
    if kind == "Boolean":
        return "true" if value else "false"
    return _safe(value, "variable value")


def write_qdpx(
    path: str | os.PathLike[str],
    *,
    codebook: pd.DataFrame,
    sources: Sequence[tuple[str, str, str | None]],
    cases: Mapping[str, Mapping[str, object]],
    users: Sequence[str],
    codings: Iterable[Mapping[str, object]],
    name: str = "ISSP interviews",
) -> Path:
    """Write a coded project as a REFI-QDA ``.qdpx`` that QDA software opens.

    ``sources`` are (interview name, transcript, case name or None); ``cases`` maps each case
    (participant) name to its variables, e.g. ``{"P-0412": {"sector": "state", "years_in_role": 4}}``;
    ``users`` are the coders; each coding is a mapping with ``source``, ``start``, ``end``
    (code points, end exclusive), ``code`` and ``coder``. Codings with the same source and positions
    share one selection. Same input, same bytes: GUIDs derive from names, members are sorted and
    every timestamp is 1980-01-01.
    """
    code_names = set(_validated_codebook(codebook, "codebook")["code"])
    where = Path(path)
    if len(set(users)) != len(users) or not all(isinstance(u, str) and u for u in users):
        raise IsspError("coder names are empty or repeated", file=where, rule="users are unique, non-empty names",
                        fix="list each coder once")
    texts: dict[str, str] = {}
    for source_name, text, case in sources:
        if source_name in texts:
            raise IsspError(f"source '{source_name}' is given twice", file=where, rule="source names are unique",
                            fix="rename one of them")
        if case is not None and case not in cases:
            raise IsspError(f"source '{source_name}' belongs to case '{case}', which is not in cases", file=where,
                            rule="every case a source names is listed in cases", fix=f"add '{case}' to cases")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise IsspError(f"the text of source '{source_name}' holds unpaired surrogates", file=where,
                            rule="transcripts are valid Unicode", fix="clean the transcript") from None
        texts[source_name] = text

    # source -> (start, end) -> {(code, coder)}: codings at the same place share one selection
    selections: dict[str, dict[tuple[int, int], set[tuple[str, str]]]] = {name: {} for name in texts}
    for number, coding in enumerate(codings, start=1):
        missing = [k for k in ("source", "start", "end", "code", "coder") if k not in coding]
        if missing:
            raise IsspError(f"coding lacks {', '.join(missing)}", file=where, row=f"coding {number}",
                            rule="a coding has source, start, end, code and coder", fix="add the missing keys")
        source, start, end = coding["source"], coding["start"], coding["end"]
        code, coder = coding["code"], coding["coder"]
        problem = (f"unknown source {source!r}" if source not in texts else
                   f"unknown code {code!r}" if code not in code_names else
                   f"unknown coder {coder!r}" if coder not in users else
                   f"positions {start!r}..{end!r} are not whole numbers"
                   if not all(isinstance(p, int) and not isinstance(p, bool) for p in (start, end)) else
                   f"positions {start}..{end} lie outside the text ({len(texts[source])} characters)"
                   if not 0 <= start <= end <= len(texts[source]) else None)  # type: ignore[operator]
        if problem:
            raise IsspError(problem, file=where, row=f"coding {number}",
                            rule="codings name a given source, a codebook code and a listed coder, "
                                 "with 0 <= start <= end <= length of the text",
                            fix="correct the coding or add the source, code or coder")
        applied = selections[str(source)].setdefault((int(start), int(end)), set())  # type: ignore[call-overload]
        if (code, coder) in applied:
            raise IsspError(f"coding {code!r} by {coder!r} at {source}:{start}..{end} is given twice", file=where,
                            row=f"coding {number}", rule="each coding once", fix="drop the duplicate")
        applied.add((str(code), str(coder)))

    root = ET.Element("Project", {"xmlns": PROJECT_NAMESPACE, "name": _safe(name, "project name"), "origin": ORIGIN})
    if users:
        users_element = ET.SubElement(root, "Users")
        for user in users:
            ET.SubElement(users_element, "User", {"guid": _name_guid("user", user), "name": _safe(user, "coder")})
    if len(codebook):
        ET.SubElement(root, "CodeBook").append(_codes_element(codebook))
    variable_types = {}
    for variable in sorted({v for values in cases.values() for v, value in values.items() if value is not None}):
        variable_types[variable] = _variable_type([vs[variable] for vs in cases.values()
                                                   if vs.get(variable) is not None])
    if variable_types:
        variables_element = ET.SubElement(root, "Variables")
        for variable, kind in variable_types.items():
            ET.SubElement(variables_element, "Variable", {"guid": _name_guid("variable", variable),
                                                          "name": _safe(variable, "variable"),
                                                          "typeOfVariable": kind})
    if cases:
        cases_element = ET.SubElement(root, "Cases")
        sources_of: dict[str, list[str]] = {}  # by case, in the order given: one pass, not one per case
        for source_name, _, source_case in sources:
            sources_of.setdefault(source_case, []).append(source_name)
        for case, values in cases.items():
            case_element = ET.SubElement(cases_element, "Case", {"guid": _name_guid("case", case),
                                                                 "name": _safe(case, "case")})
            for variable in sorted(values):
                if values[variable] is None:
                    continue
                value = ET.SubElement(case_element, "VariableValue")
                ET.SubElement(value, "VariableRef", {"targetGUID": _name_guid("variable", variable)})
                kind = variable_types[variable]
                ET.SubElement(value, f"{kind}Value").text = _variable_text(values[variable], kind)
            for source_name in sources_of.get(case, []):
                ET.SubElement(case_element, "SourceRef", {"targetGUID": _name_guid("source", source_name)})
    members: dict[str, bytes] = {}
    if texts:
        sources_element = ET.SubElement(root, "Sources")
        for source_name, text in texts.items():
            guid = _name_guid("source", source_name)
            members[f"sources/{guid}.txt"] = text.encode("utf-8")
            source_element = ET.SubElement(sources_element, "TextSource", {
                "guid": guid, "name": _safe(source_name, "source"), "plainTextPath": f"internal://{guid}.txt"})
            for (start, end), applied in sorted(selections[source_name].items()):
                place = f"{source_name}/{start}/{end}"
                selection = ET.SubElement(source_element, "PlainTextSelection", {
                    "guid": _name_guid("selection", place), "startPosition": str(start), "endPosition": str(end)})
                for code, coder in sorted(applied):
                    coding = ET.SubElement(selection, "Coding", {
                        "guid": _name_guid("coding", f"{place}/{code}/{coder}"),
                        "creatingUser": _name_guid("user", coder)})
                    ET.SubElement(coding, "CodeRef", {"targetGUID": _name_guid("code", code)})
    members["project.qde"] = _xml_bytes(root)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member in sorted(members):
            info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[member])
    atomic.write_bytes(path, buffer.getvalue())
    return Path(path)
