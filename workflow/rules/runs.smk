# One rule materialises each point's run spec, one solves it. Both are generic over methods: a new
# solver needs only its module in the package and runs in the config.


localrules:
    materialise_spec,


rule materialise_spec:
    output:
        "results/runs/{run}/{point}/spec.yaml",
    params:
        spec=lambda w: point_of(w).spec,
    log:
        "logs/runs/{run}/{point}.spec.log",
    run:
        import yaml

        with open(output[0], "w") as f:
            yaml.safe_dump(params.spec, f, sort_keys=False)
        with open(log[0], "w") as f:
            f.write(f"wrote {output[0]}\n")


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
