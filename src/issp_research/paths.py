"""The project's default layout: the one place that knows where things live.

Library functions take paths as arguments; notebooks and the command line get their defaults
here. Relative paths in parameters are read against the project root, so a notebook gives the same
result whatever folder its kernel starts in.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The project root: the folder holding pyproject.toml (src layout, editable install).
ROOT = Path(os.environ.get("ISSP_ROOT", Path(__file__).resolve().parents[2]))

RAW = ROOT / "data" / "raw"
PROCESSED = ROOT / "data" / "processed"
ANALYSIS = ROOT / "analysis"
EXECUTED = ANALYSIS / "executed"
FIGURES = ANALYSIS / "figures"
TABLES = ANALYSIS / "tables"
RESULTS = ANALYSIS / "results"
PARAMS = ANALYSIS / "params.yaml"
NOTEBOOKS = ROOT / "notebooks"
CONFIG = Path(__file__).resolve().parent / "config"
SIMULATION_CONFIG = CONFIG / "simulation.yaml"


def resolve(path: str | os.PathLike[str]) -> Path:
    """A parameter's path, relative to the project root unless absolute."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else ROOT / path


def relative(path: str | os.PathLike[str]) -> str:
    """A path as shown to people and stored in outputs: relative to the root where possible."""
    path = Path(path).resolve()
    try:
        return path.relative_to(ROOT.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
