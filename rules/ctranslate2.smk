# The AT a user would deploy: each AT model's averaged checkpoint converted by ct2-fairseq-converter
# (its checksum recorded inside); the ctranslate2 rows then decode (rules/evaluate.smk) and are timed
# (rules/speed.smk) like every row.


rule convert_ctranslate2:
    input:
        checkpoint=PATHS["average"],
        data_bin=lambda wc: W.data_bin(wc.corpus, wc.system),
    output:
        directory(PATHS["ct2_model"]),
    params:
        script=script("ctranslate2_convert"),
        src=lambda wc: W.lang_of(wc.corpus, "src"),
        tgt=lambda wc: W.lang_of(wc.corpus, "tgt"),
    resources:
        **W.job_resources("convert_ctranslate2"),
    log:
        "logs/ctranslate2/{corpus}/{system}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --checkpoint {input.checkpoint:q} --data-bin {input.data_bin:q} "
        "--src {params.src} --tgt {params.tgt} --output-dir {output:q} > {log} 2>&1"
