"""`make verify`: rebuild every output from raw data in a scratch copy and compare it with the committed one.

An examiner's check that nothing was massaged: the committed figures, tables, processed data and
results must be exactly what the code makes from the raw data. Executed notebooks carry papermill's
timings, so they are build products and not compared.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import build, paths

#: Folders of generated outputs; a scratch copy starts without them and rebuilds them from raw data.
OUTPUT_DIRS = ("data/processed", "analysis/figures", "analysis/tables", "analysis/results")
OUTPUT_FILES = ("analysis/MANIFEST.json", "analysis/index.html")
_NOT_COPIED = shutil.ignore_patterns(".venv", ".git", ".make", "executed", "__pycache__", ".pytest_cache",
                                     ".hypothesis", ".ruff_cache", "*.egg-info", "benchmarks")


def outputs(root: Path) -> dict[str, str]:
    """Every generated output under root: relative path -> sha256."""
    found = {}
    for folder in OUTPUT_DIRS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    for name in OUTPUT_FILES:
        if (root / name).is_file():
            found[name] = hashlib.sha256((root / name).read_bytes()).hexdigest()
    return found


def scratch_copy(target: Path, root: Path = paths.ROOT, keep_outputs: bool = False) -> Path:
    """A copy of the project that builds with the project's .venv but imports its own library."""
    shutil.copytree(root, target, ignore=_NOT_COPIED)
    if not keep_outputs:
        for folder in OUTPUT_DIRS:
            shutil.rmtree(target / folder, ignore_errors=True)
        for name in OUTPUT_FILES:
            (target / name).unlink(missing_ok=True)
    (target / ".venv").symlink_to(root / ".venv")
    for name in ("requirements.lock", "pyproject.toml"):  # older than .venv/.installed: no reinstall
        os.utime(target / name, (0, 0))
    return target


def scratch_env(copy: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(copy / "src"), "ISSP_ROOT": str(copy)}


def compare(committed: dict[str, str], rebuilt: dict[str, str]) -> list[tuple[str, str]]:
    """(verdict, path) for every output in either set: identical, differs, missing or new."""
    lines = []
    for path in sorted(set(committed) | set(rebuilt)):
        if path not in rebuilt:
            verdict = "missing"
        elif path not in committed:
            verdict = "new"
        else:
            verdict = "identical" if committed[path] == rebuilt[path] else "differs"
        lines.append((verdict, path))
    return lines


def verify(root: Path = paths.ROOT) -> int:
    committed = outputs(root)
    with tempfile.TemporaryDirectory(prefix="issp-verify-") as scratch:
        copy = scratch_copy(Path(scratch) / "project", root)
        print(f"rebuilding every output from data/raw in a scratch copy ({len(build.notebooks())} notebooks)...",
              flush=True)
        done = subprocess.run(["make", "--no-print-directory", "all"], cwd=copy, env=scratch_env(copy),
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            print("error: the rebuild failed; nothing was compared", file=sys.stderr)
            return 1
        lines = compare(committed, outputs(copy))
    width = max(len(verdict) for verdict, _ in lines)
    for verdict, path in lines:
        print(f"{verdict:<{width}}  {path}")
    different = sum(verdict != "identical" for verdict, _ in lines)
    print(f"{len(lines) - different} identical, {different} not identical")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(verify())
