# Speed: one protocol for every evaluation row (batch sizes x devices, alpha vs the reference).
# Each job times its rows (one per job, or speed.rows_per_job) together with the corpus's speed
# reference, in one invocation on one node (alpha from the same run and device); speed_table
# gathers the jobs' CSVs.


rule measure_speed:
    input:
        data_bin=PATHS["data_bin"],
        checkpoints=W.speed_inputs,  # the rows' and the reference's checkpoints and the files their systems read
    output:
        csv=PATHS["speed_row_csv"],
    params:
        script=script("speed"),
        rows=W.speed_rows_json,
        reference=lambda wc: W.speed_reference(wc.corpus),
        flags=W.speed_flags,
        src=lambda wc: W.lang_of(wc.corpus, "src"),
        tgt=lambda wc: W.lang_of(wc.corpus, "tgt"),
        subword=lambda wc: W.subword_spec(wc.corpus)["method"],
        threads=lambda wc: W.speed_threads(wc.corpus),
        cpu_fallback=W.cpu_fallback,
    # Locally the timing job runs alone (see W.speed_job_threads); torch uses exactly the protocol's
    # thread count (params.threads).
    threads: W.speed_job_threads
    resources:
        **W.job_resources("measure_speed", W.decoding_gpus),
    log:
        "logs/speed/{corpus}/{system}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} measure --rows {params.rows:q} --reference {params.reference} "
        "--data-bin {input.data_bin:q} --src {params.src} --tgt {params.tgt} --subword {params.subword} "
        "--corpus {wildcards.corpus} --threads {params.threads} {params.flags} --gpus {resources.gpu} "
        "{params.cpu_fallback} --csv {output.csv:q} > {log} 2>&1"


rule speed_table:
    input:
        rows=W.speed_row_csvs,  # the reference's own job first
    output:
        csv=report(PATHS["speed_csv"], caption="../report/speed.rst", category="Speed"),
        table=report(PATHS["speed_md"], caption="../report/speed_table.rst", category="Speed"),
        figure=report(PATHS["speed_figure"], caption="../report/acceleration.rst", category="Speed"),
    params:
        script=script("speed"),
        reference=lambda wc: W.speed_reference(wc.corpus),
    resources:
        **W.job_resources("speed_table"),
    log:
        "logs/speed/{corpus}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} aggregate --reference {params.reference} --csv {output.csv:q} "
        "--table {output.table:q} --figure {output.figure:q} {input.rows:q} > {log} 2>&1"


rule speed:
    input:
        W.speed_targets(),
