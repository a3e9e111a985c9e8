# Training (AT teachers and every system; resumable) and checkpoint averaging.


rule train_model:
    input:
        unpack(W.training_inputs),
    output:
        PATHS["train_done"],
    params:
        script=script("train"),
        model=lambda wc: W.training_json(wc.system),
        save_dir=lambda wc: PATHS["checkpoints"].format(corpus=wc.corpus, system=wc.system),
        inputs=W.training_flags,  # the distilled data-bin of MixDistill, the system's extra files
        src=lambda wc: W.lang_of(wc.corpus, "src"),
        tgt=lambda wc: W.lang_of(wc.corpus, "tgt"),
        cpu_fallback=W.cpu_fallback,
        subword=lambda wc: W.subword_method(wc.corpus, wc.system),
        loader_workers=W.loader_workers,
    threads: W.training_threads
    resources:
        **W.job_resources("train_model", W.training_gpus),
    log:
        "logs/train/{corpus}/{system}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --model {params.model:q} --data-bin {input.data:q} {params.inputs} --src {params.src} "
        "--tgt {params.tgt} --save-dir {params.save_dir:q} --gpus {resources.gpu} {params.cpu_fallback} "
        "--threads {threads} --loader-workers {params.loader_workers} --subword {params.subword} --done {output:q} "
        "> {log} 2>&1"


rule average_checkpoints:
    input:
        PATHS["train_done"],
    output:
        PATHS["average"],
    params:
        script=script("average"),
        save_dir=lambda wc: PATHS["checkpoints"].format(corpus=wc.corpus, system=wc.system),
        last=lambda wc: W.model_spec(wc.system)["train"]["average_last"],
    threads: W.job_threads("average_checkpoints", 1)
    resources:
        **W.job_resources("average_checkpoints"),
    log:
        "logs/train/{corpus}/{system}.average.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --checkpoint-dir {params.save_dir:q} --last {params.last} "
        "--out {output:q} > {log} 2>&1"


rule teachers:
    input:
        [PATHS["average"].format(corpus=c, system=t) for c in RUN for t in W.teachers_of(c)],


rule learning_curves:
    input:
        W.training_summaries,
    output:
        csv=report(PATHS["curves_csv"], caption="../report/learning_curves.rst", category="Training"),
        figure=report(PATHS["curves_figure"], caption="../report/learning_curves.rst", category="Training"),
    params:
        script=script("curves"),
        systems=lambda wc: flags(*W.trained_models(wc.corpus)),
    threads: W.job_threads("learning_curves", 1)
    resources:
        **W.job_resources("learning_curves"),
    log:
        "logs/train/{corpus}.curves.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script:q} --done {input:q} --systems {params.systems} --csv {output.csv:q} "
        "--figure {output.figure:q} > {log} 2>&1"
