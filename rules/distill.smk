# Sequence-level knowledge distillation: a teacher's beam search over the training source in
# independent shards, merged in order and verified, then binarized with the raw dictionary. Each
# teacher ({teacher}: the corpus's, or a model's distill_teacher) distils the corpus once.


rule distill_shard:
    input:
        source=lambda wc: W.subword_file(wc.corpus, "train", "src"),
        data_bin=PATHS["data_bin"],
        checkpoint=W.teacher_checkpoint,  # the {teacher} wildcard's averaged checkpoint
    output:
        hyps=PATHS["distill_shard"],
        stats=PATHS["distill_shard_stats"],
    params:
        script=script("distill"),
        teacher=lambda wc: W.teacher_json(wc.corpus, wc.teacher),
        num_shards=lambda wc: W.distill_spec(wc.corpus)["shards"],
        src=lambda wc: W.lang_of(wc.corpus, "src"),
        tgt=lambda wc: W.lang_of(wc.corpus, "tgt"),
        cpu_fallback=W.cpu_fallback,
    threads: W.job_threads("distill_shard", config["compute"]["cpu_threads"])
    resources:
        **W.job_resources("distill_shard", W.decoding_gpus),
    log:
        "logs/distill/{corpus}/{teacher}/shard{shard}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} shard --source {input.source:q} --data-bin {input.data_bin:q} "
        "--checkpoint {input.checkpoint:q} --src {params.src} --tgt {params.tgt} --teacher-model {params.teacher:q} "
        "--shard {wildcards.shard} --num-shards {params.num_shards} --gpus {resources.gpu} "
        "{params.cpu_fallback} --threads {threads} --out {output.hyps:q} --stats {output.stats:q} > {log} 2>&1"


rule distill_external:
    input:
        clean_source=PATHS["clean"].replace("{side}", "src"),
        subword_model=PATHS["subword_model"],
    output:
        PATHS["distill_external"],
    params:
        script=script("distill"),
        external=lambda wc: W.distill_spec(wc.corpus)["external"],
        subword=lambda wc: W.subword_spec(wc.corpus)["method"],
    threads: W.job_threads("distill_external", 1)
    resources:
        **W.job_resources("distill_external"),
    log:
        "logs/distill/{corpus}/external.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} external --src {params.external[src]:q} --tgt {params.external[tgt]:q} "
        "--sha256-src {params.external[sha256_src]} --sha256-tgt {params.external[sha256_tgt]} "
        "--clean-source {input.clean_source:q} --subword {params.subword} "
        "--subword-model {input.subword_model:q} --out {output:q} > {log} 2>&1"


rule distill_merge:
    input:
        source=lambda wc: W.subword_file(wc.corpus, "train", "src"),
        raw_target=lambda wc: W.subword_file(wc.corpus, "train", "tgt"),
        shards=W.distill_shards,
        shard_stats=W.distill_shard_stats,
    output:
        src=PATHS["distill_text"].replace("{side}", "src"),
        tgt=PATHS["distill_text"].replace("{side}", "tgt"),
        stats=report(PATHS["distill_stats"], caption="../report/distill.rst", category="Distillation"),
    params:
        script=script("distill"),
        subword=lambda wc: W.subword_spec(wc.corpus)["method"],
        sample=lambda wc: W.distill_spec(wc.corpus)["stats_sample"],
    threads: W.job_threads("distill_merge", 1)
    resources:
        **W.job_resources("distill_merge"),
    log:
        "logs/distill/{corpus}/{teacher}/merge.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} merge --source {input.source:q} --raw-target {input.raw_target:q} "
        "--shards {input.shards:q} --shard-stats {input.shard_stats:q} --teacher {wildcards.teacher} "
        "--subword {params.subword} --stats-sample {params.sample} --out-src {output.src:q} "
        "--out-tgt {output.tgt:q} --stats {output.stats:q} > {log} 2>&1"


rule binarize_distill:
    input:
        distilled=W.distill_files,
        heldout=lambda wc: [W.subword_file(wc.corpus, s, d) for s in ("valid", "test") for d in SIDES],
        data_bin=PATHS["data_bin"],
    output:
        directory(PATHS["data_bin_distill"]),
    params:
        script=script("binarize"),
        src=lambda wc: W.lang_of(wc.corpus, "src"),
        tgt=lambda wc: W.lang_of(wc.corpus, "tgt"),
        prefix=lambda wc: os.path.dirname(W.subword_file(wc.corpus, "valid", "src")),
    threads: lambda wc: W.job_threads("binarize_distill", W.corpus_spec(wc.corpus)["preprocess"]["workers"])
    resources:
        **W.job_resources("binarize_distill"),
    log:
        "logs/distill/{corpus}/{teacher}/binarize.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --src {params.src} --tgt {params.tgt} --prefix {params.prefix:q} "
        "--train-src {input.distilled[0]:q} --train-tgt {input.distilled[1]:q} --dict {input.data_bin:q}/dict.{params.src}.txt "
        "--workers {threads} --out {output:q} > {log} 2>&1"


rule distill:
    input:
        [path for c in RUN for path in W.distill_targets(c)],
