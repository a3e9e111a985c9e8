# HRT section 4: masked AT translations filled by a one-pass CMLM, BLEU per masking point.


rule synthetic_masking:
    input:
        unpack(W.synthetic_inputs),
    output:
        csv=report(PATHS["synthetic_csv"], caption="../report/synthetic.rst", category="Synthetic masking"),
        figure=report(PATHS["synthetic_figure"], caption="../report/synthetic.rst", category="Synthetic masking"),
    params:
        script=script("synthetic"),
        model=W.synthetic_model_json,
        flags=W.synthetic_flags,
        src=lambda wc: W.lang_of(wc.corpus, "src"),
        tgt=lambda wc: W.lang_of(wc.corpus, "tgt"),
        subword=W.synthetic_subword_method,
    threads: W.job_threads("synthetic_masking", config["compute"]["cpu_threads"])
    resources:
        **W.job_resources("synthetic_masking"),
    log:
        "logs/synthetic/{corpus}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --hyp {input.hyp:q} --model {params.model:q} --checkpoint {input.checkpoint:q} "
        "--data-bin {input.data_bin:q} --src {params.src} --tgt {params.tgt} --subword {params.subword} "
        "--subword-model {input.subword_model:q} --ref-tok {input.ref_tok:q} --ref {input.ref:q} {params.flags} "
        "--threads {threads} --csv {output.csv:q} --figure {output.figure:q} > {log} 2>&1"


rule synthetic:
    input:
        W.synthetic_targets(),
