# A system's own vocabulary (config `vocabularies`, model key `vocabulary`): the corpus segmented
# and binarized with a pretrained subword model and its dictionary (XLM-R's for XLM-D) instead of
# the corpus's own; the distilled targets are desegmented and segmented again the same way.


rule segment_for_vocabulary:
    input:
        text=W.segment_input,
        model=W.vocabulary_model,
    output:
        PATHS["vocab_subword"],
    params:
        script=script("subword"),
        method=W.vocabulary_method,
    threads: W.job_threads("apply_subword", 1)
    resources:
        **W.job_resources("apply_subword"),
    log:
        "logs/vocabulary/{corpus}/{vocab}/{split}.{lang}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} apply --method {params.method:q} --model {input.model:q} "
        "--input {input.text:q} --output {output:q} > {log} 2>&1"


rule resegment_distilled:
    input:
        text=lambda wc: W.path("distill_text", corpus=wc.corpus, teacher=wc.teacher, side=W.side_of(wc.corpus, wc.lang)),
        model=W.vocabulary_model,
    output:
        PATHS["vocab_distill"],
    params:
        script=script("subword"),
        corpus_method=lambda wc: W.subword_spec(wc.corpus)["method"],
        method=W.vocabulary_method,
    threads: W.job_threads("apply_subword", 1)
    resources:
        **W.job_resources("apply_subword"),
    log:
        "logs/vocabulary/{corpus}/{vocab}/distill.{teacher}.{lang}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} resegment --from-method {params.corpus_method:q} --method {params.method:q} "
        "--model {input.model:q} --input {input.text:q} --output {output:q} > {log} 2>&1"


rule binarize_vocabulary:
    input:
        text=W.vocabulary_subword_files,
        dictionary=W.vocabulary_dictionary,
    output:
        directory(PATHS["vocab_data_bin"]),
    params:
        script=script("binarize"),
        src=lambda wc: W.lang_of(wc.corpus, "src"),
        tgt=lambda wc: W.lang_of(wc.corpus, "tgt"),
        prefix=lambda wc, input: os.path.dirname(input.text[0]),
    threads: lambda wc: W.job_threads("binarize", W.corpus_spec(wc.corpus)["preprocess"]["workers"])
    resources:
        **W.job_resources("binarize"),
    log:
        "logs/vocabulary/{corpus}/{vocab}/binarize.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --src {params.src} --tgt {params.tgt} --prefix {params.prefix:q} "
        "--dict {input.dictionary:q} --workers {threads} --out {output:q} > {log} 2>&1"


rule binarize_vocabulary_distill:
    input:
        distilled=lambda wc: [W.path("vocab_distill", corpus=wc.corpus, vocab=wc.vocab, teacher=wc.teacher,
                                     lang=W.lang_of(wc.corpus, side)) for side in SIDES],
        heldout=W.vocabulary_subword_files,
        dictionary=W.vocabulary_dictionary,
    output:
        directory(PATHS["vocab_data_bin_distill"]),
    params:
        script=script("binarize"),
        src=lambda wc: W.lang_of(wc.corpus, "src"),
        tgt=lambda wc: W.lang_of(wc.corpus, "tgt"),
        prefix=lambda wc, input: os.path.dirname(input.heldout[0]),
    threads: lambda wc: W.job_threads("binarize_distill", W.corpus_spec(wc.corpus)["preprocess"]["workers"])
    resources:
        **W.job_resources("binarize_distill"),
    log:
        "logs/vocabulary/{corpus}/{vocab}/binarize_distill.{teacher}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --src {params.src} --tgt {params.tgt} --prefix {params.prefix:q} "
        "--train-src {input.distilled[0]:q} --train-tgt {input.distilled[1]:q} --dict {input.dictionary:q} "
        "--workers {threads} --out {output:q} > {log} 2>&1"
