import os

from lindblad_nqs import budget as budget_mod, claims as claims_mod, review as review_mod

localrules:
    review,
    claims,
    cross_method,
    budget,


ALL_RESULTS = [f"{p.dir}/result.csv" for points in RUNS.values() for p in points.values()]
# The claims table and the cross-method figure are driven by their own files; a workflow directory
# without them (a test's scratch copy) builds the rest. Both are read and checked here, at DAG
# construction: a bad entry stops the workflow with one line.
CLAIMS_FILE, CROSS_FILE = "config/claims.yaml", "config/cross_method.yaml"
REVIEW_TARGETS = ["results/review/runs.csv"]
CLAIM_RESULTS = []
BUDGET, BUDGET_RESULTS, FLOORS = None, [], []
try:
    if os.path.exists(CLAIMS_FILE):
        CLAIM_RESULTS = claims_mod.required_results(CLAIMS_FILE, RUNS)
        REVIEW_TARGETS.append("results/review/claims.csv")
    if os.path.exists(CROSS_FILE):
        review_mod.load_panels(CROSS_FILE)
        REVIEW_TARGETS.append("results/review/cross_method.png")
        BUDGET = budget_mod.load_budget(CROSS_FILE)
    if BUDGET is not None:
        BUDGET_RESULTS = [f"{p.dir}/result.csv" for p in budget_mod.budget_points(BUDGET, RUNS).values()]
        FLOORS = [f"results/review/floors/{run}/{point}.csv" for run, point in budget_mod.floor_points(BUDGET, RUNS)]
        REVIEW_TARGETS.append("results/review/budget.png")
except claims_mod.ClaimsError as e:
    sys.exit(f"config error: {e}")


# lint: conda env, PY (justified in rules/common.smk, at PY)
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
# lint: conda env, PY (justified in rules/common.smk, at PY)
rule claims:
    input:
        claims=CLAIMS_FILE,
        results=CLAIM_RESULTS,
    output:
        csv=report("results/review/claims.csv", caption="../report/claims.rst", category="review"),
        md="results/review/claims.md",
    log:
        "logs/review/claims.log",
    shell:
        "{PY} -m lindblad_nqs claims {input.claims} {input.results} --out {output.csv} > {log} 2>&1"


# lint: conda env, PY (justified in rules/common.smk, at PY)
rule cross_method:
    input:
        references=CROSS_FILE,
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


# The fit-to-exact floor of one network (config/cross_method.yaml, budget.floor): the run's spec fitted
# to the exact steady state with every configuration enumerated; it reads the spec, not the run's result,
# so it runs beside the solve. One per distinct network and system (budget.floor_points).
# lint: conda env, PY (justified in rules/common.smk, at PY)
rule floor:
    input:
        spec="results/runs/{run}/{point}/spec.yaml",
    output:
        csv="results/review/floors/{run}/{point}.csv",
        json="results/review/floors/{run}/{point}.json",
    params:
        floor=lambda w: BUDGET["floor"],
    log:
        "logs/review/floors/{run}/{point}.log",
    shell:
        "{PY} -m lindblad_nqs floor {input.spec} --out {output.csv} --optimizer {params.floor[optimizer]} "
        "--steps {params.floor[steps]} --lr {params.floor[lr]} --tol {params.floor[tol]} "
        "--window {params.floor[window]} --warmup {params.floor[warmup]} "
        "--max-configs {params.floor[max_configs]} > {log} 2>&1"


# Error against budget with each network's floor: only the run points on the budget references' systems.
# lint: conda env, PY (justified in rules/common.smk, at PY)
rule budget:
    input:
        references=CROSS_FILE,
        results=BUDGET_RESULTS,
        floors=FLOORS,
    output:
        pdf="results/review/budget.pdf",
        png=report("results/review/budget.png", caption="../report/budget.rst", category="review"),
        csv="results/review/budget.csv",
        lineage="results/review/budget.json",
    log:
        "logs/review/budget.log",
    shell:
        "{PY} -m lindblad_nqs budget {input.references} {input.results} --floors {input.floors} "
        "--out {output.pdf} > {log} 2>&1"
