"""Largest |network - reference| of each luo2022 quick figure, from the result tables under results/runs.

python benchmarks/luo_quick_deviations.py   (after `snakemake results/figures/luo2022/...`)

Dynamics: over the network's saved times (references are saved on a grid that contains them); steady
states: per sweep point; a dyn run of Fig. 4 contributes its last time against the exact steady state.
Also the time-step error alone (exact trapezoid vs exact) where a trapezoid run exists.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from lindblad_nqs.figures.data import RunData  # noqa: E402

RUNS = Path("results/runs")


def table(run: str) -> pd.DataFrame | None:
    d = RUNS / run
    if not d.exists():
        return None
    try:
        return RunData(d).table
    except FileNotFoundError:
        return None


def dyn_dev(net: str, ref: str, same_point: bool = True) -> dict[str, tuple[float, float]]:
    """{point/observable: (max |dev|, max stderr there)} over the network's times."""
    a, b = table(net), table(ref)
    if a is None or b is None:
        return {}
    out = {}
    for (p, o), g in a.groupby(["point", "observable"]):
        r = b[(b.observable == o) & ((b.point == p) if same_point else True)]
        if r.empty:
            continue
        ref_at = np.interp(g.t, r.sort_values("t").t, r.sort_values("t").value)
        dev = np.abs(g.value.to_numpy() - ref_at)
        k = int(np.argmax(dev))
        out[f"{p}/{o}"] = (float(dev[k]), float(g.stderr.to_numpy()[k]))
    return out


def steady_dev(net: str, ref: str, last_time: bool = False) -> dict[str, tuple[float, float]]:
    a, b = table(net), table(ref)
    if a is None or b is None:
        return {}
    if last_time:
        a = a.sort_values("t").groupby(["point", "observable"], as_index=False).last()
    out = {}
    for r in a.itertuples():
        e = b[(b.observable == r.observable) & np.isclose(pd.to_numeric(b.sweep_value, errors="coerce"),
                                                          float(r.sweep_value))]
        if len(e):
            out[f"{r.point}/{r.observable}"] = (abs(r.value - float(e.value.iloc[0])), float(r.stderr))
    return out


def value_at(t: pd.DataFrame | None, x: float) -> float | None:
    if t is None:
        return None
    e = t[np.isclose(pd.to_numeric(t.sweep_value, errors="coerce"), x)]
    return float(e.value.iloc[0]) if len(e) else None


def show(name, devs):
    if not devs:
        print(f"{name}: (not built)")
        return
    worst = max(devs.items(), key=lambda kv: kv[1][0])
    print(f"{name}: max |dev| {worst[1][0]:.3f} at {worst[0]} (stderr {worst[1][1]:.3f}); "
          + ", ".join(f"{k} {v[0]:.3f}" for k, v in sorted(devs.items())))


if __name__ == "__main__":
    show("fig2 chain N=4", dyn_dev("luo_chain_dyn", "luo_chain_dyn_exact"))
    show("fig2 chain N=6", dyn_dev("luo_chain40_dyn", "luo_chain6_dyn_exact", same_point=False))
    show("fig2 square 2x2", dyn_dev("luo_square_dyn", "luo_square_dyn_exact"))
    show("fig3 transformer", steady_dev("luo_tfi_var", "luo_tfi_steady_exact"))
    show("fig3 rbm", steady_dev("mellak_tfi_rbm", "luo_tfi_steady_exact"))
    for tag in ("1x32", "2x64"):
        show(f"fig4 var {tag}", steady_dev(f"luo_square_var_{tag}", "luo_square_steady_exact"))
        show(f"fig4 dyn {tag}", steady_dev(f"luo_square_dyn_{tag}", "luo_square_steady_exact", last_time=True))
        show(f"fig4 vardyn {tag}", steady_dev(f"luo_square_vardyn_{tag}", "luo_square_steady_exact", last_time=True))
    s = table("luo_square_strings")
    e = table("luo_square_steady_exact")
    ex = value_at(e, 1.8)
    if s is not None and ex is not None:
        print("fig4 strings at Jy=1.8 (exact %.3f): " % ex
              + ", ".join(f"{r.sweep_value} {r.value:+.3f} (dev {abs(r.value - ex):.3f})" for r in s.itertuples()))
    s1, ss = table("luo_square_s1_vardyn"), table("luo_square_steady_exact")
    ex = value_at(ss, 1.8)
    if s1 is not None and ex is not None:
        d = np.abs(s1.value - ex)
        print(f"s1: |sz - exact steady| at t=0 {d.iloc[0]:.3f}, max {d.max():.3f}, last {d.iloc[-1]:.3f}")
    for fig, net, ex, tr in (("s3", "luo_strong_dyn", "luo_strong_dyn_exact", "luo_strong_dyn_trapezoid"),
                             ("s4", "luo_strong_long_dyn", "luo_strong_long_dyn_exact", "luo_strong_long_dyn_trapezoid")):
        show(f"{fig} transformer vs exact", dyn_dev(net, ex))
        show(f"{fig} transformer vs exact trapezoid", dyn_dev(net, tr))
        show(f"{fig} exact trapezoid vs exact", dyn_dev(tr, ex))
