# Preprocess stage: Moses normalisation + tokenisation, clean-corpus-n cleaning of the training
# data, a joint subword model (subword-nmt BPE or SentencePiece), fairseq-preprocess.


def moses_flags(wc):
    moses = corpus_spec(wc.corpus)["preprocess"]["moses"]
    flags = [] if moses["normalize"] else ["--no-normalize"]
    flags += [] if moses["tokenize"] else ["--no-tokenize"]
    flags += ["--aggressive-dash-splits"] if moses["aggressive_dash_splits"] else []
    return " ".join(flags)


rule tokenize:
    input:
        PATHS["raw"],
    output:
        PATHS["tok"],
    params:
        lang=lambda wc: lang_of(wc.corpus, wc.side),
        flags=moses_flags,
    threads: 2
    log:
        "logs/preprocess/tokenize/{corpus}/{split}.{side}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {SCRIPTS}/moses.py --lang {params.lang} {params.flags} --workers {threads} "
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
        clean=lambda wc: corpus_spec(wc.corpus)["preprocess"]["clean"],
    log:
        "logs/preprocess/clean/{corpus}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {SCRIPTS}/clean.py --in-src {input.src:q} --in-tgt {input.tgt:q} "
        "--out-src {output.src:q} --out-tgt {output.tgt:q} --stats {output.stats:q} "
        "--min-len {params.clean[min_len]} --max-len {params.clean[max_len]} "
        "--ratio {params.clean[ratio]} > {log} 2>&1"


def subword_spec(corpus):
    return corpus_spec(corpus)["preprocess"]["subword"]


rule learn_subword:
    input:
        expand(PATHS["clean"], side=SIDES, allow_missing=True),
    output:
        PATHS["subword_model"],
    params:
        method=lambda wc: subword_spec(wc.corpus)["method"],
        options=lambda wc: (
            f"--operations {subword_spec(wc.corpus)['operations']}"
            if subword_spec(wc.corpus)["method"] == "bpe"
            else f"--vocab-size {subword_spec(wc.corpus)['vocab_size']} "
            f"--model-type {subword_spec(wc.corpus)['model_type']} "
            f"--character-coverage {subword_spec(wc.corpus)['character_coverage']}"
        ),
    threads: 2
    log:
        "logs/preprocess/learn_subword/{corpus}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {SCRIPTS}/subword.py learn --method {params.method} {params.options} --threads {threads} "
        "--inputs {input:q} --model {output:q} > {log} 2>&1"


def segment_input(wc):
    side = side_of(wc.corpus, wc.lang)
    template = PATHS["clean"] if wc.split == "train" else PATHS["tok"]
    return template.format(corpus=wc.corpus, split=wc.split, side=side)


rule apply_subword:
    input:
        text=segment_input,
        model=PATHS["subword_model"],
    output:
        PATHS["subword"],
    params:
        method=lambda wc: subword_spec(wc.corpus)["method"],
    log:
        "logs/preprocess/apply_subword/{corpus}/{split}.{lang}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {SCRIPTS}/subword.py apply --method {params.method} --model {input.model:q} "
        "--input {input.text:q} --output {output:q} > {log} 2>&1"


def binarize_inputs(wc):
    spec = corpus_spec(wc.corpus)
    return [PATHS["subword"].format(corpus=wc.corpus, split=s, lang=spec[side]) for s in SPLITS for side in SIDES]


rule binarize:
    input:
        binarize_inputs,
    output:
        directory(PATHS["data_bin"]),
    params:
        src=lambda wc: lang_of(wc.corpus, "src"),
        tgt=lambda wc: lang_of(wc.corpus, "tgt"),
        prefix=lambda wc: os.path.dirname(PATHS["subword"].format(corpus=wc.corpus, split="x", lang="xx")),
    threads: lambda wc: corpus_spec(wc.corpus)["preprocess"]["workers"]
    log:
        "logs/preprocess/binarize/{corpus}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {SCRIPTS}/binarize.py --src {params.src} --tgt {params.tgt} --prefix {params.prefix:q} "
        "--workers {threads} --out {output:q} > {log} 2>&1"


rule preprocess:
    input:
        [PATHS["data_bin"].format(corpus=c) for c in RUN],
