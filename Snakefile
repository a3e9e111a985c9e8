# natpipe: one data / teacher / BLEU / speed protocol for non-autoregressive MT papers.
# This file is a table of contents; each stage lives in rules/<stage>.smk.
import os

from snakemake.utils import min_version

min_version("9.0")


# Absolute so that `snakemake --directory <elsewhere>` still starts from the embedded default.
configfile: os.path.join(workflow.basedir, "config.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/preprocess.smk"
include: "rules/train.smk"
include: "rules/distill.smk"
include: "rules/vocabulary.smk"
include: "rules/evaluate.smk"
include: "rules/ctranslate2.smk"
include: "rules/speed.smk"
include: "rules/synthetic.smk"
include: "rules/fully_nat.smk"
include: "rules/tables.smk"


rule all:
    input:
        all_targets(),
    default_target: True
