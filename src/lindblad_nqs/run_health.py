"""Warnings about a finished run, read from its provenance and history: what the review table's `warning`
column and the figures' warning marks show.

- the solver's own warning (`info["warning"]`, e.g. a collapsed rho);
- the two estimates of the final L2 cost on the same samples (|L_loc|^2 and L^dag L) disagree: they estimate
  the same number, so a gap larger than half the larger one (and than 0.05, below which the noisier L^dag L
  estimate scatters around a small cost, even below zero) says the samples do not see all of rho;
- the cost was still falling at the end: the mean cost of the last tenth of the iterations lies more than 10%
  and more than three standard errors below the mean of the tenth before it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

COST_GAP_REL = 0.5
COST_GAP_ABS = 0.05
FALLING_REL = 0.1
MIN_ITERATIONS = 20


def cost_estimates_disagree(prov: dict) -> str | None:
    c1, c2 = prov.get("final_cost_subset_l2"), prov.get("final_cost_subset_ldagl")
    if c1 is None or c2 is None or not (math.isfinite(c1) and math.isfinite(c2)):
        return None
    gap = abs(c1 - c2)
    if gap > COST_GAP_REL * max(abs(c1), abs(c2)) and gap > COST_GAP_ABS:
        return f"the two final cost estimates disagree (|L_loc|^2 {c1:.3g}, L^dag L {c2:.3g})"
    return None


def still_falling(history: pd.DataFrame | None) -> str | None:
    if history is None or "cost" not in history or len(history) < MIN_ITERATIONS:
        return None
    cost = pd.to_numeric(history["cost"], errors="coerce").to_numpy(float)
    cost = cost[np.isfinite(cost)]
    w = max(len(cost) // 10, 2)
    if len(cost) < 2 * w:
        return None
    last, before = cost[-w:], cost[-2 * w:-w]
    drop = before.mean() - last.mean()
    se = math.sqrt(last.var(ddof=1) / w + before.var(ddof=1) / w)
    if drop > FALLING_REL * abs(before.mean()) and drop > 3 * se:
        return (f"unconverged: the cost fell from {before.mean():.3g} to {last.mean():.3g} over the last "
                f"{2 * w} of {len(cost)} iterations")
    return None


def run_warnings(prov: dict, history: pd.DataFrame | None = None) -> list[str]:
    out = [str(prov["warning"])] if prov.get("warning") else []
    for w in (cost_estimates_disagree(prov), still_falling(history)):
        if w:
            out.append(w)
    return out


def history_of(result_csv: str | Path) -> pd.DataFrame | None:
    """The per-iteration history written beside a result table, if there is one."""
    path = Path(result_csv).with_suffix(".history.csv")
    return pd.read_csv(path) if path.exists() else None


def warning_text(prov: dict, result_csv: str | Path) -> str | None:
    """The review table's `warning` cell: every warning of the run, joined; None when there is none."""
    ws = run_warnings(prov, history_of(result_csv))
    return "; ".join(ws) if ws else None
