"""Keyed pseudonyms: processed data never carry the study's own identifiers.

A pseudonym is an HMAC-SHA256 of the identifier under a key kept outside the repository, so nobody
without the key can link processed data back to the raw files. The synthetic demo data use a
published demo key (it protects nothing, and needs to protect nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pandas as pd

from . import paths
from .errors import IsspError

#: The documented key for the synthetic demonstration data only.
DEMO_KEY = b"issp-research demo key: synthetic data only"
KEY_VARIABLE = "ISSP_PSEUDONYM_KEY"
KEY_FILE_VARIABLE = "ISSP_PSEUDONYM_KEY_FILE"
PREFIX = {"partnership": "PN-", "school": "SC-", "participant": "PT-"}


def is_synthetic(raw_dir: str | Path) -> bool:
    record = Path(raw_dir) / "simulation.json"
    try:
        return bool(json.loads(record.read_text(encoding="utf-8")).get("synthetic"))
    except (OSError, ValueError):
        return False


def load_key(raw_dir: str | Path) -> bytes:
    """The key from $ISSP_PSEUDONYM_KEY or the file named by $ISSP_PSEUDONYM_KEY_FILE; the demo key for demo data."""
    if os.environ.get(KEY_VARIABLE):
        return os.environ[KEY_VARIABLE].encode("utf-8")
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
        if len(key) < 16:
            raise IsspError("the pseudonym key is shorter than 16 bytes", file=path, rule="key length",
                            fix="generate one with: python -c 'import secrets; print(secrets.token_hex(32))'")
        return key
    if is_synthetic(raw_dir):
        return DEMO_KEY
    raise IsspError("real data need a pseudonym key", file=raw_dir, rule="processed data carry keyed pseudonyms",
                    fix=f"set ${KEY_FILE_VARIABLE} to a file outside the repository holding a secret key")


def pseudonymise(ids: pd.Series, kind: str, key: bytes) -> pd.Series:
    """Stable pseudonyms: the same id and key always give the same pseudonym."""
    prefix = PREFIX[kind]
    unique = pd.unique(ids.dropna())
    mapping = {value: prefix + hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:12]
               for value in unique}
    return ids.map(mapping)
