# Preprocess stage: Moses normalisation + tokenisation, clean-corpus-n cleaning of the training
# data, a joint subword model (subword-nmt BPE or SentencePiece), fairseq-preprocess; references 2..n
# of a multi-reference test set are Moses-processed only.


rule tokenize:
    input:
        PATHS["raw"],
    output:
        PATHS["tok"],
    params:
        script=script("moses"),
        lang=lambda wc: W.lang_of(wc.corpus, wc.side),
        flags=W.moses_flags,
    threads: W.job_threads("tokenize", 2)
    resources:
        **W.job_resources("tokenize"),
    log:
        "logs/preprocess/tokenize/{corpus}/{split}.{side}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --lang {params.lang} {params.flags} --workers {threads} "
        "--input {input:q} --output {output:q} > {log} 2>&1"


rule tokenize_reference:
    # references 2..n of a multi-reference test set: the same Moses processing as reference 1 (the test
    # split's tgt side, rule tokenize); never segmented or binarized, only scored against (resources: tokenize)
    input:
        PATHS["raw_ref"],
    output:
        PATHS["tok_ref"],
    params:
        script=script("moses"),
        lang=lambda wc: W.lang_of(wc.corpus, "tgt"),
        flags=W.moses_flags,
    threads: W.job_threads("tokenize", 2)
    resources:
        **W.job_resources("tokenize"),
    log:
        "logs/preprocess/tokenize/{corpus}/test.ref{ref}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --lang {params.lang} {params.flags} --workers {threads} "
        "--input {input:q} --output {output:q} > {log} 2>&1"


rule clean_train:
    input:
        src=PATHS["tok"].format(corpus="{corpus}", split="train", side="src"),
        tgt=PATHS["tok"].format(corpus="{corpus}", split="train", side="tgt"),
    output:
        src=PATHS["clean"].replace("{side}", "src"),
        tgt=PATHS["clean"].replace("{side}", "tgt"),
        stats=PATHS["clean_stats"],
    params:
        script=script("clean"),
        clean=lambda wc: W.corpus_spec(wc.corpus)["preprocess"]["clean"],
    threads: W.job_threads("clean_train", 1)
    resources:
        **W.job_resources("clean_train"),
    log:
        "logs/preprocess/clean/{corpus}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --in-src {input.src:q} --in-tgt {input.tgt:q} "
        "--out-src {output.src:q} --out-tgt {output.tgt:q} --stats {output.stats:q} "
        "--min-len {params.clean[min_len]} --max-len {params.clean[max_len]} "
        "--ratio {params.clean[ratio]} > {log} 2>&1"


rule learn_subword:
    input:
        expand(PATHS["clean"], side=SIDES, allow_missing=True),
    output:
        PATHS["subword_model"],
    params:
        script=script("subword"),
        method=lambda wc: W.subword_spec(wc.corpus)["method"],
        options=lambda wc: (
            f"--operations {W.subword_spec(wc.corpus)['operations']}"
            if W.subword_spec(wc.corpus)["method"] == "bpe"
            else f"--vocab-size {W.subword_spec(wc.corpus)['vocab_size']} "
            f"--model-type {W.subword_spec(wc.corpus)['model_type']} "
            f"--character-coverage {W.subword_spec(wc.corpus)['character_coverage']}"
        ),
    threads: W.job_threads("learn_subword", 2)
    resources:
        **W.job_resources("learn_subword"),
    log:
        "logs/preprocess/learn_subword/{corpus}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} learn --method {params.method} {params.options} --threads {threads} "
        "--inputs {input:q} --model {output:q} > {log} 2>&1"


rule apply_subword:
    input:
        text=W.segment_input,
        model=PATHS["subword_model"],
    output:
        PATHS["subword"],
    params:
        script=script("subword"),
        method=lambda wc: W.subword_spec(wc.corpus)["method"],
    threads: W.job_threads("apply_subword", 1)
    resources:
        **W.job_resources("apply_subword"),
    log:
        "logs/preprocess/apply_subword/{corpus}/{split}.{lang}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} apply --method {params.method} --model {input.model:q} "
        "--input {input.text:q} --output {output:q} > {log} 2>&1"


rule binarize:
    input:
        W.binarize_inputs,
    output:
        directory(PATHS["data_bin"]),
    params:
        script=script("binarize"),
        src=lambda wc: W.lang_of(wc.corpus, "src"),
        tgt=lambda wc: W.lang_of(wc.corpus, "tgt"),
        prefix=lambda wc: os.path.dirname(PATHS["subword"].format(corpus=wc.corpus, split="x", lang="xx")),
    threads: lambda wc: W.job_threads("binarize", W.corpus_spec(wc.corpus)["preprocess"]["workers"])
    resources:
        **W.job_resources("binarize"),
    log:
        "logs/preprocess/binarize/{corpus}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --src {params.src} --tgt {params.tgt} --prefix {params.prefix:q} "
        "--workers {threads} --out {output:q} > {log} 2>&1"


rule preprocess:
    input:
        [PATHS["data_bin"].format(corpus=c) for c in RUN],
