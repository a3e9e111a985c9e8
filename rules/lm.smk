# Fully-NAT CTC beam search with an n-gram LM: KenLM on the distilled targets, Eq. (6) weights
# tuned on the valid set for every row that does not fix them.


rule train_ctc_lm:
    input:
        text=PATHS["distill_text"].replace("{side}", "tgt"),
    output:
        PATHS["ctc_lm"],
    params:
        script=script("train_lm"),
        order=lambda wc: lm_settings(wc.corpus)["order"],
    log:
        "logs/lm/{corpus}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script} --text {input.text:q} --order {params.order} --output {output:q} > {log} 2>&1"


rule tune_lm_weights:
    input:
        data_bin=PATHS["data_bin"],
        checkpoint=row_checkpoint,
        lm=PATHS["ctc_lm"],
    output:
        PATHS["lm_weights"],
    params:
        script=script("tune_lm"),
        model=lambda wc: row_json(wc.corpus, wc.system),
        src=lambda wc: lang_of(wc.corpus, "src"),
        tgt=lambda wc: lang_of(wc.corpus, "tgt"),
        subword=lambda wc: subword_spec(wc.corpus)["method"],
        alphas=lambda wc: " ".join(map(str, lm_settings(wc.corpus)["alpha_grid"])),
        betas=lambda wc: " ".join(map(str, lm_settings(wc.corpus)["beta_grid"])),
        limit=lambda wc: f"--max-sentences {lm_settings(wc.corpus)['tune_sentences']}" if lm_settings(wc.corpus)["tune_sentences"] else "",
    threads: config["compute"]["cpu_threads"]
    log:
        "logs/lm/{corpus}/{system}.tune.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script} --model {params.model:q} --data-bin {input.data_bin:q} --checkpoint {input.checkpoint:q} "
        "--lm {input.lm:q} --src {params.src} --tgt {params.tgt} --subword {params.subword} "
        "--alpha-grid {params.alphas} --beta-grid {params.betas} {params.limit} --threads {threads} "
        "--out {output:q} > {log} 2>&1"
