"""Run specs written at DAG construction (issue 15, item 2): only where their content changed, so an
unchanged config has nothing to do and a changed run point reruns that point alone."""

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lindblad_nqs import pipeline

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
CONFIG = {
    "size": "quick",
    "systems": {"chain": {"lattice": {"shape": [3], "boundary": "periodic"}, "couplings": {"Jz": 1.0},
                          "field": {"hx": 0.5}, "jumps": [{"op": "sigma_minus", "rate": 1.0}]}},
    "runs": {
        "a": {"system": "chain", "task": {"kind": "steady"}, "method": {"name": "exact"}, "observables": ["sz"]},
        "b": {"system": "chain", "task": {"kind": "steady"}, "method": {"name": "exact"}, "observables": ["sz"],
              "sweep": {"key": "system.field.hx", "values": [0.5, 1.0]}},
    },
    "figures": {},
}


def test_write_specs_only_where_the_content_changed(tmp_path):
    runs = pipeline.checked_runs(CONFIG)
    written = pipeline.write_specs(runs, tmp_path)
    assert len(written) == 3
    spec = tmp_path / "results/runs/b/hx=1.0/spec.yaml"
    assert yaml.safe_load(spec.read_text()) == runs["b"]["hx=1.0"].spec
    old = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("spec.yaml")}
    os.utime(spec, ns=(1, 1))  # an old timestamp that an unchanged spec must keep
    assert pipeline.write_specs(runs, tmp_path) == []
    assert spec.stat().st_mtime_ns == 1
    changed = copy.deepcopy(CONFIG)
    changed["runs"]["b"]["sweep"]["with"] = {"seed": [0, 7]}  # point hx=0.5 keeps its seed 0
    written = pipeline.write_specs(pipeline.checked_runs(changed), tmp_path)
    assert written == [str(spec)]
    assert yaml.safe_load(spec.read_text())["seed"] == 7
    others = [p for p in old if p != spec]
    assert all(p.stat().st_mtime_ns == old[p] for p in others)
    assert not list(tmp_path.rglob(".spec.*"))  # no temporary file left behind


def _snakemake(cwd, *args):
    proc = subprocess.run([str(SNAKEMAKE), "--cores", "2", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _jobs(out):
    """The dry run's job-count table: {rule: count}."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", out, re.M) if m[1] != "total"}


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed beside the interpreter")
def test_a_changed_point_reruns_alone_and_an_unchanged_config_has_nothing_to_do(tmp_path):
    shutil.copytree(ROOT / "workflow", tmp_path / "workflow")
    (tmp_path / "config").mkdir()
    cfg = tmp_path / "config" / "quick.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    _snakemake(tmp_path)
    results = {p: p.stat().st_mtime_ns for p in (tmp_path / "results/runs").rglob("result.csv")}
    specs = {p: p.stat().st_mtime_ns for p in (tmp_path / "results/runs").rglob("spec.yaml")}
    assert len(results) == 3
    assert "Nothing to be done" in _snakemake(tmp_path, "-n")

    changed = copy.deepcopy(CONFIG)
    changed["runs"]["b"]["sweep"]["with"] = {"observables": [["sz"], ["sz", "sx"]]}
    cfg.write_text(yaml.safe_dump(changed))
    assert _jobs(_snakemake(tmp_path, "-n")) == {"solve": 1, "review": 1, "all": 1}
    _snakemake(tmp_path)
    point = tmp_path / "results/runs/b/hx=1.0"
    for p, t in results.items():
        assert (p.stat().st_mtime_ns != t) == (p.parent == point), p
    for p, t in specs.items():
        assert (p.stat().st_mtime_ns != t) == (p.parent == point), p
    assert "sx" in (point / "result.csv").read_text()
    assert "Nothing to be done" in _snakemake(tmp_path, "-n")


def test_spec_text_is_what_safe_dump_writes():
    """An unchanged config must give byte-identical specs, whichever YAML dumper writes them."""
    for name in ("quick", "paper"):
        runs = pipeline.checked_runs(yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text()))
        for points in runs.values():
            for p in points.values():
                assert pipeline.spec_text(p) == yaml.safe_dump(p.spec, sort_keys=False)
