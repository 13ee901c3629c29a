# The run specs are materialised at DAG construction (rules/common.smk, pipeline.write_specs), only
# where their content changed; one rule solves them. Generic over methods: a new solver needs only
# its module in the package and runs in the config.
#
# Lint: `snakemake --lint` asks for a conda env per rule (the project pins one pip environment,
# requirements.lock, that runs the workflow itself: a conda env could not be tested here, see
# ../shared/notes) and flags PY from outside the rule (PY is the interpreter running Snakemake, in whose
# environment the package is installed: the one right interpreter, not a parameter of the job).

wildcard_constraints:
    segment=r"\d+",


# per job, from the config (run `resources`, config `resources`, pipeline.DEFAULT_RESOURCES); the gpu
# token only where the method uses one and the config says device: gpu; gpu_model (config) only then
def _resources(w):
    return point_of(w).resources


def _gpu_model(w):
    return config.get("gpu_model", "") if pipeline.uses_gpu(point_of(w), config) else ""


SOLVE = ("{PY} -m lindblad_nqs solve {input.spec} --out {output.csv} --state-dir {params.state} "
         "{params.init} --threads {threads} > {log} 2>&1")


rule solve:
    input:
        spec="results/runs/{run}/{point}/spec.yaml",
        init=init_inputs,
        # a segmented point's last job continues the checkpoint its previous segment left in state/
        previous=lambda w: point_of(w).previous_result(),
    output:
        csv="results/runs/{run}/{point}/result.csv",
        json="results/runs/{run}/{point}/result.json",
    log:
        "logs/runs/{run}/{point}.log",
    threads: lambda w: point_of(w).threads
    resources:
        gpu=lambda w: pipeline.uses_gpu(point_of(w), config),
        gpu_model=_gpu_model,
        runtime=lambda w: _resources(w)["runtime"],
        mem_mb=lambda w: _resources(w)["mem_mb"],
    params:
        state=lambda w: point_of(w).state_dir,
        init=init_flag,
    shell:
        SOLVE


# Segment k of a point with `segments: K` (k < K): the same spec up to an earlier t_final, in the
# point's state dir, after segment k - 1; its own job, with the run's per-job resources.
rule solve_segment:
    input:
        spec="results/runs/{run}/{point}/segments/{segment}/spec.yaml",
        init=init_inputs,
        previous=lambda w: point_of(w).previous_result(int(w.segment)),
    output:
        csv="results/runs/{run}/{point}/segments/{segment}/result.csv",
        json="results/runs/{run}/{point}/segments/{segment}/result.json",
    log:
        "logs/runs/{run}/{point}.segment{segment}.log",
    threads: lambda w: point_of(w).threads
    resources:
        gpu=lambda w: pipeline.uses_gpu(point_of(w), config),
        gpu_model=_gpu_model,
        runtime=lambda w: _resources(w)["runtime"],
        mem_mb=lambda w: _resources(w)["mem_mb"],
    params:
        state=lambda w: point_of(w).state_dir,
        init=init_flag,
    shell:
        SOLVE
