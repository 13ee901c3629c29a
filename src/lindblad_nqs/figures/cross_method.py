"""The cross-method figure (a comparison none of the four papers makes): each method's error against
exact vs its wall time and its parameter count, one point per run (table: review.cross_method_table)."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D

from ..review import cross_method_table, load_panels
from .render import lineage, save

MARKERS = {"cnn": "s", "rbm_ndo": "D", "transformer": "o", "rbm_tdvp": "v", "rnn_tdvp": "^", "mcwf": "x", "tebd": "+"}


def cross_method_figure(table: pd.DataFrame):
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    labels = list(dict.fromkeys(table["reference"]))
    if not labels:
        fig.text(0.5, 0.5, "no run of this config solves the system of a reference", ha="center")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, label in enumerate(labels):
        part = table[table["reference"] == label]
        color = colors[k % len(colors)]
        ref_wall = part["reference_wall_time_s"].iloc[0]
        if ref_wall is not None and pd.notna(ref_wall):
            axes[0].axvline(ref_wall, color=color, ls=":", lw=1)
        for _, r in part.iterrows():
            err = max(r["max_abs_error"], 1e-6)  # a log axis: an exact zero sits at its floor
            kw = dict(marker=MARKERS.get(r["method"], "*"), color=color, ms=7, ls="none",
                      mfc="none" if r["init_from"] else color)
            name = f"{r['run']}" + (f" {r['point']}" if r["point"] != "base" else "")
            for ax, x in zip(axes, (r["wall_time_s"], r["n_params"])):
                if x is None or pd.isna(x):
                    continue
                # upward bar only: one standard error of the deviation (a log axis has no room below a small error)
                ax.errorbar([x], [err], yerr=[[0.0], [r["error_stderr"]]], capsize=2, **kw)
                ax.annotate(name, (x, err), fontsize=6, xytext=(3, 2), textcoords="offset points", color=color)
    for ax, xl in zip(axes, ("wall time of the run (s; dotted: the exact reference)", "real parameters")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xl)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("max |observable - exact| over common times\n(bar: one standard error upward)")
    handles = [Line2D([], [], color=colors[k % len(colors)], lw=3, label=lab) for k, lab in enumerate(labels)]
    handles += [Line2D([], [], marker=m, color="k", ls="none", label=name) for name, m in MARKERS.items()
                if name in set(table["method"])]
    handles.append(Line2D([], [], marker="o", mfc="none", color="k", ls="none", label="started from another run"))
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False, bbox_to_anchor=(0.5, -0.12))
    fig.suptitle("Every method on the same systems: error against exact vs cost (one point per run)", fontsize=10)
    fig.tight_layout()
    return fig


def write_cross_method(panels_file, result_files, out_pdf) -> pd.DataFrame:
    """FIGURE.pdf/.png/.csv/.json through the figures' one writer (its lineage names the runs it read)."""
    started = time.time()
    table = cross_method_table(result_files, load_panels(panels_file))
    dirs = {Path(f).parent.parent.name: str(Path(f).parent.parent) for f in result_files}
    used = set(table["run"]) | set(table["reference_run"].str.split("/").str[0])
    save(cross_method_figure(table), table, Path(out_pdf),
         lineage=lineage({r: d for r, d in sorted(dirs.items()) if r in used}, started))
    return table
