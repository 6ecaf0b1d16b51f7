"""The build: content-hash stamps, parameter checks, and what `make all` reruns in a scratch copy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest

from issp_research import build, paths
from issp_research.errors import IsspError

ROOT = paths.ROOT


def test_notebooks_run_in_number_order():
    assert build.notebooks()[:3] == ["01_clean", "02_worth_models", "03_figures"]


def test_notebook_source_ignores_stored_outputs(tmp_path):
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "a.ipynb"
    nbformat.write(book, path)
    before = build.notebook_source(path)
    book.cells[0].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    book.cells[0].execution_count = 7
    nbformat.write(book, path)
    assert build.notebook_source(path) == before
    book.cells[0].source = "x = 2"
    nbformat.write(book, path)
    assert build.notebook_source(path) != before


def test_fingerprint_follows_parameters_not_other_notebooks():
    params = build.notebook_params("02_worth_models")
    manifest = build.read_manifest()
    base = build.fingerprint("02_worth_models", params, manifest)
    assert build.fingerprint("02_worth_models", {**params, "reml": False}, manifest) != base
    assert build.fingerprint("02_worth_models", dict(params), manifest) == base


def test_fingerprint_leaves_out_files_later_notebooks_write():
    """01_clean's report lives beside 03_figures' tables, which must not make 01 rerun."""
    inputs = build.input_files("01_clean", {"tables_dir": "analysis/tables"}, build.read_manifest())
    produced_later = {path for path, entry in build.read_manifest()["outputs"].items()
                      if entry["notebook"] == "03_figures" and path.startswith("analysis/tables/")}
    assert produced_later and not produced_later & set(inputs)
    assert "analysis/tables/cleaning_report.csv" in inputs


def test_every_notebook_declares_the_values_the_build_gives_it():
    """nbval runs the notebooks with their own defaults, so those must be the build's parameters."""
    for name in build.notebooks():
        declared = papermill.inspect_notebook(str(paths.NOTEBOOKS / f"{name}.ipynb"))
        for key, value in build.notebook_params(name).items():
            default = declared[key]["default"]
            assert default in (json.dumps(value), repr(value)), (name, key, default, value)


def test_unknown_parameter_is_refused_with_the_allowed_names():
    notebook = paths.NOTEBOOKS / "02_worth_models.ipynb"
    with pytest.raises(IsspError, match=r"unknown parameter 'worth_defintion' for notebook 02_worth_models") as error:
        build.validate_params("02_worth_models", {"worth_defintion": "ratio"}, notebook)
    assert "worth_definition" in str(error.value)


def test_parameter_of_the_wrong_type_is_refused():
    notebook = paths.NOTEBOOKS / "02_worth_models.ipynb"
    with pytest.raises(IsspError, match=r"parameter 'reml' of 02_worth_models has the wrong type: str"):
        build.validate_params("02_worth_models", {"reml": "yes"}, notebook)
    build.validate_params("02_worth_models", {"survey_year": 2021, "model_terms": ["sector", "role"]}, notebook)


def test_parameters_file_that_is_not_yaml(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("01_clean:\n  raw_dir: [data/raw\n")
    with pytest.raises(IsspError, match="not valid YAML") as error:
        build.load_params(bad)
    assert error.value.file == str(bad)


def _scratch_copy(tmp_path: Path) -> Path:
    """The project as committed, with the shared .venv linked in (the library is the copy's own)."""
    copy = tmp_path / "project"
    ignore = shutil.ignore_patterns(".venv", ".git", ".make", "executed", "__pycache__", ".pytest_cache",
                                    ".hypothesis", ".ruff_cache", "*.egg-info")
    shutil.copytree(ROOT, copy, ignore=ignore)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    for name in ("requirements.lock", "pyproject.toml"):  # older than .venv/.installed: no reinstall
        os.utime(copy / name, (0, 0))
    return copy


def _make(copy: Path, *args: str) -> tuple[list[str], float]:
    env = {**os.environ, "PYTHONPATH": str(copy / "src"), "ISSP_ROOT": str(copy)}
    started = time.perf_counter()
    done = subprocess.run(["make", "--no-print-directory", *args], cwd=copy, env=env, capture_output=True,
                          text=True, timeout=600)
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stdout + done.stderr
    executed = [line.split("notebooks/")[1].removesuffix(".ipynb") for line in done.stdout.splitlines()
                if line.startswith("executing notebooks/")]
    return executed, elapsed


@pytest.mark.skipif(not (ROOT / ".venv" / ".installed").exists(), reason="needs the project's .venv (make setup)")
def test_make_reruns_exactly_what_changed(tmp_path):
    copy = _scratch_copy(tmp_path)
    committed = {path: path.read_bytes() for path in (copy / "analysis").rglob("*") if path.is_file()}

    executed, _ = _make(copy, "all")
    assert executed == build.notebooks()
    changed = [str(path.relative_to(copy)) for path, data in committed.items() if path.read_bytes() != data]
    assert changed == [], "a rebuild changed committed outputs"

    executed, elapsed = _make(copy, "all")
    assert executed == [] and elapsed < 1.0

    figures = copy / "notebooks" / "03_figures.ipynb"
    book = nbformat.read(figures, as_version=4)
    book.cells[0].source += "\n\nA sentence added by the build test."
    nbformat.write(book, figures)
    assert _make(copy, "all")[0] == ["03_figures"]

    library = copy / "src" / "issp_research" / "worth.py"
    library.write_text(library.read_text().replace('"""Benefit mean, cost mean', '"""The benefit mean, cost mean'))
    assert _make(copy, "all")[0] == build.notebooks()


def test_build_refuses_an_unknown_notebook():
    done = subprocess.run([sys.executable, "-m", "issp_research.build", "run", "99_nothing"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "no such notebook" in done.stderr and "Traceback" not in done.stderr
