"""The claims table: the sz sum rule against exact steady states, and the evaluator on real result files."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lindblad_nqs import claims, pipeline
from lindblad_nqs.cli import main
from conftest import solve_point  # noqa: E402  (tests/conftest.py, shared helpers)
from lindblad_nqs.exact.dynamics import dense_expect
from lindblad_nqs.exact.steady import solve_qutip
from lindblad_nqs.spec import parse_system

ROOT = Path(__file__).resolve().parents[2]


def site_average(rho, n, pauli):
    ex = dense_expect(rho, n)
    return float(np.mean([ex({i: pauli}) for i in range(n)]))


@pytest.mark.parametrize("system", [
    {"lattice": {"shape": [4], "boundary": "periodic"}, "preset": {"name": "tfi", "V": 2.0, "g": 1.0, "gamma": 1.0}},
    {"lattice": {"shape": [4], "boundary": "periodic"}, "preset": {"name": "tfi", "V": 2.0, "g": 2.5, "gamma": 0.5}},
    # every term the rule allows: a field with x, y and z parts, Jz, dephasing beside the decay, open chain
    {"lattice": {"shape": [3], "boundary": "open"}, "couplings": {"Jz": 0.7}, "field": {"hx": 0.8, "hy": -0.3, "hz": 0.4},
     "jumps": [{"op": "sigma_minus", "rate": 0.6}, {"op": "sigma_z", "rate": 0.3}]},
], ids=["tfi_g1", "tfi_g2.5_gamma0.5", "general"])
def test_sum_rule_holds_in_the_exact_steady_state(system):
    """gamma (1 + <Z>) = 2 hx <Y> - 2 hy <X>, against QuTiP's steady state (not this package's solver)."""
    sys_ = parse_system(system)
    a, b, gamma = claims.sz_sum_rule(sys_)
    rho = solve_qutip(sys_).rho
    n = sys_.n_sites
    x, y, z = (site_average(rho, n, p) for p in "xyz")
    assert abs(gamma * (1 + z) - (a * y + b * x)) < 1e-9
    # the rule is not trivially met: both sides are far from zero, and the opposite sign of the field
    # term (the convention a sign slip would give) misses by far
    assert abs(1 + z) > 1e-2
    assert abs(gamma * (1 + z) + (a * y + b * x)) > 1e-2
    if "preset" in system:  # the TFI form: <sz> = -1 + (g / gamma) <sy>
        p = system["preset"]
        assert abs(z - (-1 + p["g"] / p["gamma"] * y)) < 1e-9


@pytest.mark.parametrize("system", [
    {"lattice": {"shape": [4]}, "preset": {"name": "heisenberg", "Jx": 0.9, "Jy": 1.8, "Jz": 1.0}},
    {"lattice": {"shape": [4]}, "preset": {"name": "rotated_ising", "V": -2.0, "g": 1.0}},
    {"lattice": {"shape": [4]}, "couplings": {"Jz": 1.0}, "field": {"hx": 1.0}, "jumps": [{"op": "sigma_plus", "rate": 1.0}]},
])
def test_no_sum_rule_where_the_bonds_or_jumps_move_sz(system):
    assert claims.sz_sum_rule(parse_system(system)) is None


# --- the evaluator on result files written by `lindblad-nqs solve` ------------------------------------



TFI = {"system": {"lattice": {"shape": [4], "boundary": "periodic"}, "preset": {"name": "tfi", "V": 2.0, "g": 2.0}},
       "task": {"kind": "steady"}, "method": {"name": "exact"}, "observables": ["sx", "sy", "sz"], "seed": 0}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("claims")
    a = solve_point(root, "tfi", "g=2.0", TFI)
    other = dict(TFI, system={**TFI["system"], "lattice": {"shape": [5], "boundary": "periodic"}})
    b = solve_point(root, "tfi5", "base", other)
    dyn = dict(TFI, task={"kind": "dynamics", "t_final": 1.0, "dt": 0.1, "save_every": 0.5, "initial": {"product": "z+"}})
    c = solve_point(root, "tfi_dyn", "base", dyn)
    return root, [a, b, c]


def claim(cid, quantity, published=0.0, tolerance=0.0, compare="approx"):
    return {"id": cid, "paper": "luo2022", "source": "test", "claim": cid, "published": published,
            "tolerance": tolerance, "compare": compare, "quantity": quantity}


def run_claims(tmp_path, files, entries):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": entries}))
    return claims.evaluate(claims.load_claims(path), claims.Results(files)).set_index("id")


def test_right_value_passes_wrong_value_fails_missing_run_is_not_measured(results, tmp_path):
    root, files = results
    sz = float(pd.read_csv(files[0]).set_index("observable").loc["sz", "value"])
    t = run_claims(tmp_path, files, [
        claim("sum_rule", {"kind": "sum_rule", "run": "tfi", "point": "g=2.0"}, tolerance=1e-8),
        claim("right", {"kind": "observable", "run": "tfi", "point": "g=2.0", "observable": "sz"}, sz, 1e-6),
        claim("wrong", {"kind": "observable", "run": "tfi", "point": "g=2.0", "observable": "sz"}, sz + 0.01, 1e-3),
        claim("missing_run", {"kind": "observable", "run": "nowhere", "observable": "sz"}, sz, 1.0),
        claim("missing_point", {"kind": "observable", "run": "tfi", "point": "g=9.0", "observable": "sz"}, sz, 1.0),
        claim("other_size", {"kind": "observable", "run": "tfi", "point": "g=2.0", "observable": "sz",
                             "at": {"n_sites": 16}}, sz, 1.0),
        claim("other_setup", {"kind": "observable", "run": "tfi", "point": "g=2.0", "observable": "sz",
                              "at": {"method.solver": "qutip"}}, sz, 1.0),
        # a deviation needs a reference of the same system: 4 sites against 5 is another size
        claim("deviation_size", {"kind": "deviation", "run": "tfi", "point": "g=2.0", "reference": "tfi5",
                                 "reference_point": "base", "observables": ["sz"]}, 0.0, 1.0, "le"),
        # a paper comparing sizes (N = 40 against exact N = 10) says so: the same model, another size
        claim("across_sizes", {"kind": "deviation", "run": "tfi", "point": "g=2.0", "reference": "tfi5/base",
                             "observables": ["sz"], "other_size": True}, 0.0, 1.0, "le"),
        # a dynamics run against a steady state: only with final_time, at its last saved time
        claim("dyn_vs_steady", {"kind": "deviation", "run": "tfi_dyn", "reference": "tfi/g=2.0",
                                "observables": ["sz"], "final_time": True}, 0.0, 1.0, "le"),
        claim("dyn_vs_steady_refused", {"kind": "deviation", "run": "tfi_dyn", "reference": "tfi/g=2.0",
                                        "observables": ["sz"]}, 0.0, 1.0, "le"),
        claim("self", {"kind": "deviation", "run": "tfi", "point": "g=2.0", "reference": ["nowhere", "tfi"],
                       "observables": ["sx", "sz"]}, 0.0, 1e-12, "le"),
        # the names two configs give one measurement: the first present at the size of `at` is used
        claim("alternatives", {"kind": "observable", "run": ["nowhere", "tfi5", "tfi/g=2.0"], "observable": ["nothing", "sz"],
                               "at": {"n_sites": 4}}, sz, 1e-6),
        claim("alternatives_size", {"kind": "observable", "run": ["nowhere", "tfi5"], "observable": "sz",
                                    "at": {"n_sites": 4}}, sz, 1.0),
        claim("bound", {"kind": "expr", "expr": "abs(z) / 2", "of": {
            "z": {"kind": "observable", "run": "tfi", "point": "g=2.0", "observable": "sz"}}}, abs(sz) / 2 - 0.1, 0, "ge"),
    ])
    assert t.loc["sum_rule", "reproduced"] == "yes" and abs(t.loc["sum_rule", "ours"]) < 1e-8
    assert t.loc["right", "reproduced"] == "yes"
    assert t.loc["wrong", "reproduced"] == "no"
    assert t.loc["missing_run", "reproduced"] == "not measured" and "not in this config" in t.loc["missing_run", "note"]
    assert t.loc["missing_point", "reproduced"] == "not measured"
    assert t.loc["other_size", "reproduced"] == "not measured at this size"
    assert "N = 4 here, 16 in the paper" in t.loc["other_size", "note"]
    assert t.loc["other_setup", "reproduced"] == "not measured at this size"
    assert t.loc["deviation_size", "reproduced"] == "not measured at this size"
    assert t.loc["self", "reproduced"] == "yes" and t.loc["self", "ours"] == 0
    dyn = pd.read_csv(files[2])
    last = dyn[(dyn["observable"] == "sz") & (dyn["t"] == dyn["t"].max())]["value"].iloc[0]
    assert t.loc["dyn_vs_steady", "ours"] == pytest.approx(abs(last - sz))
    assert t.loc["dyn_vs_steady_refused", "reproduced"] == "not measured"
    sz5 = float(pd.read_csv(files[1]).set_index("observable").loc["sz", "value"])
    assert t.loc["across_sizes", "reproduced"] == "yes" and t.loc["across_sizes", "ours"] == pytest.approx(abs(sz - sz5))
    assert abs(sz - sz5) > 1e-4
    assert t.loc["bound", "reproduced"] == "yes" and t.loc["bound", "ours"] == pytest.approx(abs(sz) / 2)
    assert pd.isna(t.loc["missing_run", "ours"])
    assert t.loc["alternatives", "reproduced"] == "yes" and t.loc["alternatives", "runs"] == "tfi/g=2.0"
    assert t.loc["alternatives_size", "reproduced"] == "not measured at this size"


def test_a_wrong_sz_breaks_the_sum_rule(results, tmp_path):
    """The same exact table with sz shifted by 0.05: the rule's residual is exactly that shift."""
    root, files = results
    d = tmp_path / "results" / "runs" / "tfi" / "g=2.0"
    d.mkdir(parents=True)
    df = pd.read_csv(files[0])
    df.loc[df["observable"] == "sz", "value"] += 0.05
    df.to_csv(d / "result.csv", index=False)
    (d / "result.json").write_text(Path(files[0]).with_suffix(".json").read_text())
    t = run_claims(tmp_path, [d / "result.csv"], [
        claim("sum_rule", {"kind": "sum_rule", "run": "tfi", "point": "g=2.0"}, tolerance=0.03)])
    assert t.loc["sum_rule", "reproduced"] == "no"
    assert t.loc["sum_rule", "ours"] == pytest.approx(0.05, abs=1e-8)


def test_sum_rule_all_reads_every_non_exact_steady_state_of_a_model_with_the_rule(results, tmp_path):
    """The exact tables relabelled as a neural method's, one of them with sz shifted by 0.05, beside a
    Heisenberg run (no rule): the claim reads both TFI points, skips the other, and reports the worst."""
    root, files = results
    heis = dict(TFI, system={"lattice": {"shape": [4]}, "preset": {"name": "heisenberg", "Jx": 0.9, "Jy": 1.8, "Jz": 1.0}})
    made = []
    for run, src, shift, spec in [("good", files[0], 0.0, None), ("bad", files[1], 0.05, None), ("heis", None, 0.0, heis)]:
        if spec is not None:
            csv = solve_point(tmp_path, run, "base", spec)
            prov = json.loads(csv.with_suffix(".json").read_text())
        else:
            d = tmp_path / "results" / "runs" / run / "base"
            d.mkdir(parents=True)
            df = pd.read_csv(src)
            df.loc[df["observable"] == "sz", "value"] += shift
            csv = d / "result.csv"
            df.to_csv(csv, index=False)
            prov = json.loads(Path(src).with_suffix(".json").read_text())
        prov["spec"] = dict(prov["spec"], method={"name": "cnn"}, notes={"run": run, "point": "base"})
        prov["method"] = "cnn"
        csv.with_suffix(".json").write_text(json.dumps(prov))
        made.append(csv)
    q = {"kind": "sum_rule_all"}
    t = run_claims(tmp_path, made, [claim("all", q, 0.0, 0.03, "le")])
    assert t.loc["all", "reproduced"] == "no" and t.loc["all", "ours"] == pytest.approx(0.05, abs=1e-8)
    assert t.loc["all", "runs"] == "bad/base, good/base"
    t = run_claims(tmp_path, made[2:], [claim("all", q, 0.0, 0.03, "le")])
    assert t.loc["all", "reproduced"] == "not measured"
    assert claims.sum_rule_applies(prov["spec"]) is False  # the Heisenberg spec



def test_cli_writes_csv_and_markdown_and_refuses_a_bad_file(results, tmp_path, capsys):
    root, files = results
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"claims": [claim("sum_rule", {"kind": "sum_rule", "run": "tfi", "point": "g=2.0"},
                                                     tolerance=1e-8)]}))
    out = tmp_path / "review" / "claims.csv"
    assert main(["claims", str(good), *map(str, files), "--out", str(out)]) == 0
    assert pd.read_csv(out)["reproduced"].tolist() == ["yes"]
    md = out.with_suffix(".md").read_text()
    assert "1 claims: 1 reproduced" in md and "| sum_rule (test) |" in md
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"claims": [claim("x", {"kind": "observable", "run": "tfi"})]}))
    out2 = tmp_path / "review2" / "claims.csv"
    assert main(["claims", str(bad), *map(str, files), "--out", str(out2)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "claims[0] (x).quantity (observable): missing observable" in err[0]
    assert not out2.exists() and not out2.with_suffix(".md").exists()


def configs():
    return {size: pipeline.expand_runs(yaml.safe_load((ROOT / "config" / f"{size}.yaml").read_text()))
            for size in ("quick", "paper")}


def test_the_claims_file_names_real_runs_points_and_observables():
    """Every leaf resolves in at least one config: a run, its point and the observables it reads, and
    for a deviation a reference that reports them."""
    entries = claims.load_claims(ROOT / "config" / "claims.yaml")
    assert len(entries) >= 30
    assert {c["paper"] for c in entries} >= set(claims.PAPERS)
    both = configs()

    def reports(run, point, names):
        return [s for s, runs in both.items() if run in runs and point in runs[run]
                and all(any(o in runs[run][point].spec["observables"] for o in alts) for alts in names)]

    for c in entries:
        for leaf in claims.leaves(c["quantity"]):
            if leaf["kind"] == "sum_rule":
                names = [["sy"], ["sz"]]
            elif leaf["kind"] == "observable":
                names = [leaf["observable"] if isinstance(leaf["observable"], list) else [leaf["observable"]]]
            else:
                names = [[o] for o in leaf.get("observables", [])]
            alts = claims._alternatives(leaf["run"], str(leaf.get("point", "base")))
            found = [(run, point, s) for run, point in alts for s in reports(run, point, names)]
            assert found, f"{c['id']}: none of {alts} reports {names} in either config"
            if leaf["kind"] == "deviation":
                refs = [r for _, point in alts
                        for r in claims._alternatives(leaf["reference"], str(leaf.get("reference_point", point)))]
                assert any(reports(r, p, names) for r, p in refs), f"{c['id']}: no reference of {refs} reports {names}"
