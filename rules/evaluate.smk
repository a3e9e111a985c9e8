# Evaluation: beam search on the test set, tokenized BLEU and SacreBLEU for every system (against
# every reference of a multi-reference test set).


rule translate_test:
    input:
        data_bin=W.row_data_bin,
        checkpoint=W.row_checkpoint,
        others=W.row_other_files,  # what the row's system also reads: a swap model, NPD's teacher, an LM
        reference=PATHS["raw"].format(corpus="{corpus}", split="test", side="tgt"),
    output:
        raw=PATHS["generate_raw"],
        hyp=PATHS["hyp"],
        stats=PATHS["translate_stats"],
    params:
        script=script("translate"),
        model=lambda wc: W.row_json(wc.corpus, wc.system),
        src=lambda wc: W.lang_of(wc.corpus, "src"),
        tgt=lambda wc: W.lang_of(wc.corpus, "tgt"),
        subword=W.row_subword_method,
        cpu_fallback=W.cpu_fallback,
    threads: W.job_threads("translate_test", config["compute"]["cpu_threads"])
    resources:
        **W.job_resources("translate_test", W.decoding_gpus),
    log:
        "logs/evaluate/{corpus}/{system}.translate.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --model {params.model:q} --data-bin {input.data_bin:q} "
        "--checkpoint {input.checkpoint:q} --src {params.src} --tgt {params.tgt} "
        "--subword {params.subword} --reference {input.reference:q} --gpus {resources.gpu} {params.cpu_fallback} "
        "--threads {threads} "
        "--raw-output {output.raw:q} --hyp {output.hyp:q} --stats {output.stats:q} > {log} 2>&1"


rule score:
    input:
        hyp=PATHS["hyp"],
        # every reference, reference 1 (the test split's tgt side) first; one file for most corpora
        ref_tok=W.score_references_tok,
        ref=W.score_references_raw,
    output:
        PATHS["bleu"],
    params:
        script=script("evaluate"),
        lang=lambda wc: W.lang_of(wc.corpus, "tgt"),
        model=lambda wc: W.row_model(wc.corpus, wc.system),
        moses=W.moses_flags,  # the corpus's processing, which the hypotheses are scored after
    threads: W.job_threads("score", 1)
    resources:
        **W.job_resources("score"),
    log:
        "logs/evaluate/{corpus}/{system}.score.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --hyp {input.hyp:q} --ref-tok {input.ref_tok:q} --ref {input.ref:q} "
        "--lang {params.lang} {params.moses} --corpus {wildcards.corpus} --system {wildcards.system} --model {params.model} "
        "--out {output:q} > {log} 2>&1"


rule evaluate:
    input:
        W.per_row(PATHS["bleu"]),
