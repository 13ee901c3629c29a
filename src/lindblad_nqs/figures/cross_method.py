"""The cross-method figures (comparisons none of the four papers makes): each method's error against
exact vs its wall time and its parameter count, one point per run (table: review.cross_method_table);
and each steady network's error against its training budget beside the floor of its ansatz
(budget_table, with floor.fit_floor)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
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


# --- error against budget, with each network's fit-to-exact floor ------------------------------------

# samples one training iteration draws, by method key (the x axis "samples drawn")
SAMPLES_KEY = {"cnn": "n_samples", "rbm_ndo": "n_samples", "transformer": "samples"}
BUDGET_COLUMNS = ["reference", "reference_run", "run", "point", "method", "kind", "iteration", "samples", "wall_time_s",
                  "max_abs_error", "error_stderr", "block", "observables", "floor_of", "floor_trace_distance",
                  "run_wall_time_s"]
MAX_POINTS = 60  # per history curve: iterations tracked more often are averaged in blocks


def budget_table(result_files, budget: dict, floor_files=()) -> pd.DataFrame:
    """Per budget reference: each steady network run point of its system as a curve (kind "history":
    the largest deviation of its tracked observables from exact against the iterations, samples and wall
    time spent so far), its final result (kind "result": the cross-method table's value, from the result
    table) and its network's floor (kind "floor": the same deviation for the network fitted to the exact
    state, floor.fit_floor)."""
    from ..claims import Results
    from ..budget import network_id

    res = Results(result_files)
    floors = []
    for f in floor_files:
        info = json.loads(Path(f).with_suffix(".json").read_text())
        floors.append((info, pd.read_csv(f).set_index("observable")["abs_error"], Path(f)))
    rows = []
    for ref in budget["references"]:
        cross = cross_method_table(result_files, [ref], res)
        if cross.empty:
            continue
        exact = res.table(ref["run"], str(ref.get("point", "base")))
        exact = exact.set_index("observable")["value"]
        for _, r in cross.iterrows():
            prov = res.provenance(r["run"], r["point"])
            method = prov.get("method")
            if method not in SAMPLES_KEY or prov["spec"]["task"]["kind"] != "steady":
                continue
            obs = r["observables"].split()
            base = {"reference": r["reference"], "reference_run": r["reference_run"], "run": r["run"],
                    "point": r["point"], "method": method, "observables": r["observables"]}
            params = prov["spec"]["method"]
            per_iter = int(params[SAMPLES_KEY[method]])
            hist_file = res.dirs[(r["run"], r["point"])] / "result.history.csv"
            n_iter, wall = None, r["wall_time_s"]
            if hist_file.is_file():
                h = pd.read_csv(hist_file)
                if "run" in h:  # several seeds averaged: the curve of the first
                    h = h[h["run"] == h["run"].min()]
                if "stage" in h:
                    h = h[h["stage"] == "var"]
                h = h.assign(wall=h["time_s"].cumsum())
                if len(h):
                    # the training's own time: a run resumed from a finished checkpoint reports only its
                    # evaluation as its wall time
                    n_iter, wall = int(h["iteration"].max()), float(h["wall"].iloc[-1])
                tracked = [o for o in obs if o in h]
                if tracked:
                    h = h.dropna(subset=tracked)
                    # tracked every iteration from the training samples (the Transformer): their mean over
                    # blocks of consecutive iterations, at most MAX_POINTS per curve, so that the curve shows
                    # the error rather than the tracking noise
                    block = max(1, -(-len(h) // MAX_POINTS))
                    g = h.groupby(np.arange(len(h)) // block)
                    vals, last = g[tracked].mean(), g[["iteration", "wall"]].last()
                    err = np.max(np.abs(vals.to_numpy(float) - exact[tracked].to_numpy(float)), axis=1)
                    for it, w, e in zip(last["iteration"], last["wall"], err):
                        rows.append({**base, "kind": "history", "iteration": int(it), "samples": int(it) * per_iter,
                                     "wall_time_s": float(w), "max_abs_error": float(e), "block": block,
                                     "observables": " ".join(tracked)})
            rows.append({**base, "kind": "result", "iteration": n_iter,
                         "samples": None if n_iter is None else n_iter * per_iter, "wall_time_s": wall,
                         "max_abs_error": r["max_abs_error"], "error_stderr": r["error_stderr"],
                         "run_wall_time_s": r["wall_time_s"]})
            nid = network_id(method, params)
            for info, err, path in floors:
                if info["network"] == nid and info["system"] == prov["spec"]["system"] and set(obs) <= set(err.index):
                    rows.append({**base, "kind": "floor", "max_abs_error": float(err[obs].max()), "error_stderr": 0.0,
                                 "floor_of": f"{path.parent.name}/{path.stem}",
                                 "floor_trace_distance": info.get("trace_distance")})
                    break
    return pd.DataFrame(rows, columns=BUDGET_COLUMNS)


def budget_figure(table: pd.DataFrame, floor_settings: dict | None = None):
    labels = list(dict.fromkeys(table["reference"]))
    fig, axes = plt.subplots(max(len(labels), 1), 2, figsize=(13, 3.9 * max(len(labels), 1)), squeeze=False)
    if not labels:
        fig.text(0.5, 0.5, "no steady network run of this config solves a budget reference's system", ha="center")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["--", "-.", ":", (0, (5, 1, 1, 1, 1, 1))]
    for row, label in zip(axes, labels):
        part = table[table["reference"] == label]
        runs = list(dict.fromkeys(zip(part["run"], part["point"])))
        floors: dict[str, tuple[float, float, list[str]]] = {}  # one line per network, naming the runs it bounds
        no_floor = []
        for k, (run, point) in enumerate(runs):
            color = colors[k % len(colors)]
            mine = part[(part["run"] == run) & (part["point"] == point)]
            ref_point = mine["reference_run"].iloc[0].split("/", 1)[1]
            name = run + (f" {point}" if point != ref_point else "")  # a sweep over another key (strings)
            marker = MARKERS.get(mine["method"].iloc[0], "*")
            hist, final, floor = (mine[mine["kind"] == kd] for kd in ("history", "result", "floor"))
            for ax, x in zip(row, ("samples", "wall_time_s")):
                if len(hist):
                    ax.plot(hist[x], np.maximum(hist["max_abs_error"], 1e-6), color=color, lw=0.9, alpha=0.8)
                for _, f in final.iterrows():
                    if pd.notna(f[x]):
                        ax.errorbar([f[x]], [max(f["max_abs_error"], 1e-6)], yerr=[[0.0], [f["error_stderr"]]],
                                    marker=marker, color=color, ms=7, capsize=2, ls="none",
                                    label=name if x == "samples" else None)
            if len(floor):
                f = floor.iloc[0]
                floors.setdefault(f["floor_of"], (f["max_abs_error"], f["floor_trace_distance"], []))[2].append(name)
            else:
                no_floor.append(name)
        for j, (value, td, names) in enumerate(sorted(floors.values(), key=lambda v: v[0])):
            for ax in row:
                ax.axhline(max(value, 1e-6), color="k", ls=styles[j % len(styles)], lw=1.0,
                           label=f"floor {value:.2g} (fit's trace distance {td:.2g}): {', '.join(names)}"
                           if ax is row[1] else None)
        if no_floor:
            row[0].text(0.02, 0.03, "no floor (fit over the size limit): " + ", ".join(no_floor), fontsize=7,
                        transform=row[0].transAxes)
        for ax, xl in zip(row, ("samples drawn in training (iterations x samples per iteration)",
                                "training wall time (s; the iterations' own times summed)")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xl)
            ax.grid(alpha=0.3, which="both")
        row[0].set_title(label, fontsize=9)
        row[1].set_title("the same runs against their training time", fontsize=9)
        row[0].set_ylabel("max |observable - exact|")
        h0, l0 = row[0].get_legend_handles_labels()
        h1, l1 = row[1].get_legend_handles_labels()
        row[1].legend(h0 + h1, l0 + l1, fontsize=6.5, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    how = ""
    if floor_settings:
        how = f" ({floor_how(floor_settings)})"
    fig.suptitle("Error against budget: lines the tracked observables during training (block means), markers the final "
                 "result (bar: one standard error upward),\nblack lines the fit-to-exact floor of each network: the same "
                 f"ansatz fitted directly to the exact state{how}", fontsize=9)
    fig.tight_layout()
    return fig


def floor_how(settings: dict) -> str:
    """How the floors of these settings were fitted, in words (budget.FLOOR_DEFAULTS fills what is missing)."""
    from ..budget import FLOOR_DEFAULTS

    f = dict(FLOOR_DEFAULTS, **settings)
    adam = f"{f['steps']} Adam steps, lr {f['lr']}"
    lbfgs = f"L-BFGS after {f['warmup']} Adam steps, until {f['window']} iterations gain less than {f['tol']:g}"
    return {"adam": adam, "lbfgs": lbfgs,
            "auto": f"density matrices: {lbfgs}; Transformer: {adam}"}[f["optimizer"]]


def write_budget(references_file, result_files, floor_files, out_pdf) -> pd.DataFrame:
    """The error-vs-budget figure (FIGURE.pdf/.png/.csv/.json) of the cross-method file's budget section."""
    from ..budget import load_budget

    from ..claims import ClaimsError

    started = time.time()
    budget = load_budget(references_file)
    if budget is None:
        raise ClaimsError(f"{references_file}: has no `budget:` section (the references of the budget figure)")
    table = budget_table(result_files, budget, floor_files)
    dirs = {Path(f).parent.parent.name: str(Path(f).parent.parent) for f in result_files}
    used = set(table["run"]) | set(table["reference_run"].str.split("/").str[0])
    save(budget_figure(table, budget["floor"]), table, Path(out_pdf),
         lineage=lineage({r: d for r, d in sorted(dirs.items()) if r in used}, started))
    return table
