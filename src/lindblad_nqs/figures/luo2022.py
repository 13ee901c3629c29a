"""Figures of luo2022 (POVM + autoregressive Transformer). Each reads result tables (with their
provenance and histories) only; roles name the runs in the config.

fig1  the strings (site orderings) of a square lattice, drawn from model.orderings.string_ordering.
      Role lattice: any run on the lattice (only its spec is read).
fig2  dynamics <sz>(t): (a) chain, roles chain (transformer), chain_exact, optional chain_large
      (a larger chain) and chain_large_exact (its exact reference, where there is one); (b) square
      lattice, roles square (Jy sweep), square_exact (same sweep).
fig3  TFI chain steady state vs g: sx, sy, sz. Roles transformer, exact, optional rbm.
fig4  (a) square lattice <sz> vs Jy for var, dyn and var+dyn at two Transformer sizes: roles
      var_<tag>, dyn_<tag>, vardyn_<tag> (tag e.g. 1x32), exact; a dynamics run contributes its value
      at the last time. (b) <sz> at one Jy (option jy, default the strings run's) for several string
      sets: roles strings or strings_<tag> (sweeps over method.strings); a var_<tag> run without a
      strings run of its own, or whose strings run lacks 0s, adds its point at that Jy as 0s (the default
      string). Every point is labelled with its Adam iterations, so unequal budgets show.
s1    <sz>(t) of var+dyn: role vardyn (dynamics from a var model), exact (steady state; option point).
s2    loss vs iteration of variational runs: roles are any steady transformer runs; option points
      {role: point} (or point for every role) picks each run's point.
s3    <sz>(t) for several chain lengths: roles transformer (lattice-shape sweep), exact (same sweep),
      optional trapezoid (method exact with integrator trapezoid at the Transformer's step).
s4    the same figure for the long-time runs.
s5    averaging independent runs: the observables of every run of role averaged (method.seeds > 1,
      from its provenance), their mean, optional role single (option point) and exact.

An option that names a point a run does not have is an error (data.option_point).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import figure
from .data import FigureError, option_point

STRING_LABELS = ("0s", "1s", "2s", "4s", "8s")


def _obs(run, observable: str, point: str | None = None) -> pd.DataFrame:
    t = run.table
    t = t[t["observable"] == observable]
    if point is not None:
        t = t[t["point"] == point]
    return t.copy()


def _sweep_x(t: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(t["sweep_value"], errors="coerce")


# --- Fig. 1 ------------------------------------------------------------------------------------------
@figure("luo2022", "fig1")
def strings_of_square_lattice(runs, options):
    from ..model import Lattice
    from ..model.orderings import string_ordering

    run = runs["lattice"]
    shape = tuple(run.spec(next(iter(run.points)))["system"]["lattice"]["shape"])
    if len(shape) != 2:
        raise ValueError(f"luo2022 fig1 needs a square lattice run, got shape {list(shape)}")
    lat = Lattice(shape, True)
    numbers = options.get("strings", list(range(9)))
    ncol = min(len(numbers), 5)
    nrow = -(-len(numbers) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.1 * ncol, 2.2 * nrow), squeeze=False)
    rows = []
    Lx, Ly = shape
    for ax, s in zip(axes.ravel(), numbers):
        order = string_ordering(lat, s)
        rc = np.array([lat.coords(int(i)) for i in order])
        x, y = rc[:, 1], Lx - 1 - rc[:, 0]  # column to the right, row 0 at the top
        ax.scatter(np.repeat(np.arange(Ly), Lx), np.tile(np.arange(Lx), Ly), s=30, color="0.8", zorder=1)
        for k in range(len(order) - 1):
            ax.annotate("", xy=(x[k + 1], y[k + 1]), xytext=(x[k], y[k]),
                        arrowprops=dict(arrowstyle="->", color="C0", lw=1.3), zorder=2)
        ax.plot(x[0], y[0], "o", color="C3", ms=7, zorder=3)
        for k, (xx, yy) in enumerate(zip(x, y)):
            ax.text(xx + 0.12, yy + 0.12, str(k), fontsize=6, color="0.3")
        ax.set_title(f"string {s}", fontsize=9)
        ax.set_xlim(-0.5, Ly - 0.5)
        ax.set_ylim(-0.5, Lx - 0.5)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        rows += [{"string": s, "step": k, "site": int(i), "row": int(rc[k, 0]), "col": int(rc[k, 1])}
                 for k, i in enumerate(order)]
    for ax in axes.ravel()[len(numbers):]:
        ax.axis("off")
    fig.suptitle(options.get("title", f"luo2022 Fig. 1: strings of a {Lx}x{Ly} lattice (red: first site)"),
                 fontsize=10)
    fig.tight_layout()
    return fig, pd.DataFrame(rows)


# --- Fig. 2 ------------------------------------------------------------------------------------------
def _dyn_panel(ax, runs, role, exact_role, observable, rows, label_fmt, trapezoid_role=None):
    if role not in runs:
        return
    run = runs[role]
    for k, point in enumerate(run.points):
        d = _obs(run, observable, point).sort_values("t")
        lab = label_fmt(run, point)
        ax.errorbar(d["t"], d["value"], d["stderr"], fmt="o", ms=3, color=f"C{k}", capsize=1.5, zorder=3,
                    label=f"Transformer {lab}")
        rows.append(d.assign(source=role))
        if exact_role in runs and point in runs[exact_role].points:
            e = _obs(runs[exact_role], observable, point).sort_values("t")
            ax.plot(e["t"], e["value"], "-", color=f"C{k}", lw=1, label=f"exact {lab}")
            rows.append(e.assign(source=exact_role))
        if trapezoid_role in runs and point in runs[trapezoid_role].points:
            tr = runs[trapezoid_role]
            e = _obs(tr, observable, point).sort_values("t")
            ax.plot(e["t"], e["value"], "x--", ms=3, color=f"C{k}", lw=1,  # its values exist at its steps
                    label=f"exact trapezoid {lab}, tau={tr.spec(point)['task']['dt'] / 2:g}")
            rows.append(e.assign(source=trapezoid_role))


@figure("luo2022", "fig2")
def dynamics(runs, options):
    obs = options.get("observable", "sz")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    rows: list[pd.DataFrame] = []
    _dyn_panel(a1, runs, "chain", "chain_exact", obs, rows, lambda r, p: f"N={r.n_sites(p)}")
    if "chain_large" in runs:
        run = runs["chain_large"]
        for point in run.points:
            n = run.n_sites(point)
            d = _obs(run, obs, point).sort_values("t")
            a1.errorbar(d["t"], d["value"], d["stderr"], fmt="s", ms=3, mfc="none", color="C2", capsize=1.5,
                        zorder=3, label=f"Transformer N={n}")
            rows.append(d.assign(source="chain_large"))
        if "chain_large_exact" in runs:
            ex = runs["chain_large_exact"]
            pe = option_point(ex, "luo2022/fig2", "chain_large_exact_point", options.get("chain_large_exact_point"))
            e = _obs(ex, obs, pe).sort_values("t")  # its whole range: beside the smaller chain's exact line
            a1.plot(e["t"], e["value"], ":", color="C2", lw=1.2, label=f"exact N={ex.n_sites(pe)}")
            rows.append(e.assign(source="chain_large_exact"))
    _dyn_panel(a2, runs, "square", "square_exact", obs, rows,
               lambda r, p: f"{r.shape_label(p)} {p}")
    for ax, title in ((a1, "(a) chain, B=1, J=(2,0,1), from y-"), (a2, "(b) square, J=(0.9, Jy, 1), from z+")):
        ax.set_xlabel(r"$\gamma t$")
        ax.set_ylabel(rf"$\langle\sigma^{obs[1]}\rangle$")
        ax.set_title(title, fontsize=9)
        if ax.has_data():
            ax.legend(fontsize=7)
    taus = []
    for role in ("chain", "square", "chain_large"):
        if role in runs:
            taus += [runs[role].provenance(p).get("tau") for p in runs[role].points]
    taus = sorted({t for t in taus if t})
    fig.suptitle(options.get("title", "luo2022 Fig. 2: forward-backward trapezoid dynamics, tau = "
                             + ", ".join(f"{t:g}" for t in taus)), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


# --- Fig. 3 ------------------------------------------------------------------------------------------
@figure("luo2022", "fig3")
def tfi_steady_state(runs, options):
    obs = options.get("observables", ["sx", "sy", "sz"])
    fig, axes = plt.subplots(1, len(obs), figsize=(3.6 * len(obs), 3.3), squeeze=False)
    rows = []
    style = {"transformer": dict(fmt="o", color="C1", label="Transformer (L1)"),
             "rbm": dict(fmt="s", color="C2", mfc="none", label="purified RBM (mellak2024, L2; not the paper's)")}
    for ax, o in zip(axes[0], obs):
        if "exact" in runs:
            e = _obs(runs["exact"], o)
            e["x"] = _sweep_x(e)
            e = e.sort_values("x")
            n = runs["exact"].n_sites(e["point"].iloc[0])
            ax.plot(e["x"], e["value"], "k-", lw=1, label=f"exact N={n}")
            rows.append(e.assign(source="exact"))
        for role in ("transformer", "rbm"):
            if role not in runs:
                continue
            d = _obs(runs[role], o)
            d["x"] = _sweep_x(d)
            d = d.sort_values("x")
            n = runs[role].n_sites(d["point"].iloc[0])
            st = dict(style[role])
            st["label"] = f"{st['label']} N={n}"
            ax.errorbar(d["x"], d["value"], d["stderr"], ms=4, capsize=2, ls="none", zorder=3, **st)
            rows.append(d.assign(source=role))
        ax.set_xlabel(r"$g/\gamma$")
        ax.set_ylabel(rf"$\langle\sigma^{o[1]}\rangle$")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7)  # below the panels, hiding no point
    fig.suptitle(options.get("title", "luo2022 Fig. 3: dissipative TFI chain, V = 2, L1 steady state (4-Pauli POVM)"),
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig, pd.concat(rows, ignore_index=True)


# --- Fig. 4 ------------------------------------------------------------------------------------------
def _final_values(run, observable):
    """Per point: the steady value, or the value at the last time of a dynamics run."""
    t = _obs(run, observable)
    if t["t"].notna().any():
        t = t.sort_values("t").groupby("point", as_index=False).last()
    t["x"] = _sweep_x(t)
    return t.sort_values("x")


def _net_tag(spec: dict) -> str:
    m = spec.get("method", {})
    return f"{m.get('n_layers', 1)}x{m.get('d_model', 32)}"


def _iterations(spec: dict) -> int:
    return int(spec.get("method", {}).get("iterations", 500))


def _strings_panel(ax, runs, obs, options, rows, var_tags) -> bool:
    """Fig. 4(b): <obs> per string set at one Jy, one colour per Transformer size, each point labelled
    with its Adam budget."""
    string_roles = [r for r in runs if r == "strings" or r.startswith("strings_")]
    if not string_roles:
        return False
    jy = options.get("jy")
    if jy is None:
        spec = runs[string_roles[0]].spec(next(iter(runs[string_roles[0]].points)))
        jy = (spec["system"].get("preset") or spec["system"].get("couplings") or {}).get("Jy")
    series = {}  # tag -> list of (label, value, stderr, iterations, source)
    for role in string_roles:
        run = runs[role]
        for p in run.points:
            spec = run.spec(p)
            d = _obs(run, obs, p)
            if len(d):
                series.setdefault(_net_tag(spec), []).append(
                    (str(d["sweep_value"].iloc[0]), float(d["value"].iloc[0]), float(d["stderr"].iloc[0]),
                     _iterations(spec), role))
    for tag in var_tags:  # the default string (0s) of panel (a)'s var runs at this Jy
        role = f"var_{tag}"
        if role not in runs or any(lab == "0s" for lab, *_ in series.get(tag, [])):
            continue
        d = _obs(runs[role], obs)
        d = d[np.isclose(_sweep_x(d), float(jy))]
        if len(d):
            spec = runs[role].spec(d["point"].iloc[0])
            if spec.get("method", {}).get("strings", "0s") == "0s":
                series.setdefault(tag, []).append(("0s", float(d["value"].iloc[0]), float(d["stderr"].iloc[0]),
                                                   _iterations(spec), role))
    labels = [s for s in STRING_LABELS if any(lab == s for v in series.values() for lab, *_ in v)]
    labels += sorted({lab for v in series.values() for lab, *_ in v} - set(labels))
    x_of = {lab: k for k, lab in enumerate(labels)}
    colours = {t: f"C{k}" for k, t in enumerate(var_tags)}  # as in panel (a)
    for j, (tag, pts) in enumerate(sorted(series.items())):
        colour = colours.get(tag, f"C{len(var_tags) + j}")
        off = (j - (len(series) - 1) / 2) * 0.12
        for budget in sorted({it for *_, it, _ in pts}):
            sel = [q for q in pts if q[3] == budget]
            ax.errorbar([x_of[q[0]] + off for q in sel], [q[1] for q in sel], [q[2] for q in sel],
                        fmt="o" if budget == max(it for *_, it, _ in pts) else "x", color=colour, capsize=3,
                        label=f"var ({tag.replace('x', ', ')}), {budget} it.")
        rows.append(pd.DataFrame([{"label": q[0], "value": q[1], "stderr": q[2], "iterations": q[3],
                                   "source": q[4], "net": tag, "x": float(jy)} for q in pts]))
    ax.set_xticks(np.arange(len(labels)), labels)
    if "exact" in runs:
        ex = runs["exact"]
        e = _obs(ex, obs)
        e = e[np.isclose(_sweep_x(e), float(jy))]
        if not len(e):
            raise FigureError(f"luo2022/fig4: option jy = {jy} names no point of run {ex.dir.name} "
                              f"(its points: {', '.join(ex.points)})")
        ax.axhline(float(e["value"].iloc[0]), color="k", lw=1, label="exact")
        rows.append(e.assign(source="exact"))
    ax.set_title(f"(b) string sets at Jy = {jy}", fontsize=9)
    ax.set_xlabel("strings")
    ax.set_ylabel(rf"$\langle\sigma^{obs[1]}\rangle$")
    ax.legend(fontsize=7)
    return True


@figure("luo2022", "fig4")
def square_steady_state(runs, options):
    obs = options.get("observable", "sz")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.5, 3.6), gridspec_kw={"width_ratios": [1.4, 1]})
    rows = []
    if "exact" in runs:
        e = _obs(runs["exact"], obs)
        e["x"] = _sweep_x(e)
        e = e.sort_values("x")
        a1.plot(e["x"], e["value"], "k-", lw=1, label="exact")
        rows.append(e.assign(source="exact"))
    markers = {"var": "o", "dyn": "s", "vardyn": "^"}
    names = {"var": "var", "dyn": "dyn", "vardyn": "var+dyn"}
    tags = sorted({r.split("_", 1)[1] for r in runs if r.split("_", 1)[0] in markers and "_" in r})
    for j, tag in enumerate(tags):
        for m, (mode, mk) in enumerate(markers.items()):
            role = f"{mode}_{tag}"
            if role not in runs:
                continue
            d = _final_values(runs[role], obs)
            # side by side, so that close values do not hide each other
            off = (j * len(markers) + m - (len(tags) * len(markers) - 1) / 2) * 0.012
            run = runs[role]
            t_end = (f", t={d['t'].max():g}" if d["t"].notna().any()
                     else f", {_iterations(run.spec(next(iter(run.points))))} it.")
            a1.errorbar(d["x"] + off, d["value"], d["stderr"], fmt=mk, ms=5, color=f"C{j}", mfc="none" if mode == "var"
                        else None, capsize=2, label=f"{names[mode]} ({tag.replace('x', ', ')}){t_end}")
            rows.append(d.assign(source=role))
    a1.set_xlabel(r"$J_y/\gamma$")
    a1.set_ylabel(rf"$\langle\sigma^{obs[1]}\rangle$")
    a1.set_title("(a) var, dyn, var+dyn; (layers, d_model)", fontsize=9)
    a1.legend(fontsize=7, ncol=2)
    if not _strings_panel(a2, runs, obs, options, rows, tags):
        a2.axis("off")
    fig.suptitle(options.get("title", "luo2022 Fig. 4: square lattice steady state, Jx = 0.9, Jz = 1"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)


# --- supplement ------------------------------------------------------------------------------------
@figure("luo2022", "s1")
def vardyn_convergence(runs, options):
    obs = options.get("observable", "sz")
    run = runs["vardyn"]
    point = option_point(run, "luo2022/s1", "point", options.get("point"))
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    d = _obs(run, obs, point).sort_values("t")
    spec = run.spec(point)
    tag = _net_tag(spec)
    tau = spec["task"]["dt"] / 2
    ax.errorbar(d["t"], d["value"], d["stderr"], fmt="o-", ms=3, lw=0.6, capsize=1.5, color="C0",
                label=f"var+dyn ({tag.replace('x', ', ')}), {run.shape_label(point)}")
    rows = [d.assign(source="vardyn")]
    if "exact" in runs:
        ex = runs["exact"]
        pe = option_point(ex, "luo2022/s1", "exact_point", options.get("exact_point"), default=point)
        e = _obs(ex, obs, pe)
        ax.axhline(float(e["value"].iloc[0]), color="k", lw=1, label=f"exact steady state {ex.shape_label(pe)}")
        rows.append(e.assign(source="exact"))
    ax.set_xlabel(r"$\gamma t$ (from the var model)")
    ax.set_ylabel(rf"$\langle\sigma^{obs[1]}\rangle$")
    ax.legend(fontsize=7)
    system = spec["system"]
    jy = (system.get("preset") or system.get("couplings") or {}).get("Jy")
    ax.set_title(options.get("title", f"luo2022 S1: var+dyn at Jy = {jy}, tau = {tau:g}"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)


@figure("luo2022", "s2")
def loss_curves(runs, options):
    points = options.get("points", {})
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    rows = []
    for k, (role, run) in enumerate(runs.items()):
        option = f"points.{role}" if role in points else "point"
        p = option_point(run, "luo2022/s2", option, points.get(role, options.get("point")))
        h = run.history(p)
        if h is None or "stage" not in h:
            continue
        spec = run.spec(p)
        shape = run.shape_label(p)
        label = f"{shape if 'x' in shape else 'N=' + shape} ({_net_tag(spec).replace('x', ', ')}), {p}"
        v = h[h["stage"] == "var"]
        for r, g in v.groupby("run"):
            ax.semilogy(g["iteration"], g["cost"], color=f"C{k}", lw=0.8, alpha=1.0 if r == 0 else 0.5,
                        label=label if r == 0 else None)
        rows.append(v.assign(source=role, point=p))
    ax.set_xlabel("Adam iteration")
    ax.set_ylabel(r"L1 cost $\|\dot p\|_1$ (estimate)")
    ax.legend(fontsize=7)
    ax.set_title(options.get("title", "luo2022 S2: variational loss"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


@figure("luo2022", "s3")
def short_time_sizes(runs, options):
    return sizes_dynamics(runs, options, "luo2022 S3: short times")


@figure("luo2022", "s4")
def long_time_sizes(runs, options):
    return sizes_dynamics(runs, options, "luo2022 S4: long times")


def sizes_dynamics(runs, options, name):
    obs = options.get("observable", "sz")
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    rows: list[pd.DataFrame] = []
    _dyn_panel(ax, runs, "transformer", "exact", obs, rows, lambda r, p: f"N={r.n_sites(p)}", "trapezoid")
    run = runs["transformer"]
    taus = sorted({run.spec(p)["task"]["dt"] / 2 for p in run.points})
    ax.set_xlabel(r"$\gamma t$")
    ax.set_ylabel(rf"$\langle\sigma^{obs[1]}\rangle$")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the curves, hiding none
    ax.set_title(options.get("title", f"{name}, chain B=10, Jx=20, Jz=10 from y-, tau = "
                             + ", ".join(f"{t:g}" for t in taus)), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


@figure("luo2022", "s5")
def averaged_runs(runs, options):
    obs = options.get("observables", ["sx", "sy", "sz"])
    point = options.get("point")
    fig, axes = plt.subplots(1, len(obs), figsize=(3.2 * len(obs), 3.2), squeeze=False)
    rows = []
    avg = runs["averaged"]
    ap = next(iter(avg.points))
    per_run = avg.provenance(ap).get("per_run_values") or []
    for ax, o in zip(axes[0], obs):
        vals = [r[o][0] for r in per_run if o in r]
        errs = [r[o][1] for r in per_run if o in r]
        ax.errorbar(np.arange(len(vals)), vals, errs, fmt="o", color="C0", ms=4, capsize=2, label="single runs")
        rows += [{"source": "run", "run": k, "observable": o, "value": v, "stderr": e}
                 for k, (v, e) in enumerate(zip(vals, errs))]
        m = _obs(avg, o, ap)
        if len(m):
            v, e = float(m["value"].iloc[0]), float(m["stderr"].iloc[0])
            ax.axhspan(v - e, v + e, color="C1", alpha=0.3, lw=0)
            ax.axhline(v, color="C1", lw=1.5, label=f"average of {len(vals)}")
            rows.append({"source": "average", "observable": o, "value": v, "stderr": e})
        if "single" in runs:
            s = _obs(runs["single"], o, option_point(runs["single"], "luo2022/s5", "point", point))
            if len(s):
                ax.axhline(float(s["value"].iloc[0]), color="C2", ls="--", lw=1, label=f"Fig. 3 run ({point})")
                rows.append({"source": "single", "observable": o, "value": float(s["value"].iloc[0]),
                             "stderr": float(s["stderr"].iloc[0])})
        if "exact" in runs:
            ex = runs["exact"]
            e = _obs(ex, o, option_point(ex, "luo2022/s5", "point", point if len(ex.points) > 1 else None))
            if len(e):
                ax.axhline(float(e["value"].iloc[0]), color="k", lw=1,
                           label=f"exact N={ex.n_sites(e['point'].iloc[0])}")
                rows.append({"source": "exact", "observable": o, "value": float(e["value"].iloc[0]), "stderr": 0.0})
        ax.set_xlabel("run")
        ax.set_xticks(np.arange(len(vals)))
        ax.set_ylabel(rf"$\langle\sigma^{o[1]}\rangle$")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(options.get("title", f"luo2022 S5: averaging independent runs (N={avg.n_sites(ap)})"), fontsize=10)
    fig.tight_layout()
    return fig, pd.DataFrame(rows)
