"""hartmann2019 figures: the RBM density matrix evolved by time-dependent VMC against exact references.

fig2  roles `network` (rbm_tdvp dynamics) and `exact` (exact dynamics of the same system and initial
      state): (a) the magnetisation <sz> of both, (b) |<sz> - <sz>_exact| on a log scale,
      (c) delta_rho = |rho - rho_exact|^2 / 4^N (the paper's Eq. 16, from the run's history).
fig3  roles `network` (rbm_tdvp, steady task: evolution to the steady state) and `reference` (the
      steady state of the same system by another method: exact or trajectories), option `published`
      (the paper's value, drawn as a dotted line only when it refers to the plotted quantity):
      (a) |m - m_ss| vs integrator step (m: the tracked site-averaged sz), (b) delta_L = <|L_loc|> per step.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import figure


def _single_point(run, role):
    if len(run.points) != 1:
        raise ValueError(f"hartmann2019: role {role} must be a run with one point, got {list(run.points)}")
    return next(iter(run.points))


@figure("hartmann2019", "fig2")
def fig2(runs, options):
    net, ex = runs["network"], runs["exact"]
    pn = _single_point(net, "network")
    obs = options.get("observable", "sz")
    a = net.table[net.table.observable == obs][["t", "value", "stderr"]]
    b = ex.table[ex.table.observable == obs][["t", "value"]].rename(columns={"value": "exact"})
    a = a.assign(t=a.t.round(9))
    b = b.assign(t=b.t.round(9))
    b = b[b.t <= a.t.max() + 1e-9]  # the exact run may go further than the network's
    m = a.merge(b, on="t", how="left")
    m["abs_error"] = (m["value"] - m["exact"]).abs()
    hist = net.history(pn)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    ax = axes[0]
    ax.plot(b.t, b.exact, color="C1", label="exact")
    ax.errorbar(m.t, m.value, yerr=m.stderr, fmt="o", ms=3, color="C0", label="RBM (tVMC)")
    ax.set_ylabel(rf"$\langle \sigma^{obs[1]} \rangle$")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.semilogy(m.t, m.abs_error.clip(lower=1e-8), "o-", ms=3)
    ax.set_ylabel(rf"$|\langle \sigma^{obs[1]} \rangle - \langle \sigma^{obs[1]} \rangle_e|$")
    ax = axes[2]
    table = m.assign(delta_rho=np.nan)
    if hist is not None and "delta_rho" in hist:
        h = hist.dropna(subset=["delta_rho"])
        ax.semilogy(h.t, h.delta_rho.clip(lower=1e-16), "o-", ms=3)
        table = m.merge(h[["t", "delta_rho"]].assign(t=h.t.round(9)), on="t", how="left")
    ax.set_ylabel(r"$\delta\rho = \|\rho - \rho_e\|^2 / 4^N$")
    for ax in axes:
        ax.set_xlabel(r"$\gamma t$")
        ax.grid(alpha=0.3)
    fig.suptitle(options.get("title", "hartmann2019 Fig. 2"), fontsize=10)
    fig.tight_layout()
    return fig, table


@figure("hartmann2019", "fig3")
def fig3(runs, options):
    net, ref = runs["network"], runs["reference"]
    pn = _single_point(net, "network")
    pr = _single_point(ref, "reference")
    rt = ref.table[ref.table.observable == "sz"]
    if rt["t"].notna().any():  # a trajectory reference: its late-time average and the error of that mean
        late = rt[rt.t >= options.get("reference_from_t", rt.t.max() / 2)]
        m_ss, m_err = float(late.value.mean()), float(late.stderr.mean() / np.sqrt(max(1, len(late))))
    else:
        m_ss, m_err = float(rt.value.iloc[0]), float(rt.stderr.iloc[0])
    hist = net.history(pn)
    if hist is None or "sz" not in hist:
        raise ValueError("hartmann2019/fig3: the network run's history has no tracked sz (method.track)")
    h = hist.dropna(subset=["sz"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    ax = axes[0]
    ax.semilogy(h.step, (h.sz - m_ss).abs().clip(lower=1e-6), "o-", ms=2,
                label=f"reference m_ss = {m_ss:.4f}{f' ± {m_err:.1g}' if m_err > 0 else ''} "
                      f"({ref.provenance(pr)['method']}, N = {ref.n_sites(pr)})")
    if m_err > 0:
        ax.axhline(m_err, color="grey", ls=":", label="reference error")
    ax.set_ylabel(r"$|m - m_{ss}|$ (site average of $\sigma^z$)")
    ax.legend(fontsize=7)
    ax = axes[1]
    d = hist.dropna(subset=["delta_L"])
    ax.semilogy(d.step, d.delta_L, "-", lw=1)
    ax.set_ylabel(r"$\delta_L = \langle |L_{loc}| \rangle_p$")
    for ax in axes:
        ax.set_xlabel("integrator step")
        ax.grid(alpha=0.3)
    fig.suptitle(options.get("title", "hartmann2019 Fig. 3"), fontsize=10)
    fig.tight_layout()
    table = pd.DataFrame({"step": h.step, "t": h.t, "m": h.sz, "m_ss": m_ss, "m_ss_err": m_err,
                          "abs_diff": (h.sz - m_ss).abs()})
    table = table.merge(d[["step", "delta_L"]], on="step", how="outer")
    return fig, table
