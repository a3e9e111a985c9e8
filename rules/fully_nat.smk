# Fully NAT (Gu & Kong 2021) beyond training and test decoding: the n-gram LM of CTC beam search
# (KenLM on the distilled targets, Eq. (6) weights tuned on the valid set for every row that does
# not fix them) and Figure 5, the PCA of the VAE posteriors' latents.


rule train_ctc_lm:
    input:
        text=PATHS["distill_text"].replace("{side}", "tgt"),
    output:
        PATHS["ctc_lm"],
    params:
        script=script("train_lm"),
        order=lambda wc: lm_settings(wc.corpus)["order"],
    threads: job_threads("train_ctc_lm", 1)
    resources:
        **job_resources("train_ctc_lm"),
    log:
        "logs/fully_nat/{corpus}.lm.log",
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
    threads: job_threads("tune_lm_weights", config["compute"]["cpu_threads"])
    resources:
        **job_resources("tune_lm_weights"),
    log:
        "logs/fully_nat/{corpus}/{system}.tune_lm.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script} --model {params.model:q} --data-bin {input.data_bin:q} --checkpoint {input.checkpoint:q} "
        "--lm {input.lm:q} --src {params.src} --tgt {params.tgt} --subword {params.subword} "
        "--alpha-grid {params.alphas} --beta-grid {params.betas} {params.limit} --threads {threads} "
        "--out {output:q} > {log} 2>&1"


rule latent_pca:
    input:
        data_bin=PATHS["data_bin"],
        checkpoints=lambda wc: [PATHS["average"].format(corpus=wc.corpus, system=s) for s in vae_models(wc.corpus)],
    output:
        csv=report(PATHS["latent_pca_csv"], caption="../report/latent_pca.rst", category="Fully NAT"),
        figure=report(PATHS["latent_pca_figure"], caption="../report/latent_pca.rst", category="Fully NAT"),
    params:
        script=script("latent_pca"),
        models=latent_pca_json,
        src=lambda wc: lang_of(wc.corpus, "src"),
        tgt=lambda wc: lang_of(wc.corpus, "tgt"),
        subword=lambda wc: subword_spec(wc.corpus)["method"],
    threads: job_threads("latent_pca", config["compute"]["cpu_threads"])
    resources:
        **job_resources("latent_pca"),
    log:
        "logs/fully_nat/{corpus}.latent_pca.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script} --models {params.models:q} --data-bin {input.data_bin:q} --src {params.src} "
        "--tgt {params.tgt} --subword {params.subword} --threads {threads} --csv {output.csv:q} "
        "--figure {output.figure:q} > {log} 2>&1"
