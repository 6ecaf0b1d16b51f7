"""The build: content-hash stamps, parameter checks, and what `make all` reruns in a scratch copy."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from issp_research import build, paths, verify
from issp_research.errors import IsspError

ROOT = paths.ROOT


def test_notebooks_run_in_number_order():
    assert build.notebooks()[:4] == ["01_clean", "02_worth_models", "03_interviews", "04_figures"]


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


def test_fingerprint_follows_parameters():
    job = build.job("02_worth_models")
    manifest = build.read_manifest()
    base = build.fingerprint(job, manifest)
    changed = dataclasses.replace(job, params={**job.params, "reml": False})
    assert build.fingerprint(changed, manifest) != base
    assert build.fingerprint(build.job("02_worth_models"), manifest) == base


def test_fingerprint_leaves_out_files_later_notebooks_write():
    """01_clean's report lives beside 04_figures' tables, which must not make 01 rerun."""
    job = dataclasses.replace(build.job("01_clean"), params={"tables_dir": "analysis/tables"})
    inputs = build.input_files(job, build.read_manifest())
    produced_later = {path for path, entry in build.read_manifest()["outputs"].items()
                      if entry["notebook"] == "04_figures" and path.startswith("analysis/tables/")}
    assert produced_later and not produced_later & set(inputs)
    assert "analysis/tables/cleaning_report.csv" in inputs


def test_every_notebook_declares_the_values_the_build_gives_it():
    """nbval runs the notebooks with their own defaults, so those must be the build's parameters."""
    for name, section in build.load_params().items():
        if name != "sensitivity":
            declared = build.declared_params(paths.NOTEBOOKS / f"{name}.ipynb")
            assert {key: declared.get(key) for key in section} == section, name


def _params_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_unknown_parameter_is_refused_with_the_allowed_names(tmp_path):
    params = _params_file(tmp_path, "02_worth_models:\n  worth_defintion: ratio\n")
    with pytest.raises(IsspError, match=r"unknown parameter 'worth_defintion' for notebook 02_worth_models") as error:
        build.check_params_file(params)
    assert "worth_definition" in str(error.value) and error.value.column == "worth_defintion"


def test_parameter_of_the_wrong_type_is_refused(tmp_path):
    params = _params_file(tmp_path, "02_worth_models:\n  reml: 'yes'\n")
    with pytest.raises(IsspError, match=r"parameter 'reml' of 02_worth_models has the wrong type: str"):
        build.check_params_file(params)
    build.check_params_file(_params_file(tmp_path, "02_worth_models:\n  survey_year: 2021\n  model_terms: [sector]\n"))


def test_section_that_is_not_a_notebook_is_refused(tmp_path):
    with pytest.raises(IsspError, match="'02_worth_model' is not a notebook"):
        build.check_params_file(_params_file(tmp_path, "02_worth_model:\n  reml: true\n"))


def test_sensitivity_runs_cross_definitions_and_specifications(tmp_path):
    params = _params_file(tmp_path, "sensitivity:\n  worth_definitions: [difference, ratio]\n"
                                    "  model_specifications:\n    main: [sector * role]\n"
                                    "    additive: [sector, role]\n")
    assert build.sensitivity_runs(params) == ["difference-main", "difference-additive", "ratio-main", "ratio-additive"]
    run = build.job("sensitivity/ratio-additive", params)
    assert run.params["worth_definition"] == "ratio" and run.params["model_terms"] == ["sector", "role"]
    assert run.params["results_dir"] == "analysis/sensitivity/runs/ratio-additive"
    assert run.executed == paths.EXECUTED / "sensitivity" / "ratio-additive.ipynb"


def test_parameters_file_that_is_not_yaml(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("01_clean:\n  raw_dir: [data/raw\n")
    with pytest.raises(IsspError, match="not valid YAML") as error:
        build.load_params(bad)
    assert error.value.file == str(bad)


def _make(copy: Path, *args: str) -> tuple[list[str], float]:
    env = verify.scratch_env(copy)
    started = time.perf_counter()
    done = subprocess.run(["make", "--no-print-directory", *args], cwd=copy, env=env, capture_output=True,
                          text=True, timeout=600)
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stdout + done.stderr
    executed = [line.removeprefix("executing ") for line in done.stdout.splitlines() if line.startswith("executing ")]
    return executed, elapsed


def test_make_reruns_exactly_what_changed(tmp_path):
    copy = verify.scratch_copy(tmp_path / "project", keep_outputs=True)
    committed = {path: path.read_bytes() for path in (copy / "analysis").rglob("*") if path.is_file()}

    executed, _ = _make(copy, "all")
    assert executed == build.notebooks()
    changed = [str(path.relative_to(copy)) for path, data in committed.items() if path.read_bytes() != data]
    assert changed == [], "a rebuild changed committed outputs"

    executed, elapsed = _make(copy, "all")
    assert executed == [] and elapsed < 1.0

    figures = copy / "notebooks" / "04_figures.ipynb"
    book = nbformat.read(figures, as_version=4)
    book.cells[0].source += "\n\nA sentence added by the build test."
    nbformat.write(book, figures)
    assert _make(copy, "all")[0] == ["04_figures"]

    library = copy / "src" / "issp_research" / "worth.py"
    library.write_text(library.read_text() + "\n# A comment added by the build test.\n")
    assert _make(copy, "all")[0] == build.notebooks()

    # A collaborator's notebook from the template joins the build and the nbval check unedited.
    _make(copy, "notebook", "NAME=99_my_analysis")
    assert _make(copy, "all")[0] == ["99_my_analysis"]
    _make(copy, "refresh-references")
    checked = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "notebooks/99_my_analysis.ipynb"],
        cwd=copy, env=verify.scratch_env(copy), capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert " passed" in checked.stdout

    # A stored output that no longer matches what the notebook computes fails the check (strict nbval).
    mine = copy / "notebooks" / "99_my_analysis.ipynb"
    book = nbformat.read(mine, as_version=4)
    summary = book.cells[-1].outputs[0]
    summary.data["text/plain"] = summary.data["text/plain"].replace("1", "7", 1)
    nbformat.write(book, mine)
    checked = subprocess.run(checked.args, cwd=copy, env=verify.scratch_env(copy), capture_output=True, text=True,
                             timeout=300)
    assert checked.returncode == 1 and "1 failed" in checked.stdout, checked.stdout[-3000:]


def test_make_notebook_refuses_a_bad_name():
    done = subprocess.run([sys.executable, "-m", "issp_research.notebooks", "new", "My Analysis"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "is not a notebook name" in done.stderr


def test_project_kernel_lives_in_the_venv():
    """JupyterLab started from .venv (make lab) finds the kernel the build uses, in the venv itself."""
    spec = ROOT / ".venv" / "share" / "jupyter" / "kernels" / build.KERNEL / "kernel.json"
    argv = json.loads(spec.read_text())["argv"]
    assert Path(argv[0]).resolve() == (ROOT / ".venv" / "bin" / "python").resolve()


def test_build_refuses_an_unknown_notebook():
    done = subprocess.run([sys.executable, "-m", "issp_research.build", "stamp", "99_nothing"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "no such notebook" in done.stderr and "Traceback" not in done.stderr
