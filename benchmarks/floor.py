"""The floor of `make all`: the code of every notebook run in one Python process, without kernels.

    .venv/bin/python benchmarks/floor.py ROOT [--scale K] [--seed S] [--timings FILE]

ROOT is a scratch copy of the project (never the project itself: the notebooks write their outputs
into it). The notebooks are found as the Makefile finds them (notebooks/[0-9][0-9]_*.ipynb, in
name order) and each gets the parameters `make all` gives it (its parameters cell, overridden by its
section of analysis/params.yaml), so the floor follows renamed, added or edited notebooks without
being told. Each notebook's code cells run in a fresh namespace, in order, then the HTML report is
written, as `make all` does. What the floor leaves out is exactly what the build adds: make, the
stamps, papermill, a kernel per notebook and the rendering of cell outputs.

With ``--scale K`` the simulator first writes a raw data set of K times thesis size into
ROOT/data/raw (as `make demo-data` does at K=1), so the same notebooks run at national scale.

Seconds per stage (the stack's imports, the simulator, each notebook, the report) and per code cell
go to ``--timings`` as JSON, rewritten after every stage so that a run stopped at a time limit still
tells where it was. bench.py imports this module for the notebook discovery too.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import re
import runpy
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
#: The stack that import_seconds measures; imported first here, as its own stage.
STACK = ("pandas", "statsmodels.formula.api", "seaborn")
#: What the Makefile exports to every recipe, for a floor run by hand (set before numpy is imported).
MAKE_ENVIRONMENT = {"OPENBLAS_CORETYPE": "Prescott",
                    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "MPLBACKEND": "Agg"}


def notebooks(root: Path) -> list[Path]:
    """The compendium's notebooks in build order: the Makefile's `notebooks/[0-9][0-9]_*.ipynb`, sorted."""
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_cells(notebook: Path) -> list[tuple[str, bool]]:
    """(source, is the parameters cell) of every code cell."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [("".join(cell["source"]), "parameters" in cell.get("metadata", {}).get("tags", []))
            for cell in cells if cell["cell_type"] == "code"]


def sections(root: Path) -> dict:
    """analysis/params.yaml, refused (as `make all` refuses it) if it names a notebook that does not exist."""
    import yaml

    found = yaml.safe_load((root / "analysis" / "params.yaml").read_text(encoding="utf-8")) or {}
    names = {path.stem for path in notebooks(root)}
    unknown = sorted(key for key in found if re.fullmatch(r"[0-9][0-9]_.*", key) and key not in names)
    if unknown:
        raise SystemExit(f"analysis/params.yaml has sections for notebooks that do not exist: {', '.join(unknown)}")
    return found


def parameters(root: Path, notebook: Path) -> dict:
    """What `make all` passes the notebook: its parameters cell's literals, overridden by params.yaml."""
    declared = {}
    for source, is_parameters in code_cells(notebook):
        if is_parameters:
            for statement in ast.parse(source).body:
                if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                        and isinstance(statement.targets[0], ast.Name):
                    declared[statement.targets[0].id] = ast.literal_eval(statement.value)
            break
    return {**declared, **(sections(root).get(notebook.stem) or {})}


def run_notebook(notebook: Path, params: dict) -> list[float]:
    """Run the notebook's code cells as papermill would, less the kernel; seconds per code cell."""
    namespace: dict = {"__name__": "__main__"}
    seconds = []
    for index, (source, is_parameters) in enumerate(code_cells(notebook)):
        if any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
            raise SystemExit(f"{notebook.name}: code cell {index + 1} uses IPython syntax (% or !), "
                             "which the floor cannot run without a kernel")
        started = time.perf_counter()
        # The values a cell would display are computed but not rendered: rendering is the kernel's cost.
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, f"{notebook.name}[{index + 1}]", "exec"), namespace)
        if is_parameters:  # papermill injects the build's values right after the parameters cell
            namespace.update(params)
        seconds.append(time.perf_counter() - started)
    return seconds


def run(root: Path, scale: float | None = None, seed: int = 2021, timings_file: Path | None = None) -> dict:
    """Every notebook of `make all` in this process, then the report; seconds per stage and per cell."""
    timings: dict = {"stages": {}, "cells": {}}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings["stages"][stage] = now - clock
        clock = now
        if timings_file is not None:
            timings_file.write_text(json.dumps(timings, indent=1) + "\n", encoding="utf-8")

    for module in STACK:
        __import__(module)
    lap("imports")

    if scale is not None:
        from issp_research import simulate

        simulation = simulate.simulate(seed, scale)
        simulate.write_raw(simulation, root / "data" / "raw")
        timings["rows"] = {name: len(table) for name, table in simulation.tables.items()}
        lap("simulate")

    for notebook in notebooks(root):
        timings["cells"][notebook.stem] = run_notebook(notebook, parameters(root, notebook))
        lap(notebook.stem)

    argv = sys.argv
    sys.argv = ["issp_research.report"]
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            runpy.run_module("issp_research.report", run_name="__main__")
    finally:
        sys.argv = argv
    lap("report")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a scratch copy of the project (its outputs are rewritten)")
    parser.add_argument("--scale", type=float, help="first simulate raw data of K times thesis size into ROOT/data/raw")
    parser.add_argument("--seed", type=int, default=2021, help="the simulator's seed (default 2021, as make demo-data)")
    parser.add_argument("--timings", type=Path, help="write seconds per stage and cell here (JSON)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if root == PROJECT:
        parser.error("ROOT must be a scratch copy: the floor rewrites the outputs and, with --scale, data/raw")
    if not (root / "analysis" / "params.yaml").is_file():
        parser.error(f"{root} is not a copy of the project (no analysis/params.yaml)")
    # The copy's library and layout, as `make` in the copy would see them (issp_research.paths reads ISSP_ROOT).
    os.environ["ISSP_ROOT"] = str(root)
    for name, value in MAKE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    sys.path.insert(0, str(root / "src"))
    os.chdir(root)

    timings = run(root, args.scale, args.seed, args.timings)
    text = json.dumps(timings, indent=1)
    if args.timings:
        args.timings.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
