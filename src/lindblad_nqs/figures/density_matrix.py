"""Figures of a density matrix itself."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import figure


def magnetisation_order(n: int) -> np.ndarray:
    """Basis states sorted by total S^z (all up first), ties in index order."""
    idx = np.arange(2**n)
    ups = np.array([n - bin(i).count("1") for i in idx])
    return idx[np.lexsort((idx, -ups))], ups


@figure("mellak2024", "fig9")
def reweighted_density_matrix(runs, options):
    """abs(rho)^(2 beta) of the exact steady state, rows and columns ordered by total magnetisation,
    for several beta: the sectors sum_i (sigma_i - sigma'_i) = 2n that carry weight, and how the
    reweighting flattens the distribution the sampler has to cover."""
    run = runs["exact"]
    point = next(iter(run.points))
    rho = np.load(run.state_file(point, "rho.npz"))["rho"]
    n = int(np.log2(rho.shape[0]))
    order, ups = magnetisation_order(n)
    r = np.abs(rho[np.ix_(order, order)])
    betas = options.get("betas", [1.0, 0.5, 0.25])
    fig, axes = plt.subplots(1, len(betas), figsize=(3.6 * len(betas), 3.4), squeeze=False)
    rows = []
    bounds = np.flatnonzero(np.diff(ups[order])) + 0.5
    for ax, beta in zip(axes[0], betas):
        w = r ** (2 * beta)
        w = w / w.sum()
        im = ax.imshow(w, cmap="viridis")
        for b in bounds:
            ax.axhline(b, color="w", lw=0.5)
            ax.axvline(b, color="w", lw=0.5)
        ax.set_title(rf"$|\rho|^{{2\beta}}$, $\beta={beta}$", fontsize=9)
        ax.set_xlabel(r"$\sigma'$ (by $S^z$)")
        ax.set_ylabel(r"$\sigma$ (by $S^z$)")
        fig.colorbar(im, ax=ax, fraction=0.046)
        i, j = np.meshgrid(np.arange(len(order)), np.arange(len(order)), indexing="ij")
        rows.append(pd.DataFrame({"beta": beta, "row": i.ravel(), "col": j.ravel(), "ket": order[i.ravel()],
                                  "bra": order[j.ravel()], "weight": w.ravel()}))
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)
