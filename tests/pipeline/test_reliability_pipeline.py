"""Snakemake-side errors are named at DAG construction, in one line naming the config entry (issue 13,
item 7): a figure naming a run that does not exist, a misspelt method key, any spec `validate` refuses."""

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lindblad_nqs import pipeline

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {
    "systems": {"chain": {"lattice": {"shape": [3], "boundary": "periodic"}, "couplings": {"Jz": 1.0},
                          "field": {"hx": 0.5}, "jumps": [{"op": "sigma_minus", "rate": 1.0}]}},
    "runs": {
        "steady": {"system": "chain", "task": {"kind": "steady"}, "method": {"name": "exact"},
                   "observables": ["sz"], "sweep": {"key": "system.field.hx", "values": [0.5, 1.0]}},
    },
    "figures": {"paper": {"fig": {"runs": {"main": "steady"}}}},
}


def _with(edit):
    c = copy.deepcopy(CONFIG)
    edit(c)
    return c


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c["figures"]["paper"]["fig"]["runs"].update(main="stedy"),
     "figures.paper.fig.runs.main: unknown run 'stedy' (did you mean 'steady'?)"),
    (lambda c: c["runs"]["steady"]["method"].update(solvr="qutip"),
     "runs.steady (point hx=0.5): unknown key method.solvr for method exact"),
    (lambda c: c["runs"]["steady"]["method"].update(name="exakt"), "runs.steady (point hx=0.5): unknown method.name"),
    (lambda c: c["runs"]["steady"]["sweep"].update(values=[0.5, float("nan")]),
     "runs.steady (point hx=nan): system.field.hx must be a finite number"),
    (lambda c: c["runs"]["steady"].pop("task"), "a run of the config lacks the key 'task'"),
    (lambda c: c["runs"]["steady"].update(system="chian"), "run steady: unknown system 'chian'"),
])
def test_bad_config_entry_named_at_dag_construction(edit, expected):
    with pytest.raises(pipeline.ConfigError) as e:
        pipeline.checked_runs(_with(edit))
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_good_config_and_the_shipped_configs_pass():
    assert set(pipeline.checked_runs(CONFIG)["steady"]) == {"hx=0.5", "hx=1.0"}
    for name in ("quick", "paper"):
        runs = pipeline.checked_runs(yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text()))
        assert runs


@pytest.mark.skipif(shutil.which("snakemake", path=str(Path(sys.executable).parent)) is None,
                    reason="snakemake not installed beside the interpreter")
def test_snakemake_dry_run_names_the_entry(tmp_path):
    """Through Snakemake itself: a figure naming a missing run fails the dry run with one line, not a
    KeyError from an input function."""
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(yaml.safe_dump({"figures": {"hartmann2019": {"exact": {"runs": {"fig2_chain5": "no_such_run"}}}}}))
    snakemake = str(Path(sys.executable).parent / "snakemake")
    proc = subprocess.run([snakemake, "-n", "--quiet", "--configfile", str(overlay)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if "config error" in ln]
    assert lines == ["config error: figures.hartmann2019.exact.runs.fig2_chain5: unknown run 'no_such_run'"], proc.stderr
    assert "KeyError" not in proc.stderr and "Traceback" not in proc.stderr
