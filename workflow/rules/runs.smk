# The run specs are materialised at DAG construction (rules/common.smk, pipeline.write_specs), only
# where their content changed; one rule solves them. Generic over methods: a new solver needs only
# its module in the package and runs in the config.


rule solve:
    input:
        spec="results/runs/{run}/{point}/spec.yaml",
        init=init_inputs,
    output:
        csv="results/runs/{run}/{point}/result.csv",
        json="results/runs/{run}/{point}/result.json",
    log:
        "logs/runs/{run}/{point}.log",
    threads: lambda w: point_of(w).threads
    resources:
        gpu=lambda w: pipeline.uses_gpu(point_of(w), config),
    params:
        state="results/runs/{run}/{point}/state",
        init=init_flag,
    shell:
        "{PY} -m lindblad_nqs solve {input.spec} --out {output.csv} --state-dir {params.state} "
        "{params.init} --threads {threads} > {log} 2>&1"
