"""Both pipeline configs are valid, define the same names, and every point is a valid run spec."""

from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from lindblad_nqs import pipeline
from lindblad_nqs.spec import SpecError, parse_spec

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def load(size):
    return yaml.safe_load((ROOT / "config" / f"{size}.yaml").read_text())


@pytest.mark.parametrize("size", ["quick", "paper"])
def test_config_valid_and_every_point_parses(size):
    config = load(size)
    validate(config, str(SCHEMA))
    assert config["size"] == size
    runs = pipeline.expand_runs(config)
    for name, points in runs.items():
        for p in points.values():
            try:
                parse_spec(p.spec)
            except SpecError as e:
                pytest.fail(f"{size}: run {name} point {p.label}: {e}")
    for paper, fig in pipeline.figure_targets(config):
        pipeline.figure_runs_arg(config, runs, paper, fig)  # raises on unknown runs


def test_quick_and_paper_define_the_same_figures_and_systems():
    """The quick config is a miniature of the paper config: the same figures of the same systems (its
    runs may skip stages such as pre-training that only the paper sizes need)."""
    q, p = load("quick"), load("paper")
    assert set(q["systems"]) == set(p["systems"])
    assert {k: set(v) for k, v in q["figures"].items()} == {k: set(v) for k, v in p["figures"].items()}


def test_sweep_points_and_labels():
    config = {"systems": {"s": {"lattice": {"shape": [3]}, "preset": {"name": "tfi", "V": 2.0, "g": 1.0}}},
              "runs": {"r": {"system": "s", "task": {"kind": "steady"}, "method": {"name": "exact"},
                             "observables": ["sx"], "sweep": {"key": "system.preset.g", "values": [0.5, 2]}},
                       "v": {"system": "s", "task": {"kind": "steady"}, "method": {"name": "exact"},
                             "observables": ["sx"], "init": {"run": "r", "point": "g=2"}}}}
    runs = pipeline.expand_runs(config)
    assert list(runs["r"]) == ["g=0.5", "g=2"]
    assert runs["r"]["g=2"].spec["system"]["preset"]["g"] == 2
    assert runs["r"]["g=0.5"].spec["system"]["preset"]["g"] == 0.5
    assert runs["v"]["base"].init == ("r", "g=2")
    config["runs"]["v"]["init"]["point"] = "g=3"
    with pytest.raises(ValueError, match="unknown run/point"):
        pipeline.expand_runs(config)


def test_sweep_with_sets_other_keys_per_point():
    config = {"systems": {"s": {"lattice": {"shape": [3]}, "preset": {"name": "tfi", "V": 2.0, "g": 1.0}}},
              "runs": {"r": {"system": "s", "task": {"kind": "steady"}, "method": {"name": "cnn", "basis": "z"},
                             "observables": ["sx"],
                             "sweep": {"key": "system.preset.g", "values": [0.5, 2],
                                       "with": {"method.basis": ["x", "z"], "method.iterations": [600, 150]}}}}}
    pts = pipeline.expand_runs(config)["r"]
    assert list(pts) == ["g=0.5", "g=2"]
    assert (pts["g=0.5"].spec["method"]["basis"], pts["g=0.5"].spec["method"]["iterations"]) == ("x", 600)
    assert (pts["g=2"].spec["method"]["basis"], pts["g=2"].spec["method"]["iterations"]) == ("z", 150)
    config["runs"]["r"]["sweep"]["with"]["method.basis"] = ["x"]
    with pytest.raises(ValueError, match=r"sweep.with.method.basis needs one value per sweep value \(2\)"):
        pipeline.expand_runs(config)
