"""Coverage study: how often do the worth models' 95% CIs cover the simulator's true effects?

Each seed draws a full raw export from config/simulation.yaml, cleans it as the pipeline does, and
fits the mixed model and the clustered OLS of STUDY.md. Over many seeds, a 95% interval should cover
its truth in about 95% of them (with 200 seeds, the Monte Carlo standard error of a coverage is
about 1.5 points). Also reported: the mean estimate (bias), the spread of the estimates, the
variance components' SDs, and the reciprocity difference against its truth given each sample's
respondents.

    .venv/bin/python scripts/coverage_study.py --seeds 200 --scale 1

The results are discussed in docs/coverage.md.
"""

# ruff: noqa: E402  (the thread limits below must be set before numpy is imported)
from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one thread per process: the processes are the parallelism
os.environ.setdefault("OPENBLAS_CORETYPE", "Prescott")  # the kernels make all uses (see the Makefile)

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import patsy

from issp_research import atomic, clean, io, models, paths, pseudonym, simulate, worth
from issp_research.errors import IsspError


def analysis_frame(seed: int, scale: float, config: dict) -> pd.DataFrame:
    """The pipeline from raw export to analysis frame, as `make all` runs it."""
    with tempfile.TemporaryDirectory() as folder:
        simulate.write_raw(simulate.simulate(seed, scale, config=config), folder)
        cleaned = clean.clean_tables(io.read_raw_folder(folder), pseudonym.DEMO_KEY)
    return worth.analysis_frame(cleaned.tables)


def one_seed(seed: int, scale: float, config: dict) -> list[dict]:
    """Estimates and 95% CIs of every truth for one simulated study."""
    truths = models.true_effects(config["worth"])
    frame = analysis_frame(seed, scale, config)
    try:
        fits = (models.fit_worth_mixed(frame), models.fit_clustered_ols(frame))
    except IsspError as error:
        return [{"seed": seed, "model": "failed", "parameter": str(error)}]
    rows = []
    for fit in fits:
        fixed = fit.fixed.set_index("term")
        for term, truth in truths.items():
            if term in fixed.index:
                estimate = fixed.loc[term]
                rows.append({"seed": seed, "model": fit.name, "parameter": term, "truth": truth,
                             "estimate": estimate["estimate"], "ci_low": estimate["ci_low"],
                             "ci_high": estimate["ci_high"], "converged": fit.fit["converged"],
                             "singular": fit.fit["singular"], "optimiser": fit.fit["optimiser"]})
    mixed = fits[0]
    for component, sd in zip(mixed.variance["component"], mixed.variance["sd"], strict=True):
        rows.append({"seed": seed, "model": "mixed", "parameter": f"sd_{component}",
                     "truth": config["worth"][f"sd_{component}"], "estimate": sd,
                     "converged": mixed.fit["converged"], "singular": mixed.fit["singular"]})
    # Reciprocity: its truth depends on who responded, so it is the difference the true fixed
    # effects give for this sample's respondents.
    design = patsy.dmatrix(models.worth_formula().split("~", 1)[1], frame, return_type="dataframe")
    expected = frame.assign(worth=design[truths.index].to_numpy() @ truths.to_numpy())
    _, truth = models.reciprocity(expected)
    _, observed = models.reciprocity(frame)
    rows.append({"seed": seed, "model": "paired", "parameter": "reciprocity (independent - state)",
                 "truth": truth.at[0, "mean_difference"], "estimate": observed.at[0, "mean_difference"],
                 "ci_low": observed.at[0, "ci_low"], "ci_high": observed.at[0, "ci_high"],
                 "converged": True, "singular": False})
    return rows


def summarise(estimates: pd.DataFrame) -> pd.DataFrame:
    """One row per parameter and model: truth, mean estimate, bias, spread, CI coverage."""
    estimates = estimates[estimates["model"] != "failed"].copy()
    estimates["covered"] = np.where(estimates["ci_low"].notna(),
                                    (estimates["ci_low"] <= estimates["truth"])
                                    & (estimates["truth"] <= estimates["ci_high"]), np.nan)
    order = list(dict.fromkeys(estimates["parameter"]))
    summary = (estimates.groupby(["parameter", "model"], sort=False)
               .agg(truth=("truth", "mean"), mean_estimate=("estimate", "mean"), sd_estimate=("estimate", "std"),
                    coverage=("covered", "mean"), seeds=("seed", "nunique"))
               .reset_index())
    summary["bias"] = summary["mean_estimate"] - summary["truth"]
    summary["parameter"] = pd.Categorical(summary["parameter"], categories=order)
    columns = ["parameter", "model", "truth", "mean_estimate", "bias", "sd_estimate", "coverage", "seeds"]
    return summary.sort_values(["parameter", "model"]).reset_index(drop=True)[columns]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200, help="number of simulated studies")
    parser.add_argument("--first-seed", type=int, default=1, help="seeds are first-seed, first-seed + 1, ...")
    parser.add_argument("--scale", type=float, default=1, help="study size (1 = thesis scale, ~30 partnerships)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--out", type=Path, default=paths.ROOT / "docs" / "coverage.csv", help="summary table (CSV)")
    args = parser.parse_args(argv)
    config = simulate.load_config()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.processes) as pool:
        rows = [row for seed_rows in pool.map(one_seed, seeds, [args.scale] * len(seeds), [config] * len(seeds))
                for row in seed_rows]
    estimates = pd.DataFrame(rows)
    failed = estimates[estimates["model"] == "failed"]
    mixed = estimates[(estimates["model"] == "mixed") & (estimates["parameter"] == "Intercept")]
    summary = summarise(estimates)
    atomic.write_text(args.out, summary.round(4).to_csv(index=False, lineterminator="\n"))
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(summary.round(3).to_string(index=False))
    print(f"\n{args.seeds} seeds from {args.first_seed}, scale {args.scale:g}, {args.processes} processes, "
          f"{time.perf_counter() - started:.0f} s; mixed model: {int((~mixed['converged']).sum())} not converged, "
          f"{int(mixed['singular'].sum())} singular, optimiser used: "
          + ", ".join(f"{name} {count}" for name, count in mixed["optimiser"].value_counts().items())
          + f"; {len(failed)} seeds failed"
          + "".join(f"\n  seed {row.seed}: {row.parameter}" for row in failed.itertuples()))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
