# Speed: one protocol for every evaluation row (batch sizes x devices, alpha vs the reference).


rule measure_speed:
    input:
        data_bin=PATHS["data_bin"],
        checkpoints=speed_checkpoints,
        lm=speed_lm_files,
    output:
        csv=report(PATHS["speed_csv"], caption="../report/speed.rst", category="Speed"),
        table=PATHS["speed_md"],
        figure=report(PATHS["speed_figure"], caption="../report/acceleration.rst", category="Speed"),
    params:
        script=script("speed"),
        rows=speed_rows_json,
        reference=lambda wc: speed_reference(wc.corpus),
        flags=speed_flags,
        src=lambda wc: lang_of(wc.corpus, "src"),
        tgt=lambda wc: lang_of(wc.corpus, "tgt"),
        subword=lambda wc: subword_spec(wc.corpus)["method"],
        threads=lambda wc: speed_settings(wc.corpus)["threads"] or config["compute"]["cpu_threads"],
        cpu_fallback=CPU_FALLBACK,
    # Locally the timing job runs alone (see speed_job_threads); torch uses exactly the protocol's
    # thread count (params.threads).
    threads: speed_job_threads
    resources:
        **job_resources("measure_speed", DECODING_GPUS),
    log:
        "logs/speed/{corpus}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script} --rows {params.rows:q} --reference {params.reference} --data-bin {input.data_bin:q} "
        "--src {params.src} --tgt {params.tgt} --subword {params.subword} --corpus {wildcards.corpus} "
        "--threads {params.threads} {params.flags} --gpus {resources.gpu} {params.cpu_fallback} --csv {output.csv:q} --table {output.table:q} "
        "--figure {output.figure:q} > {log} 2>&1"


rule speed:
    input:
        speed_targets(),
