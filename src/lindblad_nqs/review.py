"""One table of every run point's provenance, for reviewing a pipeline run at a glance."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from .run_health import warning_text


# neural runs add their final cost, its L^dag L cross-check, chain R-hat and any warning (run_health: a collapsed
# rho, the two cost estimates disagreeing, a cost still falling at the end)
SCALARS = ("method", "wall_time_s", "device", "spec_hash", "relative_residual", "sector_dim", "ntraj", "n_params",
           "final_cost", "final_cost_subset_l2", "final_cost_subset_ldagl", "final_rhat", "warning")


def collect(results: list[Path]) -> pd.DataFrame:
    rows = []
    for csv in results:
        prov = json.loads(Path(csv).with_suffix(".json").read_text())
        notes = prov["spec"].get("notes") or {}
        rows.append({"run": notes.get("run"), "point": notes.get("point"), "n_sites": math.prod(prov["spec"]["system"]["lattice"]["shape"]),
                     **{k: prov.get(k) for k in SCALARS}, "warning": warning_text(prov, csv)})
    return pd.DataFrame(rows)


# --- the cross-method figure ---------------------------------------------------------------------

# methods whose answer is the reference itself, or numerically exact: drawn as the reference's cost, not as a point
EXACT_METHODS = ("exact",)
MARKERS = {"cnn": "s", "rbm_ndo": "D", "transformer": "o", "rbm_tdvp": "v", "rnn_tdvp": "^", "mcwf": "x", "tebd": "+"}


def load_panels(path) -> list[dict]:
    """The reference points of the cross-method figure (config/cross_method.yaml), each checked."""
    from .claims import ClaimsError
    from .spec import SpecError, load_yaml

    try:
        doc = load_yaml(path, "cross-method file")
    except SpecError as e:
        raise ClaimsError(str(e)) from None
    refs = doc.get("references") if isinstance(doc, dict) else None
    if not isinstance(refs, list) or not refs:
        raise ClaimsError(f"{path}: needs a list `references:`")
    for i, r in enumerate(refs):
        where = f"references[{i}]"
        if not isinstance(r, dict) or not {"label", "run", "observables"} <= set(r):
            raise ClaimsError(f"{where}: needs label, run, observables (and point, default base)")
        unknown = sorted(set(r) - {"label", "run", "point", "observables"})
        if unknown:
            raise ClaimsError(f"{where}: unknown key {unknown[0]}")
        if not isinstance(r["observables"], list) or not r["observables"]:
            raise ClaimsError(f"{where}.observables: needs a non-empty list")
    return refs


def cross_method_table(result_files, references: list[dict]) -> pd.DataFrame:
    """One row per (reference, run point of the same system and task): the largest deviation from the
    reference over the common times and the observables both have, with the run's wall time and size."""
    from .claims import NotMeasured, Results, measure

    res = Results(result_files)
    rows = []
    for ref in references:
        rrun, rpoint = ref["run"], str(ref.get("point", "base"))
        if (rrun, rpoint) not in res.dirs:
            continue
        rprov = res.provenance(rrun, rpoint)
        rtab = res.table(rrun, rpoint)
        label = f"{ref['label']} ({'x'.join(map(str, rprov['spec']['system']['lattice']['shape']))})"
        for (run, point) in sorted(res.dirs):
            prov = res.provenance(run, point)
            if (run, point) == (rrun, rpoint) or prov.get("method") in EXACT_METHODS:
                continue
            obs = [o for o in ref["observables"] if o in set(res.table(run, point)["observable"]) and o in set(rtab["observable"])]
            if not obs:
                continue
            leaf = {"kind": "deviation", "run": run, "point": point, "reference": rrun, "reference_point": rpoint,
                    "observables": obs}
            try:
                m = measure(res, leaf)
            except NotMeasured:
                continue  # another system, size or task
            rows.append({"reference": label, "reference_run": f"{rrun}/{rpoint}",
                         "reference_wall_time_s": rprov.get("wall_time_s"), "run": run, "point": point,
                         "method": prov.get("method"), "observables": " ".join(obs), "max_abs_error": m.value,
                         "error_stderr": m.stderr, "wall_time_s": prov.get("wall_time_s"),
                         "n_params": prov.get("n_params"), "device": prov.get("device"),
                         "init_from": prov.get("init_state")})
    return pd.DataFrame(rows, columns=["reference", "reference_run", "reference_wall_time_s", "run", "point", "method",
                                       "observables", "max_abs_error", "error_stderr", "wall_time_s", "n_params",
                                       "device", "init_from"])


def cross_method_figure(table: pd.DataFrame):
    import matplotlib.pyplot as plt

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
    from matplotlib.lines import Line2D

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
    import time

    from .figures.render import lineage, save

    started = time.time()
    refs = load_panels(panels_file)
    table = cross_method_table(result_files, refs)
    fig = cross_method_figure(table)
    dirs = {Path(f).parent.parent.name: str(Path(f).parent.parent) for f in result_files}
    used = set(table["run"]) | {r["run"] for r in refs}
    save(fig, table, Path(out_pdf), lineage=lineage({r: d for r, d in sorted(dirs.items()) if r in used}, started))
    return table
