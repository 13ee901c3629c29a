"""A figure's JSON lineage, and the cross-method figure on real result files."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lindblad_nqs.cli import main
from conftest import solve_point  # noqa: E402  (tests/conftest.py, shared helpers)

TFI = {"system": {"lattice": {"shape": [4], "boundary": "periodic"}, "preset": {"name": "tfi", "V": 2.0, "g": 2.0}},
       "task": {"kind": "steady"}, "observables": ["sx", "sy", "sz"], "seed": 0}




@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("review")
    exact = solve_point(root, "tfi_exact", "g=2.0", dict(TFI, method={"name": "exact"}))
    # an independent solver of the same system (QuTiP's steady state): a second method, error ~ 1e-10
    qutip = solve_point(root, "tfi_qutip", "g=2.0", dict(TFI, method={"name": "exact", "solver": "qutip"}))
    # the same model on 5 sites: another system, never compared with the 4-site reference
    other = solve_point(root, "tfi5", "g=2.0", dict(TFI, method={"name": "exact", "solver": "qutip"},
                                                system={**TFI["system"], "lattice": {"shape": [5]}}))
    return root, [exact, qutip, other]


def test_every_figure_writes_its_lineage_beside_the_csv(results, tmp_path):
    root, files = results
    roles = {"ref": str(files[0].parent.parent)}
    out = tmp_path / "fig" / "exact.pdf"
    assert main(["figure", "luo2022", "exact", "--runs", json.dumps(roles), "--out", str(out)]) == 0
    lin = json.loads(out.with_suffix(".json").read_text())
    prov = json.loads(files[0].with_suffix(".json").read_text())
    point = lin["runs"]["ref"]["points"]["g=2.0"]
    assert lin["runs"]["ref"]["run"] == "tfi_exact"
    assert point["spec_hash"] == prov["spec_hash"] and point["wall_time_s"] == prov["wall_time_s"]
    assert point["versions"] == prov["versions"] and point["method"] == "exact"
    assert set(lin) >= {"git_commit", "git_dirty", "versions", "device", "runs_wall_time_s", "figure_wall_time_s"}
    assert lin["versions"]["numpy"] and lin["figure_wall_time_s"] > 0
    assert out.with_suffix(".csv").exists() and out.with_suffix(".png").exists()


def test_cross_method_compares_only_runs_of_the_same_system(results, tmp_path):
    root, files = results
    refs = tmp_path / "refs.yaml"
    refs.write_text(yaml.safe_dump({"references": [
        {"label": "TFI g = 2", "run": "tfi_exact", "point": "g=2.0", "observables": ["sx", "sy", "sz"]}]}))
    out = tmp_path / "review" / "cross_method.pdf"
    assert main(["cross-method", str(refs), *map(str, files), "--out", str(out)]) == 0
    table = pd.read_csv(out.with_suffix(".csv"))
    # the other exact run is a reference method (left out); the qutip one is method `exact` too
    assert table.empty
    # rewrite the QuTiP run's provenance as another method's: it becomes one point, error ~ 0
    prov_path = files[1].with_suffix(".json")
    prov = json.loads(prov_path.read_text())
    prov_path.write_text(json.dumps(dict(prov, method="transformer", n_params=123)))
    try:
        assert main(["cross-method", str(refs), *map(str, files), "--out", str(out)]) == 0
    finally:
        prov_path.write_text(json.dumps(prov))
    table = pd.read_csv(out.with_suffix(".csv"))
    assert table["run"].tolist() == ["tfi_qutip"]  # tfi5 (5 sites) is not compared with 4
    row = table.iloc[0]
    assert row["reference"] == "TFI g = 2 (4)" and row["n_params"] == 123
    assert row["max_abs_error"] < 1e-8 and row["observables"] == "sx sy sz"
    lin = json.loads(out.with_suffix(".json").read_text())
    assert set(lin["runs"]) == {"tfi_exact", "tfi_qutip"}
    assert out.with_suffix(".png").exists()


def test_cross_method_refuses_a_bad_reference_file(results, tmp_path, capsys):
    root, files = results
    refs = tmp_path / "refs.yaml"
    refs.write_text(yaml.safe_dump({"references": [{"label": "x", "run": "tfi_exact"}]}))
    out = tmp_path / "bad" / "cross_method.pdf"
    assert main(["cross-method", str(refs), *map(str, files), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "references[0]: needs label, run, observables" in err[0]
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_the_cross_method_references_exist_in_a_config():
    from lindblad_nqs import pipeline
    from lindblad_nqs.review import load_panels

    root = Path(__file__).resolve().parents[2]
    both = {s: pipeline.expand_runs(yaml.safe_load((root / "config" / f"{s}.yaml").read_text())) for s in ("quick", "paper")}
    for ref in load_panels(root / "config" / "cross_method.yaml"):
        point = str(ref.get("point", "base"))
        assert any(ref["run"] in runs and point in runs[ref["run"]]
                   and set(ref["observables"]) <= set(runs[ref["run"]][point].spec["observables"])
                   for runs in both.values()), ref
