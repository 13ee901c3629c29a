"""Figures of mellak2024 (CNN density operator vs purified RBM, L2 steady states). Each reads result
tables (and their provenance JSON and histories) only; roles name the runs in the config. A role's label
is read from its spec (ansatz, Hermitian or unconstrained construction, optimizer), and points whose run
carries a warning (`run_health`: the solver's own, disagreeing cost estimates, a cost still falling at the
end) are ringed in red.

fig2  TFI chain, V = 2: sx, sy, sz vs g. Roles exact and any number of neural runs (cnn, cnn_gn, rbm, ...);
      option published: [{g, observable, value, label}] (values quoted in the paper, drawn as stars).
fig3  one g: sx and the cost vs iteration for every neural role; option point (e.g. "g=2.0").
fig4  time per iteration vs chain length from the runs' provenance, with the RBM/CNN ratio. Roles cnn, rbm.
fig5  rotated model, open chain: <X_j X_{j+l}> vs g (the pairs the runs hold) and the positive and
      negative eigenvalues of rho at eig_point with their largest-ratio and positive sum; options
      paper_eig_ratio and paper_positive_sum quote the paper's. Roles cnn (optional cnn_gn), exact (save_rho).
fig6  rotated model, gamma = 1/2, g = +-1: <X_j X_{j+l}> vs l from pair observables sxsx:j,k (or sxsx:l).
      Roles cnn (optional cnn_gn), exact (exact may be smaller).
fig7  convergence with and without pre-training (and a larger lattice): cost, its variance over the
      samples (cost_stderr^2 * ess of the history) and a correlator vs iteration. Roles scratch, pretrained,
      optional large; options observable, points, exact_point.
fig8  2D Heisenberg: sz vs Jy. Roles exact and cnn* (each lattice or network one role).

An option that names a point a run does not have is an error naming the figure, the option and the points
that exist (data.option_point), never a silent fallback to another point.
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from . import figure
from .data import option_point
from ..run_health import run_warnings
from .render import sweep_axis_label


OPTIMIZER_NAMES = {"gn": "Gauss-Newton (this project)", "nagd": "NAGD+", "adam": "Adam", "sr": "SR"}
_PAIR = re.compile(r"^s([xyz])s\1:(\d+),(\d+)$")
_DIST = re.compile(r"^s([xyz])s\1(_c)?:(\d+)$")



def _plot_tracked(ax, h, obs, role, **style):
    """A tracked observable against iteration, with its sampling error where the history has it
    (`{obs}_stderr`, one standard error from the tracking sample); returns the data rows it drew."""
    hh = h.dropna(subset=[obs])
    err = hh[f"{obs}_stderr"] if f"{obs}_stderr" in hh else None
    ax.errorbar(hh["iteration"], hh[obs], yerr=err, fmt="o-", ms=2.5, lw=0.8, elinewidth=0.6, capsize=0, **style)
    out = pd.DataFrame({"source": role, "iteration": hh["iteration"], "quantity": obs, "value": hh[obs]})
    if err is not None:
        out["stderr"] = err.to_numpy()
    return out

def obs_label(name: str) -> str:
    """A readable axis or legend label for an observable name ('sx', 'sxsx:3,4', 'szsz_c:1')."""
    if re.fullmatch(r"s[xyz]", name):
        return rf"$\langle\sigma^{name[1]}\rangle$"
    m = _PAIR.match(name)
    if m:
        a, i, j = m.group(1), int(m.group(2)), int(m.group(3))
        return rf"$\langle\sigma^{a}_{{{i + 1}}}\sigma^{a}_{{{j + 1}}}\rangle$"
    m = _DIST.match(name)
    if m:
        a, c, d = m.group(1), m.group(2), int(m.group(3))
        return rf"$\langle\sigma^{a}_j\sigma^{a}_{{j+{d}}}\rangle" + (r"_c$" if c else "$")
    return name


def run_label(run, point: str | None = None, size: bool = False) -> str:
    """'CNN (Hermitian), NAGD+' from a run's spec."""
    p = point if point in run.points else next(iter(run.points))
    m = run.spec(p)["method"]
    if m["name"] == "cnn":
        name = "CNN (Hermitian)" if m.get("hermitian") else "CNN (unconstrained)"
    elif m["name"] == "rbm_ndo":
        name = "RBM NDO"
    else:
        name = m["name"]
    label = f"{name}, {OPTIMIZER_NAMES.get(m.get('optimizer'), m.get('optimizer', ''))}"
    return f"{label}, N={run.shape_label(p)}" if size else label


def _warned(run, point: str) -> list[str]:
    return run_warnings(run.provenance(point), run.history(point))


def _vs_sweep(run, observable: str, preset_key: str | None = None) -> pd.DataFrame:
    """A run's values of one observable against its sweep value; a run without a sweep sits at its preset's
    `preset_key` (e.g. the 30-spin point at g = 2 beside a g sweep)."""
    t = run.table
    t = t[t["observable"] == observable].copy()
    t["x"] = pd.to_numeric(t["sweep_value"], errors="coerce")
    if preset_key and t["x"].isna().any():
        t["x"] = [x if np.isfinite(x) else run.spec(p)["system"].get("preset", {}).get(preset_key, np.nan)
                  for x, p in zip(t["x"], t["point"])]
    t["warning"] = ["; ".join(_warned(run, p)) for p in t["point"]] if "exact" not in run.dir.name else ""
    return t.sort_values("x")


STYLES = [dict(marker="o", ms=5, mfc="C0", color="C0"), dict(marker="D", ms=6, mfc="none", color="C2", mew=1.2),
          dict(marker="s", ms=6, mfc="none", color="C1", mew=1.2), dict(marker="^", ms=6, mfc="none", color="C4"),
          dict(marker="v", ms=6, mfc="none", color="C5")]


def _neural_roles(runs) -> list[str]:
    return [r for r in runs if r != "exact"]


def _ring_warnings(ax, d, *, labelled: list) -> None:
    w = d[d["warning"].astype(bool)]
    if len(w):
        ax.plot(w["x"], w["value"], "o", ms=12, mfc="none", mec="red", mew=1.0,
                label=None if labelled else "run warning (review table)")
        labelled.append(True)


@figure("mellak2024", "fig2")
def tfi_observables(runs, options):
    obs = options.get("observables", ["sx", "sy", "sz"])
    fig, axes = plt.subplots(1, len(obs), figsize=(3.9 * len(obs), 3.6), squeeze=False)
    rows = []
    roles = _neural_roles(runs)
    offsets = {r: 0.03 * (k - (len(roles) - 1) / 2) for k, r in enumerate(roles)}
    for ax, o in zip(axes[0], obs):
        labelled = []
        if "exact" in runs:
            e = _vs_sweep(runs["exact"], o)
            ax.plot(e["x"], e["value"], "k-", lw=1, label=f"exact, N={runs['exact'].shape_label(e['point'].iloc[0])}")
            rows.append(e.assign(source="exact")[["source", "x", "observable", "value", "stderr", "warning"]])
        for k, role in enumerate(roles):
            d = _vs_sweep(runs[role], o, preset_key="g")
            d["x"] = d["x"] + offsets[role]
            ax.errorbar(d["x"], d["value"], d["stderr"], ls="none", capsize=2,
                        label=run_label(runs[role], size=True), **STYLES[k % len(STYLES)])
            _ring_warnings(ax, d, labelled=labelled)
            rows.append(d.assign(source=role, x=d["x"] - offsets[role])
                        [["source", "x", "observable", "value", "stderr", "warning"]])
        for pub in options.get("published", []):
            if pub["observable"] == o:
                ax.plot([pub["g"]], [pub["value"]], "*", ms=11, color="C3", label=pub.get("label", "paper"))
                rows.append(pd.DataFrame({"source": ["published"], "x": [pub["g"]], "observable": [o],
                                          "value": [pub["value"]], "stderr": [np.nan], "warning": [""]}))
        ax.set_xlabel(sweep_axis_label(runs["exact" if "exact" in runs else roles[0]].table["sweep_key"].iloc[0]) or "g")
        ax.set_ylabel(obs_label(o))
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle(options.get("title", "mellak2024 Fig. 2: dissipative TFI ring, V = 2"), fontsize=10)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)  # below: no data hidden
    return fig, pd.concat(rows, ignore_index=True)


@figure("mellak2024", "fig3")
def convergence_cnn_vs_rbm(runs, options):
    point = options.get("point")
    obs = options.get("observable", "sx")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    rows = []
    roles = sorted(_neural_roles(runs), key=lambda r: (not r.startswith("cnn"), r))
    for i, role in enumerate(roles):
        run = runs[role]
        p = option_point(run, "mellak2024/fig3", "point", point)
        label = run_label(run, p)
        h = run.history(p)
        if h is None:
            continue
        if _warned(run, p):
            label += " [warning]"
        color = f"C{i}"
        if obs in h:
            rows.append(_plot_tracked(a1, h, obs, role, color=color, label=label))
        a2.semilogy(h["iteration"], h["cost"], color=color, lw=0.8, label=label)
        rows.append(pd.DataFrame({"source": role, "iteration": h["iteration"], "quantity": "cost", "value": h["cost"]}))
    if "exact" in runs:
        ex = runs["exact"]
        # a one-point reference (the exact state at the same size) stands for whichever point is named
        pe = option_point(ex, "mellak2024/fig3", "point", point if len(ex.points) > 1 else None)
        sel = ex.table[(ex.table["observable"] == obs) & (ex.table["point"] == pe)]
        if len(sel):
            a1.axhline(float(sel["value"].iloc[0]), color="k", lw=1, label="exact")
            rows.append(pd.DataFrame({"source": ["exact"], "iteration": [np.nan], "quantity": [obs],
                                      "value": [float(sel["value"].iloc[0])]}))
    a1.set_xlabel("iteration")
    a1.set_ylabel(obs_label(obs) + " (tracked)")
    a2.set_xlabel("iteration")
    a2.set_ylabel(r"cost $\|\mathcal{L}\rho\|^2/\|\rho\|^2$")
    a1.legend(fontsize=6.5)
    fig.suptitle(options.get("title", f"mellak2024 Fig. 3 ({point})"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)


@figure("mellak2024", "fig4")
def time_per_iteration(runs, options):
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    rows = []
    for role in ("cnn", "rbm"):
        if role not in runs:
            continue
        run = runs[role]
        for p in run.points:
            prov = run.provenance(p)
            rows.append({"source": role, "label": run_label(run, p), "n_sites": run.n_sites(p),
                         "n_params": prov.get("n_params"), "time_per_iteration_s": prov.get("time_per_iteration_s"),
                         "device": prov.get("device")})
    df = pd.DataFrame(rows).sort_values(["source", "n_sites"])
    for role, color in (("cnn", "C0"), ("rbm", "C1")):
        d = df[df["source"] == role]
        if len(d):
            ax.loglog(d["n_sites"], d["time_per_iteration_s"], "o-", color=color, label=d["label"].iloc[0])
    both = df.pivot_table(index="n_sites", columns="source", values="time_per_iteration_s")
    if {"cnn", "rbm"} <= set(both.columns):
        ratio = (both["cnn"] / both["rbm"]).dropna()
        df["cnn_over_rbm"] = df["n_sites"].map(ratio)
        ax.text(0.03, 0.97, "CNN / RBM: " + ", ".join(f"{r:.2g} (N={n})" for n, r in ratio.items()),
                transform=ax.transAxes, va="top", fontsize=7)
    sizes = sorted(df["n_sites"].unique())
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("chain length N")
    ax.set_ylabel("time per iteration (s)")
    ax.legend(fontsize=7, loc="lower right")
    dev = ", ".join(sorted(set(df["device"].dropna().astype(str))))
    ax.set_title(options.get("title", f"mellak2024 Fig. 4 ({dev})"), fontsize=9)
    fig.tight_layout()
    return fig, df


def eigen_summary(ev: np.ndarray) -> dict:
    """Largest positive eigenvalue over the largest |negative| one, and the sum of the positive ones."""
    ev = np.asarray(ev, float)
    pos, neg = ev[ev > 0], ev[ev < 0]
    ratio = float(pos.max() / -neg.min()) if pos.size and neg.size else np.inf
    return {"ratio": ratio, "positive_sum": float(pos.sum())}


@figure("mellak2024", "fig5")
def rotated_correlations_and_spectrum(runs, options):
    cnn = runs["cnn"]
    names = sorted({o for o in cnn.table["observable"] if _PAIR.match(o) and _PAIR.match(o).group(1) == "x"},
                   key=lambda o: int(_PAIR.match(o).group(3)))
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8.2, 7.6))
    rows = []
    roles = _neural_roles(runs)
    labelled = []
    for k, o in enumerate(names):
        m = _PAIR.match(o)
        lab = rf"$l={int(m.group(3)) - int(m.group(2))}$"
        if "exact" in runs:
            e = _vs_sweep(runs["exact"], o)
            a1.plot(e["x"], e["value"], "-", color=f"C{k}", lw=1)
            rows.append(e.assign(source="exact")[["source", "x", "observable", "value", "stderr"]])
        for r, role in enumerate(roles):
            d = _vs_sweep(runs[role], o)
            a1.errorbar(d["x"] + 0.04 * r, d["value"], d["stderr"], fmt="os"[r % 2], color=f"C{k}", ms=5 - r,
                        mfc=None if r == 0 else "none", capsize=2, label=lab if r == 0 else None)
            _ring_warnings(a1, d.assign(x=d["x"] + 0.04 * r), labelled=labelled)
            rows.append(d.assign(source=role)[["source", "x", "observable", "value", "stderr"]])
    j = int(_PAIR.match(names[0]).group(2)) + 1 if names else 0
    first = next(iter(cnn.points))
    a1.set_xlabel(r"$g$  ($H = \frac{V}{4}\sum_j\sigma^x_j\sigma^x_{j+1} + \frac{g}{2}\sum_j\sigma^z_j$, "
                  rf"$V={cnn.spec(first)['system'].get('preset', {}).get('V', -2)}$)")
    a1.set_ylabel(rf"$\langle\sigma^x_{{{j}}}\sigma^x_{{{j}+l}}\rangle$")
    title = "; ".join(f"{'points' if r == 0 else 'open squares'}: {run_label(runs[role])}"
                      for r, role in enumerate(roles))
    a1.legend(fontsize=7, title=title.replace("; ", "\n") + "\nlines: exact", title_fontsize=6.5, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))  # beside the panel: no point hidden
    point = option_point(cnn, "mellak2024/fig5", "eig_point", options.get("eig_point"), default=first)
    pr, ps = options.get("paper_eig_ratio"), options.get("paper_positive_sum")
    lines = []
    for r, role in enumerate(roles):
        run = runs[role]
        option_point(run, "mellak2024/fig5", "eig_point", point)
        ev = np.array(run.provenance(point).get("rho_eigenvalues", []))
        if not ev.size:
            continue
        idx = np.arange(ev.size)
        s = eigen_summary(ev)
        name = run_label(run, point)
        a2.semilogy(idx[ev > 0], ev[ev > 0], "os"[r % 2], ms=3, color=f"C{2 * r}", mfc=None if r == 0 else "none",
                    label=rf"{name}: $\lambda>0$")
        a2.semilogy(idx[ev < 0], -ev[ev < 0], "x+"[r % 2], ms=4, color=f"C{2 * r + 1}",
                    label=rf"{name}: $|\lambda|$, $\lambda<0$")
        rows.append(pd.DataFrame({"source": f"{role}_eig", "x": idx, "observable": "eigenvalue", "value": ev,
                                  "stderr": np.nan}))
        rows.append(pd.DataFrame({"source": f"{role}_eig_summary", "x": [np.nan, np.nan],
                                  "observable": ["max_pos_over_max_abs_neg", "positive_sum"],
                                  "value": [s["ratio"], s["positive_sum"]], "stderr": np.nan}))
        lines.append(f"{name}: largest positive / largest |negative| {s['ratio']:.3g}, positive sum "
                     f"{s['positive_sum']:.6f}")
    if lines:
        paper = ("paper: " + (f"ratio > {pr:.0e}" if pr else "") + (f", positive sum {ps}" if ps else "")) if (pr or ps) else ""
        a2.set_title(f"{point}\n" + "\n".join(lines + ([paper] if paper else [])), fontsize=7)
    if "exact" in runs:
        ex = runs["exact"]
        f = ex.state_file(option_point(ex, "mellak2024/fig5", "eig_point", point), "rho.npz")
        if f.exists():
            eve = np.sort(np.linalg.eigvalsh(np.load(f)["rho"]))[::-1]
            a2.semilogy(np.arange(eve.size)[eve > 1e-16], eve[eve > 1e-16], "k-", lw=1, label="exact")
            rows.append(pd.DataFrame({"source": "exact_eig", "x": np.arange(eve.size), "observable": "eigenvalue",
                                      "value": eve, "stderr": 0.0}))
    a2.set_xlabel("index (descending)")
    a2.set_ylabel(r"eigenvalue of $\rho$")
    a2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(options.get("title", f"mellak2024 Fig. 5: rotated TFI, open chain of {cnn.shape_label(first)}"),
                 fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)


def _distance_table(run, axis="x") -> pd.DataFrame:
    """<A_j A_{j+l}> vs l from pair observables 'sxsx:j,k' (l = k - j) or distance ones 'sxsx:l'."""
    t = run.table.copy()
    ls = []
    for o in t["observable"]:
        m, d = _PAIR.match(o), _DIST.match(o)
        if m and m.group(1) == axis:
            ls.append(int(m.group(3)) - int(m.group(2)))
        elif d and d.group(1) == axis and not d.group(2):
            ls.append(int(d.group(3)))
        else:
            ls.append(-1)
    t["l"] = ls
    t = t[t["l"] >= 0].copy()
    t["x"] = pd.to_numeric(t["sweep_value"], errors="coerce")
    return t.sort_values(["x", "l"])


@figure("mellak2024", "fig6")
def correlations_vs_distance(runs, options):
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    rows = []
    roles = _neural_roles(runs)
    gs = sorted(_distance_table(runs[roles[0]])["x"].unique())
    for k, g in enumerate(gs):
        if "exact" in runs:
            e = _distance_table(runs["exact"])
            e = e[np.isclose(e["x"], g)]
            if len(e):
                ax.plot(e["l"], e["value"], "-", color=f"C{k}", lw=1,
                        label=f"exact g={g:g}, N={runs['exact'].shape_label(e['point'].iloc[0])}")
                rows.append(e.assign(source="exact")[["source", "x", "l", "value", "stderr"]])
        for r, role in enumerate(roles):
            d = _distance_table(runs[role])
            d = d[np.isclose(d["x"], g)]
            if not len(d):
                continue
            warn = _warned(runs[role], d["point"].iloc[0])
            ax.errorbar(d["l"] + 0.08 * r, d["value"], d["stderr"], fmt="oD"[r % 2], color=f"C{k}", capsize=2,
                        ms=5, mfc=None if r == 0 else "none",
                        label=f"g={g:g}: {run_label(runs[role], d['point'].iloc[0], size=True)}"
                        + (" [warning]" if warn else ""))
            rows.append(d.assign(source=role)[["source", "x", "l", "value", "stderr"]])
    ax.axhline(0, color="0.7", lw=0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("distance l from the middle site j = N/2")
    ax.set_ylabel(r"$\langle\sigma^x_j\sigma^x_{j+l}\rangle$")
    ax.legend(fontsize=6.5)
    ax.set_title(options.get("title", r"mellak2024 Fig. 6: rotated TFI, open chain, $\gamma=1/2$"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)


@figure("mellak2024", "fig7")
def pretraining_convergence(runs, options):
    # one observable name, or one per role (the middle site moves with N); exact_observable for the reference
    obs_opt = options.get("observable", "sxsx:1")
    obs_of = (lambda role: obs_opt.get(role)) if isinstance(obs_opt, dict) else (lambda role: obs_opt)
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(12, 3.6))
    rows = []
    points = options.get("points", {})
    for k, role in enumerate(("scratch", "pretrained", "large")):
        if role not in runs:
            continue
        run = runs[role]
        p = option_point(run, "mellak2024/fig7", f"points.{role}", points.get(role))
        h = run.history(p)
        lab = f"N={run.shape_label(p)} " + {"scratch": "from scratch", "pretrained": "pre-trained",
                                              "large": "pre-trained"}[role]
        lab += f" ({run_label(run, p)})" + (" [warning]" if _warned(run, p) else "")
        a1.semilogy(h["iteration"], h["cost"], color=f"C{k}", lw=0.8, label=lab)
        rows.append(pd.DataFrame({"source": role, "iteration": h["iteration"], "quantity": "cost", "value": h["cost"]}))
        if {"cost_stderr", "ess"} <= set(h.columns):
            var = h["cost_stderr"] ** 2 * h["ess"]
            a2.semilogy(h["iteration"], var, color=f"C{k}", lw=0.8, label=lab)
            rows.append(pd.DataFrame({"source": role, "iteration": h["iteration"], "quantity": "cost_variance",
                                      "value": var}))
        obs = obs_of(role)
        if obs in h:
            rows.append(_plot_tracked(a3, h, obs, role, color=f"C{k}", label=lab))
    if "exact" in runs:
        ex = runs["exact"]
        pe = option_point(ex, "mellak2024/fig7", "exact_point", options.get("exact_point"))
        sel = ex.table[(ex.table["observable"] == options.get("exact_observable", obs_of("exact") or obs_of("scratch")))
                       & (ex.table["point"] == pe)]
        if len(sel):
            a3.axhline(float(sel["value"].iloc[0]), color="k", lw=1,
                       label=f"exact, N={runs['exact'].shape_label(sel['point'].iloc[0])}")
    for a in (a1, a2, a3):
        a.set_xlabel("iteration")
    a1.set_ylabel(r"cost $\langle|L_{loc}|^2\rangle$")
    a2.set_ylabel(r"variance of $|L_{loc}|^2$ over the samples")
    names = {obs_of(r) for r in ("scratch", "pretrained", "large") if r in runs}
    a3.set_ylabel((obs_label(names.pop()) if len(names) == 1 else r"$\langle\sigma^x_j\sigma^x_{j+1}\rangle$, $j=N/2$")
                  + " (tracked)")
    handles, labels = a3.get_legend_handles_labels()
    fig.suptitle(options.get("title", "mellak2024 Fig. 7: convergence with and without pre-training"), fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)  # below: no curve hidden
    return fig, pd.concat(rows, ignore_index=True)


@figure("mellak2024", "fig8")
def heisenberg_2d(runs, options):
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    rows = []
    labelled = []
    if "exact" in runs:
        e = _vs_sweep(runs["exact"], "sz")
        ax.plot(e["x"], e["value"], "k-", lw=1, label=f"exact {runs['exact'].shape_label(e['point'].iloc[0])}")
        rows.append(e.assign(source="exact")[["source", "x", "observable", "value", "stderr", "warning"]])
    for k, role in enumerate(r for r in runs if r.startswith("cnn")):
        d = _vs_sweep(runs[role], "sz")
        first = d["point"].iloc[0]
        n_params = runs[role].provenance(first).get("n_params")
        ax.errorbar(d["x"], d["value"], d["stderr"], ls="none", capsize=2,
                    label=f"{run_label(runs[role], first)}, {runs[role].shape_label(first)}"
                    + (f", {n_params} parameters" if n_params else ""), **STYLES[k % len(STYLES)])
        _ring_warnings(ax, d, labelled=labelled)
        rows.append(d.assign(source=role)[["source", "x", "observable", "value", "stderr", "warning"]])
    ax.set_xlabel(r"$J_y/\gamma$")
    ax.set_ylabel(r"$\langle\sigma^z\rangle$")
    ax.legend(fontsize=6.5)
    ax.set_title(options.get("title", r"mellak2024 Fig. 8: 2D Heisenberg, $J_x=0.9$, $J_z=1$"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)
