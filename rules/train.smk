# Training (AT teachers and every system; resumable) and checkpoint averaging.


rule train_model:
    input:
        unpack(training_data),
    output:
        PATHS["train_done"],
    params:
        script=script("train"),
        model=lambda wc: training_json(wc.system),
        save_dir=lambda wc: PATHS["checkpoints"].format(corpus=wc.corpus, system=wc.system),
        distill=lambda wc, input: f"--distill-bin {input.distill}" if "distill" in input.keys() else "",
        init=lambda wc, input: f"--init-checkpoint {input.init}" if "init" in input.keys() else "",
        src=lambda wc: lang_of(wc.corpus, "src"),
        tgt=lambda wc: lang_of(wc.corpus, "tgt"),
        cpu_fallback=CPU_FALLBACK,
    threads: training_threads
    resources:
        **job_resources("train_model", TRAINING_GPUS),
    log:
        "logs/train/{corpus}/{system}.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script} --model {params.model:q} --data-bin {input.data:q} {params.distill} {params.init} --src {params.src} "
        "--tgt {params.tgt} --save-dir {params.save_dir:q} --gpus {resources.gpu} {params.cpu_fallback} "
        "--threads {threads} --done {output:q} > {log} 2>&1"


rule average_checkpoints:
    input:
        PATHS["train_done"],
    output:
        PATHS["average"],
    params:
        script=script("average"),
        save_dir=lambda wc: PATHS["checkpoints"].format(corpus=wc.corpus, system=wc.system),
        last=lambda wc: model_spec(wc.system)["train"]["average_last"],
    threads: job_threads("average_checkpoints", 1)
    resources:
        **job_resources("average_checkpoints"),
    log:
        "logs/train/{corpus}/{system}.average.log",
    conda:
        "../envs/natpipe.yaml"
    shell:
        "python {params.script} --checkpoint-dir {params.save_dir:q} --last {params.last} "
        "--out {output:q} > {log} 2>&1"


rule teachers:
    input:
        [PATHS["average"].format(corpus=c, system=corpus_spec(c)["teacher"]) for c in RUN],
