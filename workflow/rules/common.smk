import sys

from snakemake.utils import validate

from lindblad_nqs import pipeline


validate(config, schema="../schemas/config.schema.yaml")

# Interpreter that runs the workflow: the package is installed beside snakemake.
# `snakemake --lint` flags two things in every rule, both kept: "no conda environment" (the project pins
# one pip environment, requirements.lock, that also runs Snakemake; no conda channel is reachable where
# it is built and tested, so a conda file would be untested) and "PY from outside the rule" (PY is that
# environment's interpreter; as a param it would be a rerun trigger firing on every machine whose venv
# lives elsewhere). Each rule says so beside it (tests/pipeline/test_lint.py).
PY = sys.executable
try:
    RUNS = pipeline.checked_runs(config)
except pipeline.ConfigError as e:
    # one line naming the config entry, before any job or input function runs
    sys.exit(f"config error: {e}")
FIGURES = pipeline.figure_targets(config)
# The run specs are written here, at DAG construction, and only where their content changed, so the
# solve rule sees an unchanged spec as an old source file and a changed one as newer than its result.
pipeline.write_specs(RUNS)  # relative to the working directory, like every path of the rules

wildcard_constraints:
    run=r"[A-Za-z0-9_\-]+",
    point=r"[^/]+",
    paper=r"[A-Za-z0-9_]+",
    figure=r"[A-Za-z0-9_]+",


def point_of(wildcards):
    return RUNS[wildcards.run][wildcards.point]


def init_inputs(wildcards):
    p = point_of(wildcards)
    return [f"results/runs/{p.init[0]}/{p.init[1]}/result.csv"] if p.init else []


def init_flag(wildcards):
    p = point_of(wildcards)
    return f"--init-state results/runs/{p.init[0]}/{p.init[1]}/state" if p.init else ""


def figure_inputs(wildcards):
    entry = pipeline.figure_entry(config, wildcards.paper, wildcards.figure)
    return [f"{p.dir}/result.csv" for run in entry["runs"].values() for p in RUNS[run].values()]
