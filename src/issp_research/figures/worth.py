"""Figure 3: worth by sector and role, the raw scores with the mixed model's estimates over them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from issp_research import dictionary as dd
from issp_research.figures.style import DEFAULT_HEIGHT_IN, LABELS, SECTOR_COLOURS, TEXT_WIDTH_IN

_DODGE = 0.2


def plot_worth_by_sector_role(frame: pd.DataFrame, means: pd.DataFrame, seed: int = 3) -> Figure:
    """Each respondent as a dot (jittered with a fixed seed), each cell's marginal mean with its 95% CI."""
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(TEXT_WIDTH_IN, DEFAULT_HEIGHT_IN))
    ax = fig.subplots()
    for offset, sector in zip((-_DODGE, _DODGE), dd.SECTORS, strict=True):
        colour = SECTOR_COLOURS[sector]
        for x, role in enumerate(dd.ROLES):
            scores = frame.loc[(frame["sector"] == sector) & (frame["role"] == role), "worth"].to_numpy()
            jitter = rng.uniform(-0.07, 0.07, len(scores))
            ax.scatter(x + offset + jitter, scores, s=6, color=colour, alpha=0.35, linewidths=0)
        cells = means[means["sector"] == sector].set_index("role").reindex(dd.ROLES)
        xs = np.arange(len(dd.ROLES)) + offset
        ax.errorbar(xs, cells["estimate"],
                    yerr=[cells["estimate"] - cells["ci_low"], cells["ci_high"] - cells["estimate"]],
                    fmt="o", color=colour, markeredgecolor="black", markeredgewidth=0.6, markersize=5,
                    ecolor="black", elinewidth=0.9, capsize=2.5, label=f"{LABELS[sector]}: model estimate, 95% CI")
    ax.axhline(0, color="0.5", linewidth=0.6, linestyle="--", zorder=0)
    ax.set_xticks(range(len(dd.ROLES)), [LABELS[role] for role in dd.ROLES])
    ax.set_xlabel("Role")
    ax.set_ylabel("Perceived worth (benefits − costs)")
    ax.set_ylim(-4, 4)
    ax.legend(loc="lower left", frameon=False)
    return fig


def worth_caption(frame: pd.DataFrame, means: pd.DataFrame) -> str:
    return (f"Perceived worth of the partnership (mean benefit score less mean cost score, −4 to +4) by "
            f"role and sector, for {len(frame)} respondents (dots, jittered). Larger markers: estimated "
            f"marginal means from the linear mixed model (random intercepts for partnership and school) "
            f"with 95% confidence intervals.")
