"""The `exact` figure of every paper: the reference curves its figures compare against.

One column per reference run: dynamics as observables vs time (with the trajectory error band where
there is one), sweeps of steady states as observables vs the swept parameter, a single steady state
as a bar chart of its observables.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from . import figure
from .render import sweep_axis_label


@figure("*", "exact")
def exact_overview(runs, options):
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.4), squeeze=False)
    tables = []
    for ax, (role, run) in zip(axes[0], runs.items()):
        df = run.table.copy()
        df.insert(0, "role", role)
        tables.append(df)
        method = run.provenance(next(iter(run.points)))["method"]
        if df["t"].notna().any():
            for (point, obs), g in df.groupby(["point", "observable"], sort=False):
                lab = obs if len(run.points) == 1 else f"{obs} ({point})"
                line, = ax.plot(g["t"], g["value"], label=lab)
                if (g["stderr"] > 0).any():
                    ax.fill_between(g["t"], g["value"] - g["stderr"], g["value"] + g["stderr"],
                                    color=line.get_color(), alpha=0.25, lw=0)
            ax.set_xlabel(r"$\gamma t$")
        elif len(run.points) > 1:
            key = df["sweep_key"].iloc[0]
            for obs, g in df.groupby("observable", sort=False):
                g = g.sort_values("sweep_value", key=lambda s: pd.to_numeric(s, errors="coerce"))
                ax.plot(g["sweep_value"], g["value"], "o-", ms=3, label=obs)
            ax.set_xlabel(sweep_axis_label(key))
        else:
            ax.bar(df["observable"], df["value"], yerr=df["stderr"].where(df["stderr"] > 0))
            ax.tick_params(axis="x", rotation=45)
        ax.set_title(f"{role} [{method}]", fontsize=9)
        ax.legend(fontsize=6, ncol=2)
        ax.grid(alpha=0.3)
    fig.suptitle(options.get("title", "exact references"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(tables, ignore_index=True)
