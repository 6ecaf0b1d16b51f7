"""Keyed pseudonyms: processed data never carry the study's own identifiers.

A pseudonym is an HMAC-SHA256 of the identifier under a key kept outside the repository, so nobody
without the key can link processed data back to the raw files. The synthetic demo data use a
published demo key (it protects nothing, and needs to protect nothing). :func:`identifiers_in`
checks outputs for raw identifiers that should never have left data/raw.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from . import dictionary as dd
from . import paths
from .errors import IsspError

#: The documented key for the synthetic demonstration data only.
DEMO_KEY = b"issp-research demo key: synthetic data only"
KEY_VARIABLE = "ISSP_PSEUDONYM_KEY"
KEY_FILE_VARIABLE = "ISSP_PSEUDONYM_KEY_FILE"
PREFIX = {"partnership": "PN-", "school": "SC-", "participant": "PT-"}
#: Hex digits of the HMAC kept: 48 bits, so a collision among a national sample's ~60,000 people
#: has a chance of about 1 in 150,000 (and the processed tables' unique keys would catch it).
DIGITS = 12
MIN_KEY_BYTES = 16
_NEW_KEY = "generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
#: A word of an output: letters, digits and @ + ' - joined by inner dots (emails, decimals).
_WORD = re.compile(r"[\w@+'-]+(?:\.[\w@+'-]+)*")


def is_synthetic(raw_dir: str | Path) -> bool:
    record = Path(raw_dir) / "simulation.json"
    try:
        return bool(json.loads(record.read_text(encoding="utf-8")).get("synthetic"))
    except (OSError, ValueError):
        return False


def load_key(raw_dir: str | Path) -> bytes:
    """The key from $ISSP_PSEUDONYM_KEY or the file named by $ISSP_PSEUDONYM_KEY_FILE; the demo key for demo data."""
    if os.environ.get(KEY_VARIABLE):
        key = os.environ[KEY_VARIABLE].encode("utf-8")
        if len(key) < MIN_KEY_BYTES:
            raise IsspError(f"${KEY_VARIABLE} is shorter than {MIN_KEY_BYTES} bytes", rule="key length",
                            fix=_NEW_KEY)
        return key
    if os.environ.get(KEY_FILE_VARIABLE):
        path = Path(os.environ[KEY_FILE_VARIABLE]).expanduser().resolve()
        if path.is_relative_to(paths.ROOT.resolve()):
            raise IsspError("the pseudonym key file is inside the repository", file=path,
                            rule="the key is kept outside the repository",
                            fix="move it outside the project folder (e.g. ~/.config/issp-research/key)")
        try:
            key = path.read_bytes().strip()
        except OSError as error:
            raise IsspError(f"cannot read the pseudonym key: {error.strerror}", file=path,
                            fix=f"check ${KEY_FILE_VARIABLE}") from None
        if len(key) < MIN_KEY_BYTES:
            raise IsspError(f"the pseudonym key is shorter than {MIN_KEY_BYTES} bytes", file=path,
                            rule="key length", fix=_NEW_KEY)
        return key
    if is_synthetic(raw_dir):
        return DEMO_KEY
    raise IsspError("real data need a pseudonym key", file=raw_dir, rule="processed data carry keyed pseudonyms",
                    fix=f"set ${KEY_FILE_VARIABLE} to a file outside the repository holding a secret key")


def pseudonymise(ids: pd.Series, kind: str, key: bytes) -> pd.Series:
    """Stable pseudonyms: the same id and key always give the same pseudonym."""
    prefix = PREFIX[kind]
    unique = pd.unique(ids.dropna())
    mapping = {value: prefix + hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:DIGITS]
               for value in unique}
    return ids.map(mapping)


def raw_identifiers(raw: dict[str, pd.DataFrame]) -> set[str]:
    """Values that must never leave data/raw: the direct identifiers and the study's own ids.

    Free text is left out: a comment such as "No" is not an identifier, and comments are never kept.
    """
    values: set[str] = set()
    for name, frame in raw.items():
        for column in dd.RAW_TABLES[name].columns:
            if column.kind == "id" or (column.identifier and column.kind == "text"):
                values.update(value.strip() for value in frame[column.name] if value.strip())
    return values


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def identifiers_in(text: str, identifiers: Iterable[str]) -> list[str]:
    """The identifiers (lower-cased) that occur in the text as whole words, ignoring case.

    Whole words, so that URN 425328 is not found inside 0.4253281 or a checksum, and a name like
    "Grace Hall" is found across a line break.
    """
    starts: dict[str, set[tuple[str, ...]]] = {}
    for identifier in identifiers:
        words = tuple(_words(identifier))
        if words:
            starts.setdefault(words[0], set()).add(words)
    found = set()
    text_words = _words(text)
    for position, word in enumerate(text_words):
        for words in starts.get(word, ()):
            if tuple(text_words[position:position + len(words)]) == words:
                found.add(" ".join(words))
    return sorted(found)
