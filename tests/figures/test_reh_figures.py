"""reh2021 figures from small synthetic result tables: what is plotted is what the runs hold."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lindblad_nqs.figures import get_figure
from lindblad_nqs.figures.data import RunData
from lindblad_nqs.figures.render import save


def fake_run(root, name, points, method="rnn_tdvp", extra=None):
    """points: {label: (spec, rows)} written as result.csv / result.json like the CLI does."""
    for label, (spec, rows) in points.items():
        d = root / name / label
        d.mkdir(parents=True)
        pd.DataFrame(rows, columns=["t", "observable", "value", "stderr"]).to_csv(d / "result.csv", index=False)
        (d / "result.json").write_text(json.dumps({"spec": spec, "method": method, **(extra or {})}))
    return RunData(root / name)


def spec(shape, method="rnn_tdvp", jumps=(), sweep_key=None, sweep_value=None):
    return {"system": {"lattice": {"shape": shape, "boundary": "periodic"}, "jumps": list(jumps)},
            "method": {"name": method, "cell": "gru", "hidden": 10},
            "notes": {"sweep_key": sweep_key, "sweep_value": sweep_value}}


def rows(times, names, f, err=0.0):
    return [(t, n, f(t, k), err) for t in times for k, n in enumerate(names)]


T_NET = np.round(np.arange(0, 0.51, 0.1), 9)
T_REF = np.round(np.arange(0, 2.01, 0.05), 9)


def test_fig2_plots_network_against_references_over_the_network_range(tmp_path):
    chain_obs = ["sx", "sy", "sz", "sxsx_c:2", "sysy_c:2", "szsz_c:2"]
    sq_obs = ["sz", "sxsx_c:1", "sysy_c:1", "szsz_c:1"]
    chain = fake_run(tmp_path, "chain", {"base": (spec([6]), rows(T_NET, chain_obs, lambda t, k: k + t, 0.01))})
    chain_exact = fake_run(tmp_path, "chain_exact", {"base": (spec([10], "exact"), rows(T_REF, chain_obs, lambda t, k: k + t))},
                           method="exact")
    pts = {f"Jy={j}": (spec([2, 2], sweep_key="system.preset.Jy", sweep_value=j),
                       rows(T_NET, sq_obs, lambda t, k, j=j: j + k - t, 0.02)) for j in (1.0, 1.8)}
    square = fake_run(tmp_path, "square", pts)
    traj = fake_run(tmp_path, "traj", {f"Jy={j}": (spec([3, 3], "mcwf"), rows(T_REF, sq_obs, lambda t, k: -t, 0.05))
                                       for j in (1.0, 1.8)}, method="mcwf", extra={"ntraj": 60})
    runs = {"chain": chain, "chain_exact": chain_exact, "square": square, "square_trajectories": traj}
    fig, table = get_figure("reh2021", "fig2")(runs, {"correlator_point": "Jy=1.8"})
    # references are cut to the network's time range
    assert table[table.source == "chain_exact"].t.max() == pytest.approx(0.5)
    assert set(table[table.source == "chain_exact"].observable) == set(chain_obs)
    # correlators of the square lattice only at the chosen point, sz at every point
    sq = table[table.source == "square"]
    assert set(sq[sq.observable == "sz"].point) == {"Jy=1.0", "Jy=1.8"}
    assert set(sq[sq.observable == "sysy_c:1"].point) == {"Jy=1.8"}
    assert set(table[(table.source == "square_trajectories") & (table.observable == "sysy_c:1")].point) == {"Jy=1.8"}
    # the plotted values are the tables' values
    d = table[(table.source == "chain") & (table.observable == "sysy_c:2")].sort_values("t")
    assert np.allclose(d.value, 4 + T_NET)
    labels = [t.get_text() for ax in fig.axes for t in (ax.get_legend().get_texts() if ax.get_legend() else [])]
    assert any("MCWF (60 traj.)" in s for s in labels)
    assert any("exact N=10" in s for s in labels)
    save(fig, table, tmp_path / "fig2.pdf")
    assert (tmp_path / "fig2.png").stat().st_size > 0


def test_fig2_refuses_an_unknown_correlator_point(tmp_path):
    square = fake_run(tmp_path, "square", {"Jy=1.0": (spec([2, 2]), rows(T_NET, ["sz"], lambda t, k: 1.0))})
    with pytest.raises(ValueError, match="reh2021/fig2: option correlator_point = 'Jy=1.8' names no point"):
        get_figure("reh2021", "fig2")({"square": square}, {"correlator_point": "Jy=1.8"})


def test_fig3_maps_share_one_colour_scale_and_reference_point_is_chosen(tmp_path):
    names = ["sx", "sy", "sz"] + [f"szsz_c:{d}" for d in range(1, 5)]
    net = fake_run(tmp_path, "net", {"base": (spec([8], jumps=[{"op": "sigma_z", "rate": 0.25}]),
                                              rows(T_NET, names, lambda t, k: 0.1 * k * t, 0.01))})
    ref = fake_run(tmp_path, "ref", {
        "dephasing=0.25": (spec([8], "exact"), rows(T_REF, names, lambda t, k: 1.0)),
        "dephasing=0.0": (spec([8], "exact"), rows(T_REF, names, lambda t, k: -1.0)),
    }, method="exact")
    t_uni = np.round(np.arange(0, 2.01, 0.1), 9)
    uni = fake_run(tmp_path, "uni", {"base": (spec([8], "tebd"), rows(t_uni, names, lambda t, k: -0.05 * k * t))},
                   method="tebd", extra={"geometry": "infinite", "chi_max": 64, "truncation_error": 1e-12})
    fig, table = get_figure("reh2021", "fig3")({"network": net, "reference": ref, "unitary": uni},
                                              {"reference_point": "dephasing=0.25"})
    r = table[table.source == "reference"]
    assert set(r.point) == {"dephasing=0.25"} and np.allclose(r.value, 1.0)
    assert r.t.max() == pytest.approx(0.5)  # cut to the network's range
    m = table[table.source == "network_map"]
    assert sorted(m.d.unique()) == [1, 2, 3, 4]
    assert np.allclose(m[(m.d == 3) & (m.t == 0.5)].value, 0.1 * (2 + 3) * 0.5)  # szsz_c:3 is the 6th name
    # one colour scale for every map: the largest |C| of the noise-free ones (reference, unitary)
    from matplotlib.collections import QuadMesh

    meshes = [c for ax in fig.axes for c in ax.collections if isinstance(c, QuadMesh)]
    vmax = 1.0  # the reference's |C|, larger than the unitary's 0.05 * 6 * 2
    assert len(meshes) >= 3 and all(np.allclose(c.get_clim(), (-vmax, vmax)) for c in meshes)
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "gamma=0.25" in titles and "infinite chain" in titles and "chi<=64" in titles
    with pytest.raises(ValueError, match="reference_point"):
        get_figure("reh2021", "fig3")({"network": net, "reference": ref}, {"reference_point": "dephasing=1"})
