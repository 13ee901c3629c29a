from lindblad_nqs import claims as claims_mod, review as review_mod

localrules:
    review,
    claims,
    cross_method,


ALL_RESULTS = [f"{p.dir}/result.csv" for points in RUNS.values() for p in points.values()]
try:
    # the claims file is read and checked here, at DAG construction: a bad entry stops the workflow
    CLAIM_RESULTS = claims_mod.required_results("config/claims.yaml", RUNS)
    review_mod.load_panels("config/cross_method.yaml")
except claims_mod.ClaimsError as e:
    sys.exit(f"config error: {e}")


rule review:
    input:
        ALL_RESULTS,
    output:
        report("results/review/runs.csv", caption="../report/review.rst", category="review"),
    log:
        "logs/review.log",
    shell:
        "{PY} -m lindblad_nqs review {input} --out {output} > {log} 2>&1"


# The papers' claims re-measured: only the run points the claims read, all of them already in the DAG
# for the figures, so the table adds no solve.
rule claims:
    input:
        claims="config/claims.yaml",
        results=CLAIM_RESULTS,
    output:
        csv=report("results/review/claims.csv", caption="../report/claims.rst", category="review"),
        md="results/review/claims.md",
    log:
        "logs/review/claims.log",
    shell:
        "{PY} -m lindblad_nqs claims {input.claims} {input.results} --out {output.csv} > {log} 2>&1"


rule cross_method:
    input:
        references="config/cross_method.yaml",
        results=ALL_RESULTS,
    output:
        pdf="results/review/cross_method.pdf",
        png=report("results/review/cross_method.png", caption="../report/cross_method.rst", category="review"),
        csv="results/review/cross_method.csv",
        lineage="results/review/cross_method.json",
    log:
        "logs/review/cross_method.log",
    shell:
        "{PY} -m lindblad_nqs cross-method {input.references} {input.results} --out {output.pdf} > {log} 2>&1"
