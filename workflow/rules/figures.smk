localrules:
    figure,


# lint: conda env, PY (justified in rules/common.smk, at PY)
rule figure:
    input:
        figure_inputs,
    output:
        pdf="results/figures/{paper}/{figure}.pdf",
        # the PNG in the report: a browser shows it inline, where a PDF needs a viewer
        png=report(
            "results/figures/{paper}/{figure}.png",
            caption="../report/figure.rst",
            category="{paper}",
            labels={"paper": "{paper}", "figure": "{figure}"},
        ),
        csv="results/figures/{paper}/{figure}.csv",
        lineage="results/figures/{paper}/{figure}.json",
    log:
        "logs/figures/{paper}/{figure}.log",
    params:
        runs=lambda w: pipeline.figure_runs_arg(config, RUNS, w.paper, w.figure),
        options=lambda w: pipeline.figure_options_arg(config, w.paper, w.figure),
    shell:
        "{PY} -m lindblad_nqs figure {wildcards.paper} {wildcards.figure} --runs {params.runs} "
        "--options {params.options} --out {output.pdf} > {log} 2>&1"
