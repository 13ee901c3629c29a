"""luo2022 figures from result tables: fig1 draws the code's own string orderings; fig4 reads var,
dyn (last time) and string-set runs; options that name missing points are errors; the dynamics figures
draw the exact references they are given."""

import json

import numpy as np
import pandas as pd
import pytest

from lindblad_nqs.figures import get_figure
from lindblad_nqs.figures.data import FigureError, RunData
from lindblad_nqs.model import Lattice
from lindblad_nqs.model.orderings import string_ordering


def fake_run(root, name, points):
    """points: {label: (spec, rows)} written as result.csv/result.json like the CLI does."""
    for label, (spec, rows) in points.items():
        d = root / name / label
        d.mkdir(parents=True)
        pd.DataFrame(rows, columns=["t", "observable", "value", "stderr"]).to_csv(d / "result.csv", index=False)
        (d / "result.json").write_text(json.dumps({"spec": spec, "tau": 0.01}))
    return RunData(root / name)


def spec(shape, sweep_key=None, sweep_value=None):
    return {"system": {"lattice": {"shape": shape}, "couplings": {"Jy": 1.8}},
            "notes": {"sweep_key": sweep_key, "sweep_value": sweep_value}}


def test_fig1_draws_every_string_of_the_lattice(tmp_path):
    run = fake_run(tmp_path, "lat", {"base": (spec([3, 3]), [(None, "sz", 0.0, 0.0)])})
    fig, table = get_figure("luo2022", "fig1")({"lattice": run}, {})
    lat = Lattice((3, 3), True)
    assert sorted(table.string.unique()) == list(range(9))
    for s, g in table.groupby("string"):
        assert list(g.sort_values("step").site) == list(string_ordering(lat, s))
        assert sorted(g.site) == list(range(9))  # each string visits every site once


def test_fig4_takes_the_last_time_of_dynamics_and_orders_string_sets(tmp_path):
    var = fake_run(tmp_path, "var", {f"Jy={j}": (spec([2, 2], "system.preset.Jy", j), [(None, "sz", -0.1 * j, 0.01)])
                                     for j in (1.0, 1.8)})
    dyn = fake_run(tmp_path, "dyn", {f"Jy={j}": (spec([2, 2], "system.preset.Jy", j),
                                                 [(0.0, "sz", 1.0, 0.01), (1.0, "sz", -0.5 * j, 0.01)])
                                     for j in (1.0, 1.8)})
    strings = fake_run(tmp_path, "str", {f"strings={s}": (spec([2, 2], "method.strings", s), [(None, "sz", v, 0.01)])
                                         for s, v in (("8s", -0.3), ("0s", -0.1), ("2s", -0.2))})
    exact = fake_run(tmp_path, "ex", {f"Jy={j}": (spec([2, 2], "system.preset.Jy", j), [(None, "sz", -0.4, 0.0)])
                                      for j in (1.0, 1.8)})
    fig, table = get_figure("luo2022", "fig4")({"var_1x32": var, "dyn_1x32": dyn, "strings": strings,
                                                "exact": exact}, {})
    d = table[table.source == "dyn_1x32"].sort_values("x")
    assert np.allclose(d.value, [-0.5, -0.9])  # the value at the last time, not t = 0
    s = table[table.source == "strings"]
    assert list(s["label"]) == ["0s", "2s", "8s"]


def steady_spec(shape, sweep_key, sweep_value, **method):
    s = spec(shape, sweep_key, sweep_value)
    s["method"] = {"name": "transformer", **method}
    s["task"] = {"kind": "steady"}
    return s


def with_history(run, point):
    h = pd.DataFrame({"stage": "var", "run": 0, "iteration": np.arange(5), "cost": np.linspace(1, 0.1, 5)})
    h.to_csv(run.points[point] / "result.history.csv", index=False)


def test_an_option_naming_a_missing_point_is_an_error_naming_figure_option_and_points(tmp_path):
    """luo2022 S2 once asked for g=2.0 on square-lattice runs and silently drew their first point."""
    sq = fake_run(tmp_path, "sq", {f"Jy={j}": (steady_spec([2, 2], "system.preset.Jy", j), [(None, "sz", -0.3, 0.01)])
                                   for j in (1.0, 1.8)})
    for p in sq.points:
        with_history(sq, p)
    with pytest.raises(FigureError) as e:
        get_figure("luo2022", "s2")({"square": sq}, {"point": "g=2.0"})
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("luo2022/s2: option point = 'g=2.0' names no point of run sq")
    assert "Jy=1.0, Jy=1.8" in msg
    # per-role points pick each run's own point; a run with several points and no option is an error too
    fig, table = get_figure("luo2022", "s2")({"square": sq}, {"points": {"square": "Jy=1.8"}})
    assert set(table.point) == {"Jy=1.8"}
    with pytest.raises(FigureError, match="option point must name one"):
        get_figure("luo2022", "s2")({"square": sq}, {})
    with pytest.raises(FigureError, match="luo2022/fig4: option jy = 1.4 names no point of run ex"):
        strings = fake_run(tmp_path, "str", {"strings=8s": (steady_spec([2, 2], "method.strings", "8s"),
                                                            [(None, "sz", -0.3, 0.01)])})
        exact = fake_run(tmp_path, "ex", {"Jy=1.8": (spec([2, 2], "system.preset.Jy", 1.8), [(None, "sz", -0.4, 0.0)])})
        get_figure("luo2022", "fig4")({"strings": strings, "exact": exact}, {"jy": 1.4})


def test_the_cli_prints_the_point_error_on_one_line_and_writes_nothing(tmp_path, capsys):
    from lindblad_nqs.cli import main

    sq = fake_run(tmp_path, "sq", {"Jy=1.8": (steady_spec([2, 2], "system.preset.Jy", 1.8), [(None, "sz", -0.3, 0.01)])})
    with_history(sq, "Jy=1.8")
    out = tmp_path / "fig" / "s2.pdf"
    rc = main(["figure", "luo2022", "s2", "--runs", json.dumps({"square": str(sq.dir)}),
               "--options", json.dumps({"point": "g=2.0"}), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err == "lindblad-nqs: error: luo2022/s2: option point = 'g=2.0' names no point of run sq (its points: Jy=1.8)"
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_fig4_strings_panel_takes_0s_from_the_var_runs_and_labels_each_budget(tmp_path):
    var = {tag: fake_run(tmp_path, f"var{tag}", {f"Jy={j}": (steady_spec([2, 2], "system.preset.Jy", j, n_layers=nl,
                                                                          d_model=dm, iterations=1500),
                                                             [(None, "sz", v, 0.01)])
                                                for j in (1.0, 1.8)})
           for tag, nl, dm, v in (("1x32", 1, 32, -0.35), ("2x64", 2, 64, -0.36))}
    strings = fake_run(tmp_path, "str", {f"strings={s}": (steady_spec([2, 2], "method.strings", s, iterations=400),
                                                          [(None, "sz", v, 0.01)])
                                         for s, v in (("8s", -0.30), ("1s", -0.20))})
    exact = fake_run(tmp_path, "ex", {f"Jy={j}": (spec([2, 2], "system.preset.Jy", j), [(None, "sz", -0.363, 0.0)])
                                      for j in (1.0, 1.8)})
    fig, table = get_figure("luo2022", "fig4")({"var_1x32": var["1x32"], "var_2x64": var["2x64"], "strings": strings,
                                                "exact": exact}, {"jy": 1.8})
    b = table[table["net"].notna()] if "net" in table else table.iloc[:0]
    got = {(r.net, r.label): (r.value, r.iterations) for r in b.itertuples()}
    assert got == {("1x32", "1s"): (-0.20, 400), ("1x32", "8s"): (-0.30, 400), ("1x32", "0s"): (-0.35, 1500),
                   ("2x64", "0s"): (-0.36, 1500)}
    ax = fig.axes[1]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0s", "1s", "8s"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "var (1, 32), 400 it." in legend and "var (1, 32), 1500 it." in legend


def test_dynamics_figures_draw_the_exact_references_they_are_given(tmp_path):
    t = np.round(np.arange(0, 0.11, 0.02), 9)

    def dyn(name, label, f, n=6, dt=0.02):
        s = spec([n], "system.lattice.shape", [n])
        s["task"] = {"kind": "dynamics", "dt": dt}
        return fake_run(tmp_path, name, {label: (s, [(x, "sz", f(x), 0.0) for x in t])})

    big = dyn("big", "base", lambda x: -x)
    big_exact = dyn("bigex", "base", lambda x: -2 * x)
    small = dyn("small", "base", lambda x: x, n=4)
    fig, table = get_figure("luo2022", "fig2")({"chain": small, "chain_large": big, "chain_large_exact": big_exact}, {})
    e = table[table.source == "chain_large_exact"].sort_values("t")
    assert np.allclose(e.value, -2 * t)
    legend = [x.get_text() for x in fig.axes[0].get_legend().get_texts()]
    assert "exact N=6" in legend
    tr = dyn("tr", "shape=6", lambda x: 3 * x, dt=0.015)
    net = dyn("net", "shape=6", lambda x: x, dt=0.015)
    fig, table = get_figure("luo2022", "s4")({"transformer": net, "trapezoid": tr}, {})
    assert np.allclose(table[table.source == "trapezoid"].sort_values("t").value, 3 * t)
    assert "exact trapezoid N=6, tau=0.0075" in [x.get_text() for x in fig.axes[0].get_legend().get_texts()]


def test_the_two_configs_define_the_same_systems_and_figures():
    """README: quick and paper define the same named systems and figures (runs may differ by size)."""
    import yaml
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "config"
    q, p = (yaml.safe_load((root / f"{n}.yaml").read_text()) for n in ("quick", "paper"))
    assert set(q["systems"]) == set(p["systems"])
    assert {k: set(v) for k, v in q["figures"].items()} == {k: set(v) for k, v in p["figures"].items()}
    for cfg in (q, p):  # every luo2022 role names a run of its own config
        for fig in cfg["figures"]["luo2022"].values():
            assert set(fig["runs"].values()) <= set(cfg["runs"])
