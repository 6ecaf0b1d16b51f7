"""Sensitivity analysis: do the sector x role estimates hold under other worth indices and models?

`make sensitivity` runs the models notebook once per worth definition and model specification
listed in the parameters file; this module gathers the estimated marginal means of every run into
one table and one figure, so a reader sees at a glance which findings depend on those choices.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import build, paths, results, tables
from . import dictionary as dd
from .errors import IsspError
from .figures.style import LABELS, SECTOR_COLOURS, TEXT_WIDTH_IN, save_figure, thesis_style

OUT = paths.ANALYSIS / "sensitivity"


def gather(params_file: Path = paths.PARAMS) -> pd.DataFrame:
    """Marginal means of every sensitivity run, labelled by worth definition and specification."""
    runs = build._sensitivity_runs(build.load_params(params_file).get("sensitivity") or {}, params_file)
    if not runs:
        raise IsspError("the parameters file lists no sensitivity runs", file=paths.relative(params_file),
                        column="sensitivity", rule="worth_definitions and model_specifications are given",
                        fix="add a sensitivity section (see analysis/params.yaml)")
    frames = []
    for run, overrides in runs.items():
        means = results.load(paths.resolve(overrides["results_dir"]), "marginal_means")["marginal_means"]
        specification = run.removeprefix(overrides["worth_definition"] + "-")
        frames.append(means.assign(run=run, worth_definition=overrides["worth_definition"],
                                   specification=specification))
    gathered = pd.concat(frames, ignore_index=True)
    return gathered[["worth_definition", "specification", "sector", "role", "estimate", "ci_low", "ci_high"]]


def plot_sensitivity(gathered: pd.DataFrame) -> Figure:
    """One panel per worth definition (their scales differ); each cell's estimate under each specification."""
    definitions = list(dict.fromkeys(gathered["worth_definition"]))
    specifications = list(dict.fromkeys(gathered["specification"]))
    cells = [(sector, role) for role in dd.ROLES for sector in dd.SECTORS]
    fig = Figure(figsize=(TEXT_WIDTH_IN, 1.9 * len(definitions) + 0.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(definitions), 1, sharex=False))
    markers = ["o", "s", "^", "D", "v", "P"]
    offsets = np.linspace(-0.25, 0.25, len(specifications))
    for ax, definition in zip(axes, definitions, strict=True):
        part = gathered[gathered["worth_definition"] == definition]
        for offset, marker, specification in zip(offsets, markers, specifications, strict=False):
            for y, (sector, role) in enumerate(cells):
                row = part[(part["specification"] == specification) & (part["sector"] == sector)
                           & (part["role"] == role)]
                if row.empty:
                    continue
                ax.errorbar(row["estimate"], [y + offset], xerr=[row["estimate"] - row["ci_low"],
                                                                 row["ci_high"] - row["estimate"]],
                            fmt=marker, color=SECTOR_COLOURS[sector], markersize=3.5, elinewidth=0.8)
        ax.set_yticks(range(len(cells)), [f"{LABELS[role]}, {LABELS[sector].lower()}" for sector, role in cells])
        ax.invert_yaxis()
        ax.set_title(f"Worth index: {definition}", loc="left")
        ax.set_xlabel("Estimated marginal mean (95% CI)")
    handles = [Line2D([], [], marker=marker, color="black", linestyle="none", markersize=4,
                      label=specification.replace("_", " "))
               for marker, specification in zip(markers, specifications, strict=False)]
    fig.legend(handles=handles, title="Model terms", loc="outside upper center", frameon=False,
               ncols=len(specifications))
    return fig


def caption(gathered: pd.DataFrame) -> str:
    definitions = ", ".join(dict.fromkeys(gathered["worth_definition"]))
    specifications = ", ".join(s.replace("_", " ") for s in dict.fromkeys(gathered["specification"]))
    return (f"Sensitivity of the sector x role estimated marginal means of worth (mixed model, 95% CIs) to the "
            f"worth index ({definitions}) and to the model's terms ({specifications}). Colours: sector; "
            f"markers: model terms. The ratio index is on its own scale.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m issp_research.sensitivity", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=paths.PARAMS)
    args = parser.parse_args(argv)
    try:
        gathered = gather(args.params)
    except IsspError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    thesis_style()
    save_figure(plot_sensitivity(gathered), OUT / "figures", "sensitivity_marginal_means", caption(gathered))
    tables.write_table(gathered, OUT / "tables", "sensitivity_marginal_means", caption(gathered), float_format=".2f")
    print(f"compared {gathered[['worth_definition', 'specification']].drop_duplicates().shape[0]} runs: "
          f"{paths.relative(OUT)}/figures and tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
