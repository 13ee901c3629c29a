localrules:
    review,


rule review:
    input:
        [f"{p.dir}/result.csv" for points in RUNS.values() for p in points.values()],
    output:
        report("results/review/runs.csv", caption="../report/review.rst", category="review"),
    log:
        "logs/review.log",
    shell:
        "{PY} -m lindblad_nqs review {input} --out {output} > {log} 2>&1"
