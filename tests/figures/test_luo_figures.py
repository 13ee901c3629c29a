"""luo2022 figures from result tables: fig1 draws the code's own string orderings; fig4 reads var,
dyn (last time) and string-set runs."""

import json

import numpy as np
import pandas as pd

from lindblad_nqs.figures import get_figure
from lindblad_nqs.figures.data import RunData
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
