# Config validation, the path table and the Workflow object whose methods the rules call
# (natpipe.workflow: rows, checkpoints, resources and shell flags, unit-tested without Snakemake).
import json
import os

from snakemake.exceptions import WorkflowError

from natpipe.registry import ConfigError, paper_packages
from natpipe.workflow import PATHS, SIDES, SPLITS, Workflow, flags  # PATHS: every results path

# Absolute, so that `snakemake --directory elsewhere` runs the same scripts.
SCRIPTS = os.path.join(workflow.basedir, "scripts")
PAPERS = paper_packages()  # natpipe/systems/<paper>/tables.py against data/papers/<paper>.csv

try:
    W = Workflow(config, PATHS, local_exec=workflow.local_exec)  # validates; fills in every default
except ConfigError as err:
    raise WorkflowError(str(err)) from None
RUN = W.run


wildcard_constraints:
    corpus="[A-Za-z0-9_]+",
    system="[A-Za-z0-9_]+",
    teacher="[A-Za-z0-9_]+",
    source="[A-Za-z0-9_]+",
    split="train|valid|test",
    shard="[0-9]+",
    ref="[1-9][0-9]*",  # a reference of a multi-reference test set (2..n; 1 is the test split's tgt)
    part="train|valid|test",
    side="src|tgt",
    lang="[a-z]{2,3}",
    vocab="[A-Za-z0-9_]+",
    pretrained="[A-Za-z0-9_]+",
    paper="|".join(PAPERS),  # packages of natpipe/systems with paper tables


def script(name):
    """Absolute path of a pipeline CLI, passed to shell commands through params."""
    return os.path.join(SCRIPTS, f"{name}.py")


def paper_tables():
    return [PATHS["paper_table"].format(paper=paper) for paper in PAPERS]


def all_targets():
    return W.all_targets(paper_tables())
