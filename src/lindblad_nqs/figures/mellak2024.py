"""Figures of mellak2024 (CNN density operator vs purified RBM, L2 steady states). Each reads result
tables (and their provenance JSON and histories) only; roles name the runs in the config.

fig2  TFI chain, V = 2: sx, sy, sz vs g. Roles cnn, rbm, exact (g sweeps).
fig3  one g: sx and the cost vs iteration, CNN vs RBM. Roles exact and any number of runs (cnn, rbm,
      cnn_nagd, ...), each labelled by its ansatz and optimizer; option point (e.g. "g=1.5").
fig4  time per iteration vs chain length, CNN vs RBM, from the runs' provenance. Roles cnn, rbm (size sweeps).
fig5  rotated model, open chain: <X_j X_{j+l}> vs g (j = N/2 - 1 in 0-based sites) and the positive and
      negative eigenvalues of rho. Roles cnn, exact (exact with save_rho); option eig_point.
fig6  rotated model, gamma = 1/2, g = +-1: <X_j X_{j+l}> vs l. Roles cnn, exact (exact may be smaller).
fig7  convergence with and without pre-training (and a larger lattice): cost and a correlator vs
      iteration. Roles pretrained, scratch, optional large; option observable.
fig8  2D Heisenberg: sz vs Jy. Roles cnn (smallest lattice), exact, optional cnn_large* (pre-trained).
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import figure
from .render import sweep_axis_label


OPTIMIZER_NAMES = {"gn": "Gauss-Newton", "nagd": "NAGD+", "adam": "Adam", "sr": "SR"}


def _vs_sweep(run, observable: str) -> pd.DataFrame:
    t = run.table
    t = t[t["observable"] == observable].copy()
    t["x"] = pd.to_numeric(t["sweep_value"], errors="coerce")
    return t.sort_values("x")


@figure("mellak2024", "fig2")
def tfi_observables(runs, options):
    obs = options.get("observables", ["sx", "sy", "sz"])
    fig, axes = plt.subplots(1, len(obs), figsize=(3.6 * len(obs), 3.2), squeeze=False)
    rows = []
    styles = {"cnn": dict(marker="o", ls="none", color="C0", label="CNN"),
              "rbm": dict(marker="s", ls="none", color="C1", mfc="none", label="RBM NDO")}
    for ax, o in zip(axes[0], obs):
        if "exact" in runs:
            e = _vs_sweep(runs["exact"], o)
            ax.plot(e["x"], e["value"], "k-", lw=1, label="exact")
            rows.append(e.assign(source="exact")[["source", "x", "observable", "value", "stderr"]])
        for role in ("cnn", "rbm"):
            if role in runs:
                d = _vs_sweep(runs[role], o)
                ax.errorbar(d["x"], d["value"], d["stderr"], capsize=2, **styles[role])
                rows.append(d.assign(source=role)[["source", "x", "observable", "value", "stderr"]])
        ax.set_xlabel(sweep_axis_label(runs[next(iter(runs))].table["sweep_key"].iloc[0]) or "g")
        ax.set_ylabel(rf"$\langle\sigma^{o[1]}\rangle$")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(options.get("title", "mellak2024 Fig. 2: dissipative TFI chain, V = 2"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)


@figure("mellak2024", "fig3")
def convergence_cnn_vs_rbm(runs, options):
    point = options.get("point")
    obs = options.get("observable", "sx")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    rows = []
    roles = [r for r in runs if r != "exact"]
    for i, role in enumerate(sorted(roles, key=lambda r: (not r.startswith("cnn"), r))):
        run = runs[role]
        p = point if point in run.points else next(iter(run.points))
        m = run.spec(p)["method"]
        label = f"{'CNN' if m['name'] == 'cnn' else 'RBM NDO'}, {OPTIMIZER_NAMES.get(m.get('optimizer'), m.get('optimizer', ''))}"
        color = f"C{i}"
        h = run.history(p)
        if h is None:
            continue
        if obs in h:
            hh = h.dropna(subset=[obs])
            a1.plot(hh["iteration"], hh[obs], color=color, label=label)
            rows.append(pd.DataFrame({"source": role, "iteration": hh["iteration"], "quantity": obs, "value": hh[obs]}))
        a2.semilogy(h["iteration"], h["cost"], color=color, lw=0.8, label=label)
        rows.append(pd.DataFrame({"source": role, "iteration": h["iteration"], "quantity": "cost", "value": h["cost"]}))
    if "exact" in runs:
        ex = runs["exact"].table
        sel = ex[(ex["observable"] == obs) & ((ex["point"] == point) | (len(runs["exact"].points) == 1))]
        if len(sel):
            a1.axhline(float(sel["value"].iloc[0]), color="k", lw=1, label="exact")
            rows.append(pd.DataFrame({"source": ["exact"], "iteration": [np.nan], "quantity": [obs],
                                      "value": [float(sel["value"].iloc[0])]}))
    a1.set_xlabel("iteration")
    a1.set_ylabel(rf"$\langle\sigma^{obs[1]}\rangle$")
    a2.set_xlabel("iteration")
    a2.set_ylabel(r"cost $\|\mathcal{L}\rho\|^2/\|\rho\|^2$")
    a1.legend(fontsize=8)
    fig.suptitle(options.get("title", f"mellak2024 Fig. 3 ({point})"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)


@figure("mellak2024", "fig4")
def time_per_iteration(runs, options):
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    rows = []
    for role, color, label in (("cnn", "C0", "CNN"), ("rbm", "C1", "RBM NDO")):
        if role not in runs:
            continue
        run = runs[role]
        for p in run.points:
            prov = run.provenance(p)
            rows.append({"source": role, "n_sites": run.n_sites(p), "n_params": prov.get("n_params"),
                         "time_per_iteration_s": prov.get("time_per_iteration_s"), "device": prov.get("device")})
    df = pd.DataFrame(rows).sort_values(["source", "n_sites"])
    for role, color, label in (("cnn", "C0", "CNN"), ("rbm", "C1", "RBM NDO")):
        d = df[df["source"] == role]
        if len(d):
            ax.loglog(d["n_sites"], d["time_per_iteration_s"], "o-", color=color, label=label)
    ax.set_xlabel("chain length N")
    ax.set_ylabel("time per iteration (s)")
    ax.legend(fontsize=8)
    dev = ", ".join(sorted(set(df["device"].dropna().astype(str))))
    ax.set_title(options.get("title", f"mellak2024 Fig. 4 ({dev})"), fontsize=10)
    fig.tight_layout()
    return fig, df


_PAIR = re.compile(r"^s(x)sx:(\d+),(\d+)$")


@figure("mellak2024", "fig5")
def rotated_correlations_and_spectrum(runs, options):
    cnn = runs["cnn"]
    names = sorted({o for o in cnn.table["observable"] if _PAIR.match(o)},
                   key=lambda o: int(_PAIR.match(o).group(3)))
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(5, 6.5))
    rows = []
    for k, o in enumerate(names):
        m = _PAIR.match(o)
        lab = rf"$l={int(m.group(3)) - int(m.group(2))}$"
        if "exact" in runs:
            e = _vs_sweep(runs["exact"], o)
            a1.plot(e["x"], e["value"], "-", color=f"C{k}", lw=1)
            rows.append(e.assign(source="exact")[["source", "x", "observable", "value", "stderr"]])
        d = _vs_sweep(cnn, o)
        a1.errorbar(d["x"], d["value"], d["stderr"], fmt="o", color=f"C{k}", ms=4, capsize=2, label=lab)
        rows.append(d.assign(source="cnn")[["source", "x", "observable", "value", "stderr"]])
    a1.set_xlabel("g")
    a1.set_ylabel(r"$\langle\sigma^x_j\sigma^x_{j+l}\rangle$")
    a1.legend(fontsize=7, ncol=2, title="CNN (points), exact (lines)", title_fontsize=7)
    point = options.get("eig_point", next(iter(cnn.points)))
    prov = cnn.provenance(point if point in cnn.points else next(iter(cnn.points)))
    ev = np.array(prov.get("rho_eigenvalues", []))
    if ev.size:
        idx = np.arange(ev.size)
        a2.semilogy(idx[ev > 0], ev[ev > 0], "o", ms=3, color="C0", label=r"CNN $\lambda>0$")
        a2.semilogy(idx[ev < 0], -ev[ev < 0], "x", ms=4, color="C3", label=r"CNN $|\lambda|$, $\lambda<0$")
        rows.append(pd.DataFrame({"source": "cnn_eig", "x": idx, "observable": "eigenvalue", "value": ev,
                                  "stderr": np.nan}))
        a2.set_title(f"{point}: sum of positive eigenvalues {prov.get('rho_positive_sum', np.nan):.6f}", fontsize=9)
    if "exact" in runs:
        ex = runs["exact"]
        p = point if point in ex.points else None
        f = ex.state_file(p, "rho.npz") if p else None
        if f is not None and f.exists():
            eve = np.sort(np.linalg.eigvalsh(np.load(f)["rho"]))[::-1]
            a2.semilogy(np.arange(eve.size)[eve > 1e-16], eve[eve > 1e-16], "k-", lw=1, label="exact")
            rows.append(pd.DataFrame({"source": "exact_eig", "x": np.arange(eve.size), "observable": "eigenvalue",
                                      "value": eve, "stderr": 0.0}))
    a2.set_xlabel("index")
    a2.set_ylabel("eigenvalue of rho")
    a2.legend(fontsize=7)
    fig.suptitle(options.get("title", "mellak2024 Fig. 5: rotated TFI, open chain, V = -2"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)


def _distance_table(run, prefix="sxsx:") -> pd.DataFrame:
    t = run.table
    t = t[t["observable"].str.startswith(prefix) & ~t["observable"].str.contains(",")].copy()
    t["l"] = t["observable"].str.split(":").str[1].astype(int)
    t["x"] = pd.to_numeric(t["sweep_value"], errors="coerce")
    return t.sort_values(["x", "l"])


@figure("mellak2024", "fig6")
def correlations_vs_distance(runs, options):
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    rows = []
    cnn = _distance_table(runs["cnn"])
    for k, (g, d) in enumerate(cnn.groupby("x")):
        ax.errorbar(d["l"], d["value"], d["stderr"], fmt="o", color=f"C{k}", capsize=2,
                    label=f"CNN g={g:g}, N={runs['cnn'].n_sites(d['point'].iloc[0])}")
        rows.append(d.assign(source="cnn")[["source", "x", "l", "value", "stderr"]])
        if "exact" in runs:
            e = _distance_table(runs["exact"])
            e = e[np.isclose(e["x"], g)]
            if len(e):
                ax.plot(e["l"], e["value"], "-", color=f"C{k}", lw=1,
                        label=f"exact g={g:g}, N={runs['exact'].n_sites(e['point'].iloc[0])}")
                rows.append(e.assign(source="exact")[["source", "x", "l", "value", "stderr"]])
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_xlabel("distance l")
    ax.set_ylabel(r"$\langle\sigma^x_j\sigma^x_{j+l}\rangle$")
    ax.legend(fontsize=7)
    ax.set_title(options.get("title", r"mellak2024 Fig. 6: rotated TFI, $\gamma=1/2$"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)


@figure("mellak2024", "fig7")
def pretraining_convergence(runs, options):
    obs = options.get("observable", "sxsx:1")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.5, 3.3))
    rows = []
    points = options.get("points", {})
    for k, role in enumerate(("scratch", "pretrained", "large")):
        if role not in runs:
            continue
        run = runs[role]
        p = points.get(role) if points.get(role) in run.points else next(iter(run.points))
        h = run.history(p)
        lab = f"N={run.shape_label(p)} " + {"scratch": "from scratch", "pretrained": "pre-trained", "large": "pre-trained"}[role]
        a1.semilogy(h["iteration"], h["cost"], color=f"C{k}", lw=0.8, label=lab)
        rows.append(pd.DataFrame({"source": role, "iteration": h["iteration"], "quantity": "cost", "value": h["cost"]}))
        if obs in h:
            hh = h.dropna(subset=[obs])
            a2.plot(hh["iteration"], hh[obs], color=f"C{k}", label=lab)
            rows.append(pd.DataFrame({"source": role, "iteration": hh["iteration"], "quantity": obs, "value": hh[obs]}))
    if "exact" in runs:
        ex = runs["exact"].table
        sel = ex[ex["observable"] == obs]
        point = options.get("exact_point")
        if point:
            sel = sel[sel["point"] == point]
        if len(sel):
            a2.axhline(float(sel["value"].iloc[0]), color="k", lw=1, label="exact")
    a1.set_xlabel("iteration")
    a1.set_ylabel("cost")
    a2.set_xlabel("iteration")
    a2.set_ylabel(obs)
    a1.legend(fontsize=7)
    a2.legend(fontsize=7)
    fig.suptitle(options.get("title", "mellak2024 Fig. 7: convergence with and without pre-training"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)


@figure("mellak2024", "fig8")
def heisenberg_2d(runs, options):
    fig, ax = plt.subplots(figsize=(4.8, 3.5))
    rows = []
    if "exact" in runs:
        e = _vs_sweep(runs["exact"], "sz")
        ax.plot(e["x"], e["value"], "k-", lw=1, label=f"exact {runs['exact'].shape_label(e['point'].iloc[0])}")
        rows.append(e.assign(source="exact")[["source", "x", "observable", "value", "stderr"]])
    for k, role in enumerate(r for r in runs if r.startswith("cnn")):
        d = _vs_sweep(runs[role], "sz")
        first = d["point"].iloc[0]
        n_params = runs[role].provenance(first).get("n_params")
        ax.errorbar(d["x"], d["value"], d["stderr"], fmt="os^v"[k % 4], color=f"C{k}", capsize=2, ms=4,
                    label=f"CNN {runs[role].shape_label(first)}" + (f", {n_params} parameters" if n_params else ""))
        rows.append(d.assign(source=role)[["source", "x", "observable", "value", "stderr"]])
    ax.set_xlabel(r"$J_y/\gamma$")
    ax.set_ylabel(r"$\langle\sigma^z\rangle$")
    ax.legend(fontsize=7)
    ax.set_title(options.get("title", r"mellak2024 Fig. 8: 2D Heisenberg, $J_x=0.9$, $J_z=1$"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)
