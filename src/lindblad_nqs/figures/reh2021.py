"""Figures of reh2021 (POVM + autoregressive RNN, TDVP). They read result tables only; roles name the
runs in the config.

fig2  (a) sx, sy, sz and (b) the next-nearest-neighbour connected correlators C_aa(d = 2) of the XYZ
      chain from y-: roles chain (rnn_tdvp), chain_exact (exact, any chain length). (c) sz of the square
      lattice from z+ for each Jy and (d) the nearest-neighbour connected correlators C_aa(1) at one Jy
      (option correlator_point, default the last point): roles square (rnn_tdvp, Jy sweep),
      square_trajectories (mcwf, same sweep; error bands) and square_exact (exact, same sweep, any size).
      Reference roles are optional; a point is matched by its label (Jy=1.8).
fig3  (a) sx, sy, sz of the confinement chain with dephasing: roles network (rnn_tdvp) and reference
      (mcwf or exact; option reference_point picks the dissipative point of a dephasing sweep);
      then the connected correlations C(d, t) = szsz_c:d as space-time maps: the network's (with half
      the reference's length dashed when the reference is the shorter ring: beyond it the reference has
      wrapped around), the reference's where it has them, and the unitary chain's (role unitary, method
      tebd). The maps share one colour scale (option vmax; default the largest |C| of the noise-free
      maps, reference and unitary, else of the network's).
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import figure
from .data import option_point

_COLOURS = {"x": "C0", "y": "C1", "z": "C2"}


def _obs(run, observable: str, point: str | None = None) -> pd.DataFrame:
    t = run.table
    t = t[t["observable"] == observable]
    if point is not None:
        t = t[t["point"] == point]
    return t.sort_values("t")


def _one_point(run, role: str) -> str:
    if len(run.points) != 1:
        raise ValueError(f"reh2021: role {role} must be a run with one point, got {list(run.points)}")
    return next(iter(run.points))


def _method(run, point):
    return run.provenance(point).get("method", "?")


def _net_label(run, point) -> str:
    s = run.spec(point)["method"]
    return f"RNN ({s.get('cell', 'gru').upper()} {s.get('hidden', '?')}, N={run.shape_label(point)})"


def _points(ax, d, colour, label, marker="o"):
    ax.errorbar(d["t"], d["value"], d["stderr"], fmt=marker, ms=2.5, color=colour, capsize=1, lw=0.8,
                label=label)


def _line(ax, d, colour, label, ls="-"):
    line, = ax.plot(d["t"], d["value"], ls, color=colour, lw=1, label=label)
    if (d["stderr"] > 0).any():
        ax.fill_between(d["t"], d["value"] - d["stderr"], d["value"] + d["stderr"], color=colour, alpha=0.2, lw=0)
    return line


def _clip(ref: pd.DataFrame, t_max: float) -> pd.DataFrame:
    # references may run longer than the network; show them over the network's range
    return ref[ref["t"] <= t_max + 1e-9]


@figure("reh2021", "fig2")
def fig2(runs, options):
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.4))
    rows: list[pd.DataFrame] = []
    chain = runs.get("chain")
    if chain is not None:
        pc = _one_point(chain, "chain")
        t_max = float(chain.table["t"].max())
        ex = runs.get("chain_exact")
        pe = _one_point(ex, "chain_exact") if ex is not None else None
        for panel, names in ((axes[0, 0], [f"s{a}" for a in "xyz"]),
                             (axes[0, 1], [f"s{a}s{a}_c:2" for a in "xyz"])):
            for name in names:
                a = name[1]
                d = _obs(chain, name)
                _points(panel, d, _COLOURS[a], f"{_label(name)} {_net_label(chain, pc)}" if a == "x" else _label(name))
                rows.append(d.assign(source="chain"))
                if ex is not None:
                    e = _clip(_obs(ex, name), t_max)
                    _line(panel, e, _COLOURS[a], f"exact N={ex.shape_label(pe)}" if a == "x" else None)
                    rows.append(e.assign(source="chain_exact"))
        axes[0, 0].set_ylabel(r"$\langle\sigma^a\rangle$")
        axes[0, 1].set_ylabel(r"$C_{aa}(d=2)$")
    sq = runs.get("square")
    if sq is not None:
        points = list(sq.points)
        t_max = float(sq.table["t"].max())
        corr_point = option_point(sq, "reh2021/fig2", "correlator_point", options.get("correlator_point"),
                                  default=points[-1])
        traj, sx = runs.get("square_trajectories"), runs.get("square_exact")
        for k, p in enumerate(points):
            d = _obs(sq, "sz", p)
            _points(axes[1, 0], d, f"C{k}", f"RNN {sq.shape_label(p)} {p}")
            rows.append(d.assign(source="square"))
            for role, ref, ls in (("square_trajectories", traj, "--"), ("square_exact", sx, "-")):
                if ref is not None and p in ref.points:
                    e = _clip(_obs(ref, "sz", p), t_max)
                    _line(axes[1, 0], e, f"C{k}", f"{_ref_name(ref, p)} {ref.shape_label(p)} {p}", ls)
                    rows.append(e.assign(source=role))
        for a in "xyz":
            name = f"s{a}s{a}_c:1"
            d = _obs(sq, name, corr_point)
            if d.empty:
                continue
            _points(axes[1, 1], d, _COLOURS[a], f"{_label(name)} RNN {sq.shape_label(corr_point)}")
            rows.append(d.assign(source="square"))
            for role, ref, ls in (("square_trajectories", traj, "--"), ("square_exact", sx, "-")):
                if ref is not None and corr_point in ref.points:
                    e = _clip(_obs(ref, name, corr_point), t_max)
                    if not e.empty:
                        _line(axes[1, 1], e, _COLOURS[a],
                              f"{_ref_name(ref, corr_point)} {ref.shape_label(corr_point)}" if a == "x" else None, ls)
                        rows.append(e.assign(source=role))
        axes[1, 0].set_ylabel(r"$\langle\sigma^z\rangle$")
        axes[1, 1].set_ylabel(rf"$C_{{aa}}(d=1)$, {corr_point}")
    titles = ("(a) chain J=(2,0,1), hz=1, from y-", "(b) chain, next-nearest neighbours",
              "(c) square J=(0.9, Jy, 1), from z+", "(d) square, nearest neighbours")
    for ax, title in zip(axes.flat, titles):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(r"$\gamma t$")
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=6, ncol=2)
    fig.suptitle(options.get("title", "reh2021 Fig. 2: POVM TDVP with an RNN vs references"), fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _label(name: str) -> str:
    m = re.match(r"^s([xyz])s\1_c:(\d+)$", name)
    if m:
        return f"C{m.group(1) * 2}({m.group(2)})"
    return name


def _ref_name(run, point) -> str:
    method = _method(run, point)
    if method == "mcwf":
        return f"MCWF ({run.provenance(point).get('ntraj', '?')} traj.)"
    return method


def _correlation_map(run, point) -> pd.DataFrame:
    t = run.table[run.table["point"] == point]
    t = t[t["observable"].str.match(r"^szsz_c:\d+$")]
    d = t["observable"].str.split(":").str[1].astype(int)
    return t.assign(d=d)[["t", "d", "value", "stderr"]]


def _draw_map(ax, m: pd.DataFrame, vmax: float, title: str):
    grid = m.pivot_table(index="t", columns="d", values="value").sort_index()
    ds, ts = grid.columns.to_numpy(), grid.index.to_numpy()
    # cells centred on the measured distances and save times
    de = np.concatenate([[ds[0] - 0.5], ds + 0.5])
    te = np.concatenate([[ts[0]], (ts[1:] + ts[:-1]) / 2, [ts[-1]]]) if len(ts) > 1 else np.array([ts[0], ts[0] + 1])
    im = ax.pcolormesh(de, te, grid.to_numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="flat")
    ax.set_xlabel("distance d")
    ax.set_ylabel(r"$J_z t$")
    ax.set_title(title, fontsize=9)
    return im


@figure("reh2021", "fig3")
def fig3(runs, options):
    net = runs["network"]
    pn = _one_point(net, "network")
    ref = runs.get("reference")
    uni = runs.get("unitary")
    pr = None
    if ref is not None:
        pr = option_point(ref, "reh2021/fig3", "reference_point", options.get("reference_point"))
    maps = {"network": _correlation_map(net, pn)}
    if ref is not None and not _correlation_map(ref, pr).empty:
        maps["reference"] = _clip(_correlation_map(ref, pr), float(net.table["t"].max()))
    if uni is not None:
        maps["unitary"] = _correlation_map(uni, _one_point(uni, "unitary"))
    n_maps = len(maps)
    fig, axes = plt.subplots(1, 1 + n_maps, figsize=(4.6 + 3.6 * n_maps, 4.0),
                             gridspec_kw={"width_ratios": [1.3] + [1] * n_maps, "wspace": 0.4})
    rows: list[pd.DataFrame] = []
    ax = axes[0]
    t_max = float(net.table["t"].max())
    for a in "xyz":
        d = _obs(net, f"s{a}")
        ax.plot(d["t"], d["value"], "-", color=_COLOURS[a], lw=1.2,
                label=f"s{a} {_net_label(net, pn)}" if a == "x" else f"s{a}")
        ax.fill_between(d["t"], d["value"] - d["stderr"], d["value"] + d["stderr"], color=_COLOURS[a], alpha=0.25, lw=0)
        rows.append(d.assign(source="network"))
        if ref is not None:
            e = _clip(_obs(ref, f"s{a}", pr), t_max)
            _line(ax, e, _COLOURS[a], f"{_ref_name(ref, pr)} N={ref.shape_label(pr)}" if a == "x" else None, "--")
            rows.append(e.assign(source="reference"))
    ax.set_xlabel(r"$J_z t$")
    ax.set_ylabel(r"$\langle\sigma^a\rangle$")
    ax.set_title("(a) magnetisations, dephasing", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    # the sampled map is noisy: scale the colours by the noise-free maps where there are any (values
    # beyond the scale saturate, as the paper's colour-scale cut-off does)
    exact_maps = [m for k, m in maps.items() if k != "network" and not m.empty] or [maps["network"]]
    vmax = options.get("vmax") or max(float(m["value"].abs().max()) for m in exact_maps) or 1.0
    s = net.spec(pn)["system"]
    rate = next((j["rate"] for j in s.get("jumps", []) if j["op"] == "sigma_z"), 0.0)
    titles = {"network": f"gamma={rate:g}, RNN N={net.shape_label(pn)}"}
    if "reference" in maps:
        titles["reference"] = f"gamma={rate:g}, {_ref_name(ref, pr)} N={ref.shape_label(pr)}"
    if uni is not None:
        pu = _one_point(uni, "unitary")
        info = uni.provenance(pu)
        geom = "infinite chain" if info.get("geometry") == "infinite" else f"N={uni.shape_label(pu)}"
        titles["unitary"] = f"gamma=0, TEBD ({geom}, chi<={info.get('chi_max', '?')})"
    im = None
    for k, (ax, (role, m)) in enumerate(zip(axes[1:], maps.items())):
        im = _draw_map(ax, m, vmax, f"({'bcd'[k]}) $C_{{zz}}(d,t)$\n{titles[role]}")
        rows.append(m.assign(source=f"{role}_map"))
    if ref is not None and ref.n_sites(pr) < net.n_sites(pn):
        # beyond half the reference's ring its correlations have wrapped around
        half = ref.n_sites(pr) // 2
        axes[1].axvline(half + 0.5, color="grey", ls="--", lw=1)
    fig.colorbar(im, ax=list(axes[1:]), shrink=0.9, label=rf"$C_{{zz}}(d,t)$ (scale $\pm${vmax:.3g})")
    fig.suptitle(options.get("title", "reh2021 Fig. 3: confinement chain, Jz=1, hx=0.25, hz=0.05, from z+"),
                 fontsize=10, y=1.02)
    return fig, pd.concat(rows, ignore_index=True)
