# Fully NAT (Gu & Kong 2021) beyond training and test decoding: the n-gram LM of CTC beam search
# (KenLM on a teacher's distilled targets, Eq. (6) weights tuned on the valid set for every row that does
# not fix them) and Figure 5, the PCA of the VAE posteriors' latents.


rule train_ctc_lm:
    input:
        text=PATHS["distill_text"].replace("{side}", "tgt"),
    output:
        PATHS["ctc_lm"],
    params:
        script=script("train_lm"),
        order=lambda wc: W.settings("ctc_lm", wc.corpus)["order"],
    threads: W.job_threads("train_ctc_lm", 1)
    resources:
        **W.job_resources("train_ctc_lm"),
    log:
        "logs/fully_nat/{corpus}/{teacher}.lm.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --text {input.text:q} --order {params.order} --output {output:q} > {log} 2>&1"


rule tune_lm_weights:
    input:
        data_bin=W.row_data_bin,
        checkpoint=W.row_checkpoint,
        lm=W.row_lm,
    output:
        PATHS["lm_weights"],
    params:
        script=script("tune_lm"),
        model=lambda wc: W.row_json(wc.corpus, wc.system),
        src=lambda wc: W.lang_of(wc.corpus, "src"),
        tgt=lambda wc: W.lang_of(wc.corpus, "tgt"),
        subword=W.row_subword_method,
        grid=W.lm_tuning_flags,
    threads: W.job_threads("tune_lm_weights", config["compute"]["cpu_threads"])
    resources:
        **W.job_resources("tune_lm_weights"),
    log:
        "logs/fully_nat/{corpus}/{system}.tune_lm.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --model {params.model:q} --data-bin {input.data_bin:q} --checkpoint {input.checkpoint:q} "
        "--lm {input.lm:q} --src {params.src} --tgt {params.tgt} --subword {params.subword} "
        "{params.grid} --threads {threads} "
        "--out {output:q} > {log} 2>&1"


rule latent_pca:
    input:
        data_bin=PATHS["data_bin"],
        checkpoints=W.latent_inputs,  # every latent model's checkpoint and data-bin
    output:
        csv=report(PATHS["latent_pca_csv"], caption="../report/latent_pca.rst", category="Fully NAT"),
        figure=report(PATHS["latent_pca_figure"], caption="../report/latent_pca.rst", category="Fully NAT"),
    params:
        script=script("latent_pca"),
        models=W.latent_pca_json,
        src=lambda wc: W.lang_of(wc.corpus, "src"),
        tgt=lambda wc: W.lang_of(wc.corpus, "tgt"),
        subword=lambda wc: W.subword_spec(wc.corpus)["method"],
    threads: W.job_threads("latent_pca", config["compute"]["cpu_threads"])
    resources:
        **W.job_resources("latent_pca"),
    log:
        "logs/fully_nat/{corpus}.latent_pca.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --models {params.models:q} --data-bin {input.data_bin:q} --src {params.src} "
        "--tgt {params.tgt} --subword {params.subword} --threads {threads} --csv {output.csv:q} "
        "--figure {output.figure:q} > {log} 2>&1"
