# Tables and report: one summary row per (corpus, system) with provenance.


rule summary_table:
    input:
        bleu=W.per_row(PATHS["bleu"]),
        data=[f for c in RUN for f in W.raw_files(c)],
    output:
        csv=report(PATHS["summary_csv"], caption="../report/summary.rst", category="Tables"),
        md=PATHS["summary_md"],
    params:
        script=script("summarize"),
        data=json.dumps({c: W.raw_files(c) for c in RUN}),
        config=json.dumps(config, sort_keys=True),
    threads: W.job_threads("summary_table", 1)
    resources:
        **W.job_resources("summary_table"),
    log:
        "logs/tables/summary.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --bleu {input.bleu:q} --data {params.data:q} "
        "--config {params.config:q} --csv {output.csv:q} --md {output.md:q} > {log} 2>&1"


rule paper_table:
    input:
        paper=os.path.join(workflow.basedir, "data", "papers", "{paper}.csv"),
        summary=PATHS["summary_csv"],
        speed=[W.path("speed_csv", corpus=c) for c in RUN],
    output:
        report(PATHS["paper_table"], caption="../report/paper_tables.rst", category="Tables"),
    params:
        script=script("paper_tables"),
        rows=W.paper_rows_json(),
    threads: W.job_threads("paper_table", 1)
    resources:
        **W.job_resources("paper_table"),
    log:
        "logs/tables/{paper}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --paper {input.paper:q} --rows {params.rows:q} --summary {input.summary:q} "
        "--speed {input.speed:q} --out {output:q} > {log} 2>&1"


rule tables:
    input:
        PATHS["summary_csv"],
        PATHS["summary_md"],
        paper_tables(),
