# Data stage: download archives, extract each source's sides, build the gettext corpus,
# assemble the raw train/valid/test splits (with line-count and encoding checks) and references 2..n
# of a multi-reference test set; unpack the pretrained models (config `pretrained`) the run uses.


rule download:
    output:
        PATHS["download"],
    params:
        script=script("download"),
        url=lambda wc: W.download_table()[wc.filename][0],
        sha256=W.sha256_flags,
        mirror=W.mirror_flags(),
    threads: W.job_threads("download", 1)
    resources:
        **W.job_resources("download"),
    log:
        "logs/data/download/{filename}.log",
    retries: 2
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} fetch --url {params.url:q} {params.sha256} "
        "--out {output:q} {params.mirror} > {log} 2>&1"


rule extract:
    input:
        W.extract_input,
    output:
        PATHS["source_all"],
    params:
        script=script("download"),
        member=lambda wc: W.corpus_spec(wc.corpus)["sources"][wc.source]["members"][W.lang_of(wc.corpus, wc.side)],
        fmt=lambda wc: W.corpus_spec(wc.corpus)["sources"][wc.source].get("format", "text"),
    threads: W.job_threads("extract", 1)
    resources:
        **W.job_resources("extract"),
    log:
        "logs/data/extract/{corpus}/{source}.{side}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} extract --archive {input:q} --member {params.member:q} "
        "--format {params.fmt} --out {output:q} > {log} 2>&1"


rule extract_reference:
    # references 2..n of a url test source, from its archive (resources: the extract entry)
    input:
        W.extract_input,
    output:
        PATHS["source_ref"],
    params:
        script=script("download"),
        member=W.reference_member,
        fmt=lambda wc: W.corpus_spec(wc.corpus)["sources"][wc.source].get("format", "text"),
    threads: W.job_threads("extract", 1)
    resources:
        **W.job_resources("extract"),
    log:
        "logs/data/extract/{corpus}/{source}.ref{ref}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} extract --archive {input:q} --member {params.member:q} "
        "--format {params.fmt} --out {output:q} > {log} 2>&1"


rule unpack_pretrained:
    # a pretrained model's checkpoint, dictionary and SentencePiece model, all or none, from its
    # downloaded archive (fairseq's xlmr.*.tar.gz; resources: the extract entry)
    input:
        W.pretrained_archive,
    output:
        checkpoint=PATHS["pretrained_checkpoint"],
        dictionary=PATHS["pretrained_dictionary"],
        spm=PATHS["pretrained_spm"],
    params:
        script=script("download"),
        fmt=lambda wc: W.config["pretrained"][wc.pretrained]["format"],
        outdir=lambda wc, output: os.path.dirname(output.checkpoint),
    threads: W.job_threads("extract", 1)
    resources:
        **W.job_resources("extract"),
    log:
        "logs/data/pretrained/{pretrained}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} unpack-pretrained --archive {input:q} --format {params.fmt} "
        "--out-dir {params.outdir:q} > {log} 2>&1"


rule gettext_corpus:
    output:
        expand(PATHS["source_part"], part=SPLITS, side=SIDES, allow_missing=True),
    params:
        script=script("gettext_corpus"),
        flags=W.gettext_flags,
        outdir=lambda wc, output: os.path.dirname(output[0]),
    threads: W.job_threads("gettext_corpus", 1)
    resources:
        **W.job_resources("gettext_corpus"),
    log:
        "logs/data/gettext/{corpus}/{source}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} {params.flags} --out-dir {params.outdir:q} --side-names > {log} 2>&1"


rule assemble_split:
    input:
        lambda wc: [part[side] for part in W.split_parts(wc.corpus, wc.split) for side in SIDES],
    output:
        src=PATHS["raw"].replace("{side}", "src"),
        tgt=PATHS["raw"].replace("{side}", "tgt"),
    params:
        script=script("assemble"),
        parts=lambda wc: json.dumps(W.split_parts(wc.corpus, wc.split)),
        strict=lambda wc: "--strict" if wc.split != "train" else "",
        max_chars=lambda wc: W.corpus_spec(wc.corpus)["preprocess"]["max_line_chars"],
    threads: W.job_threads("assemble_split", 1)
    resources:
        **W.job_resources("assemble_split"),
    log:
        "logs/data/assemble/{corpus}/{split}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --parts {params.parts:q} {params.strict} --max-chars {params.max_chars} "
        "--out-src {output.src:q} --out-tgt {output.tgt:q} > {log} 2>&1"


rule assemble_reference:
    # reference `ref` (2..n) of a multi-reference test set: each test entry's reference file, checked
    # line for line against its source side, with the entry's line selection (resources: assemble_split)
    input:
        W.reference_parts_input,
    output:
        PATHS["raw_ref"],
    params:
        script=script("assemble"),
        parts=W.reference_parts_json,
        max_chars=lambda wc: W.corpus_spec(wc.corpus)["preprocess"]["max_line_chars"],
    threads: W.job_threads("assemble_split", 1)
    resources:
        **W.job_resources("assemble_split"),
    log:
        "logs/data/assemble/{corpus}/test.ref{ref}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --parts {params.parts:q} --strict --max-chars {params.max_chars} "
        "--out-ref {output:q} > {log} 2>&1"


rule data:
    input:
        [f for c in RUN for f in W.raw_files(c)],
