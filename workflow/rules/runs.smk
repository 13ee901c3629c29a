# The run specs are materialised at DAG construction (rules/common.smk, pipeline.write_specs), only
# where their content changed; one rule solves them. Generic over methods: a new solver needs only
# its module in the package and runs in the config.
#
# Resources per job from the config (run `resources`, else config `resources`, else
# pipeline.DEFAULT_RESOURCES); the gpu token only where the method uses one and the config says
# device: gpu, and gpu_model (config) only then.

wildcard_constraints:
    segment=r"\d+",


SOLVE = ("{PY} -m lindblad_nqs solve {input.spec} --out {output.csv} --state-dir {params.state} "
         "{params.init} --threads {threads} > {log} 2>&1")


# lint: conda env, PY (justified in rules/common.smk, at PY)
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
    priority: lambda w: point_of(w).priority
    resources:
        gpu=lambda w: pipeline.uses_gpu(point_of(w), config),
        gpu_model=lambda w: pipeline.gpu_model(point_of(w), config),
        runtime=lambda w: point_of(w).resources["runtime"],
        mem_mb=lambda w: point_of(w).resources["mem_mb"],
    params:
        state=lambda w: point_of(w).state_dir,
        init=init_flag,
    shell:
        SOLVE


# Segment k of a point with `segments: K` (k < K): the same spec up to an earlier t_final, in the
# point's state dir, after segment k - 1; its own job, with the run's per-job resources.
# lint: conda env, PY (justified in rules/common.smk, at PY)
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
    priority: lambda w: point_of(w).priority
    resources:
        gpu=lambda w: pipeline.uses_gpu(point_of(w), config),
        gpu_model=lambda w: pipeline.gpu_model(point_of(w), config),
        runtime=lambda w: point_of(w).resources["runtime"],
        mem_mb=lambda w: point_of(w).resources["mem_mb"],
    params:
        state=lambda w: point_of(w).state_dir,
        init=init_flag,
    shell:
        SOLVE
